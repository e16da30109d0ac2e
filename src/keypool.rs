//! Where CreateKeyPair's keys come from, off the async runtime: the key cache, bounded fresh
//! generation, and fast mode's prime pool.
//!
//! - **Fresh** ([`KeyMode::Fresh`], the default): look the key up in the [`KeyCache`] (on a
//!   blocking thread); on a miss, generate it on one of `cores − 1` dedicated threads running
//!   at idle priority (`SCHED_IDLE` on Linux), then write it to the cache. A burst of
//!   CreateKeyPair calls thus never occupies a runtime worker, and when the CPU is contended
//!   the cheap actions win it: after a key made while the runtime was busy, the thread rests
//!   three times as long (`Pace`). Tenants (AccessKeyIds) waiting for keys are served in
//!   turn, so a suite creating many keys does not hold up another sharing the server. Measured, cheap actions keep about 0.9x of their idle
//!   throughput while keys generate (see `cargo run --release --bin bench`), at the price of
//!   slower key generation under such load.
//! - **Fast** ([`KeyMode::Fast`]): the seed's [`PrimePool`] is built once per process and seed
//!   in the background as soon as the server starts (its keys come from the cache when
//!   present: about 10 ms, otherwise ~1–2 s of generation on `cores − 1` threads; the first
//!   CreateKeyPair waits for it). Each key is then one pair of pool primes, built on at most
//!   `cores` blocking threads at once in well under a millisecond.
//!
//! Fast mode keeps fingerprints unique within a tenant's region: the pair tried at attempt 0,
//! 1, … ([`keygen::fast_pair`]) is taken only if no key pair of that region has its
//! fingerprint and no create still in flight there was handed it. Which attempt wins
//! therefore depends on what the region already holds, so fast keys are reproducible for the
//! same seed and the same sequence of requests per tenant and region, not whatever the order
//! (fresh keys are).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{oneshot, watch, Semaphore};

use crate::keycache::KeyCache;
use crate::keygen::{self, KeyMaterial, KeyMode, PrimePool};
use crate::store::Store;
use crate::workers::busy;

/// `--key-mode` and `--key-cache` as validated by [`crate::config`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySettings {
    pub mode: KeyMode,
    /// The key cache directory; `None` disables the cache (the default of
    /// [`crate::Config::new`], so tests never touch a developer's cache).
    pub cache_dir: Option<PathBuf>,
}

/// Counters of where keys came from (for the benchmark and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStats {
    /// Fresh keys served from the cache.
    pub cache_hits: u64,
    /// Fresh keys generated (cache off, missing or invalid entry).
    pub generated: u64,
    /// Fast-mode keys built from the prime pool.
    pub fast: u64,
}

/// Key generation for one server.
#[derive(Debug)]
pub struct KeyPool {
    mode: KeyMode,
    cache: Option<Arc<KeyCache>>,
    store: Arc<Store>,
    /// The threads generating fresh keys.
    fresh_workers: FreshWorkers,
    /// Fast builds running at once: `cores` (each is well under a millisecond).
    fast_permits: Arc<Semaphore>,
    cache_hits: Arc<AtomicU64>,
    generated: Arc<AtomicU64>,
    fast: Arc<AtomicU64>,
    /// Fresh generations queued or running, and how many may be (see [`ABANDONED_BACKLOG`]).
    backlog: Arc<AtomicUsize>,
    max_backlog: usize,
    /// The runtimes serving requests, whose load paces generation; unset, the runtime a
    /// creation is requested on.
    request_runtimes: OnceLock<Vec<tokio::runtime::RuntimeMetrics>>,
    /// Creates not finished yet, whose clients may have left: shutdown waits for them.
    unfinished: Arc<Unfinished>,
}

#[derive(Debug, Default)]
struct Unfinished {
    count: AtomicUsize,
    none_left: tokio::sync::Notify,
}

/// A create counted as unfinished while this lives (see [`KeyPool::create_started`]).
#[derive(Debug)]
pub struct CreateRunning(Arc<Unfinished>);

impl Drop for CreateRunning {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.none_left.notify_waiters();
        }
    }
}

