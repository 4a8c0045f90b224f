//! [`Context`]: what every provider reads from the outside world — the environment
//! (through the [`Env`] shim), the wall clock ([`Clock`]) and the small HTTPS client
//! used for STS, IMDS and container endpoints.
//!
//! Tests build a context from a [`MapEnv`] and a [`TokioClock`](super::TokioClock)
//! instead of touching the process environment (tests run in parallel threads, so
//! `std::env::set_var` is off limits).

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use super::http::HttpClient;
use super::{Clock, CredentialsError, SystemClock};

/// Read access to environment variables.
pub trait Env: Send + Sync + fmt::Debug {
    /// The value of `name`, if set and valid UTF-8.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of variables (for tests, or to isolate a route from the process).
/// `Debug` lists the names only: the values may be secrets.
#[derive(Clone, Default)]
pub struct MapEnv {
    vars: HashMap<String, String>,
}

impl MapEnv {
    /// An empty environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a variable.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl fmt::Debug for MapEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("MapEnv").field("names", &names).finish()
    }
}

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }
}

/// The environment, clock and HTTP client shared by the providers of one process
/// (or one test). Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

struct Inner {
    env: Arc<dyn Env>,
    clock: Arc<dyn Clock>,
    http: OnceLock<Result<HttpClient, String>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("env", &self.inner.env)
            .field("clock", &self.inner.clock)
            .finish_non_exhaustive()
    }
}

impl Default for Context {
    fn default() -> Self {
        Self::new(Arc::new(ProcessEnv), Arc::new(SystemClock))
    }
}

impl Context {
    /// The process environment and the real clock.
    pub fn from_process() -> Self {
        Self::default()
    }

    /// A context over the given environment and clock.
    pub fn new(env: Arc<dyn Env>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                env,
                clock,
                http: OnceLock::new(),
            }),
        }
    }

    /// An environment variable; empty or blank values count as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.inner.env.var(name).filter(|v| !v.trim().is_empty())
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The current time by [`Self::clock`].
    pub fn now(&self) -> std::time::SystemTime {
        self.inner.clock.now()
    }

    /// The user's home directory (`HOME`, or `USERPROFILE` on Windows).
    pub(crate) fn home_dir(&self) -> Option<PathBuf> {
        self.var("HOME")
            .or_else(|| self.var("USERPROFILE"))
            .map(PathBuf::from)
    }

    /// Expands a leading `~/` with [`Self::home_dir`].
    pub(crate) fn expand_home(&self, path: &str) -> PathBuf {
        match (path.strip_prefix("~/"), self.home_dir()) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(path),
        }
    }

    /// The HTTPS client, built on first use (it reads `AWS_CA_BUNDLE`).
    pub(crate) fn http(&self, provider: &'static str) -> Result<&HttpClient, CredentialsError> {
        self.inner
            .http
            .get_or_init(|| HttpClient::new(self).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|message| CredentialsError::InvalidConfiguration {
                provider,
                message: format!("cannot build the HTTPS client: {message}"),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_env_debug_shows_names_only() {
        let env = MapEnv::new().with("AWS_SECRET_ACCESS_KEY", "very-secret-value");
        let dbg = format!("{env:?}");
        assert!(dbg.contains("AWS_SECRET_ACCESS_KEY"), "{dbg}");
        assert!(!dbg.contains("very-secret-value"), "{dbg}");
    }

    #[test]
    fn blank_values_are_unset_and_home_expands() {
        let ctx = Context::new(
            Arc::new(MapEnv::new().with("A", "  ").with("HOME", "/home/u")),
            Arc::new(SystemClock),
        );
        assert_eq!(ctx.var("A"), None);
        assert_eq!(ctx.expand_home("~/x/y"), PathBuf::from("/home/u/x/y"));
        assert_eq!(ctx.expand_home("/abs"), PathBuf::from("/abs"));
    }
}
