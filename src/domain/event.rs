//! An event as organizers describe it: what is on sale, when, and how fast fans get in.
//!
//! `EventSpec` is the wire shape of `POST /api/v1/events` (unknown fields refused, because a
//! misspelt `max_per_ordr` silently ignored would sell tickets under the wrong rules).
//! `EventSpec::validate` turns it into the rules every other module relies on: section and tier
//! ids that make item ids unambiguous, bounded inventory, prices and limits in range.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most sellable items one event may have, so an actor's memory stays bounded.
pub const MAX_ITEMS_PER_EVENT: u64 = 250_000;
/// Longest free-text field (name, venue), in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Most tiers plus seating blocks in one event.
pub const MAX_INVENTORY_GROUPS: usize = 200;
/// Most rows, and seats per row, in one seating block.
pub const MAX_ROWS: u32 = 1_000;
pub const MAX_SEATS_PER_ROW: u32 = 1_000;
/// Most items one order may carry, whatever the organizer sets.
pub const MAX_PER_ORDER_CEILING: u32 = 100;
/// Hold lifetime bounds, in seconds.
pub const HOLD_TTL_RANGE: (u32, u32) = (30, 3_600);
/// Highest price of one item: ten million in cents keeps every total far inside i64.
pub const MAX_PRICE_CENTS: i64 = 1_000_000_000;
/// Proof-of-work difficulty ceiling; 24 bits already takes a phone seconds.
pub const MAX_POW_BITS: u8 = 26;

/// How fans are let out of the line into the shop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionSettings {
    /// Most admissions per minute.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub rate_per_minute: u32,
    /// Most admitted shoppers active at once.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_active: u32,
    /// How long an admission stays valid, in seconds.
    #[schema(minimum = 30, maximum = 86_400)]
    pub admission_ttl_secs: u32,
}

impl Default for AdmissionSettings {
    fn default() -> Self {
        AdmissionSettings {
            rate_per_minute: 600,
            max_active: 500,
            admission_ttl_secs: 600,
        }
    }
}

/// A general-admission tier: `capacity` interchangeable places with ids `ID#1..=capacity`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GaTier {
    /// Letters, digits, `_` and `.`; unique in the event.
    #[schema(pattern = "^[A-Za-z0-9_.]{1,32}$", example = "floor")]
    pub id: String,
    #[schema(min_length = 1, max_length = 200, example = "Floor (standing)")]
    pub name: String,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_cents: i64,
    /// Places `ID#1` to `ID#capacity`.
    #[schema(minimum = 1, maximum = 250_000)]
    pub capacity: u32,
}

/// A block of reserved seats `SECTION-ROW-SEAT`, rows and seats counted from 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeatingBlock {
    /// Letters, digits and `_`; unique in the event.
    #[schema(pattern = "^[A-Za-z0-9_]{1,32}$", example = "A")]
    pub section: String,
    #[schema(minimum = 1, maximum = 1000)]
    pub rows: u32,
    #[schema(minimum = 1, maximum = 1000)]
    pub seats_per_row: u32,
    /// Tier the seats count under (shown in stats and on the seat map); not a GA tier's id.
    #[schema(pattern = "^[A-Za-z0-9_.]{1,32}$", example = "lower")]
    pub tier: String,
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    pub price_cents: i64,
}

impl SeatingBlock {
    /// Number of seats in the block.
    pub fn seat_count(&self) -> u64 {
        u64::from(self.rows) * u64::from(self.seats_per_row)
    }
}

fn default_max_per_order() -> u32 {
    6
}
fn default_hold_ttl() -> u32 {
    600
}

/// The organizer's description of an event, as created and as patched.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    #[schema(min_length = 1, max_length = 200, example = "Midnight Echoes")]
    pub name: String,
    #[schema(min_length = 1, max_length = 200, example = "Harbour Arena")]
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    /// Absent or past: on sale at once.
    #[serde(default)]
    pub sale_opens_at: Option<DateTime<Utc>>,
    /// Most places one admission may hold and buy in all (6 when absent).
    #[serde(default = "default_max_per_order")]
    #[schema(minimum = 1, maximum = 100)]
    pub max_per_order: u32,
    /// How long a hold lasts, seconds (600 when absent).
    #[serde(default = "default_hold_ttl")]
    #[schema(minimum = 30, maximum = 3600)]
    pub hold_ttl_secs: u32,
    #[serde(default)]
    pub admission: AdmissionSettings,
    /// Leading zero bits a join's proof of work must have; 0 turns it off.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 26)]
    pub pow_difficulty_bits: u8,
    /// General-admission tiers (at least one tier or seating block in all).
    #[serde(default)]
    #[schema(max_items = 200)]
    pub tiers: Vec<GaTier>,
    /// Blocks of reserved seats.
    #[serde(default)]
    #[schema(max_items = 200)]
    pub seating: Vec<SeatingBlock>,
}

