//! End-to-end (issue 3): failures answered with the right status and a short body
//! naming the problem, the access log, secrets kept out of logs, and `--check-config`.
//! The upstreams here are tiny local TCP servers (refusing, hanging, or recording what
//! they receive); signature verification itself is covered by the moto/s3s-fs tests.

mod support;

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use support::*;

const AKID: &str = "AKIDERRORTEST";
const SECRET: &str = "errors-secret-NEVER-LOGGED";
const TOKEN: &str = "session-token-NEVER-LOGGED";

/// A port with nothing listening on it.
fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

fn status_and_body(args: &[&str]) -> (String, String) {
    let mut all = vec!["-sS", "-w", "\n%{http_code}"];
    all.extend_from_slice(args);
    let out = curl(&all);
    out.assert_success();
    let text = out.stdout_str();
    let (body, status) = text.rsplit_once('\n').expect("status line");
    (status.to_owned(), body.to_owned())
}

#[test]
fn failures_map_to_statuses_with_a_short_message() {
    // Accepts connections (the kernel does) but never answers.
    let hang = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (ok_addr, _rx) = recording_upstream();
    let config = format!(
        r#"
[upstream]
response_timeout_ms = 700

[body]
max_bytes = 1000
memory_threshold_bytes = 100

[[listeners]]
name = "refused"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "http://127.0.0.1:{closed}"
service = "s3"
region = "us-east-1"

[[listeners]]
name = "hang"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "http://{hang}"
service = "s3"
region = "us-east-1"

[[listeners]]
name = "ok"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "http://{ok_addr}"
path_prefix = "/only/"
service = "execute-api"
region = "eu-west-1"

[[listeners]]
name = "stream"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "http://{ok_addr}"
service = "s3"
region = "us-east-1"
payload = "unsigned"

[[listeners]]
name = "fwd"
listen = "127.0.0.1:0"
mode = "forward"
[[listeners.routes]]
allowed_hosts = ["*.example.com"]
"#,
        closed = closed_port(),
        hang = hang.local_addr().expect("addr"),
    );
    let mut proxy = SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let big = data_file(dir.path(), "big", 2000, 1);
    let big = big.to_str().expect("utf8");

    let cases: Vec<(Vec<String>, &str, &str)> = vec![
        (
            vec![format!("{}/b/k", proxy.endpoint("refused"))],
            "502",
            "cannot connect to upstream 127.0.0.1:",
        ),
        (
            vec![format!("{}/b/k", proxy.endpoint("hang"))],
            "504",
            "did not answer within 700ms",
        ),
        (
            vec![format!("{}/elsewhere", proxy.endpoint("ok"))],
            "404",
            "no route for host \"127.0.0.1\" and path \"/elsewhere\"",
        ),
        // Too large: declared by Content-Length, and discovered while reading a chunked body.
        (
            vec![
                "-T".into(),
                big.into(),
                format!("{}/only/x", proxy.endpoint("ok")),
            ],
            "413",
            "larger than the limit of 1000 bytes",
        ),
        (
            vec![
                "-T".into(),
                big.into(),
                "-H".into(),
                "Transfer-Encoding: chunked".into(),
                format!("{}/only/x", proxy.endpoint("ok")),
            ],
            "413",
            "larger than the limit of 1000 bytes",
        ),
        (
            vec![
                "-H".into(),
                "x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
                "-d".into(),
                "x".into(),
                format!("{}/only/x", proxy.endpoint("ok")),
            ],
            "400",
            "the client signed its body in chunks",
        ),
        (
            vec![
                "-x".into(),
                proxy.endpoint("fwd"),
                "http://api.example.com/".into(),
            ],
            "400",
            "cannot infer the AWS service and region from host \"api.example.com\"",
        ),
        (
            vec![
                "-x".into(),
                proxy.endpoint("fwd"),
                "http://s3.amazonaws.com/".into(),
            ],
            "403",
            "host \"s3.amazonaws.com\" is not on this proxy's allow-list",
        ),
    ];
    for (args, status, needle) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (got, body) = status_and_body(&args);
        assert_eq!(&got, status, "{args:?}: {body}");
        assert!(
            body.starts_with("sigv4-proxy: ") && body.contains(needle),
            "{args:?}: {body}"
        );
        assert!(!body.contains(SECRET));
    }
    // CONNECT (HTTPS_PROXY) is refused, not tunnelled unsigned.
    let connect = r#"
