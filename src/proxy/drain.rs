//! [`TunnelDrain`]: graceful shutdown for the HTTP connections served inside intercepted
//! `CONNECT` tunnels. Their client connection was upgraded, so the accept loop's own
//! graceful watcher let go of it at the `CONNECT`; this one lets requests in flight
//! inside a tunnel finish at shutdown instead of being cut off.
//!
//! Blind tunnels are not drained: the proxy cannot see request boundaries in bytes it
//! does not read, so they are closed when the process exits.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use hyper_util::server::graceful::{GracefulShutdown, Watcher};

/// Watches tunnel connections until [`TunnelDrain::drain`] shuts them down.
pub(crate) struct TunnelDrain(Mutex<Option<GracefulShutdown>>);

impl std::fmt::Debug for TunnelDrain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.lock().as_ref().map(GracefulShutdown::count);
        f.debug_struct("TunnelDrain").field("open", &open).finish()
    }
}

impl TunnelDrain {
    /// A drain that is accepting tunnel connections.
    pub(crate) fn new() -> Self {
        Self(Mutex::new(Some(GracefulShutdown::new())))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<GracefulShutdown>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A watcher for a new tunnel connection; `None` once shutdown began (the caller
    /// closes the tunnel instead of serving it).
    pub(crate) fn watcher(&self) -> Option<Watcher> {
        self.lock().as_ref().map(GracefulShutdown::watcher)
    }

    /// Tells every watched tunnel connection to finish its in-flight requests and
    /// close, and waits for them up to `grace`. New tunnels are refused from now on.
    pub(crate) async fn drain(&self, grace: Duration) {
        let Some(graceful) = self.lock().take() else {
            return;
        };
        let open = graceful.count();
        if open == 0 {
            return;
        }
        tracing::info!(open, "draining intercepted tunnels");
        if tokio::time::timeout(grace, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "requests inside intercepted tunnels did not finish in time"
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_new_tunnels_once_draining() {
        let d = TunnelDrain::new();
        assert!(d.watcher().is_some());
        d.drain(Duration::from_millis(10)).await;
        assert!(d.watcher().is_none());
    }
}
