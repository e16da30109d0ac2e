//! The journal: every API request the mock answered (control API calls excluded), with the
//! scenario decision taken for it, in a bounded ring buffer (oldest entries drop first).
//!
//! Parameters are kept without `Signature` and `SecurityToken`; the V3 `Authorization`
//! header is never recorded. [`Journal::export`] turns the entries back into a scenario that
//! replays the same decisions (`GET /__mock/journal?format=scenario`).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::protocol::params::Params;
use crate::scenario::file::StepFile;

/// Entries kept when nothing else is configured.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Parameters never recorded.
const SECRET_PARAMS: &[&str] = &["Signature", "SecurityToken"];

/// The rule that fired for a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fired {
    pub scenario: String,
    /// Index of the rule in its scenario.
    pub rule: usize,
    /// The rule's call index for this tenant.
    pub call: u64,
    pub why: String,
}

/// One answered request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// 1, 2, … in answer order; not reused after a reset.
    pub seq: u64,
    /// Server clock, Unix seconds.
    pub time: u64,
    /// The claimed AccessKeyId ("" when none).
    pub tenant: String,
    /// The Action as sent ("" when none).
    pub action: String,
    /// The n-th request of this action by this tenant that the scenario engine saw (what a
    /// replay rule's `nth` counts); absent when the engine was not consulted (the request
    /// failed before, e.g. an unknown action).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_call: Option<u64>,
    pub request_id: String,
    pub params: Map<String, Value>,
    /// The rule that fired, if any.
    pub rule: Option<Fired>,
    /// The effect applied (sampled latency pinned as `fixed_ms`); `"pass"` when the rule
    /// let the request through, absent when no rule fired.
    pub effect: Option<StepFile>,
    /// The HTTP status sent; absent when the connection was dropped without a response.
    pub status: Option<u16>,
    /// The API error code of the body, if it carries one.
    pub code: Option<String>,
    pub latency_ms: u64,
}

/// What the service knows when it records an entry (the journal assigns `seq` and
/// `action_call`).
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub time: u64,
    pub tenant: &'a str,
    pub action: &'a str,
    /// Whether the scenario engine was consulted for this request.
    pub decided: bool,
    pub request_id: &'a str,
    pub params: &'a Params,
    pub rule: Option<Fired>,
    pub effect: Option<StepFile>,
    pub status: Option<u16>,
    pub code: Option<&'a str>,
    pub latency_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    next_seq: u64,
    /// (tenant, action) → requests seen by the engine.
    action_calls: HashMap<(String, String), u64>,
}

/// The bounded journal.
#[derive(Debug)]
pub struct Journal {
    capacity: usize,
    inner: Mutex<Inner>,
}