/// How many more fresh generations than connections may be queued or running; a create
/// beyond that is refused (`Throttling.User`) rather than queued. A create finishes even when
/// its client leaves, so without a bound, clients that send creates and hang up queued keys
/// without end: 1,500 of them made an unrelated tenant's create wait 40 s. Creates whose
/// clients wait are bounded by `--max-connections` already (one request at a time per
/// connection), so only creates left behind meet the bound. A key in the cache is never
/// refused.
pub const ABANDONED_BACKLOG: usize = 256;

/// Refused: as many fresh generations as [`KeyPool::limit_backlog`] allows are queued or
/// running already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlogged;

/// Counts one fresh generation while it lives.
struct InBacklog(Arc<AtomicUsize>);

impl InBacklog {
    fn enter(backlog: &Arc<AtomicUsize>, max: usize) -> Result<Self, Backlogged> {
        backlog
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map(|_| Self(Arc::clone(backlog)))
            .map_err(|_| Backlogged)
    }
}

impl Drop for InBacklog {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads generating fresh keys at once: one per core but one, leaving a core to the
/// request path.
pub fn fresh_workers() -> usize {
    cores().saturating_sub(1).max(1)
}

impl KeyPool {
    /// The pool for `settings`; in fast mode, starts building the prime pool of the store's
    /// seed in the background.
    pub fn new(settings: &KeySettings, store: Arc<Store>) -> Self {
        let cache = settings
            .cache_dir
            .clone()
            .map(|dir| Arc::new(KeyCache::new(dir)));
        if settings.mode == KeyMode::Fast {
            pool_slot(store.seed(), cache.as_ref());
        }
        Self {
            mode: settings.mode,
            cache,
            store,
            fresh_workers: FreshWorkers::start(fresh_workers()),
            fast_permits: Arc::new(Semaphore::new(cores())),
            cache_hits: Arc::default(),
            generated: Arc::default(),
            fast: Arc::default(),
            backlog: Arc::default(),
            max_backlog: crate::config::Limits::default().max_connections + ABANDONED_BACKLOG,
            request_runtimes: OnceLock::new(),
            unfinished: Arc::default(),
        }
    }

    /// Counts a create as unfinished until the returned value is dropped. A create finishes
    /// even when its client leaves (CreateKeyPair), so the key pair it stores is part of the
    /// state a graceful shutdown saves: [`KeyPool::creates_finished`] waits for it.
    pub fn create_started(&self) -> CreateRunning {
        self.unfinished.count.fetch_add(1, Ordering::AcqRel);
        CreateRunning(Arc::clone(&self.unfinished))
    }

    /// Resolves once no create counted by [`KeyPool::create_started`] is unfinished.
    pub async fn creates_finished(&self) {
        loop {
            // Registered before the count is read, so a create ending in between wakes it.
            let none_left = self.unfinished.none_left.notified();
            tokio::pin!(none_left);
            none_left.as_mut().enable();
            if self.unfinished.count.load(Ordering::Acquire) == 0 {
                return;
            }
            none_left.await;
        }
    }

    /// Bounds the fresh generations queued or running to `max_connections` (the most creates
    /// whose clients can be waiting) and [`ABANDONED_BACKLOG`] more.
    #[must_use]
    pub fn limit_backlog(mut self, max_connections: usize) -> Self {
        self.max_backlog = max_connections.saturating_add(ABANDONED_BACKLOG);
        self
    }

    /// Paces fresh generation by the load of these runtimes (the server's connection
    /// workers) instead of the runtime each creation is requested on. Set once.
    pub fn pace_by(&self, runtimes: Vec<tokio::runtime::RuntimeMetrics>) {
        let _ = self.request_runtimes.set(runtimes);
    }

    /// The key mode.
    pub fn mode(&self) -> KeyMode {
        self.mode
    }

    /// Where keys came from so far.
    pub fn stats(&self) -> KeyStats {
        KeyStats {
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            generated: self.generated.load(Ordering::Relaxed),
            fast: self.fast.load(Ordering::Relaxed),
        }
    }

