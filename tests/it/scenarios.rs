//! The scenario engine over HTTP: forced errors (every CreateKeyPair error, JSON and XML),
//! sequences, seeded probabilities, commit-then-fail, tenant scoping, latency on paused time
//! and replay of an exported journal.
//!
//! CreateKeyPair is the only real action on this branch; the others still answer
//! `InvalidAction.NotFound`, which does not matter here because a forced error replaces the
//! action. State is therefore checked through `server.app.store`.

use std::net::SocketAddr;

use bytes::Bytes;
use ecs_mock::actions::Action;
use ecs_mock::config::Config;
use ecs_mock::scenario::file;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::support::{Resp, TestServer};

const REGION: &str = "cn-hangzhou";

/// A config with `scenarios` loaded at start, as `--scenario` would.
pub fn config_with(seed: u64, scenarios: &[Value]) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), seed);
    c.scenarios = scenarios
        .iter()
        .map(|v| (file::from_value(v.clone()).expect("a valid scenario"), None))
        .collect();
    c
}

pub async fn server_with(seed: u64, scenarios: &[Value]) -> TestServer {
    TestServer::with_config(config_with(seed, scenarios)).await
}

/// Like `support::send`, but a dropped connection is an `Err` with hyper's description.
pub async fn try_send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Result<Resp, String> {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Resp {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Asserts that a control API answer's `error` holds `want`.
pub fn assert_control_error(body: &Value, want: &str) {
    let error = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {body}"));
    assert!(error.contains(want), "{body}");
}

/// A control API call; returns status and JSON body.
pub async fn control(
    server: &TestServer,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", server.addr.to_string())
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let resp = crate::support::send(server.addr, req).await;
    assert_eq!(resp.content_type, "application/json", "{}", resp.body);
    (resp.status, resp.json())
}

/// The journal entries of `tenant`.
pub async fn journal(server: &TestServer, tenant: &str) -> Vec<Value> {
    let (status, body) = control(
        server,
        "GET",
        &format!("/__mock/journal?access_key_id={tenant}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    body["entries"].as_array().unwrap().clone()
}

/// The nine CreateKeyPair errors of API reference §1.1 (MissingParameter aside) with the
/// status and message the reference gives (QuotaExceed.Tags is `%s`: the rule supplies it).
const CREATE_ERRORS: &[(&str, Option<&str>, u16, &str)] = &[
    (
        "InvalidKeyPairName.Malformed",
        None,
        400,
        "Specified Key Pair name is not valid.",
    ),
    (
        "KeyPair.AlreadyExist",
        None,
        400,
        "The key pair already exist.",
    ),
    (
        "Duplicate.TagKey",
        None,
        400,
        "The Tag.N.Key contain duplicate key.",
    ),
    (
        "InvalidTagKey.Malformed",
        None,
        400,
        "The specified Tag.n.Key is not valid.",
    ),
    (
        "InvalidTagValue.Malformed",
        None,
        400,
        "The specified Tag.n.Value is not valid.",
    ),
    (
        "QuotaExceed.KeyPair",
        None,
        403,
        "The key pair quota exceeds.",
    ),
    (
        "QuotaExceed.Tags",
        Some("The maximum number of tags is 20."),
        403,
        "The maximum number of tags is 20.",
    ),
    (
        "InvalidRegionId.NotFound",
        None,
        404,
        "The RegionId provided does not exist in our records.",
    ),
    (
        "InvalidResourceGroup.NotFound",
        None,
        404,
        "The ResourceGroup provided does not exist in our records.",
    ),
];

#[tokio::test]
async fn each_documented_create_key_pair_error_can_be_forced_exactly_in_json_and_xml() {
    // Arrange: one rule per code, each scoped to its own tenant.
    let rules: Vec<Value> = CREATE_ERRORS
        .iter()
        .map(|(code, arg, _, _)| {
            let mut effect = json!({ "error": code });
            if let Some(a) = arg {
                effect["arg"] = json!(a);
            }
            json!({"match": {"action": "CreateKeyPair", "access_key_id": format!("force-{code}")},
                   "effect": effect})
        })
        .collect();
    let server = server_with(0, &[json!({"name": "create-errors", "rules": rules})]).await;
    for (code, _, status, message) in CREATE_ERRORS {
        let tenant = format!("force-{code}");
        let call = server
            .call(&tenant, "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "valid-name");
        // Act
        let json = call.send().await;
        let xml = call.clone().xml().send().await;
        // Assert
        json.assert_error(*status, code);
        assert_eq!(json.message(), *message, "{code}");
        assert_eq!(json.content_type, "application/json;charset=utf-8");
        assert_eq!(xml.status, *status, "{code}");
        assert_eq!(xml.content_type, "text/xml;charset=utf-8");
        assert_eq!(xml.xml_field("Code").as_deref(), Some(*code));
        assert_eq!(xml.xml_field("Message").as_deref(), Some(*message));
        assert!(
            server.app.store.key_pairs(&tenant, REGION).is_empty(),
            "{code}: no state change without commit"
        );
    }
}

#[tokio::test]
async fn a_sequence_fails_twice_then_lets_the_real_action_through() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "fail-twice", "rules": [
            {"match": {"action": "CreateKeyPair"},
             "effect": {"sequence": [{"error": "Throttling.User"}, {"error": "Throttling.User"}, "pass"]}}]})],
    )
    .await;
    let call = server
        .call("t-seq", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "retried");
    // Act
    let first = call.send().await;
    let second = call.send().await;
    let third = call.send().await;
    // Assert
    first.assert_error(400, "Throttling.User");
    assert_eq!(
        first.message(),
        "Request was denied due to user flow control."
    );
    second.assert_error(400, "Throttling.User");
    third.assert_ok();
    assert_eq!(third.json()["KeyPairName"], "retried");
    assert_eq!(server.app.store.key_pairs("t-seq", REGION).len(), 1);
    // The exhausted sequence no longer matches: the real action answers the fourth call.
    call.send().await.assert_error(400, "KeyPair.AlreadyExist");
}

