//! Order e-mails end to end, through a real mail server (aiosmtpd, see `mailer.rs`): what a
//! mail says and where its link leads; a mail server that stops during a burst of orders (the
//! orders do not notice, every mail arrives once it is back); `451` retried, `550` parked and
//! retried by the organizer; two nodes sending from one outbox; cancellations; buyer text that
//! tries to add headers; and the organizer's endpoints refusing bad input.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::mailer::{Mail, MailServer};

/// Retries come quickly in these tests, and the sender looks for due mail often.
const QUICK_RETRIES: &[(&str, &str)] = &[
    ("MAIL_BACKOFF_BASE_MS", "100"),
    ("MAIL_BACKOFF_CAP_MS", "1000"),
    ("MAIL_POLL_MS", "100"),
    ("MAIL_SEND_TIMEOUT_SECS", "5"),
];
/// How long a test waits for mails that should come.
const MAIL_WAIT: Duration = Duration::from_secs(30);

/// An app sending through `server`, with quick retries and `extra` settings.
async fn app_for(server: &MailServer, extra: &[(&str, &str)]) -> TestApp {
    let url = server.url();
    let mut settings: Vec<(&str, &str)> = vec![("SMTP_URL", url.as_str())];
    settings.extend_from_slice(QUICK_RETRIES);
    settings.extend_from_slice(extra);
    TestApp::spawn_with(&settings).await
}

/// A GA event with room for `places`, one admission buying up to 100.
async fn ga_event(app: &TestApp, places: u32) -> String {
    let mut spec = event_spec(1, 4, places);
    spec["max_per_order"] = json!(100);
    app.event(&spec).await
}

/// The admitted fan `admission` orders one GA place as `email`: the answer.
async fn order_one(
    app: &TestApp,
    event: &str,
    admission: &str,
    email: &str,
    key: &str,
) -> reqwest::Response {
    let hold = app
        .held(event, admission, &json!({"tier": "floor", "quantity": 1}))
        .await;
    app.client
        .post(app.url(&format!(
            "/api/v1/events/{event}/holds/{}/order",
            hold_id(&hold)
        )))
        .bearer_auth(admission)
        .header("Idempotency-Key", key)
        .json(&json!({ "name": "Ada Lovelace", "email": email }))
        .send()
        .await
        .unwrap()
}

/// A new fan orders one GA place as `email`: the order (panics unless 201).
async fn bought(app: &TestApp, event: &str, email: &str) -> Value {
    let fan = app.admitted_fan(event).await;
    created(order_one(app, event, &fan, email, &format!("k-{email}")).await).await
}

/// The event's mails in a state, through the organizer API.
async fn notifications(app: &TestApp, event: &str, state: &str) -> Vec<Value> {
    let page: Value = app
        .organizer_get(&format!(
            "/api/v1/events/{event}/notifications?state={state}&limit=1000"
        ))
        .await
        .json()
        .await
        .unwrap();
    page["notifications"].as_array().unwrap().clone()
}

