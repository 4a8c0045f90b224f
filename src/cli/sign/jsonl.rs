//! `sign --jsonl`: one JSON request per input line, one JSON result per output line,
//! in order. A bad line yields `{"line": N, "error": "..."}` and the rest go on.

use std::io::{BufRead, Write};
use std::time::SystemTime;

use base64::Engine as _;
use serde::Deserialize;

use crate::credentials::Credentials;
use crate::sigv4::SigningKeyCache;

use super::error::CliError;
use super::job::{sign_job, SignJob};

/// One input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonlRequest {
    #[serde(default)]
    method: Option<String>,
    url: String,
    #[serde(default)]
    headers: Vec<(String, String)>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    body_base64: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    unsigned_payload: bool,
    #[serde(default)]
    presign_expires: Option<u64>,
}

fn to_job(line: &str) -> Result<SignJob, String> {
    let req: JsonlRequest = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let body = match (req.body, req.body_base64) {
        (Some(_), Some(_)) => return Err("give either body or body_base64, not both".into()),
        (Some(b), None) => b.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|e| format!("invalid body_base64: {e}"))?,
        (None, None) => Vec::new(),
    };
    Ok(SignJob {
        method: req.method.unwrap_or_else(|| "GET".into()),
        url: req.url,
        headers: req.headers,
        body,
        service: req.service,
        region: req.region,
        timestamp: req.timestamp,
        unsigned_payload: req.unsigned_payload,
        presign_expires: req.presign_expires,
        ..SignJob::default()
    })
}

/// Processes every line of `input`, writing one result line per non-blank input line.
/// Returns how many lines failed.
pub(crate) fn run_jsonl(
    input: impl BufRead,
    mut output: impl Write,
    creds: &Credentials,
    now: impl Fn() -> SystemTime,
) -> Result<usize, CliError> {
    let cache = SigningKeyCache::new();
    let mut failures = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| CliError::io("reading standard input", e))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = to_job(&line)
            .and_then(|job| sign_job(&job, creds, &cache, now()).map_err(|e| e.to_string()));
        let text = match result {
            Ok(signed) => serde_json::to_string(&signed),
            Err(error) => {
                failures += 1;
                serde_json::to_string(&serde_json::json!({ "line": i + 1, "error": error }))
            }
        }
        .map_err(|e| CliError::io("encoding JSON", std::io::Error::other(e)))?;
        writeln!(output, "{text}").map_err(|e| CliError::io("writing standard output", e))?;
    }
    output
        .flush()
        .map_err(|e| CliError::io("writing standard output", e))?;
    Ok(failures)
}
