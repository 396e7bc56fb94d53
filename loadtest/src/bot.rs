//! Bots: scripts that flood join, status and hold without following the rules.
//!
//! A bot sends no cookies, skips or forges the proof of work, forges queue tickets and
//! admissions (right shape, wrong signature), passes a queue ticket off as an admission,
//! hammers its own ticket's status, and ignores `Retry-After`: on a refusal it retries at
//! once (a retry storm). Bots share a few client addresses, as a botnet behind a few exits
//! does. Each bot sends a bounded number of requests; what they got (places, admissions,
//! holds) is counted, since a bot that gets through is the figure that matters.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use goose::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::http::{Answer, Call};
use crate::run::{bot_address, BotTally, Run};

/// Pause after a refusal before the bot tries again: no `Retry-After` for bots.
const STORM_PAUSE_MS: u64 = 10;

/// What a bot tries next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Attack {
    /// Join with no proof of work and no cookie.
    JoinBare,
    /// Join with a made-up proof of work.
    JoinForgedPow,
    /// Poll with a forged ticket.
    StatusForged,
    /// Poll with no token at all.
    StatusBare,
    /// Poll its own ticket, flat out.
    StatusStorm,
    /// Hold with a forged admission.
    HoldForged,
    /// Hold with its queue ticket passed off as an admission.
    HoldWithTicket,
    /// Hold with a real admission (if it ever got one): hoarding.
    HoldAdmitted,
}

/// Picks the next attack from what the bot has (`unit` uniform in 0..1).
fn pick(unit: f64, has_ticket: bool, has_admission: bool) -> Attack {
    if has_admission {
        return Attack::HoldAdmitted;
    }
    let table: &[(f64, Attack)] = if has_ticket {
        &[
            (0.15, Attack::JoinBare),
            (0.25, Attack::JoinForgedPow),
            (0.40, Attack::StatusForged),
            (0.45, Attack::StatusBare),
            (0.75, Attack::StatusStorm),
            (0.90, Attack::HoldForged),
            (1.00, Attack::HoldWithTicket),
        ]
    } else {
        &[
            (0.35, Attack::JoinBare),
            (0.50, Attack::JoinForgedPow),
            (0.75, Attack::StatusForged),
            (0.80, Attack::StatusBare),
            (1.00, Attack::HoldForged),
        ]
    };
    table
        .iter()
        .find(|(edge, _)| unit < *edge)
        .map_or(table[table.len() - 1].1, |(_, a)| *a)
}

/// A token of the server's shape (`base64url(claims).base64url(sig)`) with a made-up
/// signature.
fn forged_token(kind: &str, event: &str, rng: &mut StdRng) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "k": kind, "e": event, "s": format!("bot{}", rng.random::<u32>()),
        "q": rng.random_range(1..1000u64), "i": now, "x": now + 3600,
    });
    let sig: [u8; 32] = rng.random();
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(sig)
    )
}

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
    #[serde(default)]
    admission: Option<String>,
}

#[derive(Deserialize)]
struct Held {
    items: Vec<serde_json::Value>,
}

/// The `bot` scenario for `bots` users.
pub fn scenario(run: &Arc<Run>, bots: usize) -> Result<Scenario, GooseError> {
    let flood_run = run.clone();
    let flood: TransactionFunction = Arc::new(move |user| {
        let run = flood_run.clone();
        Box::pin(async move { flood(user, &run).await })
    });
    Ok(scenario!("bot")
        .set_weight(bots)?
        .register_transaction(Transaction::new(flood).set_name("flood")))
}

