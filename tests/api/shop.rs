//! Fan shop endpoints: holds, release, orders, idempotency, bad input, expiry, bypass.

use std::collections::HashSet;

use crate::helpers::*;
use chrono::Duration;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[actix_web::test]
async fn a_fan_holds_seats_and_orders_them() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = app.held_seats(&event, &fan, &["A-1-1", "A-1-2"]).await;
    assert_eq!(hold["total_cents"], 18000);
    assert_eq!(
        hold["items"][0],
        json!({"id": "A-1-1", "tier": "lower", "price_cents": 9000})
    );
    let order = app.buy(&event, &fan, &hold, "key-1", "Ada").await;
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["event_id"], event.as_str());
    assert_eq!(order["total_cents"], 18000);
    assert_eq!(order["items"].as_array().unwrap().len(), 2);
    // The fan reads it back with their admission; a stranger cannot; the organizer can.
    let path = format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap());
    let mine = app
        .client
        .get(app.url(&path))
        .bearer_auth(&fan)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), StatusCode::OK);
    assert_eq!(mine.json::<Value>().await.unwrap(), order);
    let stranger = app.admitted_fan(&event).await;
    let theirs = app
        .client
        .get(app.url(&path))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_error(theirs, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.organizer_get(&path).await.status(), StatusCode::OK);
    let view = app.event_view(&event).await;
    let lower = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "lower")
        .unwrap()
        .clone();
    assert_eq!(
        (lower["sold"].as_u64(), lower["held"].as_u64()),
        (Some(2), Some(0))
    );
}

#[actix_web::test]
async fn a_fan_holds_a_ga_quantity_and_releases_it() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 1, 4)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = app
        .held(&event, &fan, &json!({"tier": "floor", "quantity": 3}))
        .await;
    let ids: Vec<&str> = hold["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["floor#1", "floor#2", "floor#3"]);
    let other = app.admitted_fan(&event).await;
    let refused = app
        .hold(&event, &other, &json!({"tier": "floor", "quantity": 2}))
        .await;
    let body = assert_error(refused, StatusCode::CONFLICT, "unavailable").await;
    assert_eq!(body["unavailable"], json!(["floor"]));
    let release = app
        .client
        .delete(app.url(&format!("/api/v1/events/{event}/holds/{}", hold_id(&hold))))
        .bearer_auth(&fan)
        .send()
        .await
        .unwrap();
    assert_eq!(release.status(), StatusCode::NO_CONTENT);
    let now = app
        .hold(&event, &other, &json!({"tier": "floor", "quantity": 2}))
        .await;
    assert_eq!(now.status(), StatusCode::CREATED);
}

#[actix_web::test]
async fn holds_are_all_or_nothing() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 1)).await;
    let first = app.admitted_fan(&event).await;
    created_hold_id(app.hold_seats(&event, &first, &["A-1-3"]).await).await;
    let second = app.admitted_fan(&event).await;
    let refused = app
        .hold_seats(&event, &second, &["A-1-2", "A-1-3", "A-1-4"])
        .await;
    let body = assert_error(refused, StatusCode::CONFLICT, "unavailable").await;
    assert_eq!(body["unavailable"], json!(["A-1-3"]));
    // Neither neighbour was taken by the refused request.
    created_hold_id(app.hold_seats(&event, &second, &["A-1-2", "A-1-4"]).await).await;
}

