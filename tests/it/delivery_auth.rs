//! Delivery through API destinations: each connection's auth on the wire
//! (API key, Basic, OAuth client credentials with its token cache and the
//! refetch after a 401), the connection's invocation parameters winning over
//! the target's, secrets kept out of status, dead letters and logs, a
//! deauthorized connection, and the destination's method and path parameters.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::TestServer;
use crate::support::routes::fast_retries;
use crate::support::sink::{Behaviour, Sink, closed_url};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = "pw-basic-0e4d";
/// base64("alice:pw-basic-0e4d")
const BASIC: &str = "Basic YWxpY2U6cHctYmFzaWMtMGU0ZA==";
const API_KEY: &str = "key-7c1e-secret";
const CLIENT_SECRET: &str = "client-5d2b-secret";
/// base64("svc:client-5d2b-secret")
const CLIENT_BASIC: &str = "Basic c3ZjOmNsaWVudC01ZDJiLXNlY3JldA==";
const HEADER_SECRET: &str = "hdr-91ab-secret";
const QUERY_SECRET: &str = "qry-3e07-secret";
const BODY_SECRET: &str = "body-44fe-secret";

fn basic(password: &str) -> Value {
    json!({ "BasicAuthParameters": { "Username": "alice", "Password": password } })
}

fn api_key() -> Value {
    json!({ "ApiKeyAuthParameters": { "ApiKeyName": "x-api-key", "ApiKeyValue": API_KEY } })
}

fn param(key: &str, value: &str, secret: bool) -> Value {
    json!({ "Key": key, "Value": value, "IsValueSecret": secret })
}

/// The `(key, value)` pairs of a form-encoded body, in order.
fn url_pairs(form: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{form}"))
        .expect("a form body")
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// Rule `r` for source `s` with these targets.
async fn route(server: &TestServer, targets: Value) {
    server.put_rule("r", &json!({ "source": ["s"] })).await;
    server.put_targets("r", targets).await;
}

#[tokio::test]
async fn api_key_and_basic_connections_authorize_every_request() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let key = server.create_connection("key", "API_KEY", api_key()).await;
    let user = server
        .create_connection("user", "BASIC", basic(PASSWORD))
        .await;
    let keyed = server
        .create_api_destination("keyed", &key, &sink.url("/keyed"), "POST", json!({}))
        .await;
    let login = server
        .create_api_destination("login", &user, &sink.url("/login"), "POST", json!({}))
        .await;
    route(
        &server,
        json!([{ "Id": "keyed", "Arn": keyed }, { "Id": "login", "Arn": login }]),
    )
    .await;
    let id = server.publish_from("s", json!({ "n": 1 })).await;

    let keyed = &sink.wait_for_on("/keyed", 1, WAIT).await[0];
    assert_eq!(keyed.header("x-api-key"), Some(API_KEY));
    assert_eq!(keyed.header("authorization"), None);
    let login = &sink.wait_for_on("/login", 1, WAIT).await[0];
    assert_eq!(login.header("authorization"), Some(BASIC));
    assert_eq!(login.header("x-api-key"), None);
    for request in [keyed, login] {
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("webhook-id"), Some(id.as_str()));
        assert_eq!(request.body_json()["detail"]["data"], json!({ "n": 1 }));
    }
}

