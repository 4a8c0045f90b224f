//! `sigv4-proxy serve`. (Issue 3 fills this in.)

use std::process::ExitCode;

/// Arguments of `serve`.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {}

/// Runs the proxy.
pub(crate) fn run(args: ServeArgs) -> ExitCode {
    let _ = args;
    eprintln!("serve: not yet implemented");
    ExitCode::from(2)
}
