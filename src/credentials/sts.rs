//! The two STS calls credential providers make — `AssumeRole` (signed with our own
//! signer, [`crate::sigv4::sign`]) and `AssumeRoleWithWebIdentity` (unsigned) — and
//! where they go: `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, the profile's
//! `services` section or `endpoint_url`, else the regional STS endpoint.
//!
//! Answers are parsed as XML (roxmltree); STS error responses become errors carrying
//! the STS error code and message. No caching and no retries here: the cache retries.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;

use super::datetime::parse_rfc3339;
use super::profile::{LoadedProfiles, RoleSpec};
use super::{Context, Credentials, CredentialsError};
use crate::secret::SecretString;
use crate::sigv4::{self, PayloadHash, SignableRequest, SigningParams, SigningSettings};

pub(crate) const ASSUME_ROLE: &str = "AssumeRole";
pub(crate) const WEB_IDENTITY: &str = "WebIdentityToken";
const TIMEOUT: Duration = Duration::from_secs(10);
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// Where STS calls go and the region they are signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) url: http::Uri,
    pub(crate) region: String,
}

pub(crate) fn parse_url(
    provider: &'static str,
    what: &str,
    url: &str,
) -> Result<http::Uri, CredentialsError> {
    let uri: http::Uri = url.parse().map_err(|e| {
        CredentialsError::caused(provider, format!("{what} {url:?} is not a URL"), e)
    })?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(uri),
        _ => Err(CredentialsError::invalid(
            provider,
            format!("{what} {url:?} must be an http:// or https:// URL with a host"),
        )),
    }
}

impl Endpoint {
    /// The STS endpoint for the environment and (optionally) a profile.
    pub(crate) fn resolve(
        ctx: &Context,
        profiles: Option<&LoadedProfiles>,
    ) -> Result<Self, CredentialsError> {
        let section = profiles.and_then(LoadedProfiles::selected_section);
        let region = ctx
            .var("AWS_REGION")
            .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
            .or_else(|| section.and_then(|s| s.get("region")).map(str::to_owned))
            .unwrap_or_else(|| "us-east-1".to_owned());
        let ignore = ctx
            .var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || section
                .and_then(|s| s.get("ignore_configured_endpoint_urls"))
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let configured = if ignore {
            None
        } else {
            let from_services = || {
                let services = section?.get("services")?;
                profiles?
                    .files
                    .services
                    .get(services)?
                    .get_sub("sts", "endpoint_url")
                    .map(|u| ("services sts endpoint_url", u.to_owned()))
            };
            ctx.var("AWS_ENDPOINT_URL_STS")
                .map(|u| ("AWS_ENDPOINT_URL_STS", u))
                .or_else(|| ctx.var("AWS_ENDPOINT_URL").map(|u| ("AWS_ENDPOINT_URL", u)))
                .or_else(from_services)
                .or_else(|| {
                    section
                        .and_then(|s| s.get("endpoint_url"))
                        .map(|u| ("profile endpoint_url", u.to_owned()))
                })
        };
        let url = match configured {
            Some((what, url)) => parse_url(ASSUME_ROLE, what, &url)?,
            None => {
                let suffix = if region.starts_with("cn-") {
                    "amazonaws.com.cn"
                } else {
                    "amazonaws.com"
                };
                parse_url(
                    ASSUME_ROLE,
                    "region",
                    &format!("https://sts.{region}.{suffix}/"),
                )?
            }
        };
        Ok(Self { url, region })
    }

    /// An explicit endpoint (from a route's configuration).
    pub(crate) fn new(url: &str, region: &str) -> Result<Self, CredentialsError> {
        Ok(Self {
            url: parse_url(ASSUME_ROLE, "endpoint_url", url)?,
            region: region.to_owned(),
        })
    }

    fn path(&self) -> &str {
        match self.url.path() {
            "" => "/",
            p => p,
        }
    }

    fn host(&self) -> &str {
        self.url.authority().map(|a| a.as_str()).unwrap_or_default()
    }
}

/// Parameters of one `AssumeRole` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AssumeRoleParams {
    pub(crate) role_arn: String,
    pub(crate) external_id: Option<String>,
    pub(crate) session_name: Option<String>,
    pub(crate) duration_seconds: Option<u32>,
}

