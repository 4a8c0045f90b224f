//! End-to-end: which upstream connection carries each request (`proxy::affinity`).
//! A keep-alive client's requests share one upstream connection; the next client
//! reuses it once the first is gone; an upstream that closes its side gets a new
//! connection and the client never sees the close. With several worker threads,
//! clients share connections across workers without one connection per client.

mod support;

use std::io::{BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use support::*;

/// An HTTP/1.1 upstream numbering its connections: it reports `(connection, path)` for
/// every request, answers `200 ok`, and closes the connection after answering `/bye`.
fn numbering_upstream() -> (SocketAddr, mpsc::Receiver<(usize, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    let next = Arc::new(AtomicUsize::new(1));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let id = next.fetch_add(1, Ordering::SeqCst);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut out = stream;
                while let Some((head, _)) = read_request(&mut reader) {
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let bye = path == "/bye";
                    let _ = tx.send((id, path));
                    if out
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                        || bye
                    {
                        return; // dropping the stream closes the connection
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// The proxy in front of `upstream`, serving on `workers` threads. The tests of which
/// connection a request takes use one: with several, a new client connection lands
/// on any worker, and each worker prefers the idle connections it drives itself.
fn start(upstream: SocketAddr, workers: usize) -> SigningProxy {
    let config = format!(
        r#"
worker_threads = {workers}
[[listeners]]
name = "rev"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "http://{upstream}"
service = "s3"
region = "us-east-1"
"#
    );
    SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDCONNS"),
            ("AWS_SECRET_ACCESS_KEY", "conns-secret"),
        ],
    )
}

/// One curl process (one client connection, kept alive) fetching `paths` in order.
fn fetch(proxy: &SigningProxy, paths: &[&str]) {
    let urls: Vec<String> = paths
        .iter()
        .map(|p| format!("{}{p}", proxy.endpoint("rev")))
        .collect();
    let mut args = vec!["-sS", "-f", "-o", "/dev/null"];
    for u in &urls {
        args.push(u);
    }
    curl_cmd(&args).run().assert_success();
}

fn seen(rx: &mpsc::Receiver<(usize, String)>, n: usize) -> Vec<(usize, String)> {
    (0..n)
        .map(|_| {
            rx.recv_timeout(Duration::from_secs(5))
                .expect("request reached the upstream")
        })
        .collect()
}

#[test]
fn keep_alive_clients_reuse_their_upstream_connection_and_survive_upstream_closes() {
    let (up, rx) = numbering_upstream();
    let proxy = start(up, 1);

    // One client connection, three requests: one upstream connection.
    fetch(&proxy, &["/a", "/b", "/c"]);
    let first = seen(&rx, 3);
    let conn = first[0].0;
    assert!(
        first.iter().all(|(c, _)| *c == conn),
        "one client connection should use one upstream connection: {first:?}"
    );
    assert_eq!(
        first.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>(),
        ["/a", "/b", "/c"]
    );

    // The client is gone; the next client reuses that upstream connection.
    std::thread::sleep(Duration::from_millis(300));
    fetch(&proxy, &["/d"]);
    assert_eq!(seen(&rx, 1), [(conn, "/d".to_owned())]);

    // The upstream closes the connection after `/bye`; the request after it goes out
    // on a new connection and succeeds (curl's -f fails on any error status).
    fetch(&proxy, &["/bye"]);
    assert_eq!(seen(&rx, 1), [(conn, "/bye".to_owned())]);
    std::thread::sleep(Duration::from_millis(300));
    fetch(&proxy, &["/e", "/f"]);
    let after = seen(&rx, 2);
    let new_conn = after[0].0;
    assert_ne!(new_conn, conn, "a closed upstream connection was reused");
    assert_eq!(
        after,
        [(new_conn, "/e".to_owned()), (new_conn, "/f".to_owned())]
    );
}

#[test]
fn concurrent_clients_get_separate_upstream_connections() {
    let (up, rx) = numbering_upstream();
    let proxy = start(up, 1);
    let paths: Vec<String> = (0..20).map(|i| format!("/c{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| fetch(&proxy, &paths));
        }
    });
    let all = seen(&rx, 40);
    let mut conns: Vec<usize> = all.iter().map(|(c, _)| *c).collect();
    conns.sort_unstable();
    conns.dedup();
    // Each client's 20 requests are sequential on its own connection: with pinning
    // they need at most one upstream connection per client (fewer when one client
    // finished before the other started and its connection was reused).
    assert!(
        (1..=2).contains(&conns.len()),
        "expected at most one upstream connection per client, saw {conns:?}"
    );
}

#[test]
fn a_quiet_client_hands_its_upstream_connection_back() {
    let (up, rx) = numbering_upstream();
    let proxy = start(up, 1);
    let get = |conn: &mut BufReader<std::net::TcpStream>, path: &str| {
        conn.get_mut()
            .write_all(format!("GET {path} HTTP/1.1\r\nhost: s3.local\r\n\r\n").as_bytes())
            .expect("write request");
        let (head, _) = read_request(conn).expect("a response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    };
    let open = || {
        let s = std::net::TcpStream::connect(proxy.addr("rev")).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        BufReader::new(s)
    };
    // Client A makes a request and stays connected, quiet, past UNPIN_AFTER (2 s).
    let mut a = open();
    get(&mut a, "/a");
    let (conn_a, _) = seen(&rx, 1)[0].clone();
    std::thread::sleep(Duration::from_millis(2600));
    // Client B, while A is still connected, gets A's upstream connection.
    let mut b = open();
    get(&mut b, "/b");
    assert_eq!(seen(&rx, 1), [(conn_a, "/b".to_owned())]);
    // A's next request still works (on the connection B left, or a new one).
    get(&mut a, "/a2");
    assert_eq!(seen(&rx, 1)[0].1, "/a2");
}

#[test]
fn clients_on_several_workers_share_a_connection_per_worker() {
    let (up, rx) = numbering_upstream();
    let proxy = start(up, 2);
    // One request per client connection, one client after the other. Each lands on
    // either worker. A worker without an idle connection of its own borrows the other
    // worker's and opens one of its own in the background for the next client.
    let mut conns = Vec::new();
    for i in 0..8 {
        fetch(&proxy, &[&format!("/w{i}")]);
        let got = seen(&rx, 1);
        assert_eq!(got[0].1, format!("/w{i}"));
        conns.push(got[0].0);
        // Let the proxy see the client go, so its connection is idle for the next.
        std::thread::sleep(Duration::from_millis(300));
    }
    conns.sort_unstable();
    conns.dedup();
    assert!(
        (1..=2).contains(&conns.len()),
        "expected at most one upstream connection per worker, saw {conns:?}"
    );
}
