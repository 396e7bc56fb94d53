//! What an outside security review and an API fuzzer found, one test per finding: bodies that
//! are not objects, methods a route does not take, answers in the wrong shape, unchecked
//! export parameters, slow bodies from one address, made-up methods in metrics, unlimited
//! reads, organizer-token guessing, cross-site posts, cookies and headers, shutdown on Ctrl-C,
//! the dashboard's bar, and fans who left the line.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::helpers::*;

/// A JSON body of any shape, sent as `application/json`.
async fn post_json(app: &TestApp, path: &str, bearer: &str, body: &str) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(bearer)
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "k-shape")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn json_bodies_must_be_objects_and_anything_else_changes_nothing() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let admission = app.admitted_fan(&event).await;
    let holds = format!("/api/v1/events/{event}/holds");
    for body in [r#"[["A-1-1"],null,null]"#, r#""A-1-1""#, "42", "null"] {
        let refused = post_json(&app, &holds, &admission, body).await;
        assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let stats = app.stats(&event).await;
    assert_eq!(stats["held"], 0, "no hold was made: {stats}");

    let hold = app.held_seats(&event, &admission, &["A-1-1"]).await;
    let order = format!("/api/v1/events/{event}/holds/{}/order", hold_id(&hold));
    let refused = post_json(&app, &order, &admission, r#"["Ada","ada@example.com"]"#).await;
    assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    assert!(app.all_orders(&event).await.is_empty(), "no order was made");

    let spec = event_spec(1, 2, 3);
    let as_array = Value::Array(spec.as_object().unwrap().values().cloned().collect());
    let refused = post_json(
        &app,
        "/api/v1/events",
        ORGANIZER_TOKEN,
        &as_array.to_string(),
    )
    .await;
    assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.events().await.len(), 1, "no event was made");

    let before = app.stats(&event).await["last_seq"].clone();
    let join = format!("/api/v1/events/{event}/queue");
    let refused = app
        .client
        .post(app.url(&join))
        .header("Content-Type", "application/json")
        .body("[null]")
        .send()
        .await
        .unwrap();
    assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    assert_eq!(app.stats(&event).await["last_seq"], before, "nobody joined");
    // A body of whitespace declared as JSON is not JSON (only no body at all is optional),
    // from a newcomer or from a fan joining again with their own ticket.
    let ticket = app.join_queue(&event).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let before = app.stats(&event).await["last_seq"].clone();
    for own in [None, Some(ticket.as_str())] {
        let mut request = app
            .client
            .post(app.url(&join))
            .header("Content-Type", "application/json")
            .body("\t");
        if let Some(ticket) = own {
            request = request.bearer_auth(ticket);
        }
        let refused = request.send().await.unwrap();
        assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    assert_eq!(app.stats(&event).await["last_seq"], before, "nobody joined");
    app.stop().await;
}

/// A `405` under `/api/`: the contract's JSON error, with `Allow`.
async fn assert_api_405(response: reqwest::Response, allow: &str) {
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], allow);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[actix_web::test]
async fn methods_a_route_does_not_take_are_405_in_the_shape_of_the_route() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    let call = |method: Method, path: String| {
        let request = app.client.request(method, app.url(&path));
        async move { request.send().await.unwrap() }
    };
    let e = format!("/api/v1/events/{event}");
    assert_api_405(call(Method::GET, format!("{e}/holds")).await, "POST").await;
    assert_api_405(
        call(Method::PUT, format!("{e}/queue")).await,
        "GET, POST, DELETE",
    )
    .await;
    assert_api_405(call(Method::DELETE, e.clone()).await, "GET, PATCH").await;
    assert_api_405(
        call(Method::TRACE, "/api/v1/events".into()).await,
        "GET, POST",
    )
    .await;
    // Any method but DELETE on a hold: JSON, never the HTML page.
    let hold = format!("{e}/holds/{}", Uuid::now_v7());
    assert_api_405(call(Method::GET, hold.clone()).await, "DELETE").await;
    assert_api_405(call(Method::POST, hold).await, "DELETE").await;
    // An unknown path under /api/ is JSON too.
    let unknown = call(Method::GET, format!("{e}/nothing-here")).await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    // Pages answer with the error page.
    let page = call(Method::PUT, format!("/events/{event}")).await;
    assert_eq!(page.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(page.headers()["allow"], "GET");
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    app.stop().await;
}

