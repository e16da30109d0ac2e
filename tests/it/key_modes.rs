//! Key modes and the key cache over HTTP: cache hits answer byte for byte what fresh
//! generation answers, a damaged cache entry is regenerated, and fast mode's keys are valid,
//! reproducible for the same request sequence and unique within a region.
//!
//! Every server here either has no cache or a cache in its own temporary directory, so no
//! test reads or fills the developer's `~/.cache/ecs-mock`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use ecs_mock::config::Config;
use ecs_mock::keycache::KeyCache;
use ecs_mock::keygen::{self, KeyMode};
use ecs_mock::keypool::{KeySettings, KeyStats};

use crate::support::TestServer;

const REGION: &str = "cn-hangzhou";
/// Fast-mode tests share one seed so the process builds one prime pool for all of them.
const FAST_SEED: u64 = 2024;

/// A fresh directory under the system temp dir, deleted on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static SERIAL: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ecs-mock-it-{tag}-{}-{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn server(seed: u64, mode: KeyMode, cache_dir: Option<PathBuf>) -> TestServer {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), seed);
    config.keys = KeySettings { mode, cache_dir };
    TestServer::with_config(config).await
}

/// CreateKeyPair response bodies for `names`, in order, as one tenant.
async fn create_all(server: &TestServer, tenant: &str, names: &[&str]) -> Vec<String> {
    let mut bodies = Vec::new();
    for name in names {
        let resp = server
            .call(tenant, "CreateKeyPair")
            .region(REGION)
            .param("KeyPairName", name)
            .send()
            .await;
        resp.assert_ok();
        bodies.push(resp.body);
    }
    bodies
}

fn stats(server: &TestServer) -> KeyStats {
    server.app.keys.stats()
}

