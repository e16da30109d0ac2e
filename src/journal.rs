//! The journal: every API request the mock answered (control API calls excluded), with the
//! scenario decision taken for it, in a bounded ring buffer (oldest entries drop first).
//!
//! Parameters are kept without `Signature` and `SecurityToken`; the V3 `Authorization`
//! header is never recorded. [`Journal::export`] turns the entries back into a scenario that
//! replays the same decisions (`GET /__mock/journal?format=scenario`), and
//! [`Journal::retries`] groups them into logical operations, one per call a client made
//! however many times it retried it (`GET /__mock/journal/retries`).
//!
//! ```text
//! attempts of one operation   same tenant, same action, same business parameters (all
//!                             parameters but NON_BUSINESS_PARAMS), each arriving at most
//!                             `window_ms` (default 30 000) after the previous attempt, and
//!                             each previous attempt a failure: a clean success (2xx, no
//!                             error code, no scenario effect but "pass") ends the operation,
//!                             so an identical call made after it starts a new one; a
//!                             request refused before its parameters were read (UNREAD
//!                             codes) is an operation of its own
//! gaps_ms                     between the arrivals of consecutive attempts (received_ms,
//!                             monotonic, taken before any scenario latency)
//! retryable failure           code Throttling*, ServiceUnavailable, InternalError or
//!                             UnknownError, or HTTP 5xx; a failure with any other error code
//!                             followed by another attempt sets non_retryable_retried
//! ```

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::time::Instant;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::protocol::params::Params;
use crate::resets::ResetLog;
use crate::scenario::file::StepFile;

/// Entries kept when nothing else is configured.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Parameters never recorded.
const SECRET_PARAMS: &[&str] = &["Signature", "SecurityToken"];

/// Parameters that frame or sign a call rather than say what it does: a client's retry
/// changes the nonce and timestamp (and so the signature), and V1 and V3 clients place the
/// rest differently, so two requests that differ only in these are attempts of one operation.
pub const NON_BUSINESS_PARAMS: &[&str] = &[
    "Signature",
    "SignatureNonce",
    "Timestamp",
    "AccessKeyId",
    "Format",
    "Version",
    "Action",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureType",
    "SecurityToken",
];

/// Longest pause between two attempts of one operation when a query names none: well above
/// any SDK's default backoff (py-legacy's longest is 20 s) and read timeout (12 s).
pub const DEFAULT_RETRY_WINDOW_MS: u64 = 30_000;

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
    /// When the request arrived (before any scenario latency): milliseconds since the server
    /// started, on a monotonic clock. Gaps between attempts are measured with it.
    pub received_ms: u64,
    /// The claimed AccessKeyId (`anonymous` when none).
    pub tenant: String,
    /// The Action as sent ("" when none).
    pub action: String,
    /// The n-th request of this action by this tenant that the scenario engine saw (what a
    /// replay rule's `nth` counts); null when the engine was not consulted (the request
    /// failed before, e.g. an unknown action) or did not number it (see README, Limits).
    pub action_call: Option<u64>,
    pub request_id: String,
    pub params: RecordedParams,
    /// The rule that fired, if any.
    pub rule: Option<Fired>,
    /// The effect applied (sampled latency pinned as `fixed_ms`); `"pass"` when the rule
    /// let the request through, absent when no rule fired.
    #[serde(serialize_with = "shown_effect")]
    pub effect: Option<StepFile>,
    /// The HTTP status sent; absent when no response was sent: a `reset` or `hang` fault, or
    /// a client that disconnected before the answer (e.g. during a scenario latency).
    pub status: Option<u16>,
    /// The API error code of the body, if it carries one.
    pub code: Option<String>,
    pub latency_ms: u64,
}

/// An effect as the journal's listings show it: a scripted body longer than
/// [`crate::scenario::file::MAX_TEXT`] is cut there (`…`), with its whole length as
/// `respond.body_bytes`, so that a listing stays bounded by the entry count like the rest of
/// an entry (ten thousand entries of a 1 MiB body were 10 GB of JSON). The replay export
/// keeps whole bodies.
fn shown_effect<S: serde::Serializer>(effect: &Option<StepFile>, s: S) -> Result<S::Ok, S::Error> {
    use crate::scenario::file::MAX_TEXT;
    let Some(StepFile::Effect(e)) = effect else {
        return effect.serialize(s);
    };
    let Some(r) = e.respond.as_ref().filter(|r| r.body.len() > MAX_TEXT) else {
        return effect.serialize(s);
    };
    let mut shown = e.clone();
    // Cut before a character the limit would split, rather than show half of it as U+FFFD.
    let cut = match std::str::from_utf8(&r.body[..MAX_TEXT]) {
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        _ => MAX_TEXT,
    };
    let mut text = String::from_utf8_lossy(&r.body[..cut]).into_owned();
    text.push('…');
    if let Some(respond) = shown.respond.as_mut() {
        respond.body = bytes::Bytes::new();
    }
    let mut v = serde_json::to_value(&shown).map_err(serde::ser::Error::custom)?;
    v["respond"]["body"] = Value::String(text);
    v["respond"]["body_bytes"] = json!(r.body.len());
    v.serialize(s)
}

/// A journaled request's parameters, the secrets already left out.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedParams(Params);

impl RecordedParams {
    /// The parameters; a repeated name shows its first value, the one the actions and the
    /// scenario matcher use (`Params::get`), so the journal and the retry report show what
    /// the request did. All pairs are kept (recording stays a plain copy); the choice is made
    /// here, when the journal is read.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        for (k, v) in self.0.pairs() {
            if !map.contains_key(k) {
                map.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
        map
    }
}

impl Serialize for RecordedParams {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

/// What the service knows when it records an entry (the journal assigns `seq`).
#[derive(Debug, Clone)]
pub struct Record<'a> {
    pub time: u64,
    /// From [`Journal::now_ms`] when the request arrived.
    pub received_ms: u64,
    pub tenant: &'a str,
    pub action: &'a str,
    /// The n-th call of this action by this tenant, numbered by the scenario engine as it
    /// decides on the request (see [`crate::store::Store::count_request`]); `None` when the
    /// engine was not consulted.
    pub action_call: Option<u64>,
    /// [`Journal::epoch`] when the request arrived.
    pub epoch: u64,
    pub request_id: &'a str,
    pub params: &'a Params,
    pub rule: Option<Fired>,
    pub effect: Option<StepFile>,
    pub status: Option<u16>,
    pub code: Option<Code>,
    pub latency_ms: u64,
}

/// An answer's error code: one of the catalogue's, or the one a scripted body carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Catalogue(&'static str),
    Scripted(std::sync::Arc<str>),
}

impl Code {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Catalogue(code) => code,
            Self::Scripted(code) => code,
        }
    }
}

/// An entry as kept. The strings and parameters are copied into one buffer (`text`), which
/// is recycled from the entry it evicts, rather than kept as the request's own allocations:
/// the request's buffers are then freed while still hot, and a full journal does not hand
/// the allocator ten thousand requests' worth of scattered cold blocks to recycle (and,
/// half the time, to free across threads).
#[derive(Debug, Clone)]
struct Slot {
    seq: u64,
    time: u64,
    received_ms: u64,
    action_call: Option<u64>,
    /// Tenant, action, RequestId, then each parameter's name and value but the secrets;
    /// each string preceded by its length (u32, little endian).
    text: Vec<u8>,
    rule: Option<Fired>,
    effect: Option<StepFile>,
    status: Option<u16>,
    code: Option<Code>,
    latency_ms: u64,
}

