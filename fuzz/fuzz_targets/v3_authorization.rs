//! V3 `Authorization` parsing never panics, and what it accepts re-renders to an equivalent
//! header.
#![no_main]

use ecs_mock::signature::parse_v3_authorization;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    let Ok(auth) = parse_v3_authorization(value) else {
        return;
    };
    let rendered = format!(
        "ACS3-HMAC-SHA256 Credential={},SignedHeaders={},Signature={}",
        auth.access_key_id,
        auth.signed_headers.join(";"),
        auth.signature
    );
    assert_eq!(
        parse_v3_authorization(&rendered).as_ref(),
        Ok(&auth),
        "{value:?}"
    );
});
