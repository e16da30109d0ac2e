//! The command-line contract, checked on the real binary: the first stdout line, port 0,
//! flags with environment fallbacks, `--help`, and a clean exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::support::{send, SECRET};

/// Starts the binary and returns it with the address from its first stdout line.
fn start(args: &[&str], envs: &[(&str, &str)]) -> (Child, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ecs-mock"));
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn ecs-mock");
    let (addr, second) = listening(&mut child);
    (child, addr, second)
}

/// The address from a started binary's first stdout line (piped), and its second line.
fn listening(child: &mut Child) -> (String, String) {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let mut second = String::new();
    out.read_line(&mut second).unwrap();
    let addr = first
        .strip_prefix("ecs-mock listening on http://")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .trim()
        .to_string();
    (addr, second)
}

/// Starts the binary with `args` and its stderr piped, once it is listening, with its address.
fn start_with_stderr<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (addr, _) = listening(&mut child);
    (child, addr)
}

/// Stops a binary started by [`start_with_stderr`] (it must exit cleanly) and returns what it
/// wrote on stderr.
fn terminate_and_read_stderr(mut child: Child) -> String {
    let mut stderr = child.stderr.take().unwrap();
    assert!(terminate(child).success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    err
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    child.wait().unwrap()
}

#[tokio::test]
async fn the_first_line_names_the_real_port_and_the_binary_serves_on_it() {
    // Arrange / Act
    let (child, addr, hint) = start(&["--listen", "127.0.0.1:0", "--seed", "42"], &[]);
    // Assert: a real port, and a second line on how to point an SDK at it.
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    assert!(hint.contains("protocol http"), "{hint}");
    let health = send(
        addr.parse().unwrap(),
        hyper::Request::get("/__mock/health")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(health.json()["seed"], 42);
    assert!(terminate(child).success(), "SIGTERM exits 0");
}

/// Regression (white-box review, sixteenth session): each connection takes two descriptors,
/// and under the usual soft limit of 1024 the default 1024 connections ran out near 500,
/// where new ones failed instead of getting the documented 503.
#[test]
fn the_open_file_limit_is_raised_to_fit_max_connections() {
    // Arrange: a soft limit of 1024 under a higher hard one, as on most Linux machines.
    let hard: u64 = std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
        .unwrap_or(0);
    // Regression (persistence review, twenty-eighth session): the four descriptors of each
    // request thread's runtime were not counted, so with many workers connections failed
    // with EMFILE before --max-connections, without a warning.
    let workers = 65;
    let needed = 2 * 1024 + 4 * workers + ecs_mock::server::MAX_WAITING as u64 + 64;
    if hard < needed {
        eprintln!("hard open-file limit {hard}: nothing to raise it to, skipped");
        return;
    }
    let script = format!(
        "ulimit -Sn 1024 && exec {} --listen 127.0.0.1:0 --workers {workers}",
        env!("CARGO_BIN_EXE_ecs-mock")
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("ecs-mock listening on"), "{first:?}");
    // Act
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    // Assert: two per default connection, four per request thread, and some room.
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        .unwrap();
    assert_eq!(soft, needed);
    assert!(terminate(child).success());
}

#[test]
fn listening_beyond_loopback_warns_that_the_control_api_is_exposed() {
    // Regression (findings-scen #13): `--listen 0.0.0.0:P` said nothing about the open control
    // API and advised "endpoint 0.0.0.0:P", an address no client can connect to.
    // Arrange / Act: the wildcard address, then the same with the control API off.
    let run = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
            .args([
                "--listen",
                "0.0.0.0:0",
                "--no-key-cache",
                "--no-signature-check",
            ])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (mut first, mut hint) = (String::new(), String::new());
        out.read_line(&mut first).unwrap();
        out.read_line(&mut hint).unwrap();
        let mut stderr = child.stderr.take().unwrap();
        assert!(terminate(child).success());
        let mut err = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
        (first, hint, err)
    };
    let (first, hint, stderr) = run(&[]);
    let (_, _, quiet) = run(&["--no-control-api"]);
    // Assert
    let port = first
        .trim()
        .strip_prefix("ecs-mock listening on http://0.0.0.0:")
        .unwrap_or_else(|| panic!("first line: {first:?}"));
    assert_eq!(
        hint.trim(),
        format!("point an SDK at it: endpoint 127.0.0.1:{port} (or this host's address), protocol http, region e.g. cn-hangzhou, credentials: any AccessKeyId (each is its own account) with any secret (signatures are not checked)")
    );
    assert_eq!(
        stderr.lines().next().unwrap(),
        format!("ecs-mock: warning: listening on 0.0.0.0:{port}, not only loopback: the control API (/__mock/: reset, PUT state, shutdown) has no authentication and other hosts can reach it; add --no-control-api unless that is intended")
    );
    assert!(!quiet.contains("warning"), "{quiet}");
}

#[tokio::test]
async fn flags_fall_back_to_environment_variables() {
    let (child, addr, _) = start(
        &[],
        &[
            ("ECS_MOCK_LISTEN", "127.0.0.1:0"),
            ("ECS_MOCK_SEED", "7"),
            ("ECS_MOCK_CREDENTIALS", "env-ak:env-secret"),
            ("ECS_MOCK_CREATION_TIME", "2023-09-04T08:33:00Z"),
            ("ECS_MOCK_FINGERPRINT", "sha1"),
        ],
    );
    let health = send(
        addr.parse().unwrap(),
        hyper::Request::get("/__mock/health")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(health.json()["seed"], 7);
    // Only the configured AccessKeyId exists.
    let server_addr: std::net::SocketAddr = addr.parse().unwrap();
    let probe = crate::support::Call::new(server_addr, "other-ak", "DescribeRegions")
        .secret(SECRET)
        .send()
        .await;
    probe.assert_error(404, "InvalidAccessKeyId.NotFound");
    let ok = crate::support::Call::new(server_addr, "env-ak", "DescribeRegions")
        .secret("env-secret")
        .send()
        .await;
    ok.assert_ok();
    let pubkey = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pubkeys/ecdsa521.pub"
    ))
    .unwrap();
    crate::support::Call::new(server_addr, "env-ak", "ImportKeyPair")
        .secret("env-secret")
        .region("cn-hangzhou")
        .param("KeyPairName", "pinned")
        .param("PublicKeyBody", &pubkey)
        .send()
        .await
        .assert_ok();
    let listed = crate::support::Call::new(server_addr, "env-ak", "DescribeKeyPairs")
        .secret("env-secret")
        .region("cn-hangzhou")
        .send()
        .await
        .assert_ok()
        .json();
    assert_eq!(
        listed["KeyPairs"]["KeyPair"][0]["CreationTime"],
        "2023-09-04T08:33Z"
    );
    // SHA1:rcPAtojBbJ1L9b9qKBqJDmQAnu4 as `ssh-keygen -l -E sha1` prints it.
    assert_eq!(
        listed["KeyPairs"]["KeyPair"][0]["KeyPairFingerPrint"],
        "ad:c3:c0:b6:88:c1:6c:9d:4b:f5:bf:6a:28:1a:89:0e:64:00:9e:ee"
    );
    assert!(terminate(child).success());
}