impl Slot {
    fn strings(&self) -> impl Iterator<Item = &str> {
        let mut rest = &self.text[..];
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_first_chunk::<4>()?;
            let (s, tail) = tail.split_at(u32::from_le_bytes(*len) as usize);
            rest = tail;
            Some(std::str::from_utf8(s).expect("the journal writes only strings"))
        })
    }

    fn tenant(&self) -> &str {
        self.strings().next().unwrap_or_default()
    }

    fn action(&self) -> &str {
        self.strings().nth(1).unwrap_or_default()
    }

    fn request_id(&self) -> &str {
        self.strings().nth(2).unwrap_or_default()
    }

    fn entry(&self) -> Entry {
        let mut strings = self.strings();
        let mut next = || strings.next().unwrap_or_default().to_string();
        let (tenant, action, request_id) = (next(), next(), next());
        let pairs = std::iter::from_fn(|| Some((strings.next()?, strings.next()?)));
        Entry {
            seq: self.seq,
            time: self.time,
            received_ms: self.received_ms,
            tenant,
            action,
            action_call: self.action_call,
            request_id,
            params: RecordedParams(Params::from_pairs(pairs)),
            rule: self.rule.clone(),
            effect: self.effect.clone(),
            status: self.status,
            code: self.code.as_ref().map(|c| c.as_str().to_string()),
            latency_ms: self.latency_ms,
        }
    }
}

/// The most bytes of parameter text (names and values) one entry keeps: the journal is
/// bounded by its entry count, and without this by the count times `--max-body-bytes`, about
/// 10 GB for a client (a fuzzer, say) sending 1 MB requests. Every request an SDK sends fits
/// with room to spare.
pub const PARAMS_TEXT_MAX: usize = 8 * 1024;

/// The most bytes kept of the tenant and of the action name (both come from the request).
const HEAD_MAX: usize = 256;

/// Ends a string cut to fit.
pub const CUT_MARK: &str = "…";

/// Writes `r`'s strings into `text` (emptied first) in [`Slot::text`]'s layout: tenant,
/// action, RequestId, then parameter names and values in pairs. A parameter string that would
/// pass [`PARAMS_TEXT_MAX`] is cut (at a character boundary, ending in [`CUT_MARK`]) and the
/// parameters after it are left out, but for one last pair saying how many.
fn pack(text: &mut Vec<u8>, r: &Record<'_>) {
    let kept = || r.params.pairs().filter(|(k, _)| !SECRET_PARAMS.contains(k));
    // Only ImportKeyPair takes a key: the other known actions' values are copied unlooked
    // at. A request for no known action (a misspelt one, say) may carry anything.
    let import = crate::actions::Action::from_name(r.action)
        .is_none_or(|a| a == crate::actions::Action::ImportKeyPair);
    let params = || {
        kept().flat_map(move |(k, v)| {
            let private = import && private_key(k.as_bytes(), v.as_bytes());
            [k, if private { PRIVATE_KEY_NOT_KEPT } else { v }]
        })
    };
    text.clear();
    let head = [
        shortened(r.tenant, HEAD_MAX),
        shortened(r.action, HEAD_MAX),
        std::borrow::Cow::Borrowed(r.request_id),
    ];
    // Every request's parameters fit, secrets and all, unless it is unusually large: then the
    // decoded text's sizes bound the copy, without counting the kept ones first.
    let (strings, params_len) = if r.params.text_len() <= PARAMS_TEXT_MAX {
        (2 * r.params.len(), r.params.text_len())
    } else {
        params().fold((0, 0), |(n, len), s| (n + 1, len + s.len()))
    };
    text.reserve(
        head.iter().map(|s| 4 + s.len()).sum::<usize>()
            + 4 * strings
            + params_len.min(PARAMS_TEXT_MAX + 64),
    );
    for s in &head {
        push(text, s);
    }
    if params_len <= PARAMS_TEXT_MAX {
        // As bytes: a copy needs no `str` slicing, whose boundary checks were a tenth of
        // the record.
        let secret = |k: &[u8]| SECRET_PARAMS.iter().any(|s| s.as_bytes() == k);
        for (k, v) in r.params.byte_pairs().filter(|(k, _)| !secret(k)) {
            push_bytes(text, k);
            let private = import && private_key(k, v);
            push_bytes(
                text,
                if private {
                    PRIVATE_KEY_NOT_KEPT.as_bytes()
                } else {
                    v
                },
            );
        }
    } else {
        let mut room = PARAMS_TEXT_MAX;
        let mut written = 0;
        for s in params() {
            written += 1;
            if s.len() <= room {
                push(text, s);
                room -= s.len();
            } else {
                push(text, &shortened(s, room));
                break;
            }
        }
        // Whole pairs only: a cut name gets an empty value.
        if written % 2 == 1 {
            push(text, "");
            written += 1;
        }
        let left = (strings - written) / 2;
        if left > 0 {
            push(text, CUT_MARK);
            push(text, &format!("{left} more parameters not kept"));
        }
    }
}

/// What the journal keeps of a `PublicKeyBody` that holds a private key (a client that
/// pasted the wrong half of its key pair): private keys are never recorded.
pub const PRIVATE_KEY_NOT_KEPT: &str = "(a private key: not kept)";

/// Whether parameter `k` is a `PublicKeyBody` holding a PEM private key (its first line
/// `-----BEGIN … PRIVATE KEY-----`), which the journal keeps as [`PRIVATE_KEY_NOT_KEPT`].
/// Public keys start otherwise (`ssh-rsa`, or RFC 4716's four dashes), so an import pays
/// one comparison.
fn private_key(k: &[u8], v: &[u8]) -> bool {
    k == b"PublicKeyBody" && {
        let v = v.trim_ascii_start();
        v.starts_with(b"-----BEGIN ") && {
            let first_line = &v[..memchr::memchr(b'\n', v).unwrap_or(v.len())];
            memchr::memmem::find(first_line, b"PRIVATE KEY").is_some()
        }
    }
}

/// The most a kept entry's `rule.why` holds.
pub const WHY_MAX: usize = 1024;

/// `s` if it has at most `max` bytes, else its longest prefix that, with [`CUT_MARK`]
/// appended, has at most `max` (cut at a character boundary).
fn shortened(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let kept = crate::prefix_within(s, max.saturating_sub(CUT_MARK.len()));
    std::borrow::Cow::Owned(format!("{kept}{CUT_MARK}"))
}

/// Appends one length-prefixed string.
fn push(text: &mut Vec<u8>, s: &str) {
    push_bytes(text, s.as_bytes());
}

/// [`push`] for a string's bytes.
fn push_bytes(text: &mut Vec<u8>, s: &[u8]) {
    // Every string is bounded by the request's size, far below 4 GiB.
    text.extend_from_slice(&(s.len() as u32).to_le_bytes());
    text.extend_from_slice(s);
}

/// Reads one byte of each cache line of `buf`. The next entry recorded on this thread is
/// written into this buffer, last touched `capacity` requests ago and long out of the caches;
/// loaded now, its lines arrive while the rest of this request is answered, instead of
/// stalling the next record on a store per line.
fn warm(buf: &[u8]) {
    let mut x = 0u8;
    for b in buf.iter().step_by(64) {
        x ^= *b;
    }
    std::hint::black_box(x);
}

