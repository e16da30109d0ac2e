//! Heap allocations per request, counted in-process: the cheap loads of the benchmark must stay
//! within a budget, so that a change which starts allocating per parameter, per header or per
//! listed item fails here instead of only showing as noise in `bench` (issue 7: no
//! per-request allocation storms; docs/performance.md, "Instructions per request").
//!
//! Requests go through what the server runs after hyper has parsed them (decoding, RequestId,
//! scenario decision, V1 check, nonce set, the action, rendering, the journal), on this test's
//! thread, and only this thread's allocations are counted. The journal is small so that it is
//! full, as in a long-running server, and recycles its entries' buffers.
//!
//! The budgets are the counts of the build that added this test, the same in release and
//! debug builds (15 / 18 / 16.1 / 26 per DescribeKeyPairs page, filtered page, error and
//! import), plus two: room for a small change, none for one allocation per parameter or per
//! item. Lower them when a change saves allocations (ImportKeyPair's: 22 since it borrows the
//! request's parameters, writes its own JSON and checks the name without a lower-case copy).
//! A page requested as the Python SDK sends it (POST, eleven headers, V3) took 127 until the
//! V3 check was written into one buffer, 31 until its `Authorization` was borrowed rather than
//! copied field by field, 20 since: its budget is 22.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use ecs_mock::config::Config;
use ecs_mock::loadgen::{synthetic_rsa_public_key, v1_signed_query, v3_sdk_query_and_headers};
use ecs_mock::protocol::params::Params;
use ecs_mock::protocol::request::ApiRequest;
use ecs_mock::service::{self, App};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the allocator also runs while this thread's locals are being torn down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed unchanged to `System`; the counter only reads and writes a
// thread-local `Cell`, which neither allocates nor unwinds.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SECRET: &str = "mock-secret";
const REGION: &str = "cn-hangzhou";
/// Full after the warm-up, so that the measured requests recycle evicted entries' buffers.
const JOURNAL: usize = 64;
const WARM_UP: usize = 200;
const MEASURED: usize = 400;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

struct Pipeline {
    runtime: tokio::runtime::Runtime,
    app: std::sync::Arc<App>,
}

impl Pipeline {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut config = Config::new("127.0.0.1:0".parse().unwrap(), 7);
        config.journal_capacity = JOURNAL;
        let app = App::new(config).expect("app");
        Self { runtime, app }
    }

    /// A request as the server hands it to the pipeline once hyper has parsed it.
    fn request(&self, wire: &Wire) -> ApiRequest {
        ApiRequest::new(
            wire.method,
            "/",
            Some(&wire.query),
            // Headers collected as the server collects them (`service`).
            Params::from_pairs_twice(|| wire.headers.iter().map(|(k, v)| (&k[..], &v[..]))),
            Bytes::new(),
            self.app.config.limits.max_params,
        )
        .expect("decodes")
    }

    /// Runs each request through the pipeline; returns the statuses.
    fn run<W: Into<Wire> + Clone>(&self, requests: &[W]) -> Vec<u16> {
        let requests: Vec<Wire> = requests.iter().cloned().map(Into::into).collect();
        self.run_wires(&requests)
    }

    fn run_wires(&self, requests: &[Wire]) -> Vec<u16> {
        self.runtime.block_on(async {
            let mut statuses = Vec::with_capacity(requests.len());
            for q in requests {
                let resp = service::process(&self.app, &self.request(q))
                    .await
                    .expect("answered");
                statuses.push(resp.status().as_u16());
            }
            statuses
        })
    }

    /// 500 key pairs for tenant `lister` to list.
    fn fill_lister(&self) {
        let prefill: Vec<String> = (0..500)
            .map(|i| import_query("lister", &format!("pre-{i}"), 1_000 + i))
            .collect();
        assert!(self.run(&prefill).iter().all(|s| *s == 200));
    }

    /// The body of the answer to `query`.
    fn body(&self, query: &str) -> String {
        use http_body_util::BodyExt as _;
        self.runtime.block_on(async {
            let resp = service::process(&self.app, &self.request(&query.to_string().into()))
                .await
                .expect("answered");
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            String::from_utf8(bytes.to_vec()).expect("UTF-8")
        })
    }

    /// Runs `query(0..WARM_UP)` to reach the steady state, then holds the next `measured`
    /// requests, each of which must be answered `status`, to `budget` allocations per request.
    /// The queries are built before counting starts; `run`'s vector of statuses, one
    /// allocation, is counted too (negligible over hundreds of requests).
    fn hold_to_budget<W: Into<Wire>>(
        &self,
        load: &str,
        query: impl Fn(usize) -> W,
        measured: usize,
        status: u16,
        budget: f64,
    ) {
        let warm: Vec<Wire> = (0..WARM_UP).map(|i| query(i).into()).collect();
        let measured: Vec<Wire> = (WARM_UP..WARM_UP + measured)
            .map(|i| query(i).into())
            .collect();
        self.run_wires(&warm);
        let before = allocations();
        let statuses = self.run_wires(&measured);
        let per_request = (allocations() - before) as f64 / measured.len() as f64;
        assert!(
            statuses.iter().all(|s| *s == status),
            "{load}: every request answered {status}: {statuses:?}"
        );
        eprintln!("{load}: {per_request:.2} allocations per request (budget {budget})");
        assert!(
            per_request <= budget,
            "{load}: {per_request:.2} allocations per request, over the budget of {budget}"
        );
    }
}

