//! The signing proxy: hyper server, routing, body hashing/spooling, upstream TLS client,
//! forward mode, and the mapping of errors to HTTP responses.
//!
//! Layout: [`server`](run) accepts connections; `forward` runs one request through
//! `route` (where to), `headers` (what is kept), `body` (hash/buffer/spool/stream),
//! `sign` (the adapter to [`crate::sigv4`]) and `upstream` (the pooled TLS client);
//! `respond` is the one place errors become responses; `access_log` writes one line
//! per request. Issue 6: `connect` checks access and answers `CONNECT` (intercepting
//! with a local CA, or `tunnel` relaying blindly); `listener_tls` terminates TLS on
//! listeners that have a certificate. Configuration comes validated from [`crate::config`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! let config = sigv4_proxy::config::Config::load("config.toml".as_ref())?;
//! let state = Arc::new(sigv4_proxy::proxy::ProxyState::new(&config)?);
//! let listeners = sigv4_proxy::proxy::bind(&config).await?;
//! sigv4_proxy::proxy::run(listeners, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await;
//! # Ok(()) }
//! ```

mod access_log;
mod admin;
mod affinity;
mod balance;
mod body;
mod busy_poll;
mod coalesce;
mod conn_state;
mod connect;
mod diagnose;
mod drain;
mod error;
pub(crate) mod fd_limit;
mod forward;
mod h1;
mod headers;
mod limits;
mod listener_tls;
mod metrics;
mod request_id;
mod respond;
mod route;
mod server;
mod sign;
mod state;
mod timers;
mod tunnel;
mod upstream;
mod workers;

pub use admin::{bind_admin, serve_admin};
pub use error::{BoxError, ProxyError};
pub use server::run;
pub use state::{bind, check_credentials, ListenerId, ProxyState};
