//! The server process a bench drives: the real `stowage serve` (or another
//! server binary that prints its address the same way) on 127.0.0.1:0 with a
//! temporary data directory, and its CPU time and RSS read from /proc.
//!
//! It does not generate load or judge results; each bench does that (with the
//! keep-alive client connection and the publish request built here).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A server process under test, stopped (SIGKILL) and its data removed on drop.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Server {
    /// `stowage serve` with the default config (and the `STOWAGE_*` settings
    /// of this process's environment).
    pub fn stowage() -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let child = Command::new(env!("CARGO_BIN_EXE_stowage"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start stowage");
        Server::started(child, dir, "stowage listening on http://")
    }

    /// Waits for the child's first stdout line, `{prefix}{addr}`.
    pub fn started(mut child: Child, dir: tempfile::TempDir, prefix: &str) -> Server {
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let addr = line
            .trim()
            .strip_prefix(prefix)
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, addr, dir }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Bytes in the data directory's top level (sled keeps its files there), MiB.
    pub fn data_mib(&self) -> f64 {
        let mut bytes = 0u64;
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
        bytes as f64 / (1024.0 * 1024.0)
    }

    /// CPU ticks (user + system, 1/100 s) the process has used so far.
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        let field = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        field(11) + field(12) // utime, stime (fields 14 and 15 of stat)
    }

    pub fn rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Linux USER_HZ: the unit of `cpu_ticks`.
pub const TICKS_PER_SEC: f64 = 100.0;

/// The environment variable `name` parsed, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One HTTP/1.1 keep-alive connection to `addr` (no Nagle delay), its driver
/// spawned on the current runtime.
pub async fn keep_alive(addr: SocketAddr) -> SendRequest<Full<Bytes>> {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    sender
}

/// A `POST path` of the JSON `body`.
pub fn post_json(path: &str, body: &Bytes) -> Request<Full<Bytes>> {
    Request::post(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .expect("request")
}
