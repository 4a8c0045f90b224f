//! [`sign`]: canonical request, string to sign, signature.

use super::{SignError, SignableRequest, SigningOutput, SigningParams};

/// Signs `request` with `params`. Pure: the same inputs give the same output (except
/// for SigV4a, whose ECDSA signatures are randomised).
pub fn sign(
    request: &SignableRequest<'_>,
    params: &SigningParams<'_>,
) -> Result<SigningOutput, SignError> {
    let _ = (request, params);
    todo!("issue 2")
}
