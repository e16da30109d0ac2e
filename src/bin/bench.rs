//! `cargo run --release --bin bench`: ecs-mock's performance figures, each with its ratio to
//! a reference measured in the same run on the same machine.
//!
//! It builds and starts the real `ecs-mock` binary (release, next to this one) on loopback and
//! drives it with its own load generator: keep-alive HTTP/1.1 connections, V1-signed GET
//! requests built (and signed) before each timed phase, a bounded number of requests and a
//! time limit per phase. References: OpenSSL's RSA-2048 generation in-process through Python
//! `cryptography` (skipped if that is not importable), a minimal hyper hello-world server
//! (this binary, `bench hello`), and moto's EC2 (skipped if `moto.server` is not importable).
//!
//! ```text
//! cargo run --release --bin bench [-- --quick] [--python PATH] [--skip-moto]
//! ```
//! Nothing here asserts: the numbers are for reading, never for failing a build.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use clap::Parser;
use ecs_mock::{keygen, loadgen, signature};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "ecs-mock performance figures with same-run ratios"
)]
struct Args {
    /// Fewer requests per phase (about 40 s in all, moto included, instead of 1.5-4 minutes).
    #[arg(long)]
    quick: bool,
    /// Python interpreter for the OpenSSL (`cryptography`) and moto references.
    #[arg(long, default_value = "python3")]
    python: String,
    /// Length of the soak section in seconds.
    #[arg(long, default_value_t = 60)]
    soak_secs: u64,
    /// Do not measure moto even if it is installed.
    #[arg(long)]
    skip_moto: bool,
    /// Run only these sections (repeatable; default all).
    #[arg(long, value_enum)]
    only: Vec<Section>,
    /// In the cheap section, run only these loads (repeatable; default all three): one load
    /// alone is what to profile the server under.
    #[arg(long, value_enum)]
    load: Vec<Load>,
    /// The ecs-mock binary (default: `ecs-mock` next to this binary, built first when run
    /// through cargo).
    #[arg(long)]
    server: Option<PathBuf>,
    #[command(subcommand)]
    mode: Option<Mode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// RSA-2048 generation in-process (OpenSSL, rsa, ecs-mock).
    Keygen,
    /// CreateKeyPair over HTTP: fresh, warm cache, fast.
    Create,
    /// Cheap actions at c=64 vs hello-world, idle and while keys generate.
    Cheap,
    /// Cold start and RSS.
    Startup,
    /// moto side by side.
    Moto,
    /// Mixed actions for a fixed time; RSS at start and end (not part of the default run).
    Soak,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Load {
    /// DescribeKeyPairs, pages of 50 out of 500.
    Describe,
    /// A forced validation error.
    Error,
    /// ImportKeyPair with unique names.
    Import,
    /// The same ImportKeyPair requests as form bodies of POSTs, the way hand-written clients
    /// may send them (not part of the default run: `--load import-post`).
    ImportPost,
    /// The DescribeKeyPairs pages as the default Python SDK sends them: POSTs with the
    /// parameters in the query, an empty body and a V3 signature over nine headers (not part
    /// of the default run: `--load describe-v3`).
    DescribeV3,
}

impl Load {
    /// The load's name in the report.
    fn label(self) -> &'static str {
        match self {
            Load::Describe => "DescribeKeyPairs (50 of 500)",
            Load::Error => "forced error (bad KeyPairName)",
            Load::Import => "ImportKeyPair",
            Load::ImportPost => "ImportKeyPair, POST form",
            Load::DescribeV3 => "DescribeKeyPairs, py-v2 (POST, V3)",
        }
    }
}

#[derive(Debug, clap::Subcommand)]
enum Mode {
    /// Serve `Hello, World!` on 127.0.0.1:0 (the reference server; prints its address).
    Hello {
        /// Busy-wait this many microseconds in each request before answering (a stand-in
        /// for the work a real server does beyond HTTP).
        #[arg(long, default_value_t = 0)]
        work_us: u64,
        /// Answer with a body of this many bytes instead of `Hello, World!` (the size of
        /// another server's response, so that a line can show what the bytes alone cost).
        #[arg(long)]
        body_bytes: Option<usize>,
    },
}

const SECRET: &str = "mock-secret";
/// The busy-wait of the working hello-world: about what a signature check, a small action
/// and its rendering cost ecs-mock per request, so that its line shows what any server doing
/// that much beyond HTTP reaches against the bare one here.
const HELLO_WORK: Duration = Duration::from_micros(5);
const REGION: &str = "cn-hangzhou";

/// The mock's allocator, for the hello-world reference (this binary's `hello` mode) as much as
/// for the load generator: glibc's malloc cost the mock a third of a listing's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args = Args::parse();
    if let Some(Mode::Hello {
        work_us,
        body_bytes,
    }) = args.mode
    {
        // Static either way, so that cloning the body per request costs the reference nothing.
        let body: &'static [u8] = match body_bytes {
            Some(n) => Box::leak(vec![b'x'; n].into_boxed_slice()),
            None => b"Hello, World!",
        };
        let body = bytes::Bytes::from_static(body);
        hello_server(Duration::from_micros(work_us), body);
        return;
    }
    if cfg!(debug_assertions) {
        // The server is found next to this binary: a debug one (perhaps stale), with a
        // debug hello-world and in-process generators beside it.
        fail("built without optimisations: run `cargo run --release --bin bench`");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run(args));
}

/// Counts of one phase.
struct Scale {
    fresh_c1: usize,
    fresh_c8: usize,
    /// Cached keys answered at c=1 and again at c=8 (generated first, so each costs a fresh
    /// key in the fill phase).
    warm: usize,
    fast: usize,
    cheap: usize,
    keygen_inproc: usize,
    moto_create: usize,
    moto_describe: usize,
}

