//! The control API (`control::handle`, what the server runs for every `/__mock/…` request)
//! driven by sequences of control requests of any method, path, query and body, mixed with
//! cheap API requests (`service::process`, unsigned, no CreateKeyPair: never RSA) that fill
//! the state and the journal, all against one in-process `App` per input.
//!
//! After every control request: the status is one the control API documents, the body is
//! JSON, `{"error": reason}` exactly when the status is an error, and a 405 carries an
//! `Allow` that leaves the method out. The documented effects hold: a `GET /__mock/state`
//! after a successful `PUT` returns what was put (whole, or of the tenant); a reset gives the
//! state the fixtures give a fresh store (whole, or the tenant's part), an empty journal (of
//! the tenant) and rule counters at 0; a scenario added is listed, a deleted one is not; a
//! snapshot file loads back as the state; a journal exported as a scenario parses; health
//! counts what is there. After every step the store's export restores, unchanged.
#![no_main]

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use ecs_mock::config::Config;
use ecs_mock::control;
use ecs_mock::fixtures::Fixtures;
use ecs_mock::protocol::params::{self, Params};
use ecs_mock::protocol::request::ApiRequest;
use ecs_mock::service::{self, App};
use ecs_mock::store::{StateDoc, Store};
use http_body_util::BodyExt;
use hyper::header::{ALLOW, CONTENT_TYPE};
use hyper::Method;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const SEED: u64 = 11;
const FIXTURES: &str = include_str!("../../tests/fixtures/accounts.json");
const TENANTS: [&str; 4] = ["ak-sample", "ak-sample-2", "t0", "outage-1"];
const INSTANCES: [&str; 3] = [
    "i-bp1sample000000001",
    "i-bp1sample00000win1",
    "i-2zesample000000001",
];
const PUBLIC_KEY: &str = include_str!("../../tests/fixtures/pubkeys/ecdsa256.pub");

const METHODS: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

const PATHS: &[&str] = &[
    "health",
    "scenarios",
    "scenarios/slow-describe",
    "scenarios/one-tenant-outage",
    "scenarios/a%20b",
    "scenarios/a+b&c",
    "scenarios/%zz",
    "reset",
    "state",
    "snapshot",
    "shutdown",
    "journal",
    "journal/retries",
    "journal/",
    "",
    "nope",
];

const QUERIES: &[&str] = &[
    "access_key_id=ak-sample",
    "access_key_id=ak-sample-2",
    "access_key_id=t0",
    "access_key_id=outage-1",
    "access_key_id=",
    "access_key_id=t0&access_key_id=t0",
    "bogus=1",
    "format=scenario",
    "format=scenario&access_key_id=outage-1&name=replay",
    "format=scenario&access_key_id=ak-sample&as_access_key_id=ci-*",
    "format=scenario&as_access_key_id=x",
    "format=scenario&name=%20",
    "format=entries&name=x",
    "format=yaml",
    "action=DescribeKeyPairs",
    "action=CreateKeypair",
    "action=ImportKeyPair&access_key_id=t0",
    "request_id=0",
    "window_ms=100",
    "window_ms=-1",
    "a=%zz",
];

/// Bodies from the repository: scenarios as files hold them.
const SCENARIOS: &[&str] = &[
    include_str!("../../scenarios/slow-describe.json"),
    include_str!("../../scenarios/one-tenant-outage.json"),
    include_str!("../../scenarios/throttle-then-succeed.json"),
    include_str!("../../scenarios/flaky-gateway.json"),
    include_str!("../../scenarios/retry-storm.json"),
];

/// One step. Decoded by hand, a byte per choice (a derived enum takes four for its variant):
/// a sequence of a dozen steps stays within the lengths libFuzzer tries first.
#[derive(Debug)]
enum Op {
    Control {
        method: u8,
        path: Path,
        query: Query,
        body: Body,
    },
    Api {
        action: u8,
        tenant: u8,
        name: bool,
        instance: u8,
    },
}

#[derive(Debug)]
enum Path {
    Known(u8),
    /// After the prefix, as it came.
    Raw(String),
}

#[derive(Debug)]
enum Query {
    None,
    Known(u8),
    Raw(String),
}

