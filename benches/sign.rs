//! `cargo bench --bench sign`: this crate's signer against `aws-sigv4` on the same
//! small GET (warm key cache), and the streaming payload hasher on 16 KiB chunks.
//!
//! The numbers go into docs/signing.md ("Performance"). `benches/sha256_vs_openssl.sh`
//! compares the hasher with `openssl speed -evp sha256`.

#![allow(missing_docs, clippy::unwrap_used)] // A benchmark binary: panics are fine.

use std::hint::black_box;
use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, Criterion, Throughput};
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

/// Signs the small GET with this crate.
fn sign_ours(params: &SigningParams<'_>) {
    let req = SignableRequest::new(
        "GET",
        black_box(PATH_AND_QUERY),
        vec![("host", HOST)],
        PayloadHash::Bytes(b""),
    );
    black_box(sign(&req, params).unwrap());
}

/// The same credentials as an `aws-sigv4` identity.
fn aws_identity() -> aws_smithy_runtime_api::client::identity::Identity {
    aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into()
}

/// `aws-sigv4`'s parameters for the small GET.
fn aws_params(
    identity: &aws_smithy_runtime_api::client::identity::Identity,
) -> aws_sigv4::http_request::SigningParams<'_> {
    aws_sigv4::sign::v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("sqs")
        .time(time())
        .settings(aws_sigv4::http_request::SigningSettings::default())
        .build()
        .unwrap()
        .into()
}

/// Signs the small GET with `aws-sigv4`.
fn sign_aws(params: &aws_sigv4::http_request::SigningParams<'_>) {
    use aws_sigv4::http_request::{self as aws, SignableBody};
    let req = aws::SignableRequest::new(
        "GET",
        black_box(URL),
        [("host", HOST)].into_iter(),
        SignableBody::Bytes(b""),
    )
    .unwrap();
    black_box(aws::sign(req, params).unwrap());
}

fn ours(c: &mut Criterion) {
    let creds = Credentials::new(AKID, SECRET, None, None, "bench");
    let settings = SigningSettings::default();
    let cache = SigningKeyCache::new();
    let mut group = c.benchmark_group("sign_small_get");
    group.bench_function("sigv4-proxy (warm key cache)", |b| {
        let params = SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings)
            .with_key_cache(&cache);
        b.iter(|| sign_ours(&params))
    });
    group.bench_function("sigv4-proxy (no key cache)", |b| {
        let params = SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings);
        b.iter(|| sign_ours(&params))
    });
    group.bench_function("aws-sigv4 1.6", |b| {
        let identity = aws_identity();
        let params = aws_params(&identity);
        b.iter(|| sign_aws(&params))
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

/// On-CPU nanoseconds of this thread so far (`/proc/thread-self/schedstat`, Linux).
/// Unlike wall time it does not count time spent preempted, so it stays meaningful on
/// a shared, loaded machine.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `f` for about `secs` seconds and returns on-CPU nanoseconds per call.
fn cpu_ns_per_call(secs: f64, mut f: impl FnMut()) -> Option<f64> {
    for _ in 0..10_000 {
        f(); // warm up
    }
    let start_wall = std::time::Instant::now();
    let start = thread_cpu_ns()?;
    let mut n = 0u64;
    while start_wall.elapsed().as_secs_f64() < secs {
        for _ in 0..1000 {
            f();
        }
        n += 1000;
    }
    let end = thread_cpu_ns()?;
    Some((end - start) as f64 / n as f64)
}

/// `cargo bench --bench sign -- cpu_time`: the same comparison in on-CPU time.
fn cpu_time_summary() {
    let creds = Credentials::new(AKID, SECRET, None, None, "bench");
    let settings = SigningSettings::default();
    let cache = SigningKeyCache::new();
    let params =
        SigningParams::new(&creds, "us-east-1", "sqs", time(), &settings).with_key_cache(&cache);
    let identity = aws_identity();
    let aws_params = aws_params(&identity);
    let ours = cpu_ns_per_call(3.0, || {
        sign_ours(&params);
    });
    let theirs = cpu_ns_per_call(3.0, || {
        sign_aws(&aws_params);
    });
    let chunk = vec![0x5au8; 16 * 1024];
    let mut h = PayloadHasher::new();
    let hash = cpu_ns_per_call(3.0, || h.update(black_box(&chunk)));
    match (ours, theirs, hash) {
        (Some(o), Some(t), Some(hs)) => {
            println!("cpu_time/sign_small_get sigv4-proxy (warm key cache): {o:.0} ns/signature");
            println!("cpu_time/sign_small_get aws-sigv4 1.6:                {t:.0} ns/signature");
            println!(
                "cpu_time/sign_small_get ratio:                        {:.1}x",
                t / o
            );
            println!(
                "cpu_time/payload_hasher 16KiB chunks:                 {:.0} MB/s",
                16384.0 / hs * 1000.0
            );
        }
        _ => println!("cpu_time: /proc/thread-self/schedstat not available; skipped"),
    }
}

criterion_group!(benches, ours, hasher);

fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if filter.is_empty() || filter.iter().any(|f| "cpu_time".contains(f.as_str())) {
        cpu_time_summary();
    }
    if !filter.iter().any(|f| f == "cpu_time") {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