thread_local! {
    /// The buffer of the last entry this thread evicted, reused for its next entry.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// The shard this thread records into: its own while there are no more recording
    /// threads than shards (the server's request threads, one per core).
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// Shards of the ring. Every request records, and with one ring the request threads took
/// turns at one lock and one queue: a cache line passed between the cores on every request,
/// and a thread found the lock held often enough to sleep on it. A shard per thread keeps
/// that to one shared counter (`seq`).
const SHARDS: usize = 8;

/// Entries a read copies per hold of a shard's lock.
const READ_CHUNK: usize = 256;

/// How often (in records) a thread also trims the other shards: a shard whose thread has gone
/// quiet still holds the entries it recorded, which reads skip once they are out of the ring
/// but which stay in memory until trimmed.
const TRIM_EVERY: u64 = 1_024;

/// A value on cache lines of its own (two, for the adjacent-line prefetcher), so that a
/// write to one shard or counter does not take the line from under another's reader.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

#[derive(Debug, Default)]
struct Shard {
    /// In `seq` order: `seq` is taken under the shard's lock.
    entries: VecDeque<Slot>,
}

impl Shard {
    /// Drops the entries out of the ring once `last` has been recorded (a shard trimmed by
    /// another thread may hold newer ones); returns the newest one dropped.
    fn trim(&mut self, last: u64, capacity: u64) -> Option<Slot> {
        let mut evicted = None;
        while self
            .entries
            .front()
            .is_some_and(|e| last.saturating_sub(e.seq) >= capacity)
        {
            evicted = self.entries.pop_front();
        }
        evicted
    }
}

/// The bounded journal: the last `capacity` requests recorded (`seq` above the newest less
/// `capacity`), less those a reset forgot.
#[derive(Debug)]
pub struct Journal {
    capacity: u64,
    /// The origin of `received_ms`.
    started: Instant,
    /// The last `seq` given out.
    seq: Padded<AtomicU64>,
    /// `ResetLog::count`, readable without a lock: a request notes it on arrival.
    epoch: Padded<AtomicU64>,
    shards: [Padded<Mutex<Shard>>; SHARDS],
    /// Taken after a shard's lock; a reset holds every shard's while it changes this, so a
    /// record, under its shard's lock, sees a reset either whole or not at all.
    resets: Mutex<ResetLog>,
}

/// Which entries a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub tenant: Option<String>,
    pub action: Option<String>,
    /// The RequestId an answer carried (what an SDK's exception shows), in any case.
    pub request_id: Option<String>,
}

impl Filter {
    fn keeps(&self, e: &Slot) -> bool {
        // Compared as recorded: a tenant or action over HEAD_MAX bytes is kept shortened.
        self.tenant
            .as_ref()
            .is_none_or(|t| shortened(t, HEAD_MAX) == e.tenant())
            && self
                .action
                .as_ref()
                .is_none_or(|a| shortened(a, HEAD_MAX) == e.action())
            && self
                .request_id
                .as_ref()
                .is_none_or(|r| r.eq_ignore_ascii_case(e.request_id()))
    }
}

/// Every shard locked, in index order (as every taker of more than one does), for a count
/// or a reset.
struct AllShards<'a> {
    guards: Vec<MutexGuard<'a, Shard>>,
    /// The last `seq` given out: stable while the guards are held.
    last: u64,
    capacity: u64,
}

impl AllShards<'_> {
    /// The kept entries, in no particular order: those a shard holds that are still in the
    /// ring (a quiet thread's shard may hold older ones until trimmed).
    fn kept(&self) -> impl Iterator<Item = &Slot> {
        self.guards
            .iter()
            .flat_map(|g| g.entries.iter())
            .filter(|e| self.last.saturating_sub(e.seq) < self.capacity)
    }
}

