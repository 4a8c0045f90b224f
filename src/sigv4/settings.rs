//! Signing settings (how to canonicalise and where the signature goes) and the
//! per-call [`SigningParams`].

use std::time::{Duration, SystemTime};

use super::SigningKeyCache;
use crate::credentials::Credentials;

/// How the canonical URI path is percent-encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriEncoding {
    /// Encode the (already wire-encoded) path again: every service except S3.
    Double,
    /// Decode each path segment and encode it once: S3.
    Single,
}

/// Whether `.`/`..` segments and repeated `/` are removed from the path before signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathNormalization {
    /// Normalise (every service except S3).
    Enabled,
    /// Sign the path as it is (S3).
    Disabled,
}

/// Where the signature goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureLocation {
    /// In the `Authorization` header.
    Headers,
    /// In the query string (a presigned URL), valid for `expires` (1 s to 7 days).
    QueryParams {
        /// `X-Amz-Expires`.
        expires: Duration,
    },
}

/// Whether to add and sign an `x-amz-content-sha256` header carrying the payload hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentSha256Header {
    /// Do not add it.
    Omit,
    /// Add it (S3 requires it; some services accept it).
    Include,
}

/// What to do with the session token of temporary credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionTokenMode {
    /// Sign it (`X-Amz-Security-Token` in the canonical headers or query).
    Signed,
    /// Leave it out of the signature and add it to the request afterwards (a few
    /// services, e.g. IoT, want this; suite case `post-sts-header-after`).
    AppendAfterSigning,
}

/// The signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigningAlgorithm {
    /// `AWS4-HMAC-SHA256`.
    V4,
    /// `AWS4-ECDSA-P256-SHA256`; [`SigningParams::region`] is the region set.
    V4a,
}

/// How to sign: encoding, normalisation, location, and the headers never signed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SigningSettings {
    /// Path percent-encoding mode.
    pub uri_encoding: UriEncoding,
    /// Path normalisation mode.
    pub path_normalization: PathNormalization,
    /// Header or query-string signature.
    pub location: SignatureLocation,
    /// Whether to add `x-amz-content-sha256`.
    pub content_sha256: ContentSha256Header,
    /// What to do with a session token.
    pub session_token: SessionTokenMode,
    /// SigV4 or SigV4a.
    pub algorithm: SigningAlgorithm,
    /// Lower-case header names never signed, in addition to the built-in list
    /// (hop-by-hop headers, `user-agent`, `x-amzn-trace-id`, `expect`, ...).
    pub excluded_headers: Vec<String>,
}

impl Default for SigningSettings {
    fn default() -> Self {
        Self {
            uri_encoding: UriEncoding::Double,
            path_normalization: PathNormalization::Enabled,
            location: SignatureLocation::Headers,
            content_sha256: ContentSha256Header::Omit,
            session_token: SessionTokenMode::Signed,
            algorithm: SigningAlgorithm::V4,
            excluded_headers: Vec::new(),
        }
    }
}

impl SigningSettings {
    /// The settings AWS expects for `service`: S3 (and S3 Express / S3 Outposts) get
    /// single encoding, no normalisation and `x-amz-content-sha256`; others the defaults.
    pub fn for_service(service: &str) -> Self {
        match service {
            "s3" | "s3express" | "s3-outposts" | "s3-object-lambda" => Self {
                uri_encoding: UriEncoding::Single,
                path_normalization: PathNormalization::Disabled,
                content_sha256: ContentSha256Header::Include,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }

    /// Sets where the signature goes (header, or a presigned URL valid for `expires`).
    pub fn with_location(mut self, location: SignatureLocation) -> Self {
        self.location = location;
        self
    }

    /// Sets SigV4 or SigV4a.
    pub fn with_algorithm(mut self, algorithm: SigningAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets whether `x-amz-content-sha256` is added and signed.
    pub fn with_content_sha256(mut self, mode: ContentSha256Header) -> Self {
        self.content_sha256 = mode;
        self
    }

    /// Sets what happens to a session token.
    pub fn with_session_token(mut self, mode: SessionTokenMode) -> Self {
        self.session_token = mode;
        self
    }

    /// Sets the path normalisation mode.
    pub fn with_path_normalization(mut self, mode: PathNormalization) -> Self {
        self.path_normalization = mode;
        self
    }

    /// Sets the path encoding mode.
    pub fn with_uri_encoding(mut self, mode: UriEncoding) -> Self {
        self.uri_encoding = mode;
        self
    }

    /// Adds header names (any case) that are never signed.
    pub fn with_excluded_headers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.excluded_headers
            .extend(names.into_iter().map(|n| n.into().to_ascii_lowercase()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_defaults_and_builders() {
        let s3 = SigningSettings::for_service("s3");
        assert_eq!(s3.uri_encoding, UriEncoding::Single);
        assert_eq!(s3.path_normalization, PathNormalization::Disabled);
        assert_eq!(s3.content_sha256, ContentSha256Header::Include);
        let other = SigningSettings::for_service("sqs");
        assert_eq!(other, SigningSettings::default());
        assert_eq!(other.uri_encoding, UriEncoding::Double);
        let s = SigningSettings::default()
            .with_location(SignatureLocation::QueryParams {
                expires: Duration::from_secs(60),
            })
            .with_algorithm(SigningAlgorithm::V4a)
            .with_session_token(SessionTokenMode::AppendAfterSigning)
            .with_excluded_headers(["X-Custom"]);
        assert_eq!(s.algorithm, SigningAlgorithm::V4a);
        assert_eq!(s.session_token, SessionTokenMode::AppendAfterSigning);
        assert_eq!(s.excluded_headers, vec!["x-custom".to_string()]);
        assert!(matches!(s.location, SignatureLocation::QueryParams { .. }));
    }
}

/// Everything a single signing call needs besides the request itself.
#[derive(Debug, Clone, Copy)]
pub struct SigningParams<'a> {
    /// The credentials to sign with.
    pub credentials: &'a Credentials,
    /// The region (SigV4) or region set (SigV4a, e.g. `us-east-1` or `*`).
    pub region: &'a str,
    /// The service name in the credential scope (`s3`, `execute-api`, `es`, ...).
    pub service: &'a str,
    /// The signing time (`SystemTime::now()` unless testing).
    pub time: SystemTime,
    /// How to sign.
    pub settings: &'a SigningSettings,
    /// A cache of derived signing keys; `None` derives the key on every call.
    pub key_cache: Option<&'a SigningKeyCache>,
}

impl<'a> SigningParams<'a> {
    /// Parameters with no key cache.
    pub fn new(
        credentials: &'a Credentials,
        region: &'a str,
        service: &'a str,
        time: SystemTime,
        settings: &'a SigningSettings,
    ) -> Self {
        Self {
            credentials,
            region,
            service,
            time,
            settings,
            key_cache: None,
        }
    }

    /// Uses `cache` for derived signing keys.
    pub fn with_key_cache(mut self, cache: &'a SigningKeyCache) -> Self {
        self.key_cache = Some(cache);
        self
    }
}
