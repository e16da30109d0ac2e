//! AttachKeyPair: binds a key pair to Linux instances of the account, replacing whatever key
//! pair each instance held. API reference §1.5, §7.3, §7.4. DetachKeyPair shares the request
//! parsing and the response shape defined here.
//!
//! ```text
//! RegionId      String  required  a region of regions::REGIONS
//! KeyPairName   String  required  an existing key pair of that region (no format check: a
//!                                 malformed name simply does not exist)
//! InstanceIds   String  required  JSON array of 1..=50 non-empty strings, e.g. ["i-a","i-b"]
//! ```
//! Response: `RequestId, KeyPairName, TotalCount, FailCount, Results.Result[]` with each
//! result `InstanceId, Success, Code, Message`.
//!
//! Instances exist only through fixtures (`crate::fixtures`). Decisions on what the reference
//! leaves open, each pinned by an integration test of the same spirit:
//! - §7.3: `TotalCount`, `FailCount` and `Success` are JSON strings (`"2"`, `"0"`, `"true"`),
//!   as the SDK models type them. py-v2 keeps JSON types, so a string is what its typed model
//!   expects; Node coerces either way; a strictly typed client (Go `*string`) would reject a
//!   number. XML has no difference.
//! - §7.4: an unknown key pair is `400 InvalidKeyPairName.NotFound`.
//! - A Windows instance among the ids fails the whole request with `403
//!   DependencyViolation.WindowsInstance` before anything changes.
//! - An id that is no instance of the account in that region (other tenants' and other
//!   regions' instances included) is a per-instance failure: `Success "false"`, Code
//!   [`INSTANCE_NOT_FOUND_CODE`], Message [`INSTANCE_NOT_FOUND_MESSAGE`], counted in FailCount.
//! - The same id given twice is processed and reported once (TotalCount counts distinct ids).
//! - Attaching the key pair an instance already holds succeeds again; the instance's status
//!   (Running, Stopped, …) does not matter (the real service applies the key on next start).
//! - `DependencyViolation.IoOptimize` needs non-I/O-optimised instances, which the mock does
//!   not model; only a scenario can produce it.

use crate::protocol::response::Rendered;
use serde::Serialize;

use super::{Action, Ctx};
use crate::error::{ApiError, Kind};
use crate::protocol::params::Params;
use crate::regions::Region;
use crate::store::{Account, OsType};
use crate::validate;

/// Most ids one `InstanceIds` array may carry.
pub const MAX_INSTANCE_IDS: usize = 50;

/// Per-instance failure code for an id the account does not have in the region.
pub const INSTANCE_NOT_FOUND_CODE: &str = "InvalidInstanceId.NotFound";
/// Per-instance failure message that goes with [`INSTANCE_NOT_FOUND_CODE`].
pub const INSTANCE_NOT_FOUND_MESSAGE: &str = "The specified InstanceId does not exist.";

/// A validated AttachKeyPair (or DetachKeyPair) request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachKeyPair {
    pub region: &'static Region,
    pub name: String,
    /// Distinct ids in request order.
    pub instance_ids: Vec<String>,
}

/// What happened to one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Done,
    Failed {
        code: &'static str,
        message: &'static str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Response<'a> {
    request_id: &'a str,
    key_pair_name: &'a str,
    total_count: String,
    fail_count: String,
    results: Results,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Results {
    result: Vec<InstanceResult>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceResult {
    instance_id: String,
    success: &'static str,
    code: &'static str,
    message: &'static str,
}

/// Parses the parameters Attach and Detach share, in the order the service reports problems:
/// region, key pair name, instance ids.
///
/// # Errors
/// `MissingParameter`, `InvalidRegionId.NotFound` (`region_not_found` wording),
/// `InvalidInstanceIds.ValueNotSupported` (not a JSON array of non-empty strings, empty, or
/// more than [`MAX_INSTANCE_IDS`]).
pub(crate) fn parse_request(
    params: &Params,
    region_not_found: Kind,
) -> Result<AttachKeyPair, ApiError> {
    let region = super::region(params, region_not_found)?;
    let name = params
        .non_empty("KeyPairName")
        .ok_or_else(|| ApiError::missing("KeyPairName"))?;
    let raw = params
        .non_empty("InstanceIds")
        .ok_or_else(|| ApiError::missing("InstanceIds"))?;
    // Malformed JSON and too many ids share the one documented code.
    let ids = validate::json_string_array(raw, MAX_INSTANCE_IDS)
        .map_err(|_| ApiError::new(Kind::InvalidInstanceIdsValueNotSupported))?;
    let mut instance_ids: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        if !instance_ids.contains(&id) {
            instance_ids.push(id);
        }
    }
    Ok(AttachKeyPair {
        region,
        name: name.to_string(),
        instance_ids,
    })
}

/// The checks that fail the whole request: the key pair exists, no named instance runs Windows.
///
/// # Errors
/// `InvalidKeyPairName.NotFound`, `DependencyViolation.WindowsInstance`.
pub(crate) fn check_request(acc: &Account, req: &AttachKeyPair) -> Result<(), ApiError> {
    let exists = acc
        .region_ref(req.region.id)
        .is_some_and(|r| r.key_pairs().contains_key(&req.name));
    if !exists {
        return Err(ApiError::new(Kind::InvalidKeyPairNameNotFound));
    }
    let windows = req.instance_ids.iter().any(|id| {
        acc.instances
            .get(id)
            .is_some_and(|i| i.region_id == req.region.id && i.os_type == OsType::Windows)
    });
    if windows {
        return Err(ApiError::new(Kind::DependencyViolationWindowsInstance));
    }
    Ok(())
}

/// Builds the Attach/Detach response body from per-instance outcomes (in request order).
pub(crate) fn response(ctx: &Ctx<'_>, name: &str, outcomes: Vec<(String, Outcome)>) -> Rendered {
    let total = outcomes.len();
    let failed = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed { .. }))
        .count();
    let result = outcomes
        .into_iter()
        .map(|(instance_id, outcome)| match outcome {
            Outcome::Done => InstanceResult {
                instance_id,
                success: "true",
                code: "200",
                message: "successful",
            },
            Outcome::Failed { code, message } => InstanceResult {
                instance_id,
                success: "false",
                code,
                message,
            },
        })
        .collect();
    ctx.reply(&Response {
        request_id: ctx.request_id,
        key_pair_name: name,
        total_count: total.to_string(),
        fail_count: failed.to_string(),
        results: Results { result },
    })
}

