//! Issue 4: the `credentials` command and `sign --profile` of the real binary, with
//! profile files in a temporary directory (and moto's STS for an assumed role).

// Reason: helpers outside #[test] fns panic on failure, which fails the test.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{isolated_command, proxy_bin, Moto};

const SECRET: &str = "cli-test-secret-key-0123456789";
const TOKEN: &str = "cli-test-session-token-0123456789";

fn write_files(dir: &Path, extra_config: &str) {
    std::fs::write(
        dir.join("config"),
        format!(
            "[profile dev]\nregion = eu-west-1\n\
             [profile proc]\ncredential_process = sh -c 'echo {{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKIDPROCESS00000\\\", \\\"SecretAccessKey\\\": \\\"{SECRET}\\\", \\\"Expiration\\\": \\\"2099-01-01T00:00:00Z\\\"}}'\n\
             {extra_config}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[dev]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
        ),
    )
    .unwrap();
}

/// The binary with only our files for AWS configuration (no region variables, so the
/// profile's region shows).
fn bin(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = isolated_command(proxy_bin());
    cmd.args(args)
        .env("HOME", dir)
        .env("AWS_CONFIG_FILE", dir.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"))
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION");
    cmd
}

fn run(mut cmd: Command) -> (Output, String, String) {
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stdout, stderr)
}

#[test]
fn credentials_command_reports_provider_masked_key_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), "");
    let (out, stdout, stderr) = run(bin(dir.path(), &["credentials", "--profile", "dev"]));
    assert!(out.status.success(), "{stderr}");
    assert_eq!(
        stdout,
        "provider:       Profile\n\
         access key id:  AKIA************MPLE\n\
         session token:  yes\n\
         expires:        never (long-term keys)\n\
         region:         eu-west-1\n"
    );

    let mut cmd = bin(dir.path(), &["credentials"]);
    cmd.env("AWS_PROFILE", "proc");
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("provider:       CredentialProcess\naccess key id:  AKID********0000\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("expires:        2099-01-01T00:00:00Z (in "),
        "{stdout}"
    );
    for text in [&stdout, &stderr] {
        assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    }
}

#[test]
fn credentials_command_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), "");
    let (out, stdout, stderr) = run(bin(dir.path(), &["credentials", "--profile", "prod"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("profile prod is not defined in"),
        "{stderr}"
    );

    // Nothing anywhere: every provider of the chain says why it had nothing.
    let empty = tempfile::tempdir().unwrap();
    let (out, _, stderr) = run(bin(empty.path(), &["credentials"]));
    assert_eq!(out.status.code(), Some(2));
    for name in [
        "Environment",
        "Profile",
        "WebIdentityToken",
        "Container",
        "Imds",
    ] {
        assert!(
            stderr.contains(&format!("{name}: not configured")),
            "{name}: {stderr}"
        );
    }
}

#[test]
fn sign_and_presign_use_the_profile_and_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    write_files(dir.path(), "");
    let sign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "sign",
            "--url",
            "https://sqs.us-east-1.amazonaws.com/",
            "--timestamp",
            "20150830T123600Z",
        ];
        args.extend_from_slice(extra);
        let mut cmd = bin(dir.path(), &args);
        cmd.envs(env.iter().copied());
        let (out, stdout, stderr) = run(cmd);
        assert!(out.status.success(), "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        v["authorization"].as_str().unwrap().to_owned()
    };
    let auth = sign(&["--profile", "dev"], &[]);
    assert!(
        auth.contains("Credential=AKIAIOSFODNN7EXAMPLE/20150830/us-east-1/sqs/aws4_request"),
        "{auth}"
    );
    let auth = sign(&[], &[("AWS_PROFILE", "proc")]);
    assert!(auth.contains("Credential=AKIDPROCESS00000/"), "{auth}");

    // presign takes the same path: the profile's key id and its session token in the URL.
    let presign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec![
            "presign",
            "--url",
            "https://examplebucket.s3.amazonaws.com/test.txt",
            "--timestamp",
            "20130524T000000Z",
        ];
        args.extend_from_slice(extra);
        let mut cmd = bin(dir.path(), &args);
        cmd.envs(env.iter().copied());
        let (out, stdout, stderr) = run(cmd);
        assert!(out.status.success(), "{stderr}");
        stdout
    };
    let url = presign(&["--profile", "dev"], &[]);
    assert!(
        url.contains("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"),
        "{url}"
    );
    assert!(url.contains("X-Amz-Security-Token="), "{url}");
    let url = presign(&[], &[("AWS_PROFILE", "proc")]);
    assert!(
        url.contains("X-Amz-Credential=AKIDPROCESS00000%2F"),
        "{url}"
    );
    assert!(!url.contains("X-Amz-Security-Token="), "{url}");
}

#[test]
fn credentials_command_assumes_a_role_through_moto() {
    let moto = Moto::enforcing();
    let dir = tempfile::tempdir().unwrap();
    write_files(
        dir.path(),
        "[profile role]\nrole_arn = arn:aws:iam::123456789012:role/cli\nsource_profile = base\nduration_seconds = 3600\n",
    );
    let creds = std::fs::read_to_string(dir.path().join("credentials")).unwrap();
    std::fs::write(
        dir.path().join("credentials"),
        format!(
            "{creds}[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            moto.access_key_id(),
            moto.secret_access_key()
        ),
    )
    .unwrap();
    let mut cmd = bin(dir.path(), &["credentials", "--profile", "role"]);
    cmd.env("AWS_ENDPOINT_URL_STS", moto.endpoint());
    let (out, stdout, stderr) = run(cmd);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.starts_with("provider:       AssumeRole\naccess key id:  ASIA"),
        "{stdout}"
    );
    assert!(stdout.contains("session token:  yes"), "{stdout}");
    assert!(
        stdout.contains("(in 0h 59m") || stdout.contains("(in 1h 00m"),
        "{stdout}"
    );
}
