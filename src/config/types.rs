//! The validated configuration types: what [`super::Config::from_raw`] produces and
//! the proxy consumes. Typed (`SocketAddr`, `HeaderName`, loaded certificates), no
//! strings left to interpret.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

use crate::credentials::CredentialsConfig;

/// Hosts a forward-mode route signs for when it names none: AWS domains only.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &[
    "*.amazonaws.com",
    "*.amazonaws.com.cn",
    "*.api.aws",
    "*.on.aws",
];

/// Client headers stripped before signing unless a route passes them through.
pub(crate) const CLIENT_AUTH_HEADERS: &[&str] = &[
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// A validated configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The file it came from (`<command line>` for flags only).
    pub source: PathBuf,
    /// The listeners, in file order.
    pub listeners: Vec<ListenerConfig>,
    /// Request body buffering and limits.
    pub body: BodyLimits,
    /// Upstream client settings.
    pub upstream: UpstreamSettings,
    /// Connection overrides.
    pub connect_to: ConnectTo,
    /// Admin listener, shutdown, logs, limits and client timeouts.
    pub ops: super::Operations,
}

/// One listener: where to listen and how to route.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ListenerConfig {
    /// Name for logs.
    pub name: String,
    /// The address to bind.
    pub listen: SocketAddr,
    /// Reverse or forward proxying.
    pub mode: ListenerMode,
    /// The routes, in file order (at least one).
    pub routes: Vec<RouteConfig>,
    /// TLS, `CONNECT` and access-control settings (issue 6).
    pub gateway: GatewayConfig,
}

/// A listener's TLS, `CONNECT` and access-control settings. The default is a plain-HTTP
/// loopback listener without `CONNECT` handling, open to every local client.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Serve HTTPS with this certificate and key (`tls`).
    pub tls: Option<crate::tls::server_config::ListenerIdentity>,
    /// Intercept `CONNECT` to allow-listed hosts with leaves from this CA (`intercept`).
    pub intercept: Option<crate::tls::ca::CaPaths>,
    /// `CONNECT` to these hosts is relayed blindly (`tunnel_hosts`).
    pub tunnel_hosts: Vec<HostPattern>,
    /// Who may use the listener (`proxy_auth`, `allowed_clients`).
    pub access: crate::access::AccessPolicy,
    /// Whether a non-loopback address was allowed (`allow_non_loopback`).
    pub exposure: crate::access::Exposure,
}

/// How a listener finds the upstream of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ListenerMode {
    /// From the route table (`Host` and path prefix) to a configured upstream URL.
    Reverse,
    /// From the request's absolute URI (`HTTP_PROXY` clients), checked against an
    /// allow-list.
    Forward,
}

/// Whether the request body is hashed into the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadMode {
    /// SHA-256 of the body (buffered in memory or spooled to disk while hashing).
    Signed,
    /// `UNSIGNED-PAYLOAD` (S3): bodies with a known length stream straight through.
    Unsigned,
}

/// Which scheme forward mode uses upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardScheme {
    /// Always TLS: `http://` from the client becomes `https://` (port 80 becomes 443).
    Https,
    /// Whatever the client asked for.
    Client,
}

/// One route.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RouteConfig {
    /// Name for logs.
    pub name: String,
    /// What the route matches and where it goes.
    pub target: RouteTarget,
    /// Signing service; `None` means infer it from each request's host (forward mode).
    pub service: Option<String>,
    /// Signing region; `None` means infer it from each request's host (forward mode).
    pub region: Option<String>,
    /// Payload signing mode.
    pub payload: PayloadMode,
    /// The `ca_file` this route trusts in addition to the web PKI roots.
    pub ca_file: Option<PathBuf>,
    /// The certificates loaded from `ca_file`.
    pub extra_ca: Vec<CertificateDer<'static>>,
    /// Headers set on every upstream request (signed).
    pub add_headers: Vec<(HeaderName, HeaderValue)>,
    /// Headers removed from every upstream request.
    pub remove_headers: Vec<HeaderName>,
    /// Client auth headers kept instead of stripped.
    pub pass_through_headers: Vec<HeaderName>,
    /// Lower-case names of headers forwarded but not signed.
    pub unsigned_headers: Vec<String>,
    /// Where credentials come from.
    pub credentials: CredentialsConfig,
}

