//! [`sign`]: canonical request, string to sign, signature.
//!
//! This module decides *what* is signed (which headers and query parameters the signer
//! adds, the credential scope, the payload hash) and assembles the output. The byte
//! rules of canonicalisation live in [`super::canonical`], key derivation in
//! [`super::key`] and [`super::key_cache`].

use aws_lc_rs::rand::SystemRandom;

use super::canonical::{
    canonical_headers_into, canonical_query_into, canonical_uri_into, signed_headers_into,
    sort_headers, DEFAULT_EXCLUDED_HEADERS,
};
use super::encode::{hex32, hex_into_vec, percent_encode_bytes_into, percent_encode_into};
use super::key_cache::{v4a_key, with_v4_key};
use super::output::{Span, MAX_PARAMS};
use super::payload::{PayloadHash, EMPTY_PAYLOAD_SHA256, UNSIGNED_PAYLOAD};
use super::settings::{
    ContentSha256Header, SessionTokenMode, SignatureLocation, SigningAlgorithm, SigningSettings,
};
use super::sha256;
use super::time::AmzDate;
use super::{SignError, SignableRequest, SigningOutput, SigningParams};

/// `AWS4-HMAC-SHA256`.
pub(crate) const ALGORITHM_V4: &str = "AWS4-HMAC-SHA256";
/// `AWS4-ECDSA-P256-SHA256`.
pub(crate) const ALGORITHM_V4A: &str = "AWS4-ECDSA-P256-SHA256";
/// Longest accepted presign expiry: 7 days.
pub(crate) const MAX_EXPIRES_SECS: u64 = 604_800;

