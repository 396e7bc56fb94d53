//! Fans at an arena's seat map, as the shop page (`static/shop.js`) behaves: the layout comes
//! with the event (its seating blocks), the seats' states from `GET …/availability` (two bits
//! per seat in the layout's order, base64). A fan looks at the map for a while, then picks a
//! run of free seats side by side in one row (or any free seats, if no row has enough); some
//! fans ask for the best available instead. With a live map (the page refreshes the states
//! every 2 s, and once more when the fan asks to hold: seats taken meanwhile are dropped and
//! the fan picks again) the fan picks from a view at most 2 s old; with a stale map (a page
//! that never refreshes, as before) from the view it got when it arrived.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use rand::rngs::StdRng;
use rand::Rng;
use serde::Deserialize;

/// One seating block of the event, in the event's order.
#[derive(Clone, Debug, Deserialize, serde::Serialize)]
pub struct Block {
    pub section: String,
    pub rows: u32,
    pub seats_per_row: u32,
    pub tier: String,
}

/// How fans see the seats' states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapMode {
    /// The page refreshes the states every 3 s.
    Live,
    /// The page shows the states it got when the fan arrived, and never refreshes.
    Stale,
}

/// How often the live page refreshes, seconds.
pub const REFRESH_SECS: f64 = 2.0;

/// The states answer.
#[derive(Deserialize)]
pub struct Availability {
    pub count: usize,
    pub seats: String,
}

impl Availability {
    /// The states, one byte per seat (0 free, 1 held, 2 sold).
    pub fn decode(&self) -> Option<Vec<u8>> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.seats)
            .ok()?;
        (bytes.len() == self.count.div_ceil(4)).then(|| {
            (0..self.count)
                .map(|i| (bytes[i / 4] >> (2 * (i % 4))) & 3)
                .collect()
        })
    }
}

/// The seat id of index `i` in the layout's order.
pub fn seat_id(blocks: &[Block], mut i: usize) -> Option<String> {
    for b in blocks {
        let count = (b.rows * b.seats_per_row) as usize;
        if i < count {
            let per_row = b.seats_per_row as usize;
            return Some(format!(
                "{}-{}-{}",
                b.section,
                i / per_row + 1,
                i % per_row + 1
            ));
        }
        i -= count;
    }
    None
}

/// The index of a seat id in the layout's order.
pub fn seat_index(blocks: &[Block], id: &str) -> Option<usize> {
    let mut parts = id.split('-');
    let (section, row, seat) = (parts.next()?, parts.next()?, parts.next()?);
    let (row, seat): (usize, usize) = (row.parse().ok()?, seat.parse().ok()?);
    let mut offset = 0;
    for b in blocks {
        if b.section == section {
            return Some(offset + (row - 1) * b.seats_per_row as usize + (seat - 1));
        }
        offset += (b.rows * b.seats_per_row) as usize;
    }
    None
}

/// Picks `quantity` free seats as a fan at the map would: a random row with a run of that many
/// free seats side by side, else any free seats. Empty when nothing is free.
pub fn pick(blocks: &[Block], states: &[u8], quantity: usize, rng: &mut StdRng) -> Vec<String> {
    let mut rows = Vec::new();
    let mut offset = 0;
    for b in blocks {
        let per_row = b.seats_per_row as usize;
        for r in 0..b.rows as usize {
            rows.push((offset + r * per_row, per_row));
        }
        offset += b.rows as usize * per_row;
    }
    // A few random rows, as a fan scanning the map would.
    for _ in 0..40 {
        let (start, len) = rows[rng.random_range(0..rows.len())];
        let row = &states[start..start + len];
        let runs: Vec<usize> = (0..=len.saturating_sub(quantity))
            .filter(|&s| row[s..s + quantity].iter().all(|&v| v == 0))
            .collect();
        if !runs.is_empty() {
            let s = runs[rng.random_range(0..runs.len())];
            return (start + s..start + s + quantity)
                .filter_map(|i| seat_id(blocks, i))
                .collect();
        }
    }
    let free: Vec<usize> = (0..states.len()).filter(|&i| states[i] == 0).collect();
    if free.is_empty() {
        return Vec::new();
    }
    let at = rng.random_range(0..free.len());
    free.iter()
        .cycle()
        .skip(at)
        .take(quantity.min(free.len()))
        .filter_map(|&i| seat_id(blocks, i))
        .collect()
}

