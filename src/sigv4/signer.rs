//! [`sign`]: canonical request, string to sign, signature.
//!
//! This module decides *what* is signed (which headers and query parameters the signer
//! adds, the credential scope, the payload hash) and assembles the output. The byte
//! rules of canonicalisation live in [`super::canonical`], key derivation in
//! [`super::key`] and [`super::key_cache`].

use std::borrow::Cow;

use aws_lc_rs::{digest, hmac, rand::SystemRandom};

use super::canonical::{
    canonical_headers_into, canonical_query_into, canonical_uri_into, signed_headers_into,
    sort_headers, DEFAULT_EXCLUDED_HEADERS,
};
use super::encode::{hex, hex_into, percent_encode};
use super::key_cache::{v4a_key, with_v4_key};
use super::payload::{PayloadHash, UNSIGNED_PAYLOAD};
use super::settings::{
    ContentSha256Header, SessionTokenMode, SignatureLocation, SigningAlgorithm, SigningSettings,
};
use super::time::AmzDate;
use super::{SignError, SignableRequest, SigningOutput, SigningParams};

/// `AWS4-HMAC-SHA256`.
pub(crate) const ALGORITHM_V4: &str = "AWS4-HMAC-SHA256";
/// `AWS4-ECDSA-P256-SHA256`.
pub(crate) const ALGORITHM_V4A: &str = "AWS4-ECDSA-P256-SHA256";
/// Longest accepted presign expiry: 7 days.
pub(crate) const MAX_EXPIRES_SECS: u64 = 604_800;

