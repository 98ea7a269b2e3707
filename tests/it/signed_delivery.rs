//! Signed deliveries (Standard Webhooks) and secrets at rest, end to end: a
//! real sink receives signed requests that an independent verifier accepts
//! (the `standardwebhooks` Python package when installed, and always a
//! verifier written here from the spec alone); a rotation signs with both
//! secrets; the data directory's files never hold a connection or signing
//! secret after writes and a restart; a data directory written before
//! sealing still loads.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::support::TestServer;
use crate::support::api::http;
use crate::support::routes::fast_retries;
use crate::support::sink::{Received, Sink};

const WAIT: Duration = Duration::from_secs(10);
/// 32 bytes of key; the test supplies it so it can verify with it.
const SECRET_A: &str = "whsec_c2lnbmluZy1zZWNyZXQtQS0wMTIzNDU2Nzg5YWJjZGVm";
const SECRET_B: &str = "whsec_c2lnbmluZy1zZWNyZXQtQi0wMTIzNDU2Nzg5YWJjZGVm";
const API_KEY: &str = "apikey-5f0e-at-rest";
const PASSWORD: &str = "basicpw-77c3-at-rest";
const PARAM_SECRET: &str = "param-1b9d-at-rest";

/// Verifies from the spec alone: some `v1,` entry of the signature header is
/// base64(HMAC-SHA256(base64-decoded key after `whsec_`, "id.ts.body")).
fn spec_verifies(secret: &str, received: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ secret"))
        .expect("base64 key");
    let id = received.header("webhook-id").expect("webhook-id");
    let ts = received
        .header("webhook-timestamp")
        .expect("webhook-timestamp");
    let now = chrono::Utc::now().timestamp();
    let sent: i64 = ts.parse().expect("integer unix seconds");
    assert!(
        (now - sent).abs() < 300,
        "timestamp {sent} is not now ({now})"
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&received.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    received
        .header("webhook-signature")
        .expect("webhook-signature")
        .split(' ')
        .any(|s| s == expected)
}

fn python_package_available() -> bool {
    Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the `standardwebhooks` package's `Webhook(secret).verify(body, headers)`.
fn python_verifies(secret: &str, received: &Received) -> bool {
    let script = r#"
import base64, json, sys
from standardwebhooks import Webhook
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(base64.b64decode(d["body"]), d["headers"], json_parse=False)
except Exception as e:
    print(type(e).__name__, e, file=sys.stderr)
    sys.exit(1)
"#;
    let input = json!({
        "secret": secret,
        "body": STANDARD.encode(&received.body),
        "headers": {
            "webhook-id": received.header("webhook-id"),
            "webhook-timestamp": received.header("webhook-timestamp"),
            "webhook-signature": received.header("webhook-signature"),
        },
    });
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .spawn()
        .expect("run python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write to python3");
    child.wait().expect("python3 exits").success()
}

/// Both verifiers agree on `expected`; the package's is skipped (and said)
/// when it is not installed (`.ci/run` installs it).
fn assert_verifies(secret: &str, received: &Received, expected: bool) {
    assert_eq!(spec_verifies(secret, received), expected, "spec verifier");
    if python_package_available() {
        assert_eq!(
            python_verifies(secret, received),
            expected,
            "standardwebhooks"
        );
    } else {
        eprintln!("standardwebhooks Python package not installed: verified from the spec only");
    }
}

/// `/v1/signing/{subject}` with the subject percent-encoded.
fn signing_url(server: &TestServer, subject: &str, tail: &str) -> String {
    let encoded: String = subject
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    server.url(&format!("/v1/signing/{encoded}{tail}"))
}

async fn put_signing(server: &TestServer, subject: &str, body: Value) -> (u16, Value) {
    let reply = server
        .send(http().put(signing_url(server, subject, "")).json(&body))
        .await;
    (reply.status.as_u16(), reply.json())
}

async fn rotate(server: &TestServer, subject: &str, body: Value) -> (u16, Value) {
    let reply = server
        .send(
            http()
                .post(signing_url(server, subject, "/rotate"))
                .json(&body),
        )
        .await;
    (reply.status.as_u16(), reply.json())
}

#[tokio::test]
async fn deliveries_to_url_targets_and_api_destinations_are_signed_verifiably() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let url = sink.url("/plain");
    // A generated secret for the URL target: shown once, by this call only.
    let (status, set) = put_signing(&server, &url, json!({})).await;
    assert_eq!(status, 200, "{set}");
    let generated = set["secret"].as_str().expect("generated secret").to_owned();
    assert!(generated.starts_with("whsec_"));
    let listed = server.get("/v1/signing").await;
    assert!(
        !listed.text().contains(&generated[6..]),
        "{}",
        listed.text()
    );
    assert_eq!(listed.json()["signing"][0]["subject"], url.as_str());

    // A supplied secret for an API destination, by name.
    let connection = server
        .create_connection(
            "c",
            "API_KEY",
            json!({ "ApiKeyAuthParameters": { "ApiKeyName": "x-api-key", "ApiKeyValue": API_KEY } }),
        )
        .await;
    let destination = server
        .create_api_destination("dest", &connection, &sink.url("/dest"), "POST", json!({}))
        .await;
    let (status, set) = put_signing(&server, "dest", json!({ "secret": SECRET_A })).await;
    assert_eq!(status, 200, "{set}");
    assert!(
        set.get("secret").is_none(),
        "a supplied secret is not echoed"
    );

    server.put_rule("r", &json!({ "source": ["s"] })).await;
    server
        .put_targets(
            "r",
            json!([{ "Id": "plain", "Arn": url }, { "Id": "dest", "Arn": destination }]),
        )
        .await;
    let id = server.publish_from("s", json!({ "n": 1 })).await;

    let plain = &sink.wait_for_on("/plain", 1, WAIT).await[0];
    assert_eq!(plain.header("webhook-id"), Some(id.as_str()));
    assert_verifies(&generated, plain, true);
    assert_verifies(SECRET_A, plain, false);
    let dest = &sink.wait_for_on("/dest", 1, WAIT).await[0];
    assert_verifies(SECRET_A, dest, true);
    assert_eq!(
        dest.header("webhook-signature")
            .map(|s| s.split(' ').count()),
        Some(1)
    );
    assert!(!server.logs().contains(&generated[6..]));
    assert!(!server.logs().contains(&SECRET_A[6..]));
}

#[tokio::test]
async fn rotation_signs_with_old_and_new_secrets_until_the_grace_ends() {
    let sink = Sink::start().await;
    let server = fast_retries().start().await;
    let url = sink.url("/in");
    assert_eq!(
        put_signing(&server, &url, json!({ "secret": SECRET_A }))
            .await
            .0,
        200
    );
    server.route_source_to("r", "s", "t", &url, json!({})).await;

    let (status, rotated) = rotate(
        &server,
        &url,
        json!({ "secret": SECRET_B, "graceSecs": 3600 }),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["rotating"], true);
    server.publish_from("s", json!({ "n": 1 })).await;
    let during = &sink.wait_for_on("/in", 1, WAIT).await[0];
    let signatures = during.header("webhook-signature").expect("signed");
    assert_eq!(signatures.split(' ').count(), 2, "{signatures}");
    // A consumer knowing either secret accepts it.
    assert_verifies(SECRET_A, during, true);
    assert_verifies(SECRET_B, during, true);

    // A grace of zero: the old secret stops signing at once.
    let (status, rotated) =
        rotate(&server, &url, json!({ "secret": SECRET_A, "graceSecs": 0 })).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["rotating"], false);
    server.publish_from("s", json!({ "n": 2 })).await;
    let after = &sink.wait_for_on("/in", 2, WAIT).await[1];
    assert_eq!(
        after
            .header("webhook-signature")
            .map(|s| s.split(' ').count()),
        Some(1)
    );
    assert_verifies(SECRET_A, after, true);
    assert_verifies(SECRET_B, after, false);

    // Cleared: unsigned again, with its webhook-id.
    let reply = server
        .send(http().delete(signing_url(&server, &url, "")))
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    server.publish_from("s", json!({ "n": 3 })).await;
    let unsigned = &sink.wait_for_on("/in", 3, WAIT).await[2];
    assert!(unsigned.header("webhook-id").is_some());
    assert_eq!(unsigned.header("webhook-signature"), None);
    assert_eq!(unsigned.header("webhook-timestamp"), None);
}

