//! CodeCommit Git-over-HTTPS credentials from AWS keys (what aws4 does for method
//! `GIT` and git-remote-codecommit does): a SigV4 signature over a minimal canonical
//! request, used as the Git password.
//!
//! The differences from [`super::sign`]: only `host` is signed, the payload hash is
//! empty, and the timestamp in the string to sign has no trailing `Z` (the password
//! adds it back). No I/O: time and credentials are inputs.

use std::fmt;
use std::time::SystemTime;

use aws_lc_rs::digest;

use super::canonical::canonical_uri_into;
use super::encode::{hex, hex_into};
use super::key_cache::with_v4_key;
use super::settings::{PathNormalization, UriEncoding};
use super::time::AmzDate;
use super::{SignError, SigningKeyCache};
use crate::credentials::Credentials;
use crate::secret::SecretString;

/// A Git username and password for a CodeCommit HTTPS remote.
#[derive(Clone, PartialEq, Eq)]
pub struct GitCredentials {
    /// The access key id, followed by `%` and the session token for temporary
    /// credentials.
    pub username: SecretString,
    /// `20150830T123600Z` followed by the hex signature.
    pub password: SecretString,
}

impl fmt::Debug for GitCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitCredentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Signs a CodeCommit Git request for `host` (e.g.
/// `git-codecommit.us-east-1.amazonaws.com`) and `path` (e.g. `/v1/repos/my-repo`) in
/// `region` at `time`.
pub fn codecommit_git_credentials(
    credentials: &Credentials,
    region: &str,
    host: &str,
    path: &str,
    time: SystemTime,
    key_cache: Option<&SigningKeyCache>,
) -> Result<GitCredentials, SignError> {
    if region.is_empty() || region.contains('/') {
        return Err(SignError::InvalidScope {
            what: "region",
            value: region.to_owned(),
        });
    }
    if host.is_empty() {
        return Err(SignError::MissingHost);
    }
    let date = AmzDate::new(time)?;
    // aws4 and git-remote-codecommit drop the `Z` for Git.
    let timestamp = &date.full()[..15];

    // Only hashed, so built as bytes (the canonical helpers' buffer type).
    let mut creq = Vec::with_capacity(32 + path.len() * 3 + host.len());
    creq.extend_from_slice(b"GIT\n");
    canonical_uri_into(
        &mut creq,
        path,
        UriEncoding::Double,
        PathNormalization::Enabled,
    );
    creq.extend_from_slice(b"\n\nhost:");
    creq.extend_from_slice(host.trim().as_bytes());
    creq.extend_from_slice(b"\n\nhost\n");

    let scope = format!("{}/{region}/codecommit/aws4_request", date.date());
    let mut sts = String::with_capacity(128);
    sts.push_str("AWS4-HMAC-SHA256\n");
    sts.push_str(timestamp);
    sts.push('\n');
    sts.push_str(&scope);
    sts.push('\n');
    hex_into(&mut sts, digest::digest(&digest::SHA256, &creq).as_ref());

    let signature = with_v4_key(
        key_cache,
        credentials,
        date.date(),
        region,
        "codecommit",
        |key, _, _| hex(&key.sign(sts.as_bytes())),
    );
    let mut username = credentials.access_key_id().to_owned();
    if let Some(token) = credentials.session_token() {
        username.push('%');
        username.push_str(token);
    }
    Ok(GitCredentials {
        username: SecretString::new(username),
        password: SecretString::new(format!("{timestamp}Z{signature}")),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests: a panic is the failure report.
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn password_matches_independent_computation() {
        // Expected value from a separate Python implementation of the
        // git-remote-codecommit algorithm (hmac/hashlib), same inputs.
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "t",
        );
        let git = codecommit_git_credentials(
            &creds,
            "us-east-1",
            "git-codecommit.us-east-1.amazonaws.com",
            "/v1/repos/my-repo",
            time(),
            None,
        )
        .unwrap();
        assert_eq!(git.username.expose(), "AKIDEXAMPLE");
        assert_eq!(
            git.password.expose(),
            "20150830T123600Zf0364cf25b069cdd56692c5905109eb95893436b63cec1c1446aeaca85c3c4ca"
        );
        assert!(!format!("{git:?}").contains("f0364cf2"));
    }

    #[test]
    fn session_token_goes_in_the_username() {
        let creds = Credentials::new("AKID", "s", Some(SecretString::new("TOKEN")), None, "t");
        let git = codecommit_git_credentials(&creds, "eu-west-1", "h", "/v1/repos/r", time(), None)
            .unwrap();
        assert_eq!(git.username.expose(), "AKID%TOKEN");
        assert!(git.password.expose().starts_with("20150830T123600Z"));
        assert_eq!(git.password.expose().len(), 16 + 64);
    }
}
