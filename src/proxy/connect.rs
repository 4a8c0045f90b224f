//! Gateway access control and `CONNECT` (issue 6), in front of the request path.
//!
//! Owns [`ListenerGateway`] (a listener's live TLS acceptor, leaf issuer, tunnel
//! allow-list and access policy), [`check_access`] (403/407 for every request on the
//! client's connection, `CONNECT` included) and [`handle_connect`]:
//! - host on a forward route's allow-list and `intercept` configured: answer 200,
//!   terminate the tunnel's TLS with a leaf for the host ([`LeafIssuer::accept`], ALPN
//!   `h2`/`http/1.1`), and run every request inside through `forward::handle` as
//!   `https://host:port/...` (signed, sent over the route's own verified TLS client);
//! - host in `tunnel_hosts`: connect, answer 200, relay bytes blindly (`tunnel`);
//! - anything else: 403 (or 400 on a listener without any `CONNECT` handling).
//!
//! Deliberately does not own signing or forwarding (`forward`), certificates (`tls`),
//! or the checks themselves (`access`).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http::uri::Authority;
use http::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio_rustls::TlsAcceptor;

use super::body::ResponseBody;
use super::state::{ListenerId, ListenerState, ProxyState};
use super::ProxyError;
use crate::access::{AccessPolicy, Decision};
use crate::config::{HostPattern, ListenerConfig, RouteTarget};
use crate::tls::ca::CertificateAuthority;
use crate::tls::leaf::{LeafIssuer, TlsHost};

/// A listener's TLS, `CONNECT` and access-control state, built once at start.
pub(crate) struct ListenerGateway {
    /// Who may use the listener.
    pub(crate) access: AccessPolicy,
    /// Terminates the listener's own TLS (`tls = { ... }`), if any.
    pub(crate) tls: Option<TlsAcceptor>,
    /// Issues leaves for intercepted `CONNECT` hosts (`intercept = { ... }`), if any.
    issuer: Option<Arc<LeafIssuer>>,
    /// `CONNECT` to these hosts is relayed blindly.
    tunnel_hosts: Vec<HostPattern>,
}

impl std::fmt::Debug for ListenerGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerGateway")
            .field("access", &self.access)
            .field("tls", &self.tls.is_some())
            .field("issuer", &self.issuer)
            .field("tunnel_hosts", &self.tunnel_hosts)
            .finish()
    }
}

impl ListenerGateway {
    /// Loads the listener's certificate, key and CA (validated already by the config).
    pub(crate) fn new(l: &ListenerConfig) -> Result<Self, ProxyError> {
        let setup = |what: &str| {
            let what = format!("listener {}: {what}", l.name);
            move |e: crate::tls::TlsError| ProxyError::Setup {
                what,
                source: e.into(),
            }
        };
        let g = &l.gateway;
        let tls = match &g.tls {
            Some(identity) => Some(TlsAcceptor::from(
                identity
                    .server_config()
                    .map_err(setup("loading the TLS certificate"))?,
            )),
            None => None,
        };
        let issuer = match &g.intercept {
            Some(paths) => Some(Arc::new(LeafIssuer::new(
                CertificateAuthority::load(paths).map_err(setup("loading the intercept CA"))?,
            ))),
            None => None,
        };
        if !l.listen.ip().to_canonical().is_loopback() && g.access.is_unrestricted() {
            tracing::warn!(
                listener = %l.name,
                listen = %l.listen,
                "listening beyond loopback without proxy_auth or allowed_clients: anyone who can reach it can use these credentials"
            );
        }
        Ok(Self {
            access: g.access.clone(),
            tls,
            issuer,
            tunnel_hosts: g.tunnel_hosts.clone(),
        })
    }

    fn handles_connect(&self) -> bool {
        self.issuer.is_some() || !self.tunnel_hosts.is_empty()
    }
}

/// 403 when the client's address is not allowed, 407 when a required proxy credential
/// is missing or wrong. The credential itself is never logged.
pub(crate) fn check_access(
    listener: &ListenerState,
    peer: SocketAddr,
    headers: &HeaderMap,
) -> Result<(), ProxyError> {
    match listener.gateway.access.decide(peer.ip(), headers) {
        Decision::Allow => Ok(()),
        Decision::Deny407(failure) => {
            tracing::info!(listener = %listener.name, %peer, ?failure, "proxy authentication failed");
            Err(ProxyError::ProxyAuthRequired(failure))
        }
        Decision::Deny403 => {
            tracing::info!(listener = %listener.name, %peer, "client address not allowed");
            Err(ProxyError::ClientNotAllowed)
        }
    }
}

