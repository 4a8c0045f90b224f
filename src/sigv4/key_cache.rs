//! [`SigningKeyCache`]: derived SigV4 signing keys, per secret, date, region, service,
//! and SigV4a key pairs per access key and secret.
//!
//! The fast path is a read lock and a linear scan of a few entries comparing strings;
//! nothing is allocated or derived on a hit. Deriving keys is [`super::key`]'s job.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::{hmac, signature::EcdsaKeyPair};

use super::key::{derive_signing_key, derive_v4a_key_pair};
use super::SignError;
use crate::credentials::Credentials;
use crate::secret::SecretString;

/// How many SigV4 keys (distinct credentials × region × service) are kept. A proxy has
/// one per route, so this is plenty; the oldest entry goes first when full.
const MAX_V4_ENTRIES: usize = 64;
/// How many SigV4a key pairs (distinct credentials) are kept.
const MAX_V4A_ENTRIES: usize = 16;

struct V4Entry {
    access_key_id: String,
    secret: SecretString,
    date: [u8; 8],
    region: String,
    service: String,
    key: hmac::Key,
    raw: [u8; 32],
}

impl V4Entry {
    fn matches(&self, creds: &Credentials, date: &str, region: &str, service: &str) -> bool {
        self.date.as_slice() == date.as_bytes()
            && self.region == region
            && self.service == service
            && self.access_key_id == creds.access_key_id()
            && self.secret.expose() == creds.secret_access_key()
    }
}

struct V4aEntry {
    access_key_id: String,
    secret: SecretString,
    key: Arc<EcdsaKeyPair>,
}

/// A cache of derived signing keys so steady-state signing does no key derivation.
/// Safe to share between threads. `Debug` shows only the number of entries.
#[derive(Default)]
pub struct SigningKeyCache {
    v4: RwLock<Vec<V4Entry>>,
    v4a: RwLock<Vec<V4aEntry>>,
}

impl fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyCache")
            .field(
                "v4_entries",
                &self.v4.read().unwrap_or_else(PoisonError::into_inner).len(),
            )
            .field(
                "v4a_entries",
                &self
                    .v4a
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len(),
            )
            .finish()
    }
}

impl SigningKeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many SigV4 signing keys are cached.
    pub fn len(&self) -> usize {
        self.v4.read().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// True when no SigV4 signing key is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs `f` with the SigV4 signing key for this scope, deriving and caching it on
    /// a miss. `date` is `YYYYMMDD`.
    pub(crate) fn with_v4_key<R>(
        &self,
        creds: &Credentials,
        date: &str,
        region: &str,
        service: &str,
        f: impl FnOnce(&hmac::Key, &[u8; 32]) -> R,
    ) -> R {
        {
            let entries = self.v4.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = entries
                .iter()
                .rev()
                .find(|e| e.matches(creds, date, region, service))
            {
                return f(&e.key, &e.raw);
            }
        }
        let raw = derive_signing_key(creds.secret_access_key(), date, region, service);
        let key = hmac::Key::new(hmac::HMAC_SHA256, &raw);
        let result = f(&key, &raw);
        let mut date_bytes = [0u8; 8];
        if date.len() == 8 {
            date_bytes.copy_from_slice(date.as_bytes());
        } else {
            // Not a YYYYMMDD date: do not cache (the signer never passes one).
            return result;
        }
        let mut entries = self.v4.write().unwrap_or_else(PoisonError::into_inner);
        // Keys for older days are useless once the date moves on.
        entries.retain(|e| e.date >= date_bytes);
        if entries.len() >= MAX_V4_ENTRIES {
            entries.remove(0);
        }
        if !entries
            .iter()
            .any(|e| e.matches(creds, date, region, service))
        {
            entries.push(V4Entry {
                access_key_id: creds.access_key_id().to_owned(),
                secret: SecretString::new(creds.secret_access_key()),
                date: date_bytes,
                region: region.to_owned(),
                service: service.to_owned(),
                key,
                raw,
            });
        }
        result
    }

    /// The SigV4a key pair for these credentials, derived and cached on a miss.
    pub(crate) fn v4a_key(&self, creds: &Credentials) -> Result<Arc<EcdsaKeyPair>, SignError> {
        let matches = |e: &V4aEntry| {
            e.access_key_id == creds.access_key_id()
                && e.secret.expose() == creds.secret_access_key()
        };
        {
            let entries = self.v4a.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = entries.iter().find(|e| matches(e)) {
                return Ok(Arc::clone(&e.key));
            }
        }
        let key = Arc::new(derive_v4a_key_pair(
            creds.access_key_id(),
            creds.secret_access_key(),
        )?);
        let mut entries = self.v4a.write().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_V4A_ENTRIES {
            entries.remove(0);
        }
        entries.push(V4aEntry {
            access_key_id: creds.access_key_id().to_owned(),
            secret: SecretString::new(creds.secret_access_key()),
            key: Arc::clone(&key),
        });
        Ok(key)
    }
}

