//! DescribeKeyPairs: lists a region's key pairs (created and imported alike) with optional
//! filters and paging. API reference §1.3 (limits §2, open questions §7.10, §7.11).
//!
//! ```text
//! RegionId            String   required  a region of regions::REGIONS
//! KeyPairName         String   optional  exact name, or a pattern where each `*` matches any
//!                                        run of characters (`*x`, `x*`, `*x*`, also `a*b`, `*`)
//! KeyPairFingerPrint  String   optional  exact fingerprint
//! ResourceGroupId     String   optional  exact group id; key pairs of the account's default group
//!                                        are listed whatever the id (§7.11); an unknown id
//!                                        lists only those (no error)
//! Tag.N.Key/Value     String   optional  N = 1..20, all must match (AND); an absent or empty
//!                                        Value matches any value of the key
//! IncludePublicKey    Boolean  optional  true/false, any case; default false
//! PageNumber          Integer  optional  1..2147483647, default 1
//! PageSize            Integer  optional  1..50, default 10
//! ```
//! Response: `RequestId, PageNumber, PageSize, TotalCount` (JSON numbers) and
//! `KeyPairs.KeyPair[]` with `CreationTime, KeyPairName, KeyPairFingerPrint, ResourceGroupId,
//! PublicKey` (only with `IncludePublicKey=true`) and `Tags.Tag[]` of `{TagKey, TagValue}`.
//! Both lists are always arrays, empty ones included.
//!
//! Order: creation order (oldest first), stable across calls, so paging with a fixed filter
//! visits each key pair exactly once while nothing changes. A page past the last one is an
//! empty list with the real `TotalCount`.
//!
//! Error order: `RegionId`, `PageNumber`, `PageSize`, `IncludePublicKey`, tags. Out-of-range or
//! non-integer paging values are `InvalidParameter` naming the parameter rather than clamped
//! (§7.10; the usual ECS behaviour), so a client bug shows up instead of a silently short page.

use bytes::Bytes;
use std::borrow::Borrow;
use std::sync::Arc;

use crate::protocol::response::{self, Format, Rendered};
use serde::Serialize;

use super::create_key_pair::tag_error;
use super::{Action, Ctx};
use crate::clock::MinuteStamp;
use crate::error::ApiError;
use crate::protocol::params::{parse_bool, Params};
use crate::regions::Region;
use crate::store::{KeyPair, Page, PageKey};
use crate::validate::{self, Tag};

/// Largest `PageSize`.
pub const MAX_PAGE_SIZE: u32 = 50;
/// `PageSize` when absent.
pub const DEFAULT_PAGE_SIZE: u32 = 10;
/// Largest `PageNumber`: the API types it as a Java `Integer`.
pub const MAX_PAGE_NUMBER: u32 = i32::MAX as u32;

/// A `KeyPairName` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFilter {
    /// No `*`: the name itself.
    Exact(String),
    /// The text between the `*`s: `*ab*c` is first `""`, middle `["ab"]`, last `"c"`. The
    /// first part must begin the name, the last must end it, the middle ones must appear in
    /// between in order.
    Pattern {
        first: String,
        /// Without the empty parts of `**`, which match anywhere: a filter of a million `*`
        /// would otherwise be a million steps per key pair, under the store's lock.
        middle: Vec<String>,
        last: String,
        /// Bytes of all parts: a longer name is needed to match, so a filter longer than any
        /// name is refused at once rather than searched for in each of 500 key pairs.
        len: usize,
    },
}

impl NameFilter {
    pub fn new(filter: &str) -> Self {
        if !filter.contains('*') {
            return Self::Exact(filter.to_string());
        }
        let mut parts = filter.split('*');
        let first = parts.next().unwrap_or_default().to_string();
        let last = parts.next_back().unwrap_or_default().to_string();
        let middle: Vec<String> = parts
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        let len = first.len() + last.len() + middle.iter().map(String::len).sum::<usize>();
        Self::Pattern {
            first,
            middle,
            last,
            len,
        }
    }

    /// Whether `name` passes. Case-sensitive, like names themselves.
    ///
    /// Every `*` is a wildcard, not only a leading or trailing one: the documented forms are
    /// the cases of this one rule, and a name can never contain `*` itself, so no name is
    /// shadowed by the choice.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(n) => n == name,
            Self::Pattern {
                first,
                middle,
                last,
                len,
            } => {
                if name.len() < *len {
                    return false;
                }
                let Some(mut tail) = name.strip_prefix(first.as_str()) else {
                    return false;
                };
                // Leftmost match of each middle part leaves the most room for the rest.
                for part in middle {
                    match tail.find(part.as_str()) {
                        Some(at) => tail = &tail[at + part.len()..],
                        None => return false,
                    }
                }
                tail.ends_with(last.as_str())
            }
        }
    }
}

