//! On-disk cache of generated keys (`--key-cache DIR`), so a repeated run with the same seed
//! and names skips RSA generation: CI replays and snapshot suites pay keygen once.
//!
//! ```text
//! DIR/<64 hex>.pem      one key: its PKCS#8 PEM, as CreateKeyPair returns it by default
//! DIR/.<hex>.<pid>.<n>.tmp   a write in progress (renamed into place when complete)
//! ```
//! The file name is [`crate::keygen::cache_id`] (SHA-256 over the derivation label, seed,
//! AccessKeyId, RegionId, name and generation) in hex, so entries of different seeds, tenants
//! and derivation versions never collide and one directory serves every run. Fast mode's pool
//! keys ([`crate::keygen::pool_cache_id`]) live here too.
//!
//! - **Validated on load.** The public key and fingerprint are derived from the PEM, never
//!   stored; a file that does not parse, fails `rsa`'s consistency checks (made on the
//!   stored numbers, [`crate::keygen::material_from_pem`]) or is not exactly what the mock
//!   writes is ignored and the key regenerated (and rewritten). A file
//!   replaced by hand with another valid key would be served: the cache trusts its directory.
//! - **Safe under concurrent processes.** Each write goes to a unique temporary file in the
//!   same directory and is `rename`d over the entry, which is atomic: a reader sees the old
//!   file, the new one or none, never a torn one. Two processes writing the same entry write
//!   the same bytes.
//! - **Bounded.** At most [`MAX_ENTRIES`] entries (about 17 MB: a PEM is ~1.7 KB) per process's
//!   view: when a process's count goes above it, it deletes the least recently used entries
//!   (oldest modification time; a hit refreshes it) down to 90 % of the bound, plus temporary
//!   files older than an hour left by crashed writers. Processes sharing the directory each
//!   enforce the bound and count the directory again every [`RECOUNT`] writes of their own, so
//!   together they exceed it by at most that many writes each, and only until one counts.
//! - **Never fatal.** Any I/O error only costs the cache: the key is generated as if it were
//!   off, and the first error is logged once at `warn`.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::keygen::{self, KeyMaterial};

/// Entries a cache directory holds before least recently used ones are deleted.
pub const MAX_ENTRIES: usize = 10_000;

/// Temporary files older than this are leftovers of crashed writers.
const STALE_TMP: Duration = Duration::from_secs(3600);

/// Writes between two counts of the directory (see [`KeyCache::store`]): a count reads the
/// directory (10,000 entries, a few ms), a key costs tens of ms to make.
const RECOUNT: u64 = 100;

/// A key cache directory (created on first write, mode 0700; entries 0600).
#[derive(Debug)]
pub struct KeyCache {
    dir: PathBuf,
    max_entries: usize,
    /// Entries believed present: counted on the first write, then incremented per write.
    count: Mutex<Option<usize>>,
    /// Writes by this process, for [`RECOUNT`].
    writes: AtomicU64,
    warned: AtomicBool,
    tmp_serial: AtomicU64,
}

impl KeyCache {
    /// A cache in `dir` holding at most [`MAX_ENTRIES`]; touches nothing until used.
    pub fn new(dir: PathBuf) -> Self {
        Self::with_max_entries(dir, MAX_ENTRIES)
    }