/// Seat holds of the run: from the map and best available, and how many were answered 409.
#[derive(Default)]
pub struct SeatTally {
    pub map_holds: AtomicU64,
    pub map_conflicts: AtomicU64,
    pub best_holds: AtomicU64,
    pub best_conflicts: AtomicU64,
    /// Picks the live page found partly taken when the fan asked to hold (picked again).
    pub caught: AtomicU64,
}

/// The seat figures of a run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct SeatFigures {
    pub mode: Option<MapMode>,
    pub map_holds: u64,
    pub map_conflicts: u64,
    pub map_conflict_share: Option<f64>,
    pub best_holds: u64,
    pub best_conflicts: u64,
    pub caught_before_holding: u64,
}

impl SeatTally {
    /// Counts one hold and whether it was answered 409.
    pub fn count(&self, best: bool, conflict: bool) {
        let (holds, conflicts) = if best {
            (&self.best_holds, &self.best_conflicts)
        } else {
            (&self.map_holds, &self.map_conflicts)
        };
        holds.fetch_add(1, Ordering::Relaxed);
        if conflict {
            conflicts.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn figures(&self, mode: Option<MapMode>) -> SeatFigures {
        let map_holds = self.map_holds.load(Ordering::Relaxed);
        let map_conflicts = self.map_conflicts.load(Ordering::Relaxed);
        SeatFigures {
            mode,
            map_holds,
            map_conflicts,
            map_conflict_share: (map_holds > 0).then(|| map_conflicts as f64 / map_holds as f64),
            best_holds: self.best_holds.load(Ordering::Relaxed),
            best_conflicts: self.best_conflicts.load(Ordering::Relaxed),
            caught_before_holding: self.caught.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn blocks() -> Vec<Block> {
        vec![
            Block {
                section: "A".into(),
                rows: 2,
                seats_per_row: 3,
                tier: "t".into(),
            },
            Block {
                section: "B".into(),
                rows: 1,
                seats_per_row: 4,
                tier: "t".into(),
            },
        ]
    }

    #[test]
    fn ids_and_indexes_follow_the_layout() {
        let b = blocks();
        assert_eq!(seat_id(&b, 0).as_deref(), Some("A-1-1"));
        assert_eq!(seat_id(&b, 5).as_deref(), Some("A-2-3"));
        assert_eq!(seat_id(&b, 6).as_deref(), Some("B-1-1"));
        assert_eq!(seat_id(&b, 10), None);
        for i in 0..10 {
            assert_eq!(seat_index(&b, &seat_id(&b, i).unwrap()), Some(i));
        }
    }

    #[test]
    fn a_pick_is_free_and_side_by_side_when_a_row_allows() {
        let b = blocks();
        let mut rng = StdRng::seed_from_u64(7);
        // Only B-1-2 and B-1-3 are free side by side.
        let states = [1, 1, 1, 2, 0, 2, 1, 0, 0, 1];
        for _ in 0..20 {
            assert_eq!(pick(&b, &states, 2, &mut rng), vec!["B-1-2", "B-1-3"]);
        }
        assert!(pick(&b, &[1; 10], 1, &mut rng).is_empty());
    }

    #[test]
    fn states_decode_two_bits_per_seat() {
        // Seats: free, held, sold, free | held → bytes 0b00_10_01_00, 0b01.
        let text = base64::engine::general_purpose::STANDARD.encode([0b0010_0100u8, 0b01]);
        let a = Availability {
            count: 5,
            seats: text,
        };
        assert_eq!(a.decode(), Some(vec![0, 1, 2, 0, 1]));
    }
}
