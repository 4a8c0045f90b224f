//! End-to-end (issue 6): the real `sigv4-proxy` as `HTTPS_PROXY`. Clients (awscli, curl,
//! boto3) send `CONNECT`, trust the proxy's CA, and talk HTTPS to AWS host names; the
//! proxy intercepts, re-signs with its own key and forwards over its own verified TLS
//! to moto (TLS, signature enforcement on) through `connect_to`. The clients hold dummy
//! keys, so every success means moto accepted a signature the proxy made.
//!
//! Also: 407 for a wrong or missing proxy token, 403 for a host not on the allow-list,
//! a client not trusting the CA (handshake fails, a trap upstream sees no connection),
//! HTTP/2 inside the tunnel, a blind tunnel, and the TLS listener option.

mod support;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use sigv4_proxy::tls::ca::{CaPaths, CertificateAuthority, Overwrite};
use support::*;

const TOKEN: &str = "gw-token-7c1d9e";

/// A TCP listener that counts connections and never answers: proves nothing was sent.
fn trap() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind trap");
    let port = listener.local_addr().expect("trap addr").port();
    let hits = Arc::new(AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if conn.is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    (port, hits)
}

/// The interception CA, written like `sigv4-proxy ca init` does.
fn intercept_ca(dir: &Path) -> CaPaths {
    let paths = CaPaths::in_dir(dir);
    CertificateAuthority::generate()
        .expect("generate CA")
        .write(&paths, Overwrite::Refuse)
        .expect("write CA");
    paths
}

struct Gateway {
    moto: Moto,
    proxy: SigningProxy,
    ca: CaPaths,
    trap_hits: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    _moto_ca: TestCa,
}

impl Gateway {
    fn start() -> Gateway {
        let moto_ca = TestCa::temp();
        let moto = Moto::start(MotoOptions {
            tls: Some(&moto_ca),
            enforce_auth: true,
            ..MotoOptions::default()
        });
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = intercept_ca(dir.path());
        let (trap_port, trap_hits) = trap();
        let m = moto.port();
        let mut connect_to = String::new();
        for host in [
            "s3.amazonaws.com",
            "*.s3.amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "*.s3.us-east-1.amazonaws.com",
            "dynamodb.us-east-1.amazonaws.com",
            "sts.amazonaws.com",
            "sts.us-east-1.amazonaws.com",
        ] {
            connect_to.push_str(&format!("\"{host}:443\" = \"127.0.0.1:{m}\"\n"));
        }
        for host in ["sqs.us-east-1.amazonaws.com", "example.com"] {
            connect_to.push_str(&format!("\"{host}:443\" = \"127.0.0.1:{trap_port}\"\n"));
        }
        let config = format!(
            r#"
[[listeners]]
name = "gw"
listen = "127.0.0.1:0"
mode = "forward"
intercept = {{ ca_cert_file = "{cert}", ca_key_file = "{key}" }}
tunnel_hosts = ["localhost"]
proxy_auth = {{ token = {{ env = "GW_TOKEN" }} }}

[[listeners.routes]]
ca_file = "{moto_ca}"

[connect_to]
{connect_to}
"#,
            cert = ca.cert.display(),
            key = ca.key.display(),
            moto_ca = moto_ca.cert_path().display(),
        );
        let proxy = SigningProxy::start(
            &config,
            &[
                ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
                ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
                ("GW_TOKEN", TOKEN),
            ],
        );
        Gateway {
            moto,
            proxy,
            ca,
            trap_hits,
            _dir: dir,
            _moto_ca: moto_ca,
        }
    }

    /// `http://gw:TOKEN@ADDR`: Basic proxy credentials in the URL.
    fn proxy_url(&self) -> String {
        format!("http://gw:{TOKEN}@{}", self.proxy.addr("gw"))
    }

    fn ca_path(&self) -> String {
        self.ca.cert.display().to_string()
    }

    /// awscli with dummy keys, `HTTPS_PROXY` and the proxy CA trusted.
    fn aws(&self, args: &[&str]) -> CmdOutput {
        let proxy = self.proxy_url();
        let ca = self.ca_path();
        aws(
            args,
            None,
            &[
                ("HTTPS_PROXY", proxy.as_str()),
                ("AWS_CA_BUNDLE", ca.as_str()),
                ("AWS_ACCESS_KEY_ID", "AKIDCLIENTDUMMY00000"),
                ("AWS_SECRET_ACCESS_KEY", "client-dummy-secret"),
            ],
        )
    }

    /// curl with `HTTPS_PROXY=proxy` and `--cacert ca`.
    fn curl(&self, proxy: &str, ca: &str, args: &[&str]) -> CmdOutput {
        curl_cmd(&["-sS", "--max-time", "30", "--cacert", ca])
            .args(args)
            .env("HTTPS_PROXY", proxy)
            .run()
    }
}

