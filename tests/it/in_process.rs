//! The in-process test server itself (`TestServer::builder().in_process()`):
//! the real server, stopped and joined on drop so that its data directory is
//! free for the next server, and refusing process controls it cannot honour.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn an_in_process_server_stops_on_drop_and_leaves_its_data_to_the_next_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let server = TestServer::builder()
        .data_dir(&data)
        .in_process()
        .start()
        .await;
    let id = server.publish_from("s", json!({ "n": 1 })).await;
    drop(server);

    // The binary opens the same directory: the store was closed, the event kept.
    let server = TestServer::builder().data_dir(&data).start().await;
    let reply = server.get(&format!("/v1/events/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

#[tokio::test]
#[should_panic(expected = "kill9 needs a server process; this TestServer runs in-process")]
async fn an_in_process_server_refuses_process_controls() {
    let mut server = TestServer::builder().in_process().start().await;
    server.kill9().await;
}
