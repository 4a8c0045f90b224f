//! Request and response bodies.
//!
//! - [`hash_and_buffer`] reads a client body frame by frame into the streaming
//!   [`PayloadHasher`]; up to the memory threshold it stays in memory, beyond that it is
//!   spooled to an anonymous temporary file (removed by the OS when closed, even on a
//!   crash) and later streamed from it, so memory stays bounded whatever the size.
//! - [`RequestBody`] is what goes upstream: empty, in memory, from the spool file, or
//!   the client's body streamed straight through (`UNSIGNED-PAYLOAD` with a known
//!   length). Its `size_hint` is exact, so upstream always gets a `Content-Length`.
//! - [`ResponseBody`] is what goes back to the client: an error text, or the upstream
//!   body streamed frame by frame without buffering, counted into the access log.

use std::io::SeekFrom;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncSeekExt, AsyncWriteExt, ReadBuf};

use super::access_log::AccessLog;
use super::error::BoxError;
use super::metrics::{SpoolGuard, SpoolStats};
use super::ProxyError;
use crate::config::BodyLimits;
use crate::sigv4::PayloadHasher;

/// Size of the reads from a spool file.
const SPOOL_READ_CHUNK: usize = 256 * 1024;
/// Spool writes are batched to this size: each write to a tokio file is a hop to the
/// blocking pool, and chunked client bodies arrive in small frames.
const SPOOL_WRITE_BATCH: usize = 1024 * 1024;

/// A fully read request body, its length and its SHA-256.
#[derive(Debug)]
pub(crate) struct Hashed {
    pub(crate) body: RequestBody,
    pub(crate) len: u64,
    pub(crate) sha256: String,
}

/// Reads `body` to the end, hashing it; keeps it in memory up to
/// `limits.memory_threshold_bytes`, spools it beyond. More than `limits.max_bytes`
/// gives [`ProxyError::BodyTooLarge`]. `declared` (the client's `Content-Length`) only
/// decides whether to spool from the start.
pub(crate) async fn hash_and_buffer<B>(
    mut body: B,
    declared: Option<u64>,
    limits: &BodyLimits,
    stats: &Arc<SpoolStats>,
) -> Result<Hashed, ProxyError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    let threshold = limits.memory_threshold_bytes;
    let mut hasher = PayloadHasher::new();
    let mut spool = match declared {
        Some(n) if n > threshold => Some(Spool::create(limits, stats).await?),
        _ => None,
    };
    let mut mem = BytesMut::new();
    // A body that came in one frame (the usual small one) is kept as hyper delivered
    // it; `mem` gathers the frames of a longer one.
    let mut one: Option<Bytes> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ProxyError::ClientBody(e.into()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers: not forwarded (upstream gets a Content-Length body)
        };
        hasher.update(&data);
        if hasher.len() > limits.max_bytes {
            return Err(ProxyError::BodyTooLarge {
                limit: limits.max_bytes,
            });
        }
        match &mut spool {
            Some(s) => s.write(&data).await?,
            None if hasher.len() > threshold => {
                let mut s = Spool::create(limits, stats).await?;
                if let Some(first) = one.take() {
                    s.write(&first).await?;
                }
                s.write(&mem).await?;
                s.write(&data).await?;
                mem = BytesMut::new();
                spool = Some(s);
            }
            None if mem.is_empty() && one.is_none() => one = Some(data),
            None => {
                if let Some(first) = one.take() {
                    mem.extend_from_slice(&first);
                }
                mem.extend_from_slice(&data)
            }
        }
    }
    let len = hasher.len();
    let body = match spool {
        Some(s) => RequestBody::Spooled(s.into_reader(len).await?),
        None if len == 0 => RequestBody::Empty,
        None => RequestBody::Memory(Some(one.unwrap_or_else(|| mem.freeze()))),
    };
    Ok(Hashed {
        body,
        len,
        sha256: hasher.finish(),
    })
}

/// A spool file being written.
struct Spool {
    file: tokio::fs::File,
    pending: BytesMut,
    guard: SpoolGuard,
}

