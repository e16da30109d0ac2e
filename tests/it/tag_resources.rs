//! TagResources over HTTP: tags land on key pairs (and show in ListTagResources), values are
//! overwritten in place, requests are all-or-nothing, every documented error in JSON and XML.
//!
//! Also home of the helpers the other tag and resource-group tests share: arranging key pairs
//! straight in the store (CreateKeyPair generates RSA keys, ~60 ms each) and checking an error
//! in both formats.

use ecs_mock::store::{KeyPair, NewKeyPair, Origin};
use ecs_mock::validate::Tag;
use serde_json::json;

use crate::support::{assert_error_in_json_and_xml, snapshot_settings, Call, Style, TestServer};

pub const REGION: &str = "cn-hangzhou";

/// Stores key pair `name` in `region` of `tenant` with `tags`, in the default resource group.
pub fn insert_key_pair(
    server: &TestServer,
    tenant: &str,
    region: &str,
    name: &str,
    tags: &[(&str, &str)],
) {
    let store = &server.app.store;
    let resource_group_id = store.default_resource_group(tenant).unwrap();
    store
        .reserve(tenant, region, name, None)
        .expect("the test uses a fresh name")
        .commit(NewKeyPair {
            fingerprint: "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff".into(),
            public_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA".into(),
            resource_group_id,
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: k.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            creation_time: 1_700_000_000,
            origin: Origin::Imported,
        });
}

/// The stored key pair `name`.
pub fn key_pair(server: &TestServer, tenant: &str, region: &str, name: &str) -> KeyPair {
    server
        .app
        .store
        .key_pairs(tenant, region)
        .into_iter()
        .find(|k| k.name == name)
        .unwrap_or_else(|| panic!("no key pair {name}"))
}

/// The tags of the stored key pair `name` as (key, value) pairs, in order.
pub fn tags_of(
    server: &TestServer,
    tenant: &str,
    region: &str,
    name: &str,
) -> Vec<(String, String)> {
    key_pair(server, tenant, region, name)
        .tags
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect()
}

