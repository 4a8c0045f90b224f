//! SSO profiles (IAM Identity Center): `sso_session` (with an `[sso-session NAME]`
//! section) or the legacy `sso_start_url` / `sso_region` in the profile, plus
//! `sso_account_id` and `sso_role_name`.
//!
//! Reads the access token that `aws sso login` cached in
//! `~/.aws/sso/cache/<sha1 of the session name or start URL>.json` and exchanges it
//! with the portal's `GetRoleCredentials`
//! (`GET /federation/credentials?account_id=..&role_name=..`, header
//! `x-amz-sso_bearer_token`). It does not log in: that is `aws sso login`'s job, and
//! the error says so. A session's token near its expiry is refreshed
//! ([`super::sso_token`]).
//!
//! The portal endpoint: `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL`, the profile's
//! `services` section (`sso =` / `endpoint_url`), its `endpoint_url`, else
//! `https://portal.sso.<sso_region>.amazonaws.com`.

use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;
use serde::Deserialize;

use super::profile::{LoadedProfiles, Section};
use super::sso_token::{access_token, TokenSource};
use super::sts::parse_url;
use super::{Context, Credentials, CredentialsError};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "Sso";
const TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(message: String) -> CredentialsError {
    CredentialsError::invalid(NAME, message)
}

/// The settings an SSO profile needs.
#[derive(Debug)]
struct SsoSettings {
    /// What the token cache file is named after (session name or start URL).
    cache_key: String,
    /// An `sso-session` profile (its token can be refreshed).
    session: bool,
    region: String,
    account_id: String,
    role_name: String,
}

fn settings(
    loaded: &LoadedProfiles,
    name: &str,
    profile: &Section,
) -> Result<SsoSettings, CredentialsError> {
    let need = |key: &str| {
        profile
            .get(key)
            .map(str::to_owned)
            .ok_or_else(|| invalid(format!("profile {name} uses SSO but has no {key}")))
    };
    let (cache_key, region) = match profile.get("sso_session") {
        Some(session) => {
            let section = loaded.files.sso_sessions.get(session).ok_or_else(|| {
                invalid(format!(
                    "profile {name}: sso-session {session} is not defined"
                ))
            })?;
            let region = section
                .get("sso_region")
                .ok_or_else(|| invalid(format!("sso-session {session} has no sso_region")))?;
            (session.to_owned(), region.to_owned())
        }
        None => (need("sso_start_url")?, need("sso_region")?),
    };
    Ok(SsoSettings {
        session: profile.get("sso_session").is_some(),
        cache_key,
        region,
        account_id: need("sso_account_id")?,
        role_name: need("sso_role_name")?,
    })
}

