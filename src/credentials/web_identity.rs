//! Web identity (EKS IRSA and friends): a token file plus a role, exchanged with STS
//! `AssumeRoleWithWebIdentity`. [`WebIdentityProvider`] reads
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN` and `AWS_ROLE_SESSION_NAME`; profiles
//! with `web_identity_token_file` call [`load`] directly. The token file is re-read on
//! every load (Kubernetes rotates it).

use std::path::Path;

use super::profile::LoadedProfiles;
use super::sts::{self, Endpoint, WEB_IDENTITY};
use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

/// Reads the token file and calls `AssumeRoleWithWebIdentity`.
pub(crate) async fn load(
    ctx: &Context,
    endpoint: &Endpoint,
    role_arn: &str,
    token_file: &Path,
    session_name: Option<&str>,
) -> Result<Credentials, CredentialsError> {
    let token = std::fs::read_to_string(token_file).map_err(|e| {
        CredentialsError::caused(
            WEB_IDENTITY,
            format!("cannot read the token file {}", token_file.display()),
            e,
        )
    })?;
    let token = SecretString::new(token.trim());
    if token.expose().is_empty() {
        return Err(CredentialsError::invalid(
            WEB_IDENTITY,
            format!("the token file {} is empty", token_file.display()),
        ));
    }
    let session = sts::session_name(WEB_IDENTITY, session_name, ctx)?;
    sts::assume_role_with_web_identity(ctx, endpoint, role_arn, &session, &token).await
}

/// Web identity from `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`.
#[derive(Debug, Clone)]
pub struct WebIdentityProvider {
    ctx: Context,
}

impl WebIdentityProvider {
    /// A provider reading the environment of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    async fn provide(&self) -> Result<Credentials, CredentialsError> {
        let ctx = &self.ctx;
        let Some(token_file) = ctx.var("AWS_WEB_IDENTITY_TOKEN_FILE") else {
            return Err(CredentialsError::not_loaded(
                WEB_IDENTITY,
                "AWS_WEB_IDENTITY_TOKEN_FILE is not set",
            ));
        };
        let Some(role_arn) = ctx.var("AWS_ROLE_ARN") else {
            return Err(CredentialsError::invalid(
                WEB_IDENTITY,
                "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not",
            ));
        };
        let profiles = LoadedProfiles::load(ctx, None).ok();
        let endpoint = Endpoint::resolve(ctx, profiles.as_ref())?;
        let session = ctx.var("AWS_ROLE_SESSION_NAME");
        load(
            ctx,
            &endpoint,
            &role_arn,
            &ctx.expand_home(&token_file),
            session.as_deref(),
        )
        .await
    }
}

impl ProvideCredentials for WebIdentityProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.provide())
    }
}
