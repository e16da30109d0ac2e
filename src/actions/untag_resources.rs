//! UntagResources: removes tags from key pairs. API reference §1.8 (errors as §1.7).
//!
//! ```text
//! RegionId         String      required  a region of regions::REGIONS
//!                                        (missing: 404 MissingParameter.RegionId)
//! ResourceType     String      required  `keypair`; another documented type names no
//!                                        existing resource; anything else is unknown
//!                                        (missing: 404 MissingParameter.ResourceType)
//! ResourceId.N     RepeatList  required  N = 1..50; key pair names in RegionId
//! TagKey.N         RepeatList  optional  N = 1..20; keys to remove, matched exactly
//! All              Boolean     optional  True/true/False/false; honoured only without TagKey.N
//! ```
//! Response: `RequestId`.
//!
//! Decisions:
//! - Removing a key a resource does not carry is not an error (standard tag semantics).
//! - `TagKey.N` values are not checked against the tag-key format: a key that could not have
//!   been set simply matches nothing.
//! - Neither `TagKey.N` nor `All=true`: a successful no-op (after the resources are checked),
//!   so a caller that computed an empty key list does not fail.
//! - A missing `ResourceId.N` is `400 MissingParameter` naming `ResourceId`, as in
//!   TagResources; an `All` that is not a boolean is `400 InvalidParameter` naming `All`.
//! - All-or-nothing: if any resource is unknown, nothing is removed.

use crate::protocol::response::Rendered;

use super::tags_common::{self, ResourceType};
use super::Ctx;
use crate::error::ApiError;
use crate::protocol::params::{parse_bool, Params};
use crate::regions::Region;

/// Which tags to remove from each resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// These keys (absent ones are ignored).
    Keys(Vec<String>),
    /// Every tag (`All=true` without `TagKey.N`).
    All,
    /// Nothing: neither `TagKey.N` nor `All=true`.
    Nothing,
}

/// A validated UntagResources request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntagResources {
    pub region: &'static Region,
    pub resource_type: ResourceType,
    pub resource_ids: Vec<String>,
    pub removal: Removal,
}

impl UntagResources {
    /// Validates in the order: region, mandatory parameters, resource type, limits and formats.
    ///
    /// # Errors
    /// `MissingParameter.RegionId`, `InvalidRegionId.NotFound`, `MissingParameter.ResourceType`,
    /// `MissingParameter`, `InvalidResourceType.NotFound`, `NumberExceed.ResourceIds`,
    /// `NumberExceed.Tags`, `InvalidParameter` (All).
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let target = tags_common::tag_target(params)?;
        let resource_type =
            ResourceType::parse(target.resource_type, tags_common::TAG_RESOURCE_TYPES)?;
        let resource_ids = target.resource_ids?;
        let keys = tags_common::tag_keys(params)?;
        let all = match params.non_empty("All") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| ApiError::invalid("All"))?,
        };
        let removal = if !keys.is_empty() {
            Removal::Keys(keys)
        } else if all {
            Removal::All
        } else {
            Removal::Nothing
        };
        Ok(Self {
            region: target.region,
            resource_type,
            resource_ids,
            removal,
        })
    }

    /// Checks every resource, then removes the tags from all of them.
    ///
    /// # Errors
    /// `InvalidResourceId.NotFound`.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let removal = &self.removal;
        tags_common::update_key_pairs(
            ctx,
            self.region,
            self.resource_type,
            &self.resource_ids,
            |_| Ok(()),
            |kp| match removal {
                Removal::Keys(keys) => kp.tags.retain(|t| !keys.contains(&t.key)),
                Removal::All => kp.tags.clear(),
                Removal::Nothing => {}
            },
        )?;
        Ok(super::request_id_only(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<UntagResources, ApiError> {
        UntagResources::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    const OK: &str = "RegionId=cn-hangzhou&ResourceType=keypair&ResourceId.1=k";

    #[test]
    fn validation_order_and_codes() {
        let many_ids: String = (1..=51).map(|i| format!("&ResourceId.{i}=k{i}")).collect();
        let many_keys: String = (1..=21).map(|i| format!("&TagKey.{i}=t{i}")).collect();
        let cases = [
            (
                "ResourceType=keypair&ResourceId.1=k".to_string(),
                404,
                "MissingParameter.RegionId",
            ),
            (
                "RegionId=xx-1&ResourceType=keypair&ResourceId.1=k".to_string(),
                404,
                "InvalidRegionId.NotFound",
            ),
            (
                "RegionId=cn-hangzhou&ResourceId.1=k".to_string(),
                404,
                "MissingParameter.ResourceType",
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=keypair&TagKey.1=a".to_string(),
                400,
                "MissingParameter",
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=vm&ResourceId.1=k".to_string(),
                404,
                "InvalidResourceType.NotFound",
            ),
            (
                format!("RegionId=cn-hangzhou&ResourceType=keypair{many_ids}"),
                400,
                "NumberExceed.ResourceIds",
            ),
            (format!("{OK}{many_keys}"), 400, "NumberExceed.Tags"),
            (format!("{OK}&All=yes"), 400, "InvalidParameter"),
        ];
        for (q, status, code) in cases {
            let e = parse(&q).unwrap_err();
            assert_eq!((e.status(), e.code()), (status, code), "{q}");
        }
    }

    #[test]
    fn all_is_honoured_only_without_tag_keys() {
        let cases = [
            ("", Removal::Nothing),
            ("&All=", Removal::Nothing),
            ("&All=False", Removal::Nothing),
            ("&All=True", Removal::All),
            ("&All=true", Removal::All),
            ("&All=TRUE&TagKey.1=", Removal::All),
            (
                "&All=True&TagKey.2=b&TagKey.1=a",
                Removal::Keys(vec!["a".into(), "b".into()]),
            ),
            ("&TagKey.1=a", Removal::Keys(vec!["a".into()])),
        ];
        for (extra, want) in cases {
            assert_eq!(
                parse(&format!("{OK}{extra}")).unwrap().removal,
                want,
                "{extra}"
            );
        }
    }
}
