//! The canonical request: URI path, query string and headers in AWS's canonical form.
//!
//! This module owns the byte-exact rules (encoding, normalisation, sorting, header
//! folding and the list of headers never signed). It does not hash, derive keys or
//! decide which headers the signer adds; [`super::signer`] passes those in.

use std::borrow::Cow;

use super::encode::{is_unreserved, percent_encode_into, reencode_into};
use super::settings::{PathNormalization, UriEncoding};

/// Headers never signed: hop-by-hop headers, headers proxies and clients rewrite, and
/// `authorization` (the signer sets it).
pub(crate) const DEFAULT_EXCLUDED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "x-amzn-trace-id",
    "expect",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "forwarded",
    "via",
];

/// Removes `.` and `..` segments and merges repeated `/` (RFC 3986 section 5.2.4,
/// plus empty-segment removal as AWS does). A trailing `/` (or a trailing `.`/`..`
/// segment) keeps the result ending in `/`. The result always starts with `/`.
pub(crate) fn normalize_path(path: &str) -> Cow<'_, str> {
    // One pass over the bytes: a path with no `//` and no segment starting with `.`
    // is already normal (the common case), so borrow it.
    let b = path.as_bytes();
    let clean = b.first() == Some(&b'/')
        && !b
            .windows(2)
            .any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'));
    if clean {
        return Cow::Borrowed(path);
    }
    let mut stack: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                stack.pop();
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    for seg in &stack {
        out.push('/');
        out.push_str(seg);
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if out.is_empty() || trailing {
        out.push('/');
    }
    Cow::Owned(out)
}

/// Appends the canonical URI for the wire path `path`.
///
/// `Double`: (normalise, then) percent-encode every byte except unreserved and `/`, so
/// an existing `%20` becomes `%2520`. `Single` (S3): decode the path and encode it once,
/// keeping `/`, so `/a%20b` stays `/a%20b`, `/a+b` becomes `/a%2Bb` and `/a%2Fb` becomes
/// `/a/b` (S3 signs the object key, and the key of `/a%2Fb` is `a/b`).
pub(crate) fn canonical_uri_into(
    out: &mut Vec<u8>,
    path: &str,
    encoding: UriEncoding,
    normalization: PathNormalization,
) {
    let path = if path.is_empty() { "/" } else { path };
    if is_plain_path(path) {
        out.extend_from_slice(path.as_bytes());
        return;
    }
    canonical_uri_general(out, path, encoding, normalization);
}

/// True for a path that is its own canonical form in every mode: it starts with `/`
/// and has only unreserved characters and single `/`s, with no segment starting with
/// `.` (nothing to normalise, decode or encode). The common case, so
/// [`canonical_uri_into`] copies it without the general path's passes.
fn is_plain_path(path: &str) -> bool {
    let b = path.as_bytes();
    b.first() == Some(&b'/')
        && b.iter().all(|&c| is_unreserved(c) || c == b'/')
        && !b
            .windows(2)
            .any(|w| w[0] == b'/' && (w[1] == b'/' || w[1] == b'.'))
}

/// The general path of [`canonical_uri_into`], for any non-empty path. Never inlined,
/// so the fast path keeps a small frame.
#[inline(never)]
fn canonical_uri_general(
    out: &mut Vec<u8>,
    path: &str,
    encoding: UriEncoding,
    normalization: PathNormalization,
) {
    let path = match normalization {
        PathNormalization::Enabled => normalize_path(path),
        PathNormalization::Disabled => Cow::Borrowed(path),
    };
    if !path.starts_with('/') {
        out.push(b'/');
    }
    match encoding {
        UriEncoding::Double => percent_encode_into(out, &path, true),
        // S3 signs the object key encoded once: decode the wire path (so `%2F` is the
        // `/` it stands for: the key of `/a%2Fb` is `a/b`), then encode it keeping `/`.
        UriEncoding::Single => reencode_into(out, &path, true),
    }
}

/// Query parameters the signer itself sets in query mode; dropped from the caller's
/// query so that they are never signed or sent twice.
pub(crate) const SIGNER_QUERY_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Region-Set",
];

