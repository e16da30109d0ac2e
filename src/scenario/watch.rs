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

use super::file;
use crate::service::App;

/// Starts the watcher for the scenario files `app` was started with.
pub fn spawn(app: &Arc<App>, interval: Duration) -> tokio::task::JoinHandle<()> {
    let weak: Weak<App> = Arc::downgrade(app);
    let mut seen: HashMap<PathBuf, Vec<u8>> = app
        .scenarios
        .sources()
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(interval).await;
            let Some(app) = weak.upgrade() else { return };
            for (path, last) in seen.iter_mut() {
                let Ok(now) = std::fs::read(path) else {
                    continue; // mid-save or removed: keep what is loaded
                };
                if now == *last {
                    continue;
                }
                *last = now;
                match file::load(path)
                    .map_err(|e| format!("{e:#}"))
                    .and_then(|s| {
                        let name = s.name.clone();
                        app.scenarios.reload(path, s).map(|()| name)
                    }) {
                    Ok(name) => {
                        tracing::info!(file = %path.display(), scenario = %name, "scenario reloaded")
                    }
                    Err(e) => tracing::warn!(
                        file = %path.display(),
                        error = %e,
                        "scenario file changed but was not reloaded; the previous version stays"
                    ),
                }
            }
        }
    })
}