async fn probability_pattern(seed: u64) -> Vec<String> {
    let server = server_with(
        seed,
        &[json!({"name": "coin", "rules": [
            {"match": {"action": "CreateKeyPair", "probability": 0.5}, "effect": {"error": "Throttling.User"}},
            {"match": {"action": "CreateKeyPair"}, "effect": {"error": "ServiceUnavailable"}}]})],
    )
    .await;
    let mut out = Vec::new();
    for i in 0..24 {
        // Another tenant's traffic in between must not move the tenant's draws.
        if i % 3 == 0 {
            server
                .call("t-noise", "CreateKeyPair")
                .region(REGION)
                .send()
                .await;
        }
        let r = server
            .call("t-coin", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "k")
            .send()
            .await;
        out.push(r.code());
    }
    out
}

#[tokio::test]
async fn a_probability_rule_repeats_its_pattern_for_one_seed_and_changes_with_another() {
    // Act
    let a = probability_pattern(1).await;
    let b = probability_pattern(1).await;
    let c = probability_pattern(2).await;
    // Assert
    assert_eq!(a, b);
    assert_ne!(a, c);
    let throttled = a.iter().filter(|c| *c == "Throttling.User").count();
    assert!((3..=21).contains(&throttled), "{a:?}");
}

#[tokio::test]
async fn commit_then_reset_keeps_the_key_and_the_retry_gets_already_exist() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "lost-response", "rules": [
            {"match": {"action": "CreateKeyPair", "nth": 1}, "effect": {"fault": "reset", "commit": true}}]})],
    )
    .await;
    let call = server
        .call("t-commit", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "ambiguous");
    // Act
    let lost = try_send(server.addr, call.build()).await;
    let retry = call.send().await;
    // Assert: the client saw no response, but DescribeKeyPairs lists the key.
    assert!(lost.is_err(), "{lost:?}");
    let listed = server
        .call("t-commit", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .json();
    assert_eq!(listed["TotalCount"], 1, "{listed}");
    assert_eq!(listed["KeyPairs"]["KeyPair"][0]["KeyPairName"], "ambiguous");
    retry.assert_error(400, "KeyPair.AlreadyExist");
}

#[tokio::test]
async fn commit_then_error_changes_state_and_answers_the_forced_error() {
    let server = server_with(
        0,
        &[json!({"name": "commit-error", "rules": [
            {"match": {"action": "CreateKeyPair", "nth": 1}, "effect": {"error": "ServiceUnavailable", "commit": true}}]})],
    )
    .await;
    let resp = server
        .call("t-commit-err", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "made")
        .send()
        .await;
    resp.assert_error(503, "ServiceUnavailable");
    assert_eq!(server.app.store.key_pairs("t-commit-err", REGION).len(), 1);
}

#[tokio::test]
async fn a_rule_scoped_to_one_access_key_id_never_touches_another() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "scoped", "rules": [
            {"match": {"access_key_id": "t-victim"}, "effect": {"error": "Throttling"}}]})],
    )
    .await;
    // Act
    let victim = server
        .call("t-victim", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "ab")
        .send()
        .await;
    let bystander = server
        .call("t-bystander", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "ab")
        .send()
        .await;
    // Assert
    victim.assert_error(400, "Throttling");
    bystander.assert_ok();
    let entries = journal(&server, "t-bystander").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["rule"], Value::Null);
}

#[tokio::test]
async fn rules_match_every_action_by_name() {
    // Arrange: one rule per action, forcing a code that names the action in its message.
    let rules: Vec<Value> = Action::ALL
        .iter()
        .map(|a| {
            json!({"match": {"action": a.name()},
                         "effect": {"error": "InvalidParameter", "arg": a.name()}})
        })
        .collect();
    let server = server_with(0, &[json!({"name": "by-name", "rules": rules})]).await;
    for a in Action::ALL {
        // Act
        let resp = server.call("t-names", a.name()).region(REGION).send().await;
        // Assert
        resp.assert_error(400, "InvalidParameter");
        assert_eq!(
            resp.message(),
            format!("The specified parameter \"{}\" is not valid.", a.name())
        );
    }
}

#[tokio::test]
async fn forced_errors_apply_before_authentication() {
    // Arrange: a forced code for one tenant; the request is signed with a wrong secret.
    let server = server_with(
        0,
        &[json!({"name": "before-auth", "rules": [
            {"match": {"access_key_id": "t-auth", "nth": 1}, "effect": {"error": "InvalidAccessKeyId.Inactive"}}]})],
    )
    .await;
    let call = server
        .call("t-auth", "CreateKeyPair")
        .region(REGION)
        .secret("wrong");
    // Act
    let forced = call.send().await;
    let real = call.send().await;
    // Assert: the rule decides first (so auth errors can be forced); then the real check.
    forced.assert_error(400, "InvalidAccessKeyId.Inactive");
    assert_eq!(forced.message(), "Specified access key is disabled.");
    real.assert_error(400, "SignatureDoesNotMatch");
}

#[tokio::test]
async fn an_undocumented_code_is_served_with_the_rules_status_and_message() {
    let server = server_with(
        0,
        &[json!({"name": "odd", "rules": [
            {"match": {"action": "DescribeKeyPairs"},
             "effect": {"error": "InvalidKeyPair.NotFound", "undocumented": true, "status": 404,
                        "message": "The specified KeyPair does not exist."}}]})],
    )
    .await;
    let resp = server
        .call("t-odd", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await;
    resp.assert_error(404, "InvalidKeyPair.NotFound");
    assert_eq!(resp.message(), "The specified KeyPair does not exist.");
}

#[tokio::test(start_paused = true)]
async fn fixed_latency_delays_the_response_on_paused_time() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "slow", "rules": [
            {"match": {"action": "DescribeKeyPairs"},
             "effect": {"error": "Throttling", "latency": {"fixed_ms": 300}}},
            {"match": {"action": "DescribeRegions"},
             "effect": {"error": "Throttling", "latency": {"fixed_ms": 700, "at": "body"}}}]})],
    )
    .await;
    // Act
    let start = tokio::time::Instant::now();
    server
        .call("t-slow", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .assert_error(400, "Throttling");
    let before = start.elapsed();
    let start = tokio::time::Instant::now();
    server
        .call("t-slow", "DescribeRegions")
        .send()
        .await
        .assert_error(400, "Throttling");
    let body = start.elapsed();
    // Assert (virtual time: the clock only moves by the injected sleeps)
    assert!(
        before >= std::time::Duration::from_millis(300),
        "{before:?}"
    );
    assert!(body >= std::time::Duration::from_millis(700), "{body:?}");
    let entries = journal(&server, "t-slow").await;
    let latencies: Vec<&Value> = entries.iter().map(|e| &e["latency_ms"]).collect();
    assert_eq!(latencies, [&json!(300), &json!(700)]);
    assert_eq!(
        entries[1]["effect"]["latency"],
        json!({"fixed_ms": 700, "at": "body"})
    );
}

