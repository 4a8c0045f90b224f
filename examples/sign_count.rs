//! `cargo run --release --example sign_count -- ours|aws N`: signs the benchmark's
//! small GET `N` times with this crate or with `aws-sigv4`. Run it under
//! `valgrind --tool=callgrind` to count instructions per signature, a figure that does
//! not depend on how busy the machine is (see `benches/sign_instructions.sh`).

#![allow(missing_docs, clippy::unwrap_used)] // A measuring tool: panics are fine.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use sigv4_proxy::credentials::Credentials;
use sigv4_proxy::sigv4::{
    sign, PayloadHash, SignableRequest, SigningKeyCache, SigningParams, SigningSettings,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "sqs.us-east-1.amazonaws.com";
const PATH_AND_QUERY: &str = "/?Action=ListQueues&Version=2012-11-05";
const URL: &str = "https://sqs.us-east-1.amazonaws.com/?Action=ListQueues&Version=2012-11-05";

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "ours".into());
    let n: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
    match which.as_str() {
        "ours" => {
            let creds = Credentials::new(AKID, SECRET, None, None, "bench");
            let settings = SigningSettings::default();
            let cache = SigningKeyCache::new();
            let params = SigningParams::new(&creds, "us-east-1", "sqs", time, &settings)
                .with_key_cache(&cache);
            for _ in 0..n {
                let req = SignableRequest::new(
                    "GET",
                    black_box(PATH_AND_QUERY),
                    vec![("host", HOST)],
                    PayloadHash::Bytes(b""),
                );
                black_box(sign(&req, &params).unwrap());
            }
        }
        "aws" => {
            use aws_sigv4::http_request::{self as aws, SignableBody};
            use aws_smithy_runtime_api::client::identity::Identity;
            let identity: Identity =
                aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into();
            let params = aws_sigv4::sign::v4::SigningParams::builder()
                .identity(&identity)
                .region("us-east-1")
                .name("sqs")
                .time(time)
                .settings(aws::SigningSettings::default())
                .build()
                .unwrap()
                .into();
            for _ in 0..n {
                let req = aws::SignableRequest::new(
                    "GET",
                    black_box(URL),
                    [("host", HOST)].into_iter(),
                    SignableBody::Bytes(b""),
                )
                .unwrap();
                black_box(aws::sign(req, &params).unwrap());
            }
        }
        other => panic!("unknown signer {other}: use ours or aws"),
    }
}
