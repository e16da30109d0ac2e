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
    let bytes = match std::fs::read(path) {
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

/// Checks at start that [`save`] will be able to write `path`, by doing what it does with an
/// empty temporary file named like the ones it writes: a missing or read-only directory, or a
/// path naming a directory (`state.json/`), found only at shutdown would lose a whole
/// session's state.
///
/// The probe renames the temporary file to the state file only when none exists yet (and then
/// removes it): an existing one was just loaded, so it is a file the save can replace.
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
    let (_, tmp) = sibling_tmp(&target);
    std::fs::File::create(&tmp).with_context(|| refused("cannot write in its directory"))?;
    let renamed = match std::fs::symlink_metadata(&target) {
        Ok(meta) if meta.is_dir() => Err(std::io::Error::other("it is a directory")),
        Ok(_) => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::rename(&tmp, &target).map(|()| true)
        }
        Err(e) => Err(e),
    };
    let removed = match renamed {
        Ok(true) => std::fs::remove_file(&target),
        _ => std::fs::remove_file(&tmp),
    };
    renamed
        .and(removed)
        .with_context(|| refused("a file cannot be saved under this path"))
}

/// Where [`save`] writes for `path`: the file a symlink finally points to (existing or not),
/// so that the rename replaces the target and leaves the link in place.
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut at = path.to_path_buf();
    // As many links as Linux follows before ELOOP.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = std::fs::read_link(&at)?;
                at = at.parent().unwrap_or(Path::new("")).join(link);
            }
            _ => return Ok(at),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// The directory of `path` and a fresh temporary file name there for [`save`] to write before
/// renaming it.
///
/// Each call gets its own name (pid and a process-wide counter): concurrent saves (two
/// `POST /__mock/snapshot`, or one racing the shutdown save) would otherwise truncate each
/// other's file and rename it away under one another.
fn sibling_tmp(path: &Path) -> (&Path, PathBuf) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
    (dir, tmp)
}

/// Writes `doc` to `path` atomically; through a symlink, to the file it points to.
///
/// # Errors
/// Any I/O error; the previous file is then left untouched.
pub fn save(path: &Path, doc: &StateDoc) -> std::io::Result<()> {
    // The temporary file goes next to the link's target, not the link: a rename is atomic
    // only within one file system, and over the link it would replace the link itself.
    let target = resolve(path)?;
    let (dir, tmp) = sibling_tmp(&target);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        serde_json::to_writer_pretty(&mut f, doc)?;
        f.write_all(b"\n")?;
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

    #[test]
    fn save_then_load_round_trips_and_missing_is_none() {
        let dir = std::env::temp_dir().join(format!("ecs-mock-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
    fn a_state_file_that_could_not_be_saved_is_found_at_start() {
        let dir = std::env::temp_dir().join(format!("ecs-mock-writable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
        let dir = std::env::temp_dir().join(format!("ecs-mock-dirlike-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
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
}