#[derive(Debug)]
enum Body {
    Empty,
    Scenario(u8),
    /// The store's export, whole or one tenant's (a `PUT` of it is accepted).
    Export(Option<u8>),
    Raw(Vec<u8>),
    /// Refused while it was read (over the control API's limit).
    TooLarge,
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let tag: u8 = u.arbitrary()?;
        if tag % 4 == 3 {
            let x: u8 = u.arbitrary()?;
            return Ok(Op::Api {
                action: tag >> 2,
                tenant: x % 8,
                name: x & 8 != 0,
                instance: x >> 4,
            });
        }
        let path = match u.arbitrary::<u8>()? {
            255 => Path::Raw(u.arbitrary()?),
            i => Path::Known(i),
        };
        let query = match u.arbitrary::<u8>()? {
            0 => Query::None,
            255 => Query::Raw(u.arbitrary()?),
            i => Query::Known(i - 1),
        };
        let b: u8 = u.arbitrary()?;
        let body = match b % 8 {
            2 => Body::Scenario(b >> 3),
            3 => Body::Export(None),
            4 => Body::Export(Some(b >> 3)),
            5 => Body::TooLarge,
            6 => Body::Raw(u.arbitrary()?),
            _ => Body::Empty,
        };
        Ok(Op::Control {
            method: tag >> 2,
            path,
            query,
            body,
        })
    }
}

struct Answer {
    status: u16,
    allow: Option<String>,
    json: Value,
}

fuzz_target!(|ops: Vec<Op>| {
    if ops.len() > 48 {
        return;
    }
    let _rt = runtime().enter();
    let (app, baseline) = app();
    // One app for all inputs (a fresh one, with its nonce table and key generation thread,
    // cost 5 ms an input): each starts with a full reset and no scenario, so from the state
    // the fixtures give. What carries over is counters no answer depends on (epochs, the
    // journal's sequence) and the journal's clock.
    let _ = send(app, &Method::POST, "/__mock/reset", None, Ok(Bytes::new()));
    let _ = send(
        app,
        &Method::DELETE,
        "/__mock/scenarios",
        None,
        Ok(Bytes::new()),
    );
    assert_eq!(
        app.store.export(),
        *baseline,
        "a reset gives the fixtures' state"
    );
    assert_eq!(app.journal.len(), 0);
    for op in ops {
        match op {
            Op::Control {
                method,
                path,
                query,
                body,
            } => {
                let method = METHODS[method as usize % METHODS.len()].clone();
                let path = format!(
                    "{}{}",
                    control::PREFIX,
                    match &path {
                        Path::Known(i) => PATHS[*i as usize % PATHS.len()],
                        Path::Raw(s) => s.as_str(),
                    }
                );
                let query = match &query {
                    Query::None => None,
                    Query::Known(i) => Some(QUERIES[*i as usize % QUERIES.len()].to_string()),
                    Query::Raw(s) => Some(s.clone()),
                };
                let body = match body {
                    Body::Empty => Ok(Bytes::new()),
                    Body::Scenario(i) => Ok(Bytes::from_static(
                        SCENARIOS[i as usize % SCENARIOS.len()].as_bytes(),
                    )),
                    Body::Export(tenant) => {
                        let doc = match tenant {
                            Some(t) => app.store.export_tenant(TENANTS[t as usize % 4]),
                            None => app.store.export(),
                        };
                        Ok(Bytes::from(serde_json::to_vec(&doc).unwrap()))
                    }
                    Body::Raw(mut b) => {
                        b.truncate(16 * 1024);
                        Ok(Bytes::from(b))
                    }
                    Body::TooLarge => Err("the body exceeds the limit".to_string()),
                };
                control_step(app, baseline, &method, &path, query.as_deref(), body);
            }
            Op::Api {
                action,
                tenant,
                name,
                instance,
            } => api_step(app, action, tenant, name, instance),
        }
        let exported = app.store.export();
        let again = Store::new(SEED);
        again
            .restore(exported.clone())
            .unwrap_or_else(|e| panic!("the state after a step is refused: {e}"));
        assert_eq!(again.export(), exported);
    }
    let _ = std::fs::remove_file(app.config.state_file.as_ref().expect("a state file"));
});

/// The app every input drives, and the state its fixtures give a fresh store.
fn app() -> &'static (Arc<App>, StateDoc) {
    static APP: OnceLock<(Arc<App>, StateDoc)> = OnceLock::new();
    APP.get_or_init(|| {
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), SEED);
        config.verify_signatures = false;
        config.request_window = None;
        config.journal_capacity = 32;
        // Fixture key pairs without a time of their own take this one at every reset.
        config.creation_time = Some(1_700_000_000);
        config.fixtures = vec![Fixtures::from_json(FIXTURES).expect("the sample fixtures load")];
        config.state_file = Some(state_file());
        let app = App::new(config).expect("an app without a state file starts");
        let store = Store::new(SEED);
        app.config.fixtures[0].apply(&store, app.config.creation_time_now());
        let baseline = store.export();
        (app, baseline)
    })
}

