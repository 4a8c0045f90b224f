//! Debugging help for signature failures: when the upstream answers 403 with
//! `SignatureDoesNotMatch`, `IncompleteSignature` or `InvalidSignatureException`, log at
//! warn the canonical request and string to sign the proxy used (the session token
//! redacted; keys are never in them), like aws-sigv4-proxy's `--log-failed-requests`.
//!
//! The error code is looked for in the `x-amzn-errortype` header, then in a bounded
//! prefix of the body ([`PEEK_BYTES`]); the prefix is sent on to the client unchanged,
//! so the body is never buffered whole.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;

use super::body::Upstream;
use super::error::BoxError;
use crate::credentials::Credentials;
use crate::sigv4::SigningOutput;

/// How much of a 403 body is read to find the error code.
pub(crate) const PEEK_BYTES: usize = 4096;

const CODES: [&str; 3] = [
    "SignatureDoesNotMatch",
    "IncompleteSignature",
    "InvalidSignatureException",
];

/// What was signed, kept until the upstream answered. Redaction happens only when a
/// failure is logged, so the common path pays nothing beyond keeping the output.
#[derive(Debug)]
pub(crate) struct Signed {
    output: SigningOutput,
    credentials: Arc<Credentials>,
}

impl Signed {
    /// Keeps a signature's output and the credentials it used (for the token to redact).
    pub(crate) fn new(output: SigningOutput, credentials: Arc<Credentials>) -> Self {
        Self {
            output,
            credentials,
        }
    }

    /// The signer's output: the headers to send with the request.
    pub(crate) fn output(&self) -> &SigningOutput {
        &self.output
    }

    /// The canonical request, with the session token redacted.
    pub(crate) fn canonical_request(&self) -> String {
        redact(
            self.output.canonical_request(),
            self.credentials.session_token(),
        )
    }

    /// The string to sign, with the session token redacted (it never holds one, but
    /// the rule is the same for everything this module logs).
    pub(crate) fn string_to_sign(&self) -> String {
        redact(
            self.output.string_to_sign(),
            self.credentials.session_token(),
        )
    }
}

fn redact(text: &str, token: Option<&str>) -> String {
    match token {
        Some(t) if !t.is_empty() => text.replace(t, crate::secret::REDACTED),
        _ => text.to_owned(),
    }
}

/// True when the response might be a signature failure worth a peek at its body.
pub(crate) fn is_candidate(status: StatusCode) -> bool {
    status == StatusCode::FORBIDDEN
}

/// The signature error code named in `headers` or `body_prefix`, if any.
pub(crate) fn signature_error(headers: &HeaderMap, body_prefix: &[u8]) -> Option<&'static str> {
    if let Some(t) = headers
        .get("x-amzn-errortype")
        .and_then(|v| v.to_str().ok())
    {
        // "SignatureDoesNotMatch:http://internal.amazon.com/coral/..." is usual.
        let code = t.split(':').next().unwrap_or(t);
        if let Some(c) = CODES.iter().find(|c| **c == code) {
            return Some(c);
        }
    }
    let text = String::from_utf8_lossy(body_prefix);
    CODES.iter().find(|c| text.contains(**c)).copied()
}

/// Reads up to [`PEEK_BYTES`] of `body`: returns the bytes read and whether the body
/// ended. The caller sends the prefix on before the rest.
pub(crate) async fn peek(body: &mut Upstream) -> Result<(Bytes, bool), BoxError> {
    let mut buf = BytesMut::new();
    while buf.len() < PEEK_BYTES {
        match body.frame().await {
            None => return Ok((buf.freeze(), true)),
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    buf.extend_from_slice(&data);
                }
            }
        }
    }
    Ok((buf.freeze(), false))
}

/// Logs the failed signature's steps at warn (Debug-quoted: one line, newlines escaped).
pub(crate) fn log_failure(code: &str, route: &str, signed: &Signed) {
    tracing::warn!(
        route,
        error_code = code,
        canonical_request = ?signed.canonical_request(),
        string_to_sign = ?signed.string_to_sign(),
        "upstream rejected the signature; canonical request and string to sign follow (compare with the upstream's error message)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_code_in_the_header_or_the_body_and_redacts_the_token() {
        let mut h = HeaderMap::new();
        assert_eq!(signature_error(&h, b"<Code>AccessDenied</Code>"), None);
        assert_eq!(
            signature_error(&h, b"<Error><Code>SignatureDoesNotMatch</Code>"),
            Some("SignatureDoesNotMatch")
        );
        h.insert(
            "x-amzn-errortype",
            http::HeaderValue::from_static("InvalidSignatureException:http://x"),
        );
        assert_eq!(signature_error(&h, b""), Some("InvalidSignatureException"));
        let creds = Arc::new(Credentials::new(
            "ASIAEXAMPLE",
            "secret",
            Some("TOK123".into()),
            None,
            "test",
        ));
        let settings = crate::sigv4::SigningSettings::default();
        let params = crate::sigv4::SigningParams::new(
            &creds,
            "us-east-1",
            "service",
            std::time::UNIX_EPOCH,
            &settings,
        );
        let req = crate::sigv4::SignableRequest::new(
            "GET",
            "/",
            vec![("host", "example.amazonaws.com")],
            crate::sigv4::PayloadHash::Bytes(b""),
        );
        let output = crate::sigv4::sign(&req, &params).unwrap();
        assert!(output.canonical_request().contains("TOK123"));
        let s = Signed::new(output, creds);
        assert!(!s.canonical_request().contains("TOK123"));
        assert!(s
            .canonical_request()
            .contains("x-amz-security-token:** redacted **"));
    }
}
