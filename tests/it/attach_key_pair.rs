//! AttachKeyPair over HTTP against instances declared by fixtures: success, per-instance
//! failures, the whole-request errors in JSON and XML, and the decisions on open questions
//! (string-typed counts, 400 for an unknown key pair, duplicates, re-binding).

use crate::fixtures::{add_key_pair, fleet_server, key_of};
use crate::support::{snapshot_settings, Style, TestServer};

const REGION: &str = "cn-hangzhou";

async fn attach(server: &TestServer, tenant: &str, name: &str, ids: &str) -> crate::support::Resp {
    server
        .call(tenant, "AttachKeyPair")
        .region(REGION)
        .param("KeyPairName", name)
        .param("InstanceIds", ids)
        .send()
        .await
}

#[tokio::test]
async fn attach_binds_the_key_to_every_listed_linux_instance_whatever_its_status() {
    // Arrange
    let server = fleet_server(&["t-attach-ok"]).await;
    add_key_pair(&server, "t-attach-ok", REGION, "k1");
    // Act
    let resp = attach(&server, "t-attach-ok", "k1", r#"["i-lin1","i-lin2"]"#).await;
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
    assert_eq!(body["KeyPairName"], "k1");
    assert_eq!(
        body["Results"]["Result"][1],
        serde_json::json!({"InstanceId": "i-lin2", "Success": "true", "Code": "200", "Message": "successful"}),
        "the Stopped instance takes the key too"
    );
    assert_eq!(
        key_of(&server, "t-attach-ok", "i-lin1").as_deref(),
        Some("k1")
    );
    assert_eq!(
        key_of(&server, "t-attach-ok", "i-lin2").as_deref(),
        Some("k1")
    );
    assert_eq!(key_of(&server, "t-attach-ok", "i-win1"), None);
    settings_snapshot_json("attach_key_pair_success_json", body);
}

#[tokio::test]
async fn counts_and_success_are_json_strings_as_the_sdk_models_type_them() {
    // Arrange
    let server = fleet_server(&["t-attach-types"]).await;
    add_key_pair(&server, "t-attach-types", REGION, "k1");
    // Act
    let body = attach(&server, "t-attach-types", "k1", r#"["i-lin1","i-nope"]"#)
        .await
        .json();
    // Assert
    assert_eq!(body["TotalCount"], serde_json::json!("2"));
    assert_eq!(body["FailCount"], serde_json::json!("1"));
    assert_eq!(
        body["Results"]["Result"][0]["Success"],
        serde_json::json!("true")
    );
    assert_eq!(
        body["Results"]["Result"][1]["Success"],
        serde_json::json!("false")
    );
}

#[tokio::test]
async fn attach_in_xml_repeats_the_result_element_per_instance() {
    // Arrange
    let server = fleet_server(&["t-attach-xml"]).await;
    add_key_pair(&server, "t-attach-xml", REGION, "k1");
    // Act
    let resp = server
        .call("t-attach-xml", "AttachKeyPair")
        .region(REGION)
        .param("KeyPairName", "k1")
        .param("InstanceIds", r#"["i-lin1","i-nope"]"#)
        .xml()
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert_eq!(resp.content_type, "text/xml;charset=utf-8");
    assert_eq!(resp.body.matches("<Result>").count(), 2, "{}", resp.body);
    assert_eq!(resp.xml_field("TotalCount").as_deref(), Some("2"));
    assert_eq!(resp.xml_field("FailCount").as_deref(), Some("1"));
    snapshot_settings().bind(|| insta::assert_snapshot!("attach_key_pair_partial_xml", resp.body));
}

#[tokio::test]
async fn ids_that_are_no_instance_of_the_account_in_the_region_fail_individually() {
    // Arrange: i-bj1 is in another region, i-other belongs to another tenant.
    let server = crate::fixtures::server_with(&crate::fixtures::fleet(&[
        "t-attach-part",
        "t-attach-other",
    ]))
    .await;
    server
        .app
        .store
        .with_account("t-attach-other", |acc| {
            let mut i = acc.instances["i-lin1"].clone();
            i.id = "i-other".into();
            acc.instances.insert(i.id.clone(), i);
        })
        .unwrap();
    add_key_pair(&server, "t-attach-part", REGION, "k1");
    // Act
    let resp = attach(
        &server,
        "t-attach-part",
        "k1",
        r#"["i-lin1","i-bj1","i-other","i-nope"]"#,
    )
    .await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    assert_eq!(
        (body["TotalCount"].as_str(), body["FailCount"].as_str()),
        (Some("4"), Some("3"))
    );
    for failed in &body["Results"]["Result"].as_array().unwrap()[1..] {
        assert_eq!(failed["Success"], "false");
        assert_eq!(failed["Code"], "InvalidInstanceId.NotFound");
        assert_eq!(
            failed["Message"],
            "The specified InstanceId does not exist."
        );
    }
    assert_eq!(
        key_of(&server, "t-attach-part", "i-lin1").as_deref(),
        Some("k1")
    );
    assert_eq!(key_of(&server, "t-attach-part", "i-bj1"), None);
    assert_eq!(key_of(&server, "t-attach-other", "i-other"), None);
    settings_snapshot_json("attach_key_pair_partial_json", body);
}

#[tokio::test]
async fn a_windows_instance_fails_the_whole_request_and_changes_nothing() {
    // Arrange
    let server = fleet_server(&["t-attach-win"]).await;
    add_key_pair(&server, "t-attach-win", REGION, "k1");
    for xml in [false, true] {
        // Act
        let mut call = server
            .call("t-attach-win", "AttachKeyPair")
            .region(REGION)
            .param("KeyPairName", "k1")
            .param("InstanceIds", r#"["i-lin1","i-win1","i-nope"]"#);
        if xml {
            call = call.xml();
        }
        let resp = call.send().await;
        // Assert
        assert_eq!(resp.status, 403, "{}", resp.body);
        if xml {
            assert_eq!(
                resp.xml_field("Code").as_deref(),
                Some("DependencyViolation.WindowsInstance")
            );
            snapshot_settings()
                .bind(|| insta::assert_snapshot!("attach_key_pair_error_windows_xml", resp.body));
        } else {
            resp.assert_error(403, "DependencyViolation.WindowsInstance");
            assert_eq!(
                resp.message(),
                "The instance creating is windows, cannot use ssh key pair to login"
            );
            settings_snapshot_json("attach_key_pair_error_windows_json", resp.json());
        }
        assert_eq!(key_of(&server, "t-attach-win", "i-lin1"), None);
    }
}

#[tokio::test]
async fn an_unknown_key_pair_name_is_400_invalid_key_pair_name_not_found() {
    // Arrange: k1 exists, but in another region.
    let server = fleet_server(&["t-attach-nokey"]).await;
    add_key_pair(&server, "t-attach-nokey", "cn-beijing", "k1");
    let message = "The specified KeyPairName does not exist in our records.";
    for name in ["k1", "never-created", "1 not even valid"] {
        // Act
        let json = attach(&server, "t-attach-nokey", name, r#"["i-lin1"]"#).await;
        let xml = server
            .call("t-attach-nokey", "AttachKeyPair")
            .region(REGION)
            .param("KeyPairName", name)
            .param("InstanceIds", r#"["i-lin1"]"#)
            .xml()
            .send()
            .await;
        // Assert
        json.assert_error(400, "InvalidKeyPairName.NotFound");
        assert_eq!(json.message(), message);
        assert_eq!(xml.status, 400);
        assert_eq!(
            xml.xml_field("Code").as_deref(),
            Some("InvalidKeyPairName.NotFound")
        );
        assert_eq!(
            xml.xml_field("Message")
                .map(|m| m.replace("&quot;", "\""))
                .as_deref(),
            Some(message)
        );
        if name == "never-created" {
            settings_snapshot_json("attach_key_pair_error_unknown_key_json", json.json());
            snapshot_settings().bind(|| {
                insta::assert_snapshot!("attach_key_pair_error_unknown_key_xml", xml.body)
            });
        }
    }
    assert_eq!(key_of(&server, "t-attach-nokey", "i-lin1"), None);
}

#[tokio::test]
async fn malformed_or_more_than_fifty_instance_ids_are_400_value_not_supported() {
    // Arrange
    let server = fleet_server(&["t-attach-ids"]).await;
    add_key_pair(&server, "t-attach-ids", REGION, "k1");
    let fifty_one = format!(
        "[{}]",
        (0..51)
            .map(|i| format!("\"i-{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let message = "The specified parameter InstanceIds is not valid.";
    for (i, ids) in [
        "i-lin1",
        "[]",
        r#"["i-lin1","#,
        "[\"\"]",
        "[1]",
        fifty_one.as_str(),
    ]
    .into_iter()
    .enumerate()
    {
        // Act
        let json = attach(&server, "t-attach-ids", "k1", ids).await;
        let xml = server
            .call("t-attach-ids", "AttachKeyPair")
            .region(REGION)
            .param("KeyPairName", "k1")
            .param("InstanceIds", ids)
            .xml()
            .send()
            .await;
        // Assert
        json.assert_error(400, "InvalidInstanceIds.ValueNotSupported");
        assert_eq!(json.message(), message, "{ids}");
        assert_eq!(xml.status, 400);
        assert_eq!(
            xml.xml_field("Message")
                .map(|m| m.replace("&quot;", "\""))
                .as_deref(),
            Some(message)
        );
        if i == 0 {
            settings_snapshot_json("attach_key_pair_error_bad_ids_json", json.json());
            snapshot_settings()
                .bind(|| insta::assert_snapshot!("attach_key_pair_error_bad_ids_xml", xml.body));
        }
    }
}

#[tokio::test]
async fn missing_parameters_are_reported_region_first_then_name_then_ids() {
    // Arrange
    let server = TestServer::start(42).await;
    let cases: [(&[(&str, &str)], u16, &str, &str); 4] = [
        (
            &[("KeyPairName", "k1"), ("InstanceIds", "[\"i-1\"]")],
            400,
            "MissingParameter",
            "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied.",
        ),
        (
            &[("RegionId", "mars-1"), ("InstanceIds", "[\"i-1\"]")],
            404,
            "InvalidRegionId.NotFound",
            "The RegionId provided does not exist in our records.",
        ),
        (
            &[("RegionId", REGION), ("InstanceIds", "[\"i-1\"]")],
            400,
            "MissingParameter",
            "The input parameter \"KeyPairName\" that is mandatory for processing this request is not supplied.",
        ),
        (
            &[("RegionId", REGION), ("KeyPairName", "k1")],
            400,
            "MissingParameter",
            "The input parameter \"InstanceIds\" that is mandatory for processing this request is not supplied.",
        ),
    ];
    for (params, status, code, message) in cases {
        let mut call = server.call("t-attach-missing", "AttachKeyPair");
        for (k, v) in params {
            call = call.param(k, v);
        }
        // Act
        let json = call.clone().send().await;
        let xml = call.xml().send().await;
        // Assert
        json.assert_error(status, code);
        assert_eq!(json.message(), message);
        assert_eq!(xml.status, status);
        assert_eq!(xml.xml_field("Code").as_deref(), Some(code));
        assert_eq!(
            xml.xml_field("Message")
                .map(|m| m.replace("&quot;", "\""))
                .as_deref(),
            Some(message)
        );
    }
}

#[tokio::test]
async fn attaching_another_key_replaces_the_binding_and_the_same_key_succeeds_again() {
    // Arrange
    let server = fleet_server(&["t-attach-swap"]).await;
    add_key_pair(&server, "t-attach-swap", REGION, "k1");
    add_key_pair(&server, "t-attach-swap", REGION, "k2");
    attach(&server, "t-attach-swap", "k1", r#"["i-lin1"]"#)
        .await
        .assert_ok();
    // Act
    let again = attach(&server, "t-attach-swap", "k1", r#"["i-lin1"]"#).await;
    let swap = attach(&server, "t-attach-swap", "k2", r#"["i-lin1"]"#).await;
    // Assert
    assert_eq!(again.json()["FailCount"], "0");
    assert_eq!(swap.json()["FailCount"], "0");
    assert_eq!(
        key_of(&server, "t-attach-swap", "i-lin1").as_deref(),
        Some("k2")
    );
    server
        .app
        .store
        .with_account("t-attach-swap", |acc| {
            assert!(acc.instances_holding(REGION, "k1").is_empty());
            assert_eq!(acc.instances_holding(REGION, "k2"), ["i-lin1"]);
        })
        .unwrap();
}

#[tokio::test]
async fn a_repeated_instance_id_is_processed_and_reported_once() {
    // Arrange
    let server = fleet_server(&["t-attach-dup"]).await;
    add_key_pair(&server, "t-attach-dup", REGION, "k1");
    // Act
    let body = attach(
        &server,
        "t-attach-dup",
        "k1",
        r#"["i-lin2","i-lin1","i-lin2"]"#,
    )
    .await
    .json();
    // Assert
    assert_eq!(body["TotalCount"], "2");
    let ids: Vec<&str> = body["Results"]["Result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["InstanceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["i-lin2", "i-lin1"]);
}

#[tokio::test]
async fn attach_leaves_the_key_pair_record_unchanged() {
    // Arrange: a real CreateKeyPair, so the record is what the service stored.
    let server = fleet_server(&["t-attach-record"]).await;
    server
        .call("t-attach-record", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "created")
        .send()
        .await
        .assert_ok();
    let before = server.app.store.key_pairs("t-attach-record", REGION);
    // Act
    attach(&server, "t-attach-record", "created", r#"["i-lin1"]"#)
        .await
        .assert_ok();
    // Assert
    assert_eq!(
        server.app.store.key_pairs("t-attach-record", REGION),
        before
    );
    assert_eq!(
        key_of(&server, "t-attach-record", "i-lin1").as_deref(),
        Some("created")
    );
}

#[tokio::test]
async fn every_request_style_reaches_the_same_result() {
    // Arrange
    let server = fleet_server(&["t-attach-styles"]).await;
    add_key_pair(&server, "t-attach-styles", REGION, "k1");
    for style in [
        Style::V1Get,
        Style::V1PostQuery,
        Style::V1PostForm,
        Style::V3,
    ] {
        // Act
        let resp = server
            .call("t-attach-styles", "AttachKeyPair")
            .region(REGION)
            .param("KeyPairName", "k1")
            .param("InstanceIds", r#"["i-lin1"]"#)
            .style(style)
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(resp.json()["FailCount"], "0", "{style:?}");
    }
}

fn settings_snapshot_json(name: &str, value: serde_json::Value) {
    snapshot_settings().bind(|| insta::assert_json_snapshot!(name, value));
}
