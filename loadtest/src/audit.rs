//! The correctness audit, read back through the organizer API once the on-sale is over.
//!
//! It checks the engine's promises from the outside: no item sold beyond capacity, no item
//! in two confirmed orders, and every `201` a fan received is a confirmed order in the
//! organizer's list with the same items (a `201` means committed). Orders in the list that
//! no fan saw a `201` for are counted, not failed: a fan whose answer was lost in transit
//! (a timeout) may still have been sold a ticket, which is what idempotent retries are for.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// An item as the API shows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub tier: String,
}

/// An order from the organizer's list.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ListedOrder {
    pub order_id: String,
    pub status: String,
    pub items: Vec<Item>,
}

/// An order a fan was told was committed (`201`).
#[derive(Clone, Debug, Serialize)]
pub struct SeenOrder {
    pub order_id: String,
    pub item_ids: Vec<String>,
}

/// What the audit found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Audit {
    pub orders_listed: usize,
    pub orders_confirmed: usize,
    pub items_sold: u64,
    pub capacity: u64,
    /// Tiers with more items sold than their capacity: (tier, sold, capacity).
    pub oversold_tiers: Vec<(String, u64, u64)>,
    /// Items found in more than one confirmed order.
    pub items_sold_twice: Vec<String>,
    /// `201`s fans received whose order is missing from the list or not confirmed.
    pub lost_orders: Vec<String>,
    /// `201`s whose order is listed with other items than the fan was told.
    pub changed_orders: Vec<String>,
    /// Confirmed orders no fan of this run saw a `201` for.
    pub unacknowledged_orders: usize,
    /// Fans' `201`s checked against the list.
    pub acknowledged_checked: usize,
}

impl Audit {
    /// Whether more was sold than exists.
    pub fn oversold(&self) -> bool {
        !self.oversold_tiers.is_empty()
            || !self.items_sold_twice.is_empty()
            || self.items_sold > self.capacity
    }

    /// Whether a confirmed order went missing or changed.
    pub fn lost(&self) -> bool {
        !self.lost_orders.is_empty() || !self.changed_orders.is_empty()
    }
}

