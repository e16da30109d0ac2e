//! Command line and environment → validated [`Config`]. Binds no sockets and starts nothing,
//! so tests build a `Config` directly.
//!
//! The flags, their `ECS_MOCK_*` environment fallbacks and the defaults are a contract that
//! scripts outside this repository rely on: change them only by adding.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::clock::Clock;
use crate::fixtures::Fixtures;
use crate::keygen::{Fingerprint, KeyMode, PrivateKeyFormat};
use crate::keypool::KeySettings;
use crate::scenario::{self, Scenario};

/// A deterministic, stateful mock of the Alibaba Cloud ECS key pair API (2014-05-26).
///
/// Point any Alibaba Cloud SDK at the printed address with protocol http. Every AccessKeyId
/// is its own account with its own key pairs.
#[derive(Debug, Parser)]
#[command(name = "ecs-mock", version)]
pub struct Cli {
    /// Address to listen on; use port 0 to pick a free port (the real one is printed).
    #[arg(long, env = "ECS_MOCK_LISTEN", default_value = "127.0.0.1:8080", value_parser = socket_addr)]
    pub listen: SocketAddr,

    /// Seed for every key, id and random decision; same seed + same requests = same bytes.
    #[arg(
        long,
        env = "ECS_MOCK_SEED",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    pub seed: u64,

    /// Accept only this AccessKeyId with this secret (repeatable, AK_ID:SECRET). Without any,
    /// every AccessKeyId is accepted with the default secret. The environment variable takes
    /// a comma-separated list.
    #[arg(
        long = "credential",
        env = "ECS_MOCK_CREDENTIALS",
        value_name = "AK_ID:SECRET",
        value_delimiter = ','
    )]
    pub credentials: Vec<String>,

    /// Secret of every AccessKeyId when no --credential is given.
    #[arg(long, env = "ECS_MOCK_DEFAULT_SECRET", default_value = "mock-secret")]
    pub default_secret: String,

    /// Do not check request signatures (any AccessKeyId, any or no signature).
    #[arg(long, env = "ECS_MOCK_NO_SIGNATURE_CHECK", value_parser = boolish)]
    pub no_signature_check: bool,

    /// Let ImportKeyPair accept `ssh-ed25519` keys, which the API reference does not list
    /// (by default they get InvalidPublicKeyBody.Malformed, as documented).
    #[arg(long, env = "ECS_MOCK_ALLOW_ED25519", value_parser = boolish)]
    pub allow_ed25519: bool,

    /// Seconds a signed request's timestamp may differ from the server clock; the same window
    /// bounds nonce-replay detection. 0 turns both checks off (to replay old captures).
    #[arg(long, env = "ECS_MOCK_REQUEST_WINDOW_SECS", default_value_t = 900)]
    pub request_window_secs: u64,

    /// Load all tenants' state from this file at start (if it exists) and save it there
    /// atomically on shutdown and on `POST /__mock/snapshot`.
    #[arg(long, env = "ECS_MOCK_STATE_FILE", value_name = "PATH", value_parser = path())]
    pub state_file: Option<std::path::PathBuf>,

    /// Largest accepted request body, in bytes; larger bodies get HTTP 413 Request.TooLarge.
    #[arg(long, env = "ECS_MOCK_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,

    /// Most query + form parameters one request may carry.
    #[arg(long, env = "ECS_MOCK_MAX_PARAMS", default_value_t = 1000)]
    pub max_params: usize,

    /// Seconds a client may take to send its request headers before the connection is closed;
    /// an idle keep-alive connection is closed after as long (the timer waits for the next
    /// request's headers).
    #[arg(long, env = "ECS_MOCK_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,

    /// Account state (instances, resource groups, key pairs) to load at start (repeatable; later files
    /// add to earlier ones). Format: see README, "Account fixtures". The environment variable takes a
    /// comma-separated list.
    #[arg(
        long = "fixtures",
        env = "ECS_MOCK_FIXTURES",
        value_name = "FILE",
        value_delimiter = ',',
        value_parser = path()
    )]
    pub fixtures: Vec<PathBuf>,
    /// Load a scenario file at start (repeatable; consulted in the order given). The
    /// environment variable takes a comma-separated list. See docs/scenarios.md.
    #[arg(
        long = "scenario",
        env = "ECS_MOCK_SCENARIOS",
        value_name = "FILE",
        value_delimiter = ',',
        value_parser = path()
    )]
    pub scenarios: Vec<PathBuf>,

    /// Reload a --scenario file when its content changes (checked twice a second), keeping
    /// state and journal; a file that no longer validates is logged and the old version kept.
    #[arg(long, env = "ECS_MOCK_WATCH", value_parser = boolish)]
    pub watch: bool,

    /// Turn off the control API under /__mock/ (those paths then get the API's own 404).
    #[arg(long, env = "ECS_MOCK_NO_CONTROL_API", value_parser = boolish)]
    pub no_control_api: bool,

    /// Requests the journal keeps (oldest dropped first).
    #[arg(long, env = "ECS_MOCK_JOURNAL_CAPACITY", default_value_t = crate::journal::DEFAULT_CAPACITY)]
    pub journal_capacity: usize,

    /// Threads serving connections, each running its own single-threaded runtime; accepted
    /// connections are dealt to them in turn and stay on one. Defaults to one more than the
    /// number of cores (see docs/performance.md).
    #[arg(long, env = "ECS_MOCK_WORKERS", default_value_t = default_workers())]
    pub workers: usize,

    /// Connections served at once; a connection beyond it waits up to 250 ms for a slot, then
    /// is answered 503 ServiceUnavailable and closed, and the server keeps serving the others.
    #[arg(long, env = "ECS_MOCK_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds in-flight requests (injected delays included) may run after SIGTERM, SIGINT or
    /// `POST /__mock/shutdown` before their connections are dropped.
    #[arg(long, env = "ECS_MOCK_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// How CreateKeyPair makes keys: `fresh` (default; each key a pure function of seed,
    /// AccessKeyId, region, name and generation, ~35 ms per new key) or `fast` (≥ 1,000 keys/s
    /// from a seeded prime pool; same keys only for the same request sequence; keys share
    /// primes). No key from ecs-mock is ever secure: anyone with the seed can regenerate it.
    #[arg(long, env = "ECS_MOCK_KEY_MODE", value_enum, default_value_t = KeyMode::Fresh)]
    pub key_mode: KeyMode,

    /// Directory of the on-disk key cache (default `$XDG_CACHE_HOME/ecs-mock`, else
    /// `~/.cache/ecs-mock`): a key generated once is read back on later runs. Safe to share
    /// between concurrent processes; holds at most 10,000 keys (least recently used go first).
    #[arg(long, env = "ECS_MOCK_KEY_CACHE", value_name = "DIR", value_parser = path())]
    pub key_cache: Option<PathBuf>,

    /// Encoding of CreateKeyPair's PrivateKeyBody: `pkcs8` (default; `BEGIN PRIVATE KEY`, as
    /// the API reference's prose says) or `pkcs1` (`BEGIN RSA PRIVATE KEY`, as its one sample
    /// looks), for tools that read only PKCS#1. The same key either way.
    #[arg(long, env = "ECS_MOCK_PRIVATE_KEY_FORMAT", value_enum, default_value_t = PrivateKeyFormat::Pkcs8)]
    pub private_key_format: PrivateKeyFormat,

    /// Digest of KeyPairFingerPrint, for created and imported keys alike: `md5` (default; 16
    /// octets, RFC 4716, as the API reference's prose says) or `sha1` (20 octets, the length of
    /// every example value in the reference). Both are of the SSH public key blob, colon-hex.
    #[arg(long, env = "ECS_MOCK_FINGERPRINT", value_enum, default_value_t = Fingerprint::Md5)]
    pub fingerprint: Fingerprint,

    /// Give every key pair created or imported this CreationTime (`yyyy-MM-ddTHH:mm:ssZ`,
    /// shown to the minute) instead of the server clock's, so that DescribeKeyPairs answers
    /// are byte-identical from run to run. Signed requests' timestamps, scenario windows and
    /// the journal still use the real clock.
    #[arg(long, env = "ECS_MOCK_CREATION_TIME", value_name = "TIME", value_parser = creation_time)]
    pub creation_time: Option<FixedTime>,

    /// Do not read or write the key cache (wins over --key-cache).
    #[arg(long, env = "ECS_MOCK_NO_KEY_CACHE", value_parser = boolish)]
    pub no_key_cache: bool,

    /// Log filter (tracing syntax), e.g. `info` or `ecs_mock=debug`. Logs go to stderr.
    #[arg(long, env = "ECS_MOCK_LOG", default_value = "warn")]
    pub log: String,
}

