//! [`ProxyError`]: everything that can go wrong while proxying one request (or setting
//! the proxy up). Turned into an HTTP response in exactly one place,
//! [`super::respond::error_response`].

use std::time::Duration;

use crate::credentials::CredentialsError;
use crate::sigv4::{InferError, SignError};

/// A boxed error from a lower layer (hyper, rustls, I/O).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request could not be proxied. `Display` is the short text sent to the client;
/// the source chain goes to the log only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The request itself is malformed (bad header, bad `Content-Length`, ...).
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// No route of this listener matches the request's host and path.
    #[error("no route for host {host:?} and path {path:?}")]
    NoRoute {
        /// The request's host.
        host: String,
        /// The request's path.
        path: String,
    },
    /// Forward mode: the target host is not on the allow-list.
    #[error(
        "host {host:?} is not on this proxy's allow-list; it signs requests only for allowed hosts"
    )]
    HostNotAllowed {
        /// The host asked for.
        host: String,
    },
    /// The service or region of a forward-mode host cannot be inferred.
    #[error("{0}")]
    Infer(#[from] InferError),
    /// The request body is larger than `body.max_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: u64,
    },
    /// Reading the request body from the client failed (client went away, bad framing).
    #[error("reading the request body failed")]
    ClientBody(#[source] BoxError),
    /// Writing or reading the spool file failed.
    #[error("spooling the request body failed")]
    Spool(#[source] std::io::Error),
    /// The route's credentials could not be had.
    #[error("credentials unavailable for route {route}")]
    Credentials {
        /// The route's name.
        route: String,
        /// Why.
        #[source]
        source: CredentialsError,
    },
    /// The signer refused the request.
    #[error("signing the request failed: {0}")]
    Sign(#[source] SignError),
    /// TCP connect or TLS handshake to the upstream failed.
    #[error("cannot connect to upstream {upstream}")]
    UpstreamConnect {
        /// `host:port`.
        upstream: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The upstream connection failed after connecting (reset, protocol error).
    #[error("upstream {upstream} failed")]
    Upstream {
        /// `host:port`.
        upstream: String,
        /// Why.
        #[source]
        source: BoxError,
    },
    /// The upstream did not answer in time.
    #[error("upstream {upstream} did not answer within {timeout:?}")]
    UpstreamTimeout {
        /// `host:port`.
        upstream: String,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The listener requires a proxy credential and the request's is missing or wrong
    /// (answered 407 with `Proxy-Authenticate` challenges).
    #[error("proxy authentication required ({0:?})")]
    ProxyAuthRequired(crate::access::AuthFailure),
    /// The client's address is not in the listener's `allowed_clients`.
    #[error("client address not allowed to use this proxy")]
    ClientNotAllowed,
    /// The whole request took longer than `limits.request_timeout_ms`.
    #[error("the request did not complete within {timeout:?}")]
    RequestTimeout {
        /// The limit.
        timeout: Duration,
    },
    /// One of the proxy's own tasks failed (it panicked): a bug, never the client's fault.
    #[error("internal error: {0}")]
    Internal(String),
    /// Building the proxy from its configuration failed (credentials, TLS, binding).
    #[error("{what}")]
    Setup {
        /// What failed, e.g. `route s3/0: credentials`.
        what: String,
        /// Why.
        #[source]
        source: BoxError,
    },
}

/// `err` and its sources joined with `: `, for the log.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}
