//! Domain state: tenants (one per AccessKeyId) → regions → key pairs, plus each tenant's
//! resource groups.
//!
//! The accounts sit behind one `std::sync::Mutex`, and the per-tenant RequestId and call
//! counters, which every request touches, behind a `ShardedLock` of their own: every critical
//! section is a few map operations and never spans an `.await`, so sync locks are cheaper and
//! simpler than async ones. RSA generation is the slow part of CreateKeyPair and must not run under the lock, so
//! creation is split in two: [`Store::reserve`] claims the name (making concurrent creates of
//! the same name and the per-region quota exact) and [`Reservation::commit`] stores the result.
//! A reservation dropped without commit (error, client gone) frees the name again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crossbeam_utils::sync::{ShardedLock, ShardedLockWriteGuard};

use bytes::Bytes;
use indexmap::IndexMap;

use crate::actions::Action;
use crate::error::{ApiError, Kind};
use crate::ids;
use crate::keygen::Fingerprint;
use crate::resets::ResetLog;
use crate::statecheck::COUNTER_MAX;
use crate::validate::Tag;

/// The hasher of the maps every request looks up (accounts, regions, names, counters, nonces):
/// foldhash rather than std's SipHash, which was a twentieth of an import's instructions.
/// Each map gets its own random seed, so keys chosen to collide in one run do not carry
/// over to the next.
pub type FastHash = foldhash::fast::RandomState;
pub type HashMap<K, V> = std::collections::HashMap<K, V, FastHash>;
pub type HashSet<K> = std::collections::HashSet<K, FastHash>;

/// Distinct AccessKeyIds whose RequestId counters are kept apart.
pub const MAX_COUNTED_TENANTS: usize = 100_000;

/// Accounts the store keeps: a request from a further new AccessKeyId is refused (see
/// [`Store::admits`]), so that signed requests with ever new AccessKeyIds cannot grow memory
/// without bound.
pub const MAX_ACCOUNTS: usize = 100_000;

/// The longest AccessKeyId the mock keeps anything under (real ones are 24 characters, STS
/// ones about 30): the counts above bound how many tenants are kept, this how large each
/// one's keys are, which the request's size (up to 64 KiB) would otherwise decide.
pub const MAX_ACCESS_KEY_ID_LEN: usize = 128;

/// A tenant's calls per action, by [`Action::index`]: the journal's call numbers.
type CallCounts = [AtomicU64; Action::ALL.len()];

/// A tenant's request counters (see [`Store::count_request`]).
#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    /// Shared with [`Counts::calls`]; `None` for a tenant whose calls are not numbered.
    calls: Option<Arc<CallCounts>>,
}

/// Every tenant's counters, under one lock.
#[derive(Debug, Default)]
struct Counts {
    /// RequestId ordinals (and the tenant's call counters): what a restore replaces.
    tenants: HashMap<String, Counters>,
    /// Call counters by tenant, apart so that a restore keeps them (they number the journal's
    /// entries, which it keeps, as the scenario engine's rule counters, which it keeps too).
    /// At most [`MAX_COUNTED_TENANTS`].
    calls: HashMap<String, Arc<CallCounts>>,
}

impl Counts {
    /// `tenant`'s counters restored from a state document at `requests`, with its call
    /// counters (which a restore keeps). The shared counter of tenants past the cap, or of
    /// over-long AccessKeyIds (`""`), numbers no calls.
    fn restored(&mut self, tenant: &str, requests: u64) -> Counters {
        let calls = (!tenant.is_empty())
            .then(|| self.calls_of(tenant))
            .flatten();
        Counters {
            requests: AtomicU64::new(requests),
            calls,
        }
    }

    /// The call counters of `tenant`, added while there is room.
    fn calls_of(&mut self, tenant: &str) -> Option<Arc<CallCounts>> {
        if let Some(calls) = self.calls.get(tenant) {
            return Some(Arc::clone(calls));
        }
        (self.calls.len() < MAX_COUNTED_TENANTS)
            .then(|| Arc::clone(self.calls.entry(tenant.to_string()).or_default()))
    }
}

/// A request's place in its tenant's count, from which its RequestId derives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ordinal {
    /// 1, 2, … in the tenant's own count, or in the shared one.
    pub n: u64,
    /// Counted on the counter that tenants past [`MAX_COUNTED_TENANTS`] and over-long
    /// AccessKeyIds share. A tenant counted there may get its own counter later (a reset
    /// frees room), which starts again at 1: its RequestIds derive apart from its own
    /// count's, so that they never repeat (`ids::shared_request_id`).
    pub shared: bool,
}

impl Ordinal {
    /// The RequestId of `tenant`'s request counted here.
    pub fn request_id(self, seed: u64, tenant: &str) -> String {
        if self.shared {
            crate::ids::shared_request_id(seed, tenant, self.n)
        } else {
            crate::ids::request_id(seed, tenant, self.n)
        }
    }
}

/// The number of tenants with their own RequestId counter: the shared one (`""`) is not one.
fn own_counters(tenants: &HashMap<String, Counters>) -> usize {
    tenants.len() - usize::from(tenants.contains_key(""))
}

/// A tenant's call counters, lent by [`Store::count_request`].
pub struct Calls<'a>(Option<&'a CallCounts>);

impl Calls<'_> {
    /// The n-th call of `action` by the tenant this is (1, 2, …), what a replayed rule's
    /// sequence counts; `None` for a tenant whose calls are not numbered: past
    /// [`MAX_COUNTED_TENANTS`] tenants, or with an AccessKeyId over [`MAX_ACCESS_KEY_ID_LEN`]
    /// bytes.
    pub fn next(&self, action: Action) -> Option<u64> {
        self.0
            .map(|calls| calls[action.index()].fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Key pairs one account may hold in one region.
pub const KEY_PAIR_QUOTA: usize = 500;

/// Names whose creations one region of an account counts past the first (deleted names, and
/// live ones created again; see `RegionState::generations`); past it, the deleted names'
/// counts are forgotten all at once. A client that creates and deletes ever new names (a
/// fuzzing campaign) would otherwise grow the region, and every state export, by ~120 bytes
/// a name without end.
pub const MAX_GENERATIONS: usize = 10_000;

/// How a key pair came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Origin {
    Created,
    Imported,
}

/// A stored key pair. The private key is never stored: the service returns it once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    pub name: String,
    pub id: String,
    pub fingerprint: String,
    /// OpenSSH `type base64` form, shown by `DescribeKeyPairs IncludePublicKey=true`.
    pub public_key: String,
    pub resource_group_id: String,
    pub tags: Vec<Tag>,
    /// Unix seconds.
    pub creation_time: u64,
    /// Position in the tenant's creation order; the listing order of DescribeKeyPairs.
    pub sequence: u64,
    pub origin: Origin,
    /// DescribeKeyPairs' JSON of the fields that never change (creation time, name,
    /// fingerprint), made on the first listing: re-rendering them was a fifth of a page's cost.
    #[serde(skip)]
    pub listing_head: Memo<Box<[u8]>>,
}

impl KeyPair {
    fn new(name: String, id: String, sequence: u64, new: NewKeyPair) -> Self {
        Self {
            name,
            id,
            fingerprint: new.fingerprint,
            public_key: new.public_key,
            resource_group_id: new.resource_group_id,
            tags: new.tags,
            creation_time: new.creation_time,
            sequence,
            origin: new.origin,
            listing_head: Memo::default(),
        }
    }
}

/// A value derived from fields that never change, made on first use. It takes no part in
/// equality or persistence, so a copy made by `Arc::make_mut` keeps a still-valid value.
#[derive(Debug, Clone, Default)]
pub struct Memo<T>(std::sync::OnceLock<T>);

impl<T> Memo<T> {
    pub fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        self.0.get_or_init(make)
    }
}

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

/// A region of one account.
#[derive(Debug)]
pub struct RegionState {
    /// Key pairs by name, kept in creation (`sequence`) order: the listing order of
    /// DescribeKeyPairs and ListTagResources, so that paging needs no sort. Remove with
    /// `shift_remove` to keep the order (at most 500 entries). Shared so that a listing
    /// copies references out of the lock and renders outside it; change one with
    /// `Arc::make_mut`. Changed only through [`RegionState::key_pairs_mut`].
    key_pairs: IndexMap<String, Arc<KeyPair>, FastHash>,
    /// Renewed, from a process-wide counter, whenever `key_pairs` may change: the key of the
    /// rendered pages kept by [`Store::page`]. Never reused, so no kept page outlives what it
    /// shows, through resets and restores included.
    version: u64,
    /// Names claimed by a create still generating its key (see [`Pending`]).
    pending: HashMap<String, Pending>,
    /// How many times each name has been created in this region, deletions included: the
    /// `generation` input of key derivation. Only names deleted at least once (or restored)
    /// have an entry; a live name without one was created once. That spares every new key
    /// pair a second copy of its name and an insert here.
    generations: HashMap<String, u64>,
}

/// A create's claim on a name while its key is generated.
#[derive(Debug)]
struct Pending {
    /// Which reservation holds it: after a cancel, the name may be claimed again, and the
    /// first create must not then store its key pair under the second's claim.
    claim: u64,
    generation: u64,
    /// The key pair's place in the account's creation order, taken with the claim: a create
    /// is listed where its request came, not where its key was ready, which a warm key cache,
    /// a cold one and fast mode would each put elsewhere.
    sequence: u64,
    /// The fingerprint fast mode handed the create (see [`Store::claim_fingerprint`]): a
    /// hand-out lives exactly as long as its claim, through commit, release, cancel and
    /// reset alike.
    handed: Option<String>,
}

impl Default for RegionState {
    fn default() -> Self {
        Self {
            key_pairs: IndexMap::default(),
            version: next_version(),
            pending: HashMap::default(),
            generations: HashMap::default(),
        }
    }
}

