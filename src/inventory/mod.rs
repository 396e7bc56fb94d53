//! Inventory actors: one per event, found through the [`registry`], each with a committer
//! that writes its orders in groups (ARCHITECTURE.md, flow steps 5–6).

pub mod actor;
pub mod committer;
pub mod registry;

pub use registry::{InventoryHandle, Registry, ShopSettings};
