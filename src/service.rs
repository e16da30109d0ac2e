//! The one hyper service: collects the body under a size cap, routes `/__mock/*` to the control
//! API and everything else through the RPC pipeline. Every problem becomes an API error
//! response; the only error the service returns is the deliberate [`Abort`] of a scenario
//! fault, which makes hyper drop the connection.
//!
//! Pipeline: [`ApiRequest::new`] (decode) → RequestId → Version/Action → [`Engine::decide`]
//! (scenario: forced error, latency, fault) → [`auth::authenticate`] → [`Action::execute`] →
//! [`response`] rendering → [`journal`] → [`transport::respond`] (fault shaping).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Method, Request, Response};

use crate::actions::{Action, Ctx};
use crate::auth;
use crate::config::Config;
use crate::control;
use crate::error::{ApiError, Kind};
use crate::head_timer::HeadTimer;
use crate::ids;
use crate::journal::{self, Journal};
use crate::keypool::KeyPool;
use crate::protocol::params::Params;
use crate::protocol::request::{ApiRequest, Undecoded, API_VERSION};
use crate::protocol::response::{self, Rendered};
use crate::regions;
use crate::scenario::file::StepFile;
use crate::scenario::transport::{self, Abort, MockBody};
use crate::scenario::{Engine, Fault, Input, Phase};
use crate::store::{Store, Who};
use hyper::rt::Timer as _;

/// Most signature nonces remembered at once.
pub const NONCE_CAPACITY: usize = 200_000;

/// State shared by every connection.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub keys: Arc<KeyPool>,
    /// Recently used signature nonces (replay detection).
    pub nonces: crate::nonce::NonceCache,
    /// Loaded scenarios and their counters.
    pub scenarios: Engine,
    /// Every answered API request.
    pub journal: Journal,
    /// Signalled by `POST /__mock/shutdown`; the server drains and exits as on SIGTERM.
    pub shutdown: tokio::sync::Notify,
    /// Held by [`App::save_state`].
    saving: std::sync::Mutex<()>,
    /// Held while a control request is answered (see [`control::answer`]).
    pub control: Arc<tokio::sync::Mutex<()>>,
}

impl App {
    /// The shared state for `config`: the saved state when there is one, otherwise a fresh
    /// store with the fixtures applied (a saved state already holds what the fixtures gave it,
    /// plus everything since, such as attached key pairs). With `config.watch` it starts the
    /// scenario-file watcher, so it must then be called inside a tokio runtime (as
    /// `Server::bind` is).
    ///
    /// # Errors
    /// When `config.initial_state` cannot be restored (saved under another seed or version).
    pub fn new(mut config: Config) -> anyhow::Result<Arc<Self>> {
        let store = Store::with_fingerprint(config.seed, config.fingerprint);
        // Taken, not cloned: kept in the config, a copy of the whole state file stayed in
        // memory for the server's lifetime.
        if let Some(doc) = config.initial_state.take() {
            if !config.fixtures.is_empty() {
                // Documented, but a silent no-op looked like a broken fixtures file.
                tracing::warn!(
                    state_file = %config.state_file.as_deref().unwrap_or(std::path::Path::new("")).display(),
                    "--fixtures not applied: the state file is loaded instead (fixtures fill a fresh store, and a reset re-applies them)"
                );
            }
            store
                .restore(doc)
                .map_err(|e| anyhow::anyhow!("cannot restore the state file: {e}"))?;
        } else {
            let now = config.creation_time_now();
            for fixtures in &config.fixtures {
                fixtures.apply(&store, now);
            }
        }
        let app = Arc::new(Self {
            keys: Arc::new(
                KeyPool::new(&config.keys, Arc::clone(&store))
                    .limit_backlog(config.limits.max_connections),
            ),
            store,
            nonces: crate::nonce::NonceCache::new(NONCE_CAPACITY),
            // Taken too: the engine keeps the scenarios for as long as they are loaded.
            scenarios: Engine::new(config.seed, std::mem::take(&mut config.scenarios)),
            journal: Journal::new(config.journal_capacity),
            shutdown: tokio::sync::Notify::new(),
            saving: std::sync::Mutex::new(()),
            control: Arc::new(tokio::sync::Mutex::new(())),
            config,
        });
        if let Some(interval) = app.config.watch {
            crate::scenario::watch::spawn(&app, interval);
        }
        Ok(app)
    }

