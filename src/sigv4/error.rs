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
}