/// Answers a `CONNECT` (access already checked) and, on 200, serves the tunnel in a
/// task of its own.
pub(crate) async fn handle_connect(
    state: Arc<ProxyState>,
    id: ListenerId,
    listener: &ListenerState,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ProxyError> {
    let gateway = &listener.gateway;
    if !gateway.handles_connect() {
        return Err(ProxyError::BadRequest(
            "CONNECT tunnels are not supported on this listener; send http:// URLs through it (HTTP_PROXY), or configure intercept on a forward listener".into(),
        ));
    }
    let authority = req
        .uri()
        .authority()
        .cloned()
        .ok_or_else(|| ProxyError::BadRequest("CONNECT needs a host:port target".into()))?;
    let (host, port) = TlsHost::from_connect_authority(&authority)
        .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
    let name = host.to_string();
    let on_upgrade = hyper::upgrade::on(req);
    match &gateway.issuer {
        Some(issuer) if is_allowed(listener, &name) => {
            tracing::debug!(listener = %listener.name, host = %name, port, "CONNECT: intercepting");
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let upgraded = match on_upgrade.await {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::debug!(error = %e, "CONNECT: upgrade failed");
                        return;
                    }
                };
                let tls = match issuer.accept(TokioIo::new(upgraded), host).await {
                    Ok(tls) => tls,
                    Err(e) => {
                        tracing::info!(host = %name, error = %super::error::chain(&e), "CONNECT: client TLS handshake failed (does the client trust the proxy CA?)");
                        return;
                    }
                };
                let Some(watcher) = state.tunnels.watcher() else {
                    tracing::debug!(host = %name, "CONNECT: shutting down, tunnel closed");
                    return;
                };
                let service = TunnelService {
                    state,
                    listener: id,
                    authority,
                    conn: Arc::default(),
                };
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = watcher
                    .watch(builder.serve_connection(TokioIo::new(tls), service))
                    .await;
                if let Err(e) = conn {
                    tracing::debug!(host = %name, error = %e, "tunnel connection ended with an error");
                }
            });
            Ok(ok_response())
        }
        _ if gateway.tunnel_hosts.iter().any(|p| p.matches(&name)) => {
            let upstream = super::tunnel::open(&state, &name, port).await?;
            tracing::debug!(listener = %listener.name, host = %name, port, "CONNECT: blind tunnel");
            super::tunnel::relay(on_upgrade, upstream, format!("{name}:{port}"));
            Ok(ok_response())
        }
        _ => Err(ProxyError::HostNotAllowed { host: name }),
    }
}

fn ok_response() -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::full(bytes::Bytes::new()));
    *resp.status_mut() = StatusCode::OK;
    resp
}

/// Whether a forward route of `listener` signs for `host`.
fn is_allowed(listener: &ListenerState, host: &str) -> bool {
    listener.routes.iter().any(|r| match &r.config.target {
        RouteTarget::Forward { allowed_hosts, .. } => allowed_hosts.iter().any(|p| p.matches(host)),
        _ => false,
    })
}

/// The service for requests inside an intercepted tunnel: each becomes a forward-mode
/// request for `https://<CONNECT authority><path>`, whatever its own URI or `Host` say.
#[derive(Debug, Clone)]
struct TunnelService {
    state: Arc<ProxyState>,
    listener: ListenerId,
    authority: Authority,
    /// What this tunnel's requests share (upstream connection, timers).
    conn: Arc<super::conn_state::ConnState>,
}

impl hyper::service::Service<Request<Incoming>> for TunnelService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let Some(listener) = this.state.listener(this.listener) else {
                // invariant: the id came from the listener that accepted the CONNECT.
                return Ok(super::respond::error_response(&ProxyError::Setup {
                    what: format!("unknown listener {:?}", this.listener),
                    source: "listener id out of range".into(),
                }));
            };
            let pq = req
                .uri()
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            match Uri::builder()
                .scheme("https")
                .authority(this.authority.clone())
                .path_and_query(pq)
                .build()
            {
                Ok(uri) => *req.uri_mut() = uri,
                Err(e) => {
                    return Ok(super::respond::error_response(&ProxyError::BadRequest(
                        format!("request target inside the tunnel: {e}"),
                    )))
                }
            }
            Ok(super::forward::handle(&this.state, listener, &this.conn, req).await)
        })
    }
}