#[tokio::test]
async fn bad_signing_requests_are_refused_without_echoing_secrets() {
    let server = TestServer::start().await;
    let url = "http://127.0.0.1:9/in";
    let (status, body) = put_signing(&server, url, json!({ "secret": "whsec_bm90LWEta2V5" })).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_secret");
    assert!(!body.to_string().contains("bm90LWEta2V5"), "{body}");
    let (status, body) = put_signing(&server, url, json!({ "secret": "plain-secret-value" })).await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("plain-secret-value"), "{body}");
    let (status, body) = put_signing(&server, url, json!({ "secret": 12, "x": "leak-me" })).await;
    assert_eq!(status, 400);
    assert!(!body.to_string().contains("leak-me"), "{body}");
    let (status, body) = put_signing(&server, "no-such-destination", json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "subject_not_found");
    let (status, body) = rotate(&server, url, json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "signing_not_found");
    let (status, _) = rotate(&server, url, json!({ "graceSecs": 99_999_999 })).await;
    assert_eq!(status, 400);
    // Nothing was set by any of them.
    assert_eq!(server.get("/v1/signing").await.json()["signing"], json!([]));
}

/// Every file under `dir`, read whole.
fn files_under(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
    }
    out
}

fn assert_absent(dir: &std::path::Path, secrets: &[&str]) {
    for (path, bytes) in files_under(dir) {
        for secret in secrets {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} holds {secret}",
                path.display()
            );
        }
    }
}

