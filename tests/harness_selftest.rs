//! Self-tests of the end-to-end harness in `tests/support`: the verifiers really verify.
//!
//! A proxy test that passes against a server which accepts anything proves nothing. These
//! tests sign requests with real clients (awscli, botocore) and show that moto with
//! enforcement and s3s-fs accept a correct signature and refuse a wrong one, that s3s-fs
//! refuses a body that does not match its signed hash and a tampered presigned URL, that
//! moto over TLS is reachable only when the test CA is trusted, and that every process the
//! harness starts dies with the test.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

/// True while a process with this pid exists (zombies included).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Waits up to `timeout` for `pid` to disappear.
fn gone_within(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[test]
fn moto_enforcing_accepts_the_right_key_and_refuses_a_wrong_secret() {
    let moto = Moto::enforcing();
    assert!(moto.enforcing_auth());
    let endpoint = Some(moto.endpoint());

    // Correctly signed by awscli: accepted, and moto knows who we are.
    let ident = moto.aws(&["sts", "get-caller-identity"]);
    ident.assert_success();
    assert_eq!(ident.json()["Arn"].as_str(), moto.user_arn());
    assert_eq!(ident.json()["Account"].as_str(), Some(MOTO_ACCOUNT_ID));
    moto.aws(&["s3", "mb", "s3://harness-accepted"])
        .assert_success();

    // Same key id, wrong secret: refused by STS and S3, and nothing was created.
    let wrong = [
        ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret"),
    ];
    aws(&["sts", "get-caller-identity"], endpoint, &wrong)
        .assert_failure()
        .assert_output_contains("SignatureDoesNotMatch");
    aws(&["s3", "mb", "s3://harness-refused"], endpoint, &wrong)
        .assert_failure()
        .assert_output_contains("SignatureDoesNotMatch");

    // A key id moto never issued: refused as an invalid token.
    let unknown = [
        ("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000"),
        ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
    ];
    aws(&["dynamodb", "list-tables"], endpoint, &unknown)
        .assert_failure()
        .assert_output_contains("InvalidClientTokenId");

    // An unsigned request (what clients send to the proxy) is refused too; moto says 500.
    boto3_unsigned(
        Some(moto.endpoint()),
        "unsigned_client('s3').create_bucket(Bucket='unsigned')",
        &[],
    )
    .assert_failure()
    .assert_output_contains("500");

    let buckets = moto.aws(&["s3api", "list-buckets", "--query", "Buckets[].Name"]);
    buckets.assert_success();
    assert_eq!(buckets.json(), serde_json::json!(["harness-accepted"]));
}

#[test]
fn moto_without_enforcement_accepts_any_key() {
    // The control for the test above: the refusals come from enforcement, not from
    // something else being broken.
    let moto = Moto::start(MotoOptions::default());
    assert!(!moto.enforcing_auth());
    let any = [
        ("AWS_ACCESS_KEY_ID", "AKIAANYTHING00000000"),
        ("AWS_SECRET_ACCESS_KEY", "anything"),
    ];
    aws(
        &["s3", "mb", "s3://open-bucket"],
        Some(moto.endpoint()),
        &any,
    )
    .assert_success();
    // boto3_unsigned really sends unsigned requests (refused by enforcing moto in the test
    // above); without enforcement they are served. (moto still applies S3 ACLs to
    // anonymous reads, so read back signed.)
    boto3_unsigned(
        Some(moto.endpoint()),
        "s3 = unsigned_client('s3')\n\
         s3.create_bucket(Bucket='unsigned-bucket')\n\
         s3.put_object(Bucket='unsigned-bucket', Key='k', Body=b'unsigned body')",
        &[],
    )
    .assert_success();
    let read = aws(
        &["s3", "cp", "s3://unsigned-bucket/k", "-"],
        Some(moto.endpoint()),
        &any,
    );
    read.assert_success();
    assert_eq!(read.stdout_str(), "unsigned body");
}

#[test]
fn moto_checks_session_tokens_of_assumed_roles() {
    let moto = Moto::enforcing();
    let role = moto.create_role("harness-role");
    assert_eq!(
        role,
        format!("arn:aws:iam::{MOTO_ACCOUNT_ID}:role/harness-role")
    );
    let creds = moto.assume_role(&role, "selftest");
    assert!(creds.access_key_id.starts_with("ASIA"), "{creds:?}");

    let ident = aws(
        &["sts", "get-caller-identity"],
        Some(moto.endpoint()),
        &creds.env(),
    );
    ident.assert_success();
    assert_eq!(
        ident.json()["Arn"].as_str(),
        Some(format!("arn:aws:sts::{MOTO_ACCOUNT_ID}:assumed-role/harness-role/selftest").as_str())
    );

    let wrong_token = [
        ("AWS_ACCESS_KEY_ID", creds.access_key_id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key.as_str()),
        ("AWS_SESSION_TOKEN", "not-the-session-token"),
    ];
    aws(
        &["sts", "get-caller-identity"],
        Some(moto.endpoint()),
        &wrong_token,
    )
    .assert_failure()
    .assert_output_contains("InvalidClientTokenId");
    aws(
        &["sts", "get-caller-identity"],
        Some(moto.endpoint()),
        &wrong_token[..2],
    )
    .assert_failure()
    .assert_output_contains("InvalidClientTokenId");
}

#[test]
fn test_files_are_deterministic_and_compared_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b, c) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("c"),
    );
    write_test_file(&a, 100_003, 7);
    write_test_file(&b, 100_003, 7);
    write_test_file(&c, 100_003, 8);
    assert_eq!(std::fs::metadata(&a).expect("a exists").len(), 100_003);
    assert_same_file(&a, &b);
    let differs = std::panic::catch_unwind(|| assert_same_file(&a, &c));
    assert!(differs.is_err(), "different seeds give different bytes");
    let mut shorter = std::fs::read(&a).expect("read a");
    shorter.pop();
    std::fs::write(&c, shorter).expect("write c");
    let truncated = std::panic::catch_unwind(|| assert_same_file(&a, &c));
    assert!(truncated.is_err(), "a missing last byte is noticed");
}

