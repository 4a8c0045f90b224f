//! Issue 6: leaf certificates issued on the fly by the local CA, checked with real TLS
//! handshakes over loopback TCP. A rustls client trusting only the CA root reaches the
//! intercepting server with ALPN h2 or http/1.1 and gets an HTTP answer; a client that
//! does not trust the CA, or names a different host than the tunnel's, fails the
//! handshake and nothing is served. curl and Python (OpenSSL, strict X.509 checks) accept
//! the leaves too, and the listener config from files serves the same way.

// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use sigv4_proxy::tls::ca::{CaPaths, CertificateAuthority, Overwrite};
use sigv4_proxy::tls::leaf::{LeafIssuer, TlsHost};
use sigv4_proxy::tls::server_config::ListenerIdentity;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// An HTTPS server on 127.0.0.1 answering every request with
/// `<version> <method> <host><path>`; counts the requests it answered.
struct Server {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
}

async fn start(config: impl Fn() -> Arc<ServerConfig> + Send + 'static) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = TlsAcceptor::from(config());
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let host = req
                            .uri()
                            .authority()
                            .map(|a| a.to_string())
                            .or_else(|| {
                                req.headers()
                                    .get("host")
                                    .map(|h| h.to_str().unwrap().to_owned())
                            })
                            .unwrap_or_default();
                        let body = format!(
                            "{:?} {} {host}{}",
                            req.version(),
                            req.method(),
                            req.uri().path()
                        );
                        async move { Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(body)))) }
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Server { addr, served }
}

fn intercepting(issuer: &Arc<LeafIssuer>, connect_host: &str) -> impl Fn() -> Arc<ServerConfig> {
    let issuer = issuer.clone();
    let host = TlsHost::parse(connect_host).unwrap();
    move || issuer.server_config(Some(host.clone())).unwrap()
}

fn new_issuer() -> Arc<LeafIssuer> {
    Arc::new(LeafIssuer::new(CertificateAuthority::generate().unwrap()))
}

fn client(roots: RootCertStore, alpn: &[&[u8]]) -> TlsConnector {
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

fn trusting(ca: &CertificateAuthority) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(ca.cert_der().clone()).unwrap();
    roots
}

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

async fn handshake(connector: &TlsConnector, addr: SocketAddr, name: &str) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    connector.connect(name, tcp).await
}

fn peer_leaf(tls: &Tls) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0].clone()
}

#[tokio::test]
async fn trusted_client_speaks_http2_inside_the_tunnel() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "s3.amazonaws.com")).await;
    let connector = client(trusting(issuer.ca()), &[b"h2", b"http/1.1"]);

    let tls = handshake(&connector, server.addr, "s3.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = Request::get("https://s3.amazonaws.com/bucket/key")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "HTTP/2.0 GET s3.amazonaws.com/bucket/key");
    assert_eq!(server.served.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn trusted_client_speaks_http11_when_it_offers_only_that() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "sts.amazonaws.com")).await;
    let connector = client(trusting(issuer.ca()), &[b"http/1.1"]);

    let tls = handshake(&connector, server.addr, "sts.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = Request::get("/")
        .header("host", "sts.amazonaws.com")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender.send_request(req).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "HTTP/1.1 GET sts.amazonaws.com/");
}

