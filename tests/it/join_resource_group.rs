//! JoinResourceGroup over HTTP: a key pair moves between the account's resource groups, a
//! repeated join is refused, every error (including the documented 403 MissingParameter) in
//! JSON and XML.

use crate::support::assert_error_in_json_and_xml;
use crate::support::{snapshot_settings, Call, Style, TestServer};
use crate::tag_resources::{insert_key_pair, key_pair, with_params, REGION};

fn join(server: &TestServer, tenant: &str, group: &str, name: &str) -> Call {
    server
        .call(tenant, "JoinResourceGroup")
        .region(REGION)
        .param("ResourceGroupId", group)
        .param("ResourceType", "keypair")
        .param("ResourceId", name)
}

fn add_group(server: &TestServer, tenant: &str, group: &str) {
    server
        .app
        .store
        .with_account(tenant, |a| {
            a.resource_groups.insert(group.into());
        })
        .unwrap();
}

#[tokio::test]
async fn a_key_pair_moves_to_another_group_and_back() {
    // Arrange
    let server = TestServer::start(11).await;
    let t = "t-join-move";
    add_group(&server, t, "rg-test");
    server
        .call(t, "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "mover")
        .send()
        .await
        .assert_ok();
    let default_group = server.app.store.default_resource_group(t).unwrap();
    assert_eq!(
        key_pair(&server, t, REGION, "mover").resource_group_id,
        default_group
    );
    // Act
    let resp = join(&server, t, "rg-test", "mover")
        .style(Style::V3)
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert_eq!(
        resp.json().as_object().unwrap().keys().collect::<Vec<_>>(),
        ["RequestId"]
    );
    assert_eq!(
        key_pair(&server, t, REGION, "mover").resource_group_id,
        "rg-test"
    );
    // Act / Assert: and back to the default group (Terraform's form-body style).
    join(&server, t, &default_group, "mover")
        .style(Style::V1PostForm)
        .send()
        .await
        .assert_ok();
    assert_eq!(
        key_pair(&server, t, REGION, "mover").resource_group_id,
        default_group
    );
}

#[tokio::test]
async fn joining_the_group_a_key_pair_is_already_in_is_refused_as_a_duplicate() {
    let server = TestServer::start(11).await;
    let t = "t-join-dup";
    add_group(&server, t, "rg-test");
    insert_key_pair(&server, t, REGION, "kp", &[]);
    let default_group = server.app.store.default_resource_group(t).unwrap();
    let message = "The ResourceId provided has a ResourceGroup in our records.";
    assert_error_in_json_and_xml(
        "default group",
        join(&server, t, &default_group, "kp"),
        403,
        "InvalidResourceGroup.Duplicate",
        message,
    )
    .await;
    join(&server, t, "rg-test", "kp").send().await.assert_ok();
    assert_error_in_json_and_xml(
        "same group twice",
        join(&server, t, "rg-test", "kp"),
        403,
        "InvalidResourceGroup.Duplicate",
        message,
    )
    .await;
    assert_eq!(
        key_pair(&server, t, REGION, "kp").resource_group_id,
        "rg-test"
    );
}

#[tokio::test]
async fn only_the_named_key_pair_of_the_named_region_moves() {
    let server = TestServer::start(11).await;
    let t = "t-join-scope";
    add_group(&server, t, "rg-test");
    insert_key_pair(&server, t, REGION, "kp", &[]);
    insert_key_pair(&server, t, REGION, "other", &[]);
    insert_key_pair(&server, t, "cn-beijing", "kp", &[]);
    join(&server, t, "rg-test", "kp").send().await.assert_ok();
    let default_group = server.app.store.default_resource_group(t).unwrap();
    assert_eq!(
        key_pair(&server, t, REGION, "other").resource_group_id,
        default_group
    );
    assert_eq!(
        key_pair(&server, t, "cn-beijing", "kp").resource_group_id,
        default_group
    );
}

/// Every error JoinResourceGroup can produce, with status, code and exact message in JSON and XML.
#[tokio::test]
async fn every_error_has_its_documented_status_code_and_message_in_json_and_xml() {
    let server = TestServer::start(42).await;
    let t = "t-join-errors";
    add_group(&server, t, "rg-test");
    insert_key_pair(&server, t, REGION, "kp", &[]);
    insert_key_pair(&server, t, "cn-beijing", "far", &[]);
    add_group(&server, "t-join-errors-other", "rg-theirs");
    let missing = |name: &str| {
        format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied.")
    };
    let full = [
        ("RegionId", REGION),
        ("ResourceGroupId", "rg-test"),
        ("ResourceType", "keypair"),
        ("ResourceId", "kp"),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        full.iter().copied().filter(|(k, _)| *k != name).collect()
    };
    let replacing =
        |name: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
            full.iter()
                .map(|(k, v)| if *k == name { (*k, value) } else { (*k, *v) })
                .collect()
        };
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str, String)> = vec![
        (
            "missing region",
            without("RegionId"),
            403,
            "MissingParameter",
            missing("RegionId"),
        ),
        (
            "empty region",
            replacing("RegionId", ""),
            403,
            "MissingParameter",
            missing("RegionId"),
        ),
        (
            "missing group",
            without("ResourceGroupId"),
            403,
            "MissingParameter",
            missing("ResourceGroupId"),
        ),
        (
            "missing type",
            without("ResourceType"),
            403,
            "MissingParameter",
            missing("ResourceType"),
        ),
        (
            "missing id",
            without("ResourceId"),
            403,
            "MissingParameter",
            missing("ResourceId"),
        ),
        (
            "unknown region",
            replacing("RegionId", "mars-1"),
            404,
            "InvalidRegionId.NotFound",
            "The RegionId provided does not exist in our records.".into(),
        ),
        (
            "type is case-sensitive",
            replacing("ResourceType", "KeyPair"),
            404,
            "InvalidResourceType.NotFound",
            "The ResourceType provided does not exist in our records.".into(),
        ),
        (
            "undocumented type",
            replacing("ResourceType", "volume"),
            404,
            "InvalidResourceType.NotFound",
            "The ResourceType provided does not exist in our records.".into(),
        ),
        (
            "unknown group",
            replacing("ResourceGroupId", "rg-nope"),
            404,
            "InvalidResourceGroup.NotFound",
            "The ResourceGroup provided does not exist in our records.".into(),
        ),
        (
            "another tenant's group",
            replacing("ResourceGroupId", "rg-theirs"),
            404,
            "InvalidResourceGroup.NotFound",
            "The ResourceGroup provided does not exist in our records.".into(),
        ),
        (
            "unknown key pair",
            replacing("ResourceId", "ghost"),
            404,
            "InvalidResourceId.NotFound",
            "The ResourceId provided does not exist in our records.".into(),
        ),
        (
            "key pair of another region",
            replacing("ResourceId", "far"),
            404,
            "InvalidResourceId.NotFound",
            "The ResourceId provided does not exist in our records.".into(),
        ),
        (
            "unmodelled type",
            replacing("ResourceType", "instance"),
            404,
            "InvalidResourceId.NotFound",
            "The ResourceId provided does not exist in our records.".into(),
        ),
    ];
    for (what, params, status, code, message) in cases {
        let call = with_params(server.call(t, "JoinResourceGroup"), &params);
        assert_error_in_json_and_xml(what, call, status, code, &message).await;
    }
    let default_group = server.app.store.default_resource_group(t).unwrap();
    assert_eq!(
        key_pair(&server, t, REGION, "kp").resource_group_id,
        default_group
    );
}

