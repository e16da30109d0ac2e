//! Connection threads: each runs a single-threaded runtime, and an accepted connection is
//! dealt to one of them, in turn, for its whole life.
//!
//! On tokio's work-stealing runtime a connection's task moved between the workers, its
//! buffers were freed on another thread than the one that allocated them, idle workers were
//! woken to look for work and all shared one timer. Pinning each connection to one thread
//! costs ~12-15% less CPU per request; with one thread more than cores (the default) the cheap
//! actions at concurrency 64 serve 15-25% more requests per second at about the same p99
//! (docs/performance.md). What is shared (store, journal, nonces) stays behind the same locks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::runtime::{Handle, RuntimeMetrics};
use tokio::sync::oneshot;

/// The running threads; dropping this stops them once their runtimes are idle of polls
/// (tasks still on them are dropped with the runtime).
#[derive(Debug)]
pub struct Workers {
    handles: Vec<Handle>,
    next: AtomicUsize,
    /// Dropped with `Workers`: each thread's `block_on` then returns and its runtime ends.
    _stop: Vec<oneshot::Sender<()>>,
}

impl Workers {
    /// Starts `n` threads (at least one).
    ///
    /// # Errors
    /// When a thread or its runtime cannot be created.
    pub fn start(n: usize) -> std::io::Result<Self> {
        let mut handles = Vec::with_capacity(n.max(1));
        let mut stop = Vec::with_capacity(n.max(1));
        for i in 0..n.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(runtime.handle().clone());
            let (tx, rx) = oneshot::channel::<()>();
            stop.push(tx);
            std::thread::Builder::new()
                .name(format!("ecs-mock-worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async {
                        let _ = rx.await;
                    });
                })?;
        }
        Ok(Self {
            handles,
            next: AtomicUsize::new(0),
            _stop: stop,
        })
    }

    /// The runtime the next connection goes to.
    pub fn next(&self) -> &Handle {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        &self.handles[i]
    }

    /// The runtimes' counters, for [`busy`].
    pub fn metrics(&self) -> Vec<RuntimeMetrics> {
        self.handles.iter().map(Handle::metrics).collect()
    }
}

/// Time the runtimes' workers have spent running tasks, all together.
pub fn busy(runtimes: &[RuntimeMetrics]) -> Duration {
    runtimes
        .iter()
        .flat_map(|r| (0..r.num_workers()).map(move |w| r.worker_total_busy_duration(w)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_are_dealt_to_the_threads_in_turn_and_run_there() {
        // Arrange
        let workers = Workers::start(3).unwrap();
        // Act: six tasks, each reporting the thread it ran on.
        let names: Vec<String> = (0..6)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel();
                workers.next().spawn(async move {
                    let name = std::thread::current().name().map(str::to_string);
                    tx.send(name.unwrap_or_default()).unwrap();
                });
                rx.recv_timeout(Duration::from_secs(10)).unwrap()
            })
            .collect();
        // Assert
        assert_eq!(
            names,
            [0, 1, 2, 0, 1, 2].map(|i| format!("ecs-mock-worker-{i}"))
        );
        assert_eq!(workers.metrics().len(), 3);
    }

    #[test]
    fn dropping_the_workers_ends_their_threads() {
        // Arrange: a task that reports when its runtime drops it.
        let workers = Workers::start(1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        workers.next().spawn(async move {
            let _guard = tx;
            started_tx.send(()).unwrap();
            std::future::pending::<()>().await;
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        // Act
        drop(workers);
        // Assert: the pending task was dropped with its runtime, closing the channel.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