async fn run(args: Args) {
    let scale = if args.quick {
        Scale {
            fresh_c1: 8,
            fresh_c8: 16,
            warm: 50,
            fast: 2_000,
            cheap: 20_000,
            keygen_inproc: 10,
            moto_create: 100,
            moto_describe: 300,
        }
    } else {
        Scale {
            fresh_c1: 20,
            fresh_c8: 40,
            warm: 200,
            fast: 5_000,
            cheap: 60_000,
            keygen_inproc: 100,
            moto_create: 300,
            moto_describe: 1_000,
        }
    };
    let server_bin = match &args.server {
        Some(p) => p.clone(),
        None => default_server(),
    };
    let scratch = std::env::temp_dir().join(format!("ecs-mock-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).expect("scratch dir");

    println!("# ecs-mock benchmark");
    println!("machine: {}", machine());
    println!("server:  {}", server_bin.display());
    println!();

    // The soak is long and measures memory, not speed: it runs only when asked for.
    let want = |section: Section| {
        (args.only.is_empty() && section != Section::Soak) || args.only.contains(&section)
    };
    let openssl_ms = if want(Section::Keygen) {
        keygen_section(&args, &scale)
    } else {
        None
    };
    if want(Section::Create) {
        create_section(&server_bin, &scale, &scratch, openssl_ms).await;
    }
    if want(Section::Cheap) {
        cheap_section(&server_bin, &scale, &args.load).await;
    }
    if want(Section::Startup) {
        startup_section(&server_bin, &scratch).await;
    }
    if want(Section::Moto) {
        // 5. moto.
        println!("## moto (EC2) side by side");
        if args.skip_moto {
            println!("  skipped (--skip-moto)");
        } else {
            moto(&args.python, &server_bin, &scale).await;
        }
    }
    if want(Section::Soak) {
        soak_section(&server_bin, Duration::from_secs(args.soak_secs)).await;
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Mixed traffic for a fixed time: each round imports 400 key pairs, creates 100 (fast mode),
/// tags, lists, describes, forces errors, then deletes them all, so the state returns to where
/// it was. Memory that keeps growing from round to round would be a leak; the journal (10,000
/// entries) and the nonce cache (200,000) fill up to their caps and then stay flat.
async fn soak_section(server_bin: &Path, duration: Duration) {
    println!(
        "## Soak: mixed actions for {} s, RSS per round",
        duration.as_secs()
    );
    let s = Server::start(server_bin, &["--no-key-cache", "--key-mode", "fast"]).await;
    let start_rss = s.rss_kib();
    let started = Instant::now();
    let mut round = 0usize;
    let mut requests = 0usize;
    let mut unexpected = 0usize;
    let mut after_first = None;
    while started.elapsed() < duration {
        let tenant = format!("soak-{}", round % 4);
        let names: Vec<String> = (0..500).map(|i| format!("soak-{i}")).collect();
        let mut phase: Vec<(Vec<Vec<u8>>, u16)> = Vec::new();
        phase.push((
            names[..400]
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let key = loadgen::synthetic_rsa_public_key((2_000_000 + i) as u64);
                    signed(
                        s.addr,
                        &tenant,
                        "ImportKeyPair",
                        &[
                            ("RegionId", REGION),
                            ("KeyPairName", n),
                            ("PublicKeyBody", &key),
                        ],
                    )
                })
                .collect(),
            200,
        ));
        phase.push((
            names[400..]
                .iter()
                .map(|n| {
                    signed(
                        s.addr,
                        &tenant,
                        "CreateKeyPair",
                        &[("RegionId", REGION), ("KeyPairName", n)],
                    )
                })
                .collect(),
            200,
        ));
        phase.push((
            names
                .iter()
                .step_by(5)
                .map(|n| {
                    signed(
                        s.addr,
                        &tenant,
                        "TagResources",
                        &[
                            ("RegionId", REGION),
                            ("ResourceType", "keypair"),
                            ("ResourceId.1", n),
                            ("Tag.1.Key", "soak"),
                            ("Tag.1.Value", "yes"),
                        ],
                    )
                })
                .collect(),
            200,
        ));
        let mut reads: Vec<Vec<u8>> = (0..200)
            .map(|i| {
                let page = (i % 10 + 1).to_string();
                signed(
                    s.addr,
                    &tenant,
                    "DescribeKeyPairs",
                    &[
                        ("RegionId", REGION),
                        ("PageSize", "50"),
                        ("PageNumber", &page),
                        ("Tag.1.Key", "soak"),
                    ],
                )
            })
            .collect();
        reads.extend((0..100).map(|_| {
            signed(
                s.addr,
                &tenant,
                "ListTagResources",
                &[
                    ("RegionId", REGION),
                    ("ResourceType", "keypair"),
                    ("Tag.1.Key", "soak"),
                ],
            )
        }));
        phase.push((reads, 200));
        phase.push((
            (0..200)
                .map(|_| {
                    signed(
                        s.addr,
                        &tenant,
                        "CreateKeyPair",
                        &[("RegionId", REGION), ("KeyPairName", "1-bad")],
                    )
                })
                .collect(),
            400,
        ));
        phase.push((
            names
                .chunks(100)
                .map(|chunk| {
                    let json = serde_json::to_string(chunk).expect("names serialise");
                    signed(
                        s.addr,
                        &tenant,
                        "DeleteKeyPairs",
                        &[("RegionId", REGION), ("KeyPairNames", &json)],
                    )
                })
                .collect(),
            200,
        ));
        for (reqs, status) in phase {
            let r = s.load(Arc::new(reqs), 16, status).await;
            requests += r.ok + r.unexpected;
            unexpected += r.unexpected;
        }
        round += 1;
        let rss = s.rss_kib();
        if round == 1 {
            after_first = rss;
        }
        if round == 1 || round.is_multiple_of(5) {
            println!(
                "  round {round:>4}: {requests:>8} requests, RSS {}",
                fmt_kib(rss)
            );
        }
    }
    let end_rss = s.rss_kib();
    println!(
        "  {round} rounds, {requests} requests ({unexpected} unexpected) in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    println!(
        "  RSS: {} at start, {} after round 1, {} at the end",
        fmt_kib(start_rss),
        fmt_kib(after_first),
        fmt_kib(end_rss)
    );
    println!();
}

fn keygen_section(args: &Args, scale: &Scale) -> Option<f64> {
    // 1. Per-key cost in-process: OpenSSL vs rsa 0.10 vs ecs-mock's fresh derivation.
    //    Each key's cost is random (the prime search), so many keys; the three generators take
    //    turns in rounds so that a slow spell of the machine hits all of them alike.
    const ROUNDS: usize = 5;
    let per_round = scale.keygen_inproc.div_ceil(ROUNDS);
    println!(
        "## RSA-2048 generation, in-process, per key (mean of {} keys each, {ROUNDS} interleaved rounds)",
        per_round * ROUNDS
    );
    let (mut openssl, mut rsa_ms, mut ours_ms) = (Some((0.0, String::new())), 0.0, 0.0);
    let streams = run_nonce();
    println!("  (key streams from {streams}, new in each run)");
    for round in 0..ROUNDS {
        openssl = openssl.and_then(|(total, _)| {
            let (ms, version) = openssl_keygen_ms(&args.python, per_round)?;
            Some((total + ms / ROUNDS as f64, version))
        });
        let first = streams + (round * per_round) as u64;
        rsa_ms += inproc_keygen_ms(first, per_round, true) / ROUNDS as f64;
        ours_ms += inproc_keygen_ms(first, per_round, false) / ROUNDS as f64;
    }
    match &openssl {
        Some((ms, version)) => {
            println!("  OpenSSL ({version}) via Python cryptography: {ms:8.1} ms   1.00x");
            println!(
                "  rsa 0.10 PrivateKey::new:                    {rsa_ms:8.1} ms   {:.2}x",
                rsa_ms / ms
            );
            println!("  ecs-mock fresh search (same keys):           {ours_ms:8.1} ms   {:.2}x   goal <= 1.0x", ours_ms / ms);
        }
        None => {
            println!(
                "  OpenSSL: skipped ({} does not run or cannot import cryptography; pip install cryptography)",
                args.python
            );
            println!("  rsa 0.10 PrivateKey::new:                    {rsa_ms:8.1} ms");
            println!(
                "  ecs-mock fresh search (same keys):           {ours_ms:8.1} ms   {:.2}x of rsa",
                ours_ms / rsa_ms
            );
        }
    }
    let same = (streams..streams + 3).all(|s| {
        use rand_core::SeedableRng;
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&s.to_le_bytes());
        let a = keygen::fast_search_key(&mut rand_chacha::ChaCha20Rng::from_seed(seed));
        let b = rsa::PrivateKey::new(&mut rand_chacha::ChaCha20Rng::from_seed(seed), 2048)
            .expect("rsa keygen");
        keygen::material(&a) == keygen::material(&b)
    });
    println!(
        "  check: ecs-mock and rsa give identical keys on 3 streams: {}",
        if same { "yes" } else { "NO (bug)" }
    );
    let openssl_ms = openssl.as_ref().map(|(ms, _)| *ms);
    println!();
    openssl_ms
}

async fn create_section(server_bin: &Path, scale: &Scale, scratch: &Path, openssl_ms: Option<f64>) {
    // 2. CreateKeyPair over HTTP: fresh cold, warm cache, fast.
    println!("## CreateKeyPair over HTTP (unique names)");
    let cache = scratch.join("cache");
    {
        // Names new in each run, for the reason the in-process streams are.
        let run = run_nonce();
        let s = Server::start(server_bin, &["--no-key-cache"]).await;
        let c1 = s
            .load(
                create_requests(&s, &format!("cold1-{run}"), scale.fresh_c1),
                1,
                200,
            )
            .await;
        let c8 = s
            .load(
                create_requests(&s, &format!("cold8-{run}"), scale.fresh_c8),
                8,
                200,
            )
            .await;
        let per_key = 1000.0 / c1.rate();
        let ratio = openssl_ms.map_or(String::new(), |o| {
            format!("   {:.2}x OpenSSL per key", per_key / o)
        });
        c1.print("fresh, no cache, c=1", &ratio);
        c8.print("fresh, no cache, c=8", "");
    }
    {
        // Fill the cache, then a new process answers the same names from it.
        let fill = Server::start(server_bin, &["--key-cache", path_str(&cache)]).await;
        fill.load(create_requests(&fill, "warm1", scale.warm), 8, 200)
            .await;
        fill.load(create_requests(&fill, "warm8", scale.warm), 8, 200)
            .await;
        drop(fill);
        let s = Server::start(server_bin, &["--key-cache", path_str(&cache)]).await;
        let c1 = s
            .load(create_requests(&s, "warm1", scale.warm), 1, 200)
            .await;
        let c8 = s
            .load(create_requests(&s, "warm8", scale.warm), 8, 200)
            .await;
        c1.print("fresh, warm cache, c=1", "");
        c8.print("fresh, warm cache, c=8", "");
    }
    {
        let started = Instant::now();
        let s = Server::start(server_bin, &["--key-mode", "fast", "--no-key-cache"]).await;
        let first = s.load(create_requests(&s, "fastfirst", 1), 1, 200).await;
        let cold_pool = started.elapsed();
        let fast_cache = scratch.join("fast-cache");
        let fill = Server::start(
            server_bin,
            &["--key-mode", "fast", "--key-cache", path_str(&fast_cache)],
        )
        .await;
        fill.load(create_requests(&fill, "fastfill", 1), 1, 200)
            .await;
        drop(fill);
        let started = Instant::now();
        let warm = Server::start(
            server_bin,
            &["--key-mode", "fast", "--key-cache", path_str(&fast_cache)],
        )
        .await;
        warm.load(create_requests(&warm, "fastwarm", 1), 1, 200)
            .await;
        let warm_pool = started.elapsed();
        drop(warm);
        let c1 = s
            .load(create_requests(&s, "fast1", scale.fast / 2), 1, 200)
            .await;
        let c8 = s
            .load(create_requests(&s, "fast8", scale.fast), 8, 200)
            .await;
        assert_eq!(first.ok, 1);
        println!(
            "  fast mode: start to first key {:.0} ms with no cache (prime pool generated), {:.0} ms with a warm cache",
            ms(cold_pool),
            ms(warm_pool)
        );
        c1.print("fast, c=1", &goal(c1.rate(), 1000.0));
        c8.print("fast, c=8", &goal(c8.rate(), 1000.0));
    }
    println!();
}

/// The lean server's flags: no replay detection, a journal of one entry.
const LEAN: [&str; 4] = ["--request-window-secs", "0", "--journal-capacity", "1"];

/// Rounds of the cheap-action section: each figure is the median round, so one burst of
/// noise from the machine moves neither side of a ratio.
const CHEAP_ROUNDS: usize = 5;

async fn cheap_section(server_bin: &Path, scale: &Scale, loads: &[Load]) {
    // 3. Cheap actions at concurrency 64 against the hello-world reference, idle and while
    //    fresh keys are being generated; the conditions alternate within each round.
    println!("## Cheap actions at c=64 vs a hyper hello-world server (same machine, same client)");
    println!("  (median of {CHEAP_ROUNDS} interleaved rounds)");
    let hello = Server::start_hello(Duration::ZERO, None).await;
    let working = Server::start_hello(HELLO_WORK, None).await;
    let s = Server::start(server_bin, &["--no-key-cache"]).await;
    prefill(&s, "bench-describe", 500).await;
    // The same mock without the two contracts every request pays for beyond its action:
    // replay detection (the timestamp window and the nonce set) and a journal of 10,000
    // entries. What separates the two lines is what those cost.
    let lean = Server::start(server_bin, &[&["--no-key-cache"][..], &LEAN[..]].concat()).await;
    prefill(&lean, "bench-describe", 500).await;
    // The same hello-world answering with a body as long as a DescribeKeyPairs page: how much
    // of that load's gap is the bytes on the wire rather than what the mock does.
    let page_len = body_len(s.addr, &describe_requests(&s, "bench-describe", 1)[0]).await;
    let paged = Server::start_hello(Duration::ZERO, Some(page_len)).await;
    let chosen: Vec<Load> = [
        Load::Describe,
        Load::Error,
        Load::Import,
        Load::ImportPost,
        Load::DescribeV3,
    ]
    .into_iter()
    .filter(|load| {
        if loads.is_empty() {
            !matches!(load, Load::ImportPost | Load::DescribeV3)
        } else {
            loads.contains(load)
        }
    })
    .collect();
    let names: Vec<&str> = chosen.iter().map(|load| load.label()).collect();
    let requests = |s: &Server, load: Load, round: usize, bg: bool| match load {
        Load::Describe => (describe_requests(s, "bench-describe", scale.cheap), 200),
        Load::Error => (error_requests(s, "bench-error", scale.cheap), 400),
        Load::Import => (
            import_requests(s, &format!("bench-import-{round}-{bg}"), scale.cheap),
            200,
        ),
        Load::ImportPost => (
            import_post_requests(s, &format!("bench-post-{round}-{bg}"), scale.cheap),
            200,
        ),
        Load::DescribeV3 => (describe_v3_requests(s, "bench-describe", scale.cheap), 200),
    };
    let mut hello_runs = Vec::new();
    // The same hello-world with a query as long as an ImportKeyPair request's: how much of the
    // gap to hello-world is the size of a signed request rather than what the mock does with it.
    let import_len = import_requests(&s, "bench-size", 1)[0].len();
    let mut padded_runs = Vec::new();
    let mut paged_runs = Vec::new();
    let mut working_runs = Vec::new();
    let mut idle: HashMap<&str, Vec<LoadResult>> = HashMap::new();
    let mut lean_runs: HashMap<&str, Vec<LoadResult>> = HashMap::new();
    let mut busy: HashMap<&str, Vec<LoadResult>> = HashMap::new();
    let mut generated = 0;
    let mut generating = Duration::ZERO;
    for round in 0..CHEAP_ROUNDS {
        let reqs = Arc::new(vec![
            format!(
                "GET / HTTP/1.1\r\nHost: {}\r\n\r\n",
                hello.addr
            )
            .into_bytes();
            scale.cheap
        ]);
        hello_runs.push(hello.load(reqs, 64, 200).await);
        let padded = hello_request_of_len(hello.addr, import_len);
        padded_runs.push(
            hello
                .load(Arc::new(vec![padded; scale.cheap]), 64, 200)
                .await,
        );
        let reqs = vec![
            format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", paged.addr).into_bytes();
            scale.cheap
        ];
        paged_runs.push(paged.load(Arc::new(reqs), 64, 200).await);
        let reqs = vec![
            format!("GET / HTTP/1.1\r\nHost: {}\r\n\r\n", working.addr).into_bytes();
            scale.cheap
        ];
        working_runs.push(working.load(Arc::new(reqs), 64, 200).await);
        for &load in &chosen {
            let name = load.label();
            let (reqs, status) = requests(&s, load, round, false);
            idle.entry(name)
                .or_default()
                .push(s.load(reqs, 64, status).await);
            let (reqs, status) = requests(&lean, load, round, false);
            lean_runs
                .entry(name)
                .or_default()
                .push(lean.load(reqs, 64, status).await);
        }
        // The same with a steady stream of fresh CreateKeyPair calls in the background.
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let background = {
            let reqs = create_requests(&s, &format!("bg-{round}"), 10_000);
            let (addr, stop, done) = (s.addr, Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move { background_creates(addr, reqs, 4, stop, done).await })
        };
        // Signed before the count starts: while they are built the server sees only the
        // background creates, and its keys/s would count generation at full speed.
        let loads: Vec<_> = chosen
            .iter()
            .map(|&load| (load.label(), requests(&s, load, round, true)))
            .collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = done.load(Ordering::Relaxed);
        let started = Instant::now();
        for (name, (reqs, status)) in loads {
            busy.entry(name)
                .or_default()
                .push(s.load(reqs, 64, status).await);
        }
        generated += done.load(Ordering::Relaxed) - before;
        generating += started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let _ = background.await;
    }
    let hello_rates = rates(&hello_runs);
    let hello_res = median(hello_runs);
    hello_res.print("hello world", "   1.00x");
    // The references: what hello-world loses to one property of a load alone.
    let reference = |runs: Vec<LoadResult>, what: String, why: &str| {
        let r = median(runs);
        r.print(
            &what,
            &format!("   {:.2}x hello ({why})", r.rate() / hello_res.rate()),
        );
    };
    reference(
        padded_runs,
        format!("hello world, {import_len}-byte request"),
        "the size of an ImportKeyPair request",
    );
    reference(
        paged_runs,
        format!("hello world, {page_len}-byte response"),
        "the size of a DescribeKeyPairs page",
    );
    reference(
        working_runs,
        format!("hello world + {} us of work", HELLO_WORK.as_micros()),
        "what that much work per request costs on this machine",
    );
    let mut idle_rates = HashMap::new();
    let mut idle_round_rates = HashMap::new();
    for &name in &names {
        let runs = idle.remove(name).unwrap_or_default();
        let rounds = rates(&runs);
        let r = median(runs);
        r.print(
            name,
            &format!(
                "   {:.2}x hello {}   p99 goal <= 5 ms",
                r.rate() / hello_res.rate(),
                spread(&rounds, &hello_rates),
            ),
        );
        idle_rates.insert(name, r.rate());
        idle_round_rates.insert(name, rounds);
    }
    println!(
        "  lean: the same mock with {} (no replay detection, a journal of one entry)",
        LEAN.join(" ")
    );
    for &name in &names {
        let runs = lean_runs.remove(name).unwrap_or_default();
        let rounds = rates(&runs);
        let r = median(runs);
        r.print(
            &format!("{name}, lean"),
            &format!(
                "   {:.2}x hello   {:.2}x the default {}",
                r.rate() / hello_res.rate(),
                r.rate() / idle_rates[name],
                spread(&rounds, &idle_round_rates[name]),
            ),
        );
    }
    for &name in &names {
        let runs = busy.remove(name).unwrap_or_default();
        let rounds = rates(&runs);
        let r = median(runs);
        r.print(
            &format!("{name} + keygen"),
            &format!(
                "   {:.2}x idle {}   goal >= 0.8x",
                r.rate() / idle_rates[name],
                spread(&rounds, &idle_round_rates[name]),
            ),
        );
    }
    // The other side of the goal: generation yields to a load that keeps both cores busy,
    // so the figure to read beside the ratios is how many keys it still made.
    println!(
        "  ({generated} fresh keys were generated while those ran, {:.1}/s from 4 clients \
         creating without pause: generation yields to cheap actions that keep both cores busy)",
        generated as f64 / generating.as_secs_f64().max(1e-9)
    );
    println!();
}

/// The body length of `req`'s answer (which must be a 200).
async fn body_len(addr: SocketAddr, req: &[u8]) -> usize {
    let (status, conn) = Conn::open(addr).await.exchange(req).await;
    assert_eq!(status, 200, "the sizing request failed");
    let conn = conn.expect("a keep-alive answer");
    let head = find(&conn.buf, b"\r\n\r\n").expect("a complete head");
    conn.buf.len() - head - 4
}

/// A hello-world GET of exactly `len` bytes, its query padded (the reference server ignores it).
fn hello_request_of_len(addr: SocketAddr, len: usize) -> Vec<u8> {
    let bare = format!("GET /? HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let pad = "x".repeat(len.saturating_sub(bare.len()));
    let req = format!("GET /?{pad} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes();
    debug_assert!(req.len() == len || pad.is_empty());
    req
}

/// Each run's requests per second, in round order.
fn rates(runs: &[LoadResult]) -> Vec<f64> {
    runs.iter().map(LoadResult::rate).collect()
}

/// The lowest and highest of the rounds' own ratios, `(rounds 0.48-0.53x)`: each round
/// measures both loads within a few seconds, so the range shows how far the machine's noise
/// moves a ratio in this run (the printed ratio is of the two medians).
fn spread(rates: &[f64], bases: &[f64]) -> String {
    let ratios: Vec<f64> = rates.iter().zip(bases).map(|(r, b)| r / b).collect();
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if ratios.len() < 2 {
        String::new()
    } else {
        format!("(rounds {low:.2}-{high:.2}x)")
    }
}

/// The run with the median rate.
fn median(mut runs: Vec<LoadResult>) -> LoadResult {
    assert!(!runs.is_empty(), "at least one run");
    runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    runs.swap_remove(runs.len() / 2)
}

/// Start to the first answered DescribeRegions, median of five fresh servers started with
/// `args` (besides `--no-key-cache`).
async fn cold_start(server_bin: &Path, args: &[&str]) -> Duration {
    let mut starts: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let s = Server::start(server_bin, &[&["--no-key-cache"], args].concat()).await;
        let r = s.load(describe_regions_requests(&s, 1), 1, 200).await;
        assert_eq!(r.ok, 1);
        starts.push(t.elapsed());
    }
    starts.sort();
    starts[2]
}

async fn startup_section(server_bin: &Path, scratch: &Path) {
    // 4. Cold start and memory.
    println!("## Start-up and memory");
    println!(
        "  cold start to first answered request (median of 5): {:.1} ms   goal <= 20 ms",
        ms(cold_start(server_bin, &[]).await)
    );
    // The same key pairs saved, then loaded at start: a CI replay that restarts from a state
    // file pays this instead of the imports.
    let state = scratch.join("bench-state.json");
    let state_arg = ["--state-file", path_str(&state)];
    {
        let s = Server::start(server_bin, &[&["--no-key-cache"][..], &state_arg].concat()).await;
        let idle_rss = s.rss_kib();
        let reqs = import_requests(&s, "bench-rss", 10_000);
        let r = s.load(reqs, 64, 200).await;
        let rss = s.rss_kib();
        println!(
            "  RSS: {} at start, {} with {} key pairs (imported)   goal <= 50 MB",
            fmt_kib(idle_rss),
            fmt_kib(rss),
            r.ok
        );
        let snapshot = format!(
            "POST /__mock/snapshot HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            s.addr
        );
        let (status, _) = Conn::open(s.addr).await.exchange(snapshot.as_bytes()).await;
        assert_eq!(status, 200, "the snapshot failed");
    }
    let restored = Server::start(server_bin, &[&["--no-key-cache"][..], &state_arg].concat()).await;
    let rss = restored.rss_kib();
    drop(restored);
    println!(
        "  started from a state file of those key pairs ({:.1} MB): first answer after {:.1} ms (median of 5), RSS {}",
        std::fs::metadata(&state).map_or(0.0, |m| m.len() as f64 / 1e6),
        ms(cold_start(server_bin, &state_arg).await),
        fmt_kib(rss),
    );
    println!();
}

fn goal(rate: f64, target: f64) -> String {
    format!(
        "   goal >= {target:.0}/s: {}",
        if rate >= target { "met" } else { "NOT met" }
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

fn fmt_kib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_string(),
        |k| format!("{:.1} MiB", k as f64 / 1024.0),
    )
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cores} cores, {cpu}, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// The release `ecs-mock` next to this binary, built first when run through cargo.
fn default_server() -> PathBuf {
    if let Ok(cargo) = std::env::var("CARGO") {
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--release", "--quiet", "--bin", "ecs-mock"]);
        if let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") {
            cmd.current_dir(dir);
        }
        if !cmd.status().is_ok_and(|s| s.success()) {
            fail("cargo build --release --bin ecs-mock failed");
        }
    }
    let exe = std::env::current_exe().expect("current exe");
    let path = exe.with_file_name(format!("ecs-mock{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        fail(&format!(
            "{} not found: run `cargo build --release` or pass --server",
            path.display()
        ));
    }
    path
}

