//! Organizer endpoints on events: create, read, list, patch, pause, resume.

use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::inventory;
use crate::domain::event::{AdmissionSettings, EventSpec, GaTier, SeatingBlock};
use crate::domain::inventory::{ShopError, TierCounts};
use crate::inventory::actor::{ApplySpec, CheckSpec, GetSnapshot, Snapshot};
use crate::store::EventRecord;
use crate::web::auth::Organizer;
use crate::web::error::ApiError;
use crate::web::State;

/// An event as `GET /api/v1/events/{id}` shows it: the spec plus id, state and tier counts.
#[derive(Serialize)]
pub struct EventView {
    pub id: Uuid,
    pub name: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub max_per_order: u32,
    pub hold_ttl_secs: u32,
    pub admission: AdmissionSettings,
    pub pow_difficulty_bits: u8,
    pub state: &'static str,
    pub tiers: Vec<TierCounts>,
    pub seating: Vec<SeatingBlock>,
}

impl EventView {
    /// Builds the view from an actor snapshot.
    pub fn new(id: Uuid, snap: Snapshot) -> Self {
        let spec = snap.spec;
        EventView {
            id,
            name: spec.name,
            venue: spec.venue,
            starts_at: spec.starts_at,
            sale_opens_at: spec.sale_opens_at,
            max_per_order: spec.max_per_order,
            hold_ttl_secs: spec.hold_ttl_secs,
            admission: spec.admission,
            pow_difficulty_bits: spec.pow_difficulty_bits,
            state: snap.state.as_str(),
            tiers: snap.tiers,
            seating: spec.seating,
        }
    }
}

/// The event's view as of now.
pub async fn view(state: &State, id: Uuid) -> Result<EventView, ApiError> {
    let snap = inventory(state, id).await?.ask(GetSnapshot).await?;
    Ok(EventView::new(id, snap))
}

fn shop_invalid(e: ShopError) -> ApiError {
    ApiError::Invalid(e.to_string())
}

/// `POST /api/v1/events`
pub async fn create(
    _: Organizer,
    state: State,
    body: web::Json<EventSpec>,
) -> Result<HttpResponse, ApiError> {
    let view = create_event(&state, body.into_inner()).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/events/{}", view.id)))
        .json(view))
}

/// Validates and stores a new event; returns it as `GET` shows it.
pub async fn create_event(state: &State, spec: EventSpec) -> Result<EventView, ApiError> {
    spec.validate().map_err(|e| ApiError::Invalid(e.0))?;
    let now = state.clock.now();
    let record = EventRecord {
        id: Uuid::now_v7(),
        spec,
        paused: false,
        created_at: now,
        updated_at: now,
    };
    state.store.insert_event(&record).await?;
    tracing::info!(event = %record.id, name = %record.spec.name, "event created");
    view(state, record.id).await
}

/// `GET /api/v1/events/{id}` (public)
pub async fn get(state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&state, path.into_inner()).await?))
}

/// `GET /api/v1/events` (public): every event, with its state.
pub async fn list(state: State) -> Result<HttpResponse, ApiError> {
    let events = event_views(&state).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "events": events })))
}

/// Every event as `GET` shows it, oldest first (the API's list, the home page, the console).
pub async fn event_views(state: &State) -> Result<Vec<EventView>, ApiError> {
    let mut events = Vec::new();
    for record in state.store.list_events().await? {
        events.push(view(state, record.id).await?);
    }
    Ok(events)
}

/// Body of `PATCH /api/v1/events/{id}`: every field optional. `tiers` entries update the tier
/// with the same id or add a new one; `seating` entries add blocks (or reprice one).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EventPatch {
    pub name: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    /// `null` clears it (on sale at once); absent leaves it.
    #[serde(default, with = "double_option")]
    pub sale_opens_at: Option<Option<DateTime<Utc>>>,
    pub max_per_order: Option<u32>,
    pub hold_ttl_secs: Option<u32>,
    pub admission: Option<AdmissionSettings>,
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
        for tier in self.tiers.unwrap_or_default() {
            match spec.tiers.iter_mut().find(|t| t.id == tier.id) {
                Some(existing) => *existing = tier,
                None => spec.tiers.push(tier),
            }
        }
        for block in self.seating.unwrap_or_default() {
            match spec.seating.iter_mut().find(|b| b.section == block.section) {
                Some(existing) => *existing = block,
                None => spec.seating.push(block),
            }
        }
        spec
    }
}

/// Saves a new spec or pause flag: checked by the actor against what is sold and held, then
/// written, then adopted. Patches of one event are serialized by the registry's lock.
pub async fn change(
    state: &State,
    id: Uuid,
    edit: impl FnOnce(&mut EventRecord),
) -> Result<EventView, ApiError> {
    let _guard = state.registry.edit_lock().lock().await;
    let mut record = state
        .store
        .get_event(id)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    edit(&mut record);
    record.spec.validate().map_err(|e| ApiError::Invalid(e.0))?;
    let actor = inventory(state, id).await?;
    actor
        .ask(CheckSpec {
            spec: record.spec.clone(),
        })
        .await?
        .map_err(shop_invalid)?;
    record.updated_at = state.clock.now();
    state.store.update_event(&record).await?;
    actor
        .ask(ApplySpec {
            spec: record.spec.clone(),
            paused: record.paused,
        })
        .await?
        .map_err(shop_invalid)?;
    view(state, id).await
}

/// `PATCH /api/v1/events/{id}`
pub async fn patch(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
    body: web::Json<EventPatch>,
) -> Result<HttpResponse, ApiError> {
    let patch = body.into_inner();
    let view = change(&state, path.into_inner(), |record| {
        record.spec = patch.apply(record.spec.clone());
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/events/{id}/pause`
pub async fn pause(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = change(&state, path.into_inner(), |r| r.paused = true).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// `POST /api/v1/events/{id}/resume`
pub async fn resume(
    _: Organizer,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let view = change(&state, path.into_inner(), |r| r.paused = false).await?;
    Ok(HttpResponse::Ok().json(view))
}
