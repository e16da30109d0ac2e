//! `GET /__mock/journal/retries`: journal entries grouped into logical operations (same
//! tenant, action and business parameters, each attempt within the window of the previous
//! one and after a failure), with attempts, gaps, the final outcome and whether a
//! non-retryable code was retried. Requests come from the harness's signer, which, like
//! every SDK, signs each attempt with a fresh nonce and timestamp.

use std::time::Duration;

use serde_json::{json, Value};

use crate::scenarios::{control, journal, server_with, try_send};
use crate::support::{Style, TestServer};

const REGION: &str = "cn-hangzhou";

/// The operations the retry report lists for `query` (e.g. `access_key_id=t`).
async fn operations(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, body) = control(
        server,
        "GET",
        &format!("/__mock/journal/retries?{query}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["operations"].as_array().unwrap().clone()
}

fn request_ids(op: &Value) -> Vec<String> {
    op["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_throttled_call_retried_until_it_succeeds_is_one_operation_of_three_attempts() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "throttle-twice", "rules": [
            {"match": {"action": "CreateKeyPair"},
             "effect": {"sequence": [{"error": "Throttling.User"}, {"error": "Throttling.User"}, "pass"]}}]})],
    )
    .await;
    let call = server
        .call("t-retry", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "retried");
    // Act: a client backing off 50 ms between attempts, each freshly signed
    let mut statuses = Vec::new();
    for attempt in 0..3 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        statuses.push(call.send().await.status);
    }
    let ops = operations(&server, "access_key_id=t-retry").await;
    // Assert
    assert_eq!(statuses, [400, 400, 200]);
    assert_eq!(ops.len(), 1, "{ops:?}");
    let op = &ops[0];
    assert_eq!(op["tenant"], "t-retry");
    assert_eq!(op["action"], "CreateKeyPair");
    assert_eq!(
        op["params"],
        json!({"RegionId": REGION, "KeyPairName": "retried"}),
        "only business parameters"
    );
    assert_eq!(op["attempts"], 3);
    assert_eq!(op["outcome"], json!({"status": 200, "code": null}));
    assert_eq!(op["non_retryable_retried"], false);
    let gaps: Vec<u64> = op["gaps_ms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap())
        .collect();
    assert_eq!(gaps.len(), 2);
    assert!(
        gaps.iter().all(|g| *g >= 50),
        "each attempt arrived at least the client's 50 ms backoff after the previous: {gaps:?}"
    );
    let codes: Vec<&Value> = op["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["code"])
        .collect();
    assert_eq!(
        codes,
        [
            &json!("Throttling.User"),
            &json!("Throttling.User"),
            &Value::Null
        ]
    );
    let entries = journal(&server, "t-retry").await;
    let journal_ids: Vec<String> = entries
        .iter()
        .map(|e| e["request_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        request_ids(op),
        journal_ids,
        "the attempts are the journal's entries"
    );
    assert!(entries.iter().all(|e| e["received_ms"].is_u64()));
}

#[tokio::test]
async fn retrying_a_non_retryable_code_is_flagged() {
    // Arrange: the ready-made scenario file for this error
    let file: Value = serde_json::from_str(
        &std::fs::read_to_string(
            "scenarios/errors/CreateKeyPair.InvalidKeyPairName.Malformed.json",
        )
        .unwrap(),
    )
    .unwrap();
    let server = server_with(0, &[file]).await;
    let call = server
        .call("t-nonretryable", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "again");
    // Act
    call.send()
        .await
        .assert_error(400, "InvalidKeyPairName.Malformed");
    call.send()
        .await
        .assert_error(400, "InvalidKeyPairName.Malformed");
    let ops = operations(&server, "access_key_id=t-nonretryable").await;
    // Assert
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["attempts"], 2);
    assert_eq!(ops[0]["non_retryable_retried"], true);
    assert_eq!(
        ops[0]["outcome"],
        json!({"status": 400, "code": "InvalidKeyPairName.Malformed"})
    );
}

#[tokio::test]
async fn retrying_after_retryable_failures_and_dropped_connections_is_not_flagged() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "mixed", "rules": [
            {"match": {"action": "DescribeKeyPairs"},
             "effect": {"sequence": [
                {"error": "ServiceUnavailable"}, {"fault": "reset"}, {"fault": "html_502"},
                {"error": "Throttling"}, {"error": "InternalError"}]}}]})],
    )
    .await;
    let call = server
        .call("t-mixed", "DescribeKeyPairs")
        .region(REGION)
        .style(Style::V3);
    // Act
    for _ in 0..6 {
        let _ = try_send(server.addr, call.build()).await;
    }
    let ops = operations(&server, "access_key_id=t-mixed").await;
    // Assert
    assert_eq!(ops.len(), 1, "{ops:?}");
    let op = &ops[0];
    assert_eq!(op["attempts"], 6);
    assert_eq!(op["non_retryable_retried"], false);
    assert_eq!(op["outcome"], json!({"status": 200, "code": null}));
    let statuses: Vec<&Value> = op["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!(503),
            &Value::Null,
            &json!(502),
            &json!(400),
            &json!(500),
            &json!(200)
        ],
        "a reset attempt has no status"
    );
    assert_eq!(op["requests"][1]["effect"], json!({"fault": "reset"}));
}

