//! The ready-made files in `scenarios/`: the generated `errors/` set (one file per documented
//! error code per action, and one per common gateway error) is checked against the error
//! tables, and every file is a snapshot input — the responses it produces for a canonical
//! request are pinned in `snapshots/`, so a change in any error body shows up in review.
//!
//! Regenerate `scenarios/errors/` after a catalogue change with
//! `UPDATE_SCENARIOS=1 cargo test --test it scenario_files`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use ecs_mock::actions::Action;
use ecs_mock::error::Kind;
use ecs_mock::scenario::file::{self, OneOrMany, ScenarioFile, COMMON};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

use crate::support::{snapshot_settings, TestServer};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

/// The `arg` a generated file gives a message with a placeholder.
fn sample_arg(kind: Kind, action: Option<&str>) -> Option<&'static str> {
    match kind {
        // TagResources answers 21 tags in one request with NumberExceed.Tags, so its
        // QuotaExceed.Tags must be about something else (review, twenty-eighth session).
        Kind::QuotaExceedTags if action == Some("TagResources") => {
            Some("The tags in this account are beyond the permitted quota.")
        }
        Kind::MissingParameter | Kind::MissingParameterForbidden | Kind::InvalidParameter => {
            Some("RegionId")
        }
        Kind::SignatureDoesNotMatch => Some("GET&%2F&AccessKeyId%3Dexample"),
        Kind::MalformedEncoding => Some("the query string"),
        Kind::TooManyParameters => Some("1000"),
        Kind::RequestTooLarge => Some("1048576"),
        Kind::QuotaExceedTags => {
            Some("A request carries at most 20 tags, numbered Tag.1 to Tag.20.")
        }
        other => {
            assert!(
                !other.spec().message.contains("{}"),
                "{other:?} needs a sample arg"
            );
            None
        }
    }
}

fn error_file(name: &str, description: String, action: Option<&str>, kind: Kind) -> String {
    error_file_naming(name, description, action, kind, sample_arg(kind, action))
}

fn error_file_naming(
    name: &str,
    description: String,
    action: Option<&str>,
    kind: Kind,
    arg: Option<&str>,
) -> String {
    let mut effect = json!({ "error": kind.spec().code });
    if let Some(arg) = arg {
        effect["arg"] = json!(arg);
    }
    let rule = match action {
        Some(a) => json!({"match": {"action": a}, "effect": effect}),
        None => json!({"effect": effect}),
    };
    let v = json!({"name": name, "description": description, "rules": [rule]});
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

/// File name → contents of every generated error scenario.
fn generated() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for action in Action::ALL {
        for kind in file::documented(*action) {
            let spec = kind.spec();
            let name = format!("{}.{}", action.name(), spec.code);
            // ImportKeyPair's and DescribeKeyPairs' tables in the reference list no tag codes;
            // the mock answers them by CreateKeyPair's tag rules.
            let by_tag_rules = matches!(action, Action::ImportKeyPair | Action::DescribeKeyPairs)
                && file::KEY_PAIR_TAG_ERRORS.contains(kind);
            // The reference lists this code for DeleteKeyPairs with neither status nor message.
            let undocumented_answer = *kind == Kind::InvalidKeyPairNotFound;
            let description = if undocumented_answer {
                format!(
                    "Every {} call fails with {} (HTTP {}). The reference lists the code for this action but documents neither its status nor its message: both are the mock's choice.",
                    action.name(),
                    spec.code,
                    spec.status
                )
            } else if by_tag_rules {
                format!(
                    "Every {} call fails with {} (HTTP {}), which the mock answers for this action by CreateKeyPair's tag rules (the reference's table for the action does not list it).",
                    action.name(),
                    spec.code,
                    spec.status
                )
            } else {
                format!(
                    "Every {} call fails with {} (HTTP {}), as documented for this action.",
                    action.name(),
                    spec.code,
                    spec.status
                )
            };
            let text = error_file(&name, description, Some(action.name()), *kind);
            assert!(
                out.insert(format!("{name}.json"), text).is_none(),
                "{name} twice"
            );
        }
    }
    // The common MissingParameter, listed in these actions' tables of the reference naming
    // the parameter each requires (review, twenty-ninth session: they had no file).
    for (action, parameter) in [
        (Action::CreateKeyPair, "RegionId"),
        (Action::ImportKeyPair, "PublicKeyBody"),
        (Action::DeleteKeyPairs, "KeyPairNames"),
        (Action::DetachKeyPair, "RegionId"),
    ] {
        let spec = Kind::MissingParameter.spec();
        let name = format!("{}.{}", action.name(), spec.code);
        let description = format!(
            "Every {} call fails with {} (HTTP {}) naming {parameter}, as documented for this action.",
            action.name(),
            spec.code,
            spec.status
        );
        let text = error_file_naming(
            &name,
            description,
            Some(action.name()),
            Kind::MissingParameter,
            Some(parameter),
        );
        assert!(
            out.insert(format!("{name}.json"), text).is_none(),
            "{name} twice"
        );
    }
    for kind in COMMON {
        let spec = kind.spec();
        let name = format!("common.{}", spec.code);
        let description = format!(
            "Every call, whatever the action, fails with the common error {} (HTTP {}; status and message as each action documents the code).",
            spec.code, spec.status
        );
        let text = error_file(&name, description, None, *kind);
        assert!(
            out.insert(format!("{name}.json"), text).is_none(),
            "{name} twice"
        );
    }
    out
}

