//! A fan's place in the line: where they stand, how long they may wait, and their admission
//! once their turn has come — at once, or, near the front, as soon as it changes.
//!
//! A long poll (`GET …/queue?wait=N`) near the front (or the opening) parks the request on the
//! node's watch of the event's line: the pacer's tick on the owner, and each node's refresh of
//! the lines its fans wait on (once a tick), wake every parked fan of the event at once, each
//! looks at the node's snapshot (no store round trip) and answers if its state changed. At most
//! `LONG_POLL_MAX` requests are parked per node; past that, a long poll is answered at once.

use std::sync::atomic::Ordering;
use std::time::Duration;

use uuid::Uuid;

use super::{Sale, SaleError};
use crate::room::line::{FanState, Status};
use crate::room::token::Claims;

/// The longest a long poll may wait (`?wait=N`, N ≤ this many seconds).
pub const MAX_WAIT_SECS: u64 = 30;

/// The status of a verified ticket of `event`; `token` is its signed form, echoed back.
pub async fn status(
    sale: &Sale,
    event: Uuid,
    ticket: &Claims,
    token: String,
) -> Result<Status, SaleError> {
    let rules = sale.rules(event).await?;
    Ok(sale.room.status(ticket, token, &rules).await?)
}

/// Counts a parked long poll while it lives.
struct Parked<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Parked<'_> {
    fn drop(&mut self) {
        let left = self.0.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("long_polls_parked").set(left as f64);
    }
}

/// The status, waiting up to `wait` for it to change when the fan is near the front (or the
/// opening): answers the moment they are admitted or skipped, or the sale sells out, pauses or
/// goes on; else after `wait` with the same shape. Far from the front, or with the node's
/// parked polls at their bound, it answers at once. `set_aside` is called once the poll
/// parks, and what it returns is held while it waits (the web layer lets a parked poll out of
/// its in-flight counts: a poll answered at once stays counted).
pub async fn wait_for_change<G>(
    sale: &Sale,
    event: Uuid,
    ticket: &Claims,
    token: String,
    wait: Duration,
    set_aside: impl FnOnce() -> G,
) -> Result<Status, SaleError> {
    // Watch before looking: a change between the look and the wait still wakes the poll.
    let mut changes = sale.room.watch(event);
    let first = status(sale, event, ticket, token.clone()).await?;
    let parkable = matches!(first.state, FanState::Waiting | FanState::PreQueue)
        && first.poll_after_ms == 0
        && !wait.is_zero();
    if !parkable {
        return Ok(first);
    }
    let parked = sale.parked.fetch_add(1, Ordering::Relaxed) + 1;
    let _parked = Parked(&sale.parked);
    if parked > sale.settings.long_poll_max {
        metrics::counter!("long_polls_refused_total").increment(1);
        // Answered at once: the fan polls again shortly, not in a tight loop.
        let mut first = first;
        first.poll_after_ms = crate::room::pacing::MIN_POLL_AFTER_MS;
        return Ok(first);
    }
    metrics::gauge!("long_polls_parked").set(parked as f64);
    let _aside = set_aside();
    let deadline = tokio::time::Instant::now() + wait;
    // A parked fan is present: looked at again well within the liveness grace (each look
    // marks them seen), so a line that does not move meanwhile never skips them as gone.
    let keep_seen = sale.room.liveness_grace() / 3;
    loop {
        let woke = tokio::select! {
            changed = changes.changed() => changed.is_ok(),
            _ = tokio::time::sleep(keep_seen) => true,
            _ = tokio::time::sleep_until(deadline) => false,
        };
        let now = status(sale, event, ticket, token.clone()).await?;
        let moved = now.state != first.state || now.sale_state != first.sale_state;
        if moved || !woke {
            return Ok(now);
        }
    }
}
