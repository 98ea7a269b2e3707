//! `stowage dlq …` and `stowage status` against a real server: tables by
//! default, JSON with `--json`, and the exit status (0 done, 1 refused by the
//! server or unreachable, as `put`; 2 usage).
//!
//! Each test runs the binary as an operator would and reads its stdout, stderr
//! and exit status. Tests with real dead letters fit the same shape: make the
//! letters through the API, then run `dlq list --json` to learn their ids.

use std::process::Output;

use serde_json::{Value, json};

use crate::cli::{closed_endpoint, stdout, stowage, stowage_with_env};
use crate::support::TestServer;

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The one JSON document a `--json` run printed.
fn printed_json(output: &Output) -> Value {
    serde_json::from_str(stdout(output).trim())
        .unwrap_or_else(|e| panic!("--json prints one JSON document ({e}): {output:?}"))
}

#[tokio::test]
async fn dlq_list_with_no_dead_letters_says_so_or_prints_an_empty_array() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();

    let output = stowage(&["dlq", "list", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "no dead letters\n");
    assert!(
        !stderr(&output).contains("more dead letters"),
        "no hint when nothing more matches: {output:?}"
    );

    // The filters given are echoed.
    let output = stowage(&[
        "dlq",
        "list",
        "--endpoint",
        &endpoint,
        "--queue",
        "q",
        "--target",
        "t",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output), "no dead letters in queue q for target t\n");

    let output = stowage(&["dlq", "list", "--endpoint", &endpoint, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(printed_json(&output), json!([]));

    // Filters and --all go to the server and still find nothing.
    let output = stowage(&[
        "dlq",
        "list",
        "--endpoint",
        &endpoint,
        "--json",
        "--all",
        "--queue",
        "default",
        "--rule",
        "r",
        "--target",
        "t",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(printed_json(&output), json!([]));
}

#[tokio::test]
async fn dlq_show_of_a_missing_id_exits_1_with_the_servers_code_and_message() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();
    for json_flag in [None, Some("--json")] {
        let mut args = vec!["dlq", "show", "42", "--endpoint", &endpoint];
        args.extend(json_flag);
        let output = stowage(&args).await;
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        let stderr = stderr(&output);
        assert!(
            stderr.contains("dead_letter_not_found") && stderr.contains("no dead letter 42"),
            "stderr names the error: {stderr}"
        );
        assert_eq!(stdout(&output), "", "nothing on stdout");
    }
}

#[tokio::test]
async fn an_error_prints_its_cause_chain_on_one_line_and_never_a_backtrace() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();
    let env = [("RUST_BACKTRACE", "1"), ("RUST_LIB_BACKTRACE", "1")];
    let output = stowage_with_env(&["dlq", "show", "42", "--endpoint", &endpoint], &env).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stderr(&output),
        "error: dead_letter_not_found: no dead letter 42 (404 Not Found)\n"
    );

    let endpoint = closed_endpoint();
    let output = stowage_with_env(&["status", "--endpoint", &endpoint], &env).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = stderr(&output);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with(&format!(
            "error: cannot reach {endpoint}: error sending request"
        )) && stderr.contains("Connection refused"),
        "the causes follow the error: {stderr}"
    );
}

#[tokio::test]
async fn dlq_redrive_with_nothing_to_redrive_reports_zero() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();

    let output = stowage(&[
        "dlq",
        "redrive",
        "--endpoint",
        &endpoint,
        "--queue",
        "default",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output).trim(), "redriven 0, skipped 0");

    let output = stowage(&[
        "dlq",
        "redrive",
        "--endpoint",
        &endpoint,
        "--json",
        "--queue",
        "default",
        "--rule",
        "r",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(
        printed_json(&output),
        json!({ "redriven": 0, "skipped": [] })
    );

    // Ids that are no dead letter: nothing done, and the exit status says so.
    let output = stowage(&["dlq", "redrive", "--endpoint", &endpoint, "--id", "5", "6"]).await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        stdout(&output).trim(),
        "redriven 0, skipped 2\n  5: no such dead letter\n  6: no such dead letter"
    );
}