async fn recorded_run(server: &TestServer) -> Vec<(String, u64)> {
    run_as(server, "t-replay", "CreateKeyPair").await
}

/// Twelve calls of `action` (with `KeyPairName=key`) by `tenant`: each answer's code and
/// injected latency.
async fn run_as(server: &TestServer, tenant: &str, action: &str) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for _ in 0..12 {
        let r = server
            .call(tenant, action)
            .region(REGION)
            .param("KeyPairName", "key")
            .send()
            .await;
        out.push(r.code());
    }
    let entries = journal(server, tenant).await;
    out.into_iter()
        .zip(entries.iter().map(|e| e["latency_ms"].as_u64().unwrap()))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn the_exported_journal_replays_the_same_decisions_under_another_seed() {
    // Arrange: a seeded coin and seeded latencies.
    let original = server_with(
        5,
        &[json!({"name": "flaky", "rules": [
            {"match": {"action": "CreateKeyPair", "probability": 0.5},
             "effect": {"error": "Throttling.User", "latency": {"uniform": {"min_ms": 1, "max_ms": 500}}}},
            {"match": {"action": "CreateKeyPair"}, "effect": {"error": "ServiceUnavailable"}}]})],
    )
    .await;
    let recorded = recorded_run(&original).await;
    // Act: export, then replay on a server with a different seed.
    let (status, exported) = control(
        &original,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-replay&name=replay",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let replay = server_with(999, std::slice::from_ref(&exported)).await;
    let replayed = recorded_run(&replay).await;
    // Assert
    assert_eq!(exported["name"], "replay");
    assert_eq!(exported["rules"].as_array().unwrap().len(), 1);
    assert_eq!(replayed, recorded);
    assert!(recorded.iter().any(|(c, _)| c == "Throttling.User"));
    assert!(recorded.iter().any(|(c, _)| c == "ServiceUnavailable"));
}

#[tokio::test(start_paused = true)]
async fn an_export_replays_one_tenants_recording_for_another_access_key_id() {
    // Product review: a CI run takes a fresh AccessKeyId each time, and a recording made
    // under another one never fired.
    let original = server_with(
        5,
        &[json!({"name": "flaky", "rules": [
            {"match": {"action": "DescribeKeyPairs", "probability": 0.5},
             "effect": {"error": "Throttling.User"}}]})],
    )
    .await;
    let recorded = run_as(&original, "t-replay", "DescribeKeyPairs").await;
    let export = |query: &'static str| control(&original, "GET", query, None);
    // Act
    let (status, exported) =
        export("/__mock/journal?format=scenario&access_key_id=t-replay&as_access_key_id=ci-*")
            .await;
    let (refused, why) = export("/__mock/journal?format=scenario&as_access_key_id=ci-*").await;
    // Assert: two new tenants each replay the whole recording; the recording's own does not.
    assert_eq!(status, 200, "{exported}");
    assert_eq!(exported["rules"][0]["match"]["access_key_id"], "ci-*");
    let replay = server_with(999, std::slice::from_ref(&exported)).await;
    let run = |tenant| run_as(&replay, tenant, "DescribeKeyPairs");
    assert_eq!(run("ci-1").await, recorded);
    assert_eq!(run("ci-2").await, recorded);
    assert!(run("t-replay").await.iter().all(|(c, _)| c.is_empty()));
    assert!(recorded.iter().any(|(c, _)| c == "Throttling.User"));
    assert_eq!(refused, 400);
    assert_control_error(&why, "needs access_key_id");
}

/// Regression (white-box review, sixteenth session): the export's sequence ran from call 1,
/// so a long-lived tenant's export grew with every call it ever made (18 MB after a million
/// calls, with a journal of one entry).
#[tokio::test]
async fn an_export_starts_at_the_first_call_with_an_effect() {
    // Arrange: the 30th DescribeRegions of the tenant is throttled, and the journal keeps 5.
    let rule = json!({"name": "late", "rules": [
        {"match": {"action": "DescribeRegions", "nth": 30}, "effect": {"error": "Throttling"}}]});
    let mut config = config_with(0, std::slice::from_ref(&rule));
    config.journal_capacity = 5;
    let server = TestServer::with_config(config).await;
    let run = |server: &TestServer| {
        let call = server.call("t-late", "DescribeRegions");
        async move {
            let mut codes = Vec::new();
            for _ in 0..32 {
                codes.push(call.send().await.status);
            }
            codes
        }
    };
    let recorded = run(&server).await;
    // Act
    let (status, exported) = control(
        &server,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-late&name=late-replay",
        None,
    )
    .await;
    let replay = server_with(7, std::slice::from_ref(&exported)).await;
    let replayed = run(&replay).await;
    // Assert: one step, from call 30, and the same answers on replay.
    assert_eq!(status, 200);
    assert_eq!(
        exported["rules"][0]["match"],
        json!({"action": "DescribeRegions", "access_key_id": "t-late", "from": 30})
    );
    assert_eq!(
        exported["rules"][0]["effect"],
        json!({"sequence": [{"error": "Throttling"}]})
    );
    assert_eq!(recorded[29], 400);
    assert_eq!(replayed, recorded);
}

/// Regression (black-box review, twenty-seventh session): a call answered late outlived the
/// eviction of the calls after it, and the export filled their places with "pass", so calls
/// that had been throttled replayed as successes under a comment saying "as recorded".
#[tokio::test]
async fn an_export_covers_only_calls_all_still_in_the_journal() {
    // Arrange: call 1 is slowed, calls 2..=6 fail, and the journal keeps 4 entries.
    let rule = json!({"name": "holes", "rules": [{"match": {"action": "DescribeRegions"},
        "effect": {"sequence": [{"latency": {"fixed_ms": 400}}, {"error": "Throttling.User"},
            {"error": "ServiceUnavailable"}, {"error": "InternalError"}, {"error": "Throttling"},
            {"error": "Throttling.Api"}]}}]});
    let mut config = config_with(0, std::slice::from_ref(&rule));
    config.journal_capacity = 4;
    let server = TestServer::with_config(config).await;
    let slow = server.call("t-holes", "DescribeRegions");
    let first = tokio::spawn(async move { slow.send().await.status });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let mut codes = Vec::new();
    for _ in 2..=6 {
        codes.push(
            server
                .call("t-holes", "DescribeRegions")
                .send()
                .await
                .code(),
        );
    }
    assert_eq!(first.await.unwrap(), 200);
    // Act: the journal now holds calls 4, 5, 6 and (answered last) 1.
    let (status, exported) = control(
        &server,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-holes",
        None,
    )
    .await;
    // Assert: the sequence starts after the hole, and says why.
    assert_eq!(status, 200);
    let rule = &exported["rules"][0];
    assert_eq!(
        rule["match"],
        json!({"action": "DescribeRegions", "access_key_id": "t-holes", "from": 4})
    );
    assert_eq!(
        rule["effect"],
        json!({"sequence": [{"error": "InternalError"}, {"error": "Throttling"},
            {"error": "Throttling.Api"}]})
    );
    let comment = rule["comment"].as_str().unwrap();
    assert!(
        comment.starts_with("calls 4..=6 of DescribeRegions by \"t-holes\" as recorded; earlier calls are not all in the journal any more"),
        "{comment}"
    );
    assert!(
        comment.ends_with("those before call 4 replay as pass"),
        "{comment}"
    );
    assert_eq!(
        codes,
        [
            "Throttling.User",
            "ServiceUnavailable",
            "InternalError",
            "Throttling",
            "Throttling.Api"
        ]
    );
}

#[tokio::test]
async fn an_exported_tenant_with_glob_characters_replays_for_that_tenant_only() {
    // Regression (findings-scen #3): the export wrote tenant `t*` into `access_key_id`, a
    // glob, so on replay it caught `t1`'s calls too and shifted its sequence.
    // Arrange: each tenant's first DescribeKeyPairs is throttled.
    let server = server_with(
        0,
        &[json!({"name": "thr", "rules": [
            {"match": {"action": "DescribeKeyPairs", "nth": 1}, "effect": {"error": "Throttling"}}]})],
    )
    .await;
    let describe = |ak: &'static str| {
        let server = &server;
        async move {
            server
                .call(ak, "DescribeKeyPairs")
                .region(REGION)
                .send()
                .await
                .status
        }
    };
    let recorded = [
        describe("t*").await,
        describe("t1").await,
        describe("t1").await,
    ];
    let (status, exported) = control(
        &server,
        "GET",
        "/__mock/journal?format=scenario&name=rep",
        None,
    )
    .await;
    assert_eq!(status, 200);
    // Act: replay on the same server, from scratch.
    control(&server, "DELETE", "/__mock/scenarios", None).await;
    control(&server, "POST", "/__mock/reset", None).await;
    let (loaded, _) = control(&server, "POST", "/__mock/scenarios", Some(exported.clone())).await;
    let replayed = [
        describe("t*").await,
        describe("t1").await,
        describe("t1").await,
    ];
    let unrecorded = describe("tx").await;
    // Assert
    assert_eq!(recorded, [400, 400, 200]);
    assert_eq!(loaded, 201);
    assert_eq!(replayed, recorded);
    assert_eq!(unrecorded, 200, "tx was never recorded");
    assert_eq!(
        exported["rules"][0]["match"],
        json!({"action": "DescribeKeyPairs", "access_key_id_exact": "t*"})
    );
    assert_eq!(
        exported["rules"][1]["match"],
        json!({"action": "DescribeKeyPairs", "access_key_id": "t1"}),
        "a plain tenant keeps the glob field, which means the same for it"
    );
    let why = &journal(&server, "t*").await[0]["rule"]["why"];
    assert_eq!(
        why.as_str().unwrap(),
        "action=DescribeKeyPairs, access_key_id_exact=t*, call 1 for this tenant, sequence item 1/1 (calls 1..=1 of DescribeKeyPairs by \"t*\" as recorded)"
    );
}

