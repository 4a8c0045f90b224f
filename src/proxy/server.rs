//! The accept loops: one task per listener on each worker thread ([`super::workers`]),
//! one hyper-util `auto` connection per client (HTTP/1.1 with keep-alive, or HTTP/2
//! with prior knowledge), graceful shutdown.
//!
//! [`ConnService`] is the per-connection service. It is a struct on purpose: limits,
//! timeouts and metrics (issue 5) and a TLS acceptor or CONNECT handling (issue 6) go
//! here or in front of it, without touching the request path in `forward`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::access_log::{AccessLog, LogPath};
use super::balance::{Balance, Handoff, Served, Spread};
use super::body::ResponseBody;
use super::busy_poll::Switch;
use super::conn_state::ConnState;
use super::limits::{ConnActivity, GuardedBody};
use super::metrics::Rejection;
use super::request_id::RequestId;
use super::state::{ListenerId, ListenerState, ProxyState};
use super::workers::Workers;

/// Serves `listeners` until `shutdown` completes, then stops accepting, lets in-flight
/// requests finish (up to a grace period) and returns.
///
/// The caller binds the listeners (see [`super::bind`]; tests use `127.0.0.1:0`), so
/// the addresses are known before serving starts. Connections are served on
/// `worker_threads` threads of their own, each with its own runtime
/// ([`super::workers`]); the caller's runtime waits for `shutdown` and the drain. Only
/// if those threads cannot be started are connections served on the caller's runtime.
pub async fn run(
    listeners: Vec<(TcpListener, ListenerId)>,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    // One cap for all listeners: it protects the process (file descriptors, memory).
    let slots = Arc::new(Semaphore::new(state.ops.max_connections));
    let workers = match Workers::start(state.ops.worker_threads, state.ops.coalesce_sends) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot start worker threads; serving on the caller's runtime");
            None
        }
    };
    let balance = workers.as_ref().map(|w| Balance::new(w.handles().len()));
    for (listener, id) in listeners {
        let (Some(workers), Some(balance)) = (&workers, &balance) else {
            tasks.spawn(accept_loop(
                listener,
                id,
                state.clone(),
                slots.clone(),
                stop_rx.clone(),
                None,
            ));
            continue;
        };
        // Every worker accepts on the same socket, registered with its own runtime.
        let shared = match listener.into_std() {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(listener = id.0, error = %e, "cannot hand the listener to the workers; it is closed");
                continue;
            }
        };
        let spreads = Spread::for_listener(balance, workers.handles().len());
        for (handle, spread) in workers.handles().iter().zip(spreads) {
            let own = match shared.try_clone() {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(listener = id.0, error = %e, "a worker cannot share the listener; the others serve it");
                    continue;
                }
            };
            let (state, slots, stop) = (state.clone(), slots.clone(), stop_rx.clone());
            tasks.spawn_on(
                async move {
                    match TcpListener::from_std(own) {
                        Ok(l) => accept_loop(l, id, state, slots, stop, Some(spread)).await,
                        Err(e) => {
                            tracing::warn!(listener = id.0, error = %e, "a worker cannot register the listener; the others serve it");
                        }
                    }
                },
                handle,
            );
        }
    }
    state.serving.store(true, Ordering::Relaxed);
    shutdown.await;
    state.serving.store(false, Ordering::Relaxed);
    tracing::info!(
        grace_seconds = state.ops.shutdown_grace.as_secs(),
        "shutting down: no new connections, draining in-flight requests"
    );
    // Receivers live in the tasks; if all ended already there is nobody to tell.
    let _ = stop_tx.send(true);
    // Listeners and intercepted tunnels drain side by side, each within the grace.
    let listeners = async { while tasks.join_next().await.is_some() {} };
    tokio::join!(listeners, state.tunnels.drain(state.ops.shutdown_grace));
    if let Some(w) = workers {
        w.stop().await;
    }
}

/// A client connection without a request for this long gives its pinned upstream
/// connection back to the route's idle list (see [`super::affinity::Pinned::release`]).
const UNPIN_AFTER: Duration = Duration::from_secs(2);