fn next_version() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl RegionState {
    /// The key pairs, in listing order.
    pub fn key_pairs(&self) -> &IndexMap<String, Arc<KeyPair>, FastHash> {
        &self.key_pairs
    }

    /// Removes key pair `name`, keeping the listing order and the count of its creations.
    pub fn remove(&mut self, name: &str) -> Option<Arc<KeyPair>> {
        if !self.key_pairs.contains_key(name) {
            return None;
        }
        let removed = self.key_pairs_mut().shift_remove(name);
        if !self.generations.contains_key(name) {
            self.generations.insert(name.to_string(), 1);
            self.forget_past_cap();
        }
        removed
    }

    /// Keeps the counted names within [`MAX_GENERATIONS`]: past it, every deleted name's
    /// count is forgotten, so a name created again starts over at generation 0 (its first key
    /// and id again). Live and pending names keep theirs. The counts decide which key a name
    /// gets next, so what is forgotten depends only on the requests: never on the map's
    /// order, and not on a restore, which drops the entries a state file adds for live names
    /// created once (see `account_of`). Checked only when an entry is added, and the clearing
    /// scans the map once per several thousand additions.
    fn forget_past_cap(&mut self) {
        if self.generations.len() <= MAX_GENERATIONS {
            return;
        }
        let (key_pairs, pending) = (&self.key_pairs, &self.pending);
        self.generations
            .retain(|n, _| key_pairs.contains_key(n) || pending.contains_key(n));
    }

    /// Cancels the create of `name` still generating its key, as if it had been stored and
    /// then deleted: the create still answers with its key pair, which is not stored, and
    /// the name's next creation is a new generation. True if there was one.
    pub fn cancel_pending(&mut self, name: &str) -> bool {
        let Some(p) = self.pending.remove(name) else {
            return false;
        };
        self.generations.insert(name.to_string(), p.generation + 1);
        self.forget_past_cap();
        true
    }

    /// The key pairs, to change: pages rendered from them so far are no longer used. Remove
    /// with [`RegionState::remove`], which keeps the generation count.
    pub fn key_pairs_mut(&mut self) -> &mut IndexMap<String, Arc<KeyPair>, FastHash> {
        self.version = next_version();
        &mut self.key_pairs
    }

    /// Whether `name` exists or is being created.
    pub fn is_taken(&self, name: &str) -> bool {
        self.key_pairs.contains_key(name) || self.pending.contains_key(name)
    }

    /// The generation a new key pair named `name` would have.
    ///
    /// # Errors
    /// `KeyPair.AlreadyExist` if the name exists or is being created; `QuotaExceed.KeyPair`
    /// if the region already holds (or is creating) [`KEY_PAIR_QUOTA`] key pairs.
    fn claimable(&self, name: &str) -> Result<u64, ApiError> {
        if self.is_taken(name) {
            return Err(ApiError::new(Kind::KeyPairAlreadyExist));
        }
        if self.key_pairs.len() + self.pending.len() >= KEY_PAIR_QUOTA {
            return Err(ApiError::new(Kind::QuotaExceedKeyPair));
        }
        Ok(self.generations.get(name).copied().unwrap_or(0))
    }
}

/// The guest OS family of an instance: only Linux instances take key pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OsType {
    Linux,
    Windows,
}

/// An ECS instance of an account, declared by fixtures; key pairs attach to it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Instance {
    pub id: String,
    pub region_id: String,
    /// `Running`, `Stopped`, … as the fixtures say; informational.
    pub status: String,
    pub os_type: OsType,
    /// The attached key pair, if any (an instance holds at most one).
    pub key_pair_name: Option<String>,
}

/// One tenant's state. Actions read and change it through [`Store::with_account`].
#[derive(Debug)]
pub struct Account {
    /// The group resources join when no ResourceGroupId is given.
    pub default_resource_group: String,
    /// Every group of the account, the default one included.
    pub resource_groups: BTreeSet<String>,
    regions: HashMap<String, RegionState>,
    /// Instances by id.
    pub instances: BTreeMap<String, Instance>,
    next_sequence: u64,
    /// Unique to this account object: a reset or restore replaces the object, and a
    /// reservation made on the old one must not complete into the new one.
    incarnation: u64,
}

impl Account {
    /// The next place in the account's creation order, if one more key pair, of generation
    /// `generation` of its name, may be counted: the account's sequence and the name's
    /// generation must stay within what a state document may hold, or the state this server
    /// saves would not load again.
    ///
    /// # Errors
    /// `InternalError` at [`COUNTER_MAX`], reachable only from a document that starts there.
    fn take_sequence(&mut self, generation: u64, wording: Kind) -> Result<u64, ApiError> {
        if self.next_sequence >= COUNTER_MAX || generation >= COUNTER_MAX {
            return Err(ApiError::new(wording));
        }
        self.next_sequence += 1;
        Ok(self.next_sequence - 1)
    }

    /// The state of `region` (created empty on first use).
    pub fn region(&mut self, region: &str) -> &mut RegionState {
        if !self.regions.contains_key(region) {
            self.regions
                .insert(region.to_string(), RegionState::default());
        }
        self.regions.get_mut(region).expect("inserted above")
    }

    /// The state of `region` if anything ever happened there.
    pub fn region_ref(&self, region: &str) -> Option<&RegionState> {
        self.regions.get(region)
    }

    /// [`Account::region_ref`], to change: for what only changes existing key pairs, which
    /// must not leave an empty region in the exported state.
    pub fn region_mut(&mut self, region: &str) -> Option<&mut RegionState> {
        self.regions.get_mut(region)
    }

    /// Writes the resource group `requested` resolves to into `out` (emptied first), which
    /// the caller sized outside the lock.
    fn resolve_resource_group_into(
        &self,
        requested: Option<&str>,
        out: &mut String,
    ) -> Result<(), ApiError> {
        let group = match requested {
            None => &self.default_resource_group,
            Some(id) => self
                .resource_groups
                .get(id)
                .ok_or_else(|| ApiError::new(Kind::InvalidResourceGroupNotFound))?,
        };
        out.clear();
        out.push_str(group);
        Ok(())
    }

    /// Resolves the group of `kp` (whose id is its name's first generation's), claims its
    /// name `key` in `region` and stores it at the next place of the creation order, with the
    /// id of the name's generation: an import, or a fixture. `at` is (seed, tenant, region).
    ///
    /// # Errors
    /// `InvalidResourceGroup.NotFound`, `KeyPair.AlreadyExist`, `QuotaExceed.KeyPair`, and
    /// `wording` at the counter limit (see `take_sequence`).
    fn add(
        &mut self,
        (seed, tenant, region): (u64, &str, &str),
        key: String,
        mut kp: Arc<KeyPair>,
        requested_group: Option<&str>,
        wording: Kind,
    ) -> Result<Arc<KeyPair>, ApiError> {
        let fresh = Arc::get_mut(&mut kp).expect("a new key pair");
        self.resolve_resource_group_into(requested_group, &mut fresh.resource_group_id)?;
        let generation = self.region(region).claimable(&key)?;
        let sequence = self.take_sequence(generation, wording)?;
        if generation != 0 {
            fresh.id = ids::key_pair_id(seed, tenant, region, &key, generation);
        }
        Ok(self.put(region, key, kp, sequence))
    }

    /// Stores a new key pair under a name that is not (or no longer) pending, at its place
    /// `sequence` in the creation order, and counts its generation. The key pair and `name`
    /// (its key here) are allocated by the caller, outside the lock: now and then an
    /// allocation faults in a fresh page, and under the lock the other request thread waited
    /// for it.
    fn put(
        &mut self,
        region: &str,
        name: String,
        mut kp: Arc<KeyPair>,
        sequence: u64,
    ) -> Arc<KeyPair> {
        Arc::get_mut(&mut kp).expect("a new key pair").sequence = sequence;
        let state = self.region(region);
        // A first creation is counted by the key pair itself (see `generations`).
        if let Some(n) = state.generations.get_mut(&name) {
            *n += 1;
        }
        let key_pairs = state.key_pairs_mut();
        // Nearly always the highest so far (an import, or a create that no later request
        // overtook): appended. A create whose key took longer than later requests goes back
        // to where its request came.
        if key_pairs
            .last()
            .is_none_or(|(_, last)| last.sequence < sequence)
        {
            key_pairs.insert(name, Arc::clone(&kp));
        } else {
            let at = key_pairs.partition_point(|_, other| other.sequence < sequence);
            key_pairs.shift_insert(at, name, Arc::clone(&kp));
        }
        kp
    }

    /// Ids of the instances in `region` that hold key pair `name`.
    pub fn instances_holding(&self, region: &str, name: &str) -> Vec<String> {
        self.instances
            .values()
            .filter(|i| i.region_id == region && i.key_pair_name.as_deref() == Some(name))
            .map(|i| i.id.clone())
            .collect()
    }
}

#[derive(Debug, Default)]
struct Inner {
    accounts: HashMap<String, Account>,
    pages: Pages,
    /// Resets and restores, which requests counted before them must not write into (see
    /// [`Who`]); kept across a reset of everything.
    resets: ResetLog,
}

/// Whom a store call acts for: a tenant, and for a request, the store's [`Store::epoch`]
/// when it was counted. Once a reset of the tenant (or of all) or a restored state has come
/// in between, the request belongs to what that forgot: the store refuses it
/// (`503 ServiceUnavailable`) rather than let it into the new state. A bare tenant (fixtures,
/// tests) acts on the state as it is.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub tenant: &'a str,
    pub counted: Option<u64>,
}

impl<'a> From<&'a str> for Who<'a> {
    fn from(tenant: &'a str) -> Self {
        Self {
            tenant,
            counted: None,
        }
    }
}

impl<'a> From<&'a String> for Who<'a> {
    fn from(tenant: &'a String) -> Self {
        tenant.as_str().into()
    }
}

impl Inner {
    fn admit(&self, who: Who<'_>) -> Result<(), ApiError> {
        match who.counted {
            Some(epoch) if self.resets.since(epoch, who.tenant) => {
                Err(ApiError::new(Kind::ServiceUnavailable))
            }
            _ => Ok(()),
        }
    }
}

/// Rendered pages of unfiltered listings, by region version and page: SDK suites and load
/// tests list the same unchanged pages over and over, and rendering 50 items was a seventh of
/// a DescribeKeyPairs request. Bounded by entries and bytes; emptied when either is reached.
#[derive(Debug, Default)]
struct Pages {
    rendered: HashMap<(u64, PageKey), Bytes>,
    bytes: usize,
}

const MAX_PAGES: usize = 64;
const MAX_PAGE_BYTES: usize = 8 << 20;

/// Which page of a region's listing, and how it is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageKey {
    pub skip: usize,
    pub size: usize,
    /// Whether items carry their public key.
    pub public_key: bool,
}

/// A page of a region's unfiltered listing: kept rendered, or the key pairs to render (and
/// to hand to [`Store::keep_page`] with `version`).
#[derive(Debug)]
pub enum Page {
    Rendered {
        total: usize,
        items: Bytes,
    },
    Listed {
        total: usize,
        version: Option<u64>,
        key_pairs: Vec<Arc<KeyPair>>,
    },
}

/// The accounts as [`Store::reset_with`]'s `refill` sees them, under the store's lock.
pub struct Refill<'a> {
    seed: u64,
    fingerprint: Fingerprint,
    accounts_len: &'a AtomicUsize,
    accounts: &'a mut HashMap<String, Account>,
}

