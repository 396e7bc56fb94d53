//! What any node knows of an event without holding its inventory: the event as stored (cached
//! briefly, unknown ids too), and its counts — from this node's actor when it owns the event,
//! else from what the owner publishes in the line store, else from the database (sold items;
//! nothing held, since no inventory lives anywhere). Reads never start an actor.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{owner, Sale, SaleError};
use crate::domain::inventory::{SaleState, SalesTotals, TierCounts};
use crate::inventory::actor::{GetSnapshot, Snapshot};
use crate::room::line::Rules;
use crate::store::EventRecord;

/// How long a node trusts a stored event it read (edits elsewhere show within this).
const RECORD_MAX_AGE: Duration = Duration::from_secs(1);
/// How long a node remembers that an id names no event (ids come from request paths).
const UNKNOWN_MAX_AGE: Duration = Duration::from_secs(5);
/// Most ids remembered; past it, the memory starts over.
const MAX_REMEMBERED: usize = 10_000;

/// What the owner of an event publishes for every node, each pacer tick: the line's rules and
/// the inventory's counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Published {
    pub sale: SaleState,
    pub paused: bool,
    pub rate_per_minute: u32,
    pub max_active: u32,
    pub admission_ttl_secs: u32,
    pub opens_at: Option<DateTime<Utc>>,
    pub pow_bits: u8,
    pub tiers: Vec<TierCounts>,
    pub totals: SalesTotals,
    pub open_holds: usize,
}

impl Published {
    /// What an actor's snapshot says.
    pub fn of(snap: &Snapshot) -> Self {
        Published {
            sale: snap.state,
            paused: snap.paused,
            rate_per_minute: snap.spec.admission.rate_per_minute,
            max_active: snap.spec.admission.max_active,
            admission_ttl_secs: snap.spec.admission.admission_ttl_secs,
            opens_at: snap.spec.sale_opens_at,
            pow_bits: snap.spec.pow_difficulty_bits,
            tiers: snap.tiers.clone(),
            totals: snap.totals,
            open_holds: snap.open_holds,
        }
    }

    /// The line's rules (at full speed: only the owner knows its shop's saturation).
    pub fn rules(&self) -> Rules {
        Rules {
            rate_per_minute: self.rate_per_minute,
            max_active: self.max_active,
            admission_ttl_secs: self.admission_ttl_secs,
            sale: self.sale,
            opens_at: self.opens_at,
            shop_throttle: 1.0,
            pow_bits: self.pow_bits,
        }
    }
}

/// An event's counts: per tier, in all, and its open holds.
#[derive(Clone, Debug)]
pub struct Counts {
    pub tiers: Vec<TierCounts>,
    pub totals: SalesTotals,
    pub open_holds: usize,
    /// Whether the sale is paused (as the counts' source knows it).
    pub paused: bool,
}

impl Counts {
    /// The sale's state at `now`.
    pub fn state(&self, record: &EventRecord, now: DateTime<Utc>) -> SaleState {
        SaleState::of(&record.spec, self.paused, self.totals.available, now)
    }
}

/// A stored event as read (`None`: no such event), and when.
type Remembered = (Option<Arc<EventRecord>>, Instant);

/// This node's short memory of stored events and published counts.
#[derive(Default)]
pub struct Facts {
    /// Events known to exist (events are never deleted, so this never goes stale; it holds
    /// only ids the database confirmed, so made-up ids cannot grow it).
    known: Mutex<std::collections::HashSet<Uuid>>,
    records: Mutex<HashMap<Uuid, Remembered>>,
    published: Mutex<HashMap<Uuid, (Arc<Published>, Instant)>>,
}

impl Facts {
    /// Forgets what this node read of an event (it was just edited here).
    pub fn forget(&self, event: Uuid) {
        self.records.lock().remove(&event);
        self.published.lock().remove(&event);
    }

    fn remember_record(&self, event: Uuid, record: Option<Arc<EventRecord>>) {
        if record.is_some() {
            self.known.lock().insert(event);
        }
        let mut records = self.records.lock();
        if records.len() >= MAX_REMEMBERED {
            records.clear();
        }
        records.insert(event, (record, Instant::now()));
    }
}

