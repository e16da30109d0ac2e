//! The control API under `/__mock/`: health, scenarios (list, add, replace, remove), reset
//! (all or one tenant), the journal and its filters, and turning the API off.

use bytes::Bytes;
use ecs_mock::config::Config;
use http_body_util::Full;
use hyper::Request;
use serde_json::{json, Value};

use crate::scenarios::{assert_control_error, control, journal, server_with};
use crate::support::{send, TestServer};

const REGION: &str = "cn-hangzhou";

fn throttle_first_call(name: &str) -> Value {
    json!({"name": name, "rules": [
        {"match": {"action": "CreateKeyPair", "nth": 1}, "effect": {"error": "Throttling.User"}}]})
}

/// The names of the loaded scenarios, in listing order.
async fn loaded_names(server: &TestServer) -> Vec<String> {
    let (_, list) = control(server, "GET", "/__mock/scenarios", None).await;
    list["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn health_answers_without_a_signature() {
    let server = TestServer::start(77).await;
    let (status, body) = control(&server, "GET", "/__mock/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["seed"], 77);
    assert_eq!(body["scenarios"], 0);
}

#[tokio::test]
async fn health_answers_while_another_control_request_holds_the_turn() {
    // Code review: control requests are answered one at a time, and a load balancer's
    // probe queued behind a large export timed out.
    let server = TestServer::start(0).await;
    let turn = server.app.control.lock().await;
    // Act
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        control(&server, "GET", "/__mock/health", None),
    )
    .await;
    drop(turn);
    // Assert
    let (status, body) = answered.expect("health answered while the turn was held");
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn the_journal_finds_the_request_behind_a_request_id_in_any_case() {
    // Product review: a failing test shows an SDK exception's RequestId, and the journal had
    // no way to find that request among thousands.
    let server = TestServer::start(0).await;
    for name in ["k-one", "k-two", "bad name"] {
        server
            .call("t-rid", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", name)
            .send()
            .await;
    }
    let all = journal(&server, "t-rid").await;
    assert_eq!(all.len(), 3);
    let wanted = all[2]["request_id"].as_str().unwrap().to_string();
    // Act
    let (status, found) = control(
        &server,
        "GET",
        &format!("/__mock/journal?request_id={}", wanted.to_lowercase()),
        None,
    )
    .await;
    // Assert
    assert_eq!(status, 200);
    let entries = found["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{found}");
    assert_eq!(entries[0]["request_id"], wanted.as_str());
    assert_eq!(entries[0]["code"], "InvalidKeyPairName.Malformed");
    let (_, none) = control(
        &server,
        "GET",
        "/__mock/journal?request_id=00000000-0000-0000-0000-000000000000",
        None,
    )
    .await;
    assert_eq!(none["entries"], json!([]));
}

#[tokio::test]
async fn posting_a_scenario_adds_it_and_posting_the_same_name_replaces_it() {
    // Arrange
    let server = TestServer::start(0).await;
    // Act
    let (added, a) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(throttle_first_call("x")),
    )
    .await;
    let (other, _) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(json!({"name": "y", "rules": [{"effect": {"error": "ServiceUnavailable"}}]})),
    )
    .await;
    let (replaced, r) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(throttle_first_call("x")),
    )
    .await;
    let (listed, list) = control(&server, "GET", "/__mock/scenarios", None).await;
    // Assert
    assert_eq!((added, other, replaced, listed), (201, 201, 200, 200));
    assert_eq!(a, json!({"name": "x", "rules": 1, "replaced": false}));
    assert_eq!(r["replaced"], true);
    assert_eq!(
        loaded_names(&server).await,
        ["x", "y"],
        "replacing keeps the place"
    );
    assert_eq!(
        list["scenarios"][0]["rules"],
        throttle_first_call("x")["rules"]
    );
    let call = server
        .call("t-post", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "kk");
    call.send().await.assert_error(400, "Throttling.User");
    call.send().await.assert_error(503, "ServiceUnavailable");
}

