//! Invariants under real concurrency: no oversell, no lost order, split brain, restart.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use floodgate::clock::SystemClock;
use floodgate::domain::inventory::HoldRequest;
use floodgate::domain::order::Buyer;
use floodgate::inventory::actor::{OrderTicket, PlaceHold, PlaceOrder};
use floodgate::inventory::committer::BatchSettings;
use floodgate::inventory::{InventoryHandle, Registry, ShopSettings};

use crate::helpers::*;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// What one hold+order attempt saw.
#[derive(Debug)]
#[allow(dead_code)] // the strings are read through Debug in failure messages
enum Attempt {
    Bought(String),
    Refused,
    Unexpected(String),
}

#[actix_web::test]
async fn two_thousand_concurrent_buyers_sell_exactly_the_800_items_once() {
    let app = TestApp::spawn().await;
    // 500 reserved seats (10 rows of 50) and 300 GA places.
    let event = app.event(&event_spec(10, 50, 300)).await;
    let base = app.base.clone();
    // 200 connections, 10 attempts each; every seat is wanted twice, GA 1,000 times for 300.
    let tasks = (0..200).map(|conn| {
        let base = base.clone();
        let event = event.clone();
        actix_web::rt::spawn(async move {
            let client = client();
            let mut seen = Vec::new();
            for round in 0..10 {
                let i = conn * 10 + round;
                seen.push(attempt(&client, &base, &event, i).await);
            }
            seen
        })
    });
    let results: Vec<Attempt> = join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    let unexpected: Vec<&Attempt> = results
        .iter()
        .filter(|a| matches!(a, Attempt::Unexpected(_)))
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    let bought: HashSet<String> = results
        .iter()
        .filter_map(|a| match a {
            Attempt::Bought(id) => Some(id.clone()),
            _ => None,
        })
        .collect();
    let refused = results
        .iter()
        .filter(|a| matches!(a, Attempt::Refused))
        .count();
    assert_eq!(bought.len(), 800, "one order per item sold");
    assert_eq!(refused, 1200, "every loser was told 409");
    // The database agrees: every 201 is an order, and no item is in two orders.
    let orders = app.all_orders(&event).await;
    let listed: HashSet<String> = orders
        .iter()
        .map(|o| o["order_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, bought);
    let mut items = HashMap::new();
    for order in &orders {
        for item in order["items"].as_array().unwrap() {
            let previous = items.insert(
                item["id"].as_str().unwrap().to_string(),
                order["order_id"].clone(),
            );
            assert!(previous.is_none(), "{item} sold twice");
        }
    }
    assert_eq!(items.len(), 800);
    let view = app.event_view(&event).await;
    assert_eq!(view["state"], "sold_out");
    assert!(view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["available"] == 0 && t["held"] == 0));
}

async fn attempt(client: &reqwest::Client, base: &str, event: &str, i: usize) -> Attempt {
    let admission = match admit(client, base, event).await {
        Ok(admission) => admission,
        Err(e) => return Attempt::Unexpected(format!("not admitted: {e}")),
    };
    let admission = admission.as_str();
    let body = if i % 2 == 0 {
        let seat = (i / 2) % 500;
        json!({"seats": [format!("A-{}-{}", seat / 50 + 1, seat % 50 + 1)]})
    } else {
        json!({"tier": "floor", "quantity": 1})
    };
    let hold = client
        .post(format!("{base}/api/v1/events/{event}/holds"))
        .bearer_auth(admission)
        .json(&body)
        .send()
        .await
        .unwrap();
    match hold.status() {
        StatusCode::CREATED => {}
        StatusCode::CONFLICT => {
            let body: Value = hold.json().await.unwrap();
            return if body["error"] == "unavailable" {
                Attempt::Refused
            } else {
                Attempt::Unexpected(body.to_string())
            };
        }
        other => return Attempt::Unexpected(format!("hold {other}")),
    }
    let hold: Value = hold.json().await.unwrap();
    let order = client
        .post(format!(
            "{base}/api/v1/events/{event}/holds/{}/order",
            hold_id(&hold)
        ))
        .bearer_auth(admission)
        .header("Idempotency-Key", format!("attempt-{i}"))
        .json(&json!({"name": format!("Fan {i}"), "email": "fan@example.com"}))
        .send()
        .await
        .unwrap();
    if order.status() != StatusCode::CREATED {
        return Attempt::Unexpected(format!("order {}", order.status()));
    }
    let order: Value = order.json().await.unwrap();
    Attempt::Bought(order["order_id"].as_str().unwrap().to_string())
}

/// A hold and an order of one seat through an actor, as the shop would make them.
async fn hold_and_order(actor: &InventoryHandle, seat: &str, key: String) -> Result<(), String> {
    let session = key.clone();
    let hold = actor
        .ask(PlaceHold {
            session: session.clone(),
            request: HoldRequest::Items(vec![seat.to_string()]),
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("hold {seat}: {e}"))?;
    let ticket = actor
        .ask(PlaceOrder {
            session,
            hold_id: hold.hold_id,
            key,
            request_hash: "split".into(),
            buyer: Buyer::parse("Fan", "fan@example.com").unwrap(),
        })
        .await
        .map_err(|e| e.to_string())?;
    let reply = match ticket {
        OrderTicket::Ready(reply) => reply,
        OrderTicket::Wait(rx) => rx.await.map_err(|e| e.to_string())?,
    };
    reply.map(|_| ()).map_err(|e| format!("{e:?}"))
}

#[actix_web::test]
async fn two_actors_for_one_event_never_sell_an_item_twice() {
    // A split brain built by hand: two registries on one database, each running an actor for
    // the same event with no ownership fencing (what the lease prevents in production). Each
    // actor believes every seat free; the database's unique index decides.
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(4, 10, 20)).await;
    let event_id: uuid::Uuid = event.parse().unwrap();
    let store = app.state.sale.store().clone();
    let registry = || {
        Registry::new(
            store.clone(),
            Arc::new(SystemClock),
            ShopSettings {
                actor_inflight_limit: 1000,
                commit_queue: 1000,
                batch: BatchSettings {
                    max_batch: 64,
                    linger: std::time::Duration::ZERO,
                    slowdown: std::time::Duration::ZERO,
                    concurrency: 1,
                },
            },
        )
    };
    let (left, right) = (registry(), registry());
    let (left, right) = (
        left.get(event_id, None).await.unwrap(),
        right.get(event_id, None).await.unwrap(),
    );
    let seats: Vec<String> = (1..=10).map(|s| format!("A-1-{s}")).collect();
    let attempts = seats.iter().enumerate().flat_map(|(i, seat)| {
        [
            (&left, seat, format!("left-{i}")),
            (&right, seat, format!("right-{i}")),
        ]
    });
    let answers = join_all(
        attempts.map(|(actor, seat, key)| async move { hold_and_order(actor, seat, key).await }),
    )
    .await;
    let sold = answers.iter().filter(|a| a.is_ok()).count();
    assert_eq!(sold, seats.len(), "one sale per seat: {answers:?}");
    for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(refused.contains("Unavailable"), "{refused}");
    }
    let orders = app.all_orders(&event).await;
    assert_eq!(orders.len(), seats.len());
    let sold: HashSet<&str> = orders
        .iter()
        .map(|o| o["items"][0]["id"].as_str().unwrap())
        .collect();
    assert_eq!(sold.len(), seats.len());
}

