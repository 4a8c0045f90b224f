//! [`CredentialsConfig`]: the `credentials` table of a route in `config.toml`, and how
//! it becomes a [`SharedCredentials`].

use serde::Deserialize;

use super::{CredentialsError, EnvironmentProvider, SharedCredentials};

/// Where a route's credentials come from. The default is the standard AWS chain.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialsConfig {}

impl CredentialsConfig {
    /// Builds the cached provider this configuration describes.
    pub fn build(&self) -> Result<SharedCredentials, CredentialsError> {
        Ok(SharedCredentials::new(EnvironmentProvider::new()))
    }
}
