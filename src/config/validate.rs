//! [`Config::from_raw`]: checks a [`RawConfig`] field by field and builds the typed
//! [`Config`]; every error names the file, the key and the problem.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustls::pki_types::CertificateDer;

use super::raw::{RawBody, RawConfig, RawListener, RawRoute, RawUpstream};
use super::types::{
    BodyLimits, Config, ConnectTo, ForwardScheme, HostPattern, ListenerConfig, ListenerMode,
    PayloadMode, RouteConfig, RouteTarget, UpstreamSettings, UpstreamUrl, CLIENT_AUTH_HEADERS,
    DEFAULT_ALLOWED_HOSTS,
};
use super::ConfigError;

const DEFAULT_MEMORY_THRESHOLD_BYTES: u64 = 4 * 1024 * 1024;
const DEFAULT_MAX_BODY_BYTES: u64 = 5 * 1024 * 1024 * 1024;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_RESPONSE_TIMEOUT_MS: u64 = 300_000;
const DEFAULT_POOL_IDLE_TIMEOUT_MS: u64 = 90_000;

impl Config {
    /// Reads and validates a `config.toml`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        let raw = RawConfig::parse(&text, path)?;
        Self::from_raw(raw, path)
    }

    /// Validates `raw`, which came from `file` (used in error messages and to resolve
    /// relative `ca_file` paths).
    pub fn from_raw(raw: RawConfig, file: &Path) -> Result<Self, ConfigError> {
        let v = Validator { file };
        if raw.listeners.is_empty() {
            return Err(v.err(
                "listeners",
                "no listeners configured (add a [[listeners]] table, or use --listen/--upstream)",
            ));
        }
        let mut listeners = Vec::with_capacity(raw.listeners.len());
        let mut names = HashSet::new();
        for (i, l) in raw.listeners.iter().enumerate() {
            let l = v.listener(i, l)?;
            if !names.insert(l.name.clone()) {
                return Err(v.err(
                    &format!("listeners[{i}].name"),
                    &format!("duplicate listener name {:?}", l.name),
                ));
            }
            listeners.push(l);
        }
        Ok(Self {
            source: file.to_owned(),
            listeners,
            body: v.body(&raw.body)?,
            upstream: v.upstream(&raw.upstream),
            connect_to: v.connect_to(&raw.connect_to)?,
            ops: super::ops::validate(
                super::ops::RawOps {
                    admin_listen: raw.admin_listen.as_deref(),
                    shutdown_grace_seconds: raw.shutdown_grace_seconds,
                    log_format: raw.log_format.as_deref(),
                    worker_threads: raw.worker_threads,
                    busy_poll_us: raw.busy_poll_us,
                    coalesce_sends: raw.coalesce_sends,
                    limits: &raw.limits,
                },
                &|key, message| v.err(key, message),
                parse_listen,
            )?,
        })
    }
}

