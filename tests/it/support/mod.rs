//! The integration-test harness.
//!
//! [`TestServer::start`] runs a real ecs-mock server in-process on `127.0.0.1:0` and shuts it
//! down when dropped. [`Call`] builds one API request the way an SDK would — V1 (`Signature`
//! query parameter, GET or POST with query or form body) or V3 (`Authorization` header) —
//! signs it with the signature module, sends it over a fresh HTTP/1.1 connection and returns a
//! [`Resp`] with status, content type and body. Tests then assert on `code()` / `json()`.
//!
//! Every test uses its own AccessKeyId (tenant) where state matters, so tests sharing a server
//! never see each other's key pairs.

#![allow(dead_code)] // each test module uses a different subset

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ecs_mock::config::{Config, Credentials};
use ecs_mock::service::App;
use ecs_mock::signature;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::oneshot;

pub const SECRET: &str = "mock-secret";

/// A server running in this process.
pub struct TestServer {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    /// Embedded defaults with `seed`.
    pub async fn start(seed: u64) -> Self {
        Self::with_config(Config::new("127.0.0.1:0".parse().unwrap(), seed)).await
    }

    /// Only these credentials exist.
    pub async fn with_credentials(seed: u64, creds: &[(&str, &str)]) -> Self {
        let mut c = Config::new("127.0.0.1:0".parse().unwrap(), seed);
        c.credentials = Credentials::Fixed(
            creds
                .iter()
                .map(|(a, s)| (a.to_string(), s.to_string()))
                .collect(),
        );
        Self::with_config(c).await
    }

    pub async fn with_config(config: Config) -> Self {
        let server = ecs_mock::Server::bind(config)
            .await
            .expect("bind 127.0.0.1:0");
        let addr = server.local_addr();
        let app = server.app();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .expect("serve");
        });
        Self {
            addr,
            app,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops accepting, drains and waits for the server to finish (saving `--state-file`).
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task");
        }
    }

    /// Creates the accounts `{prefix}{i}` for every `i` in `range` directly in the store (no
    /// requests), to bring it to its account cap.
    pub fn fill_accounts(&self, prefix: &str, range: std::ops::Range<usize>) {
        for i in range {
            self.app
                .store
                .with_account(&format!("{prefix}{i}"), |_| ())
                .unwrap();
        }
    }

    /// A V1 GET call with JSON format for tenant `ak`.
    pub fn call(&self, ak: &str, action: &str) -> Call {
        Call {
            clock: self.app.config.clock,
            ..Call::new(self.addr, ak, action)
        }
    }
}

impl Call {
    /// A V1 GET call with JSON format to any server (e.g. a spawned binary).
    pub fn new(addr: SocketAddr, ak: &str, action: &str) -> Call {
        Call {
            addr,
            action: action.to_string(),
            ak: ak.to_string(),
            secret: SECRET.to_string(),
            params: Vec::new(),
            style: Style::V1Get,
            format: Some("JSON".into()),
            nonce: None,
            timestamp: None,
            clock: ecs_mock::clock::Clock::system(),
        }
    }
}

