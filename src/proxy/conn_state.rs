//! [`ConnState`]: what one client connection (or intercepted tunnel) keeps across its
//! requests.

use super::affinity::Pinned;
use super::timers::ConnTimers;

/// Per-client-connection state shared by its requests.
#[derive(Debug, Default)]
pub(crate) struct ConnState {
    /// The upstream connection its HTTP/1.x requests use ([`super::affinity`]).
    pub(crate) pinned: Pinned,
    /// Its reusable per-request timers ([`super::timers`]).
    pub(crate) timers: ConnTimers,
}
