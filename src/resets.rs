//! Resets remembered for requests in flight across them.
//!
//! A request notes how many resets there had been when it was counted; when it later writes
//! a journal entry or touches the store, [`ResetLog::since`] says whether a reset of its
//! tenant (or of everything) came in between, in which case the request belongs to what
//! that reset forgot.

use std::collections::VecDeque;
use std::hash::BuildHasher;

/// How many resets are remembered (16 bytes each); a request in flight across more than this
/// many counts as crossing one of its tenant's. Large, so that test suites resetting their
/// own tenants by the thousand never fail each other's slow requests.
pub const LOG_MAX: usize = 100_000;

#[derive(Debug, Default)]
pub struct ResetLog {
    /// Resets so far (the last one's number).
    count: u64,
    /// The latest resets: number, and a digest of the tenant ([`digest`]) or `None` for all.
    log: VecDeque<(u64, Option<u64>)>,
}

/// A tenant as the log keeps it: 64 bits rather than the AccessKeyId, so that the log's size
/// does not depend on theirs. Two tenants that collide (one chance in 2^64 a pair) would only
/// take each other's resets for their own.
fn digest(tenant: &str) -> u64 {
    foldhash::fast::FixedState::default().hash_one(tenant)
}

impl ResetLog {
    /// Notes a reset of `tenant` (`None`: of everything); returns its number, which the
    /// owner publishes for requests to note when they are counted.
    pub fn record(&mut self, tenant: Option<&str>) -> u64 {
        self.count += 1;
        self.log.push_back((self.count, tenant.map(digest)));
        if self.log.len() > LOG_MAX {
            self.log.pop_front();
        }
        self.count
    }

    /// Whether a reset of `tenant` (or of all) came after reset number `epoch`. Resets no
    /// longer logged count as such: a request in flight across very many resets is dropped
    /// rather than let into what they forgot.
    pub fn since(&self, epoch: u64, tenant: &str) -> bool {
        if epoch == self.count {
            return false;
        }
        let oldest_logged = self.log.front().map_or(self.count + 1, |(n, _)| *n);
        if epoch + 1 < oldest_logged {
            return true;
        }
        let tenant = digest(tenant);
        self.log
            .iter()
            .rev()
            .take_while(|(n, _)| *n > epoch)
            .any(|(_, t)| t.is_none_or(|t| t == tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_crosses_resets_of_its_tenant_or_of_all_only() {
        let mut log = ResetLog::default();
        let before = 0;
        assert!(!log.since(before, "a"), "no reset yet");
        let after_b = log.record(Some("b"));
        assert!(!log.since(before, "a"), "another tenant's reset");
        assert!(log.since(before, "b"));
        let after_all = log.record(None);
        assert!(log.since(after_b, "a"), "a reset of all");
        assert!(!log.since(after_all, "a"), "counted after the last reset");
    }

    #[test]
    fn thousands_of_other_tenants_resets_leave_a_request_alone() {
        // Regression (findings-conc #2): past 1,024 resets of anyone, a request in flight
        // was answered 503 as if its own tenant had been reset.
        let mut log = ResetLog::default();
        for i in 0..5_000 {
            log.record(Some(&format!("other-{i}")));
        }
        assert!(!log.since(0, "a"));
        assert!(log.since(0, "other-4999"));
    }

    #[test]
    fn a_request_older_than_the_log_counts_as_crossing_a_reset() {
        let mut log = ResetLog::default();
        for _ in 0..=LOG_MAX {
            log.record(Some("other"));
        }
        assert!(log.since(0, "a"), "reset 1 is forgotten: assume the worst");
        assert!(
            !log.since(1, "a"),
            "every reset after 1 is logged, none of a"
        );
    }
}
