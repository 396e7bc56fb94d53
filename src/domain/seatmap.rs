//! An arena's seat map for fans' browsers: the layout (the event's seating blocks, which only
//! change when the organizer edits the event) and the seats' states, the small part that
//! changes, encoded compactly: two bits per seat in the layout's fixed order (blocks in the
//! event's order, then rows from 1, then seats from 1), base64. 20,000 seats are 5,000 bytes,
//! 6,668 characters. And the choice of *best available* seats.

use base64::Engine;
use serde::Serialize;

use super::event::SeatingBlock;

/// Whether a place can be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeatState {
    Free,
    Held,
    Sold,
}

impl SeatState {
    /// The word the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SeatState::Free => "free",
            SeatState::Held => "held",
            SeatState::Sold => "sold",
        }
    }
}

impl std::fmt::Display for SeatState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of a seat state in the encoding.
fn code(state: SeatState) -> u8 {
    match state {
        SeatState::Free => 0,
        SeatState::Held => 1,
        SeatState::Sold => 2,
    }
}

/// Encodes seat states in order, four per byte (the first seat in the lowest two bits).
pub fn encode(states: impl IntoIterator<Item = SeatState>) -> (String, usize) {
    let mut bytes = Vec::new();
    let mut count = 0;
    for state in states {
        if count % 4 == 0 {
            bytes.push(0u8);
        }
        if let Some(last) = bytes.last_mut() {
            *last |= code(state) << (2 * (count % 4));
        }
        count += 1;
    }
    (
        base64::engine::general_purpose::STANDARD.encode(bytes),
        count,
    )
}

/// Decodes `count` seat states (the browser does the same in `shop.js`); `None` when the text
/// is not such an encoding.
pub fn decode(text: &str, count: usize) -> Option<Vec<SeatState>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    if bytes.len() != count.div_ceil(4) {
        return None;
    }
    (0..count)
        .map(|i| match (bytes[i / 4] >> (2 * (i % 4))) & 3 {
            0 => Some(SeatState::Free),
            1 => Some(SeatState::Held),
            2 => Some(SeatState::Sold),
            _ => None,
        })
        .collect()
}

/// A fingerprint of the layout (the seating blocks, in order): a client holding states of
/// another layout must fetch the layout again.
pub fn layout_version(blocks: &[SeatingBlock]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for b in blocks {
        hash.update(
            format!(
                "{}|{}|{}|{}|{};",
                b.section, b.rows, b.seats_per_row, b.tier, b.price_cents
            )
            .as_bytes(),
        );
    }
    hex::encode(&hash.finalize()[..6])
}

/// The start of the run of `quantity` free seats in a row closest to its middle, if any.
/// `free[i]` tells whether seat `i + 1` is free.
pub fn best_run(free: &[bool], quantity: usize) -> Option<usize> {
    if quantity == 0 || quantity > free.len() {
        return None;
    }
    let middle2 = free.len() as i64; // twice the row's middle, in half seats
    let mut best: Option<(i64, usize)> = None;
    let mut run_start = 0;
    for i in 0..=free.len() {
        if i < free.len() && free[i] {
            continue;
        }
        // A run of free seats [run_start, i).
        if i - run_start >= quantity {
            for start in run_start..=i - quantity {
                let centre2 = (2 * start + quantity) as i64;
                let distance = (centre2 - middle2).abs();
                if best.is_none_or(|(d, _)| distance < d) {
                    best = Some((distance, start));
                }
            }
        }
        run_start = i + 1;
    }
    best.map(|(_, start)| start)
}

/// The seats of a row in order of preference: from the middle out.
pub fn middle_out(len: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let middle2 = len as i64 - 1;
    order.sort_by_key(|&i| ((2 * i as i64 - middle2).abs(), i));
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(n: u8) -> SeatState {
        match n % 3 {
            0 => SeatState::Free,
            1 => SeatState::Held,
            _ => SeatState::Sold,
        }
    }

    proptest! {
        #[test]
        fn encoding_round_trips(codes in proptest::collection::vec(0u8..3, 0..2000)) {
            let states: Vec<SeatState> = codes.iter().map(|&c| state(c)).collect();
            let (text, count) = encode(states.iter().copied());
            prop_assert_eq!(count, states.len());
            prop_assert_eq!(decode(&text, count), Some(states));
        }

        #[test]
        fn a_best_run_is_free_and_nearest_the_middle(
            free in proptest::collection::vec(any::<bool>(), 1..60),
            quantity in 1usize..8,
        ) {
            match best_run(&free, quantity) {
                Some(start) => {
                    prop_assert!(free[start..start + quantity].iter().all(|&f| f));
                    let distance = |s: usize| ((2 * s + quantity) as i64 - free.len() as i64).abs();
                    for other in 0..=free.len().saturating_sub(quantity) {
                        if free[other..other + quantity].iter().all(|&f| f) {
                            prop_assert!(distance(start) <= distance(other));
                        }
                    }
                }
                None => {
                    prop_assert!(quantity > free.len()
                        || free.windows(quantity).all(|w| !w.iter().all(|&f| f)));
                }
            }
        }
    }

    #[test]
    fn twenty_thousand_seats_fit_in_under_seven_kilobytes() {
        let (text, count) = encode(std::iter::repeat_n(SeatState::Free, 20_000));
        assert_eq!(count, 20_000);
        assert_eq!(text.len(), 6_668);
    }

    #[test]
    fn rows_are_filled_from_the_middle_out() {
        assert_eq!(middle_out(5), vec![2, 1, 3, 0, 4]);
        assert_eq!(middle_out(4), vec![1, 2, 0, 3]);
        assert_eq!(best_run(&[true; 10], 2), Some(4));
    }
}