    /// Saves the state to `--state-file`, if one is configured.
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn save_state(&self) -> std::io::Result<()> {
        match &self.config.state_file {
            Some(path) => {
                // One save at a time, each exporting under the lock: two snapshots at once
                // could otherwise rename in the other order than they exported, and leave
                // the older state in the file.
                let _one = self
                    .saving
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                crate::persist::save(path, &self.store.export())
            }
            None => Ok(()),
        }
    }
}

/// What the requests of one connection share: the application, a second handle on the
/// connection's socket so that an aborted connection (the `reset` fault) ends with a TCP RST
/// rather than an orderly FIN, as when a load balancer or server resets it, and the timer
/// its request bodies must arrive within (`--header-timeout-secs`). Each request
/// takes a reference to this rather than to the [`App`]: the App's reference count sits
/// beside state every request reads, and worker threads bumping it on every request moved
/// that cache line between the cores.
#[derive(Debug)]
pub struct Connection {
    app: Arc<App>,
    socket: std::net::TcpStream,
    body_timer: HeadTimer,
}

impl Connection {
    pub fn new(app: Arc<App>, socket: std::net::TcpStream, body_timer: HeadTimer) -> Self {
        Self {
            app,
            socket,
            body_timer,
        }
    }

    /// Sets SO_LINGER to zero: the kernel then sends RST when the socket is closed.
    fn arm_reset(&self) {
        if let Err(e) =
            socket2::SockRef::from(&self.socket).set_linger(Some(std::time::Duration::ZERO))
        {
            tracing::debug!(error = %e, "cannot arm the connection reset");
        }
    }
}

/// Handles one HTTP request arriving on `conn`.
///
/// A request without a body (every GET an SDK sends) is decoded here, when hyper hands it
/// over, and its head dropped, rather than when the returned future is first polled. Hyper
/// reads ahead in between, and the head's URI and header values are slices of its read
/// buffer: while they were alive it allocated a fresh buffer (8 KiB) for every request.
///
/// # Errors
/// [`Abort`] when a scenario fault drops the connection, or a request body breaks its framing
/// or is not complete within `--header-timeout-secs`.
pub fn handle(
    conn: Arc<Connection>,
    req: Request<Incoming>,
) -> impl std::future::Future<Output = Result<Response<MockBody>, Abort>> + Send {
    let (parts, body) = req.into_parts();
    let app = &*conn.app;
    let is_control = app.config.control_api && parts.uri.path().starts_with(control::PREFIX);
    let prepared = if is_control || !hyper::body::Body::is_end_stream(&body) {
        if only_chunked(&parts.headers) {
            Prepared::Whole(parts, body)
        } else {
            Prepared::UnknownCoding {
                body,
                waits: waits_for_continue(&parts.headers),
            }
        }
    } else {
        Prepared::Decoded(decode(app, &parts, Ok(Bytes::new())))
    };
    async move {
        let app = &*conn.app;
        let decoded = match prepared {
            Prepared::Decoded(d) => d,
            Prepared::UnknownCoding { body, waits } => {
                // Drained first (unless the client has not sent it), as a body refused for
                // its size is: a socket closed with unread data sends RST, which destroys
                // the answer before most clients read it.
                if !waits {
                    let timeout = conn.body_timer.sleep(app.config.limits.header_timeout);
                    tokio::select! {
                        biased;
                        _ = read_body(body, 0, None, false) => {}
                        () = timeout => {}
                    }
                }
                return Ok(closing(transport::unknown_transfer_coding()));
            }
            Prepared::Whole(parts, body) => {
                let (read, undrained) =
                    with_body(app, &conn.body_timer, parts, body, is_control).await?;
                match read {
                    Read::Api(Err(rendered)) if undrained => {
                        return Ok(closing(transport::unfaulted(rendered)))
                    }
                    Read::Api(d) => d,
                    Read::Control(request) => {
                        let answer = control::answer(Arc::clone(&conn.app), request).await;
                        return Ok(if undrained { closing(answer) } else { answer });
                    }
                }
            }
        };
        match decoded {
            Ok(api) => {
                let answer = process(app, &api).await;
                if matches!(answer, Err(Abort::Reset)) {
                    conn.arm_reset();
                }
                answer
            }
            Err(rendered) => Ok(transport::unfaulted(rendered)),
        }
    }
}

