//! How fans learn of their turn: every queue answer says when to ask again (`poll_after_ms`:
//! about when they will be near the front, never past their turn), and near the front a long poll
//! (`?wait=N`) answers the moment the fan is admitted, within one pacer tick; parked polls
//! are bounded per node and do not count against its in-flight ceiling.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn poll(app: &TestApp, event: &str, ticket: &str, wait: Option<u64>) -> reqwest::Response {
    let path = match wait {
        Some(secs) => format!("/api/v1/events/{event}/queue?wait={secs}"),
        None => format!("/api/v1/events/{event}/queue"),
    };
    app.client
        .get(app.url(&path))
        .bearer_auth(ticket)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn a_long_poll_near_the_front_answers_within_a_tick_of_the_admission() {
    let app = TestApp::spawn().await;
    // One admission a second: the fourth fan's turn comes about three seconds after the first.
    let mut spec = event_spec(1, 10, 10);
    spec["admission"]["rate_per_minute"] = json!(60);
    let event = app.event(&spec).await;
    let mut tickets = Vec::new();
    for _ in 0..4 {
        tickets.push(
            app.join_queue(&event).await["ticket"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let last = &tickets[3];
    let waiting: Value = poll(&app, &event, last, None).await.json().await.unwrap();
    assert_eq!(waiting["state"], "waiting", "{waiting}");
    assert_eq!(
        waiting["poll_after_ms"], 0,
        "near the front: wait on a long poll"
    );
    let started = Instant::now();
    let mut answer: Value = Value::Null;
    let mut polls = 0;
    while started.elapsed() < Duration::from_secs(15) {
        polls += 1;
        answer = poll(&app, &event, last, Some(10))
            .await
            .json()
            .await
            .unwrap();
        if answer["state"] != "waiting" {
            break;
        }
    }
    let heard = Utc::now();
    assert_eq!(answer["state"], "admitted", "{answer}");
    assert!(polls <= 2, "the poll waited for the turn ({polls} polls)");
    assert!(answer["admission"].as_str().is_some());
    let admitted_at: DateTime<Utc> = answer["admitted_at"].as_str().unwrap().parse().unwrap();
    let late = heard - admitted_at;
    // One pacer tick (250 ms) and the round trip; a busy test machine gets some slack.
    assert!(
        late < chrono::Duration::milliseconds(1000),
        "heard of the admission {late} after it"
    );
    app.stop().await;
}

#[actix_web::test]
async fn far_from_the_front_a_fan_is_told_to_come_back_before_its_turn() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(1, 10, 10);
    spec["admission"]["rate_per_minute"] = json!(60);
    let event = app.event(&spec).await;
    let mut last = String::new();
    for _ in 0..40 {
        last = app.join_queue(&event).await["ticket"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let far: Value = poll(&app, &event, &last, None).await.json().await.unwrap();
    let eta_ms = far["eta_secs"].as_u64().unwrap() * 1000;
    let after = far["poll_after_ms"].as_u64().unwrap();
    assert!(eta_ms > 20_000, "{far}");
    assert!(
        (1000..=15_000).contains(&after) && after <= eta_ms,
        "come back before the turn: {far}"
    );
    // A long poll far from the front is answered at once.
    let started = Instant::now();
    let answer = poll(&app, &event, &last, Some(20)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2));
    // Bad waits are refused.
    for bad in ["31", "-1", "x"] {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events/{event}/queue?wait={bad}")))
            .bearer_auth(&last)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    app.stop().await;
}

#[actix_web::test]
async fn parked_polls_are_bounded_and_do_not_fill_the_in_flight_ceiling() {
    let app = TestApp::spawn_with(&[("LONG_POLL_MAX", "2"), ("MAX_INFLIGHT", "2")]).await;
    // Opening in four seconds: pre-queue fans near the opening wait on long polls.
    let mut spec = event_spec(1, 10, 10);
    spec["sale_opens_at"] = json!((Utc::now() + chrono::Duration::seconds(4)).to_rfc3339());
    let event = app.event(&spec).await;
    let mut tickets = Vec::new();
    for _ in 0..3 {
        let joined = app.join_queue(&event).await;
        assert_eq!(joined["state"], "pre_queue");
        tickets.push(joined["ticket"].as_str().unwrap().to_string());
    }
    let parked: Vec<_> = tickets[..2]
        .iter()
        .map(|t| {
            let (client, url, t) = (
                app.client.clone(),
                app.url(&format!("/api/v1/events/{event}/queue?wait=2")),
                t.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                client.get(url).bearer_auth(t).send().await.unwrap();
                started.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Past the bound: answered at once. And the node still answers other requests.
    let started = Instant::now();
    let third = poll(&app, &event, &tickets[2], Some(2)).await;
    assert_eq!(third.status(), StatusCode::OK);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    let view = app
        .client
        .get(app.url(&format!("/api/v1/events/{event}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        view.status(),
        StatusCode::OK,
        "parked polls leave the in-flight ceiling free"
    );
    for held in parked {
        let took = held.await.unwrap();
        assert!(
            took >= Duration::from_millis(1500),
            "parked until its wait ran out: {took:?}"
        );
    }
    app.stop().await;
}

#[actix_web::test]
async fn fans_sharing_an_address_each_park_a_poll_beyond_its_in_flight_cap() {
    // Two requests in flight per address; one address (loopback, not exempt) parks three
    // long polls: parked polls wait without working, so they do not fill the address's cap.
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_EXEMPT", "none"),
        ("MAX_INFLIGHT_PER_CLIENT", "2"),
        ("LONG_POLL_MAX", "10"),
    ])
    .await;
    let mut spec = event_spec(1, 10, 10);
    spec["sale_opens_at"] = json!((Utc::now() + chrono::Duration::seconds(4)).to_rfc3339());
    let event = app.event(&spec).await;
    let mut tickets = Vec::new();
    for _ in 0..4 {
        let joined = app.join_queue(&event).await;
        assert_eq!(joined["state"], "pre_queue");
        tickets.push(joined["ticket"].as_str().unwrap().to_string());
    }
    let parked: Vec<_> = tickets[..3]
        .iter()
        .map(|t| {
            let (client, url, t) = (
                app.client.clone(),
                app.url(&format!("/api/v1/events/{event}/queue?wait=2")),
                t.clone(),
            );
            tokio::spawn(async move {
                let started = Instant::now();
                let status = client
                    .get(url)
                    .bearer_auth(t)
                    .send()
                    .await
                    .unwrap()
                    .status();
                (status, started.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let other = poll(&app, &event, &tickets[3], None).await;
    assert_eq!(other.status(), StatusCode::OK, "the address still has room");
    for held in parked {
        let (status, took) = held.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(took >= Duration::from_millis(1500), "parked: {took:?}");
    }
    app.stop().await;
}
