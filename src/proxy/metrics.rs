//! [`Metrics`]: the proxy's counters, gauges and histograms, and their Prometheus text
//! exposition (written by hand: a few dozen series do not need a crate).
//!
//! Everything on the request path is a relaxed atomic add; per-route series live in a
//! table built once from the configuration and are found by [`RouteSlot`] (an index
//! the route holds), so recording never allocates, locks or hashes. The admin listener
//! ([`super::admin`]) serves [`Metrics::render`].

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use http::Method;

use super::busy_poll::Policy;
use crate::sigv4::SignError;

/// Route label of requests that matched no route.
pub(crate) const NO_ROUTE: &str = "-";

const METHODS: [&str; 8] = [
    "GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "other",
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the upstream latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
const SIGN_REASONS: [&str; 8] = [
    "missing_host",
    "invalid_expiry",
    "invalid_header_value",
    "invalid_time",
    "invalid_payload_hash",
    "invalid_scope",
    "unsupported",
    "other",
];

/// Why hyper answered a request itself, before it reached the proxy's service.
const REJECT_REASONS: [&str; 3] = ["malformed", "head_too_large", "header_timeout"];

/// A request hyper refused on its own (see [`Metrics::rejected`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The request line or a header could not be parsed (400).
    Malformed,
    /// The request head (or its URI) was over the limit (431 / 414).
    HeadTooLarge,
    /// The request head did not arrive within `header_read_timeout` (408 or closed).
    HeaderTimeout,
}

impl Rejection {
    /// The `reason` label, also used in the log line.
    pub(crate) fn reason(self) -> &'static str {
        REJECT_REASONS[self as usize]
    }
}

/// Where a route's series are in [`Metrics`] (routes with the same name share one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RouteSlot(usize);

/// Every metric of one proxy process.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// Per route, in configuration order (stable output); the last is [`NO_ROUTE`].
    routes: Vec<RouteMetrics>,
    /// The route names, index for index with `routes`.
    order: Vec<String>,
    sign_failures: [AtomicU64; SIGN_REASONS.len()],
    rejected: [AtomicU64; REJECT_REASONS.len()],
    active_connections: AtomicI64,
    connections_total: AtomicU64,
    spool: Arc<SpoolStats>,
    busy_poll: Policy,
}

#[derive(Debug, Default)]
struct RouteMetrics {
    requests: [[AtomicU64; CLASSES.len()]; METHODS.len()],
    request_bytes: AtomicU64,
    response_bytes: AtomicU64,
    latency_buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_us: AtomicU64,
    credential_refreshes: AtomicU64,
    credential_failures: AtomicU64,
    /// Address of the last credentials seen, to notice a refresh.
    last_credentials: AtomicUsize,
}

/// Spool files: how many were created, how many are open now.
#[derive(Debug, Default)]
pub(crate) struct SpoolStats {
    total: AtomicU64,
    open: AtomicI64,
}

impl SpoolStats {
    /// Counts a new spool file; the guard counts it closed when dropped.
    pub(crate) fn opened(self: &Arc<Self>) -> SpoolGuard {
        self.total.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed);
        SpoolGuard(self.clone())
    }
}

/// Held by a spool file's owner; see [`SpoolStats::opened`].
#[derive(Debug)]
pub(crate) struct SpoolGuard(Arc<SpoolStats>);

impl Drop for SpoolGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Relaxed);
    }
}