#[actix_web::test]
async fn orders_confirmed_before_a_restart_are_all_there_after_it() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(2, 10, 10)).await;
    let mut confirmed = Vec::new();
    for i in 0..12 {
        let fan = app.admitted_fan(&event).await;
        let body = if i < 8 {
            json!({"seats": [format!("A-1-{}", i + 1)]})
        } else {
            json!({"tier": "floor", "quantity": 2})
        };
        let hold = app.held(&event, &fan, &body).await;
        confirmed.push(app.buy(&event, &fan, &hold, &format!("r{i}"), "Fan").await);
    }
    let data = app.data.clone();
    app.stop().await;
    let again = TestApp::spawn_on(data, &[]).await;
    let orders = again.all_orders(&event).await;
    assert_eq!(orders, confirmed, "every confirmed order, as confirmed");
    let view = again.event_view(&event).await;
    let sold: u64 = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["sold"].as_u64().unwrap())
        .sum();
    assert_eq!(sold, 16);
    let fan = again.admitted_fan(&event).await;
    let taken = again.hold_seats(&event, &fan, &["A-1-1"]).await;
    assert_error(taken, StatusCode::CONFLICT, "unavailable").await;
    let ga = again
        .hold(&event, &fan, &json!({"tier": "floor", "quantity": 3}))
        .await;
    assert_error(ga, StatusCode::CONFLICT, "unavailable").await;
}
