//! Coalesced sends: the small socket writes a worker thread makes during one turn of
//! its runtime go to the kernel together, in one `io_uring_enter`, at the end of the
//! turn.
//!
//! Why: under load a worker answers many connections per turn, and every `send` or
//! `writev` on loopback (or to a sidecar's peers on the same host) wakes the thread
//! reading the other end, which can preempt the worker right there. The worker then
//! hands its next write to a reader that has just gone back to sleep. Handed over in
//! one submission, a turn's writes are all in the receivers' sockets before any of them
//! runs: each wakes once for several requests or answers, and the worker makes one
//! system call for all of them (about ten writes per call under load). Paired A/B at 64
//! connections (docs/benchmarks.md, "Session 16"): req/s ahead in 30 of 30 rounds (GET
//! and 4 KiB POST, +6 to +30 %), with the proxy's system CPU per request down by 30 %.
//!
//! How, per connection ([`Outbox`]): a write of at most [`MAX_WRITE`] bytes is copied
//! into the connection's outbox and reported written at once; the outbox is listed in
//! its thread's queue, and the first listing of a turn spawns a flush task, which runs
//! after the tasks already queued, so after the other writes of the turn. The flush
//! submits one `IORING_OP_SEND` per outbox with `MSG_DONTWAIT`: each is tried at once
//! and completes within the submission, or comes back short or `EAGAIN` (a full
//! socket). What is left stays in the outbox, and its owner is woken to write it
//! straight to the socket, as any other write, the next time it reads, writes,
//! flushes or shuts down. After a failed send the owner is woken too, and its next
//! call returns the error.
//!
//! When: only on the proxy's worker threads ([`super::workers`], one current-thread
//! runtime each: a queue and its flush task stay on one thread), only when io_uring is
//! there (a seccomp profile or `kernel.io_uring_disabled` may forbid it; writes then go
//! straight out as before), only while the process has more than one client
//! connection (one connection has nothing to coalesce with, and its latency is the
//! busy-polling's to cut, see [`super::busy_poll`]), and never for large writes
//! (a download or an upload streams as before). `coalesce_sends = false` turns it off.
//!
//! `unsafe` here, and only here in the proxy: the kernel reads a submitted buffer
//! after the submission call returns only if the send did not complete within it, and
//! every such send is cancelled and reaped before its buffer is released; should the
//! ring fail meanwhile, the buffer is leaked, never freed (see [`submit`]).
#![allow(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, types, IoUring};
use tokio::io::AsyncWrite;

/// The largest write that is coalesced; larger ones go straight to the socket.
pub(crate) const MAX_WRITE: usize = 16 * 1024;
/// The most one connection holds back for the end of a turn.
const MAX_QUEUED: usize = 64 * 1024;
/// An outbox keeps its buffer for the next write up to this size; larger ones are
/// freed once sent, so that idle connections hold no more than this.
const KEEP_CAPACITY: usize = 8 * 1024;
/// Submission queue entries per worker ring.
const RING_ENTRIES: u32 = 256;
/// Sends per submission: with as many cancellations, they fit the ring.
const SENDS_PER_SUBMIT: usize = 64;
/// Marks a cancellation's `user_data`.
const CANCEL: u64 = 1 << 63;

/// Sends handed to the kernel in coalesced submissions, process-wide (`/metrics`).
static SENDS: AtomicU64 = AtomicU64::new(0);
/// Coalesced submissions (`io_uring_enter` calls), process-wide (`/metrics`).
static SUBMISSIONS: AtomicU64 = AtomicU64::new(0);

/// Sends handed over in coalesced submissions so far, and the submissions that carried
/// them: their ratio is how many writes one system call took.
pub(crate) fn counts() -> (u64, u64) {
    (SENDS.load(Relaxed), SUBMISSIONS.load(Relaxed))
}

thread_local! {
    static QUEUE: RefCell<Option<Queue>> = const { RefCell::new(None) };
    static ON: Cell<bool> = const { Cell::new(false) };
}