/// What a route matches and where it sends requests.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RouteTarget {
    /// Reverse mode.
    Reverse {
        /// Match only this `Host` (lower-case, no port); any host when `None`.
        host: Option<String>,
        /// Match only paths starting with this.
        path_prefix: String,
        /// Where to send matching requests.
        upstream: UpstreamUrl,
    },
    /// Forward mode.
    Forward {
        /// Hosts that may be signed.
        allowed_hosts: Vec<HostPattern>,
        /// Which scheme to use upstream.
        scheme: ForwardScheme,
    },
}

/// A reverse-mode upstream base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UpstreamUrl {
    /// `true` for `https`.
    pub tls: bool,
    /// Host name or IP literal (IPv6 without brackets), lower-case.
    pub host: String,
    /// Port (defaulted from the scheme).
    pub port: u16,
    /// Path prepended to every request path, without a trailing `/` (often empty).
    pub base_path: String,
}

impl UpstreamUrl {
    /// `host` or `host:port` when the port is not the scheme's default (the `Host`
    /// header value).
    pub fn authority(&self) -> String {
        authority(&self.host, self.port, self.tls)
    }
}

/// `host[:port]` with IPv6 brackets, omitting the scheme's default port.
pub(crate) fn authority(host: &str, port: u16, tls: bool) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    if port == if tls { 443 } else { 80 } {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// A host allow-list entry: `*.example.com` (any subdomain, not the bare domain) or an
/// exact name. Case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// Parses a pattern.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let p = pattern.trim().to_ascii_lowercase();
        let name = p.strip_prefix("*.").unwrap_or(&p);
        if name.is_empty()
            || name.contains('*')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(format!(
                "{pattern:?} is not a host pattern (expected a name like s3.amazonaws.com or *.amazonaws.com)"
            ));
        }
        Ok(Self(p))
    }

    /// The pattern, lower-case.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True when `host` (lower-case, no port) matches.
    pub fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == self.0,
        }
    }
}

/// Body buffering and limits.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct BodyLimits {
    /// Bodies up to this many bytes stay in memory.
    pub memory_threshold_bytes: u64,
    /// Bodies over this many bytes get 413.
    pub max_bytes: u64,
    /// Where spool files are created (`None`: the system temp directory).
    pub spool_dir: Option<PathBuf>,
}

/// Upstream client settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UpstreamSettings {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Upstream silence allowed after the last request bytes sent, until the response
    /// headers.
    pub response_timeout: Duration,
    /// Idle pooled connections are closed after this.
    pub pool_idle_timeout: Duration,
}

/// `connect_to` overrides: `(host, port)` → `(host, port)` to actually connect to. A
/// host may be a pattern `*.example.com` (any subdomain, e.g. S3 virtual-hosted bucket
/// names); an exact entry wins over a pattern.
#[derive(Debug, Clone, Default)]
pub struct ConnectTo {
    map: HashMap<(String, u16), (String, u16)>,
}

impl ConnectTo {
    /// Where to connect for `host:port` (`None`: connect there directly).
    pub fn lookup(&self, host: &str, port: u16) -> Option<(&str, u16)> {
        let host = host.to_ascii_lowercase();
        let found = self.map.get(&(host.clone(), port)).or_else(|| {
            // Parent domains, nearest first: a.b.example.com → *.b.example.com, ...
            let mut rest = host.as_str();
            while let Some((_, parent)) = rest.split_once('.') {
                if let Some(hit) = self.map.get(&(format!("*.{parent}"), port)) {
                    return Some(hit);
                }
                rest = parent;
            }
            None
        });
        found.map(|(h, p)| (h.as_str(), *p))
    }

    /// Adds an override.
    pub fn insert(&mut self, from: (String, u16), to: (String, u16)) {
        self.map.insert((from.0.to_ascii_lowercase(), from.1), to);
    }
}
