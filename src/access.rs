//! Gateway access control: who may use the proxy when it listens beyond loopback.
//!
//! Owns three pure checks, each with its own tests:
//! - [`check_listen_address`]: a non-loopback listen address needs an explicit
//!   [`Exposure::AllowNonLoopback`];
//! - [`Cidr`]: allowed client networks (`10.0.0.0/8`, `::1/128`, or a bare address);
//! - [`ProxyAuth`]: the `Proxy-Authorization` token (`Basic user:token` or
//!   `Bearer token`), read from a [`TokenSource`], compared in constant time.
//!
//! [`AccessPolicy::decide`] combines them into a [`Decision`]. The server calls it once
//! per connection or `CONNECT`, answers 403/407 itself, and removes the header with
//! [`strip_proxy_credentials`] before forwarding. Nothing here does I/O except
//! [`TokenSource::load`], and nothing here logs or prints a token: `Debug` redacts.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;

use base64::Engine as _;
use http::header::PROXY_AUTHORIZATION;
use http::{HeaderMap, StatusCode};

use crate::secret::{SecretString, REDACTED};

/// The challenges a 407 response carries, one `Proxy-Authenticate` header each.
pub const PROXY_AUTHENTICATE_CHALLENGES: [&str; 2] = [
    r#"Basic realm="sigv4-proxy""#,
    r#"Bearer realm="sigv4-proxy""#,
];

/// An access-control configuration error. Messages name the offending value or file,
/// never a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A client network is not valid CIDR notation.
    #[error("invalid client network {input:?}: {problem}")]
    InvalidCidr {
        /// The value as given.
        input: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The environment variable meant to hold the proxy token is unset or empty.
    #[error("proxy token variable {var} is not set or empty")]
    TokenEnvMissing {
        /// The variable's name.
        var: String,
    },
    /// The file meant to hold the proxy token cannot be read.
    #[error("cannot read proxy token file {}: {source}", path.display())]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The proxy token is empty (after trimming whitespace).
    #[error("proxy token from {origin} is empty")]
    EmptyToken {
        /// Where it came from: "inline value", "variable X", "file F".
        origin: String,
    },
    /// A non-loopback listen address without the explicit setting that allows it.
    #[error(
        "refusing to listen on {addr}: not a loopback address. Set allow_non_loopback \
         (and configure a proxy token and/or allowed client networks) to expose the proxy"
    )]
    NonLoopbackListen {
        /// The listen address.
        addr: SocketAddr,
    },
}

/// Whether the proxy may listen on a non-loopback address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Exposure {
    /// Only 127.0.0.0/8 and ::1 (the default).
    #[default]
    LoopbackOnly,
    /// Any address: the operator opted in (`allow_non_loopback`).
    AllowNonLoopback,
}

/// Fails unless `addr` is a loopback address or `exposure` allows otherwise. The
/// unspecified addresses (`0.0.0.0`, `::`) count as non-loopback.
pub fn check_listen_address(addr: SocketAddr, exposure: Exposure) -> Result<(), AccessError> {
    if addr.ip().to_canonical().is_loopback() || exposure == Exposure::AllowNonLoopback {
        Ok(())
    } else {
        Err(AccessError::NonLoopbackListen { addr })
    }
}

/// An IP network in CIDR notation. Parses `10.0.0.0/8`, `::1/128`, or a bare address
/// (a /32 or /128); rejects host bits set below the prefix (`10.0.0.1/8`) as a likely
/// typo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in this network. IPv4-mapped IPv6 addresses (how a dual-stack
    /// listener sees IPv4 clients) are compared as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_v4(u32::from(ip), self.prefix) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_v6(u128::from(ip), self.prefix) == u128::from(net)
            }
            _ => false,
        }
    }
}

/// `bits` with everything below the first `prefix` bits cleared (`prefix` <= 32).
fn mask_v4(bits: u32, prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => bits & (u32::MAX << (32 - u32::from(p.min(32)))),
    }
}

/// `bits` with everything below the first `prefix` bits cleared (`prefix` <= 128).
fn mask_v6(bits: u128, prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => bits & (u128::MAX << (128 - u32::from(p.min(128)))),
    }
}

