//! The test sink itself (`support::sink`): answers as programmed, records what it
//! got, does not let one hanging request hold up others, and lets go of its port
//! when dropped. Delivery tests rely on all of this.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinSet;

use crate::support::http;
use crate::support::sink::{Answer, Behaviour, Received, Sink, rate_per_sec};

const WAIT: Duration = Duration::from_secs(2);

async fn post(sink: &Sink, path: &str, body: &str) -> reqwest::Response {
    http()
        .post(sink.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(WAIT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} to the sink: {e}"))
}

async fn post_bearer(sink: &Sink, path: &str, token: &str) -> StatusCode {
    http()
        .post(sink.url(path))
        .bearer_auth(token)
        .timeout(WAIT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path} to the sink: {e}"))
        .status()
}

#[tokio::test]
async fn fail_times_answers_the_status_then_ok_and_records_every_request() {
    let sink = Sink::start().await;
    sink.set(Behaviour::FailTimes { n: 2, status: 503 });

    let mut statuses = Vec::new();
    for attempt in 0..3 {
        let body = json!({ "attempt": attempt }).to_string();
        statuses.push(post(&sink, "/hook?x=1", &body).await.status().as_u16());
    }
    assert_eq!(statuses, [503, 503, 200]);

    let received = sink.wait_for(3, WAIT).await;
    assert_eq!(received.len(), 3);
    for (attempt, request) in received.iter().enumerate() {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path_and_query, "/hook?x=1");
        assert_eq!(request.path(), "/hook");
        assert_eq!(request.header("Content-Type"), Some("application/json"));
        assert_eq!(request.body_json(), json!({ "attempt": attempt }));
    }
}

#[tokio::test]
async fn a_hanging_path_does_not_block_another_path() {
    let sink = Sink::start().await;
    sink.set_for("/slow", Behaviour::Hang);
    let slow = tokio::spawn(
        http()
            .post(sink.url("/slow"))
            .timeout(Duration::from_millis(500))
            .send(),
    );
    sink.wait_for_on("/slow", 1, WAIT).await;

    let fast = post(&sink, "/fast", "{}").await;
    assert_eq!(fast.status(), StatusCode::OK);

    let slow = slow.await.expect("the slow request task");
    let error = slow.expect_err("a hanging path never answers");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(sink.received_on("/fast").len(), 1);
}

#[tokio::test]
async fn retry_after_is_sent_for_the_first_n_requests_only() {
    let sink = Sink::start().await;
    sink.set_for(
        "/hook",
        Behaviour::RetryAfter {
            n: 1,
            status: 429,
            retry_after: "2".into(),
        },
    );

    let first = post(&sink, "/hook", "{}").await;
    assert_eq!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        first.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"2"[..])
    );
    let second = post(&sink, "/hook", "{}").await;
    assert_eq!(second.status(), StatusCode::OK);
    assert!(second.headers().get("retry-after").is_none());

    let other = post(&sink, "/other", "{}").await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "other paths keep the default"
    );
}

#[tokio::test]
async fn oauth_tokens_increment_and_a_protected_path_wants_the_latest() {
    let sink = Sink::start().await;
    sink.oauth_token_endpoint("/token", 60);
    sink.require_bearer("/hook");

    let anonymous = post(&sink, "/hook", "{}").await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let grant = "grant_type=client_credentials&client_id=c&client_secret=s";
    let first: serde_json::Value = post(&sink, "/token", grant)
        .await
        .json()
        .await
        .expect("a JSON token response");
    assert_eq!(
        first,
        json!({ "access_token": "tok-1", "token_type": "Bearer", "expires_in": 60 })
    );
    assert_eq!(post_bearer(&sink, "/hook", "tok-1").await, StatusCode::OK);

    let second = http()
        .get(sink.url("/token"))
        .timeout(WAIT)
        .send()
        .await
        .expect("GET the token endpoint");
    let second: serde_json::Value = second.json().await.expect("a JSON token response");
    assert_eq!(second["access_token"], "tok-2");
    assert_eq!(sink.tokens_issued(), 2);
    assert_eq!(
        post_bearer(&sink, "/hook", "tok-1").await,
        StatusCode::UNAUTHORIZED,
        "only the latest token is accepted"
    );
    assert_eq!(post_bearer(&sink, "/hook", "tok-2").await, StatusCode::OK);

    sink.revoke_tokens();
    assert_eq!(
        post_bearer(&sink, "/hook", "tok-2").await,
        StatusCode::UNAUTHORIZED
    );
    let tokens = sink.received_on("/token");
    assert_eq!(tokens.len(), 2);
    assert_eq!(tokens[0].body_text(), grant);
    assert_eq!(sink.received_on("/hook").len(), 5);
}

