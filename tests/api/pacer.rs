//! The pacer on a simulated clock, driven tick by tick against the real line store and
//! database: it never exceeds the rate or `max_active`, and silent fans do not slow the rest.

use std::sync::Arc;

use chrono::{Duration, Utc};
use floodgate::clock::{Clock, ManualClock};
use floodgate::domain::event::demo_event;
use floodgate::domain::inventory::SaleState;
use floodgate::room::line::{FanState, Room, RoomSettings, Rules};
use floodgate::room::memory_store::MemoryLineStore;
use floodgate::room::redis_store::RedisLineStore;
use floodgate::room::token::{Claims, TokenSigner};
use floodgate::room::LineStore;
use floodgate::store::{self, EventRecord};
use uuid::Uuid;

use crate::helpers::TestData;

const TICK_MS: i64 = 250;

struct Sim {
    room: Room,
    clock: Arc<ManualClock>,
    event: Uuid,
    steps: std::cell::Cell<u64>,
}

/// Each present fan polls once every this many ticks (10 s: well inside the grace period).
const POLL_EVERY_TICKS: u64 = 40;
/// An admission not fetched within this is taken back (longer than the fans' poll interval).
const FETCH_GRACE_SECS: i64 = 30;

async fn sim() -> Sim {
    let data = TestData::fresh().await;
    let store = store::connect(&data.database_url, 4).await.unwrap();
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let event = Uuid::now_v7();
    let now = clock.now();
    store
        .insert_event(&EventRecord {
            id: event,
            spec: demo_event(now),
            paused: false,
            created_at: now,
            updated_at: now,
        })
        .await
        .unwrap();
    let line: Arc<dyn LineStore> = match &data.redis_url {
        Some(url) => Arc::new(RedisLineStore::new(url, &data.redis_prefix).unwrap()),
        None => Arc::new(MemoryLineStore::new()),
    };
    let room = Room::new(
        line,
        store,
        TokenSigner::new(b"pacer test secret key"),
        clock.clone(),
        RoomSettings {
            tick: std::time::Duration::from_millis(TICK_MS as u64),
            snapshot_max_age: std::time::Duration::from_millis(TICK_MS as u64),
            liveness_grace: std::time::Duration::from_secs(30),
            seq_block: 1000,
            line_limit: 1_000_000,
            fetch_grace: std::time::Duration::from_secs(FETCH_GRACE_SECS as u64),
        },
    );
    Sim {
        room,
        clock,
        event,
        steps: std::cell::Cell::new(0),
    }
}

fn rules(rate_per_minute: u32, max_active: u32) -> Rules {
    Rules {
        rate_per_minute,
        max_active,
        admission_ttl_secs: 3600,
        sale: SaleState::OnSale,
        opens_at: None,
        shop_throttle: 1.0,
        pow_bits: 0,
    }
}

impl Sim {
    async fn join(&self, n: usize, rules: &Rules) -> Vec<Claims> {
        let mut fans = Vec::new();
        for _ in 0..n {
            fans.push(self.room.join(self.event, None, rules).await.unwrap().0);
        }
        fans
    }

    /// One tick of simulated time: a share of the present fans polls (each every
    /// POLL_EVERY_TICKS), sightings flush, the pacer ticks. Returns how many it admitted.
    async fn step(&self, present: &[Claims], rules: &Rules) -> u64 {
        self.step_polling_every(present, rules, POLL_EVERY_TICKS)
            .await
    }

    /// One tick, the present fans polling every `every` ticks.
    async fn step_polling_every(&self, present: &[Claims], rules: &Rules, every: u64) -> u64 {
        self.clock.advance(Duration::milliseconds(TICK_MS));
        let step = self.steps.get() + 1;
        self.steps.set(step);
        for fan in present.iter().filter(|f| f.seq % every == step % every) {
            self.room.status(fan, String::new(), rules).await.unwrap();
        }
        self.room.flush_liveness().await.unwrap();
        self.room.tick(self.event, rules).await.unwrap()
    }
}