/// Whether this node knows the event exists (without asking anyone).
pub fn is_known(sale: &Sale, event: Uuid) -> bool {
    sale.facts.known.lock().contains(&event)
}

/// Whether an event exists (`404` otherwise): known events are answered from memory, so the
/// check keeps working while the database is away.
pub async fn exists(sale: &Sale, event: Uuid) -> Result<(), SaleError> {
    if is_known(sale, event) {
        return Ok(());
    }
    record(sale, event).await.map(|_| ())
}

/// The event as stored, from this node's memory when it is fresh (`404` for an unknown id).
pub async fn record(sale: &Sale, event: Uuid) -> Result<Arc<EventRecord>, SaleError> {
    if let Some((record, at)) = sale.facts.records.lock().get(&event) {
        let max_age = if record.is_some() {
            RECORD_MAX_AGE
        } else {
            UNKNOWN_MAX_AGE
        };
        if at.elapsed() <= max_age {
            return record.clone().ok_or(SaleError::NotFound("event"));
        }
    }
    let record = sale.store.get_event(event).await?.map(Arc::new);
    sale.facts.remember_record(event, record.clone());
    record.ok_or(SaleError::NotFound("event"))
}

/// What the owners of these events published, fresh from this node's memory or the line
/// store (`None` where nobody publishes: no owner now).
pub async fn published(
    sale: &Sale,
    events: &[Uuid],
) -> Result<Vec<Option<Arc<Published>>>, SaleError> {
    let max_age = sale.room.snapshot_max_age();
    let mut found: Vec<Option<Arc<Published>>> = {
        let memory = sale.facts.published.lock();
        events
            .iter()
            .map(|e| {
                memory
                    .get(e)
                    .filter(|(_, at)| at.elapsed() <= max_age)
                    .map(|(p, _)| p.clone())
            })
            .collect()
    };
    let missing: Vec<Uuid> = events
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_none())
        .map(|(e, _)| *e)
        .collect();
    if missing.is_empty() {
        return Ok(found);
    }
    let texts = sale.room.store().published(&missing).await?;
    let mut fetched = HashMap::new();
    {
        let mut memory = sale.facts.published.lock();
        if memory.len() >= MAX_REMEMBERED {
            memory.clear();
        }
        for (event, text) in missing.iter().zip(texts) {
            let Some(published) = text.and_then(|t| serde_json::from_str::<Published>(&t).ok())
            else {
                continue;
            };
            let published = Arc::new(published);
            memory.insert(*event, (published.clone(), Instant::now()));
            fetched.insert(*event, published);
        }
    }
    for (event, slot) in events.iter().zip(found.iter_mut()) {
        if slot.is_none() {
            *slot = fetched.get(event).cloned();
        }
    }
    Ok(found)
}

/// The counts of an event: its actor's if this node owns it, else its owner's published ones,
/// else the database's. `published` is what the caller already read for it, if anything.
pub async fn counts(
    sale: &Sale,
    record: &EventRecord,
    published: Option<Arc<Published>>,
) -> Result<Counts, SaleError> {
    if let Some(actor) = owner::owned_actor(sale, record.id) {
        if let Ok(snap) = actor.ask(GetSnapshot).await {
            return Ok(Counts {
                tiers: snap.tiers,
                totals: snap.totals,
                open_holds: snap.open_holds,
                paused: snap.paused,
            });
        }
    }
    if let Some(p) = published {
        return Ok(Counts {
            tiers: p.tiers.clone(),
            totals: p.totals,
            open_holds: p.open_holds,
            paused: p.paused,
        });
    }
    let sold = sale.store.sold_counts(record.id).await?;
    let tiers = TierCounts::from_spec(&record.spec, &sold.per_tier);
    Ok(Counts {
        totals: SalesTotals::of(&tiers, sold.orders, sold.revenue_cents),
        tiers,
        open_holds: 0,
        paused: record.paused,
    })
}
