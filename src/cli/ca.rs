//! `sigv4-proxy ca init`: create the local CA that intercepts `HTTPS_PROXY` tunnels.
//!
//! Owns the command-line surface only; creating and writing the CA is
//! [`crate::tls::ca`]'s job.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::tls::ca::{CaPaths, CertificateAuthority, Overwrite};

/// Arguments of `ca`.
#[derive(Debug, clap::Args)]
pub struct CaArgs {
    /// What to do with the CA.
    #[command(subcommand)]
    pub command: CaCommand,
}

/// The `ca` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum CaCommand {
    /// Create a new CA: `ca.cert.pem` (give it to clients) and `ca.key.pem` (mode 0600,
    /// never commit it) in the directory.
    Init(InitArgs),
}

/// Arguments of `ca init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Directory for `ca.cert.pem` and `ca.key.pem` (created if missing).
    #[arg(long, default_value = "certs")]
    pub dir: PathBuf,
    /// Replace an existing CA. Clients trusting the old one must be given the new one.
    #[arg(long)]
    pub force: bool,
}

/// Runs `ca`.
pub(crate) fn run(args: CaArgs) -> ExitCode {
    match args.command {
        CaCommand::Init(init) => run_init(init),
    }
}

fn run_init(args: InitArgs) -> ExitCode {
    let paths = CaPaths::in_dir(&args.dir);
    let overwrite = if args.force {
        Overwrite::Force
    } else {
        Overwrite::Refuse
    };
    let result = CertificateAuthority::generate().and_then(|ca| {
        ca.write(&paths, overwrite)?;
        Ok(ca)
    });
    match result {
        Ok(ca) => {
            println!("created {}", ca.subject());
            println!("  certificate: {}", paths.cert.display());
            println!(
                "  private key: {} (mode 0600; never commit or share it)",
                paths.key.display()
            );
            println!("trust it, e.g.:");
            println!("  export AWS_CA_BUNDLE={}", paths.cert.display());
            println!("  curl --cacert {} ...", paths.cert.display());
            println!(
                "see certs/README.md for the system store, REQUESTS_CA_BUNDLE and SSL_CERT_FILE"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