/// Ends the run with `msg` (exit 1): a setup problem, not a figure.
fn fail(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(1)
}

// ---------------------------------------------------------------------------------------
// Key generation in-process

fn openssl_keygen_ms(python: &str, n: usize) -> Option<(f64, String)> {
    let script = format!(
        "import time\n\
         from cryptography.hazmat.primitives.asymmetric import rsa\n\
         from cryptography.hazmat.backends.openssl.backend import backend\n\
         rsa.generate_private_key(65537, 2048)\n\
         t = time.perf_counter()\n\
         for _ in range({n}): rsa.generate_private_key(65537, 2048)\n\
         print((time.perf_counter() - t) / {n} * 1000)\n\
         print(backend.openssl_version_text())\n"
    );
    let out = Command::new(python).args(["-c", &script]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let ms = lines.next()?.trim().parse().ok()?;
    Some((ms, lines.next().unwrap_or("OpenSSL").trim().to_string()))
}

/// A number new in each run (the clock's nanoseconds), for samples that must differ from run
/// to run.
#[allow(clippy::disallowed_methods)] // a sample to vary, not a time the mock serves
fn run_nonce() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Mean milliseconds per key over the streams `first..first + n`: the same keys from `rsa`
/// and from fresh mode's search (the check below the figures holds the two to that). Each
/// run draws new streams, since a key's cost is random and a fixed sample's luck would be
/// the same in every run.
fn inproc_keygen_ms(first: u64, n: usize, rsa_crate: bool) -> f64 {
    use rand_core::SeedableRng;
    let t = Instant::now();
    for i in first..first + n as u64 {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        let mut stream = rand_chacha::ChaCha20Rng::from_seed(seed);
        if rsa_crate {
            let key = rsa::PrivateKey::new(&mut stream, 2048);
            std::hint::black_box(key.expect("rsa keygen"));
        } else {
            std::hint::black_box(keygen::fast_search_key(&mut stream));
        }
    }
    ms(t.elapsed()) / n as f64
}

// ---------------------------------------------------------------------------------------
// Servers

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(bin: &Path, args: &[&str]) -> Self {
        let mut cmd = Command::new(bin);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ECS_MOCK_") {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--listen", "127.0.0.1:0", "--seed", "7"])
            .args(args);
        Self::spawn(cmd, "ecs-mock listening on http://")
    }

    async fn start_hello(work: Duration, body_bytes: Option<usize>) -> Self {
        let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
        cmd.args(["hello", "--work-us", &work.as_micros().to_string()]);
        if let Some(n) = body_bytes {
            cmd.args(["--body-bytes", &n.to_string()]);
        }
        Self::spawn(cmd, "listening on http://")
    }

    fn spawn(mut cmd: Command, prefix: &str) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| fail(&format!("cannot start {:?}: {e}", cmd.get_program())));
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line);
        let Some(addr) = line
            .trim()
            .strip_prefix(prefix)
            .and_then(|a| a.parse().ok())
        else {
            let _ = child.kill();
            fail(&format!(
                "{:?} did not start as a server: its first line was {line:?}, not \"{prefix}HOST:PORT\"",
                cmd.get_program()
            ))
        };
        Self { child, addr }
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    async fn load(&self, reqs: Arc<Vec<Vec<u8>>>, concurrency: usize, status: u16) -> LoadResult {
        let before = self.cpu();
        let client_before = threads_cpu("/proc/self/task");
        // The load stops sending at its 30 s deadline; a server that stops answering would
        // still hold a request in flight for ever.
        let loaded = tokio::time::timeout(
            Duration::from_secs(90),
            load(
                self.addr,
                reqs,
                concurrency,
                status,
                Duration::from_secs(30),
            ),
        )
        .await;
        let Ok(mut result) = loaded else {
            // `fail` exits without running `Drop`: the stuck server goes first.
            if let Some(pid) = i32::try_from(self.child.id())
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
            fail("a load got no answer for 60 s past its 30 s: the server under test is stuck");
        };
        if let Some((cpu, slices)) = self.cpu().zip(before).map(|(a, b)| since(&b, &a)) {
            result.server_cpu = Some(cpu);
            result.server_switches = Some(slices);
        }
        if let Some((cpu, slices)) = threads_cpu("/proc/self/task")
            .zip(client_before)
            .map(|(a, b)| since(&b, &a))
        {
            result.client_cpu = Some(cpu);
            result.client_switches = Some(slices);
        }
        result
    }

    /// CPU time of the server's request threads so far (key generation threads left out), from
    /// the scheduler's nanosecond counters. Throughput on two shared cores also moves with the
    /// client's share; CPU per request is the steadier figure for comparing two builds.
    fn cpu(&self) -> Option<ThreadTimes> {
        threads_cpu(&format!("/proc/{}/task", self.child.id()))
    }
}