async fn flood(user: &mut GooseUser, run: &Run) -> TransactionResult {
    let n = run.next_bot.fetch_add(1, Ordering::Relaxed);
    if n >= run.crowd.bots {
        return Ok(());
    }
    user.client = run.http.clone();
    let mut rng = StdRng::seed_from_u64(run.crowd.seed ^ 0xB07 ^ (n as u64) << 20);
    // Bots come with the crowd: within the first seconds after opening.
    let window = run.arrivals_window_secs();
    run.sleep_until(run.opening + Duration::from_secs_f64(rng.random::<f64>() * window))
        .await;
    let address = run
        .crowd
        .spoof_addresses
        .then(|| bot_address(n, run.crowd.bot_addresses));
    let address = address.as_deref();
    let event = run.event_id.clone();
    let queue = format!("/api/v1/events/{event}/queue");
    let holds = format!("/api/v1/events/{event}/holds");
    let mut ticket: Option<String> = None;
    let mut admission: Option<String> = None;
    let pace = run.crowd.bot_pause;
    for _ in 0..run.crowd.bot_requests {
        if run.out_of_time() {
            break;
        }
        let attack = pick(rng.random(), ticket.is_some(), admission.is_some());
        let forged_ticket = forged_token("queue", &event, &mut rng);
        let forged_admission = forged_token("admission", &event, &mut rng);
        let call = match attack {
            Attack::JoinBare => Call::new("bot join", GooseMethod::Post, queue.clone()),
            Attack::JoinForgedPow => Call::new("bot join", GooseMethod::Post, queue.clone())
                .json(serde_json::json!({"pow": {"challenge": forged_ticket, "nonce": "42"}})),
            Attack::StatusForged => Call::new("bot status", GooseMethod::Get, queue.clone())
                .bearer(Some(&forged_ticket)),
            Attack::StatusBare => Call::new("bot status", GooseMethod::Get, queue.clone()),
            Attack::StatusStorm => {
                Call::new("bot status", GooseMethod::Get, queue.clone()).bearer(ticket.as_deref())
            }
            Attack::HoldForged => Call::new("bot hold", GooseMethod::Post, holds.clone())
                .bearer(Some(&forged_admission))
                .json(serde_json::json!({"tier": "floor", "quantity": 1})),
            Attack::HoldWithTicket => Call::new("bot hold", GooseMethod::Post, holds.clone())
                .bearer(ticket.as_deref())
                .json(serde_json::json!({"tier": "floor", "quantity": 1})),
            Attack::HoldAdmitted => Call::new("bot hold", GooseMethod::Post, holds.clone())
                .bearer(admission.as_deref())
                .json(hoard_body(run)),
        };
        let answer = call.sent_from(address).paced(pace).send(user, run).await;
        tally(run, attack, &answer, &mut ticket, &mut admission);
        let pause = if answer.status.is_some_and(|s| (200..300).contains(&s)) {
            pace.mul_f64(rng.random::<f64>() * 2.0)
        } else {
            Duration::from_millis(rng.random_range(0..=STORM_PAUSE_MS))
        };
        run.sleep(pause).await;
    }
    run.live.bots_done.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// What a hoarding bot asks for: the most one admission may hold of the first tier.
fn hoard_body(run: &Run) -> serde_json::Value {
    match &run.shop {
        crate::run::Shop::Tiers(tiers) => {
            serde_json::json!({"tier": tiers.first().cloned().unwrap_or_default(), "quantity": run.max_per_order})
        }
        crate::run::Shop::Seats { .. } => serde_json::json!({"seats": ["A-1-1"]}),
    }
}

/// Counts an admission once per place (polls re-sign it; a new place starts afresh).
fn note_admission(bots: &mut BotTally, admission: &mut Option<String>, granted: Option<String>) {
    if let Some(a) = granted {
        if admission.is_none() {
            bots.admissions += 1;
        }
        *admission = Some(a);
    }
}

fn tally(
    run: &Run,
    attack: Attack,
    answer: &Answer,
    ticket: &mut Option<String>,
    admission: &mut Option<String>,
) {
    let mut bots = run.bots.lock().unwrap_or_else(|p| p.into_inner());
    bots.requests += 1;
    *bots.statuses.entry(answer.status.unwrap_or(0)).or_default() += 1;
    match (attack, answer.status) {
        (Attack::JoinBare | Attack::JoinForgedPow, Some(status @ (200 | 201))) => {
            if let Some(t) = answer.json::<Ticket>() {
                // A bot sends no cookie, so every 201 is a new place (200: its own again).
                if status == 201 {
                    bots.tickets += 1;
                    *admission = None;
                }
                *ticket = Some(t.ticket);
                note_admission(&mut bots, admission, t.admission);
            }
        }
        (Attack::StatusStorm, Some(200)) => {
            let granted = answer.json::<Ticket>().and_then(|t| t.admission);
            note_admission(&mut bots, admission, granted);
        }
        (Attack::HoldAdmitted, Some(201)) => {
            bots.holds += 1;
            bots.items_held += answer.json::<Held>().map_or(0, |h| h.items.len() as u64);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bot_without_a_ticket_never_storms_its_own_status() {
        for i in 0..100 {
            let attack = pick(i as f64 / 100.0, false, false);
            assert!(!matches!(
                attack,
                Attack::StatusStorm | Attack::HoldWithTicket | Attack::HoldAdmitted
            ));
        }
    }

    #[test]
    fn an_admitted_bot_hoards() {
        assert_eq!(pick(0.1, true, true), Attack::HoldAdmitted);
    }

    #[test]
    fn forged_tokens_have_the_servers_shape() {
        let mut rng = StdRng::seed_from_u64(1);
        let token = forged_token("admission", "e1", &mut rng);
        let (claims, sig) = token.split_once('.').unwrap();
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
        assert_eq!(claims["k"], "admission");
        assert_eq!(claims["e"], "e1");
        assert_eq!(URL_SAFE_NO_PAD.decode(sig).unwrap().len(), 32);
    }
}
