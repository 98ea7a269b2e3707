//! `TestServer`: the real `stowage` binary serving on port 0 over a temporary data
//! directory, with the process controls the durability tests need (kill -9,
//! SIGTERM, restart on the same directory); or, built with `in_process()`, the
//! same server code inside the test process (`in_process.rs`), whose delivery
//! clock a test can move. Process controls refuse in that mode.
//!
//! The process is killed and reaped on drop (an in-process server is stopped
//! and joined), then the directory is removed. The server's stderr (its logs)
//! goes to a file next to the data directory so that a failing test can show it.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};
use stowage::delivery::Clock;
use tempfile::TempDir;

use super::in_process::{self, InProcess};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_stowage");

/// How long a server may take to print its address (a debug build on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `terminate` waits for a graceful exit.
const TERM_TIMEOUT: Duration = Duration::from_secs(20);

/// How to start a server; `TestServer::builder()` makes one.
#[derive(Clone, Default)]
pub struct Builder {
    args: Vec<String>,
    env: Vec<(String, String)>,
    config_toml: Option<String>,
    data_dir: Option<PathBuf>,
    wrapper: Vec<OsString>,
    in_process: bool,
}

impl Builder {
    /// Sets an environment variable for the server, e.g. `STOWAGE_INGEST__MAX_EVENT_BYTES`.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Adds arguments after `serve --listen … --data-dir …`.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Passes this TOML as `--config <file>`.
    pub fn config_toml(mut self, toml: &str) -> Self {
        self.config_toml = Some(toml.into());
        self
    }

    /// Uses `dir` as the data directory instead of one inside the temp dir. The
    /// caller owns `dir` and its cleanup.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.data_dir = Some(dir.to_path_buf());
        self
    }

    /// Runs the server under `argv` (e.g. strace and its flags), which must exec
    /// the server as its direct child.
    pub fn wrapper<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.wrapper = argv.into_iter().map(Into::into).collect();
        self
    }

    /// Runs the server inside the test process rather than as `stowage serve`:
    /// same code, same config (TOML and `env` apply), and `TestServer::clock`.
    /// No process controls, no `args`, no `wrapper`, no captured logs.
    pub fn in_process(mut self) -> Self {
        self.in_process = true;
        self
    }

    pub async fn start(self) -> TestServer {
        assert!(
            !self.in_process || (self.args.is_empty() && self.wrapper.is_empty()),
            "an in-process server takes no command-line args and no wrapper"
        );
        let root = tempfile::Builder::new()
            .prefix("stowage-it-")
            .tempdir()
            .expect("create a temp dir");
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| root.path().join("data"));
        let config_file = self.config_toml.as_ref().map(|toml| {
            let path = root.path().join("stowage.toml");
            std::fs::write(&path, toml).expect("write the config file");
            path
        });
        let mut server = TestServer {
            log_file: root.path().join("stderr.log"),
            root,
            data_dir,
            config_file,
            builder: self,
            running: None,
            in_process: None,
            addr: None,
        };
        if server.builder.in_process {
            let config = in_process::config(
                &server.data_dir,
                server.builder.config_toml.as_deref(),
                &server.builder.env,
            );
            let running = InProcess::start(config).await;
            server.addr = Some(running.addr());
            server.in_process = Some(running);
        } else {
            server.spawn().await;
        }
        server
    }
}

struct Running {
    /// The process we spawned: the server, or its wrapper.
    child: Child,
    /// The server process itself.
    pid: Pid,
}

pub struct TestServer {
    builder: Builder,
    data_dir: PathBuf,
    config_file: Option<PathBuf>,
    log_file: PathBuf,
    running: Option<Running>,
    /// Set in in-process mode, for the server's whole life.
    in_process: Option<InProcess>,
    addr: Option<SocketAddr>,
    // Last: removed after the process (or the in-process server) is gone.
    root: TempDir,
}

impl TestServer {
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// A server with default config.
    pub async fn start() -> TestServer {
        Builder::default().start().await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the server has been started")
    }

    /// `http://ADDR` of the current process (the port changes on restart).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Delivery's clock, to move it forward (`advance`); in-process mode only.
    pub fn clock(&self) -> &Clock {
        self.in_process
            .as_ref()
            .expect("the delivery clock is reachable in-process only: build with .in_process()")
            .clock()
    }

    /// Panics, naming `what`, when the server runs in-process.
    fn process_only(&self, what: &str) {
        assert!(
            self.in_process.is_none(),
            "{what} needs a server process; this TestServer runs in-process"
        );
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.process_only("pid");
        let pid = self.running.as_ref().expect("running").pid.as_raw_nonzero();
        u32::try_from(pid.get()).expect("pids are positive")
    }

