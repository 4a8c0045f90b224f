//! Header rules: what is removed, kept and added on the way upstream and back.
//!
//! Upstream requests lose hop-by-hop headers (and any named in `Connection`), `Expect`
//! (the proxy reads the body itself), the client's `Host` and `Content-Length` (both
//! recomputed), and the client's own auth headers (`authorization`, `x-amz-date`,
//! `x-amz-security-token`, `x-amz-content-sha256`) unless the route passes them
//! through. Then the route's `remove_headers` and `add_headers` apply. Every header
//! left is signed, except the signer's own exclusion list and the route's
//! `unsigned_headers`.

use http::header::{self, HeaderMap, HeaderName};

use crate::config::{RouteConfig, CLIENT_AUTH_HEADERS};

/// Hop-by-hop headers (RFC 9110 §7.6.1), plus the non-standard `proxy-connection`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// True for a hop-by-hop header name (`HeaderName`s are lower-case).
fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.contains(&name)
}

/// The header names a `Connection` header lists (none when there is no such header).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// Removes every header whose name `doomed` picks. One pass over the names finds them
/// (a typical request has none to a few), instead of a hashed lookup per name on the
/// lists above, which cost more than the rest of the header handling together. The
/// names found are held in a small array on the stack (a `Vec` was an allocation on
/// every request: `Host` is always removed); a longer list takes more passes.
fn remove_where(headers: &mut HeaderMap, doomed: impl Fn(&HeaderName) -> bool) {
    const BATCH: usize = 8;
    loop {
        let mut names: [Option<HeaderName>; BATCH] = Default::default();
        let mut found = 0;
        for (slot, name) in names.iter_mut().zip(headers.keys().filter(|n| doomed(n))) {
            *slot = Some(name.clone());
            found += 1;
        }
        for name in names.into_iter().flatten() {
            headers.remove(name);
        }
        // A full batch may have left more; each pass removes what it found, so this ends.
        if found < BATCH {
            return;
        }
    }
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named = connection_named(headers);
    remove_where(headers, |n| is_hop_by_hop(n.as_str()) || named.contains(n));
}

/// Applies the request rules above to a client's headers.
pub(crate) fn prepare_request(headers: &mut HeaderMap, route: &RouteConfig) {
    let named = connection_named(headers);
    remove_where(headers, |n| {
        let s = n.as_str();
        is_hop_by_hop(s)
            || named.contains(n)
            || n == header::EXPECT
            || n == header::HOST
            || n == header::CONTENT_LENGTH
            || (CLIENT_AUTH_HEADERS.contains(&s) && !route.pass_through_headers.contains(n))
            || route.remove_headers.contains(n)
    });
    for (name, value) in &route.add_headers {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;
    use crate::config::{Config, RawConfig};

    fn route(extra: &str) -> RouteConfig {
        let text = format!(
            "[[listeners]]\nlisten = \"1\"\nmode = \"forward\"\n[[listeners.routes]]\n{extra}\n"
        );
        let file = std::path::Path::new("t.toml");
        let c =
            Config::from_raw(RawConfig::parse(&text, file).expect("parse"), file).expect("valid");
        c.listeners[0].routes[0].clone()
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn strips_hop_by_hop_client_auth_and_recomputed_headers() {
        let mut h = map(&[
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic abc"),
            ("expect", "100-continue"),
            ("host", "localhost:8080"),
            ("content-length", "5"),
            ("authorization", "AWS4-HMAC-SHA256 old"),
            ("x-amz-date", "20200101T000000Z"),
            ("x-amz-security-token", "tok"),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("x-amz-meta-a", "b"),
            ("x-amz-acl", "private"),
            ("content-type", "text/plain"),
        ]);
        prepare_request(&mut h, &route(""));
        let mut names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["content-type", "x-amz-acl", "x-amz-meta-a"]);
    }

    #[test]
    fn removes_more_headers_than_one_batch_holds() {
        let mut h = map(&[("keep", "1")]);
        for i in 0..20 {
            h.append(
                HeaderName::from_bytes(format!("x-gone-{i}").as_bytes()).expect("name"),
                HeaderValue::from_static("v"),
            );
        }
        remove_where(&mut h, |n| n.as_str().starts_with("x-gone-"));
        let names: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["keep"]);
    }

    #[test]
    fn route_rules_pass_through_remove_and_add() {
        let mut h = map(&[
            ("x-amz-security-token", "tok"),
            ("authorization", "x"),
            ("user-agent", "curl"),
        ]);
        let r = route("pass_through_headers = [\"x-amz-security-token\"]\nremove_headers = [\"User-Agent\"]\nadd_headers = { \"x-amz-request-payer\" = \"requester\" }");
        prepare_request(&mut h, &r);
        assert_eq!(
            h.get("x-amz-security-token").map(|v| v.as_bytes()),
            Some(&b"tok"[..])
        );
        assert!(h.get("authorization").is_none());
        assert!(h.get("user-agent").is_none());
        assert_eq!(
            h.get("x-amz-request-payer").map(|v| v.as_bytes()),
            Some(&b"requester"[..])
        );
    }
}
