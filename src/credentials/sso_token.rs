//! The SSO access token that `aws sso login` cached, refreshed when it is about to
//! expire.
//!
//! `~/.aws/sso/cache/<sha1>.json` holds `accessToken` and `expiresAt`; a login through
//! an `sso-session` also leaves `refreshToken`, `clientId`, `clientSecret` and
//! `registrationExpiresAt`. Like the AWS SDKs, a session's token within 15 minutes of
//! its expiry is refreshed with SSO OIDC `CreateToken` (grant type `refresh_token`),
//! and the cache file is rewritten with the new token (its other fields kept), so a
//! long-running proxy keeps working past the first token's hour. A failed refresh
//! leaves the cached token in use while it is valid. Legacy profiles
//! (`sso_start_url` in the profile) have nothing to refresh with: `aws sso login` again.
//!
//! The OIDC endpoint: `AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL`, the profile's
//! `services` section (`sso_oidc =` / `endpoint_url`), its `endpoint_url`, else
//! `https://oidc.<sso_region>.amazonaws.com`.

use std::path::Path;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::datetime::{format_rfc3339, parse_rfc3339};
use super::profile::{LoadedProfiles, Section};
use super::sso::{endpoint, NAME};
use super::{Context, CredentialsError};
use crate::secret::SecretString;

/// How long before its expiry a session's token is refreshed.
const REFRESH_WINDOW: Duration = Duration::from_secs(15 * 60);
const TIMEOUT: Duration = Duration::from_secs(10);

/// Where the token is cached and how it may be refreshed.
pub(super) struct TokenSource<'a> {
    pub(super) cache_file: &'a Path,
    /// An `sso-session` login (refreshable); `false` for a legacy profile.
    pub(super) session: bool,
    pub(super) region: &'a str,
    /// What to tell the user to run when there is no usable token.
    pub(super) login_hint: &'a str,
}

/// `CreateToken`'s answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateTokenResponse {
    // Plain Strings (no Debug): wrapped or written to the cache at once.
    access_token: String,
    /// Seconds.
    expires_in: u64,
    refresh_token: Option<String>,
}

/// The cached access token, refreshed first when it is due and can be.
pub(super) async fn access_token(
    ctx: &Context,
    loaded: &LoadedProfiles,
    profile: &Section,
    src: &TokenSource<'_>,
) -> Result<SecretString, CredentialsError> {
    let mut cache = read_cache(src)?;
    let token = text(&cache, "accessToken").ok_or_else(|| {
        CredentialsError::failed(
            NAME,
            format!(
                "the SSO token cache {} has no accessToken ({})",
                src.cache_file.display(),
                src.login_hint
            ),
        )
    })?;
    let expires_at = text(&cache, "expiresAt").unwrap_or_default();
    let expires = parse_rfc3339(&expires_at).ok_or_else(|| {
        CredentialsError::failed(
            NAME,
            format!("the SSO token's expiresAt {expires_at:?} is not an RFC 3339 time"),
        )
    })?;
    let now = ctx.now();
    if src.session && expires <= now + REFRESH_WINDOW && can_refresh(&cache, now) {
        match refresh(ctx, loaded, profile, src.region, &cache).await {
            Ok(new) => {
                let fresh = SecretString::new(new.access_token.clone());
                update_cache(src.cache_file, &mut cache, new, now);
                return Ok(fresh);
            }
            Err(e) if expires > now => {
                tracing::warn!(error = %e, "refreshing the SSO token failed; using the cached one until it expires");
            }
            Err(e) => {
                return Err(CredentialsError::caused(
                    NAME,
                    format!(
                        "the cached SSO token has expired and refreshing it failed ({})",
                        src.login_hint
                    ),
                    e,
                ))
            }
        }
    }
    if expires <= now {
        return Err(CredentialsError::failed(
            NAME,
            format!("the cached SSO token has expired ({})", src.login_hint),
        ));
    }
    Ok(SecretString::new(token))
}

