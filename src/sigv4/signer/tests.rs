use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::credentials::Credentials;
use crate::secret::SecretString;
use crate::sigv4::{SigningKeyCache, SigningSettings};

fn creds(token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.map(SecretString::new),
        None,
        "test",
    )
}

fn t() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

#[test]
fn get_vanilla_header() {
    let c = creds(None);
    let s = SigningSettings::default();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = SignableRequest::new(
        "GET",
        "/",
        vec![("Host", "example.amazonaws.com")],
        PayloadHash::Bytes(b""),
    );
    let out = sign(&r, &p).unwrap();
    assert_eq!(
        out.signature(),
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(out.signed_headers(), "host;x-amz-date");
    assert_eq!(
        out.credential_scope(),
        "20150830/us-east-1/service/aws4_request"
    );
    assert_eq!(
        out.credential(),
        "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request"
    );
    assert_eq!(out.timestamp(), "20150830T123600Z");
    assert_eq!(
        out.authorization(),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert!(out.query_params().len() == 0);
}

/// `GET /` to example.amazonaws.com with an empty body.
fn empty_get() -> SignableRequest<'static> {
    SignableRequest::new(
        "GET",
        "/",
        vec![("host", "example.amazonaws.com")],
        PayloadHash::Bytes(b""),
    )
}

#[test]
fn cache_gives_same_signature() {
    let c = creds(None);
    let s = SigningSettings::default();
    let cache = SigningKeyCache::new();
    let r = empty_get();
    let plain = sign(&r, &SigningParams::new(&c, "us-east-1", "service", t(), &s)).unwrap();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s).with_key_cache(&cache);
    let a = sign(&r, &p).unwrap();
    let b = sign(&r, &p).unwrap();
    assert_eq!(plain, a);
    assert_eq!(a, b);
    assert_eq!(cache.len(), 1);
}