    /// A cache holding at most `max_entries` (at least 1).
    pub fn with_max_entries(dir: PathBuf, max_entries: usize) -> Self {
        Self {
            dir,
            max_entries: max_entries.max(1),
            count: Mutex::new(None),
            writes: AtomicU64::new(0),
            warned: AtomicBool::new(false),
            tmp_serial: AtomicU64::new(0),
        }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The default directory: `$XDG_CACHE_HOME/ecs-mock` if that variable is an absolute path,
    /// else `$HOME/.cache/ecs-mock`; `None` when neither is usable (then there is no cache).
    pub fn default_dir() -> Option<PathBuf> {
        default_dir_from(std::env::var_os("XDG_CACHE_HOME"), std::env::var_os("HOME"))
    }

    /// The file of entry `id` (whether or not it exists).
    pub fn entry_path(&self, id: &[u8; 32]) -> PathBuf {
        self.dir.join(format!("{}.pem", hex(id)))
    }

    /// The material of cached key `id`, validated (see the module documentation), or `None`.
    pub fn load(&self, id: &[u8; 32]) -> Option<KeyMaterial> {
        self.read(id, keygen::material_from_pem)
    }

    /// [`KeyCache::load`]'s checks, giving `rsa`'s key object instead (fast mode's pool takes
    /// its primes), at `rsa`'s cost.
    pub fn load_key(&self, id: &[u8; 32]) -> Option<rsa::PrivateKey> {
        self.read(id, |pem| keygen::parse_pem(pem).map(|(key, _)| key))
    }

    fn read<T>(&self, id: &[u8; 32], parse: impl FnOnce(&str) -> Option<T>) -> Option<T> {
        let path = self.entry_path(id);
        // Opening a FIFO (or a device) for reading can block until a writer appears, with
        // a CreateKeyPair waiting on it; only a regular file can be an entry.
        if !fs::metadata(&path).ok()?.is_file() {
            tracing::debug!(path = %path.display(), "ignoring a key cache entry that is not a file");
            return None;
        }
        let mut file = fs::File::open(&path).ok()?;
        let mut pem = String::with_capacity(2048);
        // A PEM of an RSA-2048 key is ~1.7 KB; anything much larger is not one of ours.
        (&mut file).take(16 * 1024).read_to_string(&mut pem).ok()?;
        let Some(parsed) = parse(&pem) else {
            tracing::debug!(path = %path.display(), "ignoring an invalid key cache entry");
            return None;
        };
        // Least recently used eviction goes by modification time; failing to refresh it only
        // makes this entry an earlier candidate.
        let _ = file.set_modified(file_clock_now());
        Some(parsed)
    }

    /// Writes `pem` as entry `id`, atomically; errors are logged once and otherwise ignored.
    pub fn store(&self, id: &[u8; 32], pem: &str) {
        if let Err(e) = self.try_store(id, pem) {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "key cache write failed; keys are generated without it");
            }
        }
    }

    fn try_store(&self, id: &[u8; 32], pem: &str) -> std::io::Result<()> {
        create_private_dir(&self.dir)?;
        let tmp = self.dir.join(format!(
            ".{}.{}.{}.tmp",
            hex(id),
            std::process::id(),
            self.tmp_serial.fetch_add(1, Ordering::Relaxed)
        ));
        let written = write_private(&tmp, pem.as_bytes())
            .and_then(|()| fs::rename(&tmp, self.entry_path(id)));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        let mut count = self.count.lock().unwrap_or_else(|p| p.into_inner());
        // Counted again every RECOUNT writes: other processes sharing the directory write
        // too, and with only its own writes added, each of several long-running servers
        // believed the directory below the bound while together they held it above.
        let serial = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        let n = match *count {
            Some(n) if !serial.is_multiple_of(RECOUNT) => n + 1,
            _ => self.entries()?.len(),
        };
        *count = Some(if n > self.max_entries {
            self.evict()?
        } else {
            n
        });
        Ok(())
    }

    /// Entries with their modification times; deletes stale temporary files on the way.
    fn entries(&self) -> std::io::Result<Vec<(SystemTime, PathBuf)>> {
        let now = file_clock_now();
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if is_entry_name(&name) {
                out.push((modified, entry.path()));
            } else if is_tmp_name(&name)
                && now.duration_since(modified).unwrap_or_default() > STALE_TMP
            {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(out)
    }

    /// Deletes least recently used entries down to 90 % of the bound; returns what is left.
    fn evict(&self) -> std::io::Result<usize> {
        let mut entries = self.entries()?;
        let keep = self.max_entries - self.max_entries / 10;
        if entries.len() <= keep {
            return Ok(entries.len());
        }
        entries.sort();
        let excess = entries.len() - keep;
        for (_, path) in &entries[..excess] {
            // Another process may have deleted it first.
            let _ = fs::remove_file(path);
        }
        tracing::debug!(dir = %self.dir.display(), deleted = excess, "key cache evicted least recently used entries");
        Ok(keep)
    }
}

