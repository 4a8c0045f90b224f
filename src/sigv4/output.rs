//! [`SigningOutput`]: the signature, every intermediate step, and how to apply it.

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

impl SigningOutput {
    /// Sets [`Self::headers`] on `headers` (replacing any existing values) and marks
    /// `authorization` and `x-amz-security-token` sensitive.
    pub fn apply_to_headers(&self, headers: &mut http::HeaderMap) -> Result<(), SignError> {
        let _ = headers;
        todo!("issue 2")
    }

    /// The signed path and query for query-mode signing: `path_and_query` with
    /// [`Self::query_params`] appended.
    pub fn presigned_path_and_query(&self, path_and_query: &str) -> String {
        let _ = path_and_query;
        todo!("issue 2")
    }
}
