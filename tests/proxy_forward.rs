//! End-to-end (issue 3): forward mode (`HTTP_PROXY`) and TLS upstreams.
//!
//! moto serves HTTPS with a certificate from a test CA for AWS host names and enforces
//! SigV4. The proxy trusts that CA (`ca_file`) and reaches it through `connect_to`, so
//! clients address the real AWS names (`http://s3.us-east-1.amazonaws.com/...`) while
//! everything stays on loopback. Hosts off the allow-list get 403 and are never
//! contacted.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use support::*;

fn tls_moto(ca: &TestCa) -> Moto {
    Moto::start(MotoOptions {
        tls: Some(ca),
        enforce_auth: true,
        ..MotoOptions::default()
    })
}

fn forward_proxy(moto: &Moto, extra: &str) -> SigningProxy {
    let ca = moto
        .ca_bundle()
        .expect("moto serves TLS")
        .display()
        .to_string();
    let m = moto.addr();
    let config = format!(
        r#"
[[listeners]]
name = "fwd"
listen = "127.0.0.1:0"
mode = "forward"
[[listeners.routes]]
ca_file = "{ca}"

[connect_to]
"s3.us-east-1.amazonaws.com:443" = "{m}"
"*.s3.us-east-1.amazonaws.com:443" = "{m}"
"sts.us-east-1.amazonaws.com:443" = "{m}"
"dynamodb.us-east-1.amazonaws.com:443" = "{m}"
{extra}
"#
    );
    SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
        ],
    )
}

#[test]
fn forward_mode_signs_for_aws_hosts_over_tls_via_connect_to() {
    let ca = TestCa::temp();
    let moto = tls_moto(&ca);
    let proxy = forward_proxy(&moto, "");
    let http_proxy = proxy.endpoint("fwd");
    let env = [
        ("HTTP_PROXY", http_proxy.as_str()),
        ("http_proxy", http_proxy.as_str()),
    ];
    // Plain http:// AWS endpoints: the client sends absolute URIs to the proxy, which
    // signs and upgrades to https:// upstream.
    let via = |endpoint: &str, args: &[&str]| {
        let mut all = vec!["--no-sign-request"];
        all.extend_from_slice(args);
        aws(&all, Some(endpoint), &env)
    };

    let id = via(
        "http://sts.us-east-1.amazonaws.com",
        &["sts", "get-caller-identity"],
    );
    id.assert_success();
    assert_eq!(id.json()["Arn"].as_str(), moto.user_arn());

    let s3 = "http://s3.us-east-1.amazonaws.com";
    via(s3, &["s3", "mb", "s3://forwarded"]).assert_success();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = data_file(dir.path(), "f", 6 * 1024 * 1024, 9);
    via(
        s3,
        &[
            "s3",
            "cp",
            file.to_str().expect("utf8"),
            "s3://forwarded/six mib.bin",
        ],
    )
    .assert_success();
    let ls = moto.aws(&["s3api", "list-objects-v2", "--bucket", "forwarded"]);
    ls.assert_success();
    assert_eq!(
        ls.json()["Contents"][0]["Key"].as_str(),
        Some("six mib.bin")
    );
    assert_eq!(
        ls.json()["Contents"][0]["Size"].as_u64(),
        Some(6 * 1024 * 1024)
    );

    via(
        "http://dynamodb.us-east-1.amazonaws.com",
        &[
            "dynamodb",
            "create-table",
            "--table-name",
            "fwd",
            "--attribute-definitions",
            "AttributeName=id,AttributeType=S",
            "--key-schema",
            "AttributeName=id,KeyType=HASH",
            "--billing-mode",
            "PAY_PER_REQUEST",
        ],
    )
    .assert_success();
    let tables = via(
        "http://dynamodb.us-east-1.amazonaws.com",
        &["dynamodb", "list-tables"],
    );
    tables.assert_success();
    assert_eq!(tables.json()["TableNames"][0].as_str(), Some("fwd"));

    // curl -x: upload and download through the forward proxy.
    curl_cmd(&[
        "-sS",
        "-f",
        "-x",
        &http_proxy,
        "-T",
        "-",
        "http://s3.us-east-1.amazonaws.com/forwarded/by-curl.txt",
    ])
    .stdin(b"via curl -x".to_vec())
    .run()
    .assert_success();
    let got = curl(&[
        "-sS",
        "-f",
        "-x",
        &http_proxy,
        "http://s3.us-east-1.amazonaws.com/forwarded/by-curl.txt",
    ]);
    got.assert_success();
    assert_eq!(got.stdout_str(), "via curl -x");

    // boto3 with proxies config, unsigned.
    let script = r#"
import os, boto3
from botocore import UNSIGNED
from botocore.config import Config
cfg = Config(signature_version=UNSIGNED, proxies={"http": os.environ["PX"]})
sts = boto3.client("sts", endpoint_url="http://sts.us-east-1.amazonaws.com", config=cfg)
print(sts.get_caller_identity()["Arn"])
"#;
    let out = python(script, &[("PX", http_proxy.as_str())]);
    out.assert_success();
    assert_eq!(Some(out.stdout_str().trim()), moto.user_arn());
}

