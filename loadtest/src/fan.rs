//! A fan, as the waiting-room page (`static/queue.js`) behaves: join the line (solving the
//! proof of work when the event asks), poll the status at an interval that grows with the
//! distance to the front, with ±20 % jitter, honour `Retry-After`, and once admitted hold
//! places and order them with an `Idempotency-Key`, retrying the order with the same key
//! when an answer is lost or refused for load.
//!
//! In goose terms a fan is a user running the `fan` scenario once: three transactions
//! (`join`, `wait`, `shop`) that pass the fan's state along as goose session data.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::audit::{Item, SeenOrder};
use crate::http::Call;
use crate::run::{fan_address, FanRecord, Outcome, Run, Shop};
use crate::seats;
use floodgate_pow as pow;

/// Poll interval bounds of the waiting-room page, and its per-place step.
const POLL_MIN_MS: f64 = 1500.0;
const POLL_MAX_MS: f64 = 15000.0;
const POLL_MS_PER_PLACE_AHEAD: f64 = 15.0;
/// Poll interval in the pre-queue, where nothing moves before opening.
const PREQUEUE_POLL_MS: f64 = 10000.0;
/// The page's jitter: ±20 %.
const POLL_JITTER: f64 = 0.2;
/// Wait after a request that got no answer (the page's "connection lost").
const NO_ANSWER_WAIT: Duration = Duration::from_secs(3);
/// Wait after an unexpected refusal before polling again (the page's).
const ODD_ANSWER_WAIT: Duration = Duration::from_secs(5);
/// Wait before fetching a new challenge after a refused solution (the page's).
const POW_REFUSED_WAIT: Duration = Duration::from_secs(1);
/// Tries of one hold or order before the fan gives up.
const SHOP_ATTEMPTS: u32 = 30;
/// How many times a fan holds again after its hold died with the node that kept it.
const HOLD_ROUNDS: u32 = 3;
/// Above this difficulty the solver runs on the blocking pool, off the async workers.
const POW_INLINE_MAX_BITS: u8 = 12;

/// How soon after the opening a pre-queue page polls when its 10 s would sleep through it:
/// 0.5 s plus up to 3 s spread.
const AFTER_OPENING_MS: (f64, f64) = (500.0, 3000.0);

/// The waiting-room page's next poll: `ahead × 15 ms` within 1.5–15 s (10 s in the
/// pre-queue, but never past the opening: then 0.5–3.5 s after it), times a jitter factor in
/// 0.8–1.2 (`unit` is uniform in 0..1).
pub fn next_poll(state: &str, ahead: u64, unit: f64, until_opening: Duration) -> Duration {
    let unit = unit.clamp(0.0, 1.0);
    let factor = 1.0 - POLL_JITTER + 2.0 * POLL_JITTER * unit;
    if state == "pre_queue" {
        let jittered = PREQUEUE_POLL_MS * factor;
        let until = until_opening.as_secs_f64() * 1000.0;
        let ms = if until < jittered {
            until + AFTER_OPENING_MS.0 + AFTER_OPENING_MS.1 * unit
        } else {
            jittered
        };
        return Duration::from_secs_f64(ms / 1000.0);
    }
    let base = (ahead as f64 * POLL_MS_PER_PLACE_AHEAD).clamp(POLL_MIN_MS, POLL_MAX_MS);
    Duration::from_secs_f64(base * factor / 1000.0)
}