impl Refill<'_> {
    /// The store's [`Store::fingerprint`], which the key pairs put back carry.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The tenant's account, created as a request would create it.
    ///
    /// # Errors
    /// `InvalidAccessKeyId.NotFound` for a new tenant when the store is full.
    pub fn account(&mut self, tenant: &str) -> Result<&mut Account, ApiError> {
        Store::account(self.seed, self.accounts_len, self.accounts, tenant)
    }

    /// Stores key pair `name` of `tenant` in `region` as an import would (a fixture), with
    /// the KeyPairId a create of that name would get; one the region holds under that name
    /// is replaced in place, keeping its id and its place in the listing.
    ///
    /// # Errors
    /// `InvalidAccessKeyId.NotFound` for a new tenant when the store is full,
    /// `InvalidResourceGroup.NotFound`, `QuotaExceed.KeyPair`, and `InternalError` at the
    /// account's counter limit.
    pub fn put_key_pair(
        &mut self,
        tenant: &str,
        region: &str,
        name: &str,
        requested_group: Option<&str>,
        mut new: NewKeyPair,
    ) -> Result<(), ApiError> {
        let seed = self.seed;
        let account = self.account(tenant)?;
        // Looked up, not created: a refused key pair must not leave an empty region behind.
        let old = account
            .region_ref(region)
            .and_then(|r| r.key_pairs.get(name))
            .map(|old| (old.id.clone(), old.sequence));
        if let Some((id, sequence)) = old {
            account.resolve_resource_group_into(requested_group, &mut new.resource_group_id)?;
            let kp = KeyPair::new(name.to_string(), id, sequence, new);
            account
                .region(region)
                .key_pairs_mut()
                .insert(name.to_string(), Arc::new(kp));
            return Ok(());
        }
        let id = ids::key_pair_id(seed, tenant, region, name, 0);
        let kp = Arc::new(KeyPair::new(name.to_string(), id, 0, new));
        let added = (seed, tenant, region);
        account.add(
            added,
            name.to_string(),
            kp,
            requested_group,
            Kind::InternalError,
        )?;
        Ok(())
    }
}

/// The whole mock's state, shared by every connection.
#[derive(Debug)]
pub struct Store {
    seed: u64,
    fingerprint: Fingerprint,
    inner: Mutex<Inner>,
    /// RequestId ordinals per tenant, apart from `inner` (taken after it when both are
    /// needed): every request counts before anything else, and a counter under a read lock
    /// lets the worker threads count without waiting for each other or for an action. The
    /// read lock is sharded by thread: one lock word shared by the request threads passed
    /// between the cores on every request.
    ordinals: ShardedLock<Counts>,
    /// How many accounts `inner` holds, written under its lock and read without it: below
    /// [`MAX_ACCOUNTS`], admitting a request takes no lock.
    accounts_len: AtomicUsize,
    /// `Inner::resets`' count, changed under both locks: a request reads it where it is
    /// counted, so it sees a reset or restore either whole or not at all.
    epoch: AtomicU64,
}

impl Store {
    pub fn new(seed: u64) -> Arc<Self> {
        Self::with_fingerprint(seed, Fingerprint::Md5)
    }

    /// A store whose key pairs carry `fingerprint`'s digest (`--fingerprint`): imports,
    /// creates, fixtures and restored states alike.
    pub fn with_fingerprint(seed: u64, fingerprint: Fingerprint) -> Arc<Self> {
        Arc::new(Self {
            seed,
            fingerprint,
            inner: Mutex::new(Inner::default()),
            ordinals: ShardedLock::default(),
            accounts_len: AtomicUsize::new(0),
            epoch: AtomicU64::new(0),
        })
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// Resets and restores so far: what a request notes where it is counted (inside
    /// [`Store::count_request`]'s `then`), for [`Who::counted`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Relaxed)
    }

    /// Whether a reset or restore since `who` was counted forgot its tenant: a request
    /// delayed by a scenario checks this before it starts.
    pub fn forgot(&self, who: Who<'_>) -> bool {
        self.lock().admit(who).is_err()
    }

    /// Forgets one tenant (its account and RequestId ordinals) or, with `None`, every tenant:
    /// the control API's reset. A reset tenant starts again exactly like a new one.
    pub fn reset(&self, tenant: Option<&str>) {
        self.reset_with(tenant, || (), |_| ());
    }

    /// [`Store::reset`], running `also` while no request is being counted: the control API
    /// resets the scenario engine's rule counters there, so that no request is numbered by
    /// the reset call counters and decided by the engine's old ones (an offset that would
    /// last until the next reset). Then `refill` recreates what a reset account starts with
    /// (its fixtures) in the same critical section: done after it, a new tenant could take
    /// the place the reset freed, and leave a full store no room for the fixtures' account.
    pub fn reset_with(
        &self,
        tenant: Option<&str>,
        also: impl FnOnce(),
        refill: impl FnOnce(&mut Refill<'_>),
    ) {
        let mut inner = self.lock();
        let mut ordinals = self.ordinals_mut();
        match tenant {
            Some(t) => {
                inner.accounts.remove(t);
                ordinals.tenants.remove(t);
                ordinals.calls.remove(t);
            }
            None => {
                let resets = std::mem::take(&mut inner.resets);
                *inner = Inner {
                    resets,
                    ..Inner::default()
                };
                *ordinals = Counts::default();
            }
        }
        let n = inner.resets.record(tenant);
        self.epoch.store(n, Ordering::Relaxed);
        self.accounts_len
            .store(inner.accounts.len(), Ordering::Relaxed);
        // Requests count under the read lock, then decide: holding the write lock, the
        // reset is between two requests for every tenant.
        also();
        refill(&mut self.refill_of(&mut inner));
    }

    /// Runs `f` on the accounts under the store lock (fixtures at start).
    pub fn refill(&self, f: impl FnOnce(&mut Refill<'_>)) {
        f(&mut self.refill_of(&mut self.lock()));
    }

    fn refill_of<'a>(&'a self, inner: &'a mut Inner) -> Refill<'a> {
        Refill {
            seed: self.seed,
            fingerprint: self.fingerprint,
            accounts_len: &self.accounts_len,
            accounts: &mut inner.accounts,
        }
    }

    /// Whether a request of `tenant` may go on: always for a tenant the store knows, and for
    /// a new one while the store holds fewer than [`MAX_ACCOUNTS`] accounts. A bound on
    /// memory, not a quota: requests of new tenants racing at the limit may each be admitted.
    pub fn admits(&self, tenant: &str) -> bool {
        tenant.len() <= MAX_ACCESS_KEY_ID_LEN
            && (self.accounts_len.load(Ordering::Relaxed) < MAX_ACCOUNTS
                || self.lock().accounts.contains_key(tenant))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a map half-updated (each section is a
        // handful of infallible inserts/removes), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ordinals_mut(&self) -> ShardedLockWriteGuard<'_, Counts> {
        // Each section is one insert, remove or clear: a poisoned lock is still consistent.
        self.ordinals
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's account, created on first use while the store holds fewer than
    /// [`MAX_ACCOUNTS`].
    ///
    /// # Errors
    /// `InvalidAccessKeyId.NotFound` for a new tenant once the store is full: requests of new
    /// tenants racing at the cap all pass [`Store::admits`], and only as many as fit may
    /// create an account, or the state a server exports could hold more accounts than a
    /// server starts from.
    fn account<'a>(
        seed: u64,
        accounts_len: &AtomicUsize,
        accounts: &'a mut HashMap<String, Account>,
        tenant: &str,
    ) -> Result<&'a mut Account, ApiError> {
        // Looked up before `entry`, which would allocate the key on every request.
        if !accounts.contains_key(tenant) {
            if accounts.len() >= MAX_ACCOUNTS {
                return Err(ApiError::new(Kind::InvalidAccessKeyIdNotFound));
            }
            let default_resource_group = ids::default_resource_group_id(seed, tenant);
            let account = Account {
                resource_groups: BTreeSet::from([default_resource_group.clone()]),
                default_resource_group,
                regions: HashMap::default(),
                instances: BTreeMap::new(),
                next_sequence: 0,
                incarnation: next_version(),
            };
            accounts.insert(tenant.to_string(), account);
            accounts_len.store(accounts.len(), Ordering::Relaxed);
        }
        Ok(accounts.get_mut(tenant).expect("inserted above"))
    }

    /// [`Store::count_request`] alone, for tests.
    #[cfg(test)]
    pub fn next_request_ordinal(&self, tenant: &str) -> u64 {
        self.count_request(tenant, |ordinal, _| ordinal.n)
    }

    /// Counts a request of `tenant`: its next RequestId ordinal (1, 2, …; RequestIds derive
    /// from it, so a tenant's ids do not depend on other tenants' traffic). Then runs `then`
    /// with the ordinal and the tenant's call counters, under the same read lock: the service
    /// lets the scenario engine number the call as it decides on it (see
    /// `Engine::decide_counting`), and reads the journal's epoch there, with one lookup of
    /// the tenant for both counts. A reset holds the write lock: it falls between two
    /// requests for every tenant.
    pub fn count_request<R>(&self, tenant: &str, then: impl FnOnce(Ordinal, Calls<'_>) -> R) -> R {
        // Bounded: past the cap, new AccessKeyIds (typically a flood of random ones, which
        // never authenticate) share the empty tenant's RequestId counter, as over-long ones
        // always do, and their calls go unnumbered.
        let own = tenant.len() <= MAX_ACCESS_KEY_ID_LEN;
        let key = if own { tenant } else { "" };
        fn find<'m>(
            map: &'m HashMap<String, Counters>,
            key: &str,
            own: bool,
        ) -> Option<(&'m Counters, bool)> {
            match map.get(key) {
                Some(c) => Some((c, own)),
                None if own_counters(map) >= MAX_COUNTED_TENANTS => map.get("").map(|c| (c, false)),
                None => None,
            }
        }
        loop {
            {
                let counts = self.ordinals.read().unwrap_or_else(PoisonError::into_inner);
                if let Some((counters, own)) = find(&counts.tenants, key, own) {
                    // Held at the most a state document may hold (reached only from a
                    // document that starts there): RequestIds then repeat, but the state
                    // saved still loads.
                    let n =
                        (counters.requests.fetch_add(1, Ordering::Relaxed) + 1).min(COUNTER_MAX);
                    let calls = counters.calls.as_deref().filter(|_| own);
                    return then(Ordinal { n, shared: !own }, Calls(calls));
                }
            }
            // A new tenant: added under the write lock, then counted like any other.
            let mut counts = self.ordinals_mut();
            if find(&counts.tenants, key, own).is_none() {
                let (key, calls) = if own_counters(&counts.tenants) >= MAX_COUNTED_TENANTS || !own {
                    ("", None)
                } else {
                    (key, counts.calls_of(key))
                };
                let requests = AtomicU64::new(0);
                counts
                    .tenants
                    .insert(key.to_string(), Counters { requests, calls });
            }
        }
    }

    /// The tenant's default resource group id.
    ///
    /// # Errors
    /// Those of creating the account (see `Store::account`).
    pub fn default_resource_group<'a>(&self, who: impl Into<Who<'a>>) -> Result<String, ApiError> {
        let who = who.into();
        let mut inner = self.lock();
        inner.admit(who)?;
        Ok(Self::account(
            self.seed,
            &self.accounts_len,
            &mut inner.accounts,
            who.tenant,
        )?
        .default_resource_group
        .clone())
    }

    /// Resolves the resource group, claims `name` and stores the key pair, all in one critical
    /// section: ImportKeyPair has no slow step between claim and commit, so a reservation
    /// would only add lock rounds (and an unwinding path) to every import.
    ///
    /// # Errors
    /// `InvalidResourceGroup.NotFound`, then those of [`Store::reserve`].
    pub fn insert<'a>(
        &self,
        who: impl Into<Who<'a>>,
        region: &str,
        name: &str,
        requested_group: Option<&str>,
        new: NewKeyPair,
    ) -> Result<Arc<KeyPair>, ApiError> {
        // Built before the lock is taken, with the id of a name's first generation (nearly
        // every import) and room for the resource group's: a hash under the lock made the
        // other worker wait, often asleep, and so did allocations (see `Account::put`).
        let who = who.into();
        let tenant = who.tenant;
        let first_id = ids::key_pair_id(self.seed, tenant, region, name, 0);
        let mut kp = Arc::new(KeyPair::new(name.to_string(), first_id, 0, new));
        Arc::get_mut(&mut kp)
            .expect("a new key pair")
            .resource_group_id
            .reserve(requested_group.map_or(ids::RESOURCE_GROUP_ID_LEN, str::len));
        let key = name.to_string();
        let mut inner = self.lock();
        inner.admit(who)?;
        let account = Self::account(self.seed, &self.accounts_len, &mut inner.accounts, tenant)?;
        account.add(
            (self.seed, tenant, region),
            key,
            kp,
            requested_group,
            Kind::InternalErrorImport,
        )
    }