#[tokio::test]
async fn snapshots_of_the_success_body_and_error_bodies() {
    let server = TestServer::start(42).await;
    let t = "snap-join";
    add_group(&server, t, "rg-test");
    add_group(&server, t, "rg-other");
    insert_key_pair(&server, t, REGION, "kp", &[]);
    let settings = snapshot_settings();
    let ok = join(&server, t, "rg-test", "kp").send().await;
    settings.bind(|| insta::assert_json_snapshot!("join_resource_group_success_json", ok.json()));
    let ok_xml = join(&server, t, "rg-other", "kp").xml().send().await;
    settings.bind(|| insta::assert_snapshot!("join_resource_group_success_xml", ok_xml.body));
    let errors: [(&str, Vec<(&str, &str)>); 3] = [
        (
            "join_resource_group_error_missing_id",
            vec![
                ("RegionId", REGION),
                ("ResourceGroupId", "rg-test"),
                ("ResourceType", "keypair"),
            ],
        ),
        (
            "join_resource_group_error_unknown_group",
            vec![
                ("RegionId", REGION),
                ("ResourceGroupId", "rg-x"),
                ("ResourceType", "keypair"),
                ("ResourceId", "kp"),
            ],
        ),
        (
            "join_resource_group_error_duplicate",
            vec![
                ("RegionId", REGION),
                ("ResourceGroupId", "rg-other"),
                ("ResourceType", "keypair"),
                ("ResourceId", "kp"),
            ],
        ),
    ];
    for (name, params) in errors {
        let call = with_params(server.call(t, "JoinResourceGroup"), &params);
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}
