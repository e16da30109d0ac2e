//! `--state-file`: loading the saved state at start and saving it atomically (what a loaded
//! document may hold is checked by [`crate::statecheck`] when it is restored).
//!
//! Saving writes a sibling temporary file, syncs it and renames it over the target, so a crash
//! (even `kill -9`) leaves either the previous snapshot or the new one, never a torn file.
//! A file that exists but does not parse is refused at start with the reason: replacing it
//! silently would destroy the user's state.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

use crate::store::StateDoc;

/// Reads the state file; `Ok(None)` when it does not exist yet (first run).
///
/// # Errors
/// Unreadable file, or content that is not a valid state document.
pub fn load(path: &Path) -> anyhow::Result<Option<StateDoc>> {
    // Links are resolved by hand first, so that one the kernel's `protected_symlinks` rule
    // would not follow is refused before anything is opened through it; and only a regular
    // file is read: opening a FIFO blocks start-up for ever, a device never ends.
    let target = resolve(path)
        .with_context(|| format!("state file {}: cannot resolve the link", path.display()))?;
    match std::fs::metadata(&target) {
        Ok(meta) if !meta.is_file() && !meta.is_dir() => anyhow::bail!(
            "state file {} is not a regular file (a FIFO, socket or device); give the path of a file",
            path.display()
        ),
        _ => {}
    }
    let bytes = match std::fs::read(&target) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read state file {}", path.display()))
        }
    };
    let doc: StateDoc =
        serde_json::from_slice(crate::jsondoc::without_bom(&bytes)).with_context(|| {
            format!(
                "state file {} is corrupt or not an ecs-mock state file (fix or remove it)",
                path.display()
            )
        })?;
    Ok(Some(doc))
}

/// Checks at start that [`save`] will be able to write `path`: a missing or read-only
/// directory, a path naming a directory (`state.json/`), or a file the save cannot replace,
/// found only at shutdown would lose a whole session's state.
///
/// The probe creates and removes a temporary file as [`save`] does, and never touches the
/// state file itself: renaming onto it (as an earlier probe did when none existed) could
/// replace a file another server sharing the path had just saved. It also removes temporary
/// files that saves killed midway left next to the file, once they are an hour old.
///
/// # Errors
/// The directory does not exist or cannot be written, or no file can be saved under `path`.
pub fn check_writable(path: &Path) -> anyhow::Result<()> {
    let refused = |why: &str| {
        format!(
            "state file {}: {why}, so the state could not be saved",
            path.display()
        )
    };
    let target = resolve(path).with_context(|| refused("cannot resolve the link"))?;
    let cannot = || refused("a file cannot be saved under this path");
    if names_a_directory(&target) {
        return Err(std::io::Error::other("it names a directory")).with_context(cannot);
    }
    let (dir, file_name) = dir_and_name(&target);
    let (tmp, probe) = create_tmp(dir, &file_name, None)
        .with_context(|| refused("cannot write in its directory"))?;
    let checked = probe
        .metadata()
        .and_then(|own| match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => Err(std::io::Error::other("it is a directory")),
            Ok(meta) => replaceable(&meta, &std::fs::metadata(dir)?, &own)
                .and_then(|()| renamable_over(&target)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        });
    drop(probe);
    let removed = std::fs::remove_file(&tmp);
    checked.and(removed).with_context(cannot)?;
    remove_stale_tmps(dir, &file_name);
    Ok(())
}

/// Whether `path` can only name a directory (`x/`, `x/.`, `..`), whatever exists there.
fn names_a_directory(path: &Path) -> bool {
    let raw = path.as_os_str().as_encoded_bytes();
    path.file_name().is_none() || raw.ends_with(b"/") || raw.ends_with(b"/.") || raw == b"."
}

