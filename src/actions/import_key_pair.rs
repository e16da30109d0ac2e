//! ImportKeyPair: registers a caller-supplied OpenSSH public key under a new key pair name.
//! API reference §1.2 (key formats §2, fingerprints §5.1).
//!
//! ```text
//! RegionId          String  required  a region of regions::REGIONS
//! KeyPairName       String  required  2-128 chars, letter first, letters/digits/:_.-
//! PublicKeyBody     String  required  one OpenSSH public key line `<type> <base64> [comment]`
//!                                     (types of sshkey.rs; ssh-ed25519 only with --allow-ed25519)
//! ResourceGroupId   String  optional  a resource group of the account (default group if absent)
//! Tag.N.Key/Value   String  optional  N = 1..20
//! ```
//! Response: `RequestId, KeyPairName, KeyPairFingerPrint` (no KeyPairId, unlike CreateKeyPair,
//! although the stored key pair gets one the same way).
//!
//! Error order: `RegionId` (missing, unknown), `KeyPairName` (missing, malformed),
//! `PublicKeyBody` missing, tags, then in `execute` the key's format, the resource group, and
//! last the name claim (`KeyPair.AlreadyExist`, `QuotaExceed.KeyPair`). The key's format is a
//! pure check like the others, and so comes before every state-dependent one; it only runs in
//! `execute` because whether ed25519 is accepted is server configuration, which `parse` does
//! not see.

use crate::protocol::response::{self, Format, Rendered};
use serde::Serialize;

use super::create_key_pair::tag_error;
use super::{Action, Ctx};
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::sshkey::{self, ParseOptions};
use crate::store::{NewKeyPair, Origin};
use crate::validate::{self, Tag};

/// A validated ImportKeyPair request, borrowing the request's parameters (the key text is
/// ~400 bytes, stored once, by the store); the key text is checked in
/// [`ImportKeyPair::execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKeyPair<'a> {
    pub region: &'static Region,
    pub name: &'a str,
    /// `PublicKeyBody` as received (non-empty).
    pub public_key_body: &'a str,
    pub resource_group_id: Option<&'a str>,
    pub tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    key_pair_name: &'a str,
    key_pair_finger_print: &'a str,
}

impl<'a> ImportKeyPair<'a> {
    /// Validates everything that needs neither state nor configuration.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidKeyPairName.Malformed`,
    /// `QuotaExceed.Tags`, `InvalidTagKey.Malformed`, `InvalidTagValue.Malformed`, `Duplicate.TagKey`.
    pub fn parse(params: &'a Params) -> Result<Self, ApiError> {
        let region = super::region(params, Action::ImportKeyPair.unknown_region())?;
        let name = params
            .non_empty("KeyPairName")
            .ok_or_else(|| ApiError::missing("KeyPairName"))?;
        validate::key_pair_name(name)
            .map_err(|_| ApiError::new(Kind::InvalidKeyPairNameMalformed))?;
        // An empty value is how SDKs send an unset field, so it counts as missing; a body of
        // only whitespace is present but malformed.
        let public_key_body = params
            .non_empty("PublicKeyBody")
            .ok_or_else(|| ApiError::missing("PublicKeyBody"))?;
        let tags = validate::tags(params).map_err(tag_error)?;
        Ok(Self {
            region,
            name,
            public_key_body,
            resource_group_id: params.non_empty("ResourceGroupId"),
            tags,
        })
    }

    /// Parses the key, claims the name and stores the key pair.
    ///
    /// # Errors
    /// `InvalidPublicKeyBody.Malformed`, `InvalidResourceGroup.NotFound`,
    /// `KeyPair.AlreadyExist`, `QuotaExceed.KeyPair`.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let opts = ParseOptions {
            allow_ed25519: ctx.config.allow_ed25519,
            fingerprint: ctx.store.fingerprint(),
        };
        let key = sshkey::parse_openssh_public_key(self.public_key_body, opts).map_err(|e| {
            tracing::debug!(error = %e, "ImportKeyPair: PublicKeyBody rejected");
            ApiError::new(Kind::InvalidPublicKeyBodyMalformed)
        })?;
        let creation_time = ctx.config.creation_time.unwrap_or(ctx.now_unix);
        let kp = ctx.store.insert(
            ctx.who(),
            self.region.id,
            self.name,
            self.resource_group_id,
            NewKeyPair {
                fingerprint: key.fingerprint,
                // Normalised `type base64`: the comment is dropped, as DescribeKeyPairs shows it.
                public_key: key.openssh,
                // Resolved by the store.
                resource_group_id: String::new(),
                tags: self.tags,
                creation_time,
                origin: Origin::Imported,
            },
        )?;
        let answer = Response {
            request_id: ctx.request_id,
            key_pair_name: &kp.name,
            key_pair_finger_print: &kp.fingerprint,
        };
        Ok(match ctx.format {
            Format::Json => response::json(answer.to_json()),
            Format::Xml => ctx.reply(&answer),
        })
    }
}

