//! Helpers for the operations and error tests: scripted and recording HTTP/1.1
//! upstreams, raw client exchanges, and the admin endpoint of a [`SigningProxy`].

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use super::proxy::SigningProxy;

/// An upstream that answers by path: `/reset` (promises 1000 bytes, sends 10, closes),
/// `/drop` (closes without answering), `/hang` (silent for 10 s), `/5xx` (503 `SlowDown`), `/403sig` (403
/// `SignatureDoesNotMatch`), `/slow` (200 after 1.5 s), `/chunked` (a chunked body with
/// a trailer), `/interim` (100 and 103 before the 200), `/eof` (a body delimited by
/// closing the connection), `/nobody` (204), anything else 200 `ok`.
pub(crate) fn scripted_upstream() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            std::thread::spawn(move || serve_one(stream));
        }
    });
    addr
}

/// Reads one HTTP/1.1 request (or response: the framing is the same) from `reader`: its
/// head (up to the blank line) and a body of its `Content-Length`. `None` when the
/// connection ends first.
pub(crate) fn read_request(reader: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0usize);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((head, body))
}

/// An HTTP/1.1 upstream answering `200 ok` to everything and sending each request's
/// head and body on the channel.
pub(crate) fn recording_upstream() -> (SocketAddr, mpsc::Receiver<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut out = stream;
                while let Some(request) = read_request(&mut reader) {
                    let _ = tx.send(request);
                    if out
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

fn serve_one(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    while let Some((head, _body)) = read_request(&mut reader) {
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let reply: Vec<u8> = match path.as_str() {
            "/reset" => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789");
                let _ = out.flush();
                std::thread::sleep(Duration::from_millis(100));
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            "/drop" => {
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            "/hang" => {
                std::thread::sleep(Duration::from_secs(10));
                return;
            }
            "/5xx" => {
                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n\r\nSlowDown!".to_vec()
            }
            "/403sig" => {
                let body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error>";
                format!(
                    "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                )
                .into_bytes()
            }
            "/slow" => {
                std::thread::sleep(Duration::from_millis(1500));
                b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow".to_vec()
            }
            "/chunked" => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: t\r\n\r\n".to_vec(),
            "/interim" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nfinally".to_vec(),
            "/eof" => {
                let _ = out.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end");
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            "/nobody" => b"HTTP/1.1 204 No Content\r\nx-note: empty\r\n\r\n".to_vec(),
            _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_vec(),
        };
        if out.write_all(&reply).is_err() {
            return;
        }
    }
}

/// Sends `request` bytes on a new connection and returns everything the server sent
/// until it closed (or 5 s of silence).
pub(crate) fn raw_exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// `GET path` on `addr` with `Connection: close`: (status, headers and body text).
pub(crate) fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let text = raw_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    (status_of(&text), text)
}

/// The status code of a raw HTTP/1.1 response (0 when there is none).
pub(crate) fn status_of(text: &str) -> u16 {
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .filter(|_| text.starts_with("HTTP/1."))
        .unwrap_or(0)
}

/// The admin address the proxy printed (`admin on http://ADDR`).
pub(crate) fn admin_addr(proxy: &mut SigningProxy) -> SocketAddr {
    let out = proxy.process_mut().stdout();
    let line = out
        .lines()
        .find(|l| l.starts_with("admin on"))
        .unwrap_or_else(|| panic!("no admin line in {out}"));
    super::process::find_socket_addr(line).expect("admin address")
}

/// The value of the metric line `series` (exact name and labels), if present.
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (name, v) = l.rsplit_once(' ')?;
        (name == series).then(|| v.parse().ok())?
    })
}

/// Config text for a reverse listener `name` with one signing S3 route (us-east-1) to
/// `upstream` (a URL).
pub(crate) fn s3_listener(name: &str, upstream: &str) -> String {
    format!(
        r#"[[listeners]]
name = "{name}"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{upstream}"
service = "s3"
region = "us-east-1"
"#
    )
}