impl FromStr for Cidr {
    type Err = AccessError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |problem: String| AccessError::InvalidCidr {
            input: input.to_owned(),
            problem,
        };
        let (addr, prefix) = match input.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (input.trim(), None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| invalid(format!("{addr:?} is not an IP address")))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| invalid(format!("prefix length must be 0..={max}")))?,
        };
        let masked = match network {
            IpAddr::V4(v4) => IpAddr::from(mask_v4(u32::from(v4), prefix).to_be_bytes()),
            IpAddr::V6(v6) => IpAddr::from(mask_v6(u128::from(v6), prefix).to_be_bytes()),
        };
        if masked != network {
            return Err(invalid(format!(
                "host bits set below /{prefix}; did you mean {masked}/{prefix}?"
            )));
        }
        Ok(Self { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Where the proxy token comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TokenSource {
    /// The token itself (from the config file).
    Value(SecretString),
    /// An environment variable holding the token.
    Env(String),
    /// A file holding the token (surrounding whitespace and the final newline ignored).
    File(PathBuf),
}

impl TokenSource {
    /// Reads the token, looking environment variables up in the process environment.
    pub fn load(&self) -> Result<SecretString, AccessError> {
        self.load_with(|name| std::env::var(name).ok())
    }

    /// Reads the token, looking environment variables up with `env` (a map in tests).
    pub fn load_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<SecretString, AccessError> {
        let (raw, origin) = match self {
            Self::Value(v) => (v.expose().to_owned(), "inline value".to_owned()),
            Self::Env(var) => {
                let value =
                    env(var).ok_or_else(|| AccessError::TokenEnvMissing { var: var.clone() })?;
                (value, format!("variable {var}"))
            }
            Self::File(path) => {
                let value =
                    std::fs::read_to_string(path).map_err(|source| AccessError::TokenFile {
                        path: path.clone(),
                        source,
                    })?;
                (value, format!("file {}", path.display()))
            }
        };
        let token = raw.trim();
        if token.is_empty() {
            return Err(match self {
                Self::Env(var) => AccessError::TokenEnvMissing { var: var.clone() },
                _ => AccessError::EmptyToken { origin },
            });
        }
        Ok(SecretString::new(token))
    }
}

/// Why a request failed proxy authentication. Carries no credential material, so it
/// can be logged as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthFailure {
    /// No `Proxy-Authorization` header.
    Missing,
    /// More than one `Proxy-Authorization` header.
    Duplicate,
    /// A scheme other than `Basic` or `Bearer`.
    UnsupportedScheme,
    /// The header is not valid for its scheme (bad base64, no `:`, not UTF-8).
    Malformed,
    /// Well-formed, but the user or token is wrong.
    WrongCredentials,
}

/// The inbound proxy credential: a token and, optionally, the user name a `Basic`
/// credential must carry. `Debug` never shows the token.
#[derive(Clone)]
pub struct ProxyAuth {
    user: Option<String>,
    token_digest: [u8; 32],
}

impl ProxyAuth {
    /// Accepts `Bearer <token>`, or `Basic` with any user name and `<token>` as the
    /// password.
    pub fn new(token: &SecretString) -> Self {
        Self {
            user: None,
            token_digest: digest(token.expose().as_bytes()),
        }
    }

    /// Additionally requires `Basic` credentials to carry this user name. (`Bearer`
    /// has no user name and stays accepted.)
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Checks the request's `Proxy-Authorization` header(s).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        let mut values = headers.get_all(PROXY_AUTHORIZATION).iter();
        let value = values.next().ok_or(AuthFailure::Missing)?;
        if values.next().is_some() {
            return Err(AuthFailure::Duplicate);
        }
        let value = value.to_str().map_err(|_| AuthFailure::Malformed)?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(AuthFailure::Malformed)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            self.check_token(rest.as_bytes())
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| AuthFailure::Malformed)?;
            let colon = decoded
                .iter()
                .position(|b| *b == b':')
                .ok_or(AuthFailure::Malformed)?;
            let (user, token) = (&decoded[..colon], &decoded[colon + 1..]);
            // Compare the token even when the user is wrong, so timing does not reveal
            // which of the two was.
            let token_ok = self.check_token(token);
            let user_ok = match &self.user {
                None => true,
                Some(expected) => aws_lc_rs::constant_time::verify_slices_are_equal(
                    &digest(expected.as_bytes()),
                    &digest(user),
                )
                .is_ok(),
            };
            token_ok.and(if user_ok {
                Ok(())
            } else {
                Err(AuthFailure::WrongCredentials)
            })
        } else {
            Err(AuthFailure::UnsupportedScheme)
        }
    }

    fn check_token(&self, presented: &[u8]) -> Result<(), AuthFailure> {
        // Comparing fixed-size digests keeps the comparison constant-time in the length
        // of the token too.
        aws_lc_rs::constant_time::verify_slices_are_equal(&self.token_digest, &digest(presented))
            .map_err(|_| AuthFailure::WrongCredentials)
    }
}

