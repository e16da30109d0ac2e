//! ImportKeyPair's PublicKeyBody parser never panics, and an accepted key re-parses from its
//! normalised form to the same blob and fingerprint.
#![no_main]

use ecs_mock::sshkey::{parse_openssh_public_key, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let opts = ParseOptions {
        allow_ed25519: input.0,
    };
    let Ok(key) = parse_openssh_public_key(input.1, opts) else {
        return;
    };
    let again = parse_openssh_public_key(&key.openssh, opts).expect("normalised form parses");
    assert_eq!(again.blob, key.blob);
    assert_eq!(again.fingerprint, key.fingerprint);
});