    /// The key for the `generation`-th creation of `name` by `access_key_id` in `region`
    /// (see [`keygen::generate`] and the module documentation for fast mode), for the create
    /// holding `claim` ([`crate::store::Reservation::claim`]).
    ///
    /// # Errors
    /// [`Backlogged`] in fresh mode when the key is not in the cache and
    /// [`KeyPool::limit_backlog`]'s generations are queued or running.
    pub async fn generate(
        &self,
        seed: u64,
        access_key_id: &str,
        region: &str,
        name: &str,
        generation: u64,
        claim: u64,
    ) -> Result<KeyMaterial, Backlogged> {
        match self.mode {
            KeyMode::Fresh => self
                .fresh(seed, access_key_id, region, name, generation)
                .await
                .map(|km| km.fingerprinted(self.store.fingerprint())),
            KeyMode::Fast => Ok(self
                .fast(seed, access_key_id, region, name, generation, claim)
                .await),
        }
    }

    async fn fresh(
        &self,
        seed: u64,
        access_key_id: &str,
        region: &str,
        name: &str,
        generation: u64,
    ) -> Result<KeyMaterial, Backlogged> {
        let id = keygen::cache_id(seed, access_key_id, region, name, generation);
        if let Some(cache) = &self.cache {
            // Outside the generation permits: a hit is a file read and a parse (~20 µs), and
            // must not queue behind generations of other names.
            let cache = Arc::clone(cache);
            let hit = tokio::task::spawn_blocking(move || cache.load(&id))
                .await
                .expect("reading the key cache does not panic");
            if let Some(km) = hit {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(km);
            }
        }
        let counted = InBacklog::enter(&self.backlog, self.max_backlog)?;
        let (ak, region, name) = (
            access_key_id.to_string(),
            region.to_string(),
            name.to_string(),
        );
        let cache = self.cache.clone();
        let runtimes = self
            .request_runtimes
            .get()
            .cloned()
            .unwrap_or_else(|| vec![tokio::runtime::Handle::current().metrics()]);
        let (tx, rx) = oneshot::channel();
        self.fresh_workers.submit(
            access_key_id,
            Box::new(move || {
                let _counted = counted;
                // The create's task is gone (its runtime shut down): nobody would see the key or
                // its cache entry (the name's reservation is released), so do not spend a core
                // on it. A client that leaves does not end the task (see CreateKeyPair).
                if tx.is_closed() {
                    return;
                }
                let pace = Pace::start(runtimes);
                let km = keygen::generate(seed, &ak, &region, &name, generation);
                if let Some(cache) = cache {
                    cache.store(&id, &km.private_key_pem);
                }
                let _ = tx.send(km);
                pace.finish();
            }),
        );
        let km = rx
            .await
            .expect("key generation threads run every job and do not panic");
        self.generated.fetch_add(1, Ordering::Relaxed);
        Ok(km)
    }

