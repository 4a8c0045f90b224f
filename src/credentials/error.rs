//! [`CredentialsError`]: why credentials could not be had.

use std::sync::Arc;

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
    /// The error of a load that several callers waited for (the cache shares one
    /// refresh between all waiting requests). Displays as the original.
    #[error(transparent)]
    Shared(Arc<CredentialsError>),
}

impl CredentialsError {
    /// True for [`CredentialsError::NotLoaded`]: the chain should try the next provider.
    pub fn is_not_loaded(&self) -> bool {
        match self {
            Self::NotLoaded { .. } => true,
            Self::Shared(inner) => inner.is_not_loaded(),
            _ => false,
        }
    }

    /// The name of the provider that failed.
    pub fn provider(&self) -> &'static str {
        match self {
            Self::NotLoaded { provider, .. }
            | Self::InvalidConfiguration { provider, .. }
            | Self::Provider { provider, .. }
            | Self::TimedOut { provider } => provider,
            Self::Shared(inner) => inner.provider(),
        }
    }

    /// A [`CredentialsError::Provider`] without an underlying error.
    pub(crate) fn failed(provider: &'static str, message: impl Into<String>) -> Self {
        Self::Provider {
            provider,
            message: message.into(),
            source: None,
        }
    }

    /// A [`CredentialsError::Provider`] caused by `source`.
    pub(crate) fn caused(
        provider: &'static str,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Provider {
            provider,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// A [`CredentialsError::InvalidConfiguration`].
    pub(crate) fn invalid(provider: &'static str, message: impl Into<String>) -> Self {
        Self::InvalidConfiguration {
            provider,
            message: message.into(),
        }
    }

    /// A [`CredentialsError::NotLoaded`].
    pub(crate) fn not_loaded(provider: &'static str, reason: impl Into<String>) -> Self {
        Self::NotLoaded {
            provider,
            reason: reason.into(),
        }
    }
}
