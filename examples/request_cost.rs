//! Profiling aid (not a test): the user-space cost of one request, without HTTP or sockets.
//!
//! Signed V1 requests (DescribeKeyPairs pages of 50 out of 500, a validation error,
//! ImportKeyPair), and the same pages as the Python SDK sends them (`describe-v3`: a POST with
//! eleven headers and a V3 signature), go through what the server does after hyper has parsed
//! them: decoding, RequestId, scenario decision, signature and nonce checks, the action,
//! rendering and the journal. Throughput over loopback is noisy on a shared two-core machine;
//! instruction counts are not, so this is how two builds are compared:
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
//! `error`, `import`, `describe-v3`; default the first three), `--requests N` (default 2,000)
//! and `--threads N` (default 1): N threads, each with its own tenants, run the load at once
//! through one App, as the server's request threads do, or with `--apart` through an App each.
//! The two together tell what sharing the App's state between threads costs
//! (docs/performance.md).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ecs_mock::config::Config;
use ecs_mock::loadgen::{synthetic_rsa_public_key, v1_signed_query, v3_sdk_query_and_headers};
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
    let mut threads = 1;
    let mut apart = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> usize {
            args.next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{what} N"))
        };
        match arg.as_str() {
            "--requests" => requests = number("--requests"),
            "--threads" => threads = number("--threads").max(1),
            "--apart" => apart = true,
            "describe" | "error" | "import" | "describe-v3" => loads.push(arg),
            other => panic!("unknown argument {other:?}"),
        }
    }
    if loads.is_empty() {
        loads = vec!["describe".into(), "error".into(), "import".into()];
    }
    let new_app = || App::new(Config::new("127.0.0.1:0".parse().unwrap(), 7)).expect("app");
    let shared = new_app();
    let apps: Vec<Arc<App>> = (0..threads)
        .map(|_| {
            if apart {
                new_app()
            } else {
                Arc::clone(&shared)
            }
        })
        .collect();
    // Each thread's listing: 500 key pairs, imported through the same path.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for (t, app) in apps.iter().enumerate() {
        let prefill: Vec<Wire> = (0..500)
            .map(|i| {
                let key = synthetic_rsa_public_key(1_000_000 + i);
                let name = format!("pre-{i}");
                let params = [
                    ("RegionId", REGION),
                    ("KeyPairName", &name[..]),
                    ("PublicKeyBody", &key[..]),
                ];
                Wire::get(v1_signed_query(
                    "GET",
                    &tenant("describe", t),
                    SECRET,
                    "ImportKeyPair",
                    &params,
                ))
            })
            .collect();
        assert_eq!(measure(&runtime, app, &prefill), prefill.len());
    }
    for load in loads {
        // Each thread its own requests (its own tenants for imports), all started together.
        let start = Arc::new(Barrier::new(threads));
        let runs: Vec<_> = apps
            .iter()
            .enumerate()
            .map(|(t, app)| {
                let (app, start, load) = (Arc::clone(app), Arc::clone(&start), load.clone());
                std::thread::spawn(move || run(&app, &load, t, requests, &start))
            })
            .collect();
        let per: Vec<String> = runs
            .into_iter()
            .map(|r| format!("{:.2}", us(r.join().expect("thread"))))
            .collect();
        let how = match (threads, apart) {
            (1, _) => String::new(),
            (_, false) => format!(", {threads} threads on one App"),
            (_, true) => format!(", {threads} threads with an App each"),
        };
        println!(
            "{load:<9} {:>7} us/request (wall, {requests} requests{how})",
            per.join(" / ")
        );
    }
}

/// Thread `t`'s pass over `load`: a warm-up pass, then the measured one. Returns the wall
/// time per request.
fn run(app: &App, load: &str, t: usize, requests: usize, start: &Barrier) -> Duration {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let queries: Vec<Wire> = (0..requests).map(|i| query(load, t, i)).collect();
    // A first pass warms caches and the listing's memoised parts; the second is measured.
    let warm: Vec<Wire> = (0..requests / 10)
        .map(|i| query(load, t, requests + i))
        .collect();
    measure(&runtime, app, &warm);
    start.wait();
    let began = Instant::now();
    let ok = measure(&runtime, app, &queries);
    let per = began.elapsed() / requests.max(1) as u32;
    assert_eq!(ok, if load == "error" { 0 } else { requests }, "{load}");
    per
}

/// A request as hyper hands it over: method, query string and headers.
struct Wire {
    method: &'static str,
    query: String,
    headers: Vec<(String, String)>,
}

impl Wire {
    fn get(query: String) -> Self {
        Self {
            method: "GET",
            query,
            headers: vec![("host".into(), "127.0.0.1".into())],
        }
    }
}

fn query(load: &str, t: usize, i: usize) -> Wire {
    let page = (i % 10 + 1).to_string();
    let page_params = [
        ("RegionId", REGION),
        ("PageSize", "50"),
        ("PageNumber", &page[..]),
    ];
    match load {
        "describe" => Wire::get(v1_signed_query(
            "GET",
            &tenant("describe", t),
            SECRET,
            "DescribeKeyPairs",
            &page_params,
        )),
        "describe-v3" => {
            // Each with its own nonce, like the SDK's.
            let (query, headers) = v3_sdk_query_and_headers(
                "127.0.0.1",
                &tenant("describe", t),
                SECRET,
                "DescribeKeyPairs",
                &page_params,
            );
            Wire {
                method: "POST",
                query,
                headers,
            }
        }
        "error" => Wire::get(v1_signed_query(
            "GET",
            &tenant("error", t),
            SECRET,
            "CreateKeyPair",
            &[("RegionId", REGION), ("KeyPairName", "1bad")],
        )),
        _ => {
            // 500 per region per tenant: a new tenant for each 500.
            let key = synthetic_rsa_public_key(i as u64);
            let name = format!("imp-{i}");
            let tenant = tenant(&format!("import-{}", i / 500), t);
            let params = [
                ("RegionId", REGION),
                ("KeyPairName", &name[..]),
                ("PublicKeyBody", &key[..]),
            ];
            Wire::get(v1_signed_query(
                "GET",
                &tenant,
                SECRET,
                "ImportKeyPair",
                &params,
            ))
        }
    }
}

/// Thread `t`'s name for tenant `name` (thread 0's is `name`, as before threads were added,
/// so that single-thread counts compare with earlier ones).
fn tenant(name: &str, t: usize) -> String {
    match t {
        0 => name.to_string(),
        _ => format!("{name}-t{t}"),
    }
}

/// Runs `queries` through the pipeline; returns how many were answered 200.
#[inline(never)]
fn measure(runtime: &tokio::runtime::Runtime, app: &App, requests: &[Wire]) -> usize {
    runtime.block_on(async {
        let mut ok = 0;
        for w in requests {
            let req = ApiRequest::new(
                w.method,
                "/",
                Some(&w.query),
                Params::from_pairs(w.headers.iter().map(|(k, v)| (&k[..], &v[..]))),
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