impl fmt::Debug for ProxyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuth")
            .field("user", &self.user)
            .field("token", &REDACTED)
            .finish()
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The outcome of an access check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Decision {
    /// Serve the request.
    Allow,
    /// Answer `407 Proxy Authentication Required` with
    /// [`PROXY_AUTHENTICATE_CHALLENGES`].
    Deny407(AuthFailure),
    /// Answer `403 Forbidden`: the client's address is not allowed.
    Deny403,
}

impl Decision {
    /// The status to answer with, or `None` for [`Decision::Allow`].
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Allow => None,
            Self::Deny407(_) => Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED),
            Self::Deny403 => Some(StatusCode::FORBIDDEN),
        }
    }
}

/// Who may use the proxy: an optional token and an optional list of client networks.
/// The default allows everyone (right for a loopback sidecar).
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    auth: Option<ProxyAuth>,
    allowed_clients: Vec<Cidr>,
}

impl AccessPolicy {
    /// Requires this proxy credential on every request / `CONNECT`.
    pub fn with_auth(mut self, auth: ProxyAuth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Accepts clients from these networks only (an empty list accepts any address).
    pub fn with_allowed_clients(mut self, networks: impl IntoIterator<Item = Cidr>) -> Self {
        self.allowed_clients = networks.into_iter().collect();
        self
    }

    /// True when neither a token nor a network list restricts access: worth a warning
    /// when the listener is not on loopback.
    pub fn is_unrestricted(&self) -> bool {
        self.auth.is_none() && self.allowed_clients.is_empty()
    }

    /// Decides for a client at `peer` sending `headers`. The address is checked first:
    /// a client from a disallowed network gets 403 whatever credentials it sends.
    pub fn decide(&self, peer: IpAddr, headers: &HeaderMap) -> Decision {
        if !self.allowed_clients.is_empty()
            && !self.allowed_clients.iter().any(|c| c.contains(peer))
        {
            return Decision::Deny403;
        }
        match &self.auth {
            Some(auth) => match auth.check(headers) {
                Ok(()) => Decision::Allow,
                Err(failure) => Decision::Deny407(failure),
            },
            None => Decision::Allow,
        }
    }
}

/// Removes every `Proxy-Authorization` header, so the proxy credential never reaches
/// the upstream. Call on every request before forwarding, whether or not auth is on.
pub fn strip_proxy_credentials(headers: &mut HeaderMap) {
    // `remove` drops every value of the header, not just the first.
    headers.remove(PROXY_AUTHORIZATION);
}

#[cfg(test)]
// Reason: in tests a panic is the failure report.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const TOKEN: &str = "s3cr3t-proxy-token";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("s3.amazonaws.com"));
        for v in values {
            h.append(PROXY_AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn basic(user_and_token: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_and_token)
        )
    }

    fn auth() -> ProxyAuth {
        ProxyAuth::new(&SecretString::new(TOKEN))
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listen_on_loopback_is_always_allowed() {
        for addr in [
            "127.0.0.1:8080",
            "127.1.2.3:0",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:80",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert!(
                check_listen_address(addr, Exposure::LoopbackOnly).is_ok(),
                "{addr}"
            );
        }
    }

    #[test]
    fn listen_beyond_loopback_needs_the_explicit_setting() {
        for addr in [
            "0.0.0.0:8080",
            "[::]:8080",
            "10.1.2.3:8080",
            "[2001:db8::1]:443",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let err = check_listen_address(addr, Exposure::LoopbackOnly).unwrap_err();
            assert!(matches!(err, AccessError::NonLoopbackListen { addr: a } if a == addr));
            let msg = err.to_string();
            assert!(
                msg.contains(&addr.to_string()) && msg.contains("allow_non_loopback"),
                "{msg}"
            );
            assert!(check_listen_address(addr, Exposure::AllowNonLoopback).is_ok());
        }
        assert_eq!(Exposure::default(), Exposure::LoopbackOnly);
    }

