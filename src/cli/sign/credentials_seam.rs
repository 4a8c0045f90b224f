//! The one place where the signing commands get credentials: `--access-key-id` /
//! `--secret-access-key-file` first, then `--profile`, then the default AWS chain
//! (the same providers as the proxy; see `cli/credentials.rs`).

use std::path::PathBuf;

use crate::credentials::Credentials;
use crate::secret::SecretString;

use super::error::CliError;

/// Credential flags shared by `sign`, `presign` and `codecommit-password`.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct CredentialArgs {
    /// Access key id (instead of AWS_ACCESS_KEY_ID); needs --secret-access-key-file.
    #[arg(long, value_name = "AKID")]
    pub(crate) access_key_id: Option<String>,
    /// File holding the secret access key (keeps it out of the process list).
    #[arg(long, value_name = "PATH")]
    pub(crate) secret_access_key_file: Option<PathBuf>,
    /// File holding a session token, for temporary credentials given by flags.
    #[arg(long, value_name = "PATH")]
    pub(crate) session_token_file: Option<PathBuf>,
    /// Take credentials from this profile of the shared AWS files instead of the
    /// default chain.
    #[arg(long, value_name = "NAME", conflicts_with = "access_key_id")]
    pub(crate) profile: Option<String>,
}

fn read_secret(path: &PathBuf, what: &str) -> Result<SecretString, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(format!("reading {what} {}", path.display()), e))?;
    let value = text.trim();
    if value.is_empty() {
        return Err(CliError::MissingCredentials {
            reason: format!("{what} file {} is empty", path.display()),
        });
    }
    Ok(SecretString::new(value))
}

/// The credentials to sign with: flags first, then `--profile`, then the default
/// chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, the shared
/// files, web identity, container, instance metadata).
pub(crate) fn cli_credentials(args: &CredentialArgs) -> Result<Credentials, CliError> {
    match (&args.access_key_id, &args.secret_access_key_file) {
        (Some(akid), Some(path)) => {
            let secret = read_secret(path, "secret access key")?;
            let token = match &args.session_token_file {
                Some(p) => Some(read_secret(p, "session token")?),
                None => None,
            };
            return Ok(Credentials::new(
                akid.trim(),
                secret,
                token,
                None,
                "CommandLine",
            ));
        }
        (Some(_), None) => {
            return Err(CliError::MissingCredentials {
                reason: "--access-key-id was given without --secret-access-key-file".into(),
            })
        }
        (None, Some(_)) => {
            return Err(CliError::MissingCredentials {
                reason: "--secret-access-key-file was given without --access-key-id".into(),
            })
        }
        (None, None) => {}
    }
    crate::cli::credentials::load_blocking(args.profile.as_deref())
        .map(|c| (*c).clone())
        .map_err(|e| CliError::MissingCredentials {
            reason: e.to_string(),
        })
}