/// Waits until the event's mails in `state` satisfy `done` (panics after `MAIL_WAIT`).
async fn wait_for_rows(
    app: &TestApp,
    event: &str,
    state: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let rows = notifications(app, event, state).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            started.elapsed() < MAIL_WAIT,
            "{state} mails never got there: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every order id among `mails`, with how many mails named it.
fn per_order(mails: &[Mail]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for mail in mails {
        *counts.entry(mail.order_id()).or_insert(0) += 1;
    }
    counts
}

#[actix_web::test]
async fn an_orders_mail_names_what_was_bought_and_its_link_opens_the_order_anywhere() {
    let server = MailServer::start();
    let app = app_for(&server, &[("MAIL_FROM", "Box Office <box@floodgate.test>")]).await;
    let event = app.event(&event_spec(1, 4, 10)).await;
    let fan = app.admitted_fan(&event).await;
    let hold = app.held_seats(&event, &fan, &["A-1-1", "A-1-2"]).await;
    let order = created(
        app.client
            .post(app.url(&format!(
                "/api/v1/events/{event}/holds/{}/order",
                hold_id(&hold)
            )))
            .bearer_auth(&fan)
            .header("Idempotency-Key", "seats-1")
            .json(&json!({"name": "Ada Lovelace", "email": "ada@example.com"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let order_id = order["order_id"].as_str().unwrap();

    let mail = server.wait_for(1, MAIL_WAIT).await.remove(0);
    assert_eq!(mail.rcpt_to, "ada@example.com");
    assert_eq!(mail.mail_from, "box@floodgate.test");
    assert!(
        mail.header("To").unwrap().contains("Ada Lovelace"),
        "{mail:?}"
    );
    let view = app.event_view(&event).await;
    let starts_at = chrono::DateTime::parse_from_rfc3339(view["starts_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let date = floodgate::domain::show::show_time(starts_at);
    let subject = mail.header("Subject").unwrap();
    assert!(
        subject.contains("Test Night") && subject.contains("Test Hall") && subject.contains(&date),
        "{subject}"
    );
    for part in [
        "Test Night",
        "Test Hall",
        &date,
        "A-1-1",
        "A-1-2",
        "$180.00",
        order_id,
    ] {
        assert!(mail.text.contains(part), "{part} missing: {}", mail.text);
        assert!(mail.html.contains(part), "{part} missing: {}", mail.html);
    }
    let rows = wait_for_rows(&app, &event, "sent", |rows| rows.len() == 1).await;
    assert_eq!(rows[0]["order_id"], order_id);
    assert_eq!(rows[0]["kind"], "order_confirmed");
    assert_eq!(rows[0]["to"], "ada@example.com");
    assert_eq!(rows[0]["attempts"], 1);
    assert!(rows[0]["sent_at"].is_string() && rows[0]["next_attempt_at"].is_null());
    let id = rows[0]["id"].as_str().unwrap();
    assert_eq!(
        mail.header("Message-ID").unwrap(),
        format!("<{id}@floodgate.test>")
    );

    // The link opens the order with no cookie and no token: any device.
    let link = mail.link();
    assert!(
        link.starts_with(&format!("{}/orders/{order_id}?k=", app.base)),
        "{link}"
    );
    let page = no_redirect_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains(order_id));
    // A key opens its own order only, and a made-up one nothing.
    let key = link.split("?k=").nth(1).unwrap();
    let other = bought(&app, &event, "bob@example.com").await;
    let other_id = other["order_id"].as_str().unwrap();
    for path in [
        format!("/orders/{other_id}?k={key}"),
        format!("/orders/{order_id}?k=AAAA{}", &key[4..]),
        format!("/orders/{order_id}?k="),
        format!("/orders/{order_id}"),
    ] {
        let refused = no_redirect_client()
            .get(app.url(&path))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::NOT_FOUND, "{path}");
    }

    let metrics = app.get_text("/metrics").await;
    for name in ["mail_sent_total", "mail_outbox_due", "mail_parked"] {
        assert!(metrics.contains(name), "{name} not in /metrics");
    }
    app.stop().await;
}

#[actix_web::test]
async fn without_an_smtp_server_each_mail_is_written_as_an_eml_file() {
    let app = TestApp::spawn_with(&[("MAIL_POLL_MS", "100")]).await;
    let event = app.event(&event_spec(1, 4, 10)).await;
    let order = bought(&app, &event, "ada@example.com").await;
    let rows = wait_for_rows(&app, &event, "sent", |rows| rows.len() == 1).await;
    let id = rows[0]["id"].as_str().unwrap();
    let file = app.data.data_dir.join("mail").join(format!("{id}.eml"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("Message-ID: <{id}@localhost>")),
        "{text}"
    );
    let to = text.lines().find(|l| l.starts_with("To: ")).unwrap();
    assert!(
        to.contains("Ada Lovelace") && to.ends_with("<ada@example.com>"),
        "{to}"
    );
    assert!(text.contains("Subject: Your tickets: Test Night"), "{text}");
    let order_id = order["order_id"].as_str().unwrap();
    assert!(text.replace("=\r\n", "").contains(order_id), "{text}");
    app.stop().await;
}

/// `count` orders of one place each from `fans` admissions, `in_flight` at once: how long
/// they took, and the order ids (every answer must be 201).
async fn burst(
    app: &TestApp,
    event: &str,
    fans: &[String],
    count: usize,
    in_flight: usize,
    tag: &str,
) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(count);
    let mut next = 0;
    while next < count {
        let wave: Vec<usize> = (next..(next + in_flight).min(count)).collect();
        next += wave.len();
        let answers = join_all(wave.iter().map(|&i| {
            let fan = &fans[i % fans.len()];
            let email = format!("fan{i}-{tag}@example.com");
            async move { order_one(app, event, fan, &email, &format!("{tag}-{i}")).await }
        }))
        .await;
        for answer in answers {
            ids.push(
                created(answer).await["order_id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    (started.elapsed(), ids)
}

#[actix_web::test]
async fn with_the_mail_server_down_a_burst_of_500_orders_confirms_at_full_speed_and_every_mail_arrives_once(
) {
    const BURST: usize = 500;
    let mut server = MailServer::start();
    let app = app_for(&server, &[("MAIL_MAX_ATTEMPTS", "1000")]).await;
    let event = ga_event(&app, 2 * BURST as u32 + 20).await;
    let mut fans = Vec::new();
    for _ in 0..11 {
        fans.push(app.admitted_fan(&event).await);
    }
    let _ = burst(&app, &event, &fans, 20, 20, "warm").await;
    let (up, mut ids) = burst(&app, &event, &fans, BURST, 25, "up").await;
    server.stop();
    let (down, more) = burst(&app, &event, &fans, BURST, 25, "down").await;
    ids.extend(more);
    println!("{BURST} orders: {up:?} with the mail server up, {down:?} with it down");
    // Orders never wait for mail: the same speed (room for a busy shared machine).
    assert!(
        down <= up.mul_f64(1.5) + Duration::from_millis(500),
        "{BURST} orders took {down:?} with the mail server down, {up:?} with it up"
    );
    // Meanwhile the mails wait, none parked: the node probes the dead server with one mail at
    // a time, so most mails have not spent a single attempt.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(notifications(&app, &event, "parked").await.is_empty());
    let pending = notifications(&app, &event, "pending").await;
    let untried = pending.iter().filter(|m| m["attempts"] == 0).count();
    assert!(
        untried * 10 >= pending.len() * 9,
        "{untried} of {} waiting mails untried",
        pending.len()
    );

    server.resume();
    let total = ids.len() + 20;
    server.wait_for(total, Duration::from_secs(120)).await;
    wait_for_rows(&app, &event, "pending", |rows| rows.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = server.mails();
    assert_eq!(mails.len(), total, "one mail per order, none twice");
    let ids_seen: HashSet<&str> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(ids_seen.len(), total, "every Message-ID once");
    let counts = per_order(&mails);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "order {id}");
    }
    app.stop().await;
}

#[actix_web::test]
async fn a_451_is_retried_until_the_server_takes_the_mail() {
    let server = MailServer::start();
    server.set_rules(&json!({"greylisted@example.com": 451}));
    let app = app_for(&server, &[]).await;
    let event = ga_event(&app, 10).await;
    bought(&app, &event, "greylisted@example.com").await;
    let rows = wait_for_rows(&app, &event, "pending", |rows| {
        rows.len() == 1 && rows[0]["attempts"].as_u64() >= Some(2)
    })
    .await;
    let error = rows[0]["last_error"].as_str().unwrap();
    assert!(error.contains("451"), "{error}");
    assert!(rows[0]["next_attempt_at"].is_string());
    assert!(server.mails().is_empty());

    server.set_rules(&json!({}));
    let mails = server.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails[0].rcpt_to, "greylisted@example.com");
    let sent = wait_for_rows(&app, &event, "sent", |rows| rows.len() == 1).await;
    assert!(sent[0]["attempts"].as_u64() >= Some(3), "{sent:?}");
    app.stop().await;
}

#[actix_web::test]
async fn a_550_is_parked_with_the_reply_and_sent_after_a_retry_once_the_address_is_accepted() {
    let server = MailServer::start();
    server.set_rules(&json!({"gone@example.com": "550 5.1.1 No such user here"}));
    let app = app_for(&server, &[]).await;
    let event = ga_event(&app, 10).await;
    let order = bought(&app, &event, "gone@example.com").await;
    let parked = wait_for_rows(&app, &event, "parked", |rows| rows.len() == 1).await;
    let row = &parked[0];
    assert_eq!(row["order_id"], order["order_id"]);
    assert_eq!(row["attempts"], 1, "a refusal is not tried again by itself");
    let error = row["last_error"].as_str().unwrap();
    assert!(
        error.contains("550") && error.contains("No such user here"),
        "{error}"
    );
    let id = row["id"].as_str().unwrap().to_string();

    // Retried while still refused: parked again.
    let retried = app
        .organizer_post(&format!("/api/v1/notifications/{id}/retry"), None)
        .await;
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    let retried: Value = retried.json().await.unwrap();
    assert_eq!(retried["state"], "pending");
    assert_eq!(retried["attempts"], 0);
    wait_for_rows(&app, &event, "parked", |rows| {
        rows.len() == 1 && rows[0]["attempts"] == 1
    })
    .await;
    assert!(server.mails().is_empty());

    server.set_rules(&json!({}));
    let retried = app
        .organizer_post(&format!("/api/v1/notifications/{id}/retry"), None)
        .await;
    assert_eq!(retried.status(), StatusCode::ACCEPTED);
    let mails = server.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails[0].rcpt_to, "gone@example.com");
    let sent = wait_for_rows(&app, &event, "sent", |rows| rows.len() == 1).await;
    assert_eq!(sent[0]["id"], id.as_str(), "the same mail, not a new one");
    assert_eq!(
        mails[0].header("Message-ID").unwrap(),
        format!("<{id}@localhost>")
    );
    // A sent mail is not retried (resend makes a new one).
    let again = app
        .organizer_post(&format!("/api/v1/notifications/{id}/retry"), None)
        .await;
    assert_error(again, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    app.stop().await;
}

#[actix_web::test]
async fn two_nodes_sending_from_one_outbox_never_deliver_a_mail_twice() {
    const ORDERS: usize = 150;
    let mut server = MailServer::stopped();
    let url = server.url();
    let data = TestData::fresh().await;
    let settings = |from: &'static str| {
        let mut settings: Vec<(&str, &str)> = vec![
            ("SMTP_URL", url.as_str()),
            ("MAIL_FROM", from),
            ("MAIL_MAX_ATTEMPTS", "1000"),
            ("MAIL_CONCURRENCY", "4"),
        ];
        settings.extend_from_slice(QUICK_RETRIES);
        settings
    };
    let a = TestApp::spawn_on(data.clone(), &settings("a@nodes.test")).await;
    let b = TestApp::spawn_on(data.clone(), &settings("b@nodes.test")).await;
    let event = ga_event(&a, ORDERS as u32).await;
    let fans = vec![a.admitted_fan(&event).await, a.admitted_fan(&event).await];
    let (_, ids) = burst(&a, &event, &fans, ORDERS, 25, "two").await;
    // Both nodes have been failing to reach the server; now both race for every due mail.
    server.resume();
    server.wait_for(ORDERS, Duration::from_secs(120)).await;
    wait_for_rows(&a, &event, "pending", |rows| rows.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mails = server.mails();
    assert_eq!(mails.len(), ORDERS, "one mail per order, none twice");
    let counts = per_order(&mails);
    for id in &ids {
        assert_eq!(counts.get(id), Some(&1), "order {id}");
    }
    let senders: HashSet<&str> = mails.iter().map(|m| m.mail_from.as_str()).collect();
    println!("mails sent by: {senders:?}");
    assert_eq!(senders.len(), 2, "both nodes sent: {senders:?}");
    a.stop().await;
    b.stop().await;
}

#[actix_web::test]
async fn a_cancellation_sends_its_mail_and_the_organizer_can_resend_one() {
    let server = MailServer::start();
    let app = app_for(&server, &[]).await;
    let event = ga_event(&app, 10).await;
    let order = bought(&app, &event, "ada@example.com").await;
    let order_id = order["order_id"].as_str().unwrap();
    server.wait_for(1, MAIL_WAIT).await;
    let cancelled = app
        .organizer_post(&format!("/api/v1/orders/{order_id}/cancel"), None)
        .await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    // Cancelling again changes nothing and sends nothing more.
    app.organizer_post(&format!("/api/v1/orders/{order_id}/cancel"), None)
        .await;
    let mails = server.wait_for(2, MAIL_WAIT).await;
    let cancel = mails
        .iter()
        .find(|m| m.header("Subject").unwrap().starts_with("Order cancelled"))
        .expect("a cancellation mail");
    assert_eq!(cancel.order_id(), order_id);
    assert!(cancel.text.contains("was cancelled"), "{}", cancel.text);

    let resent = app
        .organizer_post(&format!("/api/v1/orders/{order_id}/resend"), None)
        .await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    let resent: Value = resent.json().await.unwrap();
    assert_eq!(resent["kind"], "order_cancelled", "the order as it stands");
    assert_eq!(resent["state"], "pending");
    let mails = server.wait_for(3, MAIL_WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.mails().len(), 3, "nothing sent twice");
    let message_ids: HashSet<&str> = mails
        .iter()
        .map(|m| m.header("Message-ID").unwrap())
        .collect();
    assert_eq!(message_ids.len(), 3, "a resend is a mail of its own");
    let kinds: Vec<String> = wait_for_rows(&app, &event, "sent", |rows| rows.len() == 3)
        .await
        .iter()
        .map(|r| r["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kinds,
        ["order_confirmed", "order_cancelled", "order_cancelled"]
    );
    app.stop().await;
}

#[actix_web::test]
async fn buyer_text_cannot_add_a_header_or_a_recipient() {
    let server = MailServer::start();
    let app = app_for(&server, &[]).await;
    let event = ga_event(&app, 10).await;
    let fan = app.admitted_fan(&event).await;
    for (name, email) in [
        ("Eve\r\nBcc: victim@evil.test", "eve@example.com"),
        ("Eve", "eve@example.com\r\nBcc: victim@evil.test"),
        ("Eve", "eve@example.com, victim@evil.test"),
        // No header or second recipient, but no single address either: refused at
        // checkout rather than a confirmed order whose mail can only be parked.
        ("Eve", "eve@example.com,victim.evil.test"),
    ] {
        let hold = app
            .held(&event, &fan, &json!({"tier": "floor", "quantity": 1}))
            .await;
        let refused = app
            .client
            .post(app.url(&format!(
                "/api/v1/events/{event}/holds/{}/order",
                hold_id(&hold)
            )))
            .bearer_auth(&fan)
            .header(
                "Idempotency-Key",
                format!("evil-{}", name.len() + email.len()),
            )
            .json(&json!({ "name": name, "email": email }))
            .send()
            .await
            .unwrap();
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid").await;
    }
    assert!(app.all_orders(&event).await.is_empty(), "no order was made");
    // A plain buyer still gets a mail with one To and no Bcc.
    bought(&app, &event, "ada@example.com").await;
    let mails = server.wait_for(1, MAIL_WAIT).await;
    assert_eq!(mails.len(), 1, "nothing reached the refused address");
    assert_eq!(mails[0].rcpt_to, "ada@example.com");
    assert_eq!(mails[0].count("To"), 1);
    assert_eq!(mails[0].count("Bcc"), 0);
    app.stop().await;
}

#[actix_web::test]
async fn the_mail_endpoints_refuse_bad_input_and_change_nothing() {
    let app = TestApp::spawn().await;
    let event = ga_event(&app, 10).await;
    let order = bought(&app, &event, "ada@example.com").await;
    let order_id = order["order_id"].as_str().unwrap();
    let list = |query: &str| format!("/api/v1/events/{event}/notifications{query}");
    for query in [
        "?state=lost",
        "?state=PARKED",
        "?limit=0",
        "?limit=1001",
        "?limit=many",
        "?after=nope",
        "?color=red",
    ] {
        let refused = app.organizer_get(&list(query)).await;
        assert_error(refused, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let all: Value = app.organizer_get(&list("")).await.json().await.unwrap();
    assert_eq!(all["notifications"].as_array().unwrap().len(), 1);
    assert!(all["next"].is_null());
    let first: Value = app
        .organizer_get(&list("?limit=1"))
        .await
        .json()
        .await
        .unwrap();
    let cursor = first["next"].as_str().unwrap();
    let rest: Value = app
        .organizer_get(&list(&format!("?after={cursor}")))
        .await
        .json()
        .await
        .unwrap();
    assert!(rest["notifications"].as_array().unwrap().is_empty());
    let unknown = uuid::Uuid::now_v7();
    for (path, status, code) in [
        (
            format!("/api/v1/events/{unknown}/notifications"),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/events/not-an-id/notifications".into(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ] {
        assert_error(app.organizer_get(&path).await, status, code).await;
    }
    let anonymous = app.client.get(app.url(&list(""))).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;

    for path in [
        format!("/api/v1/notifications/{unknown}/retry"),
        "/api/v1/notifications/not-an-id/retry".to_string(),
        format!("/api/v1/orders/{unknown}/resend"),
        "/api/v1/orders/not-an-id/resend".to_string(),
    ] {
        assert_error(
            app.organizer_post(&path, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    let row = all["notifications"][0]["id"].as_str().unwrap();
    for path in [
        format!("/api/v1/notifications/{row}/retry"),
        format!("/api/v1/orders/{order_id}/resend"),
    ] {
        let get = app.organizer_get(&path).await;
        assert_error(get, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
        let anonymous = app.client.post(app.url(&path)).send().await.unwrap();
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "unauthorized").await;
    }
    let post_list = app.organizer_post(&list(""), None).await;
    assert_error(
        post_list,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    // Nothing above added or changed a mail.
    let after: Value = app.organizer_get(&list("")).await.json().await.unwrap();
    assert_eq!(after["notifications"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[actix_web::test]
async fn every_mail_failure_reason_is_a_series_from_the_start() {
    let app = TestApp::spawn().await;
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = app.get_text("/metrics").await;
        if metrics.contains("mail_failed_total{") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Most reasons never happen in these tests: their series are there because the sender
    // made them.
    for reason in floodgate::mail::message::reason::ALL {
        assert!(
            metrics.contains(&format!("mail_failed_total{{reason=\"{reason}\"}}")),
            "{reason}: {metrics}"
        );
    }
    assert!(metrics.contains("mail_sent_total"));
    app.stop().await;
}
