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

use http::request::Parts;
use http::{Method, Request, Response, Uri};
use hyper::client::conn::http2;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::Connection;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tower_service::Service;

use super::body::{TrackedBody, Upstream};
use super::error::BoxError;
use super::h1::{self, H1Conn};
use super::sign::with_signature;
use super::upstream::ConnectToConnector;
use crate::sigv4::SigningOutput;

/// Most idle connections kept per route (the oldest is closed beyond it).
const MAX_IDLE: usize = 256;

type H2Sender = http2::SendRequest<TrackedBody>;

/// A new connection: HTTP/1.1, or HTTP/2 when the upstream chose it by ALPN.
enum NewConn {
    H1(Conn),
    H2(H2Sender),
}

/// Why sending failed: before a connection existed, or on one.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Connecting (TCP, TLS, or the HTTP/2 handshake) failed.
    Connect(BoxError),
    /// The request or response failed on an established connection.
    Send(BoxError),
}

/// An idle HTTP/1.1 upstream connection ([`h1`]) and the worker whose runtime its
/// socket is registered with.
struct Conn {
    h1: Box<H1Conn>,
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
    /// `h2` has ever held a connection: until then every request skips its lock, which
    /// all workers would otherwise take for every request to an HTTP/1.1 upstream.
    any_h2: AtomicBool,
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
            any_h2: AtomicBool::new(false),
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
        idle.retain_mut(|i| {
            now.duration_since(i.since) < self.idle_timeout && !i.conn.h1.is_closed()
        });
        let usable = |i: &Idle| &*i.key == key;
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
    fn put(&self, key: Arc<str>, mut conn: Conn) {
        if conn.h1.is_closed() {
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
        if !self.any_h2.load(Ordering::Acquire) {
            return None;
        }
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
            // The connection task reads while the requests on it run in other tasks.
            super::upstream::busy_poll_switch(&io).turn_off();
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| SendError::Connect(e.into()))?;
            drive(conn);
            let mut h2 = self.h2.lock().unwrap_or_else(PoisonError::into_inner);
            h2.retain(|(k, s)| k != key && !s.is_closed());
            h2.push((key.clone(), sender.clone()));
            self.any_h2.store(true, Ordering::Release);
            return Ok(NewConn::H2(sender));
        }
        Ok(NewConn::H1(Conn {
            h1: Box::new(H1Conn::new(Box::new(TokioIo::new(io)))),
            home: here(),
        }))
    }
}

/// Runs an HTTP/2 connection's I/O task on the caller's runtime until either side
/// closes it.
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
    /// Shared with the response body that holds the connection while it streams, which
    /// puts it back here when the body ends.
    slot: Arc<Slot>,
    /// The client connection's worker: read once, when it is accepted (a connection
    /// never moves to another worker), not per request.
    here: Home,
}

#[derive(Default)]
struct Slot(Mutex<SlotState>);

#[derive(Default)]
struct SlotState {
    held: Option<Held>,
    /// The client connection is gone: connections given back go to the idle list.
    closed: bool,
}

impl Default for Pinned {
    /// Nothing pinned yet, for a client connection served on the calling runtime.
    fn default() -> Self {
        Self {
            slot: Arc::default(),
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
        let held = self.slot.lock().held.as_ref().map(|h| h.key.clone());
        f.debug_tuple("Pinned").field(&held).finish()
    }
}

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pins `conn`; one pinned meanwhile (by a concurrent request), or any once the
    /// client connection is gone, goes to its idle list.
    fn pin(&self, pool: &Arc<IdleConns>, key: Arc<str>, conn: Conn) {
        let mut state = self.lock();
        if state.closed {
            drop(state);
            pool.put(key, conn);
            return;
        }
        let old = state.held.replace(Held {
            pool: pool.clone(),
            key,
            conn,
        });
        drop(state);
        if let Some(h) = old {
            h.pool.put(h.key, h.conn);
        }
    }
}

impl Pinned {
    /// Hands the pinned connection to its route's idle list (the client connection
    /// has gone quiet): idle clients then share at most [`MAX_IDLE`] upstream
    /// connections per route instead of holding one each.
    pub(crate) fn release(&self) {
        let held = self.slot.lock().held.take();
        if let Some(h) = held {
            h.pool.put(h.key, h.conn);
        }
    }