/// Whether the file `meta` describes can be renamed over by this process, whose files look
/// like `own`: in a sticky directory (`/tmp`), only the owner of the file or of the
/// directory (or root) may, so a state file left there by another user (a root or docker
/// run) would fail every save with EPERM.
#[cfg(unix)]
fn replaceable(
    meta: &std::fs::Metadata,
    dir: &std::fs::Metadata,
    own: &std::fs::Metadata,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if sticky_refuses(dir.mode(), dir.uid(), meta.uid(), own.uid()) {
        return Err(std::io::Error::other(format!(
            "it belongs to user {} in a sticky directory, where only its owner may replace it",
            meta.uid()
        )));
    }
    Ok(())
}

/// Whether a rename can replace the existing file `target`: not when it is a mount point (a
/// file bind-mounted into a container: EBUSY) or immutable or append-only (`chattr +i`,
/// `+a`: EPERM), which the probe file in its directory does not show.
#[cfg(target_os = "linux")]
fn renamable_over(target: &Path) -> std::io::Result<()> {
    use rustix::fs::{statx, AtFlags, StatxAttributes, StatxFlags, CWD};
    let flags = AtFlags::NO_AUTOMOUNT | AtFlags::SYMLINK_NOFOLLOW;
    let Ok(st) = statx(CWD, target, flags, StatxFlags::empty()) else {
        // No statx (Linux before 4.11, old container runtimes): the save will tell.
        return Ok(());
    };
    let set =
        |a: StatxAttributes| st.stx_attributes_mask.contains(a) && st.stx_attributes.contains(a);
    if set(StatxAttributes::MOUNT_ROOT) {
        return Err(std::io::Error::other(
            "it is a mount point (a file mounted into a container?), which a save cannot \
             replace: mount the directory that holds it instead",
        ));
    }
    if set(StatxAttributes::IMMUTABLE) || set(StatxAttributes::APPEND) {
        return Err(std::io::Error::other(
            "it is immutable or append-only (chattr +i or +a), so a save cannot replace it",
        ));
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn renamable_over(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether a directory of `dir_mode` owned by `dir_uid` keeps user `uid` from renaming over
/// a file of `file_uid` in it (the sticky bit's rule; root is exempt).
fn sticky_refuses(dir_mode: u32, dir_uid: u32, file_uid: u32, uid: u32) -> bool {
    const STICKY: u32 = 0o1000;
    dir_mode & STICKY != 0 && uid != 0 && file_uid != uid && dir_uid != uid
}

#[cfg(not(unix))]
fn replaceable(
    _: &std::fs::Metadata,
    _: &std::fs::Metadata,
    _: &std::fs::Metadata,
) -> std::io::Result<()> {
    Ok(())
}

/// Where [`save`] writes for `path`: the file a symlink finally points to (existing or not),
/// so that the rename replaces the target and leaves the link in place.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    // As many links as Linux follows before ELOOP.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                followable(&at, &meta)?;
                let link = std::fs::read_link(&at)?;
                at = at.parent().unwrap_or(Path::new("")).join(link);
            }
            _ => return Ok(at),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The kernel's `fs.protected_symlinks` rule, which [`resolve`] following links by hand would
/// bypass: a link in a sticky directory others can write (`/tmp`) is followed only when it
/// belongs to this process's user or to the directory's owner. Otherwise another user could
/// plant a link at the state file's path and have every save write where it points.
#[cfg(unix)]
fn followable(link: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let (dir, _) = dir_and_name(link);
    let dir = std::fs::metadata(dir)?;
    let euid = rustix::process::geteuid().as_raw();
    if protected_link(dir.mode(), dir.uid(), meta.uid(), euid) {
        return Err(std::io::Error::other(format!(
            "{} is a link of user {} in a sticky directory others can write, which is not followed",
            link.display(),
            meta.uid()
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn followable(_: &Path, _: &std::fs::Metadata) -> std::io::Result<()> {
    Ok(())
}

/// Whether a link of `link_uid` in a directory of `dir_mode` owned by `dir_uid` is one the
/// kernel would not follow for user `uid` (`fs.protected_symlinks`; root included).
fn protected_link(dir_mode: u32, dir_uid: u32, link_uid: u32, uid: u32) -> bool {
    const STICKY_WORLD_WRITABLE: u32 = 0o1002;
    dir_mode & STICKY_WORLD_WRITABLE == STICKY_WORLD_WRITABLE
        && link_uid != uid
        && link_uid != dir_uid
}

/// The directory of `path` and its file name.
fn dir_and_name(path: &Path) -> (&Path, String) {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, file_name)
}

/// The prefix of the temporary files saves of `file_name` write: of its first 128 bytes, so
/// that with the pid, count and salt after it the name stays within the 255 bytes a file
/// name may have, as `file_name` itself does.
fn tmp_prefix(file_name: &str) -> String {
    format!(".{}.tmp-", crate::prefix_within(file_name, 128))
}

/// Creates a new temporary file in `dir` for [`save`] to write before renaming it, with the
/// permissions `like` has (the state file being replaced) or the default ones.
///
/// The file is created exclusively (`O_EXCL`, which also refuses a symlink) under a name no
/// one can predict: in a directory others can write (`/tmp`), a link planted under a
/// predictable name made the save truncate and overwrite the file it pointed to. Each call
/// gets its own name, so concurrent saves (two `POST /__mock/snapshot`, or one racing the
/// shutdown save) never write into one another's file.
fn create_tmp(
    dir: &Path,
    file_name: &str,
    like: Option<&std::fs::Permissions>,
) -> std::io::Result<(PathBuf, std::fs::File)> {
    use std::hash::BuildHasher;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..16 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        // RandomState's keys are random per process: the name cannot be guessed from the
        // pid and the count.
        let salt = std::collections::hash_map::RandomState::new().hash_one(n);
        let tmp = dir.join(format!(
            "{}{}-{n}-{salt:016x}",
            tmp_prefix(file_name),
            std::process::id()
        ));
        match open_new(&tmp, like) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary file name was free")))
}

/// Creates the file `path`, which must not exist in any form: a symlink there, even a
/// dangling one, is `AlreadyExists` (`O_CREAT | O_EXCL`), never followed.
fn open_new(path: &Path, like: Option<&std::fs::Permissions>) -> std::io::Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    if let Some(perm) = like {
        if let Err(e) = f.set_permissions(perm.clone()) {
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
    }
    Ok(f)
}

/// Removes temporary files of saves of `file_name` in `dir` that are over an hour old: left
/// by a save that was killed (a CI timeout's `kill -9`), each a full copy of the state. A
/// save in progress, of this server or another sharing the path, is never that old.
fn remove_stale_tmps(dir: &Path, file_name: &str) {
    const STALE: std::time::Duration = std::time::Duration::from_secs(3600);
    let prefix = tmp_prefix(file_name);
    let now = crate::keycache::file_clock_now();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        // `pid-n-salt`, or `pid-n` as versions before the salt named them.
        let is_ours = entry.file_name().to_str().is_some_and(|n| {
            n.strip_prefix(&prefix).is_some_and(|rest| {
                let parts: Vec<&str> = rest.split('-').collect();
                let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
                match parts[..] {
                    [pid, n] => digits(pid) && digits(n),
                    [pid, n, salt] => {
                        digits(pid) && digits(n) && salt.bytes().all(|b| b.is_ascii_hexdigit())
                    }
                    _ => false,
                }
            })
        });
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > STALE);
        if is_ours && stale && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Gives the new file the owner and group of the one it replaces, where this process may
/// (root may; anyone else keeps their own, as before): a root run (`sudo`, a container)
/// saving a user's state file otherwise left it owned by root, and with `chmod 600` unreadable
/// to the user whose file it was. Best effort: the save goes on either way.
#[cfg(unix)]
fn keep_owner(f: &std::fs::File, previous: Option<&std::fs::Metadata>) {
    use std::os::unix::fs::MetadataExt;
    let (Some(previous), Ok(own)) = (previous, f.metadata()) else {
        return;
    };
    if (previous.uid(), previous.gid()) != (own.uid(), own.gid()) {
        let _ = std::os::unix::fs::fchown(f, Some(previous.uid()), Some(previous.gid()));
    }
}

#[cfg(not(unix))]
fn keep_owner(_: &std::fs::File, _: Option<&std::fs::Metadata>) {}

/// Writes `doc` to `path` atomically; through a symlink, to the file it points to. The new
/// file keeps the permissions of the one it replaces (a `chmod 600` survives saves), and its
/// owner where this process may set it (see [`keep_owner`]).
///
/// # Errors
/// Any I/O error; the previous file is then left untouched.
pub fn save(path: &Path, doc: &StateDoc) -> std::io::Result<()> {
    // The temporary file goes next to the link's target, not the link: a rename is atomic
    // only within one file system, and over the link it would replace the link itself.
    let target = resolve(path)?;
    let (dir, file_name) = dir_and_name(&target);
    let previous = std::fs::metadata(&target).ok();
    let like = previous.as_ref().map(std::fs::Metadata::permissions);
    let (tmp, mut f) = create_tmp(dir, &file_name, like.as_ref())?;
    keep_owner(&f, previous.as_ref());
    let result = (|| {
        // Buffered: serde_json writes token by token, a `write` call per few bytes, which
        // made a 6 MB state take ~2 s to save.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut f);
        serde_json::to_writer_pretty(&mut w, doc)?;
        w.write_all(b"\n")?;
        w.flush()?;
        drop(w);
        f.sync_all()?;
        std::fs::rename(&tmp, &target)?;
        // Persist the rename itself.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    /// A fresh directory of this test process under the system's temporary directory.
    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ecs-mock-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Regression (persistence review, twenty-eighth session): a state file bind-mounted on
    /// its own (`docker run -v $PWD/state.json:/data/state.json`) passed the start check, and
    /// every save then failed with EBUSY, the session's state lost at shutdown. Needs the
    /// right to mount (root outside a restricted container); says so and passes otherwise.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_state_file_that_is_a_mount_point_is_refused_at_start() {
        let dir = scratch("mount-point");
        let (source, target) = (dir.join("source.json"), dir.join("state.json"));
        std::fs::write(&source, "{}").unwrap();
        std::fs::write(&target, "{}").unwrap();
        assert!(check_writable(&target).is_ok(), "a plain file is fine");
        let mounted = std::process::Command::new("mount")
            .args(["--bind"])
            .arg(&source)
            .arg(&target)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("cannot bind-mount here: the mount-point check is not exercised");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        let checked = check_writable(&target);
        // The refusal is what a save would meet.
        let saved = save(&target, &Store::new(0).export());
        let unmounted = std::process::Command::new("umount").arg(&target).status();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(unmounted.is_ok_and(|s| s.success()));
        let err = format!("{:#}", checked.unwrap_err());
        assert!(err.contains("it is a mount point"), "{err}");
        assert!(saved.is_err(), "a rename over a mount point fails");
    }

    #[test]
    fn save_then_load_round_trips_and_missing_is_none() {
        let dir = scratch("persist");
        let path = dir.join("state.json");
        assert!(load(&path).unwrap().is_none());
        let doc = Store::new(4).export();
        save(&path, &doc).unwrap();
        assert_eq!(load(&path).unwrap(), Some(doc.clone()));
        // Regression (second black-box audit, sixteenth session): a file saved by an editor
        // that writes a byte order mark was refused as corrupt.
        let mut with_bom = b"\xef\xbb\xbf".to_vec();
        with_bom.extend_from_slice(&std::fs::read(&path).unwrap());
        std::fs::write(&path, with_bom).unwrap();
        assert_eq!(load(&path).unwrap(), Some(doc));
        std::fs::write(&path, b"{not json").unwrap();
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(err.contains("corrupt"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_file_with_the_longest_name_a_file_may_have_is_saved() {
        // Regression (persistence review #4): the temporary name, the state file's with 54
        // bytes more, went over 255 bytes, and such a path was refused at start.
        let dir = scratch("long-name");
        for name in ["s".repeat(255), format!("{}.json", "é".repeat(125))] {
            let path = dir.join(&name);
            check_writable(&path).unwrap();
            let doc = Store::new(4).export();
            save(&path, &doc).unwrap();
            assert_eq!(load(&path).unwrap(), Some(doc), "{} bytes", name.len());
            remove_stale_tmps(&dir, &name);
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            2,
            "no temporary file left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_file_that_could_not_be_saved_is_found_at_start() {
        let dir = scratch("writable");
        check_writable(&dir.join("state.json")).unwrap();
        // The probe leaves nothing behind, and no state file is created by it.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);

        let missing = dir.join("no-such-dir").join("state.json");
        let err = format!("{:#}", check_writable(&missing).unwrap_err());
        assert!(
            err.contains("cannot write in its directory") && err.contains("No such file"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_state_file_path_naming_a_directory_is_refused_at_start() {
        // Regression (F2 of the persistence findings): `state.json/` passed the probe, which
        // only wrote in the parent directory, and then every save failed at the rename.
        let dir = scratch("dirlike");
        for path in [
            dir.join("state.json/"),
            dir.join("state.json/."),
            dir.join(".."),
        ] {
            let err = format!("{:#}", check_writable(&path).unwrap_err());
            assert!(
                err.contains("cannot be saved under this path"),
                "{path:?}: {err}"
            );
        }
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "the probe left files"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_save_by_root_keeps_the_owner_of_the_file_it_replaces() {
        // Audit: a root run saving another user's `chmod 600` state file left it owned by
        // root, unreadable to that user.
        use std::os::unix::fs::MetadataExt;
        let dir = scratch("owner");
        let path = dir.join("state.json");
        save(&path, &Store::new(1).export()).unwrap();
        if std::os::unix::fs::chown(&path, Some(65534), Some(65534)).is_err() {
            // Only root may give a file away; elsewhere there is nothing to keep.
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        save(&path, &Store::new(2).export()).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        assert_eq!(load(&path).unwrap(), Some(Store::new(2).export()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_or_a_device_as_the_state_file_is_refused_without_reading_it() {
        // Audit: a FIFO at the state path blocked start-up for ever in `read`, before any
        // message, and a link to /dev/zero read until memory ran out.
        let dir = scratch("fifo");
        let fifo = dir.join("fifo.json");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let zero = dir.join("zero.json");
        std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
        for path in [&fifo, &zero] {
            let err = format!("{:#}", load(path).unwrap_err());
            assert!(err.contains("is not a regular file"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn saving_through_a_symlink_updates_its_target_and_keeps_the_link() {
        // Regression (F8 of the persistence findings): the rename replaced the link with a
        // regular file and left its target holding the old state.
        // Arrange: link.json -> real/state.json, and dangling.json -> real/new.json.
        let dir = std::env::temp_dir().join(format!("ecs-mock-symlink-{}", std::process::id()));
        let real = dir.join("real");
        std::fs::create_dir_all(&real).unwrap();
        save(&real.join("state.json"), &Store::new(1).export()).unwrap();
        std::os::unix::fs::symlink("real/state.json", dir.join("link.json")).unwrap();
        std::os::unix::fs::symlink(real.join("new.json"), dir.join("dangling.json")).unwrap();
        let doc = Store::new(2).export();
        for (link, target) in [("link.json", "state.json"), ("dangling.json", "new.json")] {
            let link = dir.join(link);
            // Act
            check_writable(&link).unwrap();
            save(&link, &doc).unwrap();
            // Assert
            let meta = std::fs::symlink_metadata(&link).unwrap();
            assert!(meta.file_type().is_symlink(), "{link:?} was replaced");
            assert_eq!(load(&real.join(target)).unwrap(), Some(doc.clone()));
        }
        // Temporary files went next to the target, and none is left.
        assert_eq!(std::fs::read_dir(&real).unwrap().count(), 2);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_sticky_bit_refuses_replacing_another_users_file_unless_root_or_owner() {
        // Regression (files audit #2): a state file of another user in /tmp passed the probe,
        // and every save then failed with EPERM, losing the session's state at shutdown.
        for (dir_mode, dir_uid, file_uid, uid, refused) in [
            (0o1777, 0, 0, 1000, true),
            (0o1777, 0, 1000, 1000, false),
            (0o1777, 1000, 0, 1000, false),
            (0o1777, 0, 5, 0, false),
            (0o0777, 0, 0, 1000, false),
        ] {
            assert_eq!(
                sticky_refuses(dir_mode, dir_uid, file_uid, uid),
                refused,
                "{dir_mode:o} {dir_uid} {file_uid} {uid}"
            );
        }
    }

    #[test]
    fn a_link_of_another_user_in_a_shared_sticky_directory_is_not_followed() {
        // Code review: links at the state path were followed by hand, which bypassed the
        // kernel's protected_symlinks, so another user's link planted at that path in /tmp
        // made saves write where it pointed.
        for (dir_mode, dir_uid, link_uid, uid, protected) in [
            (0o1777, 0, 1000, 0, true),
            (0o1777, 0, 1000, 2000, true),
            (0o1777, 0, 1000, 1000, false),
            (0o1777, 1000, 1000, 0, false),
            (0o1775, 0, 1000, 0, false),
            (0o0777, 0, 1000, 0, false),
        ] {
            assert_eq!(
                protected_link(dir_mode, dir_uid, link_uid, uid),
                protected,
                "{dir_mode:o} {dir_uid} {link_uid} {uid}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn saves_never_write_through_links_planted_under_temporary_names_and_keep_the_mode() {
        // Regression (files audit #1): the temporary file's name was predictable (pid and a
        // count from 0) and opened following links, so a link planted in a shared directory
        // had its target truncated by the start-up probe and overwritten by the save.
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("planted");
        let victim = dir.join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let pid = std::process::id();
        for n in 0..64 {
            std::os::unix::fs::symlink(&victim, dir.join(format!(".state.json.tmp-{pid}-{n}")))
                .unwrap();
        }
        // The exclusive open itself refuses a planted link, dangling or not.
        std::os::unix::fs::symlink(dir.join("nowhere"), dir.join("dangling")).unwrap();
        for planted in ["dangling", &format!(".state.json.tmp-{pid}-0")] {
            let err = open_new(&dir.join(planted), None).unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists, "{planted}");
        }
        assert!(!dir.join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let path = dir.join("state.json");
        check_writable(&path).unwrap();
        save(&path, &Store::new(3).export()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        save(&path, &Store::new(3).export()).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(load(&path).unwrap(), Some(Store::new(3).export()));
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600,
            "a save keeps the mode of the file it replaces"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_probe_removes_temporary_files_of_killed_saves_once_they_are_an_hour_old() {
        // Regression (files audit #6): a save killed midway left a full copy of the state
        // next to the file for good.
        let dir = scratch("stale");
        let old = crate::keycache::file_clock_now() - std::time::Duration::from_secs(7200);
        let make = |name: &str, modified| {
            let f = std::fs::File::create(dir.join(name)).unwrap();
            f.set_modified(modified).unwrap();
        };
        make(".state.json.tmp-12-3-00ab", old);
        make(".state.json.tmp-12-4", old);
        make(".state.json.tmp-notes", old);
        make(".state.json.tmp-12-x-00ab", old);
        make(".other.json.tmp-12-3-00ab", old);
        make(
            ".state.json.tmp-13-0-00cd",
            crate::keycache::file_clock_now(),
        );
        check_writable(&dir.join("state.json")).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".other.json.tmp-12-3-00ab",
                ".state.json.tmp-12-x-00ab",
                ".state.json.tmp-13-0-00cd",
                ".state.json.tmp-notes"
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
