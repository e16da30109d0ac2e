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
