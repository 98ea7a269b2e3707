//! Archives through the AWS JSON 1.1 API against a real server: events of a
//! bus taken with and without a pattern, exact counts and sizes that survive a
//! restart (and a `kill -9`), bad input refused with AWS's errors and nothing
//! changed, DeleteEventBus refused while an archive uses the bus, the
//! retention sweep by delivery's clock, and metrics.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::aws::{ARN_PREFIX, sdk};
use crate::support::{Reply, TestServer};

const ARCHIVE_ARN_PREFIX: &str = "arn:aws:events:us-east-1:000000000000:archive/";

fn bus_arn(bus: &str) -> String {
    format!("{ARN_PREFIX}{bus}")
}

/// PutEvents of one event per source to `bus`; all must be accepted.
async fn put_events(server: &TestServer, bus: &str, sources: &[&str]) {
    let entries: Vec<Value> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            json!({
                "EventBusName": bus,
                "Source": source,
                "DetailType": "order",
                "Detail": json!({ "n": i }).to_string(),
            })
        })
        .collect();
    for chunk in entries.chunks(10) {
        let reply = server
            .aws_ok("PutEvents", &json!({ "Entries": chunk }))
            .await;
        assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    }
}

async fn create(server: &TestServer, name: &str, bus: &str, extra: Value) -> Value {
    let mut body = json!({ "ArchiveName": name, "EventSourceArn": bus_arn(bus) });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    server.aws_ok("CreateArchive", &body).await
}

async fn describe(server: &TestServer, name: &str) -> Value {
    server
        .aws_ok("DescribeArchive", &json!({ "ArchiveName": name }))
        .await
}