    /// The temp dir holding the data dir, the config file and the server's logs.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Everything the server (all its runs) wrote to stderr.
    pub fn logs(&self) -> String {
        if self.in_process.is_some() {
            return "(an in-process server's logs are not captured)".into();
        }
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// CPU time (user + system) the server process has used so far.
    pub fn cpu_time(&self) -> Duration {
        self.process_only("cpu_time");
        let pid = self.running.as_ref().expect("running").pid.as_raw_nonzero();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
        // Fields after the command name (which may hold spaces) start at `)`.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let ticks: u64 =
            fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
        // Linux reports in clock ticks of 1/100 s on every platform we run on.
        Duration::from_millis(ticks * 10)
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        self.process_only("is_running");
        match &mut self.running {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// SIGKILLs the server and reaps it.
    pub async fn kill9(&mut self) {
        self.process_only("kill9");
        let pid = self.running.as_ref().expect("the server is running").pid;
        // ESRCH if it already died; the wait below still reaps it.
        let _ = kill_process(pid, Signal::KILL);
        let status = self.wait_exit(TERM_TIMEOUT).await;
        assert!(status.is_some(), "server did not die after SIGKILL");
    }

    /// Sends SIGTERM without waiting.
    pub fn signal_term(&self) {
        self.signal(Signal::TERM);
    }

    /// Sends `signal` to the server process without waiting.
    pub fn signal(&self, signal: Signal) {
        self.process_only("signal");
        let pid = self.running.as_ref().expect("the server is running").pid;
        kill_process(pid, signal).expect("send the signal");
    }

    /// SIGTERM, then waits (bounded) for the process to exit; returns its status.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.signal_term();
        match self.wait_exit(TERM_TIMEOUT).await {
            Some(status) => status,
            None => {
                let logs = self.logs();
                self.kill_now();
                panic!("server did not exit within {TERM_TIMEOUT:?} of SIGTERM; logs:\n{logs}");
            }
        }
    }

    /// Waits up to `timeout` for the process to exit; `None` if it did not.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process_only("wait_exit");
        let deadline = Instant::now() + timeout;
        loop {
            let running = self.running.as_mut()?;
            if let Some(status) = running.child.try_wait().expect("poll the child") {
                self.running = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts the server again on the same data dir. The previous process must
    /// have exited (`kill9`, `terminate`).
    pub async fn restart(&mut self) {
        self.process_only("restart");
        assert!(
            !self.is_running(),
            "restart needs the previous process stopped first"
        );
        self.running = None;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let mut command = match self.builder.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        command
            .arg("serve")
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&self.data_dir);
        if let Some(file) = &self.config_file {
            command.arg("--config").arg(file);
        }
        command.args(&self.builder.args);
        // Hermetic: nothing from the test runner's environment configures the server.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("STOWAGE_") || key == "RUST_LOG" {
                command.env_remove(key.as_ref());
            }
        }
        command.envs(self.builder.env.iter().map(|(k, v)| (k, v)));
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file)
            .expect("open the server log file");
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log));
        let mut child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot run {:?}: {e}",
                self.builder
                    .wrapper
                    .first()
                    .map_or(BIN.into(), |w| w.clone())
            )
        });
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = tokio::sync::oneshot::channel();
        // Reads the first line, then drains stdout until the process exits.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines.by_ref() {}
        });
        let child_pid = Pid::from_child(&child);
        self.running = Some(Running {
            child,
            pid: child_pid,
        });
        let line = match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(Some(line))) => line,
            Ok(_) => {
                let status = self.wait_exit(Duration::from_secs(5)).await;
                panic!(
                    "server exited before printing its address ({status:?}); logs:\n{}",
                    self.logs()
                );
            }
            Err(_) => {
                self.kill_now();
                panic!(
                    "server did not print its address within {START_TIMEOUT:?}; logs:\n{}",
                    self.logs()
                );
            }
        };
        let addr = line
            .strip_prefix("stowage listening on http://")
            .and_then(|a| a.trim().parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("unexpected first stdout line {line:?}"));
        self.addr = Some(addr);
        if !self.builder.wrapper.is_empty() {
            let pid = child_of(child_pid).unwrap_or_else(|| {
                self.kill_now();
                panic!("cannot find the server process under its wrapper")
            });
            if let Some(running) = &mut self.running {
                running.pid = pid;
            }
        }
    }

    /// SIGKILLs the server (and its wrapper) and reaps it, synchronously.
    fn kill_now(&mut self) {
        if let Some(mut running) = self.running.take() {
            let _ = kill_process(running.pid, Signal::KILL);
            let _ = running.child.kill();
            let _ = running.child.wait();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// The pid of `parent`'s child process (the first found), from `/proc`.
fn child_of(parent: Pid) -> Option<Pid> {
    let parent = parent.as_raw_nonzero().get();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may contain spaces, so split after ')'.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if ppid == Some(parent) {
            return Pid::from_raw(pid);
        }
    }
    None
}

/// Runs `stowage serve` on port 0 over `dir/data` with extra `args` and `env`,
/// expecting it to refuse to start: it must exit by itself within 30 s.
pub async fn serve_expecting_exit(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = serve_command(&dir.join("data"));
    command.args(args).envs(env.iter().copied());
    output_of_refused(command).await
}

/// `stowage serve` on port 0 over `data_dir`, with none of the runner's
/// `STOWAGE_*`/`RUST_LOG` variables; add args and env, then run it.
pub fn serve_command(data_dir: &Path) -> tokio::process::Command {
    serve_command_of(Path::new(BIN), data_dir)
}

/// `serve_command` running the binary at `bin` (a copy another user may run).
pub fn serve_command_of(bin: &Path, data_dir: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(bin);
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("STOWAGE_") || key == "RUST_LOG" {
            command.env_remove(key.as_ref());
        }
    }
    command
}

/// Runs a `serve` `command` expected to refuse to start: it must exit by itself
/// within 30 s.
pub async fn output_of_refused(mut command: tokio::process::Command) -> Output {
    tokio::time::timeout(Duration::from_secs(30), command.output())
        .await
        .unwrap_or_else(|_| panic!("{command:?} kept running; expected it to refuse"))
        .expect("run stowage serve")
}

/// How a test stops the server before restarting it.
#[derive(Clone, Copy, Debug)]
pub enum Stop {
    /// SIGTERM; the process must exit 0.
    Graceful,
    /// SIGKILL.
    Kill9,
}

impl Stop {
    pub async fn apply(self, server: &mut TestServer) {
        match self {
            Stop::Graceful => {
                let status = server.terminate().await;
                assert!(status.success(), "exit after SIGTERM: {status:?}");
            }
            Stop::Kill9 => server.kill9().await,
        }
    }
}
