//! [`ProxyState`]: the configuration turned into live objects, shared by every
//! connection: per listener its routes, per route its credentials cache, signing-key
//! cache, signing settings and pooled upstream client.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use http::uri::Authority;
use http::HeaderValue;
use tokio::net::TcpListener;

use super::affinity::IdleConns;
use super::busy_poll::Policy;
use super::metrics::{Metrics, RouteSlot};
use super::upstream::{build_client, UpstreamClient};
use super::ProxyError;
use crate::config::{
    BodyLimits, Config, ListenerMode, Operations, RouteConfig, RouteTarget, UpstreamSettings,
};
use crate::credentials::SharedCredentials;
use crate::sigv4::{SigningKeyCache, SigningSettings};

/// Everything the server needs to proxy requests. Build it once with [`ProxyState::new`]
/// and share it (`Arc`) between listeners.
#[derive(Debug)]
pub struct ProxyState {
    pub(crate) listeners: Vec<ListenerState>,
    /// Shared with the task that reads a request body on the work-stealing fallback
    /// (`forward::read_body`), so it is not copied (spool path included) per request.
    pub(crate) body: Arc<BodyLimits>,
    pub(crate) upstream: UpstreamSettings,
    /// Connection overrides, also for blind `CONNECT` tunnels.
    pub(crate) connect_to: Arc<crate::config::ConnectTo>,
    /// Admin listener, shutdown grace, limits and client timeouts.
    pub(crate) ops: Operations,
    /// Counters for `/metrics`.
    pub(crate) metrics: Arc<Metrics>,
    /// Busy-polling of client and upstream connections ([`super::busy_poll`]).
    pub(crate) busy_poll: Policy,
    /// True while [`super::run`] accepts connections (for `/readyz`).
    pub(crate) serving: AtomicBool,
    /// Graceful shutdown of intercepted `CONNECT` tunnels.
    pub(crate) tunnels: super::drain::TunnelDrain,
}

/// Index of a listener in [`Config::listeners`] (and in [`ProxyState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenerId(pub usize);

#[derive(Debug)]
pub(crate) struct ListenerState {
    /// Shared with every access-log record (no copy per request).
    pub(crate) name: Arc<str>,
    pub(crate) mode: ListenerMode,
    pub(crate) routes: Vec<RouteState>,
    /// TLS listener, `CONNECT` handling and access control.
    pub(crate) gateway: super::connect::ListenerGateway,
}

#[derive(Debug)]
pub(crate) struct RouteState {
    pub(crate) config: RouteConfig,
    /// The route's name, shared with every access-log record.
    pub(crate) name: Arc<str>,
    /// A reverse route's fixed upstream, formatted once instead of per request.
    pub(crate) reverse_upstream: Option<ReverseUpstream>,
    pub(crate) credentials: SharedCredentials,
    pub(crate) key_cache: SigningKeyCache,
    pub(crate) client: UpstreamClient,
    /// Idle HTTP/1.1 upstream connections for [`super::affinity`].
    pub(crate) h1: Arc<IdleConns>,
    /// Where this route's series are in [`ProxyState::metrics`].
    pub(crate) metrics: RouteSlot,
    /// Settings for the route's fixed service (reverse routes; forward routes with a
    /// `service`), computed once.
    fixed_settings: Option<SigningSettings>,
}

impl RouteState {
    /// Signing settings for `service`, with the route's unsigned headers excluded.
    pub(crate) fn signing_settings(&self, service: &str) -> Cow<'_, SigningSettings> {
        match (&self.fixed_settings, &self.config.service) {
            (Some(s), Some(fixed)) if fixed == service => Cow::Borrowed(s),
            _ => Cow::Owned(settings_for(service, &self.config.unsigned_headers)),
        }
    }
}

/// A reverse route's upstream in the forms each request needs.
#[derive(Debug)]
pub(crate) struct ReverseUpstream {
    /// The `Host` header value: `host[:port]`.
    pub(crate) host_header: HeaderValue,
    /// The same, for building the upstream URI.
    pub(crate) authority: Authority,
    /// `host:port`, for logs and errors.
    pub(crate) host_port: Arc<str>,
}

impl ReverseUpstream {
    fn new(route: &RouteConfig) -> Result<Option<Self>, ProxyError> {
        let RouteTarget::Reverse { upstream, .. } = &route.target else {
            return Ok(None);
        };
        let authority = upstream.authority();
        let invalid = |what: &str| ProxyError::Setup {
            what: format!("route {}: upstream {authority:?}", route.name),
            source: format!("not a valid {what}").into(),
        };
        Ok(Some(Self {
            host_header: HeaderValue::from_str(&authority)
                .map_err(|_| invalid("Host header value"))?,
            authority: Authority::try_from(authority.as_str())
                .map_err(|_| invalid("URI authority"))?,
            host_port: Arc::from(format!("{}:{}", upstream.host, upstream.port)),
        }))
    }
}