impl Spool {
    async fn create(limits: &BodyLimits, stats: &Arc<SpoolStats>) -> Result<Self, ProxyError> {
        // Counted before the file exists (and uncounted after it is closed, by field
        // order), so the gauge never shows fewer files than are open.
        let guard = stats.opened();
        let dir = limits.spool_dir.clone();
        let file = tokio::task::spawn_blocking(move || match dir {
            Some(d) => tempfile::tempfile_in(d),
            None => tempfile::tempfile(),
        })
        .await
        .map_err(|e| ProxyError::Spool(std::io::Error::other(e)))?
        .map_err(ProxyError::Spool)?;
        tracing::debug!("spooling request body to a temporary file");
        Ok(Self {
            file: tokio::fs::File::from_std(file),
            pending: BytesMut::with_capacity(SPOOL_WRITE_BATCH),
            guard,
        })
    }

    async fn write(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        self.pending.extend_from_slice(data);
        if self.pending.len() >= SPOOL_WRITE_BATCH {
            self.flush_pending().await?;
        }
        Ok(())
    }

    async fn flush_pending(&mut self) -> Result<(), ProxyError> {
        self.file
            .write_all(&self.pending)
            .await
            .map_err(ProxyError::Spool)?;
        self.pending.clear();
        Ok(())
    }

    async fn into_reader(mut self, len: u64) -> Result<SpoolReader, ProxyError> {
        self.flush_pending().await?;
        self.file.flush().await.map_err(ProxyError::Spool)?;
        self.file
            .seek(SeekFrom::Start(0))
            .await
            .map_err(ProxyError::Spool)?;
        Ok(SpoolReader {
            file: self.file,
            remaining: len,
            buf: vec![0; SPOOL_READ_CHUNK],
            _guard: self.guard,
        })
    }
}

/// Streams a spool file of known length.
#[derive(Debug)]
pub(crate) struct SpoolReader {
    file: tokio::fs::File,
    remaining: u64,
    buf: Vec<u8>,
    /// Counts the file open in `/metrics` until it is closed (dropped).
    _guard: SpoolGuard,
}

/// The body sent upstream. `size_hint` is always exact.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// No body.
    Empty,
    /// A body held in memory (taken when sent).
    Memory(Option<Bytes>),
    /// A body streamed from its spool file.
    Spooled(SpoolReader),
    /// The client's body streamed through unchanged; `remaining` is its declared length.
    Streaming {
        /// The client's body.
        body: Incoming,
        /// Bytes still expected.
        remaining: u64,
    },
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Memory(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Self::Spooled(r) => {
                if r.remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = usize::try_from(r.remaining)
                    .unwrap_or(usize::MAX)
                    .min(r.buf.len());
                let mut rb = ReadBuf::new(&mut r.buf[..want]);
                ready!(Pin::new(&mut r.file).poll_read(cx, &mut rb))?;
                let n = rb.filled().len();
                if n == 0 {
                    return Poll::Ready(Some(Err("spool file ended early".into())));
                }
                r.remaining -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::copy_from_slice(rb.filled())))))
            }
            Self::Streaming { body, remaining } => loop {
                match ready!(Pin::new(&mut *body).poll_frame(cx)) {
                    None => return Poll::Ready(None),
                    Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            *remaining = remaining.saturating_sub(data.len() as u64);
                            return Poll::Ready(Some(Ok(Frame::data(data))));
                        }
                        // trailers: dropped, as for buffered bodies
                    }
                }
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Memory(b) => b.is_none(),
            Self::Spooled(r) => r.remaining == 0,
            Self::Streaming { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(match self {
            Self::Empty => 0,
            Self::Memory(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            Self::Spooled(r) => r.remaining,
            Self::Streaming { remaining, .. } => *remaining,
        })
    }
}

/// When an upstream request body last sent something: the response timeout counts the
/// upstream's silence from there, so a long upload is not cut off while it progresses.
#[derive(Debug)]
pub(crate) struct Progress {
    start: Instant,
    last_ms: AtomicU64,
}

impl Progress {
    /// Progress as of now.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// When the body last sent a frame (or when it was created).
    pub(crate) fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// A [`RequestBody`] that records its [`Progress`].
#[derive(Debug)]
pub(crate) struct TrackedBody {
    body: RequestBody,
    /// None for a body with nothing to send (no frames, so nothing to record).
    progress: Option<Arc<Progress>>,
}

impl TrackedBody {
    pub(crate) fn new(body: RequestBody, progress: Option<Arc<Progress>>) -> Self {
        Self { body, progress }
    }