#[test]
fn forward_mode_refuses_hosts_not_on_the_allow_list_without_contacting_them() {
    let ca = TestCa::temp();
    let moto = tls_moto(&ca);
    // A "server" for the disallowed host: connect_to points at it, so a forwarded
    // request would show up as a connection here.
    let trap = TcpListener::bind("127.0.0.1:0").expect("bind trap");
    trap.set_nonblocking(true).expect("nonblocking");
    let extra = format!(
        "\"evil.example.com:443\" = \"{0}\"\n\"amazonaws.com.evil.net:443\" = \"{0}\"\n",
        trap.local_addr().expect("addr")
    );
    let proxy = forward_proxy(&moto, &extra);
    let px = proxy.endpoint("fwd");
    for url in [
        "http://evil.example.com/steal",
        "http://amazonaws.com.evil.net/",
        "http://127.0.0.1:1/",
    ] {
        let out = curl(&["-sS", "-x", &px, "-w", "\n%{http_code}", url]);
        out.assert_success();
        let text = out.stdout_str();
        assert!(text.ends_with("\n403"), "{url}: {text}");
        assert!(
            text.contains("not on this proxy's allow-list"),
            "{url}: {text}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(trap.accept().is_err(), "a disallowed host was contacted");
}

#[test]
fn reverse_mode_to_tls_upstreams_trusts_only_the_configured_ca() {
    let ca = TestCa::temp();
    let moto = tls_moto(&ca);
    let ca_file = moto.ca_bundle().expect("tls").display().to_string();
    let m = moto.addr();
    let config = format!(
        r#"
# By IP, trusting the test CA.
[[listeners]]
name = "trusted"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "https://127.0.0.1:{port}"
service = "sts"
region = "us-east-1"
ca_file = "{ca_file}"

# The real name, connected elsewhere (a VPC-endpoint style setup); service and region
# inferred from the host.
[[listeners]]
name = "named"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "https://sts.us-east-1.amazonaws.com"
ca_file = "{ca_file}"

# Same upstream without the CA: the handshake fails, 502, nothing sent.
[[listeners]]
name = "untrusted"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "https://127.0.0.1:{port}"
service = "sts"
region = "us-east-1"

[connect_to]
"sts.us-east-1.amazonaws.com:443" = "{m}"
"#,
        port = moto.port()
    );
    let proxy = SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
        ],
    );
    for listener in ["trusted", "named"] {
        let id = aws(
            &["--no-sign-request", "sts", "get-caller-identity"],
            Some(&proxy.endpoint(listener)),
            &[],
        );
        id.assert_success();
        assert_eq!(id.json()["Arn"].as_str(), moto.user_arn(), "{listener}");
    }
    let out = curl(&[
        "-sS",
        "-w",
        "\n%{http_code}",
        "-d",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &proxy.endpoint("untrusted"),
    ]);
    out.assert_success();
    let text = out.stdout_str();
    assert!(text.ends_with("\n502"), "{text}");
    assert!(
        text.contains("cannot connect to upstream 127.0.0.1:"),
        "{text}"
    );
}

/// What the HTTP/2 upstream saw of one request.
#[derive(Debug)]
struct Seen {
    version: http::Version,
    authority: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// An in-process TLS upstream offering `h2` and `http/1.1` by ALPN; answers 200.
fn h2_tls_upstream(ca: &TestCa) -> (std::net::SocketAddr, std::sync::mpsc::Receiver<Seen>) {
    use http_body_util::BodyExt;
    let (cert_pem, key_pem) = ca.issue_pem(&["h2.example.com", "127.0.0.1"]);
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("certs");
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .expect("key")
        .expect("a key");
    let mut tls = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    tls.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
    let std_listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let tx = tx.clone();
                            async move {
                                let version = req.version();
                                let authority = req.uri().authority().map(|a| a.to_string());
                                let authorization = req
                                    .headers()
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned);
                                let body = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let _ = tx.send(Seen {
                                    version,
                                    authority,
                                    authorization,
                                    body,
                                });
                                Ok::<_, std::convert::Infallible>(http::Response::new(
                                    http_body_util::Full::new(bytes::Bytes::from_static(b"h2 ok")),
                                ))
                            }
                        },
                    );
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
                });
            }
        });
    });
    (addr, rx)
}

#[test]
fn upstream_http2_is_used_when_alpn_offers_it() {
    let ca = TestCa::temp();
    let (addr, seen) = h2_tls_upstream(&ca);
    let config = format!(
        r#"
[[listeners]]
name = "h2"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "https://h2.example.com"
service = "execute-api"
region = "eu-west-1"
ca_file = "{ca}"

[connect_to]
"h2.example.com:443" = "{addr}"
"#,
        ca = ca.cert_path().display()
    );
    let proxy = SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", "AKIDH2"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ],
    );
    for _ in 0..2 {
        let out = curl_cmd(&[
            "-sS",
            "-f",
            "-d",
            "@-",
            &format!("{}/stage/items", proxy.endpoint("h2")),
        ])
        .stdin(b"{\"a\":1}".to_vec())
        .run();
        out.assert_success();
        assert_eq!(out.stdout_str(), "h2 ok");
        let s = seen
            .recv_timeout(Duration::from_secs(5))
            .expect("request reached the upstream");
        assert_eq!(s.version, http::Version::HTTP_2);
        assert_eq!(s.authority.as_deref(), Some("h2.example.com"));
        let auth = s.authorization.expect("signed");
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDH2/"),
            "{auth}"
        );
        assert!(
            auth.contains("/eu-west-1/execute-api/aws4_request"),
            "{auth}"
        );
        assert_eq!(s.body, b"{\"a\":1}");
    }
}
