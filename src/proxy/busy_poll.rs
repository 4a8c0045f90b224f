//! [`BusyPoll`]: a TCP stream that, when its peer's answer is due, reads the socket in
//! a loop for a short while (`busy_poll_us`) before letting its task sleep.
//!
//! Why: at one connection a proxied request sleeps twice in `epoll_wait`, once for the
//! upstream's answer and once for the client's next request, and each sleep ends in a
//! wake-up. On a virtual machine whose idle vCPUs halt (Firecracker with
//! `haltpoll.guest_halt_poll_ns=0`, as the benchmark machine), a wake-up costs tens of
//! microseconds: there, a bare forwarder in front of a local upstream added 0.06 to
//! 0.2 ms to each request's p50. Polling while the answer is on its way takes that
//! cost out, as the kernel's `SO_BUSY_POLL` and a guest's halt-polling do, for the CPU
//! time spent polling (docs/benchmarks.md, "Session 9").
//!
//! When it polls, and for how long, is bounded four ways:
//! - only for an answer: after this stream wrote and flushed something and before it
//!   read anything back, once per answer. A flush is what says "all sent, now the
//!   answer": the upstream client flushes once the whole request is written, so a read
//!   that checks for an early answer while an upload is still streaming does not
//!   poll. An idle keep-alive connection never polls. On a client connection the
//!   server also flushes a response head whose body is still on its way; the client's
//!   next request cannot come before that body, so a client stream asks its
//!   [`Responding`] and polls only once the whole response is out. (Polling then would
//!   hold up the very body the client waits for: a download from an upstream that
//!   sends its head and body apart stalled for the whole poll, and each such miss
//!   counted towards giving up);
//! - only while the whole process has one client connection open ([`Gate`]). One task
//!   then owns all the work of its worker thread, so polling holds nobody up; under
//!   load, where the CPU is better spent serving, nothing polls;
//! - for at most `busy_poll_us` each time;
//! - it stops after [`GIVE_UP_AFTER`] polls in a row found no answer, and from then
//!   on tries again only every [`PROBE_EVERY`]th answer. A far upstream (a real AWS
//!   endpoint, milliseconds away) or a client that pauses between requests so costs
//!   one poll per [`PROBE_EVERY`] answers.
//!
//! A connection that stops taking turns (a `CONNECT` tunnel, whose two directions
//! share one task; an HTTP/2 connection, whose streams run in other tasks) turns it
//! off with its [`Switch`].
//!
//! A stream's writes go through an [`Outbox`]: under load, small ones are held for the
//! worker's end-of-turn send (see [`super::coalesce`]).

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::coalesce::Outbox;

/// Polls in a row that find no answer before polling stops.
const GIVE_UP_AFTER: u8 = 2;
/// Once stopped, one answer in this many is polled for, to learn whether the peer
/// became quick again.
const PROBE_EVERY: u8 = 16;
/// The most one polling read takes in.
const MAX_POLL_READ: usize = 64 * 1024;
/// Reads of the socket are this many spin-loop hints apart (about a tenth of a
/// microsecond each), so a poll costs fewer system calls.
const SPINS_BETWEEN_READS: u32 = 32;

/// Whether a client connection is still sending a response ([`Policy::wrap_client`]).
pub(crate) trait Responding: std::fmt::Debug + Send + Sync {
    /// True while a response (its head or any of its body) is still to be sent.
    fn responding(&self) -> bool;
}

/// Counts an open client connection while held (see [`Policy::client_opened`]).
#[derive(Debug)]
pub(crate) struct Gate(Arc<Shared>);

impl Drop for Gate {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Relaxed);
    }
}

/// What every [`BusyPoll`] of a proxy shares.
#[derive(Debug, Default)]
struct Shared {
    /// Client connections open now.
    clients: AtomicUsize,
    /// Polls that read the answer.
    answered: AtomicU64,
    /// Polls that ended without one.
    missed: AtomicU64,
}

/// The polling settings and counters every [`BusyPoll`] of a proxy shares.
#[derive(Debug, Clone)]
pub(crate) struct Policy {
    /// How long one poll lasts at most; zero turns polling off.
    max: Duration,
    shared: Arc<Shared>,
}

impl Policy {
    /// Polls last at most `max` (zero: never poll).
    pub(crate) fn new(max: Duration) -> Self {
        Self {
            max,
            shared: Arc::default(),
        }
    }

    /// Wraps `inner`, an upstream connection.
    pub(crate) fn wrap<T: AsFd>(&self, inner: T) -> BusyPoll<T> {
        self.wrap_as(inner, None)
    }

