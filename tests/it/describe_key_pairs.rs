//! DescribeKeyPairs over HTTP: paging, every filter, the name wildcards, IncludePublicKey, the
//! response shape in JSON and XML (lists always arrays), errors, and snapshots on a fixed clock.

use ecs_mock::clock::Clock;
use ecs_mock::config::Config;
use serde_json::Value;

use crate::support::{snapshot_settings, Resp, Style, TestServer};

const REGION: &str = "cn-hangzhou";
/// 2023-09-04T08:33:00Z, the API reference's example CreationTime.
const FIXED_NOW: u64 = 1_693_816_380;

fn fixture(file: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/pubkeys/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

async fn fixed_clock_server(seed: u64) -> TestServer {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), seed);
    config.clock = Clock::fixed(FIXED_NOW);
    TestServer::with_config(config).await
}

/// Imports `file` as `name` with extra parameters.
async fn import(server: &TestServer, tenant: &str, name: &str, file: &str, extra: &[(&str, &str)]) {
    let mut call = server
        .call(tenant, "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", name)
        .param("PublicKeyBody", &fixture(file));
    for (k, v) in extra {
        call = call.param(k, v);
    }
    call.send().await.assert_ok();
}

async fn describe(server: &TestServer, tenant: &str, params: &[(&str, &str)]) -> Resp {
    let mut call = server.call(tenant, "DescribeKeyPairs").region(REGION);
    for (k, v) in params {
        call = call.param(k, v);
    }
    call.send().await
}

/// The KeyPairName of each listed item, in order.
fn names(body: &Value) -> Vec<String> {
    body["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap_or_else(|| panic!("KeyPairs.KeyPair is not an array: {body}"))
        .iter()
        .map(|k| k["KeyPairName"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn paging_through_63_key_pairs_visits_each_once_in_creation_order() {
    // Arrange: names whose creation order differs from their alphabetical order.
    let server = TestServer::start(11).await;
    let created: Vec<String> = (0..63).map(|i| format!("k{:02}", (i * 37) % 63)).collect();
    for name in &created {
        import(&server, "t-paging", name, "ecdsa256.pub", &[]).await;
    }
    // Unfiltered listings page a slice of the store; filtered ones scan: a filter that matches
    // everything must page identically.
    for filter in [None, Some("k*")] {
        // Act
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        for page in 1..=3 {
            let page = page.to_string();
            let mut params = vec![("PageSize", "50"), ("PageNumber", page.as_str())];
            params.extend(filter.map(|f| ("KeyPairName", f)));
            let body = describe(&server, "t-paging", &params)
                .await
                .assert_ok()
                .json();
            assert_eq!(body["TotalCount"], 63, "{filter:?}");
            assert_eq!(body["PageNumber"], page.parse::<u32>().unwrap());
            assert_eq!(body["PageSize"], 50);
            pages.push(names(&body).len());
            seen.extend(names(&body));
        }
        // Assert
        assert_eq!(
            pages,
            [50, 13, 0],
            "a page past the end is empty ({filter:?})"
        );
        assert_eq!(
            seen, created,
            "creation order, no duplicates, nothing missing ({filter:?})"
        );
    }
}

#[tokio::test]
async fn defaults_are_page_one_of_ten_and_the_numbers_are_json_numbers() {
    // Arrange
    let server = TestServer::start(12).await;
    for i in 0..12 {
        import(&server, "t-defaults", &format!("d{i}"), "rsa2048.pub", &[]).await;
    }
    // Act
    let body = describe(&server, "t-defaults", &[])
        .await
        .assert_ok()
        .json();
    // Assert
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "RequestId",
            "PageNumber",
            "PageSize",
            "TotalCount",
            "KeyPairs"
        ]
    );
    assert!(
        body["PageNumber"].is_u64() && body["PageSize"].is_u64() && body["TotalCount"].is_u64()
    );
    assert_eq!(
        (&body["PageNumber"], &body["PageSize"], &body["TotalCount"]),
        (&Value::from(1), &Value::from(10), &Value::from(12))
    );
    assert_eq!(
        names(&body),
        (0..10).map(|i| format!("d{i}")).collect::<Vec<_>>()
    );
    let item = &body["KeyPairs"]["KeyPair"][0];
    let fields: Vec<&String> = item.as_object().unwrap().keys().collect();
    assert_eq!(
        fields,
        [
            "CreationTime",
            "KeyPairName",
            "KeyPairFingerPrint",
            "ResourceGroupId",
            "Tags"
        ],
        "no PublicKey unless asked for"
    );
    assert_eq!(
        item["Tags"]["Tag"],
        Value::Array(vec![]),
        "an empty tag list is an array"
    );
    assert_eq!(
        item["ResourceGroupId"],
        server
            .app
            .store
            .default_resource_group("t-defaults")
            .unwrap()
    );
    let t = item["CreationTime"].as_str().unwrap();
    assert!(
        t.len() == 17 && t.as_bytes()[10] == b'T' && t.ends_with('Z'),
        "minute precision: {t}"
    );
}

#[tokio::test]
async fn creation_time_pins_the_creation_time_of_created_and_imported_key_pairs() {
    // Arrange: the real clock, with --creation-time 2023-09-04T08:33:59Z.
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 15);
    config.creation_time = Some(FIXED_NOW + 59);
    let server = TestServer::with_config(config).await;
    server
        .call("t-pinned", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "created")
        .send()
        .await
        .assert_ok();
    import(&server, "t-pinned", "imported", "ecdsa521.pub", &[]).await;
    // Act
    let json = describe(&server, "t-pinned", &[]).await.assert_ok().json();
    let xml = server
        .call("t-pinned", "DescribeKeyPairs")
        .region(REGION)
        .xml()
        .send()
        .await;
    // Assert: shown to the minute, like any CreationTime.
    let items = json["KeyPairs"]["KeyPair"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["CreationTime"], "2023-09-04T08:33Z", "{item}");
    }
    assert_eq!(
        xml.assert_ok()
            .body
            .matches("<CreationTime>2023-09-04T08:33Z</CreationTime>")
            .count(),
        2,
        "{}",
        xml.body
    );
}

