//! [`AccessLog`]: the one log line per request. It is filled in as the request
//! progresses and written when dropped, i.e. when the response body has been sent (or
//! the client went away), so the byte counts and duration cover the whole exchange.

use std::sync::Arc;
use std::time::Instant;

use http::uri::PathAndQuery;
use http::Method;

use super::metrics::{Metrics, RouteSlot};
use super::request_id::RequestId;

/// The fields of one access-log line. Never holds the query string (presigned URLs carry
/// signatures there) or any header value.
#[derive(Debug)]
pub(crate) struct AccessLog {
    pub(crate) listener: Arc<str>,
    pub(crate) method: Method,
    pub(crate) path: LogPath,
    pub(crate) route: Option<Arc<str>>,
    /// The route's metrics series (none: the request matched no route).
    pub(crate) route_slot: Option<RouteSlot>,
    pub(crate) upstream: Option<Arc<str>>,
    pub(crate) upstream_status: Option<u16>,
    pub(crate) status: u16,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    pub(crate) error: Option<String>,
    /// The request id (also in the span and the response header).
    pub(crate) request_id: RequestId,
    /// Where the finished request is counted.
    pub(crate) metrics: Option<Arc<Metrics>>,
    started: Instant,
}

impl AccessLog {
    /// A record for a request that just arrived.
    pub(crate) fn new(listener: Arc<str>, method: Method, path: LogPath, id: RequestId) -> Self {
        Self {
            listener,
            method,
            path,
            route: None,
            route_slot: None,
            upstream: None,
            upstream_status: None,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            error: None,
            request_id: id,
            metrics: None,
            started: Instant::now(),
        }
    }
}

/// What a log line shows as the request's path.
#[derive(Debug)]
pub(crate) enum LogPath {
    /// The path of the request's own path-and-query (shared with its URI, not copied;
    /// the query is never shown).
    Request(PathAndQuery),
    /// A target described otherwise (a `CONNECT` authority).
    Text(String),
}

impl std::fmt::Display for LogPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Request(pq) => f.write_str(pq.path()),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        if let Some(m) = &self.metrics {
            m.request(
                self.route_slot,
                &self.method,
                self.status,
                self.bytes_in,
                self.bytes_out,
            );
        }
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let route = self.route.as_deref().unwrap_or("-");
        let upstream = self.upstream.as_deref().unwrap_or("-");
        let upstream_status = self.upstream_status.unwrap_or(0);
        match &self.error {
            None => tracing::info!(
                target: "sigv4_proxy::access",
                listener = %self.listener,
                method = %self.method,
                path = %self.path,
                route,
                upstream,
                upstream_status,
                status = self.status,
                bytes_in = self.bytes_in,
                bytes_out = self.bytes_out,
                duration_ms,
                request_id = self.request_id.as_str(),
                "request"
            ),
            Some(error) => tracing::warn!(
                target: "sigv4_proxy::access",
                listener = %self.listener,
                method = %self.method,
                path = %self.path,
                route,
                upstream,
                upstream_status,
                status = self.status,
                bytes_in = self.bytes_in,
                bytes_out = self.bytes_out,
                duration_ms,
                error = %error,
                request_id = self.request_id.as_str(),
                "request failed"
            ),
        }
    }
}
