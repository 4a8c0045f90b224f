//! Issue 6: `sigv4-proxy ca init` through the real binary: files created with the right
//! modes, refusal to overwrite without `--force`, replacement with it.

// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output};

use sigv4_proxy::tls::ca::{CaPaths, CertificateAuthority};

fn ca_init(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sigv4-proxy"))
        .current_dir(cwd)
        .args(["ca", "init"])
        .args(args)
        .output()
        .unwrap()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn ca_init_creates_refuses_and_forces() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("my-certs");
    let dir_arg = dir.to_str().unwrap();
    let paths = CaPaths::in_dir(&dir);

    let out = ca_init(tmp.path(), &["--dir", dir_arg]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&paths.cert.display().to_string()),
        "{stdout}"
    );
    assert!(stdout.contains("AWS_CA_BUNDLE"), "{stdout}");
    assert_eq!(mode(&paths.key), 0o600);
    assert_eq!(mode(&paths.cert), 0o644);
    let first = CertificateAuthority::load(&paths).unwrap();
    assert!(stdout.contains(first.subject()), "{stdout}");
    let (cert_before, key_before) = (
        fs::read(&paths.cert).unwrap(),
        fs::read(&paths.key).unwrap(),
    );

    let out = ca_init(tmp.path(), &["--dir", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("already exists") && stderr.contains("--force"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&paths.key.display().to_string()),
        "{stderr}"
    );
    assert_eq!(fs::read(&paths.cert).unwrap(), cert_before);
    assert_eq!(fs::read(&paths.key).unwrap(), key_before);

    let out = ca_init(tmp.path(), &["--dir", dir_arg, "--force"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_ne!(fs::read(&paths.cert).unwrap(), cert_before);
    assert_ne!(fs::read(&paths.key).unwrap(), key_before);
    assert_eq!(mode(&paths.key), 0o600);
    let second = CertificateAuthority::load(&paths).unwrap();
    assert_ne!(second.subject(), first.subject());
}

#[test]
fn ca_init_defaults_to_the_certs_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let out = ca_init(tmp.path(), &[]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let paths = CaPaths::in_dir(&tmp.path().join("certs"));
    assert_eq!(mode(&paths.key), 0o600);
    CertificateAuthority::load(&paths).unwrap();
    // The certificate is a CA openssl agrees with.
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "basicConstraints,keyUsage", "-in"])
        .arg(&paths.cert)
        .output()
        .unwrap();
    let info = text(&out.stdout);
    assert!(
        info.contains("CA:TRUE") && info.contains("Certificate Sign"),
        "{info}"
    );
}

#[test]
fn ca_init_reports_an_unwritable_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let blocker = tmp.path().join("file");
    fs::write(&blocker, "").unwrap();
    // A directory cannot be created below a regular file.
    let dir = blocker.join("certs");
    let out = ca_init(tmp.path(), &["--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot write CA private key"),
        "{stderr}"
    );
    assert!(stderr.contains(&dir.display().to_string()), "{stderr}");
}