import os, socket
host, port = os.environ["ADDR"].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"CONNECT s3.us-east-1.amazonaws.com:443 HTTP/1.1\r\nHost: s3.us-east-1.amazonaws.com:443\r\n\r\n")
print(s.recv(4096).decode())
"#;
    let fwd_addr = proxy.addr("fwd").to_string();
    let out = python(connect, &[("ADDR", fwd_addr.as_str())]);
    out.assert_success();
    let text = out.stdout_str();
    assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
    assert!(text.contains("CONNECT tunnels are not supported"), "{text}");
    // An upload trickling in for ~1.8 s (beyond the 700 ms response timeout) is not cut
    // off while it progresses: the timeout counts the upstream's silence after it.
    let trickle = r#"
import os, socket, time
host, port = os.environ["ADDR"].rsplit(":", 1)
s = socket.create_connection((host, int(port)))
s.sendall(b"PUT /b/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n")
for part in (b"aaaa", b"bbbb", b"cccc"):
    time.sleep(0.6)
    s.sendall(part)
print(s.recv(4096).decode().split("\r\n")[0])
"#;
    let addr = proxy.addr("stream").to_string();
    let out = python(trickle, &[("ADDR", addr.as_str())]);
    out.assert_success();
    assert_eq!(out.stdout_str().trim(), "HTTP/1.1 200 OK");
    // The proxy still serves after all that.
    let (got, body) = status_and_body(&[&format!("{}/only/fine", proxy.endpoint("ok"))]);
    assert_eq!((got.as_str(), body.as_str()), ("200", "ok"));
    // The log names the cause of the 502 (the chain), not just the status.
    let line = proxy.wait_for_log("status=502");
    assert!(
        line.contains("error=") && line.contains("Connection refused"),
        "{line}"
    );
}

#[test]
fn missing_credentials_answer_503_and_nothing_is_forwarded() {
    let (addr, rx) = recording_upstream();
    let mut proxy = SigningProxy::start_args(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("http://{addr}"),
            "--service",
            "s3",
            "--region",
            "us-east-1",
        ],
        &[],
    );
    let (status, body) = status_and_body(&[&format!("{}/bucket/key", proxy.endpoint("reverse"))]);
    assert_eq!(status, "503", "{body}");
    assert!(
        body.contains("credentials unavailable for route reverse/0"),
        "{body}"
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "an unsigned request was forwarded"
    );
    // An upload is refused before its body is read (nothing spooled for nothing).
    let dir = tempfile::tempdir().expect("tempdir");
    let big = data_file(dir.path(), "big", 8 * 1024 * 1024, 3);
    let (status, _) = status_and_body(&[
        "-T",
        big.to_str().expect("utf8"),
        &format!("{}/bucket/big", proxy.endpoint("reverse")),
    ]);
    assert_eq!(status, "503");
    let line = proxy.wait_for_log("path=/bucket/big");
    assert!(line.contains("bytes_in=0"), "{line}");
    // The start-up check already warned about it.
    let line = proxy.wait_for_log("credentials unavailable: requests on this route will get 503");
    assert!(line.contains("route=reverse/0"), "{line}");
}

