//! The official AWS SigV4 / SigV4a test suite (`tests/sigv4-test-suite/`, from
//! aws-c-auth and botocore; see its README for provenance and quirks).
//!
//! One test per case and signature location. Each asserts the canonical request, then
//! the string to sign, then the signature (SigV4a: verified with `public-key.json`),
//! then what is added to the request, with messages naming the stage that broke.
#![allow(clippy::unwrap_used)] // Tests: a panic is the failure report.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_ASN1};
use serde_json::Value;
use sigv4_proxy::credentials::Credentials;
use sigv4_proxy::secret::SecretString;
use sigv4_proxy::sigv4::{
    self, parse_timestamp, ContentSha256Header, PathNormalization, PayloadHash, SessionTokenMode,
    SignableRequest, SignatureLocation, SigningAlgorithm, SigningKeyCache, SigningOutput,
    SigningParams, SigningSettings,
};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigv4-test-suite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Header,
    Query,
}

/// A request parsed from the suite's raw HTTP text (see the README's quirks section).
#[derive(Debug)]
struct RawRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawRequest {
    fn parse(text: &str) -> Self {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("request line");
        // The target may contain spaces: take everything between the first space and
        // the trailing " HTTP/1.1".
        let (method, rest) = request_line.split_once(' ').expect("method");
        let target = rest.strip_suffix(" HTTP/1.1").expect("HTTP/1.1 suffix");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                // obs-fold: continues the previous header's value.
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push('\n');
                last.1.push_str(line);
            } else if let Some((n, v)) = line.split_once(':') {
                headers.push((n.to_owned(), v.to_owned()));
            } else {
                panic!("bad header line {line:?}");
            }
        }
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    fn signable(&self) -> SignableRequest<'_> {
        SignableRequest::new(
            &self.method,
            &self.target,
            self.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect(),
            PayloadHash::Bytes(&self.body),
        )
    }
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Context {
    creds: Credentials,
    settings: SigningSettings,
    region: String,
    service: String,
    time: std::time::SystemTime,
}

fn context(dir: &Path, algorithm: SigningAlgorithm, mode: Mode) -> Context {
    let ctx: Value = serde_json::from_str(&read(&dir.join("context.json"))).expect("json");
    let c = &ctx["credentials"];
    let creds = Credentials::new(
        c["access_key_id"].as_str().expect("akid"),
        c["secret_access_key"].as_str().expect("secret"),
        c["token"].as_str().map(SecretString::new),
        None,
        "suite",
    );
    let flag = |k: &str| ctx[k].as_bool().unwrap_or(false);
    let mut settings = SigningSettings::default();
    settings.path_normalization = if flag("normalize") {
        PathNormalization::Enabled
    } else {
        PathNormalization::Disabled
    };
    settings.content_sha256 = if flag("sign_body") {
        ContentSha256Header::Include
    } else {
        ContentSha256Header::Omit
    };
    settings.session_token = if flag("omit_session_token") {
        SessionTokenMode::AppendAfterSigning
    } else {
        SessionTokenMode::Signed
    };
    settings.location = match mode {
        Mode::Header => SignatureLocation::Headers,
        Mode::Query => SignatureLocation::QueryParams {
            expires: Duration::from_secs(ctx["expiration_in_seconds"].as_u64().expect("exp")),
        },
    };
    settings.algorithm = algorithm;
    Context {
        creds,
        settings,
        region: ctx["region"].as_str().expect("region").to_owned(),
        service: ctx["service"].as_str().expect("service").to_owned(),
        time: parse_timestamp(ctx["timestamp"].as_str().expect("timestamp")).expect("time"),
    }
}

/// Headers of a signed-request file, as (lower-case name, value).
fn signed_request_headers(text: &str) -> Vec<(String, String)> {
    RawRequest::parse(text)
        .headers
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// Query parameters of a target, lower-cased, as a set (how aws-c-auth compares them).
fn query_set(target: &str, skip_signature: bool) -> BTreeSet<(String, String)> {
    let q = target.split_once('?').map_or("", |(_, q)| q);
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_ascii_lowercase(), v.to_ascii_lowercase())
        })
        .filter(|(k, _)| !(skip_signature && k == "x-amz-signature"))
        .collect()
}

fn verify_v4a(dir: &Path, sts: &str, sig_hex: &str, what: &str) {
    let pk: Value = serde_json::from_str(&read(&dir.join("public-key.json"))).expect("json");
    let mut point = vec![4u8];
    point.extend(unhex(pk["X"].as_str().expect("X")));
    point.extend(unhex(pk["Y"].as_str().expect("Y")));
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &point)
        .verify(sts.as_bytes(), &unhex(sig_hex))
        .unwrap_or_else(|_| panic!("{what}: signature does not verify with public-key.json"));
}

