//! Parsing and checks shared by the tag actions (TagResources, UntagResources,
//! ListTagResources, API reference §1.7–§1.9) and JoinResourceGroup (§1.10): the tag APIs'
//! own `RegionId` errors, `ResourceType`, the flattened `ResourceId.N` / `TagKey.N` lists and
//! the resource lookup. Action-specific rules stay in the action modules.
//!
//! Decisions common to all four actions:
//! - `ResourceType` is case-sensitive (JoinResourceGroup documents it; the tag APIs only ever
//!   show lower case). A string outside the action's documented list is
//!   `404 InvalidResourceType.NotFound`. A documented type other than `keypair` (`instance`,
//!   `disk`, …) is accepted, but this mock models no such resources, so every id of that type
//!   is unknown: `404 InvalidResourceId.NotFound` where ids must exist, no entries in a listing.
//! - The resource id of a key pair is its name (as Terraform uses it), looked up in the
//!   request's region only.
//! - An empty element of a flattened list (`ResourceId.2=`) counts as unset, like every other
//!   empty parameter the SDKs send; an index beyond the limit (`ResourceId.51`) is over the
//!   limit even if fewer elements are present, as for `Tag.N`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Action, Ctx};
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::{self, Region};
use crate::store::RegionState;
use crate::validate::{list_index, Invalid, MAX_TAGS};

/// Most `ResourceId.N` one tag request may name.
pub const MAX_RESOURCE_IDS: usize = 50;

/// The one resource type this mock models.
pub const KEYPAIR: &str = "keypair";

/// `ResourceType` values the tag APIs document (§1.7).
pub const TAG_RESOURCE_TYPES: &[&str] = &[
    "instance",
    "disk",
    "snapshot",
    "image",
    "securitygroup",
    "volume",
    "eni",
    "ddh",
    "ddhcluster",
    "keypair",
    "launchtemplate",
    "reservedinstance",
    "snapshotpolicy",
    "elasticityassurance",
    "capacityreservation",
    "command",
    "activation",
    "managedinstance",
];

/// `ResourceType` values JoinResourceGroup documents (§1.10).
pub const JOIN_RESOURCE_TYPES: &[&str] = &[
    "instance",
    "disk",
    "snapshot",
    "image",
    "securitygroup",
    "ddh",
    "ddhcluster",
    "eni",
    "keypair",
    "launchtemplate",
    "command",
    "activation",
    "managedinstance",
];

/// A recognised `ResourceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// `keypair`: ids are key pair names.
    KeyPair,
    /// A documented type whose resources this mock does not model: no id of it exists.
    Unmodelled,
}

impl ResourceType {
    /// Classifies `value` against the action's documented list (case-sensitive).
    ///
    /// # Errors
    /// `InvalidResourceType.NotFound` for a value outside `documented`.
    pub fn parse(value: &str, documented: &[&str]) -> Result<Self, ApiError> {
        if value == KEYPAIR {
            Ok(Self::KeyPair)
        } else if documented.contains(&value) {
            Ok(Self::Unmodelled)
        } else {
            Err(ApiError::new(Kind::InvalidResourceTypeNotFound))
        }
    }
}

/// The mandatory `RegionId` with the tag APIs' documented errors.
///
/// # Errors
/// `404 MissingParameter.RegionId` when absent or empty, `404 InvalidRegionId.NotFound`
/// ("The specified RegionId does not exist.") when unknown.
pub fn tag_region(params: &Params) -> Result<&'static Region, ApiError> {
    let id = params
        .non_empty("RegionId")
        .ok_or_else(|| ApiError::new(Kind::MissingParameterRegionId))?;
    // The three tag APIs word it alike ([`Action::unknown_region`]).
    regions::find(id).ok_or_else(|| ApiError::new(Action::TagResources.unknown_region()))
}

/// What TagResources and UntagResources check first, in this order: `RegionId`, that
/// `ResourceType` is present, that at least one `ResourceId.N` is. The type's value and an
/// over-long id list are reported later, at points where the two actions differ.
pub struct TagTarget<'a> {
    pub region: &'static Region,
    /// Not yet checked against [`TAG_RESOURCE_TYPES`].
    pub resource_type: &'a str,
    /// `Err` only for `NumberExceed.ResourceIds`; never empty.
    pub resource_ids: Result<Vec<String>, ApiError>,
}

/// The head of TagResources' and UntagResources' validation ([`TagTarget`]).
///
/// # Errors
/// Those of [`tag_region`], `404 MissingParameter.ResourceType`, `MissingParameter`
/// (ResourceId) when no id is given.
pub fn tag_target(params: &Params) -> Result<TagTarget<'_>, ApiError> {
    let region = tag_region(params)?;
    let resource_type = params
        .non_empty("ResourceType")
        .ok_or_else(|| ApiError::new(Kind::MissingParameterResourceType))?;
    let resource_ids = resource_ids(params);
    if resource_ids.as_ref().is_ok_and(Vec::is_empty) {
        return Err(ApiError::missing("ResourceId"));
    }
    Ok(TagTarget {
        region,
        resource_type,
        resource_ids,
    })
}

