//! CreateKeyPair over HTTP: success in JSON and XML, every documented error arising
//! naturally, determinism, the quota and racing creates.

use std::collections::HashSet;
use std::process::Command;

use crate::support::{assert_error_in_json_and_xml, snapshot_settings, Style, TestServer};

const REGION: &str = "cn-hangzhou";

fn is_fingerprint(s: &str) -> bool {
    s.len() == 47
        && s.split(':').count() == 16
        && s.split(':').all(|o| {
            o.len() == 2
                && o.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        })
}

#[tokio::test]
async fn create_returns_exactly_the_five_documented_fields_in_json() {
    // Arrange
    let server = TestServer::start(42).await;
    // Act
    let resp = server
        .call("t-json", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "my-key")
        .send()
        .await;
    // Assert
    resp.assert_ok();
    assert_eq!(resp.content_type, "application/json;charset=utf-8");
    let body = resp.json();
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "RequestId",
            "KeyPairId",
            "KeyPairName",
            "KeyPairFingerPrint",
            "PrivateKeyBody"
        ]
    );
    assert_eq!(body["KeyPairName"], "my-key");
    let id = body["KeyPairId"].as_str().unwrap();
    assert!(
        id.starts_with("ssh-")
            && id[4..]
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
        "{id}"
    );
    assert!(is_fingerprint(body["KeyPairFingerPrint"].as_str().unwrap()));
    let pem = body["PrivateKeyBody"].as_str().unwrap();
    assert!(
        pem.starts_with("-----BEGIN PRIVATE KEY-----\n")
            && pem.ends_with("-----END PRIVATE KEY-----\n")
    );
    let rid = body["RequestId"].as_str().unwrap();
    assert_eq!(rid.len(), 36);
    assert!(rid
        .bytes()
        .all(|b| b == b'-' || b.is_ascii_digit() || b.is_ascii_uppercase()));
}

