//! The in-process line store: the embedded default when no Redis is configured.
//!
//! It keeps the same counters Redis would, behind one mutex; it serves one node only, which is
//! all `cargo run` needs.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use uuid::Uuid;

use super::{LineError, LineStore};

/// Counters of every event's line, in memory.
#[derive(Default)]
pub struct MemoryLineStore {
    lines: Mutex<HashMap<Uuid, u64>>,
}

impl MemoryLineStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with_lines<T>(&self, f: impl FnOnce(&mut HashMap<Uuid, u64>) -> T) -> T {
        // A panic while holding this lock leaves plain counters, still consistent: recover it.
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut lines)
    }
}

#[async_trait]
impl LineStore for MemoryLineStore {
    async fn ping(&self) -> Result<(), LineError> {
        Ok(())
    }

    async fn next_seq(&self, event: Uuid) -> Result<u64, LineError> {
        Ok(self.with_lines(|lines| {
            let seq = lines.entry(event).or_insert(0);
            *seq += 1;
            *seq
        }))
    }

    async fn last_seq(&self, event: Uuid) -> Result<u64, LineError> {
        Ok(self.with_lines(|lines| lines.get(&event).copied().unwrap_or(0)))
    }
}
