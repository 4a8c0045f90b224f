//! [`CredentialsConfig`]: the `credentials` table of a route in `config.toml`, and how
//! it becomes a [`SharedCredentials`].
//!
//! ```toml
//! [routes.credentials]            # nothing: the default AWS chain
//! profile = "prod"                # a profile of the shared files (may assume roles)
//!
//! [routes.credentials]            # assume a role ...
//! role_arn = "arn:aws:iam::123456789012:role/gateway"
//! external_id = "..."             # optional
//! role_session_name = "gateway"   # optional, <= 64 chars
//! duration_seconds = 3600         # optional, 900..=43200
//! sts_region = "eu-west-1"        # optional, else AWS_REGION / the profile / us-east-1
//! sts_endpoint_url = "https://sts.eu-west-1.amazonaws.com"   # optional
//! source = { profile = "base" }   # ... with these credentials (default: the chain)
//!
//! [routes.credentials]            # static keys
//! access_key_id = { env = "GATEWAY_KEY_ID" }
//! secret_access_key = { file = "/run/secrets/gateway_secret" }
//! session_token = { value = "..." }    # optional
//! ```

use serde::Deserialize;

use super::assume_role::AssumeRoleProvider;
use super::{
    CacheSettings, ChainProvider, Context, Credentials, CredentialsError, KeySource,
    ProfileProvider, ProvideCredentials, SharedCredentials, StaticProvider,
};

const NAME: &str = "CredentialsConfig";

/// Where a route's credentials come from. The default is the standard AWS chain.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct CredentialsConfig {
    /// A profile of the shared AWS files (it may itself assume roles).
    pub profile: Option<String>,
    /// A role to assume with the credentials of [`Self::source`].
    pub role_arn: Option<String>,
    /// `ExternalId` for [`Self::role_arn`].
    pub external_id: Option<String>,
    /// `RoleSessionName` for [`Self::role_arn`] (default `sigv4-proxy-<millis>`).
    pub role_session_name: Option<String>,
    /// `DurationSeconds` for [`Self::role_arn`] (900 to 43200).
    pub duration_seconds: Option<u32>,
    /// The region the STS call is signed for (default: `AWS_REGION`, the profile's
    /// region, or `us-east-1`).
    pub sts_region: Option<String>,
    /// Where the STS call goes (default: the endpoint overrides, else regional STS).
    pub sts_endpoint_url: Option<String>,
    /// The credentials that assume [`Self::role_arn`] (default: the AWS chain).
    pub source: Option<Box<CredentialsConfig>>,
    /// A static access key id.
    pub access_key_id: Option<KeySource>,
    /// A static secret access key.
    pub secret_access_key: Option<KeySource>,
    /// A static session token.
    pub session_token: Option<KeySource>,
}

fn invalid(message: impl Into<String>) -> CredentialsError {
    CredentialsError::invalid(NAME, message)
}

impl CredentialsConfig {
    /// Credentials from `profile`.
    pub fn from_profile(profile: impl Into<String>) -> Self {
        Self {
            profile: Some(profile.into()),
            ..Self::default()
        }
    }

    /// Assume `role_arn` with credentials from `source` (`None`: the default chain).
    pub fn assume_role(role_arn: impl Into<String>, source: Option<CredentialsConfig>) -> Self {
        Self {
            role_arn: Some(role_arn.into()),
            source: source.map(Box::new),
            ..Self::default()
        }
    }

    /// Static keys.
    pub fn static_keys(
        access_key_id: KeySource,
        secret_access_key: KeySource,
        session_token: Option<KeySource>,
    ) -> Self {
        Self {
            access_key_id: Some(access_key_id),
            secret_access_key: Some(secret_access_key),
            session_token,
            ..Self::default()
        }
    }

    /// Builds the cached provider this configuration describes, over the process
    /// environment and the real clock. Static keys are read now (so a missing variable
    /// or file is reported at start-up); other sources load on first use.
    pub fn build(&self) -> Result<SharedCredentials, CredentialsError> {
        self.build_with(&Context::from_process())
    }

