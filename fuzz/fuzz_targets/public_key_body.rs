//! ImportKeyPair's PublicKeyBody parser never panics, an accepted key re-parses from its
//! normalised form to the same blob and fingerprint, the fingerprint's digest
//! (`--fingerprint`) changes nothing but the fingerprint, and the fingerprint of a plain key is the
//! MD5 (or SHA-1) of the blob, which is the base64 of the normalised line's second field, computed here
//! with the `md-5`, `sha1` and `base64` crates.
#![no_main]

use ecs_mock::keygen::Fingerprint;
use ecs_mock::sshkey::{parse_openssh_public_key, ParseOptions};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use sha1::Digest as _;

fn colon_hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

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
    // A certificate's is the certified plain key's (what `ssh-keygen -l` prints).
    if !key.key_type.contains("-cert-") {
        assert_eq!(key.fingerprint, colon_hex(&md5::Md5::digest(&key.blob)));
        assert_eq!(by_sha1.fingerprint, colon_hex(&sha1::Sha1::digest(&key.blob)));
    }
    let field = key.openssh.split(' ').nth(1).expect("type and base64");
    let blob = base64::engine::general_purpose::STANDARD
        .decode(field)
        .expect("the normalised line's base64");
    assert_eq!(blob, key.blob);
    let again = parse_openssh_public_key(&key.openssh, opts).expect("normalised form parses");
    assert_eq!(again.blob, key.blob);
    assert_eq!(again.fingerprint, key.fingerprint);
});
