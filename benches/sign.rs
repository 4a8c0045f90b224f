//! `cargo bench --bench sign`: this crate's signer against `aws-sigv4` on the same
//! small GET (warm key cache), and the streaming payload hasher on 16 KiB chunks.
//!
//! The numbers go into docs/signing.md ("Performance"). `benches/sha256_vs_openssl.sh`
//! compares the hasher with `openssl speed -evp sha256`.

#![allow(missing_docs, clippy::unwrap_used)] // A benchmark binary: panics are fine.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sigv4_proxy::credentials::Credentials;
use sigv4_proxy::sigv4::{
    sign, PayloadHash, PayloadHasher, SignableRequest, SigningKeyCache, SigningParams,
    SigningSettings,
};

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "sqs.us-east-1.amazonaws.com";
const PATH_AND_QUERY: &str = "/?Action=ListQueues&Version=2012-11-05";
const URL: &str = "https://sqs.us-east-1.amazonaws.com/?Action=ListQueues&Version=2012-11-05";

fn time() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn ours(c: &mut Criterion) {
    let creds = Credentials::new(AKID, SECRET, None, None, "bench");
    let settings = SigningSettings::default();
    let cache = SigningKeyCache::new();
    let mut group = c.benchmark_group("sign_small_get");
    group.bench_function("sigv4-proxy (warm key cache)", |b| {
        let params = SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings)
            .with_key_cache(&cache);
        b.iter(|| {
            let req = SignableRequest::new(
                "GET",
                black_box(PATH_AND_QUERY),
                vec![("host", HOST)],
                PayloadHash::Bytes(b""),
            );
            black_box(sign(&req, &params).unwrap())
        })
    });
    group.bench_function("sigv4-proxy (no key cache)", |b| {
        let params = SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings);
        b.iter(|| {
            let req = SignableRequest::new(
                "GET",
                black_box(PATH_AND_QUERY),
                vec![("host", HOST)],
                PayloadHash::Bytes(b""),
            );
            black_box(sign(&req, &params).unwrap())
        })
    });
    group.bench_function("aws-sigv4 1.6", |b| {
        use aws_sigv4::http_request::{self as aws, SignableBody};
        use aws_smithy_runtime_api::client::identity::Identity;
        let identity: Identity =
            aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sqs")
            .time(time())
            .settings(aws::SigningSettings::default())
            .build()
            .unwrap()
            .into();
        b.iter(|| {
            let req = aws::SignableRequest::new(
                "GET",
                black_box(URL),
                [("host", HOST)].into_iter(),
                SignableBody::Bytes(b""),
            )
            .unwrap();
            black_box(aws::sign(req, &params).unwrap())
        })
    });
    group.finish();
}

fn hasher(c: &mut Criterion) {
    let chunk = vec![0x5au8; 16 * 1024];
    let mut group = c.benchmark_group("payload_hasher");
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    group.bench_function("sha256 16KiB chunks", |b| {
        let mut h = PayloadHasher::new();
        b.iter(|| h.update(black_box(&chunk)));
        black_box(h.finish());
    });
    group.finish();
}

criterion_group!(benches, ours, hasher);
criterion_main!(benches);
