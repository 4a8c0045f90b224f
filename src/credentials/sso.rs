//! SSO profiles (`sso_session` / legacy `sso_start_url`). Not implemented yet: a
//! profile that uses SSO is reported as such instead of being skipped silently.

use super::profile::LoadedProfiles;
use super::{Context, Credentials, CredentialsError};

pub(crate) const NAME: &str = "Sso";

/// Loads credentials for the SSO profile `profile`.
pub(crate) async fn load(
    ctx: &Context,
    loaded: &LoadedProfiles,
    profile: &str,
) -> Result<Credentials, CredentialsError> {
    let _ = (ctx, loaded);
    Err(CredentialsError::invalid(
        NAME,
        format!("profile {profile} uses AWS SSO, which sigv4-proxy does not support yet; use `aws configure export-credentials --format process` as its credential_process"),
    ))
}
