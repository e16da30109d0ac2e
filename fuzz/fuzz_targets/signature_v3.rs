//! V3 canonical request: a request signed over its decoded query and chosen headers verifies
//! with the secret, and fails with another secret or a changed body.
#![no_main]

use arbitrary::Arbitrary;
use ecs_mock::signature::{
    sha256_hex, v3_canonical_request, v3_sign, v3_string_to_sign, verify_v3, V3Authorization,
    Verdict,
};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    query: Vec<(String, String)>,
    headers: Vec<(u8, String)>,
    body: Vec<u8>,
    secret: String,
    other_secret: String,
}

const NAMES: [&str; 6] = [
    "host",
    "x-acs-action",
    "x-acs-version",
    "x-acs-date",
    "x-acs-signature-nonce",
    "content-type",
];

fuzz_target!(|input: Input| {
    if input.query.len() > 32 || input.headers.len() > 16 {
        return;
    }
    let mut headers: Vec<(String, String)> = input
        .headers
        .iter()
        // Header values never carry CR/LF on the wire.
        .filter(|(_, v)| !v.contains(['\r', '\n']))
        .map(|(i, v)| (NAMES[*i as usize % NAMES.len()].to_string(), v.clone()))
        .collect();
    let hash = sha256_hex(&input.body);
    headers.push(("x-acs-content-sha256".into(), hash.clone()));
    let mut signed: Vec<String> = headers.iter().map(|(k, _)| k.clone()).collect();
    signed.sort();
    signed.dedup();
    let canonical = v3_canonical_request("POST", "/", &input.query, &headers, &signed, &hash);
    let signature = v3_sign(&input.secret, &v3_string_to_sign(&canonical));
    let auth = V3Authorization {
        access_key_id: "ak",
        signed_headers: signed.iter().map(|n| n.as_str().into()).collect(),
        signature: &signature,
    };
    assert_eq!(
        verify_v3(
            "POST",
            "/",
            &input.query,
            &headers,
            &input.body,
            &auth,
            &input.secret
        ),
        Verdict::Ok
    );
    // HMAC pads keys with zero bytes, so secrets that differ only in trailing NULs are the
    // same key: a property of HMAC, not of our code.
    if input.other_secret.trim_end_matches('\0') != input.secret.trim_end_matches('\0') {
        assert!(matches!(
            verify_v3(
                "POST",
                "/",
                &input.query,
                &headers,
                &input.body,
                &auth,
                &input.other_secret
            ),
            Verdict::Mismatch { .. }
        ));
    }
    let mut tampered = input.body.clone();
    tampered.push(b'x');
    assert!(matches!(
        verify_v3(
            "POST",
            "/",
            &input.query,
            &headers,
            &tampered,
            &auth,
            &input.secret
        ),
        Verdict::Mismatch { .. }
    ));
});