/// Runs `f` with the SigV4 key, from `cache` when given, else freshly derived.
pub(crate) fn with_v4_key<R>(
    cache: Option<&SigningKeyCache>,
    creds: &Credentials,
    date: &str,
    region: &str,
    service: &str,
    f: impl FnOnce(&hmac::Key, &[u8; 32]) -> R,
) -> R {
    match cache {
        Some(c) => c.with_v4_key(creds, date, region, service, f),
        None => {
            let raw = derive_signing_key(creds.secret_access_key(), date, region, service);
            f(&hmac::Key::new(hmac::HMAC_SHA256, &raw), &raw)
        }
    }
}

/// The SigV4a key pair, from `cache` when given, else freshly derived.
pub(crate) fn v4a_key(
    cache: Option<&SigningKeyCache>,
    creds: &Credentials,
) -> Result<Arc<EcdsaKeyPair>, SignError> {
    match cache {
        Some(c) => c.v4a_key(creds),
        None => Ok(Arc::new(derive_v4a_key_pair(
            creds.access_key_id(),
            creds.secret_access_key(),
        )?)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    fn creds(secret: &str) -> Credentials {
        Credentials::new("AKID", secret, None, None, "test")
    }

    #[test]
    fn caches_per_scope_and_secret() {
        let cache = SigningKeyCache::new();
        let a = creds("secret-a");
        let k1 = cache.with_v4_key(&a, "20150830", "us-east-1", "s3", |_, raw| *raw);
        assert_eq!(cache.len(), 1);
        let k2 = cache.with_v4_key(&a, "20150830", "us-east-1", "s3", |_, raw| *raw);
        assert_eq!(k1, k2);
        assert_eq!(cache.len(), 1, "hit must not add an entry");
        assert_eq!(
            k1,
            derive_signing_key("secret-a", "20150830", "us-east-1", "s3")
        );
        // A rotated secret with the same key id must not reuse the old key.
        let b = creds("secret-b");
        let k3 = cache.with_v4_key(&b, "20150830", "us-east-1", "s3", |_, raw| *raw);
        assert_ne!(k1, k3);
        assert_eq!(cache.len(), 2);
        cache.with_v4_key(&a, "20150830", "eu-west-1", "s3", |_, _| ());
        assert_eq!(cache.len(), 3);
        // A new day drops the old day's keys.
        cache.with_v4_key(&a, "20150831", "us-east-1", "s3", |_, _| ());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn bounded() {
        let cache = SigningKeyCache::new();
        let a = creds("s");
        for i in 0..(MAX_V4_ENTRIES + 10) {
            cache.with_v4_key(&a, "20150830", &format!("r{i}"), "s3", |_, _| ());
        }
        assert_eq!(cache.len(), MAX_V4_ENTRIES);
    }

    #[test]
    fn debug_hides_secret() {
        let cache = SigningKeyCache::new();
        cache.with_v4_key(&creds("topsecretvalue"), "20150830", "r", "s", |_, _| ());
        let dbg = format!("{cache:?}");
        assert!(!dbg.contains("topsecretvalue"), "{dbg}");
        assert!(dbg.contains("v4_entries: 1"), "{dbg}");
    }
}
