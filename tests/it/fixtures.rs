//! Account state fixtures end to end: a file given on the command line (or in
//! `ECS_MOCK_FIXTURES`) becomes instances and resource groups that requests can use.
//!
//! Also home of the helpers the Attach/Detach tests share: a server whose config carries
//! inline fixtures, and a fast way to put a key pair into a tenant's region.

use ecs_mock::config::{Cli, Config};
use ecs_mock::fixtures::Fixtures;
use ecs_mock::store::{NewKeyPair, Origin};

use clap::Parser;

use crate::support::TestServer;

pub const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/accounts.json");

/// A server (seed 42) whose store starts with `json` applied as fixtures.
pub async fn server_with(json: &str) -> TestServer {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 42);
    config.fixtures = vec![Fixtures::from_json(json).expect("test fixtures are valid")];
    TestServer::with_config(config).await
}

/// Fixtures giving each of `tenants` the same fleet: Linux `i-lin1` (Running) and `i-lin2`
/// (Stopped) and Windows `i-win1` in cn-hangzhou, Linux `i-bj1` in cn-beijing.
pub fn fleet(tenants: &[&str]) -> String {
    let account = r#"{"instances": [
        {"instance_id": "i-lin1", "region_id": "cn-hangzhou", "os_type": "linux"},
        {"instance_id": "i-lin2", "region_id": "cn-hangzhou", "os_type": "linux", "status": "Stopped"},
        {"instance_id": "i-win1", "region_id": "cn-hangzhou", "os_type": "windows"},
        {"instance_id": "i-bj1", "region_id": "cn-beijing", "os_type": "linux"}]}"#;
    let accounts: Vec<String> = tenants
        .iter()
        .map(|t| format!("{t:?}: {account}"))
        .collect();
    format!(r#"{{"accounts": {{{}}}}}"#, accounts.join(", "))
}

/// A server with [`fleet`] for `tenants`.
pub async fn fleet_server(tenants: &[&str]) -> TestServer {
    server_with(&fleet(tenants)).await
}

/// Stores key pair `name` in the tenant's region directly (no RSA generation, no request, so
/// no RequestId ordinal is used up).
pub fn add_key_pair(server: &TestServer, tenant: &str, region: &str, name: &str) {
    let store = &server.app.store;
    let rg = store.default_resource_group(tenant).unwrap();
    store
        .reserve(tenant, region, name, None)
        .expect("the name is free")
        .commit(NewKeyPair {
            fingerprint: "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff".into(),
            public_key: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7".into(),
            resource_group_id: rg,
            tags: vec![],
            creation_time: 1_693_816_380,
            origin: Origin::Imported,
        });
}

/// The key pair instance `id` of `tenant` holds.
pub fn key_of(server: &TestServer, tenant: &str, id: &str) -> Option<String> {
    server
        .app
        .store
        .with_account(tenant, |acc| {
            acc.instances
                .get(id)
                .unwrap_or_else(|| panic!("{tenant} has no instance {id}"))
                .key_pair_name
                .clone()
        })
        .unwrap()
}

fn config_from_args(args: &[&str]) -> anyhow::Result<Config> {
    let cli = Cli::try_parse_from(
        ["ecs-mock", "--listen", "127.0.0.1:0"]
            .into_iter()
            .chain(args.iter().copied()),
    )?;
    Config::from_cli(&cli)
}

