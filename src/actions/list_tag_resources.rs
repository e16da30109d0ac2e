//! ListTagResources: lists the tags of key pairs, one entry per (key pair, tag), 50 entries a
//! page. API reference §1.9 (errors as §1.7), limits §2.
//!
//! ```text
//! RegionId                 String      required  a region of regions::REGIONS
//!                                                (missing: 404 MissingParameter.RegionId)
//! ResourceType             String      required  `keypair`; another documented type lists
//!                                                nothing; anything else is unknown
//!                                                (missing: 404 MissingParameter.ResourceType)
//! ResourceId.N             RepeatList  optional* N = 1..50; key pair names
//! Tag.N.Key                String      optional* N = 1..20; 1-128 chars; exact match
//! Tag.N.Value              String      optional  1-128 chars; exact; absent/empty = any value;
//!                                                needs its Tag.N.Key
//! TagFilter.N.TagKey       String      optional* N = 1..5; 1-128 chars; fuzzy pattern
//! TagFilter.N.TagValues.M  RepeatList  optional  M = 1..5; 1-128 chars; fuzzy patterns
//! NextToken                String      optional  a token from the previous page
//! ```
//! \* At least one of `ResourceId.N`, `Tag.N`, `TagFilter.N`; `Tag.N` and `TagFilter.N`
//! exclude each other. Criteria of different kinds are ANDed, as are several `Tag.N`
//! (a key pair must carry every pair) and several `TagFilter.N` (each must match one of its
//! tags); the `TagValues` of one filter are alternatives.
//!
//! Response: `RequestId`, `NextToken` (only when more entries follow), `TagResources.TagResource[]`
//! (always an array) of `{ResourceId, ResourceType, TagKey, TagValue}`.
//!
//! Decisions:
//! - A matching key pair contributes **all** its tags, not only those that matched, in tag
//!   order; key pairs come in creation order. Key pairs without tags contribute nothing.
//! - Unknown `ResourceId.N` values are not an error: a listing is a query, they match nothing.
//! - Fuzzy patterns: `env*` prefix, `*env*` contains, `env` exact (documented), plus `*env`
//!   suffix and `*` anything; a `*` elsewhere is a literal character.
//! - `Tag.N.Key=acs:rm:rgId` with `Tag.N.Value=<group id>` selects the key pairs of that
//!   resource group (the default group included); it must be the only `Tag.N`
//!   (`400 InvalidParameter` naming `Tag.N.Key`) and needs a value
//!   (`400 InvalidParameter.TagValue`).
//! - `Tag.N` keys are checked for length only, so system keys (`aliyun…`, `acs:…`) can be
//!   searched; a repeated key is `400 Duplicate.TagKey`.
//! - No criterion at all is `400 MissingParameter` naming `ResourceId`; `Tag.N` with
//!   `TagFilter.N` is `400 InvalidParameter` naming `TagFilter`; TagFilter limit or format
//!   problems are `400 InvalidParameter` naming `TagFilter.N`, `TagFilter.N.TagKey` or
//!   `TagFilter.N.TagValues`.
//! - `NextToken` is 32 lower-case hex characters like the documented example: the last entry
//!   listed, as its key pair's creation sequence (16), a digest of its tag key and the keys
//!   before it (6) and the tag's position among the key pair's tags (2), and a
//!   4-byte checksum (8) derived from the seed, tenant, region, the query and that entry. A
//!   token that does not verify (garbage, another tenant's, another query's) is
//!   `400 InvalidParameter` naming `NextToken`. The next page resumes after that entry, not at
//!   an offset: the reference only calls the token opaque, and the common clean-up loop (list
//!   a page of tagged key pairs, delete or untag them, follow the token) would skip a page's
//!   worth of entries if paging were by offset. Within the key pair the page ended in, it
//!   resumes after that tag while the tags up to it are still the ones listed, and otherwise
//!   at the key pair's first tag: untagging what a page listed moves the rest down (a
//!   position alone would skip them), and untagging a key and tagging it again moves it to
//!   the end (the key alone would skip the tags it passed). Repeating an entry is preferred
//!   to missing one.
//!   Entries of key
//!   pairs whose creation was requested after the page are listed on later pages. The last
//!   page has no `NextToken` key at all (safer than `""` for clients that test for presence).