#[test]
fn awscli_s3_dynamodb_sts_through_https_proxy() {
    let gw = Gateway::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let upload = data_file(dir.path(), "up.bin", 3 * 1024 * 1024 + 17, 6);
    let down: PathBuf = dir.path().join("down.bin");

    gw.aws(&["s3", "mb", "s3://tunnelled"]).assert_success();
    gw.aws(&[
        "s3",
        "cp",
        upload.to_str().expect("utf8"),
        "s3://tunnelled/dir/up.bin",
    ])
    .assert_success();
    // Arrived, as moto reports it to a directly signed client.
    let head = gw.moto.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "tunnelled",
        "--key",
        "dir/up.bin",
    ]);
    head.assert_success();
    assert_eq!(head.json()["ContentLength"], 3 * 1024 * 1024 + 17);
    gw.aws(&[
        "s3",
        "cp",
        "s3://tunnelled/dir/up.bin",
        down.to_str().expect("utf8"),
    ])
    .assert_success();
    assert_same_file(&upload, &down);

    gw.aws(&[
        "dynamodb",
        "create-table",
        "--table-name",
        "tunnel-table",
        "--attribute-definitions",
        "AttributeName=id,AttributeType=S",
        "--key-schema",
        "AttributeName=id,KeyType=HASH",
        "--billing-mode",
        "PAY_PER_REQUEST",
    ])
    .assert_success();
    let tables = gw.aws(&["dynamodb", "list-tables"]);
    tables.assert_success();
    assert_eq!(tables.json()["TableNames"][0], "tunnel-table");

    let me = gw.aws(&["sts", "get-caller-identity"]);
    me.assert_success();
    // The proxy's identity, not the client's dummy key.
    assert_eq!(me.json()["Arn"], gw.moto.user_arn().expect("enforcing"));
}

#[test]
fn curl_and_boto3_through_https_proxy_with_http2_inside() {
    let gw = Gateway::start();
    let proxy = gw.proxy_url();
    let ca = gw.ca_path();
    let arn = gw.moto.user_arn().expect("enforcing").to_owned();

    // HTTP/2 inside the tunnel (ALPN h2 on the intercepted TLS).
    let out = gw.curl(
        &proxy,
        &ca,
        &[
            "--http2",
            "-w",
            "\nversion=%{http_version}",
            "-d",
            "Action=GetCallerIdentity&Version=2011-06-15",
            "https://sts.amazonaws.com/",
        ],
    );
    out.assert_success();
    let text = out.stdout_str();
    assert!(text.contains(&arn), "{text}");
    assert!(text.ends_with("version=2"), "{text}");

    // HTTP/1.1 inside, and a proxy token sent as a Bearer header instead of userinfo.
    let out = curl_cmd(&[
        "-sS",
        "--max-time",
        "30",
        "--cacert",
        &ca,
        "--http1.1",
        "-w",
        "\nversion=%{http_version}",
        "--proxy",
        &format!("http://{}", gw.proxy.addr("gw")),
        "--proxy-header",
        &format!("Proxy-Authorization: Bearer {TOKEN}"),
        "-d",
        "Action=GetCallerIdentity&Version=2011-06-15",
        "https://sts.us-east-1.amazonaws.com/",
    ])
    .run();
    out.assert_success();
    let text = out.stdout_str();
    assert!(text.contains(&arn), "{text}");
    assert!(text.ends_with("version=1.1"), "{text}");

    // boto3 with its `proxies` config.
    let script = r#"
import os, boto3
from botocore.config import Config
cfg = Config(proxies={"https": os.environ["GW_PROXY"]}, retries={"max_attempts": 1})
kw = dict(region_name="us-east-1", verify=os.environ["GW_CA"], config=cfg,
          aws_access_key_id="AKIDCLIENTDUMMY00000", aws_secret_access_key="dummy")
s3 = boto3.client("s3", **kw)
s3.create_bucket(Bucket="boto-tunnel")
s3.put_object(Bucket="boto-tunnel", Key="k", Body=b"through the tunnel")
print(s3.get_object(Bucket="boto-tunnel", Key="k")["Body"].read().decode())
print(boto3.client("sts", **kw).get_caller_identity()["Arn"])
"#;
    let out = python(
        script,
        &[("GW_PROXY", proxy.as_str()), ("GW_CA", ca.as_str())],
    );
    out.assert_success();
    assert_eq!(
        out.stdout_str().trim(),
        format!("through the tunnel\n{arn}")
    );
}