impl RawConfig {
    /// Parses TOML text; errors name `file`.
    pub fn parse(text: &str, file: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }
}

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn err(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_owned(),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    fn listener(&self, i: usize, raw: &RawListener) -> Result<ListenerConfig, ConfigError> {
        let key = format!("listeners[{i}]");
        let name = raw.name.clone().unwrap_or_else(|| format!("listener{i}"));
        let listen = match &raw.listen {
            Some(s) => parse_listen(s).map_err(|m| self.err(&format!("{key}.listen"), &m))?,
            None => {
                return Err(self.err(
                    &format!("{key}.listen"),
                    "missing (e.g. listen = \"127.0.0.1:8080\")",
                ))
            }
        };
        let mode = match raw.mode.as_deref() {
            None | Some("reverse") => ListenerMode::Reverse,
            Some("forward") => ListenerMode::Forward,
            Some(other) => {
                return Err(self.err(
                    &format!("{key}.mode"),
                    &format!("{other:?} is not a mode (expected \"reverse\" or \"forward\")"),
                ))
            }
        };
        let mut routes = Vec::new();
        for (j, r) in raw.routes.iter().enumerate() {
            routes.push(self.route(&format!("{key}.routes[{j}]"), &name, j, mode, r)?);
        }
        if routes.is_empty() {
            match mode {
                ListenerMode::Reverse => {
                    return Err(self.err(
                        &format!("{key}.routes"),
                        "a reverse listener needs at least one route with an upstream",
                    ))
                }
                ListenerMode::Forward => routes.push(self.route(
                    &format!("{key}.routes[0]"),
                    &name,
                    0,
                    mode,
                    &RawRoute::default(),
                )?),
            }
        }
        let gateway = self.gateway(&key, raw, mode, listen)?;
        Ok(ListenerConfig {
            name,
            listen,
            mode,
            routes,
            gateway,
        })
    }

    fn route(
        &self,
        key: &str,
        listener: &str,
        j: usize,
        mode: ListenerMode,
        raw: &RawRoute,
    ) -> Result<RouteConfig, ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        let name = raw
            .name
            .clone()
            .unwrap_or_else(|| format!("{listener}/{j}"));
        let target = match mode {
            ListenerMode::Reverse => {
                for (set, field) in [
                    (raw.allowed_hosts.is_some(), "allowed_hosts"),
                    (raw.forward_scheme.is_some(), "forward_scheme"),
                ] {
                    if set {
                        return Err(self.err(
                            &k(field),
                            "only applies to forward listeners (mode = \"forward\")",
                        ));
                    }
                }
                let Some(up) = &raw.upstream else {
                    return Err(self.err(
                        &k("upstream"),
                        "missing (e.g. upstream = \"https://s3.us-east-1.amazonaws.com\")",
                    ));
                };
                let upstream = parse_upstream(up).map_err(|m| self.err(&k("upstream"), &m))?;
                let host = match &raw.host {
                    Some(h) => Some(
                        HostPattern::new(h)
                            .ok()
                            .filter(|p| !p.as_str().starts_with("*."))
                            .map(|p| p.as_str().to_owned())
                            .ok_or_else(|| {
                                self.err(&k("host"), &format!("{h:?} is not a host name"))
                            })?,
                    ),
                    None => None,
                };
                let path_prefix = raw.path_prefix.clone().unwrap_or_else(|| "/".into());
                if !path_prefix.starts_with('/') {
                    return Err(self.err(&k("path_prefix"), "must start with /"));
                }
                RouteTarget::Reverse {
                    host,
                    path_prefix,
                    upstream,
                }
            }
            ListenerMode::Forward => {
                for (set, field) in [
                    (raw.upstream.is_some(), "upstream"),
                    (raw.host.is_some(), "host"),
                    (raw.path_prefix.is_some(), "path_prefix"),
                ] {
                    if set {
                        return Err(self.err(&k(field), "only applies to reverse listeners (forward listeners take the host from the request; use allowed_hosts)"));
                    }
                }
                let patterns: Vec<String> = match &raw.allowed_hosts {
                    Some(list) => list.clone(),
                    None => DEFAULT_ALLOWED_HOSTS
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                };
                if patterns.is_empty() {
                    return Err(self.err(&k("allowed_hosts"), "is empty: nothing could be signed"));
                }
                let allowed_hosts = patterns
                    .iter()
                    .map(|p| HostPattern::new(p))
                    .collect::<Result<_, _>>()
                    .map_err(|m| self.err(&k("allowed_hosts"), &m))?;
                let scheme = match raw.forward_scheme.as_deref() {
                    None | Some("https") => ForwardScheme::Https,
                    Some("client") => ForwardScheme::Client,
                    Some(o) => {
                        return Err(self.err(
                            &k("forward_scheme"),
                            &format!(
                                "{o:?} is not a scheme policy (expected \"https\" or \"client\")"
                            ),
                        ))
                    }
                };
                RouteTarget::Forward {
                    allowed_hosts,
                    scheme,
                }
            }
        };
        let (mut service, mut region) = (raw.service.clone(), raw.region.clone());
        for (v, field) in [(&service, "service"), (&region, "region")] {
            if let Some(v) = v {
                if v.is_empty()
                    || !v
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
                {
                    return Err(self.err(&k(field), &format!("{v:?} is not a valid {field} name")));
                }
            }
        }
        if let RouteTarget::Reverse { upstream, .. } = &target {
            if service.is_none() || region.is_none() {
                let inferred = crate::sigv4::infer_endpoint(&upstream.host).map_err(|e| {
                    let field = if service.is_none() {
                        "service"
                    } else {
                        "region"
                    };
                    self.err(&k(field), &format!("not set and {e}"))
                })?;
                service.get_or_insert(inferred.service);
                region.get_or_insert(inferred.region);
            }
        }
        let payload = match raw.payload.as_deref() {
            None | Some("signed") => PayloadMode::Signed,
            Some("unsigned") => PayloadMode::Unsigned,
            Some(o) => {
                return Err(self.err(
                    &k("payload"),
                    &format!("{o:?} is not a payload mode (expected \"signed\" or \"unsigned\")"),
                ))
            }
        };
        let ca_file = raw.ca_file.as_ref().map(|p| self.resolve(p));
        let extra_ca = match &ca_file {
            Some(p) => load_certs(p).map_err(|m| self.err(&k("ca_file"), &m))?,
            None => Vec::new(),
        };
        let mut add_headers = Vec::new();
        for (name, value) in &raw.add_headers {
            let n = header_name(name).map_err(|m| self.err(&k("add_headers"), &m))?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                self.err(
                    &k("add_headers"),
                    &format!("the value of {name:?} is not a valid header value"),
                )
            })?;
            add_headers.push((n, v));
        }
        let remove_headers = raw
            .remove_headers
            .iter()
            .map(|n| header_name(n))
            .collect::<Result<_, _>>()
            .map_err(|m| self.err(&k("remove_headers"), &m))?;
        let mut pass_through_headers = Vec::new();
        for n in &raw.pass_through_headers {
            let h = header_name(n).map_err(|m| self.err(&k("pass_through_headers"), &m))?;
            if !CLIENT_AUTH_HEADERS.contains(&h.as_str()) {
                return Err(self.err(
                    &k("pass_through_headers"),
                    &format!(
                        "{n:?} is always forwarded; only {} are stripped and can be passed through",
                        CLIENT_AUTH_HEADERS.join(", ")
                    ),
                ));
            }
            pass_through_headers.push(h);
        }
        let unsigned_headers = raw
            .unsigned_headers
            .iter()
            .map(|n| header_name(n).map(|h| h.as_str().to_owned()))
            .collect::<Result<_, _>>()
            .map_err(|m| self.err(&k("unsigned_headers"), &m))?;
        Ok(RouteConfig {
            name,
            target,
            service,
            region,
            payload,
            ca_file,
            extra_ca,
            add_headers,
            remove_headers,
            pass_through_headers,
            unsigned_headers,
            credentials: raw.credentials.clone(),
        })
    }

    /// Relative paths are relative to the config file's directory.
    fn resolve(&self, p: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if p.is_relative() && self.file.is_file() => dir.join(p),
            _ => p.to_owned(),
        }
    }

    fn body(&self, raw: &RawBody) -> Result<BodyLimits, ConfigError> {
        let b = BodyLimits {
            memory_threshold_bytes: raw
                .memory_threshold_bytes
                .unwrap_or(DEFAULT_MEMORY_THRESHOLD_BYTES),
            max_bytes: raw.max_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES),
            spool_dir: raw.spool_dir.as_ref().map(|p| self.resolve(p)),
        };
        if let Some(dir) = &b.spool_dir {
            if !dir.is_dir() {
                return Err(self.err(
                    "body.spool_dir",
                    &format!("{} is not a directory", dir.display()),
                ));
            }
        }
        Ok(b)
    }

    fn upstream(&self, raw: &RawUpstream) -> UpstreamSettings {
        let ms = |v: Option<u64>, d| Duration::from_millis(v.unwrap_or(d));
        UpstreamSettings {
            connect_timeout: ms(raw.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS),
            response_timeout: ms(raw.response_timeout_ms, DEFAULT_RESPONSE_TIMEOUT_MS),
            pool_idle_timeout: ms(raw.pool_idle_timeout_ms, DEFAULT_POOL_IDLE_TIMEOUT_MS),
        }
    }

    fn connect_to(
        &self,
        raw: &std::collections::BTreeMap<String, String>,
    ) -> Result<ConnectTo, ConfigError> {
        let mut out = ConnectTo::default();
        for (from, to) in raw {
            let key = format!("connect_to.{from:?}");
            let from = split_host_port(from).map_err(|m| self.err(&key, &m))?;
            let to = split_host_port(to).map_err(|m| self.err(&key, &m))?;
            out.insert(from, to);
        }
        Ok(out)
    }
}