use std::collections::BTreeMap;

use crate::protocol::response::Rendered;
use serde::Serialize;

use super::tags_common::{self, ResourceType, KEYPAIR};
use super::Ctx;
use crate::error::{ApiError, Kind};
use crate::ids;
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::store::KeyPair;
use crate::validate::{Tag, MAX_TAGS, MAX_TAG_LEN};

/// Entries per page (not a request parameter in ECS's version of the API).
pub const PAGE_SIZE: usize = 50;
/// Most `TagFilter.N`, and most `TagValues.M` per filter.
pub const MAX_TAG_FILTERS: usize = 5;
/// The reserved key that filters by resource group.
pub const RESOURCE_GROUP_TAG_KEY: &str = "acs:rm:rgId";

/// One `Tag.N`: an exact key and, optionally, an exact value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagMatch {
    pub key: String,
    /// `None` matches any value.
    pub value: Option<String>,
}

/// One `TagFilter.N`: a key pattern and alternative value patterns (none = any value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub values: Vec<String>,
}

/// The tag criterion of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// No tag criterion (ResourceId.N alone).
    Any,
    /// `Tag.N`: every pair must be carried.
    Tags(Vec<TagMatch>),
    /// `Tag.N.Key=acs:rm:rgId`: members of this resource group.
    ResourceGroup(String),
    /// `TagFilter.N`: every filter must match one tag.
    Filters(Vec<TagFilter>),
}

/// A decoded `NextToken`, verified against the query in `execute`: the last entry of the
/// previous page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageToken {
    pub after: Cursor,
    checksum: [u8; 4],
}

/// A listing entry: its key pair's creation sequence, a digest of its tag key and the keys
/// before it ([`tags_digest`]) and that tag's index in the key pair's tags (at most 19).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub sequence: u64,
    pub tag: u32,
    pub position: u8,
}

/// What a token keeps of the keys of a key pair's tags up to the one listed last (24 bits):
/// tag keys run to 128 characters, a token holds 32. While they are unchanged, the tags after
/// them are the ones not yet listed; a key alone was fooled by untagging an earlier tag and
/// tagging the listed one again, which put it back at its old position with an unlisted tag
/// before it. A change goes unseen about once in 16 million.
fn tags_digest(tags: &[Tag]) -> u32 {
    let keys: Vec<&[u8]> = tags.iter().map(|t| t.key.as_bytes()).collect();
    let d = ids::derive("list-tag-resources-tag-keys", 0, &keys);
    u32::from_be_bytes([0, d[0], d[1], d[2]])
}