#[test]
fn refusals_407_403_untrusted_ca_and_blind_tunnel() {
    let mut gw = Gateway::start();
    let ca = gw.ca_path();
    let addr = gw.proxy.addr("gw");

    // Missing or wrong token: 407 on the CONNECT, nothing forwarded.
    for proxy in [format!("http://{addr}"), format!("http://gw:wrong@{addr}")] {
        let out = gw.curl(
            &proxy,
            &ca,
            &[
                "-w",
                "%{http_connect}",
                "https://sqs.us-east-1.amazonaws.com/",
            ],
        );
        out.assert_failure();
        assert_eq!(out.stdout_str(), "407", "{proxy}: {}", out.stderr_str());
    }
    // Also for plain forward-mode (http://) requests, with the challenges.
    let out = curl(&[
        "-sS",
        "-i",
        "--proxy",
        &format!("http://{addr}"),
        "http://sqs.us-east-1.amazonaws.com/",
    ]);
    let head = out.stdout_str().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 407"), "{head}");
    assert!(
        head.contains("proxy-authenticate: basic realm=\"sigv4-proxy\""),
        "{head}"
    );
    assert!(
        head.contains("proxy-authenticate: bearer realm=\"sigv4-proxy\""),
        "{head}"
    );

    // A host not on the allow-list: 403, never contacted.
    let out = gw.curl(
        &gw.proxy_url(),
        &ca,
        &["-w", "%{http_connect}", "https://example.com/"],
    );
    out.assert_failure();
    assert_eq!(out.stdout_str(), "403", "{}", out.stderr_str());

    // A client that trusts some other CA: the handshake fails, nothing is forwarded.
    let other = TestCa::temp();
    let out = gw.curl(
        &gw.proxy_url(),
        &other.cert_path().display().to_string(),
        &["https://sqs.us-east-1.amazonaws.com/"],
    );
    assert_eq!(out.code(), Some(60), "{}", out.stderr_str());
    assert_eq!(gw.trap_hits.load(Ordering::SeqCst), 0);

    // tunnel_hosts: relayed blindly, end to end TLS with moto's own certificate.
    let moto_ca = gw.moto.ca_bundle().expect("tls").display().to_string();
    let out = gw.curl(
        &gw.proxy_url(),
        &moto_ca,
        &[
            "-w",
            "%{http_code}",
            "-o",
            "/dev/null",
            &format!("https://localhost:{}/moto-api/", gw.moto.port()),
        ],
    );
    out.assert_success();
    assert_eq!(out.stdout_str(), "200", "{}", out.stderr_str());
    // Each CONNECT and each refused request has its access-log line, with its status.
    let log = gw.proxy.log();
    let tunnel = format!("localhost:{}", gw.moto.port());
    for (method, target, status) in [
        ("CONNECT", "sqs.us-east-1.amazonaws.com:443", "407"),
        ("GET", "/", "407"),
        ("CONNECT", "example.com:443", "403"),
        ("CONNECT", tunnel.as_str(), "200"),
    ] {
        let wanted = format!("method={method} path={target} ");
        assert!(
            log.lines().any(|l| l.contains(&wanted)
                && l.contains(&format!(" status={status} "))
                && l.contains("request_id=")),
            "no access line for {method} {target} with status {status}:\n{log}"
        );
    }
    // The blind tunnel's close is logged with what crossed it.
    let closed = gw
        .proxy
        .wait_for_log(&format!("tunnel closed tunnel={tunnel}"));
    let bytes = |field: &str| -> u64 {
        closed
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(field))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{field} in {closed}"))
    };
    assert!(
        bytes("bytes_up=") > 0 && bytes("bytes_down=") > 0,
        "{closed}"
    );
    // The token never reaches a log.
    let log = gw.proxy.log();
    assert!(!log.contains(TOKEN));
}

#[test]
fn tls_listener_in_reverse_mode() {
    let moto_ca = TestCa::temp();
    let moto = Moto::start(MotoOptions {
        tls: Some(&moto_ca),
        enforce_auth: true,
        ..MotoOptions::default()
    });
    let listener_ca = TestCa::temp();
    let (cert, key) = listener_ca.issue(&["localhost", "127.0.0.1"]);
    let config = format!(
        r#"
[[listeners]]
name = "sts"
listen = "127.0.0.1:0"
tls = {{ cert_file = "{cert}", key_file = "{key}" }}
[[listeners.routes]]
upstream = "{upstream}"
service = "sts"
region = "us-east-1"
ca_file = "{moto_ca}"
"#,
        cert = cert.display(),
        key = key.display(),
        upstream = moto.endpoint(),
        moto_ca = moto_ca.cert_path().display(),
    );
    let proxy = SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
        ],
    );
    let addr = proxy.addr("sts");
    let ca = listener_ca.cert_path().display().to_string();
    for version in ["--http2", "--http1.1"] {
        let out = curl(&[
            "-sS",
            "--cacert",
            &ca,
            version,
            "-d",
            "Action=GetCallerIdentity&Version=2011-06-15",
            &format!("https://{addr}/"),
        ]);
        out.assert_success();
        assert!(
            out.stdout_str()
                .contains(moto.user_arn().expect("enforcing")),
            "{version}: {}",
            out.stdout_str()
        );
    }
    // awscli against the HTTPS listener, unsigned.
    let me = aws(
        &["--no-sign-request", "sts", "get-caller-identity"],
        Some(&format!("https://{addr}")),
        &[("AWS_CA_BUNDLE", ca.as_str())],
    );
    me.assert_success();
    assert_eq!(me.json()["Arn"], moto.user_arn().expect("enforcing"));
}
