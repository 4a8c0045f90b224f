//! The profile provider over real files in a temporary directory.

use std::sync::Arc;

use super::*;
use crate::credentials::{MapEnv, SystemClock};

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(config: &str, credentials: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config"), config).unwrap();
        std::fs::write(dir.path().join("credentials"), credentials).unwrap();
        Self { dir }
    }

    fn ctx(&self, extra: &[(&str, &str)]) -> Context {
        let mut env = MapEnv::new()
            .with(
                "AWS_CONFIG_FILE",
                self.dir.path().join("config").display().to_string(),
            )
            .with(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.path().join("credentials").display().to_string(),
            );
        for (k, v) in extra {
            env = env.with(*k, *v);
        }
        Context::new(Arc::new(env), Arc::new(SystemClock))
    }
}

#[tokio::test]
async fn static_keys_from_the_selected_profile() {
    let f = Files::new(
        "[profile dev]\nregion = eu-west-1\n",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = SDEFAULT\n\
         [dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = SDEV\naws_session_token = TDEV\n",
    );
    let c = ProfileProvider::new(f.ctx(&[]), None)
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(
        (c.access_key_id(), c.provider_name()),
        ("AKIDDEFAULT", "Profile")
    );
    let c = ProfileProvider::new(f.ctx(&[("AWS_PROFILE", "dev")]), None)
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(
        (c.access_key_id(), c.session_token()),
        ("AKIDDEV", Some("TDEV"))
    );
    let c = ProfileProvider::new(f.ctx(&[("AWS_PROFILE", "dev")]), Some("default".into()))
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(
        c.access_key_id(),
        "AKIDDEFAULT",
        "an explicit profile beats AWS_PROFILE"
    );
    assert_eq!(
        region_from_profile(&f.ctx(&[]), Some("dev")).as_deref(),
        Some("eu-west-1")
    );
    assert_eq!(region_from_profile(&f.ctx(&[]), None), None);
}

#[tokio::test]
async fn home_directory_files_are_the_default() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        "[default]\naws_access_key_id = AKIDHOME\naws_secret_access_key = S\n",
    )
    .unwrap();
    let ctx = Context::new(
        Arc::new(MapEnv::new().with("HOME", home.path().display().to_string())),
        Arc::new(SystemClock),
    );
    let c = ProfileProvider::new(ctx, None)
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(c.access_key_id(), "AKIDHOME");
}

#[tokio::test]
async fn missing_files_or_profile() {
    let empty = tempfile::tempdir().unwrap();
    let ctx = Context::new(
        Arc::new(MapEnv::new().with("HOME", empty.path().display().to_string())),
        Arc::new(SystemClock),
    );
    let err = ProfileProvider::new(ctx.clone(), None)
        .provide_credentials()
        .await
        .unwrap_err();
    assert!(err.is_not_loaded(), "no files: the chain moves on ({err})");
    let err = ProfileProvider::new(ctx, Some("prod".into()))
        .provide_credentials()
        .await
        .unwrap_err();
    assert!(
        !err.is_not_loaded(),
        "a named profile that does not exist is an error"
    );
    assert!(
        err.to_string().contains("profile prod is not defined"),
        "{err}"
    );

    let f = Files::new("[default]\nregion = us-east-1\n", "");
    let err = ProfileProvider::new(f.ctx(&[]), None)
        .provide_credentials()
        .await
        .unwrap_err();
    assert!(
        err.is_not_loaded(),
        "a default profile with only a region: {err}"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn credential_process_runs_the_command() {
    use std::os::unix::fs::PermissionsExt;
    let f = Files::new("", "");
    let script = f.dir.path().join("creds.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"SPROC\", \"SessionToken\": \"TPROC\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let failing = f.dir.path().join("fail.sh");
    std::fs::write(
        &failing,
        "#!/bin/sh\necho 'token expired, run login' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&failing, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        f.dir.path().join("config"),
        format!(
            "[profile proc]\ncredential_process = {} --arg \"quoted value\"\n[profile bad]\ncredential_process = {}\n",
            script.display(),
            failing.display()
        ),
    )
    .unwrap();
    let c = ProfileProvider::new(f.ctx(&[]), Some("proc".into()))
        .provide_credentials()
        .await
        .unwrap();
    assert_eq!(
        (
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token(),
            c.provider_name()
        ),
        ("AKIDPROC", "SPROC", Some("TPROC"), "CredentialProcess")
    );
    assert_eq!(
        c.expiry(),
        crate::credentials::datetime::parse_rfc3339("2099-01-01T00:00:00Z")
    );
    let err = ProfileProvider::new(f.ctx(&[]), Some("bad".into()))
        .provide_credentials()
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("CredentialProcess: "), "{msg}");
    assert!(
        msg.contains("exit status: 3") && msg.contains("token expired, run login"),
        "{msg}"
    );
}

#[tokio::test]
async fn credential_source_environment_reads_the_context() {
    let f = Files::new(
        "[profile r]\nrole_arn = arn:aws:iam::123456789012:role/r\ncredential_source = Environment\n",
        "",
    );
    // No keys in the environment: the named source is required, so this is an error,
    // not a silent skip.
    let err = ProfileProvider::new(f.ctx(&[]), Some("r".into()))
        .provide_credentials()
        .await
        .unwrap_err();
    assert!(!err.is_not_loaded());
    assert_eq!(
        err.to_string(),
        "Profile: invalid configuration: profile r: Environment: not configured (AWS_ACCESS_KEY_ID is not set)"
    );
}

#[test]
fn sts_endpoint_from_profile_services_and_endpoint_url() {
    use crate::credentials::sts::Endpoint;
    let f = Files::new(
        "[profile svc]\nregion = eu-west-1\nservices = local\nendpoint_url = http://127.0.0.1:1\n\
         [profile plain]\nendpoint_url = http://127.0.0.1:1\n\
         [services local]\nsts =\n  endpoint_url = http://127.0.0.1:2\n",
        "",
    );
    let ctx = f.ctx(&[]);
    let svc = LoadedProfiles::load(&ctx, Some("svc")).unwrap();
    let e = Endpoint::resolve(&ctx, Some(&svc)).unwrap();
    assert_eq!(
        (e.url.to_string().as_str(), e.region.as_str()),
        ("http://127.0.0.1:2/", "eu-west-1"),
        "the services section beats the profile's endpoint_url"
    );
    let plain = LoadedProfiles::load(&ctx, Some("plain")).unwrap();
    let e = Endpoint::resolve(&ctx, Some(&plain)).unwrap();
    assert_eq!(
        (e.url.to_string().as_str(), e.region.as_str()),
        ("http://127.0.0.1:1/", "us-east-1")
    );
    // The environment beats the profile, for the URL and the region.
    let ctx = f.ctx(&[
        ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:3"),
        ("AWS_REGION", "ap-south-1"),
    ]);
    let e = Endpoint::resolve(&ctx, Some(&svc)).unwrap();
    assert_eq!(
        (e.url.to_string().as_str(), e.region.as_str()),
        ("http://127.0.0.1:3/", "ap-south-1")
    );
}