impl Response<'_> {
    /// What serde_json writes for this (tested), in one allocation of the right size: every
    /// import answers, and serde's buffer was allocated large and then copied into a smaller one.
    fn to_json(&self) -> Vec<u8> {
        const FIELDS: [&str; 3] = [
            "{\"RequestId\":",
            ",\"KeyPairName\":",
            ",\"KeyPairFingerPrint\":",
        ];
        let values = [
            self.request_id,
            self.key_pair_name,
            self.key_pair_finger_print,
        ];
        let len: usize = FIELDS.iter().map(|f| f.len()).sum::<usize>()
            + values.iter().map(|v| v.len() + 2).sum::<usize>()
            + 1;
        let mut out = Vec::with_capacity(len);
        for (field, value) in FIELDS.iter().zip(values) {
            out.extend_from_slice(field.as_bytes());
            response::json_str(&mut out, value);
        }
        out.push(b'}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn params(q: &str) -> Params {
        decode(q.as_bytes(), 1000).unwrap()
    }

    fn parse(q: &str) -> Result<(), ApiError> {
        ImportKeyPair::parse(&params(q)).map(drop)
    }

    #[test]
    fn validation_order_and_codes() {
        let cases = [
            ("KeyPairName=ok&PublicKeyBody=x", "MissingParameter"),
            (
                "RegionId=mars-1&KeyPairName=ok&PublicKeyBody=x",
                "InvalidRegionId.NotFound",
            ),
            ("RegionId=cn-hangzhou&PublicKeyBody=x", "MissingParameter"),
            (
                "RegionId=cn-hangzhou&KeyPairName=1bad",
                "InvalidKeyPairName.Malformed",
            ),
            ("RegionId=cn-hangzhou&KeyPairName=ok", "MissingParameter"),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=",
                "MissingParameter",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&Tag.1.Key=acs:x",
                "MissingParameter",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=x&Tag.1.Key=acs:x",
                "InvalidTagKey.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=x&Tag.1.Key=k&Tag.1.Value=acs:x",
                "InvalidTagValue.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=x&Tag.1.Key=k&Tag.2.Key=k",
                "Duplicate.TagKey",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=x&Tag.21.Key=k",
                "QuotaExceed.Tags",
            ),
        ];
        for (q, code) in cases {
            assert_eq!(parse(q).unwrap_err().code(), code, "{q}");
        }
        let missing = parse("RegionId=cn-hangzhou&KeyPairName=ok").unwrap_err();
        assert_eq!(
            missing.message(),
            "The input parameter \"PublicKeyBody\" that is mandatory for processing this request is not supplied."
        );
    }

    #[test]
    fn the_json_answer_is_what_serde_json_writes() {
        for (name, fingerprint, escaped) in [
            ("k1", "ab:cd", false),
            ("a-b_c.d:e", "", false),
            ("中文", "é", false),
            ("quote\"back\\slash", "tab\tnew\nline\u{1}", true),
        ] {
            let answer = Response {
                request_id: "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E",
                key_pair_name: name,
                key_pair_finger_print: fingerprint,
            };
            let json = answer.to_json();
            assert_eq!(json, serde_json::to_vec(&answer).unwrap(), "{name:?}");
            if !escaped {
                assert_eq!(json.len(), json.capacity(), "{name:?}: sized exactly");
            }
        }
    }

    #[test]
    fn the_key_text_is_kept_verbatim_for_execute() {
        let params = params(
            "RegionId=cn-hangzhou&KeyPairName=ok&PublicKeyBody=ABC1234567+&ResourceGroupId=",
        );
        let ok = ImportKeyPair::parse(&params).unwrap();
        assert_eq!(ok.public_key_body, "ABC1234567 ");
        assert_eq!(ok.resource_group_id, None);
        assert!(ok.tags.is_empty());
    }
}
