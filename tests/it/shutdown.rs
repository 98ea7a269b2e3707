//! Graceful shutdown: SIGTERM in the middle of a burst of publishes stops the
//! server within a bound, with exit status 0, and every publish that was
//! answered `200` is there after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::support::TestServer;
use crate::support::load::{Acked, Publisher, Via, publish_until_gone, verify};
use crate::support::raw::RawConnection;

const PUBLISHERS: u64 = 16;
const EXIT_WITHIN: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_burst_exits_0_and_keeps_every_acknowledged_event() {
    let mut server = TestServer::start().await;
    let mut tasks = JoinSet::new();
    let first_ack = Arc::new(Notify::new());
    for publisher in 0..PUBLISHERS {
        let via = if publisher % 4 == 3 {
            Via::PutEvents { entries: 5 }
        } else {
            Via::Gateway
        };
        tasks.spawn(publish_until_gone(Publisher {
            base: server.base_url(),
            via,
            pad_bytes: 200,
            round: 0,
            id: publisher,
            acked: first_ack.clone(),
        }));
    }
    tokio::time::timeout(Duration::from_secs(30), first_ack.notified())
        .await
        .expect("a publish is acknowledged within 30 s");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let signalled = Instant::now();
    server.signal_term();
    let status = server.wait_exit(EXIT_WITHIN).await;
    let took = signalled.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "still running {EXIT_WITHIN:?} after SIGTERM; logs:\n{}",
            server.logs()
        )
    });
    assert!(
        status.success(),
        "exit status after SIGTERM: {status:?}; logs:\n{}",
        server.logs()
    );

    let mut acked: Vec<Acked> = Vec::new();
    let mut refused = Vec::new();
    let drained = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(done) = tasks.join_next().await {
            let published = done.expect("publisher task");
            acked.extend(published.acked);
            refused.extend(published.refused);
        }
    })
    .await;
    assert!(drained.is_ok(), "publishers did not stop after the exit");
    eprintln!(
        "exited in {took:?}; {} acknowledged, {} refused",
        acked.len(),
        refused.len()
    );
    assert!(!acked.is_empty(), "nothing was published before SIGTERM");
    // While shutting down, a publish may be refused as unavailable, nothing else.
    for (status, body) in &refused {
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    }

    server.restart().await;
    let seqs = verify(&server, &acked).await;
    assert_eq!(seqs.len(), acked.len());
}

#[tokio::test]
async fn sigterm_with_a_stalled_client_still_exits_in_bounded_time() {
    // A client that sent half a request and went quiet must not hold the
    // server up past its grace period.
    let mut server = TestServer::builder()
        .config_toml("[server]\nshutdown_grace_ms = 500\n")
        .start()
        .await;
    let mut stalled = RawConnection::open(server.addr()).await;
    stalled
        .write(b"POST /events HTTP/1.1\r\nhost: stowage\r\ncontent-length: 100\r\n\r\n{\"meta")
        .await;
    // Make sure the server has the connection before the signal.
    assert_eq!(server.healthz().await, StatusCode::OK);

    let signalled = Instant::now();
    server.signal_term();
    let status = server.wait_exit(Duration::from_secs(10)).await;
    let took = signalled.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "a stalled client kept the server up 10 s after SIGTERM (grace 500 ms); logs:\n{}",
            server.logs()
        )
    });
    eprintln!("exited {status:?} in {took:?}");
    assert!(status.success(), "{status:?}; logs:\n{}", server.logs());
    drop(stalled);
}

#[tokio::test]
async fn sigint_shuts_down_like_sigterm() {
    let mut server = TestServer::start().await;
    let id = server
        .publish_ok(&crate::support::envelope("s", "e", serde_json::json!({})))
        .await;
    server.signal(rustix::process::Signal::INT);
    let status = server
        .wait_exit(Duration::from_secs(15))
        .await
        .expect("exits within 15 s of SIGINT");
    assert!(status.success(), "exit after SIGINT: {status:?}");
    server.restart().await;
    assert_eq!(server.event(&id).await.status, StatusCode::OK);
}

#[tokio::test]
async fn sigterm_right_after_the_address_line_is_graceful() {
    // The address line tells scripts the server is up; a SIGTERM sent as soon as
    // it appears must already get the graceful shutdown (exit 0), not the
    // default action of the signal.
    for attempt in 0..5 {
        let mut server = TestServer::start().await;
        let status = server.terminate().await;
        assert!(
            status.success(),
            "attempt {attempt}: SIGTERM right after `stowage listening on` ended the process \
             with {status:?}, not a graceful exit; the handler is installed too late"
        );
    }
}
