//! `--state-file`: state survives a restart, determinism continues across it, and a corrupt
//! file is refused.

use ecs_mock::config::Config;

use crate::support::TestServer;

fn config(seed: u64, state: &std::path::Path) -> Config {
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), seed);
    c.state_file = Some(state.to_path_buf());
    c.initial_state = ecs_mock::persist::load(state).expect("state file loads");
    c
}

/// A fresh private directory for `tag`'s state file, and that file's path (not yet there).
fn state_dir(tag: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("ecs-mock-it-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
    (dir, state)
}

/// Imports the ECDSA fixture key as `name` for `tenant` in cn-hangzhou.
async fn import_fixture(server: &TestServer, tenant: &str, name: &str) {
    server
        .call(tenant, "ImportKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", name)
        .param(
            "PublicKeyBody",
            include_str!("../fixtures/pubkeys/ecdsa256.pub"),
        )
        .send()
        .await
        .assert_ok();
}

#[tokio::test]
async fn keys_survive_a_restart_and_the_next_key_is_the_one_it_would_have_been() {
    // Arrange: a state file in a private temp dir.
    let (dir, state) = state_dir("state");
    let first = TestServer::with_config(config(11, &state)).await;
    let a = first
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "a1")
        .send()
        .await
        .json();
    first
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "b1")
        .param("Tag.1.Key", "env")
        .send()
        .await
        .assert_ok();
    // Act: stop (saves) and start a new server from the file.
    first.stop().await;
    assert!(state.exists());
    let second = TestServer::with_config(config(11, &state)).await;
    // Assert: the keys are listed with identical fingerprints and tags, and the document
    // they were restored from is not kept beside them for the server's lifetime.
    assert!(second.app.config.initial_state.is_none());
    let listed = second
        .call("t-persist", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .send()
        .await
        .json();
    assert_eq!(listed["TotalCount"], 2, "{listed}");
    assert_eq!(listed["KeyPairs"]["KeyPair"][0]["KeyPairName"], "a1");
    assert_eq!(
        listed["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"],
        a["KeyPairFingerPrint"]
    );
    assert_eq!(
        listed["KeyPairs"]["KeyPair"][1]["Tags"]["Tag"][0]["TagKey"],
        "env"
    );
    second
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "a1")
        .send()
        .await
        .assert_error(400, "KeyPair.AlreadyExist");
    let next = second
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "c1")
        .send()
        .await
        .body;
    // The same request sequence on a server that never restarted gives the same bytes,
    // RequestId included (the per-tenant counters were saved too).
    let straight = TestServer::start(11).await;
    for n in ["a1", "b1"] {
        straight
            .call("t-persist", "CreateKeyPair")
            .region("cn-hangzhou")
            .param("KeyPairName", n)
            .send()
            .await
            .assert_ok();
    }
    straight
        .call("t-persist", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .send()
        .await
        .assert_ok();
    straight
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "a1")
        .send()
        .await
        .assert_error(400, "KeyPair.AlreadyExist");
    let expected = straight
        .call("t-persist", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "c1")
        .send()
        .await
        .body;
    assert_eq!(next, expected);
    second.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_corrupt_state_file_is_refused_and_left_alone() {
    let (dir, state) = state_dir("corrupt");
    std::fs::write(&state, b"{\"version\":1,\"seed\":").unwrap();
    let err = format!("{:#}", ecs_mock::persist::load(&state).unwrap_err());
    assert!(err.contains("corrupt"), "{err}");
    assert_eq!(std::fs::read(&state).unwrap(), b"{\"version\":1,\"seed\":");
    // A file from another seed parses but cannot be restored.
    ecs_mock::persist::save(&state, &ecs_mock::store::Store::new(1).export()).unwrap();
    let mut c = Config::new("127.0.0.1:0".parse().unwrap(), 2);
    c.initial_state = ecs_mock::persist::load(&state).unwrap();
    let err = ecs_mock::Server::bind(c).await.err().expect("refused");
    assert!(format!("{err:#}").contains("seed"), "{err:#}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn state_can_be_exported_restored_snapshotted_and_the_server_shut_down_over_the_control_api()
{
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::Request;

    use crate::support::send;

    let (dir, state) = state_dir("control-state");
    // Arrange: a key in one server.
    let a = TestServer::with_config(config(5, &state)).await;
    import_fixture(&a, "t-ctl", "k1").await;
    // Act: export, and restore into another server with the same seed.
    let exported = send(
        a.addr,
        Request::get("/__mock/state")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(exported.status, 200);
    let b = TestServer::start(5).await;
    let put = put_state(b.addr, Bytes::from(exported.body.clone())).await;
    assert_eq!(put.status, 200, "{}", put.body);
    let listed = b
        .call("t-ctl", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .send()
        .await
        .json();
    assert_eq!(listed["KeyPairs"]["KeyPair"][0]["KeyPairName"], "k1");
    // A state document from another seed is refused with the reason, and nothing changes.
    let other = TestServer::start(6).await;
    let refused = put_state(other.addr, Bytes::from(exported.body.clone())).await;
    assert_eq!(refused.status, 400);
    assert!(refused.json()["error"].as_str().unwrap().contains("seed"));
    let garbage = put_state(other.addr, Bytes::from_static(b"{\"version\":")).await;
    assert_eq!(garbage.status, 400);
    // Snapshot writes the state file now; without one configured it says so.
    let snap = send(
        a.addr,
        Request::post("/__mock/snapshot")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(snap.status, 200, "{}", snap.body);
    assert!(ecs_mock::persist::load(&state)
        .unwrap()
        .unwrap()
        .accounts
        .contains_key("t-ctl"));
    let no_file = send(
        b.addr,
        Request::post("/__mock/snapshot")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(no_file.status, 400);
    // Shutdown over the control API drains and stops the server like SIGTERM.
    let bye = send(
        a.addr,
        Request::post("/__mock/shutdown")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(bye.status, 202);
    let mut refused_connection = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(a.addr).await.is_err() {
            refused_connection = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        refused_connection,
        "the listener closed after POST /__mock/shutdown"
    );
    a.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn concurrent_snapshots_all_succeed_and_leave_a_complete_state_file() {
    // Regression (findings-scen #5): every save used one temporary name per process, so
    // concurrent snapshots truncated and renamed each other's file and some answered 500.
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::Request;

    use crate::support::send;

    // Arrange: a state file and worker threads, so that the saves really run in parallel.
    let (dir, state) = state_dir("snapshots");
    let mut c = config(8, &state);
    c.workers = Some(4);
    let server = TestServer::with_config(c).await;
    import_fixture(&server, "t-snap", "k1").await;
    // Act: 40 snapshots at once.
    let snapshots: Vec<_> = (0..40)
        .map(|_| {
            let addr = server.addr;
            tokio::spawn(async move {
                let req = Request::post("/__mock/snapshot")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                let resp = send(addr, req).await;
                (resp.status, resp.body)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for s in snapshots {
        answers.push(s.await.unwrap());
    }
    // Assert: every one saved, the file is a whole state document, and no temporary is left.
    let failed: Vec<_> = answers
        .iter()
        .filter(|(status, _)| *status != 200)
        .collect();
    assert!(failed.is_empty(), "{failed:?}");
    let saved = ecs_mock::persist::load(&state).unwrap().unwrap();
    assert!(saved.accounts.contains_key("t-snap"));
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"]);
    server.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_state_document_holding_what_the_api_never_makes_is_refused_with_the_reason() {
    // Regression (findings-scen #10): PUT /__mock/state and --state-file checked only the
    // document's shape, so a public key that does not parse, an unknown region or two key
    // pairs sharing a KeyPairId were restored and then served.
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::Request;
    use serde_json::Value;

    use crate::support::send;

    // Arrange: three key pairs of one tenant, and the exported state.
    let server = TestServer::start(3).await;
    for name in ["name0", "name1", "name2"] {
        import_fixture(&server, "ps", name).await;
    }
    let get = Request::get("/__mock/state")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let doc: Value = serde_json::from_str(&send(server.addr, get).await.body).unwrap();
    let put = |doc: Value| {
        let addr = server.addr;
        async move {
            let req = Request::put("/__mock/state")
                .body(Full::new(Bytes::from(doc.to_string())))
                .unwrap();
            send(addr, req).await
        }
    };
    let key_pairs = "/accounts/ps/regions/cn-hangzhou/key_pairs";
    let mut garbage_key = doc.clone();
    *garbage_key
        .pointer_mut(&format!("{key_pairs}/name1/public_key"))
        .unwrap() = "garbage".into();
    let mut shared_id = doc.clone();
    let id = doc
        .pointer(&format!("{key_pairs}/name0/id"))
        .unwrap()
        .clone();
    let own = doc
        .pointer(&format!("{key_pairs}/name1/id"))
        .unwrap()
        .clone();
    *shared_id
        .pointer_mut(&format!("{key_pairs}/name1/id"))
        .unwrap() = id.clone();
    let mut unknown_region = doc.clone();
    let regions = unknown_region
        .pointer_mut("/accounts/ps/regions")
        .unwrap()
        .as_object_mut()
        .unwrap();
    let region = regions.remove("cn-hangzhou").unwrap();
    regions.insert("nowhere-1".into(), region);
    // Act
    let answers = [
        put(garbage_key).await,
        put(shared_id).await,
        put(unknown_region).await,
    ];
    let listed = server
        .call("ps", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .param("IncludePublicKey", "true")
        .send()
        .await
        .json();
    // Assert
    let refusals: Vec<(u16, String)> = answers
        .iter()
        .map(|r| (r.status, r.json()["error"].as_str().unwrap().to_string()))
        .collect();
    let at = r#"accounts["ps"].regions["cn-hangzhou"].key_pairs"#;
    assert_eq!(
        refusals,
        [
            (400, format!("{at}[\"name1\"].public_key: not an OpenSSH public key (unsupported key type \"garbage\")")),
            // Another key pair's id is not the one the mock derives for this one.
            (400, format!("{at}[\"name1\"].id: {id} is not the KeyPairId the mock derives for this key pair ({own}, from the seed, tenant, region, name and generation 0)")),
            (400, r#"accounts["ps"].regions["nowhere-1"]: unknown region (no request could reach it)"#.to_string()),
        ]
    );
    let served: Vec<&str> = listed["KeyPairs"]["KeyPair"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kp| kp["PublicKey"].as_str().unwrap())
        .collect();
    assert_eq!(served.len(), 3, "the state before the refused PUTs stays");
    assert!(
        served.iter().all(|k| k.starts_with("ecdsa-sha2-nistp256 ")),
        "{served:?}"
    );
    server.stop().await;
}

#[test]
fn the_last_of_concurrent_saves_holds_every_change_made_before_any_of_them() {
    // Regression (findings-conc #3): saves exported, wrote and renamed unserialised, so one
    // that exported earlier could rename last and leave an older state than a snapshot
    // answered later. Each thread here changes the state, then saves: whatever the order,
    // the last save began after every change.
    let (dir, state) = state_dir("save-order");
    let app = ecs_mock::service::App::new(config(9, &state)).unwrap();
    let key = |i: u64| ecs_mock::store::NewKeyPair {
        fingerprint: format!("fp-{i}"),
        public_key: ecs_mock::loadgen::synthetic_rsa_public_key(i),
        resource_group_id: String::new(),
        tags: vec![],
        creation_time: 0,
        origin: ecs_mock::store::Origin::Imported,
    };
    // A large state, so that each save takes a while.
    for i in 0..3_000 {
        let region = ecs_mock::regions::REGIONS[(i % 20) as usize].id;
        app.store
            .insert("t-big", region, &format!("k{i}"), None, key(i))
            .unwrap();
    }
    for round in 0..5 {
        std::thread::scope(|s| {
            for t in 0..6 {
                let app = &app;
                s.spawn(move || {
                    app.store
                        .insert(
                            "t-mark",
                            "cn-hangzhou",
                            &format!("m{round}-{t}"),
                            None,
                            key(t),
                        )
                        .unwrap();
                    app.save_state().unwrap();
                });
            }
        });
        let saved = ecs_mock::persist::load(&state).unwrap().unwrap();
        let marks = &saved.accounts["t-mark"].regions["cn-hangzhou"].key_pairs;
        for t in 0..6 {
            assert!(
                marks.contains_key(&format!("m{round}-{t}")),
                "round {round}: m{round}-{t} missing"
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn one_tenants_state_is_exported_and_restored_alone_and_the_others_keep_theirs() {
    use crate::delete_key_pairs::listed;
    use crate::scenarios::control;
    use serde_json::json;
    // Arrange: two tenants with a key pair each, and t-mine's state taken.
    let server = TestServer::start(5).await;
    import_fixture(&server, "t-mine", "before").await;
    import_fixture(&server, "t-other", "theirs").await;
    let (status, mine) = control(&server, "GET", "/__mock/state?access_key_id=t-mine", None).await;
    assert_eq!(status, 200);
    let accounts: Vec<_> = mine["accounts"].as_object().unwrap().keys().collect();
    assert_eq!(accounts, ["t-mine"]);
    assert_eq!(mine["request_ordinals"], json!({"t-mine": 1}));
    let after = server
        .call("t-mine", "ImportKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "after")
        .param(
            "PublicKeyBody",
            include_str!("../fixtures/pubkeys/ecdsa256.pub"),
        )
        .send()
        .await
        .assert_ok()
        .json();
    import_fixture(&server, "t-other", "theirs-2").await;
    // Act
    let (status, body) = control(
        &server,
        "PUT",
        "/__mock/state?access_key_id=t-mine",
        Some(mine.clone()),
    )
    .await;
    // Assert: t-mine is back where it was, RequestIds included; t-other kept its changes.
    assert_eq!(
        (status, body),
        (200, json!({"restored": {"access_key_id": "t-mine"}}))
    );
    let described = server
        .call("t-mine", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .send()
        .await
        .assert_ok()
        .json();
    assert_eq!(
        described["RequestId"], after["RequestId"],
        "the second request again"
    );
    assert_eq!(described["KeyPairs"]["KeyPair"][0]["KeyPairName"], "before");
    assert_eq!(described["TotalCount"], 1);
    assert_eq!(listed(&server, "t-other").await, ["theirs", "theirs-2"]);
    // A document holding another tenant is refused, and nothing changes.
    let (_, whole) = control(&server, "GET", "/__mock/state", None).await;
    let (status, body) = control(
        &server,
        "PUT",
        "/__mock/state?access_key_id=t-mine",
        Some(whole),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("accounts[\"t-other\"]: restoring the state of \"t-mine\" alone"),
        "{body}"
    );
    assert_eq!(listed(&server, "t-other").await, ["theirs", "theirs-2"]);
    // The state of a tenant without an account empties the one it is put on, as a reset.
    let (_, none) = control(&server, "GET", "/__mock/state?access_key_id=t-new", None).await;
    assert_eq!(
        (&none["accounts"], &none["request_ordinals"]),
        (&json!({}), &json!({}))
    );
    let (status, _) = control(
        &server,
        "PUT",
        "/__mock/state?access_key_id=t-other",
        Some(none),
    )
    .await;
    assert_eq!(status, 200);
    assert!(listed(&server, "t-other").await.is_empty());
    assert_eq!(listed(&server, "t-mine").await, ["before"]);
}

#[tokio::test]
async fn a_state_export_larger_than_the_control_api_s_other_bodies_is_put_back() {
    // Regression (state review, twenty-ninth session): key pairs the API accepts (thousands,
    // each with 20 long tags) export to more than the control API's 64 MiB, and PUT then
    // refused the server's own export with 413, where --state-file loads it. The export here is
    // padded with whitespace (JSON allows it) to stand for such a state.
    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::Request;

    use crate::support::send;

    let a = TestServer::start(5).await;
    import_fixture(&a, "t-big", "k1").await;
    let exported = send(
        a.addr,
        Request::get("/__mock/state")
            .body(Full::new(Bytes::new()))
            .unwrap(),
    )
    .await;
    let mut padded = exported.body.into_bytes();
    padded.resize(65 << 20, b' ');
    let b = TestServer::start(5).await;
    // Act
    let put = put_state(b.addr, Bytes::from(padded)).await;
    // Assert
    assert_eq!(put.status, 200, "{}", put.body);
    let listed = b
        .call("t-big", "DescribeKeyPairs")
        .region("cn-hangzhou")
        .send()
        .await
        .json();
    assert_eq!(listed["KeyPairs"]["KeyPair"][0]["KeyPairName"], "k1");
    // Other control bodies keep their limit.
    let scenario = send(
        b.addr,
        Request::post("/__mock/scenarios")
            .body(Full::new(Bytes::from(vec![b' '; 65 << 20])))
            .unwrap(),
    )
    .await;
    assert_eq!(scenario.status, 413, "{}", scenario.body);
}

/// `PUT /__mock/state` with `body`.
async fn put_state(addr: std::net::SocketAddr, body: bytes::Bytes) -> crate::support::Resp {
    crate::support::send(
        addr,
        hyper::Request::put("/__mock/state")
            .body(http_body_util::Full::new(body))
            .unwrap(),
    )
    .await
}
