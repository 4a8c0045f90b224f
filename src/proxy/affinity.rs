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
//! With several worker threads ([`super::workers`]) every connection has a home: the
//! worker whose runtime drives its I/O. Requests take connections homed on their own
//! worker first. A client on a worker with none borrows another worker's idle one (no
//! handshake on its path), and one homed on its own worker is opened in the
//! background, which its next request moves to.
//!
//! An upstream that picks HTTP/2 by ALPN gets one shared, multiplexed connection per
//! upstream instead (kept in [`IdleConns`] too). Only HTTP/1.x client requests take
//! this path; HTTP/2 clients use the shared pooled client
//! ([`super::upstream::UpstreamClient`]).

use std::sync::atomic::{AtomicBool, Ordering};
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
    H1(Conn),
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

/// An HTTP/1.1 upstream connection and the worker that drives it.
struct Conn {
    sender: Sender,
    home: Home,
}

struct Idle {
    key: Arc<str>,
    conn: Conn,
    since: Instant,
}

/// The runtime whose thread drives a connection's I/O task. With one runtime per
/// worker thread ([`super::workers`]), a request sent on a connection homed on another
/// worker crosses threads twice (a wake-up each way), so idle connections are handed
/// out to requests on their own worker first.
type Home = Option<tokio::runtime::Id>;

/// The runtime the calling task runs on.
fn here() -> Home {
    tokio::runtime::Handle::try_current().ok().map(|h| h.id())
}

/// A route's idle HTTP/1.1 upstream connections, and how to open new ones.
pub(crate) struct IdleConns {
    connector: HttpsConnector<ConnectToConnector>,
    idle: Mutex<Vec<Idle>>,
    /// One shared connection per upstream that speaks HTTP/2.
    h2: Mutex<Vec<(Arc<str>, H2Sender)>>,
    idle_timeout: Duration,
    /// A background connect for [`IdleConns::warm`] is under way.
    warming: AtomicBool,
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
            warming: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The most recently used idle connection to `key` that is still usable: one
    /// homed on `here` if there is one, else (unless `local_only`) any.
    fn take(&self, key: &str, here: Home, local_only: bool) -> Option<Conn> {
        let mut idle = self.lock();
        let now = Instant::now();
        idle.retain(|i| {
            !i.conn.sender.is_closed() && now.duration_since(i.since) < self.idle_timeout
        });
        let usable = |i: &Idle| &*i.key == key && i.conn.sender.is_ready();
        let local = idle.iter().rposition(|i| i.conn.home == here && usable(i));
        let pos = match local {
            Some(p) => p,
            None if local_only => return None,
            None => idle.iter().rposition(usable)?,
        };
        Some(idle.swap_remove(pos).conn)
    }

    /// Opens a connection to `uri` on the caller's runtime in the background and keeps
    /// it idle under `key`, for a request that had to borrow another worker's: that
    /// client's next request then finds a local one. One at a time per route.
    fn warm(self: &Arc<Self>, uri: Uri, key: Arc<str>) {
        if self.warming.swap(true, Ordering::AcqRel) {
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            match pool.connect(&uri, &key).await {
                Ok(NewConn::H1(conn)) => pool.put(key, conn),
                // Now shared in the HTTP/2 list, which every worker uses.
                Ok(NewConn::H2(_)) => {}
                Err(e) => tracing::debug!(error = ?e, "opening a local upstream connection failed"),
            }
            pool.warming.store(false, Ordering::Release);
        });
    }

    /// Keeps `conn` for reuse, if it is still open.
    fn put(&self, key: Arc<str>, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= MAX_IDLE {
            idle.remove(0);
        }
        idle.push(Idle {
            key,
            conn,
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
        Ok(NewConn::H1(Conn {
            sender,
            home: here(),
        }))
    }
}

/// Runs a connection's I/O task on the caller's runtime until either side closes it.
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
pub(crate) struct Pinned {
    held: Mutex<Option<Held>>,
    /// The client connection's worker: read once, when it is accepted (a connection
    /// never moves to another worker), not per request.
    here: Home,
}

impl Default for Pinned {
    /// Nothing pinned yet, for a client connection served on the calling runtime.
    fn default() -> Self {
        Self {
            held: Mutex::new(None),
            here: here(),
        }
    }
}

struct Held {
    pool: Arc<IdleConns>,
    key: Arc<str>,
    conn: Conn,
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock().as_ref().map(|h| h.key.clone());
        f.debug_tuple("Pinned").field(&held).finish()
    }
}

