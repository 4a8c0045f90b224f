//! `sigv4-proxy credentials [--profile P]`: loads credentials the way the proxy and the
//! signing commands do and prints which provider answered, the masked access key id
//! and the expiry. Never prints the secret key or the session token.
//!
//! Also owns [`load_blocking`], the one way the synchronous commands (`sign`,
//! `presign`, ...) load credentials from the chain.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::SystemTime;

use crate::credentials::{Context, Credentials, CredentialsConfig, CredentialsError};

/// Arguments of `credentials`.
#[derive(Debug, Default, clap::Args)]
pub struct CredentialsArgs {
    /// Use this profile of the shared AWS files (`~/.aws/config`, `~/.aws/credentials`)
    /// instead of the default chain (environment, `AWS_PROFILE`/default profile, web
    /// identity, container, EC2 instance metadata).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

/// Loads credentials from `profile`, or from the default chain, on a private
/// single-threaded runtime. Call only outside any tokio runtime.
pub(crate) fn load_blocking(profile: Option<&str>) -> Result<Arc<Credentials>, CredentialsError> {
    let config = match profile {
        Some(p) => CredentialsConfig::from_profile(p),
        None => CredentialsConfig::default(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CredentialsError::caused("Cli", "cannot start the async runtime", e))?;
    runtime.block_on(async { config.build_with(&Context::from_process())?.get().await })
}

fn describe_expiry(expiry: Option<SystemTime>, now: SystemTime) -> String {
    let Some(expiry) = expiry else {
        return "never (long-term keys)".to_owned();
    };
    let at = crate::credentials::format_rfc3339(expiry);
    match expiry.duration_since(now) {
        Ok(left) => {
            let secs = left.as_secs();
            format!(
                "{at} (in {}h {:02}m {:02}s)",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            )
        }
        Err(_) => format!("{at} (expired)"),
    }
}

/// The report printed on success.
fn report(creds: &Credentials, region: Option<&str>, now: SystemTime) -> String {
    format!(
        "provider:       {}\naccess key id:  {}\nsession token:  {}\nexpires:        {}\nregion:         {}\n",
        creds.provider_name(),
        creds.masked_access_key_id(),
        if creds.session_token().is_some() { "yes" } else { "no" },
        describe_expiry(creds.expiry(), now),
        region.unwrap_or("(not set)"),
    )
}

/// Runs `credentials`.
pub(crate) fn run(args: CredentialsArgs) -> ExitCode {
    match load_blocking(args.profile.as_deref()) {
        Ok(creds) => {
            let ctx = Context::from_process();
            let region = ctx
                .var("AWS_REGION")
                .or_else(|| ctx.var("AWS_DEFAULT_REGION"))
                .or_else(|| crate::credentials::region_from_profile(&ctx, args.profile.as_deref()));
            print!("{}", report(&creds, region.as_deref(), SystemTime::now()));
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: no credentials: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use std::time::Duration;

    #[test]
    fn report_masks_the_key_and_hides_secrets() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let creds = Credentials::new(
            "ASIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some(SecretString::new("SESSIONTOKEN")),
            Some(now + Duration::from_secs(3725)),
            "AssumeRole",
        );
        let text = report(&creds, Some("eu-west-1"), now);
        assert_eq!(
            text,
            "provider:       AssumeRole\n\
             access key id:  ASIA************MPLE\n\
             session token:  yes\n\
             expires:        2015-08-30T13:38:05Z (in 1h 02m 05s)\n\
             region:         eu-west-1\n"
        );
        let long_term = Credentials::new("AKIAIOSFODNN7EXAMPLE", "s", None, None, "Environment");
        assert!(report(&long_term, None, now).contains("never (long-term keys)"));
    }
}
