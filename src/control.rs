//! The control API under `/__mock/` on the server's own port: JSON in, JSON out, no
//! signature, never journaled or faulted. `--no-control-api` turns it off (the paths then
//! reach the API pipeline and get its 404). User documentation: `docs/scenarios.md`.
//!
//! ```text
//! GET    /__mock/health                     {"status":"ok","seed":N,"scenarios":N,"journal_entries":N}
//! GET    /__mock/scenarios[?access_key_id=X]  {"scenarios":[scenario + "source" when from a file
//!                                            + "counts": [{"calls":N,"fired":N} per rule], …]}
//! POST   /__mock/scenarios                  body = one scenario; 201 added, 200 replaced (same name),
//!                                           400 {"error": reason} when refused
//! DELETE /__mock/scenarios                  remove all: {"removed":N}
//! DELETE /__mock/scenarios/{name}           remove one: {"removed":1}, 404 when unknown
//! POST   /__mock/reset[?access_key_id=X]    state, rule counters and journal; of one tenant with X
//!                                           (nonces: only without X); 507 when X's fixtures
//!                                           find no place in a full store (X is reset)
//! GET    /__mock/journal[?access_key_id=X&action=A&request_id=R]  {"entries":[…]} oldest first
//! GET    /__mock/journal?format=scenario[&…&name=N&as_access_key_id=P]  a scenario replaying the decisions
//! GET    /__mock/journal/retries[?access_key_id=X&action=A&window_ms=W]
//!                                           {"window_ms":W,"operations":[…]}: entries grouped
//!                                           into logical operations (attempts, gaps_ms,
//!                                           outcome, non_retryable_retried); see journal.rs
//! GET    /__mock/state[?access_key_id=X]    the state document (as --state-file holds it); of X only
//! PUT    /__mock/state[?access_key_id=X]    body = a state document: replaces all state, or X's
//!                                           (checked as at start: 400 with the reason)
//! POST   /__mock/snapshot                   save to --state-file now: {"saved": path}
//! POST   /__mock/shutdown                   graceful shutdown, like SIGTERM: 202
//! ```
//! Errors are `{"error": "..."}` with 400 (bad input), 404 (no such endpoint or scenario),
//! 405 (known path, other method; `Allow` lists the methods it takes) or 413 (body too large).
//! HEAD is answered wherever GET is; hyper leaves the body out.

use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, ALLOW};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::actions::Action;
use crate::journal::{Filter, DEFAULT_RETRY_WINDOW_MS};
use crate::protocol::params::{self, Params};
use crate::scenario::transport::{self, MockBody};
use crate::scenario::{file, Added};
use crate::service::App;

/// Every control path starts with this.
pub const PREFIX: &str = "/__mock/";

/// The health check's path after [`PREFIX`].
const HEALTH: &str = "health";

/// A control request as read: `body` is the collected request body, or why it was refused.
#[derive(Debug)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub body: Result<Bytes, String>,
}

/// Answers one control request on a blocking thread: saving, exporting or restoring a state of
/// thousands of key pairs takes a good part of a second, and on the request thread it stalled
/// every connection dealt to that thread.
///
/// One at a time: a full journal or a large state is a document of up to a hundred MB, built
/// as a JSON tree and then as text, several times its size in memory, and six readers at
/// once took the server past 2 GB. Harnesses send control requests between test steps, so
/// waiting for another's answer costs them little. Health checks are the exception: they are
/// cheap, and a load balancer's probe waiting behind a large export would time out and take
/// the mock out of service.
pub async fn answer(app: Arc<App>, r: Request) -> Response<MockBody> {
    if r.path.strip_prefix(PREFIX) == Some(HEALTH) {
        return handle(&app, &r.method, &r.path, r.query.as_deref(), r.body);
    }
    let turn = Arc::clone(&app.control).lock_owned().await;
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        handle(&app, &r.method, &r.path, r.query.as_deref(), r.body)
    })
    .await
    .unwrap_or_else(|_| {
        reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": "the control request failed" }),
        )
    })
}

/// Answers one control request. `body` is the collected request body, or why it was refused.
pub fn handle(
    app: &App,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Result<Bytes, String>,
) -> Response<MockBody> {
    match route(app, method, path, query, body) {
        Ok((status, v)) => reply(status, &v),
        Err(Refusal {
            status,
            reason,
            allow,
        }) => {
            let mut resp = reply(status, &json!({ "error": reason }));
            if let Some(allow) = allow {
                // RFC 9110 §15.5.6: a 405 must list the methods the path takes.
                resp.headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allow));
            }
            resp
        }
    }
}

type Answer = Result<(StatusCode, Value), Refusal>;