/// Per thread id: scheduler CPU time (ns) and how many times the thread was switched in (a
/// wake-up from sleep or a return after preemption).
type ThreadTimes = HashMap<u64, (u64, u64)>;

/// [`ThreadTimes`] of the threads under `task_dir`, key generation threads left out.
fn threads_cpu(task_dir: &str) -> Option<ThreadTimes> {
    let mut times = HashMap::new();
    for task in std::fs::read_dir(task_dir).ok()? {
        let dir = task.ok()?.path();
        let Some(tid) = dir
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.starts_with("ecs-mock-keygen") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("schedstat")) else {
            if dir.exists() {
                // A kernel without scheduler statistics: no figure rather than zeros.
                return None;
            }
            continue; // the thread ended since the listing
        };
        let mut fields = stat.split_whitespace().map(|f| f.parse::<u64>().ok());
        let (Some(Some(ns)), Some(Some(slices))) = (fields.next(), fields.nth(1)) else {
            return None;
        };
        times.insert(tid, (ns, slices));
    }
    Some(times)
}

/// CPU time and switch-ins between two readings, summed over the threads alive at the second.
/// Per thread, because threads come and go (a runtime's blocking threads end when idle): a
/// thread that ended in between is left out rather than making the sum go backwards.
fn since(before: &ThreadTimes, after: &ThreadTimes) -> (Duration, u64) {
    let (mut ns, mut slices) = (0, 0);
    for (tid, (t, s)) in after {
        let (t0, s0) = before.get(tid).copied().unwrap_or((0, 0));
        ns += t.saturating_sub(t0);
        slices += s.saturating_sub(s0);
    }
    (Duration::from_nanos(ns), slices)
}