/// Signs `request` with `params`. Pure: the same inputs give the same output (except
/// for SigV4a, whose ECDSA signatures are randomised).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use sigv4_proxy::credentials::Credentials;
/// use sigv4_proxy::sigv4::{sign, PayloadHash, SignableRequest, SigningParams, SigningSettings};
///
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "example");
/// let settings = SigningSettings::default();
/// let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
/// let params = SigningParams::new(&creds, "us-east-1", "service", time, &settings);
/// let request = SignableRequest::new("GET", "/", vec![("host", "example.amazonaws.com")], PayloadHash::Bytes(b""));
/// let out = sign(&request, &params)?;
/// assert_eq!(out.signature(), "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
/// assert_eq!(out.header("x-amz-date"), Some("20150830T123600Z"));
/// # Ok::<(), sigv4_proxy::sigv4::SignError>(())
/// ```
pub fn sign(
    request: &SignableRequest<'_>,
    params: &SigningParams<'_>,
) -> Result<SigningOutput, SignError> {
    let settings = params.settings;
    let creds = params.credentials;
    let v4a = settings.algorithm == SigningAlgorithm::V4a;
    let algorithm = if v4a { ALGORITHM_V4A } else { ALGORITHM_V4 };
    check_scope_part("region", params.region)?;
    check_scope_part("service", params.service)?;
    let date = AmzDate::new(params.time)?;
    // Checked as UTF-8 once here, not at each use.
    let date_full = date.full();
    let date_day = date_full.get(..8).unwrap_or_default();
    let expires = match settings.location {
        SignatureLocation::Headers => None,
        SignatureLocation::QueryParams { expires } => {
            let secs = expires.as_secs();
            if !(1..=MAX_EXPIRES_SECS).contains(&secs) {
                return Err(SignError::InvalidExpiry(secs));
            }
            Some(secs)
        }
    };
    let header_mode = expires.is_none();
    let payload_hex;
    let payload_hash = match payload_hash(request.payload, v4a)? {
        Payload::Str(s) => s,
        Payload::Hex(h) => {
            payload_hex = h;
            payload_hex.as_str()
        }
    };
    let streaming = payload_hash.starts_with("STREAMING-");

    let token = creds.session_token();
    let sign_token = settings.session_token == SessionTokenMode::Signed;
    let add_content_sha =
        header_mode && (settings.content_sha256 == ContentSha256Header::Include || streaming);

    // Headers to sign: the caller's (minus excluded and signer-owned) plus ours.
    // Up to INLINE_HEADERS entries live on the stack; larger requests use the heap.
    let mut inline = [("", ""); INLINE_HEADERS];
    let mut heap: Vec<(&str, &str)> = Vec::new();
    let mut len = 0;
    if request.headers.len() + 4 <= INLINE_HEADERS {
        // A plain loop: the filtering iterator adapter went out of line per element.
        for &h in &request.headers {
            if !is_excluded(h.0, settings, add_content_sha, v4a) {
                inline[len] = h;
                len += 1;
            }
        }
    } else {
        heap.reserve(request.headers.len() + 4);
        heap.extend(
            request
                .headers
                .iter()
                .copied()
                .filter(|(name, _)| !is_excluded(name, settings, add_content_sha, v4a)),
        );
    }
    let mut entries = Entries {
        inline: &mut inline,
        len,
        heap: &mut heap,
    };
    if !entries.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        return Err(SignError::MissingHost);
    }
    if header_mode {
        entries.push(("x-amz-date", date_full));
        if v4a {
            entries.push(("x-amz-region-set", params.region));
        }
        if add_content_sha {
            entries.push(("x-amz-content-sha256", payload_hash));
        }
        if let (Some(t), true) = (token, sign_token) {
            entries.push(("x-amz-security-token", t));
        }
    }
    let entries = entries.finish();
    let lower = sort_headers(entries);

    // Query mode: the X-Amz-* parameters that are part of the canonical query, with
    // their encoded values in `qp.scratch` (copied into the output at the end). Kept
    // out of line so that header mode (the proxy's case) carries none of it.
    let qp = match expires {
        Some(secs) => query_parts(entries, lower, params, date.date_bytes(), secs, v4a),
        None => QueryParts::default(),
    };
    let s = |span: Span| span_str(&qp.scratch, span);
    let extra_store;
    let extra: &[(&str, &str)] = if header_mode {
        &[]
    } else {
        let (store, n) = query_extra(&qp, algorithm, date_full, sign_token);
        extra_store = store;
        &extra_store[..n]
    };

    // Everything the output holds goes into one buffer, sized up front: the
    // timestamp, the credential (the scope is its tail), the canonical request (the
    // signed headers and payload hash are its tail), the string to sign, the
    // authorization (the signature is its tail) and the other values to set.
    let header_bytes: usize = entries.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let credential_len =
        creds.access_key_id().len() + 1 + 9 + params.region.len() + 1 + params.service.len() + 13;
    let creq_len = request.method.len()
        + request.path.len() * 3
        + request.query.map_or(0, str::len) * 3 / 2
        + extra
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum::<usize>()
        + header_bytes
        + entries.len() * 24
        + payload_hash.len()
        + 8;
    let signature_len = if v4a { 144 } else { 64 };
    let sts_len = algorithm.len() + 16 + credential_len + 64 + 3;
    let rest_len = if header_mode {
        algorithm.len()
            + credential_len
            + entries.len() * 24
            + signature_len
            + 40
            + if v4a { params.region.len() } else { 0 }
            + token.map_or(0, str::len)
    } else {
        algorithm.len() + qp.scratch.len() + signature_len
    };
    // Built as bytes: every piece is a `&str` or ASCII, so one `String::from_utf8` at
    // the end is the only validation.
    let mut buf = Vec::with_capacity(16 + credential_len + creq_len + sts_len + rest_len);

    let timestamp = Span::push(&mut buf, date_full);
    // SigV4a: the credential (`AKID/` then the scope, which has no region) up front.
    // SigV4 copies both from the key cache's `ScopeText` when it signs, below.
    let v4a_credential = v4a.then(|| {
        let start = buf.len();
        buf.extend_from_slice(creds.access_key_id().as_bytes());
        buf.push(b'/');
        let scope_start = buf.len();
        buf.extend_from_slice(date.date_bytes());
        buf.push(b'/');
        buf.extend_from_slice(params.service.as_bytes());
        buf.extend_from_slice(b"/aws4_request");
        (Span::since(&buf, start), Span::since(&buf, scope_start))
    });

    // The canonical request.
    let start = buf.len();
    buf.extend_from_slice(request.method.as_bytes());
    buf.push(b'\n');
    canonical_uri_into(
        &mut buf,
        request.path,
        settings.uri_encoding,
        settings.path_normalization,
    );
    buf.push(b'\n');
    canonical_query_into(&mut buf, request.query, extra, !header_mode);
    buf.push(b'\n');
    canonical_headers_into(&mut buf, entries, lower);
    buf.push(b'\n');
    let sh_start = buf.len();
    signed_headers_into(&mut buf, entries, lower);
    let signed_headers = Span::since(&buf, sh_start);
    buf.push(b'\n');
    let payload_span = Span::push(&mut buf, payload_hash);
    let canonical_request = Span::since(&buf, start);
    let creq_digest = sha256::digest(span_bytes(&buf, canonical_request));

    // The string to sign, the authorization up to the signature (header mode), and
    // the signature.
    let sts_start = buf.len();
    buf.extend_from_slice(algorithm.as_bytes());
    buf.push(b'\n');
    buf.extend_from_slice(date.as_bytes());
    buf.push(b'\n');
    let signed = match v4a_credential {
        Some((credential, credential_scope)) => {
            buf.extend_from_within(credential_scope.start..credential_scope.end);
            buf.push(b'\n');
            hex_into_vec(&mut buf, &creq_digest);
            let string_to_sign = Span::since(&buf, sts_start);
            let auth_start = buf.len();
            if header_mode {
                buf.extend_from_slice(algorithm.as_bytes());
                buf.extend_from_slice(b" Credential=");
                buf.extend_from_within(credential.start..credential.end);
                buf.extend_from_slice(b", SignedHeaders=");
                buf.extend_from_within(signed_headers.start..signed_headers.end);
                buf.extend_from_slice(b", Signature=");
            }
            let sig_start = buf.len();
            v4a_signature(&mut buf, string_to_sign, params)?;
            Signed {
                string_to_sign,
                auth_start,
                credential,
                credential_scope,
                sig_start,
            }
        }
        None => with_v4_key(
            params.key_cache,
            creds,
            date_day,
            params.region,
            params.service,
            |key, _, text| {
                // The scope, credential and authorization prefix are copied whole from
                // text built once per cache entry, not assembled from their parts.
                let prefix = text.authorization_prefix().as_bytes();
                let part = |r: std::ops::Range<usize>| prefix.get(r).unwrap_or_default();
                buf.extend_from_slice(part(text.scope_range()));
                buf.push(b'\n');
                hex_into_vec(&mut buf, &creq_digest);
                let string_to_sign = Span::since(&buf, sts_start);
                // The first 64 bytes (algorithm, timestamp, most of the scope) repeat
                // for every request with this key in this second: `sign_memo` reuses
                // their hash from the previous signature on this thread.
                let mac = key.sign_memo(span_bytes(&buf, string_to_sign));
                let auth_start = buf.len();
                // The credential (and the scope, its tail) inside the authorization
                // (header mode) or on their own (query mode).
                let (base, cred_at) = if header_mode {
                    buf.extend_from_slice(prefix);
                    buf.extend_from_within(signed_headers.start..signed_headers.end);
                    buf.extend_from_slice(b", Signature=");
                    (auth_start, 0)
                } else {
                    buf.extend_from_slice(part(text.credential_range()));
                    (auth_start, text.credential_range().start)
                };
                let at = |r: std::ops::Range<usize>| Span {
                    start: base + r.start - cred_at,
                    end: base + r.end - cred_at,
                };
                let credential = at(text.credential_range());
                let credential_scope = at(text.scope_range());
                let sig_start = buf.len();
                hex_into_vec(&mut buf, &mac);
                Signed {
                    string_to_sign,
                    auth_start,
                    credential,
                    credential_scope,
                    sig_start,
                }
            },
        ),
    };
    let Signed {
        string_to_sign,
        auth_start,
        credential,
        credential_scope,
        sig_start,
    } = signed;
    let signature = Span::since(&buf, sig_start);
    if tracing::enabled!(tracing::Level::TRACE) {
        trace_steps(
            &buf,
            canonical_request,
            string_to_sign,
            token,
            qp.token.map(s),
        );
    }

    let mut out_params = [("", Span::default()); MAX_PARAMS];
    let mut n = 0;
    let mut add = |name: &'static str, span: Span| {
        out_params[n] = (name, span);
        n += 1;
    };
    let mut authorization = Span::default();
    if header_mode {
        authorization = Span::since(&buf, auth_start);
        add("x-amz-date", timestamp);
        if v4a {
            add("x-amz-region-set", Span::push(&mut buf, params.region));
        }
        if add_content_sha {
            add("x-amz-content-sha256", payload_span);
        }
        if let Some(t) = token {
            add("x-amz-security-token", Span::push(&mut buf, t));
        }
        add("authorization", authorization);
    } else {
        add("X-Amz-Algorithm", Span::push(&mut buf, algorithm));
        add("X-Amz-Credential", Span::push(&mut buf, s(qp.credential)));
        add("X-Amz-Date", timestamp);
        add(
            "X-Amz-SignedHeaders",
            Span::push(&mut buf, s(qp.signed_headers)),
        );
        add("X-Amz-Expires", Span::push(&mut buf, s(qp.expires)));
        if let Some(t) = qp.token {
            add("X-Amz-Security-Token", Span::push(&mut buf, s(t)));
        }
        if let Some(r) = qp.region_set {
            add("X-Amz-Region-Set", Span::push(&mut buf, s(r)));
        }
        add("X-Amz-Signature", signature);
    }
    // Every byte came from a `&str` or is ASCII written here, so this cannot fail.
    let buf = String::from_utf8(buf).map_err(|_| SignError::Unsupported("non-UTF-8 output"))?;
    Ok(SigningOutput {
        buf,
        authorization,
        timestamp,
        signature,
        canonical_request,
        string_to_sign,
        credential,
        credential_scope,
        signed_headers,
        payload_hash: payload_span,
        params: out_params,
        n_params: n,
        query_mode: !header_mode,
    })
}