#[tokio::test]
async fn fixed_delayed_and_custom_answers() {
    let sink = Sink::start().await;
    sink.set_for("/gone", Behaviour::Status(410));
    let fixed = Answer::status(400).json(&json!({ "error": "bad" }));
    sink.set_for("/bad", Behaviour::Answer(fixed));
    sink.set_for("/late", Behaviour::Delay(Duration::from_millis(150)));
    sink.set_for(
        "/echo",
        Behaviour::custom(|request| Answer::status(202).body(request.body.clone())),
    );

    assert_eq!(post(&sink, "/gone", "{}").await.status(), StatusCode::GONE);
    let bad = post(&sink, "/bad", "{}").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        bad.text().await.expect("the fixed body"),
        r#"{"error":"bad"}"#
    );

    let started = Instant::now();
    assert_eq!(post(&sink, "/late", "{}").await.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));

    let echo = post(&sink, "/echo", "hello").await;
    assert_eq!(echo.status(), StatusCode::ACCEPTED);
    assert_eq!(echo.text().await.expect("the echoed body"), "hello");

    let all = sink.wait_quiet(Duration::from_millis(100), WAIT).await;
    let paths: Vec<&str> = all.iter().map(Received::path).collect();
    assert_eq!(paths, ["/gone", "/bad", "/late", "/echo"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_hundreds_of_concurrent_keep_alive_requests_per_second() {
    const CLIENTS: usize = 16;
    const EACH: usize = 25;
    let sink = Sink::start().await;
    let mut clients = JoinSet::new();
    for client in 0..CLIENTS {
        let url = sink.url(&format!("/load/{client}"));
        clients.spawn(async move {
            for _ in 0..EACH {
                let response = http()
                    .post(&url)
                    .body("{}")
                    .timeout(WAIT)
                    .send()
                    .await
                    .expect("POST to the sink");
                assert_eq!(response.status(), StatusCode::OK);
            }
        });
    }
    while let Some(client) = clients.join_next().await {
        client.expect("a load client");
    }
    let received = sink.wait_for(CLIENTS * EACH, WAIT).await;
    let rate = rate_per_sec(&received);
    assert!(rate > 200.0, "the sink served only {rate:.0} requests/s");
}

#[tokio::test]
async fn dropping_the_sink_ends_hanging_requests_and_frees_its_port() {
    let sink = Sink::start().await;
    sink.set(Behaviour::Hang);
    let addr = sink.addr();
    let hanging = tokio::spawn(http().get(sink.url("/")).timeout(WAIT).send());
    sink.wait_for(1, WAIT).await;

    let dropped = Instant::now();
    drop(sink);
    let error = hanging
        .await
        .expect("the hanging request task")
        .expect_err("no answer comes from a dropped sink");
    assert!(!error.is_timeout(), "the connection was closed: {error}");
    assert!(dropped.elapsed() < WAIT);

    let refused = tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(refused.is_ok(), "{addr} still accepts after the drop");
}

#[tokio::test]
#[should_panic(expected = "sink: expected 1 requests within 50ms, 0 arrived")]
async fn wait_for_says_how_many_arrived() {
    let sink = Sink::start().await;
    sink.wait_for(1, Duration::from_millis(50)).await;
}

#[test]
fn rate_per_sec_counts_intervals_between_first_and_last() {
    let start = Instant::now();
    let at = |ms: u64| Received {
        method: "POST".into(),
        path_and_query: "/".into(),
        headers: Default::default(),
        body: Vec::new(),
        at: start + Duration::from_millis(ms),
    };
    let received: Vec<Received> = (0..=10).rev().map(|i| at(i * 100)).collect();
    let rate = rate_per_sec(&received);
    assert!((rate - 10.0).abs() < 1e-9, "{rate}");
}