/// A validated DescribeKeyPairs request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescribeKeyPairs {
    pub region: &'static Region,
    pub name: Option<NameFilter>,
    pub fingerprint: Option<String>,
    pub resource_group_id: Option<String>,
    /// Tag filters; an empty value means "any value".
    pub tags: Vec<Tag>,
    pub include_public_key: bool,
    pub page_number: u32,
    pub page_size: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    page_number: u32,
    page_size: u32,
    total_count: usize,
    key_pairs: KeyPairs<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct KeyPairs<'a> {
    key_pair: Vec<Item<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Item<'a> {
    #[serde(serialize_with = "minute_stamp")]
    creation_time: u64,
    key_pair_name: &'a str,
    key_pair_finger_print: &'a str,
    resource_group_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    public_key: Option<&'a str>,
    tags: Tags<'a>,
    /// The JSON of the first three fields, as [`json_head`] writes it, when already made.
    #[serde(skip)]
    head: Option<&'a [u8]>,
}

fn minute_stamp<S: serde::Serializer>(unix_secs: &u64, s: S) -> Result<S::Ok, S::Error> {
    MinuteStamp::new(*unix_secs).serialize(s)
}

/// An item's fields that never change (creation time, name, fingerprint), in JSON without the
/// closing brace: what [`KeyPair::listing_head`] keeps.
fn json_head(out: &mut Vec<u8>, creation_time: u64, name: &str, fingerprint: &str) {
    out.extend_from_slice(b"{\"CreationTime\":");
    response::json_str(out, MinuteStamp::new(creation_time).as_str());
    out.extend_from_slice(b",\"KeyPairName\":");
    response::json_str(out, name);
    out.extend_from_slice(b",\"KeyPairFingerPrint\":");
    response::json_str(out, fingerprint);
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Tags<'a> {
    tag: Vec<TagItem<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagItem<'a> {
    tag_key: &'a str,
    tag_value: &'a str,
}

impl Response<'_> {
    /// The JSON body, byte for byte what serde_json makes of the same struct (tested). A page
    /// of 50 is ~400 strings and serde_json's escaping of every key and value was a fifth of
    /// the server's CPU under a listing load; the keys here are literals.
    #[cfg(test)]
    fn to_json(&self) -> Vec<u8> {
        self.json_with(self.key_pairs.key_pair.iter())
    }

    /// The JSON body with `items` as the page (`key_pairs` is left out): a page is written
    /// item by item, without first collecting the items.
    fn json_with<'i>(
        &self,
        items: impl ExactSizeIterator<Item = impl Borrow<Item<'i>>>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + items.len() * 256);
        self.json_open(&mut out);
        json_items(&mut out, items);
        out.extend_from_slice(JSON_CLOSE);
        out
    }

    /// Everything before the first item.
    fn json_open(&self, out: &mut Vec<u8>) {
        use std::io::Write as _;
        out.extend_from_slice(b"{\"RequestId\":");
        response::json_str(out, self.request_id);
        let _ = write!(
            out,
            ",\"PageNumber\":{},\"PageSize\":{},\"TotalCount\":{},\"KeyPairs\":{{\"KeyPair\":[",
            self.page_number, self.page_size, self.total_count
        );
    }
}

/// Everything after the last item.
const JSON_CLOSE: &[u8] = b"]}}";

/// The items, comma-separated.
fn json_items<'i>(out: &mut Vec<u8>, items: impl Iterator<Item = impl Borrow<Item<'i>>>) {
    for (i, item) in items.enumerate() {
        let item = item.borrow();
        if i > 0 {
            out.push(b',');
        }
        match item.head {
            Some(head) => out.extend_from_slice(head),
            None => json_head(
                out,
                item.creation_time,
                item.key_pair_name,
                item.key_pair_finger_print,
            ),
        }
        out.extend_from_slice(b",\"ResourceGroupId\":");
        response::json_str(out, item.resource_group_id);
        if let Some(key) = item.public_key {
            out.extend_from_slice(b",\"PublicKey\":");
            response::json_str(out, key);
        }
        out.extend_from_slice(b",\"Tags\":{\"Tag\":[");
        for (j, tag) in item.tags.tag.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"TagKey\":");
            response::json_str(out, tag.tag_key);
            out.extend_from_slice(b",\"TagValue\":");
            response::json_str(out, tag.tag_value);
            out.push(b'}');
        }
        out.extend_from_slice(b"]}}");
    }
}

