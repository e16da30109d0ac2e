//! Benchmark (not a test): what a loaded scenario of 100 rules that never match costs per
//! request, in `Engine::decide` alone and end to end over HTTP; and, in `decide` alone, 100
//! rules that count every request without firing (on their `nth`, or on a draw), and one rule
//! that fires on every request.
//!
//! ```sh
//! cargo run --release --example scenario_overhead [-- --decide-only]
//! ```
//!
//! The rules match the action but not the tenant, so each one is evaluated past its first
//! check. Signature checking is off so the engine's share is not hidden by HMAC work.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ecs_mock::actions::Action;
use ecs_mock::config::Config;
use ecs_mock::protocol::params::Params;
use ecs_mock::scenario::{file, Engine, Input};
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::json;

const RULES: usize = 100;
const DECISIONS: u32 = 200_000;
const REQUESTS: u32 = 5_000;

fn hundred_misses() -> ecs_mock::scenario::Scenario {
    let rules: Vec<_> = (0..RULES)
        .map(|i| {
            json!({"match": {"action": "CreateKeyPair", "access_key_id": format!("other-{i}-*"),
                             "params": {"KeyPairName": "never-*"}},
                   "effect": {"error": "Throttling"}})
        })
        .collect();
    file::from_value(json!({"name": "misses", "rules": rules})).expect("valid")
}

/// Rules that count every CreateKeyPair (each needs a counter) and never fire.
fn hundred_counting(criterion: serde_json::Value) -> ecs_mock::scenario::Scenario {
    let rules: Vec<_> = (0..RULES)
        .map(|_| {
            let mut m = json!({"action": "CreateKeyPair"});
            m.as_object_mut()
                .expect("object")
                .extend(criterion.as_object().expect("object").clone());
            json!({"match": m, "effect": {"error": "Throttling"}})
        })
        .collect();
    file::from_value(json!({"name": "counting", "rules": rules})).expect("valid")
}

fn one_firing() -> ecs_mock::scenario::Scenario {
    file::from_value(json!({"name": "firing", "rules": [{"effect": "pass"}]})).expect("valid")
}

/// The best of five rounds: machine noise only adds.
fn per_decision(engine: &Engine, params: &Params, fires: bool) -> Duration {
    (0..5)
        .map(|_| per_decision_once(engine, params, fires))
        .min()
        .expect("five rounds")
}

fn per_decision_once(engine: &Engine, params: &Params, fires: bool) -> Duration {
    let input = Input {
        action: Action::CreateKeyPair,
        tenant: "bench",
        region_id: Some("cn-hangzhou"),
        params,
        now_unix: 1_700_000_000,
    };
    let start = Instant::now();
    for _ in 0..DECISIONS {
        assert_eq!(engine.decide(&input).is_some(), fires);
    }
    start.elapsed() / DECISIONS
}

async fn per_request(config: Config) -> Duration {
    let server = ecs_mock::Server::bind(config).await.expect("bind");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    // A CreateKeyPair without KeyPairName: the whole pipeline runs, no key is generated.
    let uri = "/?Action=CreateKeyPair&Version=2014-05-26&AccessKeyId=bench&Format=JSON&RegionId=cn-hangzhou";
    let mut total = Duration::ZERO;
    for i in 0..REQUESTS + 500 {
        let req = Request::get(uri)
            .header("host", addr.to_string())
            .body(Full::new(Bytes::new()))
            .unwrap();
        let start = Instant::now();
        let resp = sender.send_request(req).await.expect("send");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        if i >= 500 {
            total += start.elapsed(); // the first 500 warm up
        }
        assert!(body.starts_with(b"{\"RequestId\""));
    }
    let _ = stop.send(());
    let _ = task.await;
    total / REQUESTS
}

fn main() {
    let params = Params::from_pairs([("RegionId", "cn-hangzhou"), ("KeyPairName", "k")]);
    let empty = per_decision(&Engine::new(0, vec![]), &params, false);
    let loaded = per_decision(
        &Engine::new(0, vec![(hundred_misses(), None)]),
        &params,
        false,
    );
    let counting = per_decision(
        &Engine::new(
            0,
            vec![(hundred_counting(json!({"nth": 1_000_000_000u64})), None)],
        ),
        &params,
        false,
    );
    let drawing = per_decision(
        &Engine::new(
            0,
            vec![(hundred_counting(json!({"probability": 0.0})), None)],
        ),
        &params,
        false,
    );
    let firing = per_decision(&Engine::new(0, vec![(one_firing(), None)]), &params, true);
    println!(
        "Engine::decide (best of 5): {empty:?} with no scenario, {loaded:?} with {RULES} non-matching rules, \
         {counting:?} with {RULES} rules counting to an nth never reached, {drawing:?} with {RULES} \
         rules of probability 0, {firing:?} with one rule that fires"
    );
    if std::env::args().any(|a| a == "--decide-only") {
        return;
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut base = Config::new("127.0.0.1:0".parse().unwrap(), 0);
    base.verify_signatures = false;
    let mut with = base.clone();
    with.scenarios = vec![(hundred_misses(), None)];
    // Alternate the two servers and keep each one's best round: machine noise only adds.
    let (mut plain, mut faulty) = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        plain = plain.min(runtime.block_on(per_request(base.clone())));
        faulty = faulty.min(runtime.block_on(per_request(with.clone())));
    }
    println!(
        "HTTP round trip (best of 5): {plain:?} without scenarios, {faulty:?} with {RULES} non-matching rules (ratio {:.3})",
        faulty.as_secs_f64() / plain.as_secs_f64()
    );
}