    /// Wraps `inner`, a client connection: it polls for the client's next request only
    /// while `responding` says no response is being sent.
    pub(crate) fn wrap_client<T: AsFd>(
        &self,
        inner: T,
        responding: Arc<dyn Responding>,
    ) -> BusyPoll<T> {
        self.wrap_as(inner, Some(responding))
    }

    fn wrap_as<T: AsFd>(&self, inner: T, responding: Option<Arc<dyn Responding>>) -> BusyPoll<T> {
        BusyPoll {
            inner,
            responding,
            max: self.max,
            shared: self.shared.clone(),
            wrote: false,
            awaiting: false,
            tried: false,
            misses: 0,
            skipped: 0,
            switch: Switch::default(),
            out: Outbox::default(),
        }
    }

    /// Counts a client connection until the returned value is dropped. Polling is
    /// allowed only while exactly one is open.
    pub(crate) fn client_opened(&self) -> Gate {
        self.shared.clients.fetch_add(1, Relaxed);
        Gate(self.shared.clone())
    }

    /// Polls that read the answer, for `/metrics`.
    pub(crate) fn answered(&self) -> u64 {
        self.shared.answered.load(Relaxed)
    }

    /// Polls that ended without one (each cost a whole `max`), for `/metrics`.
    pub(crate) fn missed(&self) -> u64 {
        self.shared.missed.load(Relaxed)
    }
}

/// Turns polling off for one stream, from elsewhere.
#[derive(Debug, Clone, Default)]
pub(crate) struct Switch(Arc<AtomicBool>);

impl Switch {
    /// Stops the stream this switch belongs to from polling, for good.
    pub(crate) fn turn_off(&self) {
        self.0.store(true, Relaxed);
    }