impl DescribeKeyPairs {
    /// Validates the request.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidParameter` (PageNumber,
    /// PageSize, IncludePublicKey), and the tag codes of CreateKeyPair for malformed tag filters.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let region = super::region(params, Action::DescribeKeyPairs.unknown_region())?;
        let page_number = validate::page_number(params.get("PageNumber"), 1, MAX_PAGE_NUMBER)
            .map_err(|_| ApiError::invalid("PageNumber"))?;
        let page_size =
            validate::page_number(params.get("PageSize"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
                .map_err(|_| ApiError::invalid("PageSize"))?;
        let include_public_key = match params.non_empty("IncludePublicKey") {
            None => false,
            Some(v) => parse_bool(v).ok_or_else(|| ApiError::invalid("IncludePublicKey"))?,
        };
        // Tag filters obey the same rules as tags being set (the old reference gives them the
        // same limits), so a malformed filter is reported with CreateKeyPair's codes rather
        // than silently matching nothing.
        let tags = validate::tags(params).map_err(tag_error)?;
        Ok(Self {
            region,
            name: params.non_empty("KeyPairName").map(NameFilter::new),
            fingerprint: params.non_empty("KeyPairFingerPrint").map(str::to_string),
            resource_group_id: params.non_empty("ResourceGroupId").map(str::to_string),
            tags,
            include_public_key,
            page_number,
            page_size,
        })
    }

    /// Whether any filter is set.
    fn filters(&self) -> bool {
        self.name.is_some()
            || self.fingerprint.is_some()
            || self.resource_group_id.is_some()
            || !self.tags.is_empty()
    }

    /// Whether `kp`, of an account whose default group is `default_group`, passes every filter.
    ///
    /// §7.11: the current reference says resources of the default resource group are returned
    /// "regardless of how this parameter is set", the general rule of ECS listings; the older
    /// SDK text only says that filtering by the default group is not supported, which this
    /// rule also covers (such a filter lists the default group). The real service is taken to
    /// do what its newest reference says.
    pub fn matches(&self, kp: &KeyPair, default_group: &str) -> bool {
        self.name.as_ref().is_none_or(|f| f.matches(&kp.name))
            && self
                .fingerprint
                .as_ref()
                .is_none_or(|f| *f == kp.fingerprint)
            && self
                .resource_group_id
                .as_ref()
                .is_none_or(|g| *g == kp.resource_group_id || kp.resource_group_id == default_group)
            && self.tags.iter().all(|want| {
                kp.tags
                    .iter()
                    .any(|t| t.key == want.key && (want.value.is_empty() || t.value == want.value))
            })
    }

    /// Filters and pages the region's key pairs (the store keeps them in creation order).
    ///
    /// # Errors
    /// None beyond `parse`'s; kept fallible for the common action shape.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let skip = (self.page_number as usize - 1).saturating_mul(self.page_size as usize);
        let size = self.page_size as usize;
        if ctx.format == Format::Json && !self.filters() {
            return self.unfiltered_json(ctx, skip, size);
        }
        // Only shared references leave the lock: rendering a page under it made the other
        // worker thread wait.
        let (total, page) = ctx.store.with_account(ctx.who(), |acc| {
            let Some(region) = acc.region_ref(self.region.id) else {
                return (0, Vec::new());
            };
            let listed = region.key_pairs().values();
            if !self.filters() {
                // A plain page in XML: a slice of the ordered map, no scan.
                return (
                    listed.len(),
                    listed.skip(skip).take(size).cloned().collect(),
                );
            }
            let mut total = 0;
            let mut page = Vec::with_capacity(size);
            let default_group = acc.default_resource_group.as_str();
            for kp in listed.filter(|kp| self.matches(kp, default_group)) {
                if total >= skip && page.len() < size {
                    page.push(Arc::clone(kp));
                }
                total += 1;
            }
            (total, page)
        })?;
        let mut response = self.response(ctx, total);
        let items = page.iter().map(|kp| self.item(kp));
        Ok(match ctx.format {
            Format::Json => response::json(response.json_with(items)),
            Format::Xml => {
                response.key_pairs.key_pair = items.collect();
                ctx.reply(&response)
            }
        })
    }

