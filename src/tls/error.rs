//! [`TlsError`]: everything that can go wrong creating, loading or using certificates.
//! Every file-related variant names the file, so the message alone says what to fix.

use std::path::PathBuf;

/// An error of the TLS layer (CA, leaf certificates, listener certificates).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {what} {}: {source}", path.display())]
    Read {
        /// What the file was supposed to hold ("CA certificate", "private key", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be written (or its directory created).
    #[error("cannot write {what} {}: {source}", path.display())]
    Write {
        /// What the file was supposed to hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Refused to overwrite an existing file.
    #[error("{what} {} already exists; refusing to overwrite it (use --force to replace the CA)", path.display())]
    AlreadyExists {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A file is not valid PEM, or holds none of the expected blocks.
    #[error("{} does not contain a PEM {expected}: {problem}", path.display())]
    BadPem {
        /// The file.
        path: PathBuf,
        /// The PEM block that was expected ("CERTIFICATE", "PRIVATE KEY").
        expected: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A certificate that should be a CA is not one.
    #[error("{} is not a usable CA certificate: {problem}", path.display())]
    NotACa {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The private key does not belong to the certificate.
    #[error("private key {} does not match certificate {}", key.display(), cert.display())]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// A key or certificate could not be generated.
    #[error("cannot generate {what}: {source}")]
    Generate {
        /// What was being generated.
        what: &'static str,
        /// The cause.
        #[source]
        source: rcgen::Error,
    },
    /// A host name for a leaf certificate is not a valid DNS name or IP address.
    #[error("invalid host for a TLS certificate: {host:?} ({problem})")]
    InvalidHost {
        /// The host as given.
        host: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// The TLS handshake with a client failed (it does not trust the CA, sent a
    /// different SNI, or hung up).
    #[error("TLS handshake for {host} failed: {source}")]
    Handshake {
        /// The host the leaf was for.
        host: String,
        /// The cause, as reported by tokio-rustls.
        #[source]
        source: std::io::Error,
    },
    /// rustls refused a key or configuration.
    #[error("{context}: {source}")]
    Rustls {
        /// What was being done, naming the file where there is one.
        context: String,
        /// The cause.
        #[source]
        source: rustls::Error,
    },
}
