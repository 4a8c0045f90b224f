//! End-to-end (issue 5): upstream faults and bad client input are each answered with
//! the right status (or the connection closed) while other clients keep being served;
//! the request id header; signature-failure diagnostics in the log.

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::*;

const AKID: &str = "AKIDOPSTEST";
const SECRET: &str = "ops-secret-NEVER-LOGGED";
const TOKEN: &str = "ops-session-token-NEVER-LOGGED";

fn start(upstream: SocketAddr) -> SigningProxy {
    let config = format!(
        r#"
admin_listen = "127.0.0.1:0"
[limits]
header_read_timeout_ms = 1000
max_header_bytes = 16384
[upstream]
response_timeout_ms = 800
[body]
max_bytes = 100000
[[listeners]]
name = "rev"
listen = "127.0.0.1:0"
[[listeners.routes]]
name = "s3"
host = "s3.local"
upstream = "http://{upstream}"
service = "s3"
region = "us-east-1"
"#
    );
    SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
        ],
    )
}

fn request(addr: SocketAddr, path: &str) -> (u16, String) {
    let text = raw_exchange(
        addr,
        format!("GET {path} HTTP/1.1\r\nhost: s3.local\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    (status_of(&text), text)
}

#[test]
fn upstream_faults_get_502_504_or_the_5xx_and_others_are_still_served() {
    let up = scripted_upstream();
    let mut proxy = start(up);
    let addr = proxy.addr("rev");

    let (s, text) = request(addr, "/5xx");
    assert_eq!(s, 503, "{text}");
    assert!(text.ends_with("SlowDown!"), "passed through: {text}");

    let t0 = Instant::now();
    let (s, text) = request(addr, "/hang");
    assert_eq!(s, 504, "{text}");
    assert!(text.contains("did not answer within"), "{text}");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());

    // The upstream closes without answering.
    let (s, text) = request(addr, "/drop");
    assert_eq!(s, 502, "{text}");
    assert!(
        text.contains("upstream") && text.contains("failed"),
        "{text}"
    );

    // Headers came, then the connection died: the client sees a short body, not a hang.
    let (s, text) = request(addr, "/reset");
    assert_eq!(s, 200, "{text}");
    assert!(text.ends_with("0123456789"), "{text}");

    let (s, text) = request(addr, "/ok");
    assert_eq!(s, 200, "still serving: {text}");
    assert!(text.contains("x-sigv4-proxy-request-id: "), "{text}");
    proxy.wait_for_log("upstream response body failed");

    // An upstream that refuses connections.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let mut refused = start(closed);
    let (s, text) = request(refused.addr("rev"), "/x");
    assert_eq!(s, 502, "{text}");
    assert!(text.contains("cannot connect to upstream"), "{text}");
    refused.wait_for_log("request failed");
}

#[test]
fn every_upstream_body_framing_reaches_the_client_intact() {
    // The proxy's own HTTP/1.1 client (src/proxy/h1) reads the upstream's answers:
    // chunked (with extensions and a trailer), interim 1xx before the final answer, a
    // body that ends when the upstream closes, and a 204 without a body. Each comes
    // back whole, and the kept upstream connection serves the next request.
    let up = scripted_upstream();
    let proxy = start(up);
    let addr = proxy.addr("rev");
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut conn = std::io::BufReader::new(stream);
    for (path, status, body) in [
        ("/chunked", 200, "hello world"),
        ("/interim", 200, "finally"),
        ("/nobody", 204, ""),
        ("/ok", 200, "ok"),
        ("/eof", 200, "until the end"),
        ("/ok", 200, "ok"),
    ] {
        let text = keep_alive_get_any(&mut conn, path);
        assert_eq!(status_of(&text), status, "{path}: {text}");
        assert!(text.ends_with(body), "{path}: {text}");
        assert!(
            !text.contains("HTTP/1.1 1"),
            "{path}: no interim answer forwarded: {text}"
        );
    }
}

/// Sends one `GET path` on a kept-alive connection and reads one response, framed by
/// Content-Length or chunked (the text has the decoded body after the head).
fn keep_alive_get_any(conn: &mut std::io::BufReader<TcpStream>, path: &str) -> String {
    use std::io::{BufRead, Read};
    conn.get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: s3.local\r\n\r\n").as_bytes())
        .expect("write request");
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            conn.read_line(&mut line).expect("read") > 0,
            "closed after {head}"
        );
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if lower.contains("transfer-encoding: chunked") {
        loop {
            let mut size = String::new();
            conn.read_line(&mut size).expect("chunk size");
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .expect("hex size");
            if n == 0 {
                // The trailer section (if forwarded) and the final CRLF.
                loop {
                    let mut line = String::new();
                    conn.read_line(&mut line).expect("trailer");
                    if line == "\r\n" {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; n + 2];
            conn.read_exact(&mut chunk).expect("chunk");
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
    {
        let mut buf = vec![0; len.trim().parse().expect("length")];
        conn.read_exact(&mut buf).expect("body");
        body = buf;
    }
    format!("{head}{}", String::from_utf8_lossy(&body))
}

/// Sends one `GET path` on a kept-alive connection and reads one response (head and a
/// Content-Length body): (status, text, elapsed).
fn keep_alive_get(conn: &mut std::io::BufReader<TcpStream>, path: &str) -> (u16, String, Duration) {
    let t0 = Instant::now();
    conn.get_mut()
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: s3.local\r\n\r\n").as_bytes())
        .expect("write request");
    // The same framing as a request: a head, then Content-Length bytes.
    let (head, body) = read_request(conn).expect("a response before the connection closed");
    let text = format!("{head}{}", String::from_utf8_lossy(&body));
    (status_of(&text), text, t0.elapsed())
}

#[test]
fn request_and_response_timeouts_hold_for_every_request_on_a_connection() {
    // A connection reuses its timers from request to request (proxy::timers): each
    // request must still get its own full deadline, and a fast request is not cut.
    let up = scripted_upstream();
    for (limit, message) in [
        (
            "[upstream]\nresponse_timeout_ms = 700",
            "did not answer within",
        ),
        (
            "[limits]\nrequest_timeout_ms = 700",
            "request did not complete within",
        ),
    ] {
        let config = format!("{limit}\n{}", s3_listener("rev", &format!("http://{up}")));
        let proxy = SigningProxy::start(
            &config,
            &[
                ("AWS_ACCESS_KEY_ID", AKID),
                ("AWS_SECRET_ACCESS_KEY", SECRET),
            ],
        );
        let stream = TcpStream::connect(proxy.addr("rev")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let mut conn = std::io::BufReader::new(stream);
        for round in 0..2 {
            let (s, text, took) = keep_alive_get(&mut conn, "/hang");
            assert_eq!(s, 504, "{limit}, round {round}: {text}");
            assert!(text.contains(message), "{limit}, round {round}: {text}");
            assert!(
                took >= Duration::from_millis(650) && took < Duration::from_secs(5),
                "{limit}, round {round}: {took:?}"
            );
            let (s, text, _) = keep_alive_get(&mut conn, "/ok");
            assert_eq!(s, 200, "{limit}, round {round}: {text}");
        }
    }
}

#[test]
fn bad_input_is_refused_and_slowloris_is_cut_off_without_hurting_others() {
    let up = scripted_upstream();
    let mut proxy = start(up);
    let addr = proxy.addr("rev");
    let admin = admin_addr(&mut proxy);

    // A slow client holds a connection with half a request head.
    let mut slow = TcpStream::connect(addr).expect("connect");
    slow.write_all(b"GET /ok HTTP/1.1\r\nhost: s3.loc")
        .expect("write");

    let cases: &[(&str, Vec<u8>, u16)] = &[
        ("malformed request line", b"GARBAGE\r\n\r\n".to_vec(), 400),
        (
            "invalid header bytes",
            b"GET /ok HTTP/1.1\r\nhost: s3.local\r\nx-bad\x01: v\r\n\r\n".to_vec(),
            400,
        ),
        (
            "oversized headers",
            format!(
                "GET /ok HTTP/1.1\r\nhost: s3.local\r\nx-big: {}\r\n\r\n",
                "a".repeat(40_000)
            )
            .into_bytes(),
            431,
        ),
        (
            "oversized body",
            b"PUT /ok HTTP/1.1\r\nhost: s3.local\r\ncontent-length: 200000\r\nconnection: close\r\n\r\n".to_vec(),
            413,
        ),
        (
            "unknown absolute-URI host",
            b"GET http://evil.example/x HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n".to_vec(),
            404,
        ),
    ];
    for (what, bytes, want) in cases {
        let text = raw_exchange(addr, bytes);
        assert_eq!(status_of(&text), *want, "{what}: {text}");
        let (s, text) = request(addr, "/ok");
        assert_eq!(s, 200, "after {what}: {text}");
    }

    // The slow client is disconnected after header_read_timeout_ms (1 s).
    slow.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let t0 = Instant::now();
    let mut buf = [0u8; 512];
    let n = std::io::Read::read(&mut slow, &mut buf).unwrap_or(0);
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        n == 0 || got.starts_with("HTTP/1.1 408"),
        "closed or 408: {got:?}"
    );
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());
    let (s, _) = request(addr, "/ok");
    assert_eq!(s, 200);

    // hyper answered these itself; they are still counted and logged.
    let (_, m) = get(admin, "/metrics");
    let rejected = |reason: &str| {
        metric(
            &m,
            &format!("sigv4_proxy_rejected_requests_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(rejected("malformed"), Some(2.0), "{m}");
    assert_eq!(rejected("head_too_large"), Some(1.0), "{m}");
    assert_eq!(rejected("header_timeout"), Some(1.0), "{m}");
    let line = proxy.wait_for_log("reason=header_timeout");
    assert!(line.contains("request refused before routing"), "{line}");
    let log = proxy.log();
    assert!(log.contains("reason=head_too_large"), "{log}");
    assert_eq!(log.matches("reason=malformed").count(), 2, "{log}");
}

#[test]
fn signature_rejections_log_canonical_request_without_secrets() {
    let up = scripted_upstream();
    let mut proxy = start(up);
    let (s, text) = request(proxy.addr("rev"), "/403sig");
    assert_eq!(s, 403, "{text}");
    assert!(
        text.ends_with("</Error>"),
        "the peeked body reaches the client whole: {text}"
    );
    let line = proxy.wait_for_log("upstream rejected the signature");
    let log = proxy.log();
    assert!(line.contains("SignatureDoesNotMatch"), "{line}");
    assert!(log.contains("GET\\n/403sig\\n"), "canonical request: {log}");
    assert!(log.contains("AWS4-HMAC-SHA256\\n"), "string to sign: {log}");
    assert!(log.contains("x-amz-security-token:** redacted **"), "{log}");
    for secret in [SECRET, TOKEN] {
        assert!(!log.contains(secret), "secret in the log: {log}");
    }
    // An ordinary 200 does not trigger it.
    let before = log.matches("upstream rejected the signature").count();
    assert_eq!(request(proxy.addr("rev"), "/ok").0, 200);
    proxy.wait_for_log("path=/ok");
    assert_eq!(
        proxy
            .log()
            .matches("upstream rejected the signature")
            .count(),
        before
    );
}

#[test]
fn json_logs_carry_the_request_id_echoed_to_the_client() {
    let up = scripted_upstream();
    let mut proxy = SigningProxy::start_args(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &format!("http://{up}"),
            "--service",
            "s3",
            "--region",
            "us-east-1",
            "--log-format",
            "json",
        ],
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    );
    let (s, text) = request(proxy.addr("reverse"), "/ok");
    assert_eq!(s, 200, "{text}");
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-sigv4-proxy-request-id: "))
        .expect("request id header")
        .trim()
        .to_owned();
    proxy.wait_for_log(&id);
    let log = proxy.log();
    let mut access = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "request" {
            assert_eq!(v["fields"]["request_id"], id.as_str(), "{line}");
            assert_eq!(v["fields"]["status"], 200, "{line}");
            access += 1;
        }
    }
    assert_eq!(access, 1, "{log}");
}
