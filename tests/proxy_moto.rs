//! End-to-end (issue 3): the real `sigv4-proxy` in reverse mode in front of moto with
//! SigV4 enforcement on, driven by awscli, boto3 and curl sending *unsigned* requests.
//! Every success here means moto verified a signature the proxy made; the negative test
//! shows moto really refuses a wrong one.
//!
//! Moto's gaps (see the brief): it does not check payload hashes (s3s-fs does, in
//! `proxy_s3s.rs`) and it refuses some `%2F`-escaped keys, so those are tested there.

mod support;

use std::collections::BTreeSet;

use support::*;

/// One listener per service, all to the same moto.
fn config(moto: &Moto) -> String {
    let mut c = String::new();
    for service in ["s3", "dynamodb", "sqs", "sts"] {
        c.push_str(&format!(
            r#"
[[listeners]]
name = "{service}"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{endpoint}"
service = "{service}"
region = "us-east-1"
"#,
            endpoint = moto.endpoint()
        ));
    }
    c
}

fn start_proxy(moto: &Moto, secret: &str) -> SigningProxy {
    SigningProxy::start(
        &config(moto),
        &[
            ("AWS_ACCESS_KEY_ID", moto.access_key_id()),
            ("AWS_SECRET_ACCESS_KEY", secret),
        ],
    )
}

