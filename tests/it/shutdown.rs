//! Graceful shutdown: in-flight requests finish within the grace period, injected delays do not
//! outlive it, and the server stops accepting at once; with connections on the test's runtime
//! and on worker threads of their own (as the binary runs).

use std::time::Duration;

use serde_json::json;

use crate::scenarios::{config_with, try_send};
use crate::support::TestServer;

fn slow_regions(ms: u64) -> serde_json::Value {
    json!({"name": "slow", "rules": [{"match": {"action": "DescribeRegions"}, "effect": {"latency": {"fixed_ms": ms}}}]})
}

const WORKERS: [Option<usize>; 2] = [None, Some(2)];

#[tokio::test]
async fn a_request_in_flight_at_shutdown_still_gets_its_answer() {
    for workers in WORKERS {
        in_flight_request_is_answered(workers).await;
    }
}

async fn in_flight_request_is_answered(workers: Option<usize>) {
    // Arrange: a 1.5 s injected delay, well inside the grace period (10 s) and long enough
    // that the request is surely in flight when shutdown starts, even on a loaded machine.
    let mut config = config_with(0, &[slow_regions(1500)]);
    config.workers = workers;
    let server = TestServer::with_config(config).await;
    let (addr, req) = (
        server.addr,
        server.call("t-drain", "DescribeRegions").build(),
    );
    let in_flight = tokio::spawn(async move { try_send(addr, req).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Act
    server.stop().await;
    // Assert
    let resp = in_flight.await.unwrap().expect("answered, not dropped");
    assert_eq!(resp.status, 200, "{workers:?}: {}", resp.body);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "{workers:?}: no longer accepting"
    );
}

#[tokio::test]
async fn an_injected_delay_longer_than_the_grace_period_is_cut_off() {
    for workers in WORKERS {
        long_delay_is_cut_off(workers).await;
    }
}

async fn long_delay_is_cut_off(workers: Option<usize>) {
    // Arrange: a 30 s delay and a 200 ms grace period.
    let mut config = config_with(0, &[slow_regions(30_000)]);
    config.limits.shutdown_grace = Duration::from_millis(200);
    config.workers = workers;
    let server = TestServer::with_config(config).await;
    let (addr, req) = (server.addr, server.call("t-cut", "DescribeRegions").build());
    let in_flight = tokio::spawn(async move { try_send(addr, req).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Act: shutdown returns once the grace period is over, without waiting for the delay.
    server.stop().await;
    // Assert: the delayed request was dropped instead of answered 30 s later.
    let outcome = in_flight.await.unwrap();
    assert!(outcome.is_err(), "{workers:?}: {outcome:?}");
}

#[tokio::test]
async fn creates_whose_clients_left_are_finished_and_saved_before_the_server_stops() {
    // Regression (persistence review #1): shutdown waited for connections only, so the key
    // pairs of creates whose clients had hung up were missing from the saved state, and a
    // retry after the restart created them again instead of finding them.
    // Arrange: fresh keys (~35 ms each on one generation thread) and a state file.
    let dir = std::env::temp_dir().join(format!("ecs-mock-it-left-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let mut config = ecs_mock::config::Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.verify_signatures = false;
    config.state_file = Some(state.clone());
    let server = TestServer::with_config(config).await;
    let app = std::sync::Arc::clone(&server.app);
    const CREATES: usize = 8;
    let mut clients = Vec::new();
    for i in 0..CREATES {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let request = format!(
            "GET /?Action=CreateKeyPair&Version=2014-05-26&RegionId=cn-hangzhou&AccessKeyId=t-left&KeyPairName=left-{i} HTTP/1.1\r\nHost: x\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        clients.push(stream);
    }
    // Every create has reserved its name (and taken its place in the account's creation
    // order); then the clients leave without reading their answers.
    let counted = async {
        while app
            .store
            .export()
            .accounts
            .get("t-left")
            .map(|a| a.next_sequence)
            != Some(CREATES as u64)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), counted)
        .await
        .expect("the creates were received");
    drop(clients);
    // Act
    server.stop().await;
    // Assert: all of them stored, and in the saved file.
    assert_eq!(app.store.key_pairs("t-left", "cn-hangzhou").len(), CREATES);
    let saved = ecs_mock::persist::load(&state).unwrap().unwrap();
    assert_eq!(
        saved.accounts["t-left"].regions["cn-hangzhou"]
            .key_pairs
            .len(),
        CREATES
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