#[tokio::test]
async fn boolean_variables_take_1_and_yes_and_empty_variables_are_unset() {
    // Regression (findings-scen #7): `=1`, `=yes` and empty values stopped the start (exit 2).
    // Arrange / Act
    let (child, addr, _) = start(
        &["--listen", "127.0.0.1:0", "--no-key-cache"],
        &[
            ("ECS_MOCK_NO_SIGNATURE_CHECK", "1"),
            ("ECS_MOCK_WATCH", "yes"),
            ("ECS_MOCK_NO_CONTROL_API", "0"),
            ("ECS_MOCK_ALLOW_ED25519", ""),
            ("ECS_MOCK_SCENARIOS", ""),
            ("ECS_MOCK_FIXTURES", ""),
            ("ECS_MOCK_STATE_FILE", ""),
            ("ECS_MOCK_CREATION_TIME", ""),
        ],
    );
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    // Assert: signatures are not checked, and the control API is on with nothing loaded.
    crate::support::Call::new(addr, "t-env-bool", "DescribeRegions")
        .secret("not-the-secret")
        .send()
        .await
        .assert_ok();
    let health = send(
        addr,
        hyper::Request::get("/__mock/health")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap(),
    )
    .await;
    assert_eq!(
        (health.status, health.json()["scenarios"].clone()),
        (200, 0.into())
    );
    assert!(terminate(child).success());
}

