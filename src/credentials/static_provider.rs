//! [`StaticProvider`]: fixed credentials, given at start-up.

use super::{BoxFuture, Credentials, CredentialsError, ProvideCredentials};

/// Always returns the same credentials.
#[derive(Debug, Clone)]
pub struct StaticProvider {
    credentials: Credentials,
}

impl StaticProvider {
    /// Wraps fixed credentials.
    pub fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }
}

impl ProvideCredentials for StaticProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        let creds = self.credentials.clone();
        Box::pin(async move { Ok(creds) })
    }
}