fn run_case(kind: &str, case: &str, mode: Mode) {
    let dir = PathBuf::from(SUITE).join(kind).join(case);
    let v4a = kind == "v4a";
    let algorithm = if v4a {
        SigningAlgorithm::V4a
    } else {
        SigningAlgorithm::V4
    };
    let ctx = context(&dir, algorithm, mode);
    let req = RawRequest::parse(&read(&dir.join("request.txt")));
    let cache = SigningKeyCache::new();
    let params = SigningParams::new(
        &ctx.creds,
        &ctx.region,
        &ctx.service,
        ctx.time,
        &ctx.settings,
    )
    .with_key_cache(&cache);
    let out: SigningOutput = sigv4::sign(&req.signable(), &params)
        .unwrap_or_else(|e| panic!("{kind}/{case}: signing failed: {e}"));
    let prefix = match mode {
        Mode::Header => "header",
        Mode::Query => "query",
    };
    let expect = |f: &str| read(&dir.join(format!("{prefix}-{f}")));

    assert_eq!(
        out.canonical_request(),
        expect("canonical-request.txt"),
        "{kind}/{case} ({prefix}): stage 1, canonical request differs"
    );
    assert_eq!(
        out.string_to_sign(),
        expect("string-to-sign.txt"),
        "{kind}/{case} ({prefix}): stage 2, string to sign differs"
    );
    if v4a {
        verify_v4a(
            &dir,
            out.string_to_sign(),
            out.signature(),
            "stage 3, our signature",
        );
        // The suite's own signature must verify too (checks the harness and the key).
        verify_v4a(
            &dir,
            out.string_to_sign(),
            expect("signature.txt").trim(),
            "suite signature",
        );
        let derived = sigv4::v4a_public_key(&ctx.creds).expect("derive");
        let pk: Value = serde_json::from_str(&read(&dir.join("public-key.json"))).expect("json");
        assert_eq!(
            (hex(&derived[1..33]), hex(&derived[33..65])),
            (
                pk["X"].as_str().expect("X").to_owned(),
                pk["Y"].as_str().expect("Y").to_owned()
            ),
            "{kind}/{case}: derived SigV4a public key differs from public-key.json"
        );
    } else {
        assert_eq!(
            out.signature(),
            expect("signature.txt"),
            "{kind}/{case} ({prefix}): stage 3, signature differs"
        );
    }

    // Stage 4: what the signer adds to the request matches the signed request.
    let signed = expect("signed-request.txt");
    match mode {
        Mode::Header => {
            let added: Vec<(String, String)> = signed_request_headers(&signed)
                .into_iter()
                .filter(|(n, _)| !req.headers.iter().any(|(o, _)| o.eq_ignore_ascii_case(n)))
                .collect();
            let ours: Vec<(String, String)> = out
                .headers()
                .map(|(n, v)| (n.to_string(), v.to_owned()))
                .collect();
            let strip_sig = |v: &str| {
                if v4a {
                    v.split(", Signature=").next().unwrap_or(v).to_owned()
                } else {
                    v.to_owned()
                }
            };
            let mut want: Vec<_> = added
                .iter()
                .map(|(n, v)| (n.clone(), strip_sig(v)))
                .collect();
            let mut got: Vec<_> = ours
                .iter()
                .map(|(n, v)| (n.clone(), strip_sig(v)))
                .collect();
            want.sort();
            got.sort();
            assert_eq!(
                got, want,
                "{kind}/{case}: stage 4, headers added to the request differ"
            );
        }
        Mode::Query => {
            assert!(out.headers().len() == 0, "query mode adds no headers");
            let want_target = RawRequest::parse(&signed).target;
            let got_target = out.presigned_path_and_query(&req.target);
            assert_eq!(
                query_set(&got_target, v4a),
                query_set(&want_target, v4a),
                "{kind}/{case}: stage 4, presigned query parameters differ"
            );
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

macro_rules! suite {
    ($kind:literal, $module:ident; $($name:ident => $dir:literal),* $(,)?) => {
        mod $module {
            /// Every case folder this module covers (checked against the directory).
            pub(crate) const CASES: &[&str] = &[$($dir),*];
            mod header {
                $( #[test] fn $name() { crate::run_case($kind, $dir, crate::Mode::Header) } )*
            }
            mod query {
                $( #[test] fn $name() { crate::run_case($kind, $dir, crate::Mode::Query) } )*
            }
        }
    };
}

/// The v4 and v4a folders hold the same 38 case names: one list makes both modules.
macro_rules! suites {
    ($($name:ident => $dir:literal),* $(,)?) => {
        suite!("v4", v4; $($name => $dir),*);
        suite!("v4a", v4a; $($name => $dir),*);
    };
}

suites!(
    get_header_key_duplicate => "get-header-key-duplicate",
    get_header_value_multiline => "get-header-value-multiline",
    get_header_value_order => "get-header-value-order",
    get_header_value_trim => "get-header-value-trim",
    get_relative_normalized => "get-relative-normalized",
    get_relative_relative_normalized => "get-relative-relative-normalized",
    get_relative_relative_unnormalized => "get-relative-relative-unnormalized",
    get_relative_unnormalized => "get-relative-unnormalized",
    get_slash_dot_slash_normalized => "get-slash-dot-slash-normalized",
    get_slash_dot_slash_unnormalized => "get-slash-dot-slash-unnormalized",
    get_slash_normalized => "get-slash-normalized",
    get_slash_pointless_dot_normalized => "get-slash-pointless-dot-normalized",
    get_slash_pointless_dot_unnormalized => "get-slash-pointless-dot-unnormalized",
    get_slash_unnormalized => "get-slash-unnormalized",
    get_slashes_normalized => "get-slashes-normalized",
    get_slashes_unnormalized => "get-slashes-unnormalized",
    get_space_normalized => "get-space-normalized",
    get_space_unnormalized => "get-space-unnormalized",
    get_unreserved => "get-unreserved",
    get_utf8 => "get-utf8",
    get_vanilla => "get-vanilla",
    get_vanilla_empty_query_key => "get-vanilla-empty-query-key",
    get_vanilla_query => "get-vanilla-query",
    get_vanilla_query_order_encoded => "get-vanilla-query-order-encoded",
    get_vanilla_query_order_key_case => "get-vanilla-query-order-key-case",
    get_vanilla_query_unreserved => "get-vanilla-query-unreserved",
    get_vanilla_utf8_query => "get-vanilla-utf8-query",
    get_vanilla_with_session_token => "get-vanilla-with-session-token",
    post_header_key_case => "post-header-key-case",
    post_header_key_sort => "post-header-key-sort",
    post_header_value_case => "post-header-value-case",
    post_sts_header_after => "post-sts-header-after",
    post_sts_header_before => "post-sts-header-before",
    post_vanilla => "post-vanilla",
    post_vanilla_empty_query_value => "post-vanilla-empty-query-value",
    post_vanilla_query => "post-vanilla-query",
    post_x_www_form_urlencoded => "post-x-www-form-urlencoded",
    post_x_www_form_urlencoded_parameters => "post-x-www-form-urlencoded-parameters",
);
/// Every case folder with expectations has a test above (none silently skipped).
#[test]
fn every_suite_case_has_a_test() {
    for (kind, listed) in [("v4", v4::CASES), ("v4a", v4a::CASES)] {
        let mut on_disk: Vec<String> = fs::read_dir(Path::new(SUITE).join(kind))
            .expect("suite dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.join("header-canonical-request.txt").exists())
            .map(|p| p.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "{kind}: test list and suite folders differ"
        );
        assert_eq!(
            listed.len(),
            38,
            "{kind}: expected 38 cases with expectations"
        );
    }
}

// Legacy botocore cases (`.req/.creq/.sts/.authz`): header signing, SigV4 only. The
// `.req` already carries `X-Amz-Date`; the signer replaces it with its own (equal) value.
fn run_legacy(rel: &str) {
    let dir = PathBuf::from(SUITE).join("legacy").join(rel);
    let name = dir
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let file = |ext: &str| read(&dir.join(format!("{name}.{ext}")));
    let req = RawRequest::parse(&file("req"));
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "suite",
    );
    let settings = SigningSettings::default();
    let time = parse_timestamp("20150830T123600Z").expect("time");
    let params = SigningParams::new(&creds, "us-east-1", "service", time, &settings);
    let out = sigv4::sign(&req.signable(), &params).expect("sign");
    assert_eq!(
        out.canonical_request(),
        file("creq"),
        "legacy/{rel}: stage 1, canonical request differs"
    );
    assert_eq!(
        out.string_to_sign(),
        file("sts"),
        "legacy/{rel}: stage 2, string to sign differs"
    );
    assert_eq!(
        out.authorization(),
        file("authz"),
        "legacy/{rel}: stage 3, authorization differs"
    );
}

mod legacy {
    #[test]
    fn get_vanilla_query_order_key() {
        crate::run_legacy("get-vanilla-query-order-key")
    }
    #[test]
    fn get_vanilla_query_order_value() {
        crate::run_legacy("get-vanilla-query-order-value")
    }
    #[test]
    fn normalize_path_get_special_character() {
        crate::run_legacy("normalize-path/get-special-character")
    }
}
