//! The `sigv4-proxy` binary: a thin wrapper over [`sigv4_proxy::cli::run`].

use std::process::ExitCode;

fn main() -> ExitCode {
    sigv4_proxy::cli::run()
}
