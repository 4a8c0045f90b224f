//! The canonical request: URI path, query string and headers in AWS's canonical form.
//!
//! This module owns the byte-exact rules (encoding, normalisation, sorting, header
//! folding and the list of headers never signed). It does not hash, derive keys or
//! decide which headers the signer adds; [`super::signer`] passes those in.

use std::borrow::Cow;

use super::encode::{percent_encode_into, reencode_into};
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
    let clean = path.starts_with('/')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..");
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
/// an existing `%20` becomes `%2520`. `Single` (S3): decode each segment and encode it
/// once, so `/a%20b` stays `/a%20b` and `/a+b` becomes `/a%2Bb`.
pub(crate) fn canonical_uri_into(
    out: &mut String,
    path: &str,
    encoding: UriEncoding,
    normalization: PathNormalization,
) {
    let path = if path.is_empty() { "/" } else { path };
    let path = match normalization {
        PathNormalization::Enabled => normalize_path(path),
        PathNormalization::Disabled => Cow::Borrowed(path),
    };
    if !path.starts_with('/') {
        out.push('/');
    }
    match encoding {
        UriEncoding::Double => percent_encode_into(out, path.as_bytes(), true),
        UriEncoding::Single => {
            for (i, seg) in path.split('/').enumerate() {
                if i > 0 {
                    out.push('/');
                }
                reencode_into(out, seg, false);
            }
        }
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
    out: &mut String,
    query: Option<&str>,
    extra: &[(&str, &str)],
    drop_signer_params: bool,
) {
    let query = query.unwrap_or("");
    if query.is_empty() && extra.is_empty() {
        return;
    }
    // All encoded keys and values live in one scratch buffer; params are ranges in it.
    let mut scratch = String::with_capacity(query.len() * 3 / 2 + 16);
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
        scratch.push_str(k);
        let mid = scratch.len();
        scratch.push_str(v);
        params.push((start, mid, scratch.len()));
    }
    let s = scratch.as_bytes();
    params.sort_unstable_by(|a, b| {
        s[a.0..a.1]
            .cmp(&s[b.0..b.1])
            .then_with(|| s[a.1..a.2].cmp(&s[b.1..b.2]))
    });
    for (i, &(start, mid, end)) in params.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&scratch[start..mid]);
        out.push('=');
        out.push_str(&scratch[mid..end]);
    }
}

/// Compares header names ignoring ASCII case, as if both were lower-cased.
fn cmp_lower(a: &str, b: &str) -> std::cmp::Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Sorts header entries by lower-cased name, keeping the original order of repeats
/// (a stable sort).
pub(crate) fn sort_headers(entries: &mut [(&str, &str)]) {
    entries.sort_by(|a, b| cmp_lower(a.0, b.0));
}

/// Appends `value` trimmed, with every run of whitespace collapsed to one space.
fn push_folded_value(out: &mut String, value: &str) {
    let mut pending_space = false;
    for word in value.split(|c: char| c.is_ascii_whitespace()) {
        if word.is_empty() {
            continue;
        }
        if pending_space {
            out.push(' ');
        }
        out.push_str(word);
        pending_space = true;
    }
}

/// Appends `name` lower-cased.
fn push_lower(out: &mut String, name: &str) {
    for c in name.chars() {
        out.push(c.to_ascii_lowercase());
    }
}

/// Appends the canonical header block (`name:value\n` per distinct name, repeats
/// joined with `,`) for `sorted` entries (see [`sort_headers`]).
pub(crate) fn canonical_headers_into(out: &mut String, sorted: &[(&str, &str)]) {
    let mut prev: Option<&str> = None;
    for &(name, value) in sorted {
        if prev.is_some_and(|p| p.eq_ignore_ascii_case(name)) {
            out.push(',');
        } else {
            if prev.is_some() {
                out.push('\n');
            }
            push_lower(out, name);
            out.push(':');
        }
        push_folded_value(out, value);
        prev = Some(name);
    }
    if prev.is_some() {
        out.push('\n');
    }
}

/// Appends the signed-headers list (`host;x-amz-date`) for `sorted` entries.
pub(crate) fn signed_headers_into(out: &mut String, sorted: &[(&str, &str)]) {
    let mut prev: Option<&str> = None;
    for &(name, _) in sorted {
        if prev.is_some_and(|p| p.eq_ignore_ascii_case(name)) {
            continue;
        }
        if prev.is_some() {
            out.push(';');
        }
        push_lower(out, name);
        prev = Some(name);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests;
