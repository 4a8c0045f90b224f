//! Credentials: the data type, the provider trait and the refreshing cache.
//!
//! This module owns *where keys come from* and *keeping them fresh*. It does not sign
//! (that is [`crate::sigv4`]) and does not know about HTTP routes (that is
//! [`crate::proxy`]); the proxy holds one [`SharedCredentials`] per route.
//!
//! Providers (one module each): [`StaticProvider`] (+ [`KeySource`]), [`EnvironmentProvider`],
//! [`ProfileProvider`] (shared files, roles, `credential_process`, web identity),
//! [`AssumeRoleProvider`], [`WebIdentityProvider`], [`ContainerProvider`],
//! [`ImdsProvider`]; [`ChainProvider`] tries them in the AWS order and
//! [`SharedCredentials`] caches and refreshes. Everything reads the environment and the
//! clock through a [`Context`], so tests never touch the process environment.
//!
//! Provider semantics follow aws-config: [`CredentialsError::NotLoaded`] means "not
//! configured here, try the next provider"; any other error stops the chain.

mod assume_role;
mod cache;
mod chain;
mod clock;
mod config;
mod container;
mod context;
mod datetime;
mod env;
mod error;
mod http;
mod imds;
mod process;
mod profile;
mod sso;
mod sso_token;
mod static_provider;
mod sts;
mod web_identity;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::secret::SecretString;

pub use assume_role::AssumeRoleProvider;
pub use cache::{CacheSettings, SharedCredentials};
pub use chain::ChainProvider;
pub use clock::{Clock, SystemClock, TokioClock};
pub use config::CredentialsConfig;
pub use container::ContainerProvider;
pub use context::{Context, Env, MapEnv, ProcessEnv};
pub use datetime::format_rfc3339;
pub use env::EnvironmentProvider;
pub use error::CredentialsError;
pub use imds::ImdsProvider;
pub use profile::{region_from_profile, ProfileProvider};
pub use static_provider::{KeySource, StaticProvider};
pub use web_identity::WebIdentityProvider;

/// A boxed, sendable future, as returned by [`ProvideCredentials`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A set of AWS credentials. `Debug` never prints the secret key or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
    expiry: Option<SystemTime>,
    provider_name: &'static str,
}

impl Credentials {
    /// Builds credentials. `provider_name` says where they came from (for logs and the
    /// `credentials` command); `expiry` is `None` for long-term keys.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<SecretString>,
        session_token: Option<SecretString>,
        expiry: Option<SystemTime>,
        provider_name: &'static str,
    ) -> Self {
        Self {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token,
            expiry,
            provider_name,
        }
    }

    /// The access key id (not secret; it appears in every `Authorization` header).
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret access key. Only the signer should read it.
    pub fn secret_access_key(&self) -> &str {
        self.secret_access_key.expose()
    }

    /// The session token of temporary credentials, if any.
    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_ref().map(SecretString::expose)
    }

    /// When the credentials stop working; `None` for long-term keys.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expiry
    }

    /// The name of the provider that produced these credentials (e.g. `"Environment"`).
    pub fn provider_name(&self) -> &'static str {
        self.provider_name
    }

    /// The access key id with all but its first four and last four characters masked,
    /// for display (`AKID************MPLE`).
    pub fn masked_access_key_id(&self) -> String {
        let id = &self.access_key_id;
        let n = id.chars().count();
        if n <= 8 {
            return "*".repeat(n);
        }
        id.chars()
            .enumerate()
            .map(|(i, c)| if i < 4 || i >= n - 4 { c } else { '*' })
            .collect()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("provider_name", &self.provider_name)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiry", &self.expiry)
            .finish()
    }
}

/// Something that can produce credentials: a provider (environment, profile, IMDS, ...)
/// or a chain of them.
pub trait ProvideCredentials: Send + Sync + fmt::Debug {
    /// Loads credentials. Returns [`CredentialsError::NotLoaded`] when this source is
    /// simply not configured, so that a chain can move on.
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_secrets() {
        let c = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some(SecretString::new("SESSIONTOKENVALUE")),
            None,
            "test",
        );
        let dbg = format!("{c:?}");
        assert!(dbg.contains("AKIDEXAMPLE"));
        assert!(!dbg.contains("wJalr"), "{dbg}");
        assert!(!dbg.contains("SESSIONTOKENVALUE"), "{dbg}");
    }

    #[test]
    fn masks_access_key_id() {
        let c = Credentials::new("AKIAIOSFODNN7EXAMPLE", "s", None, None, "test");
        assert_eq!(c.masked_access_key_id(), "AKIA************MPLE");
    }
}
