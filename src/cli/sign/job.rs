//! One signing job (from flags or a JSONL line): URL parsing, service/region
//! inference, the call to [`crate::sigv4::sign`] and the JSON result.
//!
//! Shared by `sign`, `sign --jsonl` and `presign`; output formatting is in
//! [`super::format`].

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::credentials::Credentials;
use crate::sigv4::{
    self, infer_endpoint, parse_timestamp, ContentSha256Header, PayloadHash, SignableRequest,
    SignatureLocation, SigningAlgorithm, SigningKeyCache, SigningParams, SigningSettings,
};

use super::error::CliError;

/// What to sign, with everything optional already resolved to "not given".
#[derive(Debug, Clone, Default)]
pub(crate) struct SignJob {
    pub(crate) method: String,
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
    pub(crate) service: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) timestamp: Option<String>,
    pub(crate) unsigned_payload: bool,
    pub(crate) content_sha256: bool,
    pub(crate) presign_expires: Option<u64>,
    pub(crate) sigv4a: bool,
    pub(crate) region_set: Option<String>,
}

/// The result printed as JSON: every intermediate value plus what to send.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SignedJson {
    pub(crate) method: String,
    pub(crate) service: String,
    pub(crate) region: String,
    pub(crate) authorization: String,
    pub(crate) timestamp: String,
    pub(crate) signature: String,
    pub(crate) canonical_request: String,
    pub(crate) string_to_sign: String,
    pub(crate) credential: String,
    pub(crate) credential_scope: String,
    pub(crate) signed_headers: String,
    pub(crate) payload_hash: String,
    /// Every header to send, as `[name, value]` pairs.
    pub(crate) headers: Vec<(String, String)>,
    /// The URL to send to (presigned in query mode).
    pub(crate) url: String,
}

/// A URL split into the parts the signer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedUrl<'a> {
    /// `http` or `https`.
    pub(crate) scheme: &'a str,
    /// `host[:port]` as written.
    pub(crate) authority: &'a str,
    /// The host without the port (for inference).
    pub(crate) host: &'a str,
    /// The `Host` header value: the authority without a default port.
    pub(crate) host_header: &'a str,
    /// The path and query as written; `/` when the URL has no path.
    pub(crate) path_and_query: String,
}

/// Splits `url` without re-encoding anything (raw spaces and UTF-8 are kept as
/// written, so that what is signed is what is sent).
pub(crate) fn parse_url(url: &str) -> Result<ParsedUrl<'_>, CliError> {
    let bad = |why: &str| CliError::Usage(format!("invalid URL {url:?}: {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("must start with http:// or https://"))?;
    let scheme_lower = scheme.to_ascii_lowercase();
    if scheme_lower != "http" && scheme_lower != "https" {
        return Err(bad("must start with http:// or https://"));
    }
    let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() {
        return Err(bad("no host"));
    }
    if authority.contains('@') {
        return Err(bad("user info in URLs is not supported"));
    }
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map(|i| &authority[..=i])
            .ok_or_else(|| bad("unclosed IPv6 literal"))?
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h)
    };
    let default_port = if scheme_lower == "https" {
        ":443"
    } else {
        ":80"
    };
    let host_header = authority.strip_suffix(default_port).unwrap_or(authority);
    let path_and_query = if tail.is_empty() {
        "/".to_owned()
    } else if tail.starts_with('?') {
        format!("/{tail}")
    } else {
        tail.to_owned()
    };
    Ok(ParsedUrl {
        scheme,
        authority,
        host,
        host_header,
        path_and_query,
    })
}