/// True when the raw query parameter `pair` (`key` or `key=value`) is one the signer
/// sets in query mode.
pub(crate) fn is_signer_query_param(pair: &str) -> bool {
    let key = pair.split_once('=').map_or(pair, |(k, _)| k);
    SIGNER_QUERY_PARAMS
        .iter()
        .any(|p| p.eq_ignore_ascii_case(key))
}

/// Appends the canonical query string: the caller's `query` (split on `&` and the
/// first `=`, decoded, re-encoded; `+` is a literal plus) together with `extra`
/// parameters (already encoded), sorted by encoded key, then encoded value.
/// With `drop_signer_params`, the caller's own `X-Amz-Signature` & co. are skipped.
pub(crate) fn canonical_query_into(
    out: &mut Vec<u8>,
    query: Option<&str>,
    extra: &[(&str, &str)],
    drop_signer_params: bool,
) {
    let query = query.unwrap_or("");
    if query.is_empty() && extra.is_empty() {
        return;
    }
    if query_fast_path(out, query, extra, drop_signer_params) {
        return;
    }
    canonical_query_general(out, query, extra, drop_signer_params);
}

/// The general path of [`canonical_query_into`]: decodes and re-encodes every key and
/// value, for any query. Never inlined, so the fast path keeps a small frame.
#[inline(never)]
fn canonical_query_general(
    out: &mut Vec<u8>,
    query: &str,
    extra: &[(&str, &str)],
    drop_signer_params: bool,
) {
    // All encoded keys and values live in one scratch buffer; params are ranges in it.
    let mut scratch = Vec::with_capacity(query.len() * 3 / 2 + 16);
    let mut params: Vec<(usize, usize, usize)> = Vec::with_capacity(extra.len() + 8);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if drop_signer_params && is_signer_query_param(pair) {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let start = scratch.len();
        reencode_into(&mut scratch, k, false);
        let mid = scratch.len();
        reencode_into(&mut scratch, v, false);
        params.push((start, mid, scratch.len()));
    }
    for (k, v) in extra {
        let start = scratch.len();
        scratch.extend_from_slice(k.as_bytes());
        let mid = scratch.len();
        scratch.extend_from_slice(v.as_bytes());
        params.push((start, mid, scratch.len()));
    }
    let s = scratch.as_slice();
    params.sort_unstable_by(|a, b| {
        s[a.0..a.1]
            .cmp(&s[b.0..b.1])
            .then_with(|| s[a.1..a.2].cmp(&s[b.1..b.2]))
    });
    for (i, &(start, mid, end)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(&s[start..mid]);
        out.push(b'=');
        out.extend_from_slice(&s[mid..end]);
    }
}

/// Most queries (those built by SDKs) are already canonically encoded and short. This
/// path validates them in one pass over the bytes ([`scan_query`]); a query that is
/// already its own canonical form (sorted, every key with `=`, nothing dropped or
/// added) is copied in one go, others are split into borrowed slices and sorted in a
/// stack array. It returns false, having written nothing, when
/// [`canonical_query_general`] is needed: more than `MAX` parameters, or any byte
/// that is not unreserved, the first `=` of a pair, `&` or an upper-case `%XX` escape
/// of a byte that is not unreserved (the cases where decoding and re-encoding would
/// change something).
fn query_fast_path(
    out: &mut Vec<u8>,
    query: &str,
    extra: &[(&str, &str)],
    drop_signer_params: bool,
) -> bool {
    const MAX: usize = 16;
    let q = query.as_bytes();
    match scan_query(q, drop_signer_params) {
        QueryScan::NeedsGeneral => return false,
        QueryScan::Canonical if extra.is_empty() => {
            out.extend_from_slice(q);
            return true;
        }
        QueryScan::Canonical | QueryScan::Valid => {}
    }
    let empty: &[u8] = &[];
    let mut params = [(empty, empty); MAX];
    let mut n = 0;
    let pairs = q.split(|&c| c == b'&').filter(|p| !p.is_empty());
    for pair in pairs {
        let (k, v) = match pair.iter().position(|&c| c == b'=') {
            Some(e) => (&pair[..e], &pair[e + 1..]),
            None => (pair, empty),
        };
        if drop_signer_params && is_signer_query_key(k) {
            continue;
        }
        if n == MAX {
            return false;
        }
        params[n] = (k, v);
        n += 1;
    }
    for &(k, v) in extra {
        if n == MAX {
            return false;
        }
        params[n] = (k.as_bytes(), v.as_bytes());
        n += 1;
    }
    let params = &mut params[..n];
    params.sort_unstable();
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(k);
        out.push(b'=');
        out.extend_from_slice(v);
    }
    true
}