#[tokio::test]
async fn an_oauth_token_is_fetched_once_cached_and_refetched_after_a_401() {
    let sink = Sink::start().await;
    sink.oauth_token_endpoint("/token", 3600);
    sink.require_bearer("/hook");
    let server = fast_retries().start().await;
    let oauth = json!({ "OAuthParameters": {
        "ClientParameters": { "ClientID": "svc", "ClientSecret": CLIENT_SECRET },
        "AuthorizationEndpoint": sink.url("/token"),
        "HttpMethod": "POST",
        "OAuthHttpParameters": {
            "HeaderParameters": [param("x-realm", "hooks", false)],
            "QueryStringParameters": [param("tenant", "acme", false)],
            "BodyParameters": [param("audience", "stowage", true)],
        },
    } });
    let connection = server
        .create_connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth)
        .await;
    let destination = server
        .create_api_destination("hook", &connection, &sink.url("/hook"), "POST", json!({}))
        .await;
    route(&server, json!([{ "Id": "t", "Arn": destination }])).await;
    for n in 0..3 {
        server.publish_from("s", json!({ "n": n })).await;
    }

    let hooks = sink.wait_for_on("/hook", 3, WAIT).await;
    assert!(
        hooks
            .iter()
            .all(|r| r.header("authorization") == Some("Bearer tok-1")),
        "{hooks:?}"
    );
    assert_eq!(sink.tokens_issued(), 1, "one fetch, then the cached token");
    let token = &sink.received_on("/token")[0];
    assert_eq!(token.method, "POST");
    assert_eq!(token.header("authorization"), Some(CLIENT_BASIC));
    assert_eq!(
        token.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form: Vec<(String, String)> = url_pairs(&token.body_text());
    assert!(
        form.contains(&("grant_type".into(), "client_credentials".into()))
            && form.contains(&("audience".into(), "stowage".into())),
        "{form:?}"
    );
    assert_eq!(
        token.query_pairs(),
        [("tenant".to_owned(), "acme".to_owned())]
    );
    assert_eq!(token.header("x-realm"), Some("hooks"));

    // The endpoint stops accepting tok-1: one 401, a new token, the same attempt.
    sink.revoke_tokens();
    let last = server.publish_from("s", json!({ "n": 3 })).await;
    let hooks = sink.wait_for_on("/hook", 5, WAIT).await;
    let bearers: Vec<_> = hooks[3..]
        .iter()
        .map(|r| (r.header("webhook-id"), r.header("authorization")))
        .collect();
    assert_eq!(
        bearers,
        [
            (Some(last.as_str()), Some("Bearer tok-1")),
            (Some(last.as_str()), Some("Bearer tok-2")),
        ]
    );
    let status = server
        .wait_for_target("t", WAIT, |t| t["delivered"] == 4)
        .await;
    assert_eq!(
        status["retried"], 0,
        "refetched within the attempt: {status}"
    );
    assert_eq!(sink.tokens_issued(), 2);
    assert!(server.dead_letters("").await.is_empty());
}

/// An API key connection with plain and secret invocation parameters, some on
/// keys the target sets too.
fn with_invocation_parameters() -> Value {
    let mut auth = api_key();
    auth["InvocationHttpParameters"] = json!({
        "HeaderParameters": [
            param("x-tenant", "acme", false),
            param("x-shared", "from-connection", false),
            param("x-signature", HEADER_SECRET, true),
        ],
        "QueryStringParameters": [
            param("v", "2", false),
            param("shared", "connection", false),
            param("sig", QUERY_SECRET, true),
        ],
        "BodyParameters": [
            param("shared", "connection", false),
            param("token", BODY_SECRET, true),
        ],
    });
    auth
}

#[tokio::test]
async fn connection_invocation_parameters_arrive_and_win_over_the_targets() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let connection = server
        .create_connection("c", "API_KEY", with_invocation_parameters())
        .await;
    let destination = server
        .create_api_destination("d", &connection, &sink.url("/hook"), "POST", json!({}))
        .await;
    route(
        &server,
        json!([{
            "Id": "t",
            "Arn": destination,
            "Input": r#"{"shared":"target","n":1}"#,
            "HttpParameters": {
                "HeaderParameters": { "x-shared": "from-target", "x-target": "t" },
                "QueryStringParameters": { "shared": "target", "t": "1" },
            },
        }]),
    )
    .await;
    server.publish_from("s", json!({})).await;

    let request = &sink.wait_for_on("/hook", 1, WAIT).await[0];
    assert_eq!(request.header("x-tenant"), Some("acme"));
    assert_eq!(request.header("x-shared"), Some("from-connection"));
    assert_eq!(request.header("x-target"), Some("t"));
    assert_eq!(request.header("x-signature"), Some(HEADER_SECRET));
    assert_eq!(request.header("x-api-key"), Some(API_KEY));
    let pairs = [
        ("shared", "connection"),
        ("sig", QUERY_SECRET),
        ("t", "1"),
        ("v", "2"),
    ];
    assert_eq!(
        request.query_pairs(),
        pairs.map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    assert_eq!(
        request.body_json(),
        json!({ "shared": "connection", "n": 1, "token": BODY_SECRET })
    );
}

