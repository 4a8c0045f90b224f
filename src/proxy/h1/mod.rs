//! The HTTP/1.1 client for upstream connections.
//!
//! The request's own task writes the head and body on a kept connection ([`H1Conn`])
//! and reads the response head; the response body ([`UpstreamBody`]) reads the rest
//! as the client takes it, and hands the connection back once it ended cleanly. A
//! connection has no task of its own and no channel to its requests. That hand-off is
//! what hyper's client costs per request: in the load benchmark this client needs
//! 12.8k fewer instructions per GET than hyper's and 22 % less user CPU
//! (docs/benchmarks.md, session 7).
//!
//! Scope: what the proxy sends, which is a head plus no body or a Content-Length one
//! (a body of unknown length is buffered or spooled before it gets here). Responses may
//! use any HTTP/1.1 framing: Content-Length, chunked (trailers kept) or read-to-close;
//! interim 1xx responses are skipped; `101 Switching Protocols` is refused. An answer
//! that comes while the body is still being sent (an early 4xx) ends the upload and
//! is returned. HTTP/2 upstreams stay on hyper (see [`super::affinity`]).

mod body;
mod head;

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes, BytesMut};
use http::{header, HeaderMap, Method, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use body::UpstreamBody;
use head::{Framing, Head, Parsed};

use super::error::BoxError;
use crate::sigv4::SigningOutput;

/// Bytes of read buffer a connection starts with.
const READ_BUF: usize = 8 * 1024;
/// Read-buffer growth when less than [`MIN_READ`] bytes are free: it starts at
/// [`READ_GROW`] and doubles, up to [`MAX_READ_GROW`], while reads fill what was free
/// (a large body streaming in), as hyper's reads adapt. Small answers never grow it.
/// The 1 MiB cap is measured: with 256 KiB, 2 GiB downloads were 15–30 % slower than
/// through hyper's client; with 1 MiB they are level (`benches/download.sh`).
const READ_GROW: usize = 16 * 1024;
const MAX_READ_GROW: usize = 1024 * 1024;
const MIN_READ: usize = 2 * 1024;
/// Body frames up to this size are copied behind the head (or each other) and sent
/// with one write.
const COALESCE: usize = 16 * 1024;

/// What an upstream connection is read and written through (TCP, or TLS over it).
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Takes back a connection whose response has ended and that can carry another.
pub(crate) type ReturnConn = Box<dyn FnOnce(Box<H1Conn>) + Send>;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The socket refused the request's bytes.
    #[error("writing the request failed")]
    Write(#[source] io::Error),
    /// The socket failed while the response was read.
    #[error("reading the response failed")]
    Read(#[source] io::Error),
    /// End of stream where a response head should have been.
    #[error("the upstream closed the connection before answering")]
    ClosedBeforeResponse,
    /// The response head is not valid HTTP/1.1.
    #[error("invalid response head: {0}")]
    InvalidHead(String),
    /// The response head has more fields than accepted.
    #[error("the response head has more than {} header fields", head::MAX_HEADERS)]
    TooManyHeaders,
    /// The response head is larger than accepted.
    #[error("the response head is larger than {} bytes", head::MAX_HEAD_BYTES)]
    HeadTooLarge,
    /// `101 Switching Protocols`: no upgrade is ever asked for.
    #[error("the upstream switched protocols (101), which the proxy does not support")]
    Upgrade,
    /// The request body failed while it was sent.
    #[error("reading the request body failed")]
    Body(#[source] BoxError),
    /// The request body's length differs from its Content-Length.
    #[error("the request body had {sent} bytes where Content-Length said {declared}")]
    BodyLength {
        /// Bytes the body produced (up to the first excess frame).
        sent: u64,
        /// Its Content-Length.
        declared: u64,
    },
    /// End of stream inside a Content-Length or chunked body.
    #[error("the upstream closed the connection {0} bytes before the end of the body")]
    Truncated(u64),
    /// The chunked framing of the response body is broken.
    #[error("invalid chunked response body: {0}")]
    Chunked(&'static str),
}

/// A failed exchange.
#[derive(Debug)]
pub(crate) struct Failed {
    /// What went wrong.
    pub(crate) error: Error,
    /// The connection failed before any byte of a response came (closed or reset). On
    /// a kept connection that means the upstream had closed it as it was taken, and
    /// the request can be sent again on a new one if it can be replayed.
    pub(crate) no_response: bool,
}

/// One HTTP/1.1 connection to an upstream, idle between requests.
pub(crate) struct H1Conn {
    io: Box<dyn Io>,
    /// Bytes read and not yet consumed.
    read: BytesMut,
    /// The request head (and small body frames) being written.
    write: Vec<u8>,
    /// Requests sent on it so far (shown in `Debug`).
    requests: u64,
    /// How much the read buffer grows by next (see [`READ_GROW`]).
    grow: usize,
}

impl std::fmt::Debug for H1Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H1Conn")
            .field("requests", &self.requests)
            .finish_non_exhaustive()
    }
}

impl H1Conn {
    /// A connection over `io`, on which nothing has been sent yet.
    pub(crate) fn new(io: Box<dyn Io>) -> Self {
        Self {
            io,
            read: BytesMut::with_capacity(READ_BUF),
            write: Vec::new(),
            requests: 0,
            grow: READ_GROW,
        }
    }

    /// True when the idle connection cannot carry a request: the upstream closed it,
    /// reset it, or sent bytes nobody asked for. Never blocks; only a socket that is
    /// known to be readable is read.
    pub(crate) fn is_closed(&mut self) -> bool {
        if !self.read.is_empty() {
            return true;
        }
        let mut cx = Context::from_waker(Waker::noop());
        self.poll_read_more(&mut cx).is_ready()
    }

    /// Reads what the socket has into `read`; `Ok(0)` at end of stream.
    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.read.is_empty() {
            // Back to the start of the buffer if nothing else holds it (the last
            // response's bytes have been sent on): the same cache-warm bytes serve every
            // small response instead of walking through fresh memory.
            let _ = self.read.try_reclaim(READ_BUF);
        }
        let mut free = self.read.capacity() - self.read.len();
        // Once grown (a large body), keep reads large too: a buffer left nearly full by
        // the last frame would otherwise cut the next read short.
        if free < MIN_READ || free < self.grow / 2 {
            self.read.reserve(self.grow);
            free = self.read.capacity() - self.read.len();
        }
        let read = tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read);
        if let Poll::Ready(Ok(n)) = read {
            if n == free {
                self.grow = (self.grow * 2).min(MAX_READ_GROW);
            }
        }
        read
    }

    /// Writes the request head (already in `write`) and the body, watching the read
    /// side whenever writing waits: an answer that comes early is returned. While the
    /// socket drains, the next body frame is read ahead (a spooled body's next file
    /// read then overlaps the write).
    fn poll_write_request<B>(
        &mut self,
        cx: &mut Context<'_>,
        body: &mut B,
        w: &mut Writing,
        method: &Method,
    ) -> Poll<Result<Option<Head>, Error>>
    where
        B: Body<Data = Bytes, Error = BoxError> + Unpin,
    {
        loop {
            if w.pos == self.write.len() && w.frame.is_empty() {
                // Everything queued is written: queue the next frame, or finish.
                if let Some(next) = w.next.take() {
                    self.write.clear();
                    w.pos = 0;
                    w.queue(next, &mut self.write);
                    continue;
                }
                if !w.body_done {
                    match Pin::new(&mut *body).poll_frame(cx) {
                        Poll::Ready(Some(Ok(frame))) => {
                            if let Some(data) = w.count(frame)? {
                                self.write.clear();
                                w.pos = 0;
                                w.queue(data, &mut self.write);
                            }
                            continue;
                        }
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Error::Body(e))),
                        Poll::Ready(None) => {
                            w.end()?;
                            continue;
                        }
                        Poll::Pending => {}
                    }
                } else {
                    match Pin::new(&mut self.io).poll_flush(cx) {
                        Poll::Ready(Ok(())) => return Poll::Ready(Ok(None)),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Write(e))),
                        Poll::Pending => {}
                    }
                }
            } else {
                let from_buf = w.pos < self.write.len();
                let pending = if from_buf {
                    &self.write[w.pos..]
                } else {
                    &w.frame[..]
                };
                match Pin::new(&mut self.io).poll_write(cx, pending) {
                    Poll::Ready(Ok(0)) => {
                        return Poll::Ready(Err(Error::Write(io::ErrorKind::WriteZero.into())))
                    }
                    Poll::Ready(Ok(n)) => {
                        if from_buf {
                            w.pos += n;
                        } else {
                            w.frame.advance(n);
                        }
                        continue;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Write(e))),
                    Poll::Pending => {
                        if w.next.is_none() && !w.body_done {
                            match Pin::new(&mut *body).poll_frame(cx) {
                                Poll::Ready(Some(Ok(frame))) => w.next = w.count(frame)?,
                                Poll::Ready(Some(Err(e))) => {
                                    return Poll::Ready(Err(Error::Body(e)))
                                }
                                Poll::Ready(None) => w.end()?,
                                Poll::Pending => {}
                            }
                        }
                    }
                }
            }
            // Writing waits (a full socket, or a body still arriving): see whether the
            // upstream has answered already.
            match self.poll_read_more(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(Error::ClosedBeforeResponse)),
                Poll::Ready(Ok(_)) => {
                    if let Some(found) = self.parse_head(method)? {
                        return Poll::Ready(Ok(Some(found)));
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::Read(e))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// A final response head at the start of `read`, skipping interim ones; taken
    /// off `read`.
    fn parse_head(&mut self, method: &Method) -> Result<Option<Head>, Error> {
        loop {
            if self.read.is_empty() {
                return Ok(None);
            }
            match head::parse_response(&mut self.read, method)? {
                Parsed::Final(head) => return Ok(Some(head)),
                Parsed::Interim => {}
                Parsed::Partial => return Ok(None),
            }
        }
    }

    /// Reads until a final response head has come.
    fn poll_head(&mut self, cx: &mut Context<'_>, method: &Method) -> Poll<Result<Head, Error>> {
        loop {
            if let Some(found) = self.parse_head(method)? {
                return Poll::Ready(Ok(found));
            }
            match std::task::ready!(self.poll_read_more(cx)) {
                Ok(0) => return Poll::Ready(Err(Error::ClosedBeforeResponse)),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(Error::Read(e))),
            }
        }
    }
}

