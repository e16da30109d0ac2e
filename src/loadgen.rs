//! Request material for load generation, shared by the benchmark (`src/bin/bench.rs`) and the
//! profiling example (`examples/request_cost.rs`): V1-signed queries as an SDK builds them,
//! and synthetic public keys for ImportKeyPair. Not used by the server.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::clock::{format_minutes, Clock};
use crate::protocol::params;
use crate::signature;

static NONCE: AtomicU64 = AtomicU64::new(0);

/// The encoded query of a V1 request for `action` as `access_key_id`, with the system
/// parameters an SDK adds (a fresh nonce, the current time, JSON) and its `Signature`.
pub fn v1_signed_query(
    method: &str,
    access_key_id: &str,
    secret: &str,
    action: &str,
    params: &[(&str, &str)],
) -> String {
    let secs = Clock::system().now_unix();
    let nonce = format!(
        "{}-{:x}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::Relaxed)
    );
    let timestamp = format!("{}:{:02}Z", &format_minutes(secs)[..16], secs % 60);
    let mut all: Vec<(String, String)> = [
        ("Action", action),
        ("Version", "2014-05-26"),
        ("AccessKeyId", access_key_id),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", &nonce),
        ("Timestamp", &timestamp),
        ("Format", "JSON"),
    ]
    .iter()
    .chain(params)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let sig = signature::v1_sign(secret, &signature::v1_string_to_sign(method, &all));
    all.push(("Signature".into(), sig));
    params::encode(&all)
}

/// The encoded query and the headers (Authorization last) of a request for `action` as the
/// default Python SDK (py-v2) sends it: a POST to `/` with the parameters in the query, an
/// empty body, and a V3 signature over the headers it signs
/// (../shared/spec/sdk-wire-behaviour.md).
pub fn v3_sdk_query_and_headers(
    host: &str,
    access_key_id: &str,
    secret: &str,
    action: &str,
    params: &[(&str, &str)],
) -> (String, Vec<(String, String)>) {
    let secs = Clock::system().now_unix();
    let date = format!("{}:{:02}Z", &format_minutes(secs)[..16], secs % 60);
    let nonce = format!(
        "{:016x}{:016x}",
        std::process::id(),
        NONCE.fetch_add(1, Ordering::Relaxed)
    );
    let empty_sha256 = signature::sha256_hex(b"");
    let signed_headers = [
        ("accept", "application/json"),
        ("host", host),
        (
            "user-agent",
            "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        ),
        ("x-acs-action", action),
        ("x-acs-content-sha256", &empty_sha256),
        ("x-acs-credentials-provider", "static_ak"),
        ("x-acs-date", &date),
        ("x-acs-signature-nonce", &nonce),
        ("x-acs-version", "2014-05-26"),
    ];
    let names: Vec<String> = signed_headers.iter().map(|(k, _)| k.to_string()).collect();
    let canonical = signature::v3_canonical_request(
        "POST",
        "/",
        params.iter().copied(),
        signed_headers.iter().copied(),
        &names,
        &empty_sha256,
    );
    let sig = signature::v3_sign(secret, &signature::v3_string_to_sign(&canonical));
    let pairs: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut headers = vec![("Accept-Encoding".to_string(), "identity".to_string())];
    headers.extend(
        signed_headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    headers.push((
        "Authorization".to_string(),
        format!(
            "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={},Signature={sig}",
            names.join(";")
        ),
    ));
    (params::encode(&pairs), headers)
}

/// [`v3_sdk_query_and_headers`] as a whole HTTP/1.1 request.
pub fn v3_sdk_request(
    host: &str,
    access_key_id: &str,
    secret: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Vec<u8> {
    let (query, headers) = v3_sdk_query_and_headers(host, access_key_id, secret, action, params);
    let mut out = format!("POST /?{query} HTTP/1.1\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

/// A well-formed `ssh-rsa` public key with a pseudo-random 2048-bit modulus, a different one
/// for each `i`: ImportKeyPair checks the format, not that anyone holds the private key.
pub fn synthetic_rsa_public_key(i: u64) -> String {
    let mut n = Vec::with_capacity(257);
    n.push(0); // mpint sign byte: the top bit of n is set
    let mut block = 0u64;
    while n.len() < 257 {
        let d = crate::ids::derive("bench-fake-rsa", i, &[&block.to_le_bytes()]);
        n.extend_from_slice(&d[..d.len().min(257 - n.len())]);
        block += 1;
    }
    n[1] |= 0x80;
    n[256] |= 1;
    let mut blob = Vec::new();
    for part in [&b"ssh-rsa"[..], &[1, 0, 1], &n] {
        blob.extend_from_slice(&(part.len() as u32).to_be_bytes());
        blob.extend_from_slice(part);
    }
    format!("ssh-rsa {}", STANDARD.encode(blob))
}
