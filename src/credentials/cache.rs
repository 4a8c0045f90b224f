//! [`SharedCredentials`]: what the proxy holds per route. Fetches on first use and
//! again when the cached credentials expire.
//!
//! (Issue 4 replaces this with background refresh ahead of expiry, single flight and
//! backoff; the public surface stays `SharedCredentials::get`.)

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::Mutex;

use super::{Credentials, CredentialsError, ProvideCredentials};

/// A cloneable handle to a cached credentials provider.
#[derive(Debug, Clone)]
pub struct SharedCredentials {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    provider: Box<dyn ProvideCredentials>,
    cached: Mutex<Option<Arc<Credentials>>>,
}

impl SharedCredentials {
    /// Caches the given provider.
    pub fn new(provider: impl ProvideCredentials + 'static) -> Self {
        Self {
            inner: Arc::new(Inner {
                provider: Box::new(provider),
                cached: Mutex::new(None),
            }),
        }
    }

    /// Returns valid credentials, loading them if none are cached or they expired.
    pub async fn get(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if c.expiry().is_none_or(|e| e > SystemTime::now()) {
                return Ok(c.clone());
            }
        }
        let fresh = Arc::new(self.inner.provider.provide_credentials().await?);
        *cached = Some(fresh.clone());
        Ok(fresh)
    }
}
