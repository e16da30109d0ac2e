//! DetachKeyPair: unbinds a key pair from instances of the account. API reference §1.6, §7.3,
//! §7.4. Request parsing, the whole-request checks and the response shape are AttachKeyPair's
//! (see `attach_key_pair`, which also lists the shared decisions).
//!
//! ```text
//! RegionId      String  required  a region of regions::REGIONS
//! KeyPairName   String  required  an existing key pair of that region
//! InstanceIds   String  required  JSON array of 1..=50 non-empty strings (the older zh doc
//!                                 calls it optional; the current doc and SDK require it)
//! ```
//! Response: `RequestId, KeyPairName, TotalCount, FailCount, Results.Result[]` with each
//! result `InstanceId, Success, Code, Message` (strings, as for AttachKeyPair).
//!
//! Decisions specific to this action:
//! - An unknown RegionId uses the wording of the older zh DetachKeyPair doc, "The specified
//!   RegionId does not exist." (AttachKeyPair keeps the common wording).
//! - §7.4: an unknown key pair is `400 InvalidKeyPairName.NotFound`, like AttachKeyPair (the
//!   English doc; only an older zh doc says 404).
//! - An instance that holds no key pair, or a different one, is a per-instance failure:
//!   `Success "false"`, Code [`NOT_ATTACHED_CODE`], Message [`NOT_ATTACHED_MESSAGE`], and its
//!   binding is left alone. The mock must not silently drop another key's binding, and a
//!   failure in `Results` breaks no client (Terraform ignores `Results`).
//! - A Windows instance among the ids fails the whole request with `403
//!   DependencyViolation.WindowsInstance` (documented for DetachKeyPair too).

use crate::protocol::response::Rendered;

use super::attach_key_pair::{
    check_request, parse_request, response, AttachKeyPair, Outcome, INSTANCE_NOT_FOUND_CODE,
    INSTANCE_NOT_FOUND_MESSAGE,
};
use super::{Action, Ctx};
use crate::error::ApiError;
use crate::protocol::params::Params;

/// Per-instance failure code for an instance that does not hold the named key pair.
pub const NOT_ATTACHED_CODE: &str = "InvalidKeyPair.NotAttached";
/// Per-instance failure message that goes with [`NOT_ATTACHED_CODE`].
pub const NOT_ATTACHED_MESSAGE: &str = "The specified KeyPair is not attached to the instance.";

/// A validated DetachKeyPair request (the same fields as AttachKeyPair's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetachKeyPair(pub AttachKeyPair);

impl DetachKeyPair {
    /// Validates the parameters: region, key pair name, instance ids.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidInstanceIds.ValueNotSupported`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        parse_request(params, Action::DetachKeyPair.unknown_region()).map(Self)
    }

    /// Clears the binding on every listed instance that holds this key pair.
    ///
    /// # Errors
    /// `InvalidKeyPairName.NotFound`, `DependencyViolation.WindowsInstance`; both leave every
    /// instance unchanged.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let req = self.0;
        let outcomes = ctx.store.with_account(ctx.who(), |acc| {
            check_request(acc, &req)?;
            let region = req.region.id;
            Ok::<_, ApiError>(
                req.instance_ids
                    .iter()
                    .map(|id| {
                        let instance = acc.instances.get_mut(id).filter(|i| i.region_id == region);
                        let outcome = match instance {
                            None => Outcome::Failed {
                                code: INSTANCE_NOT_FOUND_CODE,
                                message: INSTANCE_NOT_FOUND_MESSAGE,
                            },
                            Some(inst) if inst.key_pair_name.as_deref() == Some(&req.name) => {
                                inst.key_pair_name = None;
                                Outcome::Done
                            }
                            Some(_) => Outcome::Failed {
                                code: NOT_ATTACHED_CODE,
                                message: NOT_ATTACHED_MESSAGE,
                            },
                        };
                        (id.clone(), outcome)
                    })
                    .collect::<Vec<_>>(),
            )
        })??;
        Ok(response(ctx, &req.name, outcomes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_region_uses_the_detach_wording() {
        let params = Params::from_pairs([
            ("RegionId", "mars-1"),
            ("KeyPairName", "k"),
            ("InstanceIds", "[\"i-1\"]"),
        ]);
        let e = DetachKeyPair::parse(&params).unwrap_err();
        assert_eq!(
            (e.status(), e.code(), e.message().as_str()),
            (
                404,
                "InvalidRegionId.NotFound",
                "The specified RegionId does not exist."
            )
        );
    }
}
