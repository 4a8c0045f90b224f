//! Service and region inference from an AWS hostname.

/// The service and region an AWS hostname belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferredEndpoint {
    /// The signing name (`s3`, `es`, `execute-api`, `ses`, ...).
    pub service: String,
    /// The signing region (`us-east-1` for global endpoints).
    pub region: String,
}

/// A hostname whose service or region cannot be inferred.
#[derive(Debug, thiserror::Error)]
#[error("cannot infer the AWS service and region from host {host:?}; pass --service and --region (or set them on the route)")]
pub struct InferError {
    /// The host that was not recognised.
    pub host: String,
}

/// Infers service and region from `host` (no port).
pub fn infer_endpoint(host: &str) -> Result<InferredEndpoint, InferError> {
    let _ = host;
    todo!("issue 2")
}
