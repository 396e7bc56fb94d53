//! Backends going away: readiness says so within a second, and requests answer 503 with
//! Retry-After instead of hanging or answering 500.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::proxy::{url_addr, with_addr, CutProxy, LosingProxy};
use reqwest::StatusCode;

async fn readyz(app: &TestApp) -> (StatusCode, Duration) {
    let started = Instant::now();
    let status = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    (status, started.elapsed())
}

#[actix_web::test]
#[ignore = "needs a Postgres server to stop: scripts/test runs it in the real phase"]
async fn a_stopped_database_makes_readyz_and_writes_503_within_a_second() {
    assert_eq!(
        backend(),
        Backend::Real,
        "an embedded SQLite file has no server to stop"
    );
    let data = TestData::fresh().await;
    let proxy = CutProxy::start(url_addr(&data.database_url)).await;
    let mut proxied = data.clone();
    proxied.database_url = with_addr(&data.database_url, proxy.addr);
    let app = TestApp::spawn_on(proxied, &[]).await;
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    let event = app.event(&event_spec(2, 5, 10)).await;
    let admission = app.admitted_fan(&event).await;
    let hold: serde_json::Value = app
        .hold_seats(&event, &admission, &["A-1-1"])
        .await
        .json()
        .await
        .unwrap();
    proxy.cut();
    let (status, took) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(1), "readyz took {took:?}");
    // The order cannot be committed: 503 with Retry-After, and the hold stays the fan's.
    let order = app
        .place_order(&event, &admission, hold_id(&hold), "k-outage", "Ada")
        .await;
    assert_retry_error(
        order,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_backend",
    )
    .await;
    let seats: serde_json::Value = app
        .client
        .get(app.url(&format!("/api/v1/events/{event}/seats")))
        .bearer_auth(&admission)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seats["seats"][0]["id"], "A-1-1");
    assert_eq!(seats["seats"][0]["status"], "held");
    let cancel = app
        .organizer_post(
            &format!("/api/v1/orders/{}/cancel", uuid::Uuid::nil()),
            None,
        )
        .await;
    assert_retry_error(
        cancel,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable_backend",
    )
    .await;
}

#[actix_web::test]
#[ignore = "needs a Redis server to stop: scripts/test runs it in the real phase"]
async fn a_stopped_redis_makes_readyz_and_joins_503_within_a_second() {
    assert_eq!(
        backend(),
        Backend::Real,
        "the in-process line cannot go down"
    );
    let data = TestData::fresh().await;
    let redis_url = data.redis_url.clone().unwrap();
    let proxy = CutProxy::start(url_addr(&redis_url)).await;
    let mut proxied = data.clone();
    proxied.redis_url = Some(with_addr(&redis_url, proxy.addr));
    let app = TestApp::spawn_on(proxied, &[]).await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    assert_eq!(readyz(&app).await.0, StatusCode::OK);
    app.join_queue(&event).await;
    proxy.cut();
    let (status, took) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(took < Duration::from_secs(1), "readyz took {took:?}");
    let started = Instant::now();
    let join = app
        .client
        .post(app.url(&format!("/api/v1/events/{event}/queue")))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_retry_error(join, StatusCode::SERVICE_UNAVAILABLE, "unavailable_backend").await;
}

#[actix_web::test]
#[ignore = "needs a Postgres server over the network: scripts/test runs it in the real phase"]
async fn a_commit_whose_answer_was_lost_is_found_and_confirmed() {
    assert_eq!(
        backend(),
        Backend::Real,
        "an embedded SQLite file loses no answers"
    );
    let data = TestData::fresh().await;
    let proxy = LosingProxy::start(url_addr(&data.database_url)).await;
    let mut proxied = data.clone();
    proxied.database_url = with_addr(&data.database_url, proxy.addr);
    let app = TestApp::spawn_on(proxied, &[]).await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let admission = app.admitted_fan(&event).await;
    let hold = app
        .held_seats(&event, &admission, &["A-1-1", "A-1-2"])
        .await;
    // Postgres commits the order; its answer never reaches the node.
    let key = "lost-answer-key-5f1e0c";
    proxy.lose_answer_to(key);
    let first = app
        .place_order(&event, &admission, hold_id(&hold), key, "Ada")
        .await;
    let status = first.status();
    let first: serde_json::Value = first.json().await.unwrap();
    assert!(proxy.lost(), "the commit's answer was lost on the way");
    assert!(
        status == StatusCode::CREATED || status == StatusCode::OK,
        "the stored order is the answer, not a failure: {status} {first}"
    );
    // The retry gets the same order; the seats are sold, once.
    let again = app
        .place_order(&event, &admission, hold_id(&hold), key, "Ada")
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    let again: serde_json::Value = again.json().await.unwrap();
    assert_eq!(again["order_id"], first["order_id"]);
    let orders = app.all_orders(&event).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    let stats = app.stats(&event).await;
    assert_eq!(stats["sold"], 2, "{stats}");
    assert_eq!(stats["held"], 0, "{stats}");
    // Nobody can hold the sold seats again.
    let other = app.admitted_fan(&event).await;
    let taken = app.hold_seats(&event, &other, &["A-1-1"]).await;
    assert_eq!(taken.status(), StatusCode::CONFLICT);
}