/// A validated ListTagResources request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListTagResources {
    pub region: &'static Region,
    pub resource_type: ResourceType,
    pub resource_ids: Vec<String>,
    pub selector: Selector,
    pub token: Option<PageToken>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    tag_resources: TagResources,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagResources {
    tag_resource: Vec<Entry>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Entry {
    resource_id: String,
    resource_type: &'static str,
    tag_key: String,
    tag_value: String,
}

impl ListTagResources {
    /// Validates in the order: region, resource type, lists and their limits, combinations,
    /// presence of a criterion, token format.
    ///
    /// # Errors
    /// `MissingParameter.RegionId`, `InvalidRegionId.NotFound`, `MissingParameter.ResourceType`,
    /// `InvalidResourceType.NotFound`, `NumberExceed.ResourceIds`, `NumberExceed.Tags`,
    /// `InvalidParameter.TagValue`, `InvalidTagKey.Malformed`, `InvalidTagValue.Malformed`,
    /// `Duplicate.TagKey`, `InvalidParameter`, `MissingParameter`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let region = tags_common::tag_region(params)?;
        let resource_type = tags_common::tag_resource_type(params)?;
        let resource_ids = tags_common::resource_ids(params)?;
        let tags = tag_matches(params)?;
        let filters = tag_filters(params)?;
        if !tags.is_empty() && !filters.is_empty() {
            return Err(ApiError::invalid("TagFilter"));
        }
        let selector = if let Some(rg) = tags.iter().find(|t| t.key == RESOURCE_GROUP_TAG_KEY) {
            if tags.len() > 1 {
                return Err(ApiError::invalid("Tag.N.Key"));
            }
            let group = rg
                .value
                .clone()
                .ok_or_else(|| ApiError::new(Kind::InvalidParameterTagValue))?;
            Selector::ResourceGroup(group)
        } else if !tags.is_empty() {
            Selector::Tags(tags)
        } else if !filters.is_empty() {
            Selector::Filters(filters)
        } else if !resource_ids.is_empty() {
            Selector::Any
        } else {
            return Err(ApiError::missing("ResourceId"));
        };
        let token = match params.non_empty("NextToken") {
            None => None,
            Some(t) => Some(PageToken::decode(t).ok_or_else(|| ApiError::invalid("NextToken"))?),
        };
        Ok(Self {
            region,
            resource_type,
            resource_ids,
            selector,
            token,
        })
    }

    /// Lists the page after the token's entry (or the first page).
    ///
    /// # Errors
    /// `InvalidParameter` (NextToken) when the token was not issued for this query.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let after = match self.token {
            None => None,
            Some(token) => {
                if token.checksum != self.checksum(ctx, token.after) {
                    return Err(ApiError::invalid("NextToken"));
                }
                Some(token.after)
            }
        };
        let (page, last, more) = ctx.store.with_account(ctx.who(), |acc| {
            let state = match (self.resource_type, acc.region_ref(self.region.id)) {
                (ResourceType::KeyPair, Some(state)) => state,
                _ => return (Vec::new(), None, false),
            };
            // The store keeps key pairs in creation (sequence) order.
            let mut entries = state
                .key_pairs()
                .values()
                .filter(|kp| after.is_none_or(|a| kp.sequence >= a.sequence) && self.matches(kp))
                .flat_map(|kp| {
                    let from = match after {
                        Some(a) if a.sequence == kp.sequence => {
                            let at = usize::from(a.position);
                            match kp.tags.get(..=at) {
                                Some(listed) if tags_digest(listed) == a.tag => at + 1,
                                // Moved, gone, or tags before it changed since.
                                _ => 0,
                            }
                        }
                        _ => 0,
                    };
                    (from..).zip(&kp.tags[from..]).map(move |(i, t)| (kp, i, t))
                });
            let mut last = None;
            let page: Vec<Entry> = entries
                .by_ref()
                .take(PAGE_SIZE)
                .map(|(kp, i, t)| {
                    last = Some((kp, i));
                    Entry {
                        resource_id: kp.name.clone(),
                        resource_type: KEYPAIR,
                        tag_key: t.key.clone(),
                        tag_value: t.value.clone(),
                    }
                })
                .collect();
            let last = last.map(|(kp, i)| Cursor {
                sequence: kp.sequence,
                tag: tags_digest(&kp.tags[..=i]),
                // A key pair has at most 20 tags.
                position: u8::try_from(i).unwrap_or(u8::MAX),
            });
            (page, last, entries.next().is_some())
        })?;
        let next_token = last.filter(|_| more).map(|after| {
            PageToken {
                after,
                checksum: self.checksum(ctx, after),
            }
            .encode()
        });
        Ok(ctx.reply(&Response {
            request_id: ctx.request_id,
            next_token,
            tag_resources: TagResources { tag_resource: page },
        }))
    }

    /// Whether `kp` meets every criterion of the request.
    fn matches(&self, kp: &KeyPair) -> bool {
        if !self.resource_ids.is_empty() && !self.resource_ids.contains(&kp.name) {
            return false;
        }
        match &self.selector {
            Selector::Any => true,
            Selector::Tags(wanted) => wanted.iter().all(|w| {
                kp.tags
                    .iter()
                    .any(|t| t.key == w.key && w.value.as_ref().is_none_or(|v| *v == t.value))
            }),
            Selector::ResourceGroup(group) => kp.resource_group_id == *group,
            Selector::Filters(filters) => filters.iter().all(|f| {
                kp.tags.iter().any(|t| {
                    fuzzy_match(&f.key, &t.key)
                        && (f.values.is_empty()
                            || f.values.iter().any(|v| fuzzy_match(v, &t.value)))
                })
            }),
        }
    }

    /// The checksum a `NextToken` after `after` carries for this query, tenant and seed.
    fn checksum(&self, ctx: &Ctx<'_>, after: Cursor) -> [u8; 4] {
        // Each part is prefixed by its kind so that no two different queries give the same
        // part list (ids::derive length-prefixes the parts).
        let mut parts: Vec<Vec<u8>> = vec![
            ctx.tenant.as_bytes().to_vec(),
            self.region.id.as_bytes().to_vec(),
            after.sequence.to_le_bytes().to_vec(),
            after.tag.to_le_bytes().to_vec(),
            vec![after.position],
        ];
        let mut part = |kind: &str, s: &str| parts.push(format!("{kind}:{s}").into_bytes());
        // Unmodelled types list nothing, so never issue a token: one part serves them all.
        part(
            "type",
            match self.resource_type {
                ResourceType::KeyPair => KEYPAIR,
                ResourceType::Unmodelled => "",
            },
        );
        for id in &self.resource_ids {
            part("id", id);
        }
        match &self.selector {
            Selector::Any => {}
            Selector::Tags(tags) => {
                for t in tags {
                    part("tag", &t.key);
                    if let Some(v) = &t.value {
                        part("value", v);
                    }
                }
            }
            Selector::ResourceGroup(group) => part("rg", group),
            Selector::Filters(filters) => {
                for f in filters {
                    part("filter", &f.key);
                    for v in &f.values {
                        part("filter-value", v);
                    }
                }
            }
        }
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let digest = ids::derive("list-tag-resources-next-token", ctx.store.seed(), &refs);
        let mut out = [0u8; 4];
        out.copy_from_slice(&digest[..4]);
        out
    }
}

