//! [`SigningOutput`]: the signature, every intermediate step, and how to apply it.

use super::canonical::is_signer_query_param;
use super::SignError;

/// The result of signing: what to add to the request, and every intermediate value
/// (the fields users know from aws4, botocore and aws.signature).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningOutput {
    /// The `Authorization` header value (empty for query signing).
    pub authorization: String,
    /// The `X-Amz-Date` value, e.g. `20150830T123600Z`.
    pub timestamp: String,
    /// The hex signature (HMAC for SigV4, DER ECDSA for SigV4a).
    pub signature: String,
    /// The canonical request.
    pub canonical_request: String,
    /// The string to sign.
    pub string_to_sign: String,
    /// `AKID/credential-scope`.
    pub credential: String,
    /// `20150830/us-east-1/service/aws4_request` (SigV4a has no region).
    pub credential_scope: String,
    /// `host;x-amz-date`.
    pub signed_headers: String,
    /// The payload hash used (hex, or `UNSIGNED-PAYLOAD`, or a streaming marker).
    pub payload_hash: String,
    /// Header mode: the headers to set on the request (lower-case names), in order.
    pub headers: Vec<(&'static str, String)>,
    /// Query mode: the query parameters to append, already percent-encoded, in order
    /// (`X-Amz-Signature` last).
    pub query_params: Vec<(&'static str, String)>,
}

/// Headers the signer owns: removed from the request before [`SigningOutput::headers`]
/// are set, so a stale client value is never sent next to (or instead of) ours.
const SIGNER_OWNED_HEADERS: &[&str] = &["authorization", "x-amz-date", "x-amz-security-token"];

impl SigningOutput {
    /// Sets [`Self::headers`] on `headers` (replacing any existing values) and marks
    /// `authorization` and `x-amz-security-token` sensitive.
    ///
    /// Any `authorization`, `x-amz-date` or `x-amz-security-token` already on the
    /// request is removed first, also when this output does not set it.
    pub fn apply_to_headers(&self, headers: &mut http::HeaderMap) -> Result<(), SignError> {
        // Validate everything before touching the map, so a failure leaves it as it was.
        let mut values = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let mut v =
                http::HeaderValue::from_str(value).map_err(|_| SignError::InvalidHeaderValue {
                    name: (*name).to_owned(),
                })?;
            if matches!(*name, "authorization" | "x-amz-security-token") {
                v.set_sensitive(true);
            }
            values.push((http::HeaderName::from_static(name), v));
        }
        for name in SIGNER_OWNED_HEADERS {
            headers.remove(*name);
        }
        for (name, value) in values {
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
            .query_params
            .iter()
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
        for (k, v) in &self.query_params {
            out.push(sep);
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            sep = '&';
        }
        out
    }
}