#[tokio::test]
async fn an_empty_region_and_another_tenant_list_nothing_as_an_empty_array() {
    // Arrange
    let server = TestServer::start(13).await;
    import(&server, "t-owner", "mine", "rsa2048.pub", &[]).await;
    // Act
    let other_tenant = describe(&server, "t-stranger", &[])
        .await
        .assert_ok()
        .json();
    let other_region = server
        .call("t-owner", "DescribeKeyPairs")
        .region("cn-beijing")
        .send()
        .await
        .assert_ok()
        .json();
    // Assert
    for body in [other_tenant, other_region] {
        assert_eq!(body["TotalCount"], 0);
        assert_eq!(body["KeyPairs"], serde_json::json!({"KeyPair": []}));
    }
}

#[tokio::test]
async fn created_and_imported_key_pairs_are_both_listed_with_their_public_keys() {
    // Arrange
    let server = TestServer::start(14).await;
    let created = server
        .call("t-both", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "created")
        .send()
        .await
        .assert_ok()
        .json();
    import(&server, "t-both", "imported", "ecdsa521.pub", &[]).await;
    for value in ["True", "true", "TRUE"] {
        // Act
        let body = describe(&server, "t-both", &[("IncludePublicKey", value)])
            .await
            .assert_ok()
            .json();
        // Assert
        assert_eq!(names(&body), ["created", "imported"]);
        let items = body["KeyPairs"]["KeyPair"].as_array().unwrap();
        assert_eq!(
            items[0]["KeyPairFingerPrint"],
            created["KeyPairFingerPrint"]
        );
        let created_pk = items[0]["PublicKey"].as_str().unwrap();
        assert!(
            created_pk.starts_with("ssh-rsa AAAAB3NzaC1yc2E"),
            "{created_pk}"
        );
        // Imported keys are shown normalised: type and base64, without the comment.
        let text = fixture("ecdsa521.pub");
        let mut fields = text.split_whitespace();
        let expected = format!("{} {}", fields.next().unwrap(), fields.next().unwrap());
        assert_eq!(items[1]["PublicKey"], expected, "{value}");
        assert_eq!(
            items[1]["KeyPairFingerPrint"],
            "5d:a7:61:c7:ef:1c:1b:2c:2a:0a:31:f6:40:6e:34:e2"
        );
    }
    for value in ["False", "false", ""] {
        let body = describe(&server, "t-both", &[("IncludePublicKey", value)])
            .await
            .assert_ok()
            .json();
        assert!(
            body["KeyPairs"]["KeyPair"][0].get("PublicKey").is_none(),
            "{value}"
        );
    }
}

