//! End-to-end (issue 3): the real `sigv4-proxy` in front of s3s-fs, which verifies the
//! signature *and* the payload hash. Covers in-memory and spooled bodies, chunked
//! uploads, `UNSIGNED-PAYLOAD` streaming, S3 keys with special characters sent
//! byte-for-byte, and HTTP/2 (h2c prior knowledge) from the client.

mod support;

use support::*;

const AKID: &str = "AKIDPROXYTEST";
const SECRET: &str = "proxy-test-secret-key/with+chars";

/// `signed`: payload hashed (memory threshold 64 KiB, so bigger bodies are spooled);
/// `unsigned`: UNSIGNED-PAYLOAD.
fn start(s3: &S3sFs) -> SigningProxy {
    start_with(s3, "")
}

/// As [`start`], with `top` (top-level keys such as `admin_listen`) at the head of the
/// configuration.
fn start_with(s3: &S3sFs, top: &str) -> SigningProxy {
    let config = format!(
        r#"{top}
[body]
memory_threshold_bytes = 65536

[[listeners]]
name = "signed"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "s3"
region = "us-east-1"

[[listeners]]
name = "unsigned"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "s3"
region = "us-east-1"
payload = "unsigned"
"#,
        ep = s3.endpoint()
    );
    SigningProxy::start(
        &config,
        &[
            ("AWS_ACCESS_KEY_ID", AKID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
        ],
    )
}

fn aws_via(ep: &str, args: &[&str]) -> CmdOutput {
    let mut all = vec!["--no-sign-request"];
    all.extend_from_slice(args);
    aws(&all, Some(ep), &[])
}

fn stored(s3: &S3sFs, bucket: &str, key: &str) -> Vec<u8> {
    std::fs::read(s3.root().join(bucket).join(key))
        .unwrap_or_else(|e| panic!("{bucket}/{key} not stored: {e}"))
}

#[test]
fn special_keys_reach_s3_byte_for_byte_and_verify() {
    let s3 = S3sFs::start(AKID, SECRET);
    let proxy = start(&s3);
    let ep = proxy.endpoint("signed");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = data_file(dir.path(), "f", 3000, 7);
    aws_via(&ep, &["s3", "mb", "s3://keys"]).assert_success();
    let keys = [
        "with space.txt",
        "plus+sign.txt",
        "equals=sign&amp.txt",
        "bang!.txt",
        "dir/sub/ünïcödé-✓.txt",
        "tilde~and'quote(1)*.txt",
        "semi;colon,comma@dollar$.txt",
    ];
    for key in keys {
        aws_via(
            &ep,
            &[
                "s3",
                "cp",
                file.to_str().expect("utf8"),
                &format!("s3://keys/{key}"),
            ],
        )
        .assert_success();
        assert_eq!(
            stored(&s3, "keys", key),
            std::fs::read(&file).expect("src"),
            "{key}"
        );
    }
    // The listing through the proxy is the listing s3s-fs gives a signed client directly.
    // (Not compared with `keys`: s3s-fs does not escape `+` in url-encoded listings,
    // so awscli shows `plus sign.txt` either way.)
    let keys_of = |out: &CmdOutput| -> Vec<String> {
        out.assert_success();
        out.json()["Contents"]
            .as_array()
            .expect("Contents")
            .iter()
            .filter_map(|o| o["Key"].as_str().map(str::to_owned))
            .collect()
    };
    let via_proxy = keys_of(&aws_via(
        &ep,
        &["s3api", "list-objects-v2", "--bucket", "keys"],
    ));
    let direct = keys_of(&s3.aws(&["s3api", "list-objects-v2", "--bucket", "keys"]));
    assert_eq!(via_proxy, direct);
    assert_eq!(via_proxy.len(), keys.len());
    // And a download of each, through the proxy.
    for key in keys {
        let dst = dir.path().join("down");
        aws_via(
            &ep,
            &[
                "s3",
                "cp",
                &format!("s3://keys/{key}"),
                dst.to_str().expect("utf8"),
            ],
        )
        .assert_success();
        assert_eq!(
            std::fs::read(&dst).expect("down"),
            std::fs::read(&file).expect("src"),
            "{key}"
        );
    }
    assert!(!s3.saw_payload_hash_mismatch());
}

/// curl sends the path exactly as typed, so this covers wire forms awscli never sends:
/// an escaped slash (`%2F`: the key of `/b/a%2Fb` is `a/b`, which S3 signs as `/b/a/b`),
/// a raw `+`, and lower-case escapes. Each upload must verify and land under its key.
#[test]
fn raw_wire_paths_from_curl_verify() {
    let s3 = S3sFs::start(AKID, SECRET);
    let proxy = start(&s3);
    let ep = proxy.endpoint("signed");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = data_file(dir.path(), "f", 1500, 3);
    aws_via(&ep, &["s3", "mb", "s3://raw"]).assert_success();
    let cases = [
        ("/raw/esc%2Fslash.txt", "esc/slash.txt"),
        ("/raw/lower%2fslash%20sp.txt", "lower/slash sp.txt"),
        ("/raw/raw+plus.txt", "raw+plus.txt"),
        ("/raw/%E2%9C%93-check.txt", "\u{2713}-check.txt"),
    ];
    for (wire, key) in cases {
        let out = curl(&[
            "-sS",
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-T",
            file.to_str().expect("utf8"),
            &format!("{ep}{wire}"),
        ]);
        out.assert_success();
        assert_eq!(out.stdout_str(), "200", "PUT {wire}");
        assert_eq!(
            stored(&s3, "raw", key),
            std::fs::read(&file).expect("src"),
            "PUT {wire} stored as {key}"
        );
    }
    assert!(!s3.saw_payload_hash_mismatch());
}

#[test]
fn bodies_in_memory_spooled_chunked_and_unsigned_all_verify() {
    let s3 = S3sFs::start(AKID, SECRET);
    let proxy = start(&s3);
    let signed = proxy.endpoint("signed");
    let unsigned = proxy.endpoint("unsigned");
    let dir = tempfile::tempdir().expect("tempdir");
    aws_via(&signed, &["s3", "mb", "s3://bodies"]).assert_success();

    let small = data_file(dir.path(), "small", 10_000, 1); // in memory
    let big = data_file(dir.path(), "big", 3 * 1024 * 1024 + 17, 2); // spooled
    for (ep, name, file) in [
        (&signed, "signed-small", &small),
        (&signed, "signed-big", &big),
        (&unsigned, "unsigned-big", &big),
    ] {
        curl(&[
            "-sS",
            "-f",
            "-T",
            file.to_str().expect("utf8"),
            &format!("{ep}/bodies/{name}"),
        ])
        .assert_success();
        assert_eq!(
            stored(&s3, "bodies", name),
            std::fs::read(file).expect("src"),
            "{name}"
        );
    }
    // Chunked (no Content-Length) from curl, over the memory threshold: spooled,
    // hashed and sent upstream with a Content-Length, on both routes.
    let chunked = std::fs::read(&big).expect("src");
    for (ep, name) in [(&signed, "chunked-signed"), (&unsigned, "chunked-unsigned")] {
        curl_cmd(&["-sS", "-f", "-T", "-", &format!("{ep}/bodies/{name}")])
            .stdin(chunked.clone())
            .run()
            .assert_success();
        assert!(
            stored(&s3, "bodies", name) == chunked,
            "{name}: stored bytes differ"
        );
    }
    // Empty objects: S3 needs a Content-Length even for zero bytes (411 otherwise),
    // also when an HTTP/2 client sends neither header.
    let empty = data_file(dir.path(), "empty", 0, 0);
    curl(&[
        "-sS",
        "-f",
        "-T",
        empty.to_str().expect("utf8"),
        &format!("{signed}/bodies/empty-h1"),
    ])
    .assert_success();
    curl(&[
        "-sS",
        "-f",
        "--http2-prior-knowledge",
        "-X",
        "PUT",
        &format!("{signed}/bodies/empty-h2"),
    ])
    .assert_success();
    for name in ["empty-h1", "empty-h2"] {
        assert!(stored(&s3, "bodies", name).is_empty(), "{name}");
    }
    // The multipart path through the unsigned route (parts stream straight through).
    let huge = data_file(dir.path(), "huge", 20 * 1024 * 1024, 3);
    aws_via(
        &unsigned,
        &[
            "s3",
            "cp",
            huge.to_str().expect("utf8"),
            "s3://bodies/multipart",
        ],
    )
    .assert_success();
    assert!(stored(&s3, "bodies", "multipart") == std::fs::read(&huge).expect("src"));

    // Download through the proxy, streamed back.
    let out = dir.path().join("down");
    curl(&[
        "-sS",
        "-f",
        "-o",
        out.to_str().expect("utf8"),
        &format!("{signed}/bodies/signed-big"),
    ])
    .assert_success();
    assert!(std::fs::read(&out).expect("down") == std::fs::read(&big).expect("src"));
    assert!(!s3.saw_payload_hash_mismatch());
}

#[test]
fn http2_prior_knowledge_from_the_client() {
    let s3 = S3sFs::start(AKID, SECRET);
    let proxy = start(&s3);
    let ep = proxy.endpoint("signed");
    aws_via(&ep, &["s3", "mb", "s3://h2-bucket"]).assert_success();
    let put = curl_cmd(&[
        "-sS",
        "-f",
        "--http2-prior-knowledge",
        "-T",
        "-",
        &format!("{ep}/h2-bucket/over-h2.txt"),
    ])
    .stdin(b"sent over h2c".to_vec())
    .run();
    put.assert_success();
    let get = curl(&[
        "-sS",
        "-f",
        "--http2-prior-knowledge",
        "-w",
        "\n%{http_version}",
        &format!("{ep}/h2-bucket/over-h2.txt"),
    ]);
    get.assert_success();
    assert_eq!(get.stdout_str(), "sent over h2c\n2");
}

#[test]
fn aws_chunked_body_with_unsigned_trailer_is_forwarded_verbatim() {
    // What SDKs send with flexible checksums over HTTPS (e.g. through a CONNECT tunnel):
    // an aws-chunked body whose trailer carries the checksum.
    let s3 = S3sFs::start(AKID, SECRET);
    let proxy = start(&s3);
    let ep = proxy.endpoint("signed");
    aws_via(&ep, &["s3", "mb", "s3://trailer"]).assert_success();
    let body = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n".to_vec();
    curl_cmd(&[
        "-sS",
        "-f",
        "-X",
        "PUT",
        "--data-binary",
        "@-",
        "-H",
        "Content-Encoding: aws-chunked",
        "-H",
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "-H",
        "x-amz-decoded-content-length: 11",
        "-H",
        "x-amz-trailer: x-amz-checksum-crc32",
        "-H",
        "Content-Type: text/plain",
        &format!("{ep}/trailer/hello.txt"),
    ])
    .stdin(body)
    .run()
    .assert_success();
    assert_eq!(stored(&s3, "trailer", "hello.txt"), b"hello world");
}

/// Many keep-alive clients at once (issue 5, `coalesce_sends`): the proxy's writes to
/// s3s-fs and back to the clients go out in coalesced sends, and still every upload's
/// signature and payload hash verify and every download comes back byte for byte.
#[test]
fn concurrent_clients_with_coalesced_sends_all_verify() {
    let (sends, submissions) = concurrent_clients_all_verify(true);
    assert!(
        sends > 0.0 && submissions > 0.0 && sends >= submissions,
        "no coalesced sends: {sends} sends in {submissions} submissions"
    );
}

/// The same with `coalesce_sends = false`, the path also taken where io_uring is not
/// available: plain writes, nothing coalesced, and everything verifies as well.
#[test]
fn concurrent_clients_without_coalesced_sends_all_verify() {
    let (sends, submissions) = concurrent_clients_all_verify(false);
    assert_eq!((sends, submissions), (0.0, 0.0));
}

/// 16 keep-alive clients, 25 signed 4 KiB PUTs and GETs each, through a proxy with
/// `coalesce_sends = coalesce` in front of s3s-fs; every response and stored object is
/// checked. Returns the proxy's coalesced sends and submissions.
fn concurrent_clients_all_verify(coalesce: bool) -> (f64, f64) {
    use std::io::{BufReader, Write};

    let s3 = S3sFs::start(AKID, SECRET);
    let mut proxy = start_with(
        &s3,
        &format!(
            "admin_listen = \"127.0.0.1:0\"\nworker_threads = 2\ncoalesce_sends = {coalesce}\n"
        ),
    );
    let admin = admin_addr(&mut proxy);
    aws_via(&proxy.endpoint("signed"), &["s3", "mb", "s3://many"]).assert_success();
    let addr = proxy.addr("signed");
    let body = |c: usize, i: usize| -> Vec<u8> {
        (0..4096)
            .map(|n| ((n * 31 + c * 7 + i) % 251) as u8)
            .collect()
    };
    std::thread::scope(|s| {
        for c in 0..16 {
            s.spawn(move || {
                let stream = std::net::TcpStream::connect(addr).expect("connect");
                stream
                    .set_read_timeout(Some(std::time::Duration::from_secs(30)))
                    .expect("read timeout");
                let mut conn = BufReader::new(stream);
                for i in 0..25 {
                    let key = format!("/many/c{c}-{i}");
                    let data = body(c, i);
                    let mut put = format!(
                        "PUT {key} HTTP/1.1\r\nhost: s3.local\r\ncontent-length: {}\r\n\r\n",
                        data.len()
                    )
                    .into_bytes();
                    put.extend_from_slice(&data);
                    conn.get_mut().write_all(&put).expect("send PUT");
                    let (head, _) = read_request(&mut conn).expect("a PUT response");
                    assert!(head.starts_with("HTTP/1.1 200"), "PUT {key}: {head}");
                    conn.get_mut()
                        .write_all(
                            format!("GET {key} HTTP/1.1\r\nhost: s3.local\r\n\r\n").as_bytes(),
                        )
                        .expect("send GET");
                    let (head, got) = read_request(&mut conn).expect("a GET response");
                    assert!(head.starts_with("HTTP/1.1 200"), "GET {key}: {head}");
                    assert!(got == data, "GET {key}: the body differs");
                }
            });
        }
    });
    for c in 0..16 {
        for i in 0..25 {
            assert_eq!(stored(&s3, "many", &format!("c{c}-{i}")), body(c, i));
        }
    }
    let (status, m) = get(admin, "/metrics");
    assert_eq!(status, 200, "{m}");
    let sends = metric(&m, "sigv4_proxy_coalesced_sends_total").expect("sends metric");
    let submissions =
        metric(&m, "sigv4_proxy_coalesced_submissions_total").expect("submissions metric");
    (sends, submissions)
}