#[test]
fn a_flag_clap_refuses_is_a_usage_error_too() {
    // Regression (findings-scen #7): clap's own refusals exited 2, every other one 64.
    let stderr = usage_error(&["--seed", "-1"]);
    // About the seed's value, not "unexpected argument" (clap took -1 for a flag).
    assert!(
        stderr.contains("invalid value '-1' for '--seed <SEED>'"),
        "{stderr}"
    );
    let stderr = usage_error(&["--no-such-flag"]);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[test]
fn help_documents_every_flag() {
    let out = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--seed",
        "--credential",
        "--default-secret",
        "--no-signature-check",
        "ECS_MOCK_LISTEN",
        "ECS_MOCK_SEED",
        "ECS_MOCK_DEFAULT_SECRET",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
}

/// Runs the binary with `args` (after `--listen 127.0.0.1:0 --no-key-cache`), expects it to
/// refuse to start with exit 64, and returns its stderr. A binary that starts anyway would
/// run until killed, so it gets a deadline: the test fails instead of hanging.
fn usage_error<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .args(["--listen", "127.0.0.1:0", "--no-key-cache"])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(
        status.and_then(|s| s.code()),
        Some(64),
        "{args:?}: {stderr}"
    );
    stderr
}

#[test]
fn a_creation_time_that_is_not_a_timestamp_is_a_usage_error() {
    for (value, problem) in [
        ("2026-01-01", "expected yyyy-MM-ddTHH:mm:ssZ"),
        ("2026-13-01T00:00:00Z", "expected yyyy-MM-ddTHH:mm:ssZ"),
        ("1969-12-31T23:59:59Z", "before 1970-01-01T00:00:00Z"),
    ] {
        let stderr = usage_error(&["--creation-time", value]);
        assert!(
            stderr.contains("--creation-time") && stderr.contains(problem),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn a_malformed_credential_is_a_usage_error() {
    let stderr = usage_error(&["--credential", "no-colon"]);
    assert!(stderr.contains("AK_ID:SECRET"), "{stderr}");
}

#[test]
fn a_state_file_in_a_missing_directory_is_refused_at_start_not_at_shutdown() {
    let path = std::env::temp_dir()
        .join("ecs-mock-no-such-dir")
        .join("state.json");
    let stderr = usage_error(&[std::ffi::OsStr::new("--state-file"), path.as_os_str()]);
    assert!(stderr.contains("cannot write in its directory"), "{stderr}");
}

#[test]
fn a_state_file_path_ending_in_a_slash_is_refused_at_start_not_at_shutdown() {
    // Regression (F2 of the persistence findings): the server started, then every snapshot
    // answered 500 and the shutdown save failed with "Not a directory".
    let dir = std::env::temp_dir().join(format!("ecs-mock-cli-slash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json/");
    let stderr = usage_error(&[std::ffi::OsStr::new("--state-file"), path.as_os_str()]);
    assert!(
        stderr.contains("a file cannot be saved under this path"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_state_file_refused_for_its_content_is_a_usage_error_too() {
    // Regression (findings-scen #7): a state file saved under another seed exited 1, a corrupt
    // one 64.
    // Arrange: a state file of seed 1, and one whose key pair's public key is garbage.
    let dir = std::env::temp_dir().join(format!("ecs-mock-cli-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let other_seed = dir.join("seed1.json");
    ecs_mock::persist::save(&other_seed, &ecs_mock::store::Store::new(1).export()).unwrap();
    let store = ecs_mock::store::Store::new(0);
    store.with_account("t", |_| ()).unwrap();
    let mut doc = store.export();
    doc.accounts.get_mut("t").unwrap().resource_groups.clear();
    let broken = dir.join("broken.json");
    ecs_mock::persist::save(&broken, &doc).unwrap();
    // Act
    let seed_stderr = usage_error(&[
        std::ffi::OsStr::new("--seed"),
        std::ffi::OsStr::new("2"),
        std::ffi::OsStr::new("--state-file"),
        other_seed.as_os_str(),
    ]);
    let broken_stderr = usage_error(&[std::ffi::OsStr::new("--state-file"), broken.as_os_str()]);
    // Assert (usage_error asserts exit 64)
    assert_eq!(
        seed_stderr.trim_end(),
        format!(
            "ecs-mock: state file {} cannot be restored: state was saved with seed 1 but the server runs with seed 2 (fix or remove it)",
            other_seed.display()
        )
    );
    assert_eq!(
        broken_stderr.trim_end(),
        format!(
            "ecs-mock: state file {} cannot be restored: accounts[\"t\"].default_resource_group: {:?} is not among the account's resource_groups (fix or remove it)",
            broken.display(),
            ecs_mock::ids::default_resource_group_id(0, "t")
        )
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_state_file_saved_under_the_other_fingerprint_digest_is_refused_naming_both() {
    // Arrange: a state of seed 0 holding one imported key pair, saved with MD5 fingerprints.
    let dir = std::env::temp_dir().join(format!("ecs-mock-cli-digest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = ecs_mock::store::Store::new(0);
    let key = ecs_mock::sshkey::parse_openssh_public_key(
        include_str!("../fixtures/pubkeys/rsa2048.pub"),
        ecs_mock::sshkey::ParseOptions::default(),
    )
    .unwrap();
    let rg = store.default_resource_group("t").unwrap();
    store
        .reserve("t", "cn-hangzhou", "key-1", None)
        .unwrap()
        .commit(ecs_mock::store::NewKeyPair {
            fingerprint: key.fingerprint,
            public_key: key.openssh,
            resource_group_id: rg,
            tags: vec![],
            creation_time: 5,
            origin: ecs_mock::store::Origin::Imported,
        });
    let saved = dir.join("md5.json");
    ecs_mock::persist::save(&saved, &store.export()).unwrap();
    // Act
    let stderr = usage_error(&[
        std::ffi::OsStr::new("--fingerprint"),
        std::ffi::OsStr::new("sha1"),
        std::ffi::OsStr::new("--state-file"),
        saved.as_os_str(),
    ]);
    let unknown = usage_error(&["--fingerprint", "sha256"]);
    // Assert (usage_error asserts exit 64)
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ecs-mock: state file {} cannot be restored: accounts[\"t\"].regions[\"cn-hangzhou\"].key_pairs[\"key-1\"].fingerprint: \"21:3e:91:00:ed:56:bd:f4:33:cc:bf:6b:67:f9:59:4c\" is the public key's md5 fingerprint: the state was saved under --fingerprint md5 but the server runs with --fingerprint sha1 (fix or remove it)",
            saved.display()
        )
    );
    assert!(
        unknown.contains("invalid value 'sha256' for '--fingerprint <FINGERPRINT>'")
            && unknown.contains("[possible values: md5, sha1]"),
        "{unknown}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zero_workers_or_more_than_the_cap_is_a_usage_error() {
    for n in ["0", "257"] {
        let stderr = usage_error(&["--workers", n]);
        assert!(
            stderr.contains("--workers must be between 1 and 256"),
            "--workers {n}: {stderr}"
        );
    }
}

#[test]
fn a_log_filter_that_does_not_parse_is_a_usage_error() {
    let stderr = usage_error(&["--log", "ecs_mock=loud"]);
    assert!(
        stderr.starts_with("ecs-mock: --log \"ecs_mock=loud\" is not a log filter"),
        "{stderr}"
    );
}

#[tokio::test]
async fn debug_logs_never_contain_secrets_or_private_keys() {
    // Arrange: the most verbose logging, stderr captured.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--log",
            "trace",
            "--no-key-cache",
            "--default-secret",
            "s3cr3t-value",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let addr: std::net::SocketAddr = first
        .trim()
        .strip_prefix("ecs-mock listening on http://")
        .unwrap()
        .parse()
        .unwrap();
    // Act: a create (returns a private key) and a request with a wrong secret.
    let created = crate::support::Call::new(addr, "t-logs", "CreateKeyPair")
        .param("RegionId", "cn-hangzhou")
        .param("KeyPairName", "logged")
        .secret("s3cr3t-value")
        .send()
        .await;
    created.assert_ok();
    crate::support::Call::new(addr, "t-logs", "DescribeRegions")
        .secret("wrong-one")
        .send()
        .await
        .assert_error(400, "SignatureDoesNotMatch");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut logs).unwrap();
    child.wait().unwrap();
    // Assert
    assert!(
        logs.contains("CreateKeyPair"),
        "trace logging is on: {logs:.400}"
    );
    let pem = created.json()["PrivateKeyBody"]
        .as_str()
        .unwrap()
        .to_string();
    let key_line = pem.lines().nth(1).unwrap();
    for secret in ["s3cr3t-value", "wrong-one", "PRIVATE KEY", key_line] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
    assert!(
        !logs.contains('\u{1b}'),
        "no colour codes when stderr is not a terminal: {logs:.200}"
    );
}

#[test]
fn sigterm_right_after_the_listening_line_is_a_graceful_shutdown() {
    // Regression: the handlers were registered when the server first polled its shutdown
    // future, after printing the line, so a harness that signalled as soon as it read the
    // line killed the process (79% of 200 tries with Python's os.kill) instead of stopping it.
    for _ in 0..20 {
        // Arrange
        let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
            .args(["--listen", "127.0.0.1:0", "--no-key-cache"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        // Act: a direct kill(2), microseconds after the line (a `kill` process is too slow to
        // hit the window).
        let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let status = child.wait().unwrap();
        // Assert
        assert!(first.starts_with("ecs-mock listening on "), "{first}");
        assert_eq!(status.code(), Some(0), "{status}");
    }
}

#[tokio::test]
async fn an_empty_log_filter_keeps_the_default_warnings() {
    // Regression (findings-cli #5): `--log ''` (`ECS_MOCK_LOG=` in a CI file) was taken as a
    // filter that hid the default warnings, here the key cache's.
    // Arrange: a key cache under a file, which no write can create.
    let blocker = std::env::temp_dir().join(format!("ecs-mock-it-log-{}", std::process::id()));
    std::fs::write(&blocker, b"a file").unwrap();
    let cache = blocker.join("cache");
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
        .args(["--listen", "127.0.0.1:0", "--key-cache"])
        .arg(&cache)
        .env("ECS_MOCK_LOG", "")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = listening(&mut child).0.parse().unwrap();
    // Act
    crate::support::Call::new(addr, "t-log", "CreateKeyPair")
        .region("cn-hangzhou")
        .param("KeyPairName", "log-key")
        .send()
        .await
        .assert_ok();
    let stderr = child.stderr.take().unwrap();
    assert!(terminate(child).success());
    let logged = std::io::read_to_string(stderr).unwrap();
    std::fs::remove_file(&blocker).unwrap();
    // Assert
    assert!(logged.contains("WARN"), "{logged}");
    assert!(logged.contains("key cache"), "{logged}");
}

#[test]
fn a_refused_value_from_an_environment_variable_is_traced_to_it() {
    // Regression (findings-cli #8): the messages name the flag (clap's, and ours), so someone
    // who set only the variable was not told which one was wrong.
    let refused = |envs: &[(&str, &str)], args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ecs-mock"))
            .args(["--listen", "127.0.0.1:0", "--no-key-cache"])
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64));
        String::from_utf8(out.stderr).unwrap()
    };
    let seed = refused(&[("ECS_MOCK_SEED", "")], &[]);
    assert!(
        seed.contains("(the value came from the environment variable ECS_MOCK_SEED)"),
        "{seed}"
    );
    let credential = refused(&[("ECS_MOCK_CREDENTIALS", "no-colon")], &[]);
    assert!(
        credential.contains("(the value came from the environment variable ECS_MOCK_CREDENTIALS)"),
        "{credential}"
    );
    // Given on the command line, the flag is where to look: no hint, whatever the variable.
    let flag = refused(&[("ECS_MOCK_SEED", "1")], &["--seed", "x"]);
    assert!(!flag.contains("environment variable"), "{flag}");
    // Regression (README audit #1, #2): one message named two flags, so a refused
    // --shutdown-grace-secs was blamed on a valid ECS_MOCK_HEADER_TIMEOUT_SECS; --log and the
    // refusals of files (which name the path, not the flag) gave no hint at all.
    let grace = refused(
        &[("ECS_MOCK_HEADER_TIMEOUT_SECS", "30")],
        &["--shutdown-grace-secs", "99999999999"],
    );
    assert!(
        grace.starts_with("ecs-mock: --shutdown-grace-secs must be at most 31536000 (a year)\n"),
        "{grace}"
    );
    assert!(!grace.contains("environment variable"), "{grace}");
    let missing = std::env::temp_dir().join(format!("ecs-mock-cli-missing-{}", std::process::id()));
    let missing = missing.to_str().unwrap();
    // Regression (persistence review, twenty-eighth session): a fixtures file that loads but
    // fails the checks made across files named neither flag nor variable.
    let unknown_group =
        std::env::temp_dir().join(format!("ecs-mock-cli-group-{}.json", std::process::id()));
    std::fs::write(
        &unknown_group,
        r#"{"accounts":{"ak1":{"key_pairs":[{"region_id":"cn-hangzhou","key_pair_name":"kk","public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl","resource_group_id":"rg-nothere1"}]}}}"#,
    )
    .unwrap();
    for (env, value) in [
        ("ECS_MOCK_SHUTDOWN_GRACE_SECS", "99999999999"),
        ("ECS_MOCK_LOG", "zz[["),
        ("ECS_MOCK_FIXTURES", missing),
        ("ECS_MOCK_FIXTURES", unknown_group.to_str().unwrap()),
        ("ECS_MOCK_SCENARIOS", &format!("{missing},other.json")),
        ("ECS_MOCK_STATE_FILE", &format!("{missing}/state.json")),
    ] {
        let out = refused(&[(env, value)], &[]);
        assert!(
            out.ends_with(&format!(
                "(the value came from the environment variable {env})\n"
            )),
            "{env}: {out}"
        );
    }
    std::fs::remove_file(&unknown_group).unwrap();
    // A refused file given as a flag is not blamed on another flag's variable whose path
    // the message happens to contain.
    let other = refused(
        &[("ECS_MOCK_STATE_FILE", missing)],
        &["--fixtures", &format!("{missing}.bak")],
    );
    assert!(!other.contains("environment variable"), "{other}");
}

#[test]
fn fixtures_left_unapplied_because_a_state_file_is_loaded_are_warned_about() {
    // Product review: a state file left by an earlier run made --fixtures a silent no-op,
    // which looked like a broken fixtures file.
    let dir = std::env::temp_dir().join(format!("ecs-mock-fixtures-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/accounts.json");
    let run = || {
        let (child, _) = start_with_stderr(&[
            "--listen".as_ref(),
            "127.0.0.1:0".as_ref(),
            "--no-key-cache".as_ref(),
            "--fixtures".as_ref(),
            fixtures.as_ref(),
            "--state-file".as_ref(),
            state.as_os_str(),
        ]);
        terminate_and_read_stderr(child)
    };
    // Arrange: a first run saves a state file; a second loads it, with fixtures.
    let first = run();
    // Act
    let second = run();
    // Assert: applied to the fresh store without a word, then warned about.
    assert!(!first.contains("--fixtures not applied"), "{first}");
    assert!(
        second.contains("--fixtures not applied: the state file is loaded instead"),
        "{second}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_http2_preface_is_closed_and_explained_on_stderr_once() {
    // Black-box review (twenty-fifth session): `curl --http2-prior-knowledge` got its
    // connection closed without a byte, and the mock said nothing.
    let (child, addr) = start_with_stderr(&["--listen", "127.0.0.1:0", "--no-key-cache"]);
    // Act: the HTTP/2 client preface, twice.
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut answer);
        // Assert: hyper has no answer for it; the connection is closed.
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
    let err = terminate_and_read_stderr(child);
    assert_eq!(
        err.matches("the mock speaks HTTP/1.1 only").count(),
        1,
        "{err}"
    );
    assert!(!err.contains("TLS handshake"), "{err}");
}

#[test]
fn a_tls_handshake_on_the_plain_http_port_is_explained_on_stderr_once() {
    // Product review: a client left on https saw only `SSL: WRONG_VERSION_NUMBER`, and the
    // mock said nothing (hyper's parse error is logged at debug).
    let (child, addr) = start_with_stderr(&["--listen", "127.0.0.1:0", "--no-key-cache"]);
    // Act: the first bytes of a TLS ClientHello, twice, each answered (bare 400) and closed.
    for _ in 0..2 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        std::io::Write::write_all(&mut s, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01])
            .unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut answer);
    }
    let err = terminate_and_read_stderr(child);
    // Assert
    assert_eq!(
        err.matches("a connection did not start with an HTTP method: a TLS handshake?")
            .count(),
        1,
        "{err}"
    );
}

#[tokio::test]
async fn a_second_signal_ends_the_grace_period_at_once_and_still_saves_the_state() {
    // Regression (persistence review #2): a second SIGTERM or Ctrl-C during the drain was
    // ignored, so a request held by a scenario kept the process for the whole grace period.
    hurried_after(false).await;
    // The drain started by the control API ends at the first signal.
    hurried_after(true).await;
}

async fn hurried_after(control_first: bool) {
    // Arrange: a 60 s delay on DescribeRegions, a 600 s grace period and a state file.
    let dir = std::env::temp_dir().join(format!(
        "ecs-mock-cli-hurry-{control_first}-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let (mut child, addr) = start_with_stderr(&[
        "--listen",
        "127.0.0.1:0",
        "--no-key-cache",
        "--no-signature-check",
        "--shutdown-grace-secs",
        "600",
        "--state-file",
        state.to_str().unwrap(),
    ]);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let scenario = r#"{"name": "hold", "rules": [{"match": {"action": "DescribeRegions"}, "effect": {"latency": {"fixed_ms": 60000}}}]}"#;
    let loaded = send(
        addr,
        hyper::Request::post("/__mock/scenarios")
            .body(http_body_util::Full::new(bytes::Bytes::from(scenario)))
            .unwrap(),
    )
    .await;
    assert_eq!(loaded.status, 201, "{}", loaded.body);
    let held = tokio::spawn(crate::scenarios::try_send(
        addr,
        crate::support::Call::new(addr, "t-hurry", "DescribeRegions").build(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    // Act: SIGTERM (or POST /__mock/shutdown), then Ctrl-C while the held request drains.
    if control_first {
        let stopping = send(
            addr,
            hyper::Request::post("/__mock/shutdown")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .await;
        assert_eq!(stopping.status, 202);
    } else {
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let draining = child.try_wait().unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let status = exit_within(&mut child, 20, "after the second signal").await;
    // Assert
    assert_eq!(
        draining, None,
        "the first stop drains (control first: {control_first})"
    );
    assert_eq!(status.code(), Some(0), "{status}");
    assert!(held.await.unwrap().is_err(), "the held request was dropped");
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(stderr.contains("asked again to stop"), "{stderr}");
    assert!(ecs_mock::persist::load(&state).unwrap().is_some(), "saved");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_client_part_way_through_a_head_does_not_hold_the_shutdown() {
    // Regression (HTTP review, twenty-ninth session): hyper's graceful shutdown waits for a
    // head it has begun to read, so one client that stalled mid-head kept the process for the
    // whole grace period. Waits for heads now end at shutdown; requests being served drain.
    let (mut child, addr) = start_with_stderr(&[
        "--listen",
        "127.0.0.1:0",
        "--no-key-cache",
        "--no-signature-check",
        "--shutdown-grace-secs",
        "600",
        "--header-timeout-secs",
        "300",
    ]);
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    let scenario = r#"{"name": "slow", "rules": [{"match": {"action": "DescribeRegions"}, "effect": {"latency": {"fixed_ms": 1500}}}]}"#;
    let loaded = send(
        addr,
        hyper::Request::post("/__mock/scenarios")
            .body(http_body_util::Full::new(bytes::Bytes::from(scenario)))
            .unwrap(),
    )
    .await;
    assert_eq!(loaded.status, 201, "{}", loaded.body);
    let mut stalled = tokio::net::TcpStream::connect(addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stalled, b"GET /?Action=Describe HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let served = tokio::spawn(crate::scenarios::try_send(
        addr,
        crate::support::Call::new(addr, "t-drain", "DescribeRegions").build(),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // Act
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = exit_within(
        &mut child,
        60,
        "into a 600 s grace period (header timeout 300 s)",
    )
    .await;
    // Assert: a clean exit, the request in flight answered, the stalled head closed unanswered.
    assert_eq!(status.code(), Some(0), "{status}");
    let answer = served
        .await
        .unwrap()
        .expect("the request in flight is answered");
    assert_eq!(answer.status, 200, "{}", answer.body);
    let mut rest = Vec::new();
    let read = tokio::io::AsyncReadExt::read_to_end(&mut stalled, &mut rest).await;
    assert!(
        read.is_err() || rest.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&rest)
    );
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!stderr.contains("grace period over"), "{stderr}");
}

#[tokio::test]
async fn an_empty_flag_value_leaves_its_variable_in_force() {
    // Regression (README review, twenty-ninth session): clap takes a flag given empty over
    // its variable, and the emptiness then unset the setting, so a wrapper passing
    // `--credential "$CREDS"` with CREDS unset turned ECS_MOCK_CREDENTIALS off, and any
    // AccessKeyId was served.
    let (child, addr, _) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--no-key-cache",
            "--credential",
            "",
            "--log=",
        ],
        &[("ECS_MOCK_CREDENTIALS", "ak-only:s3cret")],
    );
    let addr = addr.parse().unwrap();
    // Act
    let answer = crate::support::Call::new(addr, "t-anyone", "DescribeRegions")
        .send()
        .await;
    // Assert
    answer.assert_error(404, "InvalidAccessKeyId.NotFound");
    assert!(terminate(child).success());
}

/// The exit status of `child` once it has exited, failing the test if it still runs `secs`
/// seconds from now (`when` says what they count from).
async fn exit_within(child: &mut Child, secs: u64, when: &str) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running {secs} s {when}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
