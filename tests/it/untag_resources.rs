//! UntagResources over HTTP: named keys are removed (absent ones ignored), `All` removes every
//! tag only without `TagKey.N`, neither is a no-op, requests are all-or-nothing, every error in
//! JSON and XML.

use crate::support::assert_error_in_json_and_xml;
use crate::support::{snapshot_settings, Call, Style, TestServer};
use crate::tag_resources::{insert_key_pair, pairs, tags_of, with_params, REGION};

fn untag(server: &TestServer, tenant: &str, ids: &[&str]) -> Call {
    let mut call = server
        .call(tenant, "UntagResources")
        .region(REGION)
        .param("ResourceType", "keypair");
    for (i, id) in ids.iter().enumerate() {
        call = call.param(&format!("ResourceId.{}", i + 1), id);
    }
    call
}

const THREE: &[(&str, &str)] = &[("a", "1"), ("b", "2"), ("c", "3")];

#[tokio::test]
async fn named_keys_are_removed_and_keys_a_resource_lacks_are_ignored() {
    // Arrange
    let server = TestServer::start(5).await;
    let t = "t-untag-keys";
    insert_key_pair(&server, t, REGION, "x", THREE);
    insert_key_pair(&server, t, REGION, "y", &[("b", "9")]);
    // Act
    let resp = untag(&server, t, &["x", "y"])
        .param("TagKey.1", "b")
        .param("TagKey.2", "missing")
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert_eq!(
        resp.json().as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId"]
    );
    assert_eq!(
        tags_of(&server, t, REGION, "x"),
        pairs(&[("a", "1"), ("c", "3")])
    );
    assert!(tags_of(&server, t, REGION, "y").is_empty());
}

