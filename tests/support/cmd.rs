//! Running client programs (awscli, curl, python/boto3) with an isolated environment.
//!
//! Owns [`Cmd`] (a command with a timeout, optional stdin and captured output), the
//! client helpers built on it, and [`isolated_command`] (the same clean environment for
//! long-running processes such as servers and the proxy). Every client starts from the test's environment minus
//! anything that could change its behaviour: all `AWS_*` variables, proxy variables and CA
//! bundle variables are removed, `HOME` is an empty temporary directory and the AWS config
//! files are `/dev/null`. What a test wants set, it sets explicitly. It does not start
//! servers (see `process.rs`).

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Default time limit for one client command.
pub(crate) const CMD_TIMEOUT: Duration = Duration::from_secs(180);

/// Region every client uses unless the test sets another.
pub(crate) const REGION: &str = "us-east-1";

/// Environment variables removed from every client's environment (plus all `AWS_*`).
const SCRUBBED: &[&str] = &[
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "BOTO_CONFIG",
    "PYTHONPATH",
];

/// A [`Command`] for a long-running process (a server, the proxy) with the scrubbed
/// environment: no inherited `AWS_*`, proxy or CA bundle variables; AWS config files
/// `/dev/null`; region `us-east-1`; IMDS disabled (no slow metadata probes). `HOME` is
/// left as is; set what the test needs on the returned command.
pub(crate) fn isolated_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars_os() {
        let scrub = key
            .to_str()
            .is_some_and(|k| k.starts_with("AWS_") || SCRUBBED.contains(&k));
        if scrub {
            cmd.env_remove(&key);
        }
    }
    cmd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PYTHONUNBUFFERED", "1");
    cmd
}

/// A command to run to completion, with a time limit and captured output.
#[derive(Debug)]
pub(crate) struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    current_dir: Option<PathBuf>,
}

impl Cmd {
    /// A command with the isolated base environment described in the module docs.
    pub(crate) fn new(program: impl Into<OsString>) -> Cmd {
        Cmd {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            timeout: CMD_TIMEOUT,
            current_dir: None,
        }
    }

