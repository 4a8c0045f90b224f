//! [`HttpClient`]: the small HTTP(S) client the credential providers use to talk to
//! STS, SSO, IMDS and container endpoints.
//!
//! hyper-util's pooled client over hyper-rustls (aws-lc-rs), trusting the webpki roots
//! plus the PEM certificates in `AWS_CA_BUNDLE`. Plain `http://` is allowed because
//! IMDS and the container endpoints are HTTP; callers decide which URLs are acceptable.
//! Every request has a deadline and a bounded response size. This module does not sign
//! and does not retry.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::Context;

/// The largest response body a credential source may send.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why an HTTP exchange failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// `AWS_CA_BUNDLE` could not be read or holds no certificate.
    #[error("AWS_CA_BUNDLE {path}: {message}")]
    CaBundle { path: String, message: String },
    /// No answer within the deadline.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Connecting, TLS or the HTTP exchange failed.
    #[error("request failed")]
    Request(#[source] hyper_util::client::legacy::Error),
    /// Reading the body failed or it was too large.
    #[error("reading the response body failed")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A response with its body read.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub(crate) status: http::StatusCode,
    pub(crate) body: Bytes,
}

impl HttpResponse {
    /// The body as text, lossily.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `Ok` for a 2xx answer; otherwise `provider`'s error "`what` returned HTTP
    /// STATUS", with the start of the body (an error answer, so no credentials) when
    /// there is one.
    pub(crate) fn require_success(
        &self,
        provider: &'static str,
        what: &str,
    ) -> Result<(), super::CredentialsError> {
        if self.status.is_success() {
            return Ok(());
        }
        let body: String = self.text().trim().chars().take(300).collect();
        let status = self.status.as_u16();
        Err(super::CredentialsError::failed(
            provider,
            if body.is_empty() {
                format!("{what} returned HTTP {status}")
            } else {
                format!("{what} returned HTTP {status}: {body}")
            },
        ))
    }
}

/// A pooled HTTP/1 + HTTPS client.
#[derive(Clone)]
pub(crate) struct HttpClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient").finish_non_exhaustive()
    }
}

impl HttpClient {
    /// Builds the client, reading `AWS_CA_BUNDLE` from `ctx` if set.
    pub(crate) fn new(ctx: &Context) -> Result<Self, HttpError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ctx.var("AWS_CA_BUNDLE") {
            let err = |message: String| HttpError::CaBundle {
                path: path.clone(),
                message,
            };
            let pem = std::fs::read(ctx.expand_home(&path)).map_err(|e| err(e.to_string()))?;
            let mut added = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
                let cert = cert.map_err(|e| err(e.to_string()))?;
                roots.add(cert).map_err(|e| err(e.to_string()))?;
                added += 1;
            }
            if added == 0 {
                return Err(err("no PEM certificate in the file".into()));
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| HttpError::CaBundle {
                path: String::new(),
                message: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(5)));
        http.set_nodelay(true);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(Self { client })
    }

    /// Sends `request` and reads the whole response within `timeout`.
    pub(crate) async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<HttpResponse, HttpError> {
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(HttpError::Request)?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
                .collect()
                .await
                .map_err(HttpError::Body)?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialsError;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status: http::StatusCode::from_u16(status).unwrap(),
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn require_success_names_the_request_status_and_body() {
        assert!(response(200, "{}")
            .require_success("Imds", "GET /x")
            .is_ok());
        let err = response(500, "")
            .require_success("Imds", "GET /x")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            CredentialsError::failed("Imds", "GET /x returned HTTP 500").to_string()
        );
        let long = format!(" oops {}", "x".repeat(400));
        let err = response(403, &long)
            .require_success("Sso", "SSO GetRoleCredentials")
            .unwrap_err();
        let expected = format!(
            "SSO GetRoleCredentials returned HTTP 403: oops {}",
            "x".repeat(295)
        );
        assert_eq!(
            err.to_string(),
            CredentialsError::failed("Sso", expected).to_string()
        );
    }
}