/// Progress writing one request.
struct Writing {
    /// Bytes of `H1Conn::write` already written.
    pos: usize,
    /// A large body frame being written.
    frame: Bytes,
    /// The frame after it, read ahead while the socket drains.
    next: Option<Bytes>,
    /// Body bytes taken so far.
    sent: u64,
    declared: u64,
    body_done: bool,
}

impl Writing {
    /// A body frame's data, counted against the declared length (None for trailers,
    /// which are not sent: the proxy's bodies have a Content-Length).
    fn count(&mut self, frame: http_body::Frame<Bytes>) -> Result<Option<Bytes>, Error> {
        let Ok(data) = frame.into_data() else {
            return Ok(None);
        };
        self.sent += data.len() as u64;
        if self.sent > self.declared {
            return Err(Error::BodyLength {
                sent: self.sent,
                declared: self.declared,
            });
        }
        Ok(Some(data))
    }

    /// Queues data to write: small frames behind what `buf` holds (one write for
    /// both), large ones on their own.
    fn queue(&mut self, data: Bytes, buf: &mut Vec<u8>) {
        if data.len() <= COALESCE {
            buf.extend_from_slice(&data);
        } else {
            self.frame = data;
        }
    }

    /// The body has ended: it must have been exactly as long as declared.
    fn end(&mut self) -> Result<(), Error> {
        self.body_done = true;
        if self.sent != self.declared {
            return Err(Error::BodyLength {
                sent: self.sent,
                declared: self.declared,
            });
        }
        Ok(())
    }
}

