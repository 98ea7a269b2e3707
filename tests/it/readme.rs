//! The README is a contract: its quick start, run as written against a real
//! server, delivers an event to the receiver it starts; the docs stand alone
//! (no link or pointer out of the repository).
//!
//! The quick start needs `curl` and `python3` (`.ci/run` installs them); without
//! them this test fails rather than pass unproven.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::TestServer;

fn repo_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// The first ```sh block after `heading`.
fn first_sh_block_after(text: &str, heading: &str) -> String {
    let from = text
        .find(heading)
        .unwrap_or_else(|| panic!("README has no {heading:?} section"));
    let rest = &text[from..];
    let open = rest.find("```sh\n").expect("a ```sh block in the section") + "```sh\n".len();
    let close = rest[open..].find("```").expect("the block is closed");
    rest[open..open + close].to_owned()
}

fn require(tool: &str) {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{tool} is needed to run the README quick start (`apt-get install {tool}`; .ci/run does it)"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

#[tokio::test]
async fn quick_start_delivers_an_event_to_its_receiver() {
    require("curl");
    require("python3");
    let readme = read(&repo_file("README.md"));
    let block = first_sh_block_after(&readme, "## Quick start with curl");
    assert!(
        block.contains("9000") && block.contains("localhost:8080"),
        "the quick start names the receiver's port 9000 and the server's localhost:8080:\n{block}"
    );
    let server = TestServer::start().await;
    let script = block
        .replace("localhost:8080", &server.addr().to_string())
        .replace("9000", &free_port().to_string());

    let mut shell = tokio::process::Command::new("bash");
    shell
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = shell.spawn().expect("run bash");
    let group = Pid::from_raw(i32::try_from(child.id().expect("a pid")).expect("pid fits"))
        .expect("a nonzero pid");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    let mut seen = Vec::new();
    let delivered = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read the script's output") {
            // The receiver prints the delivered event: an EventBridge envelope.
            if line.contains("\"detail-type\":\"OrderPlaced\"")
                && line.contains("\"source\":\"legacy.erp\"")
                && line.contains("\"orderId\":7")
            {
                return true;
            }
            seen.push(line);
        }
        false
    })
    .await;
    // The receiver runs in the background of the script: end the whole group.
    let _ = kill_process_group(group, Signal::KILL);
    let _ = child.wait().await;
    assert_eq!(
        delivered,
        Ok(true),
        "the quick start's receiver never printed the delivered event; its output:\n{}\nserver logs:\n{}",
        seen.join("\n"),
        server.logs()
    );
}

/// Markdown links `](target)` in `text`, without their `#fragment`.
fn link_targets(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')'))
        .map(|(target, _)| target.split('#').next().unwrap_or("").to_owned())
        .filter(|target| !target.is_empty())
        .collect()
}

#[test]
fn docs_stand_alone() {
    let mut pages = vec![repo_file("README.md")];
    for entry in std::fs::read_dir(repo_file("docs")).expect("list docs/") {
        let path = entry.expect("a docs/ entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let root = repo_file("").canonicalize().expect("the repository root");
    for page in &pages {
        let text = read(page);
        for pointer in ["DESIGN.md", "../shared/"] {
            assert!(
                !text.contains(pointer),
                "{} points at {pointer}, outside the repository",
                page.display()
            );
        }
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let resolved = page.parent().expect("a page has a folder").join(&target);
            let resolved = resolved.canonicalize().unwrap_or_else(|_| {
                panic!("{} links to {target}, which does not exist", page.display())
            });
            assert!(
                resolved.starts_with(&root),
                "{} links to {target}, outside the repository",
                page.display()
            );
        }
    }
}

#[test]
fn readme_warns_aws_cli_v1_users_about_url_parameters() {
    let readme = read(&repo_file("README.md"));
    let section = readme
        .split("## With the AWS CLI")
        .nth(1)
        .expect("README has a 'With the AWS CLI' section");
    let section = section.split("\n## ").next().unwrap_or(section);
    assert!(
        section.contains("cli_follow_urlparam = false") && section.contains("--endpoint-url"),
        "the AWS CLI section must show the endpoint and tell v1 users to set cli_follow_urlparam = false"
    );
}