/// `PORT` (binds 127.0.0.1) or `ADDR:PORT`.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse().map_err(|_| {
        format!("{s:?} is not an address (expected \"127.0.0.1:8080\", \"[::1]:8080\" or a port)")
    })
}

/// `host:port` (IPv6 in brackets) → (lower-case host without brackets, port).
fn split_host_port(s: &str) -> Result<(String, u16), String> {
    let bad = || format!("{s:?} is not host:port");
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_ascii_lowercase(), port))
}

fn parse_upstream(s: &str) -> Result<UpstreamUrl, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(format!(
                "{s:?} must start with https:// (or http:// for a plain-text upstream)"
            ))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("{s:?} has no host"))?;
    if authority.as_str().contains('@') {
        return Err(format!("{s:?}: user info in the URL is not supported"));
    }
    if uri.query().is_some() {
        return Err(format!(
            "{s:?}: a query string is not allowed in the upstream URL"
        ));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok(UpstreamUrl {
        tls,
        host,
        port,
        base_path,
    })
}

fn header_name(s: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(s.trim().to_ascii_lowercase().as_bytes())
        .map_err(|_| format!("{s:?} is not a valid header name"))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{} contains no PEM certificates", path.display()));
    }
    Ok(certs)
}

mod gateway;

#[cfg(test)]
mod tests;