pub fn pairs(tags: &[(&str, &str)]) -> Vec<(String, String)> {
    tags.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `call` with `params` added.
pub fn with_params(mut call: Call, params: &[(&str, &str)]) -> Call {
    for (k, v) in params {
        call = call.param(k, v);
    }
    call
}

fn tag_call(server: &TestServer, tenant: &str, ids: &[&str], tags: &[(&str, &str)]) -> Call {
    let mut call = server
        .call(tenant, "TagResources")
        .region(REGION)
        .param("ResourceType", "keypair");
    for (i, id) in ids.iter().enumerate() {
        call = call.param(&format!("ResourceId.{}", i + 1), id);
    }
    for (i, (k, v)) in tags.iter().enumerate() {
        call = call
            .param(&format!("Tag.{}.Key", i + 1), k)
            .param(&format!("Tag.{}.Value", i + 1), v);
    }
    call
}

#[tokio::test]
async fn tags_added_to_a_created_key_pair_show_in_list_tag_resources() {
    // Arrange: a real key pair that already carries a tag from CreateKeyPair.
    let server = TestServer::start(42).await;
    let t = "t-tag-roundtrip";
    server
        .call(t, "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "web")
        .param("Tag.1.Key", "team")
        .param("Tag.1.Value", "blue")
        .send()
        .await
        .assert_ok();
    // Act: the Python SDK's V3 style, two tags.
    let resp = tag_call(&server, t, &["web"], &[("env", "prod"), ("cost", "")])
        .style(Style::V3)
        .send()
        .await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    assert_eq!(
        body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId"]
    );
    let listed = server
        .call(t, "ListTagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "web")
        .send()
        .await
        .json();
    assert_eq!(
        listed["TagResources"]["TagResource"],
        json!([
            {"ResourceId": "web", "ResourceType": "keypair", "TagKey": "team", "TagValue": "blue"},
            {"ResourceId": "web", "ResourceType": "keypair", "TagKey": "env", "TagValue": "prod"},
            {"ResourceId": "web", "ResourceType": "keypair", "TagKey": "cost", "TagValue": ""},
        ])
    );
}

#[tokio::test]
async fn tagging_an_existing_key_overwrites_its_value_in_place_on_every_resource() {
    // Arrange
    let server = TestServer::start(1).await;
    let t = "t-tag-overwrite";
    insert_key_pair(&server, t, REGION, "a", &[("env", "dev"), ("x", "1")]);
    insert_key_pair(&server, t, REGION, "b", &[]);
    // Act: Terraform's style (form body), legacy SDK order (Value before Key).
    let resp = server
        .call(t, "TagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "a")
        .param("ResourceId.2", "b")
        .param("Tag.1.Value", "prod")
        .param("Tag.1.Key", "env")
        .style(Style::V1PostForm)
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert_eq!(
        tags_of(&server, t, REGION, "a"),
        pairs(&[("env", "prod"), ("x", "1")])
    );
    assert_eq!(tags_of(&server, t, REGION, "b"), pairs(&[("env", "prod")]));
}

#[tokio::test]
async fn a_tag_without_a_value_gets_the_empty_value() {
    let server = TestServer::start(1).await;
    let t = "t-tag-novalue";
    insert_key_pair(&server, t, REGION, "k", &[]);
    server
        .call(t, "TagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "k")
        .param("Tag.1.Key", "flag")
        .send()
        .await
        .assert_ok();
    assert_eq!(tags_of(&server, t, REGION, "k"), pairs(&[("flag", "")]));
}

#[tokio::test]
async fn one_unknown_resource_fails_the_request_and_tags_nothing() {
    // Arrange
    let server = TestServer::start(1).await;
    let t = "t-tag-atomic";
    insert_key_pair(&server, t, REGION, "known", &[]);
    insert_key_pair(&server, t, "cn-beijing", "elsewhere", &[]);
    // Act / Assert: a missing name, and a name that exists only in another region.
    for missing in ["ghost", "elsewhere"] {
        tag_call(&server, t, &["known", missing], &[("env", "prod")])
            .send()
            .await
            .assert_error(404, "InvalidResourceId.NotFound");
    }
    assert!(tags_of(&server, t, REGION, "known").is_empty());
}

#[tokio::test]
async fn twenty_tags_per_key_pair_fit_and_the_twenty_first_is_refused_for_all_resources() {
    // Arrange: `full` holds 19 tags, `empty` none.
    let server = TestServer::start(1).await;
    let t = "t-tag-quota";
    let nineteen: Vec<(String, String)> = (1..=19)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let nineteen_ref: Vec<(&str, &str)> = nineteen
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    insert_key_pair(&server, t, REGION, "full", &nineteen_ref);
    insert_key_pair(&server, t, REGION, "empty", &[]);
    // Act / Assert: overwriting an existing key does not count; a 20th key fits.
    tag_call(&server, t, &["full"], &[("k1", "new"), ("k20", "v20")])
        .send()
        .await
        .assert_ok();
    assert_eq!(tags_of(&server, t, REGION, "full").len(), 20);
    // A 21st key on `full` refuses the whole request, `empty` included.
    let resp = tag_call(&server, t, &["empty", "full"], &[("k21", "v")])
        .send()
        .await;
    resp.assert_error(400, "OperationDenied.QuotaExceed");
    assert_eq!(
        resp.message(),
        "The quota of tags on resource is beyond permitted range."
    );
    assert!(tags_of(&server, t, REGION, "empty").is_empty());
    assert_eq!(tags_of(&server, t, REGION, "full").len(), 20);
}

/// Every error TagResources can produce, with status, code and exact message in JSON and XML.
#[tokio::test]
async fn every_error_has_its_documented_status_code_and_message_in_json_and_xml() {
    let server = TestServer::start(42).await;
    let t = "t-tag-errors";
    let twenty_owned: Vec<(String, String)> =
        (1..=20).map(|i| (format!("k{i}"), String::new())).collect();
    let twenty: Vec<(&str, &str)> = twenty_owned
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    insert_key_pair(&server, t, REGION, "kp", &[]);
    insert_key_pair(&server, t, REGION, "kp-full", &twenty);
    let ids51: Vec<(String, String)> = (1..=51)
        .map(|i| (format!("ResourceId.{i}"), "kp".to_string()))
        .collect();
    let tags21: Vec<(String, String)> = (1..=21)
        .map(|i| (format!("Tag.{i}.Key"), format!("k{i}")))
        .collect();
    let base = [
        ("RegionId", REGION),
        ("ResourceType", "keypair"),
        ("ResourceId.1", "kp"),
    ];
    let with = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
        base.iter()
            .chain(extra.iter())
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let owned = |p: &[(&str, &str)]| -> Vec<(String, String)> { pairs(p) };
    let cases: Vec<(&str, Vec<(String, String)>, u16, &str, &str)> = vec![
        ("missing region", owned(&[("ResourceType", "keypair"), ("ResourceId.1", "kp"), ("Tag.1.Key", "a")]),
         404, "MissingParameter.RegionId", "The parameter - RegionId should not be null"),
        ("unknown region", owned(&[("RegionId", "mars-1"), ("ResourceType", "keypair"), ("ResourceId.1", "kp"), ("Tag.1.Key", "a")]),
         404, "InvalidRegionId.NotFound", "The specified RegionId does not exist."),
        ("missing type", owned(&[("RegionId", REGION), ("ResourceId.1", "kp"), ("Tag.1.Key", "a")]),
         404, "MissingParameter.ResourceType", "The parameter - ResourceType should not be null"),
        ("missing ids", owned(&[("RegionId", REGION), ("ResourceType", "keypair"), ("Tag.1.Key", "a")]),
         400, "MissingParameter", "The input parameter \"ResourceId\" that is mandatory for processing this request is not supplied."),
        ("missing tags", with(&[]),
         404, "MissingParameter.Tags", "The parameter - Tags should not be null"),
        ("unknown type", owned(&[("RegionId", REGION), ("ResourceType", "KeyPair"), ("ResourceId.1", "kp"), ("Tag.1.Key", "a")]),
         404, "InvalidResourceType.NotFound", "The ResourceType provided does not exist in our records."),
        ("51 ids", [owned(&[("RegionId", REGION), ("ResourceType", "keypair"), ("Tag.1.Key", "a")]), ids51.clone()].concat(),
         400, "NumberExceed.ResourceIds", "The ResourceIds parameter's number is exceed , Valid : 50"),
        ("21 tags", [with(&[]), tags21.clone()].concat(),
         400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20"),
        // Indices outside 1..20 / 1..50 are refused like the 21st, not dropped (inferred).
        ("tag index 0", with(&[("Tag.0.Key", "acs:bad")]),
         400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20"),
        ("tag index 1000000", with(&[("Tag.1000000.Key", "k")]),
         400, "NumberExceed.Tags", "The Tags parameter's number is exceed , Valid : 20"),
        ("resource index 0", owned(&[("RegionId", REGION), ("ResourceType", "keypair"), ("ResourceId.1", "kp"), ("ResourceId.0", "kp"), ("Tag.1.Key", "a")]),
         400, "NumberExceed.ResourceIds", "The ResourceIds parameter's number is exceed , Valid : 50"),
        ("reserved key prefix", with(&[("Tag.1.Key", "acs:owner")]),
         400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid."),
        ("value without key", with(&[("Tag.1.Value", "v")]),
         400, "InvalidTag.Mismatch", "The specified Tag.n.Key and Tag.n.Value are not match."),
        ("empty key", with(&[("Tag.1.Key", "")]),
         400, "InvalidTagKey.Malformed", "The specified Tag.n.Key is not valid."),
        ("url in value", with(&[("Tag.1.Key", "k"), ("Tag.1.Value", "see https://x")]),
         400, "InvalidTagValue.Malformed", "The specified Tag.n.Value is not valid."),
        ("duplicate key", with(&[("Tag.1.Key", "k"), ("Tag.2.Key", "k")]),
         400, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key."),
        ("unknown key pair", owned(&[("RegionId", REGION), ("ResourceType", "keypair"), ("ResourceId.1", "nope"), ("Tag.1.Key", "a")]),
         404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records."),
        ("unmodelled type", owned(&[("RegionId", REGION), ("ResourceType", "instance"), ("ResourceId.1", "kp"), ("Tag.1.Key", "a")]),
         404, "InvalidResourceId.NotFound", "The specified ResourceIds are not found in our records."),
        ("tag quota", owned(&[("RegionId", REGION), ("ResourceType", "keypair"), ("ResourceId.1", "kp-full"), ("Tag.1.Key", "k21")]),
         400, "OperationDenied.QuotaExceed", "The quota of tags on resource is beyond permitted range."),
    ];
    for (what, params, status, code, message) in cases {
        let mut call = server.call(t, "TagResources");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        assert_error_in_json_and_xml(what, call, status, code, message).await;
    }
    assert!(
        tags_of(&server, t, REGION, "kp").is_empty(),
        "no failed request tagged anything"
    );
}

/// Types §1.7 documents but this mock does not model are valid types whose ids never exist;
/// other strings (including other casings of `keypair`) are unknown types.
#[tokio::test]
async fn a_documented_type_other_than_keypair_has_no_resources_and_an_undocumented_type_is_unknown()
{
    let server = TestServer::start(1).await;
    let t = "t-tag-types";
    insert_key_pair(&server, t, REGION, "kp", &[]);
    for (resource_type, status, code) in [
        ("disk", 404, "InvalidResourceId.NotFound"),
        ("securitygroup", 404, "InvalidResourceId.NotFound"),
        ("KEYPAIR", 404, "InvalidResourceType.NotFound"),
        ("bucket", 404, "InvalidResourceType.NotFound"),
    ] {
        server
            .call(t, "TagResources")
            .region(REGION)
            .param("ResourceType", resource_type)
            .param("ResourceId.1", "kp")
            .param("Tag.1.Key", "a")
            .send()
            .await
            .assert_error(status, code);
    }
}

#[tokio::test]
async fn snapshots_of_the_success_body_and_error_bodies() {
    let server = TestServer::start(42).await;
    let t = "snap-tag";
    insert_key_pair(&server, t, REGION, "kp", &[]);
    let settings = snapshot_settings();
    let ok = tag_call(&server, t, &["kp"], &[("env", "prod")])
        .send()
        .await;
    settings.bind(|| insta::assert_json_snapshot!("tag_resources_success_json", ok.json()));
    let ok_xml = tag_call(&server, t, &["kp"], &[("env", "prod")])
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("tag_resources_success_xml", ok_xml.body));
    let errors: [(&str, Vec<(&str, &str)>); 4] = [
        (
            "tag_resources_error_missing_region",
            vec![
                ("ResourceType", "keypair"),
                ("ResourceId.1", "kp"),
                ("Tag.1.Key", "a"),
            ],
        ),
        (
            "tag_resources_error_missing_tags",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("ResourceId.1", "kp"),
            ],
        ),
        (
            "tag_resources_error_unknown_resource",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("ResourceId.1", "nope"),
                ("Tag.1.Key", "a"),
            ],
        ),
        (
            "tag_resources_error_duplicate_key",
            vec![
                ("RegionId", REGION),
                ("ResourceType", "keypair"),
                ("ResourceId.1", "kp"),
                ("Tag.1.Key", "a"),
                ("Tag.2.Key", "a"),
            ],
        ),
    ];
    for (name, params) in errors {
        let call = with_params(server.call(t, "TagResources"), &params);
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}
