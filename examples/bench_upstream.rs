//! A tiny upstream for the benchmarks in `benches/`: a hyper 1 HTTP/1.1 server that
//! answers every request with `200 OK` and a 3-byte body (`ok\n`), after draining the
//! request body. The number of body bytes it read is echoed in `x-received-bytes`, so
//! the memory run can check that a whole upload arrived.
//!
//! It does not verify signatures (the tests do that); it only has to be cheap enough
//! not to be the bottleneck.
//!
//! With `--tls-cert-out PATH` it serves HTTPS instead, with a self-signed certificate
//! for 127.0.0.1 and localhost made at start and written (PEM) to PATH, for a route's
//! `ca_file`: the benchmarks of the proxy's TLS upstream path, and the profile-guided
//! build (`benches/pgo.sh`), which must see that path to optimise it.
//!
//! ```sh
//! cargo run --release --example bench_upstream -- --port 0 [--threads 2] [--tls-cert-out cert.pem]
//! # prints: listening on http://127.0.0.1:PORT (https:// with --tls-cert-out)
//! ```

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Command line: `--port N` (0 = any free port), `--host ADDR`, `--threads N`,
/// `--tls-cert-out PATH`.
struct Args {
    host: String,
    port: u16,
    threads: usize,
    tls_cert_out: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        host: "127.0.0.1".to_owned(),
        port: 0,
        threads: 2,
        tls_cert_out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => args.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--host" => args.host = value()?,
            "--threads" => {
                args.threads = value()?.parse().map_err(|e| format!("--threads: {e}"))?;
            }
            "--tls-cert-out" => args.tls_cert_out = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                return Err(
                    "usage: bench_upstream [--host 127.0.0.1] [--port 0] [--threads 2] \
                     [--tls-cert-out PATH]"
                        .to_owned(),
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.threads == 0 {
        return Err("--threads must be at least 1".to_owned());
    }
    Ok(args)
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Drain the body frame by frame, never holding more than one frame.
    let mut body = req.into_body();
    let mut received: u64 = 0;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    received += data.len() as u64;
                }
            }
            Err(_) => break,
        }
    }
    let resp = Response::builder()
        .header("content-type", "text/plain")
        .header("x-received-bytes", received)
        .body(Full::new(Bytes::from_static(b"ok\n")))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::from_static(b"ok\n"))));
    Ok(resp)
}

/// A TLS acceptor with a fresh self-signed certificate for 127.0.0.1 and localhost,
/// whose PEM is written to `cert_out`. HTTP/1.1 only (ALPN), as the server is.
fn tls_acceptor(cert_out: &std::path::Path) -> Result<TlsAcceptor, String> {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .map_err(|e| format!("certificate: {e}"))?;
    std::fs::write(cert_out, made.cert.pem())
        .map_err(|e| format!("writing {}: {e}", cert_out.display()))?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![made.cert.der().clone()], key)
        .map_err(|e| format!("TLS config: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

async fn serve(listener: TcpListener, tls: Option<TlsAcceptor>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: back off briefly rather than spin.
                eprintln!("bench_upstream: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            let http = http1::Builder::new();
            let _ = match tls {
                None => {
                    http.serve_connection(TokioIo::new(stream), service_fn(handle))
                        .await
                }
                Some(tls) => match tls.accept(stream).await {
                    Ok(stream) => {
                        http.serve_connection(TokioIo::new(stream), service_fn(handle))
                            .await
                    }
                    Err(_) => return,
                },
            };
        });
    }
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_upstream: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let addr: SocketAddr = match format!("{}:{}", args.host, args.port).parse() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("bench_upstream: bad address: {e}");
                return std::process::ExitCode::from(2);
            }
        };
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bench_upstream: bind {addr}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let tls = match args.tls_cert_out.as_deref().map(tls_acceptor).transpose() {
            Ok(t) => t,
            Err(e) => {
                eprintln!("bench_upstream: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let bound = listener.local_addr().unwrap_or(addr);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on {scheme}://{bound}");
        let _ = out.flush();
        drop(out);
        serve(listener, tls).await;
        std::process::ExitCode::SUCCESS
    })
}