/// A rule an event description breaks (answered `422 invalid`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

fn invalid(message: impl Into<String>) -> SpecError {
    SpecError(message.into())
}

/// Tier and section ids: short, and free of the separators item ids use (`-`, `#`).
pub fn valid_group_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn check_text(field: &str, text: &str) -> Result<(), SpecError> {
    let chars = text.chars().count();
    if text.trim().is_empty() {
        return Err(invalid(format!("{field} must not be empty")));
    }
    if chars > MAX_TEXT_CHARS {
        return Err(invalid(format!(
            "{field} is longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

fn check_price(what: &str, price: i64) -> Result<(), SpecError> {
    if !(0..=MAX_PRICE_CENTS).contains(&price) {
        return Err(invalid(format!(
            "{what}: price_cents must be between 0 and {MAX_PRICE_CENTS}"
        )));
    }
    Ok(())
}

impl EventSpec {
    /// Checks every rule an event must keep. Called on create and on the result of a patch.
    pub fn validate(&self) -> Result<(), SpecError> {
        check_text("name", &self.name)?;
        check_text("venue", &self.venue)?;
        if self.tiers.is_empty() && self.seating.is_empty() {
            return Err(invalid("an event needs at least one tier or seating block"));
        }
        if self.tiers.len() + self.seating.len() > MAX_INVENTORY_GROUPS {
            return Err(invalid(format!(
                "at most {MAX_INVENTORY_GROUPS} tiers and seating blocks"
            )));
        }
        if !(1..=MAX_PER_ORDER_CEILING).contains(&self.max_per_order) {
            return Err(invalid(format!(
                "max_per_order must be between 1 and {MAX_PER_ORDER_CEILING}"
            )));
        }
        let (lo, hi) = HOLD_TTL_RANGE;
        if !(lo..=hi).contains(&self.hold_ttl_secs) {
            return Err(invalid(format!(
                "hold_ttl_secs must be between {lo} and {hi}"
            )));
        }
        let a = &self.admission;
        if !(1..=1_000_000).contains(&a.rate_per_minute) {
            return Err(invalid(
                "admission.rate_per_minute must be between 1 and 1000000",
            ));
        }
        if !(1..=1_000_000).contains(&a.max_active) {
            return Err(invalid(
                "admission.max_active must be between 1 and 1000000",
            ));
        }
        if !(30..=86_400).contains(&a.admission_ttl_secs) {
            return Err(invalid(
                "admission.admission_ttl_secs must be between 30 and 86400",
            ));
        }
        if self.pow_difficulty_bits > MAX_POW_BITS {
            return Err(invalid(format!(
                "pow_difficulty_bits must be at most {MAX_POW_BITS}"
            )));
        }
        let mut ga_ids = HashSet::new();
        let mut total: u64 = 0;
        for tier in &self.tiers {
            if !valid_group_id(&tier.id) {
                return Err(invalid(format!(
                    "tier id {:?} must be 1-32 letters, digits, '_' or '.'",
                    tier.id
                )));
            }
            if !ga_ids.insert(tier.id.as_str()) {
                return Err(invalid(format!("tier id {:?} appears twice", tier.id)));
            }
            check_text("tier name", &tier.name)?;
            check_price(&format!("tier {}", tier.id), tier.price_cents)?;
            if tier.capacity == 0 {
                return Err(invalid(format!(
                    "tier {}: capacity must be at least 1",
                    tier.id
                )));
            }
            total += u64::from(tier.capacity);
        }
        let mut sections = HashSet::new();
        for block in &self.seating {
            if !valid_group_id(&block.section) || block.section.contains('.') {
                return Err(invalid(format!(
                    "section {:?} must be 1-32 letters, digits or '_'",
                    block.section
                )));
            }
            if !sections.insert(block.section.as_str()) {
                return Err(invalid(format!(
                    "section {:?} appears twice",
                    block.section
                )));
            }
            if !valid_group_id(&block.tier) {
                return Err(invalid(format!(
                    "seating tier {:?} must be 1-32 letters, digits, '_' or '.'",
                    block.tier
                )));
            }
            if ga_ids.contains(block.tier.as_str()) {
                return Err(invalid(format!(
                    "tier {:?} is general admission and cannot also hold reserved seats",
                    block.tier
                )));
            }
            check_price(&format!("section {}", block.section), block.price_cents)?;
            if !(1..=MAX_ROWS).contains(&block.rows)
                || !(1..=MAX_SEATS_PER_ROW).contains(&block.seats_per_row)
            {
                return Err(invalid(format!(
                    "section {}: rows must be 1-{MAX_ROWS} and seats_per_row 1-{MAX_SEATS_PER_ROW}",
                    block.section
                )));
            }
            total += block.seat_count();
        }
        if total > MAX_ITEMS_PER_EVENT {
            return Err(invalid(format!(
                "an event may have at most {MAX_ITEMS_PER_EVENT} items (this one has {total})"
            )));
        }
        Ok(())
    }

    /// When the sale opens, or `None` when it is open from creation.
    pub fn opens_at(&self) -> Option<DateTime<Utc>> {
        self.sale_opens_at
    }

    /// Whether the sale has opened at `now`.
    pub fn sale_open_at(&self, now: DateTime<Utc>) -> bool {
        self.sale_opens_at.is_none_or(|t| t <= now)
    }

    /// Whether the sale has closed at `now` (the show has started).
    pub fn sale_closed_at(&self, now: DateTime<Utc>) -> bool {
        now >= self.starts_at
    }
}

/// The demo event seeded on first start in embedded mode, so a fresh `cargo run` has
/// something real to show: a seated arena bowl and a standing floor, on sale now.
pub fn demo_event(now: DateTime<Utc>) -> EventSpec {
    EventSpec {
        name: "Midnight Echoes — Live".into(),
        venue: "Harbour Arena".into(),
        starts_at: now + chrono::Duration::days(30),
        sale_opens_at: None,
        max_per_order: 6,
        hold_ttl_secs: 600,
        admission: AdmissionSettings {
            rate_per_minute: 600,
            max_active: 200,
            admission_ttl_secs: 900,
        },
        pow_difficulty_bits: 0,
        tiers: vec![GaTier {
            id: "floor".into(),
            name: "Floor (standing)".into(),
            price_cents: 9900,
            capacity: 400,
        }],
        seating: vec![
            SeatingBlock {
                section: "A".into(),
                rows: 10,
                seats_per_row: 20,
                tier: "lower".into(),
                price_cents: 12900,
            },
            SeatingBlock {
                section: "B".into(),
                rows: 10,
                seats_per_row: 20,
                tier: "lower".into(),
                price_cents: 12900,
            },
            SeatingBlock {
                section: "C".into(),
                rows: 12,
                seats_per_row: 24,
                tier: "upper".into(),
                price_cents: 6900,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_event_is_valid() {
        demo_event(Utc::now()).validate().unwrap();
    }

    #[test]
    fn an_event_without_inventory_is_refused() {
        let mut spec = demo_event(Utc::now());
        spec.tiers.clear();
        spec.seating.clear();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn ids_that_would_make_item_ids_ambiguous_are_refused() {
        let mut spec = demo_event(Utc::now());
        spec.seating[0].section = "A-1".into();
        assert!(spec.validate().is_err());
        let mut spec = demo_event(Utc::now());
        spec.tiers[0].id = "fl#oor".into();
        assert!(spec.validate().is_err());
        let mut spec = demo_event(Utc::now());
        spec.seating[1].section = "A".into();
        assert!(spec.validate().is_err());
        let mut spec = demo_event(Utc::now());
        spec.seating[0].tier = "floor".into();
        assert!(spec.validate().is_err());
    }

    #[test]
    fn inventory_is_bounded() {
        let mut spec = demo_event(Utc::now());
        spec.tiers[0].capacity = u32::MAX;
        assert!(spec.validate().is_err());
        let mut spec = demo_event(Utc::now());
        spec.seating[0].rows = MAX_ROWS + 1;
        assert!(spec.validate().is_err());
    }

    #[test]
    fn unknown_fields_are_refused() {
        let json =
            r#"{"name":"x","venue":"y","starts_at":"2030-01-01T00:00:00Z","max_per_ordr":3}"#;
        assert!(serde_json::from_str::<EventSpec>(json).is_err());
    }
}
