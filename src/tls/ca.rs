//! The local certificate authority that signs interception certificates.
//!
//! Owns creating a CA (ECDSA P-256, via rcgen on aws-lc-rs), writing it to disk (the
//! certificate world-readable, the private key with mode 0600, never overwriting an
//! existing CA unless asked to) and loading it back. Issuing leaf certificates with it is
//! [`super::leaf`]'s job; deciding which hosts may be intercepted is the proxy's.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// The file name of the CA certificate inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.cert.pem";
/// The file name of the CA private key inside a CA directory.
pub const CA_KEY_FILE: &str = "ca.key.pem";

/// How long a new CA is valid.
const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How far a new CA's `notBefore` lies in the past, to tolerate clients with a slow clock.
const CA_BACKDATE: Duration = Duration::from_secs(24 * 3600);

/// Whether [`CertificateAuthority::write`] may replace existing files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overwrite {
    /// Fail with [`TlsError::AlreadyExists`] if either file exists (the default).
    Refuse,
    /// Replace existing files (`ca init --force`).
    Force,
}

/// Where a CA's certificate and key live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaPaths {
    /// The CA certificate (PEM), safe to distribute.
    pub cert: PathBuf,
    /// The CA private key (PEM, PKCS#8), mode 0600, never to be committed.
    pub key: PathBuf,
}

impl CaPaths {
    /// The standard file names ([`CA_CERT_FILE`], [`CA_KEY_FILE`]) inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            cert: dir.join(CA_CERT_FILE),
            key: dir.join(CA_KEY_FILE),
        }
    }
}

/// A CA certificate with its private key, able to sign leaf certificates.
///
/// `Debug` shows the subject only, never the key.
pub struct CertificateAuthority {
    /// The certificate exactly as created or loaded from disk.
    cert_der: CertificateDer<'static>,
    /// rcgen's view of the CA, used as the issuer when signing. For a loaded CA it is
    /// rebuilt from the parsed certificate (same subject, same key), so leaves chain to
    /// the certificate on disk.
    issuer: Certificate,
    key: KeyPair,
    subject: String,
}

impl CertificateAuthority {
    /// Creates a new CA valid from a day ago for ten years.
    pub fn generate() -> Result<Self, TlsError> {
        Self::generate_at(SystemTime::now())
    }

    /// Creates a new CA as if the current time were `now`.
    pub fn generate_at(now: SystemTime) -> Result<Self, TlsError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            TlsError::Generate {
                what: "CA key pair",
                source,
            }
        })?;
        let serial = random_serial();
        let subject = format!("sigv4-proxy local CA {}", hex(&serial[..4]));

        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, subject.clone());
        dn.push(DnType::OrganizationName, "sigv4-proxy");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.serial_number = Some(serial.to_vec().into());
        params.not_before = now.checked_sub(CA_BACKDATE).unwrap_or(now).into();
        params.not_after = now.checked_add(CA_VALIDITY).unwrap_or(now).into();

        let issuer = params
            .self_signed(&key)
            .map_err(|source| TlsError::Generate {
                what: "CA certificate",
                source,
            })?;
        Ok(Self {
            cert_der: issuer.der().clone(),
            issuer,
            key,
            subject,
        })
    }

    /// Loads a CA from a certificate PEM file and a private key PEM file (PKCS#8, SEC1
    /// or PKCS#1). Fails, naming the file, if either is unreadable or malformed, if the
    /// certificate is not a CA, or if the key does not belong to the certificate.
    pub fn load(paths: &CaPaths) -> Result<Self, TlsError> {
        let cert_der = read_single_cert(&paths.cert, "CA certificate")?;
        let key_der = read_private_key(&paths.key, "CA private key")?;
        warn_if_shared(&paths.key);
        let key = KeyPair::try_from(&key_der).map_err(|e| TlsError::BadPem {
            path: paths.key.clone(),
            expected: "PRIVATE KEY",
            problem: e.to_string(),
        })?;

        let params =
            CertificateParams::from_ca_cert_der(&cert_der).map_err(|e| TlsError::NotACa {
                path: paths.cert.clone(),
                problem: e.to_string(),
            })?;
        if !matches!(params.is_ca, IsCa::Ca(_)) {
            return Err(TlsError::NotACa {
                path: paths.cert.clone(),
                problem: "basicConstraints does not say CA:TRUE".into(),
            });
        }
        check_key_matches(&cert_der, key_der, paths)?;

        let subject = params
            .distinguished_name
            .get(&DnType::CommonName)
            .map(dn_value_text)
            .unwrap_or_else(|| "(no common name)".into());
        // Re-sign the parsed parameters with the same key: the result has the subject
        // and key identifier of the certificate on disk, which is all rcgen reads from an
        // issuer. The re-signed DER itself is never handed out.
        let issuer = params.self_signed(&key).map_err(|e| TlsError::NotACa {
            path: paths.cert.clone(),
            problem: e.to_string(),
        })?;
        Ok(Self {
            cert_der,
            issuer,
            key,
            subject,
        })
    }

    /// Writes the certificate (mode 0644) and key (mode 0600) to `paths`, creating the
    /// directory if needed. Each file is written to a temporary file in the same
    /// directory and renamed into place, so a file never exists with the wrong mode or
    /// half-written. With [`Overwrite::Refuse`], fails before writing anything if either
    /// file exists.
    pub fn write(&self, paths: &CaPaths, overwrite: Overwrite) -> Result<(), TlsError> {
        if overwrite == Overwrite::Refuse {
            for (path, what) in [
                (&paths.key, "CA private key"),
                (&paths.cert, "CA certificate"),
            ] {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(TlsError::AlreadyExists {
                        what,
                        path: path.clone(),
                    });
                }
            }
        }
        let key_pem = self.key.serialize_pem();
        write_atomically(
            &paths.key,
            "CA private key",
            key_pem.as_bytes(),
            0o600,
            overwrite,
        )?;
        write_atomically(
            &paths.cert,
            "CA certificate",
            self.cert_pem().as_bytes(),
            0o644,
            overwrite,
        )
    }

    /// The CA certificate in DER form (what a client adds to its trust store).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA certificate in PEM form.
    pub fn cert_pem(&self) -> String {
        pem_encode("CERTIFICATE", &self.cert_der)
    }

    /// The CA's common name, e.g. `sigv4-proxy local CA 1a2b3c4d`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Signs a leaf certificate described by `params` for the public key `leaf_key`.
    pub(crate) fn sign(
        &self,
        params: CertificateParams,
        leaf_key: &KeyPair,
    ) -> Result<Certificate, rcgen::Error> {
        params.signed_by(leaf_key, &self.issuer, &self.key)
    }
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject", &self.subject)
            .field("key", &crate::secret::REDACTED)
            .finish()
    }
}

