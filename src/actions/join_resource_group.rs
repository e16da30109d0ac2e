//! JoinResourceGroup: moves a key pair into another resource group of the account.
//! API reference §1.10.
//!
//! ```text
//! RegionId         String  required  a region of regions::REGIONS
//! ResourceGroupId  String  required  a resource group of the account
//! ResourceType     String  required  case-sensitive; `keypair` is modelled, another
//!                                    documented type names no existing resource
//! ResourceId       String  required  one key pair name in RegionId (not a list)
//! ```
//! Response: `RequestId`. The new group shows in DescribeKeyPairs' `ResourceGroupId` and in
//! ListTagResources' `acs:rm:rgId` filter.
//!
//! Decisions:
//! - Every missing parameter is `403 MissingParameter` (the documented status, sic), checked
//!   in the order RegionId, ResourceGroupId, ResourceType, ResourceId. The docs mark all four
//!   optional but list the errors for three; ResourceType is treated like the others.
//! - An unknown RegionId is `404 InvalidRegionId.NotFound` with the key pair actions' wording
//!   ("The RegionId provided does not exist in our records."), which matches this action's
//!   other "provided … in our records" messages; the action documents none of its own.
//! - State checks run group first, then resource: `404 InvalidResourceGroup.NotFound`, then
//!   `404 InvalidResourceId.NotFound` ("The ResourceId provided does not exist in our
//!   records.").
//! - Joining the group the key pair is already in is `403 InvalidResourceGroup.Duplicate`
//!   ("The ResourceId provided has a ResourceGroup in our records."): the only reading of that
//!   message under which it can arise, since every resource always has some group.

use std::sync::Arc;

use crate::protocol::response::Rendered;

use super::tags_common::{ResourceType, JOIN_RESOURCE_TYPES};
use super::{Action, Ctx};
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::{self, Region};

/// A validated JoinResourceGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResourceGroup {
    pub region: &'static Region,
    pub resource_group_id: String,
    pub resource_type: ResourceType,
    pub resource_id: String,
}

/// A mandatory parameter with this action's 403 MissingParameter.
fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .non_empty(name)
        .ok_or_else(|| ApiError::with(Kind::MissingParameterForbidden, name))
}

impl JoinResourceGroup {
    /// Validates RegionId (presence, then region list), the presence of ResourceGroupId,
    /// ResourceType and ResourceId, then the resource type.
    ///
    /// # Errors
    /// `MissingParameter` (403), `InvalidRegionId.NotFound`, `InvalidResourceType.NotFound`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let region = required(params, "RegionId")?;
        let region = regions::find(region)
            .ok_or_else(|| ApiError::new(Action::JoinResourceGroup.unknown_region()))?;
        let resource_group_id = required(params, "ResourceGroupId")?;
        let resource_type = required(params, "ResourceType")?;
        let resource_id = required(params, "ResourceId")?;
        Ok(Self {
            region,
            resource_group_id: resource_group_id.to_string(),
            resource_type: ResourceType::parse(resource_type, JOIN_RESOURCE_TYPES)?,
            resource_id: resource_id.to_string(),
        })
    }

    /// Moves the key pair under one store lock.
    ///
    /// # Errors
    /// `InvalidResourceGroup.NotFound`, `InvalidResourceId.NotFound`,
    /// `InvalidResourceGroup.Duplicate`.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        ctx.store.with_account(ctx.who(), |acc| {
            if !acc.resource_groups.contains(&self.resource_group_id) {
                return Err(ApiError::new(Kind::InvalidResourceGroupNotFound));
            }
            let key_pair = match self.resource_type {
                ResourceType::KeyPair => acc
                    .region_mut(self.region.id)
                    .and_then(|r| r.key_pairs_mut().get_mut(&self.resource_id))
                    .map(Arc::make_mut),
                ResourceType::Unmodelled => None,
            }
            .ok_or_else(|| ApiError::new(Kind::InvalidResourceIdNotFoundSingle))?;
            if key_pair.resource_group_id == self.resource_group_id {
                return Err(ApiError::new(Kind::InvalidResourceGroupDuplicate));
            }
            key_pair
                .resource_group_id
                .clone_from(&self.resource_group_id);
            Ok(())
        })??;
        Ok(super::request_id_only(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<JoinResourceGroup, ApiError> {
        JoinResourceGroup::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    #[test]
    fn validation_order_and_codes() {
        let cases = [
            (
                "ResourceGroupId=rg&ResourceType=keypair&ResourceId=k",
                403,
                "MissingParameter",
                Some("RegionId"),
            ),
            (
                "RegionId=&ResourceGroupId=rg&ResourceType=keypair&ResourceId=k",
                403,
                "MissingParameter",
                Some("RegionId"),
            ),
            ("RegionId=mars-1", 404, "InvalidRegionId.NotFound", None),
            (
                "RegionId=cn-hangzhou&ResourceType=keypair&ResourceId=k",
                403,
                "MissingParameter",
                Some("ResourceGroupId"),
            ),
            (
                "RegionId=cn-hangzhou&ResourceGroupId=rg&ResourceId=k",
                403,
                "MissingParameter",
                Some("ResourceType"),
            ),
            (
                "RegionId=cn-hangzhou&ResourceGroupId=rg&ResourceType=keypair",
                403,
                "MissingParameter",
                Some("ResourceId"),
            ),
            (
                "RegionId=cn-hangzhou&ResourceGroupId=rg&ResourceType=KeyPair&ResourceId=k",
                404,
                "InvalidResourceType.NotFound",
                None,
            ),
            (
                "RegionId=cn-hangzhou&ResourceGroupId=rg&ResourceType=volume&ResourceId=k",
                404,
                "InvalidResourceType.NotFound",
                None,
            ),
        ];
        for (q, status, code, named) in cases {
            let e = parse(q).unwrap_err();
            assert_eq!((e.status(), e.code()), (status, code), "{q}");
            if let Some(named) = named {
                assert!(e.message().contains(&format!("\"{named}\"")), "{q}");
            }
        }
        let ok =
            parse("RegionId=cn-hangzhou&ResourceGroupId=rg&ResourceType=instance&ResourceId=i-1")
                .unwrap();
        assert_eq!(ok.resource_type, ResourceType::Unmodelled);
    }
}