/// Whether `name` is an entry's file name, `<64 hex>.pem`: the directory may be shared, and
/// eviction must never count or delete a file the cache did not write.
fn is_entry_name(name: &str) -> bool {
    name.strip_suffix(".pem").is_some_and(|id| {
        id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// Whether `name` is one of [`KeyCache::store`]'s temporary files, `.<64 hex>.<pid>.<n>.tmp`.
fn is_tmp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.split_once('.'))
        .is_some_and(|(id, serials)| {
            is_entry_name(&format!("{id}.pem"))
                && serials
                    .split_once('.')
                    .is_some_and(|(pid, n)| is_number(pid) && is_number(n))
        })
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Now, for file modification times. These belong to the file system, not to the API: a
/// pinned `clock::Clock` must not make new cache entries look old to other processes.
#[allow(clippy::disallowed_methods)]
pub(crate) fn file_clock_now() -> SystemTime {
    SystemTime::now()
}

fn default_dir_from(
    xdg_cache_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    // The XDG base directory spec says relative values are invalid and must be ignored.
    let xdg = xdg_cache_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute());
    let base = xdg.or_else(|| {
        home.map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .map(|h| h.join(".cache"))
    })?;
    Some(base.join("ecs-mock"))
}

fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(2 * bytes.len());
    for b in bytes {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0x0f)] as char);
    }
    s
}

