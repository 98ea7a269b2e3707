//! A data directory whose sealed secrets the configured key cannot open (a
//! restore without its key, a changed `STOWAGE_SECRETS_KEY`): the server
//! refuses to start and says which key it needs, instead of starting without
//! the connections it could not open.

use serde_json::json;

use crate::support::TestServer;
use crate::support::server::serve_expecting_exit;

#[tokio::test]
async fn a_server_with_another_secrets_key_refuses_to_start_and_says_which_key() {
    let root = tempfile::tempdir().expect("temp dir");
    let data = root.path().join("data");
    let mut server = TestServer::builder().data_dir(&data).start().await;
    let auth = json!({ "ApiKeyAuthParameters": { "ApiKeyName": "k", "ApiKeyValue": "s3cret" } });
    server.create_connection("conn", "API_KEY", auth).await;
    server.terminate().await;

    // 32 bytes of another key, base64.
    let other = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
    let output = serve_expecting_exit(root.path(), &[], &[("STOWAGE_SECRETS_KEY", other)]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the secrets key opens none of the 1 sealed records"),
        "{stderr}"
    );
    assert!(stderr.contains("secrets.key"), "{stderr}");

    // With its own key (the generated one in the data directory) it starts,
    // with the connection.
    server.restart().await;
    server
        .aws_ok("DescribeConnection", &json!({ "Name": "conn" }))
        .await;
}
