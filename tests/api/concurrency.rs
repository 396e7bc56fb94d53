//! Invariants under real concurrency: no oversell, no lost order, split brain, restart.

use std::collections::{HashMap, HashSet};

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

#[actix_web::test]
async fn two_actors_for_one_event_never_sell_an_item_twice() {
    // Two nodes on one database, both serving the same event: a split brain.
    let left = TestApp::spawn().await;
    let right = TestApp::spawn_on(left.data.clone(), &[]).await;
    let event = left.event(&event_spec(4, 10, 20)).await;
    let seats: Vec<String> = (1..=10).map(|s| format!("A-1-{s}")).collect();
    // Each node's actor believes every seat free, so both hold every seat.
    let mut holds = Vec::new();
    for seat in &seats {
        for node in [&left, &right] {
            let fan = node.admitted_fan(&event).await;
            let hold = node.hold_seats(&event, &fan, &[seat]).await;
            assert_eq!(
                hold.status(),
                StatusCode::CREATED,
                "each actor holds {seat}"
            );
            let hold: Value = hold.json().await.unwrap();
            holds.push((node, fan, hold_id(&hold).to_string()));
        }
    }
    // Both sides order everything at once; the database decides.
    let event_ref = &event;
    let answers = join_all(
        holds
            .iter()
            .enumerate()
            .map(|(i, (node, fan, hold))| async move {
                let response = node
                    .place_order(event_ref, fan, hold, &format!("split-{i}"), "Fan")
                    .await;
                (response.status(), response.json::<Value>().await.unwrap())
            }),
    )
    .await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), seats.len(), "one sale per seat: {answers:?}");
    for (status, body) in &answers {
        if *status != StatusCode::CREATED {
            assert_eq!(*status, StatusCode::CONFLICT, "{body}");
            assert_eq!(body["error"], "unavailable");
        }
    }
    let orders = left.all_orders(&event).await;
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
