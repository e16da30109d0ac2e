//! CreateKeyPair: generates an RSA-2048 key pair, stores its public half and returns the
//! private key once. API reference §1.1.
//!
//! ```text
//! RegionId          String  required  a region of regions::REGIONS
//! KeyPairName       String  required  2-128 chars, letter first, letters/digits/:_.-
//! ResourceGroupId   String  optional  a resource group of the account (default group if absent)
//! Tag.N.Key/Value   String  optional  N = 1..20
//! ```
//! Response: `RequestId, KeyPairId, KeyPairName, KeyPairFingerPrint, PrivateKeyBody`.

use std::sync::Arc;

use crate::protocol::response::Rendered;
use serde::Serialize;

use super::{Action, Ctx};
use crate::error::{ApiError, Kind};
use crate::keygen;
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::store::{NewKeyPair, Origin};
use crate::validate::{self, Invalid, Tag};

/// A validated CreateKeyPair request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyPair {
    pub region: &'static Region,
    pub name: String,
    pub resource_group_id: Option<String>,
    pub tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    key_pair_id: &'a str,
    key_pair_name: &'a str,
    key_pair_finger_print: &'a str,
    private_key_body: &'a str,
}

/// Maps a tag violation to CreateKeyPair's documented codes (more than 20 tags is the 403
/// `QuotaExceed.Tags` here; TagResources says `NumberExceed.Tags` instead).
pub fn tag_error(e: Invalid) -> ApiError {
    match e {
        // Worded so that it is also true of one tag numbered outside 1..20 (`Tag.0`,
        // `Tag.21`), which is refused the same way.
        Invalid::TooManyTags => ApiError::with(
            Kind::QuotaExceedTags,
            format!(
                "A request carries at most {0} tags, numbered Tag.1 to Tag.{0}.",
                validate::MAX_TAGS
            ),
        ),
        Invalid::DuplicateTagKey => ApiError::new(Kind::DuplicateTagKey),
        Invalid::TagValue => ApiError::new(Kind::InvalidTagValueMalformed),
        _ => ApiError::new(Kind::InvalidTagKeyMalformed),
    }
}

impl CreateKeyPair {
    /// Validates the parameters in the order the service reports problems: region, name, tags.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidKeyPairName.Malformed`,
    /// `QuotaExceed.Tags`, `InvalidTagKey.Malformed`, `InvalidTagValue.Malformed`, `Duplicate.TagKey`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        let region = super::region(params, Action::CreateKeyPair.unknown_region())?;
        let name = params
            .non_empty("KeyPairName")
            .ok_or_else(|| ApiError::missing("KeyPairName"))?;
        validate::key_pair_name(name)
            .map_err(|_| ApiError::new(Kind::InvalidKeyPairNameMalformed))?;
        let tags = validate::tags(params).map_err(tag_error)?;
        Ok(Self {
            region,
            name: name.to_string(),
            resource_group_id: params.non_empty("ResourceGroupId").map(str::to_string),
            tags,
        })
    }

    /// Claims the name, generates the key off the runtime, stores the key pair.
    ///
    /// # Errors
    /// `InvalidResourceGroup.NotFound`, `KeyPair.AlreadyExist`, `QuotaExceed.KeyPair`;
    /// `Throttling.User` when the key pool's backlog is full (see
    /// [`crate::keypool::ABANDONED_BACKLOG`]).
    pub async fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let reservation = ctx.store.reserve(
            ctx.who(),
            self.region.id,
            &self.name,
            self.resource_group_id.as_deref(),
        )?;
        // A task of its own, which finishes the create even if this request is dropped: a
        // client whose read timeout is shorter than the key's generation does not cancel the
        // create, as it would not cancel the real service's, so its retry finds the key pair
        // it is refused for (`KeyPair.AlreadyExist`) really there.
        let keys = Arc::clone(ctx.keys);
        let (seed, tenant) = (ctx.store.seed(), ctx.tenant.to_string());
        let (clock, fixed_time) = (ctx.config.clock, ctx.config.creation_time);
        let Self {
            region, name, tags, ..
        } = self;
        let running = ctx.keys.create_started();
        let created = tokio::spawn(async move {
            let _running = running;
            let generation = reservation.generation();
            let resource_group_id = reservation.resource_group_id().to_string();
            // Refused with the reservation dropped, which frees the name and the quota slot.
            let key = keys
                .generate(
                    seed,
                    &tenant,
                    region.id,
                    &name,
                    generation,
                    reservation.claim(),
                )
                .await
                .map_err(|crate::keypool::Backlogged| ApiError::new(Kind::ThrottlingUser))?;
            let kp = reservation.commit(NewKeyPair {
                fingerprint: key.fingerprint.clone(),
                public_key: key.public_key_openssh.clone(),
                resource_group_id,
                tags,
                creation_time: fixed_time.unwrap_or_else(|| clock.now_unix()),
                origin: Origin::Created,
            });
            Ok((key, kp))
        });
        let (key, kp) = created
            .await
            .map_err(|_| ApiError::new(Kind::InternalError))??;
        Ok(ctx.reply(&Response {
            request_id: ctx.request_id,
            key_pair_id: &kp.id,
            key_pair_name: &kp.name,
            key_pair_finger_print: &kp.fingerprint,
            private_key_body: &keygen::private_key_in(
                &key.private_key_pem,
                ctx.config.private_key_format,
            ),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::decode;

    fn parse(q: &str) -> Result<CreateKeyPair, ApiError> {
        CreateKeyPair::parse(&decode(q.as_bytes(), 1000).unwrap())
    }

    #[test]
    fn validation_order_and_codes() {
        let cases = [
            ("KeyPairName=ok", "MissingParameter"),
            ("RegionId=mars-1&KeyPairName=ok", "InvalidRegionId.NotFound"),
            ("RegionId=cn-hangzhou", "MissingParameter"),
            (
                "RegionId=cn-hangzhou&KeyPairName=1bad",
                "InvalidKeyPairName.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&Tag.1.Key=acs:x",
                "InvalidTagKey.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&Tag.1.Key=k&Tag.1.Value=acs:x",
                "InvalidTagValue.Malformed",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&Tag.1.Key=k&Tag.2.Key=k",
                "Duplicate.TagKey",
            ),
            (
                "RegionId=cn-hangzhou&KeyPairName=ok&Tag.21.Key=k",
                "QuotaExceed.Tags",
            ),
        ];
        for (q, code) in cases {
            assert_eq!(parse(q).unwrap_err().code(), code, "{q}");
        }
        let ok = parse("RegionId=cn-hangzhou&KeyPairName=ok&ResourceGroupId=&Tag.1.Key=k").unwrap();
        assert_eq!(
            ok.resource_group_id, None,
            "an empty ResourceGroupId means the default group"
        );
        assert_eq!(ok.tags.len(), 1);
    }
}
