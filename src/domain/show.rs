//! How a price and a time read for people: one spelling for the pages and the mails alike.

use chrono::{DateTime, Utc};

/// Formats cents as a price (`$129.00`).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

/// A time as people read it (`Tue 31 Dec 2030, 20:00 UTC`).
pub fn show_time(t: DateTime<Utc>) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_cents() {
        assert_eq!(money(12900), "$129.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(-150), "-$1.50");
    }
}