#[tokio::test]
async fn key_pair_name_wildcards_match_as_documented_and_other_stars_are_wildcards_too() {
    // Arrange
    let server = TestServer::start(15).await;
    for name in [
        "SshKey", "mySshKey", "SshKey-1", "aSshKeyb", "other", "sshkey",
    ] {
        import(&server, "t-wild", name, "ecdsa256.pub", &[]).await;
    }
    let cases: &[(&str, &[&str])] = &[
        ("SshKey", &["SshKey"]),
        ("*SshKey", &["SshKey", "mySshKey"]),
        ("SshKey*", &["SshKey", "SshKey-1"]),
        ("*SshKey*", &["SshKey", "mySshKey", "SshKey-1", "aSshKeyb"]),
        ("S*y", &["SshKey"]),
        (
            "*",
            &[
                "SshKey", "mySshKey", "SshKey-1", "aSshKeyb", "other", "sshkey",
            ],
        ),
        ("Ssh", &[]),
        ("nothing*", &[]),
    ];
    for (filter, want) in cases {
        // Act
        let body = describe(&server, "t-wild", &[("KeyPairName", *filter)])
            .await
            .assert_ok()
            .json();
        // Assert
        assert_eq!(names(&body), *want, "{filter}");
        assert_eq!(body["TotalCount"], want.len(), "{filter}");
    }
}

#[tokio::test]
async fn fingerprint_resource_group_and_tag_filters_combine_with_and() {
    // Arrange: a second resource group, and keys spread over groups and tags.
    let server = TestServer::start(16).await;
    let tenant = "t-filters";
    let default_rg = server.app.store.default_resource_group(tenant).unwrap();
    server
        .app
        .store
        .with_account(tenant, |acc| {
            acc.resource_groups.insert("rg-team".into());
        })
        .unwrap();
    import(
        &server,
        tenant,
        "a-prod",
        "rsa2048.pub",
        &[
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
            ("Tag.2.Key", "team"),
            ("Tag.2.Value", "x"),
        ],
    )
    .await;
    import(
        &server,
        tenant,
        "b-dev",
        "dsa1024.pub",
        &[
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "dev"),
            ("ResourceGroupId", "rg-team"),
        ],
    )
    .await;
    import(
        &server,
        tenant,
        "c-none",
        "ecdsa384.pub",
        &[("ResourceGroupId", "rg-team")],
    )
    .await;
    let cases: Vec<(&str, Vec<(&str, &str)>, Vec<&str>)> = vec![
        (
            "fingerprint",
            vec![(
                "KeyPairFingerPrint",
                "8a:4d:35:08:5f:1a:c2:0c:f9:a9:cd:ab:a7:b4:6a:19",
            )],
            vec!["b-dev"],
        ),
        (
            "fingerprint prefix",
            vec![("KeyPairFingerPrint", "8a:4d:35")],
            vec![],
        ),
        (
            "default group",
            vec![("ResourceGroupId", default_rg.as_str())],
            vec!["a-prod"],
        ),
        (
            // §7.11: the default group's key pairs are listed whatever the group filter.
            "other group",
            vec![("ResourceGroupId", "rg-team")],
            vec!["a-prod", "b-dev", "c-none"],
        ),
        (
            "tag key and value",
            vec![("Tag.1.Key", "env"), ("Tag.1.Value", "dev")],
            vec!["b-dev"],
        ),
        (
            "tag key only",
            vec![("Tag.1.Key", "env")],
            vec!["a-prod", "b-dev"],
        ),
        (
            "tag key with empty value",
            vec![("Tag.1.Key", "env"), ("Tag.1.Value", "")],
            vec!["a-prod", "b-dev"],
        ),
        (
            "two tags",
            vec![
                ("Tag.1.Key", "env"),
                ("Tag.2.Key", "team"),
                ("Tag.2.Value", "x"),
            ],
            vec!["a-prod"],
        ),
        (
            "two tags, one unmatched",
            vec![
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "dev"),
                ("Tag.2.Key", "team"),
            ],
            vec![],
        ),
        (
            "tag and group",
            vec![("Tag.1.Key", "env"), ("ResourceGroupId", "rg-team")],
            vec!["a-prod", "b-dev"],
        ),
        (
            "name and group",
            vec![("KeyPairName", "b*"), ("ResourceGroupId", "rg-team")],
            vec!["b-dev"],
        ),
    ];
    for (what, params, want) in cases {
        // Act
        let body = describe(&server, tenant, &params).await.assert_ok().json();
        // Assert
        assert_eq!(names(&body), want, "{what}");
        assert_eq!(body["TotalCount"], want.len(), "{what}");
    }
    // Tags come back as arrays of {TagKey, TagValue}, in the order they were given.
    let body = describe(&server, tenant, &[("KeyPairName", "a-prod")])
        .await
        .json();
    assert_eq!(
        body["KeyPairs"]["KeyPair"][0]["Tags"],
        serde_json::json!({"Tag": [{"TagKey": "env", "TagValue": "prod"}, {"TagKey": "team", "TagValue": "x"}]})
    );
}

