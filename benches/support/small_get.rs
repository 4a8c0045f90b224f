//! The request both signers sign in `benches/sign.rs` and `examples/sign_count.rs`
//! (included with `#[path]`, so the timed and the instruction-counted runs cannot
//! drift apart): an SQS ListQueues GET at a fixed time, warm key cache for ours.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sigv4_proxy::sigv4::{sign, PayloadHash, SignableRequest, SigningParams};

pub(crate) const AKID: &str = "AKIDEXAMPLE";
pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const HOST: &str = "sqs.us-east-1.amazonaws.com";
const PATH_AND_QUERY: &str = "/?Action=ListQueues&Version=2012-11-05";
const URL: &str = "https://sqs.us-east-1.amazonaws.com/?Action=ListQueues&Version=2012-11-05";

/// The signing time (the suite's 20150830T123600Z).
pub(crate) fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// Signs the small GET with this crate.
pub(crate) fn sign_ours(params: &SigningParams<'_>) {
    let req = SignableRequest::new(
        "GET",
        black_box(PATH_AND_QUERY),
        vec![("host", HOST)],
        PayloadHash::Bytes(b""),
    );
    black_box(sign(&req, params).unwrap());
}

/// The same credentials as an `aws-sigv4` identity.
pub(crate) fn aws_identity() -> aws_smithy_runtime_api::client::identity::Identity {
    aws_credential_types::Credentials::new(AKID, SECRET, None, None, "bench").into()
}

/// `aws-sigv4`'s parameters for the small GET.
pub(crate) fn aws_params(
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
pub(crate) fn sign_aws(params: &aws_sigv4::http_request::SigningParams<'_>) {
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
