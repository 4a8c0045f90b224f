//! Issue 4: loads credentials through every provider (and through failures) with a
//! TRACE-level subscriber capturing all log output — ours, the signer's, and the
//! `log` records of rustls & co. — and asserts that no secret key, session token,
//! web identity token, container authorization token or IMDS token appears in it.
//!
//! One test per binary: the subscriber is process-global.

// Reason: helpers outside #[test] fns panic on failure, which fails the test.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use sigv4_proxy::credentials::{
    ChainProvider, Context, Credentials, CredentialsConfig, KeySource, MapEnv, ProvideCredentials,
    SystemClock,
};
use sigv4_proxy::secret::SecretString;
use support::credentials_fakes::{container, credentials_json, imds, sso_portal, IMDS_TOKEN};
use support::Moto;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

const CREATE_ROLE: &str = r#"
import json, os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
for name in ["app", "second"]:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(allow))
"#;

fn ctx(env: MapEnv) -> Context {
    Context::new(Arc::new(env), Arc::new(SystemClock))
}

/// Every secret value a test run handles, to search the log for.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, s: &str) {
        assert!(s.len() >= 8, "search strings must be specific: {s:?}");
        self.0.push(s.to_owned());
    }
    fn creds(&mut self, c: &Credentials) {
        self.add(c.secret_access_key());
        if let Some(t) = c.session_token() {
            self.add(t);
        }
    }
}

