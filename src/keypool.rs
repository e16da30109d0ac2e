//! Runs RSA generation off the async runtime on a bounded number of blocking threads, so a
//! burst of CreateKeyPair calls cannot starve the cheap actions of CPU or of runtime workers.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::keygen::{self, KeyMaterial};

/// A bounded pool for key generation.
#[derive(Debug, Clone)]
pub struct KeyPool {
    permits: Arc<Semaphore>,
}

impl KeyPool {
    /// A pool running at most `workers` generations at once.
    pub fn new(workers: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(workers.max(1))),
        }
    }

    /// One worker per core but one, leaving a core for the request path.
    pub fn for_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores.saturating_sub(1))
    }

    /// Generates the key for these inputs (see [`keygen::generate`]).
    pub async fn generate(
        &self,
        seed: u64,
        access_key_id: &str,
        region: &str,
        name: &str,
        generation: u64,
    ) -> KeyMaterial {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the key pool semaphore is never closed");
        let (ak, region, name) = (
            access_key_id.to_string(),
            region.to_string(),
            name.to_string(),
        );
        tokio::task::spawn_blocking(move || keygen::generate(seed, &ak, &region, &name, generation))
            .await
            .expect("key generation does not panic")
    }
}