    /// The same body again, to send on another connection after the first failed
    /// before sending anything was answered: only an empty or in-memory body can be.
    pub(crate) fn replay(&self) -> Option<Self> {
        let body = match &self.body {
            RequestBody::Empty => RequestBody::Empty,
            RequestBody::Memory(Some(b)) => RequestBody::Memory(Some(b.clone())),
            _ => return None,
        };
        Some(Self {
            body,
            progress: self.progress.clone(),
        })
    }
}

/// A response body from upstream: hyper's (HTTP/2 upstreams, and the pooled client
/// that HTTP/2 clients use), or the proxy's own HTTP/1.1 client's ([`super::h1`]).
#[derive(Debug)]
pub(crate) enum Upstream {
    /// From hyper's client.
    Hyper(Incoming),
    /// From [`super::h1`].
    H1(super::h1::UpstreamBody),
}

impl Body for Upstream {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Hyper(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            Self::H1(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Hyper(b) => b.is_end_stream(),
            Self::H1(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Hyper(b) => b.size_hint(),
            Self::H1(b) => b.size_hint(),
        }
    }
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let out = Pin::new(&mut this.body).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(p)) = (&out, &this.progress) {
            p.touch();
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The body sent back to the client. Counts bytes into the access log and writes the log
/// line when it ends or is dropped.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    inner: ResponseInner,
    log: Option<Box<AccessLog>>,
}

#[derive(Debug)]
enum ResponseInner {
    Full(Option<Bytes>),
    Upstream(Upstream),
    /// Bytes already read from the upstream body (see `diagnose`), then the rest.
    Prefixed(Option<Bytes>, Upstream),
}

impl ResponseBody {
    /// A fixed body.
    pub(crate) fn full(bytes: Bytes) -> Self {
        Self {
            inner: ResponseInner::Full(Some(bytes)),
            log: None,
        }
    }

    /// The upstream's body, streamed.
    pub(crate) fn upstream(body: Upstream) -> Self {
        Self {
            inner: ResponseInner::Upstream(body),
            log: None,
        }
    }

    /// The upstream's body whose first bytes, `prefix`, were already read; `ended`
    /// when that was all of it.
    pub(crate) fn upstream_prefixed(prefix: Bytes, body: Upstream, ended: bool) -> Self {
        let inner = match (ended, prefix.is_empty()) {
            (true, true) => ResponseInner::Full(None),
            (true, false) => ResponseInner::Full(Some(prefix)),
            (false, _) => ResponseInner::Prefixed(Some(prefix).filter(|p| !p.is_empty()), body),
        };
        Self { inner, log: None }
    }

    /// Attaches the access-log record; it is written when this body ends or is dropped.
    pub(crate) fn with_log(mut self, log: AccessLog) -> Self {
        self.log = Some(Box::new(log));
        if self.is_end_stream() {
            self.log = None; // nothing to send: write the line now
        }
        self
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let out = match &mut this.inner {
            ResponseInner::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            ResponseInner::Upstream(body) => ready!(Pin::new(body).poll_frame(cx)),
            ResponseInner::Prefixed(prefix, body) => match prefix.take() {
                Some(p) => Some(Ok(Frame::data(p))),
                None => ready!(Pin::new(body).poll_frame(cx)),
            },
        };
        match &out {
            Some(Ok(frame)) => {
                if let (Some(log), Some(data)) = (this.log.as_mut(), frame.data_ref()) {
                    log.bytes_out += data.len() as u64;
                }
            }
            Some(Err(e)) => {
                if let Some(log) = this.log.as_mut() {
                    log.error = Some(format!("upstream response body failed: {e}"));
                }
                this.log = None;
            }
            None => this.log = None,
        }
        if this.is_end_stream() {
            this.log = None;
        }
        Poll::Ready(out)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            ResponseInner::Full(b) => b.is_none(),
            ResponseInner::Upstream(b) => b.is_end_stream(),
            ResponseInner::Prefixed(p, b) => p.is_none() && b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            ResponseInner::Full(b) => {
                SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseInner::Upstream(b) => b.size_hint(),
            ResponseInner::Prefixed(p, b) => {
                let extra = p.as_ref().map_or(0, |p| p.len() as u64);
                let h = b.size_hint();
                let mut out = SizeHint::new();
                out.set_lower(h.lower() + extra);
                if let Some(u) = h.upper() {
                    out.set_upper(u + extra);
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests;
