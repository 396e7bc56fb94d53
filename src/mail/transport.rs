//! Handing a built mail over: to an SMTP server (pooled connections, TLS as the URL says), or
//! as a `.eml` file when no server is configured. Every failure is classed transient (try
//! again later) or permanent (park the row), with a short reason for the metrics.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::transport::smtp::{AsyncSmtpTransportBuilder, PoolConfig};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use uuid::Uuid;

use super::message::{reason, Undelivered};
use super::Delivery;
use crate::domain::mail::Failure;

/// How long an idle pooled connection to the mail server is kept.
const POOL_IDLE: Duration = Duration::from_secs(60);

/// Where this node hands its mails.
pub enum Transport {
    Smtp(Smtp),
    Files(PathBuf),
}

/// The SMTP transport, dropped only where it can clean up: its connection pool spawns a task
/// when dropped, which panics outside a runtime, and a runtime that shuts down drops its tasks
/// (the sender's among them) outside one. There the pool is left to the end of the process,
/// which closes its connections anyway.
pub struct Smtp(Option<AsyncSmtpTransport<Tokio1Executor>>);

impl Drop for Smtp {
    fn drop(&mut self) {
        if let Some(transport) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_err() {
                std::mem::forget(transport);
            }
        }
    }
}

/// The transport builder an `SMTP_URL` describes: `smtp://host[:port]` (plain, port 25),
/// `smtp://host[:port]?tls=required` (STARTTLS or nothing, port 587),
/// `smtp://host[:port]?tls=opportunistic` (STARTTLS when offered), `smtps://host[:port]`
/// (TLS from the first byte, port 465); `user:password@` (percent-encoded) to log in.
pub fn smtp_builder(url: &str) -> Result<AsyncSmtpTransportBuilder, String> {
    if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
        return Err(format!("{url:?}: expected smtp://… or smtps://…"));
    }
    AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| format!("{url:?}: {e}"))
}

impl Transport {
    /// The transport of `delivery`, keeping up to `connections` pooled connections; each
    /// connect (and each command) gives up after `timeout`. Must run inside the runtime that
    /// sends.
    pub fn new(delivery: &Delivery, connections: usize, timeout: Duration) -> Result<Self, String> {
        match delivery {
            Delivery::Smtp(url) => Ok(Transport::Smtp(Smtp(Some(
                smtp_builder(url)?
                    .timeout(Some(timeout))
                    .pool_config(
                        PoolConfig::new()
                            .max_size(u32::try_from(connections.max(1)).unwrap_or(u32::MAX))
                            .min_idle(0)
                            .idle_timeout(POOL_IDLE),
                    )
                    .build(),
            )))),
            Delivery::Files(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                Ok(Transport::Files(dir.clone()))
            }
        }
    }

    /// Delivers the mail of row `id` within `timeout`.
    pub async fn deliver(
        &self,
        id: Uuid,
        message: &Message,
        timeout: Duration,
    ) -> Result<(), Undelivered> {
        match self {
            Transport::Smtp(Smtp(None)) => unreachable!("only a drop takes the transport"),
            Transport::Smtp(Smtp(Some(smtp))) => {
                // The transport's own timeout covers connecting and each command, not a whole
                // delivery: this one does.
                match tokio::time::timeout(timeout, smtp.send(message.clone())).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(classify(&e)),
                    Err(_) => Err(Undelivered {
                        failure: Failure::Transient,
                        reason: reason::TIMEOUT,
                        detail: format!("no answer from the mail server within {timeout:?}"),
                    }),
                }
            }
            Transport::Files(dir) => {
                write_file(dir, id, &message.formatted()).map_err(|e| Undelivered {
                    failure: Failure::Transient,
                    reason: reason::FILE,
                    detail: format!("writing the mail into {}: {e}", dir.display()),
                })
            }
        }
    }
}

/// Writes `DIR/{id}.eml` whole or not at all (a temporary file renamed), so a retry replaces
/// it and a reader never sees half a mail.
fn write_file(dir: &Path, id: Uuid, bytes: &[u8]) -> std::io::Result<()> {
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.partial"));
    std::fs::write(&partial, bytes)?;
    std::fs::rename(&partial, &path)
}

/// What an SMTP error says about trying again. A `4xx` reply, a timeout, no connection and
/// anything unforeseen (a TLS handshake, a dropped connection) are transient: the backoff and
/// `MAIL_MAX_ATTEMPTS` bound them. Only a `5xx` reply is permanent.
fn classify(e: &lettre::transport::smtp::Error) -> Undelivered {
    let (failure, reason) = if e.is_permanent() {
        (Failure::Permanent, reason::REJECTED)
    } else if e.is_transient() {
        (Failure::Transient, reason::DEFERRED)
    } else if e.is_timeout() {
        (Failure::Transient, reason::TIMEOUT)
    } else if e.is_tls() {
        (Failure::Transient, reason::TLS)
    } else if io_cause(e).is_some() {
        (Failure::Transient, reason::UNREACHABLE)
    } else {
        (Failure::Transient, reason::OTHER)
    };
    Undelivered {
        failure,
        reason,
        detail: describe(e),
    }
}

/// The causes under an SMTP error, nearest first.
fn causes<'e>(
    e: &'e lettre::transport::smtp::Error,
) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    std::iter::successors(std::error::Error::source(e), |cause| cause.source())
}

/// The io error under an SMTP error, if it has one (connection refused, reset, …).
fn io_cause(e: &lettre::transport::smtp::Error) -> Option<&std::io::Error> {
    causes(e).find_map(|cause| cause.downcast_ref::<std::io::Error>())
}

/// The error with its causes on one line (a server's reply text included).
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    for cause in causes(e) {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
    }
    super::message::one_line(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_are_checked_as_the_transport_reads_them() {
        for good in [
            "smtp://127.0.0.1:2525",
            "smtp://mail.example.com:587?tls=required",
            "smtp://mail.example.com?tls=opportunistic",
            "smtps://user:p%40ss@mail.example.com:465",
        ] {
            assert!(smtp_builder(good).is_ok(), "{good}");
        }
        for bad in [
            "http://x",
            "mail.example.com:25",
            "smtp://",
            "smtp://h?tls=bogus",
        ] {
            assert!(smtp_builder(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_is_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("floodgate-mail-{}", Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let id = Uuid::now_v7();
        write_file(&dir, id, b"first").unwrap();
        write_file(&dir, id, b"second").unwrap();
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(files.len(), 1);
        assert_eq!(
            std::fs::read(dir.join(format!("{id}.eml"))).unwrap(),
            b"second"
        );
        std::fs::remove_dir_all(dir).ok();
    }
}
