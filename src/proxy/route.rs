//! Routing: which route a request belongs to, and where it goes.
//!
//! - Reverse listeners pick the route whose `host` (if set) equals the request's host
//!   and whose `path_prefix` starts its path; host-specific routes win over host-less
//!   ones, then the longest prefix. The upstream path is the upstream URL's base path
//!   followed by the client's path and query, byte for byte.
//! - Forward listeners take the host from the absolute URI (or `Host`), sign only when
//!   a route's allow-list matches, and use TLS upstream unless the route's
//!   `forward_scheme` is `client`.

use std::borrow::Cow;
use std::sync::Arc;

use http::request::Parts;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};

use super::state::{ListenerState, ReverseUpstream, RouteState};
use super::ProxyError;
use crate::config::{authority, ForwardScheme, ListenerMode, RouteTarget, UpstreamUrl};

/// Where one request goes, and how it is signed. Borrows from the route what the
/// route fixes (a reverse route's upstream, service and region), and shares the
/// client's path, so the common request copies nothing.
#[derive(Debug)]
pub(crate) struct Target<'a> {
    pub(crate) route: &'a RouteState,
    pub(crate) tls: bool,
    /// Lower-case, IPv6 without brackets.
    pub(crate) host: Cow<'a, str>,
    pub(crate) port: u16,
    /// Exactly what is sent upstream (and signed). Without a base path this is the
    /// client's own, shared with its URI rather than copied and parsed again.
    pub(crate) path_and_query: PathAndQuery,
    pub(crate) service: Cow<'a, str>,
    pub(crate) region: Cow<'a, str>,
    /// A reverse route's precomputed upstream forms.
    fixed: Option<&'a ReverseUpstream>,
}

impl Target<'_> {
    /// The `Host` header value: `host[:port]`.
    pub(crate) fn authority(&self) -> String {
        authority(&self.host, self.port, self.tls)
    }

    /// The `Host` header to send.
    pub(crate) fn host_header(&self) -> Result<HeaderValue, ProxyError> {
        match self.fixed {
            Some(f) => Ok(f.host_header.clone()),
            None => HeaderValue::from_str(&self.authority()).map_err(|_| {
                ProxyError::BadRequest("the upstream host is not a valid header value".into())
            }),
        }
    }

    /// `host:port`, for logs and errors.
    pub(crate) fn host_port(&self) -> Arc<str> {
        match self.fixed {
            Some(f) => f.host_port.clone(),
            None => Arc::from(format!("{}:{}", self.host, self.port)),
        }
    }

    /// Which upstream connections can carry this request: `host:port` for a reverse
    /// route (its scheme is fixed), `scheme://host:port` for a forward one.
    pub(crate) fn pool_key(&self) -> Arc<str> {
        match self.fixed {
            Some(f) => f.host_port.clone(),
            None => {
                let scheme = if self.tls { "https" } else { "http" };
                Arc::from(format!("{scheme}://{}:{}", self.host, self.port))
            }
        }
    }

    /// The absolute upstream URI.
    pub(crate) fn uri(&self) -> Result<Uri, ProxyError> {
        let scheme = if self.tls {
            Scheme::HTTPS
        } else {
            Scheme::HTTP
        };
        let authority = match self.fixed {
            Some(f) => f.authority.clone(),
            None => Authority::try_from(self.authority().as_str()).map_err(|e| {
                ProxyError::BadRequest(format!("cannot build the upstream URI: {e}"))
            })?,
        };
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(scheme);
        parts.authority = Some(authority);
        parts.path_and_query = Some(self.path_and_query.clone());
        Uri::from_parts(parts)
            .map_err(|e| ProxyError::BadRequest(format!("cannot build the upstream URI: {e}")))
    }
}

/// The host and port the client addressed (absolute URI first, then `Host`).
fn request_authority(parts: &Parts) -> Result<Option<Authority>, ProxyError> {
    if let Some(a) = parts.uri.authority() {
        return Ok(Some(a.clone()));
    }
    match parts.headers.get(http::header::HOST) {
        None => Ok(None),
        Some(v) => Authority::try_from(v.as_bytes())
            .map(Some)
            .map_err(|_| ProxyError::BadRequest("the Host header is not a valid host".into())),
    }
}

/// The host without IPv6 brackets, lower-case (copied only when it is not already).
fn bare_host(a: &Authority) -> Cow<'_, str> {
    let h = a.host().trim_start_matches('[').trim_end_matches(']');
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

