//! The TLS listener option: a rustls `ServerConfig` from a certificate chain file and a
//! private key file, for serving reverse and forward modes over HTTPS.
//!
//! Owns reading and checking those two files (every error names the file at fault).
//! Does not own accepting connections or choosing when TLS is on: that is the server's
//! and the config's business.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::ServerConfig;

use super::ca::{read_certs, read_private_key};
use super::TlsError;

/// The files of a TLS listener's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerIdentity {
    /// PEM file with the server certificate first, then any intermediates.
    pub cert_chain: PathBuf,
    /// PEM file with the certificate's private key (PKCS#8, SEC1 or PKCS#1).
    pub private_key: PathBuf,
}

impl ListenerIdentity {
    /// Names the two files.
    pub fn new(cert_chain: impl Into<PathBuf>, private_key: impl Into<PathBuf>) -> Self {
        Self {
            cert_chain: cert_chain.into(),
            private_key: private_key.into(),
        }
    }

    /// Loads both files and builds a server config offering ALPN `h2` and `http/1.1`.
    ///
    /// Fails, naming the file, if a file is missing or unreadable, holds no certificate
    /// or no key, if the key is of an unsupported type, or if the key does not belong
    /// to the first certificate.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let certs = read_certs(&self.cert_chain, "TLS certificate")?;
        let key = read_private_key(&self.private_key, "TLS private key")?;
        let provider = super::provider();
        let signing_key = provider
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|source| TlsError::Rustls {
                context: format!("unsupported private key in {}", self.private_key.display()),
                source,
            })?;
        // Checked here, before rustls checks it again, to name both files in the error.
        rustls::sign::CertifiedKey::new(certs.clone(), signing_key)
            .keys_match()
            .map_err(|_| key_mismatch(&self.cert_chain, &self.private_key))?;

        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|source| TlsError::Rustls {
                context: "cannot build the listener TLS config".into(),
                source,
            })?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|source| TlsError::Rustls {
                context: format!(
                    "cannot use certificate {} with key {}",
                    self.cert_chain.display(),
                    self.private_key.display()
                ),
                source,
            })?;
        config.alpn_protocols = super::alpn_protocols();
        Ok(Arc::new(config))
    }
}

fn key_mismatch(cert: &Path, key: &Path) -> TlsError {
    TlsError::KeyMismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
    }
}

#[cfg(test)]
mod tests;