/// `--listen`: a numeric address and port, which the parser's own message does not say.
fn socket_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        "not an IP address and port: write 127.0.0.1:PORT or [::1]:PORT (no host names), \
         port 0 for any free one"
            .to_string()
    })
}

/// The value of a boolean flag's environment variable: `1`/`0`, `true`/`false`, `yes`/`no`,
/// `on`/`off` in any case (`=1` is what Docker files and CI matrices write), and empty as
/// false, since an empty variable usually means an unset one.
fn boolish(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected 1, 0, true, false, yes, no, on or off (or empty for off)".into()),
    }
}

/// A path that may be empty: an empty variable (or an empty item of a comma-separated list,
/// as a trailing comma leaves) means "not set", and [`Config::from_cli`] drops it. clap's own
/// path parser refuses empty values.
fn path() -> impl clap::builder::TypedValueParser<Value = PathBuf> {
    use clap::builder::TypedValueParser as _;
    clap::builder::OsStringValueParser::new().map(PathBuf::from)
}

/// `--creation-time`: Unix seconds, or `None` for an empty variable (not set, as for paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedTime(Option<u64>);

fn creation_time(s: &str) -> Result<FixedTime, String> {
    if s.is_empty() {
        return Ok(FixedTime(None));
    }
    match crate::clock::parse_timestamp(s).map(u64::try_from) {
        Some(Ok(secs)) => Ok(FixedTime(Some(secs))),
        Some(Err(_)) => Err("before 1970-01-01T00:00:00Z".into()),
        None => Err("expected yyyy-MM-ddTHH:mm:ssZ, e.g. 2026-01-01T00:00:00Z".into()),
    }
}