/// A random, positive 16-byte serial number.
pub(crate) fn random_serial() -> [u8; 16] {
    let mut serial = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut serial).is_err() {
        // The system RNG failing is not recoverable in any useful way, but a serial only
        // needs to be unique per CA: fall back to the clock rather than abort.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        serial = nanos.to_be_bytes();
    }
    serial[0] &= 0x7f; // positive INTEGER
    serial[0] |= 0x01; // and never a leading zero byte, so the DER length is fixed
    serial
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn dn_value_text(value: &rcgen::DnValue) -> String {
    match value {
        rcgen::DnValue::PrintableString(s) => s.as_str().to_owned(),
        rcgen::DnValue::Utf8String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

pub(crate) fn read_file(path: &Path, what: &'static str) -> Result<String, TlsError> {
    fs::read_to_string(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

/// Reads every certificate of a PEM file; fails if there is none.
pub(crate) fn read_certs(
    path: &Path,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(path, what)?;
    let certs = rustls_pemfile::certs(&mut pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_owned(),
            expected: "CERTIFICATE",
            problem: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::BadPem {
            path: path.to_owned(),
            expected: "CERTIFICATE",
            problem: "no -----BEGIN CERTIFICATE----- block found".into(),
        });
    }
    Ok(certs)
}

fn read_single_cert(path: &Path, what: &'static str) -> Result<CertificateDer<'static>, TlsError> {
    let mut certs = read_certs(path, what)?;
    if certs.len() != 1 {
        return Err(TlsError::BadPem {
            path: path.to_owned(),
            expected: "CERTIFICATE",
            problem: format!("expected exactly one certificate, found {}", certs.len()),
        });
    }
    Ok(certs.remove(0))
}

/// Reads the first private key of a PEM file; fails if there is none.
pub(crate) fn read_private_key(
    path: &Path,
    what: &'static str,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(path, what)?;
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| TlsError::BadPem {
            path: path.to_owned(),
            expected: "PRIVATE KEY",
            problem: e.to_string(),
        })?
        .ok_or_else(|| TlsError::BadPem {
            path: path.to_owned(),
            expected: "PRIVATE KEY",
            problem: "no PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block found".into(),
        })
}

fn check_key_matches(
    cert_der: &CertificateDer<'static>,
    key_der: PrivateKeyDer<'static>,
    paths: &CaPaths,
) -> Result<(), TlsError> {
    let signing_key = super::provider()
        .key_provider
        .load_private_key(key_der)
        .map_err(|source| TlsError::Rustls {
            context: format!("cannot use private key {}", paths.key.display()),
            source,
        })?;
    let certified = rustls::sign::CertifiedKey::new(vec![cert_der.clone()], signing_key);
    certified.keys_match().map_err(|_| TlsError::KeyMismatch {
        cert: paths.cert.clone(),
        key: paths.key.clone(),
    })
}

fn write_atomically(
    path: &Path,
    what: &'static str,
    contents: &[u8],
    mode: u32,
    overwrite: Overwrite,
) -> Result<(), TlsError> {
    let err = |source| TlsError::Write {
        what,
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(err)?;
    // NamedTempFile is created with mode 0600, so the key is never readable by others,
    // not even for an instant.
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(contents).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    set_mode(tmp.path(), mode).map_err(err)?;
    let persisted = match overwrite {
        Overwrite::Force => tmp.persist(path),
        Overwrite::Refuse => tmp.persist_noclobber(path),
    };
    match persisted {
        Ok(_) => Ok(()),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(TlsError::AlreadyExists {
                what,
                path: path.to_owned(),
            })
        }
        Err(e) => Err(err(e.error)),
    }
}

/// Logs a warning when the key file is readable or writable by group or others.
/// Not an error: mounted secrets are often 0644 in containers with a single user.
fn warn_if_shared(key: &Path) {
    if let Some(mode) = mode_of(key) {
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %key.display(),
                mode = format_args!("{mode:o}"),
                "CA private key is accessible to other users; chmod 600 it"
            );
        }
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
