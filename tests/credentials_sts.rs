//! Issue 4: assume-role and web-identity credentials from moto's STS, with signature
//! enforcement on, so moto checks that our signer signed `AssumeRole` correctly; and
//! the temporary credentials it hands out are checked by calling moto with them.

// Reason: helpers outside #[test] fns panic on failure, which fails the test.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use sigv4_proxy::credentials::{
    Context, Credentials, CredentialsConfig, KeySource, MapEnv, SystemClock,
};
use sigv4_proxy::secret::SecretString;
use support::{aws, Moto};

/// The roles the tests assume, with an allow-all policy: moto evaluates the policies
/// of an assumed role's session when it signs further calls (chained roles).
const CREATE_ROLES: &str = r#"
import json, os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["MOTO_ENDPOINT"], region_name="us-east-1")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
    "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]}
allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
for name in ["app", "second"]:
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=json.dumps(allow))
"#;

/// One enforcing moto for the whole file (it is slow to start); the harness's
/// watchdog ends it with the test process.
fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let moto = Moto::enforcing();
        moto.python(CREATE_ROLES).assert_success();
        moto
    })
}

async fn shared_moto() -> &'static Moto {
    tokio::task::spawn_blocking(moto).await.unwrap()
}

/// moto without enforcement: with enforcement on, moto answers every unsigned request
/// (and `AssumeRoleWithWebIdentity` is unsigned by design) with a 500, boto3's too.
async fn open_moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    tokio::task::spawn_blocking(|| MOTO.get_or_init(|| Moto::start(Default::default())))
        .await
        .unwrap()
}

const ROLE_APP: &str = "arn:aws:iam::123456789012:role/app";
const ROLE_SECOND: &str = "arn:aws:iam::123456789012:role/second";