/// What the pipeline is given of a request: its method, query and headers.
#[derive(Clone)]
struct Wire {
    method: &'static str,
    query: String,
    headers: Vec<(String, String)>,
}

/// A V1 query as the benchmark sends it: a GET with only `Host`.
impl From<String> for Wire {
    fn from(query: String) -> Self {
        Self {
            method: "GET",
            query,
            headers: vec![("host".into(), "127.0.0.1".into())],
        }
    }
}

fn import_query(tenant: &str, name: &str, key_seed: u64) -> String {
    let key = synthetic_rsa_public_key(key_seed);
    let params = [
        ("RegionId", REGION),
        ("KeyPairName", name),
        ("PublicKeyBody", &key[..]),
    ];
    v1_signed_query("GET", tenant, SECRET, "ImportKeyPair", &params)
}

fn describe_query(page: usize) -> String {
    let page = page.to_string();
    let params = [
        ("RegionId", REGION),
        ("PageSize", "50"),
        ("PageNumber", &page[..]),
    ];
    v1_signed_query("GET", "lister", SECRET, "DescribeKeyPairs", &params)
}

/// A filtered page: rendered item by item for every request (only unfiltered JSON pages are
/// kept rendered).
fn filtered_describe_query(page: usize) -> String {
    let page = page.to_string();
    let params = [
        ("RegionId", REGION),
        ("KeyPairName", "pre-*"),
        ("PageSize", "50"),
        ("PageNumber", &page[..]),
    ];
    v1_signed_query("GET", "lister", SECRET, "DescribeKeyPairs", &params)
}

#[test]
fn describe_key_pairs_pages_stay_within_their_allocation_budget() {
    let p = Pipeline::new();
    p.fill_lister();
    // Pages 1-10 of 50, again and again, as the benchmark lists them.
    let page = |i| describe_query(i % 10 + 1);
    p.hold_to_budget("DescribeKeyPairs", page, MEASURED, 200, 17.0);
    // Every item of the filtered pages matches: they are 50 items long, like the others.
    let body = p.body(&filtered_describe_query(3));
    assert!(body.contains(r#""TotalCount":500"#), "{body}");
    assert_eq!(body.matches(r#""KeyPairName":"pre-"#).count(), 50, "{body}");
    let filtered = |i| filtered_describe_query(i % 10 + 1);
    p.hold_to_budget("DescribeKeyPairs, filtered", filtered, 100, 200, 20.0);
}

#[test]
fn a_validation_error_stays_within_its_allocation_budget() {
    let p = Pipeline::new();
    // Each with its own SignatureNonce, as `v1_signed_query` makes them.
    let query = |_| {
        v1_signed_query(
            "GET",
            "errors",
            SECRET,
            "CreateKeyPair",
            &[("RegionId", REGION), ("KeyPairName", "1bad")],
        )
    };
    p.hold_to_budget("forced error", query, MEASURED, 400, 18.0);
}

#[test]
fn import_key_pair_stays_within_its_allocation_budget() {
    let p = Pipeline::new();
    // Unique names, within one tenant's 500 key pairs per region (warm-up included). What an
    // import keeps (the key pair and its strings) is counted too.
    let query = |i: usize| import_query("importer", &format!("imp-{i}"), i as u64);
    p.hold_to_budget("ImportKeyPair", query, 250, 200, 24.0);
}

#[test]
fn a_page_as_the_python_sdk_sends_it_stays_within_its_allocation_budget() {
    let p = Pipeline::new();
    p.fill_lister();
    // POSTs with the parameters in the query, eleven headers and a V3 signature, each with
    // its own nonce (`describe-v3` of the benchmark).
    let page = |i: usize| {
        let page = (i % 10 + 1).to_string();
        let (query, headers) = v3_sdk_query_and_headers(
            "127.0.0.1",
            "lister",
            SECRET,
            "DescribeKeyPairs",
            &[
                ("RegionId", REGION),
                ("PageSize", "50"),
                ("PageNumber", &page),
            ],
        );
        Wire {
            method: "POST",
            query,
            headers,
        }
    };
    p.hold_to_budget("DescribeKeyPairs, py-v2 V3", page, MEASURED, 200, 22.0);
}
