//! [`SigningOutput`]: the signature, every intermediate step, and how to apply it.
//!
//! All of an output's text lives in one buffer, and every value (the authorization,
//! the timestamp, each header or query parameter to set, ...) is a range of it. The
//! accessors hand out `&str` slices. One allocation per signature instead of a dozen
//! is a large share of the signer's speed (issue 2: ≤ 1 µs per signature).

use std::fmt;

use super::canonical::is_signer_query_param;
use super::SignError;

/// A byte range of [`SigningOutput`]'s buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Span {
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Span {
    /// The range from `start` to the current end of `buf`.
    pub(super) fn since(buf: &[u8], start: usize) -> Self {
        Self {
            start,
            end: buf.len(),
        }
    }

    /// Appends `s` to `buf` and returns its range.
    pub(super) fn push(buf: &mut Vec<u8>, s: &str) -> Self {
        let start = buf.len();
        buf.extend_from_slice(s.as_bytes());
        Self::since(buf, start)
    }
}

/// Most headers or query parameters a signature adds (query mode: algorithm,
/// credential, date, signed headers, expires, token, region set, signature).
pub(super) const MAX_PARAMS: usize = 8;

/// The result of signing: what to add to the request, and every intermediate value
/// (the fields users know from aws4, botocore and aws.signature), through accessors.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningOutput {
    /// Every value below, back to back (some overlap: the signature is the tail of the
    /// authorization, the payload hash the tail of the canonical request, ...).
    pub(super) buf: String,
    pub(super) authorization: Span,
    pub(super) timestamp: Span,
    pub(super) signature: Span,
    pub(super) canonical_request: Span,
    pub(super) string_to_sign: Span,
    pub(super) credential: Span,
    pub(super) credential_scope: Span,
    pub(super) signed_headers: Span,
    pub(super) payload_hash: Span,
    /// Header mode: headers to set; query mode: query parameters to append.
    pub(super) params: [(&'static str, Span); MAX_PARAMS],
    pub(super) n_params: usize,
    /// True for query (presigned) signing.
    pub(super) query_mode: bool,
}

impl SigningOutput {
    fn get(&self, span: Span) -> &str {
        // Spans are only ever made by the signer from ranges it appended to `buf`,
        // on char boundaries; `get` keeps this total anyway.
        self.buf.get(span.start..span.end).unwrap_or_default()
    }

    fn params(&self) -> impl ExactSizeIterator<Item = (&'static str, &str)> + '_ {
        self.params[..self.n_params]
            .iter()
            .map(|&(name, span)| (name, self.get(span)))
    }

    /// The `Authorization` header value (empty for query signing).
    pub fn authorization(&self) -> &str {
        self.get(self.authorization)
    }

    /// The `X-Amz-Date` value, e.g. `20150830T123600Z`.
    pub fn timestamp(&self) -> &str {
        self.get(self.timestamp)
    }

    /// The hex signature (HMAC for SigV4, DER ECDSA for SigV4a).
    pub fn signature(&self) -> &str {
        self.get(self.signature)
    }

    /// The canonical request.
    pub fn canonical_request(&self) -> &str {
        self.get(self.canonical_request)
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> &str {
        self.get(self.string_to_sign)
    }

    /// `AKID/credential-scope`.
    pub fn credential(&self) -> &str {
        self.get(self.credential)
    }

    /// `20150830/us-east-1/service/aws4_request` (SigV4a has no region).
    pub fn credential_scope(&self) -> &str {
        self.get(self.credential_scope)
    }

    /// `host;x-amz-date`.
    pub fn signed_headers(&self) -> &str {
        self.get(self.signed_headers)
    }

    /// The payload hash used (hex, or `UNSIGNED-PAYLOAD`, or a streaming marker).
    pub fn payload_hash(&self) -> &str {
        self.get(self.payload_hash)
    }

    /// Header mode: the headers to set on the request (lower-case names), in order
    /// (`authorization` last). Empty in query mode.
    pub fn headers(&self) -> impl ExactSizeIterator<Item = (&'static str, &str)> + '_ {
        let n = if self.query_mode { 0 } else { self.n_params };
        self.params().take(n)
    }

    /// True when a request header named `name` (lower-case) must not be sent beside
    /// [`Self::headers`]: one of them, or one the signer owns (`authorization`,
    /// `x-amz-date`, `x-amz-security-token`). [`Self::apply_to_headers`] removes these;
    /// a writer that sends [`Self::headers`] after the request's own skips them.
    pub fn replaces_header(&self, name: &str) -> bool {
        SIGNER_OWNED_HEADERS.iter().any(|h| h.as_str() == name)
            || self.headers().any(|(n, _)| n == name)
    }

    /// Checks that every value in [`Self::headers`] can be sent as a header value
    /// (visible ASCII, spaces and tabs; no control characters, so no line breaks): the
    /// session token comes from a credential source and is not checked elsewhere.
    pub fn check_header_values(&self) -> Result<(), SignError> {
        for (name, value) in self.headers() {
            // No early exit, so the loop is vectorised: this runs on every request.
            let bad = value.bytes().fold(false, |bad, b| {
                bad | ((b < b' ') & (b != b'\t')) | (b == 0x7f)
            });
            if bad {
                return Err(SignError::InvalidHeaderValue {
                    name: name.to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The value of the header named `name` (lower-case) in [`Self::headers`].
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Query mode: the query parameters to append, already percent-encoded, in order
    /// (`X-Amz-Signature` last). Empty in header mode.
    pub fn query_params(&self) -> impl ExactSizeIterator<Item = (&'static str, &str)> + '_ {
        let n = if self.query_mode { self.n_params } else { 0 };
        self.params().take(n)
    }
}

impl fmt::Debug for SigningOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The session token is a credential: never print it.
        let redacted = |(n, v): (&'static str, &str)| -> (&'static str, String) {
            if n.eq_ignore_ascii_case("x-amz-security-token") {
                (n, crate::secret::REDACTED.to_owned())
            } else {
                (n, v.to_owned())
            }
        };
        f.debug_struct("SigningOutput")
            .field("authorization", &self.authorization())
            .field("timestamp", &self.timestamp())
            .field("signature", &self.signature())
            .field("credential", &self.credential())
            .field("credential_scope", &self.credential_scope())
            .field("signed_headers", &self.signed_headers())
            .field("payload_hash", &self.payload_hash())
            .field("headers", &self.headers().map(redacted).collect::<Vec<_>>())
            .field(
                "query_params",
                &self.query_params().map(redacted).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Headers the signer owns: removed from the request before [`SigningOutput::headers`]
/// are set, so a stale client value is never sent next to (or instead of) ours.
const SIGNER_OWNED_HEADERS: [http::HeaderName; 3] = [
    http::header::AUTHORIZATION,
    X_AMZ_DATE,
    X_AMZ_SECURITY_TOKEN,
];
const X_AMZ_DATE: http::HeaderName = http::HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: http::HeaderName =
    http::HeaderName::from_static("x-amz-security-token");
/// `x-amz-content-sha256`, as a header name (also read by the proxy's framing check).
pub(crate) const X_AMZ_CONTENT_SHA256: http::HeaderName =
    http::HeaderName::from_static("x-amz-content-sha256");
const X_AMZ_REGION_SET: http::HeaderName = http::HeaderName::from_static("x-amz-region-set");

/// The header name for one of the signer's own (lower-case, static) names, parsed at
/// compile time for the ones the signer sets.
fn header_name(name: &'static str) -> http::HeaderName {
    match name {
        "authorization" => http::header::AUTHORIZATION,
        "x-amz-date" => X_AMZ_DATE,
        "x-amz-security-token" => X_AMZ_SECURITY_TOKEN,
        "x-amz-content-sha256" => X_AMZ_CONTENT_SHA256,
        "x-amz-region-set" => X_AMZ_REGION_SET,
        other => http::HeaderName::from_static(other),
    }
}

impl SigningOutput {
    /// Sets [`Self::headers`] on `headers` (replacing any existing values) and marks
    /// `authorization` and `x-amz-security-token` sensitive.
    ///
    /// Any `authorization`, `x-amz-date` or `x-amz-security-token` already on the
    /// request is removed first, also when this output does not set it.
    pub fn apply_to_headers(&self, headers: &mut http::HeaderMap) -> Result<(), SignError> {
        // One copy of the output backs every value (a header value per allocation
        // cost more than the map updates). Validate everything before touching the
        // map, so a failure leaves it as it was.
        let shared = bytes::Bytes::copy_from_slice(self.buf.as_bytes());
        let n = self.headers().len();
        let mut values: [Option<(http::HeaderName, http::HeaderValue)>; MAX_PARAMS] =
            [const { None }; MAX_PARAMS];
        for (slot, &(name, span)) in values.iter_mut().zip(&self.params[..n]) {
            // Spans are ranges the signer appended to `buf` (see `get`); an invalid
            // one would give an empty value, never a panic.
            let range = if span.start <= span.end && span.end <= shared.len() {
                span.start..span.end
            } else {
                0..0
            };
            let mut v =
                http::HeaderValue::from_maybe_shared(shared.slice(range)).map_err(|_| {
                    SignError::InvalidHeaderValue {
                        name: name.to_owned(),
                    }
                })?;
            if matches!(name, "authorization" | "x-amz-security-token") {
                v.set_sensitive(true);
            }
            *slot = Some((header_name(name), v));
        }
        for owned in &SIGNER_OWNED_HEADERS {
            if !values.iter().flatten().any(|(name, _)| name == owned) {
                headers.remove(owned);
            }
        }
        for (name, value) in values.into_iter().flatten() {
            headers.insert(name, value);
        }
        Ok(())
    }

    /// The signed path and query for query-mode signing: `path_and_query` with
    /// [`Self::query_params`] appended. Any signer parameters already in the query
    /// (`X-Amz-Signature`, `X-Amz-Date`, ...) are dropped, as they were when signing.
    pub fn presigned_path_and_query(&self, path_and_query: &str) -> String {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, q),
            None => (path_and_query, ""),
        };
        let extra: usize = self
            .query_params()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let mut out = String::with_capacity(path_and_query.len() + extra + 1);
        out.push_str(if path.is_empty() { "/" } else { path });
        let mut sep = '?';
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            if is_signer_query_param(pair) {
                continue;
            }
            out.push(sep);
            out.push_str(pair);
            sep = '&';
        }
        for (k, v) in self.query_params() {
            out.push(sep);
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            sep = '&';
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use crate::credentials::Credentials;
    use crate::sigv4::{
        sign, PayloadHash, SignError, SignableRequest, SigningParams, SigningSettings,
    };

    fn signed_with_token(token: &str) -> super::SigningOutput {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some(token.into()), None, "test");
        let settings = SigningSettings::default();
        let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let params = SigningParams::new(&creds, "us-east-1", "s3", time, &settings);
        let request =
            SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Bytes(b""));
        sign(&request, &params).unwrap()
    }

    #[test]
    fn a_value_that_would_split_the_head_is_refused() {
        let ok = signed_with_token("FwoGZXIvYXdzEBY/token+with=base64");
        ok.check_header_values().unwrap();
        assert!(ok.replaces_header("x-amz-security-token"));
        assert!(ok.replaces_header("authorization") && ok.replaces_header("x-amz-date"));
        assert!(!ok.replaces_header("x-custom"));

        let bad = signed_with_token("token\r\nx-injected: 1");
        let err = bad.check_header_values().unwrap_err();
        assert!(
            matches!(&err, SignError::InvalidHeaderValue { name } if name == "x-amz-security-token"),
            "{err}"
        );
        let mut headers = http::HeaderMap::new();
        assert!(bad.apply_to_headers(&mut headers).is_err());
        assert!(headers.is_empty(), "nothing applied");
    }
}
