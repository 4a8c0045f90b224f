//! [`SigningKeyCache`]: derived SigV4 signing keys, per secret, date, region, service,
//! and SigV4a key pairs per access key and secret.
//!
//! The fast path is a read lock and a linear scan of a few entries comparing strings;
//! nothing is allocated or derived on a hit. Deriving keys is [`super::key`]'s job.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use aws_lc_rs::signature::EcdsaKeyPair;

use super::hmac::HmacSha256Key;
use super::key::{derive_signing_key, derive_v4a_key_pair};
use super::SignError;
use crate::credentials::Credentials;
use crate::secret::SecretString;

/// How many SigV4 keys (distinct credentials × region × service) are kept. A proxy has
/// one per route, so this is plenty; the oldest entry goes first when full.
const MAX_V4_ENTRIES: usize = 64;
/// How many SigV4a key pairs (distinct credentials) are kept.
const MAX_V4A_ENTRIES: usize = 16;

/// `AWS4-HMAC-SHA256 Credential=`: what [`ScopeText`]'s prefix starts with.
const AUTH_HEAD: &str = "AWS4-HMAC-SHA256 Credential=";
/// `, SignedHeaders=`: what [`ScopeText`]'s prefix ends with.
const AUTH_TAIL: &str = ", SignedHeaders=";

/// The text every SigV4 signature in one scope repeats, built once per cache entry
/// rather than piece by piece per signature: the authorization header up to the
/// signed headers, `AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sqs/aws4_request,
/// SignedHeaders=`, whose middle is the credential, whose tail is the scope.
pub(crate) struct ScopeText {
    prefix: String,
    access_key_id_len: usize,
}

impl ScopeText {
    fn new(access_key_id: &str, date: &str, region: &str, service: &str) -> Self {
        let mut prefix = String::with_capacity(
            AUTH_HEAD.len() + access_key_id.len() + date.len() + region.len() + service.len() + 32,
        );
        for part in [
            AUTH_HEAD,
            access_key_id,
            "/",
            date,
            "/",
            region,
            "/",
            service,
            "/aws4_request",
            AUTH_TAIL,
        ] {
            prefix.push_str(part);
        }
        Self {
            prefix,
            access_key_id_len: access_key_id.len(),
        }
    }

    /// `AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=`.
    pub(crate) fn authorization_prefix(&self) -> &str {
        &self.prefix
    }

    /// Where the credential (`AKID/scope`) is in [`Self::authorization_prefix`].
    pub(crate) fn credential_range(&self) -> std::ops::Range<usize> {
        AUTH_HEAD.len()..self.prefix.len() - AUTH_TAIL.len()
    }

    /// Where the scope (`20150830/us-east-1/sqs/aws4_request`) is in
    /// [`Self::authorization_prefix`].
    pub(crate) fn scope_range(&self) -> std::ops::Range<usize> {
        AUTH_HEAD.len() + self.access_key_id_len + 1..self.prefix.len() - AUTH_TAIL.len()
    }
}

struct V4Entry {
    access_key_id: String,
    secret: SecretString,
    date: [u8; 8],
    region: String,
    service: String,
    key: HmacSha256Key,
    raw: [u8; 32],
    text: ScopeText,
}

impl V4Entry {
    fn matches(&self, creds: &Credentials, date: &str, region: &str, service: &str) -> bool {
        // The date as one 8-byte compare, not a memcmp call.
        <[u8; 8]>::try_from(date.as_bytes()).ok() == Some(self.date)
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

    /// Runs `f` with the SigV4 signing key (HMAC key and raw bytes) and the
    /// [`ScopeText`] for this scope, deriving and caching them on a miss. `date` is
    /// `YYYYMMDD`.
    pub(crate) fn with_v4_key<R>(
        &self,
        creds: &Credentials,
        date: &str,
        region: &str,
        service: &str,
        f: impl FnOnce(&HmacSha256Key, &[u8; 32], &ScopeText) -> R,
    ) -> R {
        {
            let entries = self.v4.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(e) = entries
                .iter()
                .rev()
                .find(|e| e.matches(creds, date, region, service))
            {
                return f(&e.key, &e.raw, &e.text);
            }
        }
        let raw = derive_signing_key(creds.secret_access_key(), date, region, service);
        let key = HmacSha256Key::new(&raw);
        let text = ScopeText::new(creds.access_key_id(), date, region, service);
        let result = f(&key, &raw, &text);
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
                text,
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
    f: impl FnOnce(&HmacSha256Key, &[u8; 32], &ScopeText) -> R,
) -> R {
    match cache {
        Some(c) => c.with_v4_key(creds, date, region, service, f),
        None => {
            let raw = derive_signing_key(creds.secret_access_key(), date, region, service);
            let text = ScopeText::new(creds.access_key_id(), date, region, service);
            f(&HmacSha256Key::new(&raw), &raw, &text)
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
        let k1 = cache.with_v4_key(&a, "20150830", "us-east-1", "s3", |_, raw, _| *raw);
        assert_eq!(cache.len(), 1);
        let k2 = cache.with_v4_key(&a, "20150830", "us-east-1", "s3", |_, raw, _| *raw);
        assert_eq!(k1, k2);
        assert_eq!(cache.len(), 1, "hit must not add an entry");
        assert_eq!(
            k1,
            derive_signing_key("secret-a", "20150830", "us-east-1", "s3")
        );
        // A rotated secret with the same key id must not reuse the old key.
        let b = creds("secret-b");
        let k3 = cache.with_v4_key(&b, "20150830", "us-east-1", "s3", |_, raw, _| *raw);
        assert_ne!(k1, k3);
        assert_eq!(cache.len(), 2);
        cache.with_v4_key(&a, "20150830", "eu-west-1", "s3", |_, _, _| ());
        assert_eq!(cache.len(), 3);
        // A new day drops the old day's keys.
        cache.with_v4_key(&a, "20150831", "us-east-1", "s3", |_, _, _| ());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn scope_text_ranges() {
        let cache = SigningKeyCache::new();
        let (prefix, credential, scope) =
            cache.with_v4_key(&creds("s"), "20150830", "us-east-1", "sqs", |_, _, t| {
                let p = t.authorization_prefix().to_owned();
                (
                    p.clone(),
                    p[t.credential_range()].to_owned(),
                    p[t.scope_range()].to_owned(),
                )
            });
        assert_eq!(
            prefix,
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sqs/aws4_request, SignedHeaders="
        );
        assert_eq!(credential, "AKID/20150830/us-east-1/sqs/aws4_request");
        assert_eq!(scope, "20150830/us-east-1/sqs/aws4_request");
    }

    #[test]
    fn bounded() {
        let cache = SigningKeyCache::new();
        let a = creds("s");
        for i in 0..(MAX_V4_ENTRIES + 10) {
            cache.with_v4_key(&a, "20150830", &format!("r{i}"), "s3", |_, _, _| ());
        }
        assert_eq!(cache.len(), MAX_V4_ENTRIES);
    }

    #[test]
    fn debug_hides_secret() {
        let cache = SigningKeyCache::new();
        cache.with_v4_key(&creds("topsecretvalue"), "20150830", "r", "s", |_, _, _| ());
        let dbg = format!("{cache:?}");
        assert!(!dbg.contains("topsecretvalue"), "{dbg}");
        assert!(dbg.contains("v4_entries: 1"), "{dbg}");
    }
}