#[test]
fn moto_over_tls_needs_the_test_ca() {
    let ca = TestCa::temp();
    let moto = Moto::start(MotoOptions {
        tls: Some(&ca),
        enforce_auth: true,
        ..MotoOptions::default()
    });
    assert!(moto.endpoint().starts_with("https://127.0.0.1:"));
    let ca_path = ca.cert_path().to_str().expect("utf-8 temp path");
    let creds = [
        ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", moto.secret_access_key()),
    ];

    let trusted = aws(
        &["--ca-bundle", ca_path, "sts", "get-caller-identity"],
        Some(moto.endpoint()),
        &creds,
    );
    trusted.assert_success();
    assert_eq!(trusted.json()["Arn"].as_str(), moto.user_arn());

    aws(
        &["sts", "get-caller-identity"],
        Some(moto.endpoint()),
        &creds,
    )
    .assert_failure()
    .assert_output_contains("CERTIFICATE_VERIFY_FAILED");

    // The certificate carries AWS host names, so a client resolving them to moto (what
    // forward mode and `connect_to` do) verifies too; curl checks the name strictly.
    let host = "s3.us-east-1.amazonaws.com";
    let resolve = format!("{host}:{}:127.0.0.1", moto.port());
    let url = format!("https://{host}:{}/moto-api/", moto.port());
    let ok = curl(&[
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--cacert",
        ca_path,
        "--resolve",
        &resolve,
        &url,
    ]);
    ok.assert_success();
    assert_eq!(ok.stdout_str(), "200");
    curl(&["-sS", "-o", "/dev/null", "--resolve", &resolve, &url])
        .assert_failure()
        .assert_output_contains("SSL certificate problem");
    // A name the certificate does not cover is refused even with the CA trusted.
    let other = format!("example.org:{}:127.0.0.1", moto.port());
    let other_url = format!("https://example.org:{}/moto-api/", moto.port());
    assert_eq!(
        curl(&[
            "-sS",
            "-o",
            "/dev/null",
            "--cacert",
            ca_path,
            "--resolve",
            &other,
            &other_url
        ])
        .assert_failure()
        .code(),
        Some(60),
        "curl exit 60 = peer certificate cannot be authenticated"
    );
}