/// Sets this thread (a worker runtime's) up to coalesce its sends; returns whether it
/// does (false when io_uring cannot be set up here, which is logged once).
pub(crate) fn enable_on_this_thread() -> bool {
    match IoUring::new(RING_ENTRIES) {
        Ok(ring) => {
            QUEUE.with(|q| {
                *q.borrow_mut() = Some(Queue {
                    ring,
                    listed: Vec::new(),
                    flush_spawned: false,
                })
            });
            ON.with(|on| on.set(true));
            true
        }
        Err(e) => {
            static LOGGED: Once = Once::new();
            LOGGED.call_once(|| {
                tracing::info!(error = %e, "io_uring is not available: sends are not coalesced (coalesce_sends)");
            });
            false
        }
    }
}

/// Whether this thread coalesces its sends.
pub(crate) fn on_this_thread() -> bool {
    ON.with(Cell::get)
}

/// A worker thread's ring and the outboxes waiting for the end of its turn.
struct Queue {
    ring: IoUring,
    listed: Vec<(RawFd, Arc<Shared>)>,
    flush_spawned: bool,
}

/// One connection's held-back bytes.
#[derive(Default)]
pub(crate) struct Outbox {
    shared: Option<Arc<Shared>>,
}

/// Sizes and flags only: the bytes are requests and answers, signed headers and session
/// tokens included, and never belong in a log.
impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Outbox");
        if let Some(shared) = &self.shared {
            let state = shared.lock();
            d.field("held", &state.data.len())
                .field("queued", &state.queued)
                .field("error", &state.error);
        }
        d.finish()
    }
}

/// The part of an [`Outbox`] its thread's queue holds too.
#[derive(Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Bytes written by the owner and not yet in the kernel.
    data: Vec<u8>,
    /// `data` goes out with this turn's flush.
    queued: bool,
    /// The outbox is in its thread's queue (a flush skips it unless `queued`).
    listed: bool,
    /// A failed send, for the owner's next call.
    error: Option<io::Error>,
    /// The owner's task, woken when a flush leaves bytes or an error behind.
    waker: Option<Waker>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Empties `data` once it is all sent, keeping a small buffer for the next write.
    fn sent_all(&mut self) {
        if self.data.capacity() > KEEP_CAPACITY {
            self.data = Vec::new();
        } else {
            self.data.clear();
        }
    }
}

impl Outbox {
    /// Takes `bufs` for this turn's flush when `allowed` and they are small, reporting
    /// them written; `None` when they are to be written to `io` now, which then has
    /// nothing held back before them. Any earlier send's error is returned instead.
    pub(crate) fn poll_write<T: AsyncWrite + AsRawFd + Unpin>(
        &mut self,
        io: &mut T,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
        allowed: bool,
    ) -> Option<Poll<io::Result<usize>>> {
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let allowed = allowed && total <= MAX_WRITE && on_this_thread();
        let shared: &Arc<Shared> = match &mut self.shared {
            Some(s) => s,
            None if allowed => self.shared.insert(Arc::default()),
            None => return None,
        };
        let mut state = shared.lock();
        if let Some(e) = state.error.take() {
            return Some(Poll::Ready(Err(e)));
        }
        let fits = state.data.len() + total <= MAX_QUEUED;
        if allowed && fits && (state.queued || state.data.is_empty()) {
            for b in bufs {
                state.data.extend_from_slice(b);
            }
            if !state
                .waker
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            state.queued = true;
            let list = !state.listed;
            state.listed = true;
            drop(state);
            if list {
                list_for_flush(io.as_raw_fd(), Arc::clone(shared));
            }
            return Some(Poll::Ready(Ok(total)));
        }
        drop(state);
        match drain(shared, io, cx) {
            Poll::Ready(Ok(())) => None,
            Poll::Ready(Err(e)) => Some(Poll::Ready(Err(e))),
            Poll::Pending => Some(Poll::Pending),
        }
    }

    /// What a flush asks of the owner: bytes still held back (that a flush left, or
    /// that `all` asks for now) are written to `io`, and an error is returned. Ready
    /// when nothing is held back any more.
    pub(crate) fn poll_drain<T: AsyncWrite + Unpin>(
        &self,
        io: &mut T,
        cx: &mut Context<'_>,
        all: bool,
    ) -> Poll<io::Result<()>> {
        let Some(shared) = &self.shared else {
            return Poll::Ready(Ok(()));
        };
        {
            let mut state = shared.lock();
            if let Some(e) = state.error.take() {
                return Poll::Ready(Err(e));
            }
            if state.data.is_empty() || (state.queued && !all) {
                return Poll::Ready(Ok(()));
            }
        }
        drain(shared, io, cx)
    }

