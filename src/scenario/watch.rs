//! `--watch`: reloads a scenario file when its content changes, without touching state,
//! counters of other scenarios or the journal.
//!
//! Polling the file contents (not modification times) keeps this free of platform file-event
//! APIs and of coarse mtime granularity; scenario files are small. The task holds only a
//! `Weak` reference to the app, so it ends when the server does.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::{file, ReloadError};
use crate::service::App;

/// Starts the watcher for the scenario files `app` was started with.
pub fn spawn(app: &Arc<App>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let weak: Weak<App> = Arc::downgrade(app);
    // Per file: its last content, and the name its scenario was loaded under.
    let mut seen: HashMap<PathBuf, (Vec<u8>, String)> = app
        .scenarios
        .sources()
        .into_iter()
        .map(|(p, name)| {
            let bytes = crate::jsondoc::read_bytes(&p).unwrap_or_default();
            (p, (bytes, name))
        })
        .collect();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(app) = weak.upgrade() else { return };
            // Off the runtime: reading and parsing a large file there held up every new
            // connection this thread accepts, for seconds.
            seen = match tokio::task::spawn_blocking(move || {
                poll(&app, &mut seen);
                seen
            })
            .await
            {
                Ok(seen) => seen,
                Err(_) => return,
            };
        }
    })
}

/// Reloads each watched file that changed since `seen` recorded it.
fn poll(app: &App, seen: &mut HashMap<PathBuf, (Vec<u8>, String)>) {
    let mut detached = Vec::new();
    for (path, (last, loaded_as)) in seen.iter_mut() {
        let now = match crate::jsondoc::read_bytes(path) {
            Ok(now) => now,
            Err(e) if e.kind() == std::io::ErrorKind::Other => {
                // Too large, or replaced by a device: said once, as a change that does not
                // parse is.
                if !last.is_empty() {
                    tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "scenario file changed but was not reloaded; the previous version stays"
                    );
                }
                last.clear();
                continue;
            }
            Err(_) => continue, // mid-save or removed: keep what is loaded
        };
        if now == *last {
            continue;
        }
        // Parsed from the bytes just compared, not read again: a save landing between
        // two reads would load one version and remember another, and an identical
        // save after it would never be loaded.
        let parsed = std::str::from_utf8(&now)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| file::parse(text).map_err(|e| e.to_string()));
        *last = now;
        let scenario = match parsed {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(
                    file = %path.display(),
                    error = %e,
                    "scenario file changed but was not reloaded; the previous version stays"
                );
                continue;
            }
        };
        let name = scenario.name.clone();
        match app.scenarios.reload(path, loaded_as, scenario) {
            Ok(()) => {
                tracing::info!(file = %path.display(), scenario = %name, "scenario reloaded");
                *loaded_as = name;
            }
            Err(e @ ReloadError::Detached { .. }) => {
                // Said once: the file stays detached, so later edits are ignored.
                tracing::warn!(
                    file = %path.display(),
                    reason = %e,
                    "scenario file changed but was not reloaded"
                );
                detached.push(path.clone());
            }
            Err(e) => tracing::warn!(
                file = %path.display(),
                error = %e,
                "scenario file changed but was not reloaded; the previous version stays"
            ),
        }
    }
    for path in detached {
        seen.remove(&path);
    }
}
