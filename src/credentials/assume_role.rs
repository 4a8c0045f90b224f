//! [`AssumeRoleProvider`]: assumes a role with credentials from another provider
//! (a route's `role_arn` with its `source`). The STS call is [`sts::assume_role`],
//! signed by our own signer.

use super::profile::LoadedProfiles;
use super::sts::{self, AssumeRoleParams, Endpoint};
use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};

/// Assumes a role using credentials from a source provider.
#[derive(Debug)]
pub struct AssumeRoleProvider {
    ctx: Context,
    source: Box<dyn ProvideCredentials>,
    params: AssumeRoleParams,
    endpoint: Option<Endpoint>,
    profile: Option<String>,
}

impl AssumeRoleProvider {
    /// Assumes `role_arn` with credentials from `source`. The STS endpoint and region
    /// come from the environment (and the source profile, if any) unless
    /// [`Self::with_endpoint`] sets them.
    pub fn new(
        ctx: Context,
        source: Box<dyn ProvideCredentials>,
        role_arn: impl Into<String>,
    ) -> Self {
        Self {
            ctx,
            source,
            params: AssumeRoleParams {
                role_arn: role_arn.into(),
                external_id: None,
                session_name: None,
                duration_seconds: None,
            },
            endpoint: None,
            profile: None,
        }
    }

    /// Sets `ExternalId`.
    pub fn external_id(mut self, id: Option<String>) -> Self {
        self.params.external_id = id;
        self
    }

    /// Sets `RoleSessionName` (default `sigv4-proxy-<millis>`).
    pub fn session_name(mut self, name: Option<String>) -> Self {
        self.params.session_name = name;
        self
    }

    /// Sets `DurationSeconds` (900 to 43200).
    pub fn duration_seconds(mut self, seconds: Option<u32>) -> Self {
        self.params.duration_seconds = seconds;
        self
    }

    /// Sends the STS call to `url`, signed for `region`.
    pub fn with_endpoint(mut self, url: &str, region: &str) -> Result<Self, CredentialsError> {
        self.endpoint = Some(Endpoint::new(url, region)?);
        Ok(self)
    }

    /// Takes the STS region and endpoint settings from this profile.
    pub fn with_profile(mut self, profile: Option<String>) -> Self {
        self.profile = profile;
        self
    }

    async fn provide(&self) -> Result<Credentials, CredentialsError> {
        let source = self.source.provide_credentials().await?;
        let endpoint = match &self.endpoint {
            Some(e) => e.clone(),
            None => {
                let profiles = LoadedProfiles::load(&self.ctx, self.profile.as_deref()).ok();
                Endpoint::resolve(&self.ctx, profiles.as_ref())?
            }
        };
        sts::assume_role(&self.ctx, &endpoint, &source, &self.params).await
    }
}

impl ProvideCredentials for AssumeRoleProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.provide())
    }
}
