//! The organizer console over HTTP: the login and its session, the anti-forgery token on
//! every form, the event editor (and its refusals, which change nothing), pause and resume,
//! the live numbers, and the orders table with search, CSV and cancel.

use reqwest::{header, Response, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{
    cookie_pair, created_hold_id, event_spec, no_redirect_client, set_cookie, TestApp,
    ORGANIZER_TOKEN,
};

/// A logged-in organizer: the session cookie and the form token of its pages.
struct Console<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
}

async fn login_with(app: &TestApp, token: &str) -> Response {
    no_redirect_client()
        .post(app.url("/organizer/login"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let start = html.find(r#"name="csrf" value=""#).expect("a form token") + 19;
    html[start..start + html[start..].find('"').unwrap()].to_string()
}

impl<'a> Console<'a> {
    async fn login(app: &'a TestApp) -> Console<'a> {
        let response = login_with(app, ORGANIZER_TOKEN).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let cookie = cookie_pair(&set_cookie(&response, "fg_organizer="));
        let mut console = Console {
            app,
            client: no_redirect_client(),
            cookie,
            csrf: String::new(),
        };
        let (status, html) = console.page("/organizer").await;
        assert_eq!(status, StatusCode::OK);
        console.csrf = csrf_of(&html);
        console
    }

    async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self.get(path).await;
        (response.status(), response.text().await.unwrap())
    }

    /// Posts a form with the session's token added.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut fields = fields.to_vec();
        fields.push(("csrf", &self.csrf));
        self.post_raw(path, &fields).await
    }

    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.client
            .post(self.app.url(path))
            .header(header::COOKIE, &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

fn location(response: &Response) -> String {
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string()
}

/// The fields of a new event with a GA tier and a seating block.
fn event_fields<'a>(name: &'a str, price: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("venue", "Harbour Arena"),
        ("starts_at", "2030-12-31T20:00"),
        ("sale_opens_at", ""),
        ("max_per_order", "6"),
        ("hold_ttl_secs", "300"),
        ("rate_per_minute", "6000"),
        ("max_active", "500"),
        ("admission_ttl_secs", "600"),
        ("pow_difficulty_bits", "0"),
        ("tier_id", "floor"),
        ("tier_name", "Floor (standing)"),
        ("tier_price", price),
        ("tier_capacity", "40"),
        ("tier_id", ""),
        ("tier_name", ""),
        ("tier_price", ""),
        ("tier_capacity", ""),
        ("block_section", "A"),
        ("block_rows", "3"),
        ("block_seats", "8"),
        ("block_tier", "lower"),
        ("block_price", "89.50"),
    ]
}

#[actix_web::test]
async fn the_console_takes_the_token_once_and_keeps_a_session() {
    let app = TestApp::spawn().await;
    let anonymous = no_redirect_client();

    let login_page = anonymous.get(app.url("/organizer")).send().await.unwrap();
    assert_eq!(login_page.status(), StatusCode::OK);
    assert!(login_page.text().await.unwrap().contains("Organizer token"));

    let wrong = login_with(&app, "not-the-token").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get(header::SET_COOKIE).is_none());
    assert!(wrong
        .text()
        .await
        .unwrap()
        .contains("not the organizer token"));

    let right = login_with(&app, ORGANIZER_TOKEN).await;
    assert_eq!(right.status(), StatusCode::SEE_OTHER);
    let cookie = right.headers()[header::SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/organizer"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }

    let console = Console::login(&app).await;
    let (_, html) = console.page("/organizer").await;
    assert!(html.contains("Your events") && html.contains("Log out"));

    // Pages and data without a session send the browser to the login; forged cookies too.
    let event = app.event(&event_spec(1, 2, 2)).await;
    for path in [
        format!("/organizer/events/{event}"),
        format!("/organizer/events/{event}/orders"),
        "/organizer/events/new".to_string(),
    ] {
        let response = anonymous.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&response), "/organizer");
    }
    let admission = app.admitted_fan(&event).await;
    for forged in [
        format!("fg_organizer={admission}"),
        format!("{}x", console.cookie),
        "fg_organizer=".to_string(),
    ] {
        let response = anonymous
            .get(app.url(&format!("/organizer/events/{event}/stats")))
            .header(header::COOKIE, forged.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{forged}");
        let csv = anonymous
            .get(app.url(&format!("/organizer/events/{event}/orders.csv")))
            .header(header::COOKIE, forged.as_str())
            .send()
            .await
            .unwrap();
        assert_eq!(csv.status(), StatusCode::UNAUTHORIZED, "{forged}");
    }

    // Logging out needs the form token, then ends the session in the browser.
    let refused = console.post_raw("/organizer/logout", &[]).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let out = console.post("/organizer/logout", &[]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let cleared = out.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.starts_with("fg_organizer=;"), "{cleared}");
    app.stop().await;
}

#[actix_web::test]
async fn a_session_works_on_every_node_until_the_token_changes() {
    let app = TestApp::spawn().await;
    let cookie = Console::login(&app).await.cookie;
    let same = TestApp::spawn_on(app.data.clone(), &[]).await;
    let rotated = TestApp::spawn_on(
        app.data.clone(),
        &[("ORGANIZER_TOKEN", "a-brand-new-token-1234-0123456789abcdef")],
    )
    .await;
    for (node, expected) in [(&same, StatusCode::OK), (&rotated, StatusCode::SEE_OTHER)] {
        let response = no_redirect_client()
            .get(node.url("/organizer/events/new"))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), expected);
    }
    same.stop().await;
    rotated.stop().await;
    app.stop().await;
}

