//! Smoke tests of the real `sigv4-proxy` binary: `sign`, `presign`, `sign --jsonl`
//! and `codecommit-password`, with fixed timestamps so signatures are exact.

#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_sigv4-proxy");
const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigv4-test-suite");
const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// The binary with only the test credentials in its AWS environment.
fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args);
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
    ] {
        c.env_remove(v);
    }
    c.env("AWS_ACCESS_KEY_ID", AKID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET);
    c
}

fn run(mut c: Command, stdin: &[u8]) -> Output {
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn suite(path: &str) -> String {
    std::fs::read_to_string(format!("{SUITE}/{path}")).unwrap()
}

/// The CLI's canonical request and string to sign are the suite case's, byte for byte.
fn assert_matches_suite_case(v: &Value, case: &str) {
    assert_eq!(
        v["canonical_request"],
        suite(&format!("{case}/header-canonical-request.txt"))
    );
    assert_eq!(
        v["string_to_sign"],
        suite(&format!("{case}/header-string-to-sign.txt"))
    );
}

fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sign_reproduces_suite_case_post_x_www_form_urlencoded() {
    let out = run(
        cmd(&[
            "sign",
            "-X",
            "POST",
            "--url",
            "https://example.amazonaws.com/",
            "--service",
            "service",
            "--region",
            "us-east-1",
            "--timestamp",
            "20150830T123600Z",
            "--content-sha256",
            "-H",
            "Content-Type: application/x-www-form-urlencoded",
            "-H",
            "Content-Length: 13",
            "--data",
            "Param1=value1",
        ]),
        b"",
    );
    let v = json(&out);
    let case = "v4/post-x-www-form-urlencoded";
    assert_matches_suite_case(&v, case);
    assert_eq!(
        v["signature"],
        suite(&format!("{case}/header-signature.txt"))
    );
    assert_eq!(v["timestamp"], "20150830T123600Z");
    assert_eq!(
        v["credential_scope"],
        "20150830/us-east-1/service/aws4_request"
    );
    assert_eq!(v["method"], "POST");
    assert_eq!(v["url"], "https://example.amazonaws.com/");
    let headers: Vec<(String, String)> = serde_json::from_value(v["headers"].clone()).unwrap();
    let auth = headers.iter().find(|(n, _)| n == "authorization").unwrap();
    assert_eq!(auth.1, v["authorization"].as_str().unwrap());
    assert!(headers
        .iter()
        .any(|(n, v)| n == "host" && v == "example.amazonaws.com"));
}

#[test]
fn sign_reads_the_body_from_stdin_and_credentials_from_flags() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let mut c = cmd(&[
        "sign",
        "-X",
        "POST",
        "--url",
        "https://example.amazonaws.com/",
        "--service",
        "service",
        "--region",
        "us-east-1",
        "--timestamp",
        "2015-08-30T12:36:00Z",
        "--content-sha256",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "-H",
        "Content-Length: 13",
        "--access-key-id",
        AKID,
        "--secret-access-key-file",
        secret_file.to_str().unwrap(),
        "-",
    ]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let v = json(&run(c, b"Param1=value1"));
    assert_eq!(
        v["signature"],
        suite("v4/post-x-www-form-urlencoded/header-signature.txt")
    );
}

#[test]
fn presign_prints_the_suite_url_and_botocore_s3_url() {
    let out = run(
        cmd(&[
            "presign",
            "--url",
            "https://example.amazonaws.com/",
            "--service",
            "service",
            "--region",
            "us-east-1",
            "--timestamp",
            "20150830T123600Z",
        ]),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).unwrap();
    let sig = suite("v4/get-vanilla/query-signature.txt");
    assert_eq!(
        url,
        format!(
            "https://example.amazonaws.com/?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600&X-Amz-Signature={sig}\n"
        )
    );
    // S3 (service and region inferred): the signature botocore's S3SigV4QueryAuth
    // gives for the same request and time.
    let out = run(
        cmd(&[
            "presign",
            "--url",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "--timestamp",
            "20130524T000000Z",
            "--expires",
            "86400",
        ]),
        b"",
    );
    let url = String::from_utf8(out.stdout).unwrap();
    assert!(
        url.ends_with(
            "X-Amz-Signature=ca6159ff16837c055653a722d9f10b6a529b7c62c84174a2859958324bc78766\n"
        ),
        "{url}"
    );
    assert!(url.contains("%2Fs3%2Faws4_request"), "{url}");
}

#[test]
fn presign_rejects_expiry_out_of_range() {
    let out = run(
        cmd(&[
            "presign",
            "--url",
            "https://sqs.us-east-1.amazonaws.com/",
            "--expires",
            "604801",
        ]),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("604800") && err.contains("604801"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_credentials_exit_2_and_say_how_to_set_them() {
    let mut c = cmd(&["sign", "--url", "https://sqs.us-east-1.amazonaws.com/"]);
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "--access-key-id",
        "--secret-access-key-file",
    ] {
        assert!(err.contains(needle), "{needle} missing from: {err}");
    }
    // Key id without the secret: still exit 2, naming the missing variable.
    let mut c = cmd(&["presign", "--url", "https://sqs.us-east-1.amazonaws.com/"]);
    c.env_remove("AWS_SECRET_ACCESS_KEY");
    let out = run(c, b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AWS_SECRET_ACCESS_KEY is not"), "{err}");
}

#[test]
fn unknown_host_asks_for_service_and_region() {
    let out = run(cmd(&["sign", "--url", "https://example.com/"]), b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--service") && err.contains("--region"),
        "{err}"
    );
}

#[test]
fn jsonl_keeps_going_after_a_bad_line() {
    let input = concat!(
        r#"{"url":"https://example.amazonaws.com/","service":"service","region":"us-east-1","timestamp":"20150830T123600Z"}"#,
        "\n",
        r#"{"url":"not a url"}"#,
        "\n",
        r#"{"method":"POST","url":"https://example.amazonaws.com/","service":"service","region":"us-east-1","timestamp":"20150830T123600Z","headers":[["Content-Type","application/x-www-form-urlencoded"],["Content-Length","13"]],"body_base64":"UGFyYW0xPXZhbHVlMQ=="}"#,
        "\n",
        r#"{"url":"https://example.amazonaws.com/","service":"service","region":"us-east-1","timestamp":"20150830T123600Z","presign_expires":3600}"#,
        "\n",
    );
    let out = run(cmd(&["sign", "--jsonl"]), input.as_bytes());
    assert_eq!(out.status.code(), Some(1), "one line failed");
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(
        lines[0]["signature"],
        suite("v4/get-vanilla/header-signature.txt")
    );
    assert_eq!(lines[1]["line"], 2);
    assert!(
        lines[1]["error"].as_str().unwrap().contains("not a url"),
        "{}",
        lines[1]
    );
    // Same request as the suite case, minus x-amz-content-sha256 (not asked for).
    assert_eq!(
        lines[2]["payload_hash"],
        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"
    );
    assert_eq!(
        lines[2]["signed_headers"],
        "content-length;content-type;host;x-amz-date"
    );
    assert_eq!(
        lines[3]["signature"],
        suite("v4/get-vanilla/query-signature.txt")
    );
    assert!(lines[3]["url"]
        .as_str()
        .unwrap()
        .contains("X-Amz-Expires=3600"));
}

#[test]
fn header_and_curl_formats() {
    let base = [
        "sign",
        "--url",
        "https://example.amazonaws.com/",
        "--service",
        "service",
        "--region",
        "us-east-1",
        "--timestamp",
        "20150830T123600Z",
        "--format",
    ];
    let sig = suite("v4/get-vanilla/header-signature.txt");
    let mut args = base.to_vec();
    args.push("headers");
    let out = run(cmd(&args), b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        format!("host: example.amazonaws.com\nx-amz-date: 20150830T123600Z\nauthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}\n")
    );
    let mut args = base.to_vec();
    args.push("curl");
    let out = run(cmd(&args), b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with(
            "curl -X 'GET' 'https://example.amazonaws.com/' -H 'host: example.amazonaws.com'"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("Signature={sig}'")), "{text}");
}

#[test]
fn codecommit_password_prints_git_credentials() {
    let out = run(
        cmd(&[
            "codecommit-password",
            "--url",
            "https://git-codecommit.us-east-1.amazonaws.com/v1/repos/my-repo",
            "--timestamp",
            "20150830T123600Z",
        ]),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "username=AKIDEXAMPLE\npassword=20150830T123600Zf0364cf25b069cdd56692c5905109eb95893436b63cec1c1446aeaca85c3c4ca\n"
    );
}

#[test]
fn sign_sigv4a_matches_the_suite_and_verifies() {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
    let out = run(
        cmd(&[
            "sign",
            "--url",
            "https://example.amazonaws.com/",
            "--service",
            "service",
            "--region",
            "us-east-1",
            "--timestamp",
            "20150830T123600Z",
            "--sigv4a",
            "--region-set",
            "us-east-1",
        ]),
        b"",
    );
    let v = json(&out);
    let case = "v4a/get-vanilla";
    assert_matches_suite_case(&v, case);
    let pk: Value = serde_json::from_str(&suite(&format!("{case}/public-key.json"))).unwrap();
    let unhex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut point = vec![4u8];
    point.extend(unhex(pk["X"].as_str().unwrap()));
    point.extend(unhex(pk["Y"].as_str().unwrap()));
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(
            v["string_to_sign"].as_str().unwrap().as_bytes(),
            &unhex(v["signature"].as_str().unwrap()),
        )
        .expect("SigV4a signature from the CLI verifies with public-key.json");
    assert!(v["authorization"].as_str().unwrap().starts_with("AWS4-ECDSA-P256-SHA256 Credential=AKIDEXAMPLE/20150830/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-region-set, Signature="));
}

/// A multi-region access point host names no region: with `--sigv4a` the region set
/// stands in for it, so `--service` is all that is needed.
#[test]
fn sign_sigv4a_needs_no_region_when_a_region_set_is_given() {
    let out = run(
        cmd(&[
            "sign",
            "--url",
            "https://mfzwi23gnjvgw.mrap.accesspoint.s3-global.amazonaws.com/key",
            "--service",
            "s3",
            "--sigv4a",
            "--region-set",
            "*",
            "--timestamp",
            "20150830T123600Z",
        ]),
        b"",
    );
    let v = json(&out);
    assert_eq!(v["credential_scope"], "20150830/s3/aws4_request");
    let headers = v["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "x-amz-region-set" && h[1] == "*"),
        "{headers:?}"
    );
}
