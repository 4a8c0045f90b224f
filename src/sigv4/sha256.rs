//! SHA-256 with a copyable state, over aws-lc's C API (`aws-lc-sys`).
//!
//! `aws_lc_rs::digest::Context` can be cloned, but a clone copies an OpenSSL-style
//! context through the heap; HMAC wants to start every tag from the same two
//! precomputed states (the hashed ipad and opad blocks), which is only cheap with a
//! plain-data state it can copy. aws-lc's `SHA256_CTX` is such a state. This module is
//! the crate's only `unsafe` code: each FFI call is wrapped here, with its proof. It
//! owns nothing but hashing; HMAC is [`super::hmac`]'s.
#![allow(unsafe_code)] // FFI to aws-lc's SHA-256 (no safe copyable-state API exists); every call has a SAFETY proof.

use std::fmt;

use aws_lc_sys::{SHA256_Final, SHA256_Init, SHA256_Update, SHA256, SHA256_CTX};

/// A SHA-256 state: `Copy`, so a state that has absorbed a common prefix can be reused
/// for many messages. It may hold key material (HMAC's padded key blocks), so `Debug`
/// prints nothing of it.
#[derive(Clone, Copy)]
pub(crate) struct Sha256(SHA256_CTX);

impl fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sha256(** redacted **)")
    }
}

impl Sha256 {
    /// A fresh state (nothing hashed yet).
    pub(crate) fn new() -> Self {
        // Plain integers and arrays: an all-zero value is a valid `SHA256_CTX`, and
        // `SHA256_Init` overwrites every field anyway.
        let mut ctx = SHA256_CTX {
            h: [0; 8],
            Nl: 0,
            Nh: 0,
            data: [0; 64],
            num: 0,
            md_len: 0,
        };
        // SAFETY: `ctx` is a live, exclusively borrowed `SHA256_CTX`; `SHA256_Init`
        // only writes into it and keeps no pointer. It always returns 1.
        unsafe {
            SHA256_Init(&mut ctx);
        }
        Self(ctx)
    }

    /// Absorbs `data`.
    pub(crate) fn update(&mut self, data: &[u8]) {
        // SAFETY: `self.0` was initialised by `SHA256_Init` (every `Sha256` is made by
        // `new` or copied from one); `data` is a valid slice of `data.len()` readable
        // bytes for the duration of the call, which reads it and keeps no pointer. It
        // cannot fail (returns 1); its bit counter only overflows past 2^61 bytes.
        unsafe {
            SHA256_Update(&mut self.0, data.as_ptr().cast(), data.len());
        }
    }

    /// The digest of everything absorbed. Consumes this copy of the state.
    pub(crate) fn finish(mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: `out` has the 32 writable bytes `SHA256_Final` writes (the context's
        // `md_len` is 32, set by `SHA256_Init`); `self.0` is an initialised context
        // that we own. Neither pointer is kept. It returns 1 for a SHA-256 context.
        unsafe {
            SHA256_Final(out.as_mut_ptr(), &mut self.0);
        }
        out
    }
}

/// `SHA-256(data)` in one call.
pub(crate) fn digest(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    // SAFETY: `data` is `data.len()` readable bytes and `out` the 32 writable bytes
    // `SHA256` writes; both outlive the call, which keeps no pointer. (A null `data`
    // pointer is never passed: an empty slice's pointer is dangling but non-null, and
    // aws-lc reads nothing for length 0.)
    unsafe {
        SHA256(data.as_ptr(), data.len(), out.as_mut_ptr());
    }
    out
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