fn runtime() -> &'static tokio::runtime::Runtime {
    // Injected delays create timers: they need a runtime's timer, never driven here (an API
    // request still waiting after one poll is dropped, as by a client that gave up).
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

/// `--state-file` for the snapshots, on tmpfs where there is one: a save syncs the file.
fn state_file() -> PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    dir.join(format!("ecs-mock-fuzz-control-{}.json", std::process::id()))
}

fn send(
    app: &App,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Result<Bytes, String>,
) -> Answer {
    let resp = control::handle(app, method, path, query, body);
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers().get(CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..]),
        "{method} {path}"
    );
    let allow = resp
        .headers()
        .get(ALLOW)
        .map(|v| v.to_str().expect("Allow is ASCII").to_string());
    let mut collect = std::pin::pin!(resp.into_body().collect());
    let bytes = match collect
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(c)) => c.to_bytes(),
        other => panic!("a control body is plain, got {other:?}"),
    };
    let json = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{method} {path}: {status} with a body that is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&bytes)
        )
    });
    Answer {
        status,
        allow,
        json,
    }
}

fn get(app: &App, path: &str, query: Option<&str>) -> Value {
    let a = send(app, &Method::GET, path, query, Ok(Bytes::new()));
    assert_eq!(a.status, 200, "GET {path}?{query:?}: {}", a.json);
    a.json
}

fn scenario_names(app: &App) -> Vec<String> {
    get(app, "/__mock/scenarios", None)["scenarios"]
        .as_array()
        .expect("a list of scenarios")
        .iter()
        .map(|s| {
            s["name"]
                .as_str()
                .expect("a scenario has a name")
                .to_string()
        })
        .collect()
}

fn state_of(app: &App, tenant: Option<&str>) -> StateDoc {
    let query = tenant.map(|t| format!("access_key_id={t}"));
    serde_json::from_value(get(app, "/__mock/state", query.as_deref()))
        .expect("GET /__mock/state is a state document")
}

/// The one `access_key_id` of a query the endpoint accepted.
fn tenant_of(query: Option<&str>) -> Option<String> {
    let q = params::decode(query.unwrap_or("").as_bytes(), 100).expect("an accepted query");
    q.get("access_key_id").map(str::to_string)
}

fn control_step(
    app: &App,
    baseline: &StateDoc,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Result<Bytes, String>,
) {
    let names_before = scenario_names(app);
    let put = body.clone().ok();
    let a = send(app, method, path, query, body);
    let error = a.json.as_object().and_then(|o| {
        (o.len() == 1)
            .then(|| o.get("error"))
            .flatten()
            .map(|e| e.as_str().expect("the reason is text"))
    });
    match a.status {
        200 | 201 | 202 => assert!(error.is_none(), "{method} {path}: {}", a.json),
        400 | 404 | 405 | 413 => assert!(error.is_some(), "{method} {path}: {}", a.json),
        other => panic!("{method} {path}: undocumented status {other}: {}", a.json),
    }
    if a.status == 405 {
        let allow = a.allow.as_deref().expect("a 405 lists what the path takes");
        let listed: Vec<&str> = allow.split(", ").collect();
        assert!(!listed.contains(&method.as_str()), "{method} in {allow}");
        assert!(!listed.is_empty() && listed.iter().all(|m| m.parse::<Method>().is_ok()));
    } else {
        assert_eq!(a.allow, None, "Allow without a 405");
    }
    if a.status >= 400 {
        return;
    }
    let rest = &path[control::PREFIX.len()..];
    let m = method.as_str();
    match (m, rest) {
        ("GET", "health") => {
            assert_eq!(a.json["seed"], SEED);
            assert_eq!(a.json["journal_entries"], app.journal.len());
            assert_eq!(a.json["scenarios"], names_before.len());
        }
        ("PUT", "state") => {
            let sent: StateDoc =
                serde_json::from_slice(ecs_mock::jsondoc::without_bom(&put.unwrap()))
                    .expect("an accepted document parses");
            let tenant = tenant_of(query);
            assert_eq!(
                state_of(app, tenant.as_deref()),
                sent,
                "GET after PUT of {tenant:?}"
            );
        }
        ("POST", "reset") => match tenant_of(query) {
            None => {
                assert_eq!(app.store.export(), *baseline, "a full reset");
                assert_eq!(app.journal.len(), 0);
                assert_eq!(counts(app, None), 0);
            }
            Some(t) => {
                assert_eq!(app.store.export_tenant(&t), part(baseline, &t));
                let journal = get(app, "/__mock/journal", Some(&format!("access_key_id={t}")));
                assert_eq!(journal["entries"], Value::Array(vec![]), "{t}'s journal");
                assert_eq!(counts(app, Some(&t)), 0);
            }
        },
        ("POST", "scenarios") => {
            let name = a.json["name"].as_str().expect("the name added").to_string();
            assert_eq!(
                a.status == 200,
                names_before.contains(&name),
                "200 replaces, 201 adds"
            );
            assert!(scenario_names(app).contains(&name));
        }
        ("DELETE", "scenarios") => {
            assert_eq!(a.json["removed"], names_before.len());
            assert!(scenario_names(app).is_empty());
        }
        ("DELETE", named) if named.starts_with("scenarios/") => {
            let name = params::decode_path_segment(named["scenarios/".len()..].as_bytes())
                .expect("a removed name decodes");
            assert!(names_before.contains(&name));
            assert!(!scenario_names(app).contains(&name));
        }
        ("POST", "snapshot") => {
            let saved = a.json["saved"].as_str().expect("the path saved");
            let loaded = ecs_mock::persist::load(std::path::Path::new(saved))
                .expect("a snapshot loads")
                .expect("a snapshot is there");
            assert_eq!(loaded, app.store.export());
        }
        ("GET", "journal") if a.json.get("rules").is_some() => {
            let text = a.json.to_string();
            ecs_mock::scenario::file::parse(&text)
                .unwrap_or_else(|e| panic!("an exported journal does not parse: {e:?}"));
        }
        _ => {}
    }
}