impl Drop for Server {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops a server as an orchestrator would: SIGTERM (a graceful shutdown, which drains its
/// connections and saves a `--state-file`), then SIGKILL if it has not exited within 5 s,
/// which the run then reports: every section also checks that the mock shuts down cleanly
/// after its load.
fn stop(child: &mut Child) {
    let Ok(None) = child.try_wait() else {
        return;
    };
    let pid = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    if let Some(pid) = pid {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        println!("  (process {pid:?} did not exit within 5 s of SIGTERM: killed)");
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn hello_server(work: Duration, body: bytes::Bytes) {
    use http_body_util::Full;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!(
            "listening on http://{}",
            listener.local_addr().expect("addr")
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        if !work.is_zero() {
                            let start = Instant::now();
                            while start.elapsed() < work {
                                std::hint::spin_loop();
                            }
                        }
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                // As the mock writes its answers (one buffer, one `send`), which it measured
                // cheaper for small bodies: the reference gets every trick the mock has.
                let _ = http1::Builder::new()
                    .writev(false)
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
}

// ---------------------------------------------------------------------------------------
// Requests

/// A V1-signed GET request for `action` as `tenant`.
fn signed(addr: SocketAddr, tenant: &str, action: &str, params: &[(&str, &str)]) -> Vec<u8> {
    let query = loadgen::v1_signed_query("GET", tenant, SECRET, action, params);
    format!("GET /?{query} HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes()
}

/// A V1-signed POST for `action` as `tenant`, its parameters in a form body.
fn signed_post(addr: SocketAddr, tenant: &str, action: &str, params: &[(&str, &str)]) -> Vec<u8> {
    let form = loadgen::v1_signed_query("POST", tenant, SECRET, action, params);
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    )
    .into_bytes()
}

/// Region `i / 500` of the list, so no region passes the 500 key pair quota.
fn region_for(i: usize) -> &'static str {
    let regions = ecs_mock::regions::REGIONS;
    regions[(i / 500) % regions.len()].id
}

fn create_requests(s: &Server, tag: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|i| {
                // 500 per region and ~30 regions per tenant: a new tenant every 10,000.
                let tenant = format!("bench-{tag}-{}", i / 10_000);
                let name = format!("{tag}-{i}");
                signed(
                    s.addr,
                    &tenant,
                    "CreateKeyPair",
                    &[("RegionId", region_for(i % 10_000)), ("KeyPairName", &name)],
                )
            })
            .collect(),
    )
}

fn describe_requests(s: &Server, tenant: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|i| {
                let page = (i % 10 + 1).to_string();
                signed(
                    s.addr,
                    tenant,
                    "DescribeKeyPairs",
                    &[
                        ("RegionId", REGION),
                        ("PageSize", "50"),
                        ("PageNumber", &page),
                    ],
                )
            })
            .collect(),
    )
}