#[actix_web::test]
async fn console_forms_need_the_session_form_token() {
    let app = TestApp::spawn().await;
    let console = Console::login(&app).await;
    let fields = event_fields("Forged Night", "49.00");

    let missing = console.post_raw("/organizer/events", &fields).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let mut wrong = fields.clone();
    wrong.push(("csrf", "0000"));
    let wrong = console.post_raw("/organizer/events", &wrong).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // Another session's token is no good either.
    let other = Console::login(&app).await;
    let mut foreign = fields.clone();
    foreign.push(("csrf", &other.csrf));
    let foreign = console.post_raw("/organizer/events", &foreign).await;
    assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
    assert!(app.events().await.is_empty(), "nothing was created");

    let created = console.post("/organizer/events", &fields).await;
    assert_eq!(created.status(), StatusCode::SEE_OTHER);
    let dashboard = location(&created);
    let id = dashboard.rsplit('/').next().unwrap().to_string();
    let view = app.event_view(&id).await;
    assert_eq!(view["name"], "Forged Night");
    assert_eq!(view["starts_at"], "2030-12-31T20:00:00Z");
    assert_eq!(view["admission"]["rate_per_minute"], 6000);
    let tiers = view["tiers"].as_array().unwrap();
    let floor = tiers.iter().find(|t| t["id"] == "floor").unwrap();
    assert_eq!(
        (floor["price_cents"].as_i64(), floor["capacity"].as_u64()),
        (Some(4900), Some(40))
    );
    let lower = tiers.iter().find(|t| t["id"] == "lower").unwrap();
    assert_eq!(
        (lower["price_cents"].as_i64(), lower["capacity"].as_u64()),
        (Some(8950), Some(24))
    );

    let (status, html) = console.page(&dashboard).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Live dashboard") && html.contains("/static/dashboard.js"));
    app.stop().await;
}

