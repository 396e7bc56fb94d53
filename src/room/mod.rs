//! The virtual waiting room: a fair line in front of the shop.
//!
//! The room's logic is written once over [`LineStore`], a small trait of atomic counters;
//! Redis backs it in production (so every node sees one line) and an in-process store backs
//! it when no Redis is configured (one node, `cargo run`).

pub mod line;
pub mod memory_store;
pub mod redis_store;
pub mod token;

use async_trait::async_trait;
use uuid::Uuid;

/// What went wrong talking to the line store.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// Redis cannot be reached or timed out: the caller answers 503 with Retry-After.
    #[error("line store unavailable: {0}")]
    Unavailable(String),
}

/// The shared state of every event's line.
#[async_trait]
pub trait LineStore: Send + Sync + 'static {
    /// Checks the store answers (for `/readyz`).
    async fn ping(&self) -> Result<(), LineError>;
    /// Hands out the next sequence number of an event's line (1, 2, 3, …), atomically across nodes.
    async fn next_seq(&self, event: Uuid) -> Result<u64, LineError>;
    /// The highest sequence number handed out so far (0 when nobody joined).
    async fn last_seq(&self, event: Uuid) -> Result<u64, LineError>;
}
