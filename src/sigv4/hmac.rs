//! HMAC-SHA256 from precomputed SHA-256 midstates.
//!
//! `aws_lc_rs::hmac` copies an OpenSSL-style context on every call, which costs more
//! than the hashing itself for the short messages SigV4 signs (measured: ~680 ns per
//! string to sign against ~350 ns with plain one-shot hashes). This type goes further:
//! it hashes the key XOR ipad and key XOR opad blocks once, when the key is made, and
//! each tag starts from copies of those two states (RFC 2104 section 4's
//! "intermediate results"), saving two of the SHA-256 blocks per tag.
//!
//! [`HmacSha256Key::sign_memo`] also remembers, per thread, the inner state after the
//! message's first block, for messages that repeat it (SigV4 strings to sign do: the
//! algorithm, timestamp and scope fill the first 64 bytes, the same for every request
//! signed with one key in one second). It owns nothing else.

use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::sha256::{self, Sha256};

const BLOCK: usize = 64;

/// The next [`HmacSha256Key::id`]. Starts at 1; a 64-bit counter bumped once per key
/// made cannot wrap in practice.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A key's inner state after one message block, with what it was made from.
#[derive(Clone, Copy)]
struct Memo {
    key_id: u64,
    block: [u8; BLOCK],
    state: Sha256,
}

thread_local! {
    /// The last first-block state [`HmacSha256Key::sign_memo`] computed on this thread.
    static MEMO: RefCell<Option<Memo>> = const { RefCell::new(None) };
}

/// An HMAC-SHA256 key: the SHA-256 states after the key XOR ipad and key XOR opad
/// blocks. Those states are key material: `Debug` prints nothing of them.
#[derive(Clone)]
pub(crate) struct HmacSha256Key {
    inner: Sha256,
    outer: Sha256,
    /// Unique to the key bytes this was made from: every `new` takes a fresh one, and a
    /// clone (the same key) keeps it.
    id: u64,
}

impl fmt::Debug for HmacSha256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacSha256Key(** redacted **)")
    }
}

impl HmacSha256Key {
    /// A key from raw bytes (hashed first when longer than a block, per RFC 2104).
    pub(crate) fn new(key: &[u8]) -> Self {
        let hashed;
        let key = if key.len() > BLOCK {
            hashed = sha256::digest(key);
            &hashed[..]
        } else {
            key
        };
        let mut ipad = [0x36u8; BLOCK];
        let mut opad = [0x5cu8; BLOCK];
        for (i, &b) in key.iter().enumerate() {
            ipad[i] ^= b;
            opad[i] ^= b;
        }
        let mut inner = Sha256::new();
        inner.update(&ipad);
        let mut outer = Sha256::new();
        outer.update(&opad);
        Self {
            inner,
            outer,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// `HMAC-SHA256(key, msg)`.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 32] {
        self.sign_from(self.inner, msg)
    }

    /// `HMAC-SHA256(key, msg)`, reusing this thread's inner state after `msg`'s first
    /// 64 bytes when the last call here had the same key and the same first block. The
    /// memo is only used on an exact match of key identity and block bytes, so the
    /// result is always that of [`Self::sign`]; a miss costs a 64-byte compare.
    pub(crate) fn sign_memo(&self, msg: &[u8]) -> [u8; 32] {
        let Some((block, rest)) = msg.split_first_chunk::<BLOCK>() else {
            return self.sign(msg);
        };
        // Borrowed in place (a `Cell` would copy the whole memo out and back). Nothing
        // in here can re-enter, so the borrow never fails; if it did, sign plainly.
        let state = MEMO.with(|memo| {
            let mut memo = memo.try_borrow_mut().ok()?;
            Some(match &*memo {
                Some(m) if m.key_id == self.id && m.block == *block => m.state,
                _ => {
                    let mut state = self.inner;
                    state.update(block);
                    *memo = Some(Memo {
                        key_id: self.id,
                        block: *block,
                        state,
                    });
                    state
                }
            })
        });
        let Some(state) = state else {
            return self.sign(msg);
        };
        self.sign_from(state, rest)
    }

    /// `HMAC-SHA256(key, prefix ‖ rest)`, where `inner` is this key's inner state
    /// (after the ipad block) that has absorbed `prefix`.
    fn sign_from(&self, mut inner: Sha256, rest: &[u8]) -> [u8; 32] {
        inner.update(rest);
        let mut outer = self.outer;
        outer.update(&inner.finish());
        outer.finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use aws_lc_rs::hmac;
    use proptest::prelude::*;

    #[test]
    fn debug_shows_no_key() {
        let k = HmacSha256Key::new(b"a very secret key");
        assert_eq!(format!("{k:?}"), "HmacSha256Key(** redacted **)");
    }

    #[test]
    fn sign_memo_is_per_key_and_block() {
        let (a, b) = (HmacSha256Key::new(b"key a"), HmacSha256Key::new(b"key b"));
        let msg1 = [b'x'; 100];
        let mut msg2 = msg1;
        msg2[63] = b'y'; // Differs in the first block only.
        for (key, msg) in [
            (&a, &msg1),
            (&a, &msg1),
            (&b, &msg1),
            (&b, &msg2),
            (&a, &msg2),
        ] {
            assert_eq!(key.sign_memo(msg), key.sign(msg));
        }
        assert_ne!(a.sign_memo(&msg1), a.sign_memo(&msg2));
        assert_eq!(a.clone().sign_memo(&msg1), a.sign(&msg1));
    }

    #[test]
    fn rfc4231_case_2() {
        let k = HmacSha256Key::new(b"Jefe");
        assert_eq!(
            crate::sigv4::encode::hex(&k.sign(b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    proptest! {
        #[test]
        fn matches_aws_lc_hmac(key in proptest::collection::vec(any::<u8>(), 0..150),
                               msg in proptest::collection::vec(any::<u8>(), 0..400)) {
            let ours = HmacSha256Key::new(&key).sign(&msg);
            let theirs = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &msg);
            prop_assert_eq!(ours.as_slice(), theirs.as_ref());
        }

        #[test]
        fn sign_from_a_prefix_state_matches_sign(key in proptest::collection::vec(any::<u8>(), 0..100),
                                                 msg in proptest::collection::vec(any::<u8>(), 0..300),
                                                 cut in any::<usize>()) {
            let k = HmacSha256Key::new(&key);
            let cut = cut % (msg.len() + 1);
            let mut state = k.inner;
            state.update(&msg[..cut]);
            prop_assert_eq!(k.sign_from(state, &msg[cut..]), k.sign(&msg));
        }

        /// A run of messages from a few keys, where many share first blocks (and some
        /// are shorter than a block): the memo never changes a tag.
        #[test]
        fn sign_memo_matches_sign(keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..4),
                                  heads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 60..70), 1..3),
                                  calls in proptest::collection::vec((any::<usize>(), any::<usize>(), proptest::collection::vec(any::<u8>(), 0..100)), 1..20)) {
            // Two objects made from the same bytes: equal tags, distinct ids.
            let keys: Vec<HmacSha256Key> = keys.iter().chain(keys.first()).map(|k| HmacSha256Key::new(k)).collect();
            for (k, h, tail) in calls {
                let key = &keys[k % keys.len()];
                let mut msg = heads[h % heads.len()].clone();
                msg.extend_from_slice(&tail);
                prop_assert_eq!(key.sign_memo(&msg), key.sign(&msg));
                prop_assert_eq!(key.sign_memo(&msg), key.sign(&msg));
            }
        }
    }
}
