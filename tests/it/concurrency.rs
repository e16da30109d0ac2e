//! Concurrency guarantees over HTTP with many connections: name uniqueness, the quota, atomic
//! deletes and tenant isolation hold exactly under racing requests. The server runs as the
//! binary does, its connections spread over worker threads with a runtime each.

use std::collections::BTreeSet;

use tokio::task::JoinSet;

use ecs_mock::Config;

use crate::support::{Resp, TestServer};

const REGION: &str = "cn-shenzhen";

/// A fixture key: imports of one body under different names are allowed, so these tests do
/// not need distinct keys.
fn public_key() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pubkeys/rsa2048.pub"
    ))
    .unwrap();
    text.trim().to_string()
}

/// A server on three worker threads (more than one, and not dividing the 64 connections
/// evenly).
async fn threaded_server(seed: u64) -> TestServer {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), seed);
    config.workers = Some(3);
    TestServer::with_config(config).await
}

async fn all(mut set: JoinSet<Resp>) -> Vec<Resp> {
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.expect("request task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_racing_creates_and_imports_of_one_name_yield_exactly_one_success() {
    // Arrange
    let server = threaded_server(64).await;
    let mut set = JoinSet::new();
    // Act: half create, half import the same name at once.
    for i in 0..64 {
        let call = if i % 2 == 0 {
            server
                .call("t-race64", "CreateKeyPair")
                .region(REGION)
                .param("KeyPairName", "the-one")
        } else {
            server
                .call("t-race64", "ImportKeyPair")
                .region(REGION)
                .param("KeyPairName", "the-one")
                .param("PublicKeyBody", &public_key())
        };
        set.spawn(async move { call.send().await });
    }
    let results = all(set).await;
    // Assert
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1);
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(400, "KeyPair.AlreadyExist");
    }
    let listed = server
        .call("t-race64", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .json();
    assert_eq!(listed["TotalCount"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn six_hundred_concurrent_imports_into_one_region_yield_exactly_five_hundred() {
    let server = threaded_server(600).await;
    let mut set = JoinSet::new();
    for i in 0..600 {
        let call = server
            .call("t-quota600", "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("k{i:03}"))
            .param("PublicKeyBody", &public_key());
        set.spawn(async move { call.send().await });
    }
    let results = all(set).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 500);
    for r in results.iter().filter(|r| r.status != 200) {
        r.assert_error(403, "QuotaExceed.KeyPair");
    }
    let listed = server
        .call("t-quota600", "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .json();
    assert_eq!(listed["TotalCount"], 500);
}

/// Deletes race with listings; every listing is a consistent snapshot: its TotalCount matches
/// the items over all pages, and every listed key still carries its tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_deletes_and_describes_never_show_a_half_deleted_key() {
    let server = threaded_server(7).await;
    let t = "t-delrace";
    for i in 0..40 {
        server
            .call(t, "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("d{i:02}"))
            .param("PublicKeyBody", &public_key())
            .param("Tag.1.Key", "batch")
            .param("Tag.1.Value", &format!("v{i}"))
            .send()
            .await
            .assert_ok();
    }
    let mut set = JoinSet::new();
    for batch in 0..8 {
        let names: Vec<String> = (batch * 5..batch * 5 + 5)
            .map(|i| format!("\"d{i:02}\""))
            .collect();
        let call = server
            .call(t, "DeleteKeyPairs")
            .region(REGION)
            .param("KeyPairNames", &format!("[{}]", names.join(",")));
        set.spawn(async move { call.send().await });
    }
    for _ in 0..24 {
        let call = server
            .call(t, "DescribeKeyPairs")
            .region(REGION)
            .param("PageSize", "50");
        set.spawn(async move { call.send().await });
    }
    for r in all(set).await {
        r.assert_ok();
        let body = r.json();
        if let Some(items) = body["KeyPairs"]["KeyPair"].as_array() {
            assert_eq!(
                body["TotalCount"].as_u64().unwrap() as usize,
                items.len(),
                "{body}"
            );
            for item in items {
                let tags = item["Tags"]["Tag"].as_array().unwrap();
                assert_eq!(tags.len(), 1, "a listed key keeps its tag: {item}");
            }
        }
    }
    let listed = server
        .call(t, "DescribeKeyPairs")
        .region(REGION)
        .send()
        .await
        .json();
    assert_eq!(listed["TotalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tenants_never_see_each_other_under_concurrent_load() {
    let server = threaded_server(8).await;
    let tenants: Vec<String> = (0..6).map(|i| format!("t-iso-{i}")).collect();
    let mut set = JoinSet::new();
    for (ti, tenant) in tenants.iter().enumerate() {
        for k in 0..20 {
            // The same names in every tenant; tags say whose key it is.
            let call = server
                .call(tenant, "ImportKeyPair")
                .region(REGION)
                .param("KeyPairName", &format!("shared-{k:02}"))
                .param("PublicKeyBody", &public_key())
                .param("Tag.1.Key", "owner")
                .param("Tag.1.Value", &format!("{ti}"));
            set.spawn(async move { call.send().await });
        }
    }
    for r in all(set).await {
        r.assert_ok();
    }
    for (ti, tenant) in tenants.iter().enumerate() {
        let body = server
            .call(tenant, "DescribeKeyPairs")
            .region(REGION)
            .param("PageSize", "50")
            .send()
            .await
            .json();
        assert_eq!(body["TotalCount"], 20, "{tenant}");
        let owners: BTreeSet<String> = body["KeyPairs"]["KeyPair"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| {
                k["Tags"]["Tag"][0]["TagValue"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            owners,
            BTreeSet::from([ti.to_string()]),
            "{tenant} sees only its own keys"
        );
    }
}

/// Listings racing imports on three threads: a page rendered from an older version of the
/// region and kept after an import must never be served. Every listing shows a count and
/// items that agree with each other, and once every import has answered, the next listing
/// shows them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_racing_imports_never_serve_a_page_older_than_the_region() {
    let server = threaded_server(65).await;
    let tenant = "t-race-pages";
    let listing = |server: &TestServer| {
        server
            .call(tenant, "DescribeKeyPairs")
            .region(REGION)
            .param("PageSize", "50")
    };
    let mut imports = JoinSet::new();
    for i in 0..40 {
        let call = server
            .call(tenant, "ImportKeyPair")
            .region(REGION)
            .param("KeyPairName", &format!("k{i:02}"))
            .param("PublicKeyBody", &public_key());
        imports.spawn(async move { call.send().await });
    }
    let mut listings = JoinSet::new();
    for _ in 0..40 {
        let call = listing(&server);
        listings.spawn(async move { call.send().await });
    }
    for r in all(imports).await {
        r.assert_ok();
    }
    for r in all(listings).await {
        r.assert_ok();
        let body = r.json();
        let items = body["KeyPairs"]["KeyPair"].as_array().unwrap().len();
        assert_eq!(body["TotalCount"], items, "a page of 50 holds all: {body}");
    }
    let body = listing(&server).send().await.json();
    assert_eq!(body["TotalCount"], 40);
    let names: BTreeSet<String> = body["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["KeyPairName"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 40);
}
