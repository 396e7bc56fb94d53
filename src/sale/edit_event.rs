//! Editing an event: a patch of its spec, checked by the event's actor against what is sold and
//! held, saved, then adopted. Pause and resume are edits of the pause flag.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::list_events::{self, EventView};
use super::{Sale, SaleError};
use crate::domain::event::{AdmissionSettings, EventSpec, GaTier, SeatingBlock};
use crate::inventory::actor::{ApplySpec, CheckSpec};
use crate::store::EventRecord;

/// A change of an event (`PATCH /api/v1/events/{id}`): every field optional. `tiers` entries update the tier
/// with the same id or add a new one; `seating` entries add blocks (or reprice one).
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub venue: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    /// `null` clears it (on sale at once); absent leaves it.
    #[serde(default, with = "double_option")]
    pub sale_opens_at: Option<Option<DateTime<Utc>>>,
    #[schema(minimum = 1, maximum = 100)]
    pub max_per_order: Option<u32>,
    #[schema(minimum = 30, maximum = 3600)]
    pub hold_ttl_secs: Option<u32>,
    pub admission: Option<AdmissionSettings>,
    #[schema(minimum = 0, maximum = 26)]
    pub pow_difficulty_bits: Option<u8>,
    pub tiers: Option<Vec<GaTier>>,
    pub seating: Option<Vec<SeatingBlock>>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

impl EventPatch {
    /// The spec after this patch.
    pub fn apply(self, mut spec: EventSpec) -> EventSpec {
        if let Some(v) = self.name {
            spec.name = v;
        }
        if let Some(v) = self.venue {
            spec.venue = v;
        }
        if let Some(v) = self.starts_at {
            spec.starts_at = v;
        }
        if let Some(v) = self.sale_opens_at {
            spec.sale_opens_at = v;
        }
        if let Some(v) = self.max_per_order {
            spec.max_per_order = v;
        }
        if let Some(v) = self.hold_ttl_secs {
            spec.hold_ttl_secs = v;
        }
        if let Some(v) = self.admission {
            spec.admission = v;
        }
        if let Some(v) = self.pow_difficulty_bits {
            spec.pow_difficulty_bits = v;
        }
        merge(&mut spec.tiers, self.tiers, |t| t.id.clone());
        merge(&mut spec.seating, self.seating, |b| b.section.clone());
        spec
    }
}

/// Merges a patch's entries into a list by key: the first entry for a key replaces the saved
/// one (or is added); a second for the same key is added too, so the spec's own check refuses
/// the duplicate (`appears twice`) rather than the second entry hiding the first unchecked.
fn merge<T>(saved: &mut Vec<T>, patch: Option<Vec<T>>, key: impl Fn(&T) -> String) {
    let mut named = std::collections::HashSet::new();
    for entry in patch.unwrap_or_default() {
        let first = named.insert(key(&entry));
        match saved.iter_mut().find(|s| key(s) == key(&entry)) {
            Some(existing) if first => *existing = entry,
            _ => saved.push(entry),
        }
    }
}

/// Applies a patch to an event.
pub async fn edit_event(sale: &Sale, id: Uuid, patch: EventPatch) -> Result<EventView, SaleError> {
    change(sale, id, |record| {
        record.spec = patch.apply(record.spec.clone());
    })
    .await
}

/// An event's spec as saved (the console's editor starts from it).
pub async fn saved_spec(sale: &Sale, id: Uuid) -> Result<EventSpec, SaleError> {
    Ok(super::facts::record(sale, id).await?.spec.clone())
}

/// Saves a new spec or pause flag: checked by the actor against what is sold and held, then
/// written, then adopted. Edits are serialized by the registry's lock, so two never interleave
/// between the check and the save.
pub(crate) async fn change(
    sale: &Sale,
    id: Uuid,
    edit: impl FnOnce(&mut EventRecord),
) -> Result<EventView, SaleError> {
    let _guard = sale.registry.edit_lock().lock().await;
    let mut record = sale
        .store
        .get_event(id)
        .await?
        .ok_or(SaleError::NotFound("event"))?;
    edit(&mut record);
    record
        .spec
        .validate()
        .map_err(|e| SaleError::Invalid(e.0))?;
    let actor = sale.actor(id).await?;
    let refused = |e: crate::domain::inventory::ShopError| SaleError::Invalid(e.to_string());
    actor
        .ask(CheckSpec {
            spec: record.spec.clone(),
        })
        .await?
        .map_err(refused)?;
    record.updated_at = sale.clock.now();
    sale.store.update_event(&record).await?;
    actor
        .ask(ApplySpec {
            spec: record.spec.clone(),
            paused: record.paused,
        })
        .await?
        .map_err(refused)?;
    sale.facts.forget(id);
    list_events::event(sale, id).await
}