/// `response` marked as the connection's last: hyper closes it after sending, and the client
/// is told so instead of finding out when its next request fails.
fn closing(mut response: Response<MockBody>) -> Response<MockBody> {
    response.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    response
}

/// A request as [`handle`] takes it into its future.
enum Prepared {
    /// Decoded already (or the error response for it), the head released.
    Decoded(Result<ApiRequest, Rendered>),
    /// With a body still to read, or for the control API.
    Whole(hyper::http::request::Parts, Incoming),
    /// With a body in a transfer coding the mock cannot undo.
    UnknownCoding { body: Incoming, waits: bool },
}

/// Whether the client waits for `100 Continue` before it sends the body.
fn waits_for_continue(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(hyper::header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Whether every transfer coding the request names is `chunked`, the one hyper removes (a
/// request without `Transfer-Encoding` names none).
fn only_chunked(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(hyper::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case(b"chunked"))
}

/// The most a control-API body may hold: a `PUT /__mock/state` of what `GET /__mock/state`
/// exported, or a large scenario, is far beyond an API request's `--max-body-bytes`.
pub const CONTROL_MAX_BODY_BYTES: usize = 64 << 20;

/// The largest body the control API takes: [`CONTROL_MAX_BODY_BYTES`] or
/// `--max-body-bytes`, whichever is larger.
pub fn control_max_body_bytes(app: &App) -> usize {
    CONTROL_MAX_BODY_BYTES.max(app.config.limits.max_body_bytes)
}

/// The most a `PUT /__mock/state` body may hold: a tenant's export can pass 64 MiB with key
/// pairs the API accepts (20 tags of 128 four-byte characters on each of thousands), and a
/// state file, which has no cap, would load what this PUT refused. 1 GiB is also the most
/// `--max-body-bytes` can be.
pub const STATE_MAX_BODY_BYTES: usize = 1 << 30;

/// The largest body this control request takes: [`STATE_MAX_BODY_BYTES`] for a state
/// replacement, else [`control_max_body_bytes`].
fn control_max_body_bytes_for(app: &App, parts: &hyper::http::request::Parts) -> usize {
    if is_state_put(parts) {
        STATE_MAX_BODY_BYTES.max(app.config.limits.max_body_bytes)
    } else {
        control_max_body_bytes(app)
    }
}

fn is_state_put(parts: &hyper::http::request::Parts) -> bool {
    parts.method == Method::PUT && parts.uri.path() == "/__mock/state"
}

/// The most bytes read and thrown away from a body refused as too large. Closing a socket
/// with unread data makes the kernel send RST, which destroys the 413 before most clients
/// (those that do not wait for `100 Continue`) read it; past this much the answer is given up.
const DRAIN_LIMIT: u64 = 64 << 20;

/// How reading a request body ended.
enum Body {
    Whole(Bytes),
    /// Over the limit (declared or sent), and drained so that the answer can arrive, unless
    /// it declared or sent more than [`DRAIN_LIMIT`] (`undrained`): the connection then
    /// cannot carry another request.
    TooLarge {
        undrained: bool,
    },
}

/// Reads a request's body, then answers it if it is for the control API or decodes it; the
/// flag says that the body was refused without being read to its end.
///
/// # Errors
/// [`Abort::Close`] when the body breaks its framing or the client is gone, or when it is not
/// complete within `--header-timeout-secs`: a client trickling a body would otherwise hold
/// its connection (one of `--max-connections`) for as long as it liked.
async fn with_body(
    app: &App,
    timer: &HeadTimer,
    parts: hyper::http::request::Parts,
    body: Incoming,
    is_control: bool,
) -> Result<(Read, bool), Abort> {
    let raw_query = parts.uri.query();
    let max = if is_control {
        control_max_body_bytes_for(app, &parts)
    } else {
        app.config.limits.max_body_bytes
    };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    // A client that waits for `100 Continue` before sending has not sent the body yet: one
    // declared too large is refused at once, before hyper's first read of it would send the
    // 100 and so invite an upload only to throw it away.
    let waits = waits_for_continue(&parts.headers);
    let read = read_body(body, max, declared, waits);
    // The connection's own slot, not a tokio timer: SDKs POST most of their requests.
    let timeout = timer.sleep(app.config.limits.header_timeout);
    let (body, undrained) = tokio::select! {
        biased;
        read = read => match read {
            Some(Body::Whole(b)) => (Ok(b), false),
            Some(Body::TooLarge { undrained }) => (Err(()), undrained),
            None => return Err(Abort::Close),
        },
        () = timeout => return Err(Abort::Close),
    };
    if is_control {
        let body = body.map_err(|()| {
            if is_state_put(&parts) {
                format!("the body exceeds {max} bytes, the most PUT /__mock/state takes (a larger state loads from --state-file)")
            } else {
                format!("the body exceeds {max} bytes (the control API's limit is {CONTROL_MAX_BODY_BYTES} or --max-body-bytes, whichever is larger)")
            }
        });
        let request = control::Request {
            method: parts.method,
            path: parts.uri.path().to_string(),
            query: raw_query.map(str::to_string),
            body,
        };
        return Ok((Read::Control(request), undrained));
    }
    Ok((Read::Api(decode(app, &parts, body)), undrained))
}

/// What [`with_body`] made of a request.
enum Read {
    Api(Result<ApiRequest, Rendered>),
    Control(control::Request),
}

/// The body, or [`Body::TooLarge`] once it is known to exceed `max` (and has been drained
/// up to [`DRAIN_LIMIT`], unless the client waits for `100 Continue` and so has not sent it);
/// `None` when its framing is broken or the client went away mid-body.
async fn read_body(
    mut body: Incoming,
    max: usize,
    declared: Option<u64>,
    waits_for_continue: bool,
) -> Option<Body> {
    let mut kept = Kept::Nothing;
    let mut total: u64 = 0;
    let too_large = |total: u64| total > max as u64;
    // Reading stops past this: a body over the limit is drained up to DRAIN_LIMIT, and one
    // within a larger limit is read whole.
    let give_up = DRAIN_LIMIT.max(max as u64);
    let declared_too_large = declared.is_some_and(too_large);
    if declared_too_large && (waits_for_continue || declared.is_some_and(|d| d > give_up)) {
        return Some(Body::TooLarge { undrained: true });
    }
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers
        };
        total += data.len() as u64;
        if total > give_up {
            return Some(Body::TooLarge { undrained: true });
        }
        if !too_large(total) && !declared_too_large {
            kept.push(data);
        }
    }
    if too_large(total) || declared_too_large {
        return Some(Body::TooLarge { undrained: false });
    }
    Some(Body::Whole(kept.into_bytes()))
}

/// A body's bytes as they arrive: the one frame of nearly every body kept as it is, any
/// further ones copied after it. Each frame kept apart cost ~40 bytes of handle per byte of
/// a body sent in one-byte chunks.
enum Kept {
    Nothing,
    One(Bytes),
    Many(Vec<u8>),
}

impl Kept {
    fn push(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Self::Nothing) {
            Self::Nothing => Self::One(data),
            Self::One(first) => {
                let mut all = Vec::with_capacity(first.len() + data.len());
                all.extend_from_slice(&first);
                all.extend_from_slice(&data);
                Self::Many(all)
            }
            Self::Many(mut all) => {
                all.extend_from_slice(&data);
                Self::Many(all)
            }
        };
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Self::Nothing => Bytes::new(),
            Self::One(b) => b,
            Self::Many(all) => Bytes::from(all),
        }
    }
}