/// Finds the route and upstream of a request on `listener`.
pub(crate) fn resolve<'a>(
    listener: &'a ListenerState,
    parts: &Parts,
) -> Result<Target<'a>, ProxyError> {
    let authority = request_authority(parts)?;
    let host = authority.as_ref().map(bare_host).unwrap_or_default();
    let pq = match parts.uri.path_and_query() {
        Some(pq) => pq.clone(),
        None => PathAndQuery::from_static("/"),
    };
    if !pq.as_str().starts_with('/') {
        return Err(ProxyError::BadRequest(format!(
            "request target {:?} is not a path",
            pq.as_str()
        )));
    }
    match listener.mode {
        ListenerMode::Reverse => resolve_reverse(listener, &host, pq),
        ListenerMode::Forward => {
            let client_tls = parts.uri.scheme() == Some(&http::uri::Scheme::HTTPS);
            let port = authority.as_ref().and_then(Authority::port_u16);
            resolve_forward(listener, host.into_owned(), port, client_tls, pq)
        }
    }
}

fn resolve_reverse<'a>(
    listener: &'a ListenerState,
    host: &str,
    pq: PathAndQuery,
) -> Result<Target<'a>, ProxyError> {
    let path = pq.path();
    let mut best: Option<(&RouteState, &UpstreamUrl, (bool, usize))> = None;
    for r in &listener.routes {
        let RouteTarget::Reverse {
            host: want_host,
            path_prefix,
            upstream,
        } = &r.config.target
        else {
            continue;
        };
        if want_host.as_ref().is_some_and(|h| *h != host) || !path.starts_with(path_prefix.as_str())
        {
            continue;
        }
        let rank = (want_host.is_some(), path_prefix.len());
        if best.as_ref().is_none_or(|(_, _, b)| rank > *b) {
            best = Some((r, upstream, rank));
        }
    }
    let Some((route, upstream, _)) = best else {
        return Err(ProxyError::NoRoute {
            host: host.to_owned(),
            path: path.to_owned(),
        });
    };
    let path_and_query = if upstream.base_path.is_empty() {
        pq
    } else {
        let mut joined = String::with_capacity(upstream.base_path.len() + pq.as_str().len());
        joined.push_str(&upstream.base_path);
        joined.push_str(pq.as_str());
        PathAndQuery::try_from(joined)
            .map_err(|e| ProxyError::BadRequest(format!("cannot build the upstream path: {e}")))?
    };
    Ok(Target {
        route,
        tls: upstream.tls,
        host: Cow::Borrowed(&upstream.host),
        port: upstream.port,
        path_and_query,
        // invariant: Config::from_raw fills both for reverse routes (given or inferred)
        service: Cow::Borrowed(route.config.service.as_deref().unwrap_or_default()),
        region: Cow::Borrowed(route.config.region.as_deref().unwrap_or_default()),
        fixed: route.reverse_upstream.as_ref(),
    })
}

fn resolve_forward<'a>(
    listener: &'a ListenerState,
    host: String,
    port: Option<u16>,
    client_tls: bool,
    pq: PathAndQuery,
) -> Result<Target<'a>, ProxyError> {
    if host.is_empty() {
        return Err(ProxyError::BadRequest(
            "forward proxy request without a host (send an absolute URI or a Host header)".into(),
        ));
    }
    let found = listener.routes.iter().find_map(|r| match &r.config.target {
        RouteTarget::Forward {
            allowed_hosts,
            scheme,
        } if allowed_hosts.iter().any(|p| p.matches(&host)) => Some((r, *scheme)),
        _ => None,
    });
    let Some((route, scheme)) = found else {
        return Err(ProxyError::HostNotAllowed { host });
    };
    let (tls, port) = match scheme {
        ForwardScheme::Https => (true, port.filter(|p| *p != 80).unwrap_or(443)),
        ForwardScheme::Client => (
            client_tls,
            port.unwrap_or(if client_tls { 443 } else { 80 }),
        ),
    };
    let (service, region) = match (&route.config.service, &route.config.region) {
        (Some(s), Some(r)) => (Cow::Borrowed(s.as_str()), Cow::Borrowed(r.as_str())),
        (s, r) => {
            let inferred = crate::sigv4::infer_endpoint(&host)?;
            (
                s.as_deref()
                    .map_or(Cow::Owned(inferred.service), Cow::Borrowed),
                r.as_deref()
                    .map_or(Cow::Owned(inferred.region), Cow::Borrowed),
            )
        }
    };
    Ok(Target {
        route,
        tls,
        host: Cow::Owned(host),
        port,
        path_and_query: pq,
        service,
        region,
        fixed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, RawConfig};
    use crate::proxy::ProxyState;

    fn state(text: &str) -> ProxyState {
        let file = std::path::Path::new("t.toml");
        let config =
            Config::from_raw(RawConfig::parse(text, file).expect("parse"), file).expect("valid");
        ProxyState::new(&config).expect("state")
    }

    fn parts(uri: &str, host: Option<&str>) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        if let Some(h) = host {
            b = b.header("host", h);
        }
        b.body(()).expect("request").into_parts().0
    }

    const REVERSE: &str = r#"
