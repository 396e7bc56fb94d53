use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::Value;

#[actix_web::test]
async fn healthz_and_readyz_answer_ok_on_live_backends() {
    let app = TestApp::spawn().await;
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["line"], "ok");
    let expected = match backend() {
        Backend::Real => "redis",
        Backend::Embedded => "in-process",
    };
    assert_eq!(body["line_backend"], expected);
}

#[actix_web::test]
async fn metrics_are_prometheus_text_with_routes_and_statuses() {
    let app = TestApp::spawn().await;
    app.client.get(app.url("/healthz")).send().await.unwrap();
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("# TYPE http_requests_total counter"),
        "{text}"
    );
    assert!(text.contains(r#"route="/healthz""#));
    assert!(text.contains("http_request_duration_seconds_bucket"));
}

#[actix_web::test]
async fn made_up_paths_never_become_metric_labels() {
    let app = TestApp::spawn().await;
    // Percent-encoded and digit-only ids reach a route with a parameter; each must be
    // counted under the route's pattern, or every made-up path would add a series.
    for path in [
        "/api/v1/events/%7a%7a-label-probe/queue",
        "/api/v1/events/1/queue",
        "/events/%7a%7a-label-probe/shop",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert!(response.status().is_client_error(), "{path}");
    }
    let text = app.get_text("/metrics").await;
    assert!(!text.contains("label-probe"), "{text}");
    assert!(!text.contains("/api/v{id}"), "{text}");
    assert!(
        text.contains(r#"route="/api/v1/events/{id}/queue""#),
        "{text}"
    );
    assert!(text.contains(r#"route="/events/{id}/shop""#), "{text}");
}

#[actix_web::test]
async fn unknown_api_routes_answer_json_404_and_pages_answer_html() {
    let app = TestApp::spawn().await;
    let api = app
        .client
        .get(app.url("/api/v1/nothing"))
        .send()
        .await
        .unwrap();
    assert_error(api, StatusCode::NOT_FOUND, "not_found").await;
    let page = app.client.get(app.url("/nothing")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(page
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

#[actix_web::test]
async fn the_home_page_lists_events_and_the_event_page_shows_tiers() {
    let app = TestApp::spawn().await;
    let id = app.event(&event_spec(2, 5, 10)).await;
    let home = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(home.status(), StatusCode::OK);
    assert!(home.text().await.unwrap().contains("Test Night"));
    let page = app
        .client
        .get(app.url(&format!("/events/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Test Hall") && html.contains("Floor") && html.contains("$50.00"));
}

#[actix_web::test]
async fn embedded_startup_seeds_one_demo_event_once() {
    let data = TestData::fresh().await;
    let first = TestApp::spawn_on(data.clone(), &[("SEED_DEMO", "true")]).await;
    let events = first.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["state"], "on_sale");
    first.stop().await;
    let second = TestApp::spawn_on(data, &[("SEED_DEMO", "true")]).await;
    assert_eq!(second.events().await.len(), 1, "seeded twice");
}