#[tokio::test]
async fn dlq_purge_of_a_queue_without_yes_is_refused_with_the_count() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();

    let output = stowage(&[
        "dlq",
        "purge",
        "--endpoint",
        &endpoint,
        "--queue",
        "default",
    ])
    .await;
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = stderr(&output);
    assert!(
        stderr.contains("0 dead letters in queue default would be deleted")
            && stderr.contains("--yes"),
        "says how many and how to confirm: {stderr}"
    );
    assert_eq!(stdout(&output), "", "nothing on stdout");

    let output = stowage(&[
        "dlq",
        "purge",
        "--endpoint",
        &endpoint,
        "--queue",
        "default",
        "--yes",
    ])
    .await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(stdout(&output).trim(), "deleted 0");

    // An id needs no --yes; one that is no dead letter is reported, exit 1.
    let output = stowage(&[
        "dlq",
        "purge",
        "--endpoint",
        &endpoint,
        "--json",
        "--id",
        "7",
    ])
    .await;
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert_eq!(
        printed_json(&output),
        json!({ "deleted": 0, "notFound": ["7"] })
    );
}

#[tokio::test]
async fn status_without_targets_prints_the_header_or_an_empty_array() {
    let server = TestServer::start().await;
    let endpoint = server.base_url();

    let output = stowage(&["status", "--endpoint", &endpoint]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "", "only the header, then the log: {text}");
    assert!(lines[2].starts_with("LOG     0 records"), "{text}");
    assert_eq!(lines[3], "OLDEST  - (the log is empty)", "{text}");
    for column in [
        "BUS",
        "RULE",
        "TARGET",
        "PENDING",
        "OLDEST",
        "IN FLIGHT",
        "DELIVERED",
        "RETRIED",
        "DEAD",
        "GONE",
        "LAST ERROR",
    ] {
        assert!(lines[0].contains(column), "{column} in the header: {text}");
    }

    let output = stowage(&["status", "--endpoint", &endpoint, "--json"]).await;
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let printed = printed_json(&output);
    assert_eq!(printed["targets"], json!([]));
    assert_eq!(printed["log"]["records"], 0, "{printed}");
    assert_eq!(printed["log"]["oldest"], Value::Null, "{printed}");
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_as_put_does_and_names_the_endpoint() {
    let endpoint = closed_endpoint();
    let put = stowage(&[
        "put",
        "--endpoint",
        &endpoint,
        "--source",
        "s",
        "--detail-type",
        "t",
    ])
    .await;
    assert_eq!(put.status.code(), Some(1), "put's exit status: {put:?}");
    for args in [
        &["dlq", "list"][..],
        &["dlq", "show", "1"],
        &["dlq", "redrive", "--queue", "default"],
        &["dlq", "purge", "--id", "1"],
        &["dlq", "purge", "--queue", "default", "--yes"],
        &["status", "--json"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--endpoint", &endpoint]);
        let output = stowage(&args).await;
        assert_eq!(
            output.status.code(),
            put.status.code(),
            "{args:?}: {output:?}"
        );
        let stderr = stderr(&output);
        assert!(
            stderr.contains(&format!("cannot reach {endpoint}")),
            "{args:?} names the endpoint: {stderr}"
        );
        assert!(
            stderr.contains("Connection refused"),
            "{args:?} gives the cause: {stderr}"
        );
    }
}

#[tokio::test]
async fn usage_errors_exit_2_before_any_request() {
    for args in [
        &["dlq", "redrive"][..],
        &["dlq", "redrive", "--id", "1", "--queue", "default"],
        &["dlq", "purge", "--id", "1", "--rule", "r"],
        &["dlq", "show", "not-a-number"],
        &["dlq", "list", "--limit", "0"],
        &["dlq", "list", "--all", "--limit", "5"],
        &["status", "--endpoint", "localhost:8080"],
    ] {
        let output = stowage(args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        assert!(!stderr(&output).is_empty(), "{args:?} says why");
    }
}

#[tokio::test]
async fn an_operator_lists_shows_redrives_and_purges_real_dead_letters() {
    use crate::support::routes::fast_retries;
    use crate::support::sink::{Behaviour, Sink};
    use std::time::Duration;

    let sink = Sink::start().await;
    sink.set(Behaviour::Status(422));
    let server = fast_retries().start().await;
    let endpoint = server.base_url();
    server
        .route_source_to("orders", "shop", "hook", &sink.url("/hook"), json!({}))
        .await;
    let first = server.publish_from("shop", json!({ "n": 1 })).await;
    let second = server.publish_from("shop", json!({ "n": 2 })).await;
    server
        .wait_for_dead_letters("", 2, Duration::from_secs(15))
        .await;

    let listed = printed_json(&stowage(&["dlq", "list", "--endpoint", &endpoint, "--json"]).await);
    let letters = listed.as_array().expect("an array");
    assert_eq!(letters.len(), 2);
    let ids: Vec<String> = letters
        .iter()
        .map(|l| l["id"].as_str().expect("id").to_owned())
        .collect();
    let table = stdout(&stowage(&["dlq", "list", "--endpoint", &endpoint]).await);
    assert!(
        table.contains("CLIENT_ERROR") && table.contains(&first),
        "{table}"
    );

    let shown = stowage(&["dlq", "show", &ids[0], "--endpoint", &endpoint]).await;
    assert_eq!(shown.status.code(), Some(0), "{shown:?}");
    assert!(stdout(&shown).contains("422"), "{shown:?}");

    // Purge the first, redrive the rest of the queue to a recovered target.
    let purged = stowage(&["dlq", "purge", "--id", &ids[0], "--endpoint", &endpoint]).await;
    assert_eq!(purged.status.code(), Some(0), "{purged:?}");
    sink.set(Behaviour::Ok);
    let redriven = stowage(&[
        "dlq",
        "redrive",
        "--queue",
        "default",
        "--endpoint",
        &endpoint,
        "--json",
    ])
    .await;
    assert_eq!(printed_json(&redriven)["redriven"], 1, "{redriven:?}");
    let received = sink.wait_for(3, Duration::from_secs(15)).await;
    // Letters are numbered in the order they died, not the order published.
    let kept = letters[1]["eventId"].as_str().expect("event id");
    assert!([first.as_str(), second.as_str()].contains(&kept));
    assert_eq!(received[2].header("webhook-id"), Some(kept));

    let status = printed_json(&stowage(&["status", "--endpoint", &endpoint, "--json"]).await);
    let target = &status["targets"].as_array().expect("targets")[0];
    assert_eq!(target["targetId"], "hook");
    assert_eq!(target["deadLettered"], 2);
    let table = stdout(&stowage(&["status", "--endpoint", &endpoint]).await);
    assert!(
        table.contains("orders") && table.contains("hook"),
        "{table}"
    );
    assert!(server.dead_letters("").await.is_empty());
}

#[tokio::test]
async fn status_shows_how_long_ago_the_last_error_happened() {
    use crate::support::routes::fast_retries;
    use crate::support::sink::{Behaviour, Sink};
    use std::time::Duration;

    let sink = Sink::start().await;
    sink.set(Behaviour::FailTimes { n: 1, status: 503 });
    let server = fast_retries().in_process().start().await;
    let endpoint = server.base_url();
    server
        .route_source_to("orders", "shop", "hook", &sink.url("/hook"), json!({}))
        .await;
    server.publish_from("shop", json!({ "n": 1 })).await;
    sink.wait_for(2, Duration::from_secs(15)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while server.targets().await[0]["delivered"] != 1 {
        assert!(std::time::Instant::now() < deadline, "never delivered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // The error stays after the success that followed; its age tells them apart.
    server.clock().advance(Duration::from_secs(4 * 60));

    let status = printed_json(&stowage(&["status", "--endpoint", &endpoint, "--json"]).await);
    let target = &status["targets"].as_array().expect("targets")[0];
    assert_eq!(target["delivered"], 1, "{target}");
    let last_error = &target["lastError"];
    assert_eq!(last_error["status"], 503, "{target}");
    assert!(
        chrono::DateTime::parse_from_rfc3339(last_error["at"].as_str().expect("at")).is_ok(),
        "at is RFC 3339: {target}"
    );
    let age = last_error["ageSecs"].as_f64().expect("ageSecs");
    assert!((240.0..300.0).contains(&age), "{target}");

    let table = stdout(&stowage(&["status", "--endpoint", &endpoint]).await);
    let row = table.lines().nth(1).expect("a row");
    assert!(row.contains("SERVER_ERROR 503: "), "{table}");
    assert!(
        row.ends_with(" (4m0s ago)") || row.ends_with(" (4m1s ago)"),
        "the error's age ends the row: {table}"
    );
}