#[tokio::test]
async fn the_journal_export_is_refused_with_the_reason_when_it_could_not_be_loaded() {
    // Regression (findings-scen #2): an empty run, a blank name or more than 1000
    // (tenant, action) pairs exported scenarios that POST /__mock/scenarios and --scenario
    // refuse.
    // Arrange: one tenant throttled on its first call of three.
    let server = server_with(
        0,
        &[json!({"name": "thr", "rules": [
            {"match": {"action": "DescribeRegions", "nth": 1}, "effect": {"error": "Throttling"}}]})],
    )
    .await;
    let export = |query: String| {
        let server = &server;
        async move {
            control(
                server,
                "GET",
                &format!("/__mock/journal?format=scenario&{query}"),
                None,
            )
            .await
        }
    };
    let (nothing, nothing_body) = export("action=DescribeRegions".into()).await;
    for _ in 0..3 {
        server.call("t-export", "DescribeRegions").send().await;
    }
    // Act
    let (blank, blank_body) = export("name=%20".into()).await;
    let (long, long_body) = export(format!("name={}", "n".repeat(257))).await;
    let (ok, exported) = export("name=one".into()).await;
    for i in 0..1000 {
        server
            .call(&format!("t-many-{i}"), "DescribeRegions")
            .send()
            .await;
    }
    let (big, big_body) = export("name=big".into()).await;
    // Assert
    assert_eq!(
        (nothing, nothing_body["error"].as_str().unwrap()),
        (404, "no recorded request with a call number got a scenario effect (with these filters): there is nothing to replay (calls of tenants past the counted ones, or with an AccessKeyId over 128 bytes, are not numbered)")
    );
    assert_eq!(
        (blank, blank_body["error"].as_str().unwrap()),
        (400, "name is blank; a scenario needs a name")
    );
    assert_eq!(
        (long, long_body["error"].as_str().unwrap()),
        (400, "name has 257 bytes; a scenario name has at most 256")
    );
    assert_eq!(ok, 200);
    assert_eq!(
        exported["rules"][0]["comment"],
        "calls 1..=1 of DescribeRegions by \"t-export\" as recorded",
        "trailing passes are trimmed, and the comment says so"
    );
    assert_eq!(
        (big, big_body["error"].as_str().unwrap()),
        (400, "the export would not load (rules: 1001 rules is more than the 1000 one scenario may hold); narrow it with access_key_id or action")
    );
}

