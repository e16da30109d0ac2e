//! DescribeRegions: lists every region of `regions::REGIONS`, in that order, with names in the
//! requested language. API reference §1.11, §6.
//!
//! ```text
//! RegionId            String  optional  accepted and ignored (even an unknown one)
//! AcceptLanguage      String  optional  zh-CN (default) | en-US | ja | zh-TW | fr | de | ko,
//!                                       exact spelling
//! InstanceChargeType  String  optional  PrePaid | PostPaid (default) | SpotWithPriceLimit |
//!                                       SpotAsPriceGo, exact spelling
//! ResourceType        String  optional  instance (default) | disk | reservedinstance | scu
//! ```
//! Response: `RequestId, Regions.Region[]`, each `RegionId, LocalName, RegionEndpoint, Status`.
//!
//! Decisions on what the reference leaves open:
//! - Values are compared exactly (case-sensitive), like RegionId everywhere; an empty value
//!   means the default, since some SDKs send unset fields as `Name=`.
//! - Checks run in the order AcceptLanguage, InstanceChargeType, ResourceType.
//! - `zh-TW`, `fr`, `de` and `ko`, which the current SDK models list as valid (reference
//!   §1.11), are accepted: the newest source over the older error text, whose message (kept as
//!   documented for other values) names only the first three. The reference gives no region
//!   names in them, so their `LocalName` is the English one.
//! - An unknown InstanceChargeType is `400 InvalidParameter` naming it (no code is documented).
//! - Every region is `available` for every charge and resource type: the mock models no
//!   sold-out capacity. `Unauthorized.EmptyRegion` is only produced by a scenario.

use crate::protocol::response::Rendered;
use serde::Serialize;

use super::Ctx;
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::{Region, REGIONS};

/// The language of `LocalName`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    ZhCn,
    EnUs,
    Ja,
    /// zh-TW, fr, de, ko: accepted, named in English.
    Other,
}

impl Language {
    fn parse(value: &str) -> Option<Self> {
        match value {
            "zh-CN" => Some(Self::ZhCn),
            "en-US" => Some(Self::EnUs),
            "ja" => Some(Self::Ja),
            "zh-TW" | "fr" | "de" | "ko" => Some(Self::Other),
            _ => None,
        }
    }

    fn local_name(self, region: &Region) -> &'static str {
        match self {
            Self::ZhCn => region.name_zh,
            Self::EnUs | Self::Other => region.name_en,
            Self::Ja => region.name_ja,
        }
    }
}

const CHARGE_TYPES: &[&str] = &["PrePaid", "PostPaid", "SpotWithPriceLimit", "SpotAsPriceGo"];
const RESOURCE_TYPES: &[&str] = &["instance", "disk", "reservedinstance", "scu"];