    #[test]
    fn cidr_parses_and_matches() {
        let ten: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(ten.contains(ip("10.255.0.1")));
        assert!(!ten.contains(ip("11.0.0.1")));
        // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6.
        assert!(ten.contains(ip("::ffff:10.1.2.3")));
        assert!(!ten.contains(ip("::1")));
        assert_eq!(ten.to_string(), "10.0.0.0/8");

        let lo6: Cidr = "::1/128".parse().unwrap();
        assert!(lo6.contains(ip("::1")));
        assert!(!lo6.contains(ip("::2")));
        assert!(!lo6.contains(ip("127.0.0.1")));

        let host: Cidr = "192.168.1.7".parse().unwrap();
        assert_eq!(host.to_string(), "192.168.1.7/32");
        assert!(host.contains(ip("192.168.1.7")) && !host.contains(ip("192.168.1.8")));

        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")) && !all.contains(ip("2001:db8::1")));
        let net6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(net6.contains(ip("2001:db8:ffff::1")) && !net6.contains(ip("2001:db9::1")));
    }

    #[test]
    fn cidr_rejects_bad_input_with_a_clear_message() {
        let cases = [
            ("10.0.0.1/8", "did you mean 10.0.0.0/8"),
            ("10.0.0.0/33", "0..=32"),
            ("::1/129", "0..=128"),
            ("10.0.0.0/x", "prefix length"),
            ("ten.0.0.0/8", "not an IP address"),
            ("", "not an IP address"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<Cidr>().unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(expected), "{input}: {msg}");
            assert!(msg.contains(&format!("{input:?}")), "{input}: {msg}");
        }
    }

    #[test]
    fn bearer_and_basic_tokens_are_accepted() {
        let a = auth();
        assert_eq!(a.check(&headers(&[&format!("Bearer {TOKEN}")])), Ok(()));
        assert_eq!(a.check(&headers(&[&format!("bearer  {TOKEN} ")])), Ok(()));
        assert_eq!(
            a.check(&headers(&[&basic(&format!("anyone:{TOKEN}"))])),
            Ok(())
        );
        // A token may itself contain ':'; only the first one separates the user.
        let colon = ProxyAuth::new(&SecretString::new("a:b"));
        assert_eq!(colon.check(&headers(&[&basic("u:a:b")])), Ok(()));
    }

    #[test]
    fn wrong_or_missing_credentials_are_refused_with_the_reason() {
        let a = auth();
        let cases = [
            (vec![], AuthFailure::Missing),
            (
                vec!["Bearer nope".to_owned()],
                AuthFailure::WrongCredentials,
            ),
            (
                vec![format!("Bearer {TOKEN}x")],
                AuthFailure::WrongCredentials,
            ),
            (
                vec![format!("Bearer {}", &TOKEN[1..])],
                AuthFailure::WrongCredentials,
            ),
            (vec!["Bearer ".to_owned()], AuthFailure::Malformed),
            (vec![basic("user:wrong")], AuthFailure::WrongCredentials),
            (vec![basic(TOKEN)], AuthFailure::Malformed),
            (
                vec!["Basic !!!notbase64".to_owned()],
                AuthFailure::Malformed,
            ),
            (
                vec![format!("Digest {TOKEN}")],
                AuthFailure::UnsupportedScheme,
            ),
            (vec![TOKEN.to_owned()], AuthFailure::Malformed),
            (
                vec![format!("Bearer {TOKEN}"), format!("Bearer {TOKEN}")],
                AuthFailure::Duplicate,
            ),
        ];
        for (values, expected) in cases {
            let refs: Vec<&str> = values.iter().map(String::as_str).collect();
            assert_eq!(a.check(&headers(&refs)), Err(expected), "{values:?}");
        }
    }

    #[test]
    fn a_configured_user_must_match_for_basic() {
        let a = auth().with_user("gateway");
        assert_eq!(
            a.check(&headers(&[&basic(&format!("gateway:{TOKEN}"))])),
            Ok(())
        );
        assert_eq!(
            a.check(&headers(&[&basic(&format!("other:{TOKEN}"))])),
            Err(AuthFailure::WrongCredentials)
        );
        assert_eq!(a.check(&headers(&[&format!("Bearer {TOKEN}")])), Ok(()));
    }

