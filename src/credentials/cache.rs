//! [`SharedCredentials`]: what the proxy holds per route. A cache in front of a
//! provider that
//!
//! - answers from memory on the fast path (one short, never-awaited `std` mutex);
//! - refreshes in the background ahead of expiry ([`CacheSettings::refresh_ahead`]),
//!   both when a request notices and from a timer, so requests never wait for a
//!   refresh while the current credentials are still good;
//! - runs one load at a time, however many requests are waiting (single flight);
//!   the load runs in its own task, so a cancelled request does not cancel it;
//! - keeps serving the old credentials until they really expire when a refresh fails,
//!   and retries with exponential backoff;
//! - fails a request only when no valid credentials exist.
//!
//! It does not know where credentials come from (the provider does).

use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Clock, Credentials, CredentialsError, ProvideCredentials, SystemClock};

/// Timing of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheSettings {
    /// Start refreshing this long before the credentials expire (default 5 min). For
    /// short-lived credentials the refresh starts no earlier than half-way through
    /// their lifetime.
    pub refresh_ahead: Duration,
    /// Credentials closer than this to their expiry are not used (default 10 s), so
    /// that a signed request does not arrive after its credentials expired.
    pub expiry_margin: Duration,
    /// The longest a single load may take (default 30 s).
    pub load_timeout: Duration,
    /// The first retry delay after a failed load (default 1 s); doubles per failure.
    pub backoff_initial: Duration,
    /// The longest retry delay (default 60 s).
    pub backoff_max: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            refresh_ahead: Duration::from_secs(300),
            expiry_margin: Duration::from_secs(10),
            load_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
        }
    }
}

/// A cloneable handle to a cached, self-refreshing credentials provider.
#[derive(Debug, Clone)]
pub struct SharedCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Box<dyn ProvideCredentials>,
    clock: Arc<dyn Clock>,
    settings: CacheSettings,
    state: Mutex<State>,
    /// Woken after every load.
    loaded: Notify,
}

#[derive(Debug, Default)]
struct State {
    current: Option<Arc<Credentials>>,
    /// When to start refreshing `current` (`None`: never, long-term keys).
    refresh_at: Option<SystemTime>,
    /// A load task is running.
    loading: bool,
    /// Completed loads, successful or not.
    generation: u64,
    /// Consecutive failed loads.
    failures: u32,
    /// No new load before this (backoff after a failure).
    retry_at: Option<Instant>,
    last_error: Option<Arc<CredentialsError>>,
}

