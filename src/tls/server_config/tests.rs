// Reason: in tests a panic is the failure report.
#![allow(clippy::unwrap_used)]

use super::*;
use std::fs;

/// Writes a self-signed certificate and its key for `localhost`; returns the paths.
fn write_identity(dir: &Path, name: &str) -> ListenerIdentity {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let identity = ListenerIdentity::new(
        dir.join(format!("{name}.cert.pem")),
        dir.join(format!("{name}.key.pem")),
    );
    fs::write(&identity.cert_chain, cert.pem()).unwrap();
    fs::write(&identity.private_key, key.serialize_pem()).unwrap();
    identity
}

fn assert_names(err: &TlsError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
}

#[test]
fn loads_a_matching_pair_with_alpn() {
    let dir = tempfile::tempdir().unwrap();
    let identity = write_identity(dir.path(), "server");
    let config = identity.server_config().unwrap();
    assert_eq!(
        config.alpn_protocols,
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    );
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_identity(dir.path(), "server");
    let absent = dir.path().join("absent.pem");

    let err = ListenerIdentity::new(&absent, &good.private_key)
        .server_config()
        .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: "TLS certificate",
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &absent);

    let err = ListenerIdentity::new(&good.cert_chain, &absent)
        .server_config()
        .unwrap_err();
    assert!(
        matches!(
            err,
            TlsError::Read {
                what: "TLS private key",
                ..
            }
        ),
        "{err:?}"
    );
    assert_names(&err, &absent);
}

#[test]
fn swapped_or_empty_files_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_identity(dir.path(), "server");

    // Certificate and key given the wrong way round.
    let err = ListenerIdentity::new(&good.private_key, &good.cert_chain)
        .server_config()
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
    assert_names(&err, &good.private_key);

    let empty = dir.path().join("empty.pem");
    fs::write(&empty, "").unwrap();
    let err = ListenerIdentity::new(&good.cert_chain, &empty)
        .server_config()
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
    assert_names(&err, &empty);
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_identity(dir.path(), "a");
    let b = write_identity(dir.path(), "b");
    let err = ListenerIdentity::new(&a.cert_chain, &b.private_key)
        .server_config()
        .unwrap_err();
    assert!(matches!(err, TlsError::KeyMismatch { .. }), "{err:?}");
    assert_names(&err, &a.cert_chain);
    assert_names(&err, &b.private_key);
}
