//! DescribeRegions over HTTP: every region once in `regions::REGIONS` order, names per
//! language, the optional filters, and each documented error in JSON and XML.

use ecs_mock::regions::REGIONS;

use crate::support::{snapshot_settings, Style, TestServer};

#[tokio::test]
async fn every_region_is_listed_once_in_order_with_chinese_names_by_default() {
    // Arrange
    let server = TestServer::start(42).await;
    // Act: no RegionId at all, as the V3 SDKs send it.
    let resp = server
        .call("t-regions-zh", "DescribeRegions")
        .style(Style::V3)
        .send()
        .await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["RequestId", "Regions"]);
    let items = body["Regions"]["Region"].as_array().unwrap();
    let ids: Vec<&str> = items
        .iter()
        .map(|r| r["RegionId"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = REGIONS.iter().map(|r| r.id).collect();
    assert_eq!(ids, expected);
    for (item, region) in items.iter().zip(REGIONS) {
        assert_eq!(
            item,
            &serde_json::json!({
                "RegionId": region.id,
                "LocalName": region.name_zh,
                "RegionEndpoint": region.endpoint,
                "Status": "available",
            })
        );
    }
    snapshot_settings().bind(|| insta::assert_json_snapshot!("describe_regions_zh_cn_json", body));
}

#[tokio::test]
async fn local_names_follow_accept_language() {
    // Arrange
    let server = TestServer::start(42).await;
    let languages: [(&str, fn(&ecs_mock::regions::Region) -> &'static str); 3] = [
        ("zh-CN", |r| r.name_zh),
        ("en-US", |r| r.name_en),
        ("ja", |r| r.name_ja),
    ];
    for (lang, name) in languages {
        // Act
        let body = server
            .call("t-regions-lang", "DescribeRegions")
            .region("cn-hangzhou")
            .param("AcceptLanguage", lang)
            .send()
            .await
            .json();
        // Assert
        let names: Vec<&str> = body["Regions"]["Region"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["LocalName"].as_str().unwrap())
            .collect();
        let expected: Vec<&str> = REGIONS.iter().map(name).collect();
        assert_eq!(names, expected, "{lang}");
        if lang == "en-US" {
            let hangzhou = REGIONS.iter().position(|r| r.id == "cn-hangzhou").unwrap();
            assert_eq!(names[hangzhou], "China (Hangzhou)");
            snapshot_settings()
                .bind(|| insta::assert_json_snapshot!("describe_regions_en_us_json", body));
        }
    }
}

#[tokio::test]
async fn xml_repeats_the_region_element_per_region() {
    // Arrange
    let server = TestServer::start(42).await;
    // Act
    let resp = server
        .call("t-regions-xml", "DescribeRegions")
        .param("AcceptLanguage", "ja")
        .xml()
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert!(
        resp.body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><DescribeRegionsResponse><RequestId>"
        ),
        "{}",
        resp.body
    );
    assert_eq!(resp.body.matches("<Region>").count(), REGIONS.len());
    assert_eq!(
        resp.xml_field("LocalName").as_deref(),
        Some(REGIONS[0].name_ja)
    );
    snapshot_settings().bind(|| insta::assert_snapshot!("describe_regions_ja_xml", resp.body));
}

#[tokio::test]
async fn region_id_is_ignored_and_every_documented_filter_value_lists_all_regions() {
    // Arrange
    let server = TestServer::start(42).await;
    let filters = [
        ("RegionId", "mars-1"),
        ("InstanceChargeType", "PrePaid"),
        ("InstanceChargeType", "PostPaid"),
        ("InstanceChargeType", "SpotWithPriceLimit"),
        ("InstanceChargeType", "SpotAsPriceGo"),
        ("ResourceType", "instance"),
        ("ResourceType", "disk"),
        ("ResourceType", "reservedinstance"),
        ("ResourceType", "scu"),
    ];
    for (k, v) in filters {
        // Act
        let resp = server
            .call("t-regions-filters", "DescribeRegions")
            .param(k, v)
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(
            resp.json()["Regions"]["Region"].as_array().unwrap().len(),
            REGIONS.len(),
            "{k}={v}"
        );
    }
}

#[tokio::test]
async fn each_documented_error_in_json_and_xml() {
    // Arrange
    let server = TestServer::start(42).await;
    let cases = [
        (
            "describe_regions_error_language",
            ("AcceptLanguage", "en-us"),
            404,
            "InvalidAcceptLanguage.NotFound",
            "Only Chinese (zh-CN), English (en-US), and Japanese (ja) are allowed.",
        ),
        (
            "describe_regions_error_charge_type",
            ("InstanceChargeType", "Spot"),
            400,
            "InvalidParameter",
            "The specified parameter \"InstanceChargeType\" is not valid.",
        ),
        (
            "describe_regions_error_resource_type",
            ("ResourceType", "keypair"),
            404,
            "InvalidResourceType.NotFound",
            "The ResourceType provided does not exist in our records.",
        ),
    ];
    for (name, (k, v), status, code, message) in cases {
        let call = server
            .call("t-regions-errors", "DescribeRegions")
            .param(k, v);
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
        let settings = snapshot_settings();
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}

#[tokio::test]
async fn the_newer_sdk_languages_are_answered_in_english_and_other_values_are_refused() {
    // Reference §1.11: the current SDK models list zh-TW, fr, de and ko beside the three the
    // older error text names; the newest source is taken to be what the service accepts
    // (the SDK-user audit tripped on the 404). The reference names regions in none of them.
    // Arrange
    let server = TestServer::start(42).await;
    let english = server
        .call("t-regions-more-lang", "DescribeRegions")
        .param("AcceptLanguage", "en-US")
        .send()
        .await
        .json()["Regions"]
        .clone();
    for lang in ["zh-TW", "fr", "de", "ko"] {
        // Act
        let resp = server
            .call("t-regions-more-lang", "DescribeRegions")
            .param("AcceptLanguage", lang)
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(resp.json()["Regions"], english, "{lang}");
    }
    for lang in ["en", "EN-US", "zh-tw", "es"] {
        server
            .call("t-regions-more-lang", "DescribeRegions")
            .param("AcceptLanguage", lang)
            .send()
            .await
            .assert_error(404, "InvalidAcceptLanguage.NotFound");
    }
}
