//! The product's rules in plain types: events and their inventory, items, orders, money.
//! No I/O and no async here; anything that depends on time takes it as an argument.

pub mod event;
pub mod inventory;
pub mod item;
pub mod line;
pub mod mail;
pub mod order;
pub mod seatmap;
pub mod show;