fn read_cache(src: &TokenSource<'_>) -> Result<Map<String, Value>, CredentialsError> {
    let file = src.cache_file;
    let text = std::fs::read_to_string(file).map_err(|e| {
        CredentialsError::caused(
            NAME,
            format!(
                "no cached SSO token at {} ({})",
                file.display(),
                src.login_hint
            ),
            e,
        )
    })?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CredentialsError::failed(
            NAME,
            format!(
                "the SSO token cache {} is not a JSON object",
                file.display()
            ),
        )),
        Err(e) => Err(CredentialsError::caused(
            NAME,
            format!("the SSO token cache {} is not valid JSON", file.display()),
            e,
        )),
    }
}

/// A string field of the cache.
fn text(cache: &Map<String, Value>, key: &str) -> Option<String> {
    cache.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// True when the cache holds a refresh token and a client registration still valid.
fn can_refresh(cache: &Map<String, Value>, now: SystemTime) -> bool {
    let registered = text(cache, "registrationExpiresAt")
        .and_then(|t| parse_rfc3339(&t))
        .is_some_and(|until| until > now);
    registered
        && ["refreshToken", "clientId", "clientSecret"]
            .iter()
            .all(|k| text(cache, k).is_some_and(|v| !v.is_empty()))
}

/// Calls SSO OIDC `CreateToken` with the cached refresh token.
async fn refresh(
    ctx: &Context,
    loaded: &LoadedProfiles,
    profile: &Section,
    region: &str,
    cache: &Map<String, Value>,
) -> Result<CreateTokenResponse, CredentialsError> {
    let base = endpoint(
        ctx,
        loaded,
        profile,
        "AWS_ENDPOINT_URL_SSO_OIDC",
        "sso_oidc",
        &format!("https://oidc.{region}.amazonaws.com"),
    )?;
    let url = format!("{}/token", base.to_string().trim_end_matches('/'));
    let field = |k: &str| cache.get(k).cloned().unwrap_or(Value::Null);
    let body = serde_json::json!({
        "clientId": field("clientId"),
        "clientSecret": field("clientSecret"),
        "grantType": "refresh_token",
        "refreshToken": field("refreshToken"),
    })
    .to_string();
    let request = http::Request::post(&url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CredentialsError::caused(NAME, "cannot build the CreateToken request", e))?;
    tracing::debug!(endpoint = %base, "refreshing the SSO token (SSO OIDC CreateToken)");
    let response = ctx
        .http(NAME)?
        .send(request, TIMEOUT)
        .await
        .map_err(|e| CredentialsError::caused(NAME, "SSO OIDC CreateToken failed", e))?;
    response.require_success(NAME, "SSO OIDC CreateToken")?;
    serde_json::from_slice(&response.body).map_err(|e| {
        CredentialsError::caused(NAME, "the CreateToken answer is not the expected JSON", e)
    })
}

/// Writes the refreshed token to the cache file, as the CLI would have. Best effort:
/// the token is used either way, and the next load refreshes again if this failed.
fn update_cache(
    file: &Path,
    cache: &mut Map<String, Value>,
    new: CreateTokenResponse,
    now: SystemTime,
) {
    let expires = now + Duration::from_secs(new.expires_in);
    cache.insert("accessToken".into(), Value::String(new.access_token));
    cache.insert("expiresAt".into(), Value::String(format_rfc3339(expires)));
    if let Some(r) = new.refresh_token {
        cache.insert("refreshToken".into(), Value::String(r));
    }
    let result = serde_json::to_string(cache)
        .map_err(std::io::Error::other)
        .and_then(|text| write_private(file, text.as_bytes()));
    if let Err(e) = result {
        tracing::warn!(file = %file.display(), error = %e, "cannot save the refreshed SSO token");
    }
}

/// Replaces `file` with `bytes` (a temporary file renamed over it, owner-only on Unix).
fn write_private(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let tmp = file.with_extension(format!("json.{}.tmp", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, file));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
