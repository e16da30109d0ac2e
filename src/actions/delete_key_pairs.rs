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

use super::{Action, Ctx};
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
        let region = super::region(params, Action::DeleteKeyPairs.unknown_region())?;
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
            let Some(region) = acc.region_mut(region_id) else {
                return Ok(()); // nothing was ever made there
            };
            for name in &self.names {
                // A name still being created is deleted too, as it will have been created
                // by the time its create answers (see `RegionState::cancel_pending`).
                if region.remove(name).is_none() {
                    region.cancel_pending(name);
                }
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

#[cfg(test)]
mod pending_tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;
    use crate::keypool::KeyPool;
    use crate::protocol::params::decode;
    use crate::protocol::response::Format;
    use crate::store::{NewKeyPair, Store};

    fn new_kp(fingerprint: &str) -> NewKeyPair {
        NewKeyPair {
            fingerprint: fingerprint.into(),
            ..crate::store::tests::new_kp()
        }
    }

    #[test]
    fn deleting_a_name_still_being_created_deletes_it_once_created() {
        // Regression (findings-conc #1): a create still generating its key refused a second
        // create of its name (KeyPair.AlreadyExist), yet DeleteKeyPairs skipped the name as
        // unknown, and the key pair appeared after the delete had succeeded.
        let store = Store::new(0);
        let config = Config::new("127.0.0.1:0".parse().unwrap(), 0);
        let keys = Arc::new(KeyPool::new(&config.keys, Arc::clone(&store)));
        let ctx = Ctx {
            store: &store,
            keys: &keys,
            config: &config,
            tenant: "t",
            counted: store.epoch(),
            request_id: "R",
            action: crate::actions::Action::DeleteKeyPairs,
            format: Format::Json,
            now_unix: 0,
        };
        let delete = |names: &str| {
            let q = format!("RegionId=cn-hangzhou&KeyPairNames={names}");
            DeleteKeyPairs::parse(&decode(q.as_bytes(), 1000).unwrap())
                .unwrap()
                .execute(&ctx)
                .unwrap();
        };
        let first = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        assert_eq!(
            crate::store::tests::refusal(&store, "k"),
            "KeyPair.AlreadyExist"
        );
        // Act
        delete(r#"["k"]"#);
        let second = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        first.commit(new_kp("fp-0"));
        // Assert: the first create answers with its key pair, which the delete removed; the
        // name's next creation is its second generation, and is stored.
        assert!(store.key_pairs("t", "cn-hangzhou").is_empty());
        assert_eq!(second.generation(), 1);
        second.commit(new_kp("fp-1"));
        let stored = store.key_pairs("t", "cn-hangzhou");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].fingerprint, "fp-1");
        // Deleting a name neither stored nor being created changes nothing.
        delete(r#"["other"]"#);
        assert_eq!(store.key_pairs("t", "cn-hangzhou").len(), 1);
    }
}