async fn accept_loop(
    listener: TcpListener,
    id: ListenerId,
    state: Arc<ProxyState>,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
    mut spread: Option<Spread>,
) {
    let graceful = GracefulShutdown::new();
    let ops = &state.ops;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(ops.header_read_timeout)
        .max_buf_size(ops.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(ops.max_header_bytes).unwrap_or(u32::MAX));
    let idle_timeout = ops.idle_timeout;
    let header_read_timeout = ops.header_read_timeout;
    loop {
        let accepted = tokio::select! {
            a = accept_one(&listener, &slots) => a,
            Some(h) = Spread::next(&mut spread) => Accepted::HandedOver(h),
            _ = stop.changed() => break,
        };
        let served = match accepted {
            Accepted::Here(stream, peer, permit) => match &spread {
                None => Some(Served {
                    stream,
                    peer,
                    permit,
                    load: None,
                }),
                Some(sp) => sp.keep_or_hand_over(stream, peer, permit),
            },
            Accepted::HandedOver(h) => h.take(),
            Accepted::Failed(e) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Accepted::Closed => break,
        };
        // None: handed to another worker (or lost in the hand-over, logged there).
        let Some(Served {
            stream,
            peer,
            permit,
            load,
        }) = served
        else {
            continue;
        };
        // Best effort: Nagle only adds latency to small request/response exchanges.
        let _ = stream.set_nodelay(true);
        let activity = ConnActivity::new();
        let stream = state.busy_poll.wrap_client(stream, activity.clone());
        let lone = state.busy_poll.client_opened();
        let conn = Arc::new(ConnState {
            load,
            ..ConnState::default()
        });
        let service = ConnService(Arc::new(ConnShared {
            state: state.clone(),
            listener: id,
            peer,
            activity: activity.clone(),
            conn: conn.clone(),
            busy_poll: stream.switch().clone(),
        }));
        let tls = state.listener(id).and_then(|l| l.gateway.tls.clone());
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let counted = state.metrics.connection_opened();
        tokio::spawn(async move {
            // Held for the connection's life: its slot under the cap, and the gauge.
            let _slot = (permit, counted, lone);
            let serve = async move {
                match tls {
                    Some(acceptor) => {
                        super::listener_tls::serve(
                            acceptor, stream, peer, builder, watcher, service,
                        )
                        .await
                    }
                    // With upgrades: CONNECT tunnels (issue 6) take the connection over.
                    None => {
                        let state = service.state().clone();
                        let http = builder
                            .serve_connection_with_upgrades(TokioIo::new(stream), service)
                            .into_owned();
                        if let Err(e) = watcher.watch(http).await {
                            connection_error(&state, peer, &*e);
                        }
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                // Nothing in flight: dropping the connection just closes the socket.
                _ = activity.idle(idle_timeout, header_read_timeout, UNPIN_AFTER, || conn.pinned.release()) => {
                    tracing::debug!(%peer, "closing idle keep-alive connection");
                }
            }
        });
    }
    drop(listener);
    let grace = state.ops.shutdown_grace;
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "in-flight requests did not finish in time");
        }
    }
}

/// What one turn of an accept loop brought.
enum Accepted {
    /// A connection accepted by this worker, with its slot.
    Here(TcpStream, SocketAddr, OwnedSemaphorePermit),
    /// One another worker accepted and handed over ([`super::balance`]).
    HandedOver(Handoff),
    /// `accept` failed (e.g. out of file descriptors); the loop backs off and goes on.
    Failed(std::io::Error),
    /// The connection cap's semaphore was closed (never happens: we own it).
    Closed,
}

/// Waits for a free slot, then accepts: over the cap, clients queue in the listen
/// backlog instead of being accepted and starved. Cancel-safe.
async fn accept_one(listener: &TcpListener, slots: &Arc<Semaphore>) -> Accepted {
    let Ok(permit) = slots.clone().acquire_owned().await else {
        return Accepted::Closed;
    };
    match listener.accept().await {
        Ok((stream, peer)) => Accepted::Here(stream, peer, permit),
        Err(e) => Accepted::Failed(e),
    }
}

