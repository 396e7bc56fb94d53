//! Item ids: a reserved seat `SECTION-ROW-SEAT` (`A-3-17`) or a general-admission place
//! `TIER#N` (`floor#42`). Ids arrive from clients, so they are parsed into a reference to a
//! slot of the event's inventory, never trusted as strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest item id accepted from a client, before any parsing.
pub const MAX_ITEM_ID_LEN: usize = 80;

/// An item id in parts, not yet checked against an event's inventory. It travels as its text
/// (`"A-3-17"`) in JSON and in the database, and is parsed back on the way in.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ItemId {
    /// A reserved seat.
    Seat {
        section: String,
        row: u32,
        seat: u32,
    },
    /// A general-admission place, numbered from 1.
    Ga { tier: String, number: u32 },
}

/// In the API description an item id is its text.
impl utoipa::PartialSchema for ItemId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::Type::String)
            .description(Some(
                "An item: a reserved seat `SECTION-ROW-SEAT` (`A-3-17`) or a general-admission \
                 place `TIER#N` (`floor#42`).",
            ))
            .max_length(Some(MAX_ITEM_ID_LEN))
            .examples(["A-3-17", "floor#42"])
            .into()
    }
}

impl utoipa::ToSchema for ItemId {}

/// Why a string is not an item id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an item id (SECTION-ROW-SEAT or TIER#N)")]
pub struct ItemIdError(pub String);

impl ItemId {
    /// Parses `A-3-17` or `floor#42`.
    pub fn parse(text: &str) -> Result<ItemId, ItemIdError> {
        let err = || ItemIdError(text.chars().take(MAX_ITEM_ID_LEN).collect());
        if text.len() > MAX_ITEM_ID_LEN {
            return Err(err());
        }
        let number = |s: &str| -> Result<u32, ItemIdError> {
            // Digits only: "+3", " 3" or "03" would be a second spelling of the same item.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
                return Err(err());
            }
            s.parse().map_err(|_| err())
        };
        if let Some((tier, n)) = text.split_once('#') {
            if tier.is_empty() {
                return Err(err());
            }
            return Ok(ItemId::Ga {
                tier: tier.to_string(),
                number: number(n)?,
            });
        }
        let mut parts = text.split('-');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(section), Some(row), Some(seat), None) if !section.is_empty() => {
                Ok(ItemId::Seat {
                    section: section.to_string(),
                    row: number(row)?,
                    seat: number(seat)?,
                })
            }
            _ => Err(err()),
        }
    }
}

impl TryFrom<String> for ItemId {
    type Error = ItemIdError;

    fn try_from(text: String) -> Result<Self, ItemIdError> {
        ItemId::parse(&text)
    }
}

impl From<ItemId> for String {
    fn from(id: ItemId) -> String {
        id.to_string()
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ItemId::Seat { section, row, seat } => write!(f, "{section}-{row}-{seat}"),
            ItemId::Ga { tier, number } => write!(f, "{tier}#{number}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seats_and_ga_places_parse() {
        assert_eq!(
            ItemId::parse("A-3-17").unwrap(),
            ItemId::Seat {
                section: "A".into(),
                row: 3,
                seat: 17
            }
        );
        assert_eq!(
            ItemId::parse("floor#42").unwrap(),
            ItemId::Ga {
                tier: "floor".into(),
                number: 42
            }
        );
    }

    #[test]
    fn second_spellings_and_junk_are_refused() {
        for bad in [
            "",
            "A",
            "A-3",
            "A-3-17-1",
            "A-03-17",
            "A-+3-17",
            "A- 3-17",
            "-3-17",
            "floor#",
            "#3",
            "floor#0",
            "floor#-1",
            "floor#99999999999",
            "A-3-x",
        ] {
            assert!(ItemId::parse(bad).is_err(), "{bad:?} parsed");
        }
        assert!(ItemId::parse(&"A".repeat(100)).is_err());
    }

    proptest! {
        #[test]
        fn display_and_parse_round_trip(section in "[A-Za-z0-9_]{1,8}", row in 1u32..5000, seat in 1u32..5000) {
            let id = ItemId::Seat { section, row, seat };
            prop_assert_eq!(ItemId::parse(&id.to_string()).unwrap(), id);
        }

        #[test]
        fn json_carries_the_text(tier in "[a-z]{1,8}", number in 1u32..100_000) {
            let id = ItemId::Ga { tier, number };
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(&json, &format!("{:?}", id.to_string()));
            prop_assert_eq!(serde_json::from_str::<ItemId>(&json).unwrap(), id);
        }

        #[test]
        fn parse_never_panics(text in ".{0,100}") {
            let _ = ItemId::parse(&text);
        }
    }
}