    /// The pinned connection if it goes to `key` on `pool` and is still open, unless
    /// it is homed on another worker and `pool` has an idle one homed `here`. Any
    /// connection not returned goes back to its route's idle list.
    fn take(&self, pool: &Arc<IdleConns>, key: &str) -> Option<Conn> {
        let mut held = self.slot.lock().held.take()?;
        if Arc::ptr_eq(&held.pool, pool) && &*held.key == key && !held.conn.h1.is_closed() {
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
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let held = {
            let mut state = self.slot.lock();
            state.closed = true;
            state.held.take()
        };
        if let Some(h) = held {
            h.pool.put(h.key, h.conn);
        }
    }
}

/// Sends `req` (absolute URI) over the client connection's pinned upstream connection,
/// an idle one, or a new one, and pins the connection used once the response has
/// ended. A request that fails on a kept connection before any answer came (the
/// upstream had closed it) is sent again on a new one, if it is idempotent and its
/// body is empty or in memory.
pub(crate) async fn send(
    pinned: &Pinned,
    pool: &Arc<IdleConns>,
    key: Arc<str>,
    req: Request<TrackedBody>,
    signed: &SigningOutput,
) -> Result<Response<Upstream>, SendError> {
    // The usual request finds a kept connection. Everything else (HTTP/2, connecting,
    // the retry) is boxed (`send_h2`, `send_on_new`): inline, its states made this
    // future, which every request copies into its box, kilobytes larger.
    if let Some(h2) = pool.h2(&key) {
        return Box::pin(send_h2(h2, req, signed)).await;
    }
    let kept = pinned
        .take(pool, &key)
        .or_else(|| pool.take(&key, pinned.here, false));
    let Some(conn) = kept else {
        return Box::pin(send_on_new(pinned, pool, key, req, signed)).await;
    };
    if conn.home != pinned.here {
        pool.warm(req.uri().clone(), key.clone());
    }
    let (parts, body) = req.into_parts();
    let replay = if is_idempotent(&parts.method) {
        body.replay()
    } else {
        None
    };
    match send_on(conn, pinned, pool, key.clone(), &parts, body, signed).await {
        Ok(resp) => Ok(resp),
        Err(failed) => match replay {
            Some(body) if failed.no_response => {
                tracing::debug!(error = %failed.error, "kept upstream connection was closed; sending again on a new one");
                let req = Request::from_parts(parts, body);
                Box::pin(send_on_new(pinned, pool, key, req, signed)).await
            }
            _ => Err(SendError::Send(failed.error.into())),
        },
    }
}

/// Sends the request in `parts` with `body` and the `signed` headers on `conn`; the
/// connection is pinned again when the response has ended, if it can carry another
/// request.
async fn send_on(
    conn: Conn,
    pinned: &Pinned,
    pool: &Arc<IdleConns>,
    key: Arc<str>,
    parts: &Parts,
    body: TrackedBody,
    signed: &SigningOutput,
) -> Result<Response<Upstream>, h1::Failed> {
    // HTTP/1.1 to an origin server: the request line carries only the path and query.
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    let (slot, pool, home) = (pinned.slot.clone(), pool.clone(), conn.home);
    let ret = move |h1| slot.pin(&pool, key, Conn { h1, home });
    let head = h1::RequestHead {
        method: &parts.method,
        target,
        headers: &parts.headers,
        signed: Some(signed),
    };
    let resp = h1::send(conn.h1, &head, body, ret).await?;
    Ok(resp.map(Upstream::H1))
}

async fn send_on_new(
    pinned: &Pinned,
    pool: &Arc<IdleConns>,
    key: Arc<str>,
    req: Request<TrackedBody>,
    signed: &SigningOutput,
) -> Result<Response<Upstream>, SendError> {
    let conn = match pool.connect(req.uri(), &key).await? {
        NewConn::H1(c) => c,
        // HTTP/2 keeps the absolute URI (its :scheme and :authority).
        NewConn::H2(h2) => return send_h2(h2, req, signed).await,
    };
    let (parts, body) = req.into_parts();
    send_on(conn, pinned, pool, key, &parts, body, signed)
        .await
        .map_err(|f| SendError::Send(f.error.into()))
}

/// Sends `req` with the `signed` headers on the upstream's shared HTTP/2 connection.
async fn send_h2(
    mut h2: H2Sender,
    req: Request<TrackedBody>,
    signed: &SigningOutput,
) -> Result<Response<Upstream>, SendError> {
    let req = with_signature(req, signed).map_err(SendError::Send)?;
    let resp = h2
        .send_request(req)
        .await
        .map_err(|e| SendError::Send(e.into()))?;
    Ok(resp.map(Upstream::Hyper))
}

/// Methods whose request may be sent twice (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
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

    /// A signature to send with test requests.
    fn test_signature() -> SigningOutput {
        use crate::credentials::Credentials;
        use crate::sigv4::{sign, PayloadHash, SignableRequest, SigningParams, SigningSettings};
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let settings = SigningSettings::default();
        let params = SigningParams::new(
            &creds,
            "us-east-1",
            "s3",
            std::time::SystemTime::now(),
            &settings,
        );
        let request =
            SignableRequest::new("GET", "/", vec![("host", "up")], PayloadHash::Bytes(b""));
        sign(&request, &params).unwrap()
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
        let resp = send(pinned, pool, key, req, &test_signature())
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
        let (_, connector) = super::super::upstream::build_client(
            &[],
            Arc::new(ConnectTo::default()),
            &settings,
            &super::super::busy_poll::Policy::new(std::time::Duration::ZERO),
        )
        .unwrap();
        let pool = IdleConns::new(connector, Duration::from_secs(60));
        let workers = Workers::start(2, false).unwrap();
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
