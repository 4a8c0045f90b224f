//! `cargo run --release --example sign_count -- ours|aws N`: signs the benchmark's
//! small GET `N` times with this crate or with `aws-sigv4`. Run it under
//! `valgrind --tool=callgrind` to count instructions per signature, a figure that does
//! not depend on how busy the machine is (see `benches/sign_instructions.sh`).

#![allow(missing_docs, clippy::unwrap_used)] // A measuring tool: panics are fine.

use sigv4_proxy::credentials::Credentials;
use sigv4_proxy::sigv4::{SigningKeyCache, SigningParams, SigningSettings};

#[path = "../benches/support/small_get.rs"]
mod small_get;
use small_get::{aws_identity, aws_params, sign_aws, sign_ours, time, AKID, SECRET};

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next().unwrap_or_else(|| "ours".into());
    let n: u64 = args.next().map(|s| s.parse().unwrap()).unwrap_or(100_000);
    match which.as_str() {
        "ours" => {
            let creds = Credentials::new(AKID, SECRET, None, None, "bench");
            let settings = SigningSettings::default();
            let cache = SigningKeyCache::new();
            let params = SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings)
                .with_key_cache(&cache);
            for _ in 0..n {
                sign_ours(&params);
            }
        }
        "aws" => {
            let identity = aws_identity();
            let params = aws_params(&identity);
            for _ in 0..n {
                sign_aws(&params);
            }
        }
        other => panic!("unknown signer {other}: use ours or aws"),
    }
}