fn sha1_hex(s: &str) -> String {
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, s.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentialsResponse {
    role_credentials: RoleCredentials,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RoleCredentials {
    // Plain Strings in these answer structs (no Debug): wrapped in SecretString at once.
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    /// Milliseconds since the Unix epoch.
    expiration: u64,
}

/// A service endpoint of an SSO profile: the `env` variable, `AWS_ENDPOINT_URL`, the
/// profile's `services` section (`service` sub-key `endpoint_url`), its `endpoint_url`,
/// else `default`.
pub(super) fn endpoint(
    ctx: &Context,
    loaded: &LoadedProfiles,
    profile: &Section,
    env: &str,
    service: &str,
    default: &str,
) -> Result<http::Uri, CredentialsError> {
    let ignore = ctx
        .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let configured = if ignore {
        None
    } else {
        ctx.var(env)
            .map(|u| (env.to_owned(), u))
            .or_else(|| {
                ctx.var("AWS_ENDPOINT_URL")
                    .map(|u| ("AWS_ENDPOINT_URL".to_owned(), u))
            })
            .or_else(|| {
                let services = loaded.files.services.get(profile.get("services")?)?;
                services
                    .get_sub(service, "endpoint_url")
                    .map(|u| (format!("services {service} endpoint_url"), u.to_owned()))
            })
            .or_else(|| {
                profile
                    .get("endpoint_url")
                    .map(|u| ("profile endpoint_url".to_owned(), u.to_owned()))
            })
    };
    match configured {
        Some((what, url)) => parse_url(NAME, &what, &url),
        None => parse_url(NAME, "sso_region", default),
    }
}

/// Loads credentials for the SSO profile `name`.
pub(crate) async fn load(
    ctx: &Context,
    loaded: &LoadedProfiles,
    name: &str,
) -> Result<Credentials, CredentialsError> {
    let profile = loaded
        .files
        .profiles
        .get(name)
        .ok_or_else(|| invalid(format!("profile {name} is not defined")))?;
    let sso = settings(loaded, name, profile)?;
    let home = ctx
        .home_dir()
        .ok_or_else(|| invalid("HOME is not set, so the SSO token cache cannot be found".into()))?;
    let cache_file = home
        .join(".aws")
        .join("sso")
        .join("cache")
        .join(format!("{}.json", sha1_hex(&sso.cache_key)));
    let login_hint = format!("run `aws sso login --profile {name}`");
    let source = TokenSource {
        cache_file: &cache_file,
        session: sso.session,
        region: &sso.region,
        login_hint: &login_hint,
    };
    let access_token = access_token(ctx, loaded, profile, &source).await?;
    let base = endpoint(
        ctx,
        loaded,
        profile,
        "AWS_ENDPOINT_URL_SSO",
        "sso",
        &format!("https://portal.sso.{}.amazonaws.com", sso.region),
    )?;
    let url = format!(
        "{}/federation/credentials?account_id={}&role_name={}",
        base.to_string().trim_end_matches('/'),
        super::sts::form_encode(&sso.account_id),
        super::sts::form_encode(&sso.role_name),
    );
    let mut bearer = http::HeaderValue::from_str(access_token.expose()).map_err(|_| {
        CredentialsError::failed(NAME, "the cached SSO token is not a valid header value")
    })?;
    bearer.set_sensitive(true);
    let request = http::Request::get(&url)
        .header("x-amz-sso_bearer_token", bearer)
        .header(http::header::ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| {
            CredentialsError::caused(NAME, "cannot build the GetRoleCredentials request", e)
        })?;
    tracing::debug!(account_id = %sso.account_id, role_name = %sso.role_name, endpoint = %base, "calling SSO GetRoleCredentials");
    let response = ctx
        .http(NAME)?
        .send(request, TIMEOUT)
        .await
        .map_err(|e| CredentialsError::caused(NAME, "SSO GetRoleCredentials failed", e))?;
    if response.status == http::StatusCode::UNAUTHORIZED {
        return Err(CredentialsError::failed(
            NAME,
            format!("the SSO token was refused ({login_hint})"),
        ));
    }
    response.require_success(NAME, "SSO GetRoleCredentials")?;
    let answer: RoleCredentialsResponse = serde_json::from_slice(&response.body).map_err(|e| {
        CredentialsError::caused(
            NAME,
            "the GetRoleCredentials answer is not the expected JSON",
            e,
        )
    })?;
    let rc = answer.role_credentials;
    Ok(Credentials::new(
        rc.access_key_id,
        SecretString::new(rc.secret_access_key),
        rc.session_token.map(SecretString::new),
        Some(UNIX_EPOCH + Duration::from_millis(rc.expiration)),
        NAME,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_file_names_match_the_aws_cli() {
        // Values from Python's hashlib.sha1, as botocore names the cache files.
        assert_eq!(sha1_hex("corp"), "ee0bfd2552fbd840c02cc48b6e823320543c450f");
        assert_eq!(
            sha1_hex("https://legacy.awsapps.com/start"),
            "79e435d7a515078e81c9dffc35f38d5687ebd3a7"
        );
    }
}
