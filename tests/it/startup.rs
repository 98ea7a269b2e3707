//! `serve` refuses to start, saying why, when it cannot own its data dir: one
//! server per data dir, and a data dir that is not a directory.

use crate::support::TestServer;
use crate::support::server::serve_expecting_exit;

#[tokio::test]
async fn second_server_on_the_same_data_dir_exits_instead_of_sharing_it() {
    let server = TestServer::start().await;
    let root = server
        .data_dir()
        .parent()
        .expect("the data dir has a parent");
    let output = serve_expecting_exit(root, &[], &[]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&server.data_dir().display().to_string()),
        "stderr names the data dir: {stderr}"
    );
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
    assert_eq!(
        server.healthz().await,
        reqwest::StatusCode::OK,
        "the first one is unharmed"
    );
}

#[tokio::test]
async fn data_dir_that_is_a_file_stops_serve() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("data"), b"not a directory").expect("write file");
    let output = serve_expecting_exit(dir.path(), &[], &[]).await;
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("data"),
        "stderr names the data dir: {stderr}"
    );
    assert!(output.stdout.is_empty(), "it never listened: {output:?}");
}