#[actix_web::test]
async fn admissions_never_exceed_the_rate_or_max_active() {
    let sim = sim().await;
    let fast = rules(600, 1_000_000);
    let fans = sim.join(2000, &fast).await;
    // Any 60 simulated seconds admit at most the rate (plus the one-second burst allowance).
    let mut per_tick = Vec::new();
    for _ in 0..480 {
        per_tick.push(sim.step(&fans, &fast).await);
    }
    let window = (60_000 / TICK_MS) as usize;
    for start in 0..=per_tick.len() - window {
        let admitted: u64 = per_tick[start..start + window].iter().sum();
        assert!(
            admitted <= 600 + 10,
            "{admitted} admitted in one minute at 600/min"
        );
    }
    let total: u64 = per_tick.iter().sum();
    assert!(
        total >= 1150,
        "only {total} admitted in two minutes at 600/min"
    );

    // max_active: every fan fetches its admission at once, nobody finishes shopping, so
    // admissions stop at the ceiling.
    let sim = self::sim().await;
    let capped = rules(6000, 50);
    let fans = sim.join(500, &capped).await;
    let mut total = 0;
    for _ in 0..120 {
        total += sim.step_polling_every(&fans, &capped, 1).await;
    }
    assert_eq!(total, 50, "max_active exceeded or not reached");
}

#[actix_web::test]
async fn admissions_nobody_fetches_take_no_shoppers_place_and_are_taken_back_in_time() {
    // 240/min (4 a second may wait unfetched), max_active 10, and fans who never poll.
    let sim = sim().await;
    let r = rules(240, 10);
    let absent = sim.join(200, &r).await;
    let mut admitted = 0;
    for _ in 0..(FETCH_GRACE_SECS * 1000 / TICK_MS - 8) {
        admitted += sim.step(&[], &r).await;
    }
    let line = sim.room.stats(sim.event).await.unwrap();
    assert_eq!(line.active_shoppers, 0, "nobody fetched an admission");
    assert_eq!(
        line.admissions_unfetched, admitted,
        "unfetched admissions are pending"
    );
    assert!(
        admitted <= 10 + 4,
        "{admitted}: active + unfetched stay within max_active + one second of the rate"
    );
    // Past the grace they are taken back as no-shows, and the line moves on to others.
    for _ in 0..16 {
        sim.step(&[], &r).await;
    }
    let line = sim.room.stats(sim.event).await.unwrap();
    assert!(line.skipped_total >= admitted, "{line:?}");
    assert!(line.serving > admitted, "the line moved past the no-shows");
    // A fan who fetches takes a shopper's place; one whose admission was taken back is expired.
    let first = &absent[0];
    let status = sim.room.status(first, String::new(), &r).await.unwrap();
    assert_eq!(
        status.state,
        FanState::Expired,
        "a no-show's admission was taken back"
    );
}

#[actix_web::test]
async fn a_tick_that_admits_wakes_the_fans_waiting_on_the_line() {
    let sim = sim().await;
    let r = rules(600, 1000);
    let fans = sim.join(20, &r).await;
    let mut changes = sim.room.watch(sim.event);
    // A first tick: the node's snapshot catches up with the opening (which wakes too).
    sim.step_polling_every(&fans, &r, 1).await;
    changes.borrow_and_update();
    // The next tick changes nothing but the admissions: the watch changes in that tick.
    let admitted = sim.step_polling_every(&fans, &r, 1).await;
    assert!(admitted > 0, "the second tick admits");
    assert!(
        changes.has_changed().unwrap(),
        "woken by the tick that admitted"
    );
    let status = sim.room.status(&fans[0], String::new(), &r).await.unwrap();
    assert_eq!(status.state, FanState::Admitted);
    assert!(status.admitted_at.is_some());
    assert_eq!(status.poll_after_ms, 0);
}

async fn admitted_present(sim: &Sim, present: &[Claims], rules: &Rules) -> usize {
    let mut n = 0;
    for fan in present {
        if sim
            .room
            .status(fan, String::new(), rules)
            .await
            .unwrap()
            .state
            == FanState::Admitted
        {
            n += 1;
        }
    }
    n
}

#[actix_web::test]
async fn with_half_the_line_silent_present_fans_get_at_least_90_percent_of_the_rate() {
    let sim = sim().await;
    let rate = 600;
    let r = rules(rate, 1_000_000);
    let fans = sim.join(4000, &r).await;
    let present: Vec<Claims> = fans.iter().filter(|f| f.seq % 2 == 0).cloned().collect();
    // Run past the grace period, then measure one simulated minute.
    for _ in 0..(40_000 / TICK_MS) {
        sim.step(&present, &r).await;
    }
    let before = admitted_present(&sim, &present, &r).await;
    for _ in 0..(60_000 / TICK_MS) {
        sim.step(&present, &r).await;
    }
    let after = admitted_present(&sim, &present, &r).await;
    let per_minute = after - before;
    assert!(
        per_minute as f64 >= 0.9 * f64::from(rate),
        "present fans admitted at {per_minute}/min of {rate}/min"
    );
    assert!(per_minute <= rate as usize + 10);
}