/// Waits (bounded) until archive `name` holds `count` events; returns its description.
async fn wait_for_count(server: &TestServer, name: &str, count: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let described = describe(server, name).await;
        if described["EventCount"] == count {
            return described;
        }
        assert!(
            Instant::now() < deadline,
            "archive {name} holds {}, expected {count}",
            described["EventCount"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn assert_refused(reply: &Reply, kind: &str, message_part: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.aws_type(), kind, "{reply:?}");
    let message = reply.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

async fn archive_names(server: &TestServer, filter: Value) -> Vec<String> {
    let listed = server.aws_ok("ListArchives", &filter).await;
    listed["Archives"]
        .as_array()
        .expect("Archives")
        .iter()
        .map(|a| a["ArchiveName"].as_str().expect("ArchiveName").to_owned())
        .collect()
}

#[tokio::test]
async fn archives_hold_their_buses_events_with_exact_counts_across_restarts() {
    let mut server = TestServer::start().await;
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "orders" }))
        .await;
    // Before any archive exists: never archived.
    put_events(&server, "orders", &["shop"]).await;

    let created = create(
        &server,
        "all",
        "orders",
        json!({ "Description": "every order" }),
    )
    .await;
    assert_eq!(created["ArchiveArn"], format!("{ARCHIVE_ARN_PREFIX}all"));
    assert_eq!(created["State"], "ENABLED");
    assert!(created["CreationTime"].as_f64().is_some(), "{created}");
    let pattern = json!({ "source": ["shop"] }).to_string();
    create(
        &server,
        "shop",
        "orders",
        json!({ "EventPattern": pattern, "RetentionDays": 30 }),
    )
    .await;
    create(&server, "dflt", "default", json!({})).await;

    put_events(&server, "orders", &["shop", "crm", "shop", "crm", "shop"]).await;
    put_events(&server, "default", &["shop"]).await;
    let all = wait_for_count(&server, "all", 5).await;
    let shop = wait_for_count(&server, "shop", 3).await;
    wait_for_count(&server, "dflt", 1).await;
    assert_eq!(all["ArchiveName"], "all");
    assert_eq!(all["EventSourceArn"], bus_arn("orders"));
    assert_eq!(all["Description"], "every order");
    assert_eq!(all["RetentionDays"], 0);
    assert_eq!(all["State"], "ENABLED");
    assert!(all.get("EventPattern").is_none(), "{all}");
    assert_eq!(shop["EventPattern"], pattern);
    assert_eq!(shop["RetentionDays"], 30);
    let (all_bytes, shop_bytes) = (
        all["SizeBytes"].as_u64().expect("SizeBytes"),
        shop["SizeBytes"].as_u64().expect("SizeBytes"),
    );
    assert!(
        shop_bytes > 0 && shop_bytes < all_bytes,
        "{shop_bytes} vs {all_bytes}"
    );

    // The AWS SDK reads the answers.
    let described = sdk(&server)
        .describe_archive()
        .archive_name("shop")
        .send()
        .await
        .expect("SDK DescribeArchive");
    assert_eq!(described.event_count(), 3);
    assert_eq!(
        described.state(),
        Some(&aws_sdk_eventbridge::types::ArchiveState::Enabled)
    );
    assert!(described.creation_time().is_some());

    // Listing: all, by prefix, by bus, by state, in pages.
    assert_eq!(
        archive_names(&server, json!({})).await,
        ["all", "dflt", "shop"]
    );
    assert_eq!(
        archive_names(&server, json!({ "NamePrefix": "s" })).await,
        ["shop"]
    );
    assert_eq!(
        archive_names(&server, json!({ "EventSourceArn": bus_arn("orders") })).await,
        ["all", "shop"]
    );
    assert!(
        archive_names(&server, json!({ "State": "DISABLED" }))
            .await
            .is_empty()
    );
    let first = server.aws_ok("ListArchives", &json!({ "Limit": 2 })).await;
    assert_eq!(first["Archives"].as_array().map(Vec::len), Some(2));
    assert_eq!(first["Archives"][0]["EventCount"], 5);
    assert!(first["Archives"][0].get("ArchiveArn").is_none());
    let token = first["NextToken"].as_str().expect("a second page");
    assert_eq!(
        archive_names(&server, json!({ "Limit": 2, "NextToken": token })).await,
        ["shop"]
    );

    // Exact after a kill -9 and a restart: nothing lost, nothing counted twice.
    server.kill9().await;
    server.restart().await;
    let again = wait_for_count(&server, "all", 5).await;
    assert_eq!(again["SizeBytes"], all["SizeBytes"]);
    put_events(&server, "orders", &["shop"]).await;
    wait_for_count(&server, "all", 6).await;
    wait_for_count(&server, "shop", 4).await;
    assert_eq!(describe(&server, "dflt").await["EventCount"], 1);

    // UpdateArchive changes what later events go in; the held ones stay.
    let updated = server
        .aws_ok(
            "UpdateArchive",
            &json!({
                "ArchiveName": "shop",
                "EventPattern": json!({ "source": ["crm"] }).to_string(),
                "Description": "crm now",
            }),
        )
        .await;
    assert_eq!(updated["ArchiveArn"], format!("{ARCHIVE_ARN_PREFIX}shop"));
    put_events(&server, "orders", &["crm", "shop"]).await;
    wait_for_count(&server, "all", 8).await;
    let shop = wait_for_count(&server, "shop", 5).await;
    assert_eq!(shop["Description"], "crm now");
    assert_eq!(shop["RetentionDays"], 30, "kept when not given");

    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("stowage_archive_events{archive=\"all\"}"),
        Some(8.0)
    );
    assert_eq!(
        metrics.get("stowage_archive_bytes{archive=\"dflt\"}"),
        describe(&server, "dflt").await["SizeBytes"].as_f64()
    );

    server
        .aws_ok("DeleteArchive", &json!({ "ArchiveName": "all" }))
        .await;
    assert_eq!(archive_names(&server, json!({})).await, ["dflt", "shop"]);
}

