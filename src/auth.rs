//! Authentication: decides which tenant a request belongs to and, unless checking is off,
//! proves it with the V1 or V3 signature (primitives in [`crate::signature`]).

use crate::config::{Config, Credentials};
use crate::error::{ApiError, Kind};
use crate::protocol::request::ApiRequest;
use crate::signature::{self, Verdict};

/// The tenant of requests that name no AccessKeyId while signature checking is off.
pub const ANONYMOUS: &str = "anonymous";

/// Returns the tenant (AccessKeyId) of `req`.
///
/// # Errors
/// With checking on: `IncompleteSignature` for a malformed `Authorization` header,
/// `MissingParameter` for a V1 request without `AccessKeyId` or `Signature`,
/// `InvalidAccessKeyId.NotFound` for an id outside `--credential`, and
/// `SignatureDoesNotMatch` (message ending with the server's string to sign) for a wrong secret.
pub fn authenticate(req: &ApiRequest, config: &Config) -> Result<String, ApiError> {
    if !config.verify_signatures {
        return Ok(req.claimed_access_key_id().unwrap_or(ANONYMOUS).to_string());
    }
    if let Some(header) = req.header("authorization") {
        let auth = signature::parse_v3_authorization(header)
            .map_err(|_| ApiError::new(Kind::IncompleteSignature))?;
        let secret = secret(&config.credentials, &auth.access_key_id)?;
        let verdict = signature::verify_v3(
            &req.method,
            &req.path,
            req.query.pairs(),
            &req.headers,
            &req.body,
            &auth,
            secret,
        );
        return match verdict {
            Verdict::Ok => Ok(auth.access_key_id),
            Verdict::Mismatch { string_to_sign } => {
                Err(ApiError::with(Kind::SignatureDoesNotMatch, string_to_sign))
            }
        };
    }
    let access_key_id = req
        .params
        .non_empty("AccessKeyId")
        .ok_or_else(|| ApiError::missing("AccessKeyId"))?;
    if req.params.non_empty("Signature").is_none() {
        return Err(ApiError::missing("Signature"));
    }
    let secret = secret(&config.credentials, access_key_id)?;
    match signature::verify_v1(&req.method, req.params.pairs(), secret) {
        Verdict::Ok => Ok(access_key_id.to_string()),
        Verdict::Mismatch { string_to_sign } => {
            Err(ApiError::with(Kind::SignatureDoesNotMatch, string_to_sign))
        }
    }
}

fn secret<'c>(credentials: &'c Credentials, access_key_id: &str) -> Result<&'c str, ApiError> {
    credentials
        .secret_for(access_key_id)
        .ok_or_else(|| ApiError::new(Kind::InvalidAccessKeyIdNotFound))
}
