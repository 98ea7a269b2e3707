//! The durability promise, checked at the syscall level: the real binary runs
//! under strace, and for every `200` it writes to a client, an fdatasync (or
//! fsync) of sled's data file `<data-dir>/db` returned after that request was
//! read and before the response was written. sled 0.34's own `flush()` only
//! issues `sync_file_range`, which does not count.
//!
//! strace is required: without it this test fails rather than pass unproven.

use std::collections::HashMap;
use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestServer, envelope};

const GATEWAY_PUBLISHES: usize = 20;
const PUT_EVENTS_CALLS: usize = 5;

/// What one strace line tells the check.
#[derive(Debug, PartialEq)]
enum Seen {
    /// A request's first bytes were read from a client socket.
    RequestRead { socket: String },
    /// An fdatasync/fsync of the db file returned 0.
    DbSynced,
    /// A `200` response started to be written to a client socket.
    OkWritten { socket: String },
}

/// Parses `strace -f -tt -yy` output into the events the check needs, in order.
/// An `<unfinished ...>` call is completed by its `<... resumed>` line on the
/// same pid; results (and read buffers) are only known at completion.
fn parse_trace(trace: &str, db: &str) -> Vec<(usize, Seen)> {
    let db_fd_suffix = format!("<{db}>");
    let mut unfinished: HashMap<&str, &str> = HashMap::new();
    let mut seen = Vec::new();
    for (number, line) in trace.lines().enumerate() {
        // `PID  HH:MM:SS.micros call…` (strace pads the pid with spaces).
        let Some((pid, after_pid)) = line.split_once(' ') else {
            continue;
        };
        let Some((_time, rest)) = after_pid.trim_start().split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        // The call as entered, and the text carrying its result.
        let (call, completion) = if let Some(resumed) = rest.strip_prefix("<... ") {
            match unfinished.remove(pid) {
                Some(call) => (call, Some(resumed)),
                None => continue,
            }
        } else if rest.ends_with("<unfinished ...>") {
            unfinished.insert(pid, rest);
            (rest, None)
        } else {
            (rest, Some(rest))
        };
        let call = call.trim_end_matches("<unfinished ...>").trim_end();
        let name = call.split('(').next().unwrap_or("");
        let args = call.get(name.len() + 1..).unwrap_or("");
        let on_socket = args
            .split(',')
            .next()
            .is_some_and(|fd| fd.contains("<TCP:[") || fd.contains("<socket:["));
        let socket = || args.split(',').next().unwrap_or("").to_string();
        let is_entry = !rest.starts_with("<... ");
        match name {
            "write" | "writev" | "sendto" | "sendmsg" if on_socket && is_entry => {
                // The data is printed at entry.
                let data = args.split_once('"').map_or("", |(_, d)| d);
                if data.starts_with("HTTP/1.1 200") {
                    seen.push((number, Seen::OkWritten { socket: socket() }));
                }
            }
            "read" | "recvfrom" if on_socket => {
                // The buffer is printed at completion, after the fd.
                let Some(done) = completion else { continue };
                let buffer = done.split_once('"').map_or("", |(_, d)| d);
                if buffer.starts_with("POST ") && !result_is_error(done) {
                    seen.push((number, Seen::RequestRead { socket: socket() }));
                }
            }
            "fdatasync" | "fsync" => {
                let Some(done) = completion else { continue };
                let fd = args.split(')').next().unwrap_or("");
                if fd.ends_with(&db_fd_suffix) && done.trim_end().ends_with("= 0") {
                    seen.push((number, Seen::DbSynced));
                }
            }
            _ => {}
        }
    }
    seen
}

fn result_is_error(done: &str) -> bool {
    done.rsplit_once(" = ")
        .is_some_and(|(_, result)| result.trim_start().starts_with('-'))
}

/// Checks that on every socket each `200` follows a db sync that followed the
/// read of its request; returns how many `200`s were checked.
fn check_sync_precedes_every_ok(seen: &[(usize, Seen)], trace: &str) -> usize {
    // Per socket: was the db synced since the last request was read?
    let mut synced_since_read: HashMap<&str, bool> = HashMap::new();
    let mut oks = 0;
    for (line, event) in seen {
        match event {
            Seen::RequestRead { socket } => {
                synced_since_read.insert(socket, false);
            }
            Seen::DbSynced => {
                for synced in synced_since_read.values_mut() {
                    *synced = true;
                }
            }
            Seen::OkWritten { socket } => {
                oks += 1;
                let synced = synced_since_read.get(socket.as_str()).copied();
                assert_eq!(
                    synced,
                    Some(true),
                    "strace line {}: a 200 was written on {socket} with no fdatasync/fsync of \
                     the db file since its request was read:\n{}",
                    line + 1,
                    context(trace, *line)
                );
                synced_since_read.insert(socket, false);
            }
        }
    }
    oks
}

fn context(trace: &str, line: usize) -> String {
    let lines: Vec<&str> = trace.lines().collect();
    lines[line.saturating_sub(15)..(line + 2).min(lines.len())].join("\n")
}