/// The flags whose empty value counts as not set (README, "Command line").
const EMPTY_IS_UNSET: [&str; 7] = [
    "--credential",
    "--state-file",
    "--key-cache",
    "--fixtures",
    "--scenario",
    "--log",
    "--creation-time",
];

/// The command line without the empty values of [`EMPTY_IS_UNSET`]'s flags (`--state-file ""`,
/// `--log=`), so that such a flag is as if not given and its variable applies. clap takes a
/// flag given empty over the variable, and the emptiness then unset the setting: a wrapper
/// passing `--credential "$CREDS"` with `CREDS` unset turned `ECS_MOCK_CREDENTIALS` off, and
/// with it the AccessKeyId check.
pub fn without_empty_flags(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut kept: Vec<std::ffi::OsString> = Vec::new();
    let mut args = args.into_iter().peekable();
    while let Some(arg) = args.next() {
        let text = arg.to_str().unwrap_or("");
        if text == "--" {
            kept.push(arg);
            kept.extend(args);
            break;
        }
        if let Some(flag) = text.strip_suffix('=') {
            if EMPTY_IS_UNSET.contains(&flag) {
                continue;
            }
        }
        if EMPTY_IS_UNSET.contains(&text) && args.peek().is_some_and(|v| v.is_empty()) {
            args.next();
            continue;
        }
        kept.push(arg);
    }
    kept
}

/// `path` unless it is empty (see [`path`]).
fn set(path: &PathBuf) -> Option<&PathBuf> {
    (!path.as_os_str().is_empty()).then_some(path)
}

/// An item of a comma-separated list without the spaces around it (`a.json, b.json`), or
/// `None` when nothing is left (see [`path`]).
fn item(path: &PathBuf) -> Option<PathBuf> {
    match path.to_str() {
        Some(text) => Some(PathBuf::from(text.trim())).filter(|p| !p.as_os_str().is_empty()),
        // Not UTF-8: taken as given.
        None => set(path).cloned(),
    }
}

/// Who may call, with which secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Any AccessKeyId, all sharing one secret.
    Open { default_secret: String },
    /// Only these AccessKeyIds.
    Fixed(HashMap<String, String>),
}

impl Credentials {
    /// The secret of `access_key_id`, or `None` if that id does not exist.
    pub fn secret_for(&self, access_key_id: &str) -> Option<&str> {
        match self {
            Credentials::Open { default_secret } => Some(default_secret),
            Credentials::Fixed(map) => map.get(access_key_id).map(String::as_str),
        }
    }
}

/// Request-size and slow-client limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_params: usize,
    pub header_timeout: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// How long in-flight requests may finish after shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1 << 20,
            max_params: 1000,
            header_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// The most `--workers`: far more threads than cores only adds switching.
pub const MAX_WORKERS: usize = 256;

/// The most `--max-connections` may be (each connection holds two file descriptors).
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// The most `--max-body-bytes` may be: a request's decoded parameters are addressed with
/// 32-bit offsets, which a body near 4 GiB would overflow.
pub const MAX_BODY_BYTES: usize = 1 << 30;

/// A refusal at start whose message names the flag's value (a file) rather than the flag:
/// says which flag it was, so that `main` can tell when the value came from the flag's
/// environment variable. Displays as the refusal itself.
#[derive(Debug)]
pub struct RefusedFlag {
    pub flag: &'static str,
    error: anyhow::Error,
}

impl RefusedFlag {
    fn new(flag: &'static str, error: anyhow::Error) -> Self {
        Self { flag, error }
    }
}

impl std::fmt::Display for RefusedFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for RefusedFlag {}

/// The longest `--header-timeout-secs` and `--shutdown-grace-secs`: a year.
pub const MAX_TIMEOUT_SECS: u64 = 365 * 24 * 3600;

/// One thread more than cores: a test suite's client shares the cores, and while the scheduler
/// runs it in place of one worker, that worker's connections wait for a whole time slice; with
/// a spare worker the others keep being served (with exactly one per core, p99 at c=64 on two
/// cores doubled to 4.5-5 ms).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) + 1
}

