//! `sigv4-proxy sign`, `presign` and `codecommit-password`: sign from the command
//! line and print every intermediate step, a presigned URL, or a Git password.
//!
//! Argument definitions and dispatch live here; the signing job, formats, JSONL mode
//! and the credentials seam are in `sign/`. All signing goes through
//! [`crate::sigv4`]; this module owns only I/O and presentation.

mod credentials_seam;
mod error;
mod format;
mod job;
mod jsonl;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use crate::sigv4::{codecommit_git_credentials, parse_timestamp, SigningKeyCache};

pub(crate) use credentials_seam::CredentialArgs;
pub(crate) use error::CliError;
pub(crate) use format::OutputFormat;

use credentials_seam::cli_credentials;
use format::{curl_command, headers_text, BodySource};
use job::{parse_header, parse_url, sign_job, SignJob};

/// Arguments of `sign`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// The full URL, e.g. https://sqs.us-east-1.amazonaws.com/?Action=ListQueues.
    #[arg(long, required_unless_present = "jsonl")]
    url: Option<String>,
    /// A request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The request body.
    #[arg(long, conflicts_with_all = ["data_file", "stdin"])]
    data: Option<String>,
    /// Read the request body from a file ('-' for standard input).
    #[arg(long, value_name = "PATH", conflicts_with = "stdin")]
    data_file: Option<PathBuf>,
    /// '-': read the request body from standard input.
    #[arg(value_name = "-")]
    stdin: Option<String>,
    /// Service signing name (inferred from the URL when omitted).
    #[arg(long)]
    service: Option<String>,
    /// Region (inferred from the URL when omitted).
    #[arg(long)]
    region: Option<String>,
    /// Signing time, 20150830T123600Z or 2015-08-30T12:36:00Z (default: now).
    #[arg(long)]
    timestamp: Option<String>,
    /// Sign with UNSIGNED-PAYLOAD instead of the body's SHA-256.
    #[arg(long)]
    unsigned_payload: bool,
    /// Add and sign x-amz-content-sha256 (always on for S3).
    #[arg(long)]
    content_sha256: bool,
    /// Sign with SigV4a (AWS4-ECDSA-P256-SHA256).
    #[arg(long)]
    sigv4a: bool,
    /// SigV4a region set, e.g. '*' or 'us-east-1,us-west-2' (default: the region).
    #[arg(long, requires = "sigv4a")]
    region_set: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: OutputFormat,
    /// Read one JSON request per line from standard input; print one JSON result per line.
    #[arg(long, conflicts_with_all = ["url", "data", "data_file", "stdin", "headers"])]
    jsonl: bool,
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// How `presign` prints its result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum PresignFormat {
    /// Just the presigned URL.
    #[default]
    Url,
    /// The JSON of `sign`, with `url` presigned.
    Json,
}

/// Arguments of `presign`.
#[derive(Debug, clap::Args)]
pub struct PresignArgs {
    /// The full URL to presign.
    #[arg(long)]
    url: String,
    /// HTTP method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// Validity in seconds (1 to 604800).
    #[arg(long, default_value_t = 3600)]
    expires: u64,
    /// A header the user of the URL will send, 'Name: value' (repeatable; signed).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Service signing name (inferred from the URL when omitted).
    #[arg(long)]
    service: Option<String>,
    /// Region (inferred from the URL when omitted).
    #[arg(long)]
    region: Option<String>,
    /// Signing time, 20150830T123600Z or 2015-08-30T12:36:00Z (default: now).
    #[arg(long)]
    timestamp: Option<String>,
    /// Sign with SigV4a.
    #[arg(long)]
    sigv4a: bool,
    /// SigV4a region set (default: the region).
    #[arg(long, requires = "sigv4a")]
    region_set: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: PresignFormat,
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// Arguments of `codecommit-password`.
#[derive(Debug, clap::Args)]
pub struct CodecommitArgs {
    /// The repository's HTTPS URL, e.g.
    /// https://git-codecommit.us-east-1.amazonaws.com/v1/repos/my-repo.
    #[arg(long)]
    url: String,
    /// Region (inferred from the URL when omitted).
    #[arg(long)]
    region: Option<String>,
    /// Signing time (default: now).
    #[arg(long)]
    timestamp: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
}

/// Prints `err` and turns it into the exit code.
fn fail(command: &str, err: &CliError) -> ExitCode {
    eprintln!("sigv4-proxy {command}: {err}");
    err.exit_code()
}

fn write_stdout(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| CliError::io("writing standard output", e))
}

fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut buf = Vec::new();
    std::io::stdin()
        .read_to_end(&mut buf)
        .map_err(|e| CliError::io("reading standard input", e))?;
    Ok(buf)
}