    /// A page of the tenant's unfiltered listing in `region` (the account is created on first
    /// use, as by [`Store::with_account`]).
    ///
    /// # Errors
    /// Those of creating the account (see `Store::account`).
    pub fn page<'a>(
        &self,
        who: impl Into<Who<'a>>,
        region: &str,
        key: PageKey,
    ) -> Result<Page, ApiError> {
        let who = who.into();
        let mut inner = self.lock();
        inner.admit(who)?;
        let Inner {
            accounts, pages, ..
        } = &mut *inner;
        let account = Self::account(self.seed, &self.accounts_len, accounts, who.tenant)?;
        let Some(region) = account.region_ref(region) else {
            return Ok(Page::Listed {
                total: 0,
                version: None,
                key_pairs: Vec::new(),
            });
        };
        let total = region.key_pairs.len();
        if let Some(items) = pages.rendered.get(&(region.version, key)) {
            return Ok(Page::Rendered {
                total,
                items: items.clone(),
            });
        }
        Ok(Page::Listed {
            total,
            version: Some(region.version),
            key_pairs: region
                .key_pairs
                .values()
                .skip(key.skip)
                .take(key.size)
                .cloned()
                .collect(),
        })
    }

    /// Keeps a page rendered from [`Page::Listed`] for the next identical request. A region
    /// changed in between has a new version, so the page is simply never used.
    pub fn keep_page(&self, version: u64, key: PageKey, items: Bytes) {
        let mut inner = self.lock();
        let pages = &mut inner.pages;
        if pages.rendered.len() >= MAX_PAGES || pages.bytes + items.len() > MAX_PAGE_BYTES {
            pages.rendered.clear();
            pages.bytes = 0;
        }
        if items.len() <= MAX_PAGE_BYTES {
            pages.bytes += items.len();
            if let Some(old) = pages.rendered.insert((version, key), items) {
                pages.bytes -= old.len();
            }
        }
    }

    /// Runs `f` on the tenant's account under the store lock (created on first use).
    ///
    /// `f` must be quick and must not block: every request waits on this lock.
    ///
    /// # Errors
    /// Those of creating the account (see `Store::account`).
    pub fn with_account<'a, R>(
        &self,
        who: impl Into<Who<'a>>,
        f: impl FnOnce(&mut Account) -> R,
    ) -> Result<R, ApiError> {
        let who = who.into();
        let mut inner = self.lock();
        inner.admit(who)?;
        let account = Self::account(
            self.seed,
            &self.accounts_len,
            &mut inner.accounts,
            who.tenant,
        )?;
        Ok(f(account))
    }

    /// Hands `fingerprint` to the pending create of `name` that holds `claim` (its
    /// [`Reservation::claim`]) unless a key pair of the region has it or another pending
    /// create there was handed it (fast mode: no two key pairs of a region share a
    /// fingerprint). True when handed, and when the fingerprint is free but the create has
    /// no claim any more (a reset forgot it; it will not be stored), without creating
    /// anything: a forgotten create of the same name and generation must not hand its
    /// fingerprint to the create that claimed the name again, whose own would then go
    /// unguarded.
    pub fn claim_fingerprint(
        &self,
        tenant: &str,
        region: &str,
        name: &str,
        claim: u64,
        fingerprint: &str,
    ) -> bool {
        let mut inner = self.lock();
        let Some(state) = inner
            .accounts
            .get_mut(tenant)
            .and_then(|a| a.regions.get_mut(region))
        else {
            return true;
        };
        let taken = state
            .key_pairs
            .values()
            .any(|kp| kp.fingerprint == fingerprint)
            || state.pending.iter().any(|(n, p)| {
                (n != name || p.claim != claim) && p.handed.as_deref() == Some(fingerprint)
            });
        if !taken {
            if let Some(p) = state.pending.get_mut(name).filter(|p| p.claim == claim) {
                p.handed = Some(fingerprint.to_string());
            }
        }
        !taken
    }

    /// Resolves the resource group and claims `name` in the tenant's region for a create, in
    /// one critical section: resolved apart, a `PUT /__mock/state` in between could leave the
    /// key pair in a group its new account does not have, and the state saved then refused.
    ///
    /// # Errors
    /// `InvalidResourceGroup.NotFound`; `KeyPair.AlreadyExist` if the name exists or is being
    /// created; `QuotaExceed.KeyPair` if the region already holds (or is creating)
    /// [`KEY_PAIR_QUOTA`] key pairs; `InternalError` when a counter would pass
    /// [`COUNTER_MAX`] (see `Account::take_sequence`).
    pub fn reserve<'a>(
        self: &Arc<Self>,
        who: impl Into<Who<'a>>,
        region: &str,
        name: &str,
        requested_group: Option<&str>,
    ) -> Result<Reservation, ApiError> {
        let who = who.into();
        let tenant = who.tenant;
        let mut inner = self.lock();
        inner.admit(who)?;
        let account = Self::account(self.seed, &self.accounts_len, &mut inner.accounts, tenant)?;
        let mut resource_group_id = String::new();
        account.resolve_resource_group_into(requested_group, &mut resource_group_id)?;
        let incarnation = account.incarnation;
        let generation = account.region(region).claimable(name)?;
        let sequence = account.take_sequence(generation, Kind::InternalError)?;
        let claim = next_version();
        account.region(region).pending.insert(
            name.to_string(),
            Pending {
                claim,
                generation,
                sequence,
                handed: None,
            },
        );
        Ok(Reservation {
            store: Arc::clone(self),
            resource_group_id,
            tenant: tenant.to_string(),
            region: region.to_string(),
            name: name.to_string(),
            generation,
            incarnation,
            claim,
            done: false,
        })
    }

    /// Key pairs of a tenant's region in creation order.
    pub fn key_pairs(&self, tenant: &str, region: &str) -> Vec<KeyPair> {
        let inner = self.lock();
        inner
            .accounts
            .get(tenant)
            .and_then(|a| a.regions.get(region))
            .map(|r| r.key_pairs.values().map(|kp| KeyPair::clone(kp)).collect())
            .unwrap_or_default()
    }

    fn release(&self, r: &Reservation) {
        let mut inner = self.lock();
        if let Some(state) = inner
            .accounts
            .get_mut(&r.tenant)
            .filter(|a| a.incarnation == r.incarnation)
            .and_then(|a| a.regions.get_mut(&r.region))
        {
            if state
                .pending
                .get(&r.name)
                .is_some_and(|p| p.claim == r.claim)
            {
                state.pending.remove(&r.name);
            }
        }
    }
}

/// A claimed name; see [`Store::reserve`].
#[derive(Debug)]
pub struct Reservation {
    store: Arc<Store>,
    /// The group the key pair joins, resolved with the claim.
    resource_group_id: String,
    tenant: String,
    region: String,
    name: String,
    generation: u64,
    /// The [`Account::incarnation`] the name was claimed in.
    incarnation: u64,
    /// [`Pending::claim`].
    claim: u64,
    done: bool,
}

/// What the caller supplies to complete a reservation.
#[derive(Debug, Clone)]
pub struct NewKeyPair {
    pub fingerprint: String,
    pub public_key: String,
    pub resource_group_id: String,
    pub tags: Vec<Tag>,
    pub creation_time: u64,
    pub origin: Origin,
}

impl Reservation {
    /// How many times this name was created before in this tenant's region.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Which claim this is ([`Store::claim_fingerprint`] hands fast mode's fingerprint to it).
    pub fn claim(&self) -> u64 {
        self.claim
    }

    /// The resource group resolved with the claim.
    pub fn resource_group_id(&self) -> &str {
        &self.resource_group_id
    }