#[actix_web::test]
async fn a_refused_event_form_comes_back_as_typed_and_saves_nothing() {
    let app = TestApp::spawn().await;
    let console = Console::login(&app).await;

    let bad_price = console
        .post("/organizer/events", &event_fields("Typo Night", "forty"))
        .await;
    assert_eq!(bad_price.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad_price.text().await.unwrap();
    assert!(html.contains("Tier 1 price") && html.contains("Nothing was saved"));
    assert!(html.contains(r#"value="forty""#), "the typed value is kept");
    assert!(html.contains(r#"value="Typo Night""#));

    // The API's own rules answer through the form as well.
    let no_inventory: Vec<(&str, &str)> = event_fields("Empty Night", "10")
        .into_iter()
        .filter(|(k, _)| !k.starts_with("tier_") && !k.starts_with("block_"))
        .collect();
    let empty = console.post("/organizer/events", &no_inventory).await;
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty
        .text()
        .await
        .unwrap()
        .contains("at least one tier or seating block"));

    // Hostile and oversized input is refused the same way.
    let long = "n".repeat(500);
    let too_long = console
        .post("/organizer/events", &event_fields(&long, "10"))
        .await;
    assert_eq!(too_long.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let huge = "x".repeat(floodgate::web::ORGANIZER_BODY_LIMIT + 1);
    let oversized = console
        .post("/organizer/events", &[("name", huge.as_str())])
        .await;
    assert_eq!(oversized.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(app.events().await.is_empty(), "nothing was created");
    app.stop().await;
}

#[actix_web::test]
async fn the_console_edits_pauses_and_resumes_an_event() {
    let app = TestApp::spawn().await;
    let console = Console::login(&app).await;
    let event = app.event(&event_spec(2, 5, 10)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = app.hold_seats(&event, &fan, &["A-1-1", "A-1-2"]).await;
    assert_eq!(hold.status(), StatusCode::CREATED);
    let standing = app.admitted_fan(&event).await;
    let hold = app
        .hold(
            &event,
            &standing,
            &json!({ "tier": "floor", "quantity": 6 }),
        )
        .await;
    assert_eq!(hold.status(), StatusCode::CREATED);

    let (status, html) = console
        .page(&format!("/organizer/events/{event}/edit"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"value="floor" aria-label="Tier id" maxlength="40" readonly"#));
    assert!(
        html.contains(r#"value="2" aria-label="Rows" inputmode="numeric" readonly"#),
        "a saved block's size is not offered for change (the API refuses it)"
    );

    let edit = |name: &'static str, ga: &'static str, rows: &'static str| {
        vec![
            ("name", name),
            ("venue", "Test Hall"),
            ("starts_at", "2030-06-01T19:30"),
            ("sale_opens_at", ""),
            ("max_per_order", "4"),
            ("hold_ttl_secs", "120"),
            ("rate_per_minute", "60000"),
            ("max_active", "100000"),
            ("admission_ttl_secs", "600"),
            ("pow_difficulty_bits", "0"),
            ("tier_id", "floor"),
            ("tier_name", "Floor"),
            ("tier_price", "50"),
            ("tier_capacity", ga),
            ("tier_id", "vip"),
            ("tier_name", "VIP lounge"),
            ("tier_price", "250"),
            ("tier_capacity", "5"),
            ("block_section", "A"),
            ("block_rows", rows),
            ("block_seats", "5"),
            ("block_tier", "lower"),
            ("block_price", "90"),
        ]
    };
    let path = format!("/organizer/events/{event}/edit");
    let saved = console.post(&path, &edit("Renamed Night", "30", "2")).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let view = app.event_view(&event).await;
    assert_eq!(view["name"], "Renamed Night");
    assert_eq!(view["max_per_order"], 4);
    let ids: Vec<&str> = view["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"vip") && ids.contains(&"floor"), "{ids:?}");

    // Shrinking the floor below its 6 held places is refused with the API's reason; nothing
    // changes (5 would be a valid capacity for an empty floor).
    let refused = console.post(&path, &edit("Shrunk Night", "5", "2")).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("cannot drop below places sold or held"),
        "{html}"
    );
    assert_eq!(app.event_view(&event).await["name"], "Renamed Night");

    let paused = console
        .post(&format!("/organizer/events/{event}/pause"), &[])
        .await;
    assert_eq!(paused.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.event_view(&event).await["state"], "paused");
    let (_, html) = console.page(&format!("/organizer/events/{event}")).await;
    assert!(html.contains("Resume sale"));
    let resumed = console
        .post(&format!("/organizer/events/{event}/resume"), &[])
        .await;
    assert_eq!(resumed.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.event_view(&event).await["state"], "on_sale");
    let unknown = console
        .post(&format!("/organizer/events/{event}/explode"), &[])
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // The live numbers the dashboard polls: per tier, with the hold counted.
    let stats: Value = console
        .get(&format!("/organizer/events/{event}/stats"))
        .await
        .json()
        .await
        .unwrap();
    let lower = stats["tiers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "lower")
        .unwrap();
    assert_eq!(lower["held"], 2);
    assert_eq!(stats["held"], 8);
    app.stop().await;
}

#[actix_web::test]
async fn orders_are_searched_exported_and_cancelled_from_the_console() {
    let app = TestApp::spawn().await;
    let console = Console::login(&app).await;
    let mut spec = event_spec(1, 6, 10);
    spec["name"] = json!("<script>alert(1)</script> Gala");
    let event = app.event(&spec).await;
    let ada_id = sell(
        &app,
        &event,
        &["A-1-1", "A-1-2"],
        "Ada Lovelace",
        "ada@example.com",
    )
    .await;
    let alan_id = sell(
        &app,
        &event,
        &["A-1-3"],
        "=HYPERLINK(\"x\") Alan Turing",
        "alan@example.com",
    )
    .await;

    let orders_path = format!("/organizer/events/{event}/orders");
    let (status, html) = console.page(&orders_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&ada_id) && html.contains(&alan_id));
    assert!(!html.contains("<script>alert"), "names are escaped");

    for (search, found, hidden) in [
        ("LOVELACE", &ada_id, &alan_id),
        ("a-1-3", &alan_id, &ada_id),
        (&ada_id[..13], &ada_id, &alan_id),
    ] {
        let (_, html) = console
            .page(&format!("{orders_path}?q={}", urlencode(search)))
            .await;
        assert!(html.contains(found.as_str()), "{search} finds {found}");
        assert!(!html.contains(hidden.as_str()), "{search} hides {hidden}");
    }
    // Case is folded as the database folds it: an accented capital still finds its name.
    let emile = sell(&app, &event, &["A-1-4"], "Émile Zola", "emile@example.com").await;
    let (_, html) = console
        .page(&format!("{orders_path}?q={}", urlencode("ÉMILE")))
        .await;
    assert!(html.contains(&emile) && !html.contains(&ada_id), "{html}");

    // Wildcards are plain characters, and the API searches the same way.
    let (_, html) = console.page(&format!("{orders_path}?q=%25")).await;
    assert!(html.contains("No order matches"));
    let listed: Value = app
        .organizer_get(&format!("/api/v1/events/{event}/orders?q=turing"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["orders"].as_array().unwrap().len(), 1);
    let too_long = app
        .organizer_get(&format!(
            "/api/v1/events/{event}/orders?q={}",
            "x".repeat(201)
        ))
        .await;
    assert_eq!(too_long.status(), StatusCode::BAD_REQUEST);

    let csv = console.get(&format!("{orders_path}.csv")).await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = csv.text().await.unwrap();
    assert_eq!(
        csv.lines().count(),
        5,
        "a header and one row per item: {csv}"
    );
    assert!(csv.contains("'=HYPERLINK"), "formulas are defused: {csv}");

    // Cancel from the table: back to the page it came from, never elsewhere.
    let back = format!("{orders_path}?q=ada");
    let cancelled = console
        .post(
            &format!("/organizer/orders/{ada_id}/cancel"),
            &[("back", back.as_str())],
        )
        .await;
    assert_eq!(cancelled.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&cancelled), back);
    let order = app.organizer_get(&format!("/api/v1/orders/{ada_id}")).await;
    assert_eq!(order.json::<Value>().await.unwrap()["status"], "cancelled");
    let stats = app.stats(&event).await;
    assert_eq!(stats["sold"], 2, "the cancelled seats are free again");
    let elsewhere = console
        .post(
            &format!("/organizer/orders/{alan_id}/cancel"),
            &[("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(location(&elsewhere), "/organizer");
    let forged = console
        .post_raw(&format!("/organizer/orders/{alan_id}/cancel"), &[])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[actix_web::test]
async fn console_logins_are_rate_limited_per_address() {
    let app = TestApp::spawn_with(&[
        ("RATE_LIMIT_EXEMPT", "none"),
        ("LIMIT_LOGIN_PER_IP", "2/min:2"),
    ])
    .await;
    for _ in 0..2 {
        let wrong = login_with(&app, "guess").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let limited = login_with(&app, ORGANIZER_TOKEN).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.headers().contains_key(header::RETRY_AFTER));
    assert!(limited.headers().get(header::SET_COOKIE).is_none());
    app.stop().await;
}

#[actix_web::test]
async fn parked_mails_are_counted_listed_and_retried_from_the_console() {
    let server = crate::mailer::MailServer::start();
    server.set_rules(&json!({"gone@example.com": "550 5.1.1 No such user here"}));
    let url = server.url();
    let app = TestApp::spawn_with(&[
        ("SMTP_URL", url.as_str()),
        ("MAIL_POLL_MS", "100"),
        ("MAIL_BACKOFF_BASE_MS", "100"),
    ])
    .await;
    let console = Console::login(&app).await;
    let event = app.event(&event_spec(1, 6, 10)).await;
    let order = sell(&app, &event, &["A-1-1"], "Gone Fan", "gone@example.com").await;
    let parked_path = format!("/api/v1/events/{event}/notifications?state=parked");
    let mut waited = 0;
    let row = loop {
        let page: Value = app.organizer_get(&parked_path).await.json().await.unwrap();
        if let Some(row) = page["notifications"].get(0) {
            break row["id"].as_str().unwrap().to_string();
        }
        waited += 1;
        assert!(waited < 300, "the mail was never parked");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };

    let (status, dashboard) = console.page(&format!("/organizer/events/{event}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(dashboard.contains(r#"id="k-mail-parked""#), "{dashboard}");
    assert!(
        dashboard.contains(&format!(
            r#"<a href="/organizer/events/{event}/notifications?state=parked">1</a>"#
        )),
        "one parked mail on the dashboard"
    );
    let mails_path = format!("/organizer/events/{event}/notifications");
    let (status, html) = console.page(&mails_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&row) && html.contains(&order), "{html}");
    assert!(
        html.contains("No such user here"),
        "the server's reply is shown"
    );
    assert!(html.contains(&format!("/organizer/notifications/{row}/retry")));
    assert!(!html.contains("style="), "no inline style under the CSP");
    let (status, _) = console.page(&format!("{mails_path}?state=lost")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Without the form token: refused, nothing retried.
    let forged = console
        .post_raw(&format!("/organizer/notifications/{row}/retry"), &[])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    server.set_rules(&json!({}));
    let retried = console
        .post(
            &format!("/organizer/notifications/{row}/retry"),
            &[("back", &format!("{mails_path}?state=parked"))],
        )
        .await;
    assert_eq!(retried.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&retried), format!("{mails_path}?state=parked"));
    let mails = server.wait_for(1, std::time::Duration::from_secs(30)).await;
    assert_eq!(mails[0].rcpt_to, "gone@example.com");
    app.stop().await;
}

/// A fan buys `seats` under a name and email: returns the order id.
async fn sell(app: &TestApp, event: &str, seats: &[&str], name: &str, email: &str) -> String {
    let fan = app.admitted_fan(event).await;
    let hold = created_hold_id(app.hold_seats(event, &fan, seats).await).await;
    let order = app
        .client
        .post(app.url(&format!("/api/v1/events/{event}/holds/{hold}/order")))
        .bearer_auth(&fan)
        .header("Idempotency-Key", format!("console-{}", seats.join("_")))
        .json(&json!({ "name": name, "email": email }))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), StatusCode::CREATED);
    let order: Value = order.json().await.unwrap();
    order["order_id"].as_str().unwrap().to_string()
}

fn urlencode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