fn parse_headers(args: &[String]) -> Result<Vec<(String, String)>, CliError> {
    args.iter().map(|h| parse_header(h)).collect()
}

/// Runs `sign`.
pub(crate) fn run_sign(args: SignArgs) -> ExitCode {
    match sign_main(args) {
        Ok(code) => code,
        Err(e) => fail("sign", &e),
    }
}

fn sign_main(args: SignArgs) -> Result<ExitCode, CliError> {
    let creds = cli_credentials(&args.credentials)?;
    if args.jsonl {
        let failures = jsonl::run_jsonl(
            std::io::stdin().lock(),
            std::io::stdout().lock(),
            &creds,
            SystemTime::now,
        )?;
        return Ok(if failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        });
    }
    let (body, source) = match (&args.data, &args.data_file, &args.stdin) {
        (Some(d), _, _) => (d.clone().into_bytes(), BodySource::Inline(d.clone())),
        (None, Some(p), _) if p.as_os_str() == "-" => (read_stdin()?, BodySource::Stdin),
        (None, Some(p), _) => (
            std::fs::read(p).map_err(|e| CliError::io(format!("reading {}", p.display()), e))?,
            BodySource::File(p.display().to_string()),
        ),
        (None, None, Some(dash)) if dash == "-" => (read_stdin()?, BodySource::Stdin),
        (None, None, Some(other)) => {
            return Err(CliError::Usage(format!(
                "unexpected argument {other:?} (use '-' to read the body from standard input)"
            )))
        }
        (None, None, None) => (Vec::new(), BodySource::None),
    };
    let job = SignJob {
        method: args.method,
        url: args.url.unwrap_or_default(),
        headers: parse_headers(&args.headers)?,
        body,
        service: args.service,
        region: args.region,
        timestamp: args.timestamp,
        unsigned_payload: args.unsigned_payload,
        content_sha256: args.content_sha256,
        presign_expires: None,
        sigv4a: args.sigv4a,
        region_set: args.region_set,
    };
    let signed = sign_job(&job, &creds, &SigningKeyCache::new(), SystemTime::now())?;
    let text = match args.format {
        OutputFormat::Json => to_json(&signed)?,
        OutputFormat::Headers => headers_text(&signed),
        OutputFormat::Curl => curl_command(&signed, &source),
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn to_json(value: &impl serde::Serialize) -> Result<String, CliError> {
    let mut s = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::io("encoding JSON", std::io::Error::other(e)))?;
    s.push('\n');
    Ok(s)
}

/// Runs `presign`.
pub(crate) fn run_presign(args: PresignArgs) -> ExitCode {
    match presign_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("presign", &e),
    }
}

fn presign_main(args: PresignArgs) -> Result<(), CliError> {
    let creds = cli_credentials(&args.credentials)?;
    let job = SignJob {
        method: args.method,
        url: args.url,
        headers: parse_headers(&args.headers)?,
        service: args.service,
        region: args.region,
        timestamp: args.timestamp,
        presign_expires: Some(args.expires),
        sigv4a: args.sigv4a,
        region_set: args.region_set,
        ..SignJob::default()
    };
    let signed = sign_job(&job, &creds, &SigningKeyCache::new(), SystemTime::now())?;
    match args.format {
        PresignFormat::Url => write_stdout(&format!("{}\n", signed.url)),
        PresignFormat::Json => write_stdout(&to_json(&signed)?),
    }
}

/// Runs `codecommit-password`: prints `username=` and `password=` lines (the Git
/// credential-helper format).
pub(crate) fn run_codecommit(args: CodecommitArgs) -> ExitCode {
    match codecommit_main(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("codecommit-password", &e),
    }
}

fn codecommit_main(args: CodecommitArgs) -> Result<(), CliError> {
    let creds = cli_credentials(&args.credentials)?;
    let url = parse_url(&args.url)?;
    let region = match args.region {
        Some(r) => r,
        None => crate::sigv4::infer_endpoint(url.host)?.region,
    };
    let time = match &args.timestamp {
        Some(t) => {
            parse_timestamp(t).ok_or_else(|| CliError::Usage(format!("invalid timestamp {t:?}")))?
        }
        None => SystemTime::now(),
    };
    let path = url
        .path_and_query
        .split_once('?')
        .map_or(url.path_and_query.as_str(), |(p, _)| p);
    let git = codecommit_git_credentials(&creds, &region, url.host_header, path, time, None)?;
    write_stdout(&format!(
        "username={}\npassword={}\n",
        git.username.expose(),
        git.password.expose()
    ))
}