/// What [`scan_query`] found.
#[derive(Debug, PartialEq, Eq)]
enum QueryScan {
    /// Some component needs decoding and re-encoding.
    NeedsGeneral,
    /// Every component is canonically encoded, and the query as a whole is its own
    /// canonical form.
    Canonical,
    /// Every component is canonically encoded, but the query needs sorting, or has
    /// empty pairs, keys without `=` or parameters to drop.
    Valid,
}

/// One pass over a raw query: checks every key and value is canonically encoded and
/// whether the whole query already is its canonical form.
fn scan_query(q: &[u8], drop_signer_params: bool) -> QueryScan {
    let empty: &[u8] = &[];
    let mut canonical = true;
    let mut prev: Option<(&[u8], &[u8])> = None;
    let mut start = 0;
    let mut eq: Option<usize> = None;
    let mut i = 0;
    loop {
        // Most bytes are unreserved: skip a run of them, four bytes per branch while
        // they last, then byte by byte.
        while let Some(w) = q.get(i..i + 4) {
            if !(is_unreserved(w[0])
                & is_unreserved(w[1])
                & is_unreserved(w[2])
                & is_unreserved(w[3]))
            {
                break;
            }
            i += 4;
        }
        while i < q.len() && is_unreserved(q[i]) {
            i += 1;
        }
        match q.get(i) {
            None | Some(b'&') => {
                if i == start {
                    canonical = false; // an empty pair is dropped
                } else if canonical {
                    let pair = match eq {
                        Some(e) => (&q[start..e], &q[e + 1..i]),
                        None => (&q[start..i], empty),
                    };
                    canonical = eq.is_some() // `k` is signed as `k=`
                        && !(drop_signer_params && is_signer_query_key(pair.0))
                        && prev.is_none_or(|p| p <= pair);
                    prev = Some(pair);
                }
                if i == q.len() {
                    break;
                }
                start = i + 1;
                eq = None;
                i += 1;
            }
            Some(b'=') if eq.is_none() => {
                eq = Some(i);
                i += 1;
            }
            Some(b'%') => {
                let (Some(&h), Some(&l)) = (q.get(i + 1), q.get(i + 2)) else {
                    return QueryScan::NeedsGeneral;
                };
                match (upper_hex_val(h), upper_hex_val(l)) {
                    (Some(h), Some(l)) if !is_unreserved(h << 4 | l) => i += 3,
                    _ => return QueryScan::NeedsGeneral,
                }
            }
            Some(_) => return QueryScan::NeedsGeneral,
        }
    }
    if canonical {
        QueryScan::Canonical
    } else {
        QueryScan::Valid
    }
}

/// The value of an upper-case hex digit (`%xx` with lower-case digits is not
/// canonical: it must be re-encoded).
fn upper_hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// True when the raw query key `key` is one the signer sets in query mode.
fn is_signer_query_key(key: &[u8]) -> bool {
    SIGNER_QUERY_PARAMS
        .iter()
        .any(|p| p.as_bytes().eq_ignore_ascii_case(key))
}

/// Compares header names ignoring ASCII case, as if both were lower-cased.
fn cmp_lower(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Sorts header entries by lower-cased name, keeping the original order of repeats
/// (a stable sort). Returns true when every name is already lower-case, which
/// [`canonical_headers_into`] and [`signed_headers_into`] use to skip case folding.
pub(crate) fn sort_headers(entries: &mut [(&str, &str)]) -> bool {
    let lower = entries.iter().all(|(n, _)| !has_upper(n));
    if lower {
        // Names are usually lower-case already (SDKs, hyper and the signer's own
        // headers): then plain byte order is the lower-cased order. A handful of
        // entries, often nearly sorted: an insertion sort is the cheapest stable sort.
        for i in 1..entries.len() {
            let mut j = i;
            while j > 0 && name_gt(entries[j - 1].0, entries[j].0) {
                entries.swap(j - 1, j);
                j -= 1;
            }
        }
    } else {
        entries.sort_by(|a, b| cmp_lower(a.0, b.0));
    }
    lower
}

/// `a > b` in byte order. Header names mostly differ in their first byte, which is
/// compared inline before a full (memcmp) comparison.
fn name_gt(a: &str, b: &str) -> bool {
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(x), Some(y)) if x != y => x > y,
        _ => a.as_bytes() > b.as_bytes(),
    }
}