fn openssl_check(pem: &str, tag: &str) {
    let path = std::env::temp_dir().join(format!("ecs-mock-it-{tag}-{}.pem", std::process::id()));
    std::fs::write(&path, pem).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-check", "-noout", "-in"])
        .arg(&path)
        .output()
        .expect("openssl runs");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "openssl pkey -check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NAMES: [&str; 3] = ["cache-a", "cache-b", "cache-c"];

#[tokio::test]
async fn cache_hits_return_byte_identical_create_key_pair_responses_to_fresh_generation() {
    // Arrange
    let tmp = TempDir::new("cache-hits");
    let uncached = server(11, KeyMode::Fresh, None).await;
    let cold = server(11, KeyMode::Fresh, Some(tmp.0.clone())).await;
    let warm = server(11, KeyMode::Fresh, Some(tmp.0.clone())).await;
    // Act
    let fresh = create_all(&uncached, "t-cache", &NAMES).await;
    let filled = create_all(&cold, "t-cache", &NAMES).await;
    let hits = create_all(&warm, "t-cache", &NAMES).await;
    // Assert
    assert_eq!(filled, fresh);
    assert_eq!(hits, fresh);
    assert_eq!(
        stats(&cold),
        KeyStats {
            cache_hits: 0,
            generated: 3,
            fast: 0
        }
    );
    assert_eq!(
        stats(&warm),
        KeyStats {
            cache_hits: 3,
            generated: 0,
            fast: 0
        },
        "the warm run generated nothing"
    );
    assert_eq!(std::fs::read_dir(&tmp.0).unwrap().count(), NAMES.len());
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_and_regenerated() {
    // Arrange: a filled cache whose entry for the second name is then truncated.
    let tmp = TempDir::new("cache-corrupt");
    let fresh = create_all(&server(12, KeyMode::Fresh, None).await, "t-corrupt", &NAMES).await;
    create_all(
        &server(12, KeyMode::Fresh, Some(tmp.0.clone())).await,
        "t-corrupt",
        &NAMES,
    )
    .await;
    let entry = KeyCache::new(tmp.0.clone()).entry_path(&keygen::cache_id(
        12,
        "t-corrupt",
        REGION,
        NAMES[1],
        0,
    ));
    let pem = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(&entry, &pem[..pem.len() - 100]).unwrap();
    // Act
    let again = server(12, KeyMode::Fresh, Some(tmp.0.clone())).await;
    let bodies = create_all(&again, "t-corrupt", &NAMES).await;
    // Assert
    assert_eq!(bodies, fresh);
    assert_eq!(
        stats(&again),
        KeyStats {
            cache_hits: 2,
            generated: 1,
            fast: 0
        }
    );
    assert_eq!(
        std::fs::read_to_string(&entry).unwrap(),
        pem,
        "the entry was rewritten"
    );
}

/// The determinism tests of CreateKeyPair, in fresh mode with a cold and a warm cache: same
/// seed and names give the same keys whatever the order and the traffic in between.
#[tokio::test]
async fn with_a_cache_the_same_names_give_the_same_keys_whatever_the_order() {
    let tmp = TempDir::new("cache-order");
    let forward = create_all(&server(13, KeyMode::Fresh, None).await, "t-order", &NAMES).await;
    for _ in 0..2 {
        let s = server(13, KeyMode::Fresh, Some(tmp.0.clone())).await;
        let mut reversed = Vec::new();
        for name in NAMES.iter().rev() {
            create_all(&s, "t-noise", &[&format!("noise-{name}")]).await;
            reversed.push(create_all(&s, "t-order", &[name]).await.remove(0));
        }
        reversed.reverse();
        for (x, y) in forward.iter().zip(&reversed) {
            let (x, y): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(x).unwrap(),
                serde_json::from_str(y).unwrap(),
            );
            for field in ["PrivateKeyBody", "KeyPairFingerPrint", "KeyPairId"] {
                assert_eq!(x[field], y[field], "{field}");
            }
        }
    }
}

#[tokio::test]
async fn fast_mode_gives_byte_identical_responses_for_the_same_seed_and_requests() {
    // Arrange
    let names: Vec<String> = (0..40).map(|i| format!("fast-{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut runs = Vec::new();
    // Act
    for _ in 0..2 {
        let s = server(FAST_SEED, KeyMode::Fast, None).await;
        let mut bodies = create_all(&s, "t-fast-replay", &names).await;
        // Recreating a deleted name is a new generation with a new key.
        s.call("t-fast-replay", "DeleteKeyPairs")
            .region(REGION)
            .param("KeyPairNames", r#"["fast-0"]"#)
            .send()
            .await
            .assert_ok();
        bodies.extend(create_all(&s, "t-fast-replay", &["fast-0"]).await);
        assert_eq!(stats(&s).fast, 41);
        assert_eq!(stats(&s).generated, 0);
        runs.push(bodies);
    }
    // Assert
    assert_eq!(runs[0], runs[1]);
    let fingerprints: HashSet<String> = runs[0]
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["KeyPairFingerPrint"].to_string()
        })
        .collect();
    assert_eq!(
        fingerprints.len(),
        41,
        "every key differs, the recreated one too"
    );
}

#[tokio::test]
async fn fast_mode_keys_pass_openssl_and_carry_their_own_fingerprint() {
    // Arrange
    let s = server(FAST_SEED, KeyMode::Fast, None).await;
    // Act
    let body = create_all(&s, "t-fast-valid", &["valid"]).await.remove(0);
    // Assert
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pem = body["PrivateKeyBody"].as_str().unwrap();
    openssl_check(pem, "fast-valid");
    let (_, material) = keygen::parse_pem(pem).expect("a canonical RSA-2048 PKCS#8 key");
    assert_eq!(body["KeyPairFingerPrint"], material.fingerprint.as_str());
}

/// A fingerprint already present in the region (here an imported copy of the very key the
/// create would otherwise get) makes fast mode take the next free pair.
#[tokio::test]
async fn a_fast_key_never_repeats_a_fingerprint_already_in_the_region() {
    // Arrange: learn the key "next" gets on an empty region.
    let probe = server(FAST_SEED, KeyMode::Fast, None).await;
    let expected: serde_json::Value =
        serde_json::from_str(&create_all(&probe, "t-fast-dup", &["next"]).await[0]).unwrap();
    let (_, material) = keygen::parse_pem(expected["PrivateKeyBody"].as_str().unwrap()).unwrap();
    let s = server(FAST_SEED, KeyMode::Fast, None).await;
    s.call("t-fast-dup", "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "imported")
        .param("PublicKeyBody", &material.public_key_openssh)
        .send()
        .await
        .assert_ok();
    // Act
    let got: serde_json::Value =
        serde_json::from_str(&create_all(&s, "t-fast-dup", &["next"]).await[0]).unwrap();
    // Assert
    assert_ne!(got["KeyPairFingerPrint"], expected["KeyPairFingerPrint"]);
    assert_eq!(
        got["KeyPairId"], expected["KeyPairId"],
        "only the key changes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_fast_creates_in_one_region_all_get_distinct_fingerprints() {
    // Arrange
    let s = std::sync::Arc::new(server(FAST_SEED, KeyMode::Fast, None).await);
    let mut tasks = tokio::task::JoinSet::new();
    // Act
    for i in 0..200 {
        let s = std::sync::Arc::clone(&s);
        tasks.spawn(async move {
            let resp = s
                .call("t-fast-race", "CreateKeyPair")
                .region(REGION)
                .param("KeyPairName", &format!("race-{i}"))
                .send()
                .await;
            resp.assert_ok();
            resp.json()["KeyPairFingerPrint"]
                .as_str()
                .unwrap()
                .to_string()
        });
    }
    let mut fingerprints = HashSet::new();
    while let Some(fp) = tasks.join_next().await {
        fingerprints.insert(fp.unwrap());
    }
    // Assert
    assert_eq!(fingerprints.len(), 200);
}

/// A fast key once handed to a name that was deleted (and the name since re-imported with
/// another key) is free again: the next keys depend on the region's key pairs, which a
/// restart restores, not on what the process remembers of earlier creates.
#[tokio::test]
async fn a_deleted_fast_key_is_free_again_for_the_next_create() {
    // Arrange: a name whose first candidate pair is the one "gone" gets.
    let tenant = "t-fast-free";
    let first = |name: &str| {
        let (i, j) = keygen::fast_pair(FAST_SEED, tenant, REGION, name, 0, 0, keygen::POOL_PRIMES);
        (i.min(j), i.max(j))
    };
    let same = (0..)
        .map(|i| format!("n{i}"))
        .find(|n| first(n) == first("gone"))
        .unwrap();
    let s = server(FAST_SEED, KeyMode::Fast, None).await;
    let gone: serde_json::Value =
        serde_json::from_str(&create_all(&s, tenant, &["gone"]).await[0]).unwrap();
    s.call(tenant, "DeleteKeyPairs")
        .region(REGION)
        .param("KeyPairNames", r#"["gone"]"#)
        .send()
        .await
        .assert_ok();
    let other = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pubkeys/rsa2048.pub"
    ))
    .unwrap();
    s.call(tenant, "ImportKeyPair")
        .region(REGION)
        .param("KeyPairName", "gone")
        .param("PublicKeyBody", &other)
        .send()
        .await
        .assert_ok();
    // Act
    let got: serde_json::Value =
        serde_json::from_str(&create_all(&s, tenant, &[&same]).await[0]).unwrap();
    // Assert: no key pair of the region holds that key any more.
    assert_eq!(
        got["KeyPairFingerPrint"], gone["KeyPairFingerPrint"],
        "{same}"
    );
}

#[tokio::test]
async fn a_create_whose_client_leaves_during_generation_still_completes() {
    // Regression (findings-conc #1): the create was dropped with its connection, after
    // refusing a retry of the same name as KeyPair.AlreadyExist for a key pair that then never
    // existed. Like the real service's, a create that reached the server completes.
    // Arrange: fresh keys, no cache, so the key takes a while.
    let mock = server(13, KeyMode::Fresh, None).await;
    let request = mock
        .call("t-gone", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "left")
        .build();
    let raw = format!(
        "GET {} HTTP/1.1\r\nhost: {}\r\n\r\n",
        request.uri(),
        mock.addr
    );
    // Act: send the request and hang up once the create has claimed the name.
    {
        use tokio::io::AsyncWriteExt;
        let mut s = tokio::net::TcpStream::connect(mock.addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        // (name claimed, key pair stored)
        let state = || {
            mock.app
                .store
                .with_account("t-gone", |acc| {
                    acc.region_ref(REGION).map_or((false, false), |r| {
                        (r.is_taken("left"), r.key_pairs().contains_key("left"))
                    })
                })
                .unwrap()
        };
        while !state().0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        assert_eq!(state(), (true, false), "hung up while the key is generated");
    }
    let listed = || async {
        mock.call("t-gone", "DescribeKeyPairs")
            .region(REGION)
            .send()
            .await
            .json()
    };
    let mut body = listed().await;
    for _ in 0..1_200 {
        if body["TotalCount"] == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        body = listed().await;
    }
    // Assert: stored, with the key a create that waited gets from the same inputs.
    assert_eq!(body["TotalCount"], 1, "{body}");
    let waited = server(13, KeyMode::Fresh, None).await;
    let answered = waited
        .call("t-gone", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "left")
        .send()
        .await
        .json();
    assert_eq!(
        body["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"],
        answered["KeyPairFingerPrint"]
    );
    mock.call("t-gone", "CreateKeyPair")
        .region(REGION)
        .param("KeyPairName", "left")
        .send()
        .await
        .assert_error(400, "KeyPair.AlreadyExist");
}