/// Private keys, even mock ones, are kept from other local users (and ssh refuses
/// group-readable key files, should anyone point it at one).
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh directory under the system temp dir, deleted on drop.
    pub(crate) struct TempDir(pub(crate) PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            static SERIAL: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "ecs-mock-{tag}-{}-{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn id(n: u8) -> [u8; 32] {
        [n; 32]
    }

    fn pem_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_stored_key_loads_back_identical_and_its_public_half_is_derived() {
        // Arrange
        let tmp = TempDir::new("cache-roundtrip");
        let cache = KeyCache::new(tmp.0.join("nested/dir"));
        let km = keygen::generate(7, "ak", "cn-hangzhou", "k", 0);
        // Act
        assert!(cache.load(&id(1)).is_none(), "empty cache");
        cache.store(&id(1), &km.private_key_pem);
        let loaded = cache.load(&id(1)).expect("hit");
        assert_eq!(keygen::material(&cache.load_key(&id(1)).expect("hit")), km);
        // Assert
        assert_eq!(loaded, km);
        assert_eq!(pem_files(cache.dir()), [format!("{}.pem", hex(&id(1)))]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(cache.dir()), 0o700);
            assert_eq!(mode(&cache.entry_path(&id(1))), 0o600);
        }
    }

    #[test]
    fn damaged_or_foreign_files_are_misses() {
        // Arrange
        let tmp = TempDir::new("cache-corrupt");
        let cache = KeyCache::new(tmp.0.clone());
        let km = keygen::generate(7, "ak", "cn-hangzhou", "k", 0);
        let pem = &km.private_key_pem;
        // One base64 character in the middle of the key body, changed.
        let mut flipped = pem.clone().into_bytes();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let cases: [(&str, String); 5] = [
            ("empty", String::new()),
            ("truncated", pem[..pem.len() / 2].to_string()),
            ("one character changed", flipped),
            ("CRLF line endings", pem.replace('\n', "\r\n")),
            ("not a PEM", "hello\n".repeat(100)),
        ];
        for (what, content) in cases {
            // Act
            fs::create_dir_all(&tmp.0).unwrap();
            fs::write(cache.entry_path(&id(2)), &content).unwrap();
            // Assert
            assert!(cache.load(&id(2)).is_none(), "{what}");
            assert!(cache.load_key(&id(2)).is_none(), "{what}");
        }
        // A rewrite replaces the damaged entry.
        cache.store(&id(2), pem);
        assert_eq!(cache.load(&id(2)).unwrap(), km);
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_at_an_entry_path_is_a_miss_not_a_wait() {
        // Arrange: opening a FIFO for reading blocks until a writer comes.
        let tmp = TempDir::new("cache-fifo");
        let cache = std::sync::Arc::new(KeyCache::new(tmp.0.clone()));
        fs::create_dir_all(&tmp.0).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(cache.entry_path(&id(4)))
            .status()
            .unwrap();
        assert!(status.success());
        // Act: on another thread, so that a regression fails the test instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::sync::Arc::clone(&cache);
        std::thread::spawn(move || tx.send(reader.load(&id(4)).is_none()).unwrap());
        // Assert
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(true));
        let km = keygen::generate(7, "ak", "cn-hangzhou", "k", 0);
        cache.store(&id(4), &km.private_key_pem);
        assert_eq!(
            cache.load(&id(4)).unwrap(),
            km,
            "the entry is rewritten as a file"
        );
    }

    #[test]
    fn a_process_sees_the_writes_of_others_sharing_the_directory_within_recount_writes() {
        // Regression (files audit #5): each process counted the directory once, then added
        // only its own writes, so servers sharing it kept it above the bound for good.
        // Arrange: "process" A counts one entry, then B fills the directory past A's bound.
        let tmp = TempDir::new("cache-shared");
        let a = KeyCache::with_max_entries(tmp.0.clone(), 150);
        let b = KeyCache::with_max_entries(tmp.0.clone(), 10_000);
        let id = |n: u16| {
            let mut id = [0u8; 32];
            id[..2].copy_from_slice(&n.to_be_bytes());
            id
        };
        a.store(&id(0), "pem");
        for n in 1..=140 {
            b.store(&id(n), "pem");
        }
        // Act: A's own writes alone would keep it believing 100 entries.
        for n in 1000..1000 + RECOUNT as u16 - 1 {
            a.store(&id(n), "pem");
        }
        // Assert: its last write counted the directory again, found 240 and evicted.
        assert_eq!(pem_files(&tmp.0).len(), 135);
    }

    #[test]
    fn least_recently_used_entries_go_first_when_the_bound_is_passed() {
        // Arrange: a bound of 10, ten entries with modification times 1..=10 s after the epoch.
        let tmp = TempDir::new("cache-evict");
        let cache = KeyCache::with_max_entries(tmp.0.clone(), 10);
        let pem = keygen::generate(7, "ak", "cn-hangzhou", "k", 0).private_key_pem;
        for n in 1..=10u8 {
            cache.store(&id(n), &pem);
            let f = fs::File::options()
                .write(true)
                .open(cache.entry_path(&id(n)))
                .unwrap();
            f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(n)))
                .unwrap();
        }
        // A hit makes entry 1 the most recently used.
        assert!(cache.load(&id(1)).is_some());
        // Act: the eleventh entry passes the bound.
        cache.store(&id(11), &pem);
        // Assert: down to 9, the two oldest (2 and 3) gone, 1 kept.
        let left = pem_files(&tmp.0);
        assert_eq!(left.len(), 9, "{left:?}");
        for gone in [2u8, 3] {
            assert!(!cache.entry_path(&id(gone)).exists(), "entry {gone}");
        }
        for kept in [1u8, 4, 10, 11] {
            assert!(cache.entry_path(&id(kept)).exists(), "entry {kept}");
        }
    }

    /// Regression (black-box audit, sixteenth session): eviction counted and deleted every
    /// `*.pem` of the directory, a user's own files included.
    #[test]
    fn eviction_and_cleanup_touch_only_the_cache_s_own_files() {
        // Arrange: a bound of 2, and old files of the user's beside the cache's.
        let tmp = TempDir::new("cache-foreign");
        let cache = KeyCache::with_max_entries(tmp.0.clone(), 2);
        let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        let foreign = [
            "server-cert.pem",
            "ABCDEF.pem",
            &format!("{}.pem", "A".repeat(64)),
            ".notes.tmp",
            &format!(".{}.x.1.tmp", hex(&id(9))),
        ];
        fs::create_dir_all(&tmp.0).unwrap();
        for name in foreign {
            let f = fs::File::create(tmp.0.join(name)).unwrap();
            f.set_modified(old).unwrap();
        }
        let stale_own = tmp.0.join(format!(".{}.12.3.tmp", hex(&id(8))));
        fs::File::create(&stale_own)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let pem = keygen::generate(7, "ak", "cn-hangzhou", "k", 0).private_key_pem;
        // Act: three entries pass the bound of two.
        for n in 1..=3u8 {
            cache.store(&id(n), &pem);
        }
        // Assert: every foreign file is still there, the stale temporary is gone, and the
        // entries alone were evicted down to the bound.
        for name in foreign {
            assert!(tmp.0.join(name).exists(), "{name}");
        }
        assert!(!stale_own.exists());
        let entries = (1..=3u8)
            .filter(|n| cache.entry_path(&id(*n)).exists())
            .count();
        assert!(entries <= 2, "{entries}");
    }

    #[test]
    fn concurrent_writers_of_one_entry_leave_a_valid_file_and_no_temporaries() {
        // Arrange
        let tmp = TempDir::new("cache-race");
        let km = keygen::generate(7, "ak", "cn-hangzhou", "k", 0);
        // Act: separate caches on one directory stand for separate processes.
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    let cache = KeyCache::new(tmp.0.clone());
                    for _ in 0..20 {
                        cache.store(&id(3), &km.private_key_pem);
                        if let Some(loaded) = cache.load(&id(3)) {
                            assert_eq!(loaded, km);
                        }
                    }
                });
            }
        });
        // Assert
        assert_eq!(KeyCache::new(tmp.0.clone()).load(&id(3)).unwrap(), km);
        assert_eq!(pem_files(&tmp.0).len(), 1);
    }

    #[test]
    fn an_unwritable_directory_only_costs_the_cache() {
        // Arrange: the cache directory's parent is a regular file.
        let tmp = TempDir::new("cache-unwritable");
        fs::create_dir_all(&tmp.0).unwrap();
        fs::write(tmp.0.join("file"), "x").unwrap();
        let cache = KeyCache::new(tmp.0.join("file/cache"));
        // Act / Assert: no panic, just misses.
        cache.store(&id(4), "irrelevant");
        assert!(cache.load(&id(4)).is_none());
    }

    #[test]
    fn the_default_directory_follows_xdg_then_home() {
        let d = |x: Option<&str>, h: Option<&str>| {
            default_dir_from(x.map(Into::into), h.map(Into::into))
        };
        assert_eq!(
            d(Some("/xdg"), Some("/home/u")),
            Some(PathBuf::from("/xdg/ecs-mock"))
        );
        assert_eq!(
            d(Some("relative"), Some("/home/u")),
            Some(PathBuf::from("/home/u/.cache/ecs-mock")),
            "a relative XDG_CACHE_HOME is ignored, as the XDG spec says"
        );
        assert_eq!(
            d(None, Some("/home/u")),
            Some(PathBuf::from("/home/u/.cache/ecs-mock"))
        );
        assert_eq!(d(Some(""), None), None);
        assert_eq!(d(None, Some("")), None);
    }
}