/// [`describe_requests`]' pages as py-v2 sends them ([`loadgen::v3_sdk_request`]).
fn describe_v3_requests(s: &Server, tenant: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    let host = s.addr.to_string();
    Arc::new(
        (0..n)
            .map(|i| {
                let page = (i % 10 + 1).to_string();
                loadgen::v3_sdk_request(
                    &host,
                    tenant,
                    SECRET,
                    "DescribeKeyPairs",
                    &[
                        ("RegionId", REGION),
                        ("PageSize", "50"),
                        ("PageNumber", &page),
                    ],
                )
            })
            .collect(),
    )
}

fn error_requests(s: &Server, tenant: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|_| {
                signed(
                    s.addr,
                    tenant,
                    "CreateKeyPair",
                    &[
                        ("RegionId", REGION),
                        ("KeyPairName", "1-starts-with-a-digit"),
                    ],
                )
            })
            .collect(),
    )
}

fn describe_regions_requests(s: &Server, n: usize) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|_| signed(s.addr, "bench-start", "DescribeRegions", &[]))
            .collect(),
    )
}

fn import_requests(s: &Server, tag: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    imports(s, tag, n, signed)
}

/// [`import_requests`]' requests as POSTs with the parameters in a form body.
fn import_post_requests(s: &Server, tag: &str, n: usize) -> Arc<Vec<Vec<u8>>> {
    imports(s, tag, n, signed_post)
}