    /// Appends one argument.
    pub(crate) fn arg(mut self, arg: impl Into<OsString>) -> Cmd {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub(crate) fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable (after the scrubbing, so it always wins).
    pub(crate) fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Cmd {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets several environment variables.
    pub(crate) fn envs<I, K, V>(mut self, vars: I) -> Cmd
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Feeds these bytes on stdin (default: stdin is empty/null).
    pub(crate) fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(bytes.into());
        self
    }

    /// Changes the time limit (default [`CMD_TIMEOUT`]).
    pub(crate) fn timeout(mut self, timeout: Duration) -> Cmd {
        self.timeout = timeout;
        self
    }

    /// Runs in this directory.
    pub(crate) fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.current_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs the command to completion and returns its output.
    ///
    /// A command still running at the time limit is killed; its output then has
    /// `timed_out` set and a failing status. Panics only if the program cannot start.
    pub(crate) fn run(self) -> CmdOutput {
        let scratch = tempfile::Builder::new()
            .prefix("cmd-")
            .tempdir()
            .expect("create a scratch directory");
        let home = scratch.path().join("home");
        fs::create_dir(&home).expect("create HOME");
        let out_path = scratch.path().join("stdout");
        let err_path = scratch.path().join("stderr");
        let described = self.describe();

        let mut cmd = isolated_command(&self.program);
        cmd.args(&self.args)
            .env("HOME", &home)
            .env("AWS_MAX_ATTEMPTS", "1")
            .env("AWS_RETRY_MODE", "standard")
            .env("AWS_PAGER", "")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(dir) = &self.current_dir {
            cmd.current_dir(dir);
        }
        match &self.stdin {
            Some(bytes) => {
                let in_path = scratch.path().join("stdin");
                fs::write(&in_path, bytes).expect("write stdin file");
                cmd.stdin(File::open(&in_path).expect("open stdin file"));
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        cmd.stdout(File::create(&out_path).expect("create stdout file"))
            .stderr(File::create(&err_path).expect("create stderr file"));

        let start = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {described}: {e}"));
        let (status, timed_out) = loop {
            if let Some(status) = child.try_wait().expect("try_wait on our own child") {
                break (status, false);
            }
            if start.elapsed() >= self.timeout {
                let _ = child.kill();
                break (child.wait().expect("wait on our own child"), true);
            }
            thread::sleep(Duration::from_millis(10));
        };
        CmdOutput {
            command: described,
            status,
            timed_out,
            stdout: fs::read(&out_path).unwrap_or_default(),
            stderr: fs::read(&err_path).unwrap_or_default(),
            elapsed: start.elapsed(),
        }
    }

    fn describe(&self) -> String {
        let mut text = self.program.to_string_lossy().into_owned();
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        text
    }
}

/// What a finished [`Cmd`] produced.
pub(crate) struct CmdOutput {
    /// The command line, for messages.
    pub(crate) command: String,
    /// Exit status.
    pub(crate) status: ExitStatus,
    /// True when the command was killed at its time limit.
    pub(crate) timed_out: bool,
    /// Raw stdout.
    pub(crate) stdout: Vec<u8>,
    /// Raw stderr.
    pub(crate) stderr: Vec<u8>,
    /// Wall time.
    pub(crate) elapsed: Duration,
}

impl CmdOutput {
    /// Whether the command exited with status 0 (and was not killed).
    pub(crate) fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// The exit code (`None` when killed by a signal).
    pub(crate) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout as (lossy) UTF-8.
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// stderr as (lossy) UTF-8.
    pub(crate) fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Panics with the full output unless the command succeeded.
    #[track_caller]
    pub(crate) fn assert_success(&self) -> &CmdOutput {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    /// Panics with the full output if the command succeeded.
    #[track_caller]
    pub(crate) fn assert_failure(&self) -> &CmdOutput {
        assert!(
            !self.success(),
            "command succeeded but should have failed:\n{self}"
        );
        assert!(
            !self.timed_out,
            "command timed out instead of failing:\n{self}"
        );
        self
    }

    /// Panics unless stdout or stderr contains `needle`.
    #[track_caller]
    pub(crate) fn assert_output_contains(&self, needle: &str) -> &CmdOutput {
        assert!(
            self.stdout_str().contains(needle) || self.stderr_str().contains(needle),
            "output does not contain {needle:?}:\n{self}"
        );
        self
    }

    /// Parses stdout as JSON (awscli's default output), panicking with the output if not.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "$ {}", self.command)?;
        writeln!(
            f,
            "status: {}{} after {:.1?}",
            self.status,
            if self.timed_out {
                " (killed at time limit)"
            } else {
                ""
            },
            self.elapsed
        )?;
        writeln!(f, "--- stdout ---\n{}", truncate(&self.stdout_str(), 8000))?;
        write!(f, "--- stderr ---\n{}", truncate(&self.stderr_str(), 8000))
    }
}

impl fmt::Debug for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    format!("[... {cut} bytes cut ...]{}", &text[cut..])
}

/// An awscli command, ready to run: `aws [--endpoint-url ENDPOINT] ARGS...`.
///
/// No credentials are set: add `--no-sign-request` (client → proxy) or pass
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` via `env` (e.g. [`crate::support::Moto::credentials_env`]).
/// Retries are off (`AWS_MAX_ATTEMPTS=1`) so refusals fail fast; set it in `env` to change.
pub(crate) fn aws_cmd(args: &[&str], endpoint: Option<&str>, env: &[(&str, &str)]) -> Cmd {
    let mut cmd = Cmd::new("aws");
    if let Some(endpoint) = endpoint {
        cmd = cmd.args(["--endpoint-url", endpoint]);
    }
    cmd.args(args).envs(env.iter().copied())
}

/// Runs awscli; see [`aws_cmd`].
pub(crate) fn aws(args: &[&str], endpoint: Option<&str>, env: &[(&str, &str)]) -> CmdOutput {
    aws_cmd(args, endpoint, env).run()
}

/// A curl command: `curl -q ARGS...` (`-q` ignores any `.curlrc`). No proxy variables set.
pub(crate) fn curl_cmd(args: &[&str]) -> Cmd {
    Cmd::new("curl").arg("-q").args(args)
}

/// Runs curl; see [`curl_cmd`]. Add `-sS` and `-w '%{http_code}'`/`-f` as the test needs.
pub(crate) fn curl(args: &[&str]) -> CmdOutput {
    curl_cmd(args).run()
}

/// A `python3 -c SCRIPT` command (boto3 available), with the isolated environment.
pub(crate) fn python_cmd(script: &str, env: &[(&str, &str)]) -> Cmd {
    Cmd::new("python3")
        .args(["-c", script])
        .envs(env.iter().copied())
}

/// Runs a python snippet; see [`python_cmd`].
pub(crate) fn python(script: &str, env: &[(&str, &str)]) -> CmdOutput {
    python_cmd(script, env).run()
}

/// Python prelude defining `unsigned_client(service, proxies=None, **kwargs)`: a boto3
/// client sending *unsigned* requests (`signature_version=UNSIGNED`, one attempt) to
/// `$ENDPOINT_URL` (or the real AWS endpoint when unset, for forward mode with `proxies`).
pub(crate) const BOTO3_UNSIGNED_PRELUDE: &str = r#"
import os, boto3
from botocore import UNSIGNED
from botocore.config import Config
def unsigned_client(service, proxies=None, **kwargs):
    config = Config(signature_version=UNSIGNED, retries={"max_attempts": 1}, proxies=proxies)
    return boto3.client(service, endpoint_url=os.environ.get("ENDPOINT_URL"), config=config, **kwargs)
"#;

/// Runs `script` after [`BOTO3_UNSIGNED_PRELUDE`] with `ENDPOINT_URL=endpoint` (if any),
/// e.g. `unsigned_client("s3").create_bucket(Bucket="b")` against the proxy.
pub(crate) fn boto3_unsigned(
    endpoint: Option<&str>,
    script: &str,
    env: &[(&str, &str)],
) -> CmdOutput {
    let full = format!("{BOTO3_UNSIGNED_PRELUDE}\n{script}");
    let mut cmd = python_cmd(&full, env);
    if let Some(endpoint) = endpoint {
        cmd = cmd.env("ENDPOINT_URL", endpoint);
    }
    cmd.run()
}