/// Where the signing step put its parts in the buffer.
struct Signed {
    string_to_sign: Span,
    /// Where the authorization starts (header mode).
    auth_start: usize,
    credential: Span,
    credential_scope: Span,
    sig_start: usize,
}

/// Header entries on the stack when there are few (the common case).
const INLINE_HEADERS: usize = 12;

/// The headers to sign: a prefix of a stack array, or a heap vector.
struct Entries<'s, 'a> {
    inline: &'s mut [(&'a str, &'a str); INLINE_HEADERS],
    len: usize,
    heap: &'s mut Vec<(&'a str, &'a str)>,
}

impl<'s, 'a> Entries<'s, 'a> {
    /// Appends one entry. The inline array was chosen only when the caller's headers
    /// plus the at most four the signer adds fit, so it cannot overflow.
    fn push(&mut self, entry: (&'a str, &'a str)) {
        if self.heap.capacity() > 0 {
            self.heap.push(entry);
        } else if self.len < INLINE_HEADERS {
            self.inline[self.len] = entry;
            self.len += 1;
        } else {
            // Unreachable by the sizing above; fall back to the heap rather than panic.
            self.heap.extend_from_slice(&self.inline[..]);
            self.heap.push(entry);
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, (&'a str, &'a str)> {
        if self.heap.capacity() > 0 {
            self.heap.iter()
        } else {
            self.inline[..self.len].iter()
        }
    }

    fn finish(self) -> &'s mut [(&'a str, &'a str)] {
        if self.heap.capacity() > 0 {
            self.heap.as_mut_slice()
        } else {
            &mut self.inline[..self.len]
        }
    }
}

/// Query mode: the encoded X-Amz-* parameter values, and where each is in `scratch`.
#[derive(Default)]
struct QueryParts {
    scratch: Vec<u8>,
    credential: Span,
    signed_headers: Span,
    expires: Span,
    token: Option<Span>,
    region_set: Option<Span>,
}

/// Encodes the query-mode parameter values (credential, signed headers, expiry,
/// token, region set) for the sorted `entries`.
#[inline(never)]
fn query_parts(
    entries: &[(&str, &str)],
    lower: bool,
    params: &SigningParams<'_>,
    day: &[u8],
    expires_secs: u64,
    v4a: bool,
) -> QueryParts {
    let creds = params.credentials;
    let token = creds.session_token();
    let mut sh = Vec::with_capacity(entries.len() * 16);
    signed_headers_into(&mut sh, entries, lower);
    let mut q = QueryParts::default();
    let scratch = &mut q.scratch;
    scratch.reserve(
        (creds.access_key_id().len()
            + params.region.len() * 2
            + params.service.len()
            + 30
            + sh.len()
            + token.map_or(0, str::len))
            * 3
            + 20,
    );
    let start = scratch.len();
    percent_encode_into(scratch, creds.access_key_id(), false);
    scratch.extend_from_slice(b"%2F");
    scratch.extend_from_slice(day);
    scratch.extend_from_slice(b"%2F");
    if !v4a {
        percent_encode_into(scratch, params.region, false);
        scratch.extend_from_slice(b"%2F");
    }
    percent_encode_into(scratch, params.service, false);
    scratch.extend_from_slice(b"%2Faws4_request");
    q.credential = Span::since(scratch, start);
    let start = scratch.len();
    percent_encode_bytes_into(scratch, &sh, false);
    q.signed_headers = Span::since(scratch, start);
    let start = scratch.len();
    scratch.extend_from_slice(expires_secs.to_string().as_bytes());
    q.expires = Span::since(scratch, start);
    if let Some(t) = token {
        let start = scratch.len();
        percent_encode_into(scratch, t, false);
        q.token = Some(Span::since(scratch, start));
    }
    if v4a {
        let start = scratch.len();
        percent_encode_into(scratch, params.region, false);
        q.region_set = Some(Span::since(scratch, start));
    }
    q
}

/// The X-Amz-* parameters that go into the canonical query (all but the signature),
/// already encoded; the first `.1` entries of the array are used.
fn query_extra<'q>(
    qp: &'q QueryParts,
    algorithm: &'static str,
    date_full: &'q str,
    sign_token: bool,
) -> ([(&'q str, &'q str); MAX_PARAMS], usize) {
    let s = |span: Span| span_str(&qp.scratch, span);
    let token = qp.token.filter(|_| sign_token);
    let all = [
        Some(("X-Amz-Algorithm", algorithm)),
        Some(("X-Amz-Credential", s(qp.credential))),
        Some(("X-Amz-Date", date_full)),
        Some(("X-Amz-Expires", s(qp.expires))),
        Some(("X-Amz-SignedHeaders", s(qp.signed_headers))),
        token.map(|t| ("X-Amz-Security-Token", s(t))),
        qp.region_set.map(|r| ("X-Amz-Region-Set", s(r))),
    ];
    let mut extra = [("", ""); MAX_PARAMS];
    let mut n = 0;
    for kv in all.into_iter().flatten() {
        extra[n] = kv;
        n += 1;
    }
    (extra, n)
}

