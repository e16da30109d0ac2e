//! Resets remembered for requests in flight across them.
//!
//! A request notes how many resets there had been when it was counted; when it later writes
//! a journal entry or touches the store, [`ResetLog::since`] says whether a reset of its
//! tenant (or of everything) came in between, in which case the request belongs to what
//! that reset forgot.

use std::collections::VecDeque;

/// How many resets are remembered; a request in flight across more than this many counts
/// as crossing one of its tenant's.
pub const LOG_MAX: usize = 1_024;

#[derive(Debug, Default)]
pub struct ResetLog {
    /// Resets so far (the last one's number).
    count: u64,
    /// The latest resets: number, and tenant or `None` for all.
    log: VecDeque<(u64, Option<String>)>,
}

impl ResetLog {
    /// Resets so far: what a request notes when it is counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Notes a reset of `tenant` (`None`: of everything); returns its number.
    pub fn record(&mut self, tenant: Option<String>) -> u64 {
        self.count += 1;
        self.log.push_back((self.count, tenant));
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
        self.log
            .iter()
            .filter(|(n, _)| *n > epoch)
            .any(|(_, t)| t.as_deref().is_none_or(|t| t == tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_crosses_resets_of_its_tenant_or_of_all_only() {
        let mut log = ResetLog::default();
        let before = log.count();
        assert!(!log.since(before, "a"), "no reset yet");
        log.record(Some("b".into()));
        assert!(!log.since(before, "a"), "another tenant's reset");
        assert!(log.since(before, "b"));
        let after_b = log.count();
        log.record(None);
        assert!(log.since(after_b, "a"), "a reset of all");
        assert!(!log.since(log.count(), "a"), "counted after the last reset");
    }

    #[test]
    fn a_request_older_than_the_log_counts_as_crossing_a_reset() {
        let mut log = ResetLog::default();
        for _ in 0..=LOG_MAX {
            log.record(Some("other".into()));
        }
        assert!(log.since(0, "a"), "reset 1 is forgotten: assume the worst");
        assert!(
            !log.since(1, "a"),
            "every reset after 1 is logged, none of a"
        );
    }
}
