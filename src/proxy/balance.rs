//! [`Balance`]: keeps client connections spread evenly over the worker threads.
//!
//! Every worker accepts from the same listening socket ([`super::workers`]), and which
//! one wins a new connection is up to the kernel and to which worker is idle at that
//! moment. wrk opening 64 connections at once left one worker with most of them: in 4 s
//! of load it used 2.8 s of CPU and the other 1.5 s. A thread's fair share of a busy
//! machine is capped, so the loaded worker held the whole proxy back while the other
//! slept (docs/benchmarks.md, "Session 9").
//!
//! So a worker that accepts a connection while it serves more than another worker
//! hands it to the least loaded one. The socket moves with `into_std`/`from_std`: two
//! `epoll_ctl` calls, once per connection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

/// A connection accepted by one worker, to be served by another.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// The socket, deregistered from the accepting worker's runtime.
    pub(crate) stream: std::net::TcpStream,
    pub(crate) peer: SocketAddr,
    /// Its slot under `max_connections`.
    pub(crate) permit: OwnedSemaphorePermit,
    /// Counts it on the receiving worker.
    pub(crate) load: Load,
}

impl Handoff {
    /// The connection, registered with the calling worker's runtime; `None` (logged)
    /// if it cannot be.
    pub(crate) fn take(self) -> Option<Served> {
        match TcpStream::from_std(self.stream) {
            Ok(stream) => Some(Served {
                stream,
                peer: self.peer,
                permit: self.permit,
                load: Some(self.load),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "cannot take over a connection from another worker");
                None
            }
        }
    }
}

/// A connection a worker serves, with its slot and (under [`Spread`]) its count.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) stream: TcpStream,
    pub(crate) peer: SocketAddr,
    pub(crate) permit: OwnedSemaphorePermit,
    pub(crate) load: Option<Load>,
}

/// Connections each worker serves now.
#[derive(Debug)]
pub(crate) struct Balance {
    load: Vec<AtomicUsize>,
}

/// Counts one connection on one worker while held.
#[derive(Debug)]
pub(crate) struct Load {
    balance: Arc<Balance>,
    worker: usize,
}

impl Load {
    /// True when this connection's worker serves other connections too, so other
    /// requests may be ready on the same thread (the gate of `forward::end_of_turn`,
    /// which yields before the upstream send and before the answer).
    pub(crate) fn worker_is_shared(&self) -> bool {
        self.balance
            .load
            .get(self.worker)
            .is_some_and(|n| n.load(Relaxed) > 1)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(n) = self.balance.load.get(self.worker) {
            n.fetch_sub(1, Relaxed);
        }
    }
}

impl Balance {
    /// For `workers` workers, serving nothing yet.
    pub(crate) fn new(workers: usize) -> Arc<Self> {
        Arc::new(Self {
            load: (0..workers).map(|_| AtomicUsize::new(0)).collect(),
        })
    }

    /// Where worker `me` should serve the connection it just accepted: itself, unless
    /// another worker serves fewer connections (then the least loaded one). The
    /// connection is counted there until the returned [`Load`] drops.
    pub(crate) fn place(self: &Arc<Self>, me: usize) -> (usize, Load) {
        let mine = self.load.get(me).map_or(0, |n| n.load(Relaxed));
        let (least, fewest) = self
            .load
            .iter()
            .map(|n| n.load(Relaxed))
            .enumerate()
            .min_by_key(|&(_, n)| n)
            .unwrap_or((me, mine));
        let worker = if fewest < mine { least } else { me };
        if let Some(n) = self.load.get(worker) {
            n.fetch_add(1, Relaxed);
        }
        let load = Load {
            balance: self.clone(),
            worker,
        };
        (worker, load)
    }
}

/// What one worker's accept loop for one listener needs to spread connections.
#[derive(Debug)]
pub(crate) struct Spread {
    /// This worker.
    pub(crate) me: usize,
    pub(crate) balance: Arc<Balance>,
    /// Every worker's inbox for this listener, by worker.
    pub(crate) inboxes: Arc<Vec<mpsc::UnboundedSender<Handoff>>>,
    /// Connections other workers handed to this one.
    pub(crate) inbox: mpsc::UnboundedReceiver<Handoff>,
}

impl Spread {
    /// One [`Spread`] per worker for one listener.
    pub(crate) fn for_listener(balance: &Arc<Balance>, workers: usize) -> Vec<Spread> {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..workers).map(|_| mpsc::unbounded_channel()).unzip();
        let inboxes = Arc::new(senders);
        receivers
            .into_iter()
            .enumerate()
            .map(|(me, inbox)| Spread {
                me,
                balance: balance.clone(),
                inboxes: inboxes.clone(),
                inbox,
            })
            .collect()
    }

    /// Where a connection this worker accepted is served: here (returned), or by the
    /// least loaded worker, which it is handed to (`None`). If that worker's accept
    /// loop is gone, it is served here after all.
    pub(crate) fn keep_or_hand_over(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) -> Option<Served> {
        let (worker, load) = self.balance.place(self.me);
        if worker == self.me {
            return Some(Served {
                stream,
                peer,
                permit,
                load: Some(load),
            });
        }
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand a connection to another worker");
                return None;
            }
        };
        let handoff = Handoff {
            stream,
            peer,
            permit,
            load,
        };
        match self.inboxes.get(worker) {
            Some(inbox) => match inbox.send(handoff) {
                Ok(()) => None,
                Err(mpsc::error::SendError(back)) => back.take(),
            },
            None => handoff.take(),
        }
    }

    /// The next connection handed to this worker.
    pub(crate) async fn next(this: &mut Option<Spread>) -> Option<Handoff> {
        match this {
            Some(s) => s.inbox.recv().await,
            None => std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_go_to_the_least_loaded_worker_and_leave_with_their_guard() {
        let b = Balance::new(3);
        let places: Vec<(usize, Load)> = [0, 0, 0, 2].iter().map(|&me| b.place(me)).collect();
        let workers: Vec<usize> = places.iter().map(|(w, _)| *w).collect();
        // Idle: stays; then to the least loaded; a tie stays where accepted.
        assert_eq!(workers, [0, 1, 2, 2]);
        let (w, _more) = b.place(2);
        assert_eq!(w, 0, "worker 2 serves two, worker 0 one");
        drop(places);
        let (w, _last) = b.place(1);
        assert_eq!(w, 1, "only worker 0 still serves one");
    }

    #[test]
    fn a_worker_is_shared_while_it_serves_more_than_one_connection() {
        let b = Balance::new(2);
        let (w0, first) = b.place(0);
        assert!(!first.worker_is_shared(), "alone on worker {w0}");
        let (w1, other) = b.place(0);
        assert_ne!(w0, w1, "the second goes to the idle worker");
        assert!(!first.worker_is_shared() && !other.worker_is_shared());
        let (w2, third) = b.place(w0);
        assert_eq!(w2, w0, "a tie stays where accepted");
        assert!(first.worker_is_shared() && third.worker_is_shared());
        assert!(!other.worker_is_shared());
        drop(third);
        assert!(!first.worker_is_shared(), "alone again");
    }
}