impl Pinned {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands the pinned connection to its route's idle list (the client connection
    /// has gone quiet): idle clients then share at most [`MAX_IDLE`] upstream
    /// connections per route instead of holding one each.
    pub(crate) fn release(&self) {
        let held = self.lock().take();
        if let Some(h) = held {
            h.pool.put(h.key, h.conn);
        }
    }

    /// The pinned connection if it goes to `key` on `pool` and can take a request now,
    /// unless it is homed on another worker and `pool` has an idle one homed `here`.
    /// Any connection not returned goes back to its route's idle list.
    fn take(&self, pool: &Arc<IdleConns>, key: &str) -> Option<Conn> {
        let held = self.lock().take()?;
        if Arc::ptr_eq(&held.pool, pool) && &*held.key == key && held.conn.sender.is_ready() {
            if held.conn.home == self.here {
                return Some(held.conn);
            }
            let Some(local) = pool.take(key, self.here, true) else {
                return Some(held.conn);
            };
            held.pool.put(held.key, held.conn);
            return Some(local);
        }
        held.pool.put(held.key, held.conn);
        None
    }

    /// Pins `conn`; a connection pinned meanwhile (by a concurrent request) goes
    /// back to its idle list.
    fn pin(&self, pool: &Arc<IdleConns>, key: Arc<str>, conn: Conn) {
        let old = self.lock().replace(Held {
            pool: pool.clone(),
            key,
            conn,
        });
        if let Some(h) = old {
            h.pool.put(h.key, h.conn);
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
    // The usual request finds a kept connection. Everything else (HTTP/2, connecting,
    // the retry) is boxed (`send_h2`, `send_on_new`): inline, its states made this
    // future, which every request copies into its box, kilobytes larger.
    if let Some(h2) = pool.h2(&key) {
        return Box::pin(send_h2(h2, req)).await;
    }
    let reused = pinned
        .take(pool, &key)
        .or_else(|| pool.take(&key, pinned.here, false));
    let Some(mut conn) = reused else {
        return Box::pin(send_on_new(pinned, pool, key, req)).await;
    };
    let uri = req.uri().clone();
    // HTTP/1.1 to an origin server: the request line carries only the path and query.
    *req.uri_mut() = origin_form(&uri);
    let mut unsent = match conn.sender.try_send_request(req).await {
        Ok(resp) => {
            keep(pinned, pool, key, conn, uri);
            return Ok(resp);
        }
        Err(mut e) => match e.take_message() {
            // Not sent: the kept connection was closed under us (the upstream's
            // keep-alive ended). Nothing reached the upstream, so a retry is safe.
            Some(req) => req,
            None => return Err(SendError::Send(e.into_error())),
        },
    };
    *unsent.uri_mut() = uri;
    Box::pin(send_on_new(pinned, pool, key, unsent)).await
}

/// Sends `req` (absolute URI) over a new connection, and pins it.
async fn send_on_new(
    pinned: &Pinned,
    pool: &Arc<IdleConns>,
    key: Arc<str>,
    mut req: Request<TrackedBody>,
) -> Result<Response<Incoming>, SendError> {
    let mut conn = match pool.connect(req.uri(), &key).await? {
        NewConn::H1(c) => c,
        // HTTP/2 keeps the absolute URI (its :scheme and :authority).
        NewConn::H2(h2) => return send_h2(h2, req).await,
    };
    let uri = req.uri().clone();
    *req.uri_mut() = origin_form(&uri);
    let resp = conn
        .sender
        .try_send_request(req)
        .await
        .map_err(|e| SendError::Send(e.into_error()))?;
    keep(pinned, pool, key, conn, uri);
    Ok(resp)
}

/// Sends `req` on the upstream's shared HTTP/2 connection.
async fn send_h2(
    mut h2: H2Sender,
    req: Request<TrackedBody>,
) -> Result<Response<Incoming>, SendError> {
    h2.send_request(req).await.map_err(SendError::Send)
}

/// Pins `conn`, which just carried a request, to the client connection; one homed on
/// another worker gets a local replacement opened in the background.
fn keep(pinned: &Pinned, pool: &Arc<IdleConns>, key: Arc<str>, conn: Conn, uri: Uri) {
    if conn.home != pinned.here {
        pool.warm(uri, key.clone());
    }
    pinned.pin(pool, key, conn);
}

/// `uri`'s path and query as a URI (`/` when it has none).
fn origin_form(uri: &Uri) -> Uri {
    uri.path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use crate::config::{ConnectTo, UpstreamSettings};
    use crate::proxy::body::RequestBody;
    use crate::proxy::workers::Workers;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// An HTTP/1.1 upstream that answers every request with the number of the
    /// connection it came on (1, 2, ...).
    async fn numbering_upstream() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            for n in 1.. {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        if line.is_empty() {
                            let body = n.to_string();
                            let head = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                                body.len()
                            );
                            let _ = w.write_all(format!("{head}{body}").as_bytes()).await;
                        }
                    }
                });
            }
        });
        addr
    }

    /// Sends a GET through `pinned` and returns the upstream connection number.
    async fn conn_number(
        pinned: &Pinned,
        pool: &Arc<IdleConns>,
        up: std::net::SocketAddr,
    ) -> String {
        let body = TrackedBody::new(RequestBody::Empty, None);
        let req = Request::get(format!("http://{up}/")).body(body).unwrap();
        let key: Arc<str> = format!("http://{up}").into();
        let resp = send(pinned, pool, key, req)
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .unwrap();
        String::from_utf8(bytes.to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_worker_borrows_another_workers_connection_then_uses_its_own() {
        let up = numbering_upstream().await;
        let settings = UpstreamSettings {
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            pool_idle_timeout: Duration::from_secs(60),
        };
        let (_, connector) =
            super::super::upstream::build_client(&[], Arc::new(ConnectTo::default()), &settings)
                .unwrap();
        let pool = IdleConns::new(connector, Duration::from_secs(60));
        let workers = Workers::start(2).unwrap();
        let [w0, w1] = workers.handles() else {
            panic!("two workers")
        };

        // A client on worker 0 opens connection 1; when it goes, 1 is idle.
        let p = pool.clone();
        let first = w0
            .spawn(async move { conn_number(&Pinned::default(), &p, up).await })
            .await
            .unwrap();
        assert_eq!(first, "1");

        // A client on worker 1 has no connection of its own: it borrows 1, and a
        // connection driven by worker 1 is opened in the background.
        let p = pool.clone();
        let (borrowed, next, again) = w1
            .spawn(async move {
                let pinned = Pinned::default();
                let borrowed = conn_number(&pinned, &p, up).await;
                for _ in 0..500 {
                    if p.lock().iter().any(|i| i.conn.home == here()) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                // Its next requests leave the borrowed connection for the local one.
                let next = conn_number(&pinned, &p, up).await;
                let again = conn_number(&pinned, &p, up).await;
                (borrowed, next, again)
            })
            .await
            .unwrap();
        assert_eq!(
            (borrowed.as_str(), next.as_str(), again.as_str()),
            ("1", "2", "2")
        );
        // Both are idle now (the client on worker 1 is gone), each with its home.
        let homes: Vec<Home> = pool.lock().iter().map(|i| i.conn.home).collect();
        assert_eq!(homes.len(), 2);
        assert!(homes.contains(&Some(w0.id())) && homes.contains(&Some(w1.id())));
        workers.stop().await;
    }
}
