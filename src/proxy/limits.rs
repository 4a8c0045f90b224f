//! Per-connection limits that hyper does not provide: the idle keep-alive timeout.
//!
//! [`ConnActivity`] counts a connection's requests in flight (a request is in flight
//! until its response body has been sent or dropped, see [`GuardedBody`]) and when the
//! last one ended; [`ConnActivity::idle`] completes once the connection has had no
//! request for the idle timeout, and the server then closes it. The request-head
//! timeout, header size limit and connection cap are set up in [`super::server`]
//! with hyper's own settings and a semaphore.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// Request activity of one client connection.
#[derive(Debug)]
pub(crate) struct ConnActivity {
    start: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `start` when the last request ended.
    last_ms: AtomicU64,
}

impl ConnActivity {
    /// A connection that just opened (counts as activity).
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
        })
    }

    /// A request started; it ends when the guard drops.
    pub(crate) fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self.clone())
    }

    fn idle_since(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Relaxed))
    }

    /// Completes when no request has been in flight for `timeout`. Calls `on_quiet`
    /// once per idle spell, when the connection has had no request for `quiet_after`
    /// (the server hands the pinned upstream connection back then, so idle clients do
    /// not each hold one).
    ///
    /// Checks at least every `check_every` (the server passes hyper's header-read
    /// timeout). That keeps this timer due before the header-read timer hyper registers
    /// anew for every request, and tokio wakes its parked I/O driver thread (an eventfd
    /// write and a thread wake-up) for each timer registered ahead of all the others:
    /// measured at one connection, that was one wake-up per request (`strace -c`: 1003
    /// eventfd writes for 1000 requests; 1 with this).
    pub(crate) async fn idle(
        &self,
        timeout: Duration,
        check_every: Duration,
        quiet_after: Duration,
        mut on_quiet: impl FnMut(),
    ) {
        // The `last_ms` of the idle spell `on_quiet` was last called for.
        let mut quiet_for = None;
        loop {
            let now = Instant::now();
            let mut wake = now + check_every;
            if self.in_flight.load(Relaxed) > 0 {
                // A quiet spell may start when this request ends: look again in time
                // to notice it (a request's wake-up is not otherwise seen here).
                wake = wake.min(now + quiet_after);
            } else {
                let since = self.idle_since();
                if since + timeout <= now {
                    return;
                }
                wake = wake.min(since + timeout);
                let spell = self.last_ms.load(Relaxed);
                if quiet_for != Some(spell) {
                    if since + quiet_after <= now {
                        on_quiet();
                        quiet_for = Some(spell);
                    } else {
                        wake = wake.min(since + quiet_after);
                    }
                }
            }
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// A response is being sent while a request is in flight: until then the client's
/// next request cannot be due, and its connection does not busy-poll for it.
impl super::busy_poll::Responding for ConnActivity {
    fn responding(&self) -> bool {
        self.in_flight.load(Relaxed) > 0
    }
}

/// One request in flight on a connection; see [`ConnActivity::begin`].
#[derive(Debug)]
pub(crate) struct InFlight(Arc<ConnActivity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        let ms = u64::try_from(a.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        a.last_ms.store(ms, Relaxed);
        a.in_flight.fetch_sub(1, Relaxed);
    }
}

/// A response body that keeps its request counted in flight until it is done.
#[derive(Debug)]
pub(crate) struct GuardedBody<B> {
    inner: B,
    guard: Option<InFlight>,
}

impl<B: Body> GuardedBody<B> {
    /// Wraps `inner`; `guard` is released at the end of the body or when it is dropped.
    pub(crate) fn new(inner: B, guard: InFlight) -> Self {
        let guard = (!inner.is_end_stream()).then_some(guard);
        Self { inner, guard }
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let out = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(out, Poll::Ready(None | Some(Err(_)))) || this.inner.is_end_stream() {
            this.guard = None;
        }
        out
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_request_ending_starts_a_quiet_spell_noticed_in_time() {
        // The check began while a request was in flight (the server polls the
        // connection first): the quiet call must still come about `quiet_after`
        // after the request ends, not at the next `check_every`.
        let a = ConnActivity::new();
        let guard = a.begin();
        let quiet = std::cell::Cell::new(0);
        let idle = a.idle(
            Duration::from_secs(60),
            Duration::from_secs(30),
            Duration::from_secs(2),
            || quiet.set(quiet.get() + 1),
        );
        tokio::pin!(idle);
        let early = tokio::time::timeout(Duration::from_millis(100), &mut idle).await;
        assert!(early.is_err());
        drop(guard);
        let later = tokio::time::timeout(Duration::from_secs(5), &mut idle).await;
        assert!(later.is_err(), "not idle for 60 s yet");
        assert_eq!(quiet.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn idle_waits_for_requests_to_end() {
        let a = ConnActivity::new();
        let guard = a.begin();
        let quiet = std::cell::Cell::new(0);
        let on_quiet = || quiet.set(quiet.get() + 1);
        let idle = tokio::time::timeout(
            Duration::from_secs(10),
            a.idle(
                Duration::from_secs(1),
                Duration::from_millis(300),
                Duration::from_millis(500),
                on_quiet,
            ),
        );
        assert!(idle.await.is_err(), "not idle while a request is in flight");
        drop(guard);
        let t0 = Instant::now();
        a.idle(
            Duration::from_secs(1),
            Duration::from_millis(300),
            Duration::from_millis(500),
            on_quiet,
        )
        .await;
        assert!(t0.elapsed() >= Duration::from_millis(900));
        assert_eq!(quiet.get(), 1, "one quiet call for the one idle spell");
    }
}
