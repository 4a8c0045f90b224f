//! A throwaway certificate authority for TLS tests (rcgen on aws-lc-rs).
//!
//! Owns [`TestCa`]: an ECDSA P-256 CA whose certificate clients are told to trust
//! (`--ca-bundle`, `--cacert`, the proxy's extra CA file), and leaf certificates it issues
//! for server names and IP addresses. Everything is written as PEM files in a directory the
//! caller chooses (normally a temporary one). It does not start servers.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

/// A test certificate authority with its certificate and key as PEM files.
pub(crate) struct TestCa {
    dir: PathBuf,
    _owned_dir: Option<TempDir>,
    cert: Certificate,
    key: KeyPair,
    cert_path: PathBuf,
    issued: AtomicUsize,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl TestCa {
    /// Creates a CA and writes `ca.pem` and `ca-key.pem` into `dir` (which must exist).
    pub(crate) fn new(dir: &Path) -> TestCa {
        TestCa::create(dir.to_owned(), None)
    }

    /// Creates a CA in a fresh temporary directory that lives as long as the CA.
    pub(crate) fn temp() -> TestCa {
        let owned = tempfile::Builder::new()
            .prefix("test-ca-")
            .tempdir()
            .expect("create CA directory");
        TestCa::create(owned.path().to_owned(), Some(owned))
    }

    fn create(dir: PathBuf, owned_dir: Option<TempDir>) -> TestCa {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params.distinguished_name.push(
            DnType::CommonName,
            format!("sigv4-proxy test CA {}", std::process::id()),
        );
        params
            .distinguished_name
            .push(DnType::OrganizationName, "sigv4-proxy tests");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        let cert_path = dir.join("ca.pem");
        fs::write(&cert_path, cert.pem()).expect("write ca.pem");
        write_private(&dir.join("ca-key.pem"), &key.serialize_pem());
        TestCa {
            dir,
            _owned_dir: owned_dir,
            cert,
            key,
            cert_path,
            issued: AtomicUsize::new(0),
        }
    }

    /// Path of the CA certificate (PEM): what clients trust.
    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// The CA certificate as PEM.
    pub(crate) fn cert_pem(&self) -> String {
        self.cert.pem()
    }

    /// The CA certificate as DER.
    pub(crate) fn cert_der(&self) -> Vec<u8> {
        self.cert.der().to_vec()
    }

    /// The directory holding the PEM files.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Issues a server certificate for `hosts` (DNS names, `*.` wildcards, IP addresses)
    /// and writes it; returns `(cert path, key path)`, PEM.
    pub(crate) fn issue(&self, hosts: &[&str]) -> (PathBuf, PathBuf) {
        let (cert_pem, key_pem) = self.issue_pem(hosts);
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        let cert_path = self.dir.join(format!("leaf-{n}.pem"));
        let key_path = self.dir.join(format!("leaf-{n}-key.pem"));
        fs::write(&cert_path, cert_pem).expect("write leaf certificate");
        write_private(&key_path, &key_pem);
        (cert_path, key_path)
    }

    /// Issues a server certificate for `hosts` without writing files; returns
    /// `(cert PEM, key PEM)`, e.g. for an in-process rustls server.
    pub(crate) fn issue_pem(&self, hosts: &[&str]) -> (String, String) {
        assert!(!hosts.is_empty(), "a certificate needs at least one host");
        let names: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let mut params = CertificateParams::new(names)
            .unwrap_or_else(|e| panic!("invalid host name in {hosts:?}: {e}"));
        params.distinguished_name.push(DnType::CommonName, hosts[0]);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("generate leaf key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("sign leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes a private key readable by the owner only.
fn write_private(path: &Path, pem: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    file.write_all(pem.as_bytes())
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
