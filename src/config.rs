//! The `config.toml` schema, merged with CLI flags and validated into typed values.
//!
//! Two stages, as in ripgrep's LowArgs → HiArgs: [`RawConfig`] is exactly what serde
//! reads from TOML (strings, options); [`Config::from_raw`] checks every field and turns
//! it into typed values (`SocketAddr`, `Uri`, `HeaderName`, loaded CA certificates).
//! Every [`ConfigError`] names the file, the key (`listeners[0].routes[1].upstream`)
//! and what is wrong.
//!
//! What this module does not do: bind sockets, build TLS clients or fetch credentials
//! (that is [`crate::proxy`]). It only reads files named in the configuration (CA
//! bundles) so that `--check-config` catches a missing or unreadable one.

mod error;
mod ops;
mod raw;
mod types;
mod validate;

pub use error::ConfigError;
pub use ops::{LogFormat, Operations, RawLimits};
pub use raw::{
    RawBody, RawConfig, RawIntercept, RawListener, RawListenerTls, RawProxyAuth, RawRoute,
    RawTokenSource, RawUpstream,
};
pub(crate) use types::{authority, CLIENT_AUTH_HEADERS};
pub use types::{
    BodyLimits, Config, ConnectTo, ForwardScheme, GatewayConfig, HostPattern, ListenerConfig,
    ListenerMode, PayloadMode, RouteConfig, RouteTarget, UpstreamSettings, UpstreamUrl,
    DEFAULT_ALLOWED_HOSTS,
};
