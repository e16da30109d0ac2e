//! RSA key material for key pairs the mock creates, and SSH public-key encodings.
//!
//! This module owns everything `CreateKeyPair` hands back and what the mock stores for it: the
//! PKCS#8 PEM private key, the `ssh-rsa` OpenSSH public key and the MD5 fingerprint, plus the SSH
//! wire-format blob and fingerprint helpers that `ImportKeyPair` reuses for user-supplied keys.
//!
//! Key generation is a pure function of (seed, tenant AccessKeyId, region, key pair name,
//! generation): a ChaCha20 RNG seeded from [`crate::ids::derive`] under the domain
//! `keygen/rsa-2048/v1` drives `rsa`'s 2048-bit key generation with e = 65537. Users pin these
//! keys and fingerprints in their tests and snapshots, so the derivation — domain label, part
//! order and encoding, RNG algorithm and key size — must never change. A deliberate change needs
//! a new domain label (`.../v2`) and a release note. The golden test at the bottom of this file
//! also catches silent changes from dependency bumps (`rsa`, `crypto-bigint`, `crypto-primes`,
//! `rand_chacha`) that would alter the bytes produced from the same RNG stream.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use md5::{Digest, Md5};
use pkcs8::{EncodePrivateKey, LineEnding};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::traits::PublicKeyParts;

use crate::ids;

/// Domain label of the key generation stream. Part of the compatibility promise: never edit.
const KEYGEN_DOMAIN: &str = "keygen/rsa-2048/v1";
/// Modulus size of generated keys. Part of the compatibility promise: never edit.
const KEY_BITS: usize = 2048;

/// Everything the mock stores and returns for a key pair it created.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), LF line endings, trailing newline.
    pub private_key_pem: String,
    /// `ssh-rsa AAAA...` without a comment.
    pub public_key_openssh: String,
    /// MD5 of the SSH wire-format public blob: 16 lower-case hex octets joined by `:`.
    pub fingerprint: String,
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("private_key_pem", &"<redacted>")
            .field("public_key_openssh", &self.public_key_openssh)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// Key material for the `generation`-th creation of `name` by tenant `access_key_id` in `region`: a pure function of its inputs.
pub fn generate(
    seed: u64,
    access_key_id: &str,
    region: &str,
    name: &str,
    generation: u64,
) -> KeyMaterial {
    let rng_seed = ids::derive(
        KEYGEN_DOMAIN,
        seed,
        &[
            access_key_id.as_bytes(),
            region.as_bytes(),
            name.as_bytes(),
            &generation.to_le_bytes(),
        ],
    );
    let mut rng = ChaCha20Rng::from_seed(rng_seed);
    // `PrivateKey::new` always uses e = 65537.
    let key = rsa::PrivateKey::new(&mut rng, KEY_BITS)
        .expect("ChaCha20Rng never fails and 2048 bits is above rsa's minimum modulus size");
    let private_key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .expect("a freshly generated, validated RSA key always encodes as PKCS#8")
        .to_string();
    let blob = rsa_public_blob(key.as_public_key());
    KeyMaterial {
        private_key_pem,
        public_key_openssh: format!("ssh-rsa {}", STANDARD.encode(&blob)),
        fingerprint: md5_fingerprint(&blob),
    }
}

/// MD5 colon-hex of an SSH public key blob (also used for imported keys).
pub fn md5_fingerprint(blob: &[u8]) -> String {
    Md5::digest(blob)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// SSH wire-format blob for an RSA public key: string "ssh-rsa", mpint e, mpint n (RFC 4253 §6.6; mpint with leading 0x00 when the high bit is set).
pub fn rsa_public_blob(key: &rsa::PublicKey) -> Vec<u8> {
    let mut blob = Vec::with_capacity(4 + 7 + 4 + 4 + 4 + 1 + key.size());
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, &key.e_bytes());
    put_mpint(&mut blob, &key.n_bytes());
    blob
}

