//! The command-line interface: argument definitions and dispatch. Each subcommand lives
//! in its own module under `cli/`; `main.rs` only calls [`run`].

mod ca;
mod credentials;
mod serve;
mod sign;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// sigv4-proxy: an AWS SigV4 signing proxy and signing tool.
#[derive(Debug, Parser)]
#[command(name = "sigv4-proxy", version, about)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the signing proxy.
    Serve(serve::ServeArgs),
    /// Manage the local CA used to intercept `HTTPS_PROXY` tunnels (`ca init`).
    Ca(ca::CaArgs),
    /// Sign a request and print the signature and every intermediate step.
    Sign(sign::SignArgs),
    /// Print a presigned URL.
    Presign(sign::PresignArgs),
    /// Print a CodeCommit Git username and password (Git credential-helper format).
    CodecommitPassword(sign::CodecommitArgs),
    /// Load credentials as the proxy would and print where they came from, the masked
    /// access key id and the expiry.
    Credentials(credentials::CredentialsArgs),
}

/// Parses the command line and runs the chosen subcommand.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => serve::run(serve::ServeArgs::default()),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Ca(args)) => ca::run(args),
        Some(Command::Sign(args)) => sign::run_sign(args),
        Some(Command::Presign(args)) => sign::run_presign(args),
        Some(Command::CodecommitPassword(args)) => sign::run_codecommit(args),
        Some(Command::Credentials(args)) => credentials::run(args),
    }
}
