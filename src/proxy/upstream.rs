//! The upstream HTTP client: hyper-util's pooled client over hyper-rustls (aws-lc-rs),
//! trusting the web PKI roots plus a route's optional extra CA, offering HTTP/2 and
//! HTTP/1.1 by ALPN; plain `http://` only when the URL says so.
//!
//! [`ConnectToConnector`] implements `connect_to`: the TCP connection goes to the
//! override address while the URI (hence SNI, certificate check, `Host`, pool key and
//! signature) keeps the real name.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpStream;

use super::body::TrackedBody;
use super::busy_poll::{BusyPoll, Policy, Switch};
use super::error::BoxError;
use super::ProxyError;
use crate::config::{ConnectTo, UpstreamSettings};

/// The pooled upstream client of one route.
pub(crate) type UpstreamClient = Client<HttpsConnector<ConnectToConnector>, TrackedBody>;

/// Builds a client trusting the web PKI roots and `extra_ca`, and the connector for
/// [`super::affinity`]'s own connections (same trust and ALPN).
pub(crate) fn build_client(
    extra_ca: &[CertificateDer<'static>],
    connect_to: Arc<ConnectTo>,
    settings: &UpstreamSettings,
    busy_poll: &Policy,
) -> Result<(UpstreamClient, HttpsConnector<ConnectToConnector>), ProxyError> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_ca {
        roots.add(cert.clone()).map_err(|e| ProxyError::Setup {
            what: "adding a ca_file certificate to the trust store".into(),
            source: e.into(),
        })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxyError::Setup {
            what: "building the TLS client configuration".into(),
            source: e.into(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(settings.connect_timeout));
    let tcp = ConnectToConnector {
        http,
        connect_to,
        busy_poll: busy_poll.clone(),
    };
    let affinity = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.clone())
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp.clone());
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_all_versions()
        .wrap_connector(tcp);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(settings.pool_idle_timeout)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector);
    Ok((client, affinity))
}

/// A TCP connector that applies `connect_to` overrides.
#[derive(Debug, Clone)]
pub(crate) struct ConnectToConnector {
    http: HttpConnector,
    connect_to: Arc<ConnectTo>,
    /// Wraps each connection ([`super::busy_poll`]).
    busy_poll: Policy,
}

impl tower_service::Service<Uri> for ConnectToConnector {
    type Response = TokioIo<BusyPoll<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.http.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let tls = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let dst = match self.connect_to.lookup(host, port) {
            Some((to_host, to_port)) => {
                tracing::debug!(from = %format!("{host}:{port}"), to = %format!("{to_host}:{to_port}"), "connect_to override");
                let to_host = if to_host.contains(':') {
                    format!("[{to_host}]")
                } else {
                    to_host.to_owned()
                };
                match format!("http://{to_host}:{to_port}/").parse::<Uri>() {
                    Ok(u) => u,
                    Err(e) => return Box::pin(async move { Err(e.into()) }),
                }
            }
            None => uri,
        };
        let fut = self.http.call(dst);
        let busy_poll = self.busy_poll.clone();
        Box::pin(async move {
            let io = fut.await?;
            Ok(TokioIo::new(busy_poll.wrap(io.into_inner())))
        })
    }
}

/// The busy-poll switch of a connection made by [`ConnectToConnector`], under its TLS
/// layer if it has one.
pub(crate) fn busy_poll_switch(io: &MaybeHttpsStream<TokioIo<BusyPoll<TcpStream>>>) -> &Switch {
    match io {
        MaybeHttpsStream::Http(tcp) => tcp.inner().switch(),
        MaybeHttpsStream::Https(tls) => tls.inner().get_ref().0.inner().inner().switch(),
    }
}