/// §7.11: an unknown ResourceGroupId is a filter, not an error; it lists only the key pairs of
/// the default group, which the current reference says are listed "regardless of how this
/// parameter is set" (the open question's choice: the newest reference over the older SDK text).
#[tokio::test]
async fn filtering_by_an_unknown_resource_group_lists_only_the_default_group() {
    let server = TestServer::start(17).await;
    server
        .app
        .store
        .with_account("t-rg-unknown", |acc| {
            acc.resource_groups.insert("rg-team".into());
        })
        .unwrap();
    import(&server, "t-rg-unknown", "k1", "rsa2048.pub", &[]).await;
    import(
        &server,
        "t-rg-unknown",
        "k2",
        "dsa1024.pub",
        &[("ResourceGroupId", "rg-team")],
    )
    .await;
    let body = describe(&server, "t-rg-unknown", &[("ResourceGroupId", "rg-nope")])
        .await
        .assert_ok()
        .json();
    assert_eq!(body["TotalCount"], 1);
    assert_eq!(names(&body), vec!["k1"]);
}

/// §7.10: out-of-range paging is an InvalidParameter naming the parameter, not clamped.
#[tokio::test]
async fn invalid_paging_and_booleans_are_invalid_parameter_errors_in_json_and_xml() {
    let server = TestServer::start(18).await;
    let cases: &[(&str, &str, &str)] = &[
        ("PageSize", "51", "PageSize"),
        ("PageSize", "0", "PageSize"),
        ("PageSize", "ten", "PageSize"),
        ("PageNumber", "0", "PageNumber"),
        ("PageNumber", "-1", "PageNumber"),
        ("PageNumber", "99999999999", "PageNumber"),
        ("IncludePublicKey", "yes", "IncludePublicKey"),
    ];
    for (param, value, named) in cases {
        let message = format!("The specified parameter \"{named}\" is not valid.");
        let json = describe(&server, "t-bad-paging", &[(*param, *value)]).await;
        json.assert_error(400, "InvalidParameter");
        assert_eq!(json.message(), message, "{param}={value}");
        let xml = server
            .call("t-bad-paging", "DescribeKeyPairs")
            .region(REGION)
            .param(param, value)
            .xml()
            .send()
            .await;
        assert_eq!(xml.status, 400);
        assert_eq!(xml.xml_field("Code").as_deref(), Some("InvalidParameter"));
        assert_eq!(
            xml.xml_field("Message"),
            Some(message.replace('"', "&quot;"))
        );
    }
}

