//! `--fingerprint sha1` over HTTP: every key pair's KeyPairFingerPrint is the SHA-1 of its SSH
//! public key blob (20 octets, the length of the reference's example values, §7.1), whether
//! created in either key mode, served from the key cache or imported, and DescribeKeyPairs
//! filters by it. The digest changes nothing else: the same seed and requests give the same
//! keys and ids as under the default MD5.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use sha1::{Digest as _, Sha1};

use ecs_mock::config::Config;
use ecs_mock::keygen::{Fingerprint, KeyMode};
use ecs_mock::keypool::KeySettings;

use crate::support::TestServer;

const REGION: &str = "cn-hangzhou";
const TENANT: &str = "t-digest";
const NAMES: [&str; 3] = ["digest-a", "digest-b", "digest-c"];

async fn server(fingerprint: Fingerprint, keys: KeySettings) -> TestServer {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 2024);
    config.fingerprint = fingerprint;
    config.keys = keys;
    TestServer::with_config(config).await
}

fn colon_hex(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SHA-1 colon-hex of an `ssh-rsa BASE64` line's blob, computed here from the line.
fn sha1_of_line(openssh: &str) -> String {
    let b64 = openssh
        .split(' ')
        .nth(1)
        .expect("a type and a base64 field");
    colon_hex(&Sha1::digest(STANDARD.decode(b64).unwrap()))
}

async fn create(server: &TestServer, name: &str) -> Value {
    let resp = server
        .call(TENANT, "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", name)
        .send()
        .await;
    resp.assert_ok();
    resp.json()
}

/// DescribeKeyPairs of TENANT with public keys, and `filter` as its KeyPairFingerPrint.
async fn describe(server: &TestServer, filter: Option<&str>) -> Vec<Value> {
    let mut call = server
        .call(TENANT, "DescribeKeyPairs")
        .region(REGION)
        .param("IncludePublicKey", "true");
    if let Some(fp) = filter {
        call = call.param("KeyPairFingerPrint", fp);
    }
    let resp = call.send().await;
    resp.assert_ok();
    resp.json()["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn created_keys_carry_the_sha1_of_their_blob_in_every_key_mode_and_nothing_else_changes() {
    let cache = std::env::temp_dir().join(format!("ecs-mock-it-sha1-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let modes = [
        ("fresh", KeyMode::Fresh, None),
        ("fresh, cold cache", KeyMode::Fresh, Some(cache.clone())),
        ("fresh, warm cache", KeyMode::Fresh, Some(cache.clone())),
        ("fast", KeyMode::Fast, None),
    ];
    for (what, mode, cache_dir) in modes {
        // Arrange
        let keys = KeySettings { mode, cache_dir };
        let md5 = server(Fingerprint::Md5, keys.clone()).await;
        let sha1 = server(Fingerprint::Sha1, keys).await;
        for name in NAMES {
            // Act
            let (by_md5, by_sha1) = (create(&md5, name).await, create(&sha1, name).await);
            // Assert: the same key and id; only the fingerprint's digest differs.
            for field in ["PrivateKeyBody", "KeyPairId", "KeyPairName"] {
                assert_eq!(by_md5[field], by_sha1[field], "{what}, {name}: {field}");
            }
            let fp = by_sha1["KeyPairFingerPrint"].as_str().unwrap();
            assert_eq!(fp.len(), 59, "{what}, {name}: 20 octets, got {fp}");
            assert_eq!(by_md5["KeyPairFingerPrint"].as_str().unwrap().len(), 47);
        }
        let listed = describe(&sha1, None).await;
        assert_eq!(listed.len(), NAMES.len(), "{what}");
        for kp in &listed {
            let fp = kp["KeyPairFingerPrint"].as_str().unwrap();
            assert_eq!(
                fp,
                sha1_of_line(kp["PublicKey"].as_str().unwrap()),
                "{what}: {kp}"
            );
            let found = describe(&sha1, Some(fp)).await;
            assert_eq!(found.len(), 1, "{what}: filtered by {fp}");
            assert_eq!(found[0]["KeyPairName"], kp["KeyPairName"], "{what}");
        }
        let md5_fp = describe(&md5, None).await[0]["KeyPairFingerPrint"].clone();
        assert_eq!(
            describe(&sha1, md5_fp.as_str()).await.len(),
            0,
            "{what}: the MD5 fingerprint is not a SHA-1 server's"
        );
    }
    std::fs::remove_dir_all(&cache).unwrap();
}

#[tokio::test]
async fn imported_keys_carry_the_sha1_ssh_keygen_prints() {
    // Arrange: the fixtures' fingerprints as recorded from `ssh-keygen -l -E sha1`.
    let server = server(Fingerprint::Sha1, KeySettings::default()).await;
    let recorded = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pubkeys/fingerprints.txt"
    ))
    .unwrap();
    let rows: Vec<(&str, String)> = recorded
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("ed25519"))
        .map(|l| {
            let columns: Vec<&str> = l.split(' ').collect();
            (
                columns[0],
                colon_hex(&STANDARD_NO_PAD.decode(columns[2]).unwrap()),
            )
        })
        .collect();
    assert!(rows.len() >= 11, "certificates included");
    for (i, (file, expected)) in rows.iter().enumerate() {
        let path = format!(
            "{}/tests/fixtures/pubkeys/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let body = std::fs::read_to_string(path).unwrap();
        // Act
        let resp = server
            .call(TENANT, "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("imported-{i}"))
            .param("PublicKeyBody", body.trim())
            .send()
            .await;
        // Assert
        resp.assert_ok();
        assert_eq!(
            resp.json()["KeyPairFingerPrint"],
            expected.as_str(),
            "{file}"
        );
        // A certificate has its plain key's fingerprint, so the filter finds both.
        let found = describe(&server, Some(expected)).await;
        assert!(
            found
                .iter()
                .any(|kp| kp["KeyPairName"] == format!("imported-{i}").as_str()),
            "{file}: {found:?}"
        );
        assert!(found
            .iter()
            .all(|kp| kp["KeyPairFingerPrint"] == expected.as_str()));
    }
}

#[tokio::test]
async fn fixture_key_pairs_carry_the_sha1_at_start_and_after_a_reset() {
    // Arrange: the sample fixtures, whose one key pair is rsa2048.pub (`ssh-keygen -l -E sha1`
    // prints SHA1:fQmxvjo5FgeYo3EseKTifLnOFWI for it).
    let expected = colon_hex(
        &STANDARD_NO_PAD
            .decode("fQmxvjo5FgeYo3EseKTifLnOFWI")
            .unwrap(),
    );
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 2024);
    config.fingerprint = Fingerprint::Sha1;
    config.fixtures = vec![ecs_mock::fixtures::Fixtures::from_json(
        &std::fs::read_to_string(crate::fixtures::SAMPLE).unwrap(),
    )
    .unwrap()];
    let server = TestServer::with_config(config).await;
    let stored = |server: &TestServer| {
        server
            .app
            .store
            .key_pairs("ak-sample", "cn-beijing")
            .iter()
            .map(|kp| kp.fingerprint.clone())
            .collect::<Vec<_>>()
    };
    // Act / Assert
    assert_eq!(stored(&server), std::slice::from_ref(&expected));
    let (status, _) = crate::scenarios::control(&server, "POST", "/__mock/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(stored(&server), [expected], "re-applied by the reset");
}