/// Fails (never skips) when strace is missing.
fn require_strace() {
    match std::process::Command::new("strace").arg("-V").output() {
        Ok(output) if output.status.success() => {}
        Ok(output) => panic!("strace -V failed: {output:?}"),
        Err(e) => panic!(
            "strace is not available ({e}). This test proves that an fdatasync precedes \
             every 200 and must not be skipped: install strace (apt-get install strace)."
        ),
    }
}

#[tokio::test]
async fn every_200_is_preceded_by_an_fdatasync_of_the_db_file_after_its_request() {
    require_strace();
    let root = tempfile::tempdir().expect("temp dir");
    let trace_file = root.path().join("strace.out");
    let data_dir = root.path().join("data");
    let mut server = TestServer::builder()
        .data_dir(&data_dir)
        .wrapper(
            [
                "strace",
                "-f",
                "-tt",
                "-yy",
                "-s",
                "64",
                "-e",
                "trace=fdatasync,fsync,sync_file_range,read,recvfrom,write,writev,sendto,sendmsg",
                "-o",
            ]
            .map(std::ffi::OsString::from)
            .into_iter()
            .chain([trace_file.clone().into_os_string()]),
        )
        .start()
        .await;

    // Sequential requests, on one keep-alive connection.
    for n in 0..GATEWAY_PUBLISHES {
        server
            .publish_ok(&envelope("com.example", "Synced", json!({ "n": n })))
            .await;
    }
    for n in 0..PUT_EVENTS_CALLS {
        let body = json!({ "Entries": [
            { "Source": "com.example", "DetailType": "SyncedAws", "Detail": json!({ "n": n }).to_string() },
        ]});
        let reply = server.aws("PutEvents", &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(reply.json()["FailedEntryCount"], 0, "{reply:?}");
    }
    let status = server.terminate().await;
    assert!(
        status.success(),
        "server under strace exited with {status:?}"
    );

    let trace = std::fs::read_to_string(&trace_file).expect("read the strace output");
    let db = canonical(&data_dir.join("db"));
    let seen = parse_trace(&trace, &db);
    let requests = seen
        .iter()
        .filter(|(_, e)| matches!(e, Seen::RequestRead { .. }))
        .count();
    let expected = GATEWAY_PUBLISHES + PUT_EVENTS_CALLS;
    assert_eq!(
        requests, expected,
        "strace shows {requests} POST requests read, expected {expected}; is the trace complete?"
    );
    let oks = check_sync_precedes_every_ok(&seen, &trace);
    assert_eq!(
        oks, expected,
        "strace shows {oks} 200 responses, expected {expected}"
    );
    let syncs = seen.iter().filter(|(_, e)| *e == Seen::DbSynced).count();
    assert!(
        syncs >= expected,
        "{syncs} db syncs for {expected} acknowledged requests"
    );
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .expect("the db file exists")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn trace_parser_pairs_unfinished_calls_with_their_resumption() {
    let trace = r#"10  12:00:00.000001 recvfrom(13<TCP:[127.0.0.1:1->127.0.0.1:2]>, "POST /events HTTP/1.1\r\nH", 24, 0, NULL, NULL) = 24
11 12:00:00.000002 fdatasync(11</d/db> <unfinished ...>
12 12:00:00.000003 fsync(9</d/db>) = -1 EIO (Input/output error)
11 12:00:00.000004 <... fdatasync resumed>) = 0
12 12:00:00.000005 writev(13<TCP:[127.0.0.1:1->127.0.0.1:2]>, [{iov_base="HTTP/1.1 200 OK\r\n"..., iov_len=108}], 1) = 158
10 12:00:00.000006 recvfrom(13<TCP:[127.0.0.1:1->127.0.0.1:2]>, "POST /events HTTP/1.1\r\nH", 24, 0, NULL, NULL) = 24
11 12:00:00.000007 fdatasync(11</d/dbx>) = 0
12 12:00:00.000008 sendto(13<TCP:[127.0.0.1:1->127.0.0.1:2]>, "HTTP/1.1 200 OK\r\n"..., 158, MSG_NOSIGNAL, NULL, 0) = 158
"#;
    let seen = parse_trace(trace, "/d/db");
    let socket = "13<TCP:[127.0.0.1:1->127.0.0.1:2]>".to_string();
    assert_eq!(
        seen,
        vec![
            (
                0,
                Seen::RequestRead {
                    socket: socket.clone()
                }
            ),
            (3, Seen::DbSynced),
            (
                4,
                Seen::OkWritten {
                    socket: socket.clone()
                }
            ),
            (
                5,
                Seen::RequestRead {
                    socket: socket.clone()
                }
            ),
            (7, Seen::OkWritten { socket }),
        ]
    );
    let first_ok_only = &seen[..3];
    assert_eq!(check_sync_precedes_every_ok(first_ok_only, trace), 1);
    let unsynced = std::panic::catch_unwind(|| check_sync_precedes_every_ok(&seen, trace));
    assert!(
        unsynced.is_err(),
        "a 200 without a sync after its request fails"
    );
}