/// ImportKeyPair with unique names (a new tenant every 10,000), put on the wire by `wire`.
fn imports(
    s: &Server,
    tag: &str,
    n: usize,
    wire: fn(SocketAddr, &str, &str, &[(&str, &str)]) -> Vec<u8>,
) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..n)
            .map(|i| {
                let tenant = format!("{tag}-{}", i / 10_000);
                let name = format!("imp-{i}");
                let key = loadgen::synthetic_rsa_public_key(i as u64);
                wire(
                    s.addr,
                    &tenant,
                    "ImportKeyPair",
                    &[
                        ("RegionId", region_for(i % 10_000)),
                        ("KeyPairName", &name),
                        ("PublicKeyBody", &key),
                    ],
                )
            })
            .collect(),
    )
}

/// 500 imported key pairs in `tenant`'s REGION, for DescribeKeyPairs pages.
async fn prefill(s: &Server, tenant: &str, n: usize) {
    let reqs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let key = loadgen::synthetic_rsa_public_key((1_000_000 + i) as u64);
            signed(
                s.addr,
                tenant,
                "ImportKeyPair",
                &[
                    ("RegionId", REGION),
                    ("KeyPairName", &format!("pre-{i}")),
                    ("PublicKeyBody", &key),
                ],
            )
        })
        .collect();
    let r = s.load(Arc::new(reqs), 16, 200).await;
    assert_eq!(r.ok, n, "prefill");
}

// ---------------------------------------------------------------------------------------
// Load generator

struct LoadResult {
    ok: usize,
    unexpected: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
    /// The server's CPU time over the load, where /proc tells it.
    server_cpu: Option<Duration>,
    /// This benchmark's own CPU time over the load (the load generator's share of the cores).
    client_cpu: Option<Duration>,
    /// How many times the server's request threads were switched in over the load.
    server_switches: Option<u64>,
    /// The same for this benchmark's threads.
    client_switches: Option<u64>,
}

impl LoadResult {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU microseconds per answered request.
    fn cpu_us(&self) -> Option<f64> {
        let cpu = self.server_cpu?;
        (self.ok > 0).then(|| cpu.as_secs_f64() * 1e6 / self.ok as f64)
    }

    /// Load generator CPU microseconds per answered request.
    fn client_cpu_us(&self) -> Option<f64> {
        let cpu = self.client_cpu?;
        (self.ok > 0).then(|| cpu.as_secs_f64() * 1e6 / self.ok as f64)
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let idx =
            ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        ms(self.latencies[idx])
    }

    fn print(&self, what: &str, extra: &str) {
        let bad = if self.unexpected > 0 {
            format!("   ({} unexpected responses)", self.unexpected)
        } else {
            String::new()
        };
        let cpu = self
            .cpu_us()
            .map_or_else(String::new, |us| format!("  cpu {us:>5.1} us/req"));
        let cpu = match self.client_cpu_us() {
            Some(us) => format!("{cpu} (client {us:>4.1})"),
            None => cpu,
        };
        let per_req = |n: Option<u64>| n.filter(|_| self.ok > 0).map(|n| n as f64 / self.ok as f64);
        let cpu = match (per_req(self.server_switches), per_req(self.client_switches)) {
            (Some(s), Some(c)) => format!("{cpu}  switch-ins/req {s:.2} (client {c:.2})"),
            _ => cpu,
        };
        println!(
            "  {what:<44} {:>9.1}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  (n={}){cpu}{extra}{bad}",
            self.rate(),
            self.percentile(0.50),
            self.percentile(0.99),
            self.ok
        );
    }
}

async fn load(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    status: u16,
    limit: Duration,
) -> LoadResult {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + limit;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(reqs.len()) {
        let (reqs, next) = (Arc::clone(&reqs), Arc::clone(&next));
        tasks.spawn(async move {
            let mut conn: Option<Conn> = None;
            let (mut ok, mut unexpected, mut lat) = (0, 0, Vec::new());
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= reqs.len() || Instant::now() > deadline {
                    break;
                }
                let t = Instant::now();
                let c = match conn.take() {
                    Some(c) => c,
                    None => Conn::open(addr).await,
                };
                let (got, keep) = c.exchange(&reqs[i]).await;
                if got == status {
                    ok += 1;
                    lat.push(t.elapsed());
                } else {
                    unexpected += 1;
                }
                conn = keep;
            }
            (ok, unexpected, lat)
        });
    }
    let mut result = LoadResult {
        ok: 0,
        unexpected: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
        server_cpu: None,
        client_cpu: None,
        server_switches: None,
        client_switches: None,
    };
    while let Some(r) = tasks.join_next().await {
        let (ok, unexpected, lat) = r.expect("load task");
        result.ok += ok;
        result.unexpected += unexpected;
        result.latencies.extend(lat);
    }
    result.elapsed = started.elapsed();
    result.latencies.sort();
    result
}

