//! The waiting room end to end: fair places, FIFO admission, the pre-queue draw, surviving a
//! lost line store, and backpressure from a slow shop.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::*;
use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An event with a fast line (5,000 admissions a second) and room for everyone.
fn fast_line(spec: &mut Value) {
    spec["admission"] =
        json!({"rate_per_minute": 300000, "max_active": 1000000, "admission_ttl_secs": 600});
}

/// Joins `n` fans at once, spread over `apps`, from 100 connections; returns (join number, ticket).
async fn join_many(apps: &[&TestApp], event: &str, n: usize) -> Vec<(u64, String)> {
    let per_task = n / 100;
    let tasks = (0..100).map(|t| {
        let base = apps[t % apps.len()].base.clone();
        let event = event.to_string();
        actix_web::rt::spawn(async move {
            let client = client();
            let mut joined = Vec::new();
            for _ in 0..per_task {
                let response = client
                    .post(format!("{base}/api/v1/events/{event}/queue"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::CREATED);
                let body: Value = response.json().await.unwrap();
                joined.push((
                    body["join_number"].as_u64().unwrap(),
                    body["ticket"].as_str().unwrap().to_string(),
                ));
            }
            joined
        })
    });
    join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect()
}

/// Polls every fan once (after everyone had their turn): when each admission runs out, in ms.
async fn admission_times(app: &TestApp, event: &str, fans: &[(u64, String)]) -> Vec<(u64, i64)> {
    let mut times = Vec::new();
    for chunk in fans.chunks(100) {
        let polls = chunk.iter().map(|(seq, ticket)| async move {
            let status = app.queue_status(event, ticket).await;
            assert_eq!(status["state"], "admitted", "{status}");
            let until: DateTime<Utc> = status["admission_expires_at"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            (*seq, until.timestamp_millis())
        });
        times.extend(join_all(polls).await);
    }
    times
}

/// `(key, admission expiry)` pairs sorted by key: each admission runs out no earlier than the
/// one before it, so fans went in in key order.
fn assert_admitted_in_order<K: std::fmt::Display>(times: &[(K, i64)], what: &str) {
    for pair in times.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "{what} {} admitted after {what} {}",
            pair[0].0,
            pair[1].0
        );
    }
}

async fn wait_until_admitted(app: &TestApp, event: &str, total: u64) {
    for _ in 0..300 {
        let stats = app.stats(event).await;
        if stats["admitted_total"].as_u64() == Some(total) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not all {total} fans were admitted");
}

#[actix_web::test]
async fn five_thousand_fans_get_distinct_places_and_are_admitted_in_join_order() {
    let first = TestApp::spawn().await;
    // With Redis, a second node shares the line: joins land on both.
    let second = match backend() {
        Backend::Real => Some(TestApp::spawn_on(first.data.clone(), &[]).await),
        Backend::Embedded => None,
    };
    let mut apps = vec![&first];
    apps.extend(second.as_ref());
    let mut spec = event_spec(2, 5, 10);
    fast_line(&mut spec);
    let event = first.event(&spec).await;
    let fans = join_many(&apps, &event, 5000).await;
    let mut numbers: Vec<u64> = fans.iter().map(|(seq, _)| *seq).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=5000).collect::<Vec<u64>>(),
        "places are 1..5000, no gaps or repeats"
    );
    wait_until_admitted(&first, &event, 5000).await;
    let mut times = admission_times(&first, &event, &fans).await;
    times.sort_unstable();
    assert_admitted_in_order(&times, "fan");
}