impl Journal {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1) as u64,
            started: Instant::now(),
            seq: Padded::default(),
            epoch: Padded::default(),
            shards: Default::default(),
            resets: Mutex::default(),
        }
    }

    /// Resets so far: what [`Record::epoch`] notes when a request arrives.
    pub fn epoch(&self) -> u64 {
        self.epoch.0.load(Ordering::Acquire)
    }

    /// Milliseconds since the journal was created, on the monotonic (tokio) clock: the
    /// `received_ms` to record for a request arriving now.
    pub fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn shard(&self, i: usize) -> MutexGuard<'_, Shard> {
        // Each section is a push, a pop or a retain: a poisoned lock is still consistent.
        self.shards[i].0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resets(&self) -> MutexGuard<'_, ResetLog> {
        self.resets.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn all(&self) -> AllShards<'_> {
        let guards: Vec<_> = (0..SHARDS).map(|i| self.shard(i)).collect();
        AllShards {
            guards,
            last: self.seq.0.load(Ordering::Relaxed),
            capacity: self.capacity,
        }
    }

    /// Whether a reset since reset number `epoch` forgot `tenant`: only for a request that
    /// crossed a reset of some tenant, hence cold.
    #[cold]
    fn forgot(&self, epoch: u64, tenant: &str) -> bool {
        self.resets().since(epoch, &shortened(tenant, HEAD_MAX))
    }

    /// Appends an entry; entries recorded `capacity` or more records before the newest drop.
    pub fn record(&self, r: Record<'_>) {
        // Built and dropped outside the lock.
        let mut text = SPARE.take();
        pack(&mut text, &r);
        let mut slot = Slot {
            seq: 0,
            time: r.time,
            received_ms: r.received_ms,
            action_call: r.action_call,
            text,
            // Scenario files cap each text at 4 KiB, but `why` joins a rule's criteria, up
            // to a thousand patterns of them.
            rule: r.rule.map(|mut f| {
                if f.why.len() > WHY_MAX {
                    f.why = shortened(&f.why, WHY_MAX).into_owned();
                }
                f
            }),
            effect: r.effect,
            status: r.status,
            code: r.code,
            latency_ms: r.latency_ms,
        };
        let mine = SHARD.with(|s| *s);
        let mut shard = self.shard(mine);
        // A request that arrived before a reset of its tenant (or of all) belongs to what
        // the reset forgot, however late it is answered.
        if r.epoch != self.epoch() && self.forgot(r.epoch, r.tenant) {
            drop(shard);
            SPARE.set(slot.text);
            return;
        }
        let seq = self.seq.0.fetch_add(1, Ordering::Relaxed) + 1;
        slot.seq = seq;
        let evicted = shard.trim(seq, self.capacity);
        shard.entries.push_back(slot);
        drop(shard);
        if seq.is_multiple_of(TRIM_EVERY) {
            for i in (0..SHARDS).filter(|&i| i != mine) {
                self.shard(i).trim(seq, self.capacity);
            }
        }
        if let Some(old) = evicted {
            warm(&old.text);
            SPARE.set(old.text);
        }
    }

    /// The entries `filter` keeps, oldest first: the journal as it was when the call began
    /// (entries recorded since are left out), less what was trimmed meanwhile.
    ///
    /// Copied a few hundred entries of one shard at a time and built outside the locks: a
    /// request recording meanwhile waits at most for one such copy. Built under every
    /// shard's lock, a full journal of large entries held every request for ~100 ms per read.
    pub fn entries(&self, filter: &Filter) -> Vec<Entry> {
        // Read before any shard is locked: an entry numbered up to `last` was pushed under
        // its shard's lock before that lock was let go, so the copy below finds it.
        let last = self.seq.0.load(Ordering::Acquire);
        let mut copies: Vec<Slot> = Vec::new();
        for i in 0..SHARDS {
            // A few hundred entries per hold of the lock: a shard of large entries is tens of
            // megabytes, whose copy in one hold still kept its thread's requests ~50 ms.
            let mut after = 0;
            loop {
                let shard = self.shard(i);
                let start = shard.entries.partition_point(|e| e.seq <= after);
                let mut examined = 0;
                for e in shard.entries.range(start..).take_while(|e| e.seq <= last) {
                    if examined == READ_CHUNK {
                        break;
                    }
                    examined += 1;
                    after = e.seq;
                    if last - e.seq < self.capacity && filter.keeps(e) {
                        copies.push(e.clone());
                    }
                }
                if examined < READ_CHUNK {
                    break;
                }
            }
        }
        copies.sort_unstable_by_key(|e| e.seq);
        copies.iter().map(Slot::entry).collect()
    }

    /// How many entries are kept: what `GET /__mock/health` reports. Counting through
    /// [`Journal::entries`] built every entry under the locks that each request's record
    /// waits for, so a harness polling health during a load test stalled the requests.
    pub fn len(&self) -> usize {
        self.all().kept().count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets one tenant's entries and call counts, or everything.
    pub fn reset(&self, tenant: Option<&str>) {
        let mut all = self.all();
        let tenant = tenant.map(|t| shortened(t, HEAD_MAX).into_owned());
        for shard in &mut all.guards {
            match &tenant {
                Some(t) => shard.entries.retain(|e| e.tenant() != t),
                None => shard.entries.clear(),
            }
        }
        let n = self.resets().record(tenant.as_deref());
        self.epoch.0.store(n, Ordering::Release);
    }

    /// A scenario that replays the decisions of the kept entries: per (tenant, action), one
    /// rule whose sequence repeats, call by call from the first with an effect (`from`), the
    /// effect each request got (`"pass"` where none applied). Replayed against a fresh or reset mock with the same per-tenant
    /// requests it produces the same errors, faults and (pinned) latencies, whatever the
    /// seed. Calls no longer in the ring buffer replay as `"pass"`, and so do the kept calls
    /// before a hole: the sequence covers only calls that are all kept.
    ///
    /// With `replay_as`, each rule matches that AccessKeyId pattern instead of the tenant it
    /// was recorded under (a CI run that takes a fresh AccessKeyId each time, or `*` for
    /// every tenant, each counting its own calls).
    ///
    /// # Errors
    /// The scripted response bodies (`respond`) to write come to more than `max_body_bytes`:
    /// more than the control API takes back, and each step is a copy.
    pub fn export(
        &self,
        filter: &Filter,
        name: &str,
        replay_as: Option<&str>,
        max_body_bytes: usize,
    ) -> Result<Value, String> {
        let mut groups: Vec<((String, String), Vec<(u64, StepFile)>)> = Vec::new();
        let mut scripted = 0usize;
        for e in self.entries(filter) {
            let Some(n) = e.action_call else { continue };
            let key = (e.tenant.clone(), e.action.clone());
            let step = e.effect.clone().unwrap_or(StepFile::Pass);
            if let StepFile::Effect(effect) = &step {
                scripted += effect.respond.as_ref().map_or(0, |r| r.body.len());
                if scripted > max_body_bytes {
                    return Err(format!(
                        "the export would hold more than {max_body_bytes} bytes of scripted response bodies, more than the control API takes back"
                    ));
                }
            }
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, steps)) => steps.push((n, step)),
                None => groups.push((key, vec![(n, step)])),
            }
        }
        let rules: Vec<Value> = groups
            .into_iter()
            .filter_map(|((tenant, action), mut steps)| {
                // Entries are in answer order; calls are numbered in arrival order. The
                // sequence runs from the first call with an effect (earlier calls pass, by
                // `from`) to the last: a long-lived tenant's kept calls have high numbers,
                // and a sequence from call 1 grew with every call it had ever made.
                let last = steps
                    .iter()
                    .filter(|(_, s)| *s != StepFile::Pass)
                    .map(|(n, _)| *n)
                    .max()?;
                // Only calls all still kept: a call answered late outlives the eviction of
                // calls after it, and a hole filled with "pass" would replay calls that got
                // an effect as if none had applied. The sequence starts after the last hole.
                let kept: std::collections::HashSet<u64> =
                    steps.iter().map(|(n, _)| *n).collect();
                let mut start = last;
                while start > 1 && kept.contains(&(start - 1)) {
                    start -= 1;
                }
                let before = steps.len();
                steps.retain(|(n, s)| *n >= start || *s == StepFile::Pass);
                let cut = (steps.len() < before).then_some(start);
                let first = steps
                    .iter()
                    .filter(|(n, s)| *n >= start && *s != StepFile::Pass)
                    .map(|(n, _)| *n)
                    .min()?;
                let mut seq = vec![StepFile::Pass; (last + 1 - first) as usize];
                for (n, step) in steps {
                    if (first..=last).contains(&n) {
                        seq[(n - first) as usize] = step;
                    }
                }
                // `access_key_id` is a glob: a tenant named `t*` written there would catch
                // every tenant starting with t on replay.
                let (tenant_field, pattern) = match replay_as {
                    Some(pattern) => ("access_key_id", pattern),
                    None if tenant.contains(['*', '?']) => ("access_key_id_exact", &*tenant),
                    None => ("access_key_id", &*tenant),
                };
                let mut matcher = json!({"action": action, tenant_field: pattern});
                if first > 1 {
                    matcher["from"] = json!(first);
                }
                let replayed = match replay_as {
                    Some(pattern) => format!(", replayed for {pattern:?}"),
                    None => String::new(),
                };
                let cut = match cut {
                    Some(start) => format!(
                        "; earlier calls are not all in the journal any more (evicted, or answered after later ones), so those before call {start} replay as pass"
                    ),
                    None => String::new(),
                };
                Some(json!({
                    "match": matcher,
                    "effect": {"sequence": seq},
                    "comment": format!("calls {first}..={last} of {action} by {tenant:?} as recorded{replayed}{cut}"),
                }))
            })
            .collect();
        Ok(json!({
            "name": name,
            "description": "Recorded by ecs-mock from its journal; replays the same decisions for the same per-tenant requests.",
            "rules": rules,
        }))
    }
}

/// One attempt of an [`Operation`]: the journal entry, abridged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub seq: u64,
    pub request_id: String,
    pub received_ms: u64,
    /// Absent when no response was sent (`reset`, `hang`).
    pub status: Option<u16>,
    pub code: Option<String>,
    /// The scenario effect applied, as in the journal entry.
    #[serde(serialize_with = "shown_effect")]
    pub effect: Option<StepFile>,
}

/// What the last attempt of an operation got.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub status: Option<u16>,
    pub code: Option<String>,
}

/// One logical operation: a call and the client's retries of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Operation {
    pub tenant: String,
    pub action: String,
    /// The business parameters shared by every attempt (all but [`NON_BUSINESS_PARAMS`]).
    pub params: Map<String, Value>,
    pub attempts: usize,
    /// Between the arrivals of consecutive attempts; `attempts - 1` values.
    pub gaps_ms: Vec<u64>,
    pub outcome: Outcome,
    /// Whether an attempt followed a failure whose code no client should retry.
    pub non_retryable_retried: bool,
    pub requests: Vec<Attempt>,
}

/// Whether a failure is one clients are expected to retry: throttling, a temporary or
/// unknown server failure, or any 5xx (a gateway page has no code at all).
pub fn is_retryable(status: Option<u16>, code: Option<&str>) -> bool {
    status.is_some_and(|s| s >= 500)
        || code.is_some_and(|c| {
            c.starts_with("Throttling")
                || matches!(c, "ServiceUnavailable" | "InternalError" | "UnknownError")
        })
}