/// Parses a `Name: value` header argument.
pub(crate) fn parse_header(arg: &str) -> Result<(String, String), CliError> {
    let (name, value) = arg.split_once(':').ok_or_else(|| {
        CliError::Usage(format!("invalid header {arg:?}: expected 'Name: value'"))
    })?;
    let name = name.trim();
    if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(CliError::Usage(format!(
            "invalid header {arg:?}: {name:?} is not a valid header name"
        )));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// Headers in the job that the signer sets itself; never sent twice.
fn replaced_by_signer(name: &str, out: &sigv4::SigningOutput) -> bool {
    ["authorization", "x-amz-date", "x-amz-security-token"]
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        || out.headers().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Resolves service and region (flags win, the URL's host fills the gaps).
/// With SigV4a a given region set stands in for the region.
fn service_and_region(job: &SignJob, host: &str) -> Result<(String, String), CliError> {
    let region = match (&job.region, job.sigv4a) {
        (None, true) => &job.region_set,
        (r, _) => r,
    };
    match (&job.service, region) {
        (Some(s), Some(r)) => Ok((s.clone(), r.clone())),
        (s, r) => {
            let inferred = infer_endpoint(host)?;
            Ok((
                s.clone().unwrap_or(inferred.service),
                r.clone().unwrap_or(inferred.region),
            ))
        }
    }
}

/// Signs `job` and returns the JSON result.
pub(crate) fn sign_job(
    job: &SignJob,
    creds: &Credentials,
    cache: &SigningKeyCache,
    now: SystemTime,
) -> Result<SignedJson, CliError> {
    let url = parse_url(&job.url)?;
    let (service, region) = service_and_region(job, url.host)?;
    let time = match &job.timestamp {
        Some(t) => parse_timestamp(t).ok_or_else(|| {
            CliError::Usage(format!(
                "invalid timestamp {t:?}: expected 20150830T123600Z or 2015-08-30T12:36:00Z"
            ))
        })?,
        None => now,
    };
    let method = if job.method.is_empty() {
        "GET".to_owned()
    } else {
        job.method.to_ascii_uppercase()
    };

    let mut settings = SigningSettings::for_service(&service);
    if job.content_sha256 {
        settings.content_sha256 = ContentSha256Header::Include;
    }
    if let Some(secs) = job.presign_expires {
        settings.location = SignatureLocation::QueryParams {
            expires: Duration::from_secs(secs),
        };
    }
    let signing_region = if job.sigv4a {
        settings.algorithm = SigningAlgorithm::V4a;
        job.region_set.clone().unwrap_or_else(|| region.clone())
    } else {
        region.clone()
    };

    let mut headers: Vec<(&str, &str)> = job
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let has_host = headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host"));
    if !has_host {
        headers.insert(0, ("host", url.host_header));
    }
    let s3_like = settings.uri_encoding == sigv4::UriEncoding::Single;
    let payload = if job.unsigned_payload || (job.presign_expires.is_some() && s3_like) {
        PayloadHash::Unsigned
    } else {
        PayloadHash::Bytes(&job.body)
    };
    let request = SignableRequest::new(&method, &url.path_and_query, headers.clone(), payload);
    let params =
        SigningParams::new(creds, &signing_region, &service, time, &settings).with_key_cache(cache);
    let out = sigv4::sign(&request, &params)?;

    let mut send: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| !replaced_by_signer(n, &out))
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    send.extend(out.headers().map(|(n, v)| (n.to_owned(), v.to_owned())));
    let path_and_query = if job.presign_expires.is_some() {
        out.presigned_path_and_query(&url.path_and_query)
    } else {
        url.path_and_query.clone()
    };
    Ok(SignedJson {
        method,
        service,
        region: signing_region,
        authorization: out.authorization().to_owned(),
        timestamp: out.timestamp().to_owned(),
        signature: out.signature().to_owned(),
        canonical_request: out.canonical_request().to_owned(),
        string_to_sign: out.string_to_sign().to_owned(),
        credential: out.credential().to_owned(),
        credential_scope: out.credential_scope().to_owned(),
        signed_headers: out.signed_headers().to_owned(),
        payload_hash: out.payload_hash().to_owned(),
        headers: send,
        url: format!("{}://{}{}", url.scheme, url.authority, path_and_query),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = parse_url("https://example.amazonaws.com").unwrap();
        assert_eq!(
            (u.host, u.host_header, u.path_and_query.as_str()),
            ("example.amazonaws.com", "example.amazonaws.com", "/")
        );
        let u = parse_url("http://localhost:9000/b/k?x=1#frag").unwrap();
        assert_eq!(
            (u.host, u.host_header, u.path_and_query.as_str()),
            ("localhost", "localhost:9000", "/b/k?x=1")
        );
        let u = parse_url("https://h:443?a=b").unwrap();
        assert_eq!((u.host_header, u.path_and_query.as_str()), ("h", "/?a=b"));
        let u = parse_url("https://h/example space/ሴ").unwrap();
        assert_eq!(u.path_and_query, "/example space/ሴ");
        let u = parse_url("http://[::1]:8080/x").unwrap();
        assert_eq!((u.host, u.host_header), ("[::1]", "[::1]:8080"));
        for bad in ["example.com/x", "ftp://h/", "https:///x", "https://u@h/"] {
            assert!(matches!(parse_url(bad), Err(CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn parses_headers() {
        assert_eq!(
            parse_header("X-A:  b c ").unwrap(),
            ("X-A".into(), "b c".into())
        );
        assert_eq!(parse_header("a:b:c").unwrap(), ("a".into(), "b:c".into()));
        assert!(parse_header("novalue").is_err());
        assert!(parse_header("bad name: v").is_err());
    }
}