/// Logs the canonical request and string to sign at TRACE, with the session token
/// (plain and percent-encoded) redacted. Out of line: tracing is normally off.
#[cold]
#[inline(never)]
fn trace_steps(
    buf: &[u8],
    canonical_request: Span,
    string_to_sign: Span,
    token: Option<&str>,
    encoded_token: Option<&str>,
) {
    // The canonical request can carry the session token: never log it.
    let creq = String::from_utf8_lossy(span_bytes(buf, canonical_request));
    let redacted = match token {
        Some(t) if !t.is_empty() => {
            let shown = creq.replace(t, crate::secret::REDACTED);
            match encoded_token {
                Some(enc) if !enc.is_empty() => shown.replace(enc, crate::secret::REDACTED),
                _ => shown,
            }
        }
        _ => creq.into_owned(),
    };
    tracing::trace!(
        canonical_request = %redacted,
        string_to_sign = %String::from_utf8_lossy(span_bytes(buf, string_to_sign)),
        "sigv4"
    );
}

/// Appends the hex SigV4a (ECDSA) signature of the string to sign.
#[inline(never)]
fn v4a_signature(
    buf: &mut Vec<u8>,
    string_to_sign: Span,
    params: &SigningParams<'_>,
) -> Result<(), SignError> {
    let key = v4a_key(params.key_cache, params.credentials)?;
    let sig = key
        .sign(&SystemRandom::new(), span_bytes(buf, string_to_sign))
        .map_err(|_| SignError::KeyDerivation)?;
    hex_into_vec(buf, sig.as_ref());
    Ok(())
}

