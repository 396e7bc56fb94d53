//! The fan's pages over HTTP (the browser-driven tests come with the console): each renders
//! from the real stores, refuses whom it should with a page that says what to do, and
//! escapes what fans and organizers typed.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{cookie_pair, event_spec, hold_id, no_redirect_client, set_cookie, TestApp};

async fn page(app: &TestApp, path: &str, bearer: Option<&str>) -> (StatusCode, String) {
    let mut request = app.client.get(app.url(path));
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    (status, response.text().await.unwrap())
}

#[actix_web::test]
async fn a_fan_walks_from_the_line_to_the_order_page() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(2, 5, 10);
    spec["name"] = json!("<script>alert('x')</script> Night");
    let event = app.event(&spec).await;

    // The waiting room renders before the script joins.
    let (status, html) = page(&app, &format!("/events/{event}/queue"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Waiting room") && html.contains("/static/queue.js"));
    assert!(!html.contains("<script>alert"), "names are escaped");
    assert!(
        html.contains("&#60;script&#62;alert(") || html.contains("&lt;script&gt;alert("),
        "and shown: {html}"
    );

    // Without scripts, the event page's form joins and comes back with the ticket cookie.
    let no_redirects = no_redirect_client();
    let joined = no_redirects
        .post(app.url(&format!("/events/{event}/queue")))
        .send()
        .await
        .unwrap();
    assert_eq!(joined.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        joined.headers()["location"],
        format!("/events/{event}/queue")
    );
    let cookie = set_cookie(&joined, "fg_ticket_");
    assert!(cookie.contains("HttpOnly"));
    let pair = cookie_pair(&cookie);
    let html = no_redirects
        .get(app.url(&format!("/events/{event}/queue")))
        .header("Cookie", &pair)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(r#"id="room-position">1<"#),
        "server-rendered place"
    );
    assert!(
        html.contains(r#"http-equiv="refresh""#),
        "refreshes itself without scripts"
    );

    // The shop turns away fans who were not admitted, with the way back to the line.
    let (status, html) = page(&app, &format!("/events/{event}/shop"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Back to the line") && html.contains(&format!("/events/{event}/queue")));

    // Admitted: the seat map's layout (the page's script draws it and keeps its states live),
    // best available and the GA picker.
    let admission = app.admitted_fan(&event).await;
    let hold = app.held_seats(&event, &admission, &["A-1-2"]).await;
    let (status, html) = page(&app, &format!("/events/{event}/shop"), Some(&admission)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"data-layout="[{&#34;section&#34;:&#34;A&#34;"#)
            || html.contains(r#"data-layout="[{&quot;section&quot;:&quot;A&quot;"#),
        "{html}"
    );
    assert!(html.contains(r#"id="best""#));
    assert!(html.contains(r#"data-tier="floor""#));

    let hold_id = hold_id(&hold);
    let (status, html) = page(
        &app,
        &format!("/events/{event}/checkout/{hold_id}"),
        Some(&admission),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(&format!(r#"data-hold="{hold_id}""#)),
        "the page is for this hold"
    );
    assert!(html.contains("/static/checkout.js"));

    let order = app.buy(&event, &admission, &hold, "k1", "<b>Ada</b>").await;
    let order_id = order["order_id"].as_str().unwrap();
    let (status, html) = page(&app, &format!("/orders/{order_id}"), Some(&admission)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("A-1-2") && html.contains("$90.00"));
    assert!(
        html.contains("&#60;b&#62;Ada") || html.contains("&lt;b&gt;Ada"),
        "buyer escaped"
    );
    // Someone else's browser learns nothing of it.
    let (status, _) = page(&app, &format!("/orders/{order_id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[actix_web::test]
async fn the_event_page_counts_down_to_the_opening_until_it_opens() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(1, 2, 2);
    let opens = app.clock_now() + chrono::Duration::hours(2);
    spec["sale_opens_at"] = json!(opens.to_rfc3339());
    let event = app.event(&spec).await;
    let (status, html) = page(&app, &format!("/events/{event}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("On sale soon") && html.contains("id=\"opens-countdown\""));
    let attr = format!("data-opens=\"{}\"", opens.to_rfc3339());
    assert!(
        html.contains(&attr.replace('+', "&#43;")) || html.contains(&attr),
        "{html}"
    );
    assert!(html.contains("/static/event.js"));

    app.advance(chrono::Duration::hours(3));
    let (_, html) = page(&app, &format!("/events/{event}"), None).await;
    assert!(html.contains(">On sale<") && !html.contains("opens-countdown"));
    app.stop().await;
}

#[actix_web::test]
async fn the_waiting_room_and_shop_pages_count_against_the_status_limits() {
    // The pages' requests come from one address through a trusted proxy; the fan is
    // admitted directly from loopback, exempt (its polls must not spend the page's budget).
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_EXEMPT", "127.0.0.1/32"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LIMIT_STATUS_PER_IP", "3/min:3"),
    ])
    .await;
    let event = app.event(&event_spec(1, 2, 2)).await;
    let admission = app.admitted_fan(&event).await;
    let shop = format!("/events/{event}/shop");
    let queue = format!("/events/{event}/queue");
    let visit = |path: &str, bearer: Option<&str>| {
        let mut request = app
            .client
            .get(app.url(path))
            .header("X-Forwarded-For", "203.0.113.9");
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    for (path, bearer) in [
        (&queue, None),
        (&shop, Some(admission.as_str())),
        (&queue, None),
    ] {
        let response = visit(path, bearer).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    for (path, bearer) in [(&queue, None), (&shop, Some(admission.as_str()))] {
        let response = visit(path, bearer).await.unwrap();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(response.text().await.unwrap().contains("Slow down"));
    }
    app.stop().await;
}