    /// Like [`Self::build`], over the environment and clock of `ctx`.
    pub fn build_with(&self, ctx: &Context) -> Result<SharedCredentials, CredentialsError> {
        let provider = self.provider(ctx)?;
        Ok(SharedCredentials::from_boxed(
            provider,
            CacheSettings::default(),
            ctx.clock().clone(),
        ))
    }

    /// The (uncached) provider this configuration describes.
    pub fn provider(&self, ctx: &Context) -> Result<Box<dyn ProvideCredentials>, CredentialsError> {
        let has_static = self.access_key_id.is_some()
            || self.secret_access_key.is_some()
            || self.session_token.is_some();
        let has_role_fields = self.external_id.is_some()
            || self.role_session_name.is_some()
            || self.duration_seconds.is_some()
            || self.sts_region.is_some()
            || self.sts_endpoint_url.is_some()
            || self.source.is_some();
        if has_static {
            if self.profile.is_some() || self.role_arn.is_some() || has_role_fields {
                return Err(invalid(
                    "static keys (access_key_id, secret_access_key, session_token) cannot be combined with profile, role_arn or source",
                ));
            }
            let (Some(akid), Some(secret)) = (&self.access_key_id, &self.secret_access_key) else {
                return Err(invalid(
                    "static keys need both access_key_id and secret_access_key",
                ));
            };
            let token = match &self.session_token {
                Some(t) => Some(t.resolve(ctx, "session_token")?),
                None => None,
            };
            let creds = Credentials::new(
                akid.resolve(ctx, "access_key_id")?.expose(),
                secret.resolve(ctx, "secret_access_key")?,
                token,
                None,
                super::static_provider::NAME,
            );
            return Ok(Box::new(StaticProvider::new(creds)));
        }
        if let Some(role_arn) = &self.role_arn {
            if self.profile.is_some() {
                return Err(invalid(
                    "role_arn with profile is ambiguous: use source = { profile = \"...\" } for the credentials that assume the role, or put role_arn in the profile",
                ));
            }
            let (source, source_profile) = match &self.source {
                Some(s) => (s.provider(ctx)?, s.profile.clone()),
                None => (
                    Box::new(ChainProvider::default_chain(ctx, None))
                        as Box<dyn ProvideCredentials>,
                    None,
                ),
            };
            let mut p = AssumeRoleProvider::new(ctx.clone(), source, role_arn.clone())
                .external_id(self.external_id.clone())
                .session_name(self.role_session_name.clone())
                .duration_seconds(self.duration_seconds)
                .with_profile(source_profile);
            if let Some(url) = &self.sts_endpoint_url {
                let region = self
                    .sts_region
                    .clone()
                    .or_else(|| ctx.var("AWS_REGION"))
                    .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".to_owned());
                p = p.with_endpoint(url, &region)?;
            } else if let Some(region) = &self.sts_region {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                p = p.with_endpoint(&format!("https://sts.{region}.{suffix}"), region)?;
            }
            // Validate what can be validated now rather than at the first request.
            super::sts::session_name(NAME, self.role_session_name.as_deref(), ctx)?;
            if let Some(d) = self
                .duration_seconds
                .filter(|d| !(900..=43_200).contains(d))
            {
                return Err(invalid(format!(
                    "duration_seconds must be between 900 and 43200, got {d}"
                )));
            }
            return Ok(Box::new(p));
        }
        if has_role_fields {
            return Err(invalid(
                "external_id, role_session_name, duration_seconds, sts_region, sts_endpoint_url and source need role_arn",
            ));
        }
        if let Some(profile) = &self.profile {
            return Ok(Box::new(ProfileProvider::new(
                ctx.clone(),
                Some(profile.clone()),
            )));
        }
        Ok(Box::new(ChainProvider::default_chain(ctx, None)))
    }
}

#[cfg(test)]
mod tests;
