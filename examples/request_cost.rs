//! Profiling aid (not a test): the user-space cost of one request, without HTTP or sockets.
//!
//! Signed V1 requests (DescribeKeyPairs pages of 50 out of 500, a validation error,
//! ImportKeyPair) go through what the server does after hyper has parsed them: decoding,
//! RequestId, scenario decision, signature and nonce checks, the action, rendering and the
//! journal. Throughput over loopback is noisy on a shared two-core machine; instruction counts
//! are not, so this is how two builds are compared:
//!
//! ```sh
//! cargo build --release --example request_cost
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='request_cost::measure*' target/release/examples/request_cost describe
//! callgrind_annotate /tmp/cg.out | head   # PROGRAM TOTALS: instructions in the pipeline
//! ```
//!
//! Counts include the prefill and the warm-up pass (a tenth of the requests); the difference
//! between two request counts leaves only requests:
//!
//! ```sh
//! # (Ir with --requests 2000) - (Ir with --requests 1000), divided by 1,100
//! ```
//!
//! Without valgrind it prints wall time per request. Arguments: which loads (`describe`,
//! `error`, `import`; default all) and `--requests N` (default 2,000).

use std::time::{Duration, Instant};

use bytes::Bytes;
use ecs_mock::config::Config;
use ecs_mock::loadgen::{synthetic_rsa_public_key, v1_signed_query};
use ecs_mock::protocol::params::Params;
use ecs_mock::protocol::request::ApiRequest;
use ecs_mock::service::{self, App};

// The server's allocator, so that counts include what allocation really costs it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECRET: &str = "mock-secret";
const REGION: &str = "cn-hangzhou";

fn main() {
    // As the server does (src/main.rs): with huge pages, zeroing each fresh 2 MiB page was
    // most of this example's wall time, which the server never pays.
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
    let mut loads = Vec::new();
    let mut requests = 2_000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--requests" => {
                requests = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .expect("--requests N")
            }
            "describe" | "error" | "import" => loads.push(arg),
            other => panic!("unknown argument {other:?}"),
        }
    }
    if loads.is_empty() {
        loads = vec!["describe".into(), "error".into(), "import".into()];
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let app = App::new(Config::new("127.0.0.1:0".parse().unwrap(), 7)).expect("app");
    // The listing's 500 key pairs, imported through the same path.
    let prefill: Vec<String> = (0..500)
        .map(|i| {
            let key = synthetic_rsa_public_key(1_000_000 + i);
            let name = format!("pre-{i}");
            let params = [
                ("RegionId", REGION),
                ("KeyPairName", &name[..]),
                ("PublicKeyBody", &key[..]),
            ];
            v1_signed_query("GET", "describe", SECRET, "ImportKeyPair", &params)
        })
        .collect();
    assert_eq!(measure(&runtime, &app, &prefill), prefill.len());
    for load in loads {
        let queries: Vec<String> = (0..requests).map(|i| query(&load, i)).collect();
        // A first pass warms caches and the listing's memoised parts; the second is measured.
        let warm: Vec<String> = (0..requests / 10)
            .map(|i| query(&load, requests + i))
            .collect();
        measure(&runtime, &app, &warm);
        let start = Instant::now();
        let ok = measure(&runtime, &app, &queries);
        let per = start.elapsed() / requests.max(1) as u32;
        assert_eq!(ok, if load == "error" { 0 } else { requests }, "{load}");
        println!(
            "{load:<9} {:>7.2} us/request (wall, {requests} requests)",
            us(per)
        );
    }
}

fn query(load: &str, i: usize) -> String {
    match load {
        "describe" => {
            let page = (i % 10 + 1).to_string();
            let params = [
                ("RegionId", REGION),
                ("PageSize", "50"),
                ("PageNumber", &page[..]),
            ];
            v1_signed_query("GET", "describe", SECRET, "DescribeKeyPairs", &params)
        }
        "error" => v1_signed_query(
            "GET",
            "error",
            SECRET,
            "CreateKeyPair",
            &[("RegionId", REGION), ("KeyPairName", "1bad")],
        ),
        _ => {
            // 500 per region per tenant: a new tenant for each 500.
            let key = synthetic_rsa_public_key(i as u64);
            let name = format!("imp-{i}");
            let tenant = format!("import-{}", i / 500);
            let params = [
                ("RegionId", REGION),
                ("KeyPairName", &name[..]),
                ("PublicKeyBody", &key[..]),
            ];
            v1_signed_query("GET", &tenant, SECRET, "ImportKeyPair", &params)
        }
    }
}

/// Runs `queries` through the pipeline; returns how many were answered 200.
#[inline(never)]
fn measure(runtime: &tokio::runtime::Runtime, app: &App, queries: &[String]) -> usize {
    runtime.block_on(async {
        let mut ok = 0;
        for q in queries {
            let req = ApiRequest::new(
                "GET",
                "/",
                Some(q),
                Params::from_pairs([("host", "127.0.0.1")]),
                Bytes::new(),
                app.config.limits.max_params,
            )
            .expect("decodes");
            let resp = service::process(app, &req).await.expect("answered");
            ok += usize::from(resp.status() == 200);
        }
        ok
    })
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
