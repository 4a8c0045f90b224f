//! The accept loop: one task per listener, one hyper-util `auto` connection per client
//! (HTTP/1.1 with keep-alive, or HTTP/2 with prior knowledge), graceful shutdown.
//!
//! [`ConnService`] is the per-connection service. It is a struct on purpose: limits,
//! timeouts and metrics (issue 5) and a TLS acceptor or CONNECT handling (issue 6) go
//! here or in front of it, without touching the request path in `forward`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::body::ResponseBody;
use super::state::{ListenerId, ProxyState};

/// How long in-flight requests may run after shutdown is asked for.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `listeners` until `shutdown` completes, then stops accepting, lets in-flight
/// requests finish (up to a grace period) and returns.
///
/// The caller binds the listeners (see [`super::bind`]; tests use `127.0.0.1:0`), so
/// the addresses are known before serving starts.
pub async fn run(
    listeners: Vec<(TcpListener, ListenerId)>,
    state: Arc<ProxyState>,
    shutdown: impl Future<Output = ()>,
) {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    for (listener, id) in listeners {
        tasks.spawn(accept_loop(listener, id, state.clone(), stop_rx.clone()));
    }
    shutdown.await;
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    // Receivers live in the tasks; if all ended already there is nobody to tell.
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
}

async fn accept_loop(
    listener: TcpListener,
    id: ListenerId,
    state: Arc<ProxyState>,
    mut stop: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Best effort: Nagle only adds latency to small request/response exchanges.
        let _ = stream.set_nodelay(true);
        let service = ConnService {
            state: state.clone(),
            listener: id,
            peer,
        };
        if let Some(acceptor) = state.listener(id).and_then(|l| l.gateway.tls.clone()) {
            super::listener_tls::serve(
                acceptor,
                stream,
                peer,
                builder.clone(),
                graceful.watcher(),
                service,
            );
            continue;
        }
        // With upgrades: CONNECT tunnels (issue 6) take the connection over.
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "in-flight requests did not finish in time");
        }
    }
}

/// The service of one client connection.
#[derive(Debug, Clone)]
pub(crate) struct ConnService {
    state: Arc<ProxyState>,
    listener: ListenerId,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, req: Request<Incoming>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let Some(listener) = this.state.listener(this.listener) else {
                // invariant: ListenerIds come from `bind`, over the same Config.
                return Ok(super::respond::error_response(&super::ProxyError::Setup {
                    what: format!("unknown listener {:?}", this.listener),
                    source: "listener id out of range".into(),
                }));
            };
            tracing::trace!(peer = %this.peer, "request");
            if let Err(e) = super::connect::check_access(listener, this.peer, req.headers()) {
                return Ok(super::respond::error_response(&e));
            }
            if req.method() == http::Method::CONNECT {
                let state = this.state.clone();
                return Ok(
                    super::connect::handle_connect(state, this.listener, listener, req)
                        .await
                        .unwrap_or_else(|e| super::respond::error_response(&e)),
                );
            }
            Ok(super::forward::handle(&this.state, listener, req).await)
        })
    }
}
