//! A key cache entry is accepted by the fast check on the stored numbers exactly when `rsa`'s
//! own parse, validation and re-encoding accept it, with the same material.
#![no_main]

use ecs_mock::keygen::{material_from_pem, parse_pem};
use libfuzzer_sys::fuzz_target;
use pkcs8::LineEnding;

fuzz_target!(|input: (bool, &[u8])| {
    // Mutating the DER reaches the numeric checks; mutating the text, the PEM layer.
    let pem = if input.0 {
        match pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, input.1) {
            Ok(pem) => pem,
            Err(_) => return,
        }
    } else {
        String::from_utf8_lossy(input.1).into_owned()
    };
    assert_eq!(material_from_pem(&pem), parse_pem(&pem).map(|(_, m)| m));
});
