//! [`CliError`]: why `sign`, `presign` or `codecommit-password` failed, and the exit
//! code for it.

use std::process::ExitCode;

use crate::sigv4::{InferError, SignError};

/// Why a signing command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// No credentials were found (exit code 2).
    #[error(
        "no AWS credentials: {reason}. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (plus AWS_SESSION_TOKEN for temporary credentials), or pass --access-key-id \
         with --secret-access-key-file"
    )]
    MissingCredentials {
        /// What exactly is missing.
        reason: String,
    },
    /// A bad argument or input (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// Service or region could not be inferred (exit code 2).
    #[error(transparent)]
    Infer(#[from] InferError),
    /// Signing failed (exit code 1).
    #[error("signing failed: {0}")]
    Sign(#[from] SignError),
    /// Reading input or writing output failed (exit code 1).
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl CliError {
    /// The process exit code: 2 for usage and credential problems, 1 otherwise.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Self::MissingCredentials { .. } | Self::Usage(_) | Self::Infer(_) => ExitCode::from(2),
            Self::Sign(_) | Self::Io { .. } => ExitCode::from(1),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
