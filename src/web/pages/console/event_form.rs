//! The console's event form: what an organizer types (prices in dollars, times in UTC,
//! tier and seating rows) turned into the API's `EventSpec` or `EventPatch`, and back.
//!
//! The form keeps every value as typed, so a refused form comes back with the organizer's
//! own input and the reasons, never blank. Rows are repeated fields (`tier_id`, `tier_name`,
//! … once per row), read in order; a row left wholly blank is ignored, so the page can offer
//! spare rows without a script.

use chrono::{DateTime, NaiveDateTime, Utc};

use crate::domain::event::{AdmissionSettings, EventSpec, GaTier, SeatingBlock};
use crate::sale::edit_event::EventPatch;

/// Spare blank rows offered for new tiers and seating blocks.
pub const SPARE_ROWS: usize = 2;
/// Most rows of each kind one form may post (the spec's own bound is checked after).
pub const MAX_FORM_ROWS: usize = 200;

/// One general-admission tier row, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierFields {
    pub id: String,
    pub name: String,
    pub price: String,
    pub capacity: String,
    /// Saved already: its id cannot change (orders refer to it).
    pub saved: bool,
}

/// One seating block row, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockFields {
    pub section: String,
    pub rows: String,
    pub seats_per_row: String,
    pub tier: String,
    pub price: String,
    pub saved: bool,
}

/// The whole form, as typed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventForm {
    pub name: String,
    pub venue: String,
    pub starts_at: String,
    pub sale_opens_at: String,
    pub max_per_order: String,
    pub hold_ttl_secs: String,
    pub rate_per_minute: String,
    pub max_active: String,
    pub admission_ttl_secs: String,
    pub pow_difficulty_bits: String,
    pub tiers: Vec<TierFields>,
    pub blocks: Vec<BlockFields>,
}

/// A form's fields parsed into the spec's types; absent where the form left them blank.
struct Parsed {
    starts_at: Option<DateTime<Utc>>,
    sale_opens_at: Option<DateTime<Utc>>,
    max_per_order: u32,
    hold_ttl_secs: u32,
    admission: AdmissionSettings,
    pow_difficulty_bits: u8,
    tiers: Vec<GaTier>,
    seating: Vec<SeatingBlock>,
}