    async fn fast(
        &self,
        seed: u64,
        access_key_id: &str,
        region: &str,
        name: &str,
        generation: u64,
        claim: u64,
    ) -> KeyMaterial {
        let pool = prime_pool(pool_slot(seed, self.cache.as_ref())).await;
        let algorithm = self.store.fingerprint();
        // Every attempt's pair is free with probability ≥ 3/4 (at most 500 key pairs in a
        // region against 2,016 pairs), so this ends after a few attempts, each a digest and at
        // most one multiplication: cheap enough for the runtime.
        let (i, j, fingerprint) = (0..)
            .find_map(|attempt| {
                let (i, j) = keygen::fast_pair(
                    seed,
                    access_key_id,
                    region,
                    name,
                    generation,
                    attempt,
                    pool.len(),
                );
                let fingerprint = pool.fingerprint(i, j, algorithm);
                self.store
                    .claim_fingerprint(access_key_id, region, name, claim, &fingerprint)
                    .then_some((i, j, fingerprint))
            })
            .expect("the attempt counter does not overflow before a free pair is found");
        // A pair's key is built once (~0.1 ms, off the runtime) and copied afterwards.
        let km = if pool.has_key(i, j) {
            pool.key(i, j)
        } else {
            let _permit = self
                .fast_permits
                .acquire()
                .await
                .expect("the key pool semaphore is never closed");
            tokio::task::spawn_blocking(move || pool.key(i, j))
                .await
                .expect("building a fast key does not panic")
        }
        .fingerprinted(algorithm);
        debug_assert_eq!(km.fingerprint, fingerprint);
        self.fast.fetch_add(1, Ordering::Relaxed);
        km
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// Fresh generation's duty cycle while the runtime is busy: after a key generated while
/// the runtime's workers were busy at least half the time, its thread rests three times as
/// long as the key took, so that generation gets at most a quarter of its core.
///
/// `SCHED_IDLE` alone did not keep the request path whole: the generator still ran on
/// every idle moment of a loaded server's cores, and its big-number arithmetic slowed the
/// request handlers beside it (cheap actions kept 0.72–0.84x of their idle rate; with this
/// pause, 0.9x and more). The key being generated is never delayed, only the next one,
/// and never when the server is otherwise quiet (a burst of CreateKeyPair alone runs at
/// full speed).
struct Pace {
    runtimes: Vec<tokio::runtime::RuntimeMetrics>,
    started: std::time::Instant,
    busy_before: Duration,
}

/// Rest after one key, relative to the time it took.
const REST_FACTOR: u32 = 3;
/// The longest rest: a slow (debug) build must not stall the queue for seconds.
const MAX_REST: Duration = Duration::from_millis(250);

impl Pace {
    fn start(runtimes: Vec<tokio::runtime::RuntimeMetrics>) -> Self {
        let busy_before = busy(&runtimes);
        Self {
            runtimes,
            started: std::time::Instant::now(),
            busy_before,
        }
    }

    fn finish(self) {
        let took = self.started.elapsed();
        let busy = busy(&self.runtimes).saturating_sub(self.busy_before);
        if let Some(rest) = rest_after(took, busy) {
            std::thread::sleep(rest);
        }
    }
}

/// The rest after a key that took `took` while the runtime's workers were busy for `busy`
/// (summed over workers).
fn rest_after(took: Duration, busy: Duration) -> Option<Duration> {
    (busy * 2 >= took && !took.is_zero()).then(|| (took * REST_FACTOR).min(MAX_REST))
}

/// A fixed set of threads taking jobs from a [`FairQueue`]; they finish the jobs queued and
/// end when the pool is dropped.
struct FreshWorkers {
    shared: Arc<(Mutex<FairQueue<Job>>, Condvar)>,
}

impl std::fmt::Debug for FreshWorkers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreshWorkers").finish_non_exhaustive()
    }
}

impl FreshWorkers {
    fn start(threads: usize) -> Self {
        let shared = Arc::new((Mutex::new(FairQueue::default()), Condvar::new()));
        for n in 0..threads {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("ecs-mock-keygen-{n}"))
                .spawn(move || {
                    lower_priority();
                    let (queue, ready) = &*shared;
                    loop {
                        let job: Job = {
                            let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                            loop {
                                if let Some(job) = queue.pop() {
                                    break job;
                                }
                                if queue.closed {
                                    return;
                                }
                                queue = ready.wait(queue).unwrap_or_else(|p| p.into_inner());
                            }
                        };
                        job();
                    }
                })
                .expect("spawning a key generation thread");
        }
        Self { shared }
    }

    fn submit(&self, tenant: &str, job: Job) {
        let (queue, ready) = &*self.shared;
        queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tenant, job);
        ready.notify_one();
    }
}

impl Drop for FreshWorkers {
    fn drop(&mut self) {
        let (queue, ready) = &*self.shared;
        queue.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
        ready.notify_all();
    }
}

/// Jobs waiting, one FIFO per tenant, the tenants served in turn. With a single FIFO, one
/// test suite creating a hundred keys made every other AccessKeyId sharing the server wait
/// behind all of them (40 ms each); now another tenant's create waits for at most one key
/// of each tenant ahead of it in the turn.
struct FairQueue<T> {
    waiting: HashMap<Box<str>, VecDeque<T>>,
    /// Tenants with jobs waiting, the next to be served first.
    turns: VecDeque<Box<str>>,
    closed: bool,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            waiting: HashMap::new(),
            turns: VecDeque::new(),
            closed: false,
        }
    }
}

impl<T> FairQueue<T> {
    fn push(&mut self, tenant: &str, job: T) {
        if let Some(jobs) = self.waiting.get_mut(tenant) {
            jobs.push_back(job);
        } else {
            self.waiting.insert(tenant.into(), [job].into());
            self.turns.push_back(tenant.into());
        }
    }

