//! End-to-end (issue 4): the real `sigv4-proxy` signs with assumed-role credentials
//! (with a session token) that it got from moto's STS, and moto, enforcing signatures,
//! accepts them; a session token moto no longer knows (what an expired one looks like
//! upstream: moto never checks expiry) is refused, the 403 reaches the client as AWS
//! sent it, and the proxy warns about it. A full run at `trace` level is captured and
//! searched for every secret involved.

mod support;

use std::path::Path;

use support::*;

/// Shared files: `base` holds the IAM user's keys (the source secret), `gateway`
/// assumes `role_arn` with them, the way the AWS CLI would.
fn write_profiles(dir: &Path, moto: &Moto, role_arn: &str) -> (String, String) {
    let config = dir.join("aws-config");
    let credentials = dir.join("aws-credentials");
    std::fs::write(
        &config,
        format!(
            "[profile base]\nregion = us-east-1\n\
             [profile gateway]\nrole_arn = {role_arn}\nsource_profile = base\n\
             role_session_name = gateway-e2e\n"
        ),
    )
    .expect("write aws config");
    std::fs::write(
        &credentials,
        format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            moto.access_key_id(),
            moto.secret_access_key()
        ),
    )
    .expect("write aws credentials");
    (
        config.display().to_string(),
        credentials.display().to_string(),
    )
}

/// One listener called `name`, with one route to moto for `service` whose
/// `[listeners.routes.credentials]` table holds `credentials` (TOML lines).
fn listener(moto: &Moto, name: &str, service: &str, credentials: &str) -> String {
    format!(
        r#"
[[listeners]]
name = "{name}"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "{service}"
region = "us-east-1"
[listeners.routes.credentials]
{credentials}
"#,
        ep = moto.endpoint()
    )
}

/// The profile assumes the role through `AWS_ENDPOINT_URL_STS` (a relay in front of
/// moto, which records what STS handed out); awscli s3 and sts calls through the proxy
/// succeed as the assumed role; and nothing secret appears in the trace-level output.
#[test]
fn profile_role_signs_with_a_session_token_and_trace_logs_keep_every_secret() {
    let moto = Moto::enforcing();
    let role_arn = moto.create_role("gateway");
    let relay = RecordingRelay::start(moto.addr());
    let dir = tempfile::tempdir().expect("tempdir");
    let (config_file, credentials_file) = write_profiles(dir.path(), &moto, &role_arn);
    let sts_endpoint = relay.endpoint();
    let mut proxy = SigningProxy::start(
        &[
            listener(&moto, "s3", "s3", r#"profile = "gateway""#),
            listener(&moto, "sts", "sts", r#"profile = "gateway""#),
        ]
        .concat(),
        &[
            ("AWS_CONFIG_FILE", &config_file),
            ("AWS_SHARED_CREDENTIALS_FILE", &credentials_file),
            ("AWS_ENDPOINT_URL_STS", &sts_endpoint),
            ("RUST_LOG", "trace"),
        ],
    );

    // Who moto thinks signed: the assumed role's session, not the IAM user.
    let id = proxy.aws("sts", &["sts", "get-caller-identity"]);
    id.assert_success();
    assert_eq!(
        id.json()["Arn"].as_str(),
        Some("arn:aws:sts::123456789012:assumed-role/gateway/gateway-e2e"),
        "{id}"
    );

    // A realistic S3 session: make a bucket, upload, list, download, delete.
    let data = data_file(dir.path(), "payload.bin", 300_000, 4);
    proxy
        .aws("s3", &["s3", "mb", "s3://role-bucket"])
        .assert_success();
    proxy
        .aws(
            "s3",
            &[
                "s3",
                "cp",
                &data.display().to_string(),
                "s3://role-bucket/a/payload.bin",
            ],
        )
        .assert_success();
    // (Not `s3 ls s3://bucket/a/`: moto miscomputes signatures over `%2F` in a query.)
    let listing = proxy.aws(
        "s3",
        &["s3api", "list-objects-v2", "--bucket", "role-bucket"],
    );
    listing.assert_success();
    let listing = listing.json();
    let objects: Vec<(&str, u64)> = listing["Contents"]
        .as_array()
        .expect("Contents")
        .iter()
        .filter_map(|o| Some((o["Key"].as_str()?, o["Size"].as_u64()?)))
        .collect();
    assert_eq!(objects, [("a/payload.bin", 300_000)]);
    let back = dir.path().join("back.bin");
    proxy
        .aws(
            "s3",
            &[
                "s3",
                "cp",
                "s3://role-bucket/a/payload.bin",
                &back.display().to_string(),
            ],
        )
        .assert_success();
    assert_eq!(
        std::fs::read(&back).expect("downloaded file"),
        std::fs::read(&data).expect("payload")
    );
    // moto, read directly with the IAM user's key, has the object.
    let head = moto.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "role-bucket",
        "--key",
        "a/payload.bin",
    ]);
    head.assert_success();
    assert_eq!(head.json()["ContentLength"].as_u64(), Some(300_000));

    // What STS handed the proxy, read off the wire by the relay: one AssumeRole per
    // route (each route has its own cached provider; the start-up check loads them),
    // and those tokens are what every request carried, or moto would have refused it.
    let sts = relay.responses();
    assert_eq!(sts.matches("<AssumeRoleResponse").count(), 2, "{sts}");
    let key_ids = xml_texts(&sts, "AccessKeyId");
    let secrets = xml_texts(&sts, "SecretAccessKey");
    let tokens = xml_texts(&sts, "SessionToken");
    assert!(
        key_ids.len() == 2 && key_ids.iter().all(|k| k.starts_with("ASIA")),
        "{sts}"
    );
    assert!(secrets.len() == 2 && tokens.len() == 2, "{sts}");

    proxy.wait_for_log("sigv4_proxy::access");
    let log = proxy.output();
    assert!(
        log.contains("canonical_request") && log.contains("TRACE"),
        "trace logging was not on:\n{}",
        tail(&log, 40)
    );
    assert!(log.contains("credentials available"), "{}", tail(&log, 40));
    let mut secret_values: Vec<(&str, &str)> =
        vec![("source profile's secret key", moto.secret_access_key())];
    secret_values.extend(secrets.iter().map(|s| ("assumed-role secret key", *s)));
    secret_values.extend(tokens.iter().map(|t| ("session token", *t)));
    for (what, value) in secret_values {
        assert!(
            value.len() >= 20,
            "{what} too short to search for: {value:?}"
        );
        assert!(
            !log.contains(value),
            "the {what} appears in the proxy's output"
        );
        // Nor a recognisable piece of it (e.g. a token cut into a line).
        assert!(
            !log.contains(&value[..20]),
            "a prefix of the {what} appears in the proxy's output"
        );
    }
    // The masked key ids are logged, so the operator can tell which keys signed.
    for key_id in key_ids {
        let masked = format!(
            "{}{}{}",
            &key_id[..4],
            "*".repeat(key_id.len() - 8),
            &key_id[key_id.len() - 4..]
        );
        assert!(log.contains(&masked), "{masked} not in the log");
    }
}

