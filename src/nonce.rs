//! Replay detection: the signature nonces of recent requests, per tenant.
//!
//! Every signed request inserts one nonce, and at the request rates of a load test the set is
//! far larger than the CPU caches, so its cost is the cache lines it touches. A general hash
//! set with a FIFO of insertions beside it touched about four per request (control bytes and
//! slot to remove the oldest entry, the same to insert). Here an entry carries its insertion
//! ordinal, expiry is a comparison with one threshold, and a lookup reads one 64-byte bucket
//! (two on the few chains that overflow), which the insert then writes.
//!
//! ```text
//! bucket (64 bytes)   keys[3]   64-bit keyed digests of (tenant, nonce)
//!                     ords[3]   insertion ordinals, from 1 (0: never used)
//!                     overflow  ordinal of the newest entry placed past this bucket
//! live entry          ord >= min_live = max(first ordinal stamped within the window,
//!                                           next - capacity + 1)
//! ```
//!
//! A full bucket passes its entry on to the next one and records that entry's ordinal as its
//! `overflow`. A lookup goes on to the next bucket only while that ordinal is live: once it is
//! not, every entry that ever passed the bucket has expired with it. So the set holds exactly
//! what a FIFO would: the last `capacity` insertions, less those older than the window.
//!
//! A request dated ahead of the server clock stamps its entry with its own date, which the
//! window then counts from; entries recorded after it, in the same or earlier seconds, share
//! that second and live as long (at most a window more than their own).

use std::collections::VecDeque;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Entries per bucket: three digests, their three ordinals and the overflow ordinal fill a
/// cache line.
const SLOTS: usize = 3;
const WORDS: usize = 8;
const OVERFLOW: usize = 2 * SLOTS;

/// Remembers recently used signature nonces per tenant so a replayed request is refused with
/// `SignatureNonceUsed`.
///
/// Bounded twice: entries older than the request window are useless (such a request already
/// fails the timestamp check) and are dropped, and at most `capacity` entries are kept, oldest
/// evicted first, so a flood of unique nonces cannot grow memory without limit.
///
/// Entries are 64-bit keyed digests of (tenant, nonce), not the strings: a collision (about
/// 1 in 10^14 per request with the cache full) could at worst refuse one request as a replay.
#[derive(Debug)]
pub struct NonceCache {
    inner: Mutex<Inner>,
    /// Read and written under `inner`'s lock only, but kept outside it so that a request can
    /// load its bucket before taking the lock: the bucket is a cache miss (the table is far
    /// larger than the caches), and taken under the lock it kept the other request thread
    /// waiting for it.
    table: Table,
    capacity: u64,
    digests: foldhash::quality::RandomState,
}

#[derive(Debug)]
struct Table {
    /// `buckets` buckets of `WORDS` words from `start` (a cache-line boundary). Allocated
    /// zeroed, so pages cost memory only once an entry lands in them.
    words: Box<[AtomicU64]>,
    start: usize,
    buckets: usize,
}

#[derive(Debug)]
struct Inner {
    /// Ordinal of the next insertion.
    next: u64,
    /// (second, first ordinal inserted at or after it), one per second that saw an insertion
    /// and may still matter: the time half of `min_live`.
    seconds: VecDeque<(u64, u64)>,
}