#[actix_web::test]
async fn bad_hold_requests_get_their_documented_status_and_change_nothing() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let fan = app.admitted_fan(&event).await;
    let raw = |body: &'static str| {
        let app = &app;
        let (event, fan) = (event.clone(), fan.clone());
        async move {
            app.client
                .post(app.url(&format!("/api/v1/events/{event}/holds")))
                .bearer_auth(fan)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    assert_error(
        raw("{\"seats\": [").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{\"seats\": \"A-1-1\"}").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(raw("{}").await, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_error(
        raw("{\"tier\": \"floor\"}").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{\"tier\": \"floor\", \"quantity\": 1e40}").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    assert_error(
        raw("{\"seats\": [\"A-1-1\"], \"sneaky\": true}").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    for body in [
        json!({"seats": ["Z-1-1"]}),
        json!({"seats": ["A-9-1"]}),
        json!({"seats": ["A-1-1", "A-1-1"]}),
        json!({"seats": []}),
        json!({"seats": ["<script>"]}),
        json!({"seats": ["A-1-1", "A-1-2", "A-1-3", "A-1-4", "A-1-5", "A-2-1", "A-2-2"]}),
        json!({"tier": "floor", "quantity": 0}),
        json!({"tier": "floor", "quantity": -3}),
        json!({"tier": "floor", "quantity": 7}),
        json!({"tier": "floor", "quantity": 9_000_000_000_000i64}),
        json!({"tier": "nope", "quantity": 1}),
        json!({"tier": "lower", "quantity": 1}),
    ] {
        let response = app.hold(&event, &fan, &body).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    }
    let huge = json!({"seats": vec!["A-1-1"; 5000]});
    assert_error(
        app.hold(&event, &fan, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    let view = app.event_view(&event).await;
    for tier in view["tiers"].as_array().unwrap() {
        assert_eq!(tier["held"], 0, "{tier}");
        assert_eq!(tier["sold"], 0, "{tier}");
    }
}

#[actix_web::test]
async fn one_admission_buys_at_most_max_per_order() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let fan = app.admitted_fan(&event).await;
    created_hold_id(
        app.hold(&event, &fan, &json!({"tier": "floor", "quantity": 4}))
            .await,
    )
    .await;
    let more = app
        .hold_seats(&event, &fan, &["A-1-1", "A-1-2", "A-1-3"])
        .await;
    assert_error(more, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    created_hold_id(app.hold_seats(&event, &fan, &["A-1-1", "A-1-2"]).await).await;
}

#[actix_web::test]
async fn shop_calls_without_a_valid_admission_are_403_and_hold_nothing() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 3, 3)).await;
    let other = app.event(&event_spec(1, 3, 3)).await;
    let ticket = app.join_queue(&event).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let other_admission = app.admitted_fan(&other).await;
    let admission = app.admitted_fan(&event).await;
    let mut forged = admission.clone();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for token in [
        None,
        Some(ticket.as_str()),
        Some(other_admission.as_str()),
        Some(forged.as_str()),
        Some("garbage"),
    ] {
        let mut request = app
            .client
            .post(app.url(&format!("/api/v1/events/{event}/holds")))
            .json(&json!({"seats": ["A-1-1"]}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_error(
            request.send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "not_admitted",
        )
        .await;
        let mut seats = app
            .client
            .get(app.url(&format!("/api/v1/events/{event}/seats")));
        if let Some(token) = token {
            seats = seats.bearer_auth(token);
        }
        assert_error(
            seats.send().await.unwrap(),
            StatusCode::FORBIDDEN,
            "not_admitted",
        )
        .await;
    }
    // An admission that has expired no longer shops.
    app.advance(Duration::seconds(601));
    let expired = app.hold_seats(&event, &admission, &["A-1-1"]).await;
    assert_error(expired, StatusCode::FORBIDDEN, "not_admitted").await;
    let view = app.event_view(&event).await;
    assert!(view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["held"] == 0));
    let stats = app.stats(&event).await;
    assert_eq!(stats["rejected_not_admitted"], 11);
}

#[actix_web::test]
async fn an_expired_hold_frees_its_seats_by_itself_and_ordering_it_is_410() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 3, 3)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = created_hold_id(app.hold_seats(&event, &fan, &["A-1-1"]).await).await;
    app.advance(Duration::seconds(121));
    // The sweeper frees the seat without any request touching the hold.
    let mut freed = false;
    for _ in 0..40 {
        let view = app.event_view(&event).await;
        let lower = view["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == "lower")
            .unwrap()
            .clone();
        if lower["held"] == 0 && lower["available"] == 3 {
            freed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(freed, "expired hold still held");
    let order = app.place_order(&event, &fan, &hold, "late", "Ada").await;
    assert_error(order, StatusCode::GONE, "hold_expired").await;
    let other = app.admitted_fan(&event).await;
    created_hold_id(app.hold_seats(&event, &other, &["A-1-1"]).await).await;
}

#[actix_web::test]
async fn bad_orders_get_their_documented_status_and_change_nothing() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 3, 3)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = created_hold_id(app.hold_seats(&event, &fan, &["A-1-1"]).await).await;
    let url = app.url(&format!("/api/v1/events/{event}/holds/{hold}/order"));
    let long = "k".repeat(129);
    let good = json!({"name": "A", "email": "a@example.com"});
    // (Idempotency-Key, body, status, code): no key, a key too long, a key with a space, a
    // missing field, an invalid email.
    let cases = [
        (None, good.clone(), StatusCode::BAD_REQUEST, "bad_request"),
        (
            Some(long.as_str()),
            good.clone(),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (Some("a b"), good, StatusCode::BAD_REQUEST, "bad_request"),
        (
            Some("k1"),
            json!({"name": "A"}),
            StatusCode::BAD_REQUEST,
            "bad_request",
        ),
        (
            Some("k1"),
            json!({"name": "A", "email": "nope"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (key, body, status, code) in cases {
        let mut request = app.client.post(&url).bearer_auth(&fan).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        assert_error(request.send().await.unwrap(), status, code).await;
    }
    let unknown_hold = app
        .place_order(
            &event,
            &fan,
            "00000000-0000-0000-0000-000000000000",
            "k2",
            "Ada",
        )
        .await;
    assert_error(unknown_hold, StatusCode::NOT_FOUND, "not_found").await;
    // Another fan cannot order this fan's hold.
    let other = app.admitted_fan(&event).await;
    let stolen = app.place_order(&event, &other, &hold, "k3", "Eve").await;
    assert_error(stolen, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.all_orders(&event).await.is_empty());
    // The hold is still intact and orders normally.
    assert_eq!(
        app.place_order(&event, &fan, &hold, "k4", "Ada")
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[actix_web::test]
async fn a_reused_idempotency_key_with_another_body_is_422() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 3, 3)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = created_hold_id(app.hold_seats(&event, &fan, &["A-1-1"]).await).await;
    assert_eq!(
        app.place_order(&event, &fan, &hold, "same", "Ada")
            .await
            .status(),
        StatusCode::CREATED
    );
    let other_body = app.place_order(&event, &fan, &hold, "same", "Bob").await;
    assert_error(other_body, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    assert_eq!(app.all_orders(&event).await.len(), 1);
}

#[actix_web::test]
async fn the_same_idempotency_key_sent_50_times_at_once_makes_one_order() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 3, 3)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = created_hold_id(app.hold_seats(&event, &fan, &["A-1-1", "A-1-2"]).await).await;
    // Fifty separate connections, all at once.
    let answers = join_all((0..50).map(|_| {
        let client = client();
        let url = app.url(&format!("/api/v1/events/{event}/holds/{hold}/order"));
        let fan = fan.clone();
        async move {
            let response = client
                .post(url)
                .bearer_auth(fan)
                .header("Idempotency-Key", "fifty-at-once")
                .json(&json!({"name": "Ada", "email": "fan@example.com"}))
                .send()
                .await
                .unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "exactly one 201");
    assert!(answers
        .iter()
        .all(|(s, _)| *s == StatusCode::CREATED || *s == StatusCode::OK));
    let bodies: HashSet<String> = answers.iter().map(|(_, b)| b.to_string()).collect();
    assert_eq!(bodies.len(), 1, "50 identical answers");
    assert_eq!(app.all_orders(&event).await.len(), 1);
    // And again after a restart, from the database.
    let first = answers[0].1.clone();
    let data = app.data.clone();
    app.stop().await;
    let again = TestApp::spawn_on(data, &[]).await;
    let replay = again
        .place_order(&event, &fan, &hold, "fifty-at-once", "Ada")
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.json::<Value>().await.unwrap(), first);
}