    /// Stores the key pair under the claimed name and returns it. If the account was reset
    /// or replaced since the name was claimed, or the claim cancelled by a delete, the key
    /// pair is returned but not stored: the create counts as finished before the reset or
    /// delete, which forgot it (storing it would overwrite whatever the new account holds
    /// under that name, and pass its quota).
    pub fn commit(mut self, new: NewKeyPair) -> Arc<KeyPair> {
        self.done = true;
        let id = ids::key_pair_id(
            self.store.seed,
            &self.tenant,
            &self.region,
            &self.name,
            self.generation,
        );
        let name = std::mem::take(&mut self.name);
        let kp = Arc::new(KeyPair::new(name.clone(), id, 0, new));
        let mut inner = self.store.lock();
        // Looked up, not created: after a reset or restore that forgot the tenant, creating
        // it here would leave behind an empty account the new state never held.
        match inner
            .accounts
            .get_mut(&self.tenant)
            .filter(|a| a.incarnation == self.incarnation)
        {
            Some(account) => {
                let claimed = account
                    .regions
                    .get_mut(&self.region)
                    .filter(|r| r.pending.get(&name).is_some_and(|p| p.claim == self.claim))
                    .and_then(|r| r.pending.remove(&name));
                match claimed {
                    Some(p) => account.put(&self.region, name, kp, p.sequence),
                    None => kp,
                }
            }
            None => kp,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.done {
            self.store.release(self);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The code a claim of `name` by tenant `t` in cn-hangzhou is refused with.
    pub(crate) fn refusal(store: &Arc<Store>, name: &str) -> &'static str {
        store
            .reserve("t", "cn-hangzhou", name, None)
            .unwrap_err()
            .code()
    }

    /// A key pair's parts, for tests here and of the actions.
    pub(crate) fn new_kp() -> NewKeyPair {
        NewKeyPair {
            fingerprint: "fp".into(),
            public_key: "ssh-rsa AAAA".into(),
            resource_group_id: "rg".into(),
            tags: vec![],
            creation_time: 0,
            origin: Origin::Created,
        }
    }

    #[test]
    fn a_request_counted_before_a_reset_or_restore_of_its_tenant_cannot_touch_the_new_state() {
        // Regression (findings-scen2 #1): a request counted, then a reset, then its action ran
        // in the state that replaced the one it was counted in.
        let store = Store::new(0);
        let who = |tenant, counted| Who {
            tenant,
            counted: Some(counted),
        };
        let refused = |r: Result<(), ApiError>| r.map_err(|e| e.code()).unwrap_err();
        let before = store.count_request("t", |_, _| store.epoch());
        store.reset(Some("other"));
        assert!(
            store.with_account(who("t", before), |_| ()).is_ok(),
            "another tenant's reset"
        );
        store.reset(Some("t"));
        assert_eq!(
            refused(store.with_account(who("t", before), |_| ())),
            "ServiceUnavailable"
        );
        assert_eq!(
            refused(
                store
                    .insert(who("t", before), "cn-hangzhou", "k", None, new_kp())
                    .map(drop)
            ),
            "ServiceUnavailable"
        );
        assert_eq!(
            refused(
                store
                    .reserve(who("t", before), "cn-hangzhou", "k", None)
                    .map(drop)
            ),
            "ServiceUnavailable"
        );
        assert!(store.key_pairs("t", "cn-hangzhou").is_empty());
        let after = store.count_request("t", |_, _| store.epoch());
        assert!(store.with_account(who("t", after), |_| ()).is_ok());
        // A restored state replaces every tenant's.
        store.restore(Store::new(0).export()).unwrap();
        assert_eq!(
            refused(store.with_account(who("t", after), |_| ())),
            "ServiceUnavailable"
        );
        assert!(store.with_account("t", |_| ()).is_ok(), "a bare tenant");
    }

    #[test]
    fn a_name_can_be_claimed_once_and_freed_on_drop() {
        let store = Store::new(0);
        let r = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        assert_eq!(refusal(&store, "k"), "KeyPair.AlreadyExist");
        assert!(
            store.reserve("t2", "cn-hangzhou", "k", None).is_ok(),
            "tenants are isolated"
        );
        assert!(
            store.reserve("t", "cn-beijing", "k", None).is_ok(),
            "regions are isolated"
        );
        drop(r);
        let r = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        assert_eq!(r.generation(), 0, "a dropped reservation is not a creation");
        r.commit(new_kp());
        assert_eq!(refusal(&store, "k"), "KeyPair.AlreadyExist");
        assert_eq!(store.key_pairs("t", "cn-hangzhou").len(), 1);
    }

    #[test]
    fn a_create_is_listed_where_its_request_came_however_late_its_key_is_ready() {
        // Regression (determinism audit #2): the place in the creation order was taken when
        // the key was stored, so a create overtaken by a later import was listed after it
        // with a cold key cache and before it with a warm one.
        // Arrange
        let store = Store::new(0);
        let first = store.reserve("t", "cn-hangzhou", "first", None).unwrap();
        let slow = store.reserve("t", "cn-hangzhou", "slow", None).unwrap();
        store
            .insert("t", "cn-hangzhou", "second", None, new_kp())
            .unwrap();
        // Act: "slow" is ready last, "first" next to last.
        first.commit(new_kp());
        slow.commit(new_kp());
        store
            .insert("t", "cn-hangzhou", "third", None, new_kp())
            .unwrap();
        // Assert
        let listed: Vec<(String, u64)> = store
            .key_pairs("t", "cn-hangzhou")
            .into_iter()
            .map(|kp| (kp.name, kp.sequence))
            .collect();
        assert_eq!(
            listed,
            [
                ("first".to_string(), 0),
                ("slow".to_string(), 1),
                ("second".to_string(), 2),
                ("third".to_string(), 3)
            ]
        );
    }

    #[test]
    fn a_create_in_flight_across_a_reset_neither_stores_its_key_nor_frees_a_newer_claim() {
        // Arrange: a name claimed, then the tenant reset and the name claimed again.
        let store = Store::new(0);
        let before = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        let dropped = store.reserve("t", "cn-hangzhou", "d", None).unwrap();
        store.reset(Some("t"));
        let after = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
        // Act
        let returned = before.commit(NewKeyPair {
            fingerprint: "old".into(),
            ..new_kp()
        });
        drop(dropped);
        // Assert: the old create's key pair is answered but not stored, and the new claim holds.
        assert_eq!(returned.fingerprint, "old");
        assert!(store.key_pairs("t", "cn-hangzhou").is_empty());
        assert_eq!(refusal(&store, "k"), "KeyPair.AlreadyExist");
        after.commit(new_kp());
        let stored = store.key_pairs("t", "cn-hangzhou");
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].fingerprint, "fp");
        // The same across a whole-store reset and a restore.
        let before = store.reserve("t", "cn-hangzhou", "x", None).unwrap();
        store.reset(None);
        before.commit(new_kp());
        let restored = store.reserve("t", "cn-hangzhou", "y", None).unwrap();
        store.restore(Store::new(0).export()).unwrap();
        restored.commit(new_kp());
        assert!(store.key_pairs("t", "cn-hangzhou").is_empty());
    }

    #[test]
    fn a_create_in_flight_across_a_reset_or_restore_leaves_no_account_behind() {
        // Regression (F7 of the persistence findings): the commit re-created the forgotten
        // tenant's account before comparing incarnations, so an empty account showed up in
        // exports and state files that the restored document never held.
        for replace in [
            |s: &Store| s.reset(None),
            |s: &Store| s.reset(Some("t")),
            |s: &Store| s.restore(Store::new(0).export()).unwrap(),
        ] {
            // Arrange: one create committing, one dropped, both claimed before the replace.
            let store = Store::new(0);
            let committed = store.reserve("t", "cn-hangzhou", "k", None).unwrap();
            let dropped = store.reserve("t", "cn-hangzhou", "d", None).unwrap();
            replace(&store);
            // Act
            committed.commit(new_kp());
            drop(dropped);
            // Assert
            assert_eq!(store.export(), Store::new(0).export());
            assert_eq!(store.accounts_len.load(Ordering::Relaxed), 0);
        }
    }

    #[test]
    fn kept_pages_are_found_by_version_and_bounded() {
        let store = Store::new(0);
        store
            .reserve("t", "cn-hangzhou", "k", None)
            .unwrap()
            .commit(new_kp());
        let key = |skip| PageKey {
            skip,
            size: 10,
            public_key: false,
        };
        let Page::Listed {
            total: 1,
            version: Some(version),
            key_pairs,
        } = store.page("t", "cn-hangzhou", key(0)).unwrap()
        else {
            panic!("nothing kept yet");
        };
        assert_eq!(key_pairs.len(), 1);
        store.keep_page(version, key(0), Bytes::from_static(b"items"));
        let Page::Rendered { total: 1, items } = store.page("t", "cn-hangzhou", key(0)).unwrap()
        else {
            panic!("kept");
        };
        assert_eq!(&items[..], b"items");
        assert!(matches!(
            store.page("t", "cn-hangzhou", key(10)).unwrap(),
            Page::Listed { .. }
        ));
        assert!(matches!(
            store.page("t", "cn-beijing", key(0)).unwrap(),
            Page::Listed {
                total: 0,
                version: None,
                ..
            }
        ));
        for skip in 1..=MAX_PAGES {
            store.keep_page(version, key(skip), Bytes::from_static(b"x"));
            assert!(store.lock().pages.rendered.len() <= MAX_PAGES);
        }
        // The 65th page emptied the store of pages before it was kept.
        assert_eq!(store.lock().pages.rendered.len(), 1);
        store.keep_page(version, key(0), Bytes::from(vec![0; MAX_PAGE_BYTES + 1]));
        assert!(store.lock().pages.bytes <= MAX_PAGE_BYTES);
        // A change renews the version: what was kept is no longer found.
        store.keep_page(version, key(0), Bytes::from_static(b"items"));
        store
            .with_account("t", |a| {
                a.region("cn-hangzhou").key_pairs_mut();
            })
            .unwrap();
        assert!(matches!(
            store.page("t", "cn-hangzhou", key(0)).unwrap(),
            Page::Listed { total: 1, .. }
        ));
    }

