//! Issue 4: the IMDSv2 and container credential providers against faithful local
//! servers (see `credentials_fakes`), through the default chain where it matters.

// Reason: helpers outside #[test] fns panic on failure, which fails the test.
#![allow(clippy::unwrap_used)]

mod support;

use http::StatusCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sigv4_proxy::credentials::{
    format_rfc3339, ChainProvider, ContainerProvider, Context, Credentials, CredentialsConfig,
    CredentialsError, ImdsProvider, MapEnv, ProvideCredentials, SystemClock,
};
use support::credentials_fakes::{
    black_hole, container, credentials_json, imds, imds_v1, sso_oidc, sso_portal, FakeServer,
    IMDS_TOKEN,
};

const EXPIRATION: &str = "2099-01-01T00:00:00Z";

fn ctx(vars: &[(&str, &str)]) -> Context {
    Context::new(
        Arc::new(vars.iter().copied().collect::<MapEnv>()),
        Arc::new(SystemClock),
    )
}

/// Credentials from an `ImdsProvider` at `endpoint`, with `env` set as well.
async fn from_imds(endpoint: &str, env: &[(&str, &str)]) -> Result<Credentials, CredentialsError> {
    let mut vars = vec![("AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoint)];
    vars.extend_from_slice(env);
    ImdsProvider::new(ctx(&vars)).provide_credentials().await
}

/// A home directory with `config` as `~/.aws/config` and an empty SSO token cache;
/// returns it (removed when dropped) and its `.aws` directory.
fn sso_home(config: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let home = tempfile::tempdir().unwrap();
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(aws.join("config"), config).unwrap();
    (home, aws)
}

/// `METHOD /path` of each request `server` got, in order.
fn requests_seen(server: &FakeServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Asserts `c` is what a fake served with [`credentials_json`]: key id, secret, token,
/// the provider that answered, and [`EXPIRATION`] as the expiry.
fn assert_served(c: &Credentials, (akid, secret, token, provider): (&str, &str, &str, &str)) {
    assert_eq!(
        (
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token(),
            c.provider_name()
        ),
        (akid, secret, Some(token), provider)
    );
    // 2099-01-01T00:00:00Z
    assert_eq!(
        c.expiry(),
        Some(std::time::UNIX_EPOCH + Duration::from_secs(4_070_908_800))
    );
}

#[tokio::test]
async fn imds_v2_token_then_role_then_credentials() {
    let server = imds(
        Some("web-role"),
        credentials_json("ASIAIMDS", "imds-secret", "imds-token", EXPIRATION),
    )
    .await;
    let c = from_imds(&server.url(), &[]).await.unwrap();
    assert_served(&c, ("ASIAIMDS", "imds-secret", "imds-token", "Imds"));
    assert_eq!(
        requests_seen(&server),
        [
            "PUT /latest/api/token",
            "GET /latest/meta-data/iam/security-credentials/",
            "GET /latest/meta-data/iam/security-credentials/web-role",
        ]
    );
    let reqs = server.requests();
    assert_eq!(
        reqs[0].headers["x-aws-ec2-metadata-token-ttl-seconds"],
        "21600"
    );
    for r in &reqs[1..] {
        assert_eq!(r.headers["x-aws-ec2-metadata-token"], IMDS_TOKEN);
    }
}

#[tokio::test]
async fn imds_falls_back_to_v1_without_a_token_unless_v1_is_disabled() {
    for status in [
        StatusCode::FORBIDDEN,
        StatusCode::NOT_FOUND,
        StatusCode::METHOD_NOT_ALLOWED,
    ] {
        let server = imds_v1(
            status,
            "old-role",
            credentials_json("ASIAV1", "v1-secret", "v1-token", EXPIRATION),
        )
        .await;
        let url = server.url();
        let c = from_imds(&url, &[])
            .await
            .unwrap_or_else(|e| panic!("token answered {status}: {e}"));
        assert_served(&c, ("ASIAV1", "v1-secret", "v1-token", "Imds"));
        assert_eq!(
            requests_seen(&server),
            [
                "PUT /latest/api/token",
                "GET /latest/meta-data/iam/security-credentials/",
                "GET /latest/meta-data/iam/security-credentials/old-role",
            ]
        );

        // AWS_EC2_METADATA_V1_DISABLED: an error naming it, and no GET without a token.
        let err = from_imds(&url, &[("AWS_EC2_METADATA_V1_DISABLED", "true")])
            .await
            .unwrap_err();
        assert!(!err.is_not_loaded(), "{err}");
        assert!(
            err.to_string().contains(&format!("answered {status}"))
                && err.to_string().contains("AWS_EC2_METADATA_V1_DISABLED"),
            "{err}"
        );
        assert_eq!(
            server.requests().len(),
            4,
            "only the token request was sent"
        );
    }

    // A token request that gets no answer in time (an IMDSv2 answer dropped on its way
    // back) falls back too. With v1 disabled it stays "not configured here" (off EC2
    // nothing answers), naming why.
    let (addr, _hole) = black_hole().await;
    let v1_disabled = [("AWS_EC2_METADATA_V1_DISABLED", "true")];
    let err = from_imds(&format!("http://{addr}"), &v1_disabled)
        .await
        .unwrap_err();
    assert!(err.is_not_loaded(), "{err}");
    assert!(
        err.to_string().contains("no answer within")
            && err.to_string().contains("AWS_EC2_METADATA_V1_DISABLED"),
        "{err}"
    );
}

#[tokio::test]
async fn imds_without_a_role_or_disabled_or_unreachable_moves_on() {
    let server = imds(None, String::new()).await;
    let url = server.url();
    let err = from_imds(&url, &[]).await.unwrap_err();
    assert!(err.is_not_loaded(), "{err}");
    assert!(err.to_string().contains("no IAM role"), "{err}");

    let err = from_imds(&url, &[("AWS_EC2_METADATA_DISABLED", "true")])
        .await
        .unwrap_err();
    assert!(err.is_not_loaded());
    assert_eq!(server.requests().len(), 2, "disabled: no request sent");

    // A host that accepts but never answers (like a firewalled 169.254.169.254): the
    // provider gives up after its 1 s deadline and the chain moves on.
    let (addr, _hole) = black_hole().await;
    let started = Instant::now();
    let err = from_imds(&format!("http://{addr}"), &[]).await.unwrap_err();
    assert!(err.is_not_loaded(), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn imds_is_last_in_the_default_chain() {
    let server = imds(
        Some("r"),
        credentials_json("ASIACHAIN", "s", "t", EXPIRATION),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let url = server.url();
    let home_s = home.path().display().to_string();
    let shared = CredentialsConfig::default()
        .build_with(&ctx(&[
            ("HOME", &home_s),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
        ]))
        .unwrap();
    let c = shared.get().await.unwrap();
    assert_eq!(
        (c.access_key_id(), c.provider_name()),
        ("ASIACHAIN", "Imds")
    );

    // With environment keys set, the chain stops at the environment and IMDS is not asked.
    let before = server.requests().len();
    let c = ChainProvider::default_chain(
        &ctx(&[
            ("HOME", &home_s),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url),
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ]),
        None,
    )
    .provide_credentials()
    .await
    .unwrap();
    assert_eq!(c.provider_name(), "Environment");
    assert_eq!(server.requests().len(), before);
}

#[tokio::test]
async fn container_full_uri_with_token_and_token_file() {
    let server = container(
        "/v2/credentials/abc",
        Some("Bearer pod-identity-token"),
        credentials_json("ASIACONT", "cont-secret", "cont-token", EXPIRATION),
    )
    .await;
    let uri = format!("{}/v2/credentials/abc", server.url());
    let c = ContainerProvider::new(ctx(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "Bearer pod-identity-token",
        ),
    ]))
    .provide_credentials()
    .await
    .unwrap();
    assert_served(&c, ("ASIACONT", "cont-secret", "cont-token", "Container"));
    assert_eq!(
        server.requests()[0].headers["authorization"],
        "Bearer pod-identity-token"
    );

    // The token file wins over the variable, and is re-read (EKS rotates it).
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "Bearer pod-identity-token\n").unwrap();
    let provider = ContainerProvider::new(ctx(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &uri),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            &token_file.display().to_string(),
        ),
    ]));
    provider.provide_credentials().await.unwrap();
    std::fs::write(&token_file, "Bearer rotated").unwrap();
    let err = provider.provide_credentials().await.unwrap_err();
    assert!(!err.is_not_loaded());
    let msg = err.to_string();
    assert!(
        msg.starts_with("Container: ") && msg.contains("HTTP 401"),
        "{msg}"
    );
}