/// Every secret of the test, and no response or log line may hold any.
fn assert_no_secret(what: &str, text: &str) {
    for secret in [
        PASSWORD,
        API_KEY,
        CLIENT_SECRET,
        HEADER_SECRET,
        QUERY_SECRET,
        BODY_SECRET,
    ] {
        assert!(!text.contains(secret), "{secret} leaked in {what}: {text}");
    }
}

#[tokio::test]
async fn secrets_reach_the_target_but_not_status_dead_letters_or_logs() {
    let sink = Sink::start().await;
    sink.set_for("/refused", Behaviour::Status(400));
    let server = fast_retries().env("RUST_LOG", "trace").start().await;
    let connection = server
        .create_connection("c", "API_KEY", with_invocation_parameters())
        .await;
    let user = server
        .create_connection("user", "BASIC", basic(PASSWORD))
        .await;
    let ok = server
        .create_api_destination("ok", &connection, &sink.url("/ok"), "POST", json!({}))
        .await;
    let refused = server
        .create_api_destination("refused", &user, &sink.url("/refused"), "POST", json!({}))
        .await;
    route(
        &server,
        json!([{ "Id": "ok", "Arn": ok }, { "Id": "refused", "Arn": refused }]),
    )
    .await;
    server.publish_from("s", json!({})).await;

    let sent = &sink.wait_for_on("/ok", 1, WAIT).await[0];
    assert!(sent.path_and_query.contains(QUERY_SECRET), "{sent:?}");
    let letters = server.wait_for_dead_letters("", 1, WAIT).await;
    assert_eq!(letters[0]["errorCode"], "CLIENT_ERROR");
    server
        .wait_for_target("ok", WAIT, |t| t["delivered"] == 1)
        .await;
    let id = letters[0]["id"].as_str().expect("an id");
    assert_no_secret("/v1/targets", &server.get("/v1/targets").await.text());
    assert_no_secret("dead letters", &server.get("/v1/dead-letters").await.text());
    let letter = server.get(&format!("/v1/dead-letters/{id}")).await;
    assert_no_secret("a dead letter", &letter.text());
    assert_no_secret("the logs", &server.logs());
}

#[tokio::test]

async fn a_transport_error_does_not_leak_secret_query_parameters() {
    let server = fast_retries().start().await;
    let keyed = server
        .create_connection("keyed", "API_KEY", with_invocation_parameters())
        .await;
    let oauth = json!({ "OAuthParameters": {
        "ClientParameters": { "ClientID": "svc", "ClientSecret": CLIENT_SECRET },
        "AuthorizationEndpoint": closed_url("/token"),
        "HttpMethod": "POST",
        "OAuthHttpParameters": { "QueryStringParameters": [param("sig", QUERY_SECRET, true)] },
    } });
    let oauth = server
        .create_connection("oauth", "OAUTH_CLIENT_CREDENTIALS", oauth)
        .await;
    let mut targets = Vec::new();
    for (name, connection) in [("keyed", keyed), ("oauth", oauth)] {
        let arn = server
            .create_api_destination(name, &connection, &closed_url("/down"), "POST", json!({}))
            .await;
        let no_retries = json!({ "MaximumRetryAttempts": 0 });
        targets.push(json!({ "Id": name, "Arn": arn, "RetryPolicy": no_retries }));
    }
    route(&server, Value::Array(targets)).await;
    server.publish_from("s", json!({})).await;

    let letters = server.wait_for_dead_letters("", 2, WAIT).await;
    let mut codes: Vec<_> = letters.iter().map(|l| l["errorCode"].clone()).collect();
    codes.sort_by_key(Value::to_string);
    assert_eq!(
        codes,
        [json!("CONNECTION_ERROR"), json!("OAUTH_TOKEN_FAILED")]
    );
    assert_no_secret("/v1/targets", &server.get("/v1/targets").await.text());
    assert_no_secret("dead letters", &server.get("/v1/dead-letters").await.text());
    assert_no_secret("the logs", &server.logs());
}