    #[test]
    fn new_tenants_are_refused_past_the_account_cap_until_a_reset() {
        let store = Store::new(0);
        for i in 0..MAX_ACCOUNTS - 1 {
            store.with_account(&format!("t{i}"), |_| ()).unwrap();
        }
        assert!(store.admits("late-1"), "one account below the cap");
        store.with_account("late-1", |_| ()).unwrap();
        assert!(!store.admits("late-2"), "the cap is reached");
        assert!(
            store.admits("t0") && store.admits("late-1"),
            "known tenants go on"
        );
        store.reset(Some("t0"));
        assert!(store.admits("late-2"), "a reset tenant frees its place");
        store.with_account("late-2", |_| ()).unwrap();
        assert!(!store.admits("late-3"));
        store.reset(None);
        assert!(store.admits("late-3"));
        assert_eq!(store.accounts_len.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn new_tenants_admitted_together_at_the_cap_get_only_the_places_left() {
        // Regression: each passed `admits` before any had created its account, and all of
        // them did, so a server could export more accounts than a server starts from.
        let store = Store::new(0);
        for i in 0..MAX_ACCOUNTS - 2 {
            store.with_account(&format!("t{i}"), |_| ()).unwrap();
        }
        let late: Vec<String> = (0..8).map(|i| format!("late-{i}")).collect();
        assert!(late.iter().all(|t| store.admits(t)), "all below the cap");
        let created: Vec<bool> = late
            .iter()
            .map(|t| store.with_account(t, |_| ()).is_ok())
            .collect();
        assert_eq!(
            created,
            [true, true, false, false, false, false, false, false]
        );
        let refused = store.page(
            "late-7",
            "cn-hangzhou",
            PageKey {
                skip: 0,
                size: 10,
                public_key: false,
            },
        );
        assert_eq!(
            refused.err().map(|e| e.code()),
            Some("InvalidAccessKeyId.NotFound")
        );
        assert_eq!(store.export().accounts.len(), MAX_ACCOUNTS);
        assert!(store.with_account("t0", |_| ()).is_ok(), "known ones go on");
    }

    #[test]
    fn request_counters_are_bounded_by_sharing_past_the_cap() {
        let store = Store::new(0);
        for i in 0..MAX_COUNTED_TENANTS {
            store.next_request_ordinal(&format!("t{i}"));
        }
        assert_eq!(
            store.next_request_ordinal("t0"),
            2,
            "known tenants keep their counter"
        );
        assert_eq!(store.next_request_ordinal("late-1"), 1);
        assert_eq!(
            store.next_request_ordinal("late-2"),
            2,
            "late tenants share one counter"
        );
        assert_eq!(store.ordinals_mut().tenants.len(), MAX_COUNTED_TENANTS + 1);
    }

    #[test]
    fn a_reset_runs_its_companion_while_no_request_can_be_counted() {
        // Regression (findings-review F1): the control API reset the call counters, then the
        // engine's rule counters; a request counted in between was numbered by the new ones
        // and decided by the old, an offset that lasted until the next reset.
        let store = Store::new(0);
        store.next_request_ordinal("t");
        let mut ran = false;
        store.reset_with(
            Some("t"),
            || {
                assert!(store.ordinals.try_read().is_err(), "counting is held off");
                ran = true;
            },
            |_| (),
        );
        assert!(ran);
        assert_eq!(store.next_request_ordinal("t"), 1);
    }

    #[test]
    fn a_tenant_counted_on_the_shared_counter_never_repeats_a_request_id_once_it_has_its_own() {
        // Regression (black-box review, twenty-seventh session): "late" was counted on the
        // shared counter (1, 2, 3), got its own once a reset freed room, started at 1 again
        // and was handed the RequestIds of its first three calls once more. And the shared
        // counter took one of the places: a single freed place went to no one.
        let store = Store::new(0);
        for i in 0..MAX_COUNTED_TENANTS {
            store.next_request_ordinal(&format!("t{i}"));
        }
        let ids = |n: usize| -> Vec<String> {
            (0..n)
                .map(|_| store.count_request("late", |o, _| o.request_id(0, "late")))
                .collect()
        };
        let shared = ids(3);
        assert!(store.count_request("late", |o, _| o.shared));
        // Act: one place freed.
        store.reset(Some("t5"));
        let own = ids(3);
        // Assert: "late" took it, counting from 1, with RequestIds of its own.
        assert_eq!(
            store.count_request("late", |o, _| o),
            Ordinal {
                n: 4,
                shared: false
            }
        );
        assert_eq!(own[0], crate::ids::request_id(0, "late", 1));
        for id in &own {
            assert!(!shared.contains(id), "{id} repeated");
        }
        assert!(
            store.count_request("later", |o, _| o.shared),
            "the place is taken"
        );
    }

    #[test]
    fn a_reset_tenant_is_refilled_before_a_new_one_can_take_its_place() {
        // Regression (findings-review13 #1): the fixtures were re-applied after the reset, so
        // in a full store a new tenant's request could take the freed place in between, and
        // the fixtures' tenant was then refused as unknown.
        let store = Store::new(0);
        for i in 0..MAX_ACCOUNTS {
            store.with_account(&format!("t{i}"), |_| ()).unwrap();
        }
        let mut refilled = false;
        store.reset_with(
            Some("t0"),
            || (),
            |accounts| {
                assert!(store.inner.try_lock().is_err(), "no request can get in");
                refilled = accounts.account("t0").is_ok();
            },
        );
        assert!(refilled);
        assert_eq!(store.export().accounts.len(), MAX_ACCOUNTS);
        assert!(store.with_account("new", |_| ()).is_err());
    }

    #[test]
    fn calls_count_per_tenant_and_action_and_stop_at_the_tenant_cap() {
        for (i, a) in Action::ALL.iter().enumerate() {
            assert_eq!(a.index(), i, "{a:?}");
        }
        let store = Store::new(0);
        let call = |t: &str, a| store.count_request(t, |_, calls| calls.next(a));
        assert_eq!(call("t", Action::ImportKeyPair), Some(1));
        assert_eq!(call("u", Action::ImportKeyPair), Some(1));
        assert_eq!(call("t", Action::ImportKeyPair), Some(2));
        assert_eq!(call("t", Action::DescribeKeyPairs), Some(1));
        assert_eq!(
            store.next_request_ordinal("t"),
            4,
            "one RequestId sequence for all of a tenant's requests"
        );
        let long = "k".repeat(MAX_ACCESS_KEY_ID_LEN + 1);
        assert_eq!(call(&long, Action::ImportKeyPair), None);
        for i in 0..MAX_COUNTED_TENANTS - 2 {
            store.next_request_ordinal(&format!("t{i}"));
        }
        assert_eq!(call("one-too-many", Action::ImportKeyPair), None);
        assert_eq!(call("t0", Action::ImportKeyPair), Some(1));
        assert_eq!(
            call("t", Action::ImportKeyPair),
            Some(3),
            "known tenants keep counting"
        );
    }

    #[test]
    fn a_reset_restarts_a_tenants_calls_and_a_restore_keeps_them() {
        let store = Store::new(0);
        let call = |t: &str| store.count_request(t, |_, calls| calls.next(Action::CreateKeyPair));
        call("t");
        call("u");
        store.reset(Some("t"));
        assert_eq!(call("t"), Some(1));
        assert_eq!(call("u"), Some(2));
        call("x");
        // A document counting 7 requests of t, and none of x.
        let other = Store::new(0);
        for _ in 0..7 {
            other.next_request_ordinal("t");
        }
        store.restore(other.export()).unwrap();
        assert_eq!(
            store.count_request("t", |n, calls| (n.n, calls.next(Action::CreateKeyPair))),
            (8, Some(2)),
            "RequestIds from the document, call numbers carried on"
        );
        assert_eq!(
            store.next_request_ordinal("x"),
            1,
            "RequestId counters are the document's, no others (findings-state F1)"
        );
        // Regression (findings-review F2): x's call numbers restarted at 1 while the engine's
        // rule counters and the journal carried on, and the export replayed the wrong calls.
        assert_eq!(call("x"), Some(2), "call numbers carry on for every tenant");
        store.reset(None);
        assert_eq!(call("u"), Some(1));
    }

    /// Regression (white-box review, sixteenth session): fast mode kept its hand-outs in a map
    /// of its own, one entry per (tenant, region) that no reset freed.
    #[test]
    fn fingerprint_hand_outs_live_as_long_as_their_claims() {
        let store = Store::new(1);
        let a = store.reserve("t", "cn-hangzhou", "a", None).unwrap();
        let b = store.reserve("t", "cn-hangzhou", "b", None).unwrap();
        // One fingerprint per pending create of the region; a create may be handed another.
        let (ca, cb) = (a.claim(), b.claim());
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "a", ca, "fp1"));
        assert!(!store.claim_fingerprint("t", "cn-hangzhou", "b", cb, "fp1"));
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "b", cb, "fp2"));
        assert!(
            store.claim_fingerprint("t", "eu-west-1", "b", cb, "fp1"),
            "other regions are apart"
        );
        // Released, b's fingerprint is free again; stored, a's is taken by the key pair.
        drop(b);
        let mut stored = new_kp();
        stored.fingerprint = "fp1".into();
        a.commit(stored);
        let c = store.reserve("t", "cn-hangzhou", "c", None).unwrap();
        let cc = c.claim();
        assert!(!store.claim_fingerprint("t", "cn-hangzhou", "c", cc, "fp1"));
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "c", cc, "fp2"));
        // A reset forgets the claim with its hand-out.
        store.reset(None);
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "c", cc, "fp2"));
        drop(c);
        assert!(store.export().accounts.is_empty());
        // Regression (determinism review, twenty-ninth session): the forgotten create of
        // `c` handed its fingerprint to the create that claimed `c` again at the same
        // generation, whose own fingerprint another create could then take.
        let again = store.reserve("t", "cn-hangzhou", "c", None).unwrap();
        assert_eq!(again.generation(), 0);
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "c", again.claim(), "fp3"));
        assert!(
            store.claim_fingerprint("t", "cn-hangzhou", "c", cc, "fp4"),
            "no claim any more"
        );
        let d = store.reserve("t", "cn-hangzhou", "d", None).unwrap();
        assert!(
            !store.claim_fingerprint("t", "cn-hangzhou", "d", d.claim(), "fp3"),
            "the live create's fingerprint stays its own"
        );
        assert!(store.claim_fingerprint("t", "cn-hangzhou", "d", d.claim(), "fp4"));
    }

    #[test]
    fn quota_counts_pending_claims() {
        let store = Store::new(0);
        let mut held = Vec::new();
        for i in 0..KEY_PAIR_QUOTA {
            held.push(store.reserve("t", "r", &format!("k{i}"), None).unwrap());
        }
        assert_eq!(
            store.reserve("t", "r", "extra", None).unwrap_err().code(),
            "QuotaExceed.KeyPair"
        );
        held.pop();
        assert!(store.reserve("t", "r", "extra", None).is_ok());
    }

    #[test]
    fn resource_groups_resolve_per_tenant() {
        let store = Store::new(7);
        let rg = store.default_resource_group("t").unwrap();
        assert_eq!(rg, ids::default_resource_group_id(7, "t"));
        let resolved = |t: &str, name: &str, g: Option<&str>| {
            store
                .reserve(t, "cn-hangzhou", name, g)
                .map(|r| r.resource_group_id().to_string())
                .map_err(|e| e.code())
        };
        assert_eq!(resolved("t", "a", None), Ok(rg.clone()));
        assert_eq!(resolved("t", "b", Some(&rg)), Ok(rg.clone()));
        assert_eq!(
            resolved("other", "c", Some(&rg)),
            Err("InvalidResourceGroup.NotFound")
        );
    }
}

/// The whole state as a document: what `--state-file` and `/__mock/state` save and restore.
///
/// Maps are ordered so that the same state always serialises to the same bytes. Claims in
/// flight (`pending`) are not state: a request still generating its key when the snapshot is
/// taken simply finishes after it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateDoc {
    /// Format version; bumped on incompatible change.
    pub version: u32,
    /// The seed the state was made with: keys and ids only continue correctly under it.
    pub seed: u64,
    #[serde(deserialize_with = "unique_keys")]
    pub accounts: BTreeMap<String, AccountDoc>,
    /// Per-tenant RequestId counters.
    #[serde(deserialize_with = "unique_keys")]
    pub request_ordinals: BTreeMap<String, u64>,
}

/// One account in a [`StateDoc`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountDoc {
    pub default_resource_group: String,
    #[serde(deserialize_with = "unique_items")]
    pub resource_groups: BTreeSet<String>,
    #[serde(deserialize_with = "unique_keys")]
    pub instances: BTreeMap<String, Instance>,
    pub next_sequence: u64,
    #[serde(deserialize_with = "unique_keys")]
    pub regions: BTreeMap<String, RegionDoc>,
}

