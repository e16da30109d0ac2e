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

#[tokio::test]
async fn keys_survive_a_restart_and_the_next_key_is_the_one_it_would_have_been() {
    // Arrange: a state file in a private temp dir.
    let dir = std::env::temp_dir().join(format!("ecs-mock-it-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let _ = std::fs::remove_file(&state);
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
    // Assert: the keys are listed with identical fingerprints and tags.
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
    let dir = std::env::temp_dir().join(format!("ecs-mock-it-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
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