#[tokio::test]
async fn a_watched_scenario_file_reloads_without_losing_state_or_journal() {
    // Arrange: a scenario file, loaded at start with --watch.
    let dir = std::env::temp_dir().join(format!("ecs-mock-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("watched.json");
    let write = |code: &str| {
        let text = json!({"name": "watched", "rules": [
            {"match": {"action": "DescribeRegions"}, "effect": {"error": code}}]});
        std::fs::write(&path, text.to_string()).unwrap();
    };
    write("Throttling");
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.scenarios = vec![(file::load(&path).unwrap(), Some(path.clone()))];
    config.watch = Some(std::time::Duration::from_millis(20));
    let server = TestServer::with_config(config).await;
    server
        .call("t-watch", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "survivor")
        .send()
        .await
        .assert_ok();
    let describe = server.call("t-watch", "DescribeRegions");
    describe.send().await.assert_error(400, "Throttling");
    // Act: change the file, then wait (bounded) for the new rule to answer.
    write("Throttling.Api");
    let mut reloaded = false;
    for _ in 0..100 {
        if describe.send().await.code() == "Throttling.Api" {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // A broken edit is not applied: the last good version keeps answering.
    std::fs::write(
        &path,
        "{\"name\": \"watched\", \"rules\": [{\"effect\": {\"error\": \"Nope\"}}]}",
    )
    .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let after_bad_edit = describe.send().await;
    // Assert
    assert!(reloaded, "the edit was never picked up");
    after_bad_edit.assert_error(400, "Throttling.Api");
    assert_eq!(
        server.app.store.key_pairs("t-watch", REGION).len(),
        1,
        "state survives"
    );
    let entries = journal(&server, "t-watch").await;
    assert_eq!(
        entries[0]["action"], "CreateKeyPair",
        "the journal survives"
    );
    let (_, list) = control(&server, "GET", "/__mock/scenarios", None).await;
    assert_eq!(list["scenarios"][0]["source"], json!(path));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Regression (fuzz target `scenario_file`, crash e18c3d2c): a probability written as
/// `5.0e-73` parsed to a float that re-serialised as `5.000000000000001e-73`, so a listed or
/// exported scenario was not the scenario loaded. serde_json's exact float parsing
/// (`float_roundtrip`) fixes it.
#[test]
fn a_scenario_survives_a_write_and_reparse_with_its_floats_exact() {
    let text = r#"{"name": "flaky-gateway", "rules": [
        {"match": {"probability": 5.0e-73}, "effect": {"fault": {"truncate": {"bytes": 20}}}},
        {"match": {"probability": 0.1}, "effect": {"latency": {"lognormal": {"median_ms": 12.3, "sigma": 0.7}}}}]}"#;
    let first = ecs_mock::scenario::file::parse(text).unwrap();
    let written = serde_json::to_string(&first.file).unwrap();
    let again = ecs_mock::scenario::file::parse(&written).unwrap();
    assert_eq!(
        serde_json::to_value(&again.file).unwrap(),
        serde_json::to_value(&first.file).unwrap(),
        "{written}"
    );
    assert!(written.contains("5e-73"), "{written}");
}

#[tokio::test(start_paused = true)]
async fn an_exported_journal_numbers_calls_in_the_order_the_engine_decided_them() {
    // Arrange: call 1 is delayed (and so answered) after call 2. The journal records in
    // answer order, but a replay counts calls as the engine sees them, on arrival.
    let original = server_with(
        5,
        &[json!({"name": "order", "rules": [
            {"match": {"action": "CreateKeyPair"},
             "effect": {"sequence": [
                 {"error": "ServiceUnavailable", "latency": {"fixed_ms": 500}},
                 {"error": "Throttling.User"}]}}]})],
    )
    .await;
    let send = |server: &TestServer| {
        let req = server
            .call("t-order", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "key")
            .build();
        crate::support::send(server.addr, req)
    };
    let first = tokio::spawn(send(&original));
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    let second = send(&original).await;
    let first = first.await.unwrap();
    assert_eq!(
        (first.code(), second.code()),
        (
            "ServiceUnavailable".to_string(),
            "Throttling.User".to_string()
        )
    );
    // Act
    let (status, exported) = control(
        &original,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-order&name=replay",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let replay = server_with(999, std::slice::from_ref(&exported)).await;
    let replayed = (send(&replay).await.code(), send(&replay).await.code());
    // Assert
    assert_eq!(
        replayed,
        (
            "ServiceUnavailable".to_string(),
            "Throttling.User".to_string()
        ),
        "{exported:#}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_delayed_across_a_reset_of_its_tenant_is_not_journalled_after_it() {
    // Regression (findings-journal #1): it was journalled when answered, after the reset,
    // numbered call 1 like the first call after the reset, and the export replayed its effect
    // for that call.
    let server = server_with(
        5,
        &[json!({"name": "slow", "rules": [
            {"match": {"action": "CreateKeyPair", "access_key_id": "t-reset"},
             "effect": {"sequence": [
                 {"error": "InternalError", "latency": {"fixed_ms": 500}}]}}]})],
    )
    .await;
    let send = |server: &TestServer| {
        let req = server
            .call("t-reset", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "key")
            .build();
        crate::support::send(server.addr, req)
    };
    let delayed = tokio::spawn(send(&server));
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    // Act: reset the tenant while the first request waits, then send the next.
    let (status, _) = control(&server, "POST", "/__mock/reset?access_key_id=t-reset", None).await;
    assert_eq!(status, 200);
    let after = send(&server).await;
    let delayed = delayed.await.unwrap();
    // Assert: both answered as call 1 of the sequence (the reset restarts the tenant's
    // calls); the journal holds only the request that arrived after the reset.
    assert_eq!(delayed.code(), "InternalError");
    assert_eq!(after.code(), "InternalError");
    let entries = journal(&server, "t-reset").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert!(
        entries[0]["received_ms"].as_u64().unwrap() >= 10,
        "{entries:#?}"
    );
    assert_eq!(entries[0]["action_call"], 1);
}

#[tokio::test(start_paused = true)]
async fn a_request_delayed_across_a_reset_or_restore_changes_nothing_in_the_new_state() {
    // Regression (findings-scen2 #1): the delay ran first and the action after it, so an
    // ImportKeyPair counted before `POST /__mock/reset` (or `PUT /__mock/state`) stored its key
    // pair in the fresh state, unjournalled: a key pair leaked from one test into the next.
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "slow", "rules": [
            {"match": {"action": "ImportKeyPair"}, "effect": {"latency": {"fixed_ms": 1500}}}]})],
    )
    .await;
    let (_, empty) = control(&server, "GET", "/__mock/state", None).await;
    let resets: [(&str, &str, Option<Value>); 4] = [
        ("t-across-all", "/__mock/reset", None),
        (
            "t-across-one",
            "/__mock/reset?access_key_id=t-across-one",
            None,
        ),
        ("t-across-state", "/__mock/state", Some(empty.clone())),
        (
            "t-across-own-state",
            "/__mock/state?access_key_id=t-across-own-state",
            Some(empty.clone()),
        ),
    ];
    // An ImportKeyPair in flight, answered when it is awaited.
    let delayed_import = |tenant: &str, name: &str| {
        let import = server
            .call(tenant, "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", name)
            .param(
                "PublicKeyBody",
                &ecs_mock::loadgen::synthetic_rsa_public_key(7),
            )
            .build();
        tokio::spawn(crate::support::send(server.addr, import))
    };
    let half_a_second = || tokio::time::sleep(std::time::Duration::from_millis(500));
    for (tenant, path, body) in resets {
        let delayed = delayed_import(tenant, "leak");
        half_a_second().await;
        // Act
        let method = if body.is_some() { "PUT" } else { "POST" };
        let (status, _) = control(&server, method, path, body).await;
        assert_eq!(status, 200, "{path}");
        let delayed = delayed.await.unwrap();
        let listed = server
            .call(tenant, "DescribeKeyPairs")
            .region(REGION)
            .send()
            .await;
        // Assert: the import was refused as a temporary failure, and nothing was stored.
        delayed.assert_error(503, "ServiceUnavailable");
        listed.assert_ok();
        assert_eq!(listed.json()["TotalCount"], 0, "{tenant}: {}", listed.body);
    }
    // A reset or restore of another tenant leaves a delayed request alone.
    for (method, path, body) in [
        ("POST", "/__mock/reset?access_key_id=someone-else", None),
        (
            "PUT",
            "/__mock/state?access_key_id=someone-else",
            Some(empty),
        ),
    ] {
        let delayed = delayed_import("t-bystander", &format!("kept-{method}"));
        half_a_second().await;
        let (status, _) = control(&server, method, path, body).await;
        assert_eq!(status, 200, "{path}");
        delayed.await.unwrap().assert_ok();
    }
}

#[tokio::test]
async fn a_forced_error_can_carry_the_retry_after_header_the_sdks_act_on() {
    // Regression (findings-resp #4): no scenario could send `x-acs-retry-after`, so the Tea
    // SDKs' throttling exception with its delay (sdk-wire-behaviour §3.2) was out of reach.
    let server = server_with(
        0,
        &[json!({"name": "slow-down", "rules": [
            {"match": {"action": "DescribeKeyPairs"},
             "effect": {"sequence": [{"error": "Throttling.User", "retry_after_ms": 1500}, "pass"]}}]})],
    )
    .await;
    let call = server
        .call("t-retry-after", "DescribeKeyPairs")
        .region(REGION);
    // Act
    let throttled = try_send(server.addr, call.build()).await.unwrap();
    let raw = {
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        sender.send_request(call.build()).await.unwrap()
    };
    // Assert: the header on the forced error, not on the answer that follows.
    throttled.assert_error(400, "Throttling.User");
    assert_eq!(raw.status(), 200);
    assert!(raw.headers().get("x-acs-retry-after").is_none());
    let entries = journal(&server, "t-retry-after").await;
    assert_eq!(
        entries[0]["effect"],
        json!({"error": "Throttling.User", "retry_after_ms": 1500})
    );
}

#[tokio::test]
async fn a_forced_permission_error_can_carry_an_access_denied_detail_in_json_and_xml() {
    // Regression (SDK-user audit #3): the envelope's optional AccessDeniedDetail (reference
    // §4.1), which the Tea SDKs copy into their exception, was out of reach of scenarios.
    let detail = json!({"AuthAction": "ecs:CreateKeyPair", "NoPermissionType": "ImplicitDeny",
                        "AuthPrincipalDisplayName": "ci<bot> & co"});
    let server = server_with(
        0,
        &[json!({"name": "denied", "rules": [
            {"match": {"action": "CreateKeyPair"},
             "effect": {"error": "Forbidden.RAM", "access_denied_detail": detail}}]})],
    )
    .await;
    let create = || {
        server
            .call("t-denied", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "k")
    };
    // Act
    let json_resp = create().send().await;
    let xml_resp = create().xml().send().await;
    // Assert
    json_resp.assert_error(403, "Forbidden.RAM");
    let body = json_resp.json();
    assert_eq!(body["AccessDeniedDetail"], detail);
    assert_eq!(
        body.as_object().unwrap().keys().next_back().unwrap(),
        "AccessDeniedDetail",
        "after the five fields"
    );
    assert!(
        xml_resp.body.ends_with(
            "</Recommend><AccessDeniedDetail><AuthAction>ecs:CreateKeyPair</AuthAction>\
             <AuthPrincipalDisplayName>ci&lt;bot&gt; &amp; co</AuthPrincipalDisplayName>\
             <NoPermissionType>ImplicitDeny</NoPermissionType></AccessDeniedDetail></Error>"
        ),
        "{}",
        xml_resp.body
    );
    let entries = journal(&server, "t-denied").await;
    assert_eq!(
        entries[0]["effect"],
        json!({"error": "Forbidden.RAM", "access_denied_detail": detail})
    );
}

#[tokio::test]
async fn the_retry_after_header_is_sent_with_its_value() {
    let server = server_with(
        0,
        &[json!({"name": "slow-down", "rules": [
            {"match": {"action": "DescribeRegions"},
             "effect": {"error": "Throttling", "retry_after_ms": 250}}]})],
    )
    .await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let resp = sender
        .send_request(server.call("t-retry-value", "DescribeRegions").build())
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.headers()["x-acs-retry-after"], "250");
}

