//! [`ImdsProvider`]: the EC2 instance role from the instance metadata service, IMDSv2
//! only — `PUT /latest/api/token` (with `x-aws-ec2-metadata-token-ttl-seconds`), then
//! the role name and its credentials with `x-aws-ec2-metadata-token`.
//!
//! Each request has a 1 s deadline, so that off EC2 the chain gives up quickly; an
//! unreachable endpoint is "not configured here". `AWS_EC2_METADATA_DISABLED=true`
//! turns it off; `AWS_EC2_METADATA_SERVICE_ENDPOINT` (or
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6`) moves it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use super::container::parse_json;
use super::http::HttpError;
use super::{BoxFuture, Context, Credentials, CredentialsError, ProvideCredentials};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "Imds";
const TIMEOUT: Duration = Duration::from_secs(1);
const TOKEN_TTL_SECONDS: &str = "21600";
const CREDS_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// Loads the instance role's credentials from IMDSv2.
#[derive(Debug, Clone)]
pub struct ImdsProvider {
    ctx: Context,
}

impl ImdsProvider {
    /// A provider reading its settings from the environment of `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self { ctx }
    }

    fn endpoint(&self) -> Result<String, CredentialsError> {
        let ctx = &self.ctx;
        let endpoint = match ctx.var("AWS_EC2_METADATA_SERVICE_ENDPOINT") {
            Some(e) => e,
            None => match ctx.var("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE").as_deref() {
                None | Some("IPv4") => "http://169.254.169.254".to_owned(),
                Some("IPv6") => "http://[fd00:ec2::254]".to_owned(),
                Some(other) => {
                    return Err(CredentialsError::invalid(
                        NAME,
                        format!("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE must be IPv4 or IPv6, got {other:?}"),
                    ))
                }
            },
        };
        Ok(endpoint.trim_end_matches('/').to_owned())
    }

    async fn send(
        &self,
        request: http::request::Builder,
        what: &str,
    ) -> Result<super::http::HttpResponse, CredentialsError> {
        let request = request.body(Full::new(Bytes::new())).map_err(|e| {
            CredentialsError::caused(NAME, format!("cannot build the {what} request"), e)
        })?;
        match self.ctx.http(NAME)?.send(request, TIMEOUT).await {
            Ok(r) => Ok(r),
            // Off EC2 nothing answers: not an error, the chain moves on.
            Err(e @ (HttpError::Timeout(_) | HttpError::Request(_))) => {
                Err(CredentialsError::not_loaded(
                    NAME,
                    format!("the instance metadata service did not answer ({what}: {e})"),
                ))
            }
            Err(e) => Err(CredentialsError::caused(NAME, format!("{what} failed"), e)),
        }
    }

    async fn provide(&self) -> Result<Credentials, CredentialsError> {
        if self
            .ctx
            .var("AWS_EC2_METADATA_DISABLED")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        {
            return Err(CredentialsError::not_loaded(
                NAME,
                "AWS_EC2_METADATA_DISABLED is true",
            ));
        }
        let base = self.endpoint()?;
        let token = self
            .send(
                http::Request::put(format!("{base}/latest/api/token"))
                    .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS),
                "token",
            )
            .await?;
        token.require_success(NAME, "PUT /latest/api/token")?;
        let token = SecretString::new(token.text().trim());
        let mut token_header = http::HeaderValue::from_str(token.expose()).map_err(|_| {
            CredentialsError::failed(NAME, "the metadata token is not a valid header value")
        })?;
        token_header.set_sensitive(true);

        let roles = self
            .send(
                http::Request::get(format!("{base}{CREDS_PATH}"))
                    .header("x-aws-ec2-metadata-token", token_header.clone()),
                "role name",
            )
            .await?;
        if roles.status == http::StatusCode::NOT_FOUND {
            return Err(CredentialsError::not_loaded(
                NAME,
                "the instance has no IAM role",
            ));
        }
        roles.require_success(NAME, &format!("GET {CREDS_PATH}"))?;
        let text = roles.text();
        let Some(role) = text.lines().map(str::trim).find(|l| !l.is_empty()) else {
            return Err(CredentialsError::not_loaded(
                NAME,
                "the instance has no IAM role",
            ));
        };
        if !role
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(CredentialsError::failed(
                NAME,
                format!("unexpected role name {role:?}"),
            ));
        }
        tracing::debug!(role, "loading instance role credentials");
        let creds = self
            .send(
                http::Request::get(format!("{base}{CREDS_PATH}{role}"))
                    .header("x-aws-ec2-metadata-token", token_header),
                "credentials",
            )
            .await?;
        creds.require_success(NAME, &format!("GET {CREDS_PATH}{role}"))?;
        parse_json(NAME, &creds.body)
    }
}

impl ProvideCredentials for ImdsProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.provide())
    }
}
