//! The control API under `/__mock/` on the server's own port: JSON out, no signature, never
//! journaled or faulted.
//!
//! ```text
//! GET /__mock/health   {"status":"ok","seed":N}
//! ```

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::json;

use crate::service::App;

/// Every control path starts with this.
pub const PREFIX: &str = "/__mock/";

/// Answers one control request.
pub fn handle(app: &App, method: &Method, path: &str) -> Response<Full<Bytes>> {
    match (method, path) {
        (&Method::GET, "/__mock/health") => reply(
            StatusCode::OK,
            json!({"status": "ok", "seed": app.config.seed}),
        ),
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no control endpoint {method} {path}")}),
        ),
    }
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}