#[actix_web::test]
async fn the_pre_queue_goes_first_in_the_published_draw_order() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(2, 5, 10);
    fast_line(&mut spec);
    // 1,000 a second: the pre-queue takes several ticks, so the order checks below compare
    // distinct admission times rather than one tick's ties.
    spec["admission"]["rate_per_minute"] = json!(60000);
    spec["sale_opens_at"] = json!((app.clock_now() + chrono::Duration::hours(1)).to_rfc3339());
    let event = app.event(&spec).await;
    let early = join_many(&[&app], &event, 1000).await;
    let status = app.queue_status(&event, &early[0].1).await;
    assert_eq!(status["state"], "pre_queue");
    let closed = app
        .client
        .get(app.url(&format!("/api/v1/events/{event}/fairness")))
        .send()
        .await
        .unwrap();
    assert_error(closed, StatusCode::CONFLICT, "sale_not_open").await;
    // The sale opens; the line opens at the next tick and publishes its draw.
    app.advance(chrono::Duration::hours(1));
    let fairness = loop {
        let response = app
            .client
            .get(app.url(&format!("/api/v1/events/{event}/fairness")))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            break response.json::<Value>().await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(fairness["pre_queue_size"], 1000);
    let late = join_many(&[&app], &event, 1000).await;
    assert!(late.iter().all(|(seq, _)| *seq > 1000));
    wait_until_admitted(&app, &event, 2000).await;
    let early_times = admission_times(&app, &event, &early).await;
    let late_times = admission_times(&app, &event, &late).await;
    let last_early = early_times.iter().map(|t| t.1).max().unwrap();
    let first_late = late_times.iter().map(|t| t.1).min().unwrap();
    assert!(
        last_early <= first_late,
        "a later arrival got in before the pre-queue"
    );
    // Anyone can recompute the draw from the published seed: rank order is admission order.
    let seed = hex::decode(fairness["seed"].as_str().unwrap()).unwrap();
    let ranks = floodgate::room::pacing::prequeue_ranks(&seed, 1000);
    let mut by_rank: Vec<(u32, i64)> = early_times
        .iter()
        .map(|(seq, until)| (ranks[(*seq - 1) as usize], *until))
        .collect();
    by_rank.sort_unstable();
    assert_admitted_in_order(&by_rank, "rank");
    let ticks: HashSet<i64> = early_times.iter().map(|t| t.1).collect();
    assert!(
        ticks.len() >= 3,
        "the pre-queue was admitted over {} tick(s)",
        ticks.len()
    );
    // The server really applied the draw: by tick, the pre-queue was not let in in join order.
    let mut by_time = early_times.clone();
    by_time.sort_unstable_by_key(|&(seq, until)| (until, seq));
    assert!(
        by_time.windows(2).any(|w| w[0].0 > w[1].0),
        "the pre-queue was admitted in join order"
    );
}

#[actix_web::test]
async fn a_lost_line_never_hands_out_a_join_number_twice() {
    let app = TestApp::spawn_with(&[("SEQ_BLOCK", "7")]).await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let mut seen = HashSet::new();
    for _ in 0..20 {
        let joined = app.join_queue(&event).await;
        assert!(seen.insert(joined["join_number"].as_u64().unwrap()));
    }
    let app = match backend() {
        Backend::Real => {
            // Wipe this test's keys from Redis, as a Redis restart without persistence would.
            let client = redis::Client::open(app.data.redis_url.clone().unwrap()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}:*", app.data.redis_prefix))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!(!keys.is_empty());
            let _: () = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .unwrap();
            app
        }
        Backend::Embedded => {
            // The in-process line dies with the process: restart the app.
            let data = app.data.clone();
            app.stop().await;
            TestApp::spawn_on(data, &[("SEQ_BLOCK", "7")]).await
        }
    };
    for _ in 0..20 {
        let joined = app.join_queue(&event).await;
        let number = joined["join_number"].as_u64().unwrap();
        assert!(seen.insert(number), "join number {number} handed out twice");
    }
    // Fans still get admitted after the loss.
    app.admitted_fan(&event).await;
}

#[actix_web::test]
async fn a_slow_shop_slows_the_pacer_and_it_recovers() {
    let app =
        TestApp::spawn_with(&[("COMMIT_SLOWDOWN_MS", "1200"), ("SLOW_COMMIT_MS", "250")]).await;
    let mut spec = event_spec(2, 5, 10);
    spec["admission"] =
        json!({"rate_per_minute": 1200, "max_active": 100000, "admission_ttl_secs": 600});
    let event = app.event(&spec).await;
    // One order through the slow committer marks the shop saturated.
    let buyer = app.admitted_fan(&event).await;
    let hold = app.held_seats(&event, &buyer, &["A-1-1"]).await;
    app.buy(&event, &buyer, &hold, "slow", "Ada").await;
    // 400 fans wait; they keep polling, so none is skipped.
    let fans = join_many(&[&app], &event, 400).await;
    let before = admitted(&app, &event).await;
    keep_polling(&app, &event, &fans, Duration::from_secs(2)).await;
    let throttled = admitted(&app, &event).await - before;
    // At the full rate (20 a second) two seconds admit about 40; throttled to a quarter, ~10.
    assert!(
        throttled <= 20,
        "admitted {throttled} while the shop was saturated"
    );
    // The slow commit ages out of the signal; the pacer returns to full speed by itself.
    keep_polling(&app, &event, &fans, Duration::from_secs(7)).await;
    let before = admitted(&app, &event).await;
    keep_polling(&app, &event, &fans, Duration::from_secs(2)).await;
    let recovered = admitted(&app, &event).await - before;
    assert!(
        recovered >= 30,
        "admitted only {recovered} after the shop drained"
    );
}

async fn keep_polling(app: &TestApp, event: &str, fans: &[(u64, String)], how_long: Duration) {
    let until = std::time::Instant::now() + how_long;
    while std::time::Instant::now() < until {
        for chunk in fans.chunks(100) {
            join_all(
                chunk
                    .iter()
                    .map(|(_, ticket)| app.queue_status(event, ticket)),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn admitted(app: &TestApp, event: &str) -> u64 {
    let stats = app.stats(event).await;
    stats["admitted_total"].as_u64().unwrap()
}