#[test]
fn the_generated_error_scenarios_are_up_to_date() {
    // Arrange
    let dir = root().join("errors");
    let want = generated();
    let have: BTreeMap<String, String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .map(|p| {
                    let name = p.file_name().unwrap().to_str().unwrap().to_string();
                    (name, std::fs::read_to_string(&p).unwrap())
                })
                .collect()
        })
        .unwrap_or_default();
    if std::env::var_os("UPDATE_SCENARIOS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for name in have.keys().filter(|n| !want.contains_key(*n)) {
            std::fs::remove_file(dir.join(name)).unwrap();
        }
        for (name, text) in &want {
            std::fs::write(dir.join(name), text).unwrap();
        }
        return;
    }
    // Assert
    let stale: Vec<&String> = have
        .keys()
        .filter(|n| want.get(*n) != have.get(*n))
        .collect();
    let missing: Vec<&String> = want.keys().filter(|n| !have.contains_key(*n)).collect();
    assert!(
        stale.is_empty() && missing.is_empty(),
        "scenarios/errors is out of date (stale {stale:?}, missing {missing:?}); run UPDATE_SCENARIOS=1 cargo test --test it scenario_files"
    );
    for text in want.values() {
        file::parse(text).expect("every generated file loads");
    }
}

/// Every scenario file: `scenarios/*.json` (but the schema) and `scenarios/errors/*.json`.
fn scenario_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for dir in [root(), root().join("errors")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "json") && !p.ends_with("schema.json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A value that satisfies a glob (wildcards replaced by `x`).
fn instance(glob: &str) -> String {
    glob.replace(['*', '?'], "x")
}

fn first(v: &Option<OneOrMany>) -> Option<String> {
    v.as_ref().map(|v| instance(v.items()[0]))
}

/// What one call produced, as the snapshot shows it.
async fn outcome(server: &TestServer, req: Request<Full<Bytes>>) -> Value {
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let Ok(resp) = sender.send_request(req).await else {
        return json!({"transport": "connection closed before a response"});
    };
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    let Ok(body) = resp.into_body().collect().await else {
        return json!({"status": status, "content_type": content_type, "transport": "connection closed mid-body"});
    };
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let mut body = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
    if let Some(pem) = body.get("PrivateKeyBody").and_then(Value::as_str) {
        body["PrivateKeyBody"] = json!(format!("[{} characters]", pem.len()));
    }
    json!({"status": status, "content_type": content_type, "body": body})
}

#[tokio::test(start_paused = true)]
async fn every_scenario_file_loads_and_its_responses_are_pinned() {
    let server = TestServer::start(0).await;
    for path in scenario_files() {
        // Arrange: this file alone, on a reset mock.
        let text = std::fs::read_to_string(&path).unwrap();
        let scenario = file::load(&path).unwrap_or_else(|e| panic!("{e:#}"));
        let f: ScenarioFile = scenario.file.clone();
        server.app.scenarios.clear();
        server.app.scenarios.add(scenario, Some(path.clone()));
        server.app.store.reset(None);
        server.app.journal.reset(None);
        // The canonical request: what the first rule matches.
        let m = &f.rules[0].matcher;
        let action = first(&m.action).unwrap_or_else(|| "CreateKeyPair".into());
        let tenant = first(&m.access_key_id).unwrap_or_else(|| "snapshot".into());
        let mut call = server
            .call(&tenant, &action)
            .region(&first(&m.region_id).unwrap_or_else(|| "cn-hangzhou".into()));
        for (k, v) in &m.params {
            call = call.param(k, &instance(v));
        }
        if action == "CreateKeyPair" && !m.params.contains_key("KeyPairName") {
            call = call.param("KeyPairName", "snapshot-key");
        }
        let calls = if path.parent().unwrap().ends_with("errors") {
            1
        } else {
            3
        };
        // Act
        let mut results = Vec::new();
        for _ in 0..calls {
            results.push(outcome(&server, call.build()).await);
        }
        // Assert
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let request = format!("{calls} x {action} by {tenant}");
        let mut settings = snapshot_settings();
        settings.set_input_file(&path);
        settings.set_description(text);
        settings.set_omit_expression(true);
        settings.set_info(&json!({ "request": request }));
        let name = format!(
            "scenario_file_{}",
            rel.trim_end_matches(".json").replace('/', "__")
        );
        settings.bind(|| insta::assert_json_snapshot!(name, results));
    }
}

#[test]
fn the_json_schema_names_every_field_action_and_code() {
    // Arrange: the schema, and each part of the format with every field set.
    let text = std::fs::read_to_string(root().join("schema.json")).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let effect: file::EffectFile = serde_json::from_value(json!({
        "error": "Throttling", "arg": "a", "undocumented": true, "status": 400, "message": "m",
        "retry_after_ms": 1, "access_denied_detail": {"AuthAction": "a"}, "latency": {"fixed_ms": 1}, "fault": "reset", "respond": {"status": 200, "body": "b", "content_type": "t"}, "commit": true, "sequence": ["pass"], "cycle": true
    }))
    .unwrap();
    let latency: file::LatencyFile = serde_json::from_value(json!({
        "fixed_ms": 1, "uniform": {"min_ms": 1, "max_ms": 2},
        "lognormal": {"median_ms": 1.0, "sigma": 1.0, "p99_ms": 2.0, "cap_ms": 3}, "at": "body"
    }))
    .unwrap();
    let full = file::parse(
        r#"{"name": "n", "description": "d", "rules": [{"comment": "c", "effect": "pass",
            "match": {"action": "CreateKeyPair", "access_key_id": "a", "region_id": "cn-hangzhou",
                      "params": {"K": "v"}, "nth": 1, "from": 1, "to": 2, "every": 1,
                      "probability": 0.5, "window": {"start": "2024-01-01T00:00:00Z"}}},
            {"effect": "pass", "match": {"access_key_id_exact": "a"}}]}"#,
    )
    .unwrap()
    .file;
    let full = serde_json::to_value(&full).unwrap();
    let defs = &schema["$defs"];
    // Assert
    assert_eq!(keys(&schema["properties"]), keys(&full));
    assert_eq!(keys(&defs["rule"]["properties"]), keys(&full["rules"][0]));
    // access_key_id and access_key_id_exact exclude each other: the second rule has the latter.
    let mut match_keys = keys(&full["rules"][0]["match"]);
    match_keys.extend(keys(&full["rules"][1]["match"]));
    match_keys.sort();
    assert_eq!(keys(&defs["match"]["properties"]), match_keys);
    assert_eq!(
        keys(&defs["effect"]["properties"]),
        keys(&serde_json::to_value(&effect).unwrap())
    );
    assert_eq!(
        keys(&defs["latency"]["properties"]),
        keys(&serde_json::to_value(&latency).unwrap())
    );
    assert_eq!(
        keys(&defs["effect"]["properties"]["respond"]["properties"]),
        keys(&serde_json::to_value(&effect).unwrap()["respond"])
    );
    let mut codes: Vec<&str> = ecs_mock::error::ALL.iter().map(|k| k.spec().code).collect();
    codes.dedup();
    let mut codes: Vec<String> = codes.into_iter().map(String::from).collect();
    codes.sort();
    codes.dedup();
    let mut in_schema: Vec<String> =
        serde_json::from_value(defs["effect"]["properties"]["error"]["enum"].clone()).unwrap();
    in_schema.sort();
    assert_eq!(in_schema, codes);
    let actions: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    assert_eq!(defs["action"]["enum"], json!(actions));
}
