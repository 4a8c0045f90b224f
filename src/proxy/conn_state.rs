//! [`ConnState`]: what one client connection (or intercepted tunnel) keeps across its
//! requests.

use super::affinity::Pinned;
use super::balance::Load;
use super::timers::ConnTimers;

/// Per-client-connection state shared by its requests.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// The upstream connection its HTTP/1.x requests use ([`super::affinity`]).
    pub(crate) pinned: Pinned,
    /// Its reusable per-request timers ([`super::timers`]).
    pub(crate) timers: ConnTimers,
    /// Its count on the worker serving it ([`super::balance`]); `None` on the fallback
    /// runtime, which does not spread connections, and for intercepted tunnels.
    pub(crate) load: Option<Load>,
}

impl ConnState {
    /// True when this connection is served on a worker's own runtime
    /// ([`super::workers`]), not on the work-stealing fallback.
    pub(crate) fn on_worker_runtime(&self) -> bool {
        self.load.is_some()
    }

    /// True when the worker serving this connection serves others too.
    pub(crate) fn worker_is_shared(&self) -> bool {
        self.load.as_ref().is_some_and(Load::worker_is_shared)
    }
}