/// `tenant`'s part of `doc`, as `GET /__mock/state?access_key_id=` gives it.
fn part(doc: &StateDoc, tenant: &str) -> StateDoc {
    let mut part = doc.clone();
    part.accounts.retain(|t, _| t == tenant);
    part.request_ordinals.retain(|t, _| t == tenant);
    part
}

/// The sum of the rule counters (of one tenant, or all).
fn counts(app: &App, tenant: Option<&str>) -> u64 {
    let query = tenant.map(|t| format!("access_key_id={t}"));
    get(app, "/__mock/scenarios", query.as_deref())["scenarios"]
        .as_array()
        .expect("a list")
        .iter()
        .flat_map(|s| s["counts"].as_array().cloned().unwrap_or_default())
        .map(|c| c["calls"].as_u64().unwrap() + c["fired"].as_u64().unwrap())
        .sum()
}

fn api_step(app: &App, action: u8, tenant: u8, name: bool, instance: u8) {
    let name = if name { "k1" } else { "k2" };
    let instance = INSTANCES[instance as usize % INSTANCES.len()];
    let instances = format!("[\"{instance}\"]");
    let names = format!("[\"{name}\"]");
    let (action, extra): (&str, Vec<(&str, &str)>) = match action % 9 {
        0 => ("DescribeKeyPairs", vec![]),
        1 => (
            "ImportKeyPair",
            vec![("KeyPairName", name), ("PublicKeyBody", PUBLIC_KEY.trim())],
        ),
        2 => ("DeleteKeyPairs", vec![("KeyPairNames", &names)]),
        3 => (
            "AttachKeyPair",
            vec![("KeyPairName", name), ("InstanceIds", &instances)],
        ),
        4 => (
            "DetachKeyPair",
            vec![("KeyPairName", name), ("InstanceIds", &instances)],
        ),
        5 => ("DescribeRegions", vec![]),
        6 => (
            "TagResources",
            vec![
                ("ResourceType", "keypair"),
                ("ResourceId.1", name),
                ("Tag.1.Key", "env"),
                ("Tag.1.Value", "ci"),
            ],
        ),
        7 => (
            "JoinResourceGroup",
            vec![
                ("ResourceType", "keypair"),
                ("ResourceId", name),
                ("ResourceGroupId", "rg-aek2sample000001"),
            ],
        ),
        _ => ("NoSuchAction", vec![]),
    };
    let mut pairs = vec![
        ("Action", action),
        ("Version", "2014-05-26"),
        ("RegionId", "cn-hangzhou"),
        ("Format", "JSON"),
    ];
    if let Some(t) = TENANTS.get(tenant as usize % 5) {
        pairs.push(("AccessKeyId", t));
    }
    pairs.extend(extra);
    let query = params::encode(pairs.iter().copied());
    let req = ApiRequest::new(
        "GET",
        "/",
        Some(&query),
        Params::from_pairs([("host", "127.0.0.1")]),
        Bytes::new(),
        app.config.limits.max_params,
    )
    .expect("an encoded query decodes");
    let mut answer = std::pin::pin!(service::process(app, &req));
    // A request still waiting (a scenario's delay) is dropped, as by a client giving up.
    if let Poll::Ready(Ok(resp)) = answer
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        assert!((200..600).contains(&resp.status().as_u16()));
    }
}
