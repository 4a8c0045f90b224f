//! [`StaticProvider`]: fixed credentials, and [`KeySource`]: where a configured key
//! comes from (inline, a file, or an environment variable).

use std::path::PathBuf;

use serde::Deserialize;

use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "Static";

/// Always returns the same credentials.
#[derive(Debug, Clone)]
pub struct StaticProvider {
    credentials: Credentials,
}

impl StaticProvider {
    /// Wraps fixed credentials.
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }
}

impl ProvideCredentials for StaticProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        let creds = self.credentials.clone();
        Box::pin(async move { Ok(creds) })
    }
}

/// Where a configured key comes from: `{ env = "NAME" }`, `{ file = "/path" }` or
/// `{ value = "..." }` in `config.toml`. `Debug` never shows an inline value.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum KeySource {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file, without surrounding whitespace.
    File(PathBuf),
    /// This value.
    Value(#[serde(deserialize_with = "deserialize_secret")] SecretString),
}

fn deserialize_secret<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SecretString, D::Error> {
    String::deserialize(d).map(SecretString::new)
}

impl KeySource {
    /// Reads the key. `what` names the field in errors (e.g. `secret_access_key`);
    /// errors never contain the value.
    pub fn resolve(&self, ctx: &Context, what: &str) -> Result<SecretString, CredentialsError> {
        match self {
            Self::Env(name) => ctx
                .var(name)
                .map(|v| SecretString::new(v.trim()))
                .ok_or_else(|| {
                    CredentialsError::invalid(
                        NAME,
                        format!("{what}: environment variable {name} is not set"),
                    )
                }),
            Self::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CredentialsError::caused(
                        NAME,
                        format!("{what}: cannot read {}", path.display()),
                        e,
                    )
                })?;
                let value = text.trim();
                if value.is_empty() {
                    return Err(CredentialsError::invalid(
                        NAME,
                        format!("{what}: {} is empty", path.display()),
                    ));
                }
                Ok(SecretString::new(value))
            }
            Self::Value(v) if v.expose().trim().is_empty() => Err(CredentialsError::invalid(
                NAME,
                format!("{what}: the value is empty"),
            )),
            Self::Value(v) => Ok(v.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{MapEnv, SystemClock};
    use std::sync::Arc;

    #[test]
    fn resolves_each_source_without_leaking_values() {
        let ctx = Context::new(
            Arc::new(MapEnv::new().with("MY_KEY", "from-env\n")),
            Arc::new(SystemClock),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "from-file\n").unwrap();
        let env = KeySource::Env("MY_KEY".into());
        let file = KeySource::File(path.clone());
        let value = KeySource::Value(SecretString::new("inline-secret"));
        assert_eq!(env.resolve(&ctx, "k").unwrap().expose(), "from-env");
        assert_eq!(file.resolve(&ctx, "k").unwrap().expose(), "from-file");
        assert_eq!(value.resolve(&ctx, "k").unwrap().expose(), "inline-secret");
        assert!(!format!("{value:?}").contains("inline-secret"));

        let err = KeySource::Env("NOPE".into())
            .resolve(&ctx, "secret_access_key")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Static: invalid configuration: secret_access_key: environment variable NOPE is not set"
        );
        let err = KeySource::File(dir.path().join("missing"))
            .resolve(&ctx, "secret_access_key")
            .unwrap_err();
        assert!(err.to_string().contains("cannot read"), "{err}");
    }
}