impl From<&RoleSpec> for AssumeRoleParams {
    fn from(r: &RoleSpec) -> Self {
        Self {
            role_arn: r.role_arn.clone(),
            external_id: r.external_id.clone(),
            session_name: r.session_name.clone(),
            duration_seconds: r.duration_seconds,
        }
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A valid role session name: the given one (checked) or `sigv4-proxy-<millis>`.
pub(crate) fn session_name(
    provider: &'static str,
    given: Option<&str>,
    ctx: &Context,
) -> Result<String, CredentialsError> {
    match given {
        Some(name) => {
            let ok_chars = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
            if (2..=64).contains(&name.len()) && ok_chars {
                Ok(name.to_owned())
            } else {
                Err(CredentialsError::invalid(
                    provider,
                    format!("role_session_name {name:?} must be 2 to 64 characters of [A-Za-z0-9+=,.@_-]"),
                ))
            }
        }
        None => {
            let millis = ctx
                .now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            Ok(format!("sigv4-proxy-{millis}"))
        }
    }
}

fn check_duration(
    provider: &'static str,
    d: Option<u32>,
) -> Result<Option<String>, CredentialsError> {
    match d {
        None => Ok(None),
        Some(d) if (900..=43_200).contains(&d) => Ok(Some(d.to_string())),
        Some(d) => Err(CredentialsError::invalid(
            provider,
            format!("duration_seconds must be between 900 and 43200, got {d}"),
        )),
    }
}

/// Calls `AssumeRole` with `source` credentials.
pub(crate) async fn assume_role(
    ctx: &Context,
    endpoint: &Endpoint,
    source: &Credentials,
    params: &AssumeRoleParams,
) -> Result<Credentials, CredentialsError> {
    let p = ASSUME_ROLE;
    let session = session_name(p, params.session_name.as_deref(), ctx)?;
    let duration = check_duration(p, params.duration_seconds)?;
    let mut pairs = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", params.role_arn.as_str()),
        ("RoleSessionName", session.as_str()),
    ];
    if let Some(ext) = &params.external_id {
        pairs.push(("ExternalId", ext));
    }
    if let Some(d) = &duration {
        pairs.push(("DurationSeconds", d));
    }
    let body = form(&pairs);
    let mut request = http::Request::post(endpoint.url.clone())
        .header(http::header::HOST, endpoint.host())
        .header(http::header::CONTENT_TYPE, FORM)
        .body(Full::new(Bytes::from(body.clone())))
        .map_err(|e| CredentialsError::caused(p, "cannot build the STS request", e))?;
    let settings = SigningSettings::default();
    let signable = SignableRequest::new(
        "POST",
        endpoint.path(),
        vec![("host", endpoint.host()), ("content-type", FORM)],
        PayloadHash::Bytes(body.as_bytes()),
    );
    let signing = SigningParams::new(source, &endpoint.region, "sts", ctx.now(), &settings);
    let output = sigv4::sign(&signable, &signing)
        .map_err(|e| CredentialsError::caused(p, "cannot sign the AssumeRole request", e))?;
    output
        .apply_to_headers(request.headers_mut())
        .map_err(|e| CredentialsError::caused(p, "cannot sign the AssumeRole request", e))?;
    tracing::debug!(role_arn = %params.role_arn, endpoint = %endpoint.url, "calling STS AssumeRole");
    call(ctx, p, request, "AssumeRole").await
}

/// Calls `AssumeRoleWithWebIdentity` (unsigned) with the token `token`.
pub(crate) async fn assume_role_with_web_identity(
    ctx: &Context,
    endpoint: &Endpoint,
    role_arn: &str,
    session_name: &str,
    token: &SecretString,
) -> Result<Credentials, CredentialsError> {
    let p = WEB_IDENTITY;
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role_arn),
        ("RoleSessionName", session_name),
        ("WebIdentityToken", token.expose()),
    ]);
    let request = http::Request::post(endpoint.url.clone())
        .header(http::header::HOST, endpoint.host())
        .header(http::header::CONTENT_TYPE, FORM)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CredentialsError::caused(p, "cannot build the STS request", e))?;
    tracing::debug!(role_arn, endpoint = %endpoint.url, "calling STS AssumeRoleWithWebIdentity");
    call(ctx, p, request, "AssumeRoleWithWebIdentity").await
}

async fn call(
    ctx: &Context,
    provider: &'static str,
    request: http::Request<Full<Bytes>>,
    action: &str,
) -> Result<Credentials, CredentialsError> {
    let response = ctx
        .http(provider)?
        .send(request, TIMEOUT)
        .await
        .map_err(|e| CredentialsError::caused(provider, format!("STS {action} failed"), e))?;
    let text = response.text();
    if !response.status.is_success() {
        let (code, message) = parse_error(&text);
        return Err(CredentialsError::failed(
            provider,
            format!(
                "STS {action} returned HTTP {}: {code}: {message}",
                response.status.as_u16()
            ),
        ));
    }
    parse_credentials(provider, &text)
}

/// The `Code` and `Message` of an STS `ErrorResponse`.
fn parse_error(xml: &str) -> (String, String) {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return (
            "UnknownError".into(),
            "the error response is not XML".into(),
        );
    };
    let text = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::trim)
            .map(str::to_owned)
    };
    (
        text("Code").unwrap_or_else(|| "UnknownError".into()),
        text("Message").unwrap_or_default(),
    )
}

