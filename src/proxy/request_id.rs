//! Request ids: a short unique id per request, put in the request's tracing span and
//! echoed to the client in [`HEADER`], so one client complaint finds its log lines.
//!
//! An id is a per-process random prefix and a counter (`3f9c01d2-000000000042`): unique
//! within the process and very likely across restarts, without a random number per
//! request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::{HeaderName, HeaderValue};

/// The response header carrying the id. Any upstream `x-amz-request-id` is kept as is.
/// A `HeaderName` constant: inserting by `&str` parsed and allocated the name per request.
pub(crate) const HEADER: HeaderName = HeaderName::from_static("x-sigv4-proxy-request-id");

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
/// Held as its ASCII bytes: cloning it (into the access-log record) copies 21 bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestId([u8; 21]);

impl RequestId {
    /// The next id.
    pub(crate) fn next() -> Self {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        // Formatted by hand into a stack buffer: this runs for every request, and
        // `format!` plus a second copy cost more than the rest of the id handling.
        let mut b = [b'0'; 21];
        let p = prefix();
        for (i, slot) in b[..8].iter_mut().enumerate() {
            // `i < 8`, so the shift stays within the u32; the nibble indexes 0..16.
            *slot = b"0123456789abcdef"[((p >> (28 - 4 * i)) & 0xf) as usize];
        }
        b[8] = b'-';
        // 12 digits as `{n:012}` would give (10^12 requests wrap, never seen in practice).
        let mut v = n % 1_000_000_000_000;
        for slot in b[9..].iter_mut().rev() {
            // `v % 10` is below 10.
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        Self(b)
    }

    /// The id as a header value.
    pub(crate) fn header_value(&self) -> HeaderValue {
        // invariant: hex digits, digits and '-' are valid header value bytes.
        HeaderValue::from_bytes(&self.0).unwrap_or_else(|_| HeaderValue::from_static("-"))
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // invariant: built from ASCII in `next`.
        std::str::from_utf8(&self.0).unwrap_or("-")
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

    #[test]
    fn id_is_the_hex_prefix_and_the_zero_padded_counter() {
        let id = RequestId::next();
        let (hex, counter) = id.as_str().split_once('-').unwrap();
        assert_eq!(hex, format!("{:08x}", prefix()));
        let n: u64 = counter.parse().unwrap();
        assert_eq!(counter, format!("{n:012}"));
        assert!(n >= 1 && n < COUNTER.load(Ordering::Relaxed));
    }
}
