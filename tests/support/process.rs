//! Child processes that die with the test: spawning, free ports, readiness waits, logs.
//!
//! Owns [`ChildGuard`] (a spawned server whose whole process group is killed on drop, even
//! when the test panics) and the helpers to start one on a free loopback port. A watchdog
//! shell in the child's process group kills the group within about a second if the test
//! process itself dies without running destructors (SIGKILL, Ctrl-C), so no server outlives
//! its test. It does not know about any particular server; `moto.rs`, `s3s.rs` and the
//! proxy tests build on it.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server gets to come up before the test fails.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How many times a server is restarted on a new port when its port was taken meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// Path of the `sigv4-proxy` binary that cargo built for this test run.
pub(crate) fn proxy_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sigv4-proxy"))
}

/// Returns a loopback port that was free a moment ago.
///
/// Binds `127.0.0.1:0`, reads the port and closes the socket. Another process can still
/// take the port before the server binds it; [`spawn_on_free_port`] detects that and
/// retries. Ports handed out by this process are never handed out twice.
pub(crate) fn free_port() -> u16 {
    static GIVEN: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    let given = GIVEN.get_or_init(|| Mutex::new(HashSet::new()));
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener
            .local_addr()
            .expect("local_addr of a bound socket")
            .port();
        drop(listener);
        let mut given = given
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if given.insert(port) {
            return port;
        }
    }
}

/// What tells us that a freshly spawned server is ready.
#[derive(Debug, Clone)]
pub(crate) enum Ready {
    /// The TCP port accepts connections.
    Port,
    /// A line containing this text appeared on stdout or stderr, then the port accepts
    /// connections. Use it when another process might already be listening on the port
    /// (a lost race for a free port): the text proves *our* process bound it.
    OutputThenPort(String),
}

/// A spawned child process, killed with its whole process group on drop.
///
/// stdout and stderr go to files in a temporary directory. When the test panics, drop
/// prints the tail of both and keeps the directory so the full logs can be read.
#[derive(Debug)]
pub(crate) struct ChildGuard {
    name: String,
    child: Child,
    watchdog: Option<Child>,
    logs: TempDir,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
}

impl ChildGuard {
    /// Spawns `cmd` (stdin null, stdout/stderr to log files) in its own process group.
    ///
    /// `name` labels log messages and the log directory. Panics if the program cannot
    /// be started.
    pub(crate) fn spawn(name: &str, mut cmd: Command) -> ChildGuard {
        let logs = tempfile::Builder::new()
            .prefix(&format!("{name}-logs-"))
            .tempdir()
            .expect("create a log directory");
        let stdout_path = logs.path().join("stdout.log");
        let stderr_path = logs.path().join("stderr.log");
        let stdout = File::create(&stdout_path).expect("create stdout log");
        let stderr = File::create(&stderr_path).expect("create stderr log");
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        let watchdog = spawn_watchdog(child.id());
        ChildGuard {
            name: name.to_owned(),
            child,
            watchdog,
            logs,
            stdout_path,
            stderr_path,
        }
    }

    /// The process id (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The label given at spawn.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The file that receives the child's stdout.
    pub(crate) fn stdout_path(&self) -> &Path {
        &self.stdout_path
    }

    /// The file that receives the child's stderr.
    pub(crate) fn stderr_path(&self) -> &Path {
        &self.stderr_path
    }

    /// Everything the child wrote to stdout so far (lossy UTF-8).
    pub(crate) fn stdout(&self) -> String {
        read_lossy(&self.stdout_path)
    }

    /// Everything the child wrote to stderr so far (lossy UTF-8).
    pub(crate) fn stderr(&self) -> String {
        read_lossy(&self.stderr_path)
    }