/// `span` of `buf` (empty if out of range, which the signer never makes).
fn span_bytes(buf: &[u8], span: Span) -> &[u8] {
    buf.get(span.start..span.end).unwrap_or_default()
}

/// `span` of the query-mode scratch buffer as text. The scratch holds only
/// percent-encoded (ASCII) values, so the check never fails.
fn span_str(buf: &[u8], span: Span) -> &str {
    std::str::from_utf8(span_bytes(buf, span)).unwrap_or_default()
}

/// A payload hash: a fixed or borrowed string, or the hex of a digest on the stack.
enum Payload<'a> {
    Str(&'a str),
    Hex(HexDigest),
}

/// The lower-case hex form of a SHA-256 digest.
struct HexDigest([u8; 64]);

impl HexDigest {
    fn new(digest: &[u8; 32]) -> Self {
        Self(hex32(digest))
    }

    fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written, so this never falls back.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The payload hash for `payload`.
fn payload_hash(payload: PayloadHash<'_>, v4a: bool) -> Result<Payload<'_>, SignError> {
    Ok(match payload {
        PayloadHash::Bytes([]) => Payload::Str(EMPTY_PAYLOAD_SHA256),
        PayloadHash::Bytes(b) => Payload::Hex(HexDigest::new(&sha256::digest(b))),
        PayloadHash::Precomputed(h) => {
            let ok = h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
            if !ok {
                return Err(SignError::InvalidPayloadHash(h.chars().take(80).collect()));
            }
            Payload::Str(h)
        }
        PayloadHash::Unsigned => Payload::Str(UNSIGNED_PAYLOAD),
        PayloadHash::StreamingUnsignedWithTrailer => {
            Payload::Str("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        }
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedWithTrailer if v4a => {
            return Err(SignError::Unsupported(
                "signed streaming payloads with SigV4a (chunk signing is SigV4 only)",
            ))
        }
        PayloadHash::StreamingSigned => Payload::Str("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        PayloadHash::StreamingSignedWithTrailer => {
            Payload::Str("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        }
    })
}

/// Rejects a region or service that would break the credential scope. A SigV4a
/// region set may be `*` or a comma-separated list, so only `/` and whitespace are
/// refused.
fn check_scope_part(what: &'static str, value: &str) -> Result<(), SignError> {
    if value.is_empty() || value.bytes().any(|b| b == b'/' || b.is_ascii_whitespace()) {
        return Err(SignError::InvalidScope {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Headers the signer owns (sets itself, so never signs the caller's copy).
const SIGNER_HEADERS: [&str; 4] = [
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "x-amz-region-set",
];

/// Bit `n` is set when some name in [`DEFAULT_EXCLUDED_HEADERS`] or [`SIGNER_HEADERS`]
/// is `n` bytes long (all are shorter than 64).
const EXCLUDED_LENGTHS: u64 = {
    let mut mask = 0u64;
    let mut i = 0;
    while i < DEFAULT_EXCLUDED_HEADERS.len() {
        mask |= 1 << DEFAULT_EXCLUDED_HEADERS[i].len();
        i += 1;
    }
    let mut i = 0;
    while i < SIGNER_HEADERS.len() {
        mask |= 1 << SIGNER_HEADERS[i].len();
        i += 1;
    }
    mask
};

/// Headers the signer never signs: the default list, the caller's exclusions, and
/// headers the signer sets itself (their values are replaced, never signed twice).
fn is_excluded(name: &str, settings: &SigningSettings, own_content_sha: bool, v4a: bool) -> bool {
    // Fast path: a name whose length no built-in or signer-owned name has (`host`,
    // `content-type`, ...) is excluded only by the caller's list.
    let len_possible = name.len() < 64 && EXCLUDED_LENGTHS & (1 << name.len()) != 0;
    if !len_possible {
        return settings
            .excluded_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name));
    }
    DEFAULT_EXCLUDED_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("x-amz-date")
        || name.eq_ignore_ascii_case("x-amz-security-token")
        || (own_content_sha && name.eq_ignore_ascii_case("x-amz-content-sha256"))
        || (v4a && name.eq_ignore_ascii_case("x-amz-region-set"))
        || settings
            .excluded_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests;
