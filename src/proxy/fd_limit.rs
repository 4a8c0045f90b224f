//! The process's open-file limit: raised to its hard ceiling at start, as Go's runtime
//! and nginx's `worker_rlimit_nofile` do, and checked against `max_connections`.
//!
//! Each client connection holds two descriptors: its own socket and the upstream
//! connection kept for it (see [`super::affinity`]). So a proxy allowed 10,240
//! connections needs about 20,500. Shells and systemd start processes with a soft limit
//! of 1,024, usually far under the hard one (524,288 under systemd). Without raising it,
//! about the 500th concurrent client would meet `EMFILE`: refused at accept, or answered
//! 502 when its upstream connection cannot be opened.
//!
//! Child processes (`credential_process`) inherit the raised limit.

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors used besides connections: listeners, the event loops, spool files, log
/// output, credential helpers.
const RESERVE: u64 = 64;

/// The open-file limit before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FdLimit {
    /// The soft limit the process started with (`None`: unlimited).
    pub(crate) before: Option<u64>,
    /// The soft limit now.
    pub(crate) now: Option<u64>,
}

/// Raises the soft open-file limit to the hard limit. Leaves it alone when it is
/// already there, or when the hard limit is unlimited (Linux then refuses a soft limit
/// above `fs.nr_open`, and one that high is never needed).
pub(crate) fn raise() -> Result<FdLimit, std::io::Error> {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    let (Some(current), Some(hard)) = (limit.current, limit.maximum) else {
        return Ok(FdLimit {
            before,
            now: before,
        });
    };
    if current >= hard {
        return Ok(FdLimit {
            before,
            now: before,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    )?;
    Ok(FdLimit {
        before,
        now: Some(hard),
    })
}

/// Raises the limit ([`raise`]) and logs it, with a warning when it still cannot hold
/// `max_connections` clients and their upstream connections.
pub(crate) fn raise_and_check(max_connections: usize) {
    let limit = match raise() {
        Ok(l) => {
            if let (Some(before), Some(now)) = (l.before, l.now) {
                if before != now {
                    tracing::info!(before, now, "raised the open-file limit to its hard limit");
                }
            }
            l.now
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            getrlimit(Resource::Nofile).current
        }
    };
    if let Some(warning) = shortfall(limit, max_connections) {
        tracing::warn!("{warning}");
    }
}

/// The descriptors `max_connections` clients may need at once.
pub(crate) fn needed(max_connections: usize) -> u64 {
    (max_connections as u64)
        .saturating_mul(2)
        .saturating_add(RESERVE)
}

/// A warning when `limit` (the soft limit; `None` is unlimited) cannot hold
/// `max_connections` clients and their upstream connections.
pub(crate) fn shortfall(limit: Option<u64>, max_connections: usize) -> Option<String> {
    let limit = limit?;
    let need = needed(max_connections);
    (limit < need).then(|| {
        format!(
            "the open-file limit is {limit}, but limits.max_connections = {max_connections} \
             may need {need} (a client socket and an upstream connection each): clients \
             past about {} may be refused or get 502; raise the hard limit (ulimit -Hn, \
             systemd LimitNOFILE=) or lower max_connections",
            limit.saturating_sub(RESERVE) / 2
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_two_descriptors_per_connection_and_a_reserve() {
        assert_eq!(needed(0), RESERVE);
        assert_eq!(needed(10_240), 20_480 + RESERVE);
        assert_eq!(needed(usize::MAX), u64::MAX);
    }

    #[test]
    fn a_limit_under_the_need_is_named_with_its_numbers() {
        let msg = shortfall(Some(1024), 10_240).expect("1024 < 20544");
        assert!(msg.contains("open-file limit is 1024"), "{msg}");
        assert!(msg.contains("max_connections = 10240"), "{msg}");
        assert!(msg.contains("may need 20544"), "{msg}");
        assert!(msg.contains("past about 480"), "{msg}");
        assert_eq!(shortfall(Some(20_544), 10_240), None);
        assert_eq!(shortfall(None, 10_240), None);
    }

    #[test]
    fn raising_leaves_a_limit_at_or_under_the_hard_one() {
        // The test process's own limit: raising is idempotent and never lowers it.
        let first = raise().expect("raise the soft limit");
        let second = raise().expect("raise again");
        assert_eq!(second.before, first.now);
        assert_eq!(second.now, first.now);
        let hard = getrlimit(Resource::Nofile).maximum;
        if let (Some(now), Some(hard)) = (first.now, hard) {
            assert_eq!(now, hard);
        }
    }
}
