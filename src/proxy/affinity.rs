//! Upstream connection affinity for HTTP/1.1 clients.
//!
//! Each client connection keeps the HTTP/1.1 upstream connection its last request
//! used ([`Pinned`]), so a keep-alive client's next request goes out on the same
//! upstream connection without a pool checkout. The shared pooled client's checkout
//! (hashing the pool key, a lock, and a task spawned per request to return a busy
//! connection) cost more CPU per request than signing in the load benchmark. When the
//! client connection ends its upstream connection goes to the route's idle list
//! ([`IdleConns`]), so short-lived clients still reuse upstream (TLS) connections.
//!
//! An upstream that picks HTTP/2 by ALPN gets one shared, multiplexed connection per
//! upstream instead (kept in [`IdleConns`] too). Only HTTP/1.x client requests take
//! this path; HTTP/2 clients use the shared pooled client
//! ([`super::upstream::UpstreamClient`]).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::TokioExecutor;
use tower_service::Service;

use super::body::TrackedBody;
use super::error::BoxError;
use super::upstream::ConnectToConnector;

/// Most idle connections kept per route (the oldest is closed beyond it).
const MAX_IDLE: usize = 256;

type Sender = http1::SendRequest<TrackedBody>;
type H2Sender = http2::SendRequest<TrackedBody>;

/// A new connection: HTTP/1.1, or HTTP/2 when the upstream chose it by ALPN.
enum NewConn {
    H1(Sender),
    H2(H2Sender),
}

/// Why sending failed: before a connection existed, or on one.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Connecting (TCP, TLS, or the HTTP/1.1 handshake) failed.
    Connect(BoxError),
    /// The request or response failed on an established connection.
    Send(hyper::Error),
}

struct Idle {
    key: Arc<str>,
    sender: Sender,
    since: Instant,
}

/// A route's idle HTTP/1.1 upstream connections, and how to open new ones.
pub(crate) struct IdleConns {
    connector: HttpsConnector<ConnectToConnector>,
    idle: Mutex<Vec<Idle>>,
    /// One shared connection per upstream that speaks HTTP/2.
    h2: Mutex<Vec<(Arc<str>, H2Sender)>>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for IdleConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdleConns")
            .field("idle", &self.lock().len())
            .finish_non_exhaustive()
    }
}

impl IdleConns {
    /// An empty list opening connections with `connector`; idle connections older
    /// than `idle_timeout` are closed.
    pub(crate) fn new(
        connector: HttpsConnector<ConnectToConnector>,
        idle_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            connector,
            idle: Mutex::new(Vec::new()),
            h2: Mutex::new(Vec::new()),
            idle_timeout,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection to `key` that is still usable.
    fn take(&self, key: &str) -> Option<Sender> {
        let mut idle = self.lock();
        let now = Instant::now();
        idle.retain(|i| !i.sender.is_closed() && now.duration_since(i.since) < self.idle_timeout);
        let pos = idle
            .iter()
            .rposition(|i| &*i.key == key && i.sender.is_ready())?;
        Some(idle.swap_remove(pos).sender)
    }

    /// Keeps `sender` for reuse, if it is still open.
    fn put(&self, key: Arc<str>, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            key,
            sender,
            since: Instant::now(),
        });
    }

    /// The shared HTTP/2 connection to `key`, if there is an open one.
    fn h2(&self, key: &str) -> Option<H2Sender> {
        // Read-only on the per-request path; closed ones are pruned when one is added.
        let h2 = self.h2.lock().unwrap_or_else(PoisonError::into_inner);
        h2.iter()
            .find(|(k, s)| &**k == key && !s.is_closed())
            .map(|(_, s)| s.clone())
    }

    /// Opens a new connection to `uri`'s authority (HTTP/2 when the upstream picks it
    /// by ALPN, then shared under `key`); its connection task runs on the runtime until
    /// either side closes it.
    async fn connect(&self, uri: &Uri, key: &Arc<str>) -> Result<NewConn, SendError> {
        let io = self
            .connector
            .clone()
            .call(uri.clone())
            .await
            .map_err(SendError::Connect)?;
        if io.connected().is_negotiated_h2() {
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| SendError::Connect(e.into()))?;
            drive(conn);
            let mut h2 = self.h2.lock().unwrap_or_else(PoisonError::into_inner);
            h2.retain(|(k, s)| k != key && !s.is_closed());
            h2.push((key.clone(), sender.clone()));
            return Ok(NewConn::H2(sender));
        }
        let (sender, conn) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| SendError::Connect(e.into()))?;
        drive(conn);
        Ok(NewConn::H1(sender))
    }
}