/// The API request in `parts` and `body`, or the error response for one that cannot be
/// decoded (`Err(())`: the body is over the limit).
fn decode(
    app: &App,
    parts: &hyper::http::request::Parts,
    body: Result<Bytes, ()>,
) -> Result<ApiRequest, Rendered> {
    let raw_query = parts.uri.query();
    let headers = header_pairs(&parts.headers);
    match body {
        Err(()) => Err(early_error(
            app,
            ApiRequest::salvage(parts.method.as_str(), raw_query, headers, &[]),
            ApiError::with(
                Kind::RequestTooLarge,
                app.config.limits.max_body_bytes.to_string(),
            ),
        )),
        Ok(body) => ApiRequest::decode(
            parts.method.as_str(),
            parts.uri.path(),
            raw_query,
            headers,
            body,
            app.config.limits.max_params,
        )
        .map_err(|refused| {
            let Undecoded {
                error,
                headers,
                body,
            } = *refused;
            // A request too long or too badly encoded to serve may still say who sent it,
            // and in which format to answer (SDKs that POST put everything in the body).
            let readable = ApiRequest::salvage(parts.method.as_str(), raw_query, headers, &body);
            early_error(app, readable, error)
        }),
    }
}

/// Header names and values. A value is taken as UTF-8 (a client may sign `café`); one that
/// is not becomes U+FFFD rather than being left out, so that an unsigned `x-acs-*` header is
/// still seen, and a signed one fails to verify instead of verifying without its value.
fn header_pairs(headers: &hyper::HeaderMap) -> Params {
    Params::from_pairs_twice(|| {
        headers.iter().map(|(k, v)| {
            (
                k.as_str(),
                std::str::from_utf8(v.as_bytes()).unwrap_or("\u{fffd}"),
            )
        })
    })
}

