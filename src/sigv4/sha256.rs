//! SHA-256 with a copyable state, over aws-lc's block function (`aws-lc-sys`).
//!
//! `aws_lc_rs::digest::Context` can be cloned, but a clone copies an OpenSSL-style
//! context through the heap; HMAC wants to start every tag from the same two
//! precomputed states (the hashed ipad and opad blocks), which is only cheap with a
//! plain-data state it can copy. This type is that state: the eight chaining words, the
//! length and the partial block, in Rust. Only the compression function is aws-lc's
//! (`SHA256_TransformBlocks`, which uses SHA-NI/AVX where the CPU has them): buffering
//! and padding here cost less than aws-lc's `SHA256_Update`/`SHA256_Final` calls did
//! (about 5 % of a signature). That one FFI call is the crate's only `unsafe` code. This
//! module owns nothing but hashing; HMAC is [`super::hmac`]'s.
#![allow(unsafe_code)] // FFI to aws-lc's SHA-256 block function (no safe copyable-state API exists); the one call has a SAFETY proof.

use std::fmt;

use aws_lc_sys::SHA256_TransformBlocks;

const BLOCK: usize = 64;

/// FIPS 180-4 section 5.3.3: the initial hash value.
const H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Runs the compression function over `blocks` (a whole number of 64-byte blocks; a
/// shorter tail is ignored, and callers never pass one).
fn compress(h: &mut [u32; 8], blocks: &[u8]) {
    let n = blocks.len() / BLOCK;
    if n == 0 {
        return;
    }
    // SAFETY: `h` is the eight writable `u32` words the function updates; `blocks` has
    // at least `n * 64` readable bytes. Both outlive the call, which keeps no pointer.
    unsafe { SHA256_TransformBlocks(h.as_mut_ptr(), blocks.as_ptr(), n) }
}

/// A SHA-256 state: `Copy`, so a state that has absorbed a common prefix can be reused
/// for many messages. It may hold key material (HMAC's padded key blocks), so `Debug`
/// prints nothing of it.
#[derive(Clone, Copy)]
pub(crate) struct Sha256 {
    h: [u32; 8],
    /// Bytes absorbed so far.
    len: u64,
    /// The partial block: its first `len % 64` bytes.
    buf: [u8; BLOCK],
}

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256(** redacted **)")
    }
}

impl Sha256 {
    /// A fresh state (nothing hashed yet).
    pub(crate) const fn new() -> Self {
        Self {
            h: H0,
            len: 0,
            buf: [0; BLOCK],
        }
    }

    /// Bytes in the partial block (below 64, so the cast is exact).
    fn used(&self) -> usize {
        (self.len % BLOCK as u64) as usize
    }

    /// Absorbs `data`.
    pub(crate) fn update(&mut self, mut data: &[u8]) {
        let used = self.used();
        // Lengths past 2^61 bytes are not hashable by SHA-256 at all; the signer's
        // inputs are far below.
        self.len = self.len.wrapping_add(data.len() as u64);
        if used > 0 {
            let take = (BLOCK - used).min(data.len());
            let (head, rest) = data.split_at(take);
            self.buf[used..used + take].copy_from_slice(head);
            if used + take < BLOCK {
                return;
            }
            compress(&mut self.h, &self.buf);
            data = rest;
        }
        let full = data.len() - data.len() % BLOCK;
        let (blocks, tail) = data.split_at(full);
        compress(&mut self.h, blocks);
        self.buf[..tail.len()].copy_from_slice(tail);
    }

    /// The digest of everything absorbed. Consumes this copy of the state.
    pub(crate) fn finish(mut self) -> [u8; 32] {
        // FIPS 180-4 section 5.1.1: 0x80, zeros, then the length in bits (big-endian)
        // in the last 8 bytes of the last block; two blocks when fewer than 9 bytes
        // are left in this one.
        let used = self.used();
        let mut tail = [0u8; 2 * BLOCK];
        tail[..used].copy_from_slice(&self.buf[..used]);
        tail[used] = 0x80;
        let end = if used < BLOCK - 8 { BLOCK } else { 2 * BLOCK };
        tail[end - 8..end].copy_from_slice(&self.len.wrapping_mul(8).to_be_bytes());
        compress(&mut self.h, &tail[..end]);
        let mut out = [0u8; 32];
        for (o, w) in out.chunks_exact_mut(4).zip(self.h) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// `SHA-256(data)` in one call.
pub(crate) fn digest(data: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(data);
    h.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use aws_lc_rs::digest as lc;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        let hex = crate::sigv4::encode::hex;
        assert_eq!(
            hex(&digest(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let mut h = Sha256::new();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(
            hex(&h.finish()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Every length up to three blocks, so each padding case (one or two final blocks,
    /// the 55/56/63/64-byte edges) and both update paths are hit, byte by byte too.
    #[test]
    fn every_length_matches_aws_lc() {
        let data: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(31)).collect();
        for n in 0..=data.len() {
            let expected = lc::digest(&lc::SHA256, &data[..n]);
            assert_eq!(&digest(&data[..n])[..], expected.as_ref(), "{n}");
            let mut h = Sha256::new();
            for b in &data[..n] {
                h.update(std::slice::from_ref(b));
            }
            assert_eq!(&h.finish()[..], expected.as_ref(), "{n} bytewise");
        }
    }

    #[test]
    fn copies_are_independent() {
        let mut prefix = Sha256::new();
        prefix.update(b"shared prefix ");
        let (mut a, mut b) = (prefix, prefix);
        a.update(b"one");
        b.update(b"two");
        assert_eq!(a.finish(), digest(b"shared prefix one"));
        assert_eq!(b.finish(), digest(b"shared prefix two"));
        assert_eq!(prefix.finish(), digest(b"shared prefix "));
    }

    #[test]
    fn debug_shows_no_state() {
        let mut h = Sha256::new();
        h.update(&[0xab; 100]);
        assert_eq!(format!("{h:?}"), "Sha256(** redacted **)");
    }

    proptest! {
        #[test]
        fn matches_aws_lc_digest(data in proptest::collection::vec(any::<u8>(), 0..600),
                                 cuts in proptest::collection::vec(any::<usize>(), 0..4)) {
            let expected = lc::digest(&lc::SHA256, &data);
            prop_assert_eq!(&digest(&data)[..], expected.as_ref());
            // The same data fed in pieces split at arbitrary points.
            let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            cuts.sort_unstable();
            let mut h = Sha256::new();
            let mut at = 0;
            for c in cuts.into_iter().chain([data.len()]) {
                h.update(&data[at..c]);
                at = c;
            }
            prop_assert_eq!(&h.finish()[..], expected.as_ref());
        }
    }
}
