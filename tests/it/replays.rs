//! Replays end to end: a real server, a real sink, real disk. Events with
//! times in the past are archived, then replayed through StartReplay; the sink
//! shows where each replayed event went (`replay-name` in its envelope).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::routes::fast_retries;
use crate::support::sink::{Received, Sink};

const SOURCE: &str = "replay.test";
const WAIT: Duration = Duration::from_secs(30);

/// Rules `a` and `b` (each to its own sink path) on the default bus, an
/// archive `arch` of that bus, and `n` events published in shuffled order
/// with times `base + i` seconds (`base` ten minutes ago); returns `base`.
pub(crate) async fn archived_events(server: &TestServer, sink: &Sink, n: u64) -> i64 {
    for rule in ["a", "b"] {
        server
            .route_source_to(
                rule,
                SOURCE,
                rule,
                &sink.url(&format!("/{rule}")),
                json!({}),
            )
            .await;
    }
    let bus_arn = bus_arn(server).await;
    server
        .aws_ok(
            "CreateArchive",
            &json!({ "ArchiveName": "arch", "EventSourceArn": bus_arn }),
        )
        .await;
    let base = chrono::Utc::now().timestamp() - 600;
    // Log order differs from time order: odd i first, then even.
    let order: Vec<u64> = (0..n)
        .filter(|i| i % 2 == 1)
        .chain((0..n).filter(|i| i % 2 == 0))
        .collect();
    for chunk in order.chunks(10) {
        let entries: Vec<Value> = chunk
            .iter()
            .map(|i| {
                json!({
                    "Source": SOURCE,
                    "DetailType": "Numbered",
                    "Detail": json!({ "n": i }).to_string(),
                    "Time": base + *i as i64,
                })
            })
            .collect();
        let reply = server
            .aws_ok("PutEvents", &json!({ "Entries": entries }))
            .await;
        assert_eq!(reply["FailedEntryCount"], 0, "{reply}");
    }
    let count = usize::try_from(n).expect("small");
    sink.wait_for_on("/a", count, WAIT).await;
    sink.wait_for_on("/b", count, WAIT).await;
    assert_eq!(archive_count(server).await, n, "every event archived");
    base
}

async fn bus_arn(server: &TestServer) -> String {
    let bus = server
        .aws_ok("DescribeEventBus", &json!({ "Name": "default" }))
        .await;
    bus["Arn"].as_str().expect("an ARN").to_owned()
}

async fn archive_arn(server: &TestServer) -> String {
    let archive = server
        .aws_ok("DescribeArchive", &json!({ "ArchiveName": "arch" }))
        .await;
    archive["ArchiveArn"].as_str().expect("an ARN").to_owned()
}

async fn archive_count(server: &TestServer) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut last = 0;
    // The archive takes events as the router reaches them.
    while Instant::now() < deadline {
        let archive = server
            .aws_ok("DescribeArchive", &json!({ "ArchiveName": "arch" }))
            .await;
        let count = archive["EventCount"].as_u64().expect("EventCount");
        if count == last && count > 0 {
            return count;
        }
        last = count;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    last
}

async fn rule_arn(server: &TestServer, rule: &str) -> String {
    let described = server
        .aws_ok("DescribeRule", &json!({ "Name": rule }))
        .await;
    described["Arn"].as_str().expect("an ARN").to_owned()
}

async fn start_body(
    server: &TestServer,
    name: &str,
    from: i64,
    to: i64,
    filter: Option<Vec<String>>,
) -> Value {
    let mut destination = json!({ "Arn": bus_arn(server).await });
    if let Some(filter) = filter {
        destination["FilterArns"] = json!(filter);
    }
    json!({
        "ReplayName": name,
        "EventSourceArn": archive_arn(server).await,
        "EventStartTime": from,
        "EventEndTime": to,
        "Destination": destination,
    })
}

