//! Payload hashing: the payload modes and the streaming SHA-256 hasher.

/// Hex SHA-256 of the empty string.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The payload hash value for an unsigned payload.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// How the signer learns the payload hash.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum PayloadHash<'a> {
    /// The whole body; the signer hashes it.
    Bytes(&'a [u8]),
    /// A hex SHA-256 computed by the caller (e.g. with [`PayloadHasher`] while streaming).
    Precomputed(&'a str),
    /// `UNSIGNED-PAYLOAD`.
    Unsigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` (S3 chunked upload, signed chunks).
    StreamingSigned,
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` (signed chunks and a signed trailer).
    StreamingSignedWithTrailer,
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`.
    StreamingUnsignedWithTrailer,
}

/// Incremental SHA-256 over a body fed chunk by chunk.
pub struct PayloadHasher {
    ctx: aws_lc_rs::digest::Context,
    len: u64,
}

impl std::fmt::Debug for PayloadHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayloadHasher")
            .field("len", &self.len)
            .finish()
    }
}

impl Default for PayloadHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PayloadHasher {
    /// A hasher over nothing yet.
    pub fn new() -> Self {
        Self {
            ctx: aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
            len: 0,
        }
    }

    /// Feeds the next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.ctx.update(chunk);
        self.len += chunk.len() as u64;
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing has been fed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lower-case hex SHA-256 of everything fed.
    pub fn finish(self) -> String {
        let digest = self.ctx.finish();
        let mut out = String::with_capacity(64);
        for b in digest.as_ref() {
            out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
        }
        out
    }
}
