//! [`CredentialsError`]: why credentials could not be had.

/// Why a provider could not produce credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// This source is not configured here; a chain moves on to the next provider.
    #[error("{provider}: not configured ({reason})")]
    NotLoaded {
        /// The provider's name.
        provider: &'static str,
        /// Why it was not loaded (e.g. "AWS_ACCESS_KEY_ID is not set").
        reason: String,
    },
    /// The source is configured but its configuration is wrong.
    #[error("{provider}: invalid configuration: {message}")]
    InvalidConfiguration {
        /// The provider's name.
        provider: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The source is configured but failed (HTTP error, bad response, process failed).
    #[error("{provider}: {message}")]
    Provider {
        /// The provider's name.
        provider: &'static str,
        /// What failed.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The source did not answer in time.
    #[error("{provider}: timed out")]
    TimedOut {
        /// The provider's name.
        provider: &'static str,
    },
}

impl CredentialsError {
    /// True for [`CredentialsError::NotLoaded`]: the chain should try the next provider.
    pub fn is_not_loaded(&self) -> bool {
        matches!(self, Self::NotLoaded { .. })
    }
}