/// Checks the organizer's order list against the event's capacity (per tier) and the
/// `201`s the fans saw.
pub fn check(
    capacity: &BTreeMap<String, u64>,
    listed: &[ListedOrder],
    seen: &[SeenOrder],
) -> Audit {
    let confirmed: Vec<&ListedOrder> = listed.iter().filter(|o| o.status == "confirmed").collect();
    let mut sold_by_tier: BTreeMap<&str, u64> = BTreeMap::new();
    let mut owners: HashMap<&str, usize> = HashMap::new();
    let mut twice = HashSet::new();
    for order in &confirmed {
        for item in &order.items {
            *sold_by_tier.entry(item.tier.as_str()).or_default() += 1;
            *owners.entry(item.id.as_str()).or_default() += 1;
        }
    }
    for (id, n) in owners {
        if n > 1 {
            twice.insert(id.to_owned());
        }
    }
    let mut items_sold_twice: Vec<String> = twice.into_iter().collect();
    items_sold_twice.sort();
    let oversold_tiers = sold_by_tier
        .iter()
        .filter_map(|(tier, &sold)| {
            let cap = capacity.get(*tier).copied().unwrap_or(0);
            (sold > cap).then(|| ((*tier).to_owned(), sold, cap))
        })
        .collect();

    let by_id: HashMap<&str, &ListedOrder> = confirmed
        .iter()
        .map(|o| (o.order_id.as_str(), *o))
        .collect();
    let mut lost_orders = Vec::new();
    let mut changed_orders = Vec::new();
    let mut acknowledged = HashSet::new();
    for s in seen {
        acknowledged.insert(s.order_id.as_str());
        match by_id.get(s.order_id.as_str()) {
            None => lost_orders.push(s.order_id.clone()),
            Some(order) => {
                let mut listed_ids: Vec<&str> = order.items.iter().map(|i| i.id.as_str()).collect();
                let mut seen_ids: Vec<&str> = s.item_ids.iter().map(String::as_str).collect();
                listed_ids.sort_unstable();
                seen_ids.sort_unstable();
                if listed_ids != seen_ids {
                    changed_orders.push(s.order_id.clone());
                }
            }
        }
    }
    Audit {
        orders_listed: listed.len(),
        orders_confirmed: confirmed.len(),
        items_sold: sold_by_tier.values().sum(),
        capacity: capacity.values().sum(),
        oversold_tiers,
        items_sold_twice,
        lost_orders,
        changed_orders,
        unacknowledged_orders: confirmed
            .iter()
            .filter(|o| !acknowledged.contains(o.order_id.as_str()))
            .count(),
        acknowledged_checked: acknowledged.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(id: &str, status: &str, items: &[&str]) -> ListedOrder {
        ListedOrder {
            order_id: id.into(),
            status: status.into(),
            items: items
                .iter()
                .map(|i| Item {
                    id: (*i).into(),
                    tier: i.split('#').next().unwrap().into(),
                })
                .collect(),
        }
    }

    fn seen(id: &str, items: &[&str]) -> SeenOrder {
        SeenOrder {
            order_id: id.into(),
            item_ids: items.iter().map(|s| (*s).into()).collect(),
        }
    }

    fn floor(cap: u64) -> BTreeMap<String, u64> {
        BTreeMap::from([("floor".to_owned(), cap)])
    }

    #[test]
    fn a_clean_sale_passes() {
        let listed = [
            order("o1", "confirmed", &["floor#1", "floor#2"]),
            order("o2", "confirmed", &["floor#3"]),
        ];
        let audit = check(&floor(3), &listed, &[seen("o1", &["floor#2", "floor#1"])]);
        assert!(!audit.oversold() && !audit.lost());
        assert_eq!(audit.items_sold, 3);
        assert_eq!(audit.unacknowledged_orders, 1);
        assert_eq!(audit.acknowledged_checked, 1);
    }

    #[test]
    fn an_item_in_two_orders_is_an_oversell() {
        let listed = [
            order("o1", "confirmed", &["floor#1"]),
            order("o2", "confirmed", &["floor#1"]),
        ];
        let audit = check(&floor(10), &listed, &[]);
        assert!(audit.oversold());
        assert_eq!(audit.items_sold_twice, vec!["floor#1".to_owned()]);
    }

    #[test]
    fn a_cancelled_order_frees_its_items() {
        let listed = [
            order("o1", "cancelled", &["floor#1"]),
            order("o2", "confirmed", &["floor#1"]),
        ];
        assert!(!check(&floor(1), &listed, &[]).oversold());
    }

    #[test]
    fn more_sold_than_a_tier_holds_is_an_oversell() {
        let listed = [order("o1", "confirmed", &["floor#1", "floor#2"])];
        let audit = check(&floor(1), &listed, &[]);
        assert_eq!(audit.oversold_tiers, vec![("floor".to_owned(), 2, 1)]);
        assert!(audit.oversold());
    }

    #[test]
    fn a_201_missing_from_the_list_is_a_lost_order() {
        let listed = [
            order("o1", "confirmed", &["floor#1"]),
            order("o3", "cancelled", &["floor#3"]),
        ];
        let audit = check(
            &floor(5),
            &listed,
            &[seen("o2", &["floor#2"]), seen("o3", &["floor#3"])],
        );
        assert_eq!(audit.lost_orders, vec!["o2".to_owned(), "o3".to_owned()]);
        assert!(audit.lost());
    }

    #[test]
    fn a_201_listed_with_other_items_is_flagged() {
        let listed = [order("o1", "confirmed", &["floor#1"])];
        let audit = check(&floor(5), &listed, &[seen("o1", &["floor#2"])]);
        assert_eq!(audit.changed_orders, vec!["o1".to_owned()]);
        assert!(audit.lost());
    }
}