/// What goes into a request head.
#[derive(Debug)]
pub(crate) struct RequestHead<'a> {
    /// The method.
    pub(crate) method: &'a Method,
    /// The origin-form request target (`/path?query`).
    pub(crate) target: &'a str,
    /// The header fields, as they go out (with `Host` and, for a body,
    /// `Content-Length`), except those `signed` replaces.
    pub(crate) headers: &'a HeaderMap,
    /// The signature: its headers are written after `headers`.
    pub(crate) signed: Option<&'a SigningOutput>,
}

/// Sends a request on `conn` and returns the response once its head has come.
///
/// When the response ends and the connection can carry another request, `ret` gets
/// it back: at once when the whole body came with the head, else when
/// [`UpstreamBody`] has read the end of it.
pub(crate) async fn send<B, R>(
    mut conn: Box<H1Conn>,
    req: &RequestHead<'_>,
    mut body: B,
    ret: R,
) -> Result<Response<UpstreamBody>, Failed>
where
    B: Body<Data = Bytes, Error = BoxError> + Unpin,
    R: FnOnce(Box<H1Conn>) + Send + 'static,
{
    conn.requests += 1;
    let method = req.method;
    let declared = req
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let failed = |conn: &H1Conn, error: Error| {
        let nothing_came = conn.read.is_empty()
            && match &error {
                Error::ClosedBeforeResponse => true,
                Error::Write(e) | Error::Read(e) => matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset
                        | io::ErrorKind::BrokenPipe
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::UnexpectedEof
                ),
                _ => false,
            };
        Failed {
            no_response: nothing_came,
            error,
        }
    };
    conn.write.clear();
    head::write_request(&mut conn.write, req);
    let mut w = Writing {
        pos: 0,
        frame: Bytes::new(),
        next: None,
        sent: 0,
        declared,
        body_done: body.is_end_stream(),
    };
    if w.body_done && declared != 0 {
        return Err(failed(&conn, Error::BodyLength { sent: 0, declared }));
    }
    // A body frame that is ready now (one held in memory) goes out with the head, in
    // one write.
    if !w.body_done {
        let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut body).poll_frame(cx))).await;
        let queued = match first {
            Poll::Ready(Some(Ok(frame))) => w.count(frame).map(|data| {
                if let Some(data) = data {
                    w.queue(data, &mut conn.write);
                }
            }),
            Poll::Ready(Some(Err(e))) => Err(Error::Body(e)),
            Poll::Ready(None) => w.end(),
            Poll::Pending => Ok(()),
        };
        if let Err(e) = queued {
            return Err(failed(&conn, e));
        }
    }
    let early = match poll_fn(|cx| conn.poll_write_request(cx, &mut body, &mut w, method)).await {
        Ok(early) => early,
        Err(e) => return Err(failed(&conn, e)),
    };
    let head = match early {
        Some(found) => found,
        None => match poll_fn(|cx| conn.poll_head(cx, method)).await {
            Ok(found) => found,
            Err(e) => return Err(failed(&conn, e)),
        },
    };
    // An answer before the whole body was sent leaves the request unfinished.
    let keep_alive = head.keep_alive
        && w.body_done
        && w.next.is_none()
        && w.frame.is_empty()
        && w.pos == conn.write.len();
    let mut response = Response::new(());
    *response.status_mut() = head.status;
    *response.version_mut() = head.version;
    *response.headers_mut() = head.headers;
    let body = match head.framing {
        Framing::Length(n) if n <= conn.read.len() as u64 => {
            // invariant: n <= read.len(), a usize.
            let data = conn
                .read
                .split_to(usize::try_from(n).unwrap_or(usize::MAX))
                .freeze();
            if keep_alive && conn.read.is_empty() {
                ret(conn);
            }
            UpstreamBody::complete(data)
        }
        framing => UpstreamBody::new(conn, framing, keep_alive, Box::new(ret)),
    };
    Ok(response.map(|()| body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    type Kept = Arc<Mutex<Option<Box<H1Conn>>>>;

    fn keeper() -> (Kept, impl FnOnce(Box<H1Conn>) + Send + 'static) {
        let kept: Kept = Arc::default();
        let k = kept.clone();
        (kept, move |c| *k.lock().unwrap() = Some(c))
    }

    fn body(b: &'static [u8]) -> http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError> {
        Full::new(Bytes::from_static(b))
            .map_err(|e| match e {})
            .boxed_unsync()
    }

    fn head<'a>(method: &'a Method, target: &'a str, headers: &'a HeaderMap) -> RequestHead<'a> {
        RequestHead {
            method,
            target,
            headers,
            signed: None,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, v.parse().unwrap());
        }
        h
    }

    /// A scripted upstream on a real socket: for each exchange, reads one request head
    /// (and `Content-Length` body) and writes the canned answer; returns what it read.
    async fn upstream(
        answers: Vec<&'static [u8]>,
    ) -> (Box<H1Conn>, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut s = BufReader::new(s);
            let mut seen = Vec::new();
            for answer in answers {
                let mut head = String::new();
                loop {
                    let mut line = String::new();
                    if s.read_line(&mut line).await.unwrap() == 0 {
                        return seen;
                    }
                    head.push_str(&line);
                    if line == "\r\n" {
                        break;
                    }
                }
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                let mut body = vec![0; len];
                s.read_exact(&mut body).await.unwrap();
                seen.push(format!("{head}{}", String::from_utf8_lossy(&body)));
                s.get_mut().write_all(answer).await.unwrap();
            }
            seen
        });
        let io = tokio::net::TcpStream::connect(addr).await.unwrap();
        (Box::new(H1Conn::new(Box::new(io))), task)
    }

    #[tokio::test]
    async fn reads_grow_while_a_large_body_streams_and_stay_small_otherwise() {
        let (ours, mut theirs) = tokio::io::duplex(4 << 20);
        let mut conn = H1Conn::new(Box::new(ours));
        theirs.write_all(&[b'x'; 100]).await.unwrap();
        poll_fn(|cx| conn.poll_read_more(cx)).await.unwrap();
        assert_eq!(conn.grow, READ_GROW, "a small answer does not grow reads");

        theirs.write_all(&vec![b'x'; 3 << 20]).await.unwrap();
        let mut total = conn.read.len();
        while total < (3 << 20) + 100 {
            conn.read.clear();
            total += poll_fn(|cx| conn.poll_read_more(cx)).await.unwrap();
        }
        assert_eq!(
            conn.grow, MAX_READ_GROW,
            "a large body grows reads to the cap"
        );
    }

    #[tokio::test]
    async fn a_kept_connection_carries_request_after_request() {
        let (conn, task) = upstream(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok\n",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n4\r\ndone\r\n0\r\n\r\n",
        ])
        .await;
        let (kept, ret) = keeper();
        let h = headers(&[("host", "up.local")]);
        let resp = send(conn, &head(&Method::GET, "/a?b=1", &h), body(b""), ret)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-length"], "3");
        assert!(
            kept.lock().unwrap().is_some(),
            "handed back with a complete body"
        );
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok\n");

        let conn = kept.lock().unwrap().take().unwrap();
        let (kept, ret) = keeper();
        let h = headers(&[("host", "up.local"), ("content-length", "5")]);
        let resp = send(conn, &head(&Method::PUT, "/k", &h), body(b"hello"), ret)
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "the 100 was skipped");
        assert!(
            kept.lock().unwrap().is_none(),
            "not before the body is read"
        );
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "done");
        assert!(
            kept.lock().unwrap().is_some(),
            "after the chunked body ended"
        );

        let seen = task.await.unwrap();
        assert_eq!(seen[0], "GET /a?b=1 HTTP/1.1\r\nhost: up.local\r\n\r\n");
        assert_eq!(
            seen[1],
            "PUT /k HTTP/1.1\r\nhost: up.local\r\ncontent-length: 5\r\n\r\nhello"
        );
    }

    #[tokio::test]
    async fn connection_close_and_head_responses() {
        let (conn, _task) = upstream(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nhi",
        ])
        .await;
        let (kept, ret) = keeper();
        let h = headers(&[("host", "up.local")]);
        let resp = send(conn, &head(&Method::HEAD, "/", &h), body(b""), ret)
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-length"], "9");
        assert!(resp.body().is_end_stream(), "a HEAD response has no body");
        let conn = kept.lock().unwrap().take().unwrap();
        let (kept, ret) = keeper();
        let resp = send(conn, &head(&Method::GET, "/", &h), body(b""), ret)
            .await
            .unwrap();
        assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "hi");
        assert!(
            kept.lock().unwrap().is_none(),
            "Connection: close is not reused"
        );
    }

    #[tokio::test]
    async fn a_stale_connection_is_reported_as_such() {
        let (conn, task) = upstream(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]).await;
        let (kept, ret) = keeper();
        let h = headers(&[("host", "up.local")]);
        send(conn, &head(&Method::GET, "/", &h), body(b""), ret)
            .await
            .unwrap();
        let mut conn = kept.lock().unwrap().take().unwrap();
        task.await.unwrap(); // the upstream hangs up
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The runtime has seen the close while this task slept: the idle check sees it
        // without blocking, and a request sent anyway fails with nothing answered.
        assert!(
            conn.is_closed(),
            "the upstream's close is noticed before use"
        );
        let (_, ret) = keeper();
        let failed = send(conn, &head(&Method::GET, "/", &h), body(b""), ret).await;
        let failed = failed.map(|_| ()).unwrap_err();
        assert!(failed.no_response, "{failed:?}");
    }

    #[tokio::test]
    async fn a_body_that_does_not_match_its_length_is_not_sent_as_complete() {
        let (conn, _task) = upstream(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"]).await;
        let (_, ret) = keeper();
        let h = headers(&[("host", "up.local"), ("content-length", "9")]);
        let failed = send(conn, &head(&Method::PUT, "/", &h), body(b"short"), ret)
            .await
            .map(|_| ())
            .unwrap_err();
        assert!(!failed.no_response);
        assert!(
            failed
                .error
                .to_string()
                .contains("5 bytes where Content-Length said 9"),
            "{}",
            failed.error
        );
    }

    #[tokio::test]
    async fn an_early_answer_ends_the_upload() {
        // The upstream answers 403 after the head, without reading the body.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0; 1024];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\ndenied")
                .await
                .unwrap();
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        });
        let io = tokio::net::TcpStream::connect(addr).await.unwrap();
        let conn = Box::new(H1Conn::new(Box::new(io)));
        // A body far larger than the socket buffers, that never ends on its own.
        let big = Bytes::from(vec![b'x'; 64 << 20]);
        let h = headers(&[
            ("host", "up.local"),
            ("content-length", &(64u64 << 20).to_string()),
        ]);
        let (kept, ret) = keeper();
        let resp = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            send(
                conn,
                &head(&Method::PUT, "/", &h),
                Full::new(big).map_err(|e| match e {}).boxed_unsync(),
                ret,
            ),
        )
        .await
        .expect("the answer ends the upload")
        .unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(
            resp.into_body().collect().await.unwrap().to_bytes(),
            "denied"
        );
        assert!(
            kept.lock().unwrap().is_none(),
            "a half-sent request's connection is closed"
        );
    }
}
