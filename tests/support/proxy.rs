//! [`SigningProxy`]: the real `sigv4-proxy` binary, started on ephemeral loopback ports
//! from a configuration text or from flags, with its own credentials in its environment.
//! Killed on drop (log tail printed when the test panics), like every harness process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::cmd::{aws, isolated_command, CmdOutput};
use super::process::{find_socket_addr, proxy_bin, ChildGuard, READY_TIMEOUT};

/// A running `sigv4-proxy serve`.
pub(crate) struct SigningProxy {
    process: ChildGuard,
    dir: TempDir,
    listeners: Vec<(String, SocketAddr)>,
}

impl std::fmt::Debug for SigningProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningProxy")
            .field("listeners", &self.listeners)
            .field("pid", &self.process.pid())
            .finish()
    }
}

impl SigningProxy {
    /// Writes `config` to a temporary `config.toml` and runs `serve --config` on it with
    /// `env` (credentials, `RUST_LOG`). Listeners should use `listen = "127.0.0.1:0"`.
    pub(crate) fn start(config: &str, env: &[(&str, &str)]) -> SigningProxy {
        Self::start_config(None, config, env)
    }

    /// As [`Self::start`], with the proxy started by `sh -c SCRIPT`, which must end in
    /// `exec "$0" "$@"`: e.g. `ulimit -Sn 256; exec "$0" "$@"` to run it under limits of
    /// its own. The pid is the proxy's (the shell execs it).
    pub(crate) fn start_under_shell(
        script: &str,
        config: &str,
        env: &[(&str, &str)],
    ) -> SigningProxy {
        Self::start_config(Some(script), config, env)
    }

    fn start_config(shell: Option<&str>, config: &str, env: &[(&str, &str)]) -> SigningProxy {
        let dir = tempfile::Builder::new()
            .prefix("sigv4-proxy-test-")
            .tempdir()
            .expect("create a config directory");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write config.toml");
        let args = vec![
            "serve".to_owned(),
            "--config".to_owned(),
            path.display().to_string(),
        ];
        Self::spawn(dir, shell, &args, env)
    }

    /// Runs `sigv4-proxy ARGS` (e.g. `serve --upstream URL --listen 127.0.0.1:0`).
    pub(crate) fn start_args(args: &[&str], env: &[(&str, &str)]) -> SigningProxy {
        let dir = tempfile::Builder::new()
            .prefix("sigv4-proxy-test-")
            .tempdir()
            .expect("create a working directory");
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        Self::spawn(dir, None, &args, env)
    }

    fn spawn(
        dir: TempDir,
        shell: Option<&str>,
        args: &[String],
        env: &[(&str, &str)],
    ) -> SigningProxy {
        let mut cmd = match shell {
            None => isolated_command(proxy_bin()),
            Some(script) => {
                let mut cmd = isolated_command("sh");
                cmd.arg("-c").arg(script).arg(proxy_bin());
                cmd
            }
        };
        cmd.args(args)
            .current_dir(dir.path())
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut process = ChildGuard::spawn("sigv4-proxy", cmd);
        if let Err(e) = process.wait_for_output("sigv4-proxy ready", READY_TIMEOUT) {
            panic!("sigv4-proxy did not start: {e}");
        }
        let listeners = process
            .stdout()
            .lines()
            .filter(|l| l.starts_with("listening on"))
            .map(|l| {
                let name = l
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("listener="))
                    .unwrap_or_default()
                    .to_owned();
                (
                    name,
                    find_socket_addr(l).expect("address in the listening line"),
                )
            })
            .collect();
        SigningProxy {
            process,
            dir,
            listeners,
        }
    }

    /// The address of the listener called `name`.
    pub(crate) fn addr(&self, name: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no listener {name:?} in {:?}", self.listeners))
    }

    /// `http://ADDR` of the listener called `name`.
    pub(crate) fn endpoint(&self, name: &str) -> String {
        format!("http://{}", self.addr(name))
    }

    /// awscli through the listener called `name`, with `--no-sign-request` (the proxy
    /// signs).
    pub(crate) fn aws(&self, name: &str, args: &[&str]) -> CmdOutput {
        let mut all = vec!["--no-sign-request"];
        all.extend_from_slice(args);
        aws(&all, Some(&self.endpoint(name)), &[])
    }

    /// The proxy's log so far (stderr).
    pub(crate) fn log(&self) -> String {
        self.process.stderr()
    }

    /// Everything the proxy wrote so far, stdout then stderr.
    pub(crate) fn output(&self) -> String {
        format!("{}{}", self.process.stdout(), self.process.stderr())
    }

    /// Waits until the log contains `needle` (access lines are written when a response
    /// ends, which can be just after the client has its answer).
    pub(crate) fn wait_for_log(&mut self, needle: &str) -> String {
        match self
            .process
            .wait_for_output(needle, Duration::from_secs(10))
        {
            Ok(line) => line,
            Err(e) => panic!("{needle:?} not in the proxy log: {e}"),
        }
    }

    /// The working directory (holds `config.toml` when started from a text).
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process, e.g. to send signals.
    pub(crate) fn process_mut(&mut self) -> &mut ChildGuard {
        &mut self.process
    }
}

/// A file of `len` pseudo-random bytes (deterministic per `seed`) in `dir`.
pub(crate) fn data_file(dir: &Path, name: &str, len: usize, seed: u64) -> PathBuf {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data.extend_from_slice(&x.to_le_bytes());
    }
    data.truncate(len);
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write data file");
    path
}