impl PageToken {
    /// The sequence as 16 hex digits, the tag key's digest as 8, then the checksum as 8.
    fn encode(self) -> String {
        let a = self.after;
        let mut s = format!("{:016x}{:06x}{:02x}", a.sequence, a.tag, a.position);
        for b in self.checksum {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// The inverse of [`PageToken::encode`]; `None` for anything else.
    fn decode(s: &str) -> Option<Self> {
        if s.len() != 32 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let after = Cursor {
            sequence: u64::from_str_radix(&s[..16], 16).ok()?,
            tag: u32::from_str_radix(&s[16..22], 16).ok()?,
            position: u8::from_str_radix(&s[22..24], 16).ok()?,
        };
        let mut checksum = [0u8; 4];
        for (i, b) in checksum.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[24 + 2 * i..26 + 2 * i], 16).ok()?;
        }
        Some(Self { after, checksum })
    }
}

/// `Tag.N.Key` / `Tag.N.Value` of a listing, in index order.
///
/// # Errors
/// `NumberExceed.Tags` beyond 20, `InvalidParameter.TagValue` for a value without a key,
/// `InvalidTagKey.Malformed` / `InvalidTagValue.Malformed` beyond 128 characters,
/// `Duplicate.TagKey`.
fn tag_matches(params: &Params) -> Result<Vec<TagMatch>, ApiError> {
    let mut slots: BTreeMap<usize, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for (name, value) in params.pairs() {
        if let Some(n) = name
            .strip_suffix(".Key")
            .and_then(|h| tags_common::index_of(h, "Tag"))
        {
            slots.entry(n).or_default().0.get_or_insert(value);
        } else if let Some(n) = name
            .strip_suffix(".Value")
            .and_then(|h| tags_common::index_of(h, "Tag"))
        {
            slots.entry(n).or_default().1.get_or_insert(value);
        }
    }
    if slots.len() > MAX_TAGS || slots.keys().any(|n| *n > MAX_TAGS) {
        return Err(ApiError::new(Kind::NumberExceedTags));
    }
    let mut out: Vec<TagMatch> = Vec::with_capacity(slots.len());
    for (key, value) in slots.into_values() {
        // An empty key is under the 1-character minimum, as in every action that takes tags;
        // an empty value, like an absent one, matches any.
        // A value without its key, empty or not, is refused (as TagResources refuses it).
        let key = match key {
            None => return Err(ApiError::new(Kind::InvalidParameterTagValue)),
            Some("") => return Err(ApiError::new(Kind::InvalidTagKeyMalformed)),
            Some(key) => key,
        };
        let value = value.filter(|v| !v.is_empty());
        if key.chars().count() > MAX_TAG_LEN {
            return Err(ApiError::new(Kind::InvalidTagKeyMalformed));
        }
        if value.is_some_and(|v| v.chars().count() > MAX_TAG_LEN) {
            return Err(ApiError::new(Kind::InvalidTagValueMalformed));
        }
        if out.iter().any(|t| t.key == key) {
            return Err(ApiError::new(Kind::DuplicateTagKey));
        }
        out.push(TagMatch {
            key: key.to_string(),
            value: value.map(str::to_string),
        });
    }
    Ok(out)
}