#[tokio::test]
async fn untagged_keys_disappear_from_list_tag_resources() {
    let server = TestServer::start(5).await;
    let t = "t-untag-list";
    insert_key_pair(&server, t, REGION, "x", THREE);
    untag(&server, t, &["x"])
        .param("TagKey.1", "a")
        .param("TagKey.2", "c")
        .style(Style::V3)
        .send()
        .await
        .assert_ok();
    let listed = server
        .call(t, "ListTagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "x")
        .send()
        .await
        .json();
    let keys: Vec<&str> = listed["TagResources"]["TagResource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["TagKey"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["b"]);
}

#[tokio::test]
async fn all_true_removes_every_tag_in_any_boolean_spelling() {
    let server = TestServer::start(5).await;
    let t = "t-untag-all";
    for (i, spelling) in ["True", "true", "TRUE"].into_iter().enumerate() {
        // Arrange
        let name = format!("k{i}");
        insert_key_pair(&server, t, REGION, &name, THREE);
        // Act
        untag(&server, t, &[&name])
            .param("All", spelling)
            .send()
            .await
            .assert_ok();
        // Assert
        assert!(tags_of(&server, t, REGION, &name).is_empty(), "{spelling}");
    }
}

/// Appendix A: the Python SDK sends `All=True` together with TagKey.N; the keys win.
#[tokio::test]
async fn all_is_ignored_when_tag_keys_are_given_as_in_the_python_sdk_sample() {
    let server = TestServer::start(5).await;
    let t = "t-untag-sample";
    insert_key_pair(&server, t, REGION, "k1", THREE);
    insert_key_pair(&server, t, REGION, "k2", &[("b", "x"), ("d", "4")]);
    with_params(
        server.call(t, "UntagResources"),
        &[
            ("All", "True"),
            ("RegionId", REGION),
            ("ResourceId.1", "k1"),
            ("ResourceId.2", "k2"),
            ("ResourceType", "keypair"),
            ("TagKey.1", "a"),
            ("TagKey.2", "b"),
        ],
    )
    .style(Style::V3)
    .send()
    .await
    .assert_ok();
    assert_eq!(tags_of(&server, t, REGION, "k1"), pairs(&[("c", "3")]));
    assert_eq!(tags_of(&server, t, REGION, "k2"), pairs(&[("d", "4")]));
}

#[tokio::test]
async fn without_tag_keys_or_all_nothing_is_removed() {
    let server = TestServer::start(5).await;
    let t = "t-untag-noop";
    insert_key_pair(&server, t, REGION, "k", THREE);
    for extra in [
        vec![],
        vec![("All", "False")],
        vec![("All", "false"), ("TagKey.1", "")],
    ] {
        with_params(untag(&server, t, &["k"]), &extra)
            .send()
            .await
            .assert_ok();
        assert_eq!(tags_of(&server, t, REGION, "k"), pairs(THREE), "{extra:?}");
    }
    // Still checks that the resources exist.
    untag(&server, t, &["ghost"])
        .send()
        .await
        .assert_error(404, "InvalidResourceId.NotFound");
}

#[tokio::test]
async fn one_unknown_resource_fails_the_request_and_untags_nothing() {
    let server = TestServer::start(5).await;
    let t = "t-untag-atomic";
    insert_key_pair(&server, t, REGION, "known", THREE);
    insert_key_pair(&server, t, "cn-shanghai", "elsewhere", THREE);
    for missing in ["ghost", "elsewhere"] {
        let resp = untag(&server, t, &["known", missing])
            .param("All", "true")
            .send()
            .await;
        resp.assert_error(404, "InvalidResourceId.NotFound");
    }
    assert_eq!(tags_of(&server, t, REGION, "known"), pairs(THREE));
}

/// Every error UntagResources can produce, with status, code and exact message in JSON and XML.
#[tokio::test]
async fn every_error_has_its_status_code_and_message_in_json_and_xml() {
    let server = TestServer::start(42).await;
    let t = "t-untag-errors";
    insert_key_pair(&server, t, REGION, "kp", THREE);
    let p = |list: &[(&str, &str)]| pairs(list);
    let ids51: Vec<(String, String)> = (1..=51)
        .map(|i| (format!("ResourceId.{i}"), "kp".to_string()))
        .collect();
    let keys21: Vec<(String, String)> = (1..=21)
        .map(|i| (format!("TagKey.{i}"), format!("k{i}")))
        .collect();
    let base = p(&[
        ("RegionId", REGION),
        ("ResourceType", "keypair"),
        ("ResourceId.1", "kp"),
    ]);
    let cases: Vec<(&str, Vec<(String, String)>, u16, &str, &str)> = vec![
        ("missing region", p(&[("ResourceType", "keypair"), ("ResourceId.1", "kp")]),
         404, "MissingParameter.RegionId", "The parameter - RegionId should not be null"),
        ("unknown region", p(&[("RegionId", "cn-atlantis"), ("ResourceType", "keypair"), ("ResourceId.1", "kp")]),
         404, "InvalidRegionId.NotFound", "The specified RegionId does not exist."),
        ("missing type", p(&[("RegionId", REGION), ("ResourceId.1", "kp")]),
         404, "MissingParameter.ResourceType", "The parameter - ResourceType should not be null"),
        ("missing ids", p(&[("RegionId", REGION), ("ResourceType", "keypair"), ("TagKey.1", "a")]),
         400, "MissingParameter", "The input parameter \"ResourceId\" that is mandatory for processing this request is not supplied."),
        ("unknown type", p(&[("RegionId", REGION), ("ResourceType", "Keypair"), ("ResourceId.1", "kp")]),
         404, "InvalidResourceType.NotFound", "The ResourceType provided does not exist in our records."),
        ("51 ids", [p(&[("RegionId", REGION), ("ResourceType", "keypair")]), ids51].concat(),
         400, "NumberExceed.ResourceIds", "The ResourceIds parameter's number is exceed , Valid : 50"),
        ("21 keys", [base.clone(), keys21].concat(),
         400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20"),
        ("All not a boolean", [base.clone(), p(&[("All", "1")])].concat(),
         400, "InvalidParameter", "The specified parameter \"All\" is not valid."),
        ("unknown key pair", p(&[("RegionId", REGION), ("ResourceType", "keypair"), ("ResourceId.1", "nope"), ("All", "true")]),
         404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records."),
        ("unmodelled type", p(&[("RegionId", REGION), ("ResourceType", "image"), ("ResourceId.1", "kp"), ("All", "true")]),
         404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records."),
    ];
    for (what, params, status, code, message) in cases {
        let mut call = server.call(t, "UntagResources");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        assert_error_in_json_and_xml(what, call, status, code, message).await;
    }
    assert_eq!(
        tags_of(&server, t, REGION, "kp"),
        pairs(THREE),
        "no failed request removed anything"
    );
}

#[tokio::test]
async fn snapshots_of_the_success_body_and_error_bodies() {
    let server = TestServer::start(42).await;
    let t = "snap-untag";
    insert_key_pair(&server, t, REGION, "kp", THREE);
    let settings = snapshot_settings();
    let ok = untag(&server, t, &["kp"])
        .param("TagKey.1", "a")
        .send()
        .await;
    settings.bind(|| insta::assert_json_snapshot!("untag_resources_success_json", ok.json()));
    let ok_xml = untag(&server, t, &["kp"])
        .param("All", "True")
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("untag_resources_success_xml", ok_xml.body));
    let errors: [(&str, Vec<(&str, &str)>); 2] = [
        (
            "untag_resources_error_missing_type",
            vec![("RegionId", REGION), ("ResourceId.1", "kp")],
        ),
        (
            "untag_resources_error_unknown_resource",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("ResourceId.1", "nope"),
            ],
        ),
    ];
    for (name, params) in errors {
        let call = with_params(server.call(t, "UntagResources"), &params);
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}
