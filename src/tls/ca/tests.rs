// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use super::*;

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn generated_ca_has_a_named_subject_and_pem() {
    let ca = CertificateAuthority::generate().unwrap();
    assert!(
        ca.subject().starts_with("sigv4-proxy local CA "),
        "{}",
        ca.subject()
    );
    assert_eq!(ca.subject().len(), "sigv4-proxy local CA ".len() + 8);
    let pem = ca.cert_pem();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"), "{pem}");
    let parsed = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(parsed, vec![ca.cert_der().clone()]);
    // Two CAs never share a subject, so a trust store can hold both.
    assert_ne!(
        CertificateAuthority::generate().unwrap().subject(),
        ca.subject()
    );
}

#[test]
fn write_sets_modes_and_load_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let paths = CaPaths::in_dir(&dir.path().join("certs"));
    let ca = CertificateAuthority::generate().unwrap();
    ca.write(&paths, Overwrite::Refuse).unwrap();

    assert_eq!(mode(&paths.key), 0o600);
    assert_eq!(mode(&paths.cert), 0o644);
    assert!(fs::read_to_string(&paths.key)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    assert_eq!(fs::read_to_string(&paths.cert).unwrap(), ca.cert_pem());
    // No temporary files left behind.
    assert_eq!(
        fs::read_dir(paths.cert.parent().unwrap()).unwrap().count(),
        2
    );

    let loaded = CertificateAuthority::load(&paths).unwrap();
    assert_eq!(loaded.cert_der(), ca.cert_der());
    assert_eq!(loaded.subject(), ca.subject());
}

#[test]
fn write_refuses_to_overwrite_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let paths = CaPaths::in_dir(dir.path());
    let first = CertificateAuthority::generate().unwrap();
    first.write(&paths, Overwrite::Refuse).unwrap();
    let key_before = fs::read(&paths.key).unwrap();

    let second = CertificateAuthority::generate().unwrap();
    let err = second.write(&paths, Overwrite::Refuse).unwrap_err();
    assert!(matches!(&err, TlsError::AlreadyExists { path, .. } if *path == paths.key));
    assert!(err.to_string().contains("--force"), "{err}");
    assert_eq!(fs::read(&paths.key).unwrap(), key_before);
    assert_eq!(fs::read_to_string(&paths.cert).unwrap(), first.cert_pem());

    // Only the certificate present still counts as an existing CA.
    fs::remove_file(&paths.key).unwrap();
    let err = second.write(&paths, Overwrite::Refuse).unwrap_err();
    assert!(matches!(&err, TlsError::AlreadyExists { path, .. } if *path == paths.cert));
    assert!(!paths.key.exists(), "nothing may be written when refusing");

    second.write(&paths, Overwrite::Force).unwrap();
    assert_eq!(fs::read_to_string(&paths.cert).unwrap(), second.cert_pem());
    assert_eq!(mode(&paths.key), 0o600);
    let loaded = CertificateAuthority::load(&paths).unwrap();
    assert_eq!(loaded.cert_der(), second.cert_der());
}

#[test]
fn forced_write_over_a_world_readable_key_leaves_mode_0600() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let paths = CaPaths::in_dir(dir.path());
    fs::write(&paths.key, "old").unwrap();
    fs::set_permissions(&paths.key, fs::Permissions::from_mode(0o666)).unwrap();
    CertificateAuthority::generate()
        .unwrap()
        .write(&paths, Overwrite::Force)
        .unwrap();
    assert_eq!(mode(&paths.key), 0o600);
}

#[test]
fn load_errors_name_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let a = CaPaths::in_dir(&dir.path().join("a"));
    let b = CaPaths::in_dir(&dir.path().join("b"));
    CertificateAuthority::generate()
        .unwrap()
        .write(&a, Overwrite::Refuse)
        .unwrap();
    CertificateAuthority::generate()
        .unwrap()
        .write(&b, Overwrite::Refuse)
        .unwrap();

    let missing = CaPaths::in_dir(&dir.path().join("missing"));
    let err = CertificateAuthority::load(&missing).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&missing.cert.display().to_string()),
        "{err}"
    );

    let mixed = CaPaths {
        cert: a.cert.clone(),
        key: b.key.clone(),
    };
    let err = CertificateAuthority::load(&mixed).unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&a.cert.display().to_string()) && msg.contains(&b.key.display().to_string()),
        "{msg}"
    );

    let garbage = dir.path().join("garbage.pem");
    fs::write(&garbage, "not a certificate\n").unwrap();
    let err = CertificateAuthority::load(&CaPaths {
        cert: garbage.clone(),
        key: a.key.clone(),
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::BadPem {
                expected: "CERTIFICATE",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains(&garbage.display().to_string()),
        "{err}"
    );

    let err = CertificateAuthority::load(&CaPaths {
        cert: a.cert.clone(),
        key: a.cert.clone(),
    })
    .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::BadPem {
                expected: "PRIVATE KEY",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn load_rejects_a_certificate_that_is_not_a_ca() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let leaf = CertificateParams::new(vec!["example.com".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let paths = CaPaths::in_dir(dir.path());
    fs::write(&paths.cert, leaf.pem()).unwrap();
    fs::write(&paths.key, key.serialize_pem()).unwrap();
    let err = CertificateAuthority::load(&paths).unwrap_err();
    assert!(matches!(err, TlsError::NotACa { .. }), "{err:?}");
    assert!(err.to_string().contains("CA:TRUE"), "{err}");
}

#[test]
fn debug_never_shows_the_key() {
    let ca = CertificateAuthority::generate().unwrap();
    let debug = format!("{ca:?}");
    assert!(
        debug.contains(ca.subject()) && debug.contains(crate::secret::REDACTED),
        "{debug}"
    );
    let key_pem = ca.key.serialize_pem();
    let key_body: String = key_pem.lines().nth(1).unwrap().chars().take(20).collect();
    assert!(!debug.contains(&key_body), "{debug}");
}

/// Runs `f` with a subscriber capturing every log line; returns the text.
fn capture_logs(f: impl FnOnce()) -> String {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, f);
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn loading_a_shared_key_warns_without_logging_the_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let paths = CaPaths::in_dir(dir.path());
    CertificateAuthority::generate()
        .unwrap()
        .write(&paths, Overwrite::Refuse)
        .unwrap();

    let quiet = capture_logs(|| {
        CertificateAuthority::load(&paths).unwrap();
    });
    assert_eq!(quiet, "");

    fs::set_permissions(&paths.key, fs::Permissions::from_mode(0o644)).unwrap();
    let logs = capture_logs(|| {
        CertificateAuthority::load(&paths).unwrap();
    });
    assert!(
        logs.contains("WARN") && logs.contains("chmod 600"),
        "{logs}"
    );
    assert!(
        logs.contains(&paths.key.display().to_string()) && logs.contains("644"),
        "{logs}"
    );
    let key_pem = fs::read_to_string(&paths.key).unwrap();
    for line in key_pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(!logs.contains(line), "key material in logs: {logs}");
    }
}
