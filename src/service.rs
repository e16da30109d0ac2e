//! The one hyper service: collects the body under a size cap, routes `/__mock/*` to the control
//! API and everything else through the RPC pipeline, and never fails (the error type is
//! `Infallible`): every problem becomes an API error response.
//!
//! Pipeline: [`ApiRequest::new`] (decode) → RequestId → Version/Action → [`auth::authenticate`]
//! → [`Action::execute`] → [`response`] rendering.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};

use crate::actions::{Action, Ctx};
use crate::auth;
use crate::config::Config;
use crate::control;
use crate::error::{ApiError, Kind};
use crate::ids;
use crate::keypool::KeyPool;
use crate::protocol::request::{ApiRequest, API_VERSION};
use crate::protocol::response::{self, Format, Rendered};
use crate::regions;
use crate::store::Store;

/// Most signature nonces remembered at once.
pub const NONCE_CAPACITY: usize = 200_000;

/// State shared by every connection.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub store: Arc<Store>,
    pub keys: KeyPool,
    /// Recently used signature nonces (replay detection).
    pub nonces: auth::NonceCache,
}

impl App {
    /// The shared state for `config`: the saved state when there is one, otherwise a fresh
    /// store with the fixtures applied (a saved state already holds what the fixtures gave it,
    /// plus everything since, such as attached key pairs).
    ///
    /// # Errors
    /// When `config.initial_state` cannot be restored (saved under another seed or version).
    pub fn new(config: Config) -> anyhow::Result<Arc<Self>> {
        let store = Store::new(config.seed);
        if let Some(doc) = &config.initial_state {
            store
                .restore(doc.clone())
                .map_err(|e| anyhow::anyhow!("cannot restore the state file: {e}"))?;
        } else {
            for fixtures in &config.fixtures {
                fixtures.apply(&store);
            }
        }
        Ok(Arc::new(Self {
            keys: KeyPool::new(&config.keys, Arc::clone(&store)),
            store,
            nonces: auth::NonceCache::new(NONCE_CAPACITY),
            config,
        }))
    }

    /// Saves the state to `--state-file`, if one is configured.
    ///
    /// # Errors
    /// I/O errors writing the file.
    pub fn save_state(&self) -> std::io::Result<()> {
        match &self.config.state_file {
            Some(path) => crate::persist::save(path, &self.store.export()),
            None => Ok(()),
        }
    }
}

/// Handles one HTTP request.
pub async fn handle(
    app: Arc<App>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with(control::PREFIX) {
        return Ok(control::handle(&app, &parts.method, parts.uri.path()));
    }
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let raw_query = parts.uri.query();
    let max = app.config.limits.max_body_bytes;
    let declared_too_large = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_some_and(|n| n > max as u64);
    let body = if declared_too_large {
        Err(())
    } else {
        Limited::new(body, max)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|_| ())
    };
    let rendered = match body {
        Err(()) => early_error(
            &app,
            raw_query,
            &headers,
            ApiError::with(Kind::RequestTooLarge, max.to_string()),
        ),
        Ok(body) => {
            match ApiRequest::new(
                parts.method.as_str(),
                parts.uri.path(),
                raw_query,
                headers.clone(),
                body,
                app.config.limits.max_params,
            ) {
                Ok(api) => process(&app, &api).await,
                Err(e) => early_error(&app, raw_query, &headers, e),
            }
        }
    };
    Ok(to_hyper(rendered))
}

/// Renders an error for a request that could not be decoded: the format and tenant are
/// guessed from whatever is readable.
fn early_error(
    app: &App,
    raw_query: Option<&str>,
    headers: &[(String, String)],
    err: ApiError,
) -> Rendered {
    let probe = ApiRequest::new(
        "GET",
        "/",
        raw_query,
        headers.to_vec(),
        Bytes::new(),
        usize::MAX,
    )
    .ok();
    let format = match &probe {
        Some(p) => p.format(),
        None => raw_format(raw_query, headers),
    };
    let tenant = probe
        .as_ref()
        .and_then(|p| p.claimed_access_key_id())
        .unwrap_or("")
        .to_string();
    let request_id = ids::request_id(
        app.config.seed,
        &tenant,
        app.store.next_request_ordinal(&tenant),
    );
    tracing::info!(code = err.code(), "rejected undecodable request");
    response::error(&err, &request_id, regions::host_id(None), format)
}

/// The format of a request whose query does not decode: the raw `Format=` segment, then `accept`.
fn raw_format(raw_query: Option<&str>, headers: &[(String, String)]) -> Format {
    let raw = raw_query
        .unwrap_or("")
        .split('&')
        .find_map(|seg| seg.strip_prefix("Format="))
        .map(str::to_ascii_lowercase);
    match raw.as_deref() {
        Some("json") => Format::Json,
        Some("xml") => Format::Xml,
        _ if headers
            .iter()
            .any(|(k, v)| k == "accept" && v.contains("json")) =>
        {
            Format::Json
        }
        _ => Format::Xml,
    }
}

/// Runs the RPC pipeline on a decoded request.
pub async fn process(app: &App, req: &ApiRequest) -> Rendered {
    let format = req.format();
    let claimed = req.claimed_access_key_id().unwrap_or("").to_string();
    let request_id = ids::request_id(
        app.config.seed,
        &claimed,
        app.store.next_request_ordinal(&claimed),
    );
    let host_id = regions::host_id(req.region_id());
    let result = run_action(app, req, &request_id).await;
    match result {
        Ok((action, body)) => {
            tracing::info!(action = action.name(), tenant = %claimed, "ok");
            response::success(action.name(), format, &body)
        }
        Err(e) => {
            tracing::info!(action = req.action().unwrap_or(""), tenant = %claimed, code = e.code(), "error");
            response::error(&e, &request_id, host_id, format)
        }
    }
}

async fn run_action(
    app: &App,
    req: &ApiRequest,
    request_id: &str,
) -> Result<(Action, serde_json::Value), ApiError> {
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
    let action =
        Action::from_name(action_name).ok_or_else(|| ApiError::new(Kind::InvalidActionNotFound))?;
    let tenant = auth::authenticate(req, &app.config)?;
    if app.config.verify_signatures {
        auth::check_freshness(req, &tenant, &app.config, &app.nonces)?;
    }
    let ctx = Ctx {
        store: &app.store,
        keys: &app.keys,
        config: &app.config,
        tenant: &tenant,
        request_id,
    };
    let body = action.execute(&req.params, &ctx).await?;
    Ok((action, body))
}

fn to_hyper(r: Rendered) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() =
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(r.content_type));
    resp
}