/// A steady stream of CreateKeyPair calls until `stop`.
async fn background_creates(
    addr: SocketAddr,
    reqs: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (reqs, next, stop, done) = (
            Arc::clone(&reqs),
            Arc::clone(&next),
            Arc::clone(&stop),
            Arc::clone(&done),
        );
        tasks.spawn(async move {
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= reqs.len() {
                    break;
                }
                let c = match conn.take() {
                    Some(c) => c,
                    None => Conn::open(addr).await,
                };
                let (status, keep) = c.exchange(&reqs[i]).await;
                if status == 200 {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                conn = keep;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// One keep-alive HTTP/1.1 connection with just enough response parsing for these servers.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        let _ = stream.set_nodelay(true);
        Self {
            stream,
            buf: Vec::with_capacity(16 * 1024),
        }
    }

    /// Sends one request; returns the status and the connection if it stays open.
    async fn exchange(mut self, req: &[u8]) -> (u16, Option<Self>) {
        if self.stream.write_all(req).await.is_err() {
            return (0, None);
        }
        self.buf.clear();
        let header_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            if !self.fill().await {
                return (0, None);
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..header_end]).to_ascii_lowercase();
        let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let close =
            head.starts_with("http/1.0") || header("connection:").is_some_and(|v| v == "close");
        if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
            while self.buf.len() < header_end + len {
                if !self.fill().await {
                    return (status, None);
                }
            }
        } else if header("transfer-encoding:").is_some_and(|v| v.contains("chunked")) {
            while find(&self.buf[header_end..], b"0\r\n\r\n").is_none() {
                if !self.fill().await {
                    return (status, None);
                }
            }
        } else {
            while self.fill().await {}
            return (status, None);
        }
        (status, if close { None } else { Some(self) })
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------
// moto

async fn moto(python: &str, server_bin: &Path, scale: &Scale) {
    let importable = Command::new(python)
        .args(["-c", "import moto.server, moto.ec2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match importable {
        Ok(s) if s.success() => {}
        Ok(_) => {
            println!("  skipped: {python} cannot import moto.server (pip install 'moto[server]')");
            return;
        }
        Err(e) => {
            println!("  skipped: cannot run {python}: {e}");
            return;
        }
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let started = Instant::now();
    let mut child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    let form = |body: String| {
        format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    // Cold start: poll until moto answers an EC2 call.
    let first = form("Action=DescribeRegions&Version=2016-11-15".into());
    let moto_start = loop {
        if started.elapsed() > Duration::from_secs(60) {
            println!("  skipped: moto did not answer within 60 s");
            stop(&mut child);
            return;
        }
        if let Ok(stream) = TcpStream::connect(addr).await {
            let _ = stream.set_nodelay(true);
            let c = Conn {
                stream,
                buf: Vec::new(),
            };
            if c.exchange(&first).await.0 == 200 {
                break started.elapsed();
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let creates: Vec<Vec<u8>> = (0..scale.moto_create)
        .map(|i| {
            form(format!(
                "Action=CreateKeyPair&Version=2016-11-15&KeyName=bench-{i}"
            ))
        })
        .collect();
    let moto_create = load(addr, Arc::new(creates), 8, 200, Duration::from_secs(60)).await;
    // 500 key pairs, then pages of 50 names.
    let moto_prefill: Vec<Vec<u8>> = (0..500)
        .map(|i| {
            let key = STANDARD.encode(loadgen::synthetic_rsa_public_key((2_000_000 + i) as u64));
            form(format!(
                "Action=ImportKeyPair&Version=2016-11-15&KeyName=pre-{i}&PublicKeyMaterial={}",
                signature::pct(&key)
            ))
        })
        .collect();
    let pre = load(
        addr,
        Arc::new(moto_prefill),
        8,
        200,
        Duration::from_secs(120),
    )
    .await;
    let describes: Vec<Vec<u8>> = (0..scale.moto_describe)
        .map(|i| {
            let names: Vec<String> = (0..50)
                .map(|k| format!("KeyName.{}=pre-{}", k + 1, (i * 50 + k) % 500))
                .collect();
            form(format!(
                "Action=DescribeKeyPairs&Version=2016-11-15&{}",
                names.join("&")
            ))
        })
        .collect();
    let moto_describe = load(addr, Arc::new(describes), 64, 200, Duration::from_secs(60)).await;
    stop(&mut child);

    // ecs-mock under the same loads.
    let ours_start = cold_start(server_bin, &[]).await;
    let s = Server::start(server_bin, &["--no-key-cache"]).await;
    let ours_create = s
        .load(
            create_requests(&s, "moto-cmp", scale.moto_create.min(40)),
            8,
            200,
        )
        .await;
    prefill(&s, "bench-moto-describe", 500).await;
    let ours_describe = s
        .load(
            describe_requests(&s, "bench-moto-describe", scale.moto_describe * 10),
            64,
            200,
        )
        .await;
    let fast = Server::start(server_bin, &["--key-mode", "fast", "--no-key-cache"]).await;
    fast.load(create_requests(&fast, "moto-fast-warmup", 1), 1, 200)
        .await;
    let ours_fast = fast
        .load(create_requests(&fast, "moto-fast", 2_000), 8, 200)
        .await;

    println!(
        "  start to first EC2 answer: moto {:.0} ms (one start), ecs-mock {:.1} ms (median of 5)   ({:.0}x)",
        ms(moto_start),
        ms(ours_start),
        ms(moto_start) / ms(ours_start)
    );
    moto_create.print("moto CreateKeyPair c=8", "   1.00x");
    ours_create.print(
        "ecs-mock CreateKeyPair fresh c=8",
        &format!("   {:.1}x moto", ours_create.rate() / moto_create.rate()),
    );
    ours_fast.print(
        "ecs-mock CreateKeyPair fast c=8",
        &format!("   {:.0}x moto", ours_fast.rate() / moto_create.rate()),
    );
    if pre.ok < 500 {
        println!("  (moto prefill: only {} of 500 imports succeeded)", pre.ok);
    }
    moto_describe.print("moto DescribeKeyPairs 50 names of 500 c=64", "   1.00x");
    ours_describe.print(
        "ecs-mock DescribeKeyPairs 50 of 500 c=64",
        &format!(
            "   {:.0}x moto",
            ours_describe.rate() / moto_describe.rate()
        ),
    );
}