[[listeners]]
listen = "1"
[[listeners.routes]]
name = "any"
upstream = "https://s3.us-east-1.amazonaws.com/base/"
service = "s3"
region = "us-east-1"
[[listeners.routes]]
name = "logs"
path_prefix = "/logs/"
upstream = "http://127.0.0.1:9000"
service = "s3"
region = "eu-west-1"
[[listeners.routes]]
name = "by-host"
host = "ddb.local"
upstream = "https://dynamodb.us-east-1.amazonaws.com"
service = "dynamodb"
region = "us-east-1"
"#;

    #[test]
    fn reverse_picks_host_then_longest_prefix_and_keeps_the_path_verbatim() {
        let s = state(REVERSE);
        let l = &s.listeners[0];
        let t = resolve(l, &parts("/b/a%20b+c?x=%2F&y", Some("localhost:8080"))).expect("route");
        assert_eq!(t.route.config.name, "any");
        assert_eq!(t.authority(), "s3.us-east-1.amazonaws.com");
        assert_eq!(t.path_and_query, "/base/b/a%20b+c?x=%2F&y");
        assert_eq!(
            t.uri().expect("uri").to_string(),
            "https://s3.us-east-1.amazonaws.com/base/b/a%20b+c?x=%2F&y"
        );

        let t = resolve(l, &parts("/logs/x", Some("localhost"))).expect("route");
        assert_eq!(
            (t.route.config.name.as_str(), &*t.region),
            ("logs", "eu-west-1")
        );
        assert_eq!(t.authority(), "127.0.0.1:9000");
        assert!(!t.tls);

        // Host-specific beats a longer prefix on a host-less route; the port is ignored.
        let t = resolve(l, &parts("/logs/x", Some("DDB.local:8080"))).expect("route");
        assert_eq!(
            (t.route.config.name.as_str(), &*t.service),
            ("by-host", "dynamodb")
        );
    }

    #[test]
    fn reverse_without_a_matching_route_is_no_route() {
        let s = state(
            "[[listeners]]\nlisten = \"1\"\n[[listeners.routes]]\npath_prefix = \"/only/\"\nupstream = \"http://127.0.0.1:1\"\nservice = \"s3\"\nregion = \"us-east-1\"\n",
        );
        let e = resolve(&s.listeners[0], &parts("/other", Some("h"))).expect_err("no route");
        assert!(matches!(e, ProxyError::NoRoute { .. }), "{e:?}");
    }

    const FORWARD: &str = r#"
[[listeners]]
listen = "1"
mode = "forward"
[[listeners.routes]]
name = "plain"
allowed_hosts = ["*.internal.example"]
forward_scheme = "client"
service = "execute-api"
region = "eu-west-1"
[[listeners.routes]]
name = "aws"
"#;

    #[test]
    fn forward_upgrades_to_https_and_infers_service_and_region() {
        let s = state(FORWARD);
        let l = &s.listeners[0];
        let t = resolve(
            l,
            &parts(
                "http://sqs.eu-central-1.amazonaws.com/?Action=ListQueues",
                None,
            ),
        )
        .expect("route");
        assert_eq!(t.route.config.name, "aws");
        assert!(t.tls);
        assert_eq!(t.port, 443);
        assert_eq!((&*t.service, &*t.region), ("sqs", "eu-central-1"));
        assert_eq!(t.path_and_query, "/?Action=ListQueues");

        // An explicit non-default port is kept; :80 becomes 443.
        let t =
            resolve(l, &parts("http://s3.us-east-1.amazonaws.com:8443/b", None)).expect("route");
        assert_eq!(t.authority(), "s3.us-east-1.amazonaws.com:8443");
        let t = resolve(l, &parts("http://s3.us-east-1.amazonaws.com:80/b", None)).expect("route");
        assert_eq!(t.authority(), "s3.us-east-1.amazonaws.com");

        // forward_scheme = "client" keeps plain http.
        let t = resolve(l, &parts("http://api.internal.example/x", None)).expect("route");
        assert_eq!(
            (t.route.config.name.as_str(), t.tls, t.port),
            ("plain", false, 80)
        );

        // Origin-form with a Host header works too.
        let t = resolve(l, &parts("/x", Some("sts.amazonaws.com"))).expect("route");
        assert_eq!(t.service, "sts");
    }

    #[test]
    fn forward_refuses_hosts_off_the_allow_list() {
        let s = state(FORWARD);
        let l = &s.listeners[0];
        for uri in [
            "http://example.com/",
            "http://amazonaws.com/",
            "http://s3.amazonaws.com.evil.net/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let e = resolve(l, &parts(uri, None)).expect_err(uri);
            assert!(
                matches!(e, ProxyError::HostNotAllowed { .. }),
                "{uri}: {e:?}"
            );
        }
    }
}