/// A join or status answer.
#[derive(Deserialize)]
struct QueueStatus {
    ticket: String,
    state: String,
    #[serde(default)]
    join_number: Option<u64>,
    #[serde(default)]
    ahead: u64,
    #[serde(default)]
    sale_state: Option<String>,
    #[serde(default)]
    admission: Option<String>,
    /// When to ask again, ms (0: at once, on a long poll); absent from older servers.
    #[serde(default)]
    poll_after_ms: Option<u64>,
    /// When the server admitted the fan.
    #[serde(default)]
    admitted_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl QueueStatus {
    /// Seconds from the server's admission to now, when this answer carries the admission.
    fn heard_late_secs(&self) -> Option<f64> {
        let at = self.admitted_at?;
        Some((chrono::Utc::now() - at).num_microseconds()? as f64 / 1e6)
    }
}

/// How long a fan's long poll may wait for a change, seconds (the server holds it near the
/// front only).
pub const LONG_POLL_SECS: u64 = 25;

#[derive(Deserialize)]
struct ChallengeAnswer {
    challenge: String,
    difficulty_bits: u8,
}

#[derive(Deserialize)]
struct HoldAnswer {
    hold_id: String,
}

#[derive(Deserialize)]
struct OrderAnswer {
    order_id: String,
    items: Vec<Item>,
}

/// One fan's state between transactions.
#[derive(Clone)]
struct Visit {
    record: FanRecord,
    address: Option<String>,
    ticket: String,
    admission: Option<String>,
    /// The last status seen, for the next poll interval.
    state: String,
    ahead: u64,
    /// What the last answer said about asking again, ms.
    poll_after_ms: Option<u64>,
    /// The visit ended (record filed) before shopping.
    over: bool,
    seed: u64,
    /// At a seated event: whether this fan asks for the best available.
    best: Option<bool>,
    /// At a seated event with a stale map: the seats' states the page got on arrival.
    states: Option<Vec<u8>>,
}

fn path(run: &Run, rest: &str) -> String {
    format!("/api/v1/events/{}{rest}", run.event_id)
}

/// The `fan` scenario for `fans` users.
pub fn scenario(run: &Arc<Run>, fans: usize) -> Result<Scenario, GooseError> {
    let join_run = run.clone();
    let join: TransactionFunction = Arc::new(move |user| {
        let run = join_run.clone();
        Box::pin(async move { join(user, &run).await })
    });
    let wait_run = run.clone();
    let wait: TransactionFunction = Arc::new(move |user| {
        let run = wait_run.clone();
        Box::pin(async move { wait(user, &run).await })
    });
    let shop_run = run.clone();
    let shop: TransactionFunction = Arc::new(move |user| {
        let run = shop_run.clone();
        Box::pin(async move { shop(user, &run).await })
    });
    Ok(scenario!("fan")
        .set_weight(fans)?
        .register_transaction(Transaction::new(join).set_name("join the line"))
        .register_transaction(Transaction::new(wait).set_name("wait in line"))
        .register_transaction(Transaction::new(shop).set_name("hold and order")))
}

fn take_visit(user: &mut GooseUser) -> Option<Visit> {
    user.get_session_data::<Visit>().cloned()
}

async fn join(user: &mut GooseUser, run: &Run) -> TransactionResult {
    let n = run.next_fan.fetch_add(1, Ordering::Relaxed);
    if n >= run.crowd.fans {
        return Ok(());
    }
    user.client = run.http.clone();
    let arrival = run.arrivals[n];
    let at = if arrival >= 0.0 {
        run.opening + Duration::from_secs_f64(arrival)
    } else {
        run.opening
            .checked_sub(Duration::from_secs_f64(-arrival))
            .unwrap_or_else(Instant::now)
    };
    run.sleep_until(at).await;
    let seed = run.crowd.seed ^ (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut rng = StdRng::seed_from_u64(seed);
    let address = run.crowd.spoof_addresses.then(|| fan_address(n));
    let mut record = FanRecord::new(n, arrival);
    loop {
        if run.out_of_time() {
            record.outcome = Outcome::JoinFailed;
            record.detail = Some("out of time before joining".into());
            run.finish_fan(record);
            return Ok(());
        }
        let body = if run.pow_bits > 0 {
            match solve_challenge(user, run, address.as_deref()).await {
                Some(solution) => solution,
                None => {
                    run.sleep(NO_ANSWER_WAIT).await;
                    continue;
                }
            }
        } else {
            serde_json::json!({})
        };
        let answer = Call::new("join", GooseMethod::Post, path(run, "/queue"))
            .sent_from(address.as_deref())
            .json(body)
            .send(user, run)
            .await;
        match answer.status {
            Some(200 | 201) => {
                let Some(status) = answer.json::<QueueStatus>() else {
                    record.outcome = Outcome::JoinFailed;
                    record.detail = Some("unreadable join answer".into());
                    run.finish_fan(record);
                    return Ok(());
                };
                record.join_sent = Some(answer.sent);
                record.join_done = Some(answer.done);
                record.join_number = status.join_number;
                record.prequeue = status.state == "pre_queue";
                record.admit_lo = Some(answer.sent);
                run.live.joined.fetch_add(1, Ordering::Relaxed);
                let mut visit = Visit {
                    record,
                    address,
                    ticket: status.ticket.clone(),
                    admission: None,
                    state: status.state.clone(),
                    ahead: status.ahead,
                    poll_after_ms: status.poll_after_ms,
                    over: false,
                    seed: rng.random(),
                    best: None,
                    states: None,
                };
                if let Some(admission) = status.admission.clone() {
                    visit.record.learned_after = status.heard_late_secs();
                    visit.record.admit_hi = Some(answer.done);
                    visit.admission = Some(admission);
                    run.live.admitted.fetch_add(1, Ordering::Relaxed);
                }
                user.set_session_data(visit);
                return Ok(());
            }
            Some(429 | 503) => run.sleep(answer.retry_after()).await,
            Some(422) => run.sleep(POW_REFUSED_WAIT).await,
            None => run.sleep(NO_ANSWER_WAIT).await,
            Some(_) => {
                record.outcome = Outcome::JoinFailed;
                record.detail = Some(answer.describe());
                run.finish_fan(record);
                return Ok(());
            }
        }
    }
}

/// Fetches a challenge and solves it; `None` when the challenge could not be had.
async fn solve_challenge(
    user: &mut GooseUser,
    run: &Run,
    address: Option<&str>,
) -> Option<serde_json::Value> {
    let answer = Call::new("challenge", GooseMethod::Get, path(run, "/challenge"))
        .sent_from(address)
        .send(user, run)
        .await;
    let challenge: ChallengeAnswer = answer.json()?;
    let bits = challenge.difficulty_bits;
    let token = challenge.challenge.clone();
    let nonce = if bits <= POW_INLINE_MAX_BITS {
        pow::solve(&token, bits)
    } else {
        tokio::task::spawn_blocking(move || pow::solve(&token, bits))
            .await
            .ok()?
    };
    Some(serde_json::json!({"pow": {"challenge": challenge.challenge, "nonce": nonce}}))
}

async fn wait(user: &mut GooseUser, run: &Run) -> TransactionResult {
    let Some(mut visit) = take_visit(user) else {
        return Ok(());
    };
    let mut rng = StdRng::seed_from_u64(visit.seed);
    let mut poll_now = false;
    while visit.admission.is_none() {
        let until_opening = run.opening.saturating_duration_since(Instant::now());
        // The server says when to ask again (0: now, on a long poll); an older server does
        // not, and the fan polls as the page used to.
        let interval = match visit.poll_after_ms {
            Some(ms) => Duration::from_millis(ms),
            None => next_poll(&visit.state, visit.ahead, rng.random(), until_opening),
        };
        let long_poll = visit.poll_after_ms == Some(0);
        if !poll_now && !long_poll {
            run.sleep(interval).await;
        }
        poll_now = false;
        if run.out_of_time() {
            visit.record.outcome = Outcome::OutOfTime;
            break;
        }
        // A long poll waits for the server on purpose: timed on its own, unpaced.
        let call = if long_poll {
            Call::new(
                "status wait",
                GooseMethod::Get,
                path(run, &format!("/queue?wait={LONG_POLL_SECS}")),
            )
            .held_open()
        } else {
            Call::new("status", GooseMethod::Get, path(run, "/queue")).paced(interval)
        };
        let answer = call
            .sent_from(visit.address.as_deref())
            .bearer(Some(&visit.ticket))
            .send(user, run)
            .await;
        visit.record.polls += 1;
        match answer.status {
            Some(200) => {
                let Some(status) = answer.json::<QueueStatus>() else {
                    run.sleep(ODD_ANSWER_WAIT).await;
                    continue;
                };
                if let (Some(admission), "admitted") =
                    (status.admission.clone(), status.state.as_str())
                {
                    visit.record.learned_after = status.heard_late_secs();
                    visit.record.admit_hi = Some(answer.done);
                    visit.admission = Some(admission);
                    run.live.admitted.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                visit.record.admit_lo = Some(answer.sent);
                if status.state == "expired" {
                    visit.record.outcome = Outcome::Expired;
                    break;
                }
                if matches!(status.sale_state.as_deref(), Some("sold_out" | "closed")) {
                    // Nothing left to wait for: the page tells the fan so, and a fan leaves.
                    visit.record.outcome = Outcome::SoldOut;
                    break;
                }
                visit.state = status.state;
                visit.ahead = status.ahead;
                visit.poll_after_ms = status.poll_after_ms;
            }
            Some(429 | 503) => {
                run.sleep(answer.retry_after()).await;
                poll_now = true;
            }
            None => {
                run.sleep(NO_ANSWER_WAIT).await;
                poll_now = true;
            }
            Some(_) => {
                visit.record.detail = Some(answer.describe());
                run.sleep(ODD_ANSWER_WAIT).await;
                poll_now = true;
            }
        }
    }
    if visit.admission.is_none() {
        visit.over = true;
        run.finish_fan(visit.record.clone());
    }
    user.set_session_data(visit);
    Ok(())
}

/// What to ask a hold for.
fn hold_body(tiers: &[String], quantity: u32, rng: &mut StdRng) -> serde_json::Value {
    let tier = &tiers[rng.random_range(0..tiers.len())];
    serde_json::json!({"tier": tier, "quantity": quantity})
}

/// The seats' states as the shop page fetches them (`None`: no usable answer).
async fn seat_states(user: &mut GooseUser, run: &Run, visit: &Visit) -> Option<Vec<u8>> {
    let answer = Call::new("availability", GooseMethod::Get, path(run, "/availability"))
        .sent_from(visit.address.as_deref())
        .bearer(visit.admission.as_deref())
        .send(user, run)
        .await;
    answer.json::<seats::Availability>()?.decode()
}

/// What a fan at a seated event asks to hold, and whether it is the best available: the best
/// available (decided once per fan), or seats picked on the map after looking at it a while,
/// from the states the page shows (`None`: no usable states, try again later).
async fn seat_request(
    user: &mut GooseUser,
    run: &Run,
    visit: &mut Visit,
    quantity: u32,
    rng: &mut StdRng,
) -> Option<(serde_json::Value, bool)> {
    let Shop::Seats {
        blocks,
        mode,
        best_share,
        think_secs,
    } = &run.shop
    else {
        return None;
    };
    let best = *visit
        .best
        .get_or_insert_with(|| rng.random_bool(*best_share));
    if best {
        let body = serde_json::json!({"best_available": {"quantity": quantity, "together": true}});
        return Some((body, true));
    }
    let think = think_secs * rng.random_range(0.5..1.5);
    let states = match mode {
        seats::MapMode::Live => {
            // The page refreshes every few seconds: the view the fan clicks on is the last
            // refresh, up to one interval old.
            let age = rng.random_range(0.0..seats::REFRESH_SECS).min(think);
            run.sleep(Duration::from_secs_f64(think - age)).await;
            let states = seat_states(user, run, visit).await?;
            run.sleep(Duration::from_secs_f64(age)).await;
            states
        }
        seats::MapMode::Stale => {
            if visit.states.is_none() {
                visit.states = Some(seat_states(user, run, visit).await?);
            }
            run.sleep(Duration::from_secs_f64(think)).await;
            visit.states.clone()?
        }
    };
    let mut picked = seats::pick(blocks, &states, quantity as usize, rng);
    if *mode == seats::MapMode::Live {
        // The page looks once more before holding: seats taken since its last refresh are
        // dropped, and the fan, after a glance, picks again from the fresh view.
        for _ in 0..3 {
            let fresh = seat_states(user, run, visit).await?;
            let lost = picked
                .iter()
                .any(|id| seats::seat_index(blocks, id).is_none_or(|i| fresh[i] != 0));
            if !lost {
                break;
            }
            run.seats
                .caught
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            run.sleep(Duration::from_secs_f64(rng.random_range(0.5..1.5)))
                .await;
            picked = seats::pick(blocks, &fresh, quantity as usize, rng);
        }
    }
    Some((serde_json::json!({"seats": picked}), false))
}

async fn shop(user: &mut GooseUser, run: &Run) -> TransactionResult {
    let Some(mut visit) = take_visit(user) else {
        return Ok(());
    };
    if visit.over {
        return Ok(());
    }
    let mut rng = StdRng::seed_from_u64(visit.seed ^ 0x5108);
    let most = run.crowd.tickets_per_fan.min(run.max_per_order).max(1);
    let mut quantity = rng.random_range(1..=most);
    let admission = visit.admission.clone().unwrap_or_default();
    let mut tiers = match &run.shop {
        Shop::Tiers(tiers) => tiers.clone(),
        Shop::Seats { .. } => Vec::new(),
    };
    // Hold, then order; a hold that died with its node (410) is held again.
    'shop: for round in 0..HOLD_ROUNDS {
        // Hold.
        let mut hold_id = None;
        let mut attempts = 0;
        while hold_id.is_none() {
            attempts += 1;
            if attempts > SHOP_ATTEMPTS || run.out_of_time() {
                visit.record.outcome = Outcome::ShopFailed;
                visit.record.detail = Some("gave up holding".into());
                break;
            }
            let (body, best) = match &run.shop {
                Shop::Tiers(_) => (hold_body(&tiers, quantity, &mut rng), false),
                Shop::Seats { .. } => {
                    match seat_request(user, run, &mut visit, quantity, &mut rng).await {
                        Some(ask) => ask,
                        None => {
                            run.sleep(NO_ANSWER_WAIT).await;
                            continue;
                        }
                    }
                }
            };
            if body["seats"].as_array().is_some_and(|s| s.is_empty()) {
                visit.record.outcome = Outcome::SoldOut;
                break;
            }
            let answer = Call::new("hold", GooseMethod::Post, path(run, "/holds"))
                .sent_from(visit.address.as_deref())
                .bearer(Some(&admission))
                .json(body.clone())
                .send(user, run)
                .await;
            if matches!(run.shop, Shop::Seats { .. }) && matches!(answer.status, Some(201 | 409)) {
                run.seats.count(best, answer.status == Some(409));
            }
            match (answer.status, answer.error_code().as_str()) {
                (Some(201), _) => match answer.json::<HoldAnswer>() {
                    Some(hold) => hold_id = Some(hold.hold_id),
                    None => {
                        visit.record.outcome = Outcome::ShopFailed;
                        visit.record.detail = Some("unreadable hold answer".into());
                        break;
                    }
                },
                (Some(409), "unavailable") => {
                    // A stale page marks the seats it was told are taken.
                    if let (Shop::Seats { blocks, .. }, Some(states)) =
                        (&run.shop, &mut visit.states)
                    {
                        for id in answer.unavailable() {
                            if let Some(i) = seats::seat_index(blocks, &id) {
                                states[i] = 1;
                            }
                        }
                    }
                    if !best && body["seats"].is_array() {
                        // Another pick on the map, the same number of seats.
                        continue;
                    }
                    // Fewer places, then another tier, as a fan at the picker would.
                    if quantity > 1 {
                        quantity = 1;
                    } else if let Some(tier) = body["tier"].as_str() {
                        tiers.retain(|t| t != tier);
                        if tiers.is_empty() {
                            visit.record.outcome = Outcome::SoldOut;
                            break;
                        }
                    }
                }
                (Some(409), _) => {
                    visit.record.outcome = Outcome::SoldOut;
                    visit.record.detail = Some(answer.describe());
                    break;
                }
                (Some(429 | 503), _) => run.sleep(answer.retry_after()).await,
                (None, _) => run.sleep(NO_ANSWER_WAIT).await,
                _ => {
                    visit.record.outcome = Outcome::ShopFailed;
                    visit.record.detail = Some(format!("hold: {}", answer.describe()));
                    break;
                }
            }
        }
        // Order, with one key for every try.
        if let Some(hold_id) = hold_id {
            let key = format!("{}-{}", run.run_id, visit.record.fan);
            let n = visit.record.fan;
            let body = serde_json::json!({"name": format!("Fan {n}"), "email": format!("fan{n}@loadtest.invalid")});
            let mut attempts = 0;
            loop {
                attempts += 1;
                if attempts > SHOP_ATTEMPTS || run.out_of_time() {
                    visit.record.outcome = Outcome::ShopFailed;
                    visit.record.detail = Some("gave up ordering".into());
                    break;
                }
                let answer = Call::new(
                    "order",
                    GooseMethod::Post,
                    path(run, &format!("/holds/{hold_id}/order")),
                )
                .sent_from(visit.address.as_deref())
                .bearer(Some(&admission))
                .header("Idempotency-Key", key.clone())
                .json(body.clone())
                .send(user, run)
                .await;
                match answer.status {
                    Some(200 | 201) => {
                        let Some(order) = answer.json::<OrderAnswer>() else {
                            visit.record.outcome = Outcome::ShopFailed;
                            visit.record.detail = Some("unreadable order answer".into());
                            break;
                        };
                        visit.record.ordered_at = Some(answer.done);
                        visit.record.items = order.items.len() as u32;
                        visit.record.outcome = Outcome::Bought;
                        run.seen_orders
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(SeenOrder {
                                order_id: order.order_id,
                                item_ids: order.items.into_iter().map(|i| i.id).collect(),
                            });
                        break;
                    }
                    Some(429 | 503) => run.sleep(answer.retry_after()).await,
                    // The hold lived on a node that died: its places are free again; pick again.
                    Some(410) if round + 1 < HOLD_ROUNDS => continue 'shop,
                    None => run.sleep(NO_ANSWER_WAIT).await,
                    _ => {
                        visit.record.outcome = Outcome::ShopFailed;
                        visit.record.detail = Some(format!("order: {}", answer.describe()));
                        break;
                    }
                }
            }
        }
        break;
    }
    run.finish_fan(visit.record.clone());
    visit.over = true;
    user.set_session_data(visit);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_grow_with_distance_to_the_front_within_the_page_bounds() {
        let far = Duration::from_secs(60);
        let mid = |ahead| next_poll("waiting", ahead, 0.5, far).as_millis();
        assert_eq!(mid(0), 1500);
        assert_eq!(mid(100), 1500);
        assert_eq!(mid(200), 3000);
        assert_eq!(mid(1000), 15000);
        assert_eq!(mid(1_000_000), 15000);
        assert_eq!(next_poll("pre_queue", 5, 0.5, far).as_millis(), 10000);
    }

    #[test]
    fn a_prequeue_page_wakes_just_after_the_opening() {
        let soon = Duration::from_secs(2);
        assert_eq!(next_poll("pre_queue", 5, 0.0, soon).as_millis(), 2500);
        assert_eq!(next_poll("pre_queue", 5, 1.0, soon).as_millis(), 5500);
        assert_eq!(
            next_poll("pre_queue", 5, 0.5, Duration::ZERO).as_millis(),
            2000
        );
    }

    #[test]
    fn jitter_is_twenty_percent_either_way() {
        let far = Duration::from_secs(60);
        assert_eq!(next_poll("waiting", 500, 0.0, far).as_millis(), 6000);
        assert_eq!(next_poll("waiting", 500, 1.0, far).as_millis(), 9000);
    }
}
