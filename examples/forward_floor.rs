//! A minimal hyper forwarder, the floor the proxy is measured against: it passes each
//! request to an upstream and streams the answer back, with no signing, routing,
//! limits, timeouts, metrics or logs. `benches/load.sh` runs it beside the proxy
//! (`FLOOR=1`) so the cost of what the proxy adds shows up in the same run.
//!
//! ```sh
//! cargo run --release --example forward_floor -- pool 127.0.0.1:9000
//! # modes: pool (hyper-util's pooled client) | conn (one upstream connection per
//! # client connection, driven by its own task), on tokio's work-stealing runtime;
//! # tpc-pool | tpc-conn: the same on one current-thread runtime per core, as the
//! # proxy's workers; prints: listening on http://127.0.0.1:PORT
//! ```

#![allow(clippy::unwrap_used)] // A measuring tool: a panic is the error report.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: forward_floor [tpc-]pool|[tpc-]conn UPSTREAM_HOST:PORT");
        std::process::exit(2);
    };
    if let Some(inner) = mode.strip_prefix("tpc-") {
        return thread_per_core(inner.to_owned(), upstream);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("listening on http://{}", listener.local_addr().unwrap());
        accept_loop(listener, mode, upstream).await;
    });
}

/// One current-thread runtime per core, all accepting on one listening socket, so a
/// request and its upstream connection stay on one thread.
fn thread_per_core(mode: String, upstream: String) {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    println!("listening on http://{}", std_listener.local_addr().unwrap());
    let n = std::thread::available_parallelism().map_or(2, |n| n.get());
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let listener = std_listener.try_clone().unwrap();
            let (mode, upstream) = (mode.clone(), upstream.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).unwrap();
                    accept_loop(listener, mode, upstream).await;
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// Serves every connection `listener` accepts, in `mode` (`pool` or `conn`), on the
/// calling runtime.
async fn accept_loop(listener: TcpListener, mode: String, upstream: String) {
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let (client, upstream, mode) = (client.clone(), upstream.clone(), mode.clone());
        tokio::spawn(async move {
            if mode == "conn" {
                serve_with_own_connection(stream, &upstream).await;
            } else {
                serve_pooled(stream, client, upstream).await;
            }
        });
    }
}

/// Every request through hyper-util's pooled client.
async fn serve_pooled(stream: TcpStream, client: Client<HttpConnector, Incoming>, up: String) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (client, up) = (client.clone(), up.clone());
        async move {
            let (mut parts, body) = req.into_parts();
            let pq = parts.uri.path_and_query().map_or("/", |p| p.as_str());
            parts.uri = format!("http://{up}{pq}").parse().unwrap();
            Ok::<_, Infallible>(
                client
                    .request(Request::from_parts(parts, body))
                    .await
                    .unwrap(),
            )
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// One upstream connection for the client connection's life.
async fn serve_with_own_connection(stream: TcpStream, up: &str) {
    let upstream = TcpStream::connect(up).await.unwrap();
    let _ = upstream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(upstream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let sender = Arc::new(tokio::sync::Mutex::new(sender));
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let sender = sender.clone();
        async move { Ok::<_, Infallible>(sender.lock().await.send_request(req).await.unwrap()) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