fn write_profiles(dir: &Path, moto: &Moto, token_file: &Path) {
    let config = format!(
        "[profile base]\n\
         region = us-east-1\n\
         [profile app]\n\
         role_arn = {ROLE_APP}\n\
         source_profile = base\n\
         role_session_name = app-session\n\
         duration_seconds = 900\n\
         external_id = ext-123\n\
         [profile chained]\n\
         role_arn = {ROLE_SECOND}\n\
         source_profile = app\n\
         role_session_name = second-session\n\
         [profile badkey]\n\
         role_arn = {ROLE_APP}\n\
         source_profile = wrong\n\
         [profile wi]\n\
         role_arn = {ROLE_APP}\n\
         web_identity_token_file = {}\n\
         role_session_name = wi-session\n",
        token_file.display()
    );
    let credentials = format!(
        "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n\
         [wrong]\naws_access_key_id = {}\naws_secret_access_key = not-the-secret\n",
        moto.access_key_id(),
        moto.secret_access_key(),
        moto.access_key_id(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("credentials"), credentials).unwrap();
    std::fs::write(
        token_file,
        "eyJhbGciOiJSUzI1NiJ9.test-web-identity-token.sig\n",
    )
    .unwrap();
}

struct Setup {
    dir: tempfile::TempDir,
    moto: &'static Moto,
}

impl Setup {
    async fn new() -> Self {
        let moto = shared_moto().await;
        let dir = tempfile::tempdir().unwrap();
        write_profiles(dir.path(), moto, &dir.path().join("token"));
        Self { dir, moto }
    }

    /// The environment a proxy would run with: the shared files here, STS on moto.
    fn ctx(&self, extra: &[(&str, &str)]) -> Context {
        let mut env = MapEnv::new()
            .with("HOME", self.dir.path().display().to_string())
            .with(
                "AWS_CONFIG_FILE",
                self.dir.path().join("config").display().to_string(),
            )
            .with(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("credentials").display().to_string(),
            )
            .with("AWS_ENDPOINT_URL_STS", self.moto.endpoint())
            .with("AWS_EC2_METADATA_DISABLED", "true");
        for (k, v) in extra {
            env = env.with(*k, *v);
        }
        Context::new(Arc::new(env), Arc::new(SystemClock))
    }
}

/// Calls `sts get-caller-identity` on moto with `creds` and returns the caller's ARN:
/// proves moto accepts the temporary credentials (key, secret and session token).
async fn caller_arn(moto: &'static Moto, creds: Arc<Credentials>) -> String {
    tokio::task::spawn_blocking(move || {
        let out = aws(
            &["sts", "get-caller-identity", "--output", "json"],
            Some(moto.endpoint()),
            &[
                ("AWS_ACCESS_KEY_ID", creds.access_key_id()),
                ("AWS_SECRET_ACCESS_KEY", creds.secret_access_key()),
                ("AWS_SESSION_TOKEN", creds.session_token().unwrap()),
            ],
        );
        out.assert_success();
        out.json()["Arn"].as_str().unwrap().to_owned()
    })
    .await
    .unwrap()
}

fn assert_expires_in(creds: &Credentials, seconds: u64) {
    let expiry = creds.expiry().expect("temporary credentials expire");
    let remaining = expiry.duration_since(SystemTime::now()).unwrap();
    assert!(
        remaining <= Duration::from_secs(seconds + 5)
            && remaining >= Duration::from_secs(seconds.saturating_sub(120)),
        "expires in {remaining:?}, expected about {seconds} s"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_role_with_source_profile_via_endpoint_override() {
    let s = Setup::new().await;
    let shared = CredentialsConfig::from_profile("app")
        .build_with(&s.ctx(&[]))
        .unwrap();
    let creds = shared.get().await.unwrap();
    assert_eq!(creds.provider_name(), "AssumeRole");
    assert_ne!(creds.access_key_id(), s.moto.access_key_id());
    assert!(creds.session_token().is_some_and(|t| !t.is_empty()));
    assert_expires_in(&creds, 900);
    let arn = caller_arn(s.moto, creds).await;
    assert!(arn.ends_with(":assumed-role/app/app-session"), "{arn}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chained_roles_sign_the_second_call_with_the_first_session() {
    let s = Setup::new().await;
    let shared = CredentialsConfig::from_profile("chained")
        .build_with(&s.ctx(&[]))
        .unwrap();
    let creds = shared.get().await.unwrap();
    let arn = caller_arn(s.moto, creds).await;
    assert!(
        arn.ends_with(":assumed-role/second/second-session"),
        "{arn}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_profile_selects_the_role_profile_in_the_default_chain() {
    let s = Setup::new().await;
    let shared = CredentialsConfig::default()
        .build_with(&s.ctx(&[("AWS_PROFILE", "app")]))
        .unwrap();
    let creds = shared.get().await.unwrap();
    assert_eq!(creds.provider_name(), "AssumeRole");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_source_key_is_refused_by_sts_and_reported() {
    let s = Setup::new().await;
    let shared = CredentialsConfig::from_profile("badkey")
        .build_with(&s.ctx(&[]))
        .unwrap();
    let err = shared.get().await.unwrap_err();
    assert!(!err.is_not_loaded());
    assert_eq!(err.provider(), "AssumeRole");
    let msg = err.to_string();
    assert!(msg.contains("STS AssumeRole returned HTTP 403"), "{msg}");
    assert!(!msg.contains("not-the-secret"), "{msg}");
}

#[tokio::test(flavor = "multi_thread")]
async fn route_config_role_with_static_source_and_explicit_endpoint() {
    let s = Setup::new().await;
    let source = CredentialsConfig::static_keys(
        KeySource::Env("GW_KEY_ID".into()),
        KeySource::Value(SecretString::new(s.moto.secret_access_key())),
        None,
    );
    let mut cfg = CredentialsConfig::assume_role(ROLE_SECOND, Some(source));
    cfg.role_session_name = Some("route-a".into());
    cfg.external_id = Some("ext".into());
    cfg.duration_seconds = Some(1800);
    cfg.sts_endpoint_url = Some(s.moto.endpoint().to_owned());
    cfg.sts_region = Some("eu-west-1".into());
    // No AWS_ENDPOINT_URL_STS here: the route's own endpoint is used.
    let ctx = Context::new(
        Arc::new(MapEnv::new().with("GW_KEY_ID", s.moto.access_key_id())),
        Arc::new(SystemClock),
    );
    let creds = cfg.build_with(&ctx).unwrap().get().await.unwrap();
    assert_expires_in(&creds, 1800);
    let arn = caller_arn(s.moto, creds).await;
    assert!(arn.ends_with(":assumed-role/second/route-a"), "{arn}");
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_from_environment_and_profile() {
    let s = Setup::new().await;
    let open = open_moto().await;
    let token = s.dir.path().join("token").display().to_string();
    let sts = [("AWS_ENDPOINT_URL_STS", open.endpoint())];
    let shared = CredentialsConfig::default()
        .build_with(&s.ctx(&[
            sts[0],
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token),
            ("AWS_ROLE_ARN", ROLE_SECOND),
            ("AWS_ROLE_SESSION_NAME", "irsa-pod"),
        ]))
        .unwrap();
    let creds = shared.get().await.unwrap();
    assert_eq!(creds.provider_name(), "WebIdentityToken");
    assert!(creds.session_token().is_some());
    assert!(creds.expiry().is_some());
    let arn = caller_arn(open, creds).await;
    assert!(arn.ends_with(":assumed-role/second/irsa-pod"), "{arn}");

    let creds = CredentialsConfig::from_profile("wi")
        .build_with(&s.ctx(&sts))
        .unwrap()
        .get()
        .await
        .unwrap();
    assert_eq!(creds.provider_name(), "WebIdentityToken");
    let arn = caller_arn(open, creds).await;
    assert!(arn.ends_with(":assumed-role/app/wi-session"), "{arn}");

    // A missing token file is an error naming the provider and the file.
    std::fs::remove_file(s.dir.path().join("token")).unwrap();
    let err = CredentialsConfig::from_profile("wi")
        .build_with(&s.ctx(&sts))
        .unwrap()
        .get()
        .await
        .unwrap_err();
    assert_eq!(err.provider(), "WebIdentityToken");
    assert!(
        err.to_string().contains("cannot read the token file"),
        "{err}"
    );
}