#[test]
fn child_guard_kills_the_whole_process_group_on_drop() {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", "sleep 600 & echo $!; wait"]);
    let mut guard = ChildGuard::spawn("sleeper", cmd);
    let line = guard
        .wait_for_output("", Duration::from_secs(10))
        .expect("the shell prints the grandchild pid");
    let grandchild: u32 = line.trim().parse().expect("a pid");
    let child = guard.pid();
    assert!(alive(child) && alive(grandchild));
    drop(guard);
    assert!(!alive(child), "the child was reaped");
    assert!(
        gone_within(grandchild, Duration::from_secs(5)),
        "the grandchild died with its group"
    );
}

#[test]
fn cmd_enforces_its_time_limit_and_isolates_the_environment() {
    let slow = Cmd::new("sleep")
        .arg("30")
        .timeout(Duration::from_millis(300))
        .run();
    assert!(slow.timed_out && !slow.success(), "{slow}");
    assert!(slow.elapsed < Duration::from_secs(10), "{slow}");

    let env = Cmd::new("env").env("AWS_PROFILE", "chosen").run();
    env.assert_success();
    let vars = env.stdout_str();
    assert!(
        vars.lines().any(|l| l == "AWS_CONFIG_FILE=/dev/null"),
        "{env}"
    );
    assert!(vars.lines().any(|l| l == "AWS_REGION=us-east-1"), "{env}");
    assert!(vars.lines().any(|l| l == "AWS_PROFILE=chosen"), "{env}");
    let home = vars
        .lines()
        .find_map(|l| l.strip_prefix("HOME="))
        .expect("HOME is set");
    assert!(home.contains("cmd-"), "HOME is a scratch directory: {home}");
    assert!(!vars
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("https_proxy=")));
}

#[test]
fn find_socket_addr_reads_listening_lines() {
    assert_eq!(
        find_socket_addr("INFO listening on 127.0.0.1:8080 (reverse)"),
        Some("127.0.0.1:8080".parse().expect("literal"))
    );
    assert_eq!(
        find_socket_addr("listening addr=\"[::1]:443\"."),
        Some("[::1]:443".parse().expect("literal"))
    );
    assert_eq!(
        find_socket_addr("server is running at http://127.0.0.1:9/"),
        Some("127.0.0.1:9".parse().expect("literal"))
    );
    assert_eq!(find_socket_addr("no address here"), None);
}

#[test]
fn s3s_fs_accepts_the_right_key_and_refuses_a_wrong_secret() {
    let s3 = S3sFs::start("AKIAS3SFSSELFTEST000", "s3s-fs-selftest-secret");
    let data = tempfile::tempdir().expect("tempdir");
    let file = data.path().join("hello.txt");
    std::fs::write(&file, b"hello from the harness\n").expect("write file");
    let file = file.to_str().expect("utf-8 temp path");

    s3.aws(&["s3", "mb", "s3://selftest"]).assert_success();
    s3.aws(&["s3", "cp", file, "s3://selftest/dir/hello.txt"])
        .assert_success();
    s3.aws(&["s3", "ls", "s3://selftest/dir/"])
        .assert_success()
        .assert_output_contains("hello.txt");
    assert_eq!(
        std::fs::read(s3.root().join("selftest/dir/hello.txt")).expect("object stored as a file"),
        b"hello from the harness\n"
    );

    let wrong = [
        ("AWS_ACCESS_KEY_ID", s3.access_key_id()),
        ("AWS_SECRET_ACCESS_KEY", "definitely-not-the-secret"),
    ];
    aws(&["s3", "ls"], Some(s3.endpoint()), &wrong)
        .assert_failure()
        .assert_output_contains("SignatureDoesNotMatch");
    aws(
        &["s3", "cp", file, "s3://selftest/refused.txt"],
        Some(s3.endpoint()),
        &wrong,
    )
    .assert_failure()
    .assert_output_contains("SignatureDoesNotMatch");
    assert!(!s3.root().join("selftest/refused.txt").exists());
}

