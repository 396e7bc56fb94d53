//! End-to-end tests of the HTTP API against a real app on real backends (see helpers.rs).

mod helpers;
mod mailer;
mod proxy;

mod browser;
mod cluster;
mod concurrency;
mod console;
mod edge;
mod events;
mod hardening;
mod health;
mod mail;
mod openapi;
mod orders;
mod outages;
mod owners;
mod pacer;
mod pages;
mod room;
mod seatmap;
mod shop;
mod waiting;
