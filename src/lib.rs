//! Floodgate: a ticketing engine for flash-crowd sales.
//!
//! A fair waiting room ([`room`]) admits fans at a pace the shop can take; one inventory actor
//! per event ([`inventory`]) sells each item exactly once; orders are group-committed to the
//! database ([`store`]). See `ARCHITECTURE.md` for the design and `API.md` for the contract.

pub mod clock;
pub mod config;
pub mod domain;
pub mod edge;
pub mod inventory;
pub mod room;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