    #[test]
    fn policy_checks_the_network_before_the_token() {
        let policy = AccessPolicy::default()
            .with_auth(auth())
            .with_allowed_clients(["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]);
        let good = headers(&[&format!("Bearer {TOKEN}")]);
        assert_eq!(policy.decide(ip("10.1.1.1"), &good), Decision::Allow);
        assert_eq!(policy.decide(ip("::1"), &good), Decision::Allow);
        assert_eq!(policy.decide(ip("192.0.2.1"), &good), Decision::Deny403);
        assert_eq!(
            policy.decide(ip("192.0.2.1"), &headers(&[])),
            Decision::Deny403
        );
        assert_eq!(
            policy.decide(ip("10.1.1.1"), &headers(&[])),
            Decision::Deny407(AuthFailure::Missing)
        );
        assert_eq!(
            policy.decide(ip("10.1.1.1"), &headers(&["Bearer wrong"])),
            Decision::Deny407(AuthFailure::WrongCredentials)
        );
        assert_eq!(Decision::Deny403.status(), Some(StatusCode::FORBIDDEN));
        assert_eq!(
            Decision::Deny407(AuthFailure::Missing).status(),
            Some(StatusCode::PROXY_AUTHENTICATION_REQUIRED)
        );
        assert_eq!(Decision::Allow.status(), None);
        assert!(!policy.is_unrestricted());
    }

    #[test]
    fn default_policy_allows_everyone() {
        let policy = AccessPolicy::default();
        assert!(policy.is_unrestricted());
        assert_eq!(
            policy.decide(ip("203.0.113.5"), &headers(&[])),
            Decision::Allow
        );
        let net_only =
            AccessPolicy::default().with_allowed_clients(["127.0.0.0/8".parse().unwrap()]);
        assert_eq!(
            net_only.decide(ip("127.0.0.1"), &headers(&[])),
            Decision::Allow
        );
        assert_eq!(
            net_only.decide(ip("10.0.0.1"), &headers(&[])),
            Decision::Deny403
        );
    }

    #[test]
    fn stripping_removes_every_proxy_authorization_header() {
        let mut h = headers(&["Bearer a", "Basic Yjpj"]);
        strip_proxy_credentials(&mut h);
        assert!(h.get(PROXY_AUTHORIZATION).is_none());
        assert_eq!(h.get("host").unwrap(), "s3.amazonaws.com");
    }

    #[test]
    fn token_sources_load_and_trim() {
        let env = |name: &str| match name {
            "PROXY_TOKEN" => Some(format!("  {TOKEN}\n")),
            "BLANK" => Some("  ".to_owned()),
            _ => None,
        };
        let from_env = TokenSource::Env("PROXY_TOKEN".into())
            .load_with(env)
            .unwrap();
        assert_eq!(from_env.expose(), TOKEN);
        let missing = TokenSource::Env("NOPE".into()).load_with(env).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "proxy token variable NOPE is not set or empty"
        );
        let blank = TokenSource::Env("BLANK".into()).load_with(env).unwrap_err();
        assert!(matches!(blank, AccessError::TokenEnvMissing { .. }));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
        let from_file = TokenSource::File(file.clone()).load_with(env).unwrap();
        assert_eq!(from_file.expose(), TOKEN);
        std::fs::write(&file, "\n").unwrap();
        let empty = TokenSource::File(file.clone()).load_with(env).unwrap_err();
        assert!(
            empty.to_string().contains(&file.display().to_string()),
            "{empty}"
        );
        let absent = dir.path().join("absent");
        let err = TokenSource::File(absent.clone())
            .load_with(env)
            .unwrap_err();
        assert!(
            err.to_string().contains(&absent.display().to_string()),
            "{err}"
        );

        let inline = TokenSource::Value(SecretString::new(TOKEN))
            .load_with(env)
            .unwrap();
        assert_eq!(inline.expose(), TOKEN);
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let source = TokenSource::Value(SecretString::new(TOKEN));
        let policy = AccessPolicy::default().with_auth(auth().with_user("gw"));
        let decision = policy.decide(ip("127.0.0.1"), &headers(&["Bearer wrong-guess"]));
        for text in [
            format!("{source:?}"),
            format!("{policy:?}"),
            format!("{decision:?}"),
            format!("{:?}", auth()),
        ] {
            assert!(!text.contains(TOKEN), "{text}");
            assert!(!text.contains("wrong-guess"), "{text}");
        }
        assert!(format!("{policy:?}").contains(REDACTED));
    }
}
