//! S3 streaming uploads (`aws-chunked`): the chunk signatures that chain from the seed
//! signature, and the trailer signature.
//!
//! The seed request is signed by [`super::sign`] with
//! [`PayloadHash::StreamingSigned`](super::PayloadHash::StreamingSigned) (or
//! `StreamingSignedWithTrailer`); [`ChunkSigner`] then signs each chunk as it is sent.
//! This module only computes signatures and frame headers: it does not read or buffer
//! bodies. SigV4 (HMAC) only.

use std::fmt;

use super::canonical::{canonical_headers_into, sort_headers};
use super::encode::{hex, hex_into};
use super::hmac::HmacSha256Key;
use super::key_cache::with_v4_key;
use super::payload::EMPTY_PAYLOAD_SHA256;
use super::settings::SigningAlgorithm;
use super::sha256;
use super::{SignError, SigningOutput, SigningParams};

/// Signs the chunks of an S3 streaming upload, each chained to the previous signature:
/// `HMAC(key, "AWS4-HMAC-SHA256-PAYLOAD\n" + timestamp + "\n" + scope + "\n" +
/// previous + "\n" + sha256("") + "\n" + sha256(chunk))`. The last data chunk is
/// followed by an empty chunk; with trailers, [`ChunkSigner::sign_trailer`] comes last.
pub struct ChunkSigner {
    key: HmacSha256Key,
    timestamp: String,
    scope: String,
    previous: String,
}

impl fmt::Debug for ChunkSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigner")
            .field("timestamp", &self.timestamp)
            .field("scope", &self.scope)
            .field("previous", &self.previous)
            .finish_non_exhaustive()
    }
}

impl ChunkSigner {
    /// A chunk signer that continues from `seed`, the output of signing the request
    /// headers with the same `params`.
    pub fn new(seed: &SigningOutput, params: &SigningParams<'_>) -> Result<Self, SignError> {
        if params.settings.algorithm != SigningAlgorithm::V4 {
            return Err(SignError::Unsupported("chunk signing with SigV4a"));
        }
        let date = seed.timestamp().get(..8).ok_or(SignError::InvalidTime)?;
        let key = with_v4_key(
            params.key_cache,
            params.credentials,
            date,
            params.region,
            params.service,
            |key, _, _| key.clone(),
        );
        Ok(Self {
            key,
            timestamp: seed.timestamp().to_owned(),
            scope: seed.credential_scope().to_owned(),
            previous: seed.signature().to_owned(),
        })
    }

    /// The signature of the last chunk signed (the seed signature at first).
    pub fn previous_signature(&self) -> &str {
        &self.previous
    }

    /// Signs the next chunk (`b""` for the final, empty chunk) and returns its hex
    /// signature.
    pub fn sign_chunk(&mut self, chunk: &[u8]) -> String {
        self.sign_chunk_digest(&sha256::digest(chunk))
    }

    /// Like [`Self::sign_chunk`] for a chunk whose SHA-256 the caller already has.
    pub fn sign_chunk_digest(&mut self, chunk_sha256: &[u8]) -> String {
        let mut sts = self.sts_prefix("AWS4-HMAC-SHA256-PAYLOAD", 64 + 64 + 2);
        sts.push_str(EMPTY_PAYLOAD_SHA256);
        sts.push('\n');
        hex_into(&mut sts, chunk_sha256);
        self.finish(&sts)
    }

    /// Signs the trailing headers (sent after the final empty chunk) and returns the
    /// `x-amz-trailer-signature` value. Trailers are canonicalised like headers.
    pub fn sign_trailer(&mut self, trailers: &[(&str, &str)]) -> String {
        let mut sorted: Vec<(&str, &str)> = trailers.to_vec();
        let lower = sort_headers(&mut sorted);
        let mut canonical = Vec::with_capacity(64);
        canonical_headers_into(&mut canonical, &sorted, lower);
        let mut sts = self.sts_prefix("AWS4-HMAC-SHA256-TRAILER", 64);
        hex_into(&mut sts, &sha256::digest(&canonical));
        self.finish(&sts)
    }

    fn sts_prefix(&self, algorithm: &str, extra: usize) -> String {
        let mut sts = String::with_capacity(
            algorithm.len() + self.timestamp.len() + self.scope.len() + 64 + 4 + extra,
        );
        sts.push_str(algorithm);
        sts.push('\n');
        sts.push_str(&self.timestamp);
        sts.push('\n');
        sts.push_str(&self.scope);
        sts.push('\n');
        sts.push_str(&self.previous);
        sts.push('\n');
        sts
    }

    fn finish(&mut self, sts: &str) -> String {
        let sig = hex(&self.key.sign_memo(sts.as_bytes()));
        self.previous.clone_from(&sig);
        sig
    }
}

/// The frame header of one signed chunk: `{len:x};chunk-signature={sig}\r\n`.
pub fn chunk_header(len: usize, signature: &str) -> String {
    format!("{len:x};chunk-signature={signature}\r\n")
}

/// The `Content-Length` of an `aws-chunked` body carrying `decoded_len` bytes in
/// chunks of `chunk_size` (the last may be shorter), plus the final empty chunk; no
/// trailers. `chunk_size` must be non-zero.
pub fn signed_chunked_content_length(decoded_len: u64, chunk_size: u64) -> u64 {
    // Per chunk: hex length, ";chunk-signature=" (17), 64 hex, CRLF, data, CRLF.
    let frame = |len: u64| -> u64 {
        let hex_digits = if len == 0 {
            1
        } else {
            u64::from((64 - len.leading_zeros()).div_ceil(4))
        };
        hex_digits + 17 + 64 + 2 + len + 2
    };
    let chunk_size = chunk_size.max(1);
    let full = decoded_len / chunk_size;
    let rest = decoded_len % chunk_size;
    let mut total = full * frame(chunk_size) + frame(0);
    if rest > 0 {
        total += frame(rest);
    }
    total
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests;