#[tokio::test]
async fn a_refused_scenario_gets_400_naming_the_rule_and_the_field() {
    let server = TestServer::start(0).await;
    let bad = json!({"name": "bad", "rules": [
        {"effect": "pass"},
        {"match": {"action": "DescribeKeyPairs"}, "effect": {"error": "KeyPair.AlreadyExist"}}]});
    let (status, body) = control(&server, "POST", "/__mock/scenarios", Some(bad)).await;
    assert_eq!(status, 400);
    let reason = body["error"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "rules[1].effect.error: KeyPair.AlreadyExist is not documented for DescribeKeyPairs"
        ),
        "{reason}"
    );
    let req = Request::post("/__mock/scenarios")
        .header("host", "x")
        .body(Full::new(Bytes::from_static(b"{not json")))
        .unwrap();
    let resp = send(server.addr, req).await;
    assert_eq!(resp.status, 400);
    assert!(resp.json()["error"]
        .as_str()
        .unwrap()
        .starts_with("the body is not JSON"));
    let (_, list) = control(&server, "GET", "/__mock/scenarios", None).await;
    assert_eq!(list["scenarios"], json!([]));
}

#[tokio::test]
async fn a_posted_scenario_may_start_with_a_bom_but_not_repeat_a_key() {
    // Regression (findings-scen #13): a repeated key was collapsed to its last value and a
    // byte order mark was refused as "expected value at line 1 column 1".
    // Arrange
    let server = TestServer::start(0).await;
    let post = |body: &'static str| {
        let req = Request::post("/__mock/scenarios")
            .header("host", "x")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap();
        send(server.addr, req)
    };
    // Act
    let twice = post(r#"{"name":"a","name":"b","rules":[{"effect":"pass"}]}"#).await;
    let bom = post("\u{feff}{\"name\":\"bom\",\"rules\":[{\"effect\":\"pass\"}]}").await;
    // Assert
    assert_eq!(
        (twice.status, twice.json()["error"].as_str().unwrap()),
        (
            400,
            "the body is not JSON: the key \"name\" is given twice in one object at line 1 column 18"
        )
    );
    assert_eq!(bom.status, 201, "{}", bom.body);
    assert_eq!(loaded_names(&server).await, ["bom"]);
}

#[tokio::test]
async fn a_scenario_is_removed_by_its_exact_name_whatever_characters_it_has() {
    let names = ["a", "a&b", "retry+throttle", "x y", "ünï"];
    let server = server_with(0, &names.map(throttle_first_call)).await;
    let delete = |segment: &str| {
        let path = format!("/__mock/scenarios/{segment}");
        let server = &server;
        async move { control(server, "DELETE", &path, None).await }
    };
    // In a path `&` and `+` are themselves; `%XX` escapes are decoded.
    for (segment, name) in [
        ("a&b", "a&b"),
        ("retry+throttle", "retry+throttle"),
        ("x%20y", "x y"),
        ("%C3%BCn%C3%AF", "ünï"),
    ] {
        let (status, body) = delete(segment).await;
        assert_eq!((status, body), (200, json!({"removed": 1})), "{segment}");
        assert!(
            !loaded_names(&server).await.contains(&name.to_string()),
            "{name} removed"
        );
    }
    assert_eq!(loaded_names(&server).await, ["a"], "only a is left");
    for (segment, error) in [
        ("bad%zz", "malformed percent-escape at byte 3"),
        ("bad%C3", "decoded bytes are not UTF-8"),
    ] {
        let (status, body) = delete(segment).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (
                400,
                Some(format!("the scenario name does not decode: {error}").as_str())
            )
        );
    }
}

#[tokio::test]
async fn scenarios_are_removed_all_at_once_or_by_name() {
    let server = server_with(
        0,
        &[
            throttle_first_call("a"),
            throttle_first_call("b"),
            throttle_first_call("c"),
        ],
    )
    .await;
    let (status, body) = control(&server, "DELETE", "/__mock/scenarios/b", None).await;
    assert_eq!((status, body), (200, json!({"removed": 1})));
    let (status, body) = control(&server, "DELETE", "/__mock/scenarios/b", None).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "no scenario named \"b\" is loaded");
    let (status, body) = control(&server, "DELETE", "/__mock/scenarios", None).await;
    assert_eq!((status, body), (200, json!({"removed": 2})));
    server
        .call("t-del", "CreateKeyPair")
        .send()
        .await
        .assert_error(400, "MissingParameter");
}

