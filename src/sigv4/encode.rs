//! Byte-level encoders shared by the signer: lower-case hex, RFC 3986 percent-encoding
//! with upper-case hex, and percent-decoding.
//!
//! Everything appends to a caller-owned buffer (the signer's `Vec<u8>`: all its input
//! is `&str` and all it adds is ASCII, so the one `String::from_utf8` at the end is the
//! only UTF-8 validation), so canonicalisation can build one pre-sized buffer without
//! temporary allocations. Nothing here knows about AWS rules
//! beyond "unreserved characters are never encoded".

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Every byte's two lower-case hex digits, so formatting is one lookup per byte.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut table = [[0u8; 2]; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = [HEX_LOWER[i >> 4], HEX_LOWER[i & 0xf]];
        i += 1;
    }
    table
};

/// The 64 lower-case hex digits of a 32-byte digest. Plain nibble arithmetic with no
/// table lookups, so the compiler turns it into a few vector instructions (the table
/// version, eight 8-byte stores per digest, was 4-5 % of signing time).
pub(crate) fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    #[inline(always)]
    fn digit(n: u8) -> u8 {
        n + if n < 10 { b'0' } else { b'a' - 10 }
    }
    let mut out = [0u8; 64];
    for (pair, &b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = digit(b >> 4);
        pair[1] = digit(b & 0xf);
    }
    out
}

/// Appends the lower-case hex form of `bytes` to `out` (the signer's byte buffer).
pub(crate) fn hex_into_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    let mut chunks = bytes.chunks_exact(32);
    for c in &mut chunks {
        // `chunks_exact(32)` yields 32-byte slices only; the fallback is never taken.
        let c: &[u8; 32] = c.try_into().unwrap_or(&[0; 32]);
        out.extend_from_slice(&hex32(c));
    }
    for &b in chunks.remainder() {
        out.extend_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// Appends the lower-case hex form of `bytes` to `out`.
pub(crate) fn hex_into(out: &mut String, bytes: &[u8]) {
    // Digests are 32 bytes: format them on the stack and append once.
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, &b) in buf.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        // Only ASCII hex digits were written, so this never fails.
        out.push_str(std::str::from_utf8(&buf[..2 * chunk.len()]).unwrap_or_default());
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

/// `UNRESERVED[b]` is true for RFC 3986 unreserved bytes: one load per byte in the
/// encoders' loops instead of four range checks.
const UNRESERVED: [bool; 256] = {
    let mut table = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8; // i < 256: no truncation
        table[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        i += 1;
    }
    table
};

/// True for RFC 3986 unreserved characters: `A-Z a-z 0-9 - . _ ~`.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    UNRESERVED[usize::from(b)]
}

/// Appends `s` percent-encoded to `out`: unreserved characters (and `/` when
/// `keep_slash`) stay, every other byte becomes `%XX` with upper-case hex. Runs of
/// kept characters are copied in one go.
pub(crate) fn percent_encode_into(out: &mut Vec<u8>, s: &str, keep_slash: bool) {
    percent_encode_bytes_into(out, s.as_bytes(), keep_slash);
}

/// [`percent_encode_into`] for bytes.
pub(crate) fn percent_encode_bytes_into(out: &mut Vec<u8>, b: &[u8], keep_slash: bool) {
    let mut run_start = 0;
    for (i, &c) in b.iter().enumerate() {
        if is_unreserved(c) || (keep_slash && c == b'/') {
            continue;
        }
        out.extend_from_slice(&b[run_start..i]);
        push_escape(out, c);
        run_start = i + 1;
    }
    out.extend_from_slice(&b[run_start..]);
}

fn push_escape(out: &mut Vec<u8>, c: u8) {
    out.extend_from_slice(&[
        b'%',
        HEX_UPPER[usize::from(c >> 4)],
        HEX_UPPER[usize::from(c & 0xf)],
    ]);
}

/// True when `s` is already in canonical encoded form: only unreserved characters and
/// `%XX` escapes (upper-case hex) of bytes that are not unreserved. Such a component
/// is its own decode-then-encode result. (The query fast path checks the same rule in
/// its one pass; tests use this as the reference.)
#[cfg(test)]
pub(crate) fn is_canonical_component(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if is_unreserved(c) {
            i += 1;
            continue;
        }
        if c != b'%' || i + 2 >= b.len() {
            return false;
        }
        let upper = |d: u8| d.is_ascii_digit() || (b'A'..=b'F').contains(&d);
        let (h, l) = (b[i + 1], b[i + 2]);
        if !upper(h) || !upper(l) {
            return false;
        }
        let decoded = (hex_val(h).unwrap_or(0) << 4) | hex_val(l).unwrap_or(0);
        if is_unreserved(decoded) {
            return false;
        }
        i += 3;
    }
    true
}

/// `s` percent-encoded (unreserved kept, `/` encoded).
#[cfg(test)]
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 8);
    percent_encode_into(&mut out, s, false);
    String::from_utf8(out).unwrap_or_default()
}

/// Decodes `%XX` escapes in `s` and appends the resulting bytes, re-encoded, to `out`.
/// A `%` not followed by two hex digits is kept as a literal `%` (and so encoded as
/// `%25`); `+` is a literal `+`, as AWS treats it.
pub(crate) fn reencode_into(out: &mut Vec<u8>, s: &str, keep_slash: bool) {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        percent_encode_into(out, s, keep_slash);
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
            out.push(byte);
        } else {
            push_escape(out, byte);
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
        let bytes: Vec<u8> = (0..=255).collect();
        for len in [0, 3, 4, 5, 32, 71, 256] {
            let mut v = b"x".to_vec();
            hex_into_vec(&mut v, &bytes[..len]);
            assert_eq!(v[1..], *hex(&bytes[..len]).as_bytes(), "{len}");
        }
    }

    #[test]
    fn hex32_matches_format() {
        let all: Vec<u8> = (0..=255).collect();
        for chunk in all.chunks_exact(32) {
            let expected: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let got = hex32(chunk.try_into().unwrap());
            assert_eq!(std::str::from_utf8(&got).unwrap(), expected);
        }
    }

    #[test]
    fn encodes_reserved_and_keeps_unreserved() {
        let mut s = Vec::new();
        percent_encode_into(&mut s, "a-._~/ b+ሴ", true);
        assert_eq!(s, b"a-._~/%20b%2B%E1%88%B4");
        assert_eq!(percent_encode("a/b"), "a%2Fb");
    }

    #[test]
    fn canonical_components() {
        for ok in ["", "abc-._~", "%2F", "a%20b", "%E1%88%B4"] {
            assert!(is_canonical_component(ok), "{ok}");
        }
        for bad in ["%2f", "%41", "a b", "+", "%", "%2", "ሴ", "/"] {
            assert!(!is_canonical_component(bad), "{bad}");
        }
    }

    #[test]
    fn reencode_decodes_first() {
        let mut s = Vec::new();
        reencode_into(&mut s, "a%20b%2fc+%zz%4", false);
        assert_eq!(s, b"a%20b%2Fc%2B%25zz%254");
    }
}