/// One region of an account in a [`StateDoc`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionDoc {
    #[serde(deserialize_with = "unique_keys")]
    pub key_pairs: BTreeMap<String, KeyPair>,
    #[serde(deserialize_with = "unique_keys")]
    pub generations: BTreeMap<String, u64>,
}

/// A map of a [`StateDoc`], refusing a key given twice: serde keeps the last copy silently,
/// which in a hand-edited file hides whichever entry the user meant (scenario files are read
/// as strictly, see `jsondoc::strict`). The same rule as refusing unknown fields, applied
/// while the typed document is read, with no intermediate `Value`.
fn unique_keys<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: serde::Deserializer<'de>,
    K: serde::Deserialize<'de> + Ord + std::fmt::Debug,
    V: serde::Deserialize<'de>,
{
    struct Unique<K, V>(std::marker::PhantomData<(K, V)>);
    impl<'de, K, V> serde::de::Visitor<'de> for Unique<K, V>
    where
        K: serde::Deserialize<'de> + Ord + std::fmt::Debug,
        V: serde::Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<K>()? {
                if out.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "the key {key:?} is given twice in one object"
                    )));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(Unique(std::marker::PhantomData))
}

/// A set of a [`StateDoc`], refusing an item given twice, for the same reason as
/// [`unique_keys`]: read into a set, the list would merge it silently.
fn unique_items<'de, D, T>(d: D) -> Result<BTreeSet<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Ord + std::fmt::Debug,
{
    let mut out = BTreeSet::new();
    for item in <Vec<T> as serde::Deserialize>::deserialize(d)? {
        if out.contains(&item) {
            return Err(serde::de::Error::custom(format!(
                "{item:?} is given twice in one list"
            )));
        }
        out.insert(item);
    }
    Ok(out)
}

/// The current [`StateDoc::version`].
pub const STATE_VERSION: u32 = 1;

/// An account as a [`StateDoc`] holds it.
fn account_doc(a: &Account) -> AccountDoc {
    let regions = a
        .regions
        .iter()
        .map(|(id, r)| {
            (
                id.clone(),
                RegionDoc {
                    key_pairs: r
                        .key_pairs
                        .iter()
                        .map(|(k, v)| (k.clone(), KeyPair::clone(v)))
                        .collect(),
                    generations: r
                        .generations
                        .iter()
                        .map(|(k, v)| (k.clone(), *v))
                        .chain(
                            r.key_pairs
                                .keys()
                                .filter(|k| !r.generations.contains_key(*k))
                                .map(|k| (k.clone(), 1)),
                        )
                        .collect(),
                },
            )
        })
        .collect();
    AccountDoc {
        default_resource_group: a.default_resource_group.clone(),
        resource_groups: a.resource_groups.clone(),
        instances: a.instances.clone(),
        next_sequence: a.next_sequence,
        regions,
    }
}

/// The account an [`AccountDoc`] describes (checked by [`crate::statecheck::check`]).
fn account_of(a: AccountDoc) -> Account {
    let mut regions = HashMap::default();
    for (region, r) in a.regions {
        let mut key_pairs: IndexMap<String, Arc<KeyPair>, FastHash> = r
            .key_pairs
            .into_iter()
            .map(|(name, kp)| (name, Arc::new(kp)))
            .collect();
        key_pairs.sort_by(|_, a, _, b| a.sequence.cmp(&b.sequence));
        // A state file lists every live name; one created once has no entry in a region that
        // was never saved (see `RegionState::generations`), and must not here, or the cap
        // would forget at another moment than in the run that saved it.
        let generations = r
            .generations
            .into_iter()
            .filter(|(name, n)| !(*n == 1 && key_pairs.contains_key(name)))
            .collect();
        let mut state = RegionState {
            key_pairs,
            version: next_version(),
            pending: HashMap::default(),
            generations,
        };
        // A file saved before the cap, or edited, may hold more.
        state.forget_past_cap();
        regions.insert(region, state);
    }
    Account {
        default_resource_group: a.default_resource_group,
        resource_groups: a.resource_groups,
        regions,
        instances: a.instances,
        next_sequence: a.next_sequence,
        incarnation: next_version(),
    }
}

impl Store {
    /// A consistent copy of all state (taken under both locks).
    pub fn export(&self) -> StateDoc {
        self.export_where(|_| true)
    }

    /// [`Store::export`] of one tenant: its account (if it has one) and its RequestId
    /// counter, nothing of the others.
    pub fn export_tenant(&self, tenant: &str) -> StateDoc {
        self.export_where(|t| t == tenant)
    }

    fn export_where(&self, keep: impl Fn(&str) -> bool) -> StateDoc {
        let inner = self.lock();
        let ordinals = self.ordinals.read().unwrap_or_else(PoisonError::into_inner);
        StateDoc {
            version: STATE_VERSION,
            seed: self.seed,
            accounts: inner
                .accounts
                .iter()
                .filter(|(tenant, _)| keep(tenant))
                .map(|(tenant, a)| (tenant.clone(), account_doc(a)))
                .collect(),
            request_ordinals: ordinals
                .tenants
                .iter()
                .filter(|(tenant, _)| keep(tenant))
                .map(|(k, c)| {
                    let n = c.requests.load(Ordering::Relaxed).min(COUNTER_MAX);
                    (k.clone(), n)
                })
                .collect(),
        }
    }

    /// Replaces all state with `doc`.
    ///
    /// # Errors
    /// A document [`crate::statecheck::check`] refuses: of another version, made with another
    /// seed (its keys could not continue deterministically), or holding something the API
    /// would never have made (a key that does not parse, an unknown region, a shared id, …).
    pub fn restore(&self, doc: StateDoc) -> Result<(), String> {
        crate::statecheck::check(&doc, self.seed, self.fingerprint)?;
        let accounts = doc
            .accounts
            .into_iter()
            .map(|(tenant, a)| (tenant, account_of(a)))
            .collect();
        let mut inner = self.lock();
        inner.accounts = accounts;
        self.accounts_len
            .store(inner.accounts.len(), Ordering::Relaxed);
        let n = inner.resets.record(None);
        // RequestId counters are the document's, no others. Call numbers are not state: they
        // carry on for every tenant (see `Counts::calls`).
        let mut counts = self.ordinals_mut();
        let tenants = doc
            .request_ordinals
            .into_iter()
            .map(|(tenant, n)| {
                let counters = counts.restored(&tenant, n);
                (tenant, counters)
            })
            .collect();
        counts.tenants = tenants;
        self.epoch.store(n, Ordering::Relaxed);
        Ok(())
    }

    /// Replaces one tenant's state with `doc`, which may hold nothing of other tenants: its
    /// account (none in `doc`: the tenant starts again like a new one) and its RequestId
    /// counter. Other tenants are untouched; the tenant's requests in flight are forgotten as
    /// by a reset of it.
    ///
    /// # Errors
    /// What [`Store::restore`] refuses, an account or counter of another AccessKeyId in
    /// `doc`, or a new account while the store holds [`MAX_ACCOUNTS`].
    pub fn restore_tenant(&self, tenant: &str, doc: StateDoc) -> Result<(), String> {
        crate::statecheck::check(&doc, self.seed, self.fingerprint)?;
        let StateDoc {
            mut accounts,
            mut request_ordinals,
            ..
        } = doc;
        if let Some(other) = accounts.keys().find(|t| *t != tenant) {
            return Err(format!(
                "accounts[{other:?}]: restoring the state of {tenant:?} alone, the document may hold no other account"
            ));
        }
        if let Some(other) = request_ordinals.keys().find(|t| *t != tenant) {
            return Err(format!(
                "request_ordinals[{other:?}]: restoring the state of {tenant:?} alone, the document may hold no other counter"
            ));
        }
        let account = accounts.remove(tenant).map(account_of);
        let requests = request_ordinals.remove(tenant);
        let mut inner = self.lock();
        let mut counts = self.ordinals_mut();
        // Both bounds before anything changes; past them the store's own export would no
        // longer load (`statecheck` holds documents to them).
        if account.is_some()
            && !inner.accounts.contains_key(tenant)
            && inner.accounts.len() >= MAX_ACCOUNTS
        {
            return Err(format!(
                "the store holds {MAX_ACCOUNTS} accounts, as many as it can: reset a tenant first"
            ));
        }
        if requests.is_some()
            && !counts.tenants.contains_key(tenant)
            && own_counters(&counts.tenants) >= MAX_COUNTED_TENANTS
        {
            return Err(format!(
                "request_ordinals[{tenant:?}]: the mock counts the RequestIds of {MAX_COUNTED_TENANTS} tenants apart already, as many as it can: reset a tenant first"
            ));
        }
        match account {
            Some(a) => inner.accounts.insert(tenant.to_string(), a),
            None => inner.accounts.remove(tenant),
        };
        self.accounts_len
            .store(inner.accounts.len(), Ordering::Relaxed);
        let n = inner.resets.record(Some(tenant));
        match requests {
            Some(n) => {
                let counters = counts.restored(tenant, n);
                counts.tenants.insert(tenant.to_string(), counters);
            }
            None => {
                counts.tenants.remove(tenant);
            }
        }
        self.epoch.store(n, Ordering::Relaxed);
        Ok(())
    }
}

#[cfg(test)]
mod state_doc_tests {
    use super::*;

    #[test]
    fn a_tenants_restore_keeps_the_counted_tenants_within_what_a_state_document_may_hold() {
        // Regression (fuzz campaign review): a tenant restored while 100,000 tenants had
        // their own RequestId counter made a 100,001st, and the store's export no longer loaded.
        // Arrange
        let store = Store::new(1);
        for i in 0..MAX_COUNTED_TENANTS {
            store.next_request_ordinal(&format!("t{i}"));
        }
        let doc = |tenant: &str| StateDoc {
            version: STATE_VERSION,
            seed: 1,
            accounts: BTreeMap::new(),
            request_ordinals: BTreeMap::from([(tenant.to_string(), 5)]),
        };
        // Act
        let newcomer = store.restore_tenant("newcomer", doc("newcomer"));
        let known = store.restore_tenant("t7", doc("t7"));
        // Assert
        assert!(newcomer
            .unwrap_err()
            .contains("100000 tenants apart already"));
        assert_eq!(known, Ok(()));
        assert_eq!(store.next_request_ordinal("t7"), 6);
        let export = store.export();
        assert_eq!(export.request_ordinals.len(), MAX_COUNTED_TENANTS);
        assert_eq!(Store::new(1).restore(export), Ok(()));
    }

    /// A public key that parses, as every restored key pair must hold.
    fn key() -> crate::sshkey::PublicKey {
        crate::sshkey::parse_openssh_public_key(
            include_str!("../tests/fixtures/pubkeys/ecdsa256.pub"),
            crate::sshkey::ParseOptions::default(),
        )
        .unwrap()
    }

