//! ImportKeyPair's PublicKeyBody parser never panics, an accepted key re-parses from its
//! normalised form to the same blob and fingerprint, and the fingerprint's digest
//! (`--fingerprint`) changes nothing but the fingerprint.
#![no_main]

use ecs_mock::keygen::Fingerprint;
use ecs_mock::sshkey::{parse_openssh_public_key, ParseOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, &str)| {
    let opts = ParseOptions {
        allow_ed25519: input.0,
        fingerprint: Fingerprint::Md5,
    };
    let sha1 = ParseOptions {
        fingerprint: Fingerprint::Sha1,
        ..opts
    };
    let (key, by_sha1) = match (
        parse_openssh_public_key(input.1, opts),
        parse_openssh_public_key(input.1, sha1),
    ) {
        (Ok(key), Ok(by_sha1)) => (key, by_sha1),
        (Err(e), Err(e1)) => {
            assert_eq!(e, e1, "the digest does not decide what is refused");
            return;
        }
        (a, b) => panic!("accepted under one digest only: {a:?} / {b:?}"),
    };
    assert_eq!((&by_sha1.openssh, &by_sha1.blob), (&key.openssh, &key.blob));
    assert_eq!((key.fingerprint.len(), by_sha1.fingerprint.len()), (47, 59));
    let again = parse_openssh_public_key(&key.openssh, opts).expect("normalised form parses");
    assert_eq!(again.blob, key.blob);
    assert_eq!(again.fingerprint, key.fingerprint);
});
