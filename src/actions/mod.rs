//! The API actions: one module per action, all of the same shape — a typed request built by
//! `parse(&Params)` (validation only, no state), an `execute` that applies it to the store
//! and renders its typed response with [`Ctx::reply`]. This module only names and dispatches.

use std::sync::Arc;

use serde::Serialize;

use crate::config::Config;
use crate::error::{ApiError, Kind};
use crate::keypool::KeyPool;
use crate::protocol::params::Params;
use crate::protocol::response::{self, Format, Rendered};
use crate::regions::{self, Region};
use crate::store::{Store, Who};

pub mod attach_key_pair;
pub mod create_key_pair;
pub mod delete_key_pairs;
pub mod describe_key_pairs;
pub mod describe_regions;
pub mod detach_key_pair;
pub mod import_key_pair;
pub mod join_resource_group;
pub mod list_tag_resources;
pub mod tag_resources;
pub mod tags_common;
pub mod untag_resources;

/// Everything an action may touch besides its parameters.
pub struct Ctx<'a> {
    pub store: &'a Arc<Store>,
    pub keys: &'a Arc<KeyPool>,
    pub config: &'a Config,
    /// The authenticated AccessKeyId.
    pub tenant: &'a str,
    /// [`Store::epoch`] when the request was counted (see [`Ctx::who`]).
    pub counted: u64,
    pub request_id: &'a str,
    /// The action being run: names the XML root element.
    pub action: Action,
    pub format: Format,
    /// The clock when the action starts (Unix seconds): when the request arrived, or after a
    /// scenario's delay. Read once, not again by each check and action.
    pub now_unix: u64,
}

impl Ctx<'_> {
    /// The tenant as the store sees this request: refused once a reset or restore since it
    /// was counted has forgotten the tenant.
    pub fn who(&self) -> Who<'_> {
        Who {
            tenant: self.tenant,
            counted: Some(self.counted),
        }
    }

    /// Renders a success body in the request's format.
    pub fn reply<T: Serialize + ?Sized>(&self, body: &T) -> Rendered {
        response::success(self.action.name(), self.format, body)
    }
}

/// Every action this mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    CreateKeyPair,
    ImportKeyPair,
    DescribeKeyPairs,
    DeleteKeyPairs,
    AttachKeyPair,
    DetachKeyPair,
    DescribeRegions,
    TagResources,
    UntagResources,
    ListTagResources,
    JoinResourceGroup,
}

impl Action {
    /// Every action, in API reference order.
    pub const ALL: &'static [Action] = &[
        Self::CreateKeyPair,
        Self::ImportKeyPair,
        Self::DescribeKeyPairs,
        Self::DeleteKeyPairs,
        Self::AttachKeyPair,
        Self::DetachKeyPair,
        Self::DescribeRegions,
        Self::TagResources,
        Self::UntagResources,
        Self::ListTagResources,
        Self::JoinResourceGroup,
    ];

    /// This action's position in [`Action::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The action named `name` (exact, case-sensitive like the gateway).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::CreateKeyPair => "CreateKeyPair",
            Self::ImportKeyPair => "ImportKeyPair",
            Self::DescribeKeyPairs => "DescribeKeyPairs",
            Self::DeleteKeyPairs => "DeleteKeyPairs",
            Self::AttachKeyPair => "AttachKeyPair",
            Self::DetachKeyPair => "DetachKeyPair",
            Self::DescribeRegions => "DescribeRegions",
            Self::TagResources => "TagResources",
            Self::UntagResources => "UntagResources",
            Self::ListTagResources => "ListTagResources",
            Self::JoinResourceGroup => "JoinResourceGroup",
        }
    }

    /// How this action words `InvalidRegionId.NotFound`: the reference gives the one code two
    /// texts (§1.1 and most action tables against §1.6 and the tag APIs). A forced error uses
    /// the same wording as the action's own answer ([`crate::scenario::file::documented_kind`]).
    pub const fn unknown_region(self) -> Kind {
        match self {
            Self::DetachKeyPair
            | Self::DescribeRegions
            | Self::TagResources
            | Self::UntagResources
            | Self::ListTagResources => Kind::InvalidRegionIdNotExist,
            Self::CreateKeyPair
            | Self::ImportKeyPair
            | Self::DescribeKeyPairs
            | Self::DeleteKeyPairs
            | Self::AttachKeyPair
            | Self::JoinResourceGroup => Kind::InvalidRegionIdNotFound,
        }
    }

    /// Parses, validates and applies the action; returns the rendered success body.
    pub async fn execute(self, params: &Params, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        match self {
            // Boxed: the only action that waits (for its key), and its state would otherwise
            // size every action's future, which the pipeline moves a few times per request.
            Self::CreateKeyPair => {
                Box::pin(create_key_pair::CreateKeyPair::parse(params)?.execute(ctx)).await
            }
            Self::ImportKeyPair => import_key_pair::ImportKeyPair::parse(params)?.execute(ctx),
            Self::DescribeKeyPairs => {
                describe_key_pairs::DescribeKeyPairs::parse(params)?.execute(ctx)
            }
            Self::DeleteKeyPairs => delete_key_pairs::DeleteKeyPairs::parse(params)?.execute(ctx),
            Self::AttachKeyPair => attach_key_pair::AttachKeyPair::parse(params)?.execute(ctx),
            Self::DetachKeyPair => detach_key_pair::DetachKeyPair::parse(params)?.execute(ctx),
            Self::DescribeRegions => describe_regions::DescribeRegions::parse(params)?.execute(ctx),
            Self::TagResources => tag_resources::TagResources::parse(params)?.execute(ctx),
            Self::UntagResources => untag_resources::UntagResources::parse(params)?.execute(ctx),
            Self::ListTagResources => {
                list_tag_resources::ListTagResources::parse(params)?.execute(ctx)
            }
            Self::JoinResourceGroup => {
                join_resource_group::JoinResourceGroup::parse(params)?.execute(ctx)
            }
        }
    }
}

/// The reply of the actions whose response is only `RequestId`.
pub fn request_id_only(ctx: &Ctx<'_>) -> Rendered {
    #[derive(Serialize)]
    struct Body<'a> {
        #[serde(rename = "RequestId")]
        request_id: &'a str,
    }
    ctx.reply(&Body {
        request_id: ctx.request_id,
    })
}

/// The mandatory `RegionId`, checked against the region list.
///
/// # Errors
/// `MissingParameter` when absent, `InvalidRegionId.NotFound` (`not_found` wording) when unknown.
pub fn region(params: &Params, not_found: Kind) -> Result<&'static Region, ApiError> {
    let id = params
        .non_empty("RegionId")
        .ok_or_else(|| ApiError::missing("RegionId"))?;
    regions::find(id).ok_or_else(|| ApiError::new(not_found))
}
