//! Query/form decoding: never panics, and decode → encode → decode is the identity.
#![no_main]

use ecs_mock::protocol::params::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = decode(data, 1000) else {
        return;
    };
    let encoded = encode(params.pairs());
    let again = decode(encoded.as_bytes(), 1000).expect("our own encoding always decodes");
    assert_eq!(params, again, "round trip of {encoded:?}");
});
