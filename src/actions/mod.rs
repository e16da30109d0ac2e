//! The API actions: one module per action, all of the same shape — a typed request built by
//! `parse(&Params)` (validation only, no state), an `execute` that applies it to the store,
//! and a response rendered from a `serde_json::Value`. This module only names and dispatches.

use std::sync::Arc;

use serde_json::Value;

use crate::clock::Clock;
use crate::error::{ApiError, Kind};
use crate::keypool::KeyPool;
use crate::protocol::params::Params;
use crate::regions::{self, Region};
use crate::store::Store;

pub mod create_key_pair;

/// Everything an action may touch besides its parameters.
pub struct Ctx<'a> {
    pub store: &'a Arc<Store>,
    pub keys: &'a KeyPool,
    pub clock: Clock,
    /// The authenticated AccessKeyId.
    pub tenant: &'a str,
    pub request_id: &'a str,
}

/// Every action this mock serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateKeyPair,
}

impl Action {
    /// The action named `name` (exact, case-sensitive like the gateway).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "CreateKeyPair" => Some(Self::CreateKeyPair),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::CreateKeyPair => "CreateKeyPair",
        }
    }

    /// Parses, validates and applies the action; returns the success body.
    pub async fn execute(self, params: &Params, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
        match self {
            Self::CreateKeyPair => {
                create_key_pair::CreateKeyPair::parse(params)?
                    .execute(ctx)
                    .await
            }
        }
    }
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
