//! Transport faults observed from a raw TCP client: what bytes arrive, and whether the
//! connection ends before the message does.
//!
//! The faulted request is a CreateKeyPair without KeyPairName: the real action answers it
//! with a `MissingParameter` envelope, which gives body-shaping faults (truncate, drip, lying
//! Content-Length) a known body without generating keys.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::scenarios::{journal, server_with};
use crate::support::{Call, TestServer};

const REGION: &str = "cn-hangzhou";

/// What a raw client read.
#[derive(Debug)]
struct Raw {
    /// Status line and headers, `None` when the connection closed before any byte.
    head: Option<String>,
    status: u16,
    content_length: Option<usize>,
    content_type: String,
    body: Vec<u8>,
    /// Whether the body reached its Content-Length before the connection ended.
    complete: bool,
}

impl Raw {
    fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The request line and headers of `call`, as an SDK would put them on the wire.
fn wire(call: &Call) -> Vec<u8> {
    let req = call.build();
    let mut out = format!("{} {} HTTP/1.1\r\n", req.method(), req.uri());
    for (k, v) in req.headers() {
        out.push_str(&format!("{k}: {}\r\n", v.to_str().unwrap()));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// Sends `call` and reads the response head, then the body up to its Content-Length or
/// until the connection ends (EOF or reset).
async fn exchange(server: &TestServer, call: &Call) -> Raw {
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&wire(call)).await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut head_end = None;
    loop {
        if let Some(end) = head_end {
            let raw_head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = header(&raw_head, "content-length").map(|v| v.parse::<usize>().unwrap());
            if len.is_some_and(|l| buf.len() - end >= l) {
                break;
            }
        }
        let n = match s.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if head_end.is_none() {
            head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
        }
    }
    let Some(end) = head_end else {
        assert!(
            buf.is_empty(),
            "a partial head: {:?}",
            String::from_utf8_lossy(&buf)
        );
        return Raw {
            head: None,
            status: 0,
            content_length: None,
            content_type: String::new(),
            body: Vec::new(),
            complete: false,
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head[9..12].parse().unwrap();
    let content_length = header(&head, "content-length").map(|v| v.parse().unwrap());
    let body = buf[end..].to_vec();
    Raw {
        status,
        content_type: header(&head, "content-type").unwrap_or_default(),
        complete: content_length.is_some_and(|l| body.len() >= l),
        content_length,
        body,
        head: Some(head),
    }
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// A server where tenant `f-<name>` gets `fault` on every call.
async fn faulty(faults: &[(&str, Value)]) -> TestServer {
    let rules: Vec<Value> = faults
        .iter()
        .map(|(name, f)| json!({"match": {"access_key_id": format!("f-{name}")}, "effect": {"fault": f}}))
        .collect();
    server_with(0, &[json!({"name": "faults", "rules": rules})]).await
}

fn request(server: &TestServer, name: &str) -> Call {
    server
        .call(&format!("f-{name}"), "CreateKeyPair")
        .region(REGION)
}

/// The same request without a fault, for comparison.
async fn reference(server: &TestServer) -> Raw {
    exchange(
        server,
        &server.call("f-none", "CreateKeyPair").region(REGION),
    )
    .await
}

#[tokio::test]
async fn reset_closes_the_connection_before_any_byte() {
    let server = faulty(&[("reset", json!("reset"))]).await;
    let raw = exchange(&server, &request(&server, "reset")).await;
    assert!(raw.head.is_none(), "{raw:?}");
    let entries = journal(&server, "f-reset").await;
    assert_eq!(entries[0]["status"], Value::Null);
    assert_eq!(entries[0]["effect"], json!({"fault": "reset"}));
}

#[tokio::test]
async fn close_after_headers_sends_the_real_head_and_no_body() {
    // Arrange
    let server = faulty(&[("cah", json!("close_after_headers"))]).await;
    let good = reference(&server).await;
    // Act
    let raw = exchange(&server, &request(&server, "cah")).await;
    // Assert
    assert_eq!(raw.status, 400);
    assert_eq!(raw.content_length, good.content_length);
    assert!(raw.body.is_empty() && !raw.complete, "{raw:?}");
}

#[tokio::test]
async fn truncate_sends_the_first_k_body_bytes_then_closes() {
    let server = faulty(&[("trunc", json!({"truncate": {"bytes": 10}}))]).await;
    let good = reference(&server).await;
    let raw = exchange(&server, &request(&server, "trunc")).await;
    assert_eq!(raw.status, 400);
    assert_eq!(raw.content_length, good.content_length);
    assert_eq!(raw.body_text(), "{\"RequestI");
    assert!(!raw.complete);
}

#[tokio::test]
async fn a_short_content_length_cuts_the_body_on_a_healthy_looking_response() {
    let server = faulty(&[("short", json!("content_length_short"))]).await;
    let good = reference(&server).await;
    let raw = exchange(&server, &request(&server, "short")).await;
    let full = good.content_length.unwrap();
    assert_eq!(raw.content_length, Some(full / 2));
    assert!(raw.complete, "the declared length arrives");
    assert!(serde_json::from_slice::<Value>(&raw.body).is_err());
    assert!(raw.body_text().starts_with("{\"RequestId\":\""));
}

#[tokio::test]
async fn a_long_content_length_ends_the_connection_before_the_declared_length() {
    let server = faulty(&[("long", json!("content_length_long"))]).await;
    let good = reference(&server).await;
    let raw = exchange(&server, &request(&server, "long")).await;
    assert_eq!(raw.content_length, Some(good.content_length.unwrap() + 64));
    assert!(!raw.complete);
    let body: Value = serde_json::from_slice(&raw.body).expect("the whole real body arrived");
    assert_eq!(body["Code"], "MissingParameter");
}

#[tokio::test]
async fn garbage_and_empty_bodies_come_with_status_200() {
    let server = faulty(&[("garbage", json!("garbage")), ("empty", json!("empty"))]).await;
    let garbage = exchange(&server, &request(&server, "garbage")).await;
    assert_eq!(garbage.status, 200);
    assert_eq!(garbage.content_type, "application/json;charset=utf-8");
    assert_eq!(garbage.body.len(), 64);
    assert!(garbage.complete);
    assert!(serde_json::from_slice::<Value>(&garbage.body).is_err());
    let empty = exchange(&server, &request(&server, "empty")).await;
    assert_eq!((empty.status, empty.content_length), (200, Some(0)));
    assert!(empty.body.is_empty());
}

#[tokio::test]
async fn gateway_html_pages_carry_their_5xx_status() {
    let server = faulty(&[
        ("h502", json!("html_502")),
        ("h503", json!("html_503")),
        ("h504", json!("html_504")),
    ])
    .await;
    for (name, status, title) in [
        ("h502", 502, "502 Bad Gateway"),
        ("h503", 503, "503 Service Temporarily Unavailable"),
        ("h504", 504, "504 Gateway Time-out"),
    ] {
        let raw = exchange(&server, &request(&server, name)).await;
        assert_eq!(raw.status, status);
        assert_eq!(raw.content_type, "text/html");
        assert!(raw.complete);
        assert!(
            raw.body_text().contains(&format!("<title>{title}</title>")),
            "{}",
            raw.body_text()
        );
        assert_eq!(
            header(raw.head.as_deref().unwrap(), "server").as_deref(),
            Some("Tengine")
        );
    }
}

#[tokio::test(start_paused = true)]
async fn drip_delivers_the_whole_body_slowly() {
    // Arrange
    let server = faulty(&[("drip", json!({"drip": {"bytes": 16, "interval_ms": 250}}))]).await;
    let good = reference(&server).await;
    let start = tokio::time::Instant::now();
    // Act
    let raw = exchange(&server, &request(&server, "drip")).await;
    // Assert: all bytes, intact, and (virtual) time for every interval between chunks.
    let len = good.content_length.unwrap();
    assert_eq!(raw.content_length, Some(len));
    assert!(raw.complete);
    assert_eq!(
        serde_json::from_slice::<Value>(&raw.body).unwrap()["Code"],
        "MissingParameter"
    );
    let gaps = (len.div_ceil(16) - 1) as u32;
    assert!(
        start.elapsed() >= Duration::from_millis(250) * gaps,
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn hang_sends_nothing_until_its_cap_then_closes_in_order() {
    // Arrange
    let server = faulty(&[("hang", json!({"hang": {"max_ms": 5000}}))]).await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(&wire(&request(&server, "hang"))).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut buf = [0u8; 64];
    // Act: a client that gives up after one second sees nothing.
    let early = tokio::time::timeout(Duration::from_secs(1), s.read(&mut buf)).await;
    // Then the server's cap closes the connection without a byte.
    let late = s.read(&mut buf).await;
    // Assert: an orderly close (EOF), not the ECONNRESET of the `reset` fault
    // (regression, findings-scen #12: hang ended with an RST too).
    assert!(early.is_err(), "{early:?}");
    assert!(matches!(late, Ok(0)), "{late:?}");
    assert!(start.elapsed() >= Duration::from_millis(5000));
}

/// Regression (black-box review, twenty-seventh session): a delay "at the body" with a fault
/// that sends nothing was dropped (the reset came at once) while the journal counted it.
/// Combined with a fault, a delay comes first (docs/scenarios.md).
#[tokio::test(start_paused = true)]
async fn a_delay_at_the_body_comes_before_a_reset_or_a_hang() {
    // Arrange
    let rule = |tenant: &str, fault: Value| {
        json!({"match": {"access_key_id": tenant},
            "effect": {"latency": {"fixed_ms": 3000, "at": "body"}, "fault": fault}})
    };
    let server = server_with(
        0,
        &[json!({"name": "late-faults", "rules": [
            rule("f-late-reset", json!("reset")),
            rule("f-late-hang", json!({"hang": {"max_ms": 2000}})),
        ]})],
    )
    .await;
    for (name, least) in [("late-reset", 3000), ("late-hang", 5000)] {
        let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        s.write_all(&wire(&request(&server, name))).await.unwrap();
        let start = tokio::time::Instant::now();
        let mut buf = [0u8; 64];
        // Act
        let read = s.read(&mut buf).await;
        // Assert: nothing sent, and not before the delay (and the hang's cap) ran out.
        assert!(matches!(read, Ok(0) | Err(_)), "{name}: {read:?}");
        let waited = start.elapsed();
        assert!(waited >= Duration::from_millis(least), "{name}: {waited:?}");
        let entries = journal(&server, &format!("f-{name}")).await;
        assert_eq!(entries[0]["latency_ms"], 3000, "{name}");
    }
}

#[tokio::test]
async fn reset_is_a_real_tcp_reset_not_an_orderly_close() {
    // Arrange
    let server = faulty(&[("rst", json!("reset"))]).await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    // Act
    s.write_all(&wire(&request(&server, "rst"))).await.unwrap();
    let mut buf = [0u8; 64];
    let read = s.read(&mut buf).await;
    // Assert: clients see ECONNRESET (the SDKs' "Connection reset by peer"), not EOF.
    match read {
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("expected a reset, read {n} bytes"),
    }
}

#[tokio::test]
async fn connections_over_the_cap_get_503_and_the_rest_are_served() {
    // Arrange: a cap of 2 connections, both held open by idle clients.
    let mut config = ecs_mock::config::Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.limits.max_connections = 2;
    let server = TestServer::with_config(config).await;
    let held: Vec<_> = hold_connections(server.addr, 2).await;
    // Act: a third connection.
    let third = server
        .raw(b"GET /__mock/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    // Assert
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    assert!(third.contains("<Code>ServiceUnavailable</Code>"), "{third}");
    // Dated like every answer hyper writes (RFC 9110 §6.6.1: an origin server with a clock
    // sends Date), though this one is written by hand.
    let date = third
        .lines()
        .find_map(|l| l.strip_prefix("date: "))
        .unwrap_or_else(|| panic!("no date header: {third}"));
    assert!(
        date.ends_with(" GMT") && date.len() == "Sun, 06 Nov 1994 08:49:37 GMT".len(),
        "{date}"
    );
    drop(held);
    // Once they are gone, connections are served again.
    assert!(served_within(&server, 50).await);
}

#[tokio::test]
async fn a_client_that_reconnects_as_it_closes_is_not_over_the_cap() {
    // Regression (lifecycle review, twenty-ninth session): the slot of a closed connection is
    // freed once its task has read the close, and a client that opened its next connection
    // at once could be refused 503 under a cap it never exceeded. A connection over the cap
    // now waits a moment for a slot.
    let mut config = ecs_mock::config::Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.limits.max_connections = 1;
    config.workers = Some(3);
    let server = TestServer::with_config(config).await;
    let addr = server.addr;
    let refused = tokio::task::spawn_blocking(move || {
        let mut refused = 0;
        for _ in 0..500 {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut s, b"GET /__mock/health HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = std::io::Read::read(&mut s, &mut buf).unwrap();
            if !buf[..n].starts_with(b"HTTP/1.1 200") {
                refused += 1;
            }
        }
        refused
    })
    .await
    .unwrap();
    assert_eq!(
        refused, 0,
        "of 500 connections, each closed before the next"
    );
}

/// Whether a new connection's health check is answered 200 within `tries` attempts 50 ms
/// apart (each refused one with the cap's 503).
async fn served_within(server: &TestServer, tries: usize) -> bool {
    for _ in 0..tries {
        let r = server
            .raw(b"GET /__mock/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await;
        if r.starts_with("HTTP/1.1 200") {
            return true;
        }
        assert!(r.starts_with("HTTP/1.1 503"), "{r:.80}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_client_that_never_reads_its_answers_is_disconnected_after_the_header_timeout() {
    // Regression (resource audit #3): a client that sent requests and never read the
    // answers kept its connection once the socket buffers filled, with no timeout at all:
    // `--max-connections` such clients shut everyone else out.
    // Arrange: one connection allowed, a 500 ms timeout.
    let mut config = ecs_mock::config::Config::new("127.0.0.1:0".parse().unwrap(), 0);
    config.limits.max_connections = 1;
    config.limits.header_timeout = std::time::Duration::from_millis(500);
    config.verify_signatures = false;
    let server = TestServer::with_config(config).await;
    let request = b"GET /?Action=DescribeRegions&Version=2014-05-26&Format=JSON&AccessKeyId=t-hog HTTP/1.1\r\nhost: x\r\n\r\n";
    let hog = std::net::TcpStream::connect(server.addr).unwrap();
    hog.set_nonblocking(true).unwrap();
    // Act: pipeline requests, never read, until the buffers are full both ways.
    let mut written = 0usize;
    let mut blocked_since = None;
    while blocked_since.is_none_or(|t: std::time::Instant| t.elapsed().as_millis() < 200) {
        match std::io::Write::write(&mut &hog, request) {
            Ok(n) => {
                written += n;
                blocked_since = None;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                blocked_since.get_or_insert_with(std::time::Instant::now);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // Assert: within a few timeouts the hog's slot is free and a new client is served.
    assert!(
        served_within(&server, 100).await,
        "still refused after 5 s ({written} bytes of requests sent)"
    );
    drop(hog);
}

/// Opens `n` connections that each complete one keep-alive request and then stay open.
async fn hold_connections(addr: std::net::SocketAddr, n: usize) -> Vec<tokio::net::TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /__mock/health HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        out.push(s);
    }
    out
}

#[tokio::test]
async fn a_fault_that_shapes_the_body_cuts_a_scripted_response_too() {
    let server = server_with(
        0,
        &[
            json!({"name": "cut", "rules": [{"match": {"access_key_id": "f-cut"},
            "effect": {"respond": {"status": 503, "body": "0123456789abcdef"},
                       "fault": {"truncate": {"bytes": 5}}}}]}),
        ],
    )
    .await;
    let raw = exchange(&server, &request(&server, "cut")).await;
    assert_eq!(raw.status, 503);
    assert_eq!(raw.content_length, Some(16));
    assert_eq!(raw.body_text(), "01234");
    assert!(!raw.complete);
}