#[tokio::test]
async fn bad_archive_requests_get_aws_errors_and_change_nothing() {
    let server = TestServer::start().await;
    create(&server, "kept", "default", json!({ "Description": "d" })).await;
    let before = describe(&server, "kept").await;

    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "CreateArchive",
            json!({ "ArchiveName": "x", "EventSourceArn": bus_arn("nope") }),
            "ResourceNotFoundException",
            "Event bus nope does not exist.",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x", "EventSourceArn": "arn:aws:events:eu-west-1:123456789012:event-bus/default" }),
            "ValidationException",
            "Parameter EventSourceArn is not valid.",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x".repeat(49), "EventSourceArn": bus_arn("default") }),
            "ValidationException",
            "Member must have length between 1 and 48",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "a b", "EventSourceArn": bus_arn("default") }),
            "ValidationException",
            "regular expression pattern",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x", "EventSourceArn": bus_arn("default"), "EventPattern": "{\"source\":[]}" }),
            "InvalidEventPatternException",
            "Event pattern is not valid.",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "kept", "EventSourceArn": bus_arn("default") }),
            "ResourceAlreadyExistsException",
            "Archive kept already exists.",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x", "EventSourceArn": bus_arn("default"), "RetentionDays": -1 }),
            "ValidationException",
            "at 'retentionDays'",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x", "EventSourceArn": bus_arn("default"), "Description": "d".repeat(513) }),
            "ValidationException",
            "between 0 and 512",
        ),
        (
            "CreateArchive",
            json!({ "ArchiveName": "x" }),
            "ValidationException",
            "EventSourceArn is required.",
        ),
        (
            "DescribeArchive",
            json!({ "ArchiveName": "missing" }),
            "ResourceNotFoundException",
            "Archive missing does not exist.",
        ),
        (
            "UpdateArchive",
            json!({ "ArchiveName": "missing", "Description": "x" }),
            "ResourceNotFoundException",
            "Archive missing does not exist.",
        ),
        (
            "UpdateArchive",
            json!({ "ArchiveName": "kept", "EventPattern": "not json" }),
            "InvalidEventPatternException",
            "Event pattern is not valid.",
        ),
        (
            "UpdateArchive",
            json!({ "ArchiveName": "kept", "RetentionDays": -5 }),
            "ValidationException",
            "at 'retentionDays'",
        ),
        (
            "DeleteArchive",
            json!({ "ArchiveName": "missing" }),
            "ResourceNotFoundException",
            "Archive missing does not exist.",
        ),
        (
            "ListArchives",
            json!({ "State": "ON" }),
            "ValidationException",
            "Member must satisfy enum value set",
        ),
        (
            "ListArchives",
            json!({ "EventSourceArn": bus_arn("nope") }),
            "ResourceNotFoundException",
            "Event bus nope does not exist.",
        ),
        (
            "ListArchives",
            json!({ "Limit": 0 }),
            "ValidationException",
            "at 'limit'",
        ),
    ];
    for (operation, body, kind, message) in cases {
        let reply = server.aws(operation, &body.to_string()).await;
        assert_refused(&reply, kind, message);
    }
    assert_eq!(archive_names(&server, json!({})).await, ["kept"]);
    assert_eq!(describe(&server, "kept").await, before);
    assert_eq!(server.healthz().await, StatusCode::OK);
}

#[tokio::test]
async fn a_bus_is_not_deleted_while_an_archive_uses_it() {
    let server = TestServer::start().await;
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "orders" }))
        .await;
    create(&server, "orders-archive", "orders", json!({})).await;
    let refused = server
        .aws("DeleteEventBus", &json!({ "Name": "orders" }).to_string())
        .await;
    assert_refused(&refused, "ValidationException", "orders-archive");
    server
        .aws_ok("DescribeEventBus", &json!({ "Name": "orders" }))
        .await;
    server
        .aws_ok("DeleteArchive", &json!({ "ArchiveName": "orders-archive" }))
        .await;
    server
        .aws_ok("DeleteEventBus", &json!({ "Name": "orders" }))
        .await;
}

#[tokio::test]
async fn the_retention_sweep_removes_entries_past_their_archives_retention() {
    let server = TestServer::builder().in_process().start().await;
    create(&server, "day", "default", json!({ "RetentionDays": 1 })).await;
    create(&server, "forever", "default", json!({ "RetentionDays": 0 })).await;
    put_events(&server, "default", &["a", "b", "c"]).await;
    wait_for_count(&server, "day", 3).await;
    wait_for_count(&server, "forever", 3).await;

    // Half a day on: nothing has expired yet.
    server.clock().advance(Duration::from_secs(12 * 3600));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(describe(&server, "day").await["EventCount"], 3);

    // Past a day: the one-day archive is emptied, the other keeps everything.
    server.clock().advance(Duration::from_secs(13 * 3600));
    let day = wait_for_count(&server, "day", 0).await;
    assert_eq!(day["SizeBytes"], 0);
    assert_eq!(describe(&server, "forever").await["EventCount"], 3);
    let metrics = server.metrics().await;
    assert_eq!(
        metrics.get("stowage_archive_events{archive=\"day\"}"),
        Some(0.0)
    );
    assert_eq!(
        metrics.get("stowage_archive_events_archived_total"),
        Some(6.0)
    );
}