/// Signs `request` with `params`. Pure: the same inputs give the same output (except
/// for SigV4a, whose ECDSA signatures are randomised).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use sigv4_proxy::credentials::Credentials;
/// use sigv4_proxy::sigv4::{sign, PayloadHash, SignableRequest, SigningParams, SigningSettings};
///
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None, "example");
/// let settings = SigningSettings::default();
/// let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
/// let params = SigningParams::new(&creds, "us-east-1", "service", time, &settings);
/// let request = SignableRequest::new("GET", "/", vec![("host", "example.amazonaws.com")], PayloadHash::Bytes(b""));
/// let out = sign(&request, &params)?;
/// assert_eq!(out.signature, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
/// assert_eq!(out.headers[0], ("x-amz-date", "20150830T123600Z".to_string()));
/// # Ok::<(), sigv4_proxy::sigv4::SignError>(())
/// ```
pub fn sign(
    request: &SignableRequest<'_>,
    params: &SigningParams<'_>,
) -> Result<SigningOutput, SignError> {
    let settings = params.settings;
    let creds = params.credentials;
    let v4a = settings.algorithm == SigningAlgorithm::V4a;
    let algorithm = if v4a { ALGORITHM_V4A } else { ALGORITHM_V4 };
    check_scope_part("region", params.region)?;
    check_scope_part("service", params.service)?;
    let date = AmzDate::new(params.time)?;
    let expires = match settings.location {
        SignatureLocation::Headers => None,
        SignatureLocation::QueryParams { expires } => {
            let secs = expires.as_secs();
            if !(1..=MAX_EXPIRES_SECS).contains(&secs) {
                return Err(SignError::InvalidExpiry(secs));
            }
            Some(secs)
        }
    };
    let header_mode = expires.is_none();
    let payload_hash = payload_hash(request.payload, v4a)?;
    let streaming = payload_hash.starts_with("STREAMING-");

    // Credential scope and credential.
    let mut scope = String::with_capacity(8 + params.region.len() + params.service.len() + 16);
    scope.push_str(date.date());
    scope.push('/');
    if !v4a {
        scope.push_str(params.region);
        scope.push('/');
    }
    scope.push_str(params.service);
    scope.push_str("/aws4_request");
    let mut credential = String::with_capacity(creds.access_key_id().len() + 1 + scope.len());
    credential.push_str(creds.access_key_id());
    credential.push('/');
    credential.push_str(&scope);

    let token = creds.session_token();
    let sign_token = settings.session_token == SessionTokenMode::Signed;
    let add_content_sha =
        header_mode && (settings.content_sha256 == ContentSha256Header::Include || streaming);

    // Headers to sign: the caller's (minus excluded and signer-owned) plus ours.
    let mut entries: Vec<(&str, &str)> = Vec::with_capacity(request.headers.len() + 4);
    entries.extend(
        request
            .headers
            .iter()
            .copied()
            .filter(|(name, _)| !is_excluded(name, settings, add_content_sha, v4a)),
    );
    if !entries.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        return Err(SignError::MissingHost);
    }
    if header_mode {
        entries.push(("x-amz-date", date.full()));
        if v4a {
            entries.push(("x-amz-region-set", params.region));
        }
        if add_content_sha {
            entries.push(("x-amz-content-sha256", &payload_hash));
        }
        if let (Some(t), true) = (token, sign_token) {
            entries.push(("x-amz-security-token", t));
        }
    }
    sort_headers(&mut entries);
    let mut signed_headers = String::with_capacity(entries.len() * 16);
    signed_headers_into(&mut signed_headers, &entries);

    // Query mode: the X-Amz-* parameters that are part of the canonical query.
    let query_extra = expires.map(|secs| QueryExtra {
        credential: percent_encode(&credential),
        expires: secs.to_string(),
        signed_headers: percent_encode(&signed_headers),
        token: token.map(percent_encode),
        region_set: v4a.then(|| percent_encode(params.region)),
    });
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if let Some(q) = &query_extra {
        extra.reserve(7);
        extra.push(("X-Amz-Algorithm", algorithm));
        extra.push(("X-Amz-Credential", &q.credential));
        extra.push(("X-Amz-Date", date.full()));
        extra.push(("X-Amz-Expires", &q.expires));
        extra.push(("X-Amz-SignedHeaders", &q.signed_headers));
        if let (Some(t), true) = (&q.token, sign_token) {
            extra.push(("X-Amz-Security-Token", t));
        }
        if let Some(r) = &q.region_set {
            extra.push(("X-Amz-Region-Set", r));
        }
    }

    // The canonical request, in one pre-sized buffer.
    let header_bytes: usize = entries.iter().map(|(n, v)| n.len() + v.len() + 2).sum();
    let mut creq = String::with_capacity(
        request.method.len()
            + request.path.len() * 3
            + request.query.map_or(0, str::len) * 3 / 2
            + extra
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum::<usize>()
            + header_bytes
            + signed_headers.len()
            + payload_hash.len()
            + 8,
    );
    creq.push_str(request.method);
    creq.push('\n');
    canonical_uri_into(
        &mut creq,
        request.path,
        settings.uri_encoding,
        settings.path_normalization,
    );
    creq.push('\n');
    canonical_query_into(&mut creq, request.query, &extra, !header_mode);
    creq.push('\n');
    canonical_headers_into(&mut creq, &entries);
    creq.push('\n');
    creq.push_str(&signed_headers);
    creq.push('\n');
    creq.push_str(&payload_hash);

    // The string to sign.
    let mut sts = String::with_capacity(algorithm.len() + 16 + scope.len() + 64 + 3);
    sts.push_str(algorithm);
    sts.push('\n');
    sts.push_str(date.full());
    sts.push('\n');
    sts.push_str(&scope);
    sts.push('\n');
    hex_into(
        &mut sts,
        digest::digest(&digest::SHA256, creq.as_bytes()).as_ref(),
    );
    if tracing::enabled!(tracing::Level::TRACE) {
        // Never log the session token: a signed one is part of the canonical request
        // (raw in header mode, percent-encoded in query mode).
        let shown = match creds.session_token() {
            Some(t) if !t.is_empty() => Cow::Owned(
                creq.replace(t, crate::secret::REDACTED)
                    .replace(&percent_encode(t), crate::secret::REDACTED),
            ),
            _ => Cow::Borrowed(creq.as_str()),
        };
        tracing::trace!(canonical_request = %shown, string_to_sign = %sts, "sigv4");
    }

    // The signature.
    let signature = if v4a {
        let key = v4a_key(params.key_cache, creds)?;
        let sig = key
            .sign(&SystemRandom::new(), sts.as_bytes())
            .map_err(|_| SignError::KeyDerivation)?;
        hex(sig.as_ref())
    } else {
        with_v4_key(
            params.key_cache,
            creds,
            date.date(),
            params.region,
            params.service,
            |key, _| hex(hmac::sign(key, sts.as_bytes()).as_ref()),
        )
    };

    let timestamp = date.full().to_owned();
    let mut headers = Vec::new();
    let mut query_params = Vec::new();
    let mut authorization = String::new();
    match query_extra {
        None => {
            authorization.reserve(
                algorithm.len() + credential.len() + signed_headers.len() + signature.len() + 40,
            );
            authorization.push_str(algorithm);
            authorization.push_str(" Credential=");
            authorization.push_str(&credential);
            authorization.push_str(", SignedHeaders=");
            authorization.push_str(&signed_headers);
            authorization.push_str(", Signature=");
            authorization.push_str(&signature);
            headers.reserve(5);
            headers.push(("x-amz-date", timestamp.clone()));
            if v4a {
                headers.push(("x-amz-region-set", params.region.to_owned()));
            }
            if add_content_sha {
                headers.push(("x-amz-content-sha256", payload_hash.clone().into_owned()));
            }
            if let Some(t) = token {
                headers.push(("x-amz-security-token", t.to_owned()));
            }
            headers.push(("authorization", authorization.clone()));
        }
        Some(q) => {
            query_params.reserve(8);
            query_params.push(("X-Amz-Algorithm", algorithm.to_owned()));
            query_params.push(("X-Amz-Credential", q.credential));
            query_params.push(("X-Amz-Date", timestamp.clone()));
            query_params.push(("X-Amz-SignedHeaders", q.signed_headers));
            query_params.push(("X-Amz-Expires", q.expires));
            if let Some(t) = q.token {
                query_params.push(("X-Amz-Security-Token", t));
            }
            if let Some(r) = q.region_set {
                query_params.push(("X-Amz-Region-Set", r));
            }
            query_params.push(("X-Amz-Signature", signature.clone()));
        }
    }

    Ok(SigningOutput {
        authorization,
        timestamp,
        signature,
        canonical_request: creq,
        string_to_sign: sts,
        credential,
        credential_scope: scope,
        signed_headers,
        payload_hash: payload_hash.into_owned(),
        headers,
        query_params,
    })
}

