//! TLS building blocks for the proxy's HTTPS side (issue 6).
//!
//! Owns:
//! - [`ca`]: the local certificate authority used to intercept `CONNECT` tunnels
//!   (create, write to disk with a private key file of mode 0600, load back);
//! - [`leaf`]: on-the-fly leaf certificates for the tunnelled host, signed by that CA,
//!   cached per host, served through a rustls [`ResolvesServerCert`];
//! - [`server_config`]: the TLS listener's `ServerConfig` from certificate and key files;
//! - [`TlsError`]: the one error type of this layer.
//!
//! Deliberately does not own: accepting connections, the `CONNECT` state machine, the
//! allow-list of tunnel hosts, or the upstream (client-side) TLS configuration. Those
//! belong to the proxy server, which calls into this module.
//!
//! Every rustls object built here uses the aws-lc-rs provider explicitly, so nothing
//! depends on a process-wide default provider being installed.
//!
//! [`ResolvesServerCert`]: rustls::server::ResolvesServerCert

pub mod ca;
mod error;
pub mod leaf;
pub mod server_config;

use std::sync::Arc;

pub use error::TlsError;

/// The ALPN protocols offered by every server config built here, in preference order.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider for every rustls config of this crate: aws-lc-rs.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The [`ALPN_PROTOCOLS`] as the owned form rustls configs want.
pub(crate) fn alpn_protocols() -> Vec<Vec<u8>> {
    ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect()
}
