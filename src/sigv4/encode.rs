//! Byte-level encoders shared by the signer: lower-case hex, RFC 3986 percent-encoding
//! with upper-case hex, and percent-decoding.
//!
//! Everything appends to a caller-owned `String`, so canonicalisation can build one
//! pre-sized buffer without temporary allocations. Nothing here knows about AWS rules
//! beyond "unreserved characters are never encoded".

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Appends the lower-case hex form of `bytes` to `out`.
pub(crate) fn hex_into(out: &mut String, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(HEX_LOWER[usize::from(b >> 4)]));
        out.push(char::from(HEX_LOWER[usize::from(b & 0xf)]));
    }
}

/// The lower-case hex form of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    hex_into(&mut out, bytes);
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True for RFC 3986 unreserved characters: `A-Z a-z 0-9 - . _ ~`.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Appends `bytes` percent-encoded to `out`: unreserved characters (and `/` when
/// `keep_slash`) stay, every other byte becomes `%XX` with upper-case hex.
pub(crate) fn percent_encode_into(out: &mut String, bytes: &[u8], keep_slash: bool) {
    // Fast path: nothing to encode (the common case for AWS paths and query keys).
    if bytes
        .iter()
        .all(|&b| is_unreserved(b) || (keep_slash && b == b'/'))
    {
        // Every byte is ASCII, so this is valid UTF-8.
        for &b in bytes {
            out.push(char::from(b));
        }
        return;
    }
    for &b in bytes {
        if is_unreserved(b) || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(b >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(b & 0xf)]));
        }
    }
}

/// `s` percent-encoded (unreserved kept, `/` encoded).
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    percent_encode_into(&mut out, s.as_bytes(), false);
    out
}

/// Decodes `%XX` escapes in `s` and appends the resulting bytes, re-encoded, to `out`.
/// A `%` not followed by two hex digits is kept as a literal `%` (and so encoded as
/// `%25`); `+` is a literal `+`, as AWS treats it.
pub(crate) fn reencode_into(out: &mut String, s: &str, keep_slash: bool) {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        percent_encode_into(out, b, keep_slash);
        return;
    }
    let mut i = 0;
    while i < b.len() {
        let mut byte = b[i];
        if byte == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                byte = h << 4 | l;
                i += 2;
            }
        }
        if is_unreserved(byte) || (keep_slash && byte == b'/') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX_UPPER[usize::from(byte >> 4)]));
            out.push(char::from(HEX_UPPER[usize::from(byte & 0xf)]));
        }
        i += 1;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn hex_lower() {
        assert_eq!(hex(&[0x00, 0xab, 0xff]), "00abff");
    }

    #[test]
    fn encodes_reserved_and_keeps_unreserved() {
        let mut s = String::new();
        percent_encode_into(&mut s, "a-._~/ b+ሴ".as_bytes(), true);
        assert_eq!(s, "a-._~/%20b%2B%E1%88%B4");
        assert_eq!(percent_encode("a/b"), "a%2Fb");
    }

    #[test]
    fn reencode_decodes_first() {
        let mut s = String::new();
        reencode_into(&mut s, "a%20b%2fc+%zz%4", false);
        assert_eq!(s, "a%20b%2Fc%2B%25zz%254");
    }
}