#[actix_web::test]
async fn pages_with_a_malformed_id_answer_the_html_error_page() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    for path in [
        "/events/not-a-uuid".to_string(),
        "/orders/123".to_string(),
        format!("/events/{event}/checkout/xyz"),
        "/events/not-a-uuid/queue".to_string(),
    ] {
        let response = app.client.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(kind.starts_with("text/html"), "{path}: {kind}");
        assert!(response.text().await.unwrap().contains("<html"), "{path}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn the_csv_export_checks_its_parameters_and_exports_what_was_searched() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    for name in ["Ada Setup", "Grace Hopper"] {
        let admission = app.admitted_fan(&event).await;
        let hold = app
            .held(&event, &admission, &json!({"tier": "floor", "quantity": 1}))
            .await;
        app.buy(
            &event,
            &admission,
            &hold,
            &format!("k-{}", name.len()),
            name,
        )
        .await;
    }
    let orders = format!("/api/v1/events/{event}/orders?format=csv");
    let long = "x".repeat(201);
    for query in ["&limit=653985", "&limit=0", &format!("&q={long}")] {
        let refused = app.organizer_get(&format!("{orders}{query}")).await;
        assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let searched = app.organizer_get(&format!("{orders}&q=setup")).await;
    assert_eq!(searched.status(), StatusCode::OK);
    let csv = searched.text().await.unwrap();
    assert!(csv.contains("Ada Setup"), "{csv}");
    assert!(
        !csv.contains("Grace Hopper"),
        "only what was searched: {csv}"
    );
    let one = app.organizer_get(&format!("{orders}&limit=1")).await;
    assert_eq!(
        one.text().await.unwrap().lines().count(),
        2,
        "a header and one row"
    );
    app.stop().await;
}

/// Opens a join whose body never finishes arriving, from `client` (a forwarded address);
/// returns the connection.
async fn half_sent_join(base: &str, event: &str, client: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/events/{event}/queue HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: {client}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[actix_web::test]
async fn one_address_sending_slow_bodies_holds_only_its_own_share_of_the_node() {
    let app = TestApp::spawn_with(&[
        ("MAX_INFLIGHT", "32"),
        ("RATE_LIMIT_EXEMPT", "none"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
    ])
    .await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    let mut slow = Vec::new();
    for _ in 0..40 {
        slow.push(half_sent_join(&app.base, &event, "203.0.113.7").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Everyone else is served at once.
    for i in 0..20 {
        let other = app
            .client
            .get(app.url(&format!("/api/v1/events/{event}")))
            .header("X-Forwarded-For", format!("198.51.100.{}", i + 1))
            .send()
            .await
            .unwrap();
        assert_eq!(
            other.status(),
            StatusCode::OK,
            "another client, request {i}"
        );
    }
    // The slow address got at most its share in flight; the rest were refused at once.
    let mut refused = 0;
    for stream in &mut slow {
        let mut answer = [0u8; 64];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(50), stream.read(&mut answer)).await
        {
            refused += usize::from(String::from_utf8_lossy(&answer[..n]).contains(" 429 "));
        }
    }
    assert!(refused >= 30, "{refused} of 40 slow joins refused at once");
    app.stop().await;
}

#[actix_web::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = TestApp::spawn().await;
    for i in 0..50 {
        let method = Method::from_bytes(format!("FOO{i}").as_bytes()).unwrap();
        let _ = app
            .client
            .request(method, app.url("/api/v1/events"))
            .send()
            .await
            .unwrap();
    }
    let text = app.get_text("/metrics").await;
    assert!(!text.contains("FOO"), "a made-up method became a label");
    assert!(
        text.contains(r#"method="other""#),
        "made-up methods count as other"
    );
    app.stop().await;
}

#[actix_web::test]
async fn reads_anyone_may_make_are_limited_per_address() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_EXEMPT", "none"),
        ("LIMIT_READ_PER_IP", "5/min:5"),
    ])
    .await;
    let paths = [
        format!("/api/v1/events/{}", Uuid::new_v4()),
        format!("/api/v1/orders/{}", Uuid::new_v4()),
        format!("/events/{}", Uuid::new_v4()),
        format!("/api/v1/events/{}/challenge", Uuid::new_v4()),
        "/api/v1/events".to_string(),
    ];
    for path in &paths {
        let answer = app.client.get(app.url(path)).send().await.unwrap();
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
    }
    let limited = app
        .client
        .get(app.url(&format!("/api/v1/events/{}/fairness", Uuid::new_v4())))
        .send()
        .await
        .unwrap();
    assert_retry_error(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    app.stop().await;
}

#[actix_web::test]
async fn refusals_are_counted_for_real_events_only() {
    let app = TestApp::spawn().await;
    let made_up: Vec<Uuid> = (0..20_000).map(|_| Uuid::new_v4()).collect();
    for id in &made_up {
        app.state
            .sale
            .refused(*id, floodgate::sale::refusals::Refused::RateLimited);
    }
    assert_eq!(
        app.state.sale.refusals_of(made_up[0]).rate_limited,
        0,
        "a made-up id keeps no count"
    );
    // An event made afterwards still counts its refusals.
    let event = app.event(&event_spec(1, 5, 5)).await;
    let refused = app
        .client
        .post(app.url(&format!("/api/v1/events/{event}/holds")))
        .json(&json!({"tier": "floor", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(app.stats(&event).await["rejected_not_admitted"], 1);
    app.stop().await;
}

#[actix_web::test]
async fn wrong_organizer_tokens_lock_the_address_out() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_EXEMPT", "none"),
        ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ("LIMIT_LOGIN_PER_IP", "3/min:3"),
    ])
    .await;
    let list = |token: &str, from: &str| {
        app.client
            .get(app.url(&format!("/api/v1/events/{}/stats", Uuid::nil())))
            .bearer_auth(token)
            .header("X-Forwarded-For", from)
            .send()
    };
    for i in 0..3 {
        let wrong = list(&format!("guess-{i}"), "203.0.113.9").await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let locked = list("guess-3", "203.0.113.9").await.unwrap();
    assert_retry_error(locked, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Locked out: the right token learns nothing either.
    let right = list(ORGANIZER_TOKEN, "203.0.113.9").await.unwrap();
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another address is not.
    let elsewhere = list(ORGANIZER_TOKEN, "198.51.100.4").await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    // A fan behind the locked-out address, claiming nothing of the organizer, still reads
    // their own order (with the admission cookie, or the admission as bearer).
    let event = app.event(&event_spec(1, 5, 5)).await;
    let admission = app.admitted_fan(&event).await;
    let hold = app
        .held(&event, &admission, &json!({"tier": "floor", "quantity": 1}))
        .await;
    let order = app.buy(&event, &admission, &hold, "k-locked", "Ada").await;
    let path = format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap());
    let cookie = format!(
        "fg_admission_{}={admission}",
        Uuid::parse_str(&event).unwrap().simple()
    );
    let by_cookie = app
        .client
        .get(app.url(&path))
        .header("Cookie", cookie)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let by_bearer = app
        .client
        .get(app.url(&path))
        .bearer_auth(&admission)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    assert_eq!(by_bearer.status(), StatusCode::OK);
    app.stop().await;
}

#[actix_web::test]
async fn other_sites_pages_cannot_post_and_json_routes_take_json_only() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    let join = app.url(&format!("/api/v1/events/{event}/queue"));
    let cross = app
        .client
        .post(&join)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_error(cross, StatusCode::FORBIDDEN, "forbidden").await;
    let foreign = app
        .client
        .post(&join)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::FORBIDDEN, "forbidden").await;
    let plain = app
        .client
        .post(&join)
        .header("Content-Type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_error(
        plain,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    )
    .await;
    assert_eq!(app.stats(&event).await["last_seq"], 0, "nobody joined");
    // The page's own form, and the console's login, refuse another site too.
    let page = app
        .client
        .post(app.url(&format!("/events/{event}/queue")))
        .header("Origin", "https://evil.example")
        .form(&[("x", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("<html"));
    let login = app
        .client
        .post(app.url("/organizer/login"))
        .header("Sec-Fetch-Site", "same-site")
        .form(&[("token", ORGANIZER_TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    // The site's own pages may.
    let own = app
        .client
        .post(&join)
        .header("Origin", app.base.clone())
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::CREATED);
    app.stop().await;
}

fn is_secure(set_cookie: &str) -> bool {
    set_cookie
        .split(';')
        .any(|part| part.trim().eq_ignore_ascii_case("secure"))
}

#[actix_web::test]
async fn cookies_are_secure_when_the_site_is_https_and_pages_carry_the_usual_headers() {
    let plain = TestApp::spawn_with(&[("TRUSTED_PROXIES", "10.9.9.9/32")]).await;
    let event = plain.event(&event_spec(1, 5, 5)).await;
    let join = plain.url(&format!("/api/v1/events/{event}/queue"));
    // A client's own X-Forwarded-Proto counts for nothing.
    let joined = plain
        .client
        .post(&join)
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert!(!is_secure(&set_cookie(&joined, "fg_ticket_")));
    let page = plain.client.get(plain.url("/")).send().await.unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["referrer-policy"], "same-origin");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    // A JSON answer is never rendered: it keeps nosniff and the referrer policy, and does
    // not carry the page headers on every status poll.
    let headers = joined.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "same-origin");
    assert!(headers.get("content-security-policy").is_none());
    assert!(headers.get("x-frame-options").is_none());
    plain.stop().await;

    // A trusted proxy's says the browser came over HTTPS.
    let proxied = TestApp::spawn_with(&[("TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let event = proxied.event(&event_spec(1, 5, 5)).await;
    let joined = proxied
        .client
        .post(proxied.url(&format!("/api/v1/events/{event}/queue")))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    assert!(is_secure(&set_cookie(&joined, "fg_ticket_")));
    proxied.stop().await;

    // PUBLIC_URL says so for every request, the console's cookie included.
    let public = TestApp::spawn_with(&[("PUBLIC_URL", "https://tickets.example.com")]).await;
    let event = public.event(&event_spec(1, 5, 5)).await;
    let joined = public
        .client
        .post(public.url(&format!("/api/v1/events/{event}/queue")))
        .send()
        .await
        .unwrap();
    assert!(is_secure(&set_cookie(&joined, "fg_ticket_")));
    let login = no_redirect_client()
        .post(public.url("/organizer/login"))
        .form(&[("token", ORGANIZER_TOKEN)])
        .send()
        .await
        .unwrap();
    assert!(is_secure(&set_cookie(&login, "fg_organizer")));
    public.stop().await;
}

#[actix_web::test]
async fn ctrl_c_drains_in_flight_requests_before_stopping() {
    let data = TestData::fresh().await;
    let mut node = Process::start(&data, &[]).await;
    let client = client();
    let created = client
        .post(format!("{}/api/v1/events", node.base))
        .bearer_auth(ORGANIZER_TOKEN)
        .json(&event_spec(1, 5, 5))
        .send()
        .await
        .unwrap();
    let event = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A join whose body is still arriving when Ctrl-C comes.
    let mut stream = tokio::net::TcpStream::connect(node.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/events/{event}/queue HTTP/1.1\r\nHost: x\r\n\
         Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    node.signal("INT");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stream.write_all(b"}").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer while draining")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let stopped = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if let Some(status) = node.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("stopped after draining");
    assert!(stopped.success(), "{stopped:?}");
}

#[actix_web::test]
async fn a_sold_out_tier_shows_a_full_bar_on_the_dashboard() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 1, 3)).await;
    let admission = app.admitted_fan(&event).await;
    let hold = app
        .held(&event, &admission, &json!({"tier": "floor", "quantity": 3}))
        .await;
    app.buy(&event, &admission, &hold, "k-all", "Ada").await;
    let console = no_redirect_client();
    let login = console
        .post(app.url("/organizer/login"))
        .form(&[("token", ORGANIZER_TOKEN)])
        .send()
        .await
        .unwrap();
    let cookie = cookie_pair(&set_cookie(&login, "fg_organizer"));
    let dashboard = console
        .get(app.url(&format!("/organizer/events/{event}")))
        .header("Cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        dashboard.contains(r#"<progress class="bar" data-k="bar" max="3" value="3""#),
        "{dashboard}"
    );
    assert!(
        !dashboard.contains("style="),
        "no inline styles (the policy forbids them)"
    );
    app.stop().await;
}

/// Leaves the line with a ticket.
async fn leave(app: &TestApp, event: &str, ticket: &str) -> reqwest::Response {
    app.client
        .delete(app.url(&format!("/api/v1/events/{event}/queue")))
        .bearer_auth(ticket)
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
async fn fans_who_leave_or_stop_polling_no_longer_count_as_waiting() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(1, 5, 5);
    spec["admission"]["rate_per_minute"] = json!(1);
    spec["admission"]["max_active"] = json!(1);
    let event = app.event(&spec).await;
    let mut tickets = Vec::new();
    for _ in 0..6 {
        let joined = app.join_queue(&event).await;
        tickets.push(joined["ticket"].as_str().unwrap().to_string());
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = app.stats(&event).await;
    let waiting = before["waiting"].as_u64().unwrap();
    // Two fans leave: the line shrinks at once, the cookie goes, leaving again is harmless.
    for ticket in &tickets[4..] {
        let left = leave(&app, &event, ticket).await;
        assert_eq!(left.status(), StatusCode::OK);
        let gone = set_cookie(&left, "fg_ticket_");
        assert!(
            gone.contains("Max-Age=0") || gone.contains("max-age=0"),
            "{gone}"
        );
        assert_eq!(left.json::<Value>().await.unwrap()["left"], true);
    }
    let again = leave(&app, &event, &tickets[5]).await;
    assert_eq!(again.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let after = app.stats(&event).await;
    assert_eq!(
        after["waiting"].as_u64().unwrap(),
        waiting - 2,
        "{before} → {after}"
    );
    assert_eq!(after["left_line"], 2, "{after}");
    // Past the liveness grace, only fans still polling count.
    app.advance(chrono::Duration::seconds(31));
    for ticket in &tickets[2..4] {
        let polled = app.queue_status(&event, ticket).await;
        assert_eq!(polled["state"], "waiting", "{polled}");
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let later = app.stats(&event).await;
    assert_eq!(later["waiting"], 2, "the two fans still polling: {later}");
    // The waiting room's button: out of the line, back on the event page, which says so.
    let joined = app.join_queue(&event).await;
    let ticket = joined["ticket"].as_str().unwrap();
    let button = no_redirect_client()
        .post(app.url(&format!("/events/{event}/queue/leave")))
        .header(
            "Cookie",
            format!("fg_ticket_{}={ticket}", event.replace('-', "")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(button.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        button.headers()["location"],
        format!("/events/{event}?left=1").as_str()
    );
    let page = app
        .client
        .get(app.url(&format!("/events/{event}?left=1")))
        .send()
        .await
        .unwrap();
    assert!(page.text().await.unwrap().contains("You left the line"));
    assert_eq!(app.stats(&event).await["left_line"], 3);
    // Without a ticket there is nothing to leave.
    let nobody = app
        .client
        .delete(app.url(&format!("/api/v1/events/{event}/queue")))
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[actix_web::test]
async fn a_fan_who_leaves_the_pre_queue_is_skipped_at_opening() {
    let app = TestApp::spawn().await;
    let mut spec = event_spec(1, 5, 5);
    let opens = app.clock_now() + chrono::Duration::seconds(60);
    spec["sale_opens_at"] = json!(opens.to_rfc3339());
    let event = app.event(&spec).await;
    let stay = app.join_queue(&event).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    let go = app.join_queue(&event).await["ticket"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(leave(&app, &event, &go).await.status(), StatusCode::OK);
    assert_eq!(app.stats(&event).await["waiting"], 1);
    app.advance(chrono::Duration::seconds(61));
    let mut stayed = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stayed = app.queue_status(&event, &stay).await;
        if stayed["state"] == "admitted" {
            break;
        }
    }
    assert_eq!(stayed["state"], "admitted", "{stayed}");
    let gone = app.queue_status(&event, &go).await;
    assert_eq!(
        gone["state"], "expired",
        "the fan who left never gets a turn: {gone}"
    );
    assert_eq!(
        app.stats(&event).await["left_line"],
        1,
        "one fan left, counted once (not again when the draw placed them)"
    );
    app.stop().await;
}
