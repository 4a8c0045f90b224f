//! `[routes.credentials]` parsing and building.

use std::sync::Arc;

use super::*;
use crate::credentials::{MapEnv, SystemClock};
use crate::secret::SecretString;

fn parse(toml_text: &str) -> Result<CredentialsConfig, toml::de::Error> {
    toml::from_str(toml_text)
}

fn ctx(vars: &[(&str, &str)]) -> Context {
    Context::new(
        Arc::new(vars.iter().copied().collect::<MapEnv>()),
        Arc::new(SystemClock),
    )
}

#[test]
fn parses_every_shape() {
    assert_eq!(parse("").unwrap(), CredentialsConfig::default());
    assert_eq!(
        parse("profile = \"prod\"").unwrap(),
        CredentialsConfig::from_profile("prod")
    );
    let c = parse(
        r#"
role_arn = "arn:aws:iam::123456789012:role/gw"
external_id = "ext"
role_session_name = "gw"
duration_seconds = 900
sts_region = "eu-west-1"
source = { profile = "base" }
"#,
    )
    .unwrap();
    assert_eq!(
        c.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/gw")
    );
    assert_eq!(c.duration_seconds, Some(900));
    assert_eq!(
        c.source.as_deref(),
        Some(&CredentialsConfig::from_profile("base"))
    );
    let c = parse(
        r#"
access_key_id = { env = "GW_KEY" }
secret_access_key = { file = "/run/secrets/gw" }
session_token = { value = "tok" }
"#,
    )
    .unwrap();
    assert_eq!(c.access_key_id, Some(KeySource::Env("GW_KEY".into())));
    assert_eq!(
        c.secret_access_key,
        Some(KeySource::File("/run/secrets/gw".into()))
    );
    assert_eq!(
        c.session_token,
        Some(KeySource::Value(SecretString::new("tok")))
    );
    assert!(!format!("{c:?}").contains("tok\""), "{c:?}");
}

#[test]
fn rejects_unknown_fields_and_sources() {
    let err = parse("profiel = \"x\"").unwrap_err().to_string();
    assert!(err.contains("unknown field `profiel`"), "{err}");
    let err = parse("access_key_id = { vault = \"x\" }")
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown variant `vault`"), "{err}");
    assert!(parse("access_key_id = { env = \"A\", file = \"/b\" }").is_err());
}

#[tokio::test]
async fn static_keys_from_env_file_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("secret");
    std::fs::write(&secret_path, "SECRETFROMFILE\n").unwrap();
    let cfg = CredentialsConfig::static_keys(
        KeySource::Env("GW_KEY".into()),
        KeySource::File(secret_path),
        Some(KeySource::Value(SecretString::new("TOKENVALUE"))),
    );
    let shared = cfg.build_with(&ctx(&[("GW_KEY", "AKIDGW")])).unwrap();
    let c = shared.get().await.unwrap();
    assert_eq!(
        (
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token(),
            c.provider_name()
        ),
        ("AKIDGW", "SECRETFROMFILE", Some("TOKENVALUE"), "Static")
    );
}

#[test]
fn reports_bad_combinations_at_build_time() {
    let e = |cfg: CredentialsConfig| cfg.build_with(&ctx(&[])).unwrap_err().to_string();
    let missing_env = CredentialsConfig::static_keys(
        KeySource::Env("NOPE".into()),
        KeySource::Value(SecretString::new("s")),
        None,
    );
    assert_eq!(
        e(missing_env),
        "Static: invalid configuration: access_key_id: environment variable NOPE is not set"
    );
    let half = CredentialsConfig {
        access_key_id: Some(KeySource::Value(SecretString::new("a"))),
        ..CredentialsConfig::default()
    };
    assert!(e(half).contains("need both access_key_id and secret_access_key"));
    let mut mixed = CredentialsConfig::from_profile("p");
    mixed.secret_access_key = Some(KeySource::Value(SecretString::new("a")));
    assert!(e(mixed).contains("cannot be combined"));
    let mut role_and_profile = CredentialsConfig::assume_role("arn:r", None);
    role_and_profile.profile = Some("p".into());
    assert!(e(role_and_profile).contains("source = { profile"));
    let orphan = CredentialsConfig {
        external_id: Some("x".into()),
        ..CredentialsConfig::default()
    };
    assert!(e(orphan).contains("need role_arn"));
    let mut long_name = CredentialsConfig::assume_role("arn:r", None);
    long_name.role_session_name = Some("x".repeat(65));
    assert!(e(long_name).contains("2 to 64 characters"));
    let mut short = CredentialsConfig::assume_role("arn:r", None);
    short.duration_seconds = Some(60);
    assert!(e(short).contains("between 900 and 43200"));
}

#[tokio::test]
async fn default_is_the_chain_and_finds_environment_keys() {
    let shared = CredentialsConfig::default()
        .build_with(&ctx(&[
            ("AWS_ACCESS_KEY_ID", "AKIDENV"),
            ("AWS_SECRET_ACCESS_KEY", "SENV"),
        ]))
        .unwrap();
    let c = shared.get().await.unwrap();
    assert_eq!(
        (c.access_key_id(), c.provider_name()),
        ("AKIDENV", "Environment")
    );
}

#[tokio::test]
async fn default_chain_with_nothing_configured_says_so() {
    let home = tempfile::tempdir().unwrap();
    let shared = CredentialsConfig::default()
        .build_with(&ctx(&[
            ("HOME", &home.path().display().to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]))
        .unwrap();
    let err = shared.get().await.unwrap_err();
    assert!(err.is_not_loaded());
    let msg = err.to_string();
    for name in [
        "Environment",
        "Profile",
        "WebIdentityToken",
        "Container",
        "Imds",
    ] {
        assert!(
            msg.contains(&format!("{name}: not configured")),
            "{name} missing in {msg}"
        );
    }
}