impl NonceCache {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        // Half again as many slots as entries: about 7% of buckets overflow when full.
        let buckets = capacity.div_ceil(2).max(1);
        let words: Box<[AtomicU64]> =
            bytemuck::allocation::zeroed_slice_box(buckets * WORDS + WORDS - 1);
        let start = (WORDS - (words.as_ptr() as usize / 8) % WORDS) % WORDS;
        Self {
            inner: Mutex::new(Inner {
                next: 1,
                seconds: VecDeque::new(),
            }),
            table: Table {
                words,
                start,
                buckets,
            },
            capacity: capacity as u64,
            digests: foldhash::quality::RandomState::default(),
        }
    }

    /// Records `nonce` for `tenant` at `now` (unix seconds), from a request dated `dated` (its
    /// own timestamp). False if it is still recorded: for `window` seconds after the later of
    /// the two, while it is among the last `capacity` recorded.
    ///
    /// A request dated ahead of the server clock passes the timestamp check until `dated +
    /// window`, so its nonce must be kept that long, not only `window` after its arrival, or
    /// the same request replays once its nonce is forgotten.
    pub fn check_and_insert(
        &self,
        tenant: &str,
        nonce: &str,
        now: u64,
        dated: u64,
        window: u64,
    ) -> bool {
        let key = self.digests.hash_one((tenant, nonce));
        let first = self.table.first(key);
        std::hint::black_box(self.table.get(self.table.bucket(first)));
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let min_live = inner.min_live(now, now.max(dated), window, self.capacity);
        inner.insert(&self.table, key, first, min_live)
    }

    /// Forgets every nonce (`POST /__mock/reset`: a reset mock answers like a fresh one, so a
    /// recorded signed request replays). O(1): with no second on record, the next insertion
    /// stamps the current ordinal as the window's floor, which leaves every older entry dead.
    /// Entries are digests, so one tenant's nonces cannot be told apart from the others'.
    pub fn clear(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seconds.clear();
    }

    /// Entries currently live (a scan: for tests and diagnostics, not the request path).
    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(&(_, floor)) = inner.seconds.front() else {
            return 0;
        };
        // As of the last insertion, the window as well as the capacity.
        let min_live = floor.max(inner.next.saturating_sub(self.capacity)).max(1);
        let table = &self.table;
        (0..table.buckets)
            .flat_map(|b| {
                let at = table.bucket(b);
                (at + SLOTS..at + 2 * SLOTS).map(|i| table.get(i))
            })
            .filter(|&ord| ord >= min_live)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Table {
    // Relaxed: every access but the early load of a bucket is under the cache's lock, which
    // orders them; that load only warms the line.
    fn get(&self, i: usize) -> u64 {
        self.words[i].load(Ordering::Relaxed)
    }

    fn set(&self, i: usize, v: u64) {
        self.words[i].store(v, Ordering::Relaxed);
    }

    /// The bucket where `key`'s chain starts.
    fn first(&self, key: u64) -> usize {
        ((u128::from(key) * self.buckets as u128) >> 64) as usize
    }

    fn bucket(&self, b: usize) -> usize {
        self.start + b * WORDS
    }

    fn following(&self, b: usize) -> usize {
        if b + 1 == self.buckets {
            0
        } else {
            b + 1
        }
    }
}

impl Inner {
    /// The smallest live ordinal for an insertion at `now` of an entry to keep from `from`
    /// (`now` or later), keeping `seconds` short: seconds out of the window go, and so do
    /// seconds whose insertions have all been evicted by capacity (so at most `capacity` + 1
    /// remain whatever the window).
    fn min_live(&mut self, now: u64, from: u64, window: u64, capacity: u64) -> u64 {
        // An entry kept from before the latest second seen (a clock set back, or entries
        // after one kept from a future second) counts as of that second: it lives a little
        // longer, never shorter.
        if self.seconds.back().is_none_or(|&(s, _)| from > s) {
            self.seconds.push_back((from, self.next));
        }
        let by_capacity = (self.next + 1).saturating_sub(capacity);
        while let Some(&(s, _)) = self.seconds.front() {
            let out_of_window = now.saturating_sub(s) > window;
            let evicted = self.seconds.get(1).is_some_and(|&(_, o)| o <= by_capacity);
            if !(out_of_window || evicted) {
                break;
            }
            self.seconds.pop_front();
        }
        // Never empty: the current second (or a later one, see above) was just pushed.
        let by_window = self.seconds.front().map_or(self.next, |&(_, o)| o);
        by_window.max(by_capacity)
    }

