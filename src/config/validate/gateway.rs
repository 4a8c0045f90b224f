//! Validation of a listener's issue-6 keys: `tls`, `intercept`, `tunnel_hosts`,
//! `allow_non_loopback`, `proxy_auth` and `allowed_clients`. Certificates, keys and the
//! proxy token are loaded here once, so a bad file or a missing variable stops startup
//! with an error naming the key (the proxy loads the files again when it starts).

use std::net::SocketAddr;

use super::Validator;
use crate::access::{check_listen_address, AccessPolicy, Cidr, Exposure, ProxyAuth, TokenSource};
use crate::config::raw::{RawListener, RawTokenSource};
use crate::config::types::{GatewayConfig, HostPattern, ListenerMode};
use crate::config::ConfigError;
use crate::secret::SecretString;
use crate::tls::ca::{CaPaths, CertificateAuthority};
use crate::tls::server_config::ListenerIdentity;

impl Validator<'_> {
    /// The gateway settings of listener `key` (`listeners[i]`).
    pub(super) fn gateway(
        &self,
        key: &str,
        raw: &RawListener,
        mode: ListenerMode,
        listen: SocketAddr,
    ) -> Result<GatewayConfig, ConfigError> {
        let k = |field: &str| format!("{key}.{field}");
        let forward_only = |field: &str| {
            self.err(
                &k(field),
                "only applies to forward listeners (mode = \"forward\")",
            )
        };
        let exposure = if raw.allow_non_loopback == Some(true) {
            Exposure::AllowNonLoopback
        } else {
            Exposure::LoopbackOnly
        };
        check_listen_address(listen, exposure)
            .map_err(|e| self.err(&k("listen"), &e.to_string()))?;

        let tls = match &raw.tls {
            None => None,
            Some(t) => {
                let need = |v: &Option<std::path::PathBuf>, f: &str| {
                    v.as_ref().map(|p| self.resolve(p)).ok_or_else(|| {
                        self.err(&k(&format!("tls.{f}")), "missing (a PEM file path)")
                    })
                };
                let identity = ListenerIdentity::new(
                    need(&t.cert_file, "cert_file")?,
                    need(&t.key_file, "key_file")?,
                );
                identity
                    .server_config()
                    .map_err(|e| self.err(&k("tls"), &chain(&e)))?;
                Some(identity)
            }
        };

        let intercept = match &raw.intercept {
            None => None,
            Some(_) if mode != ListenerMode::Forward => return Err(forward_only("intercept")),
            Some(i) => {
                let need = |v: &Option<std::path::PathBuf>, f: &str| {
                    v.as_ref().map(|p| self.resolve(p)).ok_or_else(|| {
                        self.err(
                            &k(&format!("intercept.{f}")),
                            "missing (see `sigv4-proxy ca init`)",
                        )
                    })
                };
                let paths = CaPaths {
                    cert: need(&i.ca_cert_file, "ca_cert_file")?,
                    key: need(&i.ca_key_file, "ca_key_file")?,
                };
                CertificateAuthority::load(&paths)
                    .map_err(|e| self.err(&k("intercept"), &chain(&e)))?;
                Some(paths)
            }
        };

        let tunnel_hosts = match &raw.tunnel_hosts {
            None => Vec::new(),
            Some(_) if mode != ListenerMode::Forward => return Err(forward_only("tunnel_hosts")),
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(n, h)| {
                    HostPattern::new(h).map_err(|m| self.err(&k(&format!("tunnel_hosts[{n}]")), &m))
                })
                .collect::<Result<_, _>>()?,
        };

        let mut access = AccessPolicy::default();
        if let Some(auth) = &raw.proxy_auth {
            let source = auth
                .token
                .as_ref()
                .ok_or_else(|| {
                    self.err(
                        &k("proxy_auth.token"),
                        "missing (e.g. token = { env = \"SIGV4_PROXY_TOKEN\" })",
                    )
                })
                .and_then(|t| self.token_source(&k("proxy_auth.token"), t))?;
            let token = source
                .load()
                .map_err(|e| self.err(&k("proxy_auth.token"), &e.to_string()))?;
            let mut proxy_auth = ProxyAuth::new(&token);
            if let Some(user) = &auth.user {
                proxy_auth = proxy_auth.with_user(user.clone());
            }
            access = access.with_auth(proxy_auth);
        }
        if let Some(list) = &raw.allowed_clients {
            let mut networks = Vec::with_capacity(list.len());
            for (n, c) in list.iter().enumerate() {
                let cidr: Cidr = c.parse().map_err(|e: crate::access::AccessError| {
                    self.err(&k(&format!("allowed_clients[{n}]")), &e.to_string())
                })?;
                networks.push(cidr);
            }
            access = access.with_allowed_clients(networks);
        }
        Ok(GatewayConfig {
            tls,
            intercept,
            tunnel_hosts,
            access,
            exposure,
        })
    }

    fn token_source(&self, key: &str, raw: &RawTokenSource) -> Result<TokenSource, ConfigError> {
        match (&raw.env, &raw.file, &raw.value) {
            (Some(var), None, None) => Ok(TokenSource::Env(var.clone())),
            (None, Some(path), None) => Ok(TokenSource::File(self.resolve(path))),
            (None, None, Some(v)) => Ok(TokenSource::Value(SecretString::new(v.as_str()))),
            _ => Err(self.err(key, "give exactly one of env, file or value")),
        }
    }
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        s.push_str(": ");
        s.push_str(&src.to_string());
        cur = src.source();
    }
    s
}
