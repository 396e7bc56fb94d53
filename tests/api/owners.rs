//! One spelling per id, and an admission's allowance across nodes and restarts (both
//! backends; the multi-node rest of ownership is `cluster`).

use reqwest::StatusCode;
use serde_json::json;

use crate::cluster::{admitted_round_robin, hold_at, order_at, round_robin, LEASE_MS};
use crate::helpers::*;

#[actix_web::test]
async fn any_other_spelling_of_an_id_is_redirected_to_the_canonical_path() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 2, 2)).await;
    let no_redirects = no_redirect_client();
    for (spelling, suffix) in [
        (event.to_uppercase(), ""),
        (event.replace('-', ""), "/queue"),
        (format!("%7B{event}%7D"), "/stats?x=1"),
        (format!("urn:uuid:{event}"), ""),
    ] {
        for prefix in ["/api/v1/events/", "/events/"] {
            let path = format!("{prefix}{spelling}{suffix}");
            let response = no_redirects.get(app.url(&path)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{path}");
            assert_eq!(
                response.headers()["location"],
                format!("{prefix}{event}{suffix}").as_str(),
                "{path}"
            );
        }
    }
    // A post keeps its method and body through a 308.
    let posted = no_redirects
        .post(app.url(&format!("/api/v1/events/{}/queue", event.to_uppercase())))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(app.stats(&event).await["last_seq"], 0, "nothing joined");
    app.stop().await;
}

#[actix_web::test]
async fn one_admission_buys_at_most_max_per_order_across_nodes_and_restarts() {
    let data = TestData::fresh().await;
    let node_count = if backend() == Backend::Real { 3 } else { 1 };
    let mut nodes = Vec::new();
    for _ in 0..node_count {
        nodes.push(TestApp::spawn_on(data.clone(), &[("LEASE_MS", LEASE_MS)]).await);
    }
    let mut spec = event_spec(1, 10, 10);
    spec["max_per_order"] = json!(2);
    let event = nodes[0].event(&spec).await;
    let client = client();
    let rr = round_robin(&nodes);
    let fan = admitted_round_robin(&client, &rr, &event).await;
    let hold = created(
        hold_at(
            &client,
            rr.base(),
            &event,
            &fan,
            &json!({"seats": ["A-1-1", "A-1-2"]}),
        )
        .await,
    )
    .await;
    let order = order_at(
        &client,
        rr.base(),
        &event,
        &fan,
        hold_id(&hold),
        "allowance",
    )
    .await;
    assert_eq!(order.status(), StatusCode::CREATED);
    for base in rr.bases.clone() {
        let more = hold_at(&client, &base, &event, &fan, &json!({"seats": ["A-1-3"]})).await;
        assert_error(more, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    }
    // Every node restarts: the rebuilt inventory still knows what this admission bought.
    for node in nodes {
        node.stop().await;
    }
    let again = TestApp::spawn_on(data.clone(), &[("LEASE_MS", LEASE_MS)]).await;
    let more = again.hold_seats(&event, &fan, &["A-1-3"]).await;
    assert_error(more, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    again.stop().await;
}
