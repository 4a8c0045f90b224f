//! `sigv4-proxy sign` and `presign`. (Issue 2 fills this in.)

use std::process::ExitCode;

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {}

/// Arguments of `presign`.
#[derive(Debug, clap::Args)]
pub struct PresignArgs {}

/// Runs `sign`.
pub(crate) fn run_sign(args: SignArgs) -> ExitCode {
    let _ = args;
    ExitCode::from(2)
}

/// Runs `presign`.
pub(crate) fn run_presign(args: PresignArgs) -> ExitCode {
    let _ = args;
    ExitCode::from(2)
}
