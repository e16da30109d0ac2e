//! Deterministic derivation of every "random" value the mock hands out.
//!
//! Each stream (key material, KeyPairIds, RequestIds, default resource groups, scenario draws)
//! is derived from the configured seed plus stable inputs by [`derive()`]: SHA-256 over a domain
//! label, the seed and length-prefixed parts. The function is part of the mock's compatibility
//! promise — changing it changes every key and id users have pinned — so it never uses
//! `DefaultHasher` or anything else whose output may change between Rust releases.

use sha2::{Digest, Sha256};

/// SHA-256 of `domain`, `seed` (little endian) and each part prefixed by its length.
///
/// Length prefixes keep `("ab", "c")` and `("a", "bc")` apart.
pub fn derive(domain: &str, seed: u64, parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((domain.len() as u64).to_le_bytes());
    h.update(domain.as_bytes());
    h.update(seed.to_le_bytes());
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// An upper-case version 4 UUID as RequestId, e.g. `473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E`:
/// the real service's are random UUIDs (version nibble `4`, variant `8`–`B`), so a client
/// that checks the format sees one.
pub fn request_id(seed: u64, tenant: &str, ordinal: u64) -> String {
    uuid_request_id(derive(
        "request-id",
        seed,
        &[tenant.as_bytes(), &ordinal.to_le_bytes()],
    ))
}

/// [`request_id`] for a request counted on the counter tenants share past the cap: derived
/// apart, so that it never equals one of the same tenant's own count.
pub fn shared_request_id(seed: u64, tenant: &str, ordinal: u64) -> String {
    uuid_request_id(derive(
        "request-id-shared",
        seed,
        &[tenant.as_bytes(), &ordinal.to_le_bytes()],
    ))
}

fn uuid_request_id(mut d: [u8; 32]) -> String {
    d[6] = 0x40 | (d[6] & 0x0f);
    d[8] = 0x80 | (d[8] & 0x3f);
    // Built in place: this runs on every request, and a `format!` per byte showed in profiles.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(36);
    for (i, b) in d[..16].iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

const ALNUM: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `prefix` and `len` lower-case letters and digits drawn from a derived digest, in one
/// allocation (an import makes one per request).
fn alnum_id(prefix: &str, digest: &[u8; 32], len: usize) -> String {
    assert!(len <= 32, "alnum_id draws one character per digest byte");
    let mut out = String::with_capacity(prefix.len() + len);
    out.push_str(prefix);
    out.extend(
        digest[..len]
            .iter()
            .map(|b| ALNUM[(*b as usize) % ALNUM.len()] as char),
    );
    out
}

/// The KeyPairId of the `generation`-th creation of `name` in a tenant's region: `ssh-` + 20 chars.
pub fn key_pair_id(seed: u64, tenant: &str, region: &str, name: &str, generation: u64) -> String {
    let d = derive(
        "key-pair-id",
        seed,
        &[
            tenant.as_bytes(),
            region.as_bytes(),
            name.as_bytes(),
            &generation.to_le_bytes(),
        ],
    );
    alnum_id("ssh-", &d, 20)
}

/// The id of a tenant's default resource group: `rg-` + 15 chars, stable per (seed, tenant).
pub fn default_resource_group_id(seed: u64, tenant: &str) -> String {
    let d = derive("default-resource-group", seed, &[tenant.as_bytes()]);
    alnum_id("rg-", &d, RESOURCE_GROUP_ID_LEN - 3)
}

/// The length of a resource group id this module derives.
pub const RESOURCE_GROUP_ID_LEN: usize = 18;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_id_has_uuid_shape_and_is_stable() {
        let id = request_id(42, "ak", 1);
        assert_eq!(id.len(), 36);
        assert!(id
            .chars()
            .all(|c| c == '-' || c.is_ascii_digit() || c.is_ascii_uppercase()));
        assert_eq!(id, request_id(42, "ak", 1));
        assert_eq!(
            id, "840BF23D-FE44-49F1-BA3D-285174B2BBD4",
            "pinned: snapshots rely on it"
        );
        assert_ne!(id, request_id(43, "ak", 1));
        assert_ne!(id, request_id(42, "ak", 2));
        assert_ne!(id, request_id(42, "ak2", 1));
        assert_ne!(id, shared_request_id(42, "ak", 1));
        assert_eq!(
            shared_request_id(42, "ak", 1),
            shared_request_id(42, "ak", 1)
        );
    }

    #[test]
    fn request_ids_are_version_4_uuids() {
        for ordinal in 0..2_000 {
            let id = request_id(7, "t", ordinal);
            let b = id.as_bytes();
            assert_eq!(b[14], b'4', "version: {id}");
            assert!(matches!(b[19], b'8' | b'9' | b'A' | b'B'), "variant: {id}");
        }
    }

    #[test]
    fn length_prefixes_separate_parts() {
        assert_ne!(
            derive("d", 0, &[b"ab", b"c"]),
            derive("d", 0, &[b"a", b"bc"])
        );
    }

    #[test]
    fn key_pair_id_format() {
        let id = key_pair_id(0, "ak", "cn-hangzhou", "k1", 0);
        assert!(id.starts_with("ssh-"));
        assert_eq!(id.len(), 24);
        assert!(id[4..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
    }
}