#[tokio::test]
async fn region_and_tag_errors_are_reported_with_the_documented_codes() {
    let server = TestServer::start(19).await;
    let cases: Vec<(Vec<(&str, &str)>, u16, &str, &str)> = vec![
        (vec![], 400, "MissingParameter",
         "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied."),
        (vec![("RegionId", "mars-north-1")], 404, "InvalidRegionId.NotFound",
         "The RegionId provided does not exist in our records."),
        (vec![("RegionId", REGION), ("Tag.1.Key", "acs:x")], 400, "InvalidTagKey.Malformed",
         "The specified Tag.n.Key is not valid."),
        (vec![("RegionId", REGION), ("Tag.21.Key", "k")], 403, "QuotaExceed.Tags",
         "A request carries at most 20 tags, numbered Tag.1 to Tag.20."),
    ];
    for (params, status, code, message) in cases {
        let mut call = server.call("t-desc-errors", "DescribeKeyPairs");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        let resp = call.send().await;
        resp.assert_error(status, code);
        assert_eq!(resp.message(), message);
    }
}

#[tokio::test]
async fn xml_repeats_key_pair_and_tag_elements_and_keeps_empty_wrappers() {
    // Arrange
    let server = fixed_clock_server(20).await;
    import(
        &server,
        "t-desc-xml",
        "one",
        "rsa2048.pub",
        &[("Tag.1.Key", "a"), ("Tag.1.Value", "1"), ("Tag.2.Key", "b")],
    )
    .await;
    import(&server, "t-desc-xml", "two", "ecdsa256.pub", &[]).await;
    // Act
    let full = server
        .call("t-desc-xml", "DescribeKeyPairs")
        .region(REGION)
        .xml()
        .send()
        .await;
    let empty = server
        .call("t-desc-xml", "DescribeKeyPairs")
        .region(REGION)
        .param("KeyPairName", "none")
        .xml()
        .send()
        .await;
    // Assert
    full.assert_ok();
    assert_eq!(full.content_type, "text/xml;charset=utf-8");
    assert!(full.body.contains(
        "<PageNumber>1</PageNumber><PageSize>10</PageSize><TotalCount>2</TotalCount><KeyPairs><KeyPair><CreationTime>2023-09-04T08:33Z</CreationTime><KeyPairName>one</KeyPairName>"
    ), "{}", full.body);
    assert!(full.body.contains(
        "<Tags><Tag><TagKey>a</TagKey><TagValue>1</TagValue></Tag><Tag><TagKey>b</TagKey><TagValue></TagValue></Tag></Tags></KeyPair><KeyPair>"
    ), "{}", full.body);
    assert!(
        full.body
            .contains("<Tags></Tags></KeyPair></KeyPairs></DescribeKeyPairsResponse>"),
        "{}",
        full.body
    );
    assert_eq!(full.body.matches("<KeyPair>").count(), 2);
    empty.assert_ok();
    assert!(
        empty.body.ends_with(
            "<TotalCount>0</TotalCount><KeyPairs></KeyPairs></DescribeKeyPairsResponse>"
        ),
        "{}",
        empty.body
    );
}