    fn pop(&mut self) -> Option<T> {
        let tenant = self.turns.pop_front()?;
        let jobs = self
            .waiting
            .get_mut(&tenant)
            .expect("a tenant in the turn has jobs waiting");
        let job = jobs
            .pop_front()
            .expect("a tenant's queue is never left empty");
        if jobs.is_empty() {
            self.waiting.remove(&tenant);
        } else {
            self.turns.push_back(tenant);
        }
        Some(job)
    }
}

/// Puts the calling thread in the `SCHED_IDLE` class (best effort): it then runs only on CPU
/// time no ordinary thread wants, and a request handler waking up preempts it at once. Nice
/// 10 was not enough: the generator still took a quarter of a core from a loaded server and
/// cheap actions kept only 0.6x of their idle rate. The price: while other work saturates
/// every core, fresh CreateKeyPair calls wait.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
            ThreadPriority, ThreadSchedulePolicy,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if let Err(e) =
            set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle)
        {
            tracing::debug!(error = ?e, "cannot lower the key generation thread's priority");
        }
    }
}

/// A process-wide slot per seed: tests and servers with the same seed share one pool.
type PoolSlot = watch::Receiver<Option<Arc<PrimePool>>>;

fn pool_slots() -> &'static Mutex<HashMap<u64, PoolSlot>> {
    static SLOTS: OnceLock<Mutex<HashMap<u64, PoolSlot>>> = OnceLock::new();
    SLOTS.get_or_init(Mutex::default)
}

/// The slot of `seed`'s prime pool, starting its build on a background thread on first call.
fn pool_slot(seed: u64, cache: Option<&Arc<KeyCache>>) -> PoolSlot {
    let mut slots = pool_slots().lock().unwrap_or_else(|p| p.into_inner());
    slots
        .entry(seed)
        .or_insert_with(|| {
            let (tx, rx) = watch::channel(None);
            let cache = cache.cloned();
            std::thread::Builder::new()
                .name(format!("ecs-mock-prime-pool-{seed}"))
                .spawn(move || {
                    let started = std::time::Instant::now();
                    let pool = build_prime_pool(seed, cache.as_deref());
                    tracing::info!(
                        seed,
                        primes = pool.len(),
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "fast-mode prime pool ready"
                    );
                    tx.send_replace(Some(Arc::new(pool)));
                })
                .expect("spawning the prime pool thread");
            rx
        })
        .clone()
}

/// Waits for the pool of a slot (dropping the wait does not cancel the build).
async fn prime_pool(mut slot: PoolSlot) -> Arc<PrimePool> {
    let ready = slot
        .wait_for(Option::is_some)
        .await
        .expect("the prime pool thread delivers its pool before ending");
    Arc::clone(ready.as_ref().expect("waited for Some"))
}

