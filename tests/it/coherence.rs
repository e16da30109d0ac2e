//! A realistic session across every key pair action, checking that each call sees the effects
//! of the ones before: create, import, page, filter, tag, move between groups, attach, refuse
//! to delete, detach, delete, and see the deletions.

use std::collections::BTreeSet;

use base64::Engine;
use ecs_mock::config::Config;
use ecs_mock::fixtures::Fixtures;

use crate::support::TestServer;

const T: &str = "coherence";
const REGION: &str = "cn-hangzhou";

/// A structurally valid `ssh-rsa` public key line whose modulus derives from `i`.
fn public_key(i: u32) -> String {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut n = vec![0u8];
    for chunk in 0..8u32 {
        n.extend_from_slice(&ecs_mock::ids::derive(
            "coherence-modulus",
            u64::from(i),
            &[&chunk.to_le_bytes()],
        ));
    }
    n[1] |= 0x80; // a full 2048-bit modulus
    *n.last_mut().unwrap() |= 1; // odd
    let mut blob = Vec::new();
    put(&mut blob, b"ssh-rsa");
    put(&mut blob, &[0x01, 0x00, 0x01]);
    put(&mut blob, &n);
    format!(
        "ssh-rsa {} fixture-{i}",
        base64::engine::general_purpose::STANDARD.encode(blob)
    )
}

async fn names_in(server: &TestServer, params: &[(&str, &str)]) -> Vec<String> {
    let mut call = server
        .call(T, "DescribeKeyPairs")
        .region(REGION)
        .param("PageSize", "50");
    for (k, v) in params {
        call = call.param(k, v);
    }
    let body = call.send().await.json();
    body["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .iter()
        .map(|k| k["KeyPairName"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_realistic_session_sees_every_earlier_effect() {
    // Arrange: an account with one Linux instance and an extra resource group.
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 2026);
    config.fixtures = vec![Fixtures::from_json(&format!(
        r#"{{"accounts": {{"{T}": {{"resource_groups": ["rg-coherence0001"],
            "instances": [{{"instance_id": "i-coherence1", "region_id": "{REGION}", "os_type": "linux"}}]}}}}}}"#
    ))
    .unwrap()];
    let server = TestServer::with_config(config).await;

    // Create 3 and import 60.
    for name in ["alpha-web", "beta-web", "gamma-db"] {
        server
            .call(T, "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", name)
            .send()
            .await
            .assert_ok();
    }
    let mut fingerprints = Vec::new();
    for i in 0..60 {
        let r = server
            .call(T, "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("imp-{i:03}"))
            .param("PublicKeyBody", &public_key(i))
            .send()
            .await;
        r.assert_ok();
        fingerprints.push(r.json()["KeyPairFingerPrint"].as_str().unwrap().to_string());
    }

    // Page through with PageSize 50: 63 in all, two pages, no duplicates, none missing.
    let mut seen = Vec::new();
    for page in 1..=2 {
        let body = server
            .call(T, "DescribeKeyPairs")
            .region(REGION)
            .param("PageSize", "50")
            .param("PageNumber", &page.to_string())
            .send()
            .await
            .json();
        assert_eq!(body["TotalCount"], 63);
        assert_eq!(body["PageNumber"], page);
        let items = body["KeyPairs"]["KeyPair"].as_array().unwrap();
        assert_eq!(items.len(), if page == 1 { 50 } else { 13 });
        seen.extend(
            items
                .iter()
                .map(|k| k["KeyPairName"].as_str().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 63, "no duplicates");
    let mut expected: BTreeSet<String> = ["alpha-web", "beta-web", "gamma-db"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    expected.extend((0..60).map(|i| format!("imp-{i:03}")));
    assert_eq!(
        seen.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "none missing"
    );

    // Filter by wildcard, fingerprint, tag and resource group.
    assert_eq!(
        names_in(&server, &[("KeyPairName", "*web")]).await,
        ["alpha-web", "beta-web"]
    );
    assert_eq!(
        names_in(&server, &[("KeyPairName", "imp-00*")]).await.len(),
        10
    );
    assert_eq!(
        names_in(&server, &[("KeyPairFingerPrint", &fingerprints[7])]).await,
        ["imp-007"]
    );
    server
        .call(T, "TagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId.1", "alpha-web")
        .param("ResourceId.2", "imp-042")
        .param("Tag.1.Key", "env")
        .param("Tag.1.Value", "prod")
        .send()
        .await
        .assert_ok();
    assert_eq!(
        names_in(&server, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]).await,
        ["alpha-web", "imp-042"]
    );
    server
        .call(T, "JoinResourceGroup")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("ResourceId", "beta-web")
        .param("ResourceGroupId", "rg-coherence0001")
        .send()
        .await
        .assert_ok();
    // The default group's key pairs are listed whatever the group filter (§7.11), so the
    // move shows as beta-web leaving the default group's listing.
    let default_rg = server.app.store.default_resource_group(T).unwrap();
    let web_in = |group: String| {
        let server = &server;
        async move {
            names_in(
                server,
                &[("KeyPairName", "*-web"), ("ResourceGroupId", &group)],
            )
            .await
        }
    };
    assert_eq!(web_in(default_rg).await, ["alpha-web"]);
    assert_eq!(
        web_in("rg-coherence0001".into()).await,
        ["alpha-web", "beta-web"]
    );

    // Attach one to the instance: it cannot be deleted while attached.
    let attach = server
        .call(T, "AttachKeyPair")
        .region(REGION)
        .param("KeyPairName", "alpha-web")
        .param("InstanceIds", r#"["i-coherence1"]"#)
        .send()
        .await
        .json();
    assert_eq!(attach["FailCount"], "0", "{attach}");
    server
        .call(T, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["alpha-web","gamma-db"]"#)
        .send()
        .await
        .assert_error(400, "InvalidParameter.KeypairAlreadyAttachedInstance");
    assert_eq!(
        names_in(&server, &[("KeyPairName", "gamma-db")]).await,
        ["gamma-db"],
        "refusal deletes nothing"
    );

    // Detach, delete several, and see them gone.
    server
        .call(T, "DetachKeyPair")
        .region(REGION)
        .param("KeyPairName", "alpha-web")
        .param("InstanceIds", r#"["i-coherence1"]"#)
        .send()
        .await
        .assert_ok();
    server
        .call(T, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["alpha-web","gamma-db","imp-042"]"#)
        .send()
        .await
        .assert_ok();
    let body = server
        .call(T, "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .json();
    assert_eq!(body["TotalCount"], 60);
    for gone in ["alpha-web", "gamma-db", "imp-042"] {
        assert!(
            names_in(&server, &[("KeyPairName", gone)]).await.is_empty(),
            "{gone}"
        );
    }
    // Their tags went with them.
    let tags = server
        .call(T, "ListTagResources")
        .region(REGION)
        .param("ResourceType", "keypair")
        .param("Tag.1.Key", "env")
        .send()
        .await
        .json();
    assert_eq!(
        tags["TagResources"]["TagResource"]
            .as_array()
            .unwrap()
            .len(),
        0,
        "{tags}"
    );
    // And the name is free again, with a new key (generation 1).
    server
        .call(T, "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "alpha-web")
        .send()
        .await
        .assert_ok();
}