/// Formats a time for a `datetime-local` input (UTC, minutes).
pub fn time_field(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// Formats cents as a form price (`129.00`).
pub fn price_field(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

/// Reads a price in dollars and cents (`129`, `129.5`, `$129.00`) as cents.
pub fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim().trim_start_matches('$').replace(',', "");
    let (whole, cents) = match text.split_once('.') {
        Some((w, c)) if (1..=2).contains(&c.len()) => (w, c),
        Some(_) => return None,
        None => (text.as_str(), "0"),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(cents) || whole.len() > 12 {
        return None;
    }
    let cents: i64 = if cents.len() == 1 {
        cents.parse::<i64>().ok()? * 10
    } else {
        cents.parse().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// Reads a `datetime-local` value (or RFC 3339) as a UTC time.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

impl EventForm {
    /// A blank form with the API's defaults filled in and spare rows.
    pub fn blank() -> Self {
        let defaults = AdmissionSettings::default();
        let mut form = EventForm {
            max_per_order: "6".into(),
            hold_ttl_secs: "600".into(),
            rate_per_minute: defaults.rate_per_minute.to_string(),
            max_active: defaults.max_active.to_string(),
            admission_ttl_secs: defaults.admission_ttl_secs.to_string(),
            pow_difficulty_bits: "0".into(),
            ..Default::default()
        };
        form.add_spare_rows();
        form
    }

    /// The form for editing a saved event.
    pub fn from_spec(spec: &EventSpec) -> Self {
        let mut form = EventForm {
            name: spec.name.clone(),
            venue: spec.venue.clone(),
            starts_at: time_field(spec.starts_at),
            sale_opens_at: spec.sale_opens_at.map(time_field).unwrap_or_default(),
            max_per_order: spec.max_per_order.to_string(),
            hold_ttl_secs: spec.hold_ttl_secs.to_string(),
            rate_per_minute: spec.admission.rate_per_minute.to_string(),
            max_active: spec.admission.max_active.to_string(),
            admission_ttl_secs: spec.admission.admission_ttl_secs.to_string(),
            pow_difficulty_bits: spec.pow_difficulty_bits.to_string(),
            tiers: spec
                .tiers
                .iter()
                .map(|t| TierFields {
                    id: t.id.clone(),
                    name: t.name.clone(),
                    price: price_field(t.price_cents),
                    capacity: t.capacity.to_string(),
                    saved: true,
                })
                .collect(),
            blocks: spec
                .seating
                .iter()
                .map(|b| BlockFields {
                    section: b.section.clone(),
                    rows: b.rows.to_string(),
                    seats_per_row: b.seats_per_row.to_string(),
                    tier: b.tier.clone(),
                    price: price_field(b.price_cents),
                    saved: true,
                })
                .collect(),
        };
        form.add_spare_rows();
        form
    }

    /// Reads a posted form (`application/x-www-form-urlencoded` pairs). Rows come from the
    /// repeated row fields in order; rows whose id is in `saved_tiers` / `saved_sections` are
    /// marked saved.
    pub fn from_pairs(
        pairs: &[(String, String)],
        saved_tiers: &[String],
        saved_sections: &[String],
    ) -> Self {
        let one = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let all = |name: &str| -> Vec<String> {
            pairs
                .iter()
                .filter(|(k, _)| k == name)
                .take(MAX_FORM_ROWS)
                .map(|(_, v)| v.trim().to_string())
                .collect()
        };
        let nth = |column: &[String], i: usize| column.get(i).cloned().unwrap_or_default();
        let (ids, names, prices, caps) = (
            all("tier_id"),
            all("tier_name"),
            all("tier_price"),
            all("tier_capacity"),
        );
        let tiers = (0..ids.len().max(names.len()))
            .map(|i| TierFields {
                saved: saved_tiers.contains(&nth(&ids, i)),
                id: nth(&ids, i),
                name: nth(&names, i),
                price: nth(&prices, i),
                capacity: nth(&caps, i),
            })
            .filter(|t| !(t.id.is_empty() && t.name.is_empty() && t.capacity.is_empty()))
            .collect();
        let (sections, rows, seats, block_tiers, block_prices) = (
            all("block_section"),
            all("block_rows"),
            all("block_seats"),
            all("block_tier"),
            all("block_price"),
        );
        let blocks = (0..sections.len())
            .map(|i| BlockFields {
                saved: saved_sections.contains(&nth(&sections, i)),
                section: nth(&sections, i),
                rows: nth(&rows, i),
                seats_per_row: nth(&seats, i),
                tier: nth(&block_tiers, i),
                price: nth(&block_prices, i),
            })
            .filter(|b| !(b.section.is_empty() && b.rows.is_empty() && b.seats_per_row.is_empty()))
            .collect();
        EventForm {
            name: one("name"),
            venue: one("venue"),
            starts_at: one("starts_at"),
            sale_opens_at: one("sale_opens_at"),
            max_per_order: one("max_per_order"),
            hold_ttl_secs: one("hold_ttl_secs"),
            rate_per_minute: one("rate_per_minute"),
            max_active: one("max_active"),
            admission_ttl_secs: one("admission_ttl_secs"),
            pow_difficulty_bits: one("pow_difficulty_bits"),
            tiers,
            blocks,
        }
    }

    /// Offers blank rows for new tiers and blocks (after a refused post, too).
    pub fn add_spare_rows(&mut self) {
        self.tiers
            .extend(std::iter::repeat_n(TierFields::default(), SPARE_ROWS));
        self.blocks
            .extend(std::iter::repeat_n(BlockFields::default(), SPARE_ROWS));
    }

    fn parse(&self) -> Result<Parsed, Vec<String>> {
        let mut errors = Vec::new();
        let mut number = |label: &str, text: &str| -> u32 {
            text.parse().unwrap_or_else(|_| {
                errors.push(format!("{label}: enter a whole number (got {text:?})"));
                0
            })
        };
        let max_per_order = number("Most tickets per order", &self.max_per_order);
        let hold_ttl_secs = number("Hold time", &self.hold_ttl_secs);
        let admission = AdmissionSettings {
            rate_per_minute: number("Admissions per minute", &self.rate_per_minute),
            max_active: number("Most shoppers at once", &self.max_active),
            admission_ttl_secs: number("Admission lasts", &self.admission_ttl_secs),
        };
        let pow = number("Proof of work", &self.pow_difficulty_bits);
        let mut tiers = Vec::new();
        for (i, t) in self.tiers.iter().enumerate() {
            let label = format!("Tier {}", i + 1);
            let capacity = number(&format!("{label} capacity"), &t.capacity);
            tiers.push((label, t, capacity));
        }
        let mut blocks = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let label = format!("Seating block {}", i + 1);
            let rows = number(&format!("{label} rows"), &b.rows);
            let seats = number(&format!("{label} seats per row"), &b.seats_per_row);
            blocks.push((label, b, rows, seats));
        }
        let mut price = |label: &str, text: &str| {
            parse_price(text).unwrap_or_else(|| {
                errors.push(format!(
                    "{label} price: enter an amount like 49.50 (got {text:?})"
                ));
                0
            })
        };
        let tiers = tiers
            .into_iter()
            .map(|(label, t, capacity)| GaTier {
                id: t.id.clone(),
                name: t.name.clone(),
                price_cents: price(&label, &t.price),
                capacity,
            })
            .collect();
        let seating = blocks
            .into_iter()
            .map(|(label, b, rows, seats_per_row)| SeatingBlock {
                section: b.section.clone(),
                rows,
                seats_per_row,
                tier: b.tier.clone(),
                price_cents: price(&label, &b.price),
            })
            .collect();
        let mut time = |label: &str, text: &str| {
            if text.is_empty() {
                return None;
            }
            let parsed = parse_time(text);
            if parsed.is_none() {
                errors.push(format!("{label}: enter a date and time (got {text:?})"));
            }
            parsed
        };
        let starts_at = time("Show starts", &self.starts_at);
        let sale_opens_at = time("Sale opens", &self.sale_opens_at);
        if self.starts_at.is_empty() {
            errors.push("Show starts: required".into());
        }
        let pow_difficulty_bits = u8::try_from(pow).unwrap_or(u8::MAX);
        if errors.is_empty() {
            Ok(Parsed {
                starts_at,
                sale_opens_at,
                max_per_order,
                hold_ttl_secs,
                admission,
                pow_difficulty_bits,
                tiers,
                seating,
            })
        } else {
            Err(errors)
        }
    }

    /// The new event this form describes (validated later, with the API's rules).
    pub fn to_spec(&self) -> Result<EventSpec, Vec<String>> {
        let p = self.parse()?;
        Ok(EventSpec {
            name: self.name.clone(),
            venue: self.venue.clone(),
            // `parse` refuses a form without a start time.
            starts_at: p.starts_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
            sale_opens_at: p.sale_opens_at,
            max_per_order: p.max_per_order,
            hold_ttl_secs: p.hold_ttl_secs,
            admission: p.admission,
            pow_difficulty_bits: p.pow_difficulty_bits,
            tiers: p.tiers,
            seating: p.seating,
        })
    }

    /// The change this form makes to a saved event, with the API's `PATCH` meaning: tiers and
    /// blocks are updated by id or added, never removed (orders refer to them).
    pub fn to_patch(&self) -> Result<EventPatch, Vec<String>> {
        let p = self.parse()?;
        Ok(EventPatch {
            name: Some(self.name.clone()),
            venue: Some(self.venue.clone()),
            starts_at: p.starts_at,
            sale_opens_at: Some(p.sale_opens_at),
            max_per_order: Some(p.max_per_order),
            hold_ttl_secs: Some(p.hold_ttl_secs),
            admission: Some(p.admission),
            pow_difficulty_bits: Some(p.pow_difficulty_bits),
            tiers: Some(p.tiers),
            seating: Some(p.seating),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn prices_are_read_as_cents() {
        assert_eq!(parse_price("129"), Some(12_900));
        assert_eq!(parse_price("$129.5"), Some(12_950));
        assert_eq!(parse_price(" 1,299.05 "), Some(129_905));
        assert_eq!(parse_price("0.07"), Some(7));
        for bad in [
            "",
            "-5",
            "1.234",
            "12.",
            ".5",
            "1e3",
            "abc",
            "9999999999999",
        ] {
            assert_eq!(parse_price(bad), None, "{bad}");
        }
        assert_eq!(price_field(12_950), "129.50");
    }

    #[test]
    fn times_are_read_as_utc() {
        let t = parse_time("2026-12-31T20:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-12-31T20:00:00+00:00");
        assert_eq!(parse_time(&time_field(t)), Some(t));
        assert_eq!(
            parse_time("2026-12-31T21:00:00+01:00"),
            Some(t),
            "an offset is honoured"
        );
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn a_posted_form_becomes_a_spec_with_its_rows() {
        let form = EventForm::from_pairs(
            &pairs(&[
                ("name", " Show "),
                ("venue", "Hall"),
                ("starts_at", "2026-12-31T20:00"),
                ("sale_opens_at", ""),
                ("max_per_order", "4"),
                ("hold_ttl_secs", "300"),
                ("rate_per_minute", "120"),
                ("max_active", "50"),
                ("admission_ttl_secs", "600"),
                ("pow_difficulty_bits", "0"),
                ("tier_id", "floor"),
                ("tier_name", "Floor"),
                ("tier_price", "49.50"),
                ("tier_capacity", "100"),
                ("tier_id", ""),
                ("tier_name", ""),
                ("tier_price", ""),
                ("tier_capacity", ""),
                ("block_section", "A"),
                ("block_rows", "2"),
                ("block_seats", "10"),
                ("block_tier", "lower"),
                ("block_price", "80"),
            ]),
            &[],
            &[],
        );
        assert_eq!(form.tiers.len(), 1, "the blank row is ignored");
        let spec = form.to_spec().unwrap();
        assert_eq!(spec.name, "Show");
        assert_eq!(spec.sale_opens_at, None);
        assert_eq!(spec.admission.rate_per_minute, 120);
        assert_eq!(spec.tiers[0].price_cents, 4_950);
        assert_eq!(spec.seating[0].seat_count(), 20);
        assert_eq!(spec.seating[0].price_cents, 8_000);
        spec.validate().unwrap();
    }

    #[test]
    fn every_bad_field_is_named_and_the_input_kept() {
        let form = EventForm::from_pairs(
            &pairs(&[
                ("name", "Show"),
                ("starts_at", "soon"),
                ("max_per_order", "six"),
                ("tier_id", "floor"),
                ("tier_name", "Floor"),
                ("tier_price", "free"),
                ("tier_capacity", "-1"),
            ]),
            &[],
            &[],
        );
        let errors = form.to_spec().unwrap_err();
        let text = errors.join("\n");
        for needle in [
            "Show starts",
            "Most tickets per order",
            "Tier 1 price",
            "Tier 1 capacity",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(form.tiers[0].price, "free", "the typed value is kept");
    }

    #[test]
    fn a_saved_event_round_trips_through_its_form() {
        let spec = crate::domain::event::demo_event(parse_time("2026-11-23T12:00").unwrap());
        let form = EventForm::from_spec(&spec);
        assert!(form.tiers.iter().filter(|t| t.saved).count() == spec.tiers.len());
        let flat: Vec<(String, String)> = form_pairs(&form);
        let names: Vec<String> = spec.tiers.iter().map(|t| t.id.clone()).collect();
        let again = EventForm::from_pairs(&flat, &names, &[]);
        assert!(again.tiers[0].saved);
        assert_eq!(again.to_spec().unwrap(), spec);
    }

    /// The pairs a browser posts for a rendered form.
    fn form_pairs(form: &EventForm) -> Vec<(String, String)> {
        let mut out = pairs(&[
            ("name", &form.name),
            ("venue", &form.venue),
            ("starts_at", &form.starts_at),
            ("sale_opens_at", &form.sale_opens_at),
            ("max_per_order", &form.max_per_order),
            ("hold_ttl_secs", &form.hold_ttl_secs),
            ("rate_per_minute", &form.rate_per_minute),
            ("max_active", &form.max_active),
            ("admission_ttl_secs", &form.admission_ttl_secs),
            ("pow_difficulty_bits", &form.pow_difficulty_bits),
        ]);
        for t in &form.tiers {
            out.extend(pairs(&[
                ("tier_id", &t.id),
                ("tier_name", &t.name),
                ("tier_price", &t.price),
                ("tier_capacity", &t.capacity),
            ]));
        }
        for b in &form.blocks {
            out.extend(pairs(&[
                ("block_section", &b.section),
                ("block_rows", &b.rows),
                ("block_seats", &b.seats_per_row),
                ("block_tier", &b.tier),
                ("block_price", &b.price),
            ]));
        }
        out
    }
}
