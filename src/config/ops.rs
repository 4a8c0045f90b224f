//! Operational settings (issue 5): the admin listener, graceful-shutdown grace, log
//! format, connection limits and client-side timeouts. Raw form, typed form and
//! validation together, so the rest of `config` only gains a few fields.
//!
//! Upstream timeouts (connect, response headers) stay in `[upstream]`; body size
//! limits stay in `[body]`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

const DEFAULT_SHUTDOWN_GRACE_SECONDS: u64 = 30;
const DEFAULT_MAX_CONNECTIONS: u64 = 10_240;
const DEFAULT_MAX_HEADER_BYTES: u64 = 64 * 1024;
/// hyper's smallest read buffer; a lower header limit cannot be enforced.
const MIN_MAX_HEADER_BYTES: u64 = 8192;
const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 30_000;
const DEFAULT_IDLE_TIMEOUT_MS: u64 = 120_000;
const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 900_000;
/// Busy-polling for a peer's answer at one connection (`busy_poll_us`): long enough to
/// cover a local peer's wake-up on the benchmark VM, short enough that a poll that
/// finds nothing costs little (docs/benchmarks.md, "Session 9").
const DEFAULT_BUSY_POLL_US: u64 = 200;
/// A sanity bound: polling longer than this per answer is a typo.
const MAX_BUSY_POLL_US: u64 = 10_000;
/// A sanity bound: more serving threads than this is a typo, not a machine.
const MAX_WORKER_THREADS: u64 = 1024;

/// The `[limits]` table: client-side limits and timeouts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RawLimits {
    /// Client connections served at once; further ones wait in the listen backlog.
    pub max_connections: Option<u64>,
    /// Largest request head (request line and headers); larger ones get 431.
    pub max_header_bytes: Option<u64>,
    /// Time a client has to send a complete request head (slowloris).
    pub header_read_timeout_ms: Option<u64>,
    /// A keep-alive connection with no request for this long is closed. (HTTP/1.1 idle
    /// connections are also bound by `header_read_timeout_ms`: hyper runs that timer
    /// while waiting for the next request head.)
    pub idle_timeout_ms: Option<u64>,
    /// Time from the request's arrival until the upstream's response headers are sent
    /// back (body upload and upstream wait included); 504 after it.
    pub request_timeout_ms: Option<u64>,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LogFormat {
    /// Human-readable text (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// Parses `"text"` or `"json"`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "{other:?} is not a log format (expected \"text\" or \"json\")"
            )),
        }
    }
}

/// Validated operational settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Operations {
    /// Where the admin endpoints (`/healthz`, `/readyz`, `/metrics`) listen; off when
    /// `None`.
    pub admin_listen: Option<SocketAddr>,
    /// How long in-flight requests may run after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// Log line format.
    pub log_format: LogFormat,
    /// Client connections served at once.
    pub max_connections: usize,
    /// Largest request head in bytes.
    pub max_header_bytes: usize,
    /// Time to receive a complete request head.
    pub header_read_timeout: Duration,
    /// Idle keep-alive connections are closed after this.
    pub idle_timeout: Duration,
    /// Time until the response headers go back to the client.
    pub request_timeout: Duration,
    /// Threads serving client connections, each with its own runtime (default: one
    /// per CPU the process may use).
    pub worker_threads: usize,
    /// How long a lone client connection polls for a peer's answer before sleeping
    /// (zero: never).
    pub busy_poll: Duration,
    /// Whether each worker thread hands its small socket writes to the kernel together
    /// at the end of a turn, through io_uring (default true; see `proxy::coalesce`).
    pub coalesce_sends: bool,
}

impl Default for Operations {
    fn default() -> Self {
        Self {
            admin_listen: None,
            shutdown_grace: Duration::from_secs(DEFAULT_SHUTDOWN_GRACE_SECONDS),
            log_format: LogFormat::Text,
            max_connections: DEFAULT_MAX_CONNECTIONS as usize,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES as usize,
            header_read_timeout: Duration::from_millis(DEFAULT_HEADER_READ_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
            request_timeout: Duration::from_millis(DEFAULT_REQUEST_TIMEOUT_MS),
            worker_threads: default_worker_threads(),
            busy_poll: Duration::from_micros(DEFAULT_BUSY_POLL_US),
            coalesce_sends: true,
        }
    }
}

/// One worker thread per CPU the process may use (cgroup quotas included).
fn default_worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// The top-level keys this module owns, as read from the file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawOps<'a> {
    pub(crate) admin_listen: Option<&'a str>,
    pub(crate) shutdown_grace_seconds: Option<u64>,
    pub(crate) log_format: Option<&'a str>,
    pub(crate) worker_threads: Option<u64>,
    pub(crate) busy_poll_us: Option<u64>,
    pub(crate) coalesce_sends: Option<bool>,
    pub(crate) limits: &'a RawLimits,
}