/// Everything the server needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub seed: u64,
    pub credentials: Credentials,
    pub verify_signatures: bool,
    pub limits: Limits,
    pub clock: Clock,
    /// The CreationTime of every key pair created or imported (`--creation-time`), instead
    /// of the clock's.
    pub creation_time: Option<u64>,
    /// ImportKeyPair accepts `ssh-ed25519`.
    pub allow_ed25519: bool,
    /// CreateKeyPair's `PrivateKeyBody` encoding.
    pub private_key_format: PrivateKeyFormat,
    /// The digest of every key pair's `KeyPairFingerPrint`.
    pub fingerprint: Fingerprint,
    /// Timestamp skew allowed and nonce memory; `None` disables both checks.
    pub request_window: Option<Duration>,
    /// Where state is saved (`--state-file`).
    pub state_file: Option<std::path::PathBuf>,
    /// State to start from (read from the state file by [`Config::from_cli`]).
    pub initial_state: Option<crate::store::StateDoc>,
    /// Account state applied to the store at start, in order.
    pub fixtures: Vec<Fixtures>,
    /// Scenarios loaded at start, in priority order, with the file each came from.
    pub scenarios: Vec<(Scenario, Option<PathBuf>)>,
    /// Serve the control API under `/__mock/`.
    pub control_api: bool,
    /// Poll the scenario files at this interval and reload changed ones (`--watch`).
    pub watch: Option<Duration>,
    /// Entries the journal keeps.
    pub journal_capacity: usize,
    /// Threads serving connections (`--workers`); `None` serves them on the runtime that
    /// runs [`crate::Server::serve`].
    pub workers: Option<usize>,
    /// Key mode and key cache (`--key-mode`, `--key-cache`).
    pub keys: KeySettings,
}

impl Config {
    /// The CreationTime of a key pair made now: `--creation-time` if given, else the clock's.
    pub fn creation_time_now(&self) -> u64 {
        self.creation_time.unwrap_or_else(|| self.clock.now_unix())
    }

    /// The embedded defaults (what `ecs-mock` with no arguments runs), listening on `listen`,
    /// except that the key cache is off (code building a `Config`, tests above all, should
    /// not read or fill a developer's cache unless it asks to) and that connections are
    /// served on the caller's runtime (where a test's paused clock also drives injected
    /// delays) rather than on `--workers` threads of their own.
    pub fn new(listen: SocketAddr, seed: u64) -> Self {
        Self {
            listen,
            seed,
            credentials: Credentials::Open {
                default_secret: "mock-secret".into(),
            },
            verify_signatures: true,
            limits: Limits::default(),
            clock: Clock::system(),
            creation_time: None,
            allow_ed25519: false,
            private_key_format: PrivateKeyFormat::Pkcs8,
            fingerprint: Fingerprint::Md5,
            request_window: Some(Duration::from_secs(900)),
            state_file: None,
            initial_state: None,
            fixtures: Vec::new(),
            scenarios: Vec::new(),
            control_api: true,
            watch: None,
            journal_capacity: crate::journal::DEFAULT_CAPACITY,
            workers: None,
            keys: KeySettings::default(),
        }
    }

