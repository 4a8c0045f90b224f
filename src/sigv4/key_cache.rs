//! [`SigningKeyCache`]: derived SigV4 signing keys, per secret, date, region, service.

/// A cache of derived signing keys so steady-state signing does no key derivation.
/// Safe to share between threads.
#[derive(Debug, Default)]
pub struct SigningKeyCache {
    _private: (),
}

impl SigningKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}
