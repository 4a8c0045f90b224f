//! [`EnvironmentProvider`]: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN` (and the old `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` names).

use super::{BoxFuture, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

const NAME: &str = "Environment";

/// Reads credentials from environment variables.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentProvider {
    _private: (),
}

impl EnvironmentProvider {
    /// A provider reading the process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads credentials now, from the given lookup function (the process environment
    /// in production, a map in tests).
    pub fn load_from(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Credentials, CredentialsError> {
        let get = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| lookup(n).filter(|v| !v.trim().is_empty()))
        };
        let Some(access_key_id) = get(&["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"]) else {
            return Err(CredentialsError::NotLoaded {
                provider: NAME,
                reason: "AWS_ACCESS_KEY_ID is not set".into(),
            });
        };
        let Some(secret) = get(&["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"]) else {
            return Err(CredentialsError::InvalidConfiguration {
                provider: NAME,
                message: "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into(),
            });
        };
        let token = get(&["AWS_SESSION_TOKEN"]).map(SecretString::new);
        Ok(Credentials::new(
            access_key_id.trim(),
            SecretString::new(secret.trim()),
            token,
            None,
            NAME,
        ))
    }
}

impl ProvideCredentials for EnvironmentProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(async { Self::load_from(|k| std::env::var(k).ok()) })
    }
}