#[tokio::test]
async fn a_deauthorized_connection_dead_letters_until_it_is_authorized_and_redriven() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let user = server
        .create_connection("user", "BASIC", basic(PASSWORD))
        .await;
    let destination = server
        .create_api_destination("d", &user, &sink.url("/hook"), "POST", json!({}))
        .await;
    route(&server, json!([{ "Id": "t", "Arn": destination }])).await;
    server
        .aws_ok("DeauthorizeConnection", &json!({ "Name": "user" }))
        .await;
    let id = server.publish_from("s", json!({})).await;

    let letters = server.wait_for_dead_letters("", 1, WAIT).await;
    assert_eq!(letters[0]["errorCode"], "CONNECTION_DEAUTHORIZED");
    assert_eq!(letters[0]["exhaustedRetryCondition"], Value::Null);
    assert_eq!(letters[0]["attempts"], 1);
    assert_eq!(sink.count(), 0, "nothing was sent");

    let rotated = "pw-rotated-77aa";
    let update = json!({ "Name": "user", "AuthParameters": basic(rotated) });
    let updated = server.aws_ok("UpdateConnection", &update).await;
    assert_eq!(updated["ConnectionState"], "AUTHORIZED");
    let reply = server.redrive(&json!({ "ids": [letters[0]["id"]] })).await;
    assert_eq!(reply.json()["redriven"], 1, "{reply:?}");
    let request = &sink.wait_for(1, WAIT).await[0];
    assert_eq!(request.header("webhook-id"), Some(id.as_str()));
    // base64("alice:pw-rotated-77aa")
    assert_eq!(
        request.header("authorization"),
        Some("Basic YWxpY2U6cHctcm90YXRlZC03N2Fh")
    );
    assert!(server.dead_letters("").await.is_empty());
}

#[tokio::test]
async fn the_destination_method_and_path_parameters_shape_the_request() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let key = server.create_connection("key", "API_KEY", api_key()).await;
    let orders = sink.url("/orders/*/items/*");
    let put = server
        .create_api_destination("put", &key, &orders, "PUT", json!({}))
        .await;
    let get = server
        .create_api_destination("get", &key, &sink.url("/lookup/*"), "GET", json!({}))
        .await;
    let static_and_dynamic = json!({ "PathParameterValues": ["eu west", "$.detail.data.item"] });
    let number = json!({ "PathParameterValues": ["$.detail.data.n"] });
    route(
        &server,
        json!([
            { "Id": "put", "Arn": put, "HttpParameters": static_and_dynamic },
            { "Id": "get", "Arn": get, "HttpParameters": number },
        ]),
    )
    .await;
    server
        .publish_from("s", json!({ "item": "a/b?c", "n": 7 }))
        .await;

    let put = &sink
        .wait_for_on("/orders/eu%20west/items/a%2Fb%3Fc", 1, WAIT)
        .await[0];
    assert_eq!(put.method, "PUT");
    assert_eq!(put.body_json()["detail"]["data"]["n"], 7);
    let get = &sink.wait_for_on("/lookup/7", 1, WAIT).await[0];
    assert_eq!(get.method, "GET");
    assert!(get.body.is_empty(), "GET carries no body: {get:?}");
    assert_eq!(sink.count(), 2, "{:?}", sink.received());
}