fn keys_in(moto: &Moto, bucket: &str) -> BTreeSet<String> {
    let out = moto.aws(&["s3api", "list-objects-v2", "--bucket", bucket]);
    out.assert_success();
    out.json()["Contents"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["Key"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn awscli_s3_through_reverse_proxy_is_signed_and_accepted() {
    let moto = Moto::enforcing();
    let proxy = start_proxy(&moto, moto.secret_access_key());
    let dir = tempfile::tempdir().expect("tempdir");
    let small = data_file(dir.path(), "small.bin", 1000, 1);
    let big = data_file(dir.path(), "big.bin", 50 * 1024 * 1024, 2);

    proxy
        .aws("s3", &["s3", "mb", "s3://proxied"])
        .assert_success();
    proxy
        .aws(
            "s3",
            &[
                "s3",
                "cp",
                small.to_str().expect("utf8"),
                "s3://proxied/small.bin",
            ],
        )
        .assert_success();
    // 50 MiB: awscli uploads it in 8 MiB parts, each over the 4 MiB memory threshold,
    // so every part goes through the proxy's spool file.
    proxy
        .aws(
            "s3",
            &[
                "s3",
                "cp",
                big.to_str().expect("utf8"),
                "s3://proxied/big.bin",
            ],
        )
        .assert_success();
    // moto refuses correctly signed requests for keys with any escaped character
    // other than a space (`+ = ! & ~ '`, unicode: awscli signing directly fails too), so
    // the full special-character set is tested against s3s-fs in proxy_s3s.rs.
    let special = ["with space.txt", "dir/sub/nested key.txt", "a  b/c d.txt"];
    for key in special {
        proxy
            .aws(
                "s3",
                &[
                    "s3",
                    "cp",
                    small.to_str().expect("utf8"),
                    &format!("s3://proxied/{key}"),
                ],
            )
            .assert_success();
    }

    // What moto stored, read directly (not through the proxy): exactly these keys.
    let mut expected: BTreeSet<String> = special.iter().map(|k| k.to_string()).collect();
    expected.insert("small.bin".into());
    expected.insert("big.bin".into());
    assert_eq!(keys_in(&moto, "proxied"), expected);

    // Listing and downloading through the proxy, byte-identical.
    let ls = proxy.aws("s3", &["s3api", "list-objects-v2", "--bucket", "proxied"]);
    ls.assert_success();
    let listed: BTreeSet<String> = ls.json()["Contents"]
        .as_array()
        .expect("Contents")
        .iter()
        .filter_map(|o| o["Key"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed, expected);
    for (key, src) in [("big.bin", &big), ("dir/sub/nested key.txt", &small)] {
        let dst = dir.path().join("download");
        proxy
            .aws(
                "s3",
                &[
                    "s3",
                    "cp",
                    &format!("s3://proxied/{key}"),
                    dst.to_str().expect("utf8"),
                ],
            )
            .assert_success();
        assert!(
            std::fs::read(&dst).expect("downloaded") == std::fs::read(src).expect("source"),
            "{key}: downloaded bytes differ"
        );
    }

    proxy
        .aws("s3", &["s3", "rm", "s3://proxied/with space.txt"])
        .assert_success();
    assert!(!keys_in(&moto, "proxied").contains("with space.txt"));
}

#[test]
fn dynamodb_sqs_and_sts_through_their_own_listeners() {
    let moto = Moto::enforcing();
    let proxy = start_proxy(&moto, moto.secret_access_key());

    let id = proxy.aws("sts", &["sts", "get-caller-identity"]);
    id.assert_success();
    assert_eq!(id.json()["Arn"].as_str(), moto.user_arn());

    proxy
        .aws(
            "dynamodb",
            &[
                "dynamodb",
                "create-table",
                "--table-name",
                "things",
                "--attribute-definitions",
                "AttributeName=id,AttributeType=S",
                "--key-schema",
                "AttributeName=id,KeyType=HASH",
                "--billing-mode",
                "PAY_PER_REQUEST",
            ],
        )
        .assert_success();
    proxy
        .aws(
            "dynamodb",
            &[
                "dynamodb",
                "put-item",
                "--table-name",
                "things",
                "--item",
                r#"{"id":{"S":"a/b c"},"v":{"N":"42"}}"#,
            ],
        )
        .assert_success();
    let got = proxy.aws(
        "dynamodb",
        &[
            "dynamodb",
            "get-item",
            "--table-name",
            "things",
            "--key",
            r#"{"id":{"S":"a/b c"}}"#,
        ],
    );
    got.assert_success();
    assert_eq!(got.json()["Item"]["v"]["N"].as_str(), Some("42"));

    let q = proxy.aws("sqs", &["sqs", "create-queue", "--queue-name", "jobs"]);
    q.assert_success();
    let url = q.json()["QueueUrl"].as_str().expect("QueueUrl").to_owned();
    proxy
        .aws(
            "sqs",
            &[
                "sqs",
                "send-message",
                "--queue-url",
                &url,
                "--message-body",
                "hello & goodbye",
            ],
        )
        .assert_success();
    let m = proxy.aws("sqs", &["sqs", "receive-message", "--queue-url", &url]);
    m.assert_success();
    assert_eq!(
        m.json()["Messages"][0]["Body"].as_str(),
        Some("hello & goodbye")
    );
}

#[test]
fn boto3_unsigned_client_and_curl_chunked_upload() {
    let moto = Moto::enforcing();
    let proxy = start_proxy(&moto, moto.secret_access_key());
    let endpoint = proxy.endpoint("s3");
    let script = r#"
import os, boto3
from botocore import UNSIGNED
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["EP"], config=Config(signature_version=UNSIGNED))
s3.create_bucket(Bucket="boto")
s3.put_object(Bucket="boto", Key="boto key.bin", Body=b"x" * 5_000_000, Metadata={"owner": "me"}, ACL="private")
o = s3.get_object(Bucket="boto", Key="boto key.bin")
assert o["Body"].read() == b"x" * 5_000_000
assert o["Metadata"] == {"owner": "me"}, o["Metadata"]
print("ok")
"#;
    let out = python(script, &[("EP", endpoint.as_str())]);
    out.assert_success();
    assert!(out.stdout_str().contains("ok"));

    // curl -T - sends Transfer-Encoding: chunked (no length); upstream gets a length.
    let put = curl_cmd(&[
        "-sS",
        "-f",
        "-T",
        "-",
        "-H",
        "Content-Type: text/plain",
        &format!("{endpoint}/boto/chunked.txt"),
    ])
    .stdin(b"streamed without a length".to_vec())
    .run();
    put.assert_success();
    let get = curl(&["-sS", "-f", &format!("{endpoint}/boto/chunked.txt")]);
    get.assert_success();
    assert_eq!(get.stdout_str(), "streamed without a length");
    let head = moto.aws(&[
        "s3api",
        "head-object",
        "--bucket",
        "boto",
        "--key",
        "chunked.txt",
    ]);
    head.assert_success();
    assert_eq!(head.json()["ContentLength"].as_u64(), Some(25));
}

#[test]
fn a_wrong_secret_is_refused_by_moto_and_routes_have_their_own_credentials() {
    let moto = Moto::enforcing();
    // No AWS_* variables: each route names its keys (inline, or from another variable).
    let config = format!(
        r#"
[[listeners]]
name = "good"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "s3"
region = "us-east-1"
credentials = {{ access_key_id = {{ value = "{akid}" }}, secret_access_key = {{ env = "GOOD_SECRET" }} }}

[[listeners]]
name = "bad"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "s3"
region = "us-east-1"
credentials = {{ access_key_id = {{ value = "{akid}" }}, secret_access_key = {{ value = "not-the-right-secret" }} }}

[[listeners]]
name = "sts"
listen = "127.0.0.1:0"
[[listeners.routes]]
upstream = "{ep}"
service = "sts"
region = "us-east-1"
credentials = {{ access_key_id = {{ value = "{akid}" }}, secret_access_key = {{ value = "not-the-right-secret" }} }}
"#,
        ep = moto.endpoint(),
        akid = moto.access_key_id()
    );
    let proxy = SigningProxy::start(&config, &[("GOOD_SECRET", moto.secret_access_key())]);
    proxy
        .aws("bad", &["s3", "mb", "s3://never"])
        .assert_failure()
        .assert_output_contains("SignatureDoesNotMatch");
    proxy
        .aws("sts", &["sts", "get-caller-identity"])
        .assert_failure()
        .assert_output_contains("SignatureDoesNotMatch");
    proxy
        .aws("good", &["s3", "mb", "s3://made-by-good"])
        .assert_success();
    let buckets = moto.aws(&["s3api", "list-buckets"]);
    buckets.assert_success();
    let listing = buckets.json();
    let names: Vec<&str> = listing["Buckets"]
        .as_array()
        .expect("Buckets")
        .iter()
        .filter_map(|b| b["Name"].as_str())
        .collect();
    assert_eq!(names, ["made-by-good"]);
}
