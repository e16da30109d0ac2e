//! DeleteKeyPairs over HTTP: deleting, unknown and duplicate names, the all-or-nothing refusal
//! for attached key pairs, every documented error in JSON and XML, freed names and quota, and
//! the key a re-created name derives.

use ecs_mock::store::{Instance, OsType};
use serde_json::Value;

use crate::support::{assert_error_in_json_and_xml, snapshot_settings, Resp, Style, TestServer};

const REGION: &str = "cn-hangzhou";

fn fixture(file: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/pubkeys/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn import(server: &TestServer, tenant: &str, name: &str) {
    server
        .call(tenant, "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", name)
        .param("PublicKeyBody", &fixture("ecdsa256.pub"))
        .send()
        .await
        .assert_ok();
}

async fn delete(server: &TestServer, tenant: &str, names_json: &str) -> Resp {
    server
        .call(tenant, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", names_json)
        .send()
        .await
}

/// Names listed by DescribeKeyPairs in the region (at most 50).
pub async fn listed(server: &TestServer, tenant: &str) -> Vec<String> {
    let body: Value = server
        .call(tenant, "DescribeKeyPairs")
        .region(REGION)
        .param("PageSize", "50")
        .send()
        .await
        .assert_ok()
        .json();
    body["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyPairName"].as_str().unwrap().to_string())
        .collect()
}

/// Puts a Linux instance holding `key_pair_name` into the tenant's account.
fn attach(server: &TestServer, tenant: &str, instance_id: &str, region: &str, key_pair_name: &str) {
    server
        .app
        .store
        .with_account(tenant, |acc| {
            acc.instances.insert(
                instance_id.to_string(),
                Instance {
                    id: instance_id.to_string(),
                    region_id: region.to_string(),
                    status: "Running".into(),
                    os_type: OsType::Linux,
                    key_pair_name: Some(key_pair_name.to_string()),
                },
            );
        })
        .unwrap();
}

#[tokio::test]
async fn deleting_removes_exactly_the_named_key_pairs() {
    // Arrange
    let server = TestServer::start(31).await;
    for name in ["a1", "b2", "c3"] {
        import(&server, "t-del", name).await;
    }
    // Act
    let resp = delete(&server, "t-del", r#"["a1", "c3"]"#).await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["RequestId"]);
    assert_eq!(listed(&server, "t-del").await, ["b2"]);
}

/// §7.9: unknown names are ignored and the call succeeds; the known ones are still deleted.
#[tokio::test]
async fn deleting_an_unknown_name_succeeds_silently() {
    // Arrange
    let server = TestServer::start(32).await;
    import(&server, "t-del-unknown", "known").await;
    // Act + Assert
    delete(&server, "t-del-unknown", r#"["never-existed"]"#)
        .await
        .assert_ok();
    assert_eq!(listed(&server, "t-del-unknown").await, ["known"]);
    delete(&server, "t-del-unknown", r#"["never-existed","known"]"#)
        .await
        .assert_ok();
    assert!(listed(&server, "t-del-unknown").await.is_empty());
    // Deleting again, and deleting in a region or tenant that never had anything, also succeed.
    delete(&server, "t-del-unknown", r#"["known"]"#)
        .await
        .assert_ok();
    delete(&server, "t-del-nobody", r#"["known"]"#)
        .await
        .assert_ok();
}

#[tokio::test]
async fn duplicate_names_in_the_array_are_accepted() {
    let server = TestServer::start(33).await;
    import(&server, "t-del-dup", "twice").await;
    import(&server, "t-del-dup", "kept").await;
    delete(&server, "t-del-dup", r#"["twice","twice"]"#)
        .await
        .assert_ok();
    assert_eq!(listed(&server, "t-del-dup").await, ["kept"]);
}

#[tokio::test]
async fn an_attached_key_pair_refuses_the_whole_request_and_nothing_is_deleted() {
    // Arrange: "held" is attached in this region; "elsewhere" only to an instance of another region.
    let server = TestServer::start(34).await;
    let tenant = "t-del-attached";
    for name in ["free", "held", "elsewhere"] {
        import(&server, tenant, name).await;
    }
    attach(&server, tenant, "i-held", REGION, "held");
    attach(&server, tenant, "i-beijing", "cn-beijing", "elsewhere");
    let message =
        "The specified parameter \"KeyPairNames\" attached to instances can not be deleted.";
    // Act: the attached name comes last, after a deletable one.
    let json = delete(&server, tenant, r#"["free","held"]"#).await;
    let xml = server
        .call(tenant, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["held","free"]"#)
        .xml()
        .send()
        .await;
    // Assert
    json.assert_error(400, "InvalidParameter.KeypairAlreadyAttachedInstance");
    assert_eq!(json.message(), message);
    assert_eq!(xml.status, 400);
    assert_eq!(
        xml.xml_field("Code").as_deref(),
        Some("InvalidParameter.KeypairAlreadyAttachedInstance")
    );
    assert_eq!(
        xml.xml_field("Message"),
        Some(message.replace('"', "&quot;"))
    );
    assert_eq!(
        listed(&server, tenant).await,
        ["free", "held", "elsewhere"],
        "all or nothing"
    );
    // An instance in another region does not hold this region's key pair of the same name.
    delete(&server, tenant, r#"["free","elsewhere"]"#)
        .await
        .assert_ok();
    assert_eq!(listed(&server, tenant).await, ["held"]);
}

/// An instance fixture naming a key pair that does not exist does not block deleting that
/// (unknown, hence ignored) name.
#[tokio::test]
async fn an_instance_naming_a_missing_key_pair_does_not_block_the_delete() {
    let server = TestServer::start(35).await;
    attach(&server, "t-del-dangling", "i-1", REGION, "ghost");
    import(&server, "t-del-dangling", "real").await;
    delete(&server, "t-del-dangling", r#"["ghost","real"]"#)
        .await
        .assert_ok();
    assert!(listed(&server, "t-del-dangling").await.is_empty());
}

#[tokio::test]
async fn every_documented_error_arises_in_json_and_xml() {
    let server = TestServer::start(36).await;
    let too_many: Vec<String> = (0..101).map(|i| format!("\"k{i}\"")).collect();
    let too_many = format!("[{}]", too_many.join(","));
    let not_valid = "The specified parameter \"KeyPairNames\" is not valid.";
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str, &str)> = vec![
        ("missing region", vec![("KeyPairNames", r#"["a"]"#)], 400, "MissingParameter",
         "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied."),
        ("unknown region", vec![("RegionId", "mars-north-1"), ("KeyPairNames", r#"["a"]"#)], 404, "InvalidRegionId.NotFound",
         "The RegionId provided does not exist in our records."),
        ("missing names", vec![("RegionId", REGION)], 400, "MissingParameter",
         "The input parameter \"KeyPairNames\" that is mandatory for processing this request is not supplied."),
        ("not JSON", vec![("RegionId", REGION), ("KeyPairNames", "a,b")], 400, "InvalidKeyPairNames.ValueNotSupported", not_valid),
        ("not an array", vec![("RegionId", REGION), ("KeyPairNames", r#""a""#)], 400, "InvalidKeyPairNames.ValueNotSupported", not_valid),
        ("empty array", vec![("RegionId", REGION), ("KeyPairNames", "[]")], 400, "InvalidKeyPairNames.ValueNotSupported", not_valid),
        ("not strings", vec![("RegionId", REGION), ("KeyPairNames", "[1,2]")], 400, "InvalidKeyPairNames.ValueNotSupported", not_valid),
        ("101 names", vec![("RegionId", REGION), ("KeyPairNames", too_many.as_str())], 400, "InvalidKeyPairNames.ValueNotSupported", not_valid),
    ];
    for (what, params, status, code, message) in cases {
        let mut call = server.call("t-del-errors", "DeleteKeyPairs");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        assert_error_in_json_and_xml(what, call, status, code, message).await;
    }
    // Exactly 100 names is within the limit.
    let hundred: Vec<String> = (0..100).map(|i| format!("\"k{i}\"")).collect();
    delete(&server, "t-del-errors", &format!("[{}]", hundred.join(",")))
        .await
        .assert_ok();
}

#[tokio::test]
async fn every_wire_style_carries_the_json_array() {
    let server = TestServer::start(37).await;
    let styles = [
        Style::V1Get,
        Style::V1PostQuery,
        Style::V1PostForm,
        Style::V3,
    ];
    for (i, style) in styles.into_iter().enumerate() {
        let name = format!("styled-{i}");
        import(&server, "t-del-styles", &name).await;
        server
            .call("t-del-styles", "DeleteKeyPairs")
            .region(REGION)
            .param("KeyPairNames", &format!("[\"{name}\", \"x y\"]"))
            .style(style)
            .send()
            .await
            .assert_ok();
        assert!(
            listed(&server, "t-del-styles").await.is_empty(),
            "{style:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_frees_the_name_and_a_unit_of_quota() {
    // Arrange: a full region.
    let server = TestServer::start(38).await;
    let key = fixture("ecdsa256.pub");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..500 {
        let call = server
            .call("t-del-quota", "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("q{i}"))
            .param("PublicKeyBody", &key);
        tasks.spawn(async move { call.send().await.status });
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
    }
    server
        .call("t-del-quota", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "extra")
        .send()
        .await
        .assert_error(403, "QuotaExceed.KeyPair");
    // Act
    delete(&server, "t-del-quota", r#"["q7"]"#)
        .await
        .assert_ok();
    // Assert: one more fits, then the region is full again.
    server
        .call("t-del-quota", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "extra")
        .send()
        .await
        .assert_ok();
    server
        .call("t-del-quota", "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "q7")
        .param("PublicKeyBody", &key)
        .send()
        .await
        .assert_error(403, "QuotaExceed.KeyPair");
    delete(&server, "t-del-quota", r#"["q8"]"#)
        .await
        .assert_ok();
    server
        .call("t-del-quota", "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "q7")
        .param("PublicKeyBody", &key)
        .send()
        .await
        .assert_ok();
}

/// Re-creating a deleted name is the name's next generation: a new key, but the same one any
/// server with the same seed derives for the same history.
#[tokio::test]
async fn a_recreated_name_gets_a_new_key_that_is_reproducible_from_the_same_history() {
    async fn create(server: &TestServer) -> Value {
        server
            .call("t-regen", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "again")
            .send()
            .await
            .assert_ok()
            .json()
    }
    // Arrange + Act: create, delete, create on two servers with the same seed.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let server = TestServer::start(39).await;
        let first = create(&server).await;
        delete(&server, "t-regen", r#"["again"]"#).await.assert_ok();
        let second = create(&server).await;
        runs.push((first, second));
    }
    // Assert
    let (first, second) = &runs[0];
    assert_ne!(first["PrivateKeyBody"], second["PrivateKeyBody"]);
    assert_ne!(first["KeyPairFingerPrint"], second["KeyPairFingerPrint"]);
    assert_ne!(first["KeyPairId"], second["KeyPairId"]);
    let (other_first, other_second) = &runs[1];
    for field in ["PrivateKeyBody", "KeyPairFingerPrint", "KeyPairId"] {
        assert_eq!(first[field], other_first[field], "{field}");
        assert_eq!(second[field], other_second[field], "{field}");
    }
}

#[tokio::test]
async fn snapshots_of_the_success_body_and_each_error_body() {
    let server = TestServer::start(42).await;
    let settings = snapshot_settings();
    import(&server, "snap", "snap-a").await;
    import(&server, "snap", "snap-held").await;
    attach(&server, "snap", "i-snap", REGION, "snap-held");
    let ok = delete(&server, "snap", r#"["snap-a"]"#).await;
    settings.bind(|| insta::assert_json_snapshot!("delete_key_pairs_success_json", ok.json()));
    let ok_xml = server
        .call("snap", "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["snap-a"]"#)
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("delete_key_pairs_success_xml", ok_xml.body));
    let errors: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "delete_key_pairs_error_missing_names",
            vec![("RegionId", REGION)],
        ),
        (
            "delete_key_pairs_error_malformed_names",
            vec![("RegionId", REGION), ("KeyPairNames", "snap-a")],
        ),
        (
            "delete_key_pairs_error_attached",
            vec![("RegionId", REGION), ("KeyPairNames", r#"["snap-held"]"#)],
        ),
    ];
    for (name, params) in errors {
        let mut call = server.call("snap", "DeleteKeyPairs");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}

#[tokio::test]
async fn calls_on_unknown_key_pairs_leave_no_empty_region_in_the_state() {
    // Regression (concurrency audit #1): DeleteKeyPairs of unknown names created the region,
    // so the exported state listed `"eu-west-1": {"key_pairs": {}, …}` no call had made.
    use crate::scenarios::control;
    // Arrange: the tenant has an account (and its default resource group), no key pairs.
    let server = TestServer::start(21).await;
    let t = "t-no-region";
    server
        .call(t, "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .assert_ok();
    let group = server.app.store.default_resource_group(t).unwrap();
    let calls: [(&str, &[(&str, &str)], Option<&str>); 4] = [
        ("DeleteKeyPairs", &[("KeyPairNames", "[\"nope\"]")], None),
        (
            "TagResources",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId.1", "nope"),
                ("Tag.1.Key", "k"),
                ("Tag.1.Value", "v"),
            ],
            Some("InvalidResourceId.NotFound"),
        ),
        (
            "UntagResources",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId.1", "nope"),
                ("TagKey.1", "k"),
            ],
            Some("InvalidResourceId.NotFound"),
        ),
        (
            "JoinResourceGroup",
            &[
                ("ResourceType", "keypair"),
                ("ResourceId", "nope"),
                ("ResourceGroupId", &group),
            ],
            Some("InvalidResourceId.NotFound"),
        ),
    ];
    for (action, params, error) in calls {
        // Act
        let mut call = server.call(t, action).region("eu-west-1");
        for (k, v) in params {
            call = call.param(k, v);
        }
        let resp = call.send().await;
        // Assert
        match error {
            None => {
                resp.assert_ok();
            }
            Some(code) => assert_eq!(resp.json()["Code"], code, "{action}: {}", resp.body),
        }
        let (_, state) = control(
            &server,
            "GET",
            &format!("/__mock/state?access_key_id={t}"),
            None,
        )
        .await;
        assert_eq!(
            state["accounts"][t]["regions"],
            serde_json::json!({}),
            "{action}"
        );
    }
}