#[tokio::test]
async fn secrets_are_sealed_on_disk_and_never_returned() {
    let sink = Sink::start().await;
    let mut server = fast_retries().start().await;
    let key = server
        .create_connection(
            "key",
            "API_KEY",
            json!({
                "ApiKeyAuthParameters": { "ApiKeyName": "x-api-key", "ApiKeyValue": API_KEY },
                "InvocationHttpParameters": { "HeaderParameters": [
                    { "Key": "x-extra", "Value": PARAM_SECRET, "IsValueSecret": true }
                ] },
            }),
        )
        .await;
    server
        .create_connection(
            "basic",
            "BASIC",
            json!({ "BasicAuthParameters": { "Username": "u", "Password": PASSWORD } }),
        )
        .await;
    let destination = server
        .create_api_destination("dest", &key, &sink.url("/dest"), "POST", json!({}))
        .await;
    assert_eq!(
        put_signing(&server, "dest", json!({ "secret": SECRET_B }))
            .await
            .0,
        200
    );
    let signing_key = &SECRET_B[6..];
    server.put_rule("r", &json!({ "source": ["s"] })).await;
    server
        .put_targets("r", json!([{ "Id": "dest", "Arn": destination }]))
        .await;
    server.publish_from("s", json!({ "n": 1 })).await;
    let got = &sink.wait_for_on("/dest", 1, WAIT).await[0];
    assert_eq!(got.header("x-api-key"), Some(API_KEY));
    assert_eq!(got.header("x-extra"), Some(PARAM_SECRET));
    assert_verifies(SECRET_B, got, true);

    let secrets = [API_KEY, PASSWORD, PARAM_SECRET, signing_key];
    // Never returned by the API that describes them.
    for (op, body) in [
        ("DescribeConnection", json!({ "Name": "key" })),
        ("DescribeConnection", json!({ "Name": "basic" })),
        ("ListConnections", json!({})),
        ("DescribeApiDestination", json!({ "Name": "dest" })),
    ] {
        let text = server.aws(op, &body.to_string()).await.text();
        for s in secrets {
            assert!(!text.contains(s), "{op} returned {s}");
        }
    }
    let listed = server.get("/v1/signing").await.text();
    assert!(!listed.contains(signing_key), "{listed}");

    // After the writes, and after a restart, no file of the data dir holds one.
    server.terminate().await;
    assert_absent(server.data_dir(), &secrets);
    server.restart().await;
    server.publish_from("s", json!({ "n": 2 })).await;
    let again = &sink.wait_for_on("/dest", 2, WAIT).await[1];
    assert_eq!(
        again.header("x-api-key"),
        Some(API_KEY),
        "the sealed record opens"
    );
    assert_verifies(SECRET_B, again, true);
    server.terminate().await;
    assert_absent(server.data_dir(), &secrets);
    let logs = server.logs();
    for s in secrets {
        assert!(!logs.contains(s), "the log holds {s}");
    }
    assert!(logs.contains("generated a secrets key file"), "{logs}");
}

#[tokio::test]
async fn a_data_dir_written_before_sealing_still_loads() {
    use stowage::catalog::{ConnectionAuth, ConnectionRecord, ConnectionState, ParameterSet};
    let sink = Sink::start().await;
    // The data directory as a release without sealing left it: a plaintext
    // connection record framed by the codec, written through the store.
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    {
        let config = stowage::config::Config::for_test(&data);
        let store = Arc::new(stowage::store::Store::open(&config.storage).expect("store"));
        let record = ConnectionRecord {
            name: "old".into(),
            uuid: "00000000-0000-4000-8000-000000000000".into(),
            description: None,
            auth: ConnectionAuth::ApiKey {
                name: "x-api-key".into(),
                value: API_KEY.into(),
            },
            invocation: ParameterSet::default(),
            state: ConnectionState::Authorized,
            state_reason: None,
            created_ms: 0,
            modified_ms: 0,
            authorized_ms: Some(0),
        };
        store
            .tree(stowage::store::tree::CONNECTIONS)
            .expect("tree")
            .insert("old", stowage::codec::encode(&record))
            .expect("insert");
        store.sync().expect("sync");
    }
    let server = fast_retries().data_dir(&data).start().await;
    let described = server
        .aws_ok("DescribeConnection", &json!({ "Name": "old" }))
        .await;
    assert_eq!(described["ConnectionState"], "AUTHORIZED");
    let arn = described["ConnectionArn"].as_str().expect("arn").to_owned();
    let destination = server
        .create_api_destination("d", &arn, &sink.url("/old"), "POST", json!({}))
        .await;
    server.put_rule("r", &json!({ "source": ["s"] })).await;
    server
        .put_targets("r", json!([{ "Id": "d", "Arn": destination }]))
        .await;
    server.publish_from("s", json!({ "n": 1 })).await;
    let got = &sink.wait_for_on("/old", 1, WAIT).await[0];
    assert_eq!(got.header("x-api-key"), Some(API_KEY));
    assert!(
        server
            .logs()
            .contains("plaintext connection records sealed at rest")
    );
}