#[tokio::test]
async fn the_listing_shows_what_each_rule_counted_in_all_or_for_one_tenant() {
    // Arrange: the first rule fails each tenant's second DescribeRegions; the second sees
    // every DescribeRegions the first let through and never fires.
    let server = server_with(
        0,
        &[json!({"name": "counted", "rules": [
            {"match": {"action": "DescribeRegions", "nth": 2}, "effect": {"error": "Throttling.User"}},
            {"match": {"action": "DescribeRegions", "nth": 100}, "effect": {"error": "ServiceUnavailable"}}]})],
    )
    .await;
    for (t, n) in [("t-count-a", 3), ("t-count-b", 1)] {
        for _ in 0..n {
            server.call(t, "DescribeRegions").send().await;
        }
    }
    let counts = |path: &'static str| {
        let server = &server;
        async move {
            let (status, body) = control(server, "GET", path, None).await;
            assert_eq!(status, 200, "{body}");
            body["scenarios"][0]["counts"].clone()
        }
    };
    // Act / Assert
    assert_eq!(
        counts("/__mock/scenarios").await,
        json!([{"calls": 4, "fired": 1}, {"calls": 3, "fired": 0}])
    );
    assert_eq!(
        counts("/__mock/scenarios?access_key_id=t-count-a").await,
        json!([{"calls": 3, "fired": 1}, {"calls": 2, "fired": 0}])
    );
    assert_eq!(
        counts("/__mock/scenarios?access_key_id=nobody").await,
        json!([{"calls": 0, "fired": 0}, {"calls": 0, "fired": 0}])
    );
    control(
        &server,
        "POST",
        "/__mock/reset?access_key_id=t-count-a",
        None,
    )
    .await;
    assert_eq!(
        counts("/__mock/scenarios").await,
        json!([{"calls": 1, "fired": 0}, {"calls": 1, "fired": 0}])
    );
}