    fn is_off(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// A stream that busy-polls for its peer's answer (see the module docs).
#[derive(Debug)]
pub(crate) struct BusyPoll<T: AsFd> {
    inner: T,
    /// A client connection's: whether a response is still being sent.
    responding: Option<Arc<dyn Responding>>,
    max: Duration,
    shared: Arc<Shared>,
    /// Something was written since the last flush.
    wrote: bool,
    /// Something was written and flushed, and nothing has been read since.
    awaiting: bool,
    /// Polling was already tried (or skipped) for the awaited answer.
    tried: bool,
    /// Polls in a row that ended without an answer.
    misses: u8,
    /// Answers not polled for since the last probe.
    skipped: u8,
    switch: Switch,
    /// Writes coalesced into the worker's end-of-turn send (see [`super::coalesce`]).
    out: Outbox,
}

impl<T: AsFd> Drop for BusyPoll<T> {
    fn drop(&mut self) {
        self.out.close(&self.inner);
    }
}

impl<T: AsFd> BusyPoll<T> {
    /// The switch that turns this stream's polling off.
    pub(crate) fn switch(&self) -> &Switch {
        &self.switch
    }

    /// Whether to poll for the awaited answer, which has not come yet (see the module
    /// docs). Decides once per answer.
    fn should_poll(&mut self) -> bool {
        if !self.awaiting || self.tried || self.max.is_zero() || self.switch.is_off() {
            return false;
        }
        if self.shared.clients.load(Relaxed) != 1 {
            // Under load: no poll for this answer, and no need to ask the connection.
            self.tried = true;
            return false;
        }
        if self.responding.as_ref().is_some_and(|r| r.responding()) {
            // Not `tried` yet: the read after the response's last flush polls.
            return false;
        }
        self.tried = true;
        if self.misses < GIVE_UP_AFTER {
            return true;
        }
        self.skipped += 1;
        if self.skipped >= PROBE_EVERY {
            self.skipped = 0;
            return true;
        }
        false
    }

    fn got_answer(&mut self) {
        self.awaiting = false;
        self.tried = false;
    }
}

impl<T: AsFd> BusyPoll<T> {
    /// Reads the socket itself until it has bytes or `max` is over. (Through `inner`
    /// it could not: tokio only learns a socket became readable when its thread next
    /// asks the kernel, which it does when it has nothing else to run.) `None` when
    /// nothing came.
    fn spin(&mut self, buf: &mut ReadBuf<'_>) -> Option<io::Result<()>> {
        let deadline = Instant::now() + self.max;
        // Safe code reads into initialised bytes only; a buffer grown for a large body
        // is not zeroed whole for it.
        let dst = buf.initialize_unfilled_to(buf.remaining().min(MAX_POLL_READ));
        loop {
            match rustix::net::recv(
                self.inner.as_fd(),
                &mut *dst,
                rustix::net::RecvFlags::DONTWAIT,
            ) {
                Ok((n, _)) => {
                    buf.advance(n);
                    return Some(Ok(()));
                }
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(e) => return Some(Err(e.into())),
            }
            if Instant::now() >= deadline {
                return None;
            }
            for _ in 0..SPINS_BETWEEN_READS {
                std::hint::spin_loop();
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + AsFd + Unpin> AsyncRead for BusyPoll<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Bytes a coalesced send left behind go first (see `super::coalesce`).
        if let Poll::Ready(Err(e)) = this.out.poll_drain(&mut this.inner, cx, false) {
            return Poll::Ready(Err(e));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.got_answer();
                }
                Poll::Ready(r)
            }
            // No poll for an answer to bytes still waiting for the end of the turn: they
            // go out only once this task yields (`super::coalesce`).
            Poll::Pending if !this.should_poll() || this.out.holds_back() => Poll::Pending,
            Poll::Pending => match this.spin(buf) {
                Some(r) => {
                    this.shared.answered.fetch_add(1, Relaxed);
                    this.misses = 0;
                    this.got_answer();
                    // The waker `inner` registered stays: a later wake-up finds
                    // nothing to read and costs one spurious poll.
                    Poll::Ready(r)
                }
                None => {
                    this.shared.missed.fetch_add(1, Relaxed);
                    this.misses = this.misses.saturating_add(1);
                    Poll::Pending
                }
            },
        }
    }
}

impl<T: AsyncWrite + AsFd + AsRawFd + Unpin> BusyPoll<T> {
    /// Hands `bufs` to this turn's coalesced send when it may take them; `None` to
    /// write them to the socket now.
    fn poll_coalesced(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Option<Poll<io::Result<usize>>> {
        // One client connection has nothing to coalesce with (see `super::coalesce`).
        let allowed = self.shared.clients.load(Relaxed) > 1;
        let r = self.out.poll_write(&mut self.inner, cx, bufs, allowed)?;
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote = true;
        }
        Some(r)
    }
}

impl<T: AsyncWrite + AsFd + AsRawFd + Unpin> AsyncWrite for BusyPoll<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(r) = self.poll_coalesced(cx, &[io::IoSlice::new(buf)]) {
            return r;
        }
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote = true;
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(r) = self.poll_coalesced(cx, bufs) {
            return r;
        }
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.wrote = true;
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        // Bytes queued for this turn's send count as flushed, as bytes in the kernel's
        // send buffer do; bytes a send left behind are written first.
        std::task::ready!(this.out.poll_drain(&mut this.inner, cx, false))?;
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if matches!(r, Poll::Ready(Ok(()))) && this.wrote {
            this.wrote = false;
            this.awaiting = true;
        }
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        std::task::ready!(this.out.poll_drain(&mut this.inner, cx, true))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// So hyper-rustls and the upstream client see the TCP connection's details.
impl hyper_util::client::legacy::connect::Connection for BusyPoll<tokio::net::TcpStream> {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.inner.connected()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::future::poll_fn;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// A loopback connection: our end and the peer's end.
    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (b, _) = l.accept().await.unwrap();
        (a, b)
    }

    /// A loopback connection: our end wrapped by `p`, and the peer's end (also used by
    /// `super::coalesce`'s tests).
    pub(in crate::proxy) async fn polled(p: &Policy) -> (BusyPoll<TcpStream>, TcpStream) {
        let (a, b) = pair().await;
        (p.wrap(a), b)
    }

    /// Writes and flushes a request: what arms polling.
    async fn send(io: &mut BusyPoll<TcpStream>) {
        io.write_all(b"ping").await.unwrap();
        io.flush().await.unwrap();
    }

    /// One poll of `io.read`: `Some(bytes)` when it returned data at once.
    async fn read_now(io: &mut BusyPoll<TcpStream>) -> Option<Vec<u8>> {
        let mut buf = [0u8; 64];
        let mut rb = ReadBuf::new(&mut buf);
        poll_fn(|cx| {
            Poll::Ready(match Pin::new(&mut *io).poll_read(cx, &mut rb) {
                Poll::Ready(r) => {
                    r.unwrap();
                    Some(rb.filled().to_vec())
                }
                Poll::Pending => None,
            })
        })
        .await
    }

    /// The peer, on a thread of its own: reads the 4-byte request, then sends `reply`
    /// 20 ms later. The caller's thread can stay inside one poll_read meanwhile, so only
    /// polling sees the reply come.
    fn answer_later(
        mut peer: TcpStream,
        reply: &'static [u8],
    ) -> std::thread::JoinHandle<TcpStream> {
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut got = [0u8; 4];
                peer.read_exact(&mut got).await.unwrap();
                tokio::time::sleep(Duration::from_millis(20)).await;
                peer.write_all(reply).await.unwrap();
                peer
            })
        })
    }

    #[tokio::test]
    async fn an_answer_that_comes_while_polling_is_read_without_sleeping() {
        let p = Policy::new(Duration::from_secs(5));
        let _client = p.client_opened();
        let (mut io, peer) = polled(&p).await;
        send(&mut io).await;
        // The peer answers 20 ms later, while this thread polls.
        let answer = answer_later(peer, b"pong");
        let got = read_now(&mut io).await;
        let _peer = answer.join().unwrap();
        assert_eq!(got.as_deref(), Some(&b"pong"[..]));
        assert_eq!((p.answered(), p.missed()), (1, 0));
    }

    #[tokio::test]
    async fn nothing_is_polled_for_when_idle_unflushed_switched_off_or_not_alone() {
        let p = Policy::new(Duration::from_secs(5));
        let _first = p.client_opened();
        let t = Instant::now();
        // Each case on a fresh stream whose peer never answers: a poll would last 5 s.
        // Idle: nothing was written.
        let (mut io, _peer1) = polled(&p).await;
        assert_eq!(read_now(&mut io).await, None, "idle");
        // Written but not flushed (an upload still streaming).
        let (mut io, _peer2) = polled(&p).await;
        io.write_all(b"ping").await.unwrap();
        assert_eq!(read_now(&mut io).await, None, "unflushed");
        // Switched off.
        let (mut io, _peer3) = polled(&p).await;
        io.switch().turn_off();
        send(&mut io).await;
        assert_eq!(read_now(&mut io).await, None, "switched off");
        // Another client connection is open.
        let (mut io, _peer4) = polled(&p).await;
        let _second = p.client_opened();
        send(&mut io).await;
        assert_eq!(read_now(&mut io).await, None, "two clients");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        assert_eq!((p.answered(), p.missed()), (0, 0));
    }

    #[tokio::test]
    async fn polling_stops_after_misses_and_probes_now_and_then() {
        let p = Policy::new(Duration::from_millis(1));
        let _client = p.client_opened();
        let (mut io, mut peer) = polled(&p).await;
        let mut answered_now = Vec::new();
        for round in 0..40u32 {
            send(&mut io).await;
            // Polled at most once per answer however often the read is retried.
            assert_eq!(read_now(&mut io).await, None, "round {round}");
            assert_eq!(read_now(&mut io).await, None, "round {round}");
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).await.unwrap();
            peer.write_all(b"pong").await.unwrap();
            let mut buf = [0u8; 4];
            io.read_exact(&mut buf).await.unwrap();
            answered_now.push(round);
        }
        // 2 misses, then a probe every 16th answer: rounds 17 and 33.
        assert_eq!((p.answered(), p.missed()), (0, 4));
        assert_eq!(answered_now.len(), 40);
    }

    /// A client connection's response in progress, set by the test.
    #[derive(Debug, Default)]
    struct Sending(AtomicBool);

    impl Responding for Sending {
        fn responding(&self) -> bool {
            self.0.load(Relaxed)
        }
    }

    #[tokio::test]
    async fn a_client_stream_polls_for_the_next_request_only_once_the_response_is_out() {
        let p = Policy::new(Duration::from_secs(5));
        let _client = p.client_opened();
        let (io, peer) = pair().await;
        let sending = Arc::new(Sending::default());
        let mut io = p.wrap_client(io, sending.clone());
        // The response head is flushed while its body is still to come: the client
        // cannot send its next request yet, so a read must not spend 5 s polling.
        sending.0.store(true, Relaxed);
        send(&mut io).await;
        // The client reads the response, then sends its next request 20 ms later.
        let client = answer_later(peer, b"next");
        let t = Instant::now();
        assert_eq!(read_now(&mut io).await, None, "while responding");
        assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
        assert_eq!((p.answered(), p.missed()), (0, 0));
        // The body is out (no flush after the head's): the next read polls.
        sending.0.store(false, Relaxed);
        let got = read_now(&mut io).await;
        let _peer = client.join().unwrap();
        assert_eq!(got.as_deref(), Some(&b"next"[..]));
        assert_eq!((p.answered(), p.missed()), (1, 0));
    }

    #[tokio::test]
    async fn a_zero_maximum_never_polls() {
        let p = Policy::new(Duration::ZERO);
        let _client = p.client_opened();
        let (mut io, _peer) = polled(&p).await;
        send(&mut io).await;
        assert_eq!(read_now(&mut io).await, None);
        assert_eq!((p.answered(), p.missed()), (0, 0));
    }
}