/// Signs a PUT with botocore for `signed` but sends `sent`; prints `status body` lines.
const TAMPERED_PUT: &str = r#"
import json, os, urllib.request, urllib.error
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
def put(key, signed, sent):
    req = AWSRequest(method="PUT", url=os.environ["S3_ENDPOINT"] + "/bodies/" + key, data=signed)
    S3SigV4Auth(creds, "s3", "us-east-1").add_auth(req)
    prepared = req.prepare()
    assert prepared.headers["X-Amz-Content-SHA256"] != "UNSIGNED-PAYLOAD"
    r = urllib.request.Request(prepared.url, data=sent, headers=dict(prepared.headers), method="PUT")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return [resp.status, resp.read().decode()]
    except urllib.error.HTTPError as e:
        return [e.code, e.read().decode()]
print(json.dumps({"intact": put("intact", b"hello world", b"hello world"),
                  "tampered": put("tampered", b"hello world", b"HELLO WORLD")}))
"#;

#[test]
fn s3s_fs_checks_the_payload_hash_and_presigned_urls() {
    let s3 = S3sFs::start("AKIAS3SFSPAYLOAD0000", "s3s-fs-payload-secret");
    s3.aws(&["s3", "mb", "s3://bodies"]).assert_success();

    let out = python_cmd(TAMPERED_PUT, &s3.env())
        .env("S3_ENDPOINT", s3.endpoint())
        .run();
    out.assert_success();
    let answer = out.json();
    assert_eq!(answer["intact"][0], 200, "{out}");
    assert_eq!(
        std::fs::read(s3.root().join("bodies/intact")).expect("intact object stored"),
        b"hello world"
    );
    // Same length, same signature, different bytes: only a payload-hash check catches it.
    // s3s-fs 0.14.1 answers it with a 500 InternalError and logs the mismatch.
    assert_eq!(answer["tampered"][0], 500, "{out}");
    assert!(
        s3.saw_payload_hash_mismatch(),
        "{}",
        s3.process().log_tail()
    );
    assert!(!s3.root().join("bodies/tampered").exists());

    // Presigned URLs: valid one works without credentials, a tampered one does not.
    let url = s3.aws(&["s3", "presign", "s3://bodies/intact", "--expires-in", "300"]);
    url.assert_success();
    let url = url.stdout_str().trim().to_owned();
    let get = curl(&["-sS", "-w", "\n%{http_code}", &url]);
    get.assert_success();
    assert_eq!(get.stdout_str(), "hello world\n200");
    let tampered = url.replace("bodies/intact", "bodies/Intact");
    let refused = curl(&["-sS", "-w", "\n%{http_code}", &tampered]);
    refused.assert_success();
    assert!(refused.stdout_str().ends_with("\n403"), "{refused}");
    assert!(
        refused.stdout_str().contains("SignatureDoesNotMatch"),
        "{refused}"
    );
}

#[test]
#[ignore = "helper process for watchdog_kills_servers_of_a_test_process_killed_outright"]
fn watchdog_helper_starts_a_server_and_blocks() {
    if std::env::var_os("HARNESS_WATCHDOG_HELPER").is_none() {
        return;
    }
    let mut cmd = std::process::Command::new("sleep");
    cmd.arg("600");
    let server = ChildGuard::spawn("orphan-to-be", cmd);
    println!("SERVER_PID={}", server.pid());
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn watchdog_kills_servers_of_a_test_process_killed_outright() {
    // Run the helper above in a separate test process, SIGKILL it (no destructors run),
    // and check that the server it started does not outlive it.
    let exe = std::env::current_exe().expect("path of this test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([
        "--exact",
        "watchdog_helper_starts_a_server_and_blocks",
        "--ignored",
        "--nocapture",
    ])
    .env("HARNESS_WATCHDOG_HELPER", "1");
    let mut helper = ChildGuard::spawn("watchdog-helper", cmd);
    let line = helper
        .wait_for_output("SERVER_PID=", Duration::from_secs(30))
        .expect("helper reports its server");
    let server: u32 = line
        .trim()
        .trim_start_matches("SERVER_PID=")
        .parse()
        .expect("a pid");
    assert!(alive(server));
    helper.signal("KILL");
    // Reap the helper: a zombie still counts as alive for the watchdog.
    helper.terminate(Duration::from_secs(5));
    assert!(
        gone_within(server, Duration::from_secs(10)),
        "the watchdog killed the server within seconds"
    );
}