#[tokio::test]
async fn the_archive_cli_creates_lists_describes_updates_and_deletes() {
    use crate::cli::{stdout, stowage};

    let server = TestServer::start().await;
    let endpoint = server.base_url();
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "orders" }))
        .await;
    let run = |args: Vec<String>| async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stowage(&args).await
    };
    let args = |words: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        all.extend(["--endpoint".to_owned(), endpoint.clone()]);
        all
    };

    let created = run(args(&[
        "archive",
        "create",
        "cli-archive",
        "--bus",
        "orders",
        "--pattern",
        r#"{"source":["shop"]}"#,
        "--retention-days",
        "7",
    ]))
    .await;
    assert_eq!(created.status.code(), Some(0), "{created:?}");
    assert_eq!(
        stdout(&created),
        format!("created archive cli-archive ({ARCHIVE_ARN_PREFIX}cli-archive)\n")
    );
    put_events(&server, "orders", &["shop", "crm"]).await;
    wait_for_count(&server, "cli-archive", 1).await;

    let listed = run(args(&["archive", "list"])).await;
    assert_eq!(listed.status.code(), Some(0), "{listed:?}");
    let text = stdout(&listed);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("EVENTS"),
        "{text}"
    );
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        &row[..4],
        ["cli-archive", "orders", "ENABLED", "1"],
        "{text}"
    );
    assert!(lines[1].contains("7 days"), "{text}");

    let json_list = run(args(&["archive", "list", "--json", "--bus", "orders"])).await;
    let archives: Value = serde_json::from_str(stdout(&json_list).trim()).expect("JSON");
    assert_eq!(archives[0]["ArchiveName"], "cli-archive");
    assert_eq!(archives[0]["EventCount"], 1);

    let status = run(args(&["status"])).await;
    let text = stdout(&status);
    assert!(
        text.lines()
            .any(|l| l.starts_with("NAME") && l.contains("EVENTS")),
        "status shows the archives: {text}"
    );
    assert!(text.contains("cli-archive"), "{text}");

    let described = run(args(&["archive", "describe", "cli-archive"])).await;
    let text = stdout(&described);
    assert!(text.contains("events:      1"), "{text}");
    assert!(
        text.contains(r#"pattern:     {"source":["shop"]}"#),
        "{text}"
    );

    let updated = run(args(&[
        "archive",
        "update",
        "cli-archive",
        "--description",
        "shop orders",
        "--json",
    ]))
    .await;
    assert_eq!(updated.status.code(), Some(0), "{updated:?}");
    let body: Value = serde_json::from_str(stdout(&updated).trim()).expect("JSON");
    assert_eq!(
        body["ArchiveArn"],
        format!("{ARCHIVE_ARN_PREFIX}cli-archive")
    );
    let described = run(args(&["archive", "describe", "cli-archive", "--json"])).await;
    let body: Value = serde_json::from_str(stdout(&described).trim()).expect("JSON");
    assert_eq!(body["Description"], "shop orders");

    // A refusal: the AWS error on stderr, exit 1.
    let refused = run(args(&[
        "archive",
        "create",
        "cli-archive",
        "--bus",
        "orders",
    ]))
    .await;
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("ResourceAlreadyExistsException: Archive cli-archive already exists."),
        "{stderr}"
    );
    let unknown_bus = run(args(&["archive", "create", "x", "--bus", "nope"])).await;
    assert_eq!(unknown_bus.status.code(), Some(1), "{unknown_bus:?}");

    let deleted = run(args(&["archive", "delete", "cli-archive"])).await;
    assert_eq!(stdout(&deleted), "deleted archive cli-archive\n");
    let empty = run(args(&["archive", "list"])).await;
    assert_eq!(stdout(&empty), "no archives\n");
    let usage = run(args(&["archive", "create"])).await;
    assert_eq!(usage.status.code(), Some(2), "{usage:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_stay_exact_through_kill_9_under_publish_load() {
    use std::sync::Arc;

    use tokio::sync::Notify;
    use tokio::task::JoinSet;

    use crate::support::load::{Publisher, Via, publish_until_gone};

    let mut server = TestServer::start().await;
    create(&server, "everything", "default", json!({})).await;
    let mut acked = 0;
    for round in 0..2 {
        let first_ack = Arc::new(Notify::new());
        let mut tasks = JoinSet::new();
        for id in 0..8 {
            tasks.spawn(publish_until_gone(Publisher {
                base: server.base_url(),
                via: Via::Gateway,
                pad_bytes: 200,
                round,
                id,
                acked: first_ack.clone(),
            }));
        }
        tokio::time::timeout(Duration::from_secs(30), first_ack.notified())
            .await
            .expect("a publish is acknowledged");
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.kill9().await;
        while let Some(published) = tasks.join_next().await {
            acked += published.expect("publisher").acked.len();
        }
        server.restart().await;
    }
    // Every event in the log came after the archive: each is in it exactly once
    // (acknowledged ones, and any made durable before the kill cut its answer).
    server.wait_for_log_check().await;
    let records: u64 = server
        .log_records()
        .await
        .to_string()
        .parse()
        .expect("a whole number of records");
    let described = wait_for_count(&server, "everything", records).await;
    assert!(
        described["EventCount"].as_u64().expect("EventCount") >= acked as u64,
        "{described} < {acked} acknowledged"
    );
    assert!(acked > 0);
}