/// Validates the operational keys; `invalid(key, message)` builds the error.
pub(crate) fn validate(
    raw: RawOps<'_>,
    invalid: &dyn Fn(&str, &str) -> ConfigError,
    parse_listen: fn(&str) -> Result<SocketAddr, String>,
) -> Result<Operations, ConfigError> {
    let d = Operations::default();
    let positive = |key: &str, v: Option<u64>, default: u64| -> Result<u64, ConfigError> {
        match v {
            Some(0) => Err(invalid(key, "must be greater than 0")),
            Some(n) => Ok(n),
            None => Ok(default),
        }
    };
    let admin_listen = raw
        .admin_listen
        .map(|s| parse_listen(s).map_err(|m| invalid("admin_listen", &m)))
        .transpose()?;
    let log_format = raw
        .log_format
        .map(|s| LogFormat::parse(s).map_err(|m| invalid("log_format", &m)))
        .transpose()?
        .unwrap_or(d.log_format);
    let l = raw.limits;
    let max_header_bytes = positive(
        "limits.max_header_bytes",
        l.max_header_bytes,
        DEFAULT_MAX_HEADER_BYTES,
    )?;
    if max_header_bytes < MIN_MAX_HEADER_BYTES {
        return Err(invalid(
            "limits.max_header_bytes",
            &format!("must be at least {MIN_MAX_HEADER_BYTES}"),
        ));
    }
    let ms = |key: &str, v: Option<u64>, default: u64| {
        positive(key, v, default).map(Duration::from_millis)
    };
    Ok(Operations {
        admin_listen,
        shutdown_grace: Duration::from_secs(
            raw.shutdown_grace_seconds
                .unwrap_or(DEFAULT_SHUTDOWN_GRACE_SECONDS),
        ),
        log_format,
        max_connections: usize::try_from(positive(
            "limits.max_connections",
            l.max_connections,
            DEFAULT_MAX_CONNECTIONS,
        )?)
        .unwrap_or(usize::MAX),
        max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
        header_read_timeout: ms(
            "limits.header_read_timeout_ms",
            l.header_read_timeout_ms,
            DEFAULT_HEADER_READ_TIMEOUT_MS,
        )?,
        idle_timeout: ms(
            "limits.idle_timeout_ms",
            l.idle_timeout_ms,
            DEFAULT_IDLE_TIMEOUT_MS,
        )?,
        request_timeout: ms(
            "limits.request_timeout_ms",
            l.request_timeout_ms,
            DEFAULT_REQUEST_TIMEOUT_MS,
        )?,
        worker_threads: match raw.worker_threads {
            None => d.worker_threads,
            Some(0) => return Err(invalid("worker_threads", "must be greater than 0")),
            Some(n) if n > MAX_WORKER_THREADS => {
                return Err(invalid(
                    "worker_threads",
                    &format!("must be at most {MAX_WORKER_THREADS}"),
                ))
            }
            // invariant: at most MAX_WORKER_THREADS, which fits any usize.
            Some(n) => usize::try_from(n).unwrap_or(1),
        },
        busy_poll: match raw.busy_poll_us {
            None => d.busy_poll,
            Some(n) if n > MAX_BUSY_POLL_US => {
                return Err(invalid(
                    "busy_poll_us",
                    &format!("must be at most {MAX_BUSY_POLL_US} (0 turns busy-polling off)"),
                ))
            }
            Some(n) => Duration::from_micros(n),
        },
        coalesce_sends: raw.coalesce_sends.unwrap_or(d.coalesce_sends),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(raw: RawOps<'_>) -> Result<Operations, String> {
        validate(
            raw,
            &|k, m| ConfigError::Invalid {
                file: "t".into(),
                key: k.into(),
                message: m.into(),
            },
            |s| s.parse().map_err(|_| format!("bad {s}")),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_errors_name_the_key() {
        let limits = RawLimits::default();
        let raw = RawOps {
            admin_listen: None,
            shutdown_grace_seconds: None,
            log_format: None,
            worker_threads: None,
            busy_poll_us: None,
            coalesce_sends: None,
            limits: &limits,
        };
        let ops = run(raw).expect("defaults");
        assert_eq!(ops.admin_listen, None);
        assert_eq!(ops.shutdown_grace, Duration::from_secs(30));
        assert_eq!(ops.log_format, LogFormat::Text);
        assert!(ops.worker_threads >= 1);
        assert_eq!(ops.busy_poll, Duration::from_micros(200));
        let e = run(RawOps {
            busy_poll_us: Some(10_001),
            coalesce_sends: None,
            ..raw
        })
        .expect_err("too long");
        assert!(e.contains("busy_poll_us") && e.contains("10000"), "{e}");
        let off = run(RawOps {
            busy_poll_us: Some(0),
            coalesce_sends: None,
            ..raw
        })
        .expect("0 turns it off");
        assert_eq!(off.busy_poll, Duration::ZERO);
        for bad in [0, 5000] {
            let e = run(RawOps {
                worker_threads: Some(bad),
                ..raw
            })
            .expect_err("out of range");
            assert!(e.contains("worker_threads"), "{e}");
        }
        let e = run(RawOps {
            log_format: Some("xml"),
            ..raw
        })
        .expect_err("bad format");
        assert!(e.contains("log_format") && e.contains("xml"), "{e}");
        let small = RawLimits {
            max_header_bytes: Some(100),
            ..RawLimits::default()
        };
        let e = run(RawOps {
            limits: &small,
            ..raw
        })
        .expect_err("too small");
        assert!(e.contains("limits.max_header_bytes"), "{e}");
        let zero = RawLimits {
            idle_timeout_ms: Some(0),
            ..RawLimits::default()
        };
        let e = run(RawOps {
            limits: &zero,
            ..raw
        })
        .expect_err("zero");
        assert!(e.contains("limits.idle_timeout_ms"), "{e}");
        let ok = run(RawOps {
            admin_listen: Some("127.0.0.1:9090"),
            log_format: Some("json"),
            worker_threads: Some(3),
            ..raw
        })
        .expect("ok");
        assert_eq!(ok.worker_threads, 3);
        assert_eq!(ops.max_connections, 10_240);
        assert_eq!(
            ok.admin_listen,
            Some("127.0.0.1:9090".parse().expect("addr"))
        );
        assert_eq!(ok.log_format, LogFormat::Json);
    }
}
