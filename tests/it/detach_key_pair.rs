//! DetachKeyPair over HTTP against instances declared by fixtures: clearing bindings,
//! per-instance failures (not found, not attached), the whole-request errors in JSON and XML.

use crate::fixtures::{add_key_pair, fleet_server, key_of};
use crate::support::{snapshot_settings, Resp, TestServer};

const REGION: &str = "cn-hangzhou";

async fn call(
    server: &TestServer,
    action: &str,
    tenant: &str,
    name: &str,
    ids: &str,
    xml: bool,
) -> Resp {
    let mut c = server
        .call(tenant, action)
        .region(REGION)
        .param("KeyPairName", name)
        .param("InstanceIds", ids);
    if xml {
        c = c.xml();
    }
    c.send().await
}

async fn detach(server: &TestServer, tenant: &str, name: &str, ids: &str) -> Resp {
    call(server, "DetachKeyPair", tenant, name, ids, false).await
}

/// A fleet server where `tenant` has key pairs k1 and k2 and k1 is attached to i-lin1, i-lin2.
async fn attached(tenant: &str) -> TestServer {
    let server = fleet_server(&[tenant]).await;
    add_key_pair(&server, tenant, REGION, "k1");
    add_key_pair(&server, tenant, REGION, "k2");
    call(
        &server,
        "AttachKeyPair",
        tenant,
        "k1",
        r#"["i-lin1","i-lin2"]"#,
        false,
    )
    .await
    .assert_ok();
    server
}

#[tokio::test]
async fn detach_clears_the_binding_of_every_listed_instance() {
    // Arrange
    let server = attached("t-detach-ok").await;
    // Act
    let resp = detach(&server, "t-detach-ok", "k1", r#"["i-lin1","i-lin2"]"#).await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "RequestId",
            "KeyPairName",
            "TotalCount",
            "FailCount",
            "Results"
        ]
    );
    assert_eq!(
        (body["TotalCount"].as_str(), body["FailCount"].as_str()),
        (Some("2"), Some("0"))
    );
    assert_eq!(key_of(&server, "t-detach-ok", "i-lin1"), None);
    assert_eq!(key_of(&server, "t-detach-ok", "i-lin2"), None);
    server
        .app
        .store
        .with_account("t-detach-ok", |acc| {
            assert!(
                acc.instances_holding(REGION, "k1").is_empty(),
                "nothing holds k1 any more, so DeleteKeyPairs may remove it"
            );
        })
        .unwrap();
    snapshot_settings().bind(|| insta::assert_json_snapshot!("detach_key_pair_success_json", body));
}

#[tokio::test]
async fn detach_in_xml_repeats_the_result_element_per_instance() {
    // Arrange
    let server = attached("t-detach-xml").await;
    // Act
    let resp = call(
        &server,
        "DetachKeyPair",
        "t-detach-xml",
        "k1",
        r#"["i-lin1","i-nope"]"#,
        true,
    )
    .await;
    // Assert
    resp.assert_ok();
    assert_eq!(resp.body.matches("<Result>").count(), 2, "{}", resp.body);
    assert_eq!(resp.xml_field("FailCount").as_deref(), Some("1"));
    snapshot_settings().bind(|| insta::assert_snapshot!("detach_key_pair_partial_xml", resp.body));
}

