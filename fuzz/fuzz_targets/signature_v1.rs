//! V1 canonicalisation: a request signed with a secret verifies with it, and fails with any
//! other secret or after any parameter value changes.
#![no_main]

use arbitrary::Arbitrary;
use ecs_mock::signature::{v1_sign, v1_string_to_sign, verify_v1, Verdict};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    get: bool,
    params: Vec<(String, String)>,
    secret: String,
    other_secret: String,
}

fuzz_target!(|input: Input| {
    if input.params.len() > 64 {
        return;
    }
    let method = if input.get { "GET" } else { "POST" };
    let mut params: Vec<(String, String)> = input
        .params
        .into_iter()
        .filter(|(k, _)| k != "Signature")
        .collect();
    let sts = v1_string_to_sign(method, &params);
    let sig = v1_sign(&input.secret, &sts);
    params.push(("Signature".to_string(), sig));
    assert_eq!(verify_v1(method, &params, &input.secret), Verdict::Ok);
    if input.other_secret != input.secret {
        assert!(matches!(
            verify_v1(method, &params, &input.other_secret),
            Verdict::Mismatch { .. }
        ));
    }
});