    /// The common listing, a plain page in JSON: its items are rendered once per version of
    /// the region and kept by the store.
    fn unfiltered_json(
        &self,
        ctx: &Ctx<'_>,
        skip: usize,
        size: usize,
    ) -> Result<Rendered, ApiError> {
        let key = PageKey {
            skip,
            size,
            public_key: self.include_public_key,
        };
        let (total, items) = match ctx.store.page(ctx.who(), self.region.id, key)? {
            Page::Rendered { total, items } => (total, items),
            Page::Listed {
                total,
                version,
                key_pairs,
            } => {
                let mut items = Vec::with_capacity(key_pairs.len() * 256 + JSON_CLOSE.len());
                json_items(&mut items, key_pairs.iter().map(|kp| self.item(kp)));
                items.extend_from_slice(JSON_CLOSE);
                let items = Bytes::from(items.into_boxed_slice());
                if let Some(version) = version {
                    ctx.store.keep_page(version, key, items.clone());
                }
                (total, items)
            }
        };
        // About 130 bytes: at least half of the capacity, so that the shrink to a boxed slice
        // happens in place.
        let mut head = Vec::with_capacity(192);
        self.response(ctx, total).json_open(&mut head);
        let mut rendered = response::json(head);
        // The page itself goes out as kept, after the head.
        rendered.tail = items;
        Ok(rendered)
    }

