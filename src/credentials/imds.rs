//! [`ImdsProvider`]: the EC2 instance role from the instance metadata service. IMDSv2
//! first: `PUT /latest/api/token` (with `x-aws-ec2-metadata-token-ttl-seconds`), then
//! the role name and its credentials with `x-aws-ec2-metadata-token`.
//!
//! Like the AWS SDKs, it falls back to IMDSv1 (the same GETs without a token) when the
//! token request is answered 403, 404 or 405 (a service without IMDSv2) or gets no
//! answer in time (an IMDSv2 answer dropped on its way back, as with a hop limit of 1
//! in a container). `AWS_EC2_METADATA_V1_DISABLED=true` forbids the fallback.
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

    /// Sends one request (bodiless); the transport's own error, so the token request
    /// can tell a timeout apart.
    async fn exchange(
        &self,
        request: http::request::Builder,
        what: &str,
    ) -> Result<Result<super::http::HttpResponse, HttpError>, CredentialsError> {
        let request = request.body(Full::new(Bytes::new())).map_err(|e| {
            CredentialsError::caused(NAME, format!("cannot build the {what} request"), e)
        })?;
        Ok(self.ctx.http(NAME)?.send(request, TIMEOUT).await)
    }

    async fn send(
        &self,
        request: http::request::Builder,
        what: &str,
    ) -> Result<super::http::HttpResponse, CredentialsError> {
        self.exchange(request, what)
            .await?
            .map_err(|e| http_failure(what, e))
    }

    /// The IMDSv2 session token as a header, or `None` to go on with IMDSv1 (see the
    /// module documentation for when).
    async fn token(&self, base: &str) -> Result<Option<http::HeaderValue>, CredentialsError> {
        let request = http::Request::put(format!("{base}/latest/api/token"))
            .header("x-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS);
        let token = match self.exchange(request, "token").await? {
            Ok(r) => r,
            Err(HttpError::Timeout(t)) => {
                // Off EC2 this is the usual case: with IMDSv1 forbidden it stays "not
                // configured here", as an unanswered request always was.
                let why = format!("the token request got no answer within {t:?}");
                return self.v1_fallback(&why, CredentialsError::not_loaded);
            }
            Err(e) => return Err(http_failure("token", e)),
        };
        if matches!(token.status.as_u16(), 403..=405) {
            let why = format!("the token request was answered {}", token.status);
            return self.v1_fallback(&why, CredentialsError::failed);
        }
        token.require_success(NAME, "PUT /latest/api/token")?;
        let token = SecretString::new(token.text().trim());
        let mut header = http::HeaderValue::from_str(token.expose()).map_err(|_| {
            CredentialsError::failed(NAME, "the metadata token is not a valid header value")
        })?;
        header.set_sensitive(true);
        Ok(Some(header))
    }

    /// Going on without a token (IMDSv1), unless `AWS_EC2_METADATA_V1_DISABLED` says no;
    /// then `refusal` makes the error.
    fn v1_fallback(
        &self,
        why: &str,
        refusal: fn(&'static str, String) -> CredentialsError,
    ) -> Result<Option<http::HeaderValue>, CredentialsError> {
        if self.is_true("AWS_EC2_METADATA_V1_DISABLED") {
            return Err(refusal(
                NAME,
                format!("{why}, and AWS_EC2_METADATA_V1_DISABLED=true forbids IMDSv1"),
            ));
        }
        tracing::debug!(
            reason = why,
            "instance metadata: no IMDSv2 token; using IMDSv1"
        );
        Ok(None)
    }

    /// True when the environment variable `name` is `true` (any case).
    fn is_true(&self, name: &str) -> bool {
        self.ctx
            .var(name)
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
    }

    /// A GET of `path`, with the token when there is one.
    fn get(base: &str, path: &str, token: Option<&http::HeaderValue>) -> http::request::Builder {
        let request = http::Request::get(format!("{base}{path}"));
        match token {
            Some(t) => request.header("x-aws-ec2-metadata-token", t.clone()),
            None => request,
        }
    }

    async fn provide(&self) -> Result<Credentials, CredentialsError> {
        if self.is_true("AWS_EC2_METADATA_DISABLED") {
            return Err(CredentialsError::not_loaded(
                NAME,
                "AWS_EC2_METADATA_DISABLED is true",
            ));
        }
        let base = self.endpoint()?;
        let token = self.token(&base).await?;

        let roles = self
            .send(Self::get(&base, CREDS_PATH, token.as_ref()), "role name")
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
                Self::get(&base, &format!("{CREDS_PATH}{role}"), token.as_ref()),
                "credentials",
            )
            .await?;
        creds.require_success(NAME, &format!("GET {CREDS_PATH}{role}"))?;
        parse_json(NAME, &creds.body)
    }
}

/// What a failed exchange means for the chain.
fn http_failure(what: &str, e: HttpError) -> CredentialsError {
    match e {
        // Off EC2 nothing answers: not an error, the chain moves on.
        e @ (HttpError::Timeout(_) | HttpError::Request(_)) => CredentialsError::not_loaded(
            NAME,
            format!("the instance metadata service did not answer ({what}: {e})"),
        ),
        e => CredentialsError::caused(NAME, format!("{what} failed"), e),
    }
}

impl ProvideCredentials for ImdsProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.provide())
    }
}
