//! s3s-fs: an S3 server on a local directory that verifies SigV4 strictly.
//!
//! Owns [`S3sFs`]: one `s3s-fs` process (installed by
//! `cargo install s3s-fs@0.14.1 --features binary --locked`) on a free loopback port with a
//! temporary root directory. Unlike moto it checks the payload hash
//! (`x-amz-content-sha256` against the body) and presigned URLs, so it catches body and
//! query signing mistakes moto lets through. Buckets are directories under [`S3sFs::root`].
//!
//! Quirk of s3s-fs 0.14.1: a body that does not match its signed `x-amz-content-sha256` is
//! refused with `500 InternalError` (not a 400), and the log says `Sha256Mismatch`; use
//! [`S3sFs::saw_payload_hash_mismatch`] to tell it from other failures. A wrong signature
//! is a proper `403 SignatureDoesNotMatch`.

use std::net::SocketAddr;
use std::path::Path;

use tempfile::TempDir;

use super::cmd::{aws, isolated_command, CmdOutput};
use super::process::{spawn_on_free_port, ChildGuard, Ready};

/// A running s3s-fs server; killed (and its root directory removed) on drop.
pub(crate) struct S3sFs {
    // Declared before `root` so the server stops before its directory is removed.
    process: ChildGuard,
    root: TempDir,
    port: u16,
    endpoint: String,
    access_key_id: String,
    secret_access_key: String,
}

impl std::fmt::Debug for S3sFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3sFs")
            .field("endpoint", &self.endpoint)
            .field("root", &self.root.path())
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl S3sFs {
    /// Starts s3s-fs accepting only requests signed with this key pair; waits until it
    /// serves. Panics with its log on failure, or if `s3s-fs` is not installed.
    pub(crate) fn start(access_key_id: &str, secret_access_key: &str) -> S3sFs {
        let root = tempfile::Builder::new()
            .prefix("s3s-fs-root-")
            .tempdir()
            .expect("create s3s-fs root");
        let (process, port) = spawn_on_free_port(
            "s3s-fs",
            Ready::OutputThenPort("server is running at".to_owned()),
            |port| {
                let mut cmd = isolated_command("s3s-fs");
                cmd.args(["--host", "127.0.0.1", "--port"])
                    .arg(port.to_string())
                    .args(["--access-key", access_key_id])
                    .args(["--secret-key", secret_access_key])
                    .arg(root.path())
                    .env("RUST_LOG", "info")
                    .env("NO_COLOR", "1");
                cmd
            },
        );
        S3sFs {
            process,
            root,
            port,
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key_id: access_key_id.to_owned(),
            secret_access_key: secret_access_key.to_owned(),
        }
    }

    /// Base URL, `http://127.0.0.1:PORT`.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The port s3s-fs listens on (127.0.0.1).
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// The socket address s3s-fs listens on.
    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The access key id it accepts.
    pub(crate) fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret key it accepts.
    pub(crate) fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    /// The directory holding the buckets (one subdirectory per bucket, objects as files),
    /// to check what was stored byte for byte.
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// Environment for a client that signs with the valid key.
    pub(crate) fn env(&self) -> Vec<(&str, &str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.access_key_id.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.as_str()),
        ]
    }

    /// Runs awscli directly against s3s-fs with the valid key (setup and checks).
    pub(crate) fn aws(&self, args: &[&str]) -> CmdOutput {
        aws(args, Some(&self.endpoint), &self.env())
    }

    /// Whether s3s-fs has refused a body whose SHA-256 differed from the signed one.
    pub(crate) fn saw_payload_hash_mismatch(&self) -> bool {
        let logs = format!("{}{}", self.process.stdout(), self.process.stderr());
        logs.contains("Sha256Mismatch")
    }

    /// The s3s-fs process (logs, pid).
    pub(crate) fn process(&self) -> &ChildGuard {
        &self.process
    }
}
