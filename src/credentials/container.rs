//! [`ContainerProvider`]: the ECS task role and EKS Pod Identity endpoint.
//!
//! `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on `http://169.254.170.2`) or
//! `AWS_CONTAINER_CREDENTIALS_FULL_URI`; the latter only over HTTPS or to a host the
//! AWS SDKs allow for plain HTTP (loopback, `169.254.170.2`, `169.254.170.23`,
//! `fd00:ec2::23`). `Authorization` comes from `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`
//! (re-read on every load; EKS rotates it) or `AWS_CONTAINER_AUTHORIZATION_TOKEN`.

use std::net::IpAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use serde::Deserialize;

use super::datetime::parse_rfc3339;
use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "Container";
const ECS_HOST: &str = "http://169.254.170.2";
const TIMEOUT: Duration = Duration::from_secs(5);

/// The JSON shape shared by the container endpoints and IMDS.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonCredentials {
    code: Option<String>,
    message: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    token: Option<String>,
    expiration: Option<String>,
}

/// Parses `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}` (with an optional
/// `"Code"` that must be `"Success"`).
pub(crate) fn parse_json(
    provider: &'static str,
    body: &[u8],
) -> Result<Credentials, CredentialsError> {
    let json: JsonCredentials = serde_json::from_slice(body).map_err(|e| {
        CredentialsError::caused(provider, "the answer is not the expected JSON", e)
    })?;
    if let Some(code) = json.code.as_deref().filter(|c| *c != "Success") {
        return Err(CredentialsError::failed(
            provider,
            format!(
                "the answer has Code {code:?}: {}",
                json.message.unwrap_or_default()
            ),
        ));
    }
    let missing = |f: &str| CredentialsError::failed(provider, format!("the answer has no {f}"));
    let akid = json
        .access_key_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("AccessKeyId"))?;
    let secret = json
        .secret_access_key
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("SecretAccessKey"))?;
    let expiry = match json.expiration.as_deref() {
        None => None,
        Some(e) => Some(parse_rfc3339(e).ok_or_else(|| {
            CredentialsError::failed(
                provider,
                format!("Expiration {e:?} is not an RFC 3339 time"),
            )
        })?),
    };
    Ok(Credentials::new(
        akid,
        SecretString::new(secret),
        json.token.filter(|t| !t.is_empty()).map(SecretString::new),
        expiry,
        provider,
    ))
}

/// True when plain HTTP to `host` is allowed for a full URI.
fn allowed_http_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => true,
        Ok(ip) => ["169.254.170.2", "169.254.170.23", "fd00:ec2::23"]
            .iter()
            .any(|a| a.parse::<IpAddr>().is_ok_and(|a| a == ip)),
        Err(_) => false,
    }
}

/// Loads from the ECS / EKS container credentials endpoint.
#[derive(Debug, Clone)]
pub struct ContainerProvider {
    ctx: Context,
}

impl ContainerProvider {
    /// A provider reading the environment of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    fn uri(&self) -> Result<http::Uri, CredentialsError> {
        let ctx = &self.ctx;
        let (what, url) = if let Some(rel) = ctx.var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            let sep = if rel.starts_with('/') { "" } else { "/" };
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                format!("{ECS_HOST}{sep}{rel}"),
            )
        } else if let Some(full) = ctx.var("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", full)
        } else {
            return Err(CredentialsError::not_loaded(
                NAME,
                "neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor AWS_CONTAINER_CREDENTIALS_FULL_URI is set",
            ));
        };
        let uri: http::Uri = url.parse().map_err(|e| {
            CredentialsError::caused(NAME, format!("{what} {url:?} is not a URL"), e)
        })?;
        match (uri.scheme_str(), uri.host()) {
            (Some("https"), Some(_)) => Ok(uri),
            (Some("http"), Some(host)) if allowed_http_host(host) => Ok(uri),
            (Some("http"), Some(host)) => Err(CredentialsError::invalid(
                NAME,
                format!("{what}: plain http is only allowed to loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23, not {host}"),
            )),
            _ => Err(CredentialsError::invalid(NAME, format!("{what} {url:?} is not an http(s) URL"))),
        }
    }

    fn authorization(&self) -> Result<Option<SecretString>, CredentialsError> {
        let ctx = &self.ctx;
        let token = if let Some(path) = ctx.var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
            let text = std::fs::read_to_string(ctx.expand_home(&path)).map_err(|e| {
                CredentialsError::caused(
                    NAME,
                    format!("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path}"),
                    e,
                )
            })?;
            Some(text.trim().to_owned())
        } else {
            ctx.var("AWS_CONTAINER_AUTHORIZATION_TOKEN")
        };
        match token {
            Some(t) if t.contains(['\r', '\n']) => Err(CredentialsError::invalid(
                NAME,
                "the authorization token contains a line break",
            )),
            other => Ok(other.map(SecretString::new)),
        }
    }

    async fn provide(&self) -> Result<Credentials, CredentialsError> {
        let uri = self.uri()?;
        let mut request =
            http::Request::get(uri.clone()).header(http::header::ACCEPT, "application/json");
        if let Some(token) = self.authorization()? {
            let mut value = http::HeaderValue::from_str(token.expose()).map_err(|_| {
                CredentialsError::invalid(
                    NAME,
                    "the authorization token is not a valid header value",
                )
            })?;
            value.set_sensitive(true);
            request = request.header(http::header::AUTHORIZATION, value);
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| CredentialsError::caused(NAME, "cannot build the request", e))?;
        tracing::debug!(uri = %uri, "loading container credentials");
        let response = self
            .ctx
            .http(NAME)?
            .send(request, TIMEOUT)
            .await
            .map_err(|e| CredentialsError::caused(NAME, format!("GET {uri} failed"), e))?;
        response.require_success(NAME, &format!("GET {uri}"))?;
        parse_json(NAME, &response.body)
    }
}

impl ProvideCredentials for ContainerProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.provide())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(vars: &[(&str, &str)]) -> ContainerProvider {
        ContainerProvider::new(Context::new(
            std::sync::Arc::new(vars.iter().copied().collect::<crate::credentials::MapEnv>()),
            std::sync::Arc::new(crate::credentials::SystemClock),
        ))
    }

    #[test]
    fn relative_uri_goes_to_the_ecs_address_and_wins_over_full() {
        let p = provider(&[
            (
                "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                "/v2/credentials/abc",
            ),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1/other",
            ),
        ]);
        assert_eq!(
            p.uri().unwrap().to_string(),
            "http://169.254.170.2/v2/credentials/abc"
        );
        let p = provider(&[(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "https://creds.example.com/x",
        )]);
        assert_eq!(p.uri().unwrap().to_string(), "https://creds.example.com/x");
    }

    #[test]
    fn token_with_a_line_break_is_refused() {
        let p = provider(&[("AWS_CONTAINER_AUTHORIZATION_TOKEN", "abc\r\nX-Evil: 1")]);
        assert!(p.authorization().is_err());
    }

    #[test]
    fn http_only_to_allowed_hosts() {
        for h in [
            "127.0.0.1",
            "127.1.2.3",
            "[::1]",
            "localhost",
            "169.254.170.2",
            "169.254.170.23",
            "[fd00:ec2::23]",
        ] {
            assert!(allowed_http_host(h), "{h}");
        }
        for h in [
            "10.0.0.1",
            "169.254.169.254",
            "example.com",
            "[fd00:ec2::24]",
        ] {
            assert!(!allowed_http_host(h), "{h}");
        }
    }
}