#[tokio::test]
async fn client_not_trusting_the_ca_fails_and_nothing_is_served() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "s3.amazonaws.com")).await;

    // The public web roots, as an unconfigured client would have.
    let public = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let err = handshake(&client(public, &[b"h2"]), server.addr, "s3.amazonaws.com")
        .await
        .unwrap_err();
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap();
    assert_eq!(
        *inner,
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
    );

    // Trusting some other local CA does not help either.
    let other = CertificateAuthority::generate().unwrap();
    assert!(handshake(
        &client(trusting(&other), &[b"h2"]),
        server.addr,
        "s3.amazonaws.com"
    )
    .await
    .is_err());
    assert_eq!(server.served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn sni_for_another_host_than_the_connect_target_fails() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "s3.amazonaws.com")).await;
    let connector = client(trusting(issuer.ca()), &[b"h2"]);
    let err = handshake(&connector, server.addr, "evil.example.com")
        .await
        .unwrap_err();
    // The server sends a handshake_failure alert instead of a certificate.
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
        .unwrap();
    assert!(
        matches!(inner, rustls::Error::AlertReceived(_)),
        "{inner:?}"
    );
    assert_eq!(
        issuer.cached_hosts(),
        0,
        "no leaf issued for the other host"
    );
    assert_eq!(server.served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn connect_to_an_ip_gets_a_leaf_without_sni() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "127.0.0.1")).await;
    // rustls sends no SNI for an IP address; the CONNECT target supplies the host.
    let connector = client(trusting(issuer.ca()), &[b"h2"]);
    let tls = handshake(&connector, server.addr, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

#[tokio::test]
async fn the_same_host_gets_the_same_leaf_across_connections() {
    let ca = CertificateAuthority::generate().unwrap();
    let roots = trusting(&ca);
    let issuer = Arc::new(LeafIssuer::with_capacity(
        ca,
        NonZeroUsize::new(16).unwrap(),
    ));
    let s3 = start(intercepting(&issuer, "s3.amazonaws.com")).await;
    let ddb = start(intercepting(&issuer, "dynamodb.us-east-1.amazonaws.com")).await;
    let connector = client(roots, &[b"h2"]);

    let first = handshake(&connector, s3.addr, "s3.amazonaws.com")
        .await
        .unwrap();
    let second = handshake(&connector, s3.addr, "s3.amazonaws.com")
        .await
        .unwrap();
    let other = handshake(&connector, ddb.addr, "dynamodb.us-east-1.amazonaws.com")
        .await
        .unwrap();
    assert_eq!(peer_leaf(&first), peer_leaf(&second));
    assert_ne!(peer_leaf(&first), peer_leaf(&other));
    assert_eq!(issuer.cached_hosts(), 2);
}

#[tokio::test]
async fn listener_identity_from_files_serves_tls() {
    // A CA on disk, and a server certificate for localhost signed by it, as files.
    let dir = tempfile::tempdir().unwrap();
    let ca_paths = CaPaths::in_dir(dir.path());
    CertificateAuthority::generate()
        .unwrap()
        .write(&ca_paths, Overwrite::Refuse)
        .unwrap();
    let ca = CertificateAuthority::load(&ca_paths).unwrap();
    let identity = ListenerIdentity::new(
        dir.path().join("server.pem"),
        dir.path().join("server.key.pem"),
    );
    let leaf_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ca_params = rcgen::CertificateParams::from_ca_cert_der(ca.cert_der()).unwrap();
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(&ca_paths.key).unwrap()).unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .unwrap();
    std::fs::write(&identity.cert_chain, leaf.pem()).unwrap();
    std::fs::write(&identity.private_key, leaf_key.serialize_pem()).unwrap();

    let config = identity.server_config().unwrap();
    let server = start(move || config.clone()).await;
    let connector = client(trusting(&ca), &[b"h2", b"http/1.1"]);
    let tls = handshake(&connector, server.addr, "localhost")
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
}

/// Runs a command to completion off the async runtime.
async fn run(cmd: &mut std::process::Command) -> std::process::Output {
    let mut cmd = std::mem::replace(cmd, std::process::Command::new("true"));
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn curl_and_python_accept_the_leaf_with_the_ca_file() {
    let issuer = new_issuer();
    let server = start(intercepting(&issuer, "s3.amazonaws.com")).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.cert.pem");
    std::fs::write(&ca_file, issuer.ca().cert_pem()).unwrap();
    let port = server.addr.port();
    let url = format!("https://s3.amazonaws.com:{port}/bucket");
    let resolve = format!("s3.amazonaws.com:{port}:127.0.0.1");

    let out = run(std::process::Command::new("curl")
        .args([
            "-sS",
            "--http2",
            "--max-time",
            "20",
            "--noproxy",
            "*",
            "--resolve",
            &resolve,
            "--cacert",
        ])
        .arg(&ca_file)
        .arg(&url))
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("HTTP/2.0 GET s3.amazonaws.com:{port}/bucket")
    );

    // Without the CA, curl refuses (exit 60: peer certificate cannot be authenticated).
    let out = run(std::process::Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "20",
            "--noproxy",
            "*",
            "--resolve",
            &resolve,
            &url,
        ])
        .env("SSL_CERT_FILE", "/dev/null"))
    .await;
    assert_eq!(
        out.status.code(),
        Some(60),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Python's ssl (what awscli and boto3 use), with strict X.509 checking on as in
    // Python 3.13+.
    let script = r#"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= getattr(ssl, "VERIFY_X509_STRICT", 0)
ctx.set_alpn_protocols(["h2", "http/1.1"])
with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=20) as raw:
    with ctx.wrap_socket(raw, server_hostname="s3.amazonaws.com") as tls:
        print(tls.selected_alpn_protocol(), tls.version())
"#;
    let out = run(std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&ca_file)
        .arg(port.to_string()))
    .await;
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "h2 TLSv1.3");
}