fn settings_for(service: &str, unsigned_headers: &[String]) -> SigningSettings {
    let mut s = SigningSettings::for_service(service);
    s.excluded_headers.extend(unsigned_headers.iter().cloned());
    s
}

impl ProxyState {
    /// Builds credentials providers and upstream clients for every route. Fetches no
    /// credentials yet (the first request does).
    pub fn new(config: &Config) -> Result<Self, ProxyError> {
        let connect_to = Arc::new(config.connect_to.clone());
        let busy_poll = Policy::new(config.ops.busy_poll);
        let metrics = Arc::new(Metrics::new(
            config
                .listeners
                .iter()
                .flat_map(|l| l.routes.iter().map(|r| r.name.as_str())),
            busy_poll.clone(),
        ));
        let mut listeners = Vec::with_capacity(config.listeners.len());
        for l in &config.listeners {
            let mut routes = Vec::with_capacity(l.routes.len());
            for r in &l.routes {
                let credentials = r.credentials.build().map_err(|e| ProxyError::Setup {
                    what: format!("route {}: setting up credentials", r.name),
                    source: e.into(),
                })?;
                let (client, h1_connector) = build_client(
                    &r.extra_ca,
                    connect_to.clone(),
                    &config.upstream,
                    &busy_poll,
                )?;
                // invariant: `metrics` was built from these very route names.
                let slot = metrics.slot(&r.name).ok_or_else(|| ProxyError::Setup {
                    what: format!("route {}: metrics", r.name),
                    source: "no metrics series for the route".into(),
                })?;
                routes.push(RouteState {
                    config: r.clone(),
                    name: Arc::from(r.name.as_str()),
                    reverse_upstream: ReverseUpstream::new(r)?,
                    credentials,
                    key_cache: SigningKeyCache::new(),
                    client,
                    h1: IdleConns::new(h1_connector, config.upstream.pool_idle_timeout),
                    metrics: slot,
                    fixed_settings: r
                        .service
                        .as_deref()
                        .map(|s| settings_for(s, &r.unsigned_headers)),
                });
            }
            listeners.push(ListenerState {
                name: Arc::from(l.name.as_str()),
                mode: l.mode,
                routes,
                gateway: super::connect::ListenerGateway::new(l)?,
            });
        }
        Ok(Self {
            listeners,
            body: Arc::new(config.body.clone()),
            upstream: config.upstream.clone(),
            connect_to,
            ops: config.ops.clone(),
            metrics,
            busy_poll,
            serving: AtomicBool::new(false),
            tunnels: super::drain::TunnelDrain::new(),
        })
    }

    pub(crate) fn listener(&self, id: ListenerId) -> Option<&ListenerState> {
        self.listeners.get(id.0)
    }
}

/// Binds every listener of `config`, in order (`127.0.0.1:0` gives an ephemeral port;
/// read it back with `TcpListener::local_addr`).
pub async fn bind(config: &Config) -> Result<Vec<(TcpListener, ListenerId)>, ProxyError> {
    let mut out = Vec::with_capacity(config.listeners.len());
    for (i, l) in config.listeners.iter().enumerate() {
        out.push((bind_one(l.listen, &l.name).await?, ListenerId(i)));
    }
    Ok(out)
}

async fn bind_one(addr: SocketAddr, name: &str) -> Result<TcpListener, ProxyError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| ProxyError::Setup {
            what: format!("listener {name}: cannot listen on {addr}"),
            source: e.into(),
        })
}

/// Fetches every route's credentials once and logs the outcome (a warning naming the
/// route and the cause when they are unavailable). Requests do not wait for this.
pub async fn check_credentials(state: Arc<ProxyState>) {
    for l in &state.listeners {
        for r in &l.routes {
            match r.credentials.get().await {
                Ok(c) => tracing::info!(
                    route = %r.config.name,
                    provider = c.provider_name(),
                    access_key_id = %c.masked_access_key_id(),
                    "credentials available"
                ),
                Err(e) => tracing::warn!(
                    route = %r.config.name,
                    error = %super::error::chain(&e),
                    "credentials unavailable: requests on this route will get 503"
                ),
            }
        }
    }
}