#[tokio::test]
async fn an_identical_call_after_a_success_is_a_new_operation() {
    // Arrange
    let server = TestServer::start(0).await;
    let call = server
        .call("t-twice", "DescribeRegions")
        .param("AcceptLanguage", "en-US");
    // Act
    call.send().await.assert_ok();
    call.send().await.assert_ok();
    let ops = operations(&server, "access_key_id=t-twice").await;
    // Assert
    let attempts: Vec<&Value> = ops.iter().map(|op| &op["attempts"]).collect();
    assert_eq!(attempts, [&json!(1), &json!(1)]);
    assert_eq!(ops[0]["gaps_ms"], json!([]));
}

#[tokio::test]
async fn different_business_parameters_are_different_operations() {
    // Arrange
    let server = server_with(
        0,
        &[serde_json::from_str(
            &std::fs::read_to_string("scenarios/errors/common.ServiceUnavailable.json").unwrap(),
        )
        .unwrap()],
    )
    .await;
    let named = |n: &str| {
        server
            .call("t-params", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", n)
    };
    // Act: a, b, a again (a retry of the first)
    named("a")
        .send()
        .await
        .assert_error(503, "ServiceUnavailable");
    named("b")
        .send()
        .await
        .assert_error(503, "ServiceUnavailable");
    named("a")
        .send()
        .await
        .assert_error(503, "ServiceUnavailable");
    let ops = operations(&server, "access_key_id=t-params").await;
    // Assert
    let shape: Vec<(Value, Value)> = ops
        .iter()
        .map(|op| (op["params"]["KeyPairName"].clone(), op["attempts"].clone()))
        .collect();
    assert_eq!(shape, [(json!("a"), json!(2)), (json!("b"), json!(1))]);
}

#[tokio::test]
async fn an_attempt_delayed_by_a_scenario_is_placed_by_its_arrival() {
    // Arrange: the first attempt is answered after 2 s, the client retries after 50 ms.
    // ImportKeyPair, not CreateKeyPair: the retry must be answered well before the first
    // even on a loaded machine, and key generation could take a large part of 2 s there.
    let server = server_with(
        0,
        &[json!({"name": "slow-first", "rules": [
            {"match": {"action": "ImportKeyPair"},
             "effect": {"sequence": [{"error": "ServiceUnavailable", "latency": {"fixed_ms": 2000}}, "pass"]}}]})],
    )
    .await;
    let call = server
        .call("t-slow", "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "slow")
        .param(
            "PublicKeyBody",
            include_str!("../fixtures/pubkeys/ecdsa256.pub").trim(),
        );
    // Act
    let first = tokio::spawn({
        let req = call.build();
        let addr = server.addr;
        async move { crate::support::send(addr, req).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = call.send().await;
    let first = first.await.unwrap();
    let ops = operations(&server, "access_key_id=t-slow").await;
    // Assert
    first.assert_error(503, "ServiceUnavailable");
    second.assert_ok();
    let entries = journal(&server, "t-slow").await;
    assert_eq!(
        entries[0]["code"],
        Value::Null,
        "the retry was answered first"
    );
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["attempts"], 2);
    assert_eq!(
        request_ids(&ops[0]),
        [
            entries[1]["request_id"].as_str().unwrap(),
            entries[0]["request_id"].as_str().unwrap()
        ],
        "arrival order"
    );
    assert_eq!(ops[0]["outcome"], json!({"status": 200, "code": null}));
}

#[tokio::test]
async fn filters_and_the_window_select_and_split_operations() {
    // Arrange
    let server = server_with(
        0,
        &[serde_json::from_str(
            &std::fs::read_to_string("scenarios/errors/common.InternalError.json").unwrap(),
        )
        .unwrap()],
    )
    .await;
    for tenant in ["t-f1", "t-f2"] {
        for _ in 0..2 {
            server
                .call(tenant, "CreateKeyPair")
                .region(REGION)
                .param("KeyPairName", "f")
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    server
        .call("t-f1", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await;
    // Act
    let all = operations(&server, "").await;
    let one_tenant = operations(&server, "access_key_id=t-f1").await;
    let one_action = operations(&server, "access_key_id=t-f1&action=DescribeKeyPairs").await;
    let (status, body) = control(
        &server,
        "GET",
        "/__mock/journal/retries?access_key_id=t-f1&action=CreateKeyPair&window_ms=0",
        None,
    )
    .await;
    // Assert
    assert_eq!(all.len(), 3);
    assert_eq!(one_tenant.len(), 2);
    assert_eq!(one_action.len(), 1);
    assert_eq!(one_action[0]["action"], "DescribeKeyPairs");
    assert_eq!(status, 200);
    assert_eq!(body["window_ms"], 0);
    let split: Vec<&Value> = body["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| &op["attempts"])
        .collect();
    assert_eq!(
        split,
        [&json!(1), &json!(1)],
        "attempts 5 ms apart are outside a 0 ms window"
    );
}

#[tokio::test]
async fn a_tenant_reset_forgets_its_operations() {
    // Arrange
    let server = TestServer::start(0).await;
    server.call("t-gone", "DescribeRegions").send().await;
    server.call("t-kept", "DescribeRegions").send().await;
    // Act
    control(&server, "POST", "/__mock/reset?access_key_id=t-gone", None).await;
    // Assert
    let tenants: Vec<Value> = operations(&server, "")
        .await
        .iter()
        .map(|op| op["tenant"].clone())
        .collect();
    assert_eq!(tenants, [json!("t-kept")]);
}

#[tokio::test]
async fn bad_retry_queries_get_clear_errors() {
    let server = TestServer::start(0).await;
    let cases: &[(&str, &str, u16, &str)] = &[
        (
            "GET",
            "/__mock/journal/retries?window_ms=soon",
            400,
            "window_ms \"soon\" is not a number of milliseconds (0 or more)",
        ),
        (
            "GET",
            "/__mock/journal/retries?tenant=x",
            400,
            "unknown query parameter \"tenant\"; expected one of access_key_id, action, window_ms",
        ),
        (
            "POST",
            "/__mock/journal/retries",
            405,
            "POST is not allowed on /__mock/journal/retries",
        ),
    ];
    for (method, path, want_status, want) in cases {
        let (status, body) = control(&server, method, path, None).await;
        assert_eq!(
            (status, body),
            (*want_status, json!({"error": want})),
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn attempts_whose_client_gave_up_during_a_latency_are_journaled_without_a_status() {
    // Arrange: DescribeKeyPairs answers after a minute; the client waits 100 ms per attempt
    let server = server_with(
        0,
        &[json!({"name": "slow", "rules": [
            {"match": {"action": "DescribeKeyPairs"}, "effect": {"latency": {"fixed_ms": 60000}}}]})],
    )
    .await;
    let call = server.call("t-gave-up", "DescribeKeyPairs").region(REGION);
    // Act
    for _ in 0..2 {
        let gave_up = tokio::time::timeout(
            Duration::from_millis(100),
            try_send(server.addr, call.build()),
        )
        .await;
        assert!(gave_up.is_err(), "no answer within 100 ms");
    }
    // The server learns of each disconnection asynchronously; its answers would take a minute.
    let mut ops = Vec::new();
    for _ in 0..200 {
        ops = operations(&server, "access_key_id=t-gave-up").await;
        if ops.first().is_some_and(|op| op["attempts"] == 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Assert
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["attempts"], 2);
    assert_eq!(ops[0]["outcome"], json!({"status": null, "code": null}));
    assert_eq!(
        ops[0]["requests"][0]["effect"],
        json!({"latency": {"fixed_ms": 60000}})
    );
}