impl SharedCredentials {
    /// Caches `provider` with the default settings and the real clock.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self::with_settings(provider, CacheSettings::default(), Arc::new(SystemClock))
    }

    /// Caches `provider` with the given settings, reading time from `clock`.
    pub fn with_settings(
        provider: impl ProvideCredentials + 'static,
        settings: CacheSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::from_boxed(Box::new(provider), settings, clock)
    }

    pub(crate) fn from_boxed(
        provider: Box<dyn ProvideCredentials>,
        settings: CacheSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider,
                clock,
                settings,
                state: Mutex::new(State::default()),
                loaded: Notify::new(),
            }),
        }
    }

    /// Returns valid credentials. Answers from the cache while the cached credentials
    /// are valid (starting a background refresh when they are close to expiry);
    /// otherwise waits for the one load in progress, starting it if needed. Fails only
    /// when no valid credentials exist: with the load's error, or with the last one
    /// while backing off.
    pub async fn get(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let inner = &self.inner;
        let mut waited_for: Option<u64> = None;
        loop {
            let mut notified = pin!(inner.loaded.notified());
            {
                let mut st = inner.lock();
                let now = inner.clock.now();
                if let Some(c) = st.current.clone() {
                    if inner.is_valid(&c, now) {
                        if st.refresh_at.is_some_and(|at| now >= at) {
                            Inner::maybe_start_load(inner, &mut st);
                        }
                        return Ok(c);
                    }
                }
                if waited_for.is_some_and(|g| st.generation > g) {
                    // The load we waited for finished and left nothing valid.
                    return Err(match &st.last_error {
                        Some(err) => CredentialsError::Shared(err.clone()),
                        None => CredentialsError::failed(
                            "CredentialsCache",
                            "the provider returned credentials that are already expired",
                        ),
                    });
                }
                if !st.loading {
                    if let (Some(at), Some(err)) = (st.retry_at, &st.last_error) {
                        if Instant::now() < at {
                            return Err(CredentialsError::Shared(err.clone()));
                        }
                    }
                    Inner::start_load(inner, &mut st);
                }
                waited_for = Some(st.generation);
                // Register for the wake-up before releasing the lock, so the load's
                // notify_waiters (sent after it updates the state) cannot be missed.
                notified.as_mut().enable();
            }
            notified.await;
        }
    }

    /// True when `c` may still sign a request now: it does not expire within the
    /// expiry margin.
    pub fn is_usable(&self, c: &Credentials) -> bool {
        self.inner.is_valid(c, self.inner.clock.now())
    }

    /// The cached credentials, valid or not, without loading (for diagnostics).
    pub fn cached(&self) -> Option<Arc<Credentials>> {
        self.inner.lock().current.clone()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves only plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_valid(&self, c: &Credentials, now: SystemTime) -> bool {
        c.expiry()
            .is_none_or(|e| e > now + self.settings.expiry_margin)
    }

    /// Starts a background refresh unless one is running or we are backing off.
    fn maybe_start_load(this: &Arc<Self>, st: &mut State) {
        if !st.loading && st.retry_at.is_none_or(|at| Instant::now() >= at) {
            Self::start_load(this, st);
        }
    }

    fn start_load(this: &Arc<Self>, st: &mut State) {
        st.loading = true;
        let inner = Arc::clone(this);
        tokio::spawn(async move { inner.load().await });
    }

    async fn load(self: Arc<Self>) {
        let timeout = self.settings.load_timeout;
        // The provider runs in its own task so that a panic in it becomes an error
        // here; otherwise `loading` would stay set and every waiter would hang.
        let this = Arc::clone(&self);
        let mut call = tokio::spawn(async move { this.provider.provide_credentials().await });
        let result = match tokio::time::timeout(timeout, &mut call).await {
            Ok(Ok(r)) => r,
            Ok(Err(join)) => Err(CredentialsError::failed(
                "CredentialsCache",
                format!("the credentials provider failed unexpectedly ({join})"),
            )),
            Err(_) => {
                call.abort();
                Err(CredentialsError::TimedOut {
                    provider: "CredentialsCache",
                })
            }
        };
        let wake_at = {
            let mut st = self.lock();
            st.loading = false;
            st.generation += 1;
            let now = self.clock.now();
            match result {
                Ok(creds) => {
                    tracing::debug!(
                        provider = creds.provider_name(),
                        access_key_id = %creds.masked_access_key_id(),
                        expiry = %creds.expiry().map(super::datetime::format_rfc3339).unwrap_or_else(|| "never".into()),
                        "credentials loaded"
                    );
                    st.refresh_at = creds.expiry().map(|expiry| {
                        let ahead = expiry
                            .checked_sub(self.settings.refresh_ahead)
                            .unwrap_or(now);
                        let half_life = now + expiry.duration_since(now).unwrap_or_default() / 2;
                        ahead.max(half_life)
                    });
                    st.current = Some(Arc::new(creds));
                    st.failures = 0;
                    st.retry_at = None;
                    st.last_error = None;
                    st.refresh_at
                        .map(|at| Instant::now() + at.duration_since(now).unwrap_or_default())
                }
                Err(err) => {
                    st.failures = st.failures.saturating_add(1);
                    let delay = self
                        .settings
                        .backoff_initial
                        .saturating_mul(1 << (st.failures - 1).min(16))
                        .min(self.settings.backoff_max);
                    let retry_at = Instant::now() + delay;
                    st.retry_at = Some(retry_at);
                    let still_valid = st.current.as_ref().is_some_and(|c| self.is_valid(c, now));
                    if err.is_not_loaded() && !still_valid {
                        tracing::debug!(error = %err, "no credentials found");
                    } else {
                        tracing::warn!(
                            error = %err,
                            failures = st.failures,
                            retry_in = ?delay,
                            serving_previous = still_valid,
                            "credentials refresh failed"
                        );
                    }
                    st.last_error = Some(Arc::new(err));
                    // Retry in the background only while there is something to keep
                    // fresh; with nothing cached the next request retries.
                    still_valid.then_some(retry_at)
                }
            }
        };
        self.loaded.notify_waiters();
        if let Some(at) = wake_at {
            let weak = Arc::downgrade(&self);
            drop(self);
            tokio::spawn(refresh_timer(weak, at));
        }
    }
}

/// Sleeps until `at`, then starts a refresh if the cache still exists and needs one.
async fn refresh_timer(weak: Weak<Inner>, at: Instant) {
    tokio::time::sleep_until(at).await;
    let Some(inner) = weak.upgrade() else { return };
    let mut st = inner.lock();
    let now = inner.clock.now();
    let due = st.refresh_at.is_some_and(|r| now >= r);
    if due {
        Inner::maybe_start_load(&inner, &mut st);
    }
}

#[cfg(test)]
mod tests;
