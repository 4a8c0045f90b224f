//! Request ids: a short unique id per request, put in the request's tracing span and
//! echoed to the client in [`HEADER`], so one client complaint finds its log lines.
//!
//! An id is a per-process random prefix and a counter (`3f9c01d2-000000000042`): unique
//! within the process and very likely across restarts, without a random number per
//! request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::HeaderValue;

/// The response header carrying the id. Any upstream `x-amz-request-id` is kept as is.
pub(crate) const HEADER: &str = "x-sigv4-proxy-request-id";

static COUNTER: AtomicU64 = AtomicU64::new(1);

fn prefix() -> u32 {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    *PREFIX.get_or_init(|| {
        // RandomState is seeded from the OS; hashing nothing still yields a random value.
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        // Truncation intended: 32 bits of randomness are plenty for a prefix.
        h.finish() as u32
    })
}

/// A new request id.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The next id.
    pub(crate) fn next() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let s = format!("{:08x}-{n:012}", prefix());
        // invariant: hex digits, digits and '-' are valid header value bytes.
        Self(HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("-")))
    }

    /// The id as a header value.
    pub(crate) fn header_value(&self) -> &HeaderValue {
        &self.0
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // invariant: built from ASCII in `next`.
        self.0.to_str().unwrap_or("-")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_and_share_the_process_prefix() {
        let a = RequestId::next();
        let b = RequestId::next();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 21);
        assert_eq!(a.as_str()[..9], b.as_str()[..9]);
    }
}