/// Renders and journals the error of a request that could not be decoded, under the tenant,
/// action and format of what could be read of it (`readable`, see [`ApiRequest::salvage`]).
fn early_error(app: &App, readable: ApiRequest, err: ApiError) -> Rendered {
    let received_ms = app.journal.now_ms();
    let claimed = readable.claimed_access_key_id();
    let tenant = claimed.unwrap_or(auth::ANONYMOUS).to_string();
    // The journal's epoch read where the request is counted (see `process`).
    let (ordinal, epoch) = app
        .store
        .count_request(&tenant, |ordinal, _| (ordinal, app.journal.epoch()));
    let request_id = ordinal.request_id(app.config.seed, claimed.unwrap_or(""));
    tracing::info!(code = err.code(), "rejected undecodable request");
    let host_id = regions::host_id(readable.region_id());
    let rendered = response::error(&err, &request_id, host_id, readable.format());
    app.journal.record(journal::Record {
        time: app.config.clock.now_unix(),
        received_ms,
        tenant: &tenant,
        action: readable.action().unwrap_or(""),
        action_call: None,
        epoch,
        request_id: &request_id,
        params: &readable.params,
        rule: None,
        effect: None,
        status: Some(rendered.status),
        code: Some(journal::Code::Catalogue(err.code())),
        latency_ms: 0,
    });
    rendered
}