/// Which entries a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenant: Option<String>,
    pub action: Option<String>,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == e.tenant)
            && self.action.as_ref().is_none_or(|a| *a == e.action)
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Each section is a push or a retain: a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an entry, dropping the oldest beyond capacity.
    pub fn record(&self, r: Record<'_>) {
        let params: Map<String, Value> = r
            .params
            .pairs()
            .iter()
            .filter(|(k, _)| !SECRET_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        let action_call = r.decided.then(|| {
            let n = inner
                .action_calls
                .entry((r.tenant.to_string(), r.action.to_string()))
                .or_insert(0);
            *n += 1;
            *n
        });
        if inner.entries.len() == self.capacity {
            inner.entries.pop_front();
        }
        inner.entries.push_back(Entry {
            seq,
            time: r.time,
            tenant: r.tenant.to_string(),
            action: r.action.to_string(),
            action_call,
            request_id: r.request_id.to_string(),
            params,
            rule: r.rule,
            effect: r.effect,
            status: r.status,
            code: r.code.map(str::to_string),
            latency_ms: r.latency_ms,
        });
    }

    /// The entries `filter` keeps, oldest first.
    pub fn entries(&self, filter: &Filter) -> Vec<Entry> {
        self.lock()
            .entries
            .iter()
            .filter(|e| filter.keeps(e))
            .cloned()
            .collect()
    }

    /// Forgets one tenant's entries and call counts, or everything.
    pub fn reset(&self, tenant: Option<&str>) {
        let mut inner = self.lock();
        match tenant {
            Some(t) => {
                inner.entries.retain(|e| e.tenant != t);
                inner.action_calls.retain(|(tenant, _), _| tenant != t);
            }
            None => {
                inner.entries.clear();
                inner.action_calls.clear();
            }
        }
    }

    /// A scenario that replays the decisions of the kept entries: per (tenant, action), one
    /// rule whose sequence repeats, call by call, the effect each request got (`"pass"` where
    /// none applied). Replayed against a fresh or reset mock with the same per-tenant
    /// requests it produces the same errors, faults and (pinned) latencies, whatever the
    /// seed. Calls no longer in the ring buffer replay as `"pass"`.
    pub fn export(&self, filter: &Filter, name: &str) -> Value {
        let mut groups: Vec<((String, String), Vec<(u64, StepFile)>)> = Vec::new();
        for e in self.entries(filter) {
            let Some(n) = e.action_call else { continue };
            let key = (e.tenant.clone(), e.action.clone());
            let step = e.effect.clone().unwrap_or(StepFile::Pass);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, steps)) => steps.push((n, step)),
                None => groups.push((key, vec![(n, step)])),
            }
        }
        let rules: Vec<Value> = groups
            .into_iter()
            .filter(|(_, steps)| steps.iter().any(|(_, s)| *s != StepFile::Pass))
            .map(|((tenant, action), steps)| {
                let last = steps.last().map_or(0, |(n, _)| *n);
                let mut seq = vec![StepFile::Pass; last as usize];
                for (n, step) in steps {
                    seq[(n - 1) as usize] = step;
                }
                // Trailing passes change nothing: an exhausted sequence lets requests through.
                while seq.last() == Some(&StepFile::Pass) {
                    seq.pop();
                }
                json!({
                    "match": {"action": action, "access_key_id": tenant},
                    "effect": {"sequence": seq},
                    "comment": format!("calls 1..={last} of {action} by {tenant:?} as recorded"),
                })
            })
            .collect();
        json!({
            "name": name,
            "description": "Recorded by ecs-mock from its journal; replays the same decisions for the same per-tenant requests.",
            "rules": rules,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(tenant: &'a str, action: &'a str, params: &'a Params) -> Record<'a> {
        Record {
            time: 1,
            tenant,
            action,
            decided: true,
            request_id: "R",
            params,
            rule: None,
            effect: None,
            status: Some(200),
            code: None,
            latency_ms: 0,
        }
    }

    #[test]
    fn the_ring_buffer_keeps_the_newest_entries() {
        let j = Journal::new(3);
        let p = Params::from_pairs(vec![]);
        for _ in 0..5 {
            j.record(rec("t", "CreateKeyPair", &p));
        }
        let seqs: Vec<u64> = j
            .entries(&Filter::default())
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [3, 4, 5]);
    }

    #[test]
    fn secrets_are_not_recorded_and_filters_apply() {
        let j = Journal::new(10);
        let p = Params::from_pairs(vec![
            ("AccessKeyId".into(), "t".into()),
            ("Signature".into(), "s3cr3t".into()),
            ("SecurityToken".into(), "tok".into()),
            ("KeyPairName".into(), "k".into()),
        ]);
        j.record(rec("t", "CreateKeyPair", &p));
        j.record(rec("u", "CreateKeyPair", &p));
        j.record(rec("t", "DescribeKeyPairs", &p));
        let all = j.entries(&Filter::default());
        assert_eq!(
            all[0].params.keys().collect::<Vec<_>>(),
            ["AccessKeyId", "KeyPairName"]
        );
        let f = Filter {
            tenant: Some("t".into()),
            action: Some("CreateKeyPair".into()),
        };
        assert_eq!(j.entries(&f).len(), 1);
        j.reset(Some("t"));
        assert_eq!(j.entries(&Filter::default()).len(), 1);
    }

    #[test]
    fn action_calls_count_per_tenant_and_action() {
        let j = Journal::new(10);
        let p = Params::from_pairs(vec![]);
        j.record(rec("t", "A", &p));
        j.record(rec("u", "A", &p));
        j.record(rec("t", "A", &p));
        j.record(Record {
            decided: false,
            ..rec("t", "A", &p)
        });
        let calls: Vec<Option<u64>> = j
            .entries(&Filter::default())
            .iter()
            .map(|e| e.action_call)
            .collect();
        assert_eq!(calls, [Some(1), Some(1), Some(2), None]);
    }
}