/// True when `name` has an ASCII upper-case letter. Eight bytes per step: with the
/// high bits cleared (so no addition carries into the next byte), `b + 0x3F` has its
/// high bit set from `A` up and `b + 0x25` from `[` up; a byte that sets the first but
/// not the second, and had no high bit of its own, is `A..=Z`.
fn has_upper(name: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = ONES * 0x80;
    let mut chunks = name.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        let y = x & !HIGHS;
        if (y + ONES * 0x3F) & !(y + ONES * 0x25) & !x & HIGHS != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(u8::is_ascii_uppercase)
}

/// True when some byte of `b` is at or below the space (whitespace or a control
/// character). Eight bytes per step: a byte below 0x21 borrows in the subtraction and
/// sets its high bit, which `!x` keeps only for bytes below 0x80 (the classic
/// "has a byte less than n" test).
fn has_space_or_control(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_ne_bytes(word);
        if x.wrapping_sub(ONES * 0x21) & !x & HIGHS != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&c| c <= b' ')
}

/// Appends `value` trimmed, with every run of whitespace collapsed to one space.
fn push_folded_value(out: &mut Vec<u8>, value: &str) {
    let b = value.as_bytes();
    // Fast path: no byte at or below the space (most values: dates, hosts, hashes)
    // means nothing to trim or fold. Values with spaces take the checks below.
    if !has_space_or_control(b) {
        out.extend_from_slice(b);
        return;
    }
    let plain = !b.first().is_some_and(u8::is_ascii_whitespace)
        && !b.last().is_some_and(u8::is_ascii_whitespace)
        && !b.windows(2).any(|w| w[0] == b' ' && w[1] == b' ')
        && !b.iter().any(|&c| c.is_ascii_whitespace() && c != b' ');
    if plain {
        out.extend_from_slice(b);
        return;
    }
    let mut pending_space = false;
    for word in b.split(u8::is_ascii_whitespace) {
        if word.is_empty() {
            continue;
        }
        if pending_space {
            out.push(b' ');
        }
        out.extend_from_slice(word);
        pending_space = true;
    }
}

/// Appends `name` lower-cased (`lower`: it already is).
fn push_name(out: &mut Vec<u8>, name: &str, lower: bool) {
    let start = out.len();
    out.extend_from_slice(name.as_bytes());
    if !lower {
        out[start..].make_ascii_lowercase();
    }
}

/// True when `a` and `b` are the same header name (`lower`: both are lower-case, so
/// bytes compare).
fn same_name(a: &str, b: &str, lower: bool) -> bool {
    if lower {
        a == b
    } else {
        a.eq_ignore_ascii_case(b)
    }
}

/// Appends the canonical header block (`name:value\n` per distinct name, repeats
/// joined with `,`) for `sorted` entries; `lower` is what [`sort_headers`] returned.
pub(crate) fn canonical_headers_into(out: &mut Vec<u8>, sorted: &[(&str, &str)], lower: bool) {
    let mut prev: Option<&str> = None;
    for &(name, value) in sorted {
        if prev.is_some_and(|p| same_name(p, name, lower)) {
            out.push(b',');
        } else {
            if prev.is_some() {
                out.push(b'\n');
            }
            push_name(out, name, lower);
            out.push(b':');
        }
        push_folded_value(out, value);
        prev = Some(name);
    }
    if prev.is_some() {
        out.push(b'\n');
    }
}

/// Appends the signed-headers list (`host;x-amz-date`) for `sorted` entries; `lower`
/// is what [`sort_headers`] returned.
pub(crate) fn signed_headers_into(out: &mut Vec<u8>, sorted: &[(&str, &str)], lower: bool) {
    let mut prev: Option<&str> = None;
    for &(name, _) in sorted {
        if prev.is_some_and(|p| same_name(p, name, lower)) {
            continue;
        }
        if prev.is_some() {
            out.push(b';');
        }
        push_name(out, name, lower);
        prev = Some(name);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests;
