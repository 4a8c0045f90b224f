//! Issue 6: the pieces composed the way the server will use them. A minimal gateway
//! (hyper HTTP/1.1 with upgrades) checks `AccessPolicy`, an allow-list of `CONNECT`
//! hosts, answers 200, and terminates the tunnel's TLS with `LeafIssuer::accept`; inside,
//! an echo service (and a canned STS reply to POSTs) stands in for "sign and forward".
//! curl, awscli and boto3 (via `HTTPS_PROXY` / `proxies`) and a raw Rust client exercise
//! it: HTTP/2 and HTTP/1.1 inside the tunnel, 407 for a wrong or
//! missing token, 403 for a disallowed host, and a handshake failure with nothing served
//! for a client that does not trust the CA.
//!
//! This file doubles as the reference for wiring `CONNECT` into `src/proxy`.

// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use sigv4_proxy::access::{
    strip_proxy_credentials, AccessPolicy, Decision, ProxyAuth, PROXY_AUTHENTICATE_CHALLENGES,
};
use sigv4_proxy::secret::SecretString;
use sigv4_proxy::tls::ca::CertificateAuthority;
use sigv4_proxy::tls::leaf::{LeafIssuer, TlsHost};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "gw-token-5e1f";

const GET_CALLER_IDENTITY: &str = r#"<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:iam::123456789012:user/gateway-test</Arn>
    <UserId>AIDAGATEWAYTEST</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>c0ffee</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"#;

struct Gateway {
    issuer: Arc<LeafIssuer>,
    policy: AccessPolicy,
    allowed_hosts: Vec<TlsHost>,
    /// Requests answered inside tunnels.
    served: AtomicUsize,
    /// Inside requests that still carried a Proxy-Authorization header after stripping.
    leaked_credentials: AtomicUsize,
}

type Body = Full<Bytes>;

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Body::default());
    *resp.status_mut() = code;
    resp
}

impl Gateway {
    async fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        if req.method() != Method::CONNECT {
            return Ok(status(StatusCode::METHOD_NOT_ALLOWED));
        }
        match self.policy.decide(peer.ip(), req.headers()) {
            Decision::Allow => {}
            denied @ Decision::Deny407(_) => {
                let mut resp = status(denied.status().unwrap());
                for challenge in PROXY_AUTHENTICATE_CHALLENGES {
                    resp.headers_mut()
                        .append("proxy-authenticate", challenge.parse().unwrap());
                }
                return Ok(resp);
            }
            denied => return Ok(status(denied.status().unwrap())),
        }
        let Some(Ok((host, _port))) = req.uri().authority().map(TlsHost::from_connect_authority)
        else {
            return Ok(status(StatusCode::BAD_REQUEST));
        };
        if !self.allowed_hosts.contains(&host) {
            return Ok(status(StatusCode::FORBIDDEN));
        }
        let gateway = self.clone();
        tokio::spawn(async move {
            let Ok(upgraded) = hyper::upgrade::on(req).await else {
                return;
            };
            let Ok(tls) = gateway.issuer.accept(TokioIo::new(upgraded), host).await else {
                return;
            };
            let inner = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                let gateway = gateway.clone();
                async move {
                    strip_proxy_credentials(req.headers_mut());
                    if req.headers().contains_key("proxy-authorization") {
                        gateway.leaked_credentials.fetch_add(1, Ordering::SeqCst);
                    }
                    gateway.served.fetch_add(1, Ordering::SeqCst);
                    let host = req
                        .uri()
                        .authority()
                        .map(|a| a.host().to_owned())
                        .or_else(|| {
                            let h = req.headers().get("host")?.to_str().ok()?;
                            Some(h.split(':').next().unwrap_or(h).to_owned())
                        })
                        .unwrap_or_default();
                    if req.method() == Method::POST {
                        // What STS answers; lets real AWS clients parse the reply.
                        let mut resp = Response::new(Body::from(GET_CALLER_IDENTITY));
                        resp.headers_mut()
                            .insert("content-type", "text/xml".parse().unwrap());
                        return Ok(resp);
                    }
                    let body = format!(
                        "{:?} {} {host}{}",
                        req.version(),
                        req.method(),
                        req.uri().path()
                    );
                    Ok::<_, Infallible>(Response::new(Body::from(body)))
                }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), inner)
                .await;
        });
        Ok(Response::new(Body::default()))
    }
}