/// The per-thread memo of the string to sign's first block (`HmacSha256Key::sign_memo`)
/// must never carry over between keys, seconds or scopes: signing in an interleaved
/// order on one thread gives what signing each case on a fresh thread gives.
#[test]
fn memo_across_keys_seconds_and_scopes_matches_uncached() {
    let a = creds(None);
    let b = Credentials::new("AKIDOTHER", "another secret", None, None, "test");
    let s = SigningSettings::default();
    let cache = SigningKeyCache::new();
    let r = empty_get();
    let later = t() + Duration::from_secs(1);
    let cases = [
        (&a, "us-east-1", t()),
        (&a, "us-east-1", t()),
        (&b, "us-east-1", t()),
        (&a, "us-east-1", later),
        (&a, "us-east-1", t()),
        (&a, "eu-west-1", t()),
        (&b, "eu-west-1", later),
        (&a, "us-east-1", t()),
    ];
    // The references: each signed on a thread of its own, whose memo starts empty.
    let expected: Vec<SigningOutput> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .map(|&(c, region, time)| {
                let (r, s) = (&r, &s);
                scope.spawn(move || {
                    sign(r, &SigningParams::new(c, region, "service", time, s)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for ((c, region, time), uncached) in cases.into_iter().zip(&expected) {
        let p = SigningParams::new(c, region, "service", time, &s).with_key_cache(&cache);
        assert_eq!(&sign(&r, &p).unwrap(), uncached, "{region} {time:?}");
        assert_eq!(&sign(&r, &p).unwrap(), uncached, "{region} {time:?}");
    }
    let mut signatures: Vec<&str> = expected.iter().map(|o| o.signature()).collect();
    assert_eq!(
        signatures[0],
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    signatures.sort();
    signatures.dedup();
    assert_eq!(signatures.len(), 5, "five distinct (key, scope, second)s");
}

#[test]
fn missing_host_is_an_error() {
    let c = creds(None);
    let s = SigningSettings::default();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = SignableRequest::new("GET", "/", vec![("x-a", "b")], PayloadHash::Unsigned);
    assert!(matches!(sign(&r, &p), Err(SignError::MissingHost)));
}

#[test]
fn presign_expiry_bounds() {
    let c = creds(None);
    let r = SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Unsigned);
    for (secs, ok) in [
        (0, false),
        (1, true),
        (3600, true),
        (604_800, true),
        (604_801, false),
    ] {
        let s = SigningSettings {
            location: SignatureLocation::QueryParams {
                expires: Duration::from_secs(secs),
            },
            ..SigningSettings::default()
        };
        let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
        match sign(&r, &p) {
            Ok(out) => {
                assert!(ok, "{secs} accepted");
                let exp = out
                    .query_params()
                    .find(|(k, _)| *k == "X-Amz-Expires")
                    .unwrap();
                assert_eq!(exp.1, secs.to_string());
            }
            Err(SignError::InvalidExpiry(got)) => {
                assert!(!ok, "{secs} rejected");
                assert_eq!(got, secs);
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[test]
fn caller_signer_headers_are_replaced_not_duplicated() {
    let c = creds(Some("tok"));
    let s = SigningSettings::for_service("s3");
    let p = SigningParams::new(&c, "us-east-1", "s3", t(), &s);
    let r = SignableRequest::new(
        "GET",
        "/k",
        vec![
            ("host", "b.s3.amazonaws.com"),
            ("X-Amz-Date", "19990101T000000Z"),
            ("x-amz-security-token", "old"),
            ("x-amz-content-sha256", "bogus"),
            ("Authorization", "old"),
            ("User-Agent", "curl"),
        ],
        PayloadHash::Unsigned,
    );
    let out = sign(&r, &p).unwrap();
    assert_eq!(
        out.signed_headers(),
        "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
    );
    assert!(out
        .canonical_request()
        .contains("x-amz-date:20150830T123600Z\n"));
    assert!(out
        .canonical_request()
        .contains("x-amz-content-sha256:UNSIGNED-PAYLOAD\n"));
    assert!(out
        .canonical_request()
        .contains("x-amz-security-token:tok\n"));
    assert!(!out.canonical_request().contains("old"));
    assert!(!out.canonical_request().contains("bogus"));
    let mut h = http::HeaderMap::new();
    h.insert("authorization", "old".parse().unwrap());
    h.insert("x-amz-content-sha256", "bogus".parse().unwrap());
    out.apply_to_headers(&mut h).unwrap();
    assert_eq!(h["x-amz-content-sha256"], "UNSIGNED-PAYLOAD");
    assert_eq!(h["authorization"], out.authorization());
    assert!(h["authorization"].is_sensitive());
    assert!(h["x-amz-security-token"].is_sensitive());
    assert_eq!(h.get_all("authorization").iter().count(), 1);
}

#[test]
fn apply_removes_stale_token_when_credentials_have_none() {
    let c = creds(None);
    let s = SigningSettings::default();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Unsigned);
    let out = sign(&r, &p).unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("x-amz-security-token", "stale".parse().unwrap());
    out.apply_to_headers(&mut h).unwrap();
    assert!(h.get("x-amz-security-token").is_none());
    assert_eq!(h["x-amz-date"], "20150830T123600Z");
}

#[test]
fn presigned_path_and_query_replaces_old_signature() {
    let c = creds(None);
    let s = SigningSettings {
        location: SignatureLocation::QueryParams {
            expires: Duration::from_secs(60),
        },
        ..SigningSettings::default()
    };
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = SignableRequest::new(
        "GET",
        "/a?b=1&X-Amz-Signature=dead",
        vec![("host", "h")],
        PayloadHash::Unsigned,
    );
    let out = sign(&r, &p).unwrap();
    let pq = out.presigned_path_and_query("/a?b=1&X-Amz-Signature=dead");
    assert!(pq.starts_with("/a?b=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20150830%2Fus-east-1%2Fservice%2Faws4_request&X-Amz-Date=20150830T123600Z&X-Amz-SignedHeaders=host&X-Amz-Expires=60&X-Amz-Signature="), "{pq}");
    assert!(!pq.contains("dead"));
    assert!(pq.ends_with(&out.signature()));
    assert!(out.headers().len() == 0);
    assert!(out.authorization().is_empty());
}

#[test]
fn precomputed_hash_is_validated() {
    let c = creds(None);
    let s = SigningSettings::default();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let bad = SignableRequest::new(
        "GET",
        "/",
        vec![("host", "h")],
        PayloadHash::Precomputed("xyz"),
    );
    assert!(matches!(
        sign(&bad, &p),
        Err(SignError::InvalidPayloadHash(_))
    ));
    let good = SignableRequest::new(
        "GET",
        "/",
        vec![("host", "h")],
        PayloadHash::Precomputed(crate::sigv4::EMPTY_PAYLOAD_SHA256),
    );
    let a = sign(&good, &p).unwrap();
    let b = sign(
        &SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Bytes(b"")),
        &p,
    )
    .unwrap();
    assert_eq!(a, b);
}

#[test]
fn bad_scope_is_rejected() {
    let c = creds(None);
    let s = SigningSettings::default();
    let r = SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Unsigned);
    for (region, service) in [
        ("", "s3"),
        ("us-east-1", ""),
        ("us/east", "s3"),
        ("us-east-1", "s 3"),
    ] {
        let p = SigningParams::new(&c, region, service, t(), &s);
        assert!(
            matches!(sign(&r, &p), Err(SignError::InvalidScope { .. })),
            "{region:?} {service:?}"
        );
    }
}

#[test]
fn trace_log_shows_the_canonical_request_but_no_secret() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let token = "SESSIONTOKEN/with+special=chars";
    let c = creds(Some(token));
    tracing::subscriber::with_default(subscriber, || {
        for location in [
            SignatureLocation::Headers,
            SignatureLocation::QueryParams {
                expires: Duration::from_secs(60),
            },
        ] {
            let s = SigningSettings {
                location,
                ..SigningSettings::default()
            };
            let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
            let r = SignableRequest::new("GET", "/", vec![("host", "h")], PayloadHash::Unsigned);
            sign(&r, &p).unwrap();
        }
    });
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("canonical_request"), "{logs}");
    assert!(
        logs.contains("x-amz-security-token:** redacted **"),
        "{logs}"
    );
    assert!(
        logs.contains("X-Amz-Security-Token=** redacted **"),
        "{logs}"
    );
    assert!(!logs.contains("SESSIONTOKEN"), "{logs}");
    assert!(!logs.contains("wJalrXUtnFEMI"), "{logs}");
}

#[test]
fn default_and_caller_exclusions_are_not_signed() {
    let c = creds(None);
    let s = SigningSettings::default().with_excluded_headers(["X-Custom-Trace"]);
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = SignableRequest::new(
        "GET",
        "/",
        vec![
            ("host", "h"),
            ("User-Agent", "curl/8"),
            ("X-Amzn-Trace-Id", "Root=1"),
            ("Connection", "keep-alive"),
            ("Expect", "100-continue"),
            ("x-custom-trace", "abc"),
            ("Content-Type", "text/plain"),
            ("Content-Length", "0"),
            ("X-Forwarded-For", "10.0.0.1"),
        ],
        PayloadHash::Unsigned,
    );
    let out = sign(&r, &p).unwrap();
    assert_eq!(
        out.signed_headers(),
        "content-length;content-type;host;x-amz-date"
    );
}

#[test]
fn output_debug_hides_session_token_and_header_accessor_finds_it() {
    let c = creds(Some("tok-secret-value"));
    let s = SigningSettings::default();
    let p = SigningParams::new(&c, "us-east-1", "service", t(), &s);
    let r = empty_get();
    let out = sign(&r, &p).unwrap();
    assert_eq!(out.header("x-amz-security-token"), Some("tok-secret-value"));
    assert_eq!(out.header("authorization"), Some(out.authorization()));
    assert!(out.authorization().ends_with(out.signature()));
    let dbg = format!("{out:?}");
    assert!(!dbg.contains("tok-secret-value"), "{dbg}");
    assert!(dbg.contains(out.signature()), "{dbg}");
}

/// The credential and scope come from the key cache's prebuilt text for SigV4 and
/// are written out for SigV4a: every mode, with and without a cache, gives the same
/// accessor values.
#[test]
fn credential_and_scope_in_every_mode() {
    let c = creds(Some("tok"));
    let cache = SigningKeyCache::new();
    for algorithm in [SigningAlgorithm::V4, SigningAlgorithm::V4a] {
        for location in [
            SignatureLocation::Headers,
            SignatureLocation::QueryParams {
                expires: Duration::from_secs(60),
            },
        ] {
            let s = SigningSettings::default()
                .with_algorithm(algorithm)
                .with_location(location);
            let scope = match algorithm {
                SigningAlgorithm::V4 => "20150830/us-east-1/sqs/aws4_request",
                _ => "20150830/sqs/aws4_request",
            };
            for cached in [None, Some(&cache), Some(&cache)] {
                let mut p = SigningParams::new(&c, "us-east-1", "sqs", t(), &s);
                if let Some(cache) = cached {
                    p = p.with_key_cache(cache);
                }
                let r = SignableRequest::new(
                    "GET",
                    "/?a=b",
                    vec![("host", "h")],
                    PayloadHash::Unsigned,
                );
                let out = sign(&r, &p).unwrap();
                let what = format!("{algorithm:?} {location:?} cached={}", cached.is_some());
                assert_eq!(out.credential_scope(), scope, "{what}");
                assert_eq!(out.credential(), format!("AKIDEXAMPLE/{scope}"), "{what}");
                assert!(
                    out.string_to_sign().contains(&format!("\n{scope}\n")),
                    "{what}"
                );
                if matches!(location, SignatureLocation::Headers) {
                    assert!(
                        out.authorization()
                            .contains(&format!(" Credential=AKIDEXAMPLE/{scope}, ")),
                        "{what}"
                    );
                    assert!(out.authorization().ends_with(out.signature()), "{what}");
                } else {
                    let cred = out
                        .query_params()
                        .find(|(k, _)| *k == "X-Amz-Credential")
                        .map(|(_, v)| v.to_owned());
                    assert_eq!(
                        cred,
                        Some(format!("AKIDEXAMPLE%2F{}", scope.replace('/', "%2F"))),
                        "{what}"
                    );
                }
            }
        }
    }
}
