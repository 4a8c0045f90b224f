//! [`ProfileProvider`]: credentials from the shared AWS files (`~/.aws/config`,
//! `~/.aws/credentials`, or `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`), for the
//! profile named explicitly, by `AWS_PROFILE`, or `default`.
//!
//! The files are read on every load (so edits are picked up at the next refresh; the
//! cache in front makes that rare). Parsing lives in [`parse`], the meaning of a
//! profile in [`resolve`]; this module reads the files and runs the resolved chain.

mod parse;
mod resolve;

use std::path::PathBuf;

pub(crate) use parse::{ProfileFiles, Section};
pub(crate) use resolve::{Base, NamedSource, RoleSpec};

use super::{
    container::ContainerProvider, imds::ImdsProvider, process, sso, sts, web_identity, BoxFuture,
    Context, Credentials, CredentialsError, EnvironmentProvider, ProvideCredentials,
};

const NAME: &str = resolve::NAME;

/// The shared files, parsed, with the name of the selected profile.
#[derive(Debug, Clone)]
pub(crate) struct LoadedProfiles {
    pub(crate) files: ProfileFiles,
    pub(crate) selected: String,
    /// True when the profile was named (argument or `AWS_PROFILE`), not `default`.
    pub(crate) explicit: bool,
    paths: (PathBuf, PathBuf),
}

impl LoadedProfiles {
    /// Reads both files (missing files are empty) and selects `profile`, else
    /// `AWS_PROFILE`, else `default`.
    pub(crate) fn load(ctx: &Context, profile: Option<&str>) -> Result<Self, CredentialsError> {
        let config_path = ctx
            .var("AWS_CONFIG_FILE")
            .map(|p| ctx.expand_home(&p))
            .or_else(|| ctx.home_dir().map(|h| h.join(".aws").join("config")));
        let creds_path = ctx
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .map(|p| ctx.expand_home(&p))
            .or_else(|| ctx.home_dir().map(|h| h.join(".aws").join("credentials")));
        let read = |path: &Option<PathBuf>| -> Result<String, CredentialsError> {
            let Some(path) = path else {
                return Ok(String::new());
            };
            match std::fs::read_to_string(path) {
                Ok(text) => Ok(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(CredentialsError::caused(
                    NAME,
                    format!("cannot read {}", path.display()),
                    e,
                )),
            }
        };
        let files = ProfileFiles::parse(&read(&config_path)?, &read(&creds_path)?);
        let named = profile
            .map(str::to_owned)
            .or_else(|| ctx.var("AWS_PROFILE"))
            .or_else(|| ctx.var("AWS_DEFAULT_PROFILE"));
        Ok(Self {
            files,
            explicit: named.is_some(),
            selected: named.unwrap_or_else(|| "default".to_owned()),
            paths: (
                config_path.unwrap_or_default(),
                creds_path.unwrap_or_default(),
            ),
        })
    }

    /// The selected profile's section, if it exists.
    pub(crate) fn selected_section(&self) -> Option<&Section> {
        self.files.profiles.get(&self.selected)
    }
}

/// The region of `profile` (else `AWS_PROFILE`, else `default`) from the shared config
/// files, if it sets one. Does not look at `AWS_REGION`.
pub fn region_from_profile(ctx: &Context, profile: Option<&str>) -> Option<String> {
    let loaded = LoadedProfiles::load(ctx, profile).ok()?;
    loaded.selected_section()?.get("region").map(str::to_owned)
}

/// Loads credentials from a profile of the shared AWS files.
#[derive(Debug, Clone)]
pub struct ProfileProvider {
    ctx: Context,
    profile: Option<String>,
}

impl ProfileProvider {
    /// A provider for `profile` (`None`: `AWS_PROFILE`, else `default`).
    pub fn new(ctx: Context, profile: Option<String>) -> Self {
        Self { ctx, profile }
    }

    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let loaded = LoadedProfiles::load(&self.ctx, self.profile.as_deref())?;
        let chain = match resolve::resolve(&loaded.files, &loaded.selected) {
            Err(e)
                if e.is_not_loaded() && loaded.explicit && loaded.selected_section().is_none() =>
            {
                return Err(CredentialsError::invalid(
                    NAME,
                    format!(
                        "profile {} is not defined in {} or {}",
                        loaded.selected,
                        loaded.paths.0.display(),
                        loaded.paths.1.display()
                    ),
                ));
            }
            other => other?,
        };
        tracing::debug!(profile = %loaded.selected, roles = chain.roles.len(), "resolved profile");
        let mut creds = run_base(&self.ctx, &loaded, &chain.base)
            .await
            .map_err(|e| match e {
                // The profile asked for this source: its absence is an error, not a
                // reason for the chain to move on.
                e if e.is_not_loaded() => {
                    CredentialsError::invalid(NAME, format!("profile {}: {e}", loaded.selected))
                }
                e => e,
            })?;
        let endpoint = sts::Endpoint::resolve(&self.ctx, Some(&loaded))?;
        for role in &chain.roles {
            creds = sts::assume_role(&self.ctx, &endpoint, &creds, &role.into()).await?;
        }
        Ok(creds)
    }
}

/// Produces the base credentials of a profile chain.
async fn run_base(
    ctx: &Context,
    loaded: &LoadedProfiles,
    base: &Base,
) -> Result<Credentials, CredentialsError> {
    match base {
        Base::AccessKey(c) => Ok(c.clone()),
        Base::NamedSource(NamedSource::Environment) => {
            EnvironmentProvider::with_context(ctx.clone())
                .provide_credentials()
                .await
        }
        Base::NamedSource(NamedSource::Ec2InstanceMetadata) => {
            ImdsProvider::new(ctx.clone()).provide_credentials().await
        }
        Base::NamedSource(NamedSource::EcsContainer) => {
            ContainerProvider::new(ctx.clone())
                .provide_credentials()
                .await
        }
        Base::WebIdentity {
            role_arn,
            token_file,
            session_name,
        } => {
            let endpoint = sts::Endpoint::resolve(ctx, Some(loaded))?;
            web_identity::load(
                ctx,
                &endpoint,
                role_arn,
                &ctx.expand_home(token_file),
                session_name.as_deref(),
            )
            .await
        }
        Base::Process(command) => process::run(ctx, command).await,
        Base::Sso(profile) => sso::load(ctx, loaded, profile).await,
    }
}

impl ProvideCredentials for ProfileProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.load())
    }
}

#[cfg(test)]
mod tests;