/// Logs why a client connection ended with an error. Requests hyper refused on its own
/// (unparsable, head too large, head too slow) are counted and logged at info: they
/// never reach the service, so this is their only trace.
pub(crate) fn connection_error(
    state: &ProxyState,
    peer: SocketAddr,
    err: &(dyn std::error::Error + 'static),
) {
    match rejection(err) {
        Some(why) => {
            state.metrics.rejected(why);
            tracing::info!(%peer, reason = %why.reason(), error = %err, "request refused before routing");
        }
        None => tracing::debug!(%peer, error = %err, "connection ended with an error"),
    }
}

/// The kind of request hyper refused, if `err` (or its source) says so.
fn rejection(err: &(dyn std::error::Error + 'static)) -> Option<Rejection> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            return if h.is_parse_too_large() {
                Some(Rejection::HeadTooLarge)
            } else if h.is_parse() {
                Some(Rejection::Malformed)
            } else if h.is_timeout() {
                Some(Rejection::HeaderTimeout)
            } else {
                None
            };
        }
        cur = e.source();
    }
    None
}

/// What the access log shows as a request's path: the `host:port` of a `CONNECT`, else
/// the path (never the query: presigned URLs carry signatures there).
fn log_target(req: &Request<Incoming>) -> String {
    match req.uri().authority() {
        Some(a) if req.method() == http::Method::CONNECT => a.as_str().to_owned(),
        _ => req.uri().path().to_owned(),
    }
}

/// Finishes a request the proxy answers itself (access refused, `CONNECT`) like a
/// forwarded one: the request id header and one access-log line, written now (a tunnel
/// opened by a `CONNECT` outlives its answer; its inner requests get their own lines).
fn answered_here(
    state: &ProxyState,
    listener: &ListenerState,
    method: http::Method,
    target: String,
    result: Result<Response<ResponseBody>, super::ProxyError>,
) -> Response<ResponseBody> {
    let id = RequestId::next();
    let mut log = AccessLog::new(listener.name.clone(), method, LogPath::Text(target), id);
    log.metrics = Some(state.metrics.clone());
    let mut resp = result.unwrap_or_else(|e| {
        log.error = Some(super::error::chain(&e));
        super::respond::error_response(&e)
    });
    resp.headers_mut()
        .insert(super::request_id::HEADER, id.header_value());
    log.status = resp.status().as_u16();
    drop(log);
    resp
}

/// The service of one client connection. One `Arc` of per-connection data, so a
/// request clones one reference that only this connection touches (cloning the shared
/// `ProxyState` per request bounced its reference count between the worker threads).
#[derive(Debug, Clone)]
pub(crate) struct ConnService(Arc<ConnShared>);

#[derive(Debug)]
struct ConnShared {
    state: Arc<ProxyState>,
    listener: ListenerId,
    peer: SocketAddr,
    activity: Arc<ConnActivity>,
    /// What this client connection's requests share (upstream connection, timers).
    conn: Arc<ConnState>,
    /// Turns off the connection's busy-polling once it stops taking turns (HTTP/2, a
    /// `CONNECT` tunnel).
    busy_poll: Switch,
}

impl ConnService {
    /// The proxy state the connection serves.
    pub(super) fn state(&self) -> &Arc<ProxyState> {
        &self.0.state
    }
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<GuardedBody<ResponseBody>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let this = self.0.clone();
        let in_flight = this.activity.begin();
        Box::pin(async move {
            let Some(listener) = this.state.listener(this.listener) else {
                // invariant: ListenerIds come from `bind`, over the same Config.
                let resp = super::respond::error_response(&super::ProxyError::Setup {
                    what: format!("unknown listener {:?}", this.listener),
                    source: "listener id out of range".into(),
                });
                return Ok(resp.map(|b| GuardedBody::new(b, in_flight)));
            };
            tracing::trace!(peer = %this.peer, "request");
            let respond =
                |resp: Response<ResponseBody>| Ok(resp.map(|b| GuardedBody::new(b, in_flight)));
            if let Err(e) = super::connect::check_access(listener, this.peer, req.headers()) {
                let (method, target) = (req.method().clone(), log_target(&req));
                return respond(answered_here(&this.state, listener, method, target, Err(e)));
            }
            if req.method() == http::Method::CONNECT || req.version() == http::Version::HTTP_2 {
                this.busy_poll.turn_off();
            }
            if req.method() == http::Method::CONNECT {
                let target = log_target(&req);
                let state = this.state.clone();
                let result = Box::pin(super::connect::handle_connect(
                    state,
                    this.listener,
                    listener,
                    req,
                ))
                .await;
                return respond(answered_here(
                    &this.state,
                    listener,
                    http::Method::CONNECT,
                    target,
                    result,
                ));
            }
            respond(super::forward::handle(&this.state, listener, &this.conn, req).await)
        })
    }
}
