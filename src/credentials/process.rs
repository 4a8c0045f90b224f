//! `credential_process`: runs the profile's command (through `sh -c`, as the AWS SDKs
//! do on Unix) and reads its JSON answer — `Version` 1, `AccessKeyId`,
//! `SecretAccessKey`, optional `SessionToken` and `Expiration` (RFC 3339).
//!
//! The command's standard output holds secrets and is never logged or put in an error;
//! a failing command's exit status and (the start of) its standard error are.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

use super::datetime::parse_rfc3339;
use super::{Context, Credentials, CredentialsError};
use crate::secret::SecretString;

pub(crate) const NAME: &str = "CredentialProcess";
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Output {
    version: u32,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expiration: Option<String>,
}

/// Runs `command` and parses its answer.
pub(crate) async fn run(ctx: &Context, command: &str) -> Result<Credentials, CredentialsError> {
    let _ = ctx;
    tracing::debug!(command, "running credential_process");
    let (shell, flag) = if cfg!(windows) {
        ("cmd.exe", "/C")
    } else {
        ("sh", "-c")
    };
    let child = tokio::process::Command::new(shell)
        .arg(flag)
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| CredentialsError::caused(NAME, format!("cannot run {command:?}"), e))?;
    let output = tokio::time::timeout(TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| CredentialsError::TimedOut { provider: NAME })?
        .map_err(|e| CredentialsError::caused(NAME, format!("cannot run {command:?}"), e))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stderr: String = stderr.trim().chars().take(300).collect();
        return Err(CredentialsError::failed(
            NAME,
            format!("{command:?} failed ({}): {stderr}", output.status),
        ));
    }
    parse(&output.stdout)
}

/// Parses the JSON a credential process prints.
pub(crate) fn parse(stdout: &[u8]) -> Result<Credentials, CredentialsError> {
    // serde_json's error says where the JSON broke, not what the value was.
    let out: Output = serde_json::from_slice(stdout)
        .map_err(|e| CredentialsError::caused(NAME, "the output is not the expected JSON", e))?;
    if out.version != 1 {
        return Err(CredentialsError::failed(
            NAME,
            format!("unsupported Version {} (expected 1)", out.version),
        ));
    }
    let expiry = match out.expiration.as_deref() {
        None => None,
        Some(e) => Some(parse_rfc3339(e).ok_or_else(|| {
            CredentialsError::failed(NAME, format!("Expiration {e:?} is not an RFC 3339 time"))
        })?),
    };
    if out.access_key_id.is_empty() || out.secret_access_key.is_empty() {
        return Err(CredentialsError::failed(
            NAME,
            "AccessKeyId or SecretAccessKey is empty",
        ));
    }
    Ok(Credentials::new(
        out.access_key_id,
        SecretString::new(out.secret_access_key),
        out.session_token
            .filter(|t| !t.is_empty())
            .map(SecretString::new),
        expiry,
        NAME,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_output() {
        let c = parse(br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"S","SessionToken":"T","Expiration":"2030-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(
            (c.access_key_id(), c.secret_access_key(), c.session_token()),
            ("AK", "S", Some("T"))
        );
        assert_eq!(c.expiry(), parse_rfc3339("2030-01-01T00:00:00Z"));
        let c = parse(br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"S"}"#).unwrap();
        assert_eq!((c.session_token(), c.expiry()), (None, None));
    }

    #[test]
    fn rejects_bad_output_without_echoing_it() {
        let err = parse(br#"{"Version":2,"AccessKeyId":"AK","SecretAccessKey":"S"}"#).unwrap_err();
        assert!(err.to_string().contains("Version 2"), "{err}");
        let err = parse(br#"{"AccessKeyId":"AK","SecretAccessKey":"TOPSECRET"}"#).unwrap_err();
        let chain = format!("{err} {:?}", std::error::Error::source(&err));
        assert!(!chain.contains("TOPSECRET"), "{chain}");
        assert!(parse(
            br#"{"Version":1,"AccessKeyId":"AK","SecretAccessKey":"S","Expiration":"soon"}"#
        )
        .is_err());
    }
}