#[tokio::test]
async fn reset_of_one_tenant_clears_its_state_counters_and_journal_only() {
    // Arrange: both tenants get throttled once, then create a key.
    let server = server_with(0, &[throttle_first_call("once")]).await;
    for t in ["t-reset-a", "t-reset-b"] {
        let call = server
            .call(t, "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "kept");
        call.send().await.assert_error(400, "Throttling.User");
        call.send().await.assert_ok();
    }
    // Act
    let (status, body) = control(
        &server,
        "POST",
        "/__mock/reset?access_key_id=t-reset-a",
        None,
    )
    .await;
    // Assert
    assert_eq!(
        (status, body),
        (200, json!({"reset": {"access_key_id": "t-reset-a"}}))
    );
    assert!(server.app.store.key_pairs("t-reset-a", REGION).is_empty());
    assert_eq!(server.app.store.key_pairs("t-reset-b", REGION).len(), 1);
    assert!(journal(&server, "t-reset-a").await.is_empty());
    assert_eq!(journal(&server, "t-reset-b").await.len(), 2);
    let again = |t: &str| {
        server
            .call(t, "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "kept")
    };
    again("t-reset-a")
        .send()
        .await
        .assert_error(400, "Throttling.User");
    again("t-reset-b")
        .send()
        .await
        .assert_error(400, "KeyPair.AlreadyExist");
}

#[tokio::test]
async fn reset_without_a_tenant_clears_everything_and_restarts_request_ids() {
    let server = TestServer::start(3).await;
    let call = server
        .call("t-reset-all", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "k1");
    let first = call.send().await;
    first.assert_ok();
    let (status, body) = control(&server, "POST", "/__mock/reset", None).await;
    assert_eq!((status, body), (200, json!({"reset": "all"})));
    let again = call.send().await;
    again.assert_ok();
    assert_eq!(
        again.json(),
        first.json(),
        "a reset mock answers like a fresh one"
    );
    assert_eq!(journal(&server, "t-reset-all").await.len(), 1);
}

#[tokio::test]
async fn a_request_without_access_key_id_is_tenant_anonymous_in_rules_journal_and_reset() {
    // Regression (findings-scen #1): the store filed such requests under `anonymous`, but the
    // engine, journal and counters used "", so rules on `anonymous` missed them and
    // `reset?access_key_id=anonymous` left their counters and journal behind.
    // Arrange: signatures off, and a rule on the anonymous tenant's first describe.
    let mut config = crate::scenarios::config_with(
        9,
        &[json!({"name": "anon", "rules": [{
            "match": {"access_key_id": "anonymous", "action": "DescribeKeyPairs", "nth": 1},
            "effect": {"error": "Throttling"}}]})],
    );
    config.verify_signatures = false;
    let server = TestServer::with_config(config).await;
    let unsigned = |query: &str| {
        send(
            server.addr,
            Request::get(format!(
                "/?Version=2014-05-26&Format=JSON&RegionId={REGION}&{query}"
            ))
            .body(Full::new(Bytes::new()))
            .unwrap(),
        )
    };
    // Act
    let created = unsigned("Action=CreateKeyPair&KeyPairName=anon1").await;
    let throttled = unsigned("Action=DescribeKeyPairs").await;
    let entries = journal(&server, "anonymous").await;
    let (reset, _) = control(
        &server,
        "POST",
        "/__mock/reset?access_key_id=anonymous",
        None,
    )
    .await;
    let after_reset = journal(&server, "anonymous").await;
    let created_again = unsigned("Action=CreateKeyPair&KeyPairName=anon1").await;
    let throttled_again = unsigned("Action=DescribeKeyPairs").await;
    // Assert
    created.assert_ok();
    throttled.assert_error(400, "Throttling");
    let tenants: Vec<&Value> = entries.iter().map(|e| &e["tenant"]).collect();
    assert_eq!(tenants, [&json!("anonymous"), &json!("anonymous")]);
    assert_eq!(entries[1]["rule"]["scenario"], "anon");
    assert_eq!(reset, 200);
    assert!(after_reset.is_empty(), "{after_reset:?}");
    created_again.assert_ok();
    throttled_again.assert_error(400, "Throttling");
    // RequestIds keep their derivation ("" for no AccessKeyId) and restart with the reset.
    let first_id = ecs_mock::ids::request_id(9, "", 1);
    assert_eq!(created.json()["RequestId"], first_id.as_str());
    assert_eq!(created_again.json()["RequestId"], first_id.as_str());
}

#[tokio::test]
async fn a_signed_request_replayed_after_a_full_reset_is_answered_like_the_first_time() {
    // Regression (findings-scen #6): the nonce cache survived the reset, so the replay got
    // SignatureNonceUsed carrying the RequestId of the original success.
    // Arrange: one signed request, its nonce fixed as in a recording.
    let server = TestServer::start(3).await;
    let call = server
        .call("t-reset-nonce", "DescribeRegions")
        .nonce("recorded-nonce-1");
    let first = call.send().await;
    first.assert_ok();
    call.send().await.assert_error(400, "SignatureNonceUsed");
    // Act
    let (status, _) = control(&server, "POST", "/__mock/reset", None).await;
    let replayed = call.send().await;
    // Assert
    assert_eq!(status, 200);
    replayed.assert_ok();
    assert_eq!(replayed.json(), first.json());
    call.send().await.assert_error(400, "SignatureNonceUsed");
}

#[tokio::test]
async fn the_journal_records_each_request_with_its_decision_and_no_secrets() {
    // Arrange
    let server = server_with(
        0,
        &[json!({"name": "j", "rules": [
            {"match": {"action": "CreateKeyPair", "params": {"KeyPairName": "boom-*"}},
             "effect": {"error": "InternalError"}, "comment": "names starting with boom"}]})],
    )
    .await;
    // Act
    server
        .call("t-j", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "boom-1")
        .send()
        .await;
    server.call("t-j", "DescribeRegions").send().await;
    server.call("t-j", "NoSuchAction").send().await;
    server
        .call("t-other", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "boom-1")
        .send()
        .await;
    control(&server, "GET", "/__mock/health", None).await;
    // Assert
    let entries = journal(&server, "t-j").await;
    assert_eq!(
        entries.len(),
        3,
        "control calls and other tenants are not listed"
    );
    let e = &entries[0];
    assert_eq!(e["seq"], 1);
    assert_eq!(e["tenant"], "t-j");
    assert_eq!(e["action"], "CreateKeyPair");
    assert_eq!(e["action_call"], 1);
    assert_eq!(e["status"], 500);
    assert_eq!(e["code"], "InternalError");
    assert_eq!(e["latency_ms"], 0);
    assert_eq!(e["params"]["KeyPairName"], "boom-1");
    assert_eq!(e["params"]["AccessKeyId"], "t-j");
    assert!(e["params"].get("Signature").is_none(), "{e}");
    assert!(e["time"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(e["request_id"].as_str().unwrap().len(), 36);
    assert_eq!(
        e["rule"],
        json!({"scenario": "j", "rule": 0, "call": 1,
               "why": "action=CreateKeyPair, KeyPairName=boom-*, call 1 for this tenant (names starting with boom)"})
    );
    assert_eq!(e["effect"], json!({"error": "InternalError"}));
    assert_eq!(entries[1]["rule"], Value::Null);
    assert_eq!(entries[1]["effect"], Value::Null);
    assert_eq!(entries[1]["action"], "DescribeRegions");
    assert_eq!(entries[1]["status"], 200);
    assert_eq!(entries[1]["code"], Value::Null);
    // Regression (findings-scen2 #8): a call the engine never numbered left the key out,
    // where every other missing value is null.
    assert_eq!(entries[2]["code"], "InvalidAction.NotFound");
    assert_eq!(
        entries[2].get("action_call"),
        Some(&Value::Null),
        "{}",
        entries[2]
    );
    let (_, by_action) =
        control(&server, "GET", "/__mock/journal?action=CreateKeyPair", None).await;
    let tenants: Vec<&Value> = by_action["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["tenant"])
        .collect();
    assert_eq!(tenants, [&json!("t-j"), &json!("t-other")]);
}

#[tokio::test]
async fn control_requests_are_never_faulted() {
    let server = server_with(
        0,
        &[json!({"name": "all", "rules": [{"effect": {"fault": "reset"}}]})],
    )
    .await;
    let (status, body) = control(&server, "GET", "/__mock/health", None).await;
    assert_eq!((status, &body["scenarios"]), (200, &json!(1)));
    let (status, _) = control(&server, "DELETE", "/__mock/scenarios", None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn bad_control_requests_get_clear_errors() {
    let server = TestServer::start(0).await;
    let cases: &[(&str, &str, u16, &str)] = &[
        ("GET", "/__mock/nope", 404, "no control endpoint GET /__mock/nope"),
        ("POST", "/__mock/health", 405, "POST is not allowed on /__mock/health"),
        ("GET", "/__mock/reset", 405, "GET is not allowed on /__mock/reset"),
        (
            "GET",
            "/__mock/journal?tenant=x",
            400,
            "unknown query parameter \"tenant\"; expected one of access_key_id, action, request_id, format, name, as_access_key_id",
        ),
        (
            "GET",
            "/__mock/journal?format=csv",
            400,
            "format \"csv\" is not known; use \"entries\" (default) or \"scenario\"",
        ),
        // An unset variable in a harness must not reset or filter for a tenant nobody has.
        (
            "POST",
            "/__mock/reset?access_key_id=",
            400,
            "query parameter \"access_key_id\" is empty; leave it out or give a value",
        ),
        (
            "GET",
            "/__mock/journal?action=",
            400,
            "query parameter \"action\" is empty; leave it out or give a value",
        ),
        (
            "GET",
            "/__mock/journal/retries?access_key_id=a&action=CreateKeyPair&access_key_id=b",
            400,
            "query parameter \"access_key_id\" is given more than once",
        ),
    ];
    for (method, path, status, error) in cases {
        let (got, body) = control(&server, method, path, None).await;
        assert_eq!(
            (got, body["error"].as_str().unwrap()),
            (*status, *error),
            "{method} {path}"
        );
    }
    // The control API's body limit is its own (a state export is far over an API request's
    // limit); over it, the 413 names both limits.
    let mut small = Config::new("127.0.0.1:0".parse().unwrap(), 0);
    small.limits.max_body_bytes = 16;
    let server = TestServer::with_config(small).await;
    let (status, _) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(throttle_first_call("big")),
    )
    .await;
    assert_eq!(status, 201, "a scenario over --max-body-bytes still loads");
    let over = ecs_mock::service::CONTROL_MAX_BODY_BYTES + 1;
    let refused = server
        .raw(
            format!(
                "POST /__mock/scenarios HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                 content-length: {over}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    assert!(refused.starts_with("HTTP/1.1 413"), "{refused}");
    assert!(
        refused.contains(&format!(
            "the body exceeds {} bytes",
            ecs_mock::service::CONTROL_MAX_BODY_BYTES
        )),
        "{refused}"
    );
}

#[tokio::test]
async fn removing_one_scenario_refuses_query_parameters_like_every_other_endpoint() {
    // Regression (findings-scen #9): this route never checked its query, so `?force=true`
    // removed the scenario and `?x=` got a 404.
    // Arrange
    let server = server_with(0, &[throttle_first_call("qq")]).await;
    // Act
    let (unknown, unknown_body) =
        control(&server, "DELETE", "/__mock/scenarios/qq?force=true", None).await;
    let (empty, empty_body) =
        control(&server, "DELETE", "/__mock/scenarios/nonexist?x=", None).await;
    let (_, listed) = control(&server, "GET", "/__mock/scenarios", None).await;
    // Assert
    assert_eq!(
        (unknown, unknown_body["error"].as_str().unwrap()),
        (
            400,
            "unknown query parameter \"force\"; this endpoint takes none"
        )
    );
    assert_eq!(
        (empty, empty_body["error"].as_str().unwrap()),
        (
            400,
            "unknown query parameter \"x\"; this endpoint takes none"
        )
    );
    assert_eq!(listed["scenarios"][0]["name"], "qq", "nothing was removed");
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_the_methods_the_path_takes_in_allow() {
    // Regression (findings-scen #11): 405 answers carried no Allow header (RFC 9110 §15.5.6).
    // Arrange
    let server = server_with(0, &[throttle_first_call("x")]).await;
    let paths: &[(&str, &[&str])] = &[
        ("/__mock/health", &["GET", "HEAD"]),
        ("/__mock/scenarios", &["GET", "HEAD", "POST", "DELETE"]),
        ("/__mock/scenarios/x", &["DELETE"]),
        ("/__mock/reset", &["POST"]),
        ("/__mock/journal", &["GET", "HEAD"]),
        ("/__mock/journal/retries", &["GET", "HEAD"]),
        ("/__mock/state", &["GET", "HEAD", "PUT"]),
        ("/__mock/snapshot", &["POST"]),
        ("/__mock/shutdown", &["POST"]),
    ];
    for (path, allowed) in paths {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            if allowed.contains(&method) {
                continue; // some of them reset or stop the server
            }
            // Act
            let raw = server
                .raw(
                    format!("{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                )
                .await;
            // Assert
            let head = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 405"), "{method} {path}: {raw}");
            let allow = head
                .lines()
                .find_map(|l| l.strip_prefix("allow: "))
                .unwrap_or_else(|| panic!("{method} {path}: no Allow header: {raw}"));
            assert_eq!(
                allow,
                allowed.join(", ").to_ascii_lowercase(),
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn head_on_a_get_endpoint_answers_as_get_without_the_body() {
    // Regression: HEAD got 405, so a load balancer's or `curl -I`'s health check of
    // /__mock/health failed (RFC 9110 §9.3.2: HEAD is GET without the content).
    // Arrange
    let server = server_with(0, &[throttle_first_call("x")]).await;
    let get = server
        .raw(b"GET /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    let get_body = get.split("\r\n\r\n").nth(1).unwrap().to_string();
    // Act
    let head = server
        .raw(b"HEAD /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await;
    // Assert
    let (head_head, head_body) = head.split_once("\r\n\r\n").unwrap();
    let head_head = head_head.to_ascii_lowercase();
    assert!(head_head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head_head.contains(&format!("content-length: {}", get_body.len())),
        "HEAD gives GET's length: {head}"
    );
    assert_eq!(head_body, "", "no body after HEAD's head");
    let health: serde_json::Value = serde_json::from_str(&get_body).unwrap();
    assert_eq!(health["status"], "ok", "{get}");
}

#[tokio::test]
async fn the_control_api_can_be_turned_off() {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.control_api = false;
    let server = TestServer::with_config(config).await;
    let req = Request::get("/__mock/health?Format=JSON")
        .header("host", "x")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = send(server.addr, req).await;
    resp.assert_error(404, "InvalidAction.NotFound");
}

#[tokio::test]
async fn a_journal_filter_on_an_action_nobody_sent_is_refused_naming_the_actions() {
    // Regression (findings-scen #13): `?action=Bogus` answered an empty list, so a typo read
    // as "the client made no such call".
    // Arrange: one request with an action the API does not have, recorded as sent.
    let server = TestServer::start(0).await;
    server
        .call("t-act", "Misspelt")
        .send()
        .await
        .assert_error(404, "InvalidAction.NotFound");
    let actions = "CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPairs, AttachKeyPair, DetachKeyPair, DescribeRegions, TagResources, UntagResources, ListTagResources, JoinResourceGroup";
    // Act
    let (entries, entries_body) =
        control(&server, "GET", "/__mock/journal?action=Bogus", None).await;
    let (retries, retries_body) =
        control(&server, "GET", "/__mock/journal/retries?action=Bogus", None).await;
    let (sent, sent_body) = control(&server, "GET", "/__mock/journal?action=Misspelt", None).await;
    let (known, known_body) =
        control(&server, "GET", "/__mock/journal?action=CreateKeyPair", None).await;
    // Assert
    let refusal = format!(
        "action \"Bogus\" is not an action of the API, and no kept request sent it; expected one of {actions}"
    );
    assert_eq!(
        (entries, entries_body["error"].as_str().unwrap()),
        (400, refusal.as_str())
    );
    assert_eq!(
        (retries, retries_body["error"].as_str().unwrap()),
        (400, refusal.as_str())
    );
    assert_eq!(
        sent, 200,
        "an unknown action a client did send is still found"
    );
    assert_eq!(sent_body["entries"][0]["tenant"], "t-act");
    assert_eq!((known, known_body), (200, json!({"entries": []})));
}

#[tokio::test]
async fn requests_rejected_before_decoding_are_journaled_too() {
    // Arrange
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.limits.max_body_bytes = 8;
    let server = TestServer::with_config(config).await;
    let big = Request::post("/?Action=CreateKeyPair&AccessKeyId=t-big&Format=JSON")
        .header("host", "x")
        .body(Full::new(Bytes::from_static(b"0123456789abcdef")))
        .unwrap();
    // Act
    send(server.addr, big)
        .await
        .assert_error(413, "Request.TooLarge");
    // Assert
    let entries = journal(&server, "t-big").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "CreateKeyPair");
    assert_eq!(entries[0]["status"], 413);
    assert_eq!(entries[0]["code"], "Request.TooLarge");
    assert_eq!(entries[0]["rule"], Value::Null);
}

#[tokio::test]
async fn the_number_of_loaded_scenarios_is_capped_with_a_clear_refusal() {
    let server = server_with(0, &[]).await;
    for i in 0..ecs_mock::scenario::MAX_SCENARIOS {
        let (status, _) = control(
            &server,
            "POST",
            "/__mock/scenarios",
            Some(json!({"name": format!("s{i}"), "rules": [{"effect": "pass"}]})),
        )
        .await;
        assert_eq!(status, 201);
    }
    let (status, body) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(json!({"name": "one-too-many", "rules": [{"effect": "pass"}]})),
    )
    .await;
    assert_eq!(status, 400);
    assert_control_error(&body, "256 scenarios are loaded already");
    // Replacing an existing one is still allowed, and the API keeps serving.
    let (status, _) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(json!({"name": "s0", "rules": [{"effect": "pass"}]})),
    )
    .await;
    assert_eq!(status, 200);
    server
        .call("t-cap", "DescribeRegions")
        .send()
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_scenario_with_too_many_rules_is_refused() {
    let server = server_with(0, &[]).await;
    let rules: Vec<serde_json::Value> = (0..=ecs_mock::scenario::file::MAX_RULES)
        .map(|_| json!({"effect": "pass"}))
        .collect();
    let (status, body) = control(
        &server,
        "POST",
        "/__mock/scenarios",
        Some(json!({"name": "huge", "rules": rules})),
    )
    .await;
    assert_eq!(status, 400);
    assert_control_error(&body, "1001 rules is more than the 1000");
}
