//! TagResources: adds or overwrites tags on key pairs. API reference §1.7 (errors shared
//! with §1.8/§1.9), limits §2.
//!
//! ```text
//! RegionId         String      required  a region of regions::REGIONS
//!                                        (missing: 404 MissingParameter.RegionId)
//! ResourceType     String      required  `keypair`; another documented type names no
//!                                        existing resource; anything else is unknown
//!                                        (missing: 404 MissingParameter.ResourceType)
//! ResourceId.N     RepeatList  required  N = 1..50; key pair names in RegionId
//! Tag.N.Key        String      required  N = 1..20, at least one; validate::tag_key rules;
//!                                        unique within the request
//! Tag.N.Value      String      optional  validate::tag_value rules; absent means empty
//! ```
//! Response: `RequestId`.
//!
//! All-or-nothing: if any resource is unknown, or any resource would end up with more than 20
//! tags, nothing changes. Tagging a key that a resource already has overwrites its value in
//! place (the tag keeps its position); new keys are appended.

use crate::protocol::response::Rendered;

use super::tags_common::{self, ResourceType};
use super::Ctx;
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::validate::{self, Tag, MAX_TAGS};

/// A validated TagResources request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagResources {
    pub region: &'static Region,
    pub resource_type: ResourceType,
    pub resource_ids: Vec<String>,
    pub tags: Vec<Tag>,
}

impl TagResources {
    /// Validates in the order: region, mandatory parameters, resource type, limits and formats.
    ///
    /// A missing `ResourceId.N` is `400 MissingParameter` naming `ResourceId`: the tag APIs
    /// document no `MissingParameter.ResourceIds`, so the generic code is used.
    ///
    /// # Errors
    /// `MissingParameter.RegionId`, `InvalidRegionId.NotFound`, `MissingParameter.ResourceType`,
    /// `MissingParameter`, `MissingParameter.Tags`, `InvalidResourceType.NotFound`,
    /// `NumberExceed.ResourceIds`, `NumberExceed.Tags`, `InvalidTagKey.Malformed`,
    /// `InvalidTagValue.Malformed`, `Duplicate.TagKey`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let target = tags_common::tag_target(params)?;
        let tags = validate::tags(params);
        if tags.as_ref().is_ok_and(Vec::is_empty) {
            return Err(ApiError::new(Kind::MissingParameterTags));
        }
        let resource_type =
            ResourceType::parse(target.resource_type, tags_common::TAG_RESOURCE_TYPES)?;
        Ok(Self {
            region: target.region,
            resource_type,
            resource_ids: target.resource_ids?,
            tags: tags.map_err(tags_common::tag_error)?,
        })
    }

    /// Checks every resource and the per-resource tag quota, then writes all tags.
    ///
    /// # Errors
    /// `InvalidResourceId.NotFound`, `OperationDenied.QuotaExceed`.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let tags = &self.tags;
        tags_common::update_key_pairs(
            ctx,
            self.region,
            self.resource_type,
            &self.resource_ids,
            |kp| {
                let added = tags
                    .iter()
                    .filter(|t| !kp.tags.iter().any(|o| o.key == t.key))
                    .count();
                if kp.tags.len() + added > MAX_TAGS {
                    Err(ApiError::new(Kind::OperationDeniedQuotaExceed))
                } else {
                    Ok(())
                }
            },
            |kp| merge(&mut kp.tags, tags),
        )?;
        Ok(super::request_id_only(ctx))
    }
}