    /// Whether bytes wait for this turn's flush: the peer cannot have answered them yet.
    pub(crate) fn holds_back(&self) -> bool {
        self.shared.as_ref().is_some_and(|s| s.lock().queued)
    }

    /// Before the socket closes: bytes still held back are sent now if the socket
    /// takes them (as the kernel sends what a closed socket had buffered).
    pub(crate) fn close<F: AsFd>(&mut self, fd: &F) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = shared.lock();
        state.queued = false;
        if !state.data.is_empty() {
            let _ = rustix::net::send(
                fd.as_fd(),
                &state.data,
                rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL,
            );
            state.data = Vec::new();
        }
    }
}

/// Writes what `shared` holds back to `io` now (taking it out of any flush).
fn drain<T: AsyncWrite + Unpin>(
    shared: &Shared,
    io: &mut T,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    let mut state = shared.lock();
    state.queued = false;
    while !state.data.is_empty() {
        match Pin::new(&mut *io).poll_write(cx, &state.data) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) if n >= state.data.len() => state.sent_all(),
            Poll::Ready(Ok(n)) => {
                state.data.drain(..n);
            }
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// Lists `shared` in this thread's queue; the first of a turn spawns the flush, which
/// then runs after the tasks already queued on this runtime.
fn list_for_flush(fd: RawFd, shared: Arc<Shared>) {
    let spawn = QUEUE.with(|q| match q.borrow_mut().as_mut() {
        Some(q) => {
            q.listed.push((fd, shared));
            !std::mem::replace(&mut q.flush_spawned, true)
        }
        None => false,
    });
    if spawn {
        tokio::spawn(async { flush() });
    }
}

/// Sends everything queued on this thread, [`SENDS_PER_SUBMIT`] outboxes per
/// `io_uring_enter`, then wakes the owners who have something left to do.
fn flush() {
    let mut wake = Vec::new();
    QUEUE.with(|q| {
        let mut q = q.borrow_mut();
        let Some(queue) = q.as_mut() else { return };
        queue.flush_spawned = false;
        let listed = std::mem::take(&mut queue.listed);
        let mut ok = true;
        for chunk in listed.chunks(SENDS_PER_SUBMIT) {
            ok = ok && submit(&mut queue.ring, chunk, &mut wake).is_ok();
            if !ok {
                // The ring failed (not expected): what it did not take is left to the
                // owners, and this thread stops coalescing.
                for (_, shared) in chunk {
                    let mut state = shared.lock();
                    state.listed = false;
                    if std::mem::take(&mut state.queued) {
                        wake.extend(state.waker.take());
                    }
                }
            }
        }
        if !ok {
            tracing::warn!(
                "io_uring submission failed: sends are no longer coalesced on this worker"
            );
            *q = None;
            ON.with(|on| on.set(false));
        }
    });
    // Outside the queue's borrow and the outboxes' locks.
    wake.into_iter().for_each(Waker::wake);
}

/// Submits one send per queued outbox in `chunk` and reaps them all; the owners to wake
/// are added to `wake`.
///
/// Every outbox's lock is held from before its buffer is handed to the kernel until its
/// completion is reaped, so the buffer neither changes nor goes away meanwhile (an
/// owner dropping its connection on another thread waits for the lock, so its socket
/// also stays open until then). With `MSG_DONTWAIT` a send completes within the
/// submission (sent, short, or `EAGAIN`); should one not, it is cancelled and waited
/// for here. Should even that fail, the buffers still in the kernel's hands are leaked
/// rather than freed, and their connections fail.
fn submit(
    ring: &mut IoUring,
    chunk: &[(RawFd, Arc<Shared>)],
    wake: &mut Vec<Waker>,
) -> io::Result<()> {
    let mut states: Vec<MutexGuard<'_, State>> = chunk.iter().map(|(_, s)| s.lock()).collect();
    let mut pending = vec![false; chunk.len()];
    let mut submitted: u64 = 0;
    {
        let mut sq = ring.submission();
        for (i, ((fd, _), state)) in chunk.iter().zip(states.iter_mut()).enumerate() {
            state.listed = false;
            if !state.queued || state.data.is_empty() {
                state.queued = false;
                continue;
            }
            // invariant: at most MAX_QUEUED (64 KiB) is held, which fits a u32.
            let len = u32::try_from(state.data.len()).unwrap_or(u32::MAX);
            let send = opcode::Send::new(types::Fd(*fd), state.data.as_ptr(), len)
                .flags(libc_flags())
                .build()
                .user_data(i as u64);
            // SAFETY: the buffer and the socket outlive the operation: the buffer's
            // lock (`states`) is held until its completion is reaped below (or the
            // buffer is leaked), and the socket is closed only after its owner takes
            // that lock (`Outbox::close`). Nothing is in the kernel's hands yet if
            // this push fails. The ring has room: it is empty between flushes, and a
            // chunk uses at most 2 × SENDS_PER_SUBMIT ≤ RING_ENTRIES entries.
            unsafe { sq.push(&send) }.map_err(|_| io::Error::other("submission queue full"))?;
            pending[i] = true;
            submitted += 1;
        }
    }
    if submitted == 0 {
        return Ok(());
    }
    // An error here means the kernel took none of them.
    ring.submit()?;
    SENDS.fetch_add(submitted, Relaxed);
    SUBMISSIONS.fetch_add(1, Relaxed);
    reap(ring, &mut states, &mut pending, wake);
    if pending.iter().any(|p| *p) {
        if let Err(e) = cancel_and_wait(ring, &mut states, &mut pending, wake) {
            for (state, _) in states.iter_mut().zip(&pending).filter(|(_, p)| **p) {
                // The kernel may still read this buffer: it is never freed.
                std::mem::forget(std::mem::take(&mut state.data));
                state.queued = false;
                state.error = Some(io::Error::other(format!(
                    "a coalesced send could not be completed: {e}"
                )));
                wake.extend(state.waker.take());
            }
            return Err(e);
        }
    }
    // Cancellations' own completions, if any are still in the queue.
    ring.completion().for_each(drop);
    Ok(())
}

/// Cancels the sends still `pending` and waits until each has completed.
fn cancel_and_wait(
    ring: &mut IoUring,
    states: &mut [MutexGuard<'_, State>],
    pending: &mut [bool],
    wake: &mut Vec<Waker>,
) -> io::Result<()> {
    {
        let mut sq = ring.submission();
        for (i, _) in pending.iter().enumerate().filter(|(_, p)| **p) {
            let cancel = opcode::AsyncCancel::new(i as u64)
                .build()
                .user_data(CANCEL | i as u64);
            // SAFETY: a cancellation refers to no memory of ours; room as above.
            unsafe { sq.push(&cancel) }.map_err(|_| io::Error::other("submission queue full"))?;
        }
    }
    while pending.iter().any(|p| *p) {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            // A signal (SIGTERM) while waiting: wait again.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        reap(ring, states, pending, wake);
    }
    Ok(())
}

/// Takes the completions in the ring and settles their outboxes; owners with bytes
/// left or an error are added to `wake`.
fn reap(
    ring: &mut IoUring,
    states: &mut [MutexGuard<'_, State>],
    pending: &mut [bool],
    wake: &mut Vec<Waker>,
) {
    for cqe in ring.completion() {
        let data = cqe.user_data();
        if data & CANCEL != 0 {
            continue;
        }
        let Some(i) = usize::try_from(data).ok().filter(|i| *i < states.len()) else {
            continue;
        };
        pending[i] = false;
        let state = &mut states[i];
        state.queued = false;
        let res = cqe.result();
        match usize::try_from(res) {
            Ok(n) if n >= state.data.len() => {
                state.sent_all();
                continue;
            }
            Ok(n) => {
                state.data.drain(..n);
            }
            // A full socket (or a send cancelled): the owner writes the rest itself.
            Err(_)
                if res == -rustix::io::Errno::AGAIN.raw_os_error()
                    || res == -rustix::io::Errno::CANCELED.raw_os_error() => {}
            Err(_) => state.error = Some(io::Error::from_raw_os_error(-res)),
        }
        wake.extend(state.waker.take());
    }
}

/// `MSG_DONTWAIT | MSG_NOSIGNAL`, as the kernel's `msg_flags`.
fn libc_flags() -> i32 {
    // Both are single low bits (0x40 and 0x4000): the cast keeps them.
    (rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL).bits() as i32
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::super::busy_poll::tests::polled;
    use super::super::busy_poll::{Gate, Policy};
    use super::*;

    /// A policy for which the process has two client connections, so writes coalesce,
    /// on a thread that coalesces.
    fn loaded() -> (Policy, Gate, Gate) {
        assert!(
            enable_on_this_thread(),
            "io_uring must be available for these tests"
        );
        let p = Policy::new(Duration::ZERO);
        let (a, b) = (p.client_opened(), p.client_opened());
        (p, a, b)
    }

    /// Nothing to read on `peer` right now.
    fn nothing_yet(peer: &TcpStream) -> bool {
        let mut b = [0u8; 1];
        matches!(peer.try_read(&mut b), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    async fn read_n(peer: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        tokio::time::timeout(Duration::from_secs(10), peer.read_exact(&mut got))
            .await
            .expect("bytes within 10 s")
            .expect("read");
        got
    }

    #[tokio::test]
    async fn a_turns_writes_are_held_back_then_sent_together_in_order() {
        let (p, _a, _b) = loaded();
        let (before, before_submissions) = counts();
        let mut conns = Vec::new();
        for _ in 0..8 {
            conns.push(polled(&p).await);
        }
        // All within one turn: each write is taken at once, and nothing is sent yet.
        for (i, (io, _)) in conns.iter_mut().enumerate() {
            io.write_all(format!("request {i};").as_bytes())
                .await
                .unwrap();
            io.write_all(b" and more").await.unwrap();
            io.flush().await.unwrap();
        }
        for (_, peer) in &conns {
            assert!(
                nothing_yet(peer),
                "a coalesced write went out before the turn ended"
            );
        }
        // The turn ends: the flush task sends every connection's bytes, in order.
        tokio::task::yield_now().await;
        for (i, (_, peer)) in conns.iter_mut().enumerate() {
            let want = format!("request {i}; and more");
            assert_eq!(read_n(peer, want.len()).await, want.as_bytes());
        }
        let (after, after_submissions) = counts();
        assert!(after - before >= 8, "{before} -> {after}");
        // Other tests may submit meanwhile; this turn's eight sends took one.
        assert!(after_submissions - before_submissions <= after - before - 7);
    }

    #[tokio::test]
    async fn more_connections_than_one_submission_takes_all_get_their_bytes() {
        let (p, _a, _b) = loaded();
        let n = SENDS_PER_SUBMIT * 2 + 3;
        let mut conns = Vec::new();
        for _ in 0..n {
            conns.push(polled(&p).await);
        }
        for (i, (io, _)) in conns.iter_mut().enumerate() {
            io.write_all(format!("to {i:04}").as_bytes()).await.unwrap();
        }
        tokio::task::yield_now().await;
        for (i, (_, peer)) in conns.iter_mut().enumerate() {
            assert_eq!(read_n(peer, 7).await, format!("to {i:04}").as_bytes());
        }
    }

    #[tokio::test]
    async fn held_back_bytes_never_show_in_debug_output() {
        let (p, _a, _b) = loaded();
        let (mut io, mut peer) = polled(&p).await;
        let secret = "x-amz-security-token: SECRETTOKEN123";
        io.write_all(secret.as_bytes()).await.unwrap();
        let shown = format!("{io:?}");
        assert!(!shown.contains("SECRETTOKEN123"), "{shown}");
        assert!(
            shown.contains(&format!("held: {}", secret.len())),
            "{shown}"
        );
        tokio::task::yield_now().await;
        assert_eq!(read_n(&mut peer, secret.len()).await, secret.as_bytes());
    }

    #[tokio::test]
    async fn one_client_connection_and_large_writes_go_straight_out() {
        assert!(enable_on_this_thread());
        let p = Policy::new(Duration::ZERO);
        let one = p.client_opened();
        let (mut io, mut peer) = polled(&p).await;
        io.write_all(b"alone").await.unwrap();
        assert_eq!(read_n(&mut peer, 5).await, b"alone");
        let _two = p.client_opened();
        let big = vec![7u8; MAX_WRITE + 1];
        io.write_all(&big).await.unwrap();
        assert_eq!(read_n(&mut peer, big.len()).await, big);
        drop(one);
    }

    #[tokio::test]
    async fn what_a_full_socket_did_not_take_is_written_by_its_owner_in_order() {
        let (p, _a, _b) = loaded();
        // Small socket buffers on both ends, so the socket fills quickly.
        let listener = tokio::net::TcpSocket::new_v4().unwrap();
        listener.set_recv_buffer_size(4096).unwrap();
        listener.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = listener.listen(1).unwrap();
        let ours = tokio::net::TcpSocket::new_v4().unwrap();
        ours.set_send_buffer_size(4096).unwrap();
        let ours = ours.connect(listener.local_addr().unwrap()).await.unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        let mut io = p.wrap(ours);
        // The peer reads nothing for a while: coalesced writes fill the socket, a
        // flush comes back short or with EAGAIN, and the owner's next write waits
        // (Pending) until the peer drains, then goes on in order.
        let chunk = 4096;
        let total = 256 * chunk;
        let writer = async {
            let (mut sent, mut n, mut waited) = (0usize, 0u8, 0u32);
            while sent < total {
                let buf = vec![n; chunk];
                let mut at = 0;
                while at < chunk {
                    let mut pending = false;
                    at += std::future::poll_fn(|cx| {
                        let r = Pin::new(&mut io).poll_write(cx, &buf[at..]);
                        pending |= r.is_pending();
                        r
                    })
                    .await
                    .unwrap();
                    waited += u32::from(pending);
                }
                sent += chunk;
                n = n.wrapping_add(1);
                tokio::task::yield_now().await;
            }
            io.shutdown().await.unwrap();
            waited
        };
        let reader = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let mut all = Vec::new();
            tokio::time::timeout(Duration::from_secs(20), peer.read_to_end(&mut all))
                .await
                .expect("all bytes within 20 s")
                .unwrap();
            all
        };
        let (waited, all) = tokio::join!(writer, reader);
        assert!(
            waited > 0,
            "the socket never filled: the test proves nothing"
        );
        assert_eq!(all.len(), total);
        for (i, c) in all.chunks(chunk).enumerate() {
            assert!(c.iter().all(|b| *b == i as u8), "chunk {i} out of order");
        }
    }

    #[tokio::test]
    async fn a_failed_send_is_returned_by_the_next_call() {
        let (p, _a, _b) = loaded();
        let (mut io, peer) = polled(&p).await;
        // The peer resets the connection.
        rustix::net::sockopt::set_socket_linger(&peer, Some(Duration::ZERO)).unwrap();
        drop(peer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        io.write_all(b"into the void").await.unwrap();
        tokio::task::yield_now().await;
        let err = io.flush().await.expect_err("the reset must surface");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn a_connection_dropped_before_the_flush_still_sends_what_it_took() {
        let (p, _a, _b) = loaded();
        let (mut io, mut peer) = polled(&p).await;
        io.write_all(b"last words").await.unwrap();
        assert!(nothing_yet(&peer));
        drop(io);
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), peer.read_to_end(&mut all))
            .await
            .expect("closed within 10 s")
            .unwrap();
        assert_eq!(all, b"last words");
        // The flush that follows finds nothing to send for it.
        tokio::task::yield_now().await;
    }

    #[tokio::test]
    async fn a_connection_read_in_the_same_turn_leaves_its_bytes_queued() {
        let (p, _a, _b) = loaded();
        let (mut io, mut peer) = polled(&p).await;
        io.write_all(b"ping").await.unwrap();
        // Reading (nothing there yet) must not send the queued bytes early or lose them.
        let mut b = [0u8; 4];
        assert!(
            tokio::time::timeout(Duration::from_millis(20), io.read(&mut b))
                .await
                .is_err(),
            "nothing to read"
        );
        assert_eq!(read_n(&mut peer, 4).await, b"ping");
        peer.write_all(b"pong").await.unwrap();
        io.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"pong");
    }
}
