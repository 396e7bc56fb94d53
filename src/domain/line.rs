//! What a line keeps durably: the opening draw and the marks a line store restores from.
//!
//! Both the room (which makes them) and the order store (which keeps them in the database)
//! speak of these, so they live here, below both.

/// The draw made when the sale opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opening {
    /// Fans who joined before opening (join numbers `1..=prequeue_size`).
    pub prequeue_size: u64,
    /// The draw's seed, hex.
    pub seed: String,
    /// When the line opened, ms since the epoch.
    pub opened_at_ms: i64,
}

/// Durable marks restored into a line after its store lost it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Marks {
    /// Join numbers below this were (or may have been) handed out: a line that lost its data
    /// (no ceiling) continues above it.
    pub seq_floor: u64,
    pub ceiling: u64,
    pub serving: u64,
    pub opening: Option<Opening>,
    /// The line store received a block before (so a missing ceiling means lost data).
    pub initialized: bool,
}