#[test]
fn signed_request_headers_access_log_and_no_secrets_in_trace_logs() {
    let (addr, rx) = recording_upstream();
    let mut proxy = SigningProxy::start_args(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("http://{addr}/base"),
            "--service",
            "s3",
            "--region",
            "eu-central-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
            ("RUST_LOG", "trace"),
        ],
    );
    let ep = proxy.endpoint("reverse");
    let out = curl_cmd(&[
        "-sS",
        "-f",
        "-T",
        "-",
        "-H",
        "Authorization: AWS4-HMAC-SHA256 Credential=client-sent",
        "-H",
        "X-Amz-Date: 19990101T000000Z",
        "-H",
        "x-amz-meta-colour: blue",
        "-H",
        "Connection: keep-alive, x-hop",
        "-H",
        "x-hop: secret-hop",
        &format!("{ep}/b/a%20b+c%3D.txt?x-id=PutObject&z=1&a=%2F"),
    ])
    .stdin(b"hello".to_vec())
    .run();
    out.assert_success();
    assert_eq!(out.stdout_str(), "ok");

    let (head, body) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("request forwarded");
    assert_eq!(body, b"hello");
    let lower = head.to_ascii_lowercase();
    // Path and query byte for byte, after the upstream's base path.
    assert!(
        head.starts_with("PUT /base/b/a%20b+c%3D.txt?x-id=PutObject&z=1&a=%2F HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(lower.contains(&format!("\r\nhost: {addr}\r\n")), "{head}");
    assert!(lower.contains("\r\ncontent-length: 5\r\n"), "{head}");
    assert!(lower.contains("\r\nx-amz-content-sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\r\n"), "{head}");
    assert!(
        lower.contains(&format!(
            "\r\nx-amz-security-token: {}\r\n",
            TOKEN.to_ascii_lowercase()
        )),
        "{head}"
    );
    assert!(
        !lower.contains("client-sent") && !lower.contains("19990101"),
        "client auth headers must be replaced: {head}"
    );
    assert!(
        !lower.contains("x-hop") && !lower.contains("transfer-encoding"),
        "hop-by-hop headers forwarded: {head}"
    );
    let auth = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("authorization:"))
        .expect("authorization header");
    assert!(
        auth.contains(&format!("Credential={AKID}/"))
            && auth.contains("/eu-central-1/s3/aws4_request"),
        "{auth}"
    );
    assert!(
        auth.contains("x-amz-meta-colour"),
        "x-amz-* headers must be signed: {auth}"
    );

    let line = proxy.wait_for_log("credentials available");
    assert!(
        line.contains("AKID*****TEST"),
        "masked key id expected: {line}"
    );
    let line = proxy.wait_for_log("sigv4_proxy::access");
    for field in [
        "method=PUT",
        "route=\"reverse/0\"",
        "upstream_status=200",
        "status=200",
        "bytes_in=5",
        "bytes_out=2",
        "duration_ms=",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    let log = proxy.log();
    assert!(
        log.contains("canonical_request"),
        "trace logging was not on"
    );
    assert!(!log.contains(SECRET), "secret key in the log");
    assert!(!log.contains(TOKEN), "session token in the log");
}

#[test]
fn check_config_reports_file_key_and_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[listeners]]\nlisten = \"127.0.0.1:0\"\n[[listeners.routes]]\nupstream = \"ftp://nowhere\"\n").expect("write");
    let out = Command::new(proxy_bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&bad)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}: listeners[0].routes[0].upstream: \"ftp://nowhere\" must start with https://",
            bad.display()
        )),
        "{err}"
    );

    // A credentials table is checked too (without fetching keys).
    let creds = dir.path().join("creds.toml");
    std::fs::write(&creds, "[[listeners]]\nlisten = \"127.0.0.1:0\"\n[[listeners.routes]]\nupstream = \"https://s3.us-east-1.amazonaws.com\"\ncredentials = { access_key_id = { env = \"SIGV4_PROXY_TEST_UNSET\" }, secret_access_key = { value = \"x\" } }\n").expect("write");
    let out = Command::new(proxy_bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&creds)
        .env_remove("SIGV4_PROXY_TEST_UNSET")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listeners[0].routes[0].credentials: ")
            && err.contains("SIGV4_PROXY_TEST_UNSET is not set"),
        "{err}"
    );

    // `--worker-threads` overrides the file and is validated like it.
    let out = Command::new(proxy_bin())
        .args([
            "serve",
            "--check-config",
            "--worker-threads",
            "3",
            "--config",
        ])
        .arg(&creds)
        .env("SIGV4_PROXY_TEST_UNSET", "AKID")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\nworker threads: 3\n"), "{stdout}");
    assert!(stdout.contains("\ncoalesced sends: on\n"), "{stdout}");

    // `--coalesce-sends false` overrides the default (and a file's `coalesce_sends`).
    std::fs::write(
        dir.path().join("coalesce.toml"),
        "coalesce_sends = true\n[[listeners]]\nlisten = \"127.0.0.1:0\"\n[[listeners.routes]]\nupstream = \"https://s3.us-east-1.amazonaws.com\"\n",
    )
    .expect("write");
    let out = Command::new(proxy_bin())
        .args([
            "serve",
            "--check-config",
            "--coalesce-sends",
            "false",
            "--config",
        ])
        .arg(dir.path().join("coalesce.toml"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("\ncoalesced sends: off\n"), "{stdout}");
    let out = Command::new(proxy_bin())
        .args(["serve", "--check-config", "--worker-threads", "0"])
        .args(["--upstream", "https://s3.us-east-1.amazonaws.com"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("<command line>: worker_threads: must be greater than 0"),
        "{err}"
    );

    // The shipped example is valid.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
    let out = Command::new(proxy_bin())
        .args(["serve", "--check-config", "--config"])
        .arg(&example)
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("configuration OK"), "{text}");
}

#[test]
fn sigterm_shuts_down_cleanly_with_exit_code_0() {
    let (addr, _rx) = recording_upstream();
    let mut proxy = SigningProxy::start_args(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("http://{addr}"),
            "--service",
            "s3",
            "--region",
            "us-east-1",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let (status, _) = status_and_body(&[&format!("{}/b/k", proxy.endpoint("reverse"))]);
    assert_eq!(status, "200");
    let exit = proxy.process_mut().terminate(Duration::from_secs(10));
    assert_eq!(exit.code(), Some(0), "{exit:?}");
}
