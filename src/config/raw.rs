//! [`RawConfig`]: `config.toml` exactly as serde reads it. Unknown keys are errors.
//! Nothing here is validated; see [`super::Config::from_raw`].

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::credentials::CredentialsConfig;

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawConfig {
    /// `[[listeners]]`: the addresses to listen on and their routes.
    #[serde(default)]
    pub listeners: Vec<RawListener>,
    /// `[body]`: request body buffering and limits.
    #[serde(default)]
    pub body: RawBody,
    /// `[upstream]`: upstream client settings.
    #[serde(default)]
    pub upstream: RawUpstream,
    /// `[connect_to]`: `"host:port" = "addr:port"` connection overrides (like curl's
    /// `--connect-to`): sign for and send SNI of the real name, connect elsewhere.
    #[serde(default)]
    pub connect_to: BTreeMap<String, String>,
    /// Address of the admin endpoints (`/healthz`, `/readyz`, `/metrics`); off when absent.
    pub admin_listen: Option<String>,
    /// How long in-flight requests may run after SIGTERM/SIGINT (default 30).
    pub shutdown_grace_seconds: Option<u64>,
    /// `"text"` (default) or `"json"`.
    pub log_format: Option<String>,
    /// Threads serving client connections (default: one per CPU).
    pub worker_threads: Option<u64>,
    /// Microseconds a lone client connection busy-polls for a peer's answer before
    /// sleeping (default 200; 0 turns it off).
    pub busy_poll_us: Option<u64>,
    /// Whether worker threads coalesce small socket writes through io_uring (default
    /// true; falls back to plain writes where io_uring is unavailable).
    pub coalesce_sends: Option<bool>,
    /// `[limits]`: client connection limits and timeouts.
    #[serde(default)]
    pub limits: super::RawLimits,
}

/// One `[[listeners]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawListener {
    /// A name for logs; defaults to `listener<N>`.
    pub name: Option<String>,
    /// `"127.0.0.1:8080"`, `"[::1]:8080"` or just `"8080"` (loopback).
    pub listen: Option<String>,
    /// `"reverse"` (default) or `"forward"`.
    pub mode: Option<String>,
    /// `[[listeners.routes]]`.
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    /// `tls = { cert_file, key_file }`: serve HTTPS instead of plain HTTP.
    pub tls: Option<RawListenerTls>,
    /// Forward mode: `intercept = { ca_cert_file, ca_key_file }` answers `CONNECT` to
    /// allow-listed hosts by terminating TLS with leaves issued by this CA.
    pub intercept: Option<RawIntercept>,
    /// Forward mode: host patterns whose `CONNECT` is relayed blindly (not signed).
    pub tunnel_hosts: Option<Vec<String>>,
    /// Must be `true` to listen on a non-loopback address.
    pub allow_non_loopback: Option<bool>,
    /// `proxy_auth = { token = { env = "VAR" }, user = "name" }`: require a
    /// `Proxy-Authorization` credential.
    pub proxy_auth: Option<RawProxyAuth>,
    /// Client networks allowed to use the listener (`["10.0.0.0/8"]`); others get 403.
    pub allowed_clients: Option<Vec<String>>,
}

/// A listener's `tls` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawListenerTls {
    /// PEM certificate chain, leaf first.
    pub cert_file: Option<PathBuf>,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1).
    pub key_file: Option<PathBuf>,
}

/// A listener's `intercept` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawIntercept {
    /// The CA certificate (`certs/ca.cert.pem` from `sigv4-proxy ca init`).
    pub ca_cert_file: Option<PathBuf>,
    /// The CA private key (`certs/ca.key.pem`).
    pub ca_key_file: Option<PathBuf>,
}

/// A listener's `proxy_auth` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawProxyAuth {
    /// Where the token comes from: exactly one of `env`, `file`, `value`.
    pub token: Option<RawTokenSource>,
    /// The user name `Basic` credentials must carry (any when absent).
    pub user: Option<String>,
}

/// `token = { env = "VAR" }`, `{ file = "path" }` or `{ value = "..." }`.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawTokenSource {
    /// An environment variable holding the token.
    pub env: Option<String>,
    /// A file holding the token.
    pub file: Option<PathBuf>,
    /// The token itself (prefer `env` or `file`).
    pub value: Option<String>,
}

impl std::fmt::Debug for RawTokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawTokenSource")
            .field("env", &self.env)
            .field("file", &self.file)
            .field(
                "value",
                &self.value.as_ref().map(|_| crate::secret::REDACTED),
            )
            .finish()
    }
}

/// One `[[listeners.routes]]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawRoute {
    /// A name for logs; defaults to `<listener>/<N>`.
    pub name: Option<String>,
    /// Reverse mode: the upstream base URL (`https://s3.us-east-1.amazonaws.com`).
    pub upstream: Option<String>,
    /// Reverse mode: only requests whose `Host` is this (port ignored).
    pub host: Option<String>,
    /// Reverse mode: only requests whose path starts with this (default `/`).
    pub path_prefix: Option<String>,
    /// Forward mode: host patterns that may be signed (`*.amazonaws.com`, exact names).
    pub allowed_hosts: Option<Vec<String>>,
    /// Forward mode: `"https"` (default; upgrade `http://` requests) or `"client"`.
    pub forward_scheme: Option<String>,
    /// The signing service name; inferred from the host when absent.
    pub service: Option<String>,
    /// The signing region; inferred from the host when absent.
    pub region: Option<String>,
    /// `"signed"` (default; SHA-256 of the body) or `"unsigned"` (`UNSIGNED-PAYLOAD`).
    pub payload: Option<String>,
    /// A PEM file of extra CA certificates trusted for this route's upstream.
    pub ca_file: Option<PathBuf>,
    /// Headers set on every upstream request (before signing, so they are signed).
    #[serde(default)]
    pub add_headers: BTreeMap<String, String>,
    /// Headers removed from every upstream request.
    #[serde(default)]
    pub remove_headers: Vec<String>,
    /// Client headers normally stripped (`authorization`, `x-amz-date`,
    /// `x-amz-security-token`, `x-amz-content-sha256`) that this route keeps.
    #[serde(default)]
    pub pass_through_headers: Vec<String>,
    /// Headers forwarded but left out of the signature.
    #[serde(default)]
    pub unsigned_headers: Vec<String>,
    /// Where this route's credentials come from (default: the standard chain).
    #[serde(default)]
    pub credentials: CredentialsConfig,
}

/// The `[body]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawBody {
    /// Bodies up to this size stay in memory; larger ones are spooled to a temp file.
    pub memory_threshold_bytes: Option<u64>,
    /// Larger bodies are answered with 413.
    pub max_bytes: Option<u64>,
    /// Where spool files go (default: the system temp directory).
    pub spool_dir: Option<PathBuf>,
}

/// The `[upstream]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawUpstream {
    /// TCP connect timeout.
    pub connect_timeout_ms: Option<u64>,
    /// How long the upstream may stay silent after the last request bytes were sent,
    /// before the response headers arrive.
    pub response_timeout_ms: Option<u64>,
    /// How long idle pooled connections are kept.
    pub pool_idle_timeout_ms: Option<u64>,
}