/// Runs the RPC pipeline on a decoded request, with the scenario engine's decision.
///
/// # Errors
/// [`Abort`] for the `reset` and `hang` faults.
pub async fn process(app: &App, req: &ApiRequest) -> Result<Response<MockBody>, Abort> {
    // Arrival, before any scenario latency: retry gaps are measured between arrivals.
    let received_ms = app.journal.now_ms();
    let arrived_unix = app.config.clock.now_unix();
    let format = req.format();
    // A request naming no AccessKeyId is tenant `anonymous` everywhere (engine, journal,
    // counters, reset), as the store files it. Its RequestIds are still derived from "" so
    // they stay the bytes earlier versions gave for the same requests.
    let access_key_id = req.claimed_access_key_id();
    let claimed = access_key_id.unwrap_or(auth::ANONYMOUS);
    let pre = preflight(req);
    // Before authentication, on the claimed AccessKeyId: auth errors can be forced too. The
    // engine numbers the call for the journal as it decides (one lookup of the tenant's
    // counters for the RequestId and the call).
    // The journal's and the store's epochs are read where the request is counted: a reset
    // changes them while no request is being counted, so a request counted before a reset is
    // the reset's to forget (not journalled; refused by the store), and one counted after is
    // journalled and served, however their arrivals and answers fall.
    // The rules' globs are matched first, outside the counters' lock, which a new tenant's
    // first request and every reset wait for.
    let input = pre.as_ref().ok().map(|action| Input {
        action: *action,
        tenant: claimed,
        region_id: req.region_id(),
        params: &req.params,
        now_unix: arrived_unix,
    });
    let prematched = input.as_ref().map(|i| app.scenarios.prematch(i));
    let (ordinal, (epoch, counted), (decision, action_call)) =
        app.store.count_request(claimed, |ordinal, calls| {
            let decided = match (&input, prematched) {
                (Some(input), Some(prematched)) => {
                    app.scenarios
                        .decide_counting(prematched, input, || calls.next(input.action))
                }
                _ => (None, None),
            };
            (ordinal, (app.journal.epoch(), app.store.epoch()), decided)
        });
    let request_id = ordinal.request_id(app.config.seed, access_key_id.unwrap_or(""));
    let host_id = regions::host_id(req.region_id());
    let act = decision.as_ref().and_then(|d| d.act.clone());
    let latency = decision.as_ref().and_then(|d| d.latency);
    let latency_ms = latency.map(|(d, _)| d.as_millis() as u64);
    let fired = decision.as_ref().map(|d| journal::Fired {
        scenario: d.scenario.clone(),
        rule: d.rule,
        call: d.call,
        why: d.why.clone(),
    });
    let effect = decision.as_ref().map(|d| match &d.act {
        None => StepFile::Pass,
        Some(a) => StepFile::Effect(Box::new(a.applied(latency_ms))),
    });
    let entry = journal::Record {
        time: arrived_unix,
        received_ms,
        tenant: claimed,
        action: req.action().unwrap_or(""),
        action_call,
        epoch,
        request_id: &request_id,
        params: &req.params,
        rule: fired,
        effect,
        status: None,
        code: None,
        latency_ms: latency_ms.unwrap_or(0),
    };
    // A client that gives up during a delay makes hyper drop this future before the entry
    // below is written; the guard journals the attempt anyway, without a status.
    let mut unanswered = Unanswered {
        journal: &app.journal,
        entry: Some(entry.clone()),
    };
    // The engine's lock is released: delays never block other requests' decisions.
    // The clock is read again only after a delay: the action runs then, and without one it
    // runs when the request arrived.
    let mut now_unix = arrived_unix;
    let mut forgotten = false;
    if let Some((d, Phase::Before)) = latency {
        // Boxed, like the hang below: only scenarios delay, and a timer inline would enlarge
        // every request's future (moved a few times per request) for them.
        Box::pin(tokio::time::sleep(d)).await;
        now_unix = app.config.clock.now_unix();
        // A reset or restore during the delay forgot this request's tenant: it must not
        // authenticate (its nonce), count or act in the state that replaced it.
        forgotten = app.store.forgot(Who {
            tenant: claimed,
            counted: Some(counted),
        });
    }
    let fault = act.as_ref().and_then(|a| a.fault);
    let respond = act.as_ref().and_then(|a| a.respond.clone());
    let (forced, retry_after_ms) = match (&pre, act.as_ref().and_then(|a| a.error.as_ref())) {
        (Ok(action), Some(e)) => (Some(e.resolve(*action)), e.retry_after_ms),
        _ => (None, None),
    };
    let outcome = match pre {
        Err(e) => Err(e),
        Ok(_) if forgotten => Err(ApiError::new(Kind::ServiceUnavailable)),
        Ok(action) if act.as_ref().is_none_or(|a| a.runs_action()) => {
            let at = Times {
                arrived: arrived_unix,
                now: now_unix,
            };
            run_action(app, req, action, &request_id, at, counted)
                .await
                .map(Some)
        }
        Ok(_) => Ok(None), // a forced error, a response or a fault replaces the response
    };
    let (rendered, code) = match (respond.as_deref(), forced, outcome) {
        // Whatever the action did (with `commit`), the scripted response is what is sent.
        (Some(r), ..) => {
            tracing::info!(
                action = req.action().unwrap_or(""),
                tenant = claimed,
                status = r.status(),
                "scripted response"
            );
            (
                Rendered {
                    status: r.status(),
                    content_type: format.content_type(),
                    body: Vec::new(),
                    tail: r.body_for(&request_id),
                },
                r.code.clone().map(journal::Code::Scripted),
            )
        }
        (None, Some(e), _) | (None, None, Err(e)) => {
            tracing::info!(
                action = req.action().unwrap_or(""),
                tenant = claimed,
                code = e.code(),
                "error"
            );
            (
                response::error(&e, &request_id, host_id, format),
                Some(journal::Code::Catalogue(e.code())),
            )
        }
        (None, None, Ok(Some((action, rendered)))) => {
            tracing::info!(action = action.name(), tenant = claimed, "ok");
            (rendered, None)
        }
        (None, None, Ok(None)) => (
            Rendered {
                status: 200,
                content_type: format.content_type(),
                body: Vec::new(),
                tail: Bytes::new(),
            },
            None,
        ),
    };
    let (status, code) = match fault {
        None => (Some(rendered.status), code),
        Some(Fault::Reset | Fault::Hang { .. }) => (None, None),
        Some(Fault::Garbage | Fault::Empty) => (Some(200), None),
        Some(Fault::Html502) => (Some(502), None),
        Some(Fault::Html503) => (Some(503), None),
        Some(Fault::Html504) => (Some(504), None),
        Some(_) => (Some(rendered.status), code),
    };
    unanswered.entry = None;
    app.journal.record(journal::Record {
        time: app.config.clock.now_unix(),
        status,
        code,
        ..entry
    });
    // A reset or a hang sends nothing, so a delay "at the body" has no body to wait before:
    // it comes first, as with any fault (the journal has counted it).
    if let (Some(Fault::Reset | Fault::Hang { .. }), Some((d, Phase::Body))) = (fault, latency) {
        Box::pin(tokio::time::sleep(d)).await;
    }
    if let Some(Fault::Hang { max_ms }) = fault {
        let ms = max_ms.unwrap_or(crate::scenario::file::DEFAULT_HANG_MS);
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms))).await;
        return Err(Abort::Close);
    }
    let body_delay = match latency {
        Some((d, Phase::Body)) => Some(d),
        _ => None,
    };
    let noise = || {
        ids::derive(
            "scenario-garbage",
            app.config.seed,
            &[request_id.as_bytes()],
        )
    };
    let mut response = transport::respond(rendered, fault, body_delay, noise)?;
    if let Some(ct) = respond.and_then(|r| r.content_type.clone()) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, ct);
    }
    if let Some(ms) = retry_after_ms {
        response
            .headers_mut()
            .insert("x-acs-retry-after", hyper::header::HeaderValue::from(ms));
    }
    Ok(response)
}

