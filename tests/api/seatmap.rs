//! Arena-scale seat maps: the compact, versioned seat states; best available; compression.

use std::collections::HashSet;

use floodgate::domain::inventory::SeatState;
use floodgate::domain::seatmap::decode;
use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// Ten sections of 40 rows × 50 seats: 20,000 reserved seats.
fn arena() -> Value {
    let sections: Vec<Value> = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
        .iter()
        .map(|s| json!({ "section": s, "rows": 40, "seats_per_row": 50, "tier": "arena", "price_cents": 9000 }))
        .collect();
    let mut spec = event_spec(1, 1, 10);
    spec["seating"] = Value::Array(sections);
    spec
}

async fn availability(app: &TestApp, event: &str, admission: &str) -> reqwest::Response {
    availability_since(app, event, admission, None).await
}

/// The states, sending the ETag of a version the client holds, if any.
async fn availability_since(
    app: &TestApp,
    event: &str,
    admission: &str,
    tag: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/events/{event}/availability")))
        .bearer_auth(admission);
    if let Some(tag) = tag {
        request = request.header("If-None-Match", tag);
    }
    request.send().await.unwrap()
}

/// The state of seat `index` (in the layout's order) in an availability answer.
fn state_of(answer: &Value, index: usize) -> SeatState {
    let count = answer["count"].as_u64().unwrap() as usize;
    decode(answer["seats"].as_str().unwrap(), count).unwrap()[index]
}