/// A failure with an error code that retrying cannot fix (a bad name, a missing resource).
fn failed_for_good(a: &Attempt) -> bool {
    a.code.is_some() && !is_retryable(a.status, a.code.as_deref())
}

/// A plain success: the client got the real answer, so an identical request after it is a
/// new call, not a retry. A scenario effect (latency, a fault) may have made the client give
/// up even on a 2xx, so such an attempt keeps the operation open.
fn clean_success(e: &Entry) -> bool {
    e.status.is_some_and(|s| (200..300).contains(&s))
        && e.code.is_none()
        && matches!(e.effect, None | Some(StepFile::Pass))
}

/// The codes of requests refused before their parameters were read whole (a bad encoding,
/// too many parameters, a body over the limit): their entries hold no parameters, or only
/// the query's.
const UNREAD: [&str; 3] = [
    "InvalidParameter.Encoding",
    "InvalidParameter.TooMany",
    "Request.TooLarge",
];

/// Whether `e` is a request the mock could not read: two of them cannot be told apart as
/// attempts of one call or as two calls. A scenario may force those codes on a request it
/// did read, and that one has its effect recorded.
fn unread(e: &Entry) -> bool {
    e.effect.is_none() && e.code.as_deref().is_some_and(|c| UNREAD.contains(&c))
}