/// The route's own role config (static source keys, STS endpoint) works the same; and a
/// route whose session token moto does not know gets moto's 403 passed through, with a
/// warning in the proxy's log.
#[test]
fn route_role_is_accepted_and_an_unknown_session_token_is_refused_upstream() {
    let moto = Moto::enforcing();
    let role_arn = moto.create_role("route-role");
    // Real temporary keys whose token we replace: what an expired session looks like to
    // moto (it never checks expiry itself).
    let stale = moto.assume_role(&role_arn, "stale");
    let role = format!(
        r#"role_arn = "{role_arn}"
role_session_name = "route-session"
sts_endpoint_url = "{ep}"
source = {{ access_key_id = {{ value = "{akid}" }}, secret_access_key = {{ env = "SOURCE_SECRET" }} }}"#,
        ep = moto.endpoint(),
        akid = moto.access_key_id(),
    );
    let expired = format!(
        r#"access_key_id = {{ value = "{}" }}
secret_access_key = {{ env = "STALE_SECRET" }}
session_token = {{ value = "FwoGZXIvYXdzEXPIREDsessionTOKENmotoNEVERissued" }}"#,
        stale.access_key_id
    );
    let config = [
        listener(&moto, "role", "sts", &role),
        listener(&moto, "expired", "sts", &expired),
    ]
    .concat();
    let mut proxy = SigningProxy::start(
        &config,
        &[
            ("SOURCE_SECRET", moto.secret_access_key()),
            ("STALE_SECRET", &stale.secret_access_key),
        ],
    );

    let id = proxy.aws("role", &["sts", "get-caller-identity"]);
    id.assert_success();
    assert_eq!(
        id.json()["Arn"].as_str(),
        Some("arn:aws:sts::123456789012:assumed-role/route-role/route-session"),
        "{id}"
    );

    // The client sees moto's own answer: status 403 and its error document.
    let out = curl(&[
        "-sS",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "--data",
        "Action=GetCallerIdentity&Version=2011-06-15",
        &format!("{}/", proxy.endpoint("expired")),
    ]);
    out.assert_success();
    let text = out.stdout_str();
    let (body, status) = text.rsplit_once('\n').expect("status line from curl");
    assert_eq!(status, "403", "{text}");
    assert!(
        body.contains("<Error>") && body.contains("InvalidClientTokenId"),
        "moto's error document expected: {body}"
    );
    // awscli names the problem too.
    proxy
        .aws("expired", &["sts", "get-caller-identity"])
        .assert_failure()
        .assert_output_contains("InvalidClientTokenId");

    let line = proxy.wait_for_log("upstream refused the signed request");
    assert!(line.contains("WARN"), "{line}");
    for field in ["route=", "upstream_status=403", "access_key_id=ASIA"] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    let access = proxy.wait_for_log("upstream_status=403 status=403");
    assert!(access.contains("sigv4_proxy::access"), "{access}");
    assert!(!proxy.output().contains(&stale.secret_access_key));
}
