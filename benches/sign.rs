//! `cargo bench --bench sign`: this crate's signer against `aws-sigv4` on the same
//! small GET (warm key cache), and the streaming payload hasher on 16 KiB chunks.
//!
//! The numbers go into docs/signing.md ("Performance"). `benches/sha256_vs_openssl.sh`
//! compares the hasher with `openssl speed -evp sha256`.

#![allow(missing_docs, clippy::unwrap_used)] // A benchmark binary: panics are fine.

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
use sigv4_proxy::credentials::Credentials;
use sigv4_proxy::sigv4::{PayloadHasher, SigningKeyCache, SigningParams, SigningSettings};

#[path = "support/small_get.rs"]
mod small_get;
use small_get::{aws_identity, aws_params, sign_aws, sign_ours, time, AKID, SECRET};

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
