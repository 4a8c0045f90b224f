//! The worked example of AWS's S3 docs ("Signature Calculations for the Authorization
//! Header: Transferring Payload in Multiple Chunks"): 66560 bytes of `a` in a 64 KiB
//! chunk, a 1 KiB chunk and the final empty chunk. The trailer signature is the value
//! AWS's CRT signer (aws-c-auth) gives for trailers `first:1st`, `second:2nd`,
//! `third:3rd` after that final chunk.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::credentials::Credentials;
use crate::sigv4::{sign, PayloadHash, SignableRequest, SigningKeyCache, SigningSettings};
use aws_lc_rs::digest;

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const CHUNK2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const FINAL: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";
const TRAILER: &str = "df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c";

fn example() -> (Credentials, SigningSettings) {
    let creds = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "docs",
    );
    (creds, SigningSettings::for_service("s3"))
}

fn seed(params: &SigningParams<'_>) -> SigningOutput {
    let req = SignableRequest::new(
        "PUT",
        "/examplebucket/chunkObject.txt",
        vec![
            ("Host", "s3.amazonaws.com"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("Content-Length", "66824"),
        ],
        PayloadHash::StreamingSigned,
    );
    sign(&req, params).unwrap()
}

#[test]
fn aws_docs_streaming_example() {
    let (creds, settings) = example();
    let time = UNIX_EPOCH + Duration::from_secs(1_369_353_600); // 2013-05-24T00:00:00Z
    let cache = SigningKeyCache::new();
    let params =
        SigningParams::new(&creds, "us-east-1", "s3", time, &settings).with_key_cache(&cache);
    let seed = seed(&params);
    assert_eq!(seed.payload_hash(), "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    assert_eq!(
        seed.signed_headers(),
        "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class"
    );
    assert_eq!(seed.signature(), SEED, "seed signature");
    let mut signer = ChunkSigner::new(&seed, &params).unwrap();
    assert_eq!(signer.previous_signature(), SEED);
    assert_eq!(signer.sign_chunk(&[b'a'; 65536]), CHUNK1, "first chunk");
    let second = digest::digest(&digest::SHA256, &[b'a'; 1024]);
    assert_eq!(
        signer.sign_chunk_digest(second.as_ref()),
        CHUNK2,
        "second chunk"
    );
    assert_eq!(signer.sign_chunk(b""), FINAL, "final chunk");
    assert_eq!(
        signer.sign_trailer(&[("first", "1st"), ("second", "2nd"), ("third", "3rd")]),
        TRAILER,
        "trailer"
    );
}

#[test]
fn frame_header_and_content_length_match_the_example() {
    assert_eq!(
        chunk_header(65536, CHUNK1),
        format!("10000;chunk-signature={CHUNK1}\r\n")
    );
    assert_eq!(
        chunk_header(0, FINAL),
        format!("0;chunk-signature={FINAL}\r\n")
    );
    // The docs' request: 66560 bytes in 64 KiB chunks → Content-Length 66824.
    assert_eq!(signed_chunked_content_length(66560, 65536), 66824);
    assert_eq!(signed_chunked_content_length(0, 65536), 86);
    assert_eq!(
        signed_chunked_content_length(65536, 65536),
        65536 + 88 + 2 + 86
    );
}

#[test]
fn v4a_chunk_signing_is_refused() {
    let (creds, mut settings) = example();
    settings.algorithm = SigningAlgorithm::V4a;
    let time = UNIX_EPOCH + Duration::from_secs(1_369_353_600);
    let params = SigningParams::new(&creds, "us-east-1", "s3", time, &settings);
    let req = SignableRequest::new(
        "PUT",
        "/b/k",
        vec![("host", "h")],
        PayloadHash::StreamingSigned,
    );
    assert!(matches!(
        sign(&req, &params),
        Err(SignError::Unsupported(_))
    ));
}
