//! Organizer endpoints on events: create, read, patch, pause/resume, auth, bad input.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[actix_web::test]
async fn a_created_event_reads_back_with_state_and_tier_counts() {
    let app = TestApp::spawn().await;
    let response = app.create_event(&event_spec(3, 4, 50)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap();
    let read = app.event_view(id).await;
    assert_eq!(read, created);
    assert_eq!(read["state"], "on_sale");
    assert_eq!(read["name"], "Test Night");
    let tiers = read["tiers"].as_array().unwrap();
    assert_eq!(tiers.len(), 2);
    let floor = tiers.iter().find(|t| t["id"] == "floor").unwrap();
    assert_eq!(floor["capacity"], 50);
    assert_eq!(floor["available"], 50);
    assert_eq!(floor["seated"], false);
    let lower = tiers.iter().find(|t| t["id"] == "lower").unwrap();
    assert_eq!(lower["capacity"], 12);
    assert_eq!(lower["seated"], true);
    assert_eq!(lower["sold"], 0);
    assert_eq!(lower["held"], 0);
}

#[actix_web::test]
async fn organizer_endpoints_refuse_missing_or_wrong_tokens() {
    let app = TestApp::spawn().await;
    let id = app.event(&event_spec(1, 2, 5)).await;
    let anonymous = app
        .client
        .post(app.url("/api/v1/events"))
        .json(&event_spec(1, 1, 1))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for (method, path) in [
        ("POST", format!("/api/v1/events/{id}/pause")),
        ("POST", format!("/api/v1/events/{id}/resume")),
        ("GET", format!("/api/v1/events/{id}/stats")),
        ("GET", format!("/api/v1/events/{id}/orders")),
        ("PATCH", format!("/api/v1/events/{id}")),
    ] {
        let response = app
            .client
            .request(method.parse().unwrap(), app.url(&path))
            .bearer_auth("wrong-token")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    assert_eq!(app.events().await.len(), 1, "nothing was created");
}

#[actix_web::test]
async fn malformed_and_invalid_events_are_refused_and_nothing_is_created() {
    let app = TestApp::spawn().await;
    let raw = app
        .client
        .post(app.url("/api/v1/events"))
        .bearer_auth(ORGANIZER_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(raw, StatusCode::BAD_REQUEST, "bad_request").await;
    let mut unknown_field = event_spec(1, 1, 1);
    unknown_field["max_per_ordr"] = json!(3);
    assert_error(
        app.create_event(&unknown_field).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let mut wrong_type = event_spec(1, 1, 1);
    wrong_type["max_per_order"] = json!("six");
    assert_error(
        app.create_event(&wrong_type).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    )
    .await;
    let mut empty = event_spec(1, 1, 1);
    empty["tiers"] = json!([]);
    empty["seating"] = json!([]);
    assert_error(
        app.create_event(&empty).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    let mut huge = event_spec(1, 1, 1);
    huge["tiers"][0]["capacity"] = json!(4_000_000_000u64);
    assert_error(
        app.create_event(&huge).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    let mut bad_section = event_spec(1, 1, 1);
    bad_section["seating"][0]["section"] = json!("A-1");
    assert_error(
        app.create_event(&bad_section).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    let oversized = json!({ "name": "x".repeat(300 * 1024) });
    assert_error(
        app.create_event(&oversized).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    )
    .await;
    assert!(app.events().await.is_empty());
}

#[actix_web::test]
async fn unknown_events_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/events/00000000-0000-0000-0000-000000000000".to_string(),
        "/api/v1/events/not-a-uuid".to_string(),
        "/api/v1/events/00000000-0000-0000-0000-000000000000/seats".to_string(),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let stats = app
        .organizer_get("/api/v1/events/00000000-0000-0000-0000-000000000000/stats")
        .await;
    assert_error(stats, StatusCode::NOT_FOUND, "not_found").await;
    // Made-up ids leave nothing behind on the node.
    for _ in 0..50 {
        let path = format!("/api/v1/events/{}/seats", uuid::Uuid::new_v4());
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert!(
        app.state.sale.actors() == 0,
        "no actor slot for unknown events"
    );
}

#[actix_web::test]
async fn patch_adds_inventory_and_never_shrinks_below_sold_or_held() {
    let app = TestApp::spawn().await;
    let id = app.event(&event_spec(1, 4, 5)).await;
    let fan = app.admitted_fan(&id).await;
    let held = app
        .hold(&id, &fan, &json!({"tier": "floor", "quantity": 3}))
        .await;
    assert_eq!(held.status(), StatusCode::CREATED);
    let patch = |body: Value| {
        let app = &app;
        let id = id.clone();
        async move {
            app.client
                .patch(app.url(&format!("/api/v1/events/{id}")))
                .bearer_auth(ORGANIZER_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    // Shrinking the floor below its 3 held places is refused, and changes nothing.
    let shrink = patch(
        json!({"tiers": [{"id": "floor", "name": "Floor", "price_cents": 5000, "capacity": 2}]}),
    )
    .await;
    assert_error(shrink, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    let view = app.event_view(&id).await;
    let floor = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "floor")
        .unwrap()
        .clone();
    assert_eq!(floor["capacity"], 5);
    assert_eq!(floor["held"], 3);
    // Growing it, renaming the event and adding a block work.
    let grow = patch(json!({
        "name": "Test Night (extra date)",
        "tiers": [{"id": "floor", "name": "Floor", "price_cents": 5000, "capacity": 10}],
        "seating": [{"section": "B", "rows": 2, "seats_per_row": 2, "tier": "upper", "price_cents": 4000}]
    }))
    .await;
    assert_eq!(grow.status(), StatusCode::OK);
    let view: Value = grow.json().await.unwrap();
    assert_eq!(view["name"], "Test Night (extra date)");
    let tiers = view["tiers"].as_array().unwrap();
    let floor = tiers.iter().find(|t| t["id"] == "floor").unwrap();
    assert_eq!(floor["capacity"], 10);
    assert_eq!(floor["available"], 7);
    assert!(tiers
        .iter()
        .any(|t| t["id"] == "upper" && t["capacity"] == 4));
    // A change naming a tier or a section twice is refused as a whole: the second entry
    // must not hide an invalid first one (a negative price here).
    for twice in [
        json!({"tiers": [
            {"id": "floor", "name": "Floor", "price_cents": -1, "capacity": 10},
            {"id": "floor", "name": "Floor", "price_cents": 400, "capacity": 10}]}),
        json!({"seating": [
            {"section": "C", "rows": 1, "seats_per_row": 2, "tier": "upper", "price_cents": -1},
            {"section": "C", "rows": 1, "seats_per_row": 2, "tier": "upper", "price_cents": 4000}]}),
    ] {
        let refused = patch(twice).await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    }
    let view = app.event_view(&id).await;
    let tiers = view["tiers"].as_array().unwrap();
    let floor = tiers.iter().find(|t| t["id"] == "floor").unwrap();
    assert_eq!(floor["price_cents"], 5000, "nothing changed: {view}");
    let upper = tiers.iter().find(|t| t["id"] == "upper").unwrap();
    assert_eq!(upper["capacity"], 4, "no section C was added: {view}");
    // Removing a section or resizing one is refused.
    let resize = patch(json!({"seating": [{"section": "A", "rows": 1, "seats_per_row": 2, "tier": "lower", "price_cents": 9000}]})).await;
    assert_error(resize, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    // The patch survives a restart of the app.
    let data = app.data.clone();
    app.stop().await;
    let again = TestApp::spawn_on(data, &[]).await;
    let view = again.event_view(&id).await;
    assert_eq!(view["name"], "Test Night (extra date)");
}

#[actix_web::test]
async fn pause_stops_shopping_and_resume_restarts_it() {
    let app = TestApp::spawn().await;
    let id = app.event(&event_spec(1, 4, 5)).await;
    let fan = app.admitted_fan(&id).await;
    let paused = app
        .organizer_post(&format!("/api/v1/events/{id}/pause"), None)
        .await;
    assert_eq!(paused.status(), StatusCode::OK);
    assert_eq!(paused.json::<Value>().await.unwrap()["state"], "paused");
    let refused = app.hold_seats(&id, &fan, &["A-1-1"]).await;
    assert_error(refused, StatusCode::CONFLICT, "sale_not_open").await;
    let resumed = app
        .organizer_post(&format!("/api/v1/events/{id}/resume"), None)
        .await;
    assert_eq!(resumed.json::<Value>().await.unwrap()["state"], "on_sale");
    assert_eq!(
        app.hold_seats(&id, &fan, &["A-1-1"]).await.status(),
        StatusCode::CREATED
    );
}

#[actix_web::test]
async fn a_scheduled_sale_refuses_shopping_until_it_opens() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(1, 4, 5);
    spec["sale_opens_at"] = json!((app.clock_now() + chrono::Duration::hours(1)).to_rfc3339());
    let id = app.event(&spec).await;
    assert_eq!(app.event_view(&id).await["state"], "scheduled");
    let joined = app.join_queue(&id).await;
    assert_eq!(joined["state"], "pre_queue");
    assert!(joined.get("admission").is_none());
    app.advance(chrono::Duration::hours(1));
    assert_eq!(app.event_view(&id).await["state"], "on_sale");
}