async fn wait_for_state(server: &TestServer, name: &str, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let replay = server
            .aws_ok("DescribeReplay", &json!({ "ReplayName": name }))
            .await;
        if replay["State"] == state {
            return replay;
        }
        assert!(
            Instant::now() < deadline,
            "replay {name} never reached {state}: {replay}; logs:\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `n` of each replayed event `path` received from replay `name`, in the
/// order the replay appended them to the log (deliveries to one target run
/// concurrently, so arrival order is not it). An event id carries its log
/// position in its last 62 bits.
fn replayed_on(sink: &Sink, path: &str, name: &str) -> Vec<u64> {
    let mut got: Vec<(u64, u64)> = sink
        .received_on(path)
        .iter()
        .map(Received::body_json)
        .filter(|body| body["replay-name"] == name)
        .map(|body| {
            let id = body["id"].as_str().expect("an id").replace('-', "");
            let seq = u64::from_str_radix(&id[16..], 16).expect("hex") & ((1 << 62) - 1);
            (seq, body["detail"]["n"].as_u64().expect("n"))
        })
        .collect();
    got.sort_unstable();
    got.into_iter().map(|(_, n)| n).collect()
}

async fn wait_for_replayed(sink: &Sink, path: &str, name: &str, n: usize) -> Vec<u64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = replayed_on(sink, path, name);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{path} got {} of {n} replayed events",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_window_replay_reaches_only_the_filter_rules_once_in_event_time_order() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let base = archived_events(&server, &sink, 40).await;
    let live_b = sink.received_on("/b").len();

    let filter = vec![rule_arn(&server, "a").await];
    let body = start_body(
        &server,
        "only-a",
        base + 10,
        base + 29,
        Some(filter.clone()),
    )
    .await;
    let started = server.aws_ok("StartReplay", &body).await;
    assert_eq!(started["State"], "STARTING");
    assert!(
        started["ReplayArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with(":replay/only-a")),
        "{started}"
    );
    assert!(started["ReplayStartTime"].is_number(), "{started}");
    let done = wait_for_state(&server, "only-a", "COMPLETED").await;
    assert_eq!(done["Destination"]["FilterArns"], json!(filter));
    assert_eq!(
        done["EventLastReplayedTime"].as_f64(),
        Some((base + 29) as f64)
    );
    assert!(done["ReplayEndTime"].is_number(), "{done}");

    let got = wait_for_replayed(&sink, "/a", "only-a", 20).await;
    assert_eq!(
        got,
        (10..30).collect::<Vec<u64>>(),
        "each once, in time order"
    );
    let live = sink.received_on("/a");
    let replayed: Vec<Value> = live
        .iter()
        .map(Received::body_json)
        .filter(|b| b["replay-name"] == "only-a")
        .collect();
    assert!(replayed.iter().all(|b| b["source"] == SOURCE));
    // The router has routed everything /a got; /b was not offered any of it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sink.received_on("/b").len(), live_b, "rule b got nothing");
    assert_eq!(
        replayed_on(&sink, "/a", "only-a").len(),
        20,
        "no duplicates"
    );
    assert_eq!(
        archive_count(&server).await,
        40,
        "replayed events are not archived"
    );

    let progress = server.get("/v1/replays/only-a").await;
    assert_eq!(progress.status, StatusCode::OK);
    let progress = progress.json();
    assert_eq!(
        (
            &progress["state"],
            &progress["replayed"],
            &progress["total"]
        ),
        (&json!("COMPLETED"), &json!(20), &json!(20))
    );
}

#[tokio::test]
async fn a_replay_without_filter_arns_reaches_every_rule() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let base = archived_events(&server, &sink, 20).await;
    let body = start_body(&server, "all-rules", base, base + 4, None).await;
    server.aws_ok("StartReplay", &body).await;
    wait_for_state(&server, "all-rules", "COMPLETED").await;
    for path in ["/a", "/b"] {
        let got = wait_for_replayed(&sink, path, "all-rules", 5).await;
        assert_eq!(got, vec![0, 1, 2, 3, 4], "{path}");
    }
    let listed = server
        .aws_ok("ListReplays", &json!({ "State": "COMPLETED" }))
        .await;
    assert_eq!(listed["Replays"][0]["ReplayName"], "all-rules", "{listed}");
    let none = server
        .aws_ok("ListReplays", &json!({ "NamePrefix": "zzz" }))
        .await;
    assert_eq!(none["Replays"], json!([]));
}

#[tokio::test]
async fn a_cancelled_replay_stops_and_cannot_be_cancelled_again() {
    let sink = Sink::start().await;
    let server = fast_retries()
        .env("STOWAGE_REPLAY__EVENTS_PER_SEC", "10")
        .start()
        .await;
    let base = archived_events(&server, &sink, 40).await;
    let body = start_body(&server, "slow", base, base + 39, None).await;
    server.aws_ok("StartReplay", &body).await;
    wait_for_replayed(&sink, "/a", "slow", 2).await;
    let cancelled = server
        .aws_ok("CancelReplay", &json!({ "ReplayName": "slow" }))
        .await;
    assert_eq!(cancelled["State"], "CANCELLING");
    assert!(cancelled["ReplayArn"].is_string());
    wait_for_state(&server, "slow", "CANCELLED").await;
    let again = server
        .aws("CancelReplay", &json!({ "ReplayName": "slow" }).to_string())
        .await;
    assert_eq!(again.aws_type(), "IllegalStatusException", "{again:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = replayed_on(&sink, "/a", "slow");
    assert!(got.len() < 40, "stopped before the end: {}", got.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_killed_midway_finishes_after_restart_with_every_window_event() {
    let sink = Sink::start().await;
    let mut server = fast_retries()
        .env("STOWAGE_REPLAY__EVENTS_PER_SEC", "40")
        .start()
        .await;
    let base = archived_events(&server, &sink, 80).await;
    let body = start_body(&server, "survivor", base + 5, base + 74, None).await;
    server.aws_ok("StartReplay", &body).await;
    wait_for_replayed(&sink, "/a", "survivor", 30).await;
    server.kill9().await;
    let before = replayed_on(&sink, "/a", "survivor").len();
    assert!(before < 70, "killed midway: {before} replayed");
    server.restart().await;
    wait_for_state(&server, "survivor", "COMPLETED").await;
    for path in ["/a", "/b"] {
        let deadline = Instant::now() + WAIT;
        loop {
            let got: HashSet<u64> = replayed_on(&sink, path, "survivor").into_iter().collect();
            let wanted: HashSet<u64> = (5..75).collect();
            assert!(got.is_subset(&wanted), "{path}: none outside the window");
            if got == wanted {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{path}: {} of 70 window events delivered; logs:\n{}",
                got.len(),
                server.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Resumed from its cursor: only the batches after the last durable cursor
    // came again (from the start, at least 30 + 70 copies would have).
    let copies = replayed_on(&sink, "/a", "survivor").len();
    eprintln!(
        "killed after {before} replayed deliveries; {copies} copies of the 70 window events in the end"
    );
    assert!(copies < 95, "{copies} copies of 70 window events");
}

#[tokio::test]
async fn bad_replay_requests_get_their_aws_errors_and_change_nothing() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let base = archived_events(&server, &sink, 4).await;
    server
        .aws_ok("CreateEventBus", &json!({ "Name": "other" }))
        .await;
    server
        .aws_ok(
            "PutRule",
            &json!({ "Name": "elsewhere", "EventBusName": "other", "EventPattern": json!({ "source": [SOURCE] }).to_string() }),
        )
        .await;
    let other_rule = server
        .aws_ok(
            "DescribeRule",
            &json!({ "Name": "elsewhere", "EventBusName": "other" }),
        )
        .await["Arn"]
        .as_str()
        .expect("an ARN")
        .to_owned();
    let other_bus = server
        .aws_ok("DescribeEventBus", &json!({ "Name": "other" }))
        .await["Arn"]
        .as_str()
        .expect("an ARN")
        .to_owned();
    let good = start_body(&server, "ok", base, base + 3, None).await;
    server.aws_ok("StartReplay", &good).await;
    wait_for_state(&server, "ok", "COMPLETED").await;

    let future = chrono::Utc::now().timestamp() + 3600;
    let with = |change: &dyn Fn(&mut Value)| {
        let mut body = good.clone();
        body["ReplayName"] = json!("bad");
        change(&mut body);
        body
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("same name", good.clone(), "ResourceAlreadyExistsException"),
        (
            "unknown archive",
            with(&|b| {
                b["EventSourceArn"] = json!(
                    b["EventSourceArn"]
                        .as_str()
                        .unwrap()
                        .replace("arch", "nope")
                )
            }),
            "ValidationException",
        ),
        (
            "reversed window",
            with(&|b| {
                b["EventStartTime"] = json!(base + 3);
                b["EventEndTime"] = json!(base);
            }),
            "ValidationException",
        ),
        (
            "window in the future",
            with(&|b| {
                b["EventStartTime"] = json!(future);
                b["EventEndTime"] = json!(future + 60);
            }),
            "ValidationException",
        ),
        (
            "filter rule of another bus",
            with(&|b| b["Destination"]["FilterArns"] = json!([other_rule.clone()])),
            "ValidationException",
        ),
        (
            "destination not the archive's bus",
            with(&|b| b["Destination"]["Arn"] = json!(other_bus.clone())),
            "ValidationException",
        ),
        (
            "unknown destination bus",
            with(&|b| b["Destination"]["Arn"] = json!(other_bus.replace("other", "ghost"))),
            "ResourceNotFoundException",
        ),
        (
            "unknown filter rule",
            with(&|b| {
                b["Destination"]["FilterArns"] =
                    json!([other_rule.replace("other/elsewhere", "ghost")])
            }),
            "ResourceNotFoundException",
        ),
        (
            "name over the limit",
            with(&|b| b["ReplayName"] = json!("r".repeat(65))),
            "ValidationException",
        ),
        (
            "name with a slash",
            with(&|b| b["ReplayName"] = json!("a/b")),
            "ValidationException",
        ),
        (
            "missing destination",
            with(&|b| {
                b.as_object_mut().unwrap().remove("Destination");
            }),
            "ValidationException",
        ),
    ];
    let mut seen = BTreeMap::new();
    for (what, body, kind) in cases {
        let reply = server.aws("StartReplay", &body.to_string()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{what}: {reply:?}");
        assert_eq!(reply.aws_type(), kind, "{what}: {reply:?}");
        seen.insert(what, reply.json()["message"].clone());
    }
    eprintln!("{seen:#?}");
    for (operation, body, kind) in [
        (
            "DescribeReplay",
            json!({ "ReplayName": "nope" }),
            "ResourceNotFoundException",
        ),
        (
            "CancelReplay",
            json!({ "ReplayName": "nope" }),
            "ResourceNotFoundException",
        ),
        (
            "CancelReplay",
            json!({ "ReplayName": "ok" }),
            "IllegalStatusException",
        ),
        (
            "ListReplays",
            json!({ "State": "DONE" }),
            "ValidationException",
        ),
        ("ListReplays", json!({ "Limit": 0 }), "ValidationException"),
    ] {
        let reply = server.aws(operation, &body.to_string()).await;
        assert_eq!(reply.aws_type(), kind, "{operation} {body}: {reply:?}");
    }
    let listed = server.aws_ok("ListReplays", &json!({})).await;
    let names: Vec<&str> = listed["Replays"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["ReplayName"].as_str())
        .collect();
    assert_eq!(names, vec!["ok"], "nothing changed");
    let missing = server.get("/v1/replays/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(server.healthz().await, StatusCode::OK, "server up");
}

#[tokio::test]
async fn an_eleventh_active_replay_is_refused_with_limit_exceeded() {
    let sink = Sink::start().await;
    let server = fast_retries()
        .env("STOWAGE_REPLAY__EVENTS_PER_SEC", "1")
        .start()
        .await;
    let base = archived_events(&server, &sink, 10).await;
    for i in 0..10 {
        let body = start_body(&server, &format!("busy-{i}"), base, base + 9, None).await;
        server.aws_ok("StartReplay", &body).await;
    }
    let body = start_body(&server, "one-too-many", base, base + 9, None).await;
    let refused = server.aws("StartReplay", &body.to_string()).await;
    assert_eq!(refused.aws_type(), "LimitExceededException", "{refused:?}");
    let missing = server
        .aws(
            "DescribeReplay",
            &json!({ "ReplayName": "one-too-many" }).to_string(),
        )
        .await;
    assert_eq!(
        missing.aws_type(),
        "ResourceNotFoundException",
        "nothing stored"
    );
    // A cancelled replay is no longer active once its runner ends it.
    server
        .aws_ok("CancelReplay", &json!({ "ReplayName": "busy-0" }))
        .await;
    wait_for_state(&server, "busy-0", "CANCELLED").await;
    server.aws_ok("StartReplay", &body).await;
}