#[tokio::test]
async fn container_refuses_plain_http_to_other_hosts() {
    for uri in ["http://example.com/creds", "http://10.0.0.1/creds"] {
        let err = ContainerProvider::new(ctx(&[("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri)]))
            .provide_credentials()
            .await
            .unwrap_err();
        assert!(!err.is_not_loaded());
        assert!(
            err.to_string().contains("plain http is only allowed"),
            "{err}"
        );
    }
    let err = ContainerProvider::new(ctx(&[]))
        .provide_credentials()
        .await
        .unwrap_err();
    assert!(err.is_not_loaded());
}

#[tokio::test]
async fn container_comes_before_imds_in_the_chain() {
    let cont = container(
        "/creds",
        None,
        credentials_json("ASIACONT", "s", "t", EXPIRATION),
    )
    .await;
    let md = imds(
        Some("r"),
        credentials_json("ASIAIMDS", "s", "t", EXPIRATION),
    )
    .await;
    let home = tempfile::tempdir().unwrap();
    let c = ChainProvider::default_chain(
        &ctx(&[
            ("HOME", &home.path().display().to_string()),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                &format!("{}/creds", cont.url()),
            ),
            ("AWS_EC2_METADATA_SERVICE_ENDPOINT", &md.url()),
        ]),
        None,
    )
    .provide_credentials()
    .await
    .unwrap();
    assert_eq!(c.access_key_id(), "ASIACONT");
    assert!(md.requests().is_empty());
}

#[tokio::test]
async fn sso_profiles_exchange_the_cached_token() {
    let token = "sso-cached-access-token-value";
    let portal = sso_portal(
        token,
        "111122223333",
        "ReadOnly",
        r#"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":4070908800000}}"#.to_owned(),
    )
    .await;
    let (home, aws) = sso_home(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n\
         [profile legacy]\nsso_start_url = https://legacy.awsapps.com/start\nsso_region = eu-west-1\n\
         sso_account_id = 111122223333\nsso_role_name = ReadOnly\n\
         [profile other]\nsso_session = corp\nsso_account_id = 999999999999\nsso_role_name = Admin\n",
    );
    // File names: SHA-1 of the session name / start URL, as the AWS CLI writes them.
    std::fs::write(
        aws.join("sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
        format!(
            r#"{{"accessToken":"{token}","expiresAt":"2099-01-01T00:00:00Z","region":"us-east-1"}}"#
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("sso/cache/79e435d7a515078e81c9dffc35f38d5687ebd3a7.json"),
        r#"{"accessToken":"old","expiresAt":"2000-01-01T00:00:00Z"}"#,
    )
    .unwrap();
    let home_s = home.path().display().to_string();
    let url = portal.url();
    let env = [
        ("HOME", home_s.as_str()),
        ("AWS_ENDPOINT_URL_SSO", url.as_str()),
    ];
    let c = CredentialsConfig::from_profile("dev")
        .build_with(&ctx(&env))
        .unwrap()
        .get()
        .await
        .unwrap();
    assert_served(&c, ("ASIASSO", "sso-secret", "sso-token", "Sso"));
    let reqs = portal.requests();
    assert_eq!(reqs[0].query, "account_id=111122223333&role_name=ReadOnly");

    let err = CredentialsConfig::from_profile("legacy")
        .build_with(&ctx(&env))
        .unwrap()
        .get()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("expired") && msg.contains("aws sso login --profile legacy"),
        "{msg}"
    );

    let err = CredentialsConfig::from_profile("other")
        .build_with(&ctx(&env))
        .unwrap()
        .get()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 403"), "{err}");
}

#[tokio::test]
async fn sso_session_tokens_near_expiry_are_refreshed_and_the_cache_rewritten() {
    let portal = sso_portal(
        "fresh-access",
        "111122223333",
        "ReadOnly",
        r#"{"roleCredentials":{"accessKeyId":"ASIAREFRESHED","secretAccessKey":"sso-secret","sessionToken":"sso-token","expiration":4070908800000}}"#.to_owned(),
    )
    .await;
    let oidc = sso_oidc(
        "client-1",
        "client-secret-NEVER-LOGGED",
        "refresh-1",
        "fresh-access",
        "refresh-2",
    )
    .await;
    let (home, aws) = sso_home(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://corp.awsapps.com/start\n",
    );
    let cache = aws.join("sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
    let write_cache = |access: &str, expires: std::time::SystemTime, refresh: &str| {
        let json = serde_json::json!({
            "startUrl": "https://corp.awsapps.com/start",
            "region": "us-east-1",
            "accessToken": access,
            "expiresAt": format_rfc3339(expires),
            "refreshToken": refresh,
            "clientId": "client-1",
            "clientSecret": "client-secret-NEVER-LOGGED",
            "registrationExpiresAt": "2099-01-01T00:00:00Z",
        });
        std::fs::write(&cache, json.to_string()).unwrap();
    };
    let home_s = home.path().display().to_string();
    let (portal_url, oidc_url) = (portal.url(), oidc.url());
    let env = [
        ("HOME", home_s.as_str()),
        ("AWS_ENDPOINT_URL_SSO", portal_url.as_str()),
        ("AWS_ENDPOINT_URL_SSO_OIDC", oidc_url.as_str()),
    ];
    let load = || async {
        CredentialsConfig::from_profile("dev")
            .build_with(&ctx(&env))
            .unwrap()
            .get()
            .await
    };
    let now = std::time::SystemTime::now();

    // Expired an hour ago: refreshed, the portal gets the new token, and the cache file
    // holds it (and the new refresh token) with its other fields kept.
    write_cache("stale-access", now - Duration::from_secs(3600), "refresh-1");
    let c = load().await.unwrap();
    assert_eq!(c.access_key_id(), "ASIAREFRESHED");
    assert_eq!(oidc.requests().len(), 1);
    assert_eq!(portal.requests().len(), 1);
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
    assert_eq!(saved["accessToken"], "fresh-access");
    assert_eq!(saved["refreshToken"], "refresh-2");
    assert_eq!(saved["startUrl"], "https://corp.awsapps.com/start");
    assert_eq!(saved["clientId"], "client-1");
    // Same-format RFC 3339 UTC times compare as strings.
    let expires = saved["expiresAt"].as_str().unwrap();
    assert!(
        expires > format_rfc3339(now + Duration::from_secs(3000)).as_str(),
        "{saved}"
    );

    // Within the refresh window but valid, and the refresh refused: the cached token
    // is used until it expires.
    write_cache("fresh-access", now + Duration::from_secs(300), "revoked");
    let c = load().await.unwrap();
    assert_eq!(c.access_key_id(), "ASIAREFRESHED");
    assert_eq!(oidc.requests().len(), 2, "a refresh was tried");

    // Expired and the refresh refused: an error that says both and what to run, and
    // names no secret.
    write_cache("stale-access", now - Duration::from_secs(60), "revoked");
    let err = load().await.unwrap_err();
    let msg = format!("{err} {err:?}");
    assert!(
        msg.contains("has expired and refreshing it failed")
            && msg.contains("aws sso login --profile dev")
            && msg.contains("HTTP 400"),
        "{msg}"
    );
    assert!(
        !msg.contains("client-secret-NEVER-LOGGED") && !msg.contains("revoked"),
        "{msg}"
    );

    // Far from expiry: no refresh.
    write_cache("fresh-access", now + Duration::from_secs(7200), "refresh-2");
    load().await.unwrap();
    assert_eq!(
        oidc.requests().len(),
        3,
        "no refresh for a token far from expiry"
    );
}
