//! V3 `Authorization` parsing never panics, what it accepts re-renders to an equivalent
//! header, and the AccessKeyId the request path claims before checking is the one checked.
#![no_main]

use ecs_mock::protocol::request::claimed_v3_access_key_id;
use ecs_mock::signature::parse_v3_authorization;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|value: &str| {
    let Ok(auth) = parse_v3_authorization(value) else {
        return;
    };
    assert_eq!(
        claimed_v3_access_key_id(value),
        Some(auth.access_key_id),
        "{value:?}"
    );
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
