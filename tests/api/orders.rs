//! The organizer's orders: pages, CSV, cancel.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

/// A newly admitted fan holds `seats` and orders them.
async fn buy_seats(app: &TestApp, event: &str, seats: &[&str], name: &str) -> Value {
    let fan = app.admitted_fan(event).await;
    let hold = app.held_seats(event, &fan, seats).await;
    app.buy(event, &fan, &hold, &format!("buy-{name}"), name)
        .await
}

#[actix_web::test]
async fn orders_page_oldest_first_with_a_cursor() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 10, 1)).await;
    let mut ids = Vec::new();
    for i in 1..=5 {
        let seat = format!("A-1-{i}");
        ids.push(buy_seats(&app, &event, &[&seat], &format!("fan{i}")).await["order_id"].clone());
    }
    let first: Value = app
        .organizer_get(&format!("/api/v1/events/{event}/orders?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].clone())
            .collect::<Vec<_>>(),
        ids[..2]
    );
    let next = first["next"].as_str().unwrap();
    let second: Value = app
        .organizer_get(&format!(
            "/api/v1/events/{event}/orders?limit=2&after={next}"
        ))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        second["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_id"].clone())
            .collect::<Vec<_>>(),
        ids[2..4]
    );
    let all = app.all_orders(&event).await;
    assert_eq!(all.len(), 5);
    for bad in [
        "limit=0",
        "limit=1001",
        "limit=x",
        "after=zzz",
        "format=xml",
    ] {
        let response = app
            .organizer_get(&format!("/api/v1/events/{event}/orders?{bad}"))
            .await;
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
}

#[actix_web::test]
async fn csv_export_has_one_row_per_item_and_defuses_formulas() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 10, 1)).await;
    buy_seats(&app, &event, &["A-1-1", "A-1-2"], "=HYPERLINK(\"evil\")").await;
    let response = app
        .organizer_get(&format!("/api/v1/events/{event}/orders?format=csv"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][5], "A-1-1");
    assert_eq!(&rows[1][5], "A-1-2");
    assert!(rows[0][3].starts_with("'="), "{}", &rows[0][3]);
}

#[actix_web::test]
async fn cancelling_frees_the_items_and_repeating_it_is_harmless() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 4, 1)).await;
    let order = buy_seats(&app, &event, &["A-1-1", "A-1-2"], "ada").await;
    let path = format!(
        "/api/v1/orders/{}/cancel",
        order["order_id"].as_str().unwrap()
    );
    let unauthorized = app.client.post(app.url(&path)).send().await.unwrap();
    assert_error(unauthorized, StatusCode::UNAUTHORIZED, "unauthorized").await;
    for _ in 0..2 {
        let cancelled = app.organizer_post(&path, None).await;
        assert_eq!(cancelled.status(), StatusCode::OK);
        let body: Value = cancelled.json().await.unwrap();
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["items"], order["items"]);
    }
    let stats = app.stats(&event).await;
    assert_eq!(stats["orders"], 0);
    assert_eq!(stats["sold"], 0);
    assert_eq!(stats["revenue_cents"], 0);
    // The seats sell again, and the new sale commits despite the old order's rows.
    let again = buy_seats(&app, &event, &["A-1-1", "A-1-2"], "bob").await;
    assert_eq!(again["status"], "confirmed");
    let unknown = app
        .organizer_post(
            "/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel",
            None,
        )
        .await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    // After a restart the cancelled order's seats stay sold to the new buyer only.
    let data = app.data.clone();
    app.stop().await;
    let restarted = TestApp::spawn_on(data, &[]).await;
    let stats = restarted.stats(&event).await;
    assert_eq!(stats["sold"], 2);
    assert_eq!(stats["orders"], 1);
}
