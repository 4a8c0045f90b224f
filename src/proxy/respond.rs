//! The one place where a [`ProxyError`] becomes an HTTP response: its status, and a
//! short text body naming the problem. The error chain goes to the access log, never to
//! the client.

use http::{header, HeaderValue, Response, StatusCode};

use super::body::ResponseBody;
use super::ProxyError;

/// The status for `err`: malformed 400, not allowed 403 (host or client address),
/// proxy credential missing or wrong 407, no route 404, too large 413,
/// credentials 503, upstream connect/TLS 502, upstream timeout 504, anything else 500.
pub(crate) fn status_for(err: &ProxyError) -> StatusCode {
    match err {
        ProxyError::BadRequest(_) | ProxyError::ClientBody(_) | ProxyError::Infer(_) => {
            StatusCode::BAD_REQUEST
        }
        ProxyError::HostNotAllowed { .. } | ProxyError::ClientNotAllowed => StatusCode::FORBIDDEN,
        ProxyError::ProxyAuthRequired(_) => StatusCode::PROXY_AUTHENTICATION_REQUIRED,
        ProxyError::NoRoute { .. } => StatusCode::NOT_FOUND,
        ProxyError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ProxyError::Credentials { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ProxyError::UpstreamConnect { .. } | ProxyError::Upstream { .. } => StatusCode::BAD_GATEWAY,
        ProxyError::UpstreamTimeout { .. } | ProxyError::RequestTimeout { .. } => {
            StatusCode::GATEWAY_TIMEOUT
        }
        ProxyError::Sign(_)
        | ProxyError::Spool(_)
        | ProxyError::Internal(_)
        | ProxyError::Setup { .. } => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The response sent for `err`: [`status_for`] and `sigv4-proxy: <message>` as
/// `text/plain`.
pub(crate) fn error_response(err: &ProxyError) -> Response<ResponseBody> {
    let body = format!("sigv4-proxy: {err}\n");
    let mut resp = Response::new(ResponseBody::full(body.into()));
    *resp.status_mut() = status_for(err);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert("x-sigv4-proxy-error", HeaderValue::from_static("1"));
    if matches!(err, ProxyError::ProxyAuthRequired(_)) {
        for challenge in crate::access::PROXY_AUTHENTICATE_CHALLENGES {
            h.append(
                header::PROXY_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
    }
    resp
}