/// Where a `TagFilter.…` parameter belongs: filter N, and value M for `TagValues.M`.
fn filter_slot(name: &str) -> Option<(usize, Option<usize>)> {
    let rest = name.strip_prefix("TagFilter.")?;
    let (n, field) = rest.split_once('.')?;
    let n = crate::validate::list_index(n)?;
    if field == "TagKey" {
        return Some((n, None));
    }
    let m = field.strip_prefix("TagValues.")?;
    Some((n, Some(crate::validate::list_index(m)?)))
}

/// `TagFilter.N.TagKey` / `TagFilter.N.TagValues.M`, in index order.
///
/// # Errors
/// `InvalidParameter` naming `TagFilter.N` (more than 5 filters), `TagFilter.N.TagKey`
/// (values without a key, or a key over 128 characters) or `TagFilter.N.TagValues` (more
/// than 5 values, or one over 128 characters).
fn tag_filters(params: &Params) -> Result<Vec<TagFilter>, ApiError> {
    type Slot<'a> = (Option<&'a str>, BTreeMap<usize, &'a str>);
    let mut slots: BTreeMap<usize, Slot<'_>> = BTreeMap::new();
    for (name, value) in params.pairs() {
        match filter_slot(name) {
            Some((n, None)) => {
                slots.entry(n).or_default().0.get_or_insert(value);
            }
            Some((n, Some(m))) => {
                slots.entry(n).or_default().1.entry(m).or_insert(value);
            }
            None => {}
        }
    }
    if slots.len() > MAX_TAG_FILTERS || slots.keys().any(|n| *n > MAX_TAG_FILTERS) {
        return Err(ApiError::invalid("TagFilter.N"));
    }
    let mut out = Vec::with_capacity(slots.len());
    for (key, values) in slots.into_values() {
        if values.len() > MAX_TAG_FILTERS || values.keys().any(|m| *m > MAX_TAG_FILTERS) {
            return Err(ApiError::invalid("TagFilter.N.TagValues"));
        }
        let values: Vec<String> = values
            .into_values()
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect();
        let key = match key.filter(|k| !k.is_empty()) {
            Some(key) => key,
            None if values.is_empty() => continue,
            None => return Err(ApiError::invalid("TagFilter.N.TagKey")),
        };
        if key.chars().count() > MAX_TAG_LEN {
            return Err(ApiError::invalid("TagFilter.N.TagKey"));
        }
        if values.iter().any(|v| v.chars().count() > MAX_TAG_LEN) {
            return Err(ApiError::invalid("TagFilter.N.TagValues"));
        }
        out.push(TagFilter {
            key: key.to_string(),
            values,
        });
    }
    Ok(out)
}