/// A validated DescribeRegions request: only the language changes the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescribeRegions {
    pub language: Language,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    regions: Regions,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Regions {
    region: Vec<RegionItem>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RegionItem {
    region_id: &'static str,
    local_name: &'static str,
    region_endpoint: &'static str,
    status: &'static str,
}

impl DescribeRegions {
    /// Validates AcceptLanguage, InstanceChargeType and ResourceType, in that order.
    ///
    /// # Errors
    /// `InvalidAcceptLanguage.NotFound`, `InvalidParameter` (InstanceChargeType),
    /// `InvalidResourceType.NotFound`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let language = match params.non_empty("AcceptLanguage") {
            None => Language::ZhCn,
            Some(v) => Language::parse(v)
                .ok_or_else(|| ApiError::new(Kind::InvalidAcceptLanguageNotFound))?,
        };
        if let Some(v) = params.non_empty("InstanceChargeType") {
            if !CHARGE_TYPES.contains(&v) {
                return Err(ApiError::invalid("InstanceChargeType"));
            }
        }
        if let Some(v) = params.non_empty("ResourceType") {
            if !RESOURCE_TYPES.contains(&v) {
                return Err(ApiError::new(Kind::InvalidResourceTypeNotFound));
            }
        }
        Ok(Self { language })
    }

    /// Lists every region; reads no state.
    ///
    /// # Errors
    /// None.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let region = REGIONS
            .iter()
            .map(|r| RegionItem {
                region_id: r.id,
                local_name: self.language.local_name(r),
                region_endpoint: r.endpoint,
                status: "available",
            })
            .collect();
        Ok(ctx.reply(&Response {
            request_id: ctx.request_id,
            regions: Regions { region },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<DescribeRegions, ApiError> {
        DescribeRegions::parse(&Params::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn accepted_values_and_defaults() {
        let cases: &[(&[(&str, &str)], Language)] = &[
            (&[], Language::ZhCn),
            (&[("AcceptLanguage", "")], Language::ZhCn),
            (&[("AcceptLanguage", "zh-CN")], Language::ZhCn),
            (&[("AcceptLanguage", "en-US")], Language::EnUs),
            (&[("AcceptLanguage", "ja")], Language::Ja),
            // §1.11: the current SDK models list these too (named in English here).
            (&[("AcceptLanguage", "zh-TW")], Language::Other),
            (&[("AcceptLanguage", "fr")], Language::Other),
            (&[("AcceptLanguage", "de")], Language::Other),
            (&[("AcceptLanguage", "ko")], Language::Other),
            (&[("RegionId", "mars-1")], Language::ZhCn),
            (
                &[
                    ("InstanceChargeType", "SpotAsPriceGo"),
                    ("ResourceType", "scu"),
                ],
                Language::ZhCn,
            ),
            (
                &[("InstanceChargeType", ""), ("ResourceType", "")],
                Language::ZhCn,
            ),
        ];
        for (pairs, lang) in cases {
            assert_eq!(parse(pairs).unwrap().language, *lang, "{pairs:?}");
        }
        for ct in CHARGE_TYPES {
            assert!(parse(&[("InstanceChargeType", ct)]).is_ok(), "{ct}");
        }
        for rt in RESOURCE_TYPES {
            assert!(parse(&[("ResourceType", rt)]).is_ok(), "{rt}");
        }
    }

    #[test]
    fn rejections_and_their_order() {
        let cases: &[(&[(&str, &str)], u16, &str)] = &[
            (
                &[("AcceptLanguage", "en-us")],
                404,
                "InvalidAcceptLanguage.NotFound",
            ),
            (
                &[("AcceptLanguage", "zh-tw")],
                404,
                "InvalidAcceptLanguage.NotFound",
            ),
            (
                &[("AcceptLanguage", "es")],
                404,
                "InvalidAcceptLanguage.NotFound",
            ),
            (
                &[("AcceptLanguage", "en")],
                404,
                "InvalidAcceptLanguage.NotFound",
            ),
            (
                &[("InstanceChargeType", "postpaid")],
                400,
                "InvalidParameter",
            ),
            (&[("InstanceChargeType", "Spot")], 400, "InvalidParameter"),
            (
                &[("ResourceType", "Instance")],
                404,
                "InvalidResourceType.NotFound",
            ),
            (
                &[("ResourceType", "keypair")],
                404,
                "InvalidResourceType.NotFound",
            ),
            (
                &[
                    ("ResourceType", "x"),
                    ("InstanceChargeType", "x"),
                    ("AcceptLanguage", "x"),
                ],
                404,
                "InvalidAcceptLanguage.NotFound",
            ),
            (
                &[("ResourceType", "x"), ("InstanceChargeType", "x")],
                400,
                "InvalidParameter",
            ),
        ];
        for (pairs, status, code) in cases {
            let e = parse(pairs).unwrap_err();
            assert_eq!((e.status(), e.code()), (*status, *code), "{pairs:?}");
        }
        assert_eq!(
            parse(&[("InstanceChargeType", "x")]).unwrap_err().message(),
            "The specified parameter \"InstanceChargeType\" is not valid."
        );
    }
}