#[test]
fn no_secret_appears_in_trace_logs() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let enforcing = Moto::enforcing();
    enforcing.python(CREATE_ROLE).assert_success();
    let open = Moto::start(Default::default());
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = Secrets::default();
    secrets.add(enforcing.secret_access_key());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let loaded = runtime.block_on(async {
        let mut loaded: Vec<Credentials> = Vec::new();
        let d = dir.path();
        let path = |name: &str| d.join(name).display().to_string();

        // Shared files: static keys, a role chain (the second AssumeRole is signed with
        // a session token), credential_process, web identity.
        let wi_token = "eyJhbGciOiJSUzI1NiJ9.web-identity-secret-token.signature";
        secrets.add(wi_token);
        std::fs::write(d.join("wi-token"), wi_token).unwrap();
        let proc_secret = "process-secret-key-0123456789";
        let proc_token = "process-session-token-0123456789";
        secrets.add(proc_secret);
        secrets.add(proc_token);
        std::fs::write(
            d.join("proc.sh"),
            format!("#!/bin/sh\necho '{{\"Version\":1,\"AccessKeyId\":\"AKIDPROC\",\"SecretAccessKey\":\"{proc_secret}\",\"SessionToken\":\"{proc_token}\"}}'\n"),
        )
        .unwrap();
        std::fs::write(
            d.join("config"),
            format!(
                "[profile base]\nregion = us-east-1\n\
                 [profile app]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = base\n\
                 [profile chained]\nrole_arn = arn:aws:iam::123456789012:role/second\nsource_profile = app\n\
                 [profile badkey]\nrole_arn = arn:aws:iam::123456789012:role/app\nsource_profile = wrong\n\
                 [profile proc]\ncredential_process = sh {}\n\
                 [profile wi]\nrole_arn = arn:aws:iam::123456789012:role/app\nweb_identity_token_file = {}\n",
                path("proc.sh"),
                path("wi-token"),
            ),
        )
        .unwrap();
        let wrong_secret = "wrong-secret-value-0123456789";
        secrets.add(wrong_secret);
        std::fs::write(
            d.join("credentials"),
            format!(
                "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
                 [wrong]\naws_access_key_id = {}\naws_secret_access_key = {wrong_secret}\n",
                enforcing.access_key_id(),
                enforcing.secret_access_key(),
                enforcing.access_key_id(),
            ),
        )
        .unwrap();
        let files = MapEnv::new()
            .with("HOME", d.display().to_string())
            .with("AWS_CONFIG_FILE", path("config"))
            .with("AWS_SHARED_CREDENTIALS_FILE", path("credentials"))
            .with("AWS_EC2_METADATA_DISABLED", "true")
            .with("AWS_ENDPOINT_URL_STS", enforcing.endpoint());
        for profile in ["base", "app", "chained", "proc"] {
            let shared = CredentialsConfig::from_profile(profile)
                .build_with(&ctx(files.clone()))
                .unwrap();
            loaded.push((*shared.get().await.unwrap()).clone());
        }
        let err = CredentialsConfig::from_profile("badkey")
            .build_with(&ctx(files.clone()))
            .unwrap()
            .get()
            .await
            .unwrap_err();
        tracing::error!(error = %err, "expected failure");
        let wi_env = files.clone().with("AWS_ENDPOINT_URL_STS", open.endpoint());
        loaded.push(
            (*CredentialsConfig::from_profile("wi")
                .build_with(&ctx(wi_env.clone()))
                .unwrap()
                .get()
                .await
                .unwrap())
            .clone(),
        );
        // Web identity from the environment, through the default chain.
        loaded.push(
            (*CredentialsConfig::default()
                .build_with(&ctx(wi_env
                    .clone()
                    .with("AWS_WEB_IDENTITY_TOKEN_FILE", path("wi-token"))
                    .with("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/second")))
                .unwrap()
                .get()
                .await
                .unwrap())
            .clone(),
        );

        // Environment and static keys from env / file / value.
        let env_secret = "environment-secret-0123456789";
        let env_token = "environment-token-0123456789";
        secrets.add(env_secret);
        secrets.add(env_token);
        let env = MapEnv::new()
            .with("HOME", d.display().to_string())
            .with("AWS_ACCESS_KEY_ID", "AKIDENV")
            .with("AWS_SECRET_ACCESS_KEY", env_secret)
            .with("AWS_SESSION_TOKEN", env_token);
        loaded.push(
            (*CredentialsConfig::default()
                .build_with(&ctx(env.clone()))
                .unwrap()
                .get()
                .await
                .unwrap())
            .clone(),
        );
        let file_secret = "file-secret-0123456789";
        let value_token = "inline-token-0123456789";
        secrets.add(file_secret);
        secrets.add(value_token);
        std::fs::write(d.join("secret"), file_secret).unwrap();
        let cfg = CredentialsConfig::static_keys(
            KeySource::Env("AWS_ACCESS_KEY_ID".into()),
            KeySource::File(d.join("secret")),
            Some(KeySource::Value(SecretString::new(value_token))),
        );
        tracing::debug!(config = ?cfg, "static route config");
        loaded.push((*cfg.build_with(&ctx(env)).unwrap().get().await.unwrap()).clone());

        // Container (with an authorization token) and IMDSv2.
        let auth = "Bearer container-authorization-secret-0123";
        secrets.add(auth);
        secrets.add(IMDS_TOKEN);
        let cont = container(
            "/creds",
            Some(auth),
            credentials_json("ASIACONT", "container-secret-0123456789", "container-token-0123456789", "2099-01-01T00:00:00Z"),
        )
        .await;
        let md = imds(
            Some("role"),
            credentials_json("ASIAIMDS", "imds-secret-0123456789", "imds-token-0123456789", "2099-01-01T00:00:00Z"),
        )
        .await;
        let base = MapEnv::new().with("HOME", d.display().to_string());
        let c = ChainProvider::default_chain(
            &ctx(base
                .clone()
                .with("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/creds", cont.url()))
                .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", auth)),
            None,
        )
        .provide_credentials()
        .await
        .unwrap();
        loaded.push(c);
        let c = CredentialsConfig::default()
            .build_with(&ctx(base.clone().with("AWS_EC2_METADATA_SERVICE_ENDPOINT", md.url())))
            .unwrap()
            .get()
            .await
            .unwrap();
        loaded.push((*c).clone());
        // A wrong container token: the error path.
        let err = ChainProvider::default_chain(
            &ctx(base
                .with("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/creds", cont.url()))
                .with("AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer wrong-container-token-0123")),
            None,
        )
        .provide_credentials()
        .await
        .unwrap_err();
        secrets.add("Bearer wrong-container-token-0123");
        tracing::error!(error = %err, "expected failure");

        // SSO: the cached access token is exchanged at the portal.
        let sso_token = "sso-access-token-0123456789";
        secrets.add(sso_token);
        let portal = sso_portal(
            sso_token,
            "111122223333",
            "ReadOnly",
            r#"{"roleCredentials":{"accessKeyId":"ASIASSO","secretAccessKey":"sso-secret-0123456789","sessionToken":"sso-session-token-0123456789","expiration":4070908800000}}"#.to_owned(),
        )
        .await;
        let sso_home = d.join("sso-home");
        std::fs::create_dir_all(sso_home.join(".aws/sso/cache")).unwrap();
        std::fs::write(
            sso_home.join(".aws/config"),
            "[profile sso]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = ReadOnly\n[sso-session corp]\nsso_region = us-east-1\n",
        )
        .unwrap();
        std::fs::write(
            sso_home.join(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"),
            format!(r#"{{"accessToken":"{sso_token}","expiresAt":"2099-01-01T00:00:00Z"}}"#),
        )
        .unwrap();
        let c = CredentialsConfig::from_profile("sso")
            .build_with(&ctx(MapEnv::new()
                .with("HOME", sso_home.display().to_string())
                .with("AWS_ENDPOINT_URL_SSO", portal.url())))
            .unwrap()
            .get()
            .await
            .unwrap();
        loaded.push((*c).clone());
        loaded
    });
    for c in &loaded {
        secrets.creds(c);
        tracing::info!(credentials = ?c, "loaded");
    }
    drop(runtime);

    let providers: Vec<&str> = loaded.iter().map(Credentials::provider_name).collect();
    assert_eq!(
        providers,
        [
            "Profile",
            "AssumeRole",
            "AssumeRole",
            "CredentialProcess",
            "WebIdentityToken",
            "WebIdentityToken",
            "Environment",
            "Static",
            "Container",
            "Imds",
            "Sso"
        ]
    );
    let log = buffer.text();
    if let Ok(path) = std::env::var("CREDENTIALS_LOG_DUMP") {
        std::fs::write(path, &log).unwrap();
    }
    // The capture works and is at TRACE: our events and the signer's are there.
    for expected in [
        "calling STS AssumeRole",
        "calling STS AssumeRoleWithWebIdentity",
        "running credential_process",
        "loading instance role credentials",
        "calling SSO GetRoleCredentials",
        "credentials loaded",
        "canonical_request",
        "x-amz-security-token",
        "expected failure",
        "STS AssumeRole returned HTTP 403",
    ] {
        assert!(
            log.contains(expected),
            "{expected:?} not in the captured log"
        );
    }
    // Tokens the test never sees (the first session of a role chain signs the second
    // AssumeRole): no token value may follow the header name or query parameter.
    for line in log.lines() {
        for marker in ["x-amz-security-token:", "X-Amz-Security-Token="] {
            if let Some(at) = line.find(marker) {
                let value = &line[at + marker.len()..];
                assert!(
                    value.starts_with("** redacted **"),
                    "a session token appears in the log: {marker}{}...",
                    value.chars().take(6).collect::<String>()
                );
            }
        }
    }
    for secret in &secrets.0 {
        if let Some(at) = log.find(secret.as_str()) {
            let line_start = log[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = log[at..].find('\n').map_or(log.len(), |i| at + i);
            panic!(
                "a secret appears in the log:\n{}",
                log[line_start..line_end].replace(secret.as_str(), "<<SECRET HERE>>")
            );
        }
    }
}
