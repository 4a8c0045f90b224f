//! The adapter from an outgoing `http` request to [`crate::sigv4`]: collects the
//! headers as strings, signs, and checks the signature headers can be sent. Nothing here decides
//! *what* is signed (that is [`super::headers`] and the route); it only refuses to go on
//! when signing fails, so nothing is forwarded unsigned.

use std::time::SystemTime;

use http::{HeaderMap, Method};

use super::error::BoxError;
use super::ProxyError;
use crate::credentials::Credentials;
use crate::sigv4::{
    self, PayloadHash, SignableRequest, SigningKeyCache, SigningOutput, SigningParams,
    SigningSettings,
};

/// What to sign with.
#[derive(Debug)]
pub(crate) struct SignWith<'a> {
    pub(crate) credentials: &'a Credentials,
    pub(crate) service: &'a str,
    pub(crate) region: &'a str,
    pub(crate) settings: &'a SigningSettings,
    pub(crate) key_cache: &'a SigningKeyCache,
}

/// Signs a request whose `headers` already hold `host` and everything to be sent.
/// `path_and_query` is exactly what is sent. Returns the signer's output, whose
/// headers have been checked to be sendable: the caller sends them with the request
/// ([`SigningOutput::apply_to_headers`], or written after the request's own by
/// [`super::h1`]). Its intermediate steps help debug a rejection.
pub(crate) fn sign_request(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    payload: PayloadHash<'_>,
    with: &SignWith<'_>,
) -> Result<SigningOutput, ProxyError> {
    let mut pairs = Vec::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        let value = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            ProxyError::BadRequest(format!("the value of header {name} is not valid UTF-8"))
        })?;
        pairs.push((name.as_str(), value));
    }
    let request = SignableRequest::new(method.as_str(), path_and_query, pairs, payload);
    let params = SigningParams::new(
        with.credentials,
        with.region,
        with.service,
        SystemTime::now(),
        with.settings,
    )
    .with_key_cache(with.key_cache);
    let output = sigv4::sign(&request, &params).map_err(ProxyError::Sign)?;
    // The signer traces the canonical request and string to sign (token redacted).
    output.check_header_values().map_err(ProxyError::Sign)?;
    Ok(output)
}

/// `req` with the signature's headers set, for hyper's clients ([`super::h1`] writes
/// them into the head itself).
pub(crate) fn with_signature<B>(
    mut req: http::Request<B>,
    signed: &SigningOutput,
) -> Result<http::Request<B>, BoxError> {
    signed.apply_to_headers(req.headers_mut())?;
    Ok(req)
}