impl AttachKeyPair {
    /// Validates the parameters: region, key pair name, instance ids.
    ///
    /// # Errors
    /// `MissingParameter`, `InvalidRegionId.NotFound`, `InvalidInstanceIds.ValueNotSupported`.
    pub fn parse(params: &Params) -> Result<Self, ApiError> {
        parse_request(params, Action::AttachKeyPair.unknown_region())
    }

    /// Binds the key pair to every listed Linux instance of the region.
    ///
    /// # Errors
    /// `InvalidKeyPairName.NotFound`, `DependencyViolation.WindowsInstance`; both leave every
    /// instance unchanged.
    pub fn execute(self, ctx: &Ctx<'_>) -> Result<Rendered, ApiError> {
        let outcomes = ctx.store.with_account(ctx.who(), |acc| {
            check_request(acc, &self)?;
            let region = self.region.id;
            Ok::<_, ApiError>(
                self.instance_ids
                    .iter()
                    .map(|id| {
                        let instance = acc.instances.get_mut(id).filter(|i| i.region_id == region);
                        let outcome = match instance {
                            Some(inst) => {
                                inst.key_pair_name = Some(self.name.clone());
                                Outcome::Done
                            }
                            None => Outcome::Failed {
                                code: INSTANCE_NOT_FOUND_CODE,
                                message: INSTANCE_NOT_FOUND_MESSAGE,
                            },
                        };
                        (id.clone(), outcome)
                    })
                    .collect::<Vec<_>>(),
            )
        })??;
        Ok(response(ctx, &self.name, outcomes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::params::Params;

    fn parse(pairs: &[(&str, &str)]) -> Result<AttachKeyPair, ApiError> {
        AttachKeyPair::parse(&Params::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn validation_order_and_codes() {
        let fifty_one = format!(
            "[{}]",
            (0..51)
                .map(|i| format!("\"i-{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let r = ("RegionId", "cn-hangzhou");
        let k = ("KeyPairName", "k1");
        let cases: Vec<(Vec<(&str, &str)>, &str, &str)> = vec![
            (
                vec![k, ("InstanceIds", "[\"i-1\"]")],
                "MissingParameter",
                "RegionId",
            ),
            (
                vec![("RegionId", "mars-1"), k, ("InstanceIds", "[\"i-1\"]")],
                "InvalidRegionId.NotFound",
                "The RegionId provided does not exist in our records.",
            ),
            (
                vec![r, ("InstanceIds", "[\"i-1\"]")],
                "MissingParameter",
                "KeyPairName",
            ),
            (vec![r, k], "MissingParameter", "InstanceIds"),
            (
                vec![r, k, ("InstanceIds", "")],
                "MissingParameter",
                "InstanceIds",
            ),
        ];
        for (pairs, code, msg) in cases {
            let e = parse(&pairs).unwrap_err();
            assert_eq!(e.code(), code, "{pairs:?}");
            assert!(e.message().contains(msg), "{pairs:?}: {}", e.message());
        }
        for bad in [
            "i-1",
            "\"i-1\"",
            "[]",
            "[\"\"]",
            "[1]",
            "[\"i-1\",null]",
            "{\"a\":1}",
            "[\"i-1\"",
            fifty_one.as_str(),
        ] {
            let e = parse(&[r, k, ("InstanceIds", bad)]).unwrap_err();
            assert_eq!(
                (e.status(), e.code()),
                (400, "InvalidInstanceIds.ValueNotSupported"),
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_are_deduplicated_in_request_order_and_fifty_are_allowed() {
        let ok = parse(&[
            ("RegionId", "cn-hangzhou"),
            ("KeyPairName", "not even a valid name"),
            ("InstanceIds", "[\"i-2\", \"i-1\", \"i-2\"]"),
        ])
        .unwrap();
        assert_eq!(ok.instance_ids, ["i-2", "i-1"]);
        assert_eq!(ok.name, "not even a valid name", "no format check in parse");
        let fifty = format!(
            "[{}]",
            (0..50)
                .map(|i| format!("\"i-{i}\""))
                .collect::<Vec<_>>()
                .join(",")
        );
        let ok = parse(&[
            ("RegionId", "cn-hangzhou"),
            ("KeyPairName", "k"),
            ("InstanceIds", &fifty),
        ])
        .unwrap();
        assert_eq!(ok.instance_ids.len(), 50);
    }
}
