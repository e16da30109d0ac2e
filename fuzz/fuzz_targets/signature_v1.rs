//! V1 canonicalisation, against the published recipe built independently here (the
//! `percent-encoding` crate, a plain sort, `hmac`): the mock's string to sign and signature are
//! the recipe's; a request signed by the recipe verifies in any parameter order, and so does
//! one signed in the SDKs' order (decoded keys); it fails with any other secret, or once any
//! value, the method or the signature changes.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine as _;
use ecs_mock::signature::{v1_sign, v1_string_to_sign, verify_v1, Verdict};
use hmac::{KeyInit, Mac, SimpleHmac};
use libfuzzer_sys::fuzz_target;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 3986 unreserved characters stay; everything else is `%XX` of its UTF-8 bytes.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// `METHOD&%2F&` and the encoded canonical query, its pairs sorted by `order`.
fn recipe(method: &str, params: &[(String, String)], by_decoded_key: bool) -> String {
    let mut pairs: Vec<(String, String, String)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.clone(), enc(k), enc(v)))
        .collect();
    if by_decoded_key {
        pairs.sort_by(|a, b| (&a.0, &a.2).cmp(&(&b.0, &b.2)));
    } else {
        pairs.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    }
    let query: Vec<String> = pairs.iter().map(|(_, k, v)| format!("{k}={v}")).collect();
    format!("{method}&%2F&{}", enc(&query.join("&")))
}

fn sign(secret: &str, string_to_sign: &str) -> String {
    let mut mac = SimpleHmac::<sha1::Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("any key length");
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[derive(Debug, Arbitrary)]
struct Input {
    get: bool,
    params: Vec<(String, String)>,
    secret: String,
    other_secret: String,
    changed: usize,
}

fuzz_target!(|input: Input| {
    if input.params.len() > 64 {
        return;
    }
    let method = if input.get { "GET" } else { "POST" };
    let params: Vec<(String, String)> = input
        .params
        .into_iter()
        .filter(|(k, _)| k != "Signature")
        .collect();
    // The mock's string to sign and signature are the recipe's.
    let sts = recipe(method, &params, false);
    assert_eq!(v1_string_to_sign(method, &params), sts);
    let sig = sign(&input.secret, &sts);
    assert_eq!(v1_sign(&input.secret, &sts), sig);

    let with = |mut p: Vec<(String, String)>, sig: &str| {
        p.push(("Signature".to_string(), sig.to_string()));
        p
    };
    let signed = with(params.clone(), &sig);
    assert_eq!(verify_v1(method, &signed, &input.secret), Verdict::Ok);
    // Parameter order on the wire does not matter.
    let reversed: Vec<_> = signed.iter().rev().cloned().collect();
    assert_eq!(verify_v1(method, &reversed, &input.secret), Verdict::Ok);
    // Signed as the SDKs sort (decoded keys).
    let sdk_sig = sign(&input.secret, &recipe(method, &params, true));
    let by_sdk = with(params.clone(), &sdk_sig);
    assert_eq!(verify_v1(method, &by_sdk, &input.secret), Verdict::Ok);

    if input.other_secret != input.secret {
        assert!(matches!(
            verify_v1(method, &signed, &input.other_secret),
            Verdict::Mismatch { .. }
        ));
    }
    let other_method = if input.get { "POST" } else { "GET" };
    assert!(matches!(
        verify_v1(other_method, &signed, &input.secret),
        Verdict::Mismatch { .. }
    ));
    if !params.is_empty() {
        let mut changed = params.clone();
        let i = input.changed % changed.len();
        changed[i].1.push('x');
        assert!(
            matches!(
                verify_v1(method, &with(changed, &sig), &input.secret),
                Verdict::Mismatch { .. }
            ),
            "a changed value of {:?} still verifies",
            params[i].0
        );
    }
    let mut bad_sig = sig.into_bytes();
    bad_sig[0] = if bad_sig[0] == b'A' { b'B' } else { b'A' };
    let bad_sig = String::from_utf8(bad_sig).expect("base64 is ASCII");
    assert!(matches!(
        verify_v1(method, &with(params, &bad_sig), &input.secret),
        Verdict::Mismatch { .. }
    ));
});