#[actix_web::test]
async fn the_seat_states_are_compact_versioned_and_follow_every_hold() {
    let app = TestApp::spawn().await;
    let event = app.event(&arena()).await;
    let admission = app.admitted_fan(&event).await;
    let first = availability(&app, &event, &admission).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tag = first.headers()["etag"].to_str().unwrap().to_string();
    let bytes = first.bytes().await.unwrap();
    assert!(bytes.len() <= 8 * 1024, "{} bytes", bytes.len());
    let first: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(first["count"], 20_000);
    assert_eq!(first["encoding"], "2bit-base64");
    assert_eq!(state_of(&first, 0), SeatState::Free);

    // Nothing changed: 304 for the version the client holds.
    let same = availability_since(&app, &event, &admission, Some(&tag)).await;
    assert_eq!(same.status(), StatusCode::NOT_MODIFIED);

    // Another fan holds B-1-2 (section B starts at seat 2,000): a new version shows it.
    let other = app.admitted_fan(&event).await;
    app.held_seats(&event, &other, &["B-1-2"]).await;
    let after: Value = availability(&app, &event, &admission)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(after["version"], first["version"]);
    assert_eq!(state_of(&after, 2_001), SeatState::Held);
    assert_eq!(state_of(&after, 2_000), SeatState::Free);
    let changed = availability_since(&app, &event, &admission, Some(&tag)).await;
    assert_eq!(changed.status(), StatusCode::OK);

    // Only for admitted fans.
    let nobody = app
        .client
        .get(app.url(&format!("/api/v1/events/{event}/availability")))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

async fn best(app: &TestApp, event: &str, admission: &str, body: Value) -> reqwest::Response {
    app.hold(event, admission, &json!({ "best_available": body }))
        .await
}

#[actix_web::test]
async fn best_available_takes_the_middle_of_the_front_row_and_respects_the_rules() {
    let app = TestApp::spawn().await;
    let event = app.event(&arena()).await;
    let admission = app.admitted_fan(&event).await;
    let held = created(best(&app, &event, &admission, json!({"quantity": 2})).await).await;
    let ids: Vec<&str> = held["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["A-1-25", "A-1-26"]);
    // The next best pair sits beside them.
    let other = app.admitted_fan(&event).await;
    let next = created(
        best(
            &app,
            &event,
            &other,
            json!({"quantity": 2, "tier": "arena"}),
        )
        .await,
    )
    .await;
    let ids: Vec<&str> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(
        ids == ["A-1-23", "A-1-24"] || ids == ["A-1-27", "A-1-28"],
        "{ids:?}"
    );

    // The rules: max_per_order (6), the admission's allowance, known seated tiers only.
    let third = app.admitted_fan(&event).await;
    assert_error(
        best(&app, &event, &third, json!({"quantity": 7})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert_error(
        best(&app, &event, &third, json!({"quantity": 0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert_error(
        best(
            &app,
            &event,
            &third,
            json!({"quantity": 2, "tier": "floor"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    assert_error(
        best(&app, &event, &third, json!({"quantity": 2, "tier": "nope"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    created(
        best(
            &app,
            &event,
            &third,
            json!({"quantity": 4, "together": false}),
        )
        .await,
    )
    .await;
    assert_error(
        best(&app, &event, &third, json!({"quantity": 3})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid",
    )
    .await;
    // Not with another form of hold.
    let mixed = app
        .hold(
            &event,
            &admission,
            &json!({"best_available": {"quantity": 1}, "tier": "floor", "quantity": 1}),
        )
        .await;
    assert_error(mixed, StatusCode::BAD_REQUEST, "bad_request").await;
    app.stop().await;
}

#[actix_web::test]
async fn concurrent_best_available_never_splits_a_pair_nor_sells_a_seat_twice() {
    let app = TestApp::spawn().await;
    // 3 rows of 7: at most 3 pairs per row side by side (9 pairs), 21 seats.
    let mut spec = event_spec(3, 7, 1);
    spec["max_per_order"] = json!(2);
    let event = app.event(&spec).await;
    let fans: Vec<String> = join_all((0..200).map(|_| app.admitted_fan(&event))).await;
    let answers = join_all(fans.iter().map(|admission| async {
        let response = best(
            &app,
            &event,
            admission,
            json!({"quantity": 2, "tier": "lower"}),
        )
        .await;
        let status = response.status();
        (status, response.json::<Value>().await.unwrap())
    }))
    .await;
    let mut taken = HashSet::new();
    let mut holds = 0;
    for (status, body) in &answers {
        match *status {
            StatusCode::CREATED => {
                holds += 1;
                let ids: Vec<String> = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_string())
                    .collect();
                assert_eq!(ids.len(), 2);
                let (row_a, a) = ids[0].rsplit_once('-').unwrap();
                let (row_b, b) = ids[1].rsplit_once('-').unwrap();
                assert_eq!(row_a, row_b, "a pair split across rows: {ids:?}");
                assert_eq!(
                    a.parse::<u32>().unwrap().abs_diff(b.parse().unwrap()),
                    1,
                    "not side by side: {ids:?}"
                );
                for id in ids {
                    assert!(taken.insert(id.clone()), "{id} held twice");
                }
            }
            StatusCode::CONFLICT => assert_eq!(body["error"], "unavailable", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(holds, 9, "every pair side by side was sold, and no more");
    let stats = app.stats(&event).await;
    assert_eq!(stats["held"], 18, "{stats}");
    app.stop().await;
}

#[actix_web::test]
async fn answers_are_compressed_as_the_client_asks_and_small_ones_are_not() {
    let app = TestApp::spawn().await;
    let big = "/api/v1/openapi.json";
    let ask = |encoding: Option<&'static str>, path: &'static str| {
        let mut request = app.client.get(app.url(path));
        if let Some(e) = encoding {
            request = request.header("Accept-Encoding", e);
        }
        async move { request.send().await.unwrap() }
    };
    let plain = ask(None, big).await;
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.headers()["vary"], "Accept-Encoding");
    let plain_len = plain.bytes().await.unwrap().len();
    for (asked, expect) in [
        ("gzip", "gzip"),
        ("br", "br"),
        ("gzip, br", "br"),
        ("br;q=0, gzip", "gzip"),
    ] {
        let answer = ask(Some(asked), big).await;
        assert_eq!(
            answer.headers()["content-encoding"],
            expect,
            "asked {asked}"
        );
        assert!(answer.headers()["vary"]
            .to_str()
            .unwrap()
            .eq_ignore_ascii_case("accept-encoding"));
        let len = answer.bytes().await.unwrap().len();
        assert!(len * 4 < plain_len, "{asked}: {len} of {plain_len}");
    }
    // A small answer goes out as it is, still marked as depending on Accept-Encoding.
    let small = ask(Some("br, gzip"), "/healthz").await;
    assert!(small.headers().get("content-encoding").is_none());
    assert_eq!(small.headers()["vary"], "Accept-Encoding");
    app.stop().await;
}

#[actix_web::test]
async fn static_assets_are_cached_for_good_under_their_hash_and_revalidated_otherwise() {
    let app = TestApp::spawn().await;
    let page = app.get_text("/").await;
    let start = page
        .find("/static/site.css?v=")
        .expect("a hashed stylesheet link");
    let link: String = page[start..].chars().take_while(|c| *c != '"').collect();
    let hashed = app.client.get(app.url(&link)).send().await.unwrap();
    assert_eq!(
        hashed.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let bare = app
        .client
        .get(app.url("/static/site.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.headers()["cache-control"], "no-cache");
    let etag = bare.headers()["etag"].to_str().unwrap().to_string();
    let again = app
        .client
        .get(app.url("/static/site.css"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let old = app
        .client
        .get(app.url("/static/site.css?v=000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        old.headers()["cache-control"],
        "no-cache",
        "an old hash is revalidated"
    );
    app.stop().await;
}
