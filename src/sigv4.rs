//! Pure AWS Signature Version 4 (and 4a) signing.
//!
//! No I/O, no tokio, no clock: the time, credentials, region and service are inputs
//! ([`SigningParams`]). [`sign`] computes everything (canonical request, string to sign,
//! signature) and returns a [`SigningOutput`]; applying it to a request is a separate
//! step ([`SigningOutput::apply_to_headers`], [`SigningOutput::presigned_path_and_query`]).
//!
//! What this module deliberately does not do: read credentials, look at the clock, open
//! sockets or buffer bodies. Callers hash bodies with [`PayloadHasher`] as they stream.

mod canonical;
mod chunked;
mod codecommit;
mod encode;
mod error;
mod hmac;
mod infer;
mod key;
mod key_cache;
mod output;
mod payload;
mod request;
mod settings;
mod sha256;
mod signer;
mod time;

pub use chunked::{chunk_header, signed_chunked_content_length, ChunkSigner};
pub use codecommit::{codecommit_git_credentials, GitCredentials};
pub use error::SignError;
pub use infer::{infer_endpoint, InferError, InferredEndpoint};
pub use key::v4a_public_key;
pub use key_cache::SigningKeyCache;
pub use output::SigningOutput;
pub(crate) use output::X_AMZ_CONTENT_SHA256;
pub use payload::{PayloadHash, PayloadHasher, EMPTY_PAYLOAD_SHA256, UNSIGNED_PAYLOAD};
pub use request::SignableRequest;
pub use settings::{
    ContentSha256Header, PathNormalization, SessionTokenMode, SignatureLocation, SigningAlgorithm,
    SigningParams, SigningSettings, UriEncoding,
};
pub use signer::sign;
pub use time::parse_timestamp;