    /// Creates key pair `name` of tenant `t` in cn-hangzhou; its generation.
    fn create_named(store: &Arc<Store>, name: &str) -> u64 {
        let r = store.reserve("t", "cn-hangzhou", name, None).unwrap();
        let generation = r.generation();
        r.commit(NewKeyPair {
            fingerprint: key().fingerprint,
            public_key: key().openssh,
            resource_group_id: store.default_resource_group("t").unwrap(),
            tags: vec![],
            creation_time: 5,
            origin: Origin::Created,
        });
        generation
    }

    /// Deletes key pair `name` of tenant `t` in cn-hangzhou; whether it existed.
    fn delete_named(store: &Arc<Store>, name: &str) -> bool {
        store
            .with_account("t", |a| a.region("cn-hangzhou").remove(name).is_some())
            .unwrap()
    }

    #[test]
    fn generations_count_every_creation_of_a_name_across_deletes() {
        let store = Store::new(3);
        let create = |name: &str| create_named(&store, name);
        let delete = |name: &str| delete_named(&store, name);
        assert_eq!(create("kept"), 0);
        for expected in 0..4 {
            assert_eq!(create("k1"), expected);
            assert!(delete("k1"));
        }
        assert!(!delete("k1"), "already gone");
        assert!(!delete("never"), "never created");
        assert_eq!(create("never"), 0, "a failed delete counts nothing");
        let doc = store.export();
        let generations = &doc.accounts["t"].regions["cn-hangzhou"].generations;
        assert_eq!(
            generations
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect::<Vec<_>>(),
            [("k1", 4), ("kept", 1), ("never", 1)],
            "live names created once are exported with their count"
        );
        let again = Store::new(3);
        again.restore(doc).unwrap();
        again
            .with_account("t", |a| a.region("cn-hangzhou").remove("kept"))
            .unwrap();
        assert_eq!(
            again
                .reserve("t", "cn-hangzhou", "kept", None)
                .unwrap()
                .generation(),
            1
        );
        assert_eq!(
            again
                .reserve("t", "cn-hangzhou", "k1", None)
                .unwrap()
                .generation(),
            4
        );
    }

    /// Regression (source review, twenty-eighth session): every distinct deleted name kept an
    /// entry for good, so a client creating and deleting ever new names grew the region, and
    /// each export, without end. Past the cap the deleted names' counts are forgotten at once;
    /// a live name keeps its count, and the moment is the same with or without a restore.
    #[test]
    fn deleted_names_counts_are_forgotten_past_the_cap() {
        let counted = |store: &Arc<Store>| {
            store.export().accounts["t"].regions["cn-hangzhou"]
                .generations
                .len()
        };
        let run = |restore_at: Option<usize>| {
            let mut store = Store::new(3);
            let (cycle, delete) = (create_named, delete_named);
            // "live" was deleted once and lives again: generation 1, counted.
            assert_eq!(cycle(&store, "live"), 0);
            assert!(delete(&store, "live"));
            assert_eq!(cycle(&store, "live"), 1);
            for i in 0..MAX_GENERATIONS - 1 {
                if restore_at == Some(i) {
                    let again = Store::new(3);
                    again.restore(store.export()).unwrap();
                    store = again;
                }
                let name = format!("n{i}");
                assert_eq!(cycle(&store, &name), 0);
                assert!(delete(&store, &name));
            }
            // At the cap, every name is still counted.
            assert_eq!(counted(&store), MAX_GENERATIONS);
            assert_eq!(cycle(&store, "n0"), 1);
            assert!(delete(&store, "n0"));
            // One more deleted name: all deleted names forgotten, the live one kept.
            assert_eq!(cycle(&store, "extra"), 0);
            assert!(delete(&store, "extra"));
            assert_eq!(counted(&store), 1);
            assert_eq!(cycle(&store, "n0"), 0, "forgotten: its first key again");
            assert!(delete(&store, "live"));
            assert_eq!(cycle(&store, "live"), 2, "a live name kept its count");
        };
        run(None);
        // A state file lists live names created once too; a restore drops those entries.
        run(Some(MAX_GENERATIONS / 2));
        // Regression (persistence review, twenty-eighth session): a name live when the state
        // was saved had an entry after the restore, and its deletion past the cap forgot
        // nothing there, where the run that was never saved forgot every count.
        let crossing = |restore: bool| {
            let mut store = Store::new(3);
            for i in 0..MAX_GENERATIONS {
                let name = format!("n{i}");
                create_named(&store, &name);
                assert!(delete_named(&store, &name));
            }
            create_named(&store, "live");
            if restore {
                let again = Store::new(3);
                again.restore(store.export()).unwrap();
                store = again;
            }
            assert!(delete_named(&store, "live"));
            create_named(&store, "n0")
        };
        assert_eq!(crossing(false), 0);
        assert_eq!(crossing(true), 0);
        // Regression (diff review, twenty-eighth session): a state file with more counts than
        // the API keeps is trimmed as it is restored.
        let store = Store::new(3);
        for i in 0..MAX_GENERATIONS {
            let name = format!("n{i}");
            create_named(&store, &name);
            assert!(delete_named(&store, &name));
        }
        let mut doc = store.export();
        doc.accounts
            .get_mut("t")
            .unwrap()
            .regions
            .get_mut("cn-hangzhou")
            .unwrap()
            .generations
            .insert("zz".into(), 1);
        let again = Store::new(3);
        again.restore(doc).unwrap();
        assert_eq!(counted(&again), 0);
    }

    /// Regression (second black-box audit, sixteenth session): a document holding a counter
    /// at the most it may hold was accepted, the next request or create counted past it, and
    /// the state saved at shutdown was then refused at start.
    #[test]
    fn counters_at_the_limit_are_never_counted_past_so_the_saved_state_loads() {
        // Arrange: a tenant's RequestId count at the limit, its sequence two below it, and a
        // deleted name created the most times a document may say.
        let store = Store::new(3);
        store.next_request_ordinal("t");
        store.default_resource_group("t").unwrap();
        let mut doc = store.export();
        doc.request_ordinals.insert("t".into(), COUNTER_MAX);
        let account = doc.accounts.get_mut("t").unwrap();
        account.next_sequence = COUNTER_MAX - 2;
        account.regions.insert(
            "cn-hangzhou".into(),
            RegionDoc {
                key_pairs: BTreeMap::new(),
                generations: BTreeMap::from([("k-gone".to_string(), COUNTER_MAX)]),
            },
        );
        let limit = Store::new(3);
        limit.restore(doc).unwrap();
        let new_kp = || NewKeyPair {
            fingerprint: key().fingerprint,
            public_key: key().openssh,
            resource_group_id: limit.default_resource_group("t").unwrap(),
            tags: vec![],
            creation_time: 5,
            origin: Origin::Imported,
        };
        // Act / Assert: RequestIds repeat the last ordinal rather than pass it.
        assert_eq!(limit.next_request_ordinal("t"), COUNTER_MAX);
        assert_eq!(limit.next_request_ordinal("t"), COUNTER_MAX);
        // The name at its last generation cannot be created again.
        let refused = limit
            .reserve("t", "cn-hangzhou", "k-gone", None)
            .unwrap_err();
        assert_eq!(refused.code(), "InternalError");
        // Two sequence numbers are left: two creates in flight take them, a third create
        // or an import is refused.
        let a = limit.reserve("t", "cn-hangzhou", "k-a", None).unwrap();
        let b = limit.reserve("t", "cn-hangzhou", "k-b", None).unwrap();
        assert_eq!(tests::refusal(&limit, "k-c"), "InternalError");
        let import = limit.insert("t", "cn-hangzhou", "k-d", None, new_kp());
        assert_eq!(import.unwrap_err().code(), "InternalError");
        a.commit(new_kp());
        b.commit(new_kp());
        // The state saved now loads again.
        let saved = limit.export();
        assert_eq!(saved.accounts["t"].next_sequence, COUNTER_MAX);
        assert_eq!(saved.request_ordinals["t"], COUNTER_MAX);
        Store::new(3).restore(saved).unwrap();
    }

    #[test]
    fn export_then_restore_round_trips_and_continues_generations() {
        let store = Store::new(3);
        store.next_request_ordinal("t");
        let r = store.reserve("t", "cn-hangzhou", "kk", None).unwrap();
        r.commit(NewKeyPair {
            fingerprint: key().fingerprint,
            public_key: key().openssh,
            resource_group_id: store.default_resource_group("t").unwrap(),
            tags: vec![Tag {
                key: "a".into(),
                value: "b".into(),
            }],
            creation_time: 5,
            origin: Origin::Created,
        });
        let doc = store.export();
        let json = serde_json::to_string(&doc).unwrap();
        let again = Store::new(3);
        again.restore(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(again.export(), doc);
        assert_eq!(again.accounts_len.load(Ordering::Relaxed), 1);
        assert_eq!(again.next_request_ordinal("t"), 2);
        assert_eq!(tests::refusal(&again, "kk"), "KeyPair.AlreadyExist");
        again
            .with_account("t", |a| {
                a.region("cn-hangzhou").remove("kk");
            })
            .unwrap();
        assert_eq!(
            again
                .reserve("t", "cn-hangzhou", "kk", None)
                .unwrap()
                .generation(),
            1
        );
    }

    #[test]
    fn listing_order_is_creation_order_after_deletes_and_a_restore() {
        let store = Store::new(3);
        let add = |name: &str| {
            let r = store.reserve("t", "cn-hangzhou", name, None).unwrap();
            r.commit(NewKeyPair {
                fingerprint: key().fingerprint,
                public_key: key().openssh,
                resource_group_id: store.default_resource_group("t").unwrap(),
                tags: Vec::new(),
                creation_time: 5,
                origin: Origin::Created,
            });
        };
        for name in ["zeta", "alpha", "mid", "beta"] {
            add(name);
        }
        store
            .with_account("t", |a| {
                a.region("cn-hangzhou").remove("alpha");
            })
            .unwrap();
        add("alpha"); // re-created: now the newest
        let names = |s: &Store| -> Vec<String> {
            s.key_pairs("t", "cn-hangzhou")
                .into_iter()
                .map(|kp| kp.name)
                .collect()
        };
        assert_eq!(names(&store), ["zeta", "mid", "beta", "alpha"]);
        // The state file files key pairs by name; the order comes back from `sequence`.
        let again = Store::new(3);
        again.restore(store.export()).unwrap();
        assert_eq!(names(&again), ["zeta", "mid", "beta", "alpha"]);
    }

    #[test]
    fn restore_refuses_another_seed_or_version() {
        let doc = Store::new(1).export();
        assert!(Store::new(2)
            .restore(doc.clone())
            .unwrap_err()
            .contains("seed"));
        let mut v = doc;
        v.version = 99;
        assert!(Store::new(1).restore(v).unwrap_err().contains("version"));
    }
}