/// Runs a connection's I/O task until either side closes it.
fn drive<C>(conn: C)
where
    C: std::future::Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
}

/// The upstream connection a client connection's last request used. Dropping it (when
/// the client connection ends) hands the connection to its route's idle list.
#[derive(Default)]
pub(crate) struct Pinned(Mutex<Option<Held>>);

struct Held {
    pool: Arc<IdleConns>,
    key: Arc<str>,
    sender: Sender,
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock().as_ref().map(|h| h.key.clone());
        f.debug_tuple("Pinned").field(&held).finish()
    }
}

impl Pinned {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the pinned connection to its route's idle list (the client connection
    /// has gone quiet): idle clients then share at most [`MAX_IDLE`] upstream
    /// connections per route instead of holding one each.
    pub(crate) fn release(&self) {
        let held = self.lock().take();
        if let Some(h) = held {
            h.pool.put(h.key, h.sender);
        }
    }

    /// The pinned connection if it goes to `key` on `pool` and can take a request now.
    /// Any other pinned connection goes back to its route's idle list.
    fn take(&self, pool: &Arc<IdleConns>, key: &str) -> Option<Sender> {
        let held = self.lock().take()?;
        if Arc::ptr_eq(&held.pool, pool) && &*held.key == key && held.sender.is_ready() {
            return Some(held.sender);
        }
        held.pool.put(held.key, held.sender);
        None
    }

    /// Pins `sender`; a connection pinned meanwhile (by a concurrent request) goes
    /// back to its idle list.
    fn pin(&self, pool: &Arc<IdleConns>, key: Arc<str>, sender: Sender) {
        let old = self.lock().replace(Held {
            pool: pool.clone(),
            key,
            sender,
        });
        if let Some(h) = old {
            h.pool.put(h.key, h.sender);
        }
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        self.release();
    }
}

/// Sends `req` (absolute URI) over the client connection's pinned upstream connection,
/// an idle one, or a new one, and pins the connection used. A request that a reused
/// connection closed before sending is retried once on a new connection.
pub(crate) async fn send(
    pinned: &Pinned,
    pool: &Arc<IdleConns>,
    key: Arc<str>,
    mut req: Request<TrackedBody>,
) -> Result<Response<Incoming>, SendError> {
    if let Some(mut h2) = pool.h2(&key) {
        return h2.send_request(req).await.map_err(SendError::Send);
    }
    let uri = req.uri().clone();
    let reused = pinned.take(pool, &key).or_else(|| pool.take(&key));
    let is_reused = reused.is_some();
    let mut sender = match reused {
        Some(s) => s,
        None => match Box::pin(pool.connect(&uri, &key)).await? {
            NewConn::H1(s) => s,
            // HTTP/2 keeps the absolute URI (its :scheme and :authority).
            NewConn::H2(mut h2) => return h2.send_request(req).await.map_err(SendError::Send),
        },
    };
    // HTTP/1.1 to an origin server: the request line carries only the path and query.
    *req.uri_mut() = origin_form(&uri);
    let resp = match sender.try_send_request(req).await {
        Ok(resp) => resp,
        Err(mut e) => match e.take_message() {
            // Not sent: the kept connection was closed under us (the upstream's
            // keep-alive ended). Nothing reached the upstream, so a retry is safe.
            Some(mut req) if is_reused => match Box::pin(pool.connect(&uri, &key)).await? {
                NewConn::H1(s) => {
                    sender = s;
                    sender.send_request(req).await.map_err(SendError::Send)?
                }
                NewConn::H2(mut h2) => {
                    *req.uri_mut() = uri;
                    return h2.send_request(req).await.map_err(SendError::Send);
                }
            },
            _ => return Err(SendError::Send(e.into_error())),
        },
    };
    pinned.pin(pool, key, sender);
    Ok(resp)
}

/// `uri`'s path and query as a URI (`/` when it has none).
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()))
}