/// Matches `s` against a TagFilter pattern: `x*` prefix, `*x*` contains, `*x` suffix,
/// `*` anything, otherwise exact.
fn fuzzy_match(pattern: &str, s: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match (pattern.strip_prefix('*'), pattern.strip_suffix('*')) {
        (Some(_), Some(_)) => s.contains(&pattern[1..pattern.len() - 1]),
        (None, Some(prefix)) => s.starts_with(prefix),
        (Some(suffix), None) => s.ends_with(suffix),
        (None, None) => s == pattern,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<ListTagResources, ApiError> {
        ListTagResources::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    const BASE: &str = "RegionId=cn-hangzhou&ResourceType=keypair";

    #[test]
    fn validation_order_and_codes() {
        let many_ids: String = (1..=51).map(|i| format!("&ResourceId.{i}=k{i}")).collect();
        let many_tags: String = (1..=21).map(|i| format!("&Tag.{i}.Key=t{i}")).collect();
        let long = "x".repeat(129);
        let cases = [
            (
                "ResourceType=keypair&ResourceId.1=k".to_string(),
                404,
                "MissingParameter.RegionId",
                None,
            ),
            (
                "RegionId=nowhere&ResourceType=keypair".to_string(),
                404,
                "InvalidRegionId.NotFound",
                None,
            ),
            (
                "RegionId=cn-hangzhou&ResourceId.1=k".to_string(),
                404,
                "MissingParameter.ResourceType",
                None,
            ),
            (
                "RegionId=cn-hangzhou&ResourceType=Keypair&ResourceId.1=k".to_string(),
                404,
                "InvalidResourceType.NotFound",
                None,
            ),
            (
                format!("{BASE}{many_ids}"),
                400,
                "NumberExceed.ResourceIds",
                None,
            ),
            (format!("{BASE}{many_tags}"), 400, "NumberExceed.Tags", None),
            (
                format!("{BASE}&Tag.1.Value=v"),
                400,
                "InvalidParameter.TagValue",
                None,
            ),
            (
                // An empty key is a key, and malformed, as in every action that takes tags;
                // only an absent one leaves the value keyless (audit: this answered
                // InvalidParameter.TagValue, where CreateKeyPair said InvalidTagKey.Malformed).
                format!("{BASE}&Tag.1.Key=&Tag.1.Value=v"),
                400,
                "InvalidTagKey.Malformed",
                None,
            ),
            (
                // Regression (findings-api2 #3): an empty key was dropped here and refused
                // by every other action that takes tags.
                format!("{BASE}&Tag.1.Key="),
                400,
                "InvalidTagKey.Malformed",
                None,
            ),
            (
                format!("{BASE}&Tag.1.Key={long}"),
                400,
                "InvalidTagKey.Malformed",
                None,
            ),
            (
                format!("{BASE}&Tag.1.Key=k&Tag.1.Value={long}"),
                400,
                "InvalidTagValue.Malformed",
                None,
            ),
            (
                format!("{BASE}&Tag.1.Key=k&Tag.2.Key=k"),
                400,
                "Duplicate.TagKey",
                None,
            ),
            (
                format!("{BASE}&TagFilter.6.TagKey=k"),
                400,
                "InvalidParameter",
                Some("TagFilter.N"),
            ),
            (
                format!("{BASE}&TagFilter.1.TagValues.1=v"),
                400,
                "InvalidParameter",
                Some("TagFilter.N.TagKey"),
            ),
            (
                format!("{BASE}&TagFilter.1.TagKey={long}"),
                400,
                "InvalidParameter",
                Some("TagFilter.N.TagKey"),
            ),
            (
                format!("{BASE}&TagFilter.1.TagKey=k&TagFilter.1.TagValues.6=v"),
                400,
                "InvalidParameter",
                Some("TagFilter.N.TagValues"),
            ),
            (
                format!("{BASE}&TagFilter.1.TagKey=k&TagFilter.1.TagValues.1={long}"),
                400,
                "InvalidParameter",
                Some("TagFilter.N.TagValues"),
            ),
            (
                format!("{BASE}&Tag.1.Key=k&TagFilter.1.TagKey=k"),
                400,
                "InvalidParameter",
                Some("TagFilter"),
            ),
            (
                format!("{BASE}&Tag.1.Key=acs:rm:rgId&Tag.1.Value=rg-1&Tag.2.Key=k"),
                400,
                "InvalidParameter",
                Some("Tag.N.Key"),
            ),
            (
                format!("{BASE}&Tag.1.Key=acs:rm:rgId"),
                400,
                "InvalidParameter.TagValue",
                None,
            ),
            (
                BASE.to_string(),
                400,
                "MissingParameter",
                Some("ResourceId"),
            ),
            (
                // Regression (model-based review, twenty-eighth session): an empty value
                // without its key was dropped here and refused by TagResources; keyless
                // either way.
                format!("{BASE}&Tag.1.Value="),
                400,
                "InvalidParameter.TagValue",
                None,
            ),
            (
                format!("{BASE}&ResourceId.1=k&NextToken=zz"),
                400,
                "InvalidParameter",
                Some("NextToken"),
            ),
            (
                format!("{BASE}&ResourceId.1=k&NextToken={}", "A".repeat(32)),
                400,
                "InvalidParameter",
                Some("NextToken"),
            ),
        ];
        for (q, status, code, named) in cases {
            let e = parse(&q).unwrap_err();
            assert_eq!((e.status(), e.code()), (status, code), "{q}");
            if let Some(named) = named {
                assert!(
                    e.message().contains(&format!("\"{named}\"")),
                    "{q}: {}",
                    e.message()
                );
            }
        }
    }

    #[test]
    fn selectors() {
        let tag = |k: &str, v: Option<&str>| TagMatch {
            key: k.into(),
            value: v.map(Into::into),
        };
        let cases = [
            ("&ResourceId.1=k", Selector::Any),
            ("&Tag.1.Key=a&Tag.1.Value=", Selector::Tags(vec![tag("a", None)])),
            ("&Tag.2.Key=b&Tag.2.Value=2&Tag.1.Key=aliyun:x", Selector::Tags(vec![tag("aliyun:x", None), tag("b", Some("2"))])),
            ("&Tag.1.Key=acs:rm:rgId&Tag.1.Value=rg-1", Selector::ResourceGroup("rg-1".into())),
            (
                "&TagFilter.1.TagKey=env*&TagFilter.1.TagValues.2=b&TagFilter.1.TagValues.1=a*&TagFilter.2.TagKey=x",
                Selector::Filters(vec![
                    TagFilter { key: "env*".into(), values: vec!["a*".into(), "b".into()] },
                    TagFilter { key: "x".into(), values: vec![] },
                ]),
            ),
        ];
        for (extra, want) in cases {
            assert_eq!(
                parse(&format!("{BASE}{extra}")).unwrap().selector,
                want,
                "{extra}"
            );
        }
    }

    #[test]
    fn fuzzy_patterns() {
        for (pattern, s, want) in [
            ("env", "env", true),
            ("env", "env2", false),
            ("env*", "environment", true),
            ("env*", "env", true),
            ("env*", "myenv", false),
            ("*env*", "myenvironment", true),
            ("*env*", "env", true),
            ("*env*", "en", false),
            ("*env", "devenv", true),
            ("*env", "envx", false),
            ("*", "", true),
            ("**", "anything", true),
            ("a*b", "a*b", true),
            ("a*b", "axb", false),
        ] {
            assert_eq!(fuzzy_match(pattern, s), want, "{pattern} ~ {s}");
        }
    }

    #[test]
    fn tokens_round_trip_and_reject_other_shapes() {
        let t = PageToken {
            after: Cursor {
                sequence: 0x1234,
                tag: 0xad_beef,
                position: 0x13,
            },
            checksum: [0xab; 4],
        };
        let s = t.encode();
        assert_eq!(s, format!("0000000000001234adbeef13{}", "ab".repeat(4)));
        assert_eq!(PageToken::decode(&s), Some(t));
        for bad in [
            "",
            "0000000000001234",
            &s[..31],
            &format!("{s}0"),
            &s.to_uppercase(),
            &s.replace('a', "g"),
        ] {
            assert_eq!(PageToken::decode(bad), None, "{bad}");
        }
    }
}