/// Overwrites the value of keys already present (in place) and appends the others.
fn merge(existing: &mut Vec<Tag>, new: &[Tag]) {
    for tag in new {
        match existing.iter_mut().find(|t| t.key == tag.key) {
            Some(t) => t.value.clone_from(&tag.value),
            None => existing.push(tag.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<TagResources, ApiError> {
        TagResources::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    const OK: &str = "RegionId=cn-hangzhou&ResourceType=keypair&ResourceId.1=k";

    #[test]
    fn validation_order_and_codes() {
        let many_ids: String = (1..=51).map(|i| format!("&ResourceId.{i}=k{i}")).collect();
        let many_tags: String = (1..=21).map(|i| format!("&Tag.{i}.Key=t{i}")).collect();
        let cases = [
            (
                "ResourceType=keypair&ResourceId.1=k&Tag.1.Key=a".to_string(),
                404,
                "MissingParameter.RegionId",
            ),
            (
                "RegionId=mars-1&ResourceType=keypair".to_string(),
                404,
                "InvalidRegionId.NotFound",
            ),
            (
                "RegionId=cn-hangzhou&ResourceId.1=k&Tag.1.Key=a".to_string(),
                404,
                "MissingParameter.ResourceType",
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=keypair&Tag.1.Key=a".to_string(),
                400,
                "MissingParameter",
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=keypair&ResourceId.1=".to_string(),
                400,
                "MissingParameter",
            ),
            (OK.to_string(), 404, "MissingParameter.Tags"),
            (format!("{OK}&Tag.1.Key="), 400, "InvalidTagKey.Malformed"),
            (
                // An empty key with a value is a malformed key, not a value without its key
                // (audit: InvalidTag.Mismatch here, InvalidTagKey.Malformed elsewhere).
                format!("{OK}&Tag.1.Key=&Tag.1.Value=v"),
                400,
                "InvalidTagKey.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=KeyPair&ResourceId.1=k&Tag.1.Key=a".to_string(),
                404,
                "InvalidResourceType.NotFound",
            ),
            (
                format!("RegionId=cn-hangzhou&ResourceType=keypair{many_ids}&Tag.1.Key=a"),
                400,
                "NumberExceed.ResourceIds",
            ),
            (format!("{OK}{many_tags}"), 400, "NumberExceed.Tags"),
            (
                format!("{OK}&Tag.1.Key=acs:x"),
                400,
                "InvalidTagKey.Malformed",
            ),
            (
                format!("{OK}&Tag.1.Key=aliyun"),
                400,
                "InvalidTagKey.Malformed",
            ),
            (
                // Regression (findings-api2 #3): a value without its key was called a
                // malformed key; this API documents a code for a key and value that do not
                // pair up.
                format!("{OK}&Tag.1.Key=a&Tag.2.Value=v"),
                400,
                "InvalidTag.Mismatch",
            ),
            (
                // Regression (model-based review, twenty-eighth session): an empty value
                // without its key was called a malformed key.
                format!("{OK}&Tag.1.Key=a&Tag.2.Value="),
                400,
                "InvalidTag.Mismatch",
            ),
            (format!("{OK}&Tag.1.Key="), 400, "InvalidTagKey.Malformed"),
            (
                // An empty key with a value is a malformed key, not a value without its key
                // (audit: InvalidTag.Mismatch here, InvalidTagKey.Malformed elsewhere).
                format!("{OK}&Tag.1.Key=&Tag.1.Value=v"),
                400,
                "InvalidTagKey.Malformed",
            ),
            (
                format!("{OK}&Tag.1.Key=k&Tag.1.Value=http://x"),
                400,
                "InvalidTagValue.Malformed",
            ),
            (
                format!("{OK}&Tag.1.Key=k&Tag.2.Key=k"),
                400,
                "Duplicate.TagKey",
            ),
        ];
        for (q, status, code) in cases {
            let e = parse(&q).unwrap_err();
            assert_eq!((e.status(), e.code()), (status, code), "{q}");
        }
    }

    #[test]
    fn a_missing_value_is_the_empty_value_and_ids_keep_their_index_order() {
        let ok = parse(&format!("{OK}&ResourceId.3=c&ResourceId.2=b&Tag.1.Key=env")).unwrap();
        assert_eq!(ok.resource_ids, ["k", "b", "c"]);
        assert_eq!(
            ok.tags,
            [Tag {
                key: "env".into(),
                value: String::new()
            }]
        );
        assert_eq!(ok.resource_type, ResourceType::KeyPair);
        let other =
            parse("RegionId=cn-hangzhou&ResourceType=disk&ResourceId.1=d-1&Tag.1.Key=a").unwrap();
        assert_eq!(other.resource_type, ResourceType::Unmodelled);
    }

    #[test]
    fn merging_overwrites_in_place_and_appends_new_keys() {
        let t = |k: &str, v: &str| Tag {
            key: k.into(),
            value: v.into(),
        };
        let mut existing = vec![t("a", "1"), t("b", "2")];
        merge(&mut existing, &[t("c", "3"), t("a", "9")]);
        assert_eq!(existing, [t("a", "9"), t("b", "2"), t("c", "3")]);
    }
}