    fn response<'a>(&self, ctx: &Ctx<'a>, total: usize) -> Response<'a> {
        Response {
            request_id: ctx.request_id,
            page_number: self.page_number,
            page_size: self.page_size,
            total_count: total,
            key_pairs: KeyPairs {
                key_pair: Vec::new(),
            },
        }
    }

    fn item<'a>(&self, kp: &'a KeyPair) -> Item<'a> {
        let head = kp.listing_head.get_or_init(|| {
            let mut head = Vec::with_capacity(128);
            json_head(&mut head, kp.creation_time, &kp.name, &kp.fingerprint);
            head.into_boxed_slice()
        });
        Item {
            creation_time: kp.creation_time,
            key_pair_name: &kp.name,
            key_pair_finger_print: &kp.fingerprint,
            resource_group_id: &kp.resource_group_id,
            public_key: self.include_public_key.then_some(kp.public_key.as_str()),
            tags: Tags {
                tag: kp
                    .tags
                    .iter()
                    .map(|t| TagItem {
                        tag_key: &t.key,
                        tag_value: &t.value,
                    })
                    .collect(),
            },
            head: Some(head),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<DescribeKeyPairs, ApiError> {
        DescribeKeyPairs::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    #[test]
    fn the_written_json_is_byte_for_byte_serde_json() {
        let awkward = [
            "",
            "plain",
            "quote\"back\\slash",
            "ctl\u{0}\u{1f}\n\t\r",
            "del\u{7f} é 中文 😀 </script> &amp;",
            "acs:rm:rgId",
        ];
        let tags: Vec<TagItem<'_>> = awkward
            .iter()
            .zip(awkward.iter().rev())
            .map(|(k, v)| TagItem {
                tag_key: k,
                tag_value: v,
            })
            .collect();
        let item = |i: usize, public_key: Option<&'static str>, tags: &[TagItem<'static>]| Item {
            creation_time: 1_693_816_380 + i as u64 * 86_400,
            key_pair_name: awkward[i % awkward.len()],
            key_pair_finger_print: "94:d1:70:c2:75:a0:f3:ec:e6:b4:2e:08:e7:e3:d0:0c",
            resource_group_id: awkward[(i + 1) % awkward.len()],
            public_key,
            tags: Tags {
                tag: tags
                    .iter()
                    .map(|t| TagItem {
                        tag_key: t.tag_key,
                        tag_value: t.tag_value,
                    })
                    .collect(),
            },
            head: None,
        };
        let pages = [
            vec![],
            vec![item(0, None, &[])],
            (0..7)
                .map(|i| item(i, (i % 2 == 0).then_some("ssh-rsa AAAA\"x"), &tags[..i % 4]))
                .collect(),
        ];
        for (n, page) in pages.into_iter().enumerate() {
            let heads: Vec<Vec<u8>> = page
                .iter()
                .map(|i| {
                    let mut head = Vec::new();
                    json_head(
                        &mut head,
                        i.creation_time,
                        i.key_pair_name,
                        i.key_pair_finger_print,
                    );
                    head
                })
                .collect();
            let mut response = Response {
                request_id: awkward[n + 1],
                page_number: u32::MAX,
                page_size: 50,
                total_count: 500 + n,
                key_pairs: KeyPairs { key_pair: page },
            };
            let want = serde_json::to_string(&response).unwrap();
            assert_eq!(String::from_utf8(response.to_json()).unwrap(), want);
            // The same page with the heads a stored key pair keeps.
            for (item, head) in response.key_pairs.key_pair.iter_mut().zip(&heads) {
                item.head = Some(head);
            }
            assert_eq!(String::from_utf8(response.to_json()).unwrap(), want);
        }
    }

    #[test]
    fn name_filter_table() {
        let cases: &[(&str, &str, bool)] = &[
            // exact
            ("SshKey", "SshKey", true),
            ("SshKey", "sshkey", false),
            ("SshKey", "SshKey2", false),
            // ends with
            ("*SshKey", "mySshKey", true),
            ("*SshKey", "SshKey", true),
            ("*SshKey", "SshKeyX", false),
            // starts with
            ("SshKey*", "SshKey-1", true),
            ("SshKey*", "SshKey", true),
            ("SshKey*", "aSshKey", false),
            // contains
            ("*SshKey*", "aSshKeyb", true),
            ("*SshKey*", "SshKey", true),
            ("*SshKey*", "SshKe", false),
            // other placements: every `*` is a wildcard
            ("a*b", "ab", true),
            ("a*b", "a-x-b", true),
            ("a*b", "a-x-bc", false),
            ("ab*ab", "ab", false),
            ("ab*ab", "abab", true),
            ("a*b*c", "a1b2c", true),
            ("a*b*c", "acb", false),
            ("*", "anything", true),
            ("**", "anything", true),
            ("k**1", "k1", true),
            ("*.*", "a.b", true),
            ("*.*", "ab", false),
            ("a***b", "ab", true),
            ("a*b*b", "ab", false),
            ("*abc*abc*", "abcab", false),
        ];
        for (filter, name, want) in cases {
            assert_eq!(
                NameFilter::new(filter).matches(name),
                *want,
                "{filter} vs {name}"
            );
        }
    }

    /// Regression (white-box review, sixteenth session): `*` + 1 MiB + `*` was searched for
    /// in each key pair's name, 1.4 s under the store's lock for a region of 500.
    #[test]
    fn filters_longer_than_any_name_or_of_many_stars_stay_cheap() {
        let long = NameFilter::new(&format!("*{}*", "x".repeat(1 << 20)));
        assert!(!long.matches("xx"));
        let stars = NameFilter::new(&format!("a{}b", "*".repeat(1 << 20)));
        assert!(
            matches!(&stars, NameFilter::Pattern { middle, .. } if middle.is_empty()),
            "empty parts are dropped"
        );
        assert!(stars.matches("a-b"));
    }

    #[test]
    fn defaults_and_paging_limits() {
        let d = parse("RegionId=cn-hangzhou").unwrap();
        assert_eq!((d.page_number, d.page_size), (1, 10));
        assert!(!d.include_public_key && d.name.is_none() && d.tags.is_empty());
        let d = parse("RegionId=cn-hangzhou&PageNumber=&PageSize=&IncludePublicKey=").unwrap();
        assert_eq!(
            (d.page_number, d.page_size, d.include_public_key),
            (1, 10, false)
        );
        let d = parse("RegionId=cn-hangzhou&PageNumber=2147483647&PageSize=50").unwrap();
        assert_eq!((d.page_number, d.page_size), (2_147_483_647, 50));
        let bad = [
            ("RegionId=cn-hangzhou&PageNumber=0", "PageNumber"),
            ("RegionId=cn-hangzhou&PageNumber=-1", "PageNumber"),
            ("RegionId=cn-hangzhou&PageNumber=2147483648", "PageNumber"),
            ("RegionId=cn-hangzhou&PageNumber=x", "PageNumber"),
            ("RegionId=cn-hangzhou&PageSize=0", "PageSize"),
            ("RegionId=cn-hangzhou&PageSize=51", "PageSize"),
            ("RegionId=cn-hangzhou&PageSize=1.5", "PageSize"),
            (
                "RegionId=cn-hangzhou&IncludePublicKey=yes",
                "IncludePublicKey",
            ),
            (
                "RegionId=cn-hangzhou&IncludePublicKey=1",
                "IncludePublicKey",
            ),
        ];
        for (q, param) in bad {
            let e = parse(q).unwrap_err();
            assert_eq!(e.code(), "InvalidParameter", "{q}");
            assert_eq!(
                e.message(),
                format!("The specified parameter \"{param}\" is not valid."),
                "{q}"
            );
        }
    }

    #[test]
    fn validation_order() {
        let cases = [
            ("PageSize=99", "MissingParameter"),
            ("RegionId=mars&PageSize=99", "InvalidRegionId.NotFound"),
            (
                "RegionId=cn-hangzhou&PageSize=99&PageNumber=0",
                "InvalidParameter",
            ),
            (
                "RegionId=cn-hangzhou&IncludePublicKey=x&Tag.1.Key=acs:x",
                "InvalidParameter",
            ),
            (
                "RegionId=cn-hangzhou&Tag.1.Key=acs:x",
                "InvalidTagKey.Malformed",
            ),
            ("RegionId=cn-hangzhou&Tag.21.Key=k", "QuotaExceed.Tags"),
        ];
        for (q, code) in cases {
            assert_eq!(parse(q).unwrap_err().code(), code, "{q}");
        }
        let e = parse("RegionId=cn-hangzhou&PageSize=99&PageNumber=0").unwrap_err();
        assert!(
            e.message().contains("PageNumber"),
            "PageNumber is checked first"
        );
    }

    #[test]
    fn booleans_ignore_case() {
        for (v, want) in [
            ("True", true),
            ("true", true),
            ("TRUE", true),
            ("False", false),
        ] {
            let d = parse(&format!("RegionId=cn-hangzhou&IncludePublicKey={v}")).unwrap();
            assert_eq!(d.include_public_key, want, "{v}");
        }
    }

    fn kp(name: &str, rg: &str, tags: &[(&str, &str)]) -> KeyPair {
        KeyPair {
            name: name.into(),
            id: "ssh-x".into(),
            fingerprint: format!("fp-{name}"),
            public_key: "ssh-rsa AAAA".into(),
            resource_group_id: rg.into(),
            tags: tags
                .iter()
                .map(|(k, v)| Tag {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
            creation_time: 0,
            sequence: 0,
            origin: crate::store::Origin::Created,
            listing_head: Default::default(),
        }
    }

    #[test]
    fn filters_combine_with_and() {
        let a = kp("alpha", "rg-1", &[("env", "prod"), ("team", "x")]);
        let b = kp("beta", "rg-2", &[("env", "dev")]);
        let default = kp("gamma", "rg-default", &[("env", "dev")]);
        let cases: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("&KeyPairFingerPrint=fp-alpha", true, false),
            ("&KeyPairFingerPrint=fp-alph", false, false),
            ("&ResourceGroupId=rg-2", false, true),
            ("&ResourceGroupId=rg-unknown", false, false),
            ("&Tag.1.Key=env", true, true),
            ("&Tag.1.Key=env&Tag.1.Value=", true, true),
            ("&Tag.1.Key=env&Tag.1.Value=dev", false, true),
            ("&Tag.1.Key=env&Tag.2.Key=team", true, false),
            (
                "&Tag.1.Key=env&Tag.1.Value=prod&Tag.2.Key=team&Tag.2.Value=y",
                false,
                false,
            ),
            ("&Tag.1.Key=missing", false, false),
            ("&KeyPairName=*a&Tag.1.Key=env", true, true),
            ("&KeyPairName=*a&ResourceGroupId=rg-1", true, false),
        ];
        for (q, want_a, want_b) in cases {
            let d = parse(&format!("RegionId=cn-hangzhou{q}")).unwrap();
            assert_eq!(
                (d.matches(&a, "rg-default"), d.matches(&b, "rg-default")),
                (*want_a, *want_b),
                "{q}"
            );
        }
        // §7.11: the default group's key pairs pass any group filter, not the others.
        for (q, want) in [
            ("&ResourceGroupId=rg-1", true),
            ("&ResourceGroupId=rg-unknown", true),
            ("&ResourceGroupId=rg-default", true),
            (
                "&ResourceGroupId=rg-1&Tag.1.Key=env&Tag.1.Value=prod",
                false,
            ),
            ("&ResourceGroupId=rg-1&KeyPairName=beta", false),
        ] {
            let d = parse(&format!("RegionId=cn-hangzhou{q}")).unwrap();
            assert_eq!(d.matches(&default, "rg-default"), want, "{q}");
        }
    }
}
