//! [`Workers`]: thread-per-core serving. Each worker thread runs its own single-threaded
//! tokio runtime and accepts client connections itself, so a connection, its requests,
//! the tasks they spawn (upstream connection, credential refresh) and their timers all
//! stay on one thread.
//!
//! Why: on tokio's work-stealing runtime a proxied request hops between tasks that
//! often sit on different workers (client connection, upstream connection), and each
//! hop is a cross-thread wake-up. With one runtime per thread the hop is a local queue
//! push. Measured with the bare forwarder (`examples/forward_floor`, GET, 64
//! connections, 2 cores): 37.7 % of direct on the work-stealing runtime, 46.2 % with a
//! runtime per core (`docs/benchmarks.md`, "Session 5").
//!
//! The price is no work stealing: a connection stays on the worker that serves it.
//! Workers accept from the same listening socket, and one that serves more connections
//! than another hands a new one to the least loaded worker ([`super::balance`]).

use std::io;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// Worker threads, each running a current-thread runtime until [`Workers::stop`].
#[derive(Debug)]
pub(crate) struct Workers {
    handles: Vec<Handle>,
    /// Dropping a sender tells its worker to stop.
    stop: Vec<oneshot::Sender<()>>,
    /// Each completes after its worker dropped its runtime (and so every task on it).
    stopped: Vec<oneshot::Receiver<()>>,
}

impl Workers {
    /// Starts `n` worker threads (at least one); each coalesces its sends when
    /// `coalesce` (see [`super::coalesce`]).
    pub(crate) fn start(n: usize, coalesce: bool) -> io::Result<Self> {
        let n = n.max(1);
        let mut workers = Self {
            handles: Vec::with_capacity(n),
            stop: Vec::with_capacity(n),
            stopped: Vec::with_capacity(n),
        };
        for i in 0..n {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop_tx, stop_rx) = oneshot::channel::<()>();
            let (done_tx, done_rx) = oneshot::channel::<()>();
            workers.handles.push(runtime.handle().clone());
            std::thread::Builder::new()
                .name(format!("sigv4-proxy-worker-{i}"))
                .spawn(move || {
                    if coalesce {
                        super::coalesce::enable_on_this_thread();
                    }
                    // Spawned tasks run while the thread is inside `block_on`.
                    runtime.block_on(async {
                        let _ = stop_rx.await;
                    });
                    drop(runtime);
                    let _ = done_tx.send(());
                })?;
            workers.stop.push(stop_tx);
            workers.stopped.push(done_rx);
        }
        Ok(workers)
    }

    /// The workers' runtimes, to spawn onto.
    pub(crate) fn handles(&self) -> &[Handle] {
        &self.handles
    }

    /// Stops every worker and waits until each has dropped its runtime. Tasks still on
    /// a worker (idle upstream connections, credential refresh timers) are cancelled.
    pub(crate) async fn stop(self) {
        drop(self.stop);
        for done in self.stopped {
            // An error means the thread ended without sending: it panicked, and is gone.
            let _ = done.await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[tokio::test]
    async fn tasks_run_on_their_own_worker_thread_until_stopped() {
        let workers = Workers::start(2, false).unwrap();
        let mut names = Vec::new();
        for h in workers.handles() {
            let name = h
                .spawn(async { std::thread::current().name().map(str::to_owned) })
                .await
                .unwrap();
            names.push(name.unwrap());
        }
        assert_eq!(names, ["sigv4-proxy-worker-0", "sigv4-proxy-worker-1"]);
        // A task that never ends is dropped when its worker stops.
        let (tx, rx) = oneshot::channel::<()>();
        workers.handles()[1].spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await;
        });
        workers.stop().await;
        assert!(rx.await.is_err(), "the pending task was dropped");
    }
}
