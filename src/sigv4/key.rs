//! Signing-key derivation: the SigV4 HMAC chain and the SigV4a ECDSA P-256 key.
//!
//! Pure functions of the secret and scope. Caching lives in [`super::key_cache`];
//! the signature itself in [`super::signer`].

use aws_lc_rs::{agreement, hmac, signature};

use super::SignError;
use crate::credentials::Credentials;

/// `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
pub(crate) fn derive_signing_key(
    secret: &str,
    date: &str,
    region: &str,
    service: &str,
) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(&k_secret, date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), "aws4_request");
    let mut out = [0u8; 32];
    out.copy_from_slice(k_signing.as_ref());
    out
}

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// `a - 2` for a big-endian 256-bit number `a >= 2`.
fn minus_two(a: [u8; 32]) -> [u8; 32] {
    let mut out = a;
    let mut borrow = 2u16;
    for byte in out.iter_mut().rev() {
        let v = u16::from(*byte);
        if v >= borrow {
            // Fits: the difference of two values below 256.
            *byte = (v - borrow) as u8;
            return out;
        }
        *byte = (v + 256 - borrow) as u8;
        borrow = 1;
    }
    out
}

/// `a + 1` for a big-endian 256-bit number that is below n - 1 (so no overflow).
fn plus_one(mut a: [u8; 32]) -> [u8; 32] {
    for byte in a.iter_mut().rev() {
        let (v, carry) = byte.overflowing_add(1);
        *byte = v;
        if !carry {
            break;
        }
    }
    a
}

/// The SigV4a private scalar for these credentials (NIST SP 800-108 KDF in counter
/// mode with HMAC-SHA256, as aws-c-auth does): for counter = 1, 2, ...,
/// `c = HMAC("AWS4A" + secret, 00000001 || "AWS4-ECDSA-P256-SHA256" || 00 || akid ||
/// counter || 00000100)`; the first `c <= n - 2` gives the private key `c + 1`.
pub(crate) fn derive_v4a_private_scalar(
    access_key_id: &str,
    secret: &str,
) -> Result<[u8; 32], SignError> {
    let mut k = Vec::with_capacity(5 + secret.len());
    k.extend_from_slice(b"AWS4A");
    k.extend_from_slice(secret.as_bytes());
    let key = hmac::Key::new(hmac::HMAC_SHA256, &k);
    let n_minus_2 = minus_two(P256_N);
    for counter in 1u8..=254 {
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&[0, 0, 0, 1]);
        ctx.update(b"AWS4-ECDSA-P256-SHA256");
        ctx.update(&[0]);
        ctx.update(access_key_id.as_bytes());
        ctx.update(&[counter]);
        ctx.update(&[0, 0, 1, 0]);
        let tag = ctx.sign();
        let mut c = [0u8; 32];
        c.copy_from_slice(tag.as_ref());
        if c <= n_minus_2 {
            return Ok(plus_one(c));
        }
    }
    Err(SignError::KeyDerivation)
}

/// The SigV4a key pair for these credentials.
pub(crate) fn derive_v4a_key_pair(
    access_key_id: &str,
    secret: &str,
) -> Result<signature::EcdsaKeyPair, SignError> {
    let scalar = derive_v4a_private_scalar(access_key_id, secret)?;
    let private = agreement::PrivateKey::from_private_key(&agreement::ECDH_P256, &scalar)
        .map_err(|_| SignError::KeyDerivation)?;
    let public = private
        .compute_public_key()
        .map_err(|_| SignError::KeyDerivation)?;
    signature::EcdsaKeyPair::from_private_key_and_public_key(
        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &scalar,
        public.as_ref(),
    )
    .map_err(|_| SignError::KeyDerivation)
}

/// The SigV4a public key derived from `credentials`, as an uncompressed SEC1 point
/// (`04 || X || Y`, 65 bytes). Lets a verifier (or a test) check signatures.
pub fn v4a_public_key(credentials: &Credentials) -> Result<Vec<u8>, SignError> {
    let kp = derive_v4a_key_pair(credentials.access_key_id(), credentials.secret_access_key())?;
    Ok(signature::KeyPair::public_key(&kp).as_ref().to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use crate::sigv4::encode::hex;
    use aws_lc_rs::signature::KeyPair;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    #[test]
    fn v4_key_matches_aws_docs_example() {
        // From AWS's "Derive a signing key" example (iam, 20150830, us-east-1).
        let k = derive_signing_key(SECRET, "20150830", "us-east-1", "iam");
        assert_eq!(
            hex(&k),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn big_number_helpers() {
        let mut a = [0u8; 32];
        a[31] = 1;
        a[30] = 1; // 257
        let b = minus_two(a); // 255
        assert_eq!(b[31], 255);
        assert_eq!(b[30], 0);
        let mut c = [0u8; 32];
        c[31] = 0xff;
        let d = plus_one(c);
        assert_eq!((d[30], d[31]), (1, 0));
    }

    #[test]
    fn v4a_key_matches_suite_public_key() {
        let kp = derive_v4a_key_pair("AKIDEXAMPLE", SECRET).unwrap();
        let pk = kp.public_key().as_ref();
        assert_eq!(pk[0], 4, "uncompressed point");
        assert_eq!(
            hex(&pk[1..33]),
            "b6618f6a65740a99e650b33b6b4b5bd0d43b176d721a3edfea7e7d2d56d936b1"
        );
        assert_eq!(
            hex(&pk[33..65]),
            "865ed22a7eadc9c5cb9d2cbaca1b3699139fedc5043dc6661864218330c8e518"
        );
    }
}
