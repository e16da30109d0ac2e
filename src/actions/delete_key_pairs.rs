//! DeleteKeyPairs: deletes key pairs of a region by name, all or nothing.
//! API reference §1.4 (open question §7.9).
//!
//! ```text
//! RegionId      String  required  a region of regions::REGIONS
//! KeyPairNames  String  required  JSON array of 1..100 non-empty names, e.g. ["k1","k2"];
//!                                 duplicates allowed, unknown names ignored
//! ```
//! Response: `RequestId`.
//!
//! Decisions:
//! * Unknown names are skipped silently and the call succeeds (§7.9: undocumented; Terraform
//!   relies on no error). `InvalidKeyPair.NotFound` is left to forced-error scenarios.
//! * If any named key pair is attached to an instance, the call fails with
//!   `InvalidParameter.KeypairAlreadyAttachedInstance` and deletes nothing: every name is
//!   checked before the first removal, under one lock, so no other request sees a half-done
//!   delete.
//! * Deleting frees the name and one unit of the region's quota. The name's generation
//!   counter survives, so a later CreateKeyPair of the same name derives a new key.

use crate::protocol::response::Rendered;

use super::Ctx;
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::validate;

/// Most names one request may carry.
pub const MAX_NAMES: usize = 100;

/// A validated DeleteKeyPairs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteKeyPairs {
    pub region: &'static Region,
    /// As given, duplicates included.
    pub names: Vec<String>,
}

impl DeleteKeyPairs {
    /// Validates the request.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidKeyPairNames.ValueNotSupported`
    /// (not a JSON array of non-empty strings, empty, or more than [`MAX_NAMES`]).
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let region = super::region(params, Kind::InvalidRegionIdNotFound)?;
        let raw = params
            .non_empty("KeyPairNames")
            .ok_or_else(|| ApiError::missing("KeyPairNames"))?;
        let names = validate::json_string_array(raw, MAX_NAMES)
            .map_err(|_| ApiError::new(Kind::InvalidKeyPairNamesValueNotSupported))?;
        Ok(Self { region, names })
    }

    /// Deletes every existing named key pair unless one of them is attached.
    ///
    /// # Errors
    /// `InvalidParameter.KeypairAlreadyAttachedInstance`.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let region_id = self.region.id;
        ctx.store.with_account(ctx.who(), |acc| {
            let exists = |name: &String| {
                acc.region_ref(region_id)
                    .is_some_and(|r| r.key_pairs().contains_key(name))
            };
            // Only existing key pairs count as attached: an instance fixture naming a key pair
            // that does not exist does not make that (unknown, hence ignored) name fail.
            if self
                .names
                .iter()
                .any(|n| exists(n) && !acc.instances_holding(region_id, n).is_empty())
            {
                return Err(ApiError::new(Kind::KeypairAlreadyAttachedInstance));
            }
            let region = acc.region(region_id);
            for name in &self.names {
                region.remove(name);
            }
            Ok(())
        })??;
        Ok(super::request_id_only(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<DeleteKeyPairs, ApiError> {
        DeleteKeyPairs::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    #[test]
    fn validation_order_and_codes() {
        let hundred: Vec<String> = (0..100).map(|i| format!("\"k{i}\"")).collect();
        let hundred = format!("[{}]", hundred.join(","));
        let hundred_one = hundred.replacen('[', "[\"extra\",", 1);
        let cases = [
            ("KeyPairNames=[\"a\"]".to_string(), "MissingParameter"),
            (
                "RegionId=mars&KeyPairNames=x".to_string(),
                "InvalidRegionId.NotFound",
            ),
            ("RegionId=cn-hangzhou".to_string(), "MissingParameter"),
            (
                "RegionId=cn-hangzhou&KeyPairNames=".to_string(),
                "MissingParameter",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairNames=k1".to_string(),
                "InvalidKeyPairNames.ValueNotSupported",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairNames=[]".to_string(),
                "InvalidKeyPairNames.ValueNotSupported",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairNames=[\"\"]".to_string(),
                "InvalidKeyPairNames.ValueNotSupported",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairNames=[1]".to_string(),
                "InvalidKeyPairNames.ValueNotSupported",
            ),
            (
                format!("RegionId=cn-hangzhou&KeyPairNames={hundred_one}"),
                "InvalidKeyPairNames.ValueNotSupported",
            ),
        ];
        for (q, code) in cases {
            assert_eq!(parse(&q).unwrap_err().code(), code, "{q}");
        }
        let ok = parse(&format!("RegionId=cn-hangzhou&KeyPairNames={hundred}")).unwrap();
        assert_eq!(ok.names.len(), 100);
        let dup = parse("RegionId=cn-hangzhou&KeyPairNames=[\"a\",\"a\"]").unwrap();
        assert_eq!(dup.names, ["a", "a"]);
    }
}