/// Held while a client connection is open; see [`Metrics::connection_opened`].
#[derive(Debug)]
pub(crate) struct ConnectionGuard(Arc<Metrics>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.active_connections.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// Metrics for the routes named `routes` (in order; a repeated name shares the
    /// first one's series).
    pub(crate) fn new<'a>(routes: impl IntoIterator<Item = &'a str>, busy_poll: Policy) -> Self {
        let mut order: Vec<String> = Vec::new();
        for r in routes {
            if r != NO_ROUTE && !order.iter().any(|o| o == r) {
                order.push(r.to_owned());
            }
        }
        order.push(NO_ROUTE.to_owned());
        Self {
            routes: order.iter().map(|_| RouteMetrics::default()).collect(),
            order,
            sign_failures: Default::default(),
            rejected: Default::default(),
            active_connections: AtomicI64::new(0),
            connections_total: AtomicU64::new(0),
            spool: Arc::default(),
            busy_poll,
        }
    }

    /// The slot of the route named `name` (looked up once, when routes are built).
    pub(crate) fn slot(&self, name: &str) -> Option<RouteSlot> {
        self.order.iter().position(|o| o == name).map(RouteSlot)
    }

    /// A route's series; `None` is the [`NO_ROUTE`] series.
    fn route(&self, slot: Option<RouteSlot>) -> Option<&RouteMetrics> {
        match slot {
            Some(RouteSlot(i)) => self.routes.get(i),
            None => self.routes.last(),
        }
    }

    /// The spool counters, for the body layer.
    pub(crate) fn spool(&self) -> &Arc<SpoolStats> {
        &self.spool
    }

    /// Counts a client connection open until the guard drops.
    pub(crate) fn connection_opened(self: &Arc<Self>) -> ConnectionGuard {
        self.connections_total.fetch_add(1, Relaxed);
        self.active_connections.fetch_add(1, Relaxed);
        ConnectionGuard(self.clone())
    }

    /// Counts one finished request.
    pub(crate) fn request(
        &self,
        route: Option<RouteSlot>,
        method: &Method,
        status: u16,
        bytes_in: u64,
        bytes_out: u64,
    ) {
        let Some(r) = self.route(route) else { return };
        let m = METHODS[..7]
            .iter()
            .position(|m| *m == method.as_str())
            .unwrap_or(7);
        let c = usize::from(status / 100).clamp(1, 5) - 1;
        r.requests[m][c].fetch_add(1, Relaxed);
        r.request_bytes.fetch_add(bytes_in, Relaxed);
        r.response_bytes.fetch_add(bytes_out, Relaxed);
    }

    /// Records the time the upstream took to answer (until its response headers).
    pub(crate) fn upstream_latency(&self, route: RouteSlot, d: Duration) {
        let Some(r) = self.route(Some(route)) else {
            return;
        };
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            r.latency_buckets[i].fetch_add(1, Relaxed);
        }
        r.latency_count.fetch_add(1, Relaxed);
        r.latency_sum_us
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Counts a signing failure by its kind.
    pub(crate) fn sign_failure(&self, err: &SignError) {
        let i = match err {
            SignError::MissingHost => 0,
            SignError::InvalidExpiry(_) => 1,
            SignError::InvalidHeaderValue { .. } => 2,
            SignError::InvalidTime => 3,
            SignError::InvalidPayloadHash(_) => 4,
            SignError::InvalidScope { .. } => 5,
            SignError::Unsupported(_) => 6,
            _ => 7,
        };
        self.sign_failures[i].fetch_add(1, Relaxed);
    }

    /// Counts a request that hyper answered itself (400, 408, 414, 431): it never
    /// reached routing, so it is in no route's request count.
    pub(crate) fn rejected(&self, why: Rejection) {
        self.rejected[why as usize].fetch_add(1, Relaxed);
    }

    /// Notes the credentials a request got: a new set (first load or refresh) counts
    /// as a refresh. `id` is the address of the shared credentials.
    pub(crate) fn credentials_ok(&self, route: RouteSlot, id: usize) {
        if let Some(r) = self.route(Some(route)) {
            // A plain load first: the same set on every request is the common case, and
            // a read leaves the cache line shared between the worker threads where a
            // swap would take it over each time.
            if r.last_credentials.load(Relaxed) != id && r.last_credentials.swap(id, Relaxed) != id
            {
                r.credential_refreshes.fetch_add(1, Relaxed);
            }
        }
    }

    /// Counts a request that found no usable credentials.
    pub(crate) fn credentials_failed(&self, route: RouteSlot) {
        if let Some(r) = self.route(Some(route)) {
            r.credential_failures.fetch_add(1, Relaxed);
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail.
        let w = &mut out;
        header(
            w,
            "sigv4_proxy_requests_total",
            "counter",
            "Requests answered, by route, method and status class.",
        );
        for (name, r) in self.order.iter().zip(&self.routes) {
            for (m, method) in METHODS.iter().enumerate() {
                for (c, class) in CLASSES.iter().enumerate() {
                    let n = r.requests[m][c].load(Relaxed);
                    if n > 0 {
                        let _ = writeln!(w, "sigv4_proxy_requests_total{{route=\"{}\",method=\"{method}\",status=\"{class}\"}} {n}", esc(name));
                    }
                }
            }
        }
        self.per_route(
            w,
            "sigv4_proxy_request_bytes_total",
            "counter",
            "Request body bytes received from clients.",
            |r| r.request_bytes.load(Relaxed),
        );
        self.per_route(
            w,
            "sigv4_proxy_response_bytes_total",
            "counter",
            "Response body bytes sent to clients.",
            |r| r.response_bytes.load(Relaxed),
        );
        self.per_route(
            w,
            "sigv4_proxy_credential_refreshes_total",
            "counter",
            "New credentials seen by requests (first load and each refresh).",
            |r| r.credential_refreshes.load(Relaxed),
        );
        self.per_route(
            w,
            "sigv4_proxy_credential_failures_total",
            "counter",
            "Requests answered 503 because credentials were unavailable.",
            |r| r.credential_failures.load(Relaxed),
        );
        header(
            w,
            "sigv4_proxy_upstream_latency_seconds",
            "histogram",
            "Time from sending the signed request until the upstream's response headers.",
        );
        for (name, r) in self.order.iter().zip(&self.routes) {
            let count = r.latency_count.load(Relaxed);
            if name == NO_ROUTE {
                continue;
            }
            let mut cumulative = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cumulative += r.latency_buckets[i].load(Relaxed);
                let _ = writeln!(w, "sigv4_proxy_upstream_latency_seconds_bucket{{route=\"{}\",le=\"{b}\"}} {cumulative}", esc(name));
            }
            let _ = writeln!(
                w,
                "sigv4_proxy_upstream_latency_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {count}",
                esc(name)
            );
            let sum = r.latency_sum_us.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(
                w,
                "sigv4_proxy_upstream_latency_seconds_sum{{route=\"{}\"}} {sum}",
                esc(name)
            );
            let _ = writeln!(
                w,
                "sigv4_proxy_upstream_latency_seconds_count{{route=\"{}\"}} {count}",
                esc(name)
            );
        }
        per_reason(
            w,
            "sigv4_proxy_signing_failures_total",
            "Requests the signer refused, by reason.",
            &SIGN_REASONS,
            &self.sign_failures,
        );
        per_reason(
            w,
            "sigv4_proxy_rejected_requests_total",
            "Requests refused before routing (unparsable, head too large, head too slow), by reason.",
            &REJECT_REASONS,
            &self.rejected,
        );
        header(
            w,
            "sigv4_proxy_active_connections",
            "gauge",
            "Client connections open now.",
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_active_connections {}",
            self.active_connections.load(Relaxed)
        );
        header(
            w,
            "sigv4_proxy_connections_total",
            "counter",
            "Client connections accepted.",
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_connections_total {}",
            self.connections_total.load(Relaxed)
        );
        header(
            w,
            "sigv4_proxy_spooled_bodies_total",
            "counter",
            "Request bodies spooled to a temporary file.",
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_spooled_bodies_total {}",
            self.spool.total.load(Relaxed)
        );
        header(
            w,
            "sigv4_proxy_spool_files_open",
            "gauge",
            "Spool files open now.",
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_spool_files_open {}",
            self.spool.open.load(Relaxed)
        );
        let (sends, submissions) = super::coalesce::counts();
        header(
            w,
            "sigv4_proxy_coalesced_sends_total",
            "counter",
            "Socket writes handed to the kernel together at the end of a worker turn (coalesce_sends).",
        );
        let _ = writeln!(w, "sigv4_proxy_coalesced_sends_total {sends}");
        header(
            w,
            "sigv4_proxy_coalesced_submissions_total",
            "counter",
            "io_uring submissions that carried the coalesced writes (coalesce_sends).",
        );
        let _ = writeln!(w, "sigv4_proxy_coalesced_submissions_total {submissions}");
        header(
            w,
            "sigv4_proxy_busy_polls_total",
            "counter",
            "Busy-polls for a peer's answer (busy_poll_us), by whether the answer came while polling.",
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_busy_polls_total{{result=\"answered\"}} {}",
            self.busy_poll.answered()
        );
        let _ = writeln!(
            w,
            "sigv4_proxy_busy_polls_total{{result=\"missed\"}} {}",
            self.busy_poll.missed()
        );
        out
    }

    fn per_route(
        &self,
        w: &mut String,
        name: &str,
        kind: &str,
        help: &str,
        value: impl Fn(&RouteMetrics) -> u64,
    ) {
        header(w, name, kind, help);
        for (route, r) in self.order.iter().zip(&self.routes) {
            let _ = writeln!(w, "{name}{{route=\"{}\"}} {}", esc(route), value(r));
        }
    }
}

/// A counter with one series per `reason` label, `counts` index for index.
fn per_reason(w: &mut String, name: &str, help: &str, reasons: &[&str], counts: &[AtomicU64]) {
    header(w, name, "counter", help);
    for (reason, n) in reasons.iter().zip(counts) {
        let _ = writeln!(w, "{name}{{reason=\"{reason}\"}} {}", n.load(Relaxed));
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value with `\`, `"` and newlines escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_show_up_in_the_exposition() {
        let m = Arc::new(Metrics::new(
            ["s3", "we\"ird", "s3"],
            Policy::new(Duration::ZERO),
        ));
        let (s3, weird) = (m.slot("s3").expect("s3"), m.slot("we\"ird").expect("weird"));
        assert_eq!(m.slot("nope"), None);
        m.request(Some(s3), &Method::GET, 200, 0, 10);
        m.request(Some(s3), &Method::GET, 204, 0, 0);
        m.request(
            None,
            &Method::from_bytes(b"BREW").expect("method"),
            404,
            3,
            4,
        );
        m.upstream_latency(s3, Duration::from_millis(20));
        m.credentials_ok(s3, 1);
        m.credentials_ok(s3, 1);
        m.credentials_ok(s3, 2);
        m.credentials_failed(weird);
        m.sign_failure(&SignError::MissingHost);
        m.rejected(Rejection::HeadTooLarge);
        let c = m.connection_opened();
        let s = m.spool().opened();
        let text = m.render();
        for line in [
            "sigv4_proxy_requests_total{route=\"s3\",method=\"GET\",status=\"2xx\"} 2",
            "sigv4_proxy_requests_total{route=\"-\",method=\"other\",status=\"4xx\"} 1",
            "sigv4_proxy_response_bytes_total{route=\"s3\"} 10",
            "sigv4_proxy_request_bytes_total{route=\"-\"} 3",
            "sigv4_proxy_upstream_latency_seconds_bucket{route=\"s3\",le=\"0.01\"} 0",
            "sigv4_proxy_upstream_latency_seconds_bucket{route=\"s3\",le=\"0.025\"} 1",
            "sigv4_proxy_upstream_latency_seconds_count{route=\"s3\"} 1",
            "sigv4_proxy_credential_refreshes_total{route=\"s3\"} 2",
            "sigv4_proxy_credential_failures_total{route=\"we\\\"ird\"} 1",
            "sigv4_proxy_signing_failures_total{reason=\"missing_host\"} 1",
            "sigv4_proxy_rejected_requests_total{reason=\"head_too_large\"} 1",
            "sigv4_proxy_rejected_requests_total{reason=\"malformed\"} 0",
            "sigv4_proxy_active_connections 1",
            "sigv4_proxy_spool_files_open 1",
            "sigv4_proxy_spooled_bodies_total 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        drop((c, s));
        let text = m.render();
        assert!(text.contains("sigv4_proxy_active_connections 0\n"));
        assert!(text.contains("sigv4_proxy_spool_files_open 0\n"));
    }
}