async fn start(policy: AccessPolicy) -> (SocketAddr, Arc<Gateway>) {
    let gateway = Arc::new(Gateway {
        issuer: Arc::new(LeafIssuer::new(CertificateAuthority::generate().unwrap())),
        policy,
        allowed_hosts: [
            "s3.amazonaws.com",
            "sts.amazonaws.com",
            "sts.us-east-1.amazonaws.com",
        ]
        .into_iter()
        .map(|h| TlsHost::parse(h).unwrap())
        .collect(),
        served: AtomicUsize::new(0),
        leaked_credentials: AtomicUsize::new(0),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = gateway.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = listener.accept().await.unwrap();
            let g = g.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| g.clone().handle(peer, req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    (addr, gateway)
}

fn token_policy() -> AccessPolicy {
    AccessPolicy::default().with_auth(ProxyAuth::new(&SecretString::new(TOKEN)))
}

/// Writes the CA certificate to a temp dir for the external clients.
fn ca_file(gateway: &Gateway) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.cert.pem");
    std::fs::write(&path, gateway.issuer.ca().cert_pem()).unwrap();
    (dir, path)
}

/// curl with only the given environment (no inherited proxy or CA variables).
async fn curl(env: &[(&str, String)], args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("curl");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .args(["-sS", "--max-time", "20"])
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn curl_through_https_proxy_gets_http2_inside_the_tunnel() {
    let (addr, gateway) = start(token_policy()).await;
    let (_dir, ca) = ca_file(&gateway);
    let proxy = format!("http://gw:{TOKEN}@{addr}");

    let out = curl(
        &[
            ("HTTPS_PROXY", proxy.clone()),
            ("CURL_CA_BUNDLE", ca.display().to_string()),
        ],
        &["--http2", "https://s3.amazonaws.com/bucket/key"],
    )
    .await;
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "HTTP/2.0 GET s3.amazonaws.com/bucket/key"
    );

    let out = curl(
        &[
            ("HTTPS_PROXY", proxy),
            ("CURL_CA_BUNDLE", ca.display().to_string()),
        ],
        &["--http1.1", "https://sts.amazonaws.com/"],
    )
    .await;
    assert!(out.status.success(), "curl: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "HTTP/1.1 GET sts.amazonaws.com/");

    assert_eq!(gateway.served.load(Ordering::SeqCst), 2);
    assert_eq!(gateway.leaked_credentials.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn curl_with_a_wrong_or_missing_token_gets_407() {
    let (addr, gateway) = start(token_policy()).await;
    let (_dir, ca) = ca_file(&gateway);
    for proxy in [format!("http://{addr}"), format!("http://gw:wrong@{addr}")] {
        let out = curl(
            &[
                ("HTTPS_PROXY", proxy.clone()),
                ("CURL_CA_BUNDLE", ca.display().to_string()),
            ],
            &["-w", "%{http_connect}", "https://s3.amazonaws.com/bucket"],
        )
        .await;
        assert!(!out.status.success());
        assert_eq!(text(&out.stdout), "407", "{proxy}: {}", text(&out.stderr));
    }
    assert_eq!(gateway.served.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn curl_to_a_host_not_allowed_gets_403() {
    let (addr, gateway) = start(token_policy()).await;
    let (_dir, ca) = ca_file(&gateway);
    let out = curl(
        &[
            ("HTTPS_PROXY", format!("http://gw:{TOKEN}@{addr}")),
            ("CURL_CA_BUNDLE", ca.display().to_string()),
        ],
        &["-w", "%{http_connect}", "https://example.com/"],
    )
    .await;
    assert!(!out.status.success());
    assert_eq!(text(&out.stdout), "403", "{}", text(&out.stderr));
    assert_eq!(gateway.issuer.cached_hosts(), 0);
}

#[tokio::test]
async fn curl_not_trusting_the_ca_fails_and_nothing_is_served() {
    let (addr, gateway) = start(token_policy()).await;
    // The client trusts a CA, just not this gateway's.
    let other = tempfile::NamedTempFile::new().unwrap();
    let other_ca = CertificateAuthority::generate().unwrap();
    std::fs::write(other.path(), other_ca.cert_pem()).unwrap();
    let out = curl(
        &[
            ("HTTPS_PROXY", format!("http://gw:{TOKEN}@{addr}")),
            ("CURL_CA_BUNDLE", other.path().display().to_string()),
        ],
        &["https://s3.amazonaws.com/bucket"],
    )
    .await;
    assert_eq!(out.status.code(), Some(60), "{}", text(&out.stderr));
    assert_eq!(gateway.served.load(Ordering::SeqCst), 0);
}

/// Sends `CONNECT` on a fresh connection and returns the status line and the stream.
async fn connect(addr: SocketAddr, target: &str, auth: Option<&str>) -> (String, TcpStream) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|a| format!("Proxy-Authorization: {a}\r\n"))
        .unwrap_or_default();
    let head = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n{auth}\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    // Read the response head byte by byte so nothing of the TLS stream is consumed.
    let mut buf = Vec::new();
    while !buf.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(tcp.read(&mut byte).await.unwrap(), 1, "proxy closed early");
        buf.push(byte[0]);
    }
    let text = text(&buf);
    (text, tcp)
}

#[tokio::test]
async fn raw_client_gets_http2_with_a_bearer_token() {
    let (addr, gateway) = start(token_policy()).await;
    let (head, tcp) = connect(
        addr,
        "s3.amazonaws.com:443",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");

    let mut roots = RootCertStore::empty();
    roots.add(gateway.issuer.ca().cert_der().clone()).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("s3.amazonaws.com").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    for key in ["a", "b"] {
        let req = Request::put(format!("https://s3.amazonaws.com/bucket/{key}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let body = sender.send_request(req).await.unwrap().into_body();
        let body = body.collect().await.unwrap().to_bytes();
        assert_eq!(body, format!("HTTP/2.0 PUT s3.amazonaws.com/bucket/{key}"));
    }
    assert_eq!(gateway.served.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn raw_client_407_carries_the_challenges_and_403_for_networks() {
    let (addr, _gateway) = start(token_policy()).await;
    let (head, _) = connect(addr, "s3.amazonaws.com:443", None).await;
    assert!(head.starts_with("HTTP/1.1 407"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(
        lower.contains("proxy-authenticate: basic realm=\"sigv4-proxy\""),
        "{head}"
    );
    assert!(
        lower.contains("proxy-authenticate: bearer realm=\"sigv4-proxy\""),
        "{head}"
    );

    // A client network list that excludes loopback: 403 even with the right token.
    let policy = token_policy().with_allowed_clients(["10.0.0.0/8".parse().unwrap()]);
    let (addr, _gateway) = start(policy).await;
    let (head, _) = connect(
        addr,
        "s3.amazonaws.com:443",
        Some(&format!("Bearer {TOKEN}")),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

/// awscli and boto3 as they run in practice: python, urllib3, `HTTPS_PROXY` with the
/// token in the URL (Basic), the CA via `AWS_CA_BUNDLE` or `verify=`, boto3 also via its
/// `proxies` config.
#[tokio::test]
async fn aws_cli_and_boto3_through_the_tunnel() {
    let (addr, gateway) = start(token_policy()).await;
    let (dir, ca) = ca_file(&gateway);
    let proxy = format!("http://gw:{TOKEN}@{addr}");
    let base_env = |cmd: &mut std::process::Command| {
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_ACCESS_KEY_ID", "AKIDUNUSED")
            .env("AWS_SECRET_ACCESS_KEY", "unused")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
    };

    let mut aws = std::process::Command::new("aws");
    base_env(&mut aws);
    aws.env("HTTPS_PROXY", &proxy)
        .env("AWS_CA_BUNDLE", &ca)
        .args(["sts", "get-caller-identity", "--output", "json"]);
    let out = tokio::task::spawn_blocking(move || aws.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "aws: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["Account"], "123456789012", "{json}");

    let script = r#"
import sys, boto3
from botocore.config import Config
sts = boto3.client("sts", region_name="us-east-1", verify=sys.argv[1],
                   config=Config(proxies={"https": sys.argv[2]}, retries={"max_attempts": 1}))
print(sts.get_caller_identity()["Arn"])
"#;
    let mut py = std::process::Command::new("python3");
    base_env(&mut py);
    py.arg("-c").arg(script).arg(&ca).arg(&proxy);
    let out = tokio::task::spawn_blocking(move || py.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "boto3: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "arn:aws:iam::123456789012:user/gateway-test"
    );

    assert_eq!(gateway.served.load(Ordering::SeqCst), 2);
}