/// RFC 4251 §5 `string`: u32 big-endian length, then the bytes.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    let len =
        u32::try_from(bytes.len()).expect("SSH strings here are RSA parameters, far below 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// RFC 4251 §5 `mpint` of a non-negative big-endian magnitude: leading zero octets stripped,
/// one 0x00 prepended when the high bit is set, zero encoded as the empty string.
fn put_mpint(out: &mut Vec<u8>, magnitude: &[u8]) {
    let first = magnitude
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(magnitude.len());
    let digits = &magnitude[first..];
    if digits.first().is_some_and(|&b| b & 0x80 != 0) {
        let len = u32::try_from(digits.len() + 1)
            .expect("SSH mpints here are RSA parameters, far below 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.push(0);
        out.extend_from_slice(digits);
    } else {
        put_string(out, digits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pkcs8::DecodePrivateKey;
    use sha2::Sha256;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::process::Command;

    fn golden() -> KeyMaterial {
        generate(42, "ak", "cn-hangzhou", "golden", 0)
    }

    #[test]
    fn same_inputs_give_identical_material() {
        assert_eq!(golden(), golden());
    }

    #[test]
    fn every_input_changes_the_key() {
        let base = golden();
        let variants = [
            generate(43, "ak", "cn-hangzhou", "golden", 0),
            generate(42, "ak2", "cn-hangzhou", "golden", 0),
            generate(42, "ak", "cn-beijing", "golden", 0),
            generate(42, "ak", "cn-hangzhou", "golden2", 0),
            generate(42, "ak", "cn-hangzhou", "golden", 1),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(v.private_key_pem, base.private_key_pem, "variant {i}");
            assert_ne!(v.public_key_openssh, base.public_key_openssh, "variant {i}");
            assert_ne!(v.fingerprint, base.fingerprint, "variant {i}");
        }
    }

    /// Pins the exact bytes of one generated key. Users pin keys and fingerprints the mock hands
    /// out, so a change here (from editing the derivation or from a bump of `rsa`,
    /// `crypto-bigint`, `crypto-primes` or `rand_chacha` that consumes the RNG stream
    /// differently) is a breaking change, not a test to re-bless casually.
    #[test]
    fn golden_key_is_pinned() {
        let km = golden();
        assert_eq!(
            km.fingerprint,
            "7e:f2:b1:43:b0:a1:44:bf:48:38:80:13:53:1f:22:8e"
        );
        // First base64 line: the PKCS#8/PKCS#1 headers and the top bytes of n, readable in a diff.
        assert_eq!(
            km.private_key_pem.lines().nth(1),
            Some("MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCgdVXBuhux5qgD")
        );
        let pem_sha256: String = Sha256::digest(km.private_key_pem.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            pem_sha256,
            "ebd9025fc2759c10f3c9e71911136a233ed7982028f9b1926d523965fb1afc30"
        );
    }

    #[test]
    fn pem_shape_and_round_trip() {
        let km = golden();
        assert!(km
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(km.private_key_pem.ends_with("-----END PRIVATE KEY-----\n"));
        assert!(!km.private_key_pem.contains('\r'));

        let key = rsa::PrivateKey::from_pkcs8_pem(&km.private_key_pem).expect("PEM parses");
        key.validate().expect("key is consistent");
        assert_eq!(key.n().bit_width(), 2048);
        assert_eq!(&*key.e_bytes(), &[0x01, 0x00, 0x01]);

        let blob = rsa_public_blob(key.as_public_key());
        assert_eq!(
            km.public_key_openssh,
            format!("ssh-rsa {}", STANDARD.encode(&blob))
        );
        assert_eq!(km.fingerprint, md5_fingerprint(&blob));
        // 2048-bit n always has its high bit set, so its mpint carries a leading 0x00.
        let header = b"\0\0\0\x07ssh-rsa\0\0\0\x03\x01\x00\x01\0\0\x01\x01";
        assert_eq!(&blob[..header.len()], header);
        assert_eq!(blob[header.len()], 0);
        assert!(blob[header.len() + 1] & 0x80 != 0);
        assert_eq!(blob.len(), header.len() + 257);
    }

    #[test]
    fn debug_redacts_private_key() {
        let km = golden();
        let dbg = format!("{km:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains("PRIVATE KEY"));
        assert!(dbg.contains(&km.fingerprint));
    }

    #[test]
    fn mpint_encoding() {
        let enc = |m: &[u8]| {
            let mut v = Vec::new();
            put_mpint(&mut v, m);
            v
        };
        assert_eq!(enc(&[]), [0, 0, 0, 0]);
        assert_eq!(enc(&[0, 0]), [0, 0, 0, 0]);
        assert_eq!(enc(&[0x7f]), [0, 0, 0, 1, 0x7f]);
        assert_eq!(enc(&[0x80]), [0, 0, 0, 2, 0, 0x80]);
        assert_eq!(enc(&[0, 0x12, 0x34]), [0, 0, 0, 2, 0x12, 0x34]);
    }

    #[test]
    fn md5_fingerprint_matches_spec_vector() {
        let blob = STANDARD
            .decode("AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBGsX0fLhLEJH+Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT+NC4v4af5uO5+tKfA+eFivOM1drMV7Oy7ZAaDe/UfU=")
            .unwrap();
        assert_eq!(
            md5_fingerprint(&blob),
            "55:1a:28:cf:23:4c:dc:39:0d:58:79:1d:d5:60:83:26"
        );
    }

    /// Removes the files it names when dropped, so a failed assertion still cleans up.
    struct TempFiles(Vec<PathBuf>);

    impl Drop for TempFiles {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("failed to run {cmd:?}: {e}"));
        assert!(
            out.status.success(),
            "{cmd:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("tool output is UTF-8")
    }

    #[test]
    fn system_tools_accept_the_key() {
        let km = golden();
        // One test per process uses this stem, so the pid makes it unique.
        let stem = format!("ecs-mock-keygen-{}", std::process::id());
        let dir = std::env::temp_dir();
        let key_path = dir.join(format!("{stem}.pem"));
        let pub_path = dir.join(format!("{stem}.pub"));
        let _cleanup = TempFiles(vec![key_path.clone(), pub_path.clone()]);

        std::fs::write(&key_path, &km.private_key_pem).unwrap();
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&pub_path, format!("{}\n", km.public_key_openssh)).unwrap();

        run(Command::new("openssl")
            .args(["pkey", "-check", "-noout", "-in"])
            .arg(&key_path));

        let derived = run(Command::new("ssh-keygen")
            .arg("-y")
            .arg("-f")
            .arg(&key_path));
        let derived = derived.trim_end();
        // ssh-keygen may append " comment"; compare the type and base64 fields only.
        let fields: Vec<&str> = derived.split(' ').take(2).collect();
        assert_eq!(fields.join(" "), km.public_key_openssh);

        let listing = run(Command::new("ssh-keygen")
            .args(["-l", "-E", "md5", "-f"])
            .arg(&pub_path));
        assert!(
            listing.contains(&format!("MD5:{}", km.fingerprint)),
            "ssh-keygen printed {listing:?}, expected MD5:{}",
            km.fingerprint
        );
        assert!(listing.starts_with("2048 "), "{listing:?}");
    }
}