    /// Inserts `key`, whose chain starts at bucket `first`, unless a live entry holds it
    /// already.
    fn insert(&mut self, table: &Table, key: u64, first: usize, min_live: u64) -> bool {
        let mut b = first;
        let mut free = None;
        // At most once round the table: on a small one the chains can close into a ring.
        for _ in 0..table.buckets {
            let at = table.bucket(b);
            for s in 0..SLOTS {
                if table.get(at + SLOTS + s) >= min_live {
                    if table.get(at + s) == key {
                        return false;
                    }
                } else if free.is_none() {
                    free = Some((b, s));
                }
            }
            if table.get(at + OVERFLOW) < min_live {
                break;
            }
            b = table.following(b);
        }
        let ord = self.next;
        self.next += 1;
        // No free slot on the chain: extend it past its last bucket. Live entries number fewer
        // than the slots, so this ends (and a walk round the whole table found a free one).
        let (last, slot) = match free {
            Some(found) => found,
            None => loop {
                b = table.following(b);
                let at = table.bucket(b);
                let dead = (0..SLOTS).find(|&s| table.get(at + SLOTS + s) < min_live);
                if let Some(s) = dead {
                    break (b, s);
                }
            },
        };
        // Every bucket this entry passes must send lookups on for as long as it lives.
        let mut b = first;
        while b != last {
            let at = table.bucket(b);
            table.set(at + OVERFLOW, table.get(at + OVERFLOW).max(ord));
            b = table.following(b);
        }
        let at = table.bucket(last);
        table.set(at + slot, key);
        table.set(at + SLOTS + slot, ord);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_nonce_is_accepted_once_per_tenant_within_the_window() {
        let cache = NonceCache::new(100);
        assert!(cache.check_and_insert("t", "n1", 1000, 1000, 900));
        assert!(!cache.check_and_insert("t", "n1", 1001, 1001, 900));
        assert!(
            cache.check_and_insert("other", "n1", 1001, 1001, 900),
            "tenants are separate"
        );
        // Past the window the entry is forgotten (the timestamp check covers that case).
        assert!(cache.check_and_insert("t", "n1", 1000 + 901, 1000 + 901, 900));
    }

    #[test]
    fn of_requests_racing_with_one_nonce_exactly_one_is_accepted() {
        let cache = NonceCache::new(10_000);
        let accepted = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for i in 0..2_000 {
                        if cache.check_and_insert("t", &format!("n{i}"), 1000, 1000, 900) {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(accepted.into_inner(), 2_000);
        assert_eq!(cache.len(), 2_000);
    }

    #[test]
    fn the_cache_never_exceeds_its_capacity() {
        let cache = NonceCache::new(10);
        for i in 0..1000 {
            assert!(cache.check_and_insert("t", &format!("n{i}"), 5, 5, 900));
        }
        assert_eq!(cache.len(), 10);
        assert!(!cache.check_and_insert("t", "n999", 5, 5, 900));
        // A newcomer makes room first: the 9 newest stay, the 10th newest goes.
        assert!(!cache.check_and_insert("t", "n991", 5, 5, 900));
        assert!(cache.check_and_insert("t", "n990", 5, 5, 900));
    }

    /// The set as a hash set plus a FIFO of insertions (what this module replaced).
    struct Model {
        seen: HashSet<String>,
        order: VecDeque<(u64, String)>,
        capacity: usize,
    }

    impl Model {
        fn check_and_insert(&mut self, nonce: &str, now: u64, window: u64) -> bool {
            while let Some((at, _)) = self.order.front() {
                if now.saturating_sub(*at) <= window && self.order.len() < self.capacity {
                    break;
                }
                let (_, old) = self.order.pop_front().expect("front exists");
                self.seen.remove(&old);
            }
            if !self.seen.insert(nonce.to_string()) {
                return false;
            }
            self.order.push_back((now, nonce.to_string()));
            true
        }
    }

    /// Small caches make long overflow chains; random nonces from a small alphabet repeat
    /// often, inside and outside the window and the capacity.
    #[test]
    fn answers_like_a_fifo_of_insertions_under_random_traffic() {
        use rand_core::{Rng as _, SeedableRng};
        for (capacity, alphabet, window) in [(2, 4, 3), (4, 16, 5), (10, 40, 8), (37, 200, 20)] {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(capacity as u64);
            let cache = NonceCache::new(capacity);
            let mut model = Model {
                seen: HashSet::new(),
                order: VecDeque::new(),
                capacity,
            };
            let mut now = 1_000;
            let (mut replays, mut accepted) = (0, 0);
            for step in 0..20_000 {
                now += rng.next_u32() as u64 % 3;
                let nonce = format!("n{}", rng.next_u32() % alphabet);
                // Dated at or before arrival, as a client with a true clock dates it.
                let dated = now - rng.next_u32() as u64 % 4;
                let expected = model.check_and_insert(&nonce, now, window);
                assert_eq!(
                    cache.check_and_insert("t", &nonce, now, dated, window),
                    expected,
                    "capacity {capacity}, step {step}, {nonce} at {now}"
                );
                if expected {
                    accepted += 1;
                } else {
                    replays += 1;
                }
            }
            assert!(
                replays > 1_000 && accepted > 1_000,
                "{replays} / {accepted}"
            );
            // Counted right after an insertion (a refused replay also makes room in the FIFO).
            assert!(cache.check_and_insert("t", "fresh", now, now, window));
            assert!(model.check_and_insert("fresh", now, window));
            assert_eq!(cache.len(), model.order.len(), "capacity {capacity}");
        }
    }

    #[test]
    fn clearing_forgets_every_nonce_and_later_ones_are_remembered_again() {
        // Arrange: a full cache, so that overflow chains exist too.
        let cache = NonceCache::new(10);
        for i in 0..10 {
            assert!(cache.check_and_insert("t", &format!("n{i}"), 1000, 1000, 900));
        }
        // Act
        cache.clear();
        // Assert
        assert_eq!(cache.len(), 0);
        for i in 0..10 {
            assert!(
                cache.check_and_insert("t", &format!("n{i}"), 1001, 1001, 900),
                "n{i}"
            );
        }
        assert!(!cache.check_and_insert("t", "n3", 1002, 1002, 900));
        assert_eq!(cache.len(), 10);
    }

    #[test]
    fn a_clock_set_back_never_forgets_sooner() {
        let cache = NonceCache::new(100);
        assert!(cache.check_and_insert("t", "a", 1000, 1000, 10));
        assert!(cache.check_and_insert("t", "b", 500, 500, 10));
        assert!(!cache.check_and_insert("t", "b", 505, 505, 10));
        assert!(!cache.check_and_insert("t", "a", 1005, 1005, 10));
        assert!(cache.check_and_insert("t", "a", 1011, 1011, 10));
    }

    #[test]
    fn a_request_dated_ahead_keeps_its_nonce_until_its_own_date_plus_the_window() {
        // Arrange: arrives at 1000 dated 1003, so it passes a 4 s timestamp check until 1007.
        let cache = NonceCache::new(100);
        assert!(cache.check_and_insert("t", "ahead", 1000, 1003, 4));
        // Act / Assert: refused while the same request could still pass the timestamp check,
        // though 1005 is more than the window after its arrival.
        for now in [1001, 1005, 1007] {
            assert!(!cache.check_and_insert("t", "ahead", now, 1003, 4), "{now}");
        }
        assert!(cache.check_and_insert("t", "ahead", 1008, 1008, 4));
    }

    /// Dates up to a window ahead of arrival, as the timestamp check lets through: a nonce is
    /// never forgotten before the window after the later of its arrival and its date, and
    /// kept at most twice the window after its arrival (entries recorded after one dated
    /// ahead are kept as long as it).
    #[test]
    fn nonces_dated_ahead_are_never_forgotten_early_nor_kept_past_twice_the_window() {
        use rand_core::{Rng as _, SeedableRng};
        let window = 6;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let cache = NonceCache::new(10_000);
        // nonce -> (arrival, kept until) of its accepted insertion.
        let mut accepted = std::collections::HashMap::new();
        let mut now = 1_000;
        let (mut refused, mut kept_longer) = (0, 0);
        for _ in 0..20_000 {
            now += rng.next_u32() as u64 % 2;
            let nonce = format!("n{}", rng.next_u32() % 150);
            let dated = now + rng.next_u32() as u64 % (window + 1) - window / 2;
            let fresh = cache.check_and_insert("t", &nonce, now, dated, window);
            match accepted.get(&nonce) {
                Some(&(_, until)) if now <= until => assert!(!fresh, "{nonce} at {now}"),
                Some(&(arrived, _)) if !fresh => {
                    assert!(now - arrived <= 2 * window, "{nonce} at {now}");
                    kept_longer += 1;
                }
                None => assert!(fresh, "{nonce} at {now}"),
                Some(_) => {}
            }
            if fresh {
                accepted.insert(nonce, (now, now.max(dated) + window));
            } else {
                refused += 1;
            }
        }
        assert!(
            refused > 1_000 && kept_longer > 100,
            "{refused} / {kept_longer}"
        );
    }

    #[test]
    fn the_second_list_stays_bounded_by_capacity_under_a_long_window() {
        let cache = NonceCache::new(5);
        for i in 0..1000u64 {
            assert!(cache.check_and_insert("t", &format!("n{i}"), i, i, u64::MAX));
        }
        let inner = cache.inner.lock().unwrap();
        assert!(inner.seconds.len() <= 6, "{}", inner.seconds.len());
    }
}