/// Why a control request is refused.
struct Refusal {
    status: StatusCode,
    reason: String,
    /// For a 405, the methods the path does take (the `Allow` header).
    allow: Option<&'static str>,
}

impl From<(StatusCode, String)> for Refusal {
    fn from((status, reason): (StatusCode, String)) -> Self {
        Self {
            status,
            reason,
            allow: None,
        }
    }
}

fn bad(msg: impl Into<String>) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, msg.into())
}

fn route(
    app: &App,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Result<Bytes, String>,
) -> Answer {
    let body = body.map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e))?;
    let rest = &path[PREFIX.len()..];
    let not_allowed = |allow: &'static str| {
        Err(Refusal {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: format!("{method} is not allowed on {path}"),
            allow: Some(allow),
        })
    };
    match rest {
        HEALTH => match *method {
            Method::GET | Method::HEAD => {
                query_params(query, &[])?;
                Ok((
                    StatusCode::OK,
                    json!({
                        "status": "ok",
                        "seed": app.config.seed,
                        "scenarios": app.scenarios.len(),
                        "journal_entries": app.journal.len(),
                    }),
                ))
            }
            _ => not_allowed("GET, HEAD"),
        },
        "scenarios" => match *method {
            Method::GET | Method::HEAD => {
                let q = query_params(query, &["access_key_id"])?;
                let listed = app.scenarios.list(q.get("access_key_id"));
                Ok((StatusCode::OK, json!({ "scenarios": listed })))
            }
            Method::POST => {
                query_params(query, &[])?;
                let value = std::str::from_utf8(&body)
                    .map_err(|e| e.to_string())
                    .and_then(|text| crate::jsondoc::strict(text).map_err(|e| e.to_string()))
                    .map_err(|e| bad(format!("the body is not JSON: {e}")))?;
                let scenario = file::from_value(value).map_err(|e| bad(e.0))?;
                let name = scenario.name.clone();
                let rules = scenario.rules.len();
                let added = app.scenarios.add(scenario, None);
                let (status, replaced) = match added {
                    Added::New => (StatusCode::CREATED, false),
                    Added::Replaced => (StatusCode::OK, true),
                    Added::Full => {
                        return Err(bad(format!(
                            "{} scenarios are loaded already, the most the mock holds; remove some first",
                            crate::scenario::MAX_SCENARIOS
                        )).into())
                    }
                    Added::TooLarge { total } => {
                        return Err(bad(format!(
                            "{}; remove some first",
                            crate::scenario::too_large(total)
                        ))
                        .into())
                    }
                };
                tracing::info!(scenario = name.as_str(), rules, replaced, "scenario loaded");
                Ok((
                    status,
                    json!({ "name": name, "rules": rules, "replaced": replaced }),
                ))
            }
            Method::DELETE => {
                query_params(query, &[])?;
                Ok((StatusCode::OK, json!({ "removed": app.scenarios.clear() })))
            }
            _ => not_allowed("GET, HEAD, POST, DELETE"),
        },
        "reset" => match *method {
            Method::POST => {
                let q = query_params(query, &["access_key_id"])?;
                let tenant = q.get("access_key_id");
                let mut refused = Vec::new();
                // The rule counters, the journal and the nonces restart with the call
                // counters, between two requests: a request counted after the reset but
                // answered before the journal's was journalled, then forgotten. A reset
                // account starts again as the fixtures declare it, like at start.
                app.store.reset_with(
                    tenant,
                    || {
                        app.scenarios.reset_counters(tenant);
                        app.journal.reset(tenant);
                        // Only a full reset: the cache keeps digests that do not say whose
                        // they are.
                        if tenant.is_none() {
                            app.nonces.clear();
                        }
                    },
                    |accounts| {
                        let now = app.config.creation_time_now();
                        for fixtures in &app.config.fixtures {
                            refused.extend(fixtures.apply_to(accounts, tenant, now));
                        }
                    },
                );
                let reset = tenant.map_or(Value::from("all"), |t| json!({"access_key_id": t}));
                // Only a tenant reset alone can find no place: its account was dropped (by a
                // PUT of its state) and a new tenant has filled the store since.
                if let Some(ak) = refused.first() {
                    return Ok((
                        StatusCode::INSUFFICIENT_STORAGE,
                        json!({
                            "reset": reset,
                            "error": format!(
                                "{ak:?} was reset, but the store holds {} accounts, as many as it can, and has no place for its fixtures: reset another tenant, then this one again",
                                crate::store::MAX_ACCOUNTS
                            ),
                        }),
                    ));
                }
                Ok((StatusCode::OK, json!({ "reset": reset })))
            }
            _ => not_allowed("POST"),
        },
        "state" => match *method {
            Method::GET | Method::HEAD => {
                let q = query_params(query, &["access_key_id"])?;
                let doc = match q.get("access_key_id") {
                    Some(tenant) => app.store.export_tenant(tenant),
                    None => app.store.export(),
                };
                let doc = serde_json::to_value(doc)
                    .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
                Ok((StatusCode::OK, doc))
            }
            Method::PUT => {
                let q = query_params(query, &["access_key_id"])?;
                let doc: crate::store::StateDoc =
                    serde_json::from_slice(crate::jsondoc::without_bom(&body))
                        .map_err(|e| bad(format!("the body is not a state document: {e}")))?;
                match q.get("access_key_id") {
                    Some(tenant) => {
                        app.store.restore_tenant(tenant, doc).map_err(bad)?;
                        Ok((
                            StatusCode::OK,
                            json!({ "restored": {"access_key_id": tenant} }),
                        ))
                    }
                    None => {
                        app.store.restore(doc).map_err(bad)?;
                        Ok((StatusCode::OK, json!({ "restored": true })))
                    }
                }
            }
            _ => not_allowed("GET, HEAD, PUT"),
        },
        "snapshot" => match *method {
            Method::POST => {
                query_params(query, &[])?;
                let Some(path) = &app.config.state_file else {
                    return Err(bad("no --state-file is configured; use GET /__mock/state").into());
                };
                app.save_state().map_err(|e| {
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
                Ok((
                    StatusCode::OK,
                    json!({ "saved": path.display().to_string() }),
                ))
            }
            _ => not_allowed("POST"),
        },
        "shutdown" => match *method {
            Method::POST => {
                query_params(query, &[])?;
                app.shutdown.notify_one();
                Ok((StatusCode::ACCEPTED, json!({ "shutting_down": true })))
            }
            _ => not_allowed("POST"),
        },
        "journal" => match *method {
            Method::GET | Method::HEAD => {
                let q = query_params(
                    query,
                    &[
                        "access_key_id",
                        "action",
                        "request_id",
                        "format",
                        "name",
                        "as_access_key_id",
                    ],
                )?;
                let filter = Filter {
                    tenant: q.get("access_key_id").map(str::to_string),
                    action: q.get("action").map(str::to_string),
                    request_id: q.get("request_id").map(str::to_string),
                };
                known_action(app, &filter)?;
                match q.get("format") {
                    None | Some("entries") => {
                        if let Some(k) = ["name", "as_access_key_id"]
                            .iter()
                            .find(|k| q.get(k).is_some())
                        {
                            return Err(
                                bad(format!("{k} is only used with format=scenario")).into()
                            );
                        }
                        Ok((
                            StatusCode::OK,
                            json!({ "entries": app.journal.entries(&filter) }),
                        ))
                    }
                    Some("scenario") => {
                        let name = q.get("name").unwrap_or("journal-replay");
                        if name.trim().is_empty() {
                            return Err(bad("name is blank; a scenario needs a name").into());
                        }
                        if name.len() > file::MAX_NAME {
                            return Err(bad(format!(
                                "name has {} bytes; a scenario name has at most {}",
                                name.len(),
                                file::MAX_NAME
                            ))
                            .into());
                        }
                        let replay_as = q.get("as_access_key_id");
                        // Two tenants' recordings replayed as one would be two rules for the
                        // same calls, and only the first would ever fire.
                        if replay_as.is_some() && filter.tenant.is_none() {
                            return Err(bad("as_access_key_id needs access_key_id: it replays one tenant's recording for another").into());
                        }
                        let exported = app
                            .journal
                            .export(
                                &filter,
                                name,
                                replay_as,
                                crate::service::control_max_body_bytes(app),
                            )
                            .map_err(|e| {
                                bad(format!("{e}; narrow it with access_key_id or action"))
                            })?;
                        if exported["rules"].as_array().is_some_and(Vec::is_empty) {
                            return Err((
                                StatusCode::NOT_FOUND,
                                "no recorded request with a call number got a scenario effect (with these filters): there is nothing to replay (calls of tenants past the counted ones, or with an AccessKeyId over 128 bytes, are not numbered)".to_string(),
                            )
                                .into());
                        }
                        // A CI job commits what it gets here and loads it with --scenario:
                        // refuse now what would stop that start.
                        file::from_value(exported.clone()).map_err(|e| {
                            bad(format!(
                                "the export would not load ({}); narrow it with access_key_id or action",
                                e.0
                            ))
                        })?;
                        // The bodies' budget above counts their bytes; written as JSON strings
                        // (and indented, as answered here) they can come to more, which POST
                        // /__mock/scenarios would refuse.
                        let max = crate::service::control_max_body_bytes(app);
                        let written =
                            serde_json::to_vec_pretty(&exported).map_or(usize::MAX, |v| v.len());
                        if written > max {
                            return Err(bad(format!(
                                "the export would be {written} bytes of JSON, more than the {max} POST /__mock/scenarios takes back; narrow it with access_key_id or action"
                            ))
                            .into());
                        }
                        Ok((StatusCode::OK, exported))
                    }
                    Some(other) => Err(bad(format!(
                        "format {other:?} is not known; use \"entries\" (default) or \"scenario\""
                    ))
                    .into()),
                }
            }
            _ => not_allowed("GET, HEAD"),
        },
        "journal/retries" => match *method {
            Method::GET | Method::HEAD => {
                let q = query_params(query, &["access_key_id", "action", "window_ms"])?;
                let filter = Filter {
                    tenant: q.get("access_key_id").map(str::to_string),
                    action: q.get("action").map(str::to_string),
                    ..Filter::default()
                };
                known_action(app, &filter)?;
                let window_ms = match q.get("window_ms") {
                    None => DEFAULT_RETRY_WINDOW_MS,
                    Some(w) => w.parse::<u64>().map_err(|_| {
                        bad(format!(
                            "window_ms {w:?} is not a number of milliseconds (0 or more)"
                        ))
                    })?,
                };
                Ok((
                    StatusCode::OK,
                    json!({
                        "window_ms": window_ms,
                        "operations": app.journal.retries(&filter, window_ms),
                    }),
                ))
            }
            _ => not_allowed("GET, HEAD"),
        },
        _ => match rest.strip_prefix("scenarios/") {
            Some(name) if !name.is_empty() => match *method {
                Method::DELETE => {
                    query_params(query, &[])?;
                    let name = percent_decoded(name)?;
                    if app.scenarios.remove(&name) {
                        Ok((StatusCode::OK, json!({ "removed": 1 })))
                    } else {
                        Err((
                            StatusCode::NOT_FOUND,
                            format!("no scenario named {name:?} is loaded"),
                        )
                            .into())
                    }
                }
                _ => not_allowed("DELETE"),
            },
            _ => Err((
                StatusCode::NOT_FOUND,
                format!("no control endpoint {method} {path}"),
            )
                .into()),
        },
    }
}

/// Decodes the query, refusing parameters the endpoint does not know (a typo in a filter
/// must not silently return everything), empty values and repeats: a harness that sends
/// `access_key_id=` from an unset variable, or two tenants, would otherwise get an answer about
/// something it did not mean (`POST /__mock/reset?access_key_id=` reset nobody and said so).
fn query_params(query: Option<&str>, known: &[&str]) -> Result<Params, (StatusCode, String)> {
    let q = params::decode(query.unwrap_or("").as_bytes(), 100)
        .map_err(|e| bad(format!("the query string does not decode: {e}")))?;
    for (i, (k, v)) in q.pairs().enumerate() {
        if !known.contains(&k) {
            return Err(bad(if known.is_empty() {
                format!("unknown query parameter {k:?}; this endpoint takes none")
            } else {
                format!(
                    "unknown query parameter {k:?}; expected one of {}",
                    known.join(", ")
                )
            }));
        }
        if v.is_empty() {
            return Err(bad(format!(
                "query parameter {k:?} is empty; leave it out or give a value"
            )));
        }
        if q.pairs().take(i).any(|(earlier, _)| earlier == k) {
            return Err(bad(format!(
                "query parameter {k:?} is given more than once"
            )));
        }
    }
    Ok(q)
}

/// Refuses an `action` filter that names none of the API's actions, unless the journal holds
/// requests that sent it (an unknown action is recorded as sent): a typo such as
/// `CreateKeypair` would otherwise read as "the client made no such call".
fn known_action(app: &App, filter: &Filter) -> Result<(), (StatusCode, String)> {
    let Some(action) = filter.action.as_deref() else {
        return Ok(());
    };
    if Action::from_name(action).is_some() || !app.journal.entries(filter).is_empty() {
        return Ok(());
    }
    let known: Vec<&str> = Action::ALL.iter().map(|a| a.name()).collect();
    Err(bad(format!(
        "action {action:?} is not an action of the API, and no kept request sent it; expected one of {}",
        known.join(", ")
    )))
}

/// A scenario name from its path segment: in a path `+` and `&` stand for themselves;
/// decoding it as a query turned `a+b` into `a b` and cut `a&b` at the `&`.
fn percent_decoded(segment: &str) -> Result<String, (StatusCode, String)> {
    params::decode_path_segment(segment.as_bytes())
        .map_err(|e| bad(format!("the scenario name does not decode: {e}")))
}

fn reply(status: StatusCode, body: &Value) -> Response<MockBody> {
    let mut text = serde_json::to_vec_pretty(body).expect("a serde_json::Value always serialises");
    text.push(b'\n');
    transport::plain(status.as_u16(), "application/json", text)
}