fn business_params(params: &Map<String, Value>) -> Map<String, Value> {
    params
        .iter()
        .filter(|(k, _)| !NON_BUSINESS_PARAMS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

impl Journal {
    /// The kept entries grouped into logical operations (see the module doc), ordered by the
    /// arrival of their first attempt. `window_ms` is the longest gap between two attempts of
    /// one operation.
    pub fn retries(&self, filter: &Filter, window_ms: u64) -> Vec<Operation> {
        let mut entries = self.entries(filter);
        // Entries are recorded when answered; a delayed answer lands after later arrivals.
        entries.sort_by_key(|e| (e.received_ms, e.seq));
        let mut ops: Vec<Operation> = Vec::new();
        // (tenant, action, sorted business params) → index of the operation still open.
        let mut open: HashMap<(String, String, Vec<(String, String)>), usize> = HashMap::new();
        for e in entries {
            let params = business_params(&e.params.to_map());
            let mut sorted: Vec<(String, String)> = params
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            sorted.sort();
            let key = (e.tenant.clone(), e.action.clone(), sorted);
            let unread = unread(&e);
            let joins = open.get(&key).copied().filter(|&i| {
                !unread && {
                    let last = ops[i].requests.last().map_or(0, |a| a.received_ms);
                    e.received_ms.saturating_sub(last) <= window_ms
                }
            });
            let attempt = Attempt {
                seq: e.seq,
                request_id: e.request_id.clone(),
                received_ms: e.received_ms,
                status: e.status,
                code: e.code.clone(),
                effect: e.effect.clone(),
            };
            let i = match joins {
                Some(i) => {
                    let op = &mut ops[i];
                    if let Some(prev) = op.requests.last() {
                        op.gaps_ms
                            .push(e.received_ms.saturating_sub(prev.received_ms));
                        op.non_retryable_retried |= failed_for_good(prev);
                    }
                    op.attempts += 1;
                    op.requests.push(attempt);
                    i
                }
                None => {
                    ops.push(Operation {
                        tenant: e.tenant.clone(),
                        action: e.action.clone(),
                        params,
                        attempts: 1,
                        gaps_ms: Vec::new(),
                        outcome: Outcome {
                            status: None,
                            code: None,
                        },
                        non_retryable_retried: false,
                        requests: vec![attempt],
                    });
                    ops.len() - 1
                }
            };
            ops[i].outcome = Outcome {
                status: e.status,
                code: e.code.clone(),
            };
            if clean_success(&e) {
                open.remove(&key);
            } else if !unread {
                open.insert(key, i);
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(tenant: &'a str, action: &'a str, params: &'a Params) -> Record<'a> {
        Record {
            time: 1,
            received_ms: 0,
            tenant,
            action,
            action_call: Some(1),
            epoch: 0,
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
    fn a_request_in_flight_across_a_reset_of_its_tenant_is_not_recorded() {
        // Regression (findings-journal #1): answered after the reset, it was journalled into
        // what the reset forgot, and its call number clashed with the first call after it.
        let j = Journal::new(10);
        let p = Params::default();
        let arrived = j.epoch();
        j.reset(Some("t"));
        j.record(Record {
            epoch: arrived,
            ..rec("t", "A", &p)
        });
        j.record(Record {
            epoch: arrived,
            ..rec("u", "A", &p)
        });
        j.record(Record {
            epoch: j.epoch(),
            ..rec("t", "B", &p)
        });
        let kept: Vec<(String, String)> = j
            .entries(&Filter::default())
            .into_iter()
            .map(|e| (e.tenant, e.action))
            .collect();
        assert_eq!(kept, [("u".into(), "A".into()), ("t".into(), "B".into())]);
        // A full reset forgets every tenant's requests in flight.
        let arrived = j.epoch();
        j.reset(None);
        j.record(Record {
            epoch: arrived,
            ..rec("u", "A", &p)
        });
        assert!(j.entries(&Filter::default()).is_empty());
        // Past the resets remembered, a request that old is dropped, whoever was reset.
        let arrived = j.epoch();
        for _ in 0..=crate::resets::LOG_MAX {
            j.reset(Some("other"));
        }
        j.record(Record {
            epoch: arrived,
            ..rec("u", "A", &p)
        });
        assert!(j.entries(&Filter::default()).is_empty());
    }

    #[test]
    fn no_request_arriving_before_a_reset_outlives_it_under_concurrent_recording() {
        // Each record notes the reset count on arrival (kept as its RequestId here). Whatever
        // the interleaving, once the last reset is done only requests that arrived after it
        // may remain: a record checks for resets and appends under its shard's lock, which
        // a reset holds on every shard.
        let j = Journal::new(1_000_000);
        let p = Params::default();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    while !done.load(Ordering::Relaxed) {
                        let epoch = j.epoch();
                        let id = epoch.to_string();
                        std::hint::black_box(&id);
                        j.record(Record {
                            epoch,
                            request_id: &id,
                            ..rec("t", "A", &p)
                        });
                    }
                });
            }
            for i in 0..2_000 {
                j.reset(if i % 2 == 0 { Some("t") } else { None });
            }
            done.store(true, Ordering::Relaxed);
        });
        let last = j.epoch().to_string();
        let stale = j
            .entries(&Filter::default())
            .into_iter()
            .filter(|e| e.request_id != last)
            .count();
        assert_eq!(stale, 0);
    }

    #[test]
    fn a_tenant_kept_shortened_is_found_and_reset_by_its_full_id() {
        // Regression (findings-journal #4): the filter and the reset compared the full id
        // with the shortened one the journal keeps, and never matched.
        let j = Journal::new(10);
        let p = Params::default();
        let long = "L".repeat(300);
        j.record(rec(&long, "A", &p));
        j.record(rec("t", "A", &p));
        let only = |tenant: &str| Filter {
            tenant: Some(tenant.to_string()),
            ..Filter::default()
        };
        assert_eq!(j.entries(&only(&long)).len(), 1);
        j.reset(Some(&long));
        assert!(j.entries(&only(&long)).is_empty());
        assert_eq!(j.entries(&Filter::default()).len(), 1);
    }

    #[test]
    fn a_repeated_parameter_is_recorded_with_its_first_value_as_the_actions_read_it() {
        // Regression (findings-scen #4): the journal showed the last value.
        // Arrange
        let j = Journal::new(10);
        let p = Params::from_pairs([
            ("KeyPairName", "dev-1"),
            ("RegionId", "cn-hangzhou"),
            ("KeyPairName", "prod-1"),
        ]);
        // Act
        j.record(rec("t", "CreateKeyPair", &p));
        j.record(rec("t", "CreateKeyPair", &p));
        let entries = j.entries(&Filter::default());
        let ops = j.retries(&Filter::default(), DEFAULT_RETRY_WINDOW_MS);
        // Assert
        assert_eq!(p.get("KeyPairName"), Some("dev-1"));
        assert_eq!(
            serde_json::to_value(&entries[0].params).unwrap(),
            json!({"KeyPairName": "dev-1", "RegionId": "cn-hangzhou"})
        );
        assert_eq!(
            Value::Object(ops[0].params.clone()),
            json!({"KeyPairName": "dev-1", "RegionId": "cn-hangzhou"})
        );
    }

    #[test]
    fn an_over_long_request_is_kept_cut_to_a_bounded_size() {
        // Arrange: a 1 MB value between short ones, and a tenant and action far too long.
        let j = Journal::new(10);
        let huge = "é".repeat(500_000);
        let p = Params::from_pairs([
            ("KeyPairName", "k"),
            ("Junk", huge.as_str()),
            ("A", "1"),
            ("B", "2"),
        ]);
        let long_tenant = "t".repeat(1000);
        // Act
        j.record(rec("t", "CreateKeyPair", &p));
        j.record(rec(&long_tenant, &huge, &Params::default()));
        let entries = j.entries(&Filter::default());
        let kept_bytes: usize = j.all().kept().map(|s| s.text.len()).sum();
        // Assert
        let params = serde_json::to_value(&entries[0].params).unwrap();
        assert_eq!(params["KeyPairName"], "k");
        let junk = params["Junk"].as_str().unwrap();
        assert!(
            junk.ends_with(CUT_MARK) && junk.starts_with("éé"),
            "{junk:.20}"
        );
        assert!(junk.len() <= PARAMS_TEXT_MAX, "{}", junk.len());
        assert_eq!(params[CUT_MARK], "2 more parameters not kept");
        assert_eq!(entries[0].request_id, "R");
        assert!(entries[1].tenant.ends_with(CUT_MARK) && entries[1].tenant.len() <= HEAD_MAX);
        assert!(entries[1].action.len() <= HEAD_MAX);
        assert_eq!(entries[1].request_id, "R");
        assert!(kept_bytes < 2 * PARAMS_TEXT_MAX + 1024, "{kept_bytes}");
    }

    #[test]
    fn a_journal_of_any_capacity_keeps_what_it_records() {
        // Whatever `--journal-capacity` says, even more than could ever be recorded.
        let j = Journal::new(usize::MAX);
        let p = Params::default();
        for _ in 0..3 {
            j.record(rec("t", "A", &p));
        }
        assert_eq!(j.len(), 3);
        assert_eq!(j.entries(&Filter::default()).len(), 3);
    }

    #[test]
    fn the_ring_buffer_keeps_the_newest_entries() {
        let j = Journal::new(3);
        let p = Params::default();
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
    fn entries_recorded_on_many_threads_are_the_newest_in_seq_order() {
        // Each thread records into its own shard; reading merges them.
        let j = Journal::new(100);
        let p = Params::default();
        std::thread::scope(|s| {
            for t in ["a", "b", "c", "d"] {
                let (j, p) = (&j, &p);
                s.spawn(move || {
                    for _ in 0..250 {
                        j.record(rec(t, "A", p));
                    }
                });
            }
        });
        let seqs: Vec<u64> = j
            .entries(&Filter::default())
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, (901..=1000).collect::<Vec<u64>>());
        assert_eq!(j.len(), 100);
    }

    #[test]
    fn a_read_while_threads_record_is_every_entry_up_to_a_point() {
        // Reads copy one shard at a time while the others keep recording: each must still be
        // the journal as it was at some moment, entries 1..=n without a gap, not a mix of
        // shards taken at different moments.
        let j = Journal::new(1_000_000);
        let p = Params::default();
        let recording = AtomicUsize::new(3);
        std::thread::scope(|s| {
            for t in ["a", "b", "c"] {
                let (j, p, recording) = (&j, &p, &recording);
                s.spawn(move || {
                    for _ in 0..20_000 {
                        j.record(rec(t, "A", p));
                    }
                    recording.fetch_sub(1, Ordering::Relaxed);
                });
            }
            let mut reads = 0;
            while recording.load(Ordering::Relaxed) > 0 || reads < 3 {
                let seqs: Vec<u64> = j
                    .entries(&Filter::default())
                    .iter()
                    .map(|e| e.seq)
                    .collect();
                let n = seqs.len() as u64;
                assert!(seqs.iter().copied().eq(1..=n), "a gap in a read of {n}");
                reads += 1;
            }
        });
        assert_eq!(j.entries(&Filter::default()).len(), 60_000);
    }

    #[test]
    fn a_quiet_threads_entries_are_freed_once_out_of_the_ring() {
        // Arrange: a thread fills the ring, then goes quiet.
        let j = Journal::new(50);
        let p = Params::default();
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..50 {
                    j.record(rec("quiet", "A", &p));
                }
            });
        });
        // Act: another thread records until a trim of the other shards is due.
        for _ in 0..TRIM_EVERY - 50 {
            j.record(rec("busy", "A", &p));
        }
        // Assert: the quiet thread's entries are no longer held, only the ring is.
        let held: usize = j.all().guards.iter().map(|g| g.entries.len()).sum();
        assert_eq!(held, 50);
        let tenants: Vec<String> = j
            .entries(&Filter::default())
            .into_iter()
            .map(|e| e.tenant)
            .collect();
        assert_eq!(tenants, vec!["busy".to_string(); 50]);
    }

    #[test]
    fn a_reset_tenants_place_in_the_ring_is_not_given_to_older_entries() {
        // The ring is the last `capacity` requests recorded; a reset takes its tenant's out
        // of them and leaves the others where they were.
        let j = Journal::new(3);
        let p = Params::default();
        for t in ["u", "t", "u"] {
            j.record(rec(t, "A", &p));
        }
        j.reset(Some("t"));
        j.record(rec("u", "A", &p));
        let seqs: Vec<u64> = j
            .entries(&Filter::default())
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [3, 4]);
        assert_eq!(j.len(), 2);
    }

    #[test]
    fn secrets_are_not_recorded_and_filters_apply() {
        let j = Journal::new(10);
        let p = Params::from_pairs([
            ("AccessKeyId", "t"),
            ("Signature", "s3cr3t"),
            ("SecurityToken", "tok"),
            ("KeyPairName", "k"),
        ]);
        j.record(rec("t", "CreateKeyPair", &p));
        j.record(rec("u", "CreateKeyPair", &p));
        j.record(rec("t", "DescribeKeyPairs", &p));
        let all = j.entries(&Filter::default());
        assert_eq!(
            all[0].params.to_map().keys().cloned().collect::<Vec<_>>(),
            ["AccessKeyId", "KeyPairName"]
        );
        let f = Filter {
            tenant: Some("t".into()),
            action: Some("CreateKeyPair".into()),
            ..Filter::default()
        };
        assert_eq!(j.entries(&f).len(), 1);
        assert_eq!(j.len(), 3);
        j.reset(Some("t"));
        assert_eq!(j.entries(&Filter::default()).len(), 1);
        assert_eq!(j.len(), 1);
        j.reset(None);
        assert!(j.is_empty());
    }

    #[test]
    fn a_private_key_sent_as_a_public_key_body_is_not_recorded() {
        // Found by a black-box review (twenty-seventh session): a client that pasted its
        // private key into ImportKeyPair had it kept word for word.
        let pem = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
        let public = "ssh-rsa AAAAB3NzaC1yc2E= PRIVATE-KEY-comment";
        let big = "y".repeat(PARAMS_TEXT_MAX);
        let j = Journal::new(10);
        for extra in ["", &big[..]] {
            // Small parameters take the copy's fast path, oversized ones its cutting path.
            let p = Params::from_pairs([
                ("PublicKeyBody", pem),
                ("KeyPairName", pem),
                ("Extra", extra),
            ]);
            j.record(rec("t", "ImportKeyPair", &p));
        }
        let p = Params::from_pairs([("PublicKeyBody", public)]);
        j.record(rec("t", "ImportKeyPair", &p));
        let kept = j.entries(&Filter::default());
        for e in &kept[..2] {
            let m = e.params.to_map();
            assert_eq!(m["PublicKeyBody"], PRIVATE_KEY_NOT_KEPT, "{m:?}");
        }
        assert!(kept[1].params.to_map()["Extra"]
            .as_str()
            .unwrap()
            .ends_with(CUT_MARK));
        // Other parameters are kept as sent (a name is no key), and so is a public key.
        assert_eq!(kept[0].params.to_map()["KeyPairName"], pem);
        assert_eq!(kept[2].params.to_map()["PublicKeyBody"], public);
        // A request for no known action is looked at too (review of the twenty-seventh
        // session's diff: a misspelt `importKeyPair` kept the key).
        let p = Params::from_pairs([("PublicKeyBody", pem)]);
        for action in ["importKeyPair", ""] {
            j.record(rec("t", action, &p));
        }
        j.record(rec("t", "DescribeKeyPairs", &p));
        let kept = j.entries(&Filter::default());
        let bodies: Vec<String> = kept[3..]
            .iter()
            .map(|e| {
                e.params.to_map()["PublicKeyBody"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(bodies, [PRIVATE_KEY_NOT_KEPT, PRIVATE_KEY_NOT_KEPT, pem]);
    }

    #[test]
    fn recycled_buffers_give_back_exactly_what_was_recorded() {
        let j = Journal::new(2);
        let big = "x".repeat(PARAMS_TEXT_MAX - 100);
        let first = Params::from_pairs([("PublicKeyBody", &big[..]), ("Signature", "s")]);
        let second = Params::from_pairs([
            ("KeyPairName", "k\u{e9}\u{1F511}"),
            ("Empty", ""),
            ("Tag.1.Key", "a"),
            ("Tag.1.Key", "b"),
            ("Signature", "s3cr3t"),
        ]);
        // With two entries kept and the buffer of each evicted entry reused by the next: the
        // fourth entry writes a small entry into the first's 8 KB buffer, and the fifth a
        // large one into the second's small buffer.
        for (tenant, p) in [
            ("t1", &first),
            ("t2", &second),
            ("t3", &second),
            ("t4", &second),
            ("", &first),
        ] {
            j.record(Record {
                request_id: "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E",
                ..rec(tenant, "ImportKeyPair", p)
            });
        }
        let kept = j.entries(&Filter::default());
        assert_eq!(kept.len(), 2);
        assert_eq!(
            (kept[0].tenant.as_str(), kept[1].tenant.as_str()),
            ("t4", "")
        );
        assert_eq!(kept[0].action, "ImportKeyPair");
        assert_eq!(kept[0].request_id, "473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E");
        let pairs: Vec<(String, String)> = kept[0]
            .params
            .0
            .pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let expected: Vec<(String, String)> = second
            .pairs()
            .filter(|(k, _)| *k != "Signature")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(kept[1].params.to_map()["PublicKeyBody"], big.as_str());
        assert!(!kept[1].params.to_map().contains_key("Signature"));
    }

    /// One request: (received_ms, tenant, KeyPairName, status, code, effect).
    type Req = (
        u64,
        &'static str,
        &'static str,
        Option<u16>,
        Option<&'static str>,
        Option<StepFile>,
    );

    /// An operation as (journal seqs of its attempts, gaps_ms, non_retryable_retried).
    type Op = (Vec<u64>, Vec<u64>, bool);

    fn effect(v: Value) -> Option<StepFile> {
        Some(serde_json::from_value(v).expect("an effect"))
    }

    /// Records `reqs` in order, each with its own nonce, timestamp and signature (as a
    /// client's retry would), and returns the operations.
    fn grouped(reqs: &[Req], window_ms: u64) -> Vec<Op> {
        let j = Journal::new(100);
        for (i, (at, tenant, name, status, code, effect)) in reqs.iter().enumerate() {
            let p = Params::from_pairs(vec![
                ("Action".to_string(), "CreateKeyPair".to_string()),
                ("AccessKeyId".to_string(), tenant.to_string()),
                ("SignatureNonce".to_string(), format!("nonce-{i}")),
                ("Timestamp".to_string(), format!("2024-01-01T00:00:{i:02}Z")),
                ("Signature".to_string(), format!("sig-{i}")),
                (
                    "Format".to_string(),
                    if i % 2 == 0 { "JSON" } else { "json" }.to_string(),
                ),
                ("RegionId".to_string(), "cn-hangzhou".to_string()),
                ("KeyPairName".to_string(), name.to_string()),
            ]);
            j.record(Record {
                received_ms: *at,
                status: *status,
                code: code.map(Code::Catalogue),
                effect: effect.clone(),
                ..rec(tenant, "CreateKeyPair", &p)
            });
        }
        j.retries(&Filter::default(), window_ms)
            .into_iter()
            .map(|op| {
                assert_eq!(op.attempts, op.requests.len());
                let seqs = op.requests.iter().map(|a| a.seq).collect();
                (seqs, op.gaps_ms, op.non_retryable_retried)
            })
            .collect()
    }

    #[test]
    fn retries_group_attempts_into_operations() {
        const W: u64 = 30_000;
        let ok = (Some(200), None);
        let unavailable = (Some(503), Some("ServiceUnavailable"));
        let malformed = (Some(400), Some("InvalidKeyPairName.Malformed"));
        let r = |at, tenant, name, (status, code): (Option<u16>, Option<&'static str>)| -> Req {
            (at, tenant, name, status, code, None)
        };
        let cases: Vec<(&str, Vec<Req>, u64, Vec<Op>)> = vec![
            (
                "failures retried until a success are one operation; nonce, timestamp, signature and Format are not business parameters",
                vec![r(0, "t", "k", unavailable), r(100, "t", "k", unavailable), r(300, "t", "k", ok)],
                W,
                vec![(vec![1, 2, 3], vec![100, 200], false)],
            ),
            (
                "an identical call after a clean success is a new operation",
                vec![r(0, "t", "k", ok), r(10, "t", "k", ok)],
                W,
                vec![(vec![1], vec![], false), (vec![2], vec![], false)],
            ),
            (
                "a gap of exactly the window still joins",
                vec![r(0, "t", "k", unavailable), r(W, "t", "k", unavailable)],
                W,
                vec![(vec![1, 2], vec![W], false)],
            ),
            (
                "a gap beyond the window starts a new operation",
                vec![r(0, "t", "k", unavailable), r(W + 1, "t", "k", unavailable)],
                W,
                vec![(vec![1], vec![], false), (vec![2], vec![], false)],
            ),
            (
                "a smaller window splits sooner",
                vec![r(0, "t", "k", unavailable), r(101, "t", "k", unavailable)],
                100,
                vec![(vec![1], vec![], false), (vec![2], vec![], false)],
            ),
            (
                "other business parameters or another tenant make other operations, even interleaved",
                vec![
                    r(0, "t", "a", unavailable),
                    r(1, "t", "b", unavailable),
                    r(2, "u", "a", unavailable),
                    r(3, "t", "a", ok),
                ],
                W,
                vec![(vec![1, 4], vec![3], false), (vec![2], vec![], false), (vec![3], vec![], false)],
            ),
            (
                "an attempt after a non-retryable code is flagged",
                vec![r(0, "t", "k", malformed), r(50, "t", "k", malformed)],
                W,
                vec![(vec![1, 2], vec![50], true)],
            ),
            (
                "a non-retryable code that is not retried is not flagged",
                vec![r(0, "t", "k", unavailable), r(50, "t", "k", malformed)],
                W,
                vec![(vec![1, 2], vec![50], false)],
            ),
            (
                "throttling, 5xx without a code, InternalError, UnknownError and dropped connections are retryable",
                vec![
                    r(0, "t", "k", (Some(400), Some("Throttling.User"))),
                    r(1, "t", "k", (Some(400), Some("Throttling"))),
                    r(2, "t", "k", (Some(502), None)),
                    r(3, "t", "k", (Some(500), Some("InternalError"))),
                    r(4, "t", "k", (Some(400), Some("UnknownError"))),
                    r(5, "t", "k", (None, None)),
                    r(6, "t", "k", (Some(503), Some("SomethingNew"))),
                    r(7, "t", "k", ok),
                ],
                W,
                vec![(vec![1, 2, 3, 4, 5, 6, 7, 8], vec![1; 7], false)],
            ),
        ];
        for (name, reqs, window, want) in cases {
            assert_eq!(grouped(&reqs, window), want, "{name}");
        }
    }

    #[test]
    fn a_request_refused_before_it_was_read_is_an_operation_of_its_own() {
        // Regression (black-box review, twenty-seventh session): two different calls refused
        // for their encoding were journalled with the same (empty) parameters, grouped as one
        // operation and flagged as a non-retryable code retried.
        let encoding = (Some(400), Some("InvalidParameter.Encoding"));
        let reqs: Vec<Req> = [
            "InvalidParameter.Encoding",
            "InvalidParameter.TooMany",
            "Request.TooLarge",
        ]
        .iter()
        .enumerate()
        .flat_map(|(i, code)| {
            let at = i as u64 * 10;
            let status = Some(if *code == "Request.TooLarge" {
                413
            } else {
                400
            });
            [
                (at, "t", "k", status, Some(*code), None),
                (at + 1, "t", "k", status, Some(*code), None),
            ]
        })
        .chain([
            // Then a read request with those parameters, and one whose code a scenario forced.
            (
                100,
                "t",
                "k",
                Some(400),
                Some("InvalidKeyPairName.Malformed"),
                None,
            ),
            (
                101,
                "t",
                "k",
                encoding.0,
                encoding.1,
                effect(json!({"error": "InvalidParameter.Encoding"})),
            ),
            (
                102,
                "t",
                "k",
                encoding.0,
                encoding.1,
                effect(json!({"error": "InvalidParameter.Encoding"})),
            ),
        ])
        .collect();
        let ops = grouped(&reqs, 30_000);
        let mut want: Vec<Op> = (1..=6).map(|i| (vec![i], vec![], false)).collect();
        want.push((vec![7, 8, 9], vec![1, 1], true));
        assert_eq!(ops, want);
    }

    #[test]
    fn a_success_under_a_scenario_effect_keeps_the_operation_open() {
        // A 2xx that came slowly (or dripped) may have reached a client that had given up.
        let slow = effect(json!({"latency": {"fixed_ms": 2000}}));
        let reqs: Vec<Req> = vec![
            (0, "t", "k", Some(200), None, slow),
            (1500, "t", "k", Some(200), None, effect(json!("pass"))),
            (1600, "t", "k", Some(200), None, None),
        ];
        assert_eq!(
            grouped(&reqs, 30_000),
            [(vec![1, 2], vec![1500], false), (vec![3], vec![], false)]
        );
    }

    #[test]
    fn attempts_are_ordered_by_arrival_not_by_answer() {
        // The first attempt was delayed by a scenario, so it was answered (recorded) last.
        let reqs: Vec<Req> = vec![
            (2000, "t", "k", Some(503), Some("ServiceUnavailable"), None),
            (
                0,
                "t",
                "k",
                None,
                None,
                effect(json!({"latency": {"fixed_ms": 3000}})),
            ),
        ];
        assert_eq!(grouped(&reqs, 30_000), [(vec![2, 1], vec![2000], false)]);
    }

    #[test]
    fn an_operation_reports_its_business_parameters_and_last_outcome() {
        let j = Journal::new(10);
        let p = Params::from_pairs([
            ("Action", "DescribeKeyPairs"),
            ("Version", "2014-05-26"),
            ("AccessKeyId", "t"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureVersion", "1.0"),
            ("SignatureType", ""),
            ("RegionId", "cn-hangzhou"),
            ("PageSize", "5"),
        ]);
        j.record(Record {
            status: Some(503),
            code: Some(Code::Catalogue("ServiceUnavailable")),
            request_id: "R1",
            ..rec("t", "DescribeKeyPairs", &p)
        });
        j.record(Record {
            received_ms: 7,
            request_id: "R2",
            ..rec("t", "DescribeKeyPairs", &p)
        });
        let ops = j.retries(&Filter::default(), 30_000);
        assert_eq!(ops.len(), 1);
        let op = serde_json::to_value(&ops[0]).unwrap();
        assert_eq!(
            op,
            json!({
                "tenant": "t", "action": "DescribeKeyPairs",
                "params": {"RegionId": "cn-hangzhou", "PageSize": "5"},
                "attempts": 2, "gaps_ms": [7],
                "outcome": {"status": 200, "code": null},
                "non_retryable_retried": false,
                "requests": [
                    {"seq": 1, "request_id": "R1", "received_ms": 0, "status": 503,
                     "code": "ServiceUnavailable", "effect": null},
                    {"seq": 2, "request_id": "R2", "received_ms": 7, "status": 200,
                     "code": null, "effect": null},
                ],
            })
        );
    }

    #[test]
    fn retry_filters_apply_before_grouping() {
        let j = Journal::new(10);
        let p = Params::from_pairs([("RegionId", "cn-hangzhou")]);
        j.record(rec("t", "A", &p));
        j.record(rec("u", "A", &p));
        j.record(rec("t", "B", &p));
        let only = |tenant: Option<&str>, action: Option<&str>| {
            let f = Filter {
                tenant: tenant.map(str::to_string),
                action: action.map(str::to_string),
                ..Filter::default()
            };
            j.retries(&f, 30_000)
                .iter()
                .map(|op| format!("{}/{}", op.tenant, op.action))
                .collect::<Vec<_>>()
        };
        assert_eq!(only(None, None), ["t/A", "u/A", "t/B"]);
        assert_eq!(only(Some("t"), None), ["t/A", "t/B"]);
        assert_eq!(only(None, Some("A")), ["t/A", "u/A"]);
    }
}
