//! Authentication: decides which tenant a request belongs to and, unless checking is off,
//! proves it with the V1 or V3 signature (primitives in [`crate::signature`]).

use crate::config::{Config, Credentials};
use crate::error::{ApiError, Kind};
use crate::protocol::request::ApiRequest;
use crate::signature::{self, Verdict};

/// The tenant of requests that name no AccessKeyId: their account while signature checking
/// is off, and where the scenario engine, journal and counters file them either way.
pub const ANONYMOUS: &str = "anonymous";

/// Returns the tenant (AccessKeyId) of `req`.
///
/// # Errors
/// With checking on: `IncompleteSignature` for a malformed `Authorization` header,
/// `MissingParameter` for a V1 request without `AccessKeyId`, `Signature`, `SignatureMethod`
/// or `SignatureVersion`, `InvalidParameter` for a method other than `HMAC-SHA1` or a version
/// other than `1.0`,
/// `InvalidAccessKeyId.NotFound` for an id outside `--credential`, and
/// `SignatureDoesNotMatch` (message ending with the server's string to sign) for a wrong secret.
pub fn authenticate(req: &ApiRequest, config: &Config) -> Result<String, ApiError> {
    if !config.verify_signatures {
        return Ok(req.claimed_access_key_id().unwrap_or(ANONYMOUS).to_string());
    }
    // An `Authorization` of another scheme beside a V1 signature is not the gateway's (a
    // proxy's, say); without one it is a malformed V3 signature.
    if let Some(header) = req.header("authorization").filter(|_| !req.is_v1()) {
        let auth = signature::parse_v3_authorization(header)
            .map_err(|_| ApiError::new(Kind::IncompleteSignature))?;
        if let Some(unsigned) = unsigned_required_header(req, &auth.signed_headers) {
            tracing::debug!(
                header = unsigned,
                "V3 request leaves a required header unsigned"
            );
            return Err(ApiError::new(Kind::IncompleteSignature));
        }
        let secret = secret(&config.credentials, auth.access_key_id)?;
        let verdict = signature::verify_v3(
            &req.method,
            &req.path,
            req.query(),
            req.headers.pairs(),
            &req.body,
            &auth,
            secret,
        );
        return match verdict {
            Verdict::Ok => Ok(auth.access_key_id.to_string()),
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
    // Both are required V1 parameters with one valid value each; every SDK sends them. The
    // answer to another value is not documented: InvalidParameter naming it (inferred).
    for (name, only) in [
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
    ] {
        match req.params.non_empty(name) {
            None => return Err(ApiError::missing(name)),
            Some(v) if v != only => return Err(ApiError::invalid(name)),
            Some(_) => {}
        }
    }
    let secret = secret(&config.credentials, access_key_id)?;
    match signature::verify_v1(&req.method, req.params.pairs(), secret) {
        Verdict::Ok => Ok(access_key_id.to_string()),
        Verdict::Mismatch { string_to_sign } => {
            Err(ApiError::with(Kind::SignatureDoesNotMatch, string_to_sign))
        }
    }
}

/// The first header that V3 requires to be signed but `signed` leaves out: `host` (present
/// or not), every `x-acs-*` header present, and `content-type` when there is a body. Otherwise a
/// signature over `host` alone would let anyone change the action, date or nonce of a captured
/// request and replay it, or turn a form body's parameters into an opaque body. The SDKs sign
/// at least these (the captures in `tests/fixtures/sdk-captures`), but the Python SDK's async
/// calls go through aiohttp, which adds `Content-Type: application/octet-stream` to their
/// empty bodies after signing: with no body, the type changes nothing and is not required.
fn unsigned_required_header<'r>(
    req: &'r ApiRequest,
    signed: &[impl AsRef<str>],
) -> Option<&'r str> {
    let is_signed = |name: &str| signed.iter().any(|s| s.as_ref().eq_ignore_ascii_case(name));
    // `host` whether or not the request carries it (README, API reference §3.4): a request
    // without a Host header signing nothing about where it was sent was accepted.
    if !is_signed("host") {
        return Some("host");
    }
    req.headers.pairs().map(|(name, _)| name).find(|name| {
        let required = (name.eq_ignore_ascii_case("content-type") && !req.body.is_empty())
            || name
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case("x-acs-"));
        required && !is_signed(name)
    })
}

fn secret<'c>(credentials: &'c Credentials, access_key_id: &str) -> Result<&'c str, ApiError> {
    credentials
        .secret_for(access_key_id)
        .ok_or_else(|| ApiError::new(Kind::InvalidAccessKeyIdNotFound))
}

/// Checks the request's timestamp against `now` (the server clock when the request arrived,
/// Unix seconds) and its nonce against `nonces`. Runs only when `config.request_window` is
/// set (replaying old captures needs it off).
///
/// # Errors
/// `MissingParameter` (Timestamp / SignatureNonce, or the V3 `x-acs-date` /
/// `x-acs-signature-nonce` headers), `InvalidTimeStamp.Format`, `InvalidTimeStamp.Expired`,
/// `SignatureNonceUsed`.
pub fn check_freshness(
    req: &ApiRequest,
    tenant: &str,
    config: &Config,
    nonces: &crate::nonce::NonceCache,
    now: u64,
) -> Result<(), ApiError> {
    let Some(window) = config.request_window else {
        return Ok(());
    };
    let (stamp, nonce) = if req.is_v3() {
        // Empty counts as absent, as for V1's parameters: an empty nonce would otherwise be
        // one nonce that every such client shares.
        let header = |name| req.header(name).filter(|v| !v.trim().is_empty());
        (
            header("x-acs-date").ok_or_else(|| ApiError::missing("x-acs-date"))?,
            header("x-acs-signature-nonce")
                .ok_or_else(|| ApiError::missing("x-acs-signature-nonce"))?,
        )
    } else {
        (
            req.params
                .non_empty("Timestamp")
                .ok_or_else(|| ApiError::missing("Timestamp"))?,
            req.params
                .non_empty("SignatureNonce")
                .ok_or_else(|| ApiError::missing("SignatureNonce"))?,
        )
    };
    let at = crate::clock::parse_timestamp(stamp)
        .ok_or_else(|| ApiError::new(Kind::InvalidTimeStampFormat))?;
    let window = window.as_secs();
    if at.abs_diff(i64::try_from(now).unwrap_or(i64::MAX)) > window {
        return Err(ApiError::new(Kind::InvalidTimeStampExpired));
    }
    let dated = u64::try_from(at).unwrap_or(0);
    if !nonces.check_and_insert(tenant, nonce, now, dated, window) {
        return Err(ApiError::new(Kind::SignatureNonceUsed));
    }
    Ok(())
}