    /// Validates the command line.
    ///
    /// # Errors
    /// A `--credential` without `:`, with an empty id or secret, or repeated; zero limits; a
    /// fixtures file that does not load, or declares an account `--credential` does not allow;
    /// a scenario file that cannot be read or is refused, or two with the same name; a state
    /// file that exists but does not parse.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        // An empty item (a trailing comma, an empty variable) is not set, as in the path lists.
        // Spaces around an item are the list's layout (`ak1:s1, ak2:s2`), not the id's.
        let given: Vec<&str> = cli
            .credentials
            .iter()
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
            .collect();
        let credentials = if given.is_empty() {
            if cli.default_secret.is_empty() {
                bail!("--default-secret must not be empty");
            }
            Credentials::Open {
                default_secret: cli.default_secret.clone(),
            }
        } else {
            let mut map = HashMap::new();
            // The messages never quote the value: a mistyped separator (`ak=secret`) would
            // put the secret in CI logs. The item's place says which one to look at.
            for (n, c) in given.iter().enumerate() {
                let n = n + 1;
                let Some((id, secret)) = c.split_once(':') else {
                    bail!("--credential item {n} is not AK_ID:SECRET (its value is not shown)");
                };
                if id.is_empty() {
                    bail!("--credential item {n} has an empty AccessKeyId");
                }
                // Spaces around the `:` would be kept in the id or secret, which no client
                // sends: the credential could never be used, and nothing would say why.
                if id.trim() != id {
                    bail!("--credential {id:?} has spaces around its AccessKeyId");
                }
                if id.len() > crate::store::MAX_ACCESS_KEY_ID_LEN {
                    bail!(
                        "--credential item {n} has an AccessKeyId of {} bytes, longer than the {} a request may carry",
                        id.len(),
                        crate::store::MAX_ACCESS_KEY_ID_LEN
                    );
                }
                if secret.is_empty() {
                    bail!("--credential {id:?} has an empty secret");
                }
                if secret.trim() != secret {
                    bail!(
                        "--credential {id:?} has spaces around its secret (its value is not shown)"
                    );
                }
                if map.insert(id.to_string(), secret.to_string()).is_some() {
                    bail!("--credential gives AccessKeyId {id:?} twice");
                }
            }
            Credentials::Fixed(map)
        };
        let fixture_files: Vec<PathBuf> = cli.fixtures.iter().filter_map(item).collect();
        let state_file = cli.state_file.as_ref().and_then(set);
        let fixtures = fixture_files
            .iter()
            .map(Fixtures::load)
            .collect::<anyhow::Result<Vec<_>>>()
            .map_err(|e| RefusedFlag::new("--fixtures", e))?;
        // Each file is held to the cap on its own; together they must be too, or the accounts
        // past it would be dropped at start with a warning each and answer
        // InvalidAccessKeyId.NotFound.
        if fixtures.len() > 1 {
            let declared: std::collections::HashSet<&String> =
                fixtures.iter().flat_map(|f| f.accounts.keys()).collect();
            if declared.len() > crate::store::MAX_ACCOUNTS {
                bail!(
                    "--fixtures: the files declare {} accounts together, more than the {} the mock holds",
                    declared.len(),
                    crate::store::MAX_ACCOUNTS
                );
            }
        }
        if let Err((f, e)) = Fixtures::check_together(&fixtures, cli.seed) {
            return Err(RefusedFlag::new(
                "--fixtures",
                anyhow::anyhow!("invalid fixtures file {}: {e}", fixture_files[f].display()),
            )
            .into());
        }
        // With fixed credentials, fixtures for any other AccessKeyId could never be reached:
        // almost certainly a typo, so refuse rather than start with silently missing state.
        // Without a signature check any AccessKeyId is taken, and the credentials unused.
        for (file, f) in fixture_files
            .iter()
            .zip(&fixtures)
            .filter(|_| !cli.no_signature_check)
        {
            if let Some(ak) = f
                .accounts
                .keys()
                .find(|ak| credentials.secret_for(ak).is_none())
            {
                return Err(RefusedFlag::new(
                    "--fixtures",
                    anyhow::anyhow!(
                        "fixtures file {} declares account {ak:?}, which no --credential allows",
                        file.display()
                    ),
                )
                .into());
            }
        }
        // One flag per message: the hint that follows a refusal (src/main.rs) names the
        // variable of the first flag it sees, which must be the flag refused.
        for (flag, value) in [
            ("--max-body-bytes", cli.max_body_bytes as u64),
            ("--max-params", cli.max_params as u64),
            ("--header-timeout-secs", cli.header_timeout_secs),
            ("--max-connections", cli.max_connections as u64),
        ] {
            if value == 0 {
                bail!("{flag} must be positive");
            }
        }
        // Far beyond any use, and below what panicked: tokio's semaphore takes at most
        // usize::MAX >> 3 permits, and a deadline of `now` plus about 2^63 s overflows.
        if cli.max_connections > MAX_CONNECTIONS {
            bail!("--max-connections must be at most {MAX_CONNECTIONS}");
        }
        if cli.max_body_bytes > MAX_BODY_BYTES {
            bail!("--max-body-bytes must be at most {MAX_BODY_BYTES} (1 GiB)");
        }
        for (flag, value) in [
            ("--header-timeout-secs", cli.header_timeout_secs),
            ("--shutdown-grace-secs", cli.shutdown_grace_secs),
        ] {
            if value > MAX_TIMEOUT_SECS {
                bail!("{flag} must be at most {MAX_TIMEOUT_SECS} (a year)");
            }
        }
        if cli.journal_capacity == 0 {
            bail!("--journal-capacity must be positive");
        }
        if cli.workers == 0 || cli.workers > MAX_WORKERS {
            bail!("--workers must be between 1 and {MAX_WORKERS}");
        }
        let mut scenarios: Vec<(Scenario, Option<PathBuf>)> = Vec::new();
        for path in cli.scenarios.iter().filter_map(item) {
            let s = scenario::file::load(&path).map_err(|e| RefusedFlag::new("--scenario", e))?;
            if let Some((_, Some(other))) = scenarios.iter().find(|(o, _)| o.name == s.name) {
                let why = if *other == path {
                    format!("scenario file {} is given twice", path.display())
                } else {
                    format!(
                        "scenario name {:?} is used by both {} and {}",
                        s.name,
                        other.display(),
                        path.display()
                    )
                };
                return Err(RefusedFlag::new("--scenario", anyhow::anyhow!(why)).into());
            }
            scenarios.push((s, Some(path.clone())));
        }
        let text: usize = scenarios.iter().map(|(s, _)| s.size).sum();
        if text > crate::scenario::MAX_SCENARIO_SIZE {
            bail!("--scenario files: {}", crate::scenario::too_large(text));
        }
        if scenarios.len() > crate::scenario::MAX_SCENARIOS {
            bail!(
                "{} --scenario files is more than the {} the mock holds",
                scenarios.len(),
                crate::scenario::MAX_SCENARIOS
            );
        }
        Ok(Self {
            listen: cli.listen,
            seed: cli.seed,
            credentials,
            verify_signatures: !cli.no_signature_check,
            limits: Limits {
                max_body_bytes: cli.max_body_bytes,
                max_params: cli.max_params,
                header_timeout: Duration::from_secs(cli.header_timeout_secs),
                max_connections: cli.max_connections,
                shutdown_grace: Duration::from_secs(cli.shutdown_grace_secs),
            },
            clock: Clock::system(),
            creation_time: cli.creation_time.and_then(|t| t.0),
            allow_ed25519: cli.allow_ed25519,
            private_key_format: cli.private_key_format,
            fingerprint: cli.fingerprint,
            request_window: (cli.request_window_secs > 0)
                .then(|| Duration::from_secs(cli.request_window_secs)),
            initial_state: match state_file {
                Some(path) => (|| {
                    let state = crate::persist::load(path)?;
                    crate::persist::check_writable(path)?;
                    // Checked here, not only when the server restores it, so that a state
                    // file refused for its content exits 64 like one that does not parse.
                    if let Some(doc) = &state {
                        crate::statecheck::check(doc, cli.seed, cli.fingerprint).map_err(|e| {
                            anyhow::anyhow!(
                                "state file {} cannot be restored: {e} (fix or remove it)",
                                path.display()
                            )
                        })?;
                    }
                    anyhow::Ok(state)
                })()
                .map_err(|e| RefusedFlag::new("--state-file", e))?,
                None => None,
            },
            state_file: state_file.cloned(),
            fixtures,
            scenarios,
            control_api: !cli.no_control_api,
            watch: cli.watch.then_some(Duration::from_millis(500)),
            journal_capacity: cli.journal_capacity,
            workers: Some(cli.workers),
            keys: KeySettings {
                mode: cli.key_mode,
                cache_dir: if cli.no_key_cache {
                    None
                } else {
                    cli.key_cache
                        .as_ref()
                        .and_then(set)
                        .cloned()
                        .or_else(crate::keycache::KeyCache::default_dir)
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> anyhow::Result<Config> {
        let cli = Cli::try_parse_from(std::iter::once("ecs-mock").chain(args.iter().copied()))?;
        Config::from_cli(&cli)
    }

    #[test]
    fn empty_values_of_the_flags_that_allow_them_are_dropped_before_parsing() {
        let args = |v: &[&str]| -> Vec<std::ffi::OsString> { v.iter().map(Into::into).collect() };
        assert_eq!(
            without_empty_flags(args(&[
                "ecs-mock",
                "--credential",
                "",
                "--state-file=",
                "--scenario",
                "a.json",
                "--log",
                "",
                "--seed",
                "",
                "--fixtures=f.json",
                "--creation-time",
            ])),
            // `--seed ""` is refused as before; a last flag without a value is clap's to refuse.
            args(&[
                "ecs-mock",
                "--scenario",
                "a.json",
                "--seed",
                "",
                "--fixtures=f.json",
                "--creation-time",
            ])
        );
        // After `--` nothing is a flag.
        assert_eq!(
            without_empty_flags(args(&["ecs-mock", "--", "--log", ""])),
            args(&["ecs-mock", "--", "--log", ""])
        );
    }

    #[test]
    fn two_scenario_files_of_one_name_are_a_refusal_of_the_scenario_flag() {
        // Regression (README review, twenty-ninth session): the refusal named no flag, so the
        // hint for ECS_MOCK_SCENARIOS was never given, and a file given twice was "used by both"
        // itself and itself.
        let dir = std::env::temp_dir().join(format!("ecs-mock-cfg-twice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.json"), dir.join("b.json"));
        for p in [&a, &b] {
            std::fs::write(p, r#"{"name":"same","rules":[{"effect":"pass"}]}"#).unwrap();
        }
        let refusal = |list: String| {
            let e = parse(&["--scenario", &list]).unwrap_err();
            let flag = e.downcast_ref::<RefusedFlag>().map(|r| r.flag);
            (flag, format!("{e:#}"))
        };
        let (a, b) = (a.display().to_string(), b.display().to_string());
        assert_eq!(
            refusal(format!("{a},{b}")),
            (
                Some("--scenario"),
                format!("scenario name \"same\" is used by both {a} and {b}")
            )
        );
        assert_eq!(
            refusal(format!("{a},{a}")),
            (
                Some("--scenario"),
                format!("scenario file {a} is given twice")
            )
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(c.seed, 0);
        assert_eq!(c.credentials.secret_for("anything"), Some("mock-secret"));
        assert!(c.verify_signatures);
    }

    #[test]
    fn credentials_restrict_access_key_ids() {
        let c = parse(&["--credential", "ak1:s1", "--credential", "ak2:s:2"]).unwrap();
        assert_eq!(c.credentials.secret_for("ak1"), Some("s1"));
        assert_eq!(
            c.credentials.secret_for("ak2"),
            Some("s:2"),
            "secrets may contain ':'"
        );
        assert_eq!(c.credentials.secret_for("ak3"), None);
        for bad in [
            &["--credential", "nocolon"][..],
            &["--credential", ":s"],
            &["--credential", "a:1", "--credential", "a:2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn list_items_lose_the_spaces_around_them_and_credentials_refuse_inner_ones() {
        // Regression (black-box review, twenty-seventh session): `ak1:s1, ak2:s2` gave an
        // AccessKeyId " ak2", which no client sends: the credential was silently unusable.
        let c = parse(&["--credential", "ak1:s1, ak2:s2 ,\tak3:s3"]).unwrap();
        for (id, secret) in [("ak1", "s1"), ("ak2", "s2"), ("ak3", "s3")] {
            assert_eq!(c.credentials.secret_for(id), Some(secret), "{id}");
        }
        assert_eq!(c.credentials.secret_for(" ak2"), None);
        let long = format!("{}:s", "a".repeat(crate::store::MAX_ACCESS_KEY_ID_LEN + 1));
        for (arg, expected) in [
            (
                "ak :s",
                "--credential \"ak \" has spaces around its AccessKeyId",
            ),
            (
                &long,
                "--credential item 1 has an AccessKeyId of 129 bytes, longer than the 128",
            ),
        ] {
            let message = format!("{:#}", parse(&["--credential", arg]).unwrap_err());
            assert!(message.contains(expected), "{arg:?}: {message}");
        }
        let longest = format!("{}:s", "a".repeat(crate::store::MAX_ACCESS_KEY_ID_LEN));
        assert!(parse(&["--credential", &longest]).is_ok());
        // Paths too: `a.json, b.json` names two files, the second without its space.
        let dir = std::env::temp_dir().join(format!("ecs-mock-items-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str| {
            let path = dir.join(name);
            std::fs::write(
                &path,
                format!(r#"{{"name":"{name}","rules":[{{"effect":"pass"}}]}}"#),
            )
            .unwrap();
            path.display().to_string()
        };
        let (a, b) = (file("a.json"), file("b.json"));
        let c = parse(&["--scenario", &format!("{a}, {b} ,")]).unwrap();
        let names: Vec<&str> = c.scenarios.iter().map(|(s, _)| s.name.as_str()).collect();
        assert_eq!(names, ["a.json", "b.json"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_refused_credential_is_named_without_its_secret() {
        // Regression (black-box review, twenty-fifth session): the value was quoted whole, so
        // `ak=secret` or `:secret` printed the secret in the usage error.
        for (args, expected) in [
            (
                &["--credential", "ak1:s1", "--credential", "ak=Secret-7"][..],
                "--credential item 2 is not AK_ID:SECRET",
            ),
            (
                &["--credential", ":Secret-7"],
                "--credential item 1 has an empty AccessKeyId",
            ),
            (
                &["--credential", "ak:"],
                "--credential \"ak\" has an empty secret",
            ),
            (
                &["--credential", "ak: Secret-7"],
                "--credential \"ak\" has spaces around its secret",
            ),
        ] {
            let message = format!("{:#}", parse(args).unwrap_err());
            assert!(message.contains(expected), "{args:?}: {message}");
            assert!(!message.contains("Secret-7"), "{args:?}: {message}");
        }
    }

    #[test]
    fn boolean_values_take_the_usual_spellings_and_empty_is_off() {
        for (value, expected) in [
            ("1", Ok(true)),
            ("true", Ok(true)),
            ("YES", Ok(true)),
            ("On", Ok(true)),
            ("0", Ok(false)),
            ("False", Ok(false)),
            ("no", Ok(false)),
            ("OFF", Ok(false)),
            ("", Ok(false)),
        ] {
            assert_eq!(boolish(value), expected, "{value:?}");
        }
        for bad in ["2", "maybe", " 1"] {
            assert!(boolish(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_paths_and_empty_list_items_mean_not_set() {
        // Regression (findings-scen #7): an empty ECS_MOCK_STATE_FILE / _SCENARIOS /
        // _FIXTURES, or a trailing comma in a list, stopped the start.
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/accounts.json");
        let c = parse(&[
            "--state-file",
            "",
            "--scenario",
            "",
            "--fixtures",
            &format!("{sample},"),
            "--key-cache",
            "",
        ])
        .unwrap();
        assert_eq!(c.state_file, None);
        assert!(c.scenarios.is_empty());
        assert_eq!(c.fixtures.len(), 1);
        assert_eq!(c.keys.cache_dir, crate::keycache::KeyCache::default_dir());
        // Regression (black-box audit, sixteenth session): the credential list refused them.
        let c = parse(&["--credential", "a:b,", "--credential", ""]).unwrap();
        assert_eq!(c.credentials.secret_for("a"), Some("b"));
        assert_eq!(c.credentials.secret_for("other"), None);
        let c = parse(&["--credential", ""]).unwrap();
        assert_eq!(c.credentials.secret_for("any"), Some("mock-secret"));
    }

    /// Regression (white-box review, sixteenth session): huge values panicked (tokio's
    /// semaphore, hyper's deadline arithmetic) instead of being refused.
    #[test]
    fn limits_beyond_any_use_are_refused_not_panicked_on() {
        for bad in [
            &["--max-connections", "18446744073709551615"][..],
            &["--max-connections", "1000001"],
            &["--header-timeout-secs", "9223372036854775807"],
            &["--shutdown-grace-secs", "31536001"],
            // Regression (source review, twenty-eighth session): a body near 4 GiB overflowed
            // the parameters' 32-bit offsets, a panic.
            &["--max-body-bytes", "1073741825"],
            &["--max-body-bytes", "4294967296"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse(&[
            "--max-body-bytes",
            "1073741824",
            "--max-connections",
            "1000000",
            "--header-timeout-secs",
            "31536000"
        ])
        .is_ok());
    }

    #[test]
    fn key_mode_and_key_cache_flags() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.keys.mode, KeyMode::Fresh, "fresh is the default");
        assert_eq!(c.keys.cache_dir, crate::keycache::KeyCache::default_dir());
        let c = parse(&["--key-mode", "fast", "--key-cache", "/tmp/k"]).unwrap();
        assert_eq!(c.keys.mode, KeyMode::Fast);
        assert_eq!(c.keys.cache_dir, Some(PathBuf::from("/tmp/k")));
        let c = parse(&["--key-cache", "/tmp/k", "--no-key-cache"]).unwrap();
        assert_eq!(c.keys.cache_dir, None, "--no-key-cache wins");
        assert!(parse(&["--key-mode", "quick"]).is_err());
        assert_eq!(
            Config::new("127.0.0.1:0".parse().unwrap(), 0).keys,
            KeySettings::default(),
            "code-built configs have no cache"
        );
    }

    #[test]
    fn fixtures_files_load_in_order_and_must_match_fixed_credentials() {
        let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/accounts.json");
        assert!(parse(&[]).unwrap().fixtures.is_empty());
        let two = format!("{sample},{sample}");
        let c = parse(&["--fixtures", sample, "--fixtures", &two]).unwrap();
        assert_eq!(c.fixtures.len(), 3, "repeatable and comma-separated");
        assert!(c.fixtures[0].accounts.contains_key("ak-sample"));
        let missing = parse(&["--fixtures", "/nonexistent/fx.json"]).unwrap_err();
        assert!(format!("{missing:#}").contains("/nonexistent/fx.json"));
        let stranger = parse(&["--credential", "ak-sample:s", "--fixtures", sample]).unwrap_err();
        assert!(
            stranger.to_string().contains("\"ak-sample-2\""),
            "{stranger}"
        );
        // Audit of the fixture key pairs: without a signature check every AccessKeyId is
        // taken and `--credential` is not consulted, so the fixtures' accounts are reachable.
        let unchecked = parse(&[
            "--no-signature-check",
            "--credential",
            "ak-sample:s",
            "--fixtures",
            sample,
        ]);
        assert_eq!(unchecked.unwrap().fixtures.len(), 1);
    }

    #[test]
    fn fixtures_files_together_are_held_to_the_account_cap() {
        // Regression (files audit #4): the cap was checked per file, so two files of 60,000
        // accounts started, and 20,000 accounts were dropped with a warning each.
        let dir = std::env::temp_dir().join(format!("ecs-mock-fxcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, range: std::ops::Range<usize>| {
            let accounts: serde_json::Map<String, serde_json::Value> = range
                .map(|i| (format!("fx-{i}"), serde_json::json!({})))
                .collect();
            let p = dir.join(name);
            std::fs::write(&p, serde_json::json!({ "accounts": accounts }).to_string()).unwrap();
            p.to_str().unwrap().to_string()
        };
        let half = crate::store::MAX_ACCOUNTS / 2;
        let a = write("a.json", 0..half + 1);
        let b = write("b.json", half..2 * half + 1);
        let overlapping = write("c.json", 1..half + 1);
        let refused = parse(&["--fixtures", &format!("{a},{b}")]).unwrap_err();
        assert_eq!(
            refused.to_string(),
            format!(
                "--fixtures: the files declare {} accounts together, more than the {} the mock holds",
                2 * half + 1,
                crate::store::MAX_ACCOUNTS
            )
        );
        // Accounts declared in several files count once.
        assert!(parse(&["--fixtures", &format!("{a},{overlapping}")]).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scenario_files_load_in_order_and_bad_ones_stop_the_start() {
        let dir = std::env::temp_dir().join(format!("ecs-mock-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_string()
        };
        let a = write(
            "a.json",
            r#"{"name":"a","rules":[{"effect":{"error":"Throttling"}}]}"#,
        );
        let b = write("b.json", r#"{"name":"b","rules":[{"effect":"pass"}]}"#);
        let a2 = write("a2.json", r#"{"name":"a","rules":[{"effect":"pass"}]}"#);
        let bad = write(
            "bad.json",
            r#"{"name":"x","rules":[{"effect":{"error":"Nope"}}]}"#,
        );
        let c = parse(&["--scenario", &a, "--scenario", &b, "--no-control-api"]).unwrap();
        let names: Vec<&str> = c.scenarios.iter().map(|(s, _)| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(!c.control_api);
        assert_eq!(c.watch, None);
        assert!(parse(&["--scenario", &a, "--watch"])
            .unwrap()
            .watch
            .is_some());
        assert!(parse(&[]).unwrap().control_api);
        let dup = parse(&["--scenario", &a, "--scenario", &a2]).unwrap_err();
        assert!(format!("{dup:#}").contains("used by both"), "{dup:#}");
        let refused = format!("{:#}", parse(&["--scenario", &bad]).unwrap_err());
        assert!(
            refused.contains("bad.json") && refused.contains("rules[0].effect.error"),
            "{refused}"
        );
        let missing = format!(
            "{:#}",
            parse(&["--scenario", "/nonexistent/x.json"]).unwrap_err()
        );
        assert!(missing.contains("/nonexistent/x.json"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
