//! Order e-mails: a sender on every node delivers the outbox's rows, away from the checkout.
//!
//! The order's commit writes its mail's row (`store::outbox`), so the checkout never waits for a
//! mail server and a slow or dead one cannot slow or fail an order: it only makes rows wait.
//! Here a background task claims due rows for a lease (so two nodes never send one row at
//! once, and a crashed node's rows come back), builds each message from the order and event as
//! stored ([`message`]), hands it to the mail server or writes it as a file ([`transport`]),
//! and records the outcome: sent; due again after an exponential backoff with jitter (no
//! connection, a timeout, a `4xx`); or parked with the error (a `5xx`, an address that is no
//! address, too many attempts) for the organizer to see and retry. Nothing is deleted.
//!
//! Delivery is at least once: a node that dies after the server accepted a mail but before
//! recording it sends that row again once its claim runs out. The `Message-ID` is the row's id,
//! so such a repeat is recognisably the same message.

pub mod message;
pub mod sender;
pub mod transport;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use lettre::message::Mailbox;

use crate::domain::mail::Backoff;

pub use sender::{run, Sender};

/// Where mails go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// To an SMTP server (`SMTP_URL`: `smtp://`, `smtps://`, with `?tls=` for STARTTLS).
    Smtp(String),
    /// As `.eml` files into this directory (no `SMTP_URL`: the embedded default).
    Files(PathBuf),
}

/// How this node sends mail.
#[derive(Clone, Debug)]
pub struct MailSettings {
    pub delivery: Delivery,
    /// The `From` of every mail (`MAIL_FROM`); its domain names the `Message-ID`s.
    pub from: Mailbox,
    /// Attempts before a row that keeps failing is parked.
    pub max_attempts: u32,
    /// Most mails in flight at once on this node (and pooled connections kept).
    pub concurrency: usize,
    /// The wait between attempts.
    pub backoff: Backoff,
    /// Longest one delivery may take, connecting included.
    pub send_timeout: Duration,
    /// How often the sender looks for due rows when it found none.
    pub poll: Duration,
}

/// Parses `MAIL_FROM`: one mailbox (`Name <addr@host>` or `addr@host`).
pub fn parse_from(text: &str) -> Result<Mailbox, String> {
    Mailbox::from_str(text.trim()).map_err(|e| format!("{text:?} is not one address: {e}"))
}

/// Checks an `SMTP_URL` the way the transport will read it, so a bad one stops the node at
/// startup rather than parking every mail.
pub fn check_smtp_url(url: &str) -> Result<(), String> {
    transport::smtp_builder(url).map(|_| ())
}
