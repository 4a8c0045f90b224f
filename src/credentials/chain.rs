//! [`ChainProvider`]: tries providers in order, with aws-config's semantics — a
//! provider that is "not configured here" ([`CredentialsError::NotLoaded`]) passes to
//! the next; any other error stops the chain and is returned as is (it names its
//! provider). The default chain follows the AWS order: environment, shared profile,
//! web identity token, container, EC2 instance metadata.

use super::{
    container::ContainerProvider, imds::ImdsProvider, web_identity::WebIdentityProvider, BoxFuture,
    Context, Credentials, CredentialsError, EnvironmentProvider, ProfileProvider,
    ProvideCredentials,
};

/// A list of providers tried in order.
#[derive(Debug)]
pub struct ChainProvider {
    name: &'static str,
    providers: Vec<Box<dyn ProvideCredentials>>,
}

impl ChainProvider {
    /// An empty chain called `name` (used in its "nothing found" error).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            providers: Vec::new(),
        }
    }

    /// Appends a provider.
    pub fn or_else(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.providers.push(Box::new(provider));
        self
    }

    /// The default AWS chain over `ctx`, with `profile` for the shared files
    /// (`None`: `AWS_PROFILE`, else `default`).
    pub fn default_chain(ctx: &Context, profile: Option<String>) -> Self {
        Self::new("DefaultChain")
            .or_else(EnvironmentProvider::with_context(ctx.clone()))
            .or_else(ProfileProvider::new(ctx.clone(), profile))
            .or_else(WebIdentityProvider::new(ctx.clone()))
            .or_else(ContainerProvider::new(ctx.clone()))
            .or_else(ImdsProvider::new(ctx.clone()))
    }

    async fn load(&self) -> Result<Credentials, CredentialsError> {
        let mut skipped = Vec::new();
        for provider in &self.providers {
            match provider.provide_credentials().await {
                Ok(creds) => {
                    tracing::debug!(
                        chain = self.name,
                        provider = creds.provider_name(),
                        "credentials found"
                    );
                    return Ok(creds);
                }
                Err(err) if err.is_not_loaded() => {
                    tracing::debug!(chain = self.name, reason = %err, "provider not configured");
                    skipped.push(err.to_string());
                }
                Err(err) => return Err(err),
            }
        }
        Err(CredentialsError::not_loaded(
            self.name,
            format!("no provider had credentials: {}", skipped.join("; ")),
        ))
    }
}

impl ProvideCredentials for ChainProvider {
    fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
        Box::pin(self.load())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Debug)]
    struct Fixed(&'static str, Result<&'static str, bool>, Arc<AtomicUsize>);

    impl ProvideCredentials for Fixed {
        fn provide_credentials(&self) -> BoxFuture<'_, Result<Credentials, CredentialsError>> {
            self.2.fetch_add(1, Ordering::SeqCst);
            let r = match self.1 {
                Ok(akid) => Ok(Credentials::new(akid, "s", None, None, self.0)),
                Err(true) => Err(CredentialsError::not_loaded(self.0, "unset")),
                Err(false) => Err(CredentialsError::failed(self.0, "broken")),
            };
            Box::pin(async move { r })
        }
    }

    #[tokio::test]
    async fn not_loaded_moves_on_other_errors_stop() {
        let calls = Arc::new(AtomicUsize::new(0));
        let chain = ChainProvider::new("Test")
            .or_else(Fixed("A", Err(true), calls.clone()))
            .or_else(Fixed("B", Ok("AKB"), calls.clone()))
            .or_else(Fixed("C", Ok("AKC"), calls.clone()));
        let c = chain.provide_credentials().await.unwrap();
        assert_eq!((c.provider_name(), c.access_key_id()), ("B", "AKB"));
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let calls = Arc::new(AtomicUsize::new(0));
        let chain = ChainProvider::new("Test")
            .or_else(Fixed("A", Err(false), calls.clone()))
            .or_else(Fixed("B", Ok("AKB"), calls.clone()));
        let err = chain.provide_credentials().await.unwrap_err();
        assert_eq!(err.to_string(), "A: broken");
        assert_eq!(calls.load(Ordering::SeqCst), 1, "B never tried");
    }

    #[tokio::test]
    async fn all_not_loaded_lists_every_reason() {
        let calls = Arc::new(AtomicUsize::new(0));
        let chain = ChainProvider::new("Test")
            .or_else(Fixed("A", Err(true), calls.clone()))
            .or_else(Fixed("B", Err(true), calls.clone()));
        let err = chain.provide_credentials().await.unwrap_err();
        assert!(err.is_not_loaded());
        assert_eq!(
            err.to_string(),
            "Test: not configured (no provider had credentials: A: not configured (unset); B: not configured (unset))"
        );
    }
}
