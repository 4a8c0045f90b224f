//! [`SignError`]: why a request could not be signed.

/// Why a request could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The request has no `host` header.
    #[error("request has no host header")]
    MissingHost,
    /// `X-Amz-Expires` outside 1 s ..= 604800 s.
    #[error("presign expiry must be between 1 and 604800 seconds, got {0}")]
    InvalidExpiry(u64),
    /// A header value that cannot be sent.
    #[error("invalid header value for {name}")]
    InvalidHeaderValue {
        /// The header's name.
        name: String,
    },
    /// The signing time is before 1970 or after year 9999.
    #[error("signing time is outside 1970..=9999")]
    InvalidTime,
    /// A precomputed payload hash that is not 64 lower-case hex digits.
    #[error("precomputed payload hash must be 64 lower-case hex digits, got {0:?}")]
    InvalidPayloadHash(String),
    /// The region or service cannot go in a credential scope.
    #[error("invalid {what} {value:?}: must be non-empty, without '/' or whitespace")]
    InvalidScope {
        /// `"region"` or `"service"`.
        what: &'static str,
        /// The rejected value.
        value: String,
    },
    /// A combination of settings this signer does not implement.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The SigV4a key could not be derived or used (should not happen for real keys).
    #[error("SigV4a key derivation or ECDSA signing failed")]
    KeyDerivation,
}