impl TestServer {
    /// Sends raw bytes and reads the raw response (for malformed-request tests).
    pub async fn raw(&self, request: &[u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = Vec::new();
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// How a call is put on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// V1, everything in the query of a GET.
    V1Get,
    /// V1, everything in the query of a POST with an empty body (the SDKs' way).
    V1PostQuery,
    /// V1, system parameters in the query, business parameters in a form body (Terraform's way).
    V1PostForm,
    /// V3 `ACS3-HMAC-SHA256`, business parameters in the query, action in headers.
    V3,
}

static NONCE: AtomicU64 = AtomicU64::new(1);

/// The signature timestamp for "now" on `clock` (the server's, so fixed-clock servers agree).
pub fn now_timestamp(clock: ecs_mock::clock::Clock) -> String {
    let secs = clock.now_unix();
    // Reuse the server's own formatter by round-tripping through minutes + seconds.
    let minutes = ecs_mock::clock::format_minutes(secs); // yyyy-MM-ddTHH:mmZ
    format!("{}:{:02}Z", &minutes[..16], secs % 60)
}

/// One API request under construction.
#[derive(Debug, Clone)]
pub struct Call {
    addr: SocketAddr,
    pub action: String,
    pub ak: String,
    pub secret: String,
    pub params: Vec<(String, String)>,
    pub style: Style,
    pub format: Option<String>,
    /// Fixed SignatureNonce / x-acs-signature-nonce (default: a fresh one per build).
    pub nonce: Option<String>,
    /// Fixed Timestamp / x-acs-date (default: now on `clock`).
    pub timestamp: Option<String>,
    /// The server's clock.
    pub clock: ecs_mock::clock::Clock,
}

impl Call {
    pub fn nonce(mut self, n: &str) -> Self {
        self.nonce = Some(n.to_string());
        self
    }
    pub fn timestamp(mut self, t: &str) -> Self {
        self.timestamp = Some(t.to_string());
        self
    }
    pub fn param(mut self, k: &str, v: &str) -> Self {
        self.params.push((k.to_string(), v.to_string()));
        self
    }
    pub fn region(self, r: &str) -> Self {
        self.param("RegionId", r)
    }
    pub fn style(mut self, s: Style) -> Self {
        self.style = s;
        self
    }
    pub fn xml(mut self) -> Self {
        self.format = Some("XML".into());
        self
    }
    pub fn secret(mut self, s: &str) -> Self {
        self.secret = s.to_string();
        self
    }

    /// Builds the signed HTTP request.
    pub fn build(&self) -> Request<Full<Bytes>> {
        let host = self.addr.to_string();
        let nonce = self
            .nonce
            .clone()
            .unwrap_or_else(|| format!("{:032x}", NONCE.fetch_add(1, Ordering::Relaxed)));
        let timestamp = self
            .timestamp
            .clone()
            .unwrap_or_else(|| now_timestamp(self.clock));
        match self.style {
            Style::V1Get | Style::V1PostQuery | Style::V1PostForm => {
                let mut system = vec![
                    ("Action".to_string(), self.action.clone()),
                    ("Version".to_string(), "2014-05-26".to_string()),
                    ("AccessKeyId".to_string(), self.ak.clone()),
                    ("SignatureMethod".to_string(), "HMAC-SHA1".to_string()),
                    ("SignatureVersion".to_string(), "1.0".to_string()),
                    ("SignatureNonce".to_string(), nonce),
                    ("Timestamp".to_string(), timestamp),
                ];
                if let Some(f) = &self.format {
                    system.push(("Format".to_string(), f.clone()));
                }
                let method = if self.style == Style::V1Get {
                    "GET"
                } else {
                    "POST"
                };
                let all: Vec<(String, String)> =
                    system.iter().chain(self.params.iter()).cloned().collect();
                let sig =
                    signature::v1_sign(&self.secret, &signature::v1_string_to_sign(method, &all));
                let (query_pairs, body_pairs): (Vec<_>, Vec<_>) = if self.style == Style::V1PostForm
                {
                    (system.clone(), self.params.clone())
                } else {
                    (all.clone(), vec![])
                };
                let mut query_pairs = query_pairs;
                query_pairs.push(("Signature".to_string(), sig));
                let uri = format!("/?{}", ecs_mock::protocol::params::encode(&query_pairs));
                let mut b = Request::builder()
                    .method(method)
                    .uri(uri)
                    .header("host", host);
                let body = if body_pairs.is_empty() {
                    Bytes::new()
                } else {
                    b = b.header("content-type", "application/x-www-form-urlencoded");
                    Bytes::from(ecs_mock::protocol::params::encode(&body_pairs))
                };
                b.body(Full::new(body)).unwrap()
            }
            Style::V3 => {
                let mut headers: Vec<(String, String)> = vec![
                    ("host".into(), host.clone()),
                    ("x-acs-action".into(), self.action.clone()),
                    ("x-acs-version".into(), "2014-05-26".into()),
                    ("x-acs-date".into(), timestamp),
                    ("x-acs-signature-nonce".into(), nonce),
                    ("x-acs-content-sha256".into(), signature::sha256_hex(b"")),
                ];
                let accept = match self.format.as_deref() {
                    Some("XML") => "application/xml",
                    _ => "application/json",
                };
                headers.push(("accept".into(), accept.into()));
                let mut signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
                signed.sort();
                let canonical = signature::v3_canonical_request(
                    "POST",
                    "/",
                    &self.params,
                    &headers,
                    &signed,
                    &signature::sha256_hex(b""),
                );
                let sig =
                    signature::v3_sign(&self.secret, &signature::v3_string_to_sign(&canonical));
                let auth = format!(
                    "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={}",
                    self.ak,
                    signed.join(";"),
                    sig
                );
                let uri = if self.params.is_empty() {
                    "/".to_string()
                } else {
                    format!("/?{}", ecs_mock::protocol::params::encode(&self.params))
                };
                let mut b = Request::builder().method("POST").uri(uri);
                for (k, v) in &headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.header("authorization", auth)
                    .body(Full::new(Bytes::new()))
                    .unwrap()
            }
        }
    }

    /// Signs, sends and reads the response.
    pub async fn send(&self) -> Resp {
        send(self.addr, self.build()).await
    }
}

/// Sends one request over a fresh connection.
pub async fn send(addr: SocketAddr, req: Request<Full<Bytes>>) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await.expect("send");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        content_type,
        body: String::from_utf8(body.to_vec()).expect("utf-8 body"),
    }
}

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    /// `Code` of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["Code"].as_str().unwrap_or("").to_string()
    }
    pub fn message(&self) -> String {
        self.json()["Message"].as_str().unwrap_or("").to_string()
    }
    /// The text of the first `<tag>` element of an XML body.
    pub fn xml_field(&self, tag: &str) -> Option<String> {
        let open = format!("<{tag}>");
        let start = self.body.find(&open)? + open.len();
        let end = self.body[start..].find(&format!("</{tag}>"))? + start;
        Some(self.body[start..end].to_string())
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.status, 200, "{}", self.body);
        self
    }
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        assert_eq!(
            (self.status, self.code().as_str()),
            (status, code),
            "{}",
            self.body
        );
        self
    }
}