#[tokio::test]
async fn a_rules_criteria_are_kept_in_the_journal_shortened_to_a_kibibyte() {
    // Regression (resource audit #1): each journal entry kept the fired rule's whole `why`,
    // which joins its criteria: a list of 100,000 tenant patterns (or a 1 MB comment, now
    // refused at load) grew the journal by about 1 MB a request.
    // Arrange: a rule naming 1,000 tenants of 100 bytes each.
    let mut tenants: Vec<String> = (0..999).map(|i| format!("{i:0>100}")).collect();
    tenants.push("t-why".into());
    let server = server_with(
        0,
        &[json!({"name": "many", "rules": [
            {"match": {"action": "DescribeKeyPairs", "access_key_id": tenants}, "effect": "pass",
             "comment": "c".repeat(4096)}]})],
    )
    .await;
    // Act
    server
        .call("t-why", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .assert_ok();
    // Assert
    let why = journal(&server, "t-why").await[0]["rule"]["why"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        why.len() <= ecs_mock::journal::WHY_MAX,
        "{} bytes",
        why.len()
    );
    assert!(
        why.starts_with("action=DescribeKeyPairs, access_key_id=000"),
        "{why}"
    );
    // Code review: the criteria filled the kibibyte and the call index, which says which
    // call fired, was cut; the criteria are now cut first.
    assert!(why.contains("…, call 1 for this tenant (ccc"), "{why}");
}

#[tokio::test]
async fn a_forced_unknown_region_is_worded_as_each_action_words_a_real_one() {
    // The reference gives InvalidRegionId.NotFound two texts; an audit found five actions
    // whose forced error used the other one than their own answer.
    let rules: Vec<Value> = Action::ALL
        .iter()
        .map(|a| {
            json!({"match": {"access_key_id": "t-forced", "action": a.name()},
                   "effect": {"error": "InvalidRegionId.NotFound"}})
        })
        .collect();
    let server = server_with(0, &[json!({"name": "region", "rules": rules})]).await;
    // DescribeRegions takes any RegionId, so it has no real answer to compare with.
    for a in Action::ALL
        .iter()
        .filter(|a| **a != Action::DescribeRegions)
    {
        // Act
        let real = server
            .call("t-real", a.name())
            .region("xx-nowhere")
            .send()
            .await;
        let forced = server
            .call("t-forced", a.name())
            .region(REGION)
            .send()
            .await;
        // Assert
        real.assert_error(404, "InvalidRegionId.NotFound");
        forced.assert_error(404, "InvalidRegionId.NotFound");
        assert_eq!(forced.message(), real.message(), "{}", a.name());
    }
}

#[tokio::test]
async fn a_scripted_response_is_sent_instead_of_the_actions_and_replays_from_the_journal() {
    // Arrange: an answer with a field the service might add one day, and an import whose
    // action runs (commit) but whose client sees a bare 500.
    let extra = json!({"RequestId": "R-1", "TotalCount": 0, "PageNumber": 1, "PageSize": 10,
                       "KeyPairs": {"KeyPair": []}, "NewField": {"x": [1, 2]}});
    let scenario = json!({"name": "scripted", "rules": [
        {"match": {"action": "DescribeKeyPairs", "access_key_id": "t-scripted"},
         "effect": {"respond": {"body": extra}}},
        {"match": {"action": "ImportKeyPair", "access_key_id": "t-scripted"},
         "effect": {"respond": {"status": 500, "body": "upstream oops", "content_type": "text/plain"},
                    "commit": true}}]});
    let server = server_with(0, &[scenario]).await;
    // Act
    let json_answer = server
        .call("t-scripted", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await;
    let xml_answer = server
        .call("t-scripted", "DescribeKeyPairs")
        .region(REGION)
        .xml()
        .send()
        .await;
    let import = server
        .call("t-scripted", "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "committed")
        .param(
            "PublicKeyBody",
            &ecs_mock::loadgen::synthetic_rsa_public_key(3),
        )
        .send()
        .await;
    // Assert: the body as written (compact, in the file's member order), the content type of
    // the request's format unless the rule gives one.
    let compact = r#"{"RequestId":"R-1","TotalCount":0,"PageNumber":1,"PageSize":10,"KeyPairs":{"KeyPair":[]},"NewField":{"x":[1,2]}}"#;
    assert_eq!(
        (
            json_answer.status,
            json_answer.content_type.as_str(),
            json_answer.body.as_str()
        ),
        (200, "application/json;charset=utf-8", compact)
    );
    assert_eq!(
        (xml_answer.content_type.as_str(), xml_answer.body.as_str()),
        ("text/xml;charset=utf-8", compact)
    );
    assert_eq!(
        (
            import.status,
            import.content_type.as_str(),
            import.body.as_str()
        ),
        (500, "text/plain", "upstream oops")
    );
    let stored = server.app.store.key_pairs("t-scripted", REGION);
    assert_eq!(stored.len(), 1, "commit ran the import");
    assert_eq!(stored[0].name, "committed");
    // The journal shows what was sent; its replay export scripts the same answers.
    let entries = journal(&server, "t-scripted").await;
    assert_eq!(entries[0]["status"], 200);
    assert_eq!(entries[0]["code"], Value::Null);
    assert_eq!(
        entries[0]["effect"],
        json!({"respond": {"status": 200, "body": compact}})
    );
    assert_eq!(entries[2]["status"], 500);
    let (status, replay) = control(
        &server,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-scripted",
        None,
    )
    .await;
    assert_eq!(status, 200, "{replay}");
    let replayed = server_with(0, &[replay]).await;
    let again = replayed
        .call("t-scripted", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await;
    assert_eq!(again.body, compact);
}

#[tokio::test]
async fn the_journal_reads_a_scripted_failures_code_from_its_body_and_judges_retries_by_it() {
    // Arrange: a throttling answer in XML, a non-retryable one in JSON, and a 2xx whose body
    // happens to carry a Code (SDKs read none from a success).
    let throttled = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><RequestId>{{RequestId}}</RequestId><Code>Throttling.User</Code><Message>Request was denied due to user flow control.</Message></Error>";
    let scenario = json!({"name": "scripted-codes", "rules": [
        {"match": {"action": "DescribeRegions", "access_key_id": "t-codes"},
         "effect": {"respond": {"status": 400, "body": throttled, "content_type": "text/xml"}}},
        {"match": {"action": "DescribeKeyPairs", "access_key_id": "t-codes"},
         "effect": {"respond": {"status": 403, "body": {"RequestId": "{{RequestId}}", "Code": "Forbidden.RAM", "Message": "m"}}}},
        {"match": {"action": "DeleteKeyPairs", "access_key_id": "t-codes"},
         "effect": {"respond": {"body": {"RequestId": "{{RequestId}}", "Code": "NotAnError"}}}}]});
    let server = server_with(0, &[scenario]).await;
    // Act: each call twice, as a client that retries whatever fails would.
    for _ in 0..2 {
        server.call("t-codes", "DescribeRegions").send().await;
        server
            .call("t-codes", "DescribeKeyPairs")
            .region(REGION)
            .send()
            .await;
    }
    server
        .call("t-codes", "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["k"]"#)
        .send()
        .await;
    let entries = journal(&server, "t-codes").await;
    let (status, retries) = control(
        &server,
        "GET",
        "/__mock/journal/retries?access_key_id=t-codes",
        None,
    )
    .await;
    // Assert
    let codes: Vec<(Value, Value)> = entries
        .iter()
        .map(|e| (e["status"].clone(), e["code"].clone()))
        .collect();
    assert_eq!(
        codes,
        [
            (json!(400), json!("Throttling.User")),
            (json!(403), json!("Forbidden.RAM")),
            (json!(400), json!("Throttling.User")),
            (json!(403), json!("Forbidden.RAM")),
            (json!(200), Value::Null),
        ]
    );
    assert_eq!(status, 200, "{retries}");
    let judged: Vec<(Value, Value, Value)> = retries["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["action"].clone(),
                op["attempts"].clone(),
                op["non_retryable_retried"].clone(),
            )
        })
        .collect();
    assert!(
        judged.contains(&(json!("DescribeRegions"), json!(2), json!(false))),
        "throttling is retryable: {judged:?}"
    );
    assert!(
        judged.contains(&(json!("DescribeKeyPairs"), json!(2), json!(true))),
        "Forbidden.RAM is not: {judged:?}"
    );
}

#[tokio::test]
async fn the_journal_shows_a_long_scripted_body_cut_and_its_export_keeps_it_whole_within_a_bound() {
    // Regression (own review): every entry listed its scripted body whole, and the export
    // wrote one copy per call: ten thousand calls of a 1 MiB body were 10 GB of JSON.
    let body = "a".repeat(5000);
    let server = server_with(
        0,
        &[
            json!({"name": "long", "rules": [{"match": {"action": "DescribeRegions"},
            "effect": {"respond": {"body": body}}}]}),
        ],
    )
    .await;
    for _ in 0..2 {
        let answer = server.call("t-long", "DescribeRegions").send().await;
        assert_eq!(answer.body.len(), 5000);
    }
    // Act
    let entries = journal(&server, "t-long").await;
    let filter = ecs_mock::journal::Filter {
        tenant: Some("t-long".into()),
        ..Default::default()
    };
    let refused = server.app.journal.export(&filter, "n", None, 9_999);
    let whole = server.app.journal.export(&filter, "n", None, 10_000);
    // Assert
    let shown = &entries[0]["effect"]["respond"];
    assert_eq!(shown["body"], format!("{}…", "a".repeat(4096)));
    assert_eq!(shown["body_bytes"], 5000);
    assert!(refused
        .unwrap_err()
        .contains("more than 9999 bytes of scripted response bodies"),);
    let whole = whole.unwrap();
    let steps = &whole["rules"][0]["effect"]["sequence"];
    assert_eq!(steps[1]["respond"]["body"], body.as_str());
    file::from_value(whole).expect("the export loads");
}

#[tokio::test]
async fn an_export_too_large_to_post_back_as_json_is_refused() {
    // Regression (scenario review, twenty-eighth session): the export's budget counted the
    // scripted bodies' bytes, but written as JSON strings control characters take six bytes
    // each: twelve calls of a 1 MiB body of U+0001 came to 72 MB, which the export answered
    // and POST /__mock/scenarios then refused with 413.
    let body = "\u{1}".repeat(1 << 20);
    let server = server_with(
        0,
        &[
            json!({"name": "esc", "rules": [{"match": {"access_key_id": "t-esc"},
            "effect": {"respond": {"body": body}}}]}),
        ],
    )
    .await;
    for _ in 0..12 {
        let answer = server.call("t-esc", "DescribeRegions").send().await;
        assert_eq!(answer.body.len(), 1 << 20);
    }
    // Act
    let (status, why) = control(
        &server,
        "GET",
        "/__mock/journal?format=scenario&access_key_id=t-esc",
        None,
    )
    .await;
    // Assert
    assert_eq!(status, 400, "{why}");
    let why = why.to_string();
    assert!(
        why.contains("bytes of JSON, more than the 67108864 POST /__mock/scenarios takes back"),
        "{why}"
    );
}

#[tokio::test]
async fn a_scripted_body_carries_the_requests_own_request_id_where_it_says_so() {
    let server = server_with(
        0,
        &[json!({"name": "templated", "rules": [{"match": {"action": "DescribeRegions"},
            "effect": {"respond": {"status": 400,
                "body": {"RequestId": "{{RequestId}}", "Code": "Mock.Unlisted", "Message": "m"}}}}]})],
    )
    .await;
    // Act
    let answer = server.call("t-templated", "DescribeRegions").send().await;
    // Assert: the RequestId the request was given, which finds it in the journal.
    let rid = answer.json()["RequestId"].as_str().unwrap().to_string();
    assert_eq!(rid.len(), 36, "{}", answer.body);
    let (status, found) = control(
        &server,
        "GET",
        &format!("/__mock/journal?request_id={rid}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["entries"][0]["tenant"], "t-templated");
    assert_eq!(
        found["entries"][0]["effect"]["respond"]["body"],
        r#"{"RequestId":"{{RequestId}}","Code":"Mock.Unlisted","Message":"m"}"#,
        "the journal shows the body as written"
    );
}