/// The `Credentials` element of an `AssumeRole*Response`.
pub(crate) fn parse_credentials(
    provider: &'static str,
    xml: &str,
) -> Result<Credentials, CredentialsError> {
    let doc = roxmltree::Document::parse(xml)
        .map_err(|e| CredentialsError::caused(provider, "the STS response is not XML", e))?;
    let creds = doc
        .descendants()
        .find(|n| n.has_tag_name("Credentials"))
        .ok_or_else(|| CredentialsError::failed(provider, "the STS response has no Credentials"))?;
    let field = |name: &str| {
        creds
            .children()
            .find(|n| n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                CredentialsError::failed(provider, format!("the STS response has no {name}"))
            })
    };
    let expiration = field("Expiration")?;
    let expiry = parse_rfc3339(expiration).ok_or_else(|| {
        CredentialsError::failed(
            provider,
            format!("the STS Expiration {expiration:?} is not an RFC 3339 time"),
        )
    })?;
    Ok(Credentials::new(
        field("AccessKeyId")?,
        SecretString::new(field("SecretAccessKey")?),
        Some(SecretString::new(field("SessionToken")?)),
        Some(expiry),
        provider,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::{MapEnv, SystemClock};
    use std::sync::Arc;

    fn ctx(vars: &[(&str, &str)]) -> Context {
        Context::new(
            Arc::new(vars.iter().copied().collect::<MapEnv>()),
            Arc::new(SystemClock),
        )
    }

    #[test]
    fn parses_assume_role_response() {
        let xml = r#"<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn><AssumedRoleId>ARO:s</AssumedRoleId></AssumedRoleUser>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>secret&amp;key</SecretAccessKey>
      <SessionToken>tok</SessionToken>
      <Expiration>2015-08-30T12:36:00Z</Expiration>
    </Credentials>
  </AssumeRoleResult>
</AssumeRoleResponse>"#;
        let c = parse_credentials(ASSUME_ROLE, xml).unwrap();
        assert_eq!(c.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(c.secret_access_key(), "secret&key");
        assert_eq!(c.session_token(), Some("tok"));
        assert_eq!(c.expiry(), parse_rfc3339("2015-08-30T12:36:00Z"));
        assert!(parse_credentials(ASSUME_ROLE, "<x/>").is_err());
        assert!(parse_credentials(ASSUME_ROLE, "not xml").is_err());
    }

    #[test]
    fn parses_error_response() {
        let xml = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>nope</Message></Error></ErrorResponse>";
        assert_eq!(parse_error(xml), ("AccessDenied".into(), "nope".into()));
    }

    #[test]
    fn endpoint_precedence() {
        let e = Endpoint::resolve(&ctx(&[]), None).unwrap();
        assert_eq!(e.url.to_string(), "https://sts.us-east-1.amazonaws.com/");
        let e = Endpoint::resolve(&ctx(&[("AWS_REGION", "cn-north-1")]), None).unwrap();
        assert_eq!(
            e.url.to_string(),
            "https://sts.cn-north-1.amazonaws.com.cn/"
        );
        let e = Endpoint::resolve(
            &ctx(&[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:2"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(
            (e.url.to_string().as_str(), e.region.as_str()),
            ("http://127.0.0.1:2/", "eu-west-1")
        );
        let e =
            Endpoint::resolve(&ctx(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]), None).unwrap();
        assert_eq!(e.url.to_string(), "http://127.0.0.1:1/");
        assert!(Endpoint::resolve(&ctx(&[("AWS_ENDPOINT_URL_STS", "ftp://x")]), None).is_err());
        let e = Endpoint::resolve(
            &ctx(&[
                ("AWS_ENDPOINT_URL_STS", "http://x"),
                ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"),
            ]),
            None,
        )
        .unwrap();
        assert_eq!(e.url.host(), Some("sts.us-east-1.amazonaws.com"));
    }

    #[test]
    fn session_names_and_durations() {
        let c = ctx(&[]);
        assert!(session_name(ASSUME_ROLE, None, &c)
            .unwrap()
            .starts_with("sigv4-proxy-"));
        assert!(session_name(ASSUME_ROLE, None, &c).unwrap().len() <= 64);
        assert_eq!(
            session_name(ASSUME_ROLE, Some("a.b@c"), &c).unwrap(),
            "a.b@c"
        );
        assert!(session_name(ASSUME_ROLE, Some(&"x".repeat(65)), &c).is_err());
        assert!(session_name(ASSUME_ROLE, Some("has space"), &c).is_err());
        assert!(check_duration(ASSUME_ROLE, Some(899)).is_err());
        assert_eq!(
            check_duration(ASSUME_ROLE, Some(900)).unwrap().as_deref(),
            Some("900")
        );
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            form(&[("RoleArn", "arn:aws:iam::1:role/a b")]),
            "RoleArn=arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%20b"
        );
    }
}