#[tokio::test]
async fn instances_from_a_fixtures_file_on_the_command_line_take_key_pairs() {
    // Arrange
    let server = TestServer::with_config(config_from_args(&["--fixtures", SAMPLE]).unwrap()).await;
    add_key_pair(&server, "ak-sample", "cn-hangzhou", "sample-key");
    // Act
    let resp = server
        .call("ak-sample", "AttachKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "sample-key")
        .param(
            "InstanceIds",
            r#"["i-bp1sample000000001","i-bp1sample000000002","i-2zesample000000001"]"#,
        )
        .send()
        .await;
    // Assert
    resp.assert_ok();
    let body = resp.json();
    assert_eq!(body["TotalCount"], "3");
    assert_eq!(
        body["FailCount"], "1",
        "the cn-beijing instance is not in cn-hangzhou: {body}"
    );
    assert_eq!(
        key_of(&server, "ak-sample", "i-bp1sample000000001").as_deref(),
        Some("sample-key")
    );
    assert_eq!(
        key_of(&server, "ak-sample-2", "i-bp1sample000000001"),
        None,
        "the other account's instance of the same id is untouched"
    );
}

#[tokio::test]
async fn accounts_without_fixtures_have_no_instances() {
    // Arrange
    let server = TestServer::with_config(config_from_args(&["--fixtures", SAMPLE]).unwrap()).await;
    add_key_pair(&server, "ak-stranger", "cn-hangzhou", "k1");
    // Act
    let resp = server
        .call("ak-stranger", "AttachKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "k1")
        .param("InstanceIds", r#"["i-bp1sample000000001"]"#)
        .send()
        .await;
    // Assert
    resp.assert_ok();
    let result = &resp.json()["Results"]["Result"][0];
    assert_eq!(result["Success"], "false");
    assert_eq!(result["Code"], "InvalidInstanceId.NotFound");
}

#[tokio::test]
async fn resource_groups_from_fixtures_can_be_named_on_create() {
    // Arrange
    let server = TestServer::with_config(config_from_args(&["--fixtures", SAMPLE]).unwrap()).await;
    // Act
    let own = server
        .call("ak-sample", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "in-group")
        .param("ResourceGroupId", "rg-aek2sample000002")
        .send()
        .await;
    let foreign = server
        .call("ak-sample-2", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "in-group")
        .param("ResourceGroupId", "rg-aek2sample000002")
        .send()
        .await;
    // Assert
    own.assert_ok();
    let stored = server.app.store.key_pairs("ak-sample", "cn-hangzhou");
    assert_eq!(stored[0].resource_group_id, "rg-aek2sample000002");
    foreign.assert_error(404, "InvalidResourceGroup.NotFound");
}

#[tokio::test]
async fn a_fixture_key_pair_exists_from_the_start_and_the_instance_holds_it_through_a_reset() {
    // Arrange: the sample declares "sample-existing" in cn-beijing, held by i-2zesample000000001.
    let server = TestServer::with_config(config_from_args(&["--fixtures", SAMPLE]).unwrap()).await;
    let rsa = include_str!("../fixtures/pubkeys/rsa2048.pub");
    let id = server.app.store.key_pairs("ak-sample", "cn-beijing")[0]
        .id
        .clone();
    // Act: what a test suite would do to a key pair that exists before it runs.
    let listed = server
        .call("ak-sample", "DescribeKeyPairs")
        .region("cn-beijing")
        .param("IncludePublicKey", "true")
        .send()
        .await;
    let again = server
        .call("ak-sample", "ImportKeyPair")
        .region("cn-beijing")
        .param("KeyPairName", "sample-existing")
        .param("PublicKeyBody", rsa)
        .send()
        .await;
    let elsewhere = server
        .call("ak-sample", "ImportKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "sample-existing")
        .param("PublicKeyBody", rsa)
        .send()
        .await;
    let delete = server
        .call("ak-sample", "DeleteKeyPairs")
        .region("cn-beijing")
        .param("KeyPairNames", r#"["sample-existing"]"#)
        .send()
        .await;
    // Assert
    listed.assert_ok();
    let body = listed.json();
    let kp = &body["KeyPairs"]["KeyPair"][0];
    assert_eq!(body["TotalCount"], 1, "{body}");
    assert_eq!(kp["KeyPairName"], "sample-existing");
    assert_eq!(kp["CreationTime"], "2024-01-01T00:00Z");
    assert_eq!(kp["ResourceGroupId"], "rg-aek2sample000001");
    assert_eq!(kp["Tags"]["Tag"][0]["TagKey"], "team");
    assert_eq!(
        kp["PublicKey"].as_str().unwrap(),
        rsa.rsplit_once(' ').unwrap().0,
        "the key as imported, without its comment"
    );
    again.assert_error(400, "KeyPair.AlreadyExist");
    elsewhere.assert_ok();
    assert_eq!(
        kp["KeyPairFingerPrint"],
        elsewhere.json()["KeyPairFingerPrint"],
        "the fingerprint ImportKeyPair gives the same key"
    );
    delete.assert_error(400, "InvalidParameter.KeypairAlreadyAttachedInstance");
    // A detach and a delete, then a reset: the fixture comes back as it started.
    server
        .call("ak-sample", "DetachKeyPair")
        .region("cn-beijing")
        .param("KeyPairName", "sample-existing")
        .param("InstanceIds", r#"["i-2zesample000000001"]"#)
        .send()
        .await
        .assert_ok();
    server
        .call("ak-sample", "DeleteKeyPairs")
        .region("cn-beijing")
        .param("KeyPairNames", r#"["sample-existing"]"#)
        .send()
        .await
        .assert_ok();
    assert!(server
        .app
        .store
        .key_pairs("ak-sample", "cn-beijing")
        .is_empty());
    let (status, _) = crate::scenarios::control(
        &server,
        "POST",
        "/__mock/reset?access_key_id=ak-sample",
        None,
    )
    .await;
    assert_eq!(status, 200);
    let back = server.app.store.key_pairs("ak-sample", "cn-beijing");
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].id, id, "the same KeyPairId");
    assert_eq!(
        key_of(&server, "ak-sample", "i-2zesample000000001").as_deref(),
        Some("sample-existing")
    );
}

#[tokio::test]
async fn a_tenant_reset_that_finds_no_place_for_its_fixtures_says_so_with_507() {
    // Regression (stop 36 note): the reset answered 200 while the fixture account stayed
    // gone. Its account is dropped by a PUT of a state without it, then new tenants fill
    // the store.
    use crate::scenarios::control;
    use ecs_mock::store::MAX_ACCOUNTS;
    let server = fleet_server(&["ak-fix"]).await;
    let (_, empty) = control(&server, "GET", "/__mock/state?access_key_id=nobody", None).await;
    let (put, _) = control(
        &server,
        "PUT",
        "/__mock/state?access_key_id=ak-fix",
        Some(empty),
    )
    .await;
    assert_eq!(put, 200);
    server.fill_accounts("t", 0..MAX_ACCOUNTS);
    // Act
    let (full, refusal) =
        control(&server, "POST", "/__mock/reset?access_key_id=ak-fix", None).await;
    let (freed, _) = control(&server, "POST", "/__mock/reset?access_key_id=t0", None).await;
    let (again, done) = control(&server, "POST", "/__mock/reset?access_key_id=ak-fix", None).await;
    // Assert
    assert_eq!(full, 507, "{refusal}");
    assert_eq!(
        refusal["reset"],
        serde_json::json!({"access_key_id": "ak-fix"})
    );
    let message = refusal["error"].as_str().unwrap();
    assert!(
        message.contains("\"ak-fix\" was reset") && message.contains("no place for its fixtures"),
        "{message}"
    );
    assert_eq!((freed, again), (200, 200), "{done}");
    assert_eq!(
        key_of(&server, "ak-fix", "i-lin1"),
        None,
        "the fleet is back, unbound"
    );
    assert!(server.app.store.export_tenant("ak-fix").accounts["ak-fix"]
        .instances
        .contains_key("i-bj1"));
}

#[test]
fn fixtures_files_that_together_pass_a_regions_quota_are_refused_naming_the_file() {
    // Arrange: two files of 300 key pairs each in one region, no name shared.
    let dir = std::env::temp_dir().join(format!("ecs-mock-fixtures-quota-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rsa =
        serde_json::to_string(include_str!("../fixtures/pubkeys/rsa2048.pub").trim()).unwrap();
    let file = |name: &str, from: usize| {
        let kps: Vec<String> = (from..from + 300)
            .map(|i| format!(r#"{{"region_id": "cn-hangzhou", "key_pair_name": "k{i}", "public_key": {rsa}}}"#))
            .collect();
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                r#"{{"accounts": {{"ak": {{"key_pairs": [{}]}}}}}}"#,
                kps.join(",")
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let (a, b) = (file("a.json", 0), file("b.json", 300));
    // Act
    let e = config_from_args(&["--fixtures", &a, "--fixtures", &b]).unwrap_err();
    // Assert
    assert_eq!(
        format!("{e:#}"),
        format!(
            r#"invalid fixtures file {b}: accounts."ak".key_pairs[200]: more than 500 key pairs in cn-hangzhou with the files before"#
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_file_in_the_environment_variable_stops_the_binary_with_its_path() {
    // Arrange: the second of two comma-separated files misspells a region.
    let dir = std::env::temp_dir().join(format!("ecs-mock-fixtures-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"accounts": {"ak-1": {"instances": [
            {"instance_id": "i-1", "region_id": "cn-hangzou", "os_type": "linux"}]}}}"#,
    )
    .unwrap();
    // Act
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .env("ECS_MOCK_FIXTURES", format!("{SAMPLE},{}", bad.display()))
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A regression would start a server that never exits; stop it rather than hang the suite.
    let mut waited = 0;
    while child.try_wait().unwrap().is_none() {
        if waited == 300 {
            child.kill().unwrap();
            panic!("ecs-mock started despite a bad fixtures file");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    }
    let out = child.wait_with_output().unwrap();
    // Assert
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(r#"accounts."ak-1".instances[0].region_id: unknown region "cn-hangzou""#),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fixtures_for_an_account_no_credential_allows_are_refused() {
    // Arrange / Act
    let e = config_from_args(&["--credential", "ak-sample:s", "--fixtures", SAMPLE]).unwrap_err();
    // Assert
    assert!(e.to_string().contains("\"ak-sample-2\""), "{e}");
}