#[tokio::test]
async fn a_tag_comes_back_the_same_in_xml_and_json_and_what_xml_cannot_carry_is_refused() {
    // Arrange: a value with CR, LF and a tab, which XML can carry (CR only as a reference).
    let server = fixed_clock_server(22).await;
    import(
        &server,
        "t-desc-ctl",
        "one",
        "rsa2048.pub",
        &[("Tag.1.Key", "k"), ("Tag.1.Value", "a\r\nb\tc\rd")],
    )
    .await;
    // Act
    let json = describe(&server, "t-desc-ctl", &[]).await;
    let xml_body = server
        .call("t-desc-ctl", "DescribeKeyPairs")
        .region(REGION)
        .xml()
        .send()
        .await;
    // The API reference is silent on control characters; a tag the XML answer could not
    // carry at all (inferred) is refused as malformed instead of breaking every listing of
    // the region.
    let refused_key = server
        .call("t-desc-ctl", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "two")
        .param("Tag.1.Key", "a\u{1}b")
        .send()
        .await;
    let refused_value = server
        .call("t-desc-ctl", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "two")
        .param("Tag.1.Key", "k")
        .param("Tag.1.Value", "x\u{ffff}")
        .send()
        .await;
    let refused_nul = server
        .call("t-desc-ctl", "TagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "one")
        .param("Tag.1.Key", "k")
        .param("Tag.1.Value", "\0")
        .send()
        .await;
    // Assert
    assert_eq!(
        json.json()["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"][0]["TagValue"],
        "a\r\nb\tc\rd"
    );
    xml_body.assert_ok();
    assert!(
        xml_body
            .body
            .contains("<TagValue>a&#13;\nb\tc&#13;d</TagValue>"),
        "{}",
        xml_body.body
    );
    refused_key.assert_error(400, "InvalidTagKey.Malformed");
    refused_value.assert_error(400, "InvalidTagValue.Malformed");
    refused_nul.assert_error(400, "InvalidTagValue.Malformed");
    let names: Vec<String> = names(&describe(&server, "t-desc-ctl", &[]).await.json());
    assert_eq!(names, ["one"], "nothing refused was stored");
}

#[tokio::test]
async fn every_wire_style_reads_the_filters() {
    let server = TestServer::start(21).await;
    import(
        &server,
        "t-desc-styles",
        "kp-probe",
        "rsa2048.pub",
        &[("Tag.1.Key", "k1"), ("Tag.1.Value", "v1")],
    )
    .await;
    import(&server, "t-desc-styles", "kp-other", "rsa2048.pub", &[]).await;
    for style in [
        Style::V1Get,
        Style::V1PostQuery,
        Style::V1PostForm,
        Style::V3,
    ] {
        // The parameters of the Python SDK capture v3-py-v2-describe-key-pairs.
        let body = server
            .call("t-desc-styles", "DescribeKeyPairs")
            .region(REGION)
            .param("KeyPairName", "kp-probe")
            .param("PageNumber", "1")
            .param("PageSize", "10")
            .param("Tag.1.Key", "k1")
            .param("Tag.1.Value", "v1")
            .style(style)
            .send()
            .await
            .assert_ok()
            .json();
        assert_eq!(names(&body), ["kp-probe"], "{style:?}");
    }
}

#[tokio::test]
async fn snapshots_of_listings_and_errors_on_a_fixed_clock() {
    // Arrange
    let server = fixed_clock_server(42).await;
    let settings = snapshot_settings();
    import(
        &server,
        "snap",
        "snap-imported",
        "ecdsa256.pub",
        &[("Tag.1.Key", "TestKey"), ("Tag.1.Value", "TestValue")],
    )
    .await;
    server
        .call("snap", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "snap-created")
        .send()
        .await
        .assert_ok();
    // Act + Assert
    let all = describe(&server, "snap", &[("IncludePublicKey", "true")]).await;
    settings.bind(|| insta::assert_json_snapshot!("describe_key_pairs_success_json", all.json()));
    let xml = server
        .call("snap", "DescribeKeyPairs")
        .region(REGION)
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("describe_key_pairs_success_xml", xml.body));
    let empty = describe(
        &server,
        "snap",
        &[
            ("KeyPairName", "none*"),
            ("PageNumber", "3"),
            ("PageSize", "5"),
        ],
    )
    .await;
    settings.bind(|| insta::assert_json_snapshot!("describe_key_pairs_empty_json", empty.json()));
    let errors: [(&str, Vec<(&str, &str)>); 3] = [
        ("describe_key_pairs_error_missing_region", vec![]),
        (
            "describe_key_pairs_error_page_size",
            vec![("RegionId", REGION), ("PageSize", "51")],
        ),
        (
            "describe_key_pairs_error_unknown_region",
            vec![("RegionId", "xx")],
        ),
    ];
    for (name, params) in errors {
        let mut call = server.call("snap", "DescribeKeyPairs");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}

/// Unfiltered JSON pages are kept rendered between requests (by the region's version). Every
/// change an API call can make to a listed key pair must show on the next listing of the same
/// page, identical to a fresh rendering: the same page filtered by `KeyPairName=*` (which is
/// never kept) and the same page in XML.
#[tokio::test]
async fn a_kept_page_follows_every_change_to_the_region() {
    let server = TestServer::start(17).await;
    let t = "t-kept-page";
    let page = [("PageSize", "3"), ("PageNumber", "1")];
    let listing = |extra: &'static [(&'static str, &'static str)]| {
        let server = &server;
        async move {
            let mut params: Vec<(&str, &str)> = page.to_vec();
            params.extend_from_slice(extra);
            let kept = describe(server, t, &params).await;
            kept.assert_ok();
            let mut fresh_params = params.clone();
            fresh_params.push(("KeyPairName", "*"));
            let fresh = describe(server, t, &fresh_params).await;
            fresh.assert_ok();
            let (mut kept, mut fresh) = (kept.json(), fresh.json());
            for body in [&mut kept, &mut fresh] {
                body.as_object_mut().unwrap().remove("RequestId");
            }
            assert_eq!(kept, fresh, "kept page vs a fresh rendering");
            kept
        }
    };
    let call = |action: &str| server.call(t, action).region(REGION);

    import(&server, t, "k1", "rsa2048.pub", &[]).await;
    import(&server, t, "k2", "ecdsa256.pub", &[]).await;
    let first = listing(&[]).await;
    assert_eq!(names(&first), ["k1", "k2"]);
    assert_eq!(first["TotalCount"], 2);
    assert_eq!(listing(&[]).await, first, "the kept page again");
    let with_keys = listing(&[("IncludePublicKey", "true")]).await;
    assert!(with_keys["KeyPairs"]["KeyPair"][0]["PublicKey"]
        .as_str()
        .unwrap()
        .starts_with("ssh-rsa "));
    assert!(first["KeyPairs"]["KeyPair"][0].get("PublicKey").is_none());

    call("TagResources")
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "k1")
        .param("Tag.1.Key", "team")
        .param("Tag.1.Value", "blue")
        .send()
        .await
        .assert_ok();
    let tagged = listing(&[]).await;
    assert_eq!(
        tagged["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"],
        serde_json::json!([{"TagKey": "team", "TagValue": "blue"}])
    );
    let with_keys = listing(&[("IncludePublicKey", "true")]).await;
    assert_eq!(
        with_keys["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"][0]["TagValue"],
        "blue"
    );

    call("UntagResources")
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "k1")
        .param("TagKey.1", "team")
        .send()
        .await
        .assert_ok();
    let untagged = listing(&[]).await;
    assert_eq!(
        untagged["KeyPairs"]["KeyPair"][0]["Tags"]["Tag"],
        serde_json::json!([])
    );

    server
        .app
        .store
        .with_account(t, |a| {
            a.resource_groups.insert("rg-elsewhere".into());
        })
        .unwrap();
    call("JoinResourceGroup")
        .param("ResourceGroupId", "rg-elsewhere")
        .param("ResourceType", "keypair")
        .param("ResourceId", "k2")
        .send()
        .await
        .assert_ok();
    let moved = listing(&[]).await;
    assert_eq!(
        moved["KeyPairs"]["KeyPair"][1]["ResourceGroupId"],
        "rg-elsewhere"
    );

    import(&server, t, "k3", "ecdsa384.pub", &[]).await;
    import(&server, t, "k4", "ecdsa521.pub", &[]).await;
    let grown = listing(&[]).await;
    assert_eq!(names(&grown), ["k1", "k2", "k3"]);
    assert_eq!(grown["TotalCount"], 4);

    call("DeleteKeyPairs")
        .param("KeyPairNames", r#"["k1"]"#)
        .send()
        .await
        .assert_ok();
    let shrunk = listing(&[]).await;
    assert_eq!(names(&shrunk), ["k2", "k3", "k4"]);
    assert_eq!(shrunk["TotalCount"], 3);

    // XML is rendered afresh: the same items as the kept JSON page.
    let xml = call("DescribeKeyPairs")
        .param(page[0].0, page[0].1)
        .param(page[1].0, page[1].1)
        .xml()
        .send()
        .await;
    xml.assert_ok();
    assert_eq!(xml.xml_field("TotalCount").as_deref(), Some("3"));
    assert_eq!(xml.xml_field("KeyPairName").as_deref(), Some("k2"));

    server.app.store.reset(Some(t));
    let reset = listing(&[]).await;
    assert_eq!(names(&reset), Vec::<String>::new());
    assert_eq!(reset["TotalCount"], 0);
    import(&server, t, "k1", "rsa2048.pub", &[]).await;
    assert_eq!(
        names(&listing(&[]).await),
        ["k1"],
        "a new account after the reset"
    );
}
