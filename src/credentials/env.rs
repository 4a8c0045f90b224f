//! [`EnvironmentProvider`]: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN` (and the old `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` names), read
//! through the [`Context`]'s environment shim.

use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

const NAME: &str = "Environment";

/// Reads credentials from environment variables.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentProvider {
    ctx: Context,
}

impl EnvironmentProvider {
    /// A provider reading the process environment.
    pub fn new() -> Self {
        Self::default()
    }

    /// A provider reading the environment of `ctx`.
    pub fn with_context(ctx: Context) -> Self {
        Self { ctx }
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
        let token = get(&["AWS_SESSION_TOKEN"]).map(|t| SecretString::new(t.trim()));
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
        Box::pin(async { Self::load_from(|k| self.ctx.var(k)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Credentials, CredentialsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvironmentProvider::load_from(|k| map.get(k).cloned())
    }

    #[test]
    fn reads_standard_and_legacy_names() {
        let c = load(&[
            ("AWS_ACCESS_KEY_ID", "AKID"),
            ("AWS_SECRET_ACCESS_KEY", "SECRET"),
            ("AWS_SESSION_TOKEN", "TOKEN"),
        ])
        .unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("AKID", "SECRET", Some("TOKEN"))
        );
        assert_eq!(c.provider_name(), "Environment");
        let c = load(&[("AWS_ACCESS_KEY", "OLD"), ("AWS_SECRET_KEY", "OLDS")]).unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("OLD", "OLDS", None)
        );
    }

    #[test]
    fn unset_is_not_loaded_and_half_set_is_invalid() {
        assert!(load(&[]).unwrap_err().is_not_loaded());
        assert!(load(&[("AWS_ACCESS_KEY_ID", " ")])
            .unwrap_err()
            .is_not_loaded());
        let err = load(&[("AWS_ACCESS_KEY_ID", "AKID")]).unwrap_err();
        assert!(!err.is_not_loaded());
        assert!(err.to_string().contains("AWS_SECRET_ACCESS_KEY"), "{err}");
    }
}