    /// The exit status if the child has exited, `None` while it runs.
    pub(crate) fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait on our own child")
    }

    /// Waits until `addr` accepts TCP connections.
    ///
    /// Fails early, with the child's stderr tail, if the child exits meanwhile.
    pub(crate) fn wait_for_port(
        &mut self,
        addr: SocketAddr,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_exit_status() {
                return Err(self.exited_message(status));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not accept connections on {addr} within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a line of stdout or stderr contains `needle`; returns that line.
    ///
    /// Fails early if the child exits first. Useful for servers that print the address
    /// they bound (`--listen 127.0.0.1:0`); see [`find_socket_addr`].
    pub(crate) fn wait_for_output(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Read the logs before checking for exit, so a line written just before
            // exiting is still found.
            let found = [&self.stdout_path, &self.stderr_path]
                .into_iter()
                .find_map(|path| find_line(path, needle));
            if let Some(line) = found {
                return Ok(line);
            }
            if let Some(status) = self.try_exit_status() {
                return Err(self.exited_message(status));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} printed no line containing {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends a signal (`"TERM"`, `"INT"`, `"HUP"`, ...) to the child's process group.
    pub(crate) fn signal(&self, signal: &str) {
        signal_group(self.pid(), signal);
    }

    /// Sends SIGTERM to the process group and waits up to `timeout` for the child to exit
    /// (then SIGKILL). Returns the exit status, e.g. to test graceful shutdown.
    pub(crate) fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_exit_status() {
                return status;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.signal("KILL");
        self.child.wait().expect("wait on our own child")
    }

    /// The last lines of stdout and stderr, labelled, for failure messages.
    pub(crate) fn log_tail(&self) -> String {
        format!(
            "--- {name} stdout (tail of {out}) ---\n{stdout}\n--- {name} stderr (tail of {err}) ---\n{stderr}",
            name = self.name,
            out = self.stdout_path.display(),
            err = self.stderr_path.display(),
            stdout = tail(&self.stdout(), 40),
            stderr = tail(&self.stderr(), 40),
        )
    }

    fn exited_message(&self, status: ExitStatus) -> String {
        format!(
            "{} exited early with {status}\n{}",
            self.name,
            self.log_tail()
        )
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.log_tail());
            self.logs.disable_cleanup(true);
            eprintln!(
                "(logs of {} kept in {})",
                self.name,
                self.logs.path().display()
            );
        }
        signal_group(self.pid(), "KILL");
        // Reap both so no zombie remains; errors here cannot be handled usefully.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(watchdog) = &mut self.watchdog {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
    }
}

/// Starts a server on a free loopback port and waits until it is ready.
///
/// `make_cmd` builds the command for a given port. When the server exits before it is
/// ready because the port was taken meanwhile ("address already in use"), it is started
/// again on another port, up to a few times. Any other early exit or a timeout panics
/// with the server's log tail.
pub(crate) fn spawn_on_free_port(
    name: &str,
    ready: Ready,
    mut make_cmd: impl FnMut(u16) -> Command,
) -> (ChildGuard, u16) {
    let mut last_error = String::new();
    for _ in 0..PORT_ATTEMPTS {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut guard = ChildGuard::spawn(name, make_cmd(port));
        let result = match &ready {
            Ready::Port => guard.wait_for_port(addr, READY_TIMEOUT),
            Ready::OutputThenPort(needle) => guard
                .wait_for_output(needle, READY_TIMEOUT)
                .and_then(|_| guard.wait_for_port(addr, READY_TIMEOUT)),
        };
        match result {
            Ok(()) => return (guard, port),
            Err(message) if is_addr_in_use(&guard) => last_error = message,
            Err(message) => panic!("{message}"),
        }
    }
    panic!("{name}: every port tried was already in use; last attempt:\n{last_error}");
}

/// Finds the first `IP:port` socket address in `text` (e.g. a "listening on" line).
pub(crate) fn find_socket_addr(text: &str) -> Option<SocketAddr> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '(' | ')' | '/'))
        .filter(|word| !word.is_empty())
        .find_map(|word| word.trim_end_matches(['.', ';']).parse().ok())
}

fn is_addr_in_use(guard: &ChildGuard) -> bool {
    let logs = format!("{}\n{}", guard.stdout(), guard.stderr()).to_ascii_lowercase();
    logs.contains("address already in use")
        || logs.contains("addrinuse")
        || logs.contains("os error 98")
}

/// Kills the group `pgid` once the test process (our pid) is gone.
///
/// The watchdog joins the group itself, so killing the group on drop also ends it.
fn spawn_watchdog(pgid: u32) -> Option<Child> {
    let script = r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; kill -s KILL -- "-$2""#;
    Command::new("sh")
        .args(["-c", script, "watchdog"])
        .arg(std::process::id().to_string())
        .arg(pgid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(i32::try_from(pgid).expect("pids fit in i32"))
        .spawn()
        // Without a watchdog the guard still kills the group on drop; only a hard kill
        // of the test process would leave the server behind.
        .ok()
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read_lossy(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

fn find_line(path: &Path, needle: &str) -> Option<String> {
    let file = File::open(path).ok()?;
    BufReader::new(file)
        .split(b'\n')
        .map_while(Result::ok)
        .map(|line| String::from_utf8_lossy(&line).into_owned())
        .find(|line| line.contains(needle))
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