#[tokio::test]
async fn an_instance_holding_another_key_or_none_fails_individually_and_keeps_its_binding() {
    // Arrange: i-lin1 ends up holding k2, i-lin2 nothing; i-bj1 (other region) and i-nope
    // are no instances of this region.
    let server = attached("t-detach-part").await;
    call(
        &server,
        "AttachKeyPair",
        "t-detach-part",
        "k2",
        r#"["i-lin1"]"#,
        false,
    )
    .await
    .assert_ok();
    detach(&server, "t-detach-part", "k1", r#"["i-lin2"]"#)
        .await
        .assert_ok();
    // Act
    let resp = detach(
        &server,
        "t-detach-part",
        "k1",
        r#"["i-lin1","i-lin2","i-bj1","i-nope"]"#,
    )
    .await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    assert_eq!(
        (body["TotalCount"].as_str(), body["FailCount"].as_str()),
        (Some("4"), Some("4"))
    );
    let results = body["Results"]["Result"].as_array().unwrap();
    for r in &results[..2] {
        assert_eq!(r["Success"], "false");
        assert_eq!(r["Code"], "InvalidKeyPair.NotAttached");
        assert_eq!(
            r["Message"],
            "The specified KeyPair is not attached to the instance."
        );
    }
    for r in &results[2..] {
        assert_eq!(r["Success"], "false");
        assert_eq!(r["Code"], "InvalidInstanceId.NotFound");
        assert_eq!(r["Message"], "The specified InstanceId does not exist.");
    }
    assert_eq!(
        key_of(&server, "t-detach-part", "i-lin1").as_deref(),
        Some("k2"),
        "another key's binding is never dropped"
    );
    snapshot_settings().bind(|| insta::assert_json_snapshot!("detach_key_pair_partial_json", body));
}

#[tokio::test]
async fn a_windows_instance_fails_the_whole_detach_and_changes_nothing() {
    // Arrange
    let server = attached("t-detach-win").await;
    for xml in [false, true] {
        // Act
        let resp = call(
            &server,
            "DetachKeyPair",
            "t-detach-win",
            "k1",
            r#"["i-lin1","i-win1"]"#,
            xml,
        )
        .await;
        // Assert
        assert_eq!(resp.status, 403, "{}", resp.body);
        if xml {
            assert_eq!(
                resp.xml_field("Code").as_deref(),
                Some("DependencyViolation.WindowsInstance")
            );
            snapshot_settings()
                .bind(|| insta::assert_snapshot!("detach_key_pair_error_windows_xml", resp.body));
        } else {
            assert_eq!(
                resp.message(),
                "The instance creating is windows, cannot use ssh key pair to login"
            );
            snapshot_settings().bind(|| {
                insta::assert_json_snapshot!("detach_key_pair_error_windows_json", resp.json())
            });
        }
        assert_eq!(
            key_of(&server, "t-detach-win", "i-lin1").as_deref(),
            Some("k1")
        );
    }
}

#[tokio::test]
async fn an_unknown_key_pair_name_is_400_on_detach_too() {
    // Arrange
    let server = attached("t-detach-nokey").await;
    let message = "The specified KeyPairName does not exist in our records.";
    // Act
    let json = detach(&server, "t-detach-nokey", "never-created", r#"["i-lin1"]"#).await;
    let xml = call(
        &server,
        "DetachKeyPair",
        "t-detach-nokey",
        "never-created",
        r#"["i-lin1"]"#,
        true,
    )
    .await;
    // Assert
    json.assert_error(400, "InvalidKeyPairName.NotFound");
    assert_eq!(json.message(), message);
    assert_eq!(xml.status, 400);
    assert_eq!(xml.xml_field("Message").as_deref(), Some(message));
    snapshot_settings().bind(|| {
        insta::assert_json_snapshot!("detach_key_pair_error_unknown_key_json", json.json())
    });
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("detach_key_pair_error_unknown_key_xml", xml.body));
}

#[tokio::test]
async fn an_unknown_region_uses_the_detach_wording_in_json_and_xml() {
    // Arrange
    let server = TestServer::start(42).await;
    let message = "The specified RegionId does not exist.";
    let c = server
        .call("t-detach-region", "DetachKeyPair")
        .region("mars-1")
        .param("KeyPairName", "k1")
        .param("InstanceIds", r#"["i-lin1"]"#);
    // Act
    let json = c.clone().send().await;
    let xml = c.xml().send().await;
    // Assert
    json.assert_error(404, "InvalidRegionId.NotFound");
    assert_eq!(json.message(), message);
    assert_eq!(xml.status, 404);
    assert_eq!(xml.xml_field("Message").as_deref(), Some(message));
    snapshot_settings().bind(|| {
        insta::assert_json_snapshot!("detach_key_pair_error_unknown_region_json", json.json())
    });
    snapshot_settings()
        .bind(|| insta::assert_snapshot!("detach_key_pair_error_unknown_region_xml", xml.body));
}

#[tokio::test]
async fn missing_or_malformed_instance_ids_are_rejected() {
    // Arrange
    let server = attached("t-detach-ids").await;
    // Act
    let missing = server
        .call("t-detach-ids", "DetachKeyPair")
        .region(REGION)
        .param("KeyPairName", "k1")
        .send()
        .await;
    let malformed = detach(&server, "t-detach-ids", "k1", "i-lin1").await;
    let malformed_xml = call(
        &server,
        "DetachKeyPair",
        "t-detach-ids",
        "k1",
        "i-lin1",
        true,
    )
    .await;
    // Assert
    missing.assert_error(400, "MissingParameter");
    assert_eq!(
        missing.message(),
        "The input parameter \"InstanceIds\" that is mandatory for processing this request is not supplied."
    );
    malformed.assert_error(400, "InvalidInstanceIds.ValueNotSupported");
    assert_eq!(
        malformed.message(),
        "The specified parameter InstanceIds is not valid."
    );
    assert_eq!(malformed_xml.status, 400);
    assert_eq!(
        malformed_xml.xml_field("Code").as_deref(),
        Some("InvalidInstanceIds.ValueNotSupported")
    );
    assert_eq!(
        key_of(&server, "t-detach-ids", "i-lin1").as_deref(),
        Some("k1")
    );
}