/// The pool keys of `seed`, from the cache or generated (and cached) on `cores − 1` threads.
fn build_prime_pool(seed: u64, cache: Option<&KeyCache>) -> PrimePool {
    let workers = fresh_workers().min(keygen::POOL_KEYS);
    let next = AtomicU64::new(0);
    let mut keys: Vec<Option<rsa::PrivateKey>> = vec![None; keygen::POOL_KEYS];
    let produced: Vec<(usize, rsa::PrivateKey)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    lower_priority();
                    let mut out = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed) as usize;
                        if index >= keygen::POOL_KEYS {
                            return out;
                        }
                        let id = keygen::pool_cache_id(seed, index);
                        let key = match cache.and_then(|c| c.load_key(&id)) {
                            Some(key) => key,
                            None => {
                                let key = keygen::pool_key(seed, index);
                                if let Some(c) = cache {
                                    c.store(&id, &keygen::material(&key).private_key_pem);
                                }
                                key
                            }
                        };
                        out.push((index, key));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("pool key generation does not panic"))
            .collect()
    });
    for (index, key) in produced {
        keys[index] = Some(key);
    }
    let mut keys: Vec<rsa::PrivateKey> = keys
        .into_iter()
        .map(|k| k.expect("every index was produced"))
        .collect();
    // The cache trusts its directory, but a pool entry copied over another would leave the
    // pool short of primes, and with too few pairs for a region's 500 key pairs fast creates
    // would search without end. An entry sharing a prime with an earlier one is therefore
    // made again (the pool keys' own primes are distinct) and its file rewritten.
    let mut seen: Vec<rsa::BoxedUint> = Vec::with_capacity(keygen::POOL_PRIMES);
    for (index, key) in keys.iter_mut().enumerate() {
        use rsa::traits::PrivateKeyParts;
        let fresh = key.primes().iter().all(|p| !seen.contains(p));
        if !fresh {
            *key = keygen::pool_key(seed, index);
            if let Some(c) = cache {
                let id = keygen::pool_cache_id(seed, index);
                c.store(&id, &keygen::material(key).private_key_pem);
            }
        }
        seen.extend(key.primes().iter().map(|p| p.as_ref().clone()));
    }
    PrimePool::from_keys(&keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keycache::tests::TempDir;

    #[test]
    fn a_fingerprint_claimed_after_a_reset_creates_no_account() {
        // The create that claims it was forgotten by the reset and will not be stored; its
        // claim used to re-create the tenant's account, empty, in the state that the reset
        // had just cleared.
        let store = Store::new(0);
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "k", 0, "fp"));
        assert!(store.export().accounts.is_empty());
    }

    #[test]
    fn generation_rests_only_after_a_key_made_while_the_runtime_was_busy() {
        let ms = Duration::from_millis;
        // Quiet (a burst of creates alone): no rest.
        assert_eq!(rest_after(ms(40), ms(1)), None);
        assert_eq!(rest_after(ms(40), ms(19)), None);
        // Workers busy half the time or more: three times the key's time.
        assert_eq!(rest_after(ms(40), ms(20)), Some(ms(120)));
        assert_eq!(
            rest_after(ms(40), ms(80)),
            Some(ms(120)),
            "two busy workers"
        );
        // Capped, so that a slow build does not stall the queue.
        assert_eq!(rest_after(ms(2_000), ms(2_000)), Some(MAX_REST));
        assert_eq!(rest_after(Duration::ZERO, Duration::ZERO), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fresh_generation_threads_run_at_idle_priority() {
        use thread_priority::{
            thread_schedule_policy, NormalThreadSchedulePolicy, ThreadSchedulePolicy,
        };
        // Arrange
        let workers = FreshWorkers::start(1);
        let (tx, rx) = std::sync::mpsc::channel();
        // Act
        workers.submit(
            "t",
            Box::new(move || {
                tx.send(thread_schedule_policy().unwrap()).unwrap();
            }),
        );
        // Assert
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        assert_eq!(rx.recv().unwrap(), idle);
        assert_ne!(
            thread_schedule_policy().unwrap(),
            idle,
            "only the worker thread is lowered"
        );
    }

    #[test]
    fn tenants_waiting_for_keys_are_served_in_turn() {
        // Arrange
        let mut queue = FairQueue::default();
        for job in ["a1", "a2", "a3"] {
            queue.push("a", job);
        }
        queue.push("b", "b1");
        queue.push("c", "c1");
        queue.push("b", "b2");
        // Act
        let first: Vec<_> = std::iter::from_fn(|| queue.pop()).take(4).collect();
        queue.push("c", "c2");
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        // Assert
        assert_eq!(first, ["a1", "b1", "c1", "a2"]);
        assert_eq!(
            rest,
            ["b2", "a3", "c2"],
            "a tenant back after its turn queues last"
        );
        assert!(queue.waiting.is_empty() && queue.turns.is_empty());
    }

    #[test]
    fn a_tenants_create_does_not_wait_behind_another_tenants_backlog() {
        // Arrange: one thread, busy until released, then ten keys of tenant "a" queued
        // before one of "b".
        let workers = FreshWorkers::start(1);
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (running, started) = std::sync::mpsc::channel::<()>();
        let (done, order) = std::sync::mpsc::channel();
        workers.submit(
            "a",
            Box::new(move || {
                running.send(()).unwrap();
                blocked.recv().unwrap();
            }),
        );
        started.recv().unwrap();
        for n in 0..10 {
            let done = done.clone();
            workers.submit("a", Box::new(move || done.send(format!("a{n}")).unwrap()));
        }
        let b_done = done.clone();
        workers.submit("b", Box::new(move || b_done.send("b0".into()).unwrap()));
        drop(done);
        // Act
        release.send(()).unwrap();
        drop(workers); // the queued jobs still run
        let ran: Vec<String> = order.iter().collect();
        // Assert
        assert_eq!(ran.len(), 11);
        assert_eq!(
            ran[..3],
            ["a0", "b0", "a1"],
            "b waited for one key of a, not ten"
        );
    }

    #[test]
    fn the_prime_pool_is_the_same_from_the_cache_as_generated() {
        // Arrange
        let tmp = TempDir::new("pool");
        let cache = KeyCache::new(tmp.0.clone());
        // Act
        let generated = build_prime_pool(5, Some(&cache));
        let files = std::fs::read_dir(&tmp.0).unwrap().count();
        let loaded = build_prime_pool(5, Some(&cache));
        // Assert
        assert_eq!(files, keygen::POOL_KEYS);
        assert_eq!(generated.len(), keygen::POOL_PRIMES);
        for (i, j) in [(0, 1), (0, 63), (17, 42)] {
            assert_eq!(generated.key(i, j), loaded.key(i, j));
        }
    }

    #[test]
    fn pool_entries_copied_over_each_other_are_made_again() {
        // Regression (key cache review #1): with every pool entry a copy of the first, the
        // pool held two primes, one pair, and the second fast create spun for ever on a
        // request thread.
        // Arrange
        let tmp = TempDir::new("pool-copies");
        let cache = KeyCache::new(tmp.0.clone());
        let generated = build_prime_pool(6, Some(&cache));
        let first = cache.entry_path(&keygen::pool_cache_id(6, 0));
        for index in 1..keygen::POOL_KEYS {
            std::fs::copy(&first, cache.entry_path(&keygen::pool_cache_id(6, index))).unwrap();
        }
        // Act
        let loaded = build_prime_pool(6, Some(&cache));
        // Assert: the pool of the seed, and the entries put right.
        assert_eq!(loaded.len(), keygen::POOL_PRIMES);
        for (i, j) in [(0, 1), (2, 3), (0, 63), (17, 42)] {
            assert_eq!(loaded.key(i, j), generated.key(i, j));
        }
        let last = cache.entry_path(&keygen::pool_cache_id(6, keygen::POOL_KEYS - 1));
        assert_ne!(
            std::fs::read(&last).unwrap(),
            std::fs::read(&first).unwrap()
        );
    }

    #[tokio::test]
    async fn fresh_generation_is_refused_past_the_backlog_but_a_cached_key_never_is() {
        // Regression (resource audit #5): creates whose clients hung up queued keys without
        // end, and an unrelated tenant's create waited 40 s behind 1,500 of them.
        // Arrange: a cache holding one key, and a backlog one short of full.
        let tmp = TempDir::new("backlog");
        let settings = KeySettings {
            mode: KeyMode::Fresh,
            cache_dir: Some(tmp.0.clone()),
        };
        let pool = KeyPool::new(&settings, Store::new(3)).limit_backlog(4);
        let max = 4 + ABANDONED_BACKLOG;
        let cached = keygen::generate(3, "t", "cn-hangzhou", "cached", 0);
        pool.cache.as_ref().unwrap().store(
            &keygen::cache_id(3, "t", "cn-hangzhou", "cached", 0),
            &cached.private_key_pem,
        );
        let held: Vec<InBacklog> = (0..max - 1)
            .map(|_| InBacklog::enter(&pool.backlog, pool.max_backlog).unwrap())
            .collect();
        let last = InBacklog::enter(&pool.backlog, pool.max_backlog).unwrap();
        // Act
        let refused = pool.generate(3, "t", "cn-hangzhou", "new", 0, 0).await;
        let hit = pool.generate(3, "t", "cn-hangzhou", "cached", 0, 0).await;
        drop(last);
        let after_one_left = InBacklog::enter(&pool.backlog, pool.max_backlog);
        // Assert
        assert_eq!(refused, Err(Backlogged));
        assert_eq!(hit.unwrap(), cached);
        assert!(
            after_one_left.is_ok(),
            "a finished generation frees its place"
        );
        drop(held);
        drop(after_one_left);
        assert_eq!(pool.backlog.load(Ordering::Acquire), 0);
    }
}
