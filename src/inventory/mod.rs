//! Inventory actors: one per event, found through the [`registry`], each with a committer
//! that writes its orders in groups (`docs/architecture.md`, the flow of one fan, steps 5–6).

pub mod actor;
pub mod committer;
pub mod registry;

pub use registry::{InventoryHandle, Registry, ShopSettings};
