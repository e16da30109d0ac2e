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
            req.query(),
            req.headers.pairs(),
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

/// Remembers recently used signature nonces per tenant so a replayed request is refused with
/// `SignatureNonceUsed`.
///
/// Bounded twice: entries older than the request window are useless (such a request already
/// fails the timestamp check) and are dropped, and at most `capacity` entries are kept, oldest
/// evicted first, so a flood of unique nonces cannot grow memory without limit.
#[derive(Debug)]
pub struct NonceCache {
    inner: std::sync::Mutex<NonceInner>,
    capacity: usize,
    /// Keys the 64-bit digests (seeded per cache).
    digests: foldhash::quality::RandomState,
}

#[derive(Debug, Default)]
struct NonceInner {
    /// 64-bit keyed digests of (tenant, nonce): a fixed 8 bytes per entry instead of two
    /// strings, so the full cache stays small and a lookup touches few cache lines. A
    /// collision (about 1 in 10^14 per request with the cache full) could at worst refuse one
    /// request as a replay.
    seen: crate::store::HashSet<u64>,
    order: std::collections::VecDeque<(u64, u64)>,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // Sized once: growing a set of 100k+ entries rehashes them all under the lock, a
        // millisecond stall for every request in flight. Untouched pages cost no memory.
        Self {
            inner: std::sync::Mutex::new(NonceInner {
                seen: crate::store::HashSet::with_capacity_and_hasher(capacity, Default::default()),
                order: std::collections::VecDeque::with_capacity(capacity),
            }),
            capacity,
            digests: foldhash::quality::RandomState::default(),
        }
    }

    /// Records `nonce` for `tenant` at `now`; false if it was already used within `window`.
    pub fn check_and_insert(&self, tenant: &str, nonce: &str, now: u64, window: u64) -> bool {
        let key = std::hash::BuildHasher::hash_one(&self.digests, (tenant, nonce));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while let Some((at, _)) = inner.order.front() {
            if now.saturating_sub(*at) <= window && inner.order.len() < self.capacity {
                break;
            }
            let (_, key) = inner.order.pop_front().expect("front exists");
            inner.seen.remove(&key);
        }
        if !inner.seen.insert(key) {
            return false;
        }
        inner.order.push_back((now, key));
        true
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .order
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Checks the request's timestamp against the server clock and its nonce against `nonces`.
/// Runs only when `config.request_window` is set (replaying old captures needs it off).
///
/// # Errors
/// `MissingParameter` (Timestamp / SignatureNonce, or the V3 `x-acs-date` /
/// `x-acs-signature-nonce` headers), `InvalidTimeStamp.Format`, `InvalidTimeStamp.Expired`,
/// `SignatureNonceUsed`.
pub fn check_freshness(
    req: &ApiRequest,
    tenant: &str,
    config: &Config,
    nonces: &NonceCache,
) -> Result<(), ApiError> {
    let Some(window) = config.request_window else {
        return Ok(());
    };
    let (stamp, nonce) = if req.is_v3() {
        (
            req.header("x-acs-date")
                .ok_or_else(|| ApiError::missing("x-acs-date"))?,
            req.header("x-acs-signature-nonce")
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
    let now = config.clock.now_unix();
    let window = window.as_secs();
    if at.abs_diff(now) > window {
        return Err(ApiError::new(Kind::InvalidTimeStampExpired));
    }
    if !nonces.check_and_insert(tenant, nonce, now, window) {
        return Err(ApiError::new(Kind::SignatureNonceUsed));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_accepted_once_per_tenant_within_the_window() {
        let cache = NonceCache::new(100);
        assert!(cache.check_and_insert("t", "n1", 1000, 900));
        assert!(!cache.check_and_insert("t", "n1", 1001, 900));
        assert!(
            cache.check_and_insert("other", "n1", 1001, 900),
            "tenants are separate"
        );
        // Past the window the entry is forgotten (the timestamp check covers that case).
        assert!(cache.check_and_insert("t", "n1", 1000 + 901, 900));
    }

    #[test]
    fn the_cache_never_exceeds_its_capacity() {
        let cache = NonceCache::new(10);
        for i in 0..1000 {
            assert!(cache.check_and_insert("t", &format!("n{i}"), 5, 900));
        }
        assert!(cache.len() <= 10);
        assert!(!cache.check_and_insert("t", "n999", 5, 900));
    }
}