/// Points insta at the top-level `snapshots/` directory.
pub fn snapshot_settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    s.set_prepend_module_to_snapshot(false);
    s
}

/// Sends `call` in JSON and in XML and asserts the documented error: status, code and exact
/// message in both, the five-field envelope in order, and the `Recommend` link.
pub async fn assert_error_in_json_and_xml(
    what: &str,
    call: Call,
    status: u16,
    code: &str,
    message: &str,
) {
    let json = call.clone().send().await;
    assert_eq!(json.status, status, "{what}: {}", json.body);
    let body = json.json();
    let keys: Vec<&String> = body.as_object().expect("an object").keys().collect();
    assert_eq!(
        keys,
        ["RequestId", "HostId", "Code", "Message", "Recommend"],
        "{what}"
    );
    assert_eq!(body["Code"], code, "{what}");
    assert_eq!(body["Message"], message, "{what}");
    let rid = body["RequestId"].as_str().expect("a RequestId");
    assert_eq!(
        body["Recommend"],
        format!("https://api.aliyun.com/troubleshoot?q={code}&product=Ecs&requestId={rid}"),
        "{what}"
    );
    let xml = call.xml().send().await;
    assert_eq!(xml.status, status, "{what} (xml): {}", xml.body);
    assert_eq!(xml.content_type, "text/xml;charset=utf-8");
    assert!(xml.body.contains("<Error><RequestId>"), "{}", xml.body);
    assert_eq!(xml.xml_field("Code").as_deref(), Some(code), "{what} (xml)");
    let escaped = message.replace('"', "&quot;").replace('\'', "&apos;");
    assert_eq!(
        xml.xml_field("Message").as_deref(),
        Some(escaped.as_str()),
        "{what} (xml)"
    );
}