/// Journals its entry when dropped still holding it: the request was abandoned before an
/// answer (the client disconnected during a scenario latency or the action).
struct Unanswered<'a> {
    journal: &'a Journal,
    entry: Option<journal::Record<'a>>,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            self.journal.record(entry);
        }
    }
}

/// The checks before anything tenant-specific: method, path, Action, Version.
fn preflight(req: &ApiRequest) -> Result<Action, ApiError> {
    if req.method != Method::GET.as_str() && req.method != Method::POST.as_str() {
        return Err(ApiError::new(Kind::UnsupportedHttpMethod));
    }
    if req.path != "/" {
        return Err(ApiError::new(Kind::InvalidActionNotFound));
    }
    let action_name = req.action().ok_or_else(|| ApiError::missing("Action"))?;
    let version = req.version().ok_or_else(|| ApiError::missing("Version"))?;
    if version != API_VERSION {
        return Err(ApiError::new(Kind::InvalidVersion));
    }
    Action::from_name(action_name).ok_or_else(|| ApiError::new(Kind::InvalidActionNotFound))
}

/// When a request arrived, and the clock when its action runs (later after a scenario delay).
#[derive(Clone, Copy)]
struct Times {
    arrived: u64,
    now: u64,
}

async fn run_action(
    app: &App,
    req: &ApiRequest,
    action: Action,
    request_id: &str,
    at: Times,
    counted: u64,
) -> Result<(Action, Rendered), ApiError> {
    let tenant = auth::authenticate(req, &app.config)?;
    // On arrival, as the gateway checks it: a scenario's delay must not expire a request
    // that came in time.
    if app.config.verify_signatures {
        auth::check_freshness(req, &tenant, &app.config, &app.nonces, at.arrived)?;
    }
    let now_unix = at.now;
    if !app.store.admits(&tenant) {
        return Err(ApiError::new(Kind::InvalidAccessKeyIdNotFound));
    }
    let ctx = Ctx {
        store: &app.store,
        keys: &app.keys,
        config: &app.config,
        tenant: &tenant,
        counted,
        request_id,
        action,
        format: req.format(),
        now_unix,
    };
    let rendered = action.execute(&req.params, &ctx).await?;
    Ok((action, rendered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_frame_is_kept_as_sent_and_later_frames_gather_into_one_buffer() {
        // One frame: the very bytes hyper handed over, not a copy.
        let frame = Bytes::from_static(b"RegionId=cn-hangzhou");
        let mut one = Kept::Nothing;
        one.push(frame.clone());
        assert_eq!(one.into_bytes().as_ptr(), frame.as_ptr());
        // A thousand one-byte frames: one buffer, in order.
        let mut many = Kept::Nothing;
        for i in 0..1_000u32 {
            many.push(Bytes::from(vec![b'a' + (i % 26) as u8]));
        }
        assert!(matches!(&many, Kept::Many(all) if all.len() == 1_000));
        let all = many.into_bytes();
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, b)| *b == b'a' + (i % 26) as u8));
        assert!(Kept::Nothing.into_bytes().is_empty());
    }
}
