//! Floodgate: a ticketing engine for flash-crowd sales.
//!
//! A fair waiting room admits fans at a pace the shop can take; one inventory actor per event
//! sells each item exactly once; orders are group-committed to the database.
//! `docs/architecture.md` tells the design and the flow of one fan; `docs/api.md` the HTTP
//! contract as built.
//!
//! # Layout
//!
//! Dependencies point down this list; nothing imports a module above it (a test checks).
//!
//! - [`domain`]: the rules in plain types, no I/O — events, item ids, the inventory state
//!   machine ([`domain::inventory`]), orders, the line's durable marks.
//! - [`store`]: events and orders in the database (Postgres or SQLite), one trait.
//! - [`room`]: the waiting room — tickets and admissions ([`room::token`]), the line and its
//!   tick ([`room::line`]), the pacer's arithmetic ([`room::pacing`]), Redis or in-process.
//! - [`inventory`]: one actor per event that holds its places ([`inventory::actor`]), the
//!   registry of actors, the group committer.
//! - [`edge`]: who is calling and how often: client addresses, rate limits, proof of work.
//! - [`mail`]: order e-mails, sent from the outbox the order commits write, by a background
//!   sender on every node.
//! - [`sale`]: every operation, one file each. **A seat is claimed** in [`sale::hold`] (the
//!   actor decides in `InventoryActor`'s `PlaceHold` handler); **a fan is admitted** in
//!   [`sale::admit`] (the pacer loop, which runs `Room::tick`); an order is made in
//!   [`sale::order`].
//! - [`web`]: the JSON API and the pages, thin adapters over `sale`; extractors for the checks
//!   every route of a kind makes; errors to responses.
//! - [`config`] (settings from the environment), [`startup`] (builds and runs a node),
//!   [`telemetry`] (logs, metrics), [`clock`], [`shutdown`].

pub mod clock;
pub mod config;
pub mod domain;
pub mod edge;
pub mod inventory;
pub mod mail;
pub mod room;
pub mod sale;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