/// The mandatory `ResourceType` of the tag APIs, checked against §1.7's list.
///
/// # Errors
/// `404 MissingParameter.ResourceType`, `404 InvalidResourceType.NotFound`.
pub fn tag_resource_type(params: &Params) -> Result<ResourceType, ApiError> {
    let value = params
        .non_empty("ResourceType")
        .ok_or_else(|| ApiError::new(Kind::MissingParameterResourceType))?;
    ResourceType::parse(value, TAG_RESOURCE_TYPES)
}

/// The 1-based index N of a parameter named exactly `{prefix}.N`.
pub fn index_of(name: &str, prefix: &str) -> Option<usize> {
    list_index(name.strip_prefix(prefix)?.strip_prefix('.')?)
}

/// A flattened string list `{prefix}.1`, `{prefix}.2`, … in index order.
///
/// The first occurrence of an index wins (like [`Params::get`]); empty elements are dropped;
/// repeated values are kept once, at their first position.
///
/// # Errors
/// `Invalid::TooManyElements` when more than `max` indices are given or one exceeds `max`.
pub fn repeat_list<'a>(
    params: &'a Params,
    prefix: &str,
    max: usize,
) -> Result<Vec<&'a str>, Invalid> {
    let mut slots: BTreeMap<usize, &str> = BTreeMap::new();
    for (name, value) in params.pairs() {
        if let Some(n) = index_of(name, prefix) {
            slots.entry(n).or_insert(value);
        }
    }
    if slots.len() > max || slots.keys().any(|n| *n > max) {
        return Err(Invalid::TooManyElements);
    }
    let mut out: Vec<&str> = Vec::with_capacity(slots.len());
    for value in slots.into_values() {
        if !value.is_empty() && !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// `ResourceId.N` (N = 1..50), possibly empty.
///
/// # Errors
/// `400 NumberExceed.ResourceIds` beyond 50.
pub fn resource_ids(params: &Params) -> Result<Vec<String>, ApiError> {
    repeat_list(params, "ResourceId", MAX_RESOURCE_IDS)
        .map(|ids| ids.into_iter().map(str::to_string).collect())
        .map_err(|_| ApiError::new(Kind::NumberExceedResourceIds))
}

/// Maps a tag violation to the tag APIs' codes (21 tags is `NumberExceed.Tags` here, not
/// CreateKeyPair's `QuotaExceed.Tags`).
pub fn tag_error(e: Invalid) -> ApiError {
    match e {
        Invalid::TooManyTags | Invalid::TooManyElements => ApiError::new(Kind::NumberExceedTags),
        Invalid::DuplicateTagKey => ApiError::new(Kind::DuplicateTagKey),
        Invalid::TagValue => ApiError::new(Kind::InvalidTagValueMalformed),
        // The tag APIs document a code for a key and a value that do not pair up; the
        // key pair actions do not, and call it a malformed key.
        Invalid::TagWithoutKey => ApiError::new(Kind::InvalidTagMismatch),
        _ => ApiError::new(Kind::InvalidTagKeyMalformed),
    }
}

/// `TagKey.N` (N = 1..20) of UntagResources.
///
/// # Errors
/// `400 NumberExceed.Tags` beyond 20.
pub fn tag_keys(params: &Params) -> Result<Vec<String>, ApiError> {
    repeat_list(params, "TagKey", MAX_TAGS)
        .map(|keys| keys.into_iter().map(str::to_string).collect())
        .map_err(tag_error)
}

/// Checks that every id names a resource of `resource_type` in `state` (all-or-nothing
/// actions call this before changing anything).
///
/// # Errors
/// `404 InvalidResourceId.NotFound` ("The specified ResourceIds are not found in our
/// records.") if any id is unknown.
pub fn require_key_pairs(
    state: &RegionState,
    resource_type: ResourceType,
    ids: &[String],
) -> Result<(), ApiError> {
    let all_exist = match resource_type {
        ResourceType::KeyPair => ids.iter().all(|id| state.key_pairs().contains_key(id)),
        ResourceType::Unmodelled => ids.is_empty(),
    };
    if all_exist {
        Ok(())
    } else {
        Err(ApiError::new(Kind::InvalidResourceIdNotFound))
    }
}

/// Applies `change` to each named key pair of the tenant's region after checking they all
/// exist; `change` may veto (with an error) before anything is written.
///
/// The check, the veto and the writes happen under one store lock, so a concurrent delete
/// cannot slip between them and a refused request changes nothing.
///
/// # Errors
/// `InvalidResourceId.NotFound`, or the first error `check` returns.
pub fn update_key_pairs(
    ctx: &Ctx<'_>,
    region: &Region,
    resource_type: ResourceType,
    ids: &[String],
    check: impl Fn(&crate::store::KeyPair) -> Result<(), ApiError>,
    change: impl Fn(&mut crate::store::KeyPair),
) -> Result<(), ApiError> {
    ctx.store.with_account(ctx.who(), |acc| {
        let Some(state) = acc.region_mut(region.id) else {
            return require_key_pairs(&RegionState::default(), resource_type, ids);
        };
        require_key_pairs(state, resource_type, ids)?;
        for id in ids {
            check(&state.key_pairs()[id])?;
        }
        for id in ids {
            if let Some(kp) = state.key_pairs_mut().get_mut(id) {
                change(Arc::make_mut(kp));
            }
        }
        Ok(())
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn params(q: &str) -> Params {
        decode(q.as_bytes(), 1000).unwrap()
    }

    #[test]
    fn resource_types_are_case_sensitive_and_checked_against_the_documented_list() {
        let cases: &[(&str, &[&str], Result<ResourceType, &str>)] = &[
            ("keypair", TAG_RESOURCE_TYPES, Ok(ResourceType::KeyPair)),
            ("keypair", JOIN_RESOURCE_TYPES, Ok(ResourceType::KeyPair)),
            ("instance", TAG_RESOURCE_TYPES, Ok(ResourceType::Unmodelled)),
            ("volume", TAG_RESOURCE_TYPES, Ok(ResourceType::Unmodelled)),
            (
                "volume",
                JOIN_RESOURCE_TYPES,
                Err("InvalidResourceType.NotFound"),
            ),
            (
                "KeyPair",
                TAG_RESOURCE_TYPES,
                Err("InvalidResourceType.NotFound"),
            ),
            (
                "key pair",
                TAG_RESOURCE_TYPES,
                Err("InvalidResourceType.NotFound"),
            ),
            (
                "bucket",
                JOIN_RESOURCE_TYPES,
                Err("InvalidResourceType.NotFound"),
            ),
        ];
        for (value, list, want) in cases {
            let got = ResourceType::parse(value, list).map_err(|e| e.code());
            assert_eq!(got, *want, "{value}");
        }
    }

    #[test]
    fn indices_are_positive_decimal_numbers() {
        for (name, want) in [
            ("ResourceId.1", Some(1)),
            ("ResourceId.50", Some(50)),
            ("ResourceId.0", Some(crate::validate::OUT_OF_RANGE)),
            ("ResourceId", None),
            ("ResourceId.", None),
            ("ResourceId.x", None),
            ("ResourceId.1.Key", None),
            ("ResourceIds.1", None),
            ("ResourceId.1234567", Some(crate::validate::OUT_OF_RANGE)),
            (
                "ResourceId.99999999999999999999999",
                Some(crate::validate::OUT_OF_RANGE),
            ),
            ("ResourceId.01", Some(1)),
        ] {
            assert_eq!(index_of(name, "ResourceId"), want, "{name}");
        }
    }

    #[test]
    fn repeat_lists_follow_index_order_and_enforce_the_limit() {
        let cases: &[(&str, Result<Vec<&str>, Invalid>)] = &[
            ("ResourceId.2=b&ResourceId.1=a", Ok(vec!["a", "b"])),
            ("ResourceId.1=a&ResourceId.1=z", Ok(vec!["a"])),
            ("ResourceId.1=a&ResourceId.2=a&ResourceId.3=", Ok(vec!["a"])),
            ("ResourceId=a&Other.1=b", Ok(vec![])),
            ("ResourceId.4=x", Err(Invalid::TooManyElements)),
            (
                "ResourceId.1=a&ResourceId.2=b&ResourceId.3=c&ResourceId.4=d",
                Err(Invalid::TooManyElements),
            ),
        ];
        for (q, want) in cases {
            assert_eq!(repeat_list(&params(q), "ResourceId", 3), *want, "{q}");
        }
    }

    #[test]
    fn fifty_resource_ids_pass_and_fifty_one_do_not() {
        let fifty: String = (1..=50).map(|i| format!("ResourceId.{i}=k{i}&")).collect();
        assert_eq!(resource_ids(&params(&fifty)).unwrap().len(), 50);
        let more = format!("{fifty}ResourceId.51=k51");
        assert_eq!(
            resource_ids(&params(&more)).unwrap_err().code(),
            "NumberExceed.ResourceIds"
        );
    }

    #[test]
    fn tag_api_region_errors_use_the_tag_api_codes() {
        for (q, status, code) in [
            ("", 404, "MissingParameter.RegionId"),
            ("RegionId=", 404, "MissingParameter.RegionId"),
            ("RegionId=mars-1", 404, "InvalidRegionId.NotFound"),
        ] {
            let e = tag_region(&params(q)).unwrap_err();
            assert_eq!((e.status(), e.code()), (status, code), "{q}");
        }
        assert_eq!(
            tag_region(&params("RegionId=mars-1"))
                .unwrap_err()
                .message(),
            "The specified RegionId does not exist."
        );
        assert_eq!(
            tag_region(&params("RegionId=cn-hangzhou")).unwrap().id,
            "cn-hangzhou"
        );
    }
}