/// The encoded query-mode parameter values that need their own storage.
struct QueryExtra {
    credential: String,
    expires: String,
    signed_headers: String,
    token: Option<String>,
    region_set: Option<String>,
}

/// The payload hash string for `payload`.
fn payload_hash(payload: PayloadHash<'_>, v4a: bool) -> Result<Cow<'static, str>, SignError> {
    Ok(match payload {
        PayloadHash::Bytes(b) => Cow::Owned(hex(digest::digest(&digest::SHA256, b).as_ref())),
        PayloadHash::Precomputed(h) => {
            let ok = h.len() == 64 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
            if !ok {
                return Err(SignError::InvalidPayloadHash(h.chars().take(80).collect()));
            }
            Cow::Owned(h.to_owned())
        }
        PayloadHash::Unsigned => Cow::Borrowed(UNSIGNED_PAYLOAD),
        PayloadHash::StreamingUnsignedWithTrailer => {
            Cow::Borrowed("STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        }
        PayloadHash::StreamingSigned | PayloadHash::StreamingSignedWithTrailer if v4a => {
            return Err(SignError::Unsupported(
                "signed streaming payloads with SigV4a (chunk signing is SigV4 only)",
            ))
        }
        PayloadHash::StreamingSigned => Cow::Borrowed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        PayloadHash::StreamingSignedWithTrailer => {
            Cow::Borrowed("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
        }
    })
}

/// Rejects a region or service that would break the credential scope. A SigV4a
/// region set may be `*` or a comma-separated list, so only `/` and whitespace are
/// refused.
fn check_scope_part(what: &'static str, value: &str) -> Result<(), SignError> {
    if value.is_empty() || value.bytes().any(|b| b == b'/' || b.is_ascii_whitespace()) {
        return Err(SignError::InvalidScope {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

/// Headers the signer never signs: the default list, the caller's exclusions, and
/// headers the signer sets itself (their values are replaced, never signed twice).
fn is_excluded(name: &str, settings: &SigningSettings, own_content_sha: bool, v4a: bool) -> bool {
    DEFAULT_EXCLUDED_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
        || name.eq_ignore_ascii_case("x-amz-date")
        || name.eq_ignore_ascii_case("x-amz-security-token")
        || (own_content_sha && name.eq_ignore_ascii_case("x-amz-content-sha256"))
        || (v4a && name.eq_ignore_ascii_case("x-amz-region-set"))
        || settings
            .excluded_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests;