#[tokio::test]
async fn create_in_xml_has_the_action_response_root() {
    let server = TestServer::start(42).await;
    let resp = server
        .call("t-xml", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "xml-key")
        .xml()
        .send()
        .await;
    resp.assert_ok();
    assert_eq!(resp.content_type, "text/xml;charset=utf-8");
    assert!(
        resp.body.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateKeyPairResponse><RequestId>"
        ),
        "{}",
        resp.body
    );
    assert_eq!(resp.xml_field("KeyPairName").as_deref(), Some("xml-key"));
    assert!(is_fingerprint(
        &resp.xml_field("KeyPairFingerPrint").unwrap()
    ));
    assert!(resp
        .xml_field("PrivateKeyBody")
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[tokio::test]
async fn post_with_query_and_post_with_form_body_both_work() {
    let server = TestServer::start(42).await;
    for (i, style) in [Style::V1PostQuery, Style::V1PostForm, Style::V3]
        .into_iter()
        .enumerate()
    {
        let resp = server
            .call("t-styles", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("k{i}"))
            .style(style)
            .send()
            .await;
        resp.assert_ok();
        assert_eq!(resp.json()["KeyPairName"], format!("k{i}"), "{style:?}");
    }
}

/// The acceptance check of the core issue: the key is a valid RSA key for OpenSSL, and
/// OpenSSH derives the same MD5 fingerprint from it as the response carries.
#[tokio::test]
async fn private_key_passes_openssl_and_ssh_keygen_agrees_on_the_fingerprint() {
    let server = TestServer::start(42).await;
    for (i, style) in [Style::V1Get, Style::V3].into_iter().enumerate() {
        let body = server
            .call("t-tools", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("tool-{i}"))
            .style(style)
            .send()
            .await
            .json();
        let dir = std::env::temp_dir().join(format!("ecs-mock-it-{}-{i}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = dir.join("key.pem");
        std::fs::write(&key, body["PrivateKeyBody"].as_str().unwrap()).unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let check = Command::new("openssl")
            .args(["pkey", "-check", "-noout", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let text = Command::new("openssl")
            .args(["pkey", "-text", "-noout", "-in"])
            .arg(&key)
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&text.stdout).contains("2048 bit"));
        let public = Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key)
            .output()
            .unwrap();
        assert!(public.status.success());
        let pubfile = dir.join("key.pub");
        std::fs::write(&pubfile, &public.stdout).unwrap();
        let fp = Command::new("ssh-keygen")
            .args(["-l", "-E", "md5", "-f"])
            .arg(&pubfile)
            .output()
            .unwrap();
        let fp = String::from_utf8_lossy(&fp.stdout).to_string();
        assert!(
            fp.contains(&format!(
                "MD5:{}",
                body["KeyPairFingerPrint"].as_str().unwrap()
            )),
            "{fp} vs {body}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// `--private-key-format pkcs1` (reference §7.2: PKCS#8 in prose, PKCS#1 in the one sample)
/// gives the same key, same fingerprint and same id, as a PKCS#1 PEM that OpenSSL checks.
#[tokio::test]
async fn pkcs1_private_keys_are_the_same_keys_in_the_other_encoding() {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    async fn create(server: &TestServer) -> serde_json::Value {
        server
            .call("t-pkcs1", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "k1")
            .send()
            .await
            .json()
    }
    let mut config = ecs_mock::config::Config::new("127.0.0.1:0".parse().unwrap(), 42);
    config.private_key_format = ecs_mock::keygen::PrivateKeyFormat::Pkcs1;
    let pkcs1_server = TestServer::with_config(config).await;
    let pkcs8_server = TestServer::start(42).await;
    // Act
    let pkcs1 = create(&pkcs1_server).await;
    let pkcs8 = create(&pkcs8_server).await;
    // Assert
    let pem1 = pkcs1["PrivateKeyBody"].as_str().unwrap();
    let pem8 = pkcs8["PrivateKeyBody"].as_str().unwrap();
    assert!(
        pem1.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"),
        "{pem1:.40}"
    );
    assert!(
        pem8.starts_with("-----BEGIN PRIVATE KEY-----\n"),
        "{pem8:.40}"
    );
    assert_eq!(
        rsa::PrivateKey::from_pkcs1_pem(pem1).unwrap(),
        rsa::PrivateKey::from_pkcs8_pem(pem8).unwrap()
    );
    for field in ["KeyPairFingerPrint", "KeyPairId", "RequestId"] {
        assert_eq!(pkcs1[field], pkcs8[field], "{field}");
    }
    let check = Command::new("openssl")
        .args(["rsa", "-check", "-noout"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(pem1.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        check.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}

/// Every CreateKeyPair error of the API reference table (quota aside) from one request, with
/// the documented status, code and message, in JSON and in XML.
#[tokio::test]
async fn every_documented_error_arises_from_one_request_in_json_and_xml() {
    let server = TestServer::start(42).await;
    // Arrange: an existing key for the duplicate case.
    server
        .call("t-errors", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "taken")
        .send()
        .await
        .assert_ok();
    let long = "k".repeat(129);
    let cases: Vec<(&str, Vec<(&str, &str)>, u16, &str, &str)> = vec![
        ("missing region", vec![("KeyPairName", "a1")], 400, "MissingParameter",
         "The input parameter \"RegionId\" that is mandatory for processing this request is not supplied."),
        ("missing name", vec![("RegionId", REGION)], 400, "MissingParameter",
         "The input parameter \"KeyPairName\" that is mandatory for processing this request is not supplied."),
        ("bad name", vec![("RegionId", REGION), ("KeyPairName", "1-starts-with-digit")], 400, "InvalidKeyPairName.Malformed",
         "Specified Key Pair name is not valid."),
        ("duplicate", vec![("RegionId", REGION), ("KeyPairName", "taken")], 400, "KeyPair.AlreadyExist",
         "The key pair already exist."),
        ("duplicate tag", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.1.Key", "k"), ("Tag.2.Key", "k")], 400, "Duplicate.TagKey",
         "The Tag.N.Key contain duplicate key."),
        ("bad tag key", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.1.Key", "aliyun:x")], 400, "InvalidTagKey.Malformed",
         "The specified Tag.n.Key is not valid."),
        ("long tag key", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.1.Key", long.as_str())], 400, "InvalidTagKey.Malformed",
         "The specified Tag.n.Key is not valid."),
        ("bad tag value", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.1.Key", "k"), ("Tag.1.Value", "http://x")], 400, "InvalidTagValue.Malformed",
         "The specified Tag.n.Value is not valid."),
        ("too many tags", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.21.Key", "k")], 403, "QuotaExceed.Tags",
         "A request carries at most 20 tags, numbered Tag.1 to Tag.20."),
        ("tag index 0", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("Tag.0.Key", "k")], 403, "QuotaExceed.Tags",
         "A request carries at most 20 tags, numbered Tag.1 to Tag.20."),
        ("unknown region", vec![("RegionId", "mars-north-1"), ("KeyPairName", "a1")], 404, "InvalidRegionId.NotFound",
         "The RegionId provided does not exist in our records."),
        ("unknown resource group", vec![("RegionId", REGION), ("KeyPairName", "a1"), ("ResourceGroupId", "rg-nope")], 404, "InvalidResourceGroup.NotFound",
         "The ResourceGroup provided does not exist in our records."),
    ];
    for (what, params, status, code, message) in cases {
        let mut call = server.call("t-errors", "CreateKeyPair");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        assert_error_in_json_and_xml(what, call, status, code, message).await;
    }
}

#[tokio::test]
async fn the_default_resource_group_is_accepted_and_a_key_name_may_be_reused_across_regions() {
    let server = TestServer::start(1).await;
    let rg = server.app.store.default_resource_group("t-rg").unwrap();
    server
        .call("t-rg", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "same")
        .param("ResourceGroupId", &rg)
        .send()
        .await
        .assert_ok();
    server
        .call("t-rg", "CreateKeyPair")
        .region("cn-beijing")
        .param("KeyPairName", "same")
        .send()
        .await
        .assert_ok();
    server
        .call("t-rg-other", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "same")
        .send()
        .await
        .assert_ok();
    server
        .call("t-rg", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "same")
        .send()
        .await
        .assert_error(400, "KeyPair.AlreadyExist");
}

/// Key material depends only on (seed, tenant, region, name, generation): two servers creating
/// the same names in opposite orders, with other traffic in between, agree byte for byte.
#[tokio::test]
async fn same_seed_gives_the_same_keys_whatever_the_order_and_another_seed_does_not() {
    let names = ["alpha", "beta", "gamma"];
    let a = TestServer::start(42).await;
    let b = TestServer::start(42).await;
    let c = TestServer::start(43).await;
    let mut first = Vec::new();
    for n in names {
        first.push(
            a.call("det", "CreateKeyPair")
                .region(REGION)
                .param("KeyPairName", n)
                .send()
                .await
                .json(),
        );
    }
    let mut second = Vec::new();
    for n in names.iter().rev() {
        // Unrelated traffic in between must not shift anything.
        b.call("someone-else", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("noise-{n}"))
            .send()
            .await
            .assert_ok();
        second.push(
            b.call("det", "CreateKeyPair")
                .region(REGION)
                .param("KeyPairName", n)
                .send()
                .await
                .json(),
        );
    }
    second.reverse();
    for (x, y) in first.iter().zip(&second) {
        assert_eq!(x["PrivateKeyBody"], y["PrivateKeyBody"]);
        assert_eq!(x["KeyPairFingerPrint"], y["KeyPairFingerPrint"]);
        assert_eq!(x["KeyPairId"], y["KeyPairId"]);
    }
    let other = c
        .call("det", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "alpha")
        .send()
        .await
        .json();
    assert_ne!(other["PrivateKeyBody"], first[0]["PrivateKeyBody"]);
    assert_ne!(other["KeyPairId"], first[0]["KeyPairId"]);
}

#[tokio::test]
async fn same_seed_and_same_requests_give_byte_identical_responses() {
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let s = TestServer::start(7).await;
        let mut run = Vec::new();
        for name in ["one", "two", "one", "1bad"] {
            run.push(
                s.call("replay", "CreateKeyPair")
                    .region(REGION)
                    .param("KeyPairName", name)
                    .send()
                    .await
                    .body,
            );
        }
        bodies.push(run);
    }
    assert_eq!(bodies[0], bodies[1]);
}

/// 500 key pairs per account and region; the 501st is refused with the documented 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_501st_key_pair_in_a_region_exceeds_the_quota() {
    let server = TestServer::start(5).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..500 {
        let call = server
            .call("t-quota", "CreateKeyPair")
            .region("cn-qingdao")
            .param("KeyPairName", &format!("q{i}"));
        tasks.spawn(async move { call.send().await.status });
    }
    let mut ok = 0;
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 200);
        ok += 1;
    }
    assert_eq!(ok, 500);
    server
        .call("t-quota", "CreateKeyPair")
        .region("cn-qingdao")
        .param("KeyPairName", "q500")
        .send()
        .await
        .assert_error(403, "QuotaExceed.KeyPair");
    assert_eq!(
        server
            .call("t-quota", "CreateKeyPair")
            .region("cn-qingdao")
            .param("KeyPairName", "q500")
            .send()
            .await
            .message(),
        "The key pair quota exceeds."
    );
    // Another region and another tenant are unaffected.
    server
        .call("t-quota", "CreateKeyPair")
        .region("cn-beijing")
        .param("KeyPairName", "q500")
        .send()
        .await
        .assert_ok();
    server
        .call("t-quota-2", "CreateKeyPair")
        .region("cn-qingdao")
        .param("KeyPairName", "q500")
        .send()
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_of_many_racing_creates_of_one_name_wins() {
    let server = TestServer::start(9).await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..32 {
        let call = server
            .call("t-race", "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", "contended");
        tasks.spawn(async move { call.send().await });
    }
    let mut wins = 0;
    let mut fingerprints = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        if r.status == 200 {
            wins += 1;
            fingerprints.insert(r.json()["KeyPairFingerPrint"].as_str().unwrap().to_string());
        } else {
            r.assert_error(400, "KeyPair.AlreadyExist");
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(fingerprints.len(), 1);
}

#[tokio::test]
async fn snapshots_of_the_success_body_and_each_error_body() {
    let server = TestServer::start(42).await;
    let settings = snapshot_settings();
    let ok = server
        .call("snap", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "snapshot-key")
        .send()
        .await;
    settings.bind(|| insta::assert_json_snapshot!("create_key_pair_success_json", ok.json()));
    let ok_xml = server
        .call("snap", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "snapshot-key-xml")
        .xml()
        .send()
        .await;
    settings.bind(|| insta::assert_snapshot!("create_key_pair_success_xml", ok_xml.body));
    let errors: [(&str, Vec<(&str, &str)>); 6] = [
        (
            "create_key_pair_error_missing_region",
            vec![("KeyPairName", "a1")],
        ),
        (
            "create_key_pair_error_bad_name",
            vec![("RegionId", REGION), ("KeyPairName", "_x")],
        ),
        (
            "create_key_pair_error_duplicate",
            vec![("RegionId", REGION), ("KeyPairName", "snapshot-key")],
        ),
        (
            "create_key_pair_error_bad_tag",
            vec![
                ("RegionId", REGION),
                ("KeyPairName", "a1"),
                ("Tag.1.Key", "acs:x"),
            ],
        ),
        (
            "create_key_pair_error_unknown_region",
            vec![("RegionId", "xx"), ("KeyPairName", "a1")],
        ),
        (
            "create_key_pair_error_unknown_group",
            vec![
                ("RegionId", REGION),
                ("KeyPairName", "a1"),
                ("ResourceGroupId", "rg-x"),
            ],
        ),
    ];
    for (name, params) in errors {
        let mut call = server.call("snap", "CreateKeyPair");
        for (k, v) in &params {
            call = call.param(k, v);
        }
        let json = call.clone().send().await;
        settings.bind(|| insta::assert_json_snapshot!(format!("{name}_json"), json.json()));
        let xml = call.xml().send().await;
        settings.bind(|| insta::assert_snapshot!(format!("{name}_xml"), xml.body));
    }
}
