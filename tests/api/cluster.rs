//! One owner per event across nodes sharing Redis and Postgres, with requests spread round
//! robin and no routing help: every node forwards what needs the inventory to the event's
//! owner, reads never start an actor, a pause or a cancel through any node holds everywhere
//! at once, and when the owner dies (`SIGKILL`) or stalls past its lease (`SIGSTOP`) another
//! node takes over, fenced so the old owner can never commit again. Real phase only.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

/// A short lease, so takeovers in tests take a second or two.
pub const LEASE_MS: &str = "1500";

/// Nodes taken in turn, as a round-robin load balancer would.
pub struct RoundRobin {
    pub bases: Vec<String>,
    next: AtomicUsize,
}

impl RoundRobin {
    fn new(bases: Vec<String>) -> Self {
        RoundRobin {
            bases,
            next: AtomicUsize::new(0),
        }
    }

    pub fn base(&self) -> &str {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.bases[i % self.bases.len()]
    }
}

/// Joins through one node and polls through the others in turn until admitted.
pub async fn admitted_round_robin(
    client: &reqwest::Client,
    nodes: &RoundRobin,
    event: &str,
) -> String {
    let joined: Value = client
        .post(format!("{}/api/v1/events/{event}/queue", nodes.base()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    if let Some(admission) = joined["admission"].as_str() {
        return admission.to_string();
    }
    let ticket = joined["ticket"].as_str().expect("a ticket").to_string();
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let status = client
            .get(format!("{}/api/v1/events/{event}/queue", nodes.base()))
            .bearer_auth(&ticket)
            .send()
            .await
            .unwrap();
        if status.status() != StatusCode::OK {
            continue; // a 503 while an owner is found: poll again
        }
        let status: Value = status.json().await.unwrap();
        if let Some(admission) = status["admission"].as_str() {
            return admission.to_string();
        }
    }
    panic!("not admitted in time");
}

async fn three_nodes(extra: &[(&str, &str)]) -> (TestData, Vec<TestApp>) {
    let data = TestData::fresh().await;
    let mut settings = vec![("LEASE_MS", LEASE_MS)];
    settings.extend_from_slice(extra);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(TestApp::spawn_on(data.clone(), &settings).await);
    }
    (data, nodes)
}

pub fn round_robin(nodes: &[TestApp]) -> RoundRobin {
    RoundRobin::new(nodes.iter().map(|n| n.base.clone()).collect())
}

pub async fn hold_at(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    admission: &str,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/events/{event}/holds"))
        .bearer_auth(admission)
        .json(body)
        .send()
        .await
        .unwrap()
}

pub async fn order_at(
    client: &reqwest::Client,
    base: &str,
    event: &str,
    admission: &str,
    hold: &str,
    key: &str,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/events/{event}/holds/{hold}/order"))
        .bearer_auth(admission)
        .header("Idempotency-Key", key)
        .json(&json!({"name": "Fan", "email": "fan@example.com"}))
        .send()
        .await
        .unwrap()
}

#[actix_web::test]
#[ignore = "needs nodes sharing Redis: scripts/test runs it in the real phase"]
async fn three_nodes_round_robin_sell_every_item_once() {
    assert_eq!(backend(), Backend::Real, "nodes must share Redis");
    let (_data, nodes) = three_nodes(&[]).await;
    let mut spec = event_spec(3, 20, 140);
    spec["max_per_order"] = json!(2);
    let event = nodes[1].event(&spec).await;
    let rr = round_robin(&nodes);
    let client = client();
    let sold = join_all((0..300).map(|i| {
        let (client, rr, event) = (&client, &rr, &event);
        async move {
            let fan = admitted_round_robin(client, rr, event).await;
            let body = if i % 2 == 0 {
                let seat = (i / 2) % 60;
                json!({"seats": [format!("A-{}-{}", seat / 20 + 1, seat % 20 + 1)]})
            } else {
                json!({"tier": "floor", "quantity": 2})
            };
            let hold = hold_at(client, rr.base(), event, &fan, &body).await;
            match hold.status() {
                StatusCode::CREATED => {}
                StatusCode::CONFLICT => return None,
                other => panic!("hold: {other} {:?}", hold.text().await),
            }
            let hold: Value = hold.json().await.unwrap();
            let order = order_at(
                client,
                rr.base(),
                event,
                &fan,
                hold_id(&hold),
                &format!("rr-{i}"),
            )
            .await;
            assert_eq!(
                order.status(),
                StatusCode::CREATED,
                "{:?}",
                order.text().await
            );
            Some(order.json::<Value>().await.unwrap())
        }
    }))
    .await;
    let confirmed: Vec<Value> = sold.into_iter().flatten().collect();
    let orders = nodes[2].all_orders(&event).await;
    assert_eq!(orders.len(), confirmed.len(), "every 201 is an order");
    let mut items = HashSet::new();
    for order in &orders {
        for item in order["items"].as_array().unwrap() {
            assert!(
                items.insert(item["id"].as_str().unwrap().to_string()),
                "sold twice: {item}"
            );
        }
    }
    assert_eq!(items.len(), 60 + 140, "every item sold, once");
    let owners: usize = nodes.iter().map(|n| n.state.sale.actors()).sum();
    assert_eq!(owners, 1, "one node ran the event's actor");
    for node in nodes {
        node.stop().await;
    }
}

#[actix_web::test]
#[ignore = "needs nodes sharing Redis: scripts/test runs it in the real phase"]
async fn a_pause_or_a_cancel_through_any_node_holds_on_all_at_once() {
    assert_eq!(backend(), Backend::Real, "nodes must share Redis");
    let (_data, nodes) = three_nodes(&[]).await;
    let event = nodes[0].event(&event_spec(1, 5, 5)).await;
    let client = client();
    let rr = round_robin(&nodes);
    // A fan buys A-1-1 through node 0; the organizer cancels through node 2; the next fan
    // holds A-1-1 through node 1 at once.
    let first = admitted_round_robin(&client, &rr, &event).await;
    let hold = created(
        hold_at(
            &client,
            &nodes[0].base,
            &event,
            &first,
            &json!({"seats": ["A-1-1"]}),
        )
        .await,
    )
    .await;
    let order = order_at(
        &client,
        &nodes[0].base,
        &event,
        &first,
        hold_id(&hold),
        "c1",
    )
    .await;
    let order: Value = created(order).await;
    let cancel = client
        .post(format!(
            "{}/api/v1/orders/{}/cancel",
            nodes[2].base,
            order["order_id"].as_str().unwrap()
        ))
        .bearer_auth(ORGANIZER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), StatusCode::OK);
    let second = admitted_round_robin(&client, &rr, &event).await;
    let again = hold_at(
        &client,
        &nodes[1].base,
        &event,
        &second,
        &json!({"seats": ["A-1-1"]}),
    )
    .await;
    let held = created(again).await;

    // A pause through node 0 stops holds and orders on every node at once.
    let paused = client
        .post(format!("{}/api/v1/events/{event}/pause", nodes[0].base))
        .bearer_auth(ORGANIZER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(paused.status(), StatusCode::OK);
    for node in &nodes {
        let refused = hold_at(
            &client,
            &node.base,
            &event,
            &second,
            &json!({"seats": ["A-1-2"]}),
        )
        .await;
        assert_error(refused, StatusCode::CONFLICT, "sale_not_open").await;
        let refused = order_at(
            &client,
            &node.base,
            &event,
            &second,
            hold_id(&held),
            "paused",
        )
        .await;
        assert_error(refused, StatusCode::CONFLICT, "sale_not_open").await;
    }
    for node in nodes {
        node.stop().await;
    }
}

#[actix_web::test]
#[ignore = "needs nodes sharing Redis: scripts/test runs it in the real phase"]
async fn reads_on_a_node_that_does_not_own_the_event_start_no_actor() {
    assert_eq!(backend(), Backend::Real, "nodes must share Redis");
    let (_data, nodes) = three_nodes(&[]).await;
    let event = nodes[0].event(&event_spec(1, 5, 5)).await;
    let fan = nodes[0].admitted_fan(&event).await;
    let hold = nodes[0].held_seats(&event, &fan, &["A-1-1", "A-1-2"]).await;
    nodes[0].buy(&event, &fan, &hold, "read", "Ada").await;
    let owner = nodes
        .iter()
        .position(|n| n.state.sale.actors() == 1)
        .expect("an owner");
    let other = &nodes[(owner + 1) % 3];
    for path in [
        "/",
        "/api/v1/events",
        &format!("/events/{event}"),
        &format!("/api/v1/events/{event}"),
    ] {
        let response = other.client.get(other.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // The owner publishes its counts each pacer tick: another node reads them within a few.
    let started = Instant::now();
    let stats = loop {
        let stats = other.stats(&event).await;
        if stats["sold"] == 2 || started.elapsed() > Duration::from_secs(3) {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        stats["sold"], 2,
        "the owner's counts, read elsewhere: {stats}"
    );
    assert_eq!(other.state.sale.actors(), 0, "no actor started for a read");
    for node in nodes {
        node.stop().await;
    }
}

/// Whether a node owns any event (the tests give it one).
async fn owns_an_event(node: &Process) -> bool {
    metrics_at(&client(), &node.base)
        .await
        .lines()
        .any(|l| l.starts_with("owned_events ") && !l.ends_with(" 0"))
}

/// Asks through `base` until a call answers something other than `503` (a takeover in
/// progress); returns the answer and how long it took.
async fn until_served(
    request: impl Fn() -> reqwest::RequestBuilder,
) -> (reqwest::Response, Duration) {
    let started = Instant::now();
    loop {
        let response = request().send().await.unwrap();
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            return (response, started.elapsed());
        }
        assert!(
            response.headers().contains_key("retry-after"),
            "a 503 says when to come back"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[actix_web::test]
#[ignore = "needs nodes sharing Redis: scripts/test runs it in the real phase"]
async fn when_the_owner_is_killed_another_node_serves_and_no_order_is_lost() {
    assert_eq!(backend(), Backend::Real, "nodes must share Redis");
    let data = TestData::fresh().await;
    let extra = [("LEASE_MS", LEASE_MS)];
    let a = Process::start(&data, &extra).await;
    let b = Process::start(&data, &extra).await;
    let client = client();
    let spec = event_spec(2, 10, 20);
    let made = client
        .post(format!("{}/api/v1/events", a.base))
        .bearer_auth(ORGANIZER_TOKEN)
        .json(&spec)
        .send()
        .await
        .unwrap();
    let event = created_id(made).await;
    // Sales through A, which owns the event.
    let mut confirmed = Vec::new();
    for i in 0..5 {
        let fan = admit(&client, &a.base, &event).await.unwrap();
        let hold = created(
            hold_at(
                &client,
                &a.base,
                &event,
                &fan,
                &json!({"seats": [format!("A-1-{}", i + 1)]}),
            )
            .await,
        )
        .await;
        let order = order_at(
            &client,
            &a.base,
            &event,
            &fan,
            hold_id(&hold),
            &format!("k{i}"),
        )
        .await;
        confirmed.push(created(order).await["order_id"].clone());
    }
    assert!(owns_an_event(&a).await, "A took the event");
    // An open hold on A, then A dies.
    let fan = admit(&client, &a.base, &event).await.unwrap();
    let lost =
        created(hold_at(&client, &a.base, &event, &fan, &json!({"seats": ["A-2-1"]})).await).await;
    a.signal("KILL");
    // B answers 503 with Retry-After until A's lease runs out, then serves.
    let (seats, gap) = until_served(|| {
        client
            .get(format!("{}/api/v1/events/{event}/seats", b.base))
            .bearer_auth(&fan)
    })
    .await;
    assert_eq!(seats.status(), StatusCode::OK);
    assert!(
        gap < Duration::from_millis(1500 + 5000),
        "served again after {gap:?}"
    );
    eprintln!("failover gap seen by a client: {gap:?}");
    let seats: Value = seats.json().await.unwrap();
    let status = |id: &str| {
        seats["seats"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("A-1-1"), "sold", "confirmed orders survive");
    assert_eq!(
        status("A-2-1"),
        "free",
        "a hold that lived in A's memory is gone"
    );
    let gone = order_at(&client, &b.base, &event, &fan, hold_id(&lost), "lost").await;
    assert_error(gone, StatusCode::GONE, "hold_expired").await;
    let orders = orders_at(&client, &b.base, &event).await;
    let listed: Vec<&Value> = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["order_id"])
        .collect();
    for id in &confirmed {
        assert!(listed.contains(&id), "order {id} kept");
    }
}

#[actix_web::test]
#[ignore = "needs nodes sharing Redis: scripts/test runs it in the real phase"]
async fn a_stalled_owner_is_fenced_and_stops_serving_the_event() {
    assert_eq!(backend(), Backend::Real, "nodes must share Redis");
    let data = TestData::fresh().await;
    // A commits slowly, so an order is in flight while it stalls.
    let a = Process::start(
        &data,
        &[("LEASE_MS", LEASE_MS), ("COMMIT_SLOWDOWN_MS", "2500")],
    )
    .await;
    let b = Process::start(&data, &[("LEASE_MS", LEASE_MS)]).await;
    let client = client();
    let event = created_id(
        client
            .post(format!("{}/api/v1/events", a.base))
            .bearer_auth(ORGANIZER_TOKEN)
            .json(&event_spec(1, 5, 5))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let fan = admit(&client, &a.base, &event).await.unwrap();
    let hold =
        created(hold_at(&client, &a.base, &event, &fan, &json!({"seats": ["A-1-1"]})).await).await;
    let pending = {
        let (client, base, event, fan, hold) = (
            client.clone(),
            a.base.clone(),
            event.clone(),
            fan.clone(),
            hold_id(&hold).to_string(),
        );
        tokio::spawn(async move {
            order_at(&client, &base, &event, &fan, &hold, "stalled")
                .await
                .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.signal("STOP");
    // B takes over once A's lease expires and sells A-1-1 to another fan.
    let other = admit(&client, &b.base, &event).await.unwrap();
    let (held, _) = until_served(|| {
        client
            .post(format!("{}/api/v1/events/{event}/holds", b.base))
            .bearer_auth(&other)
            .json(&json!({"seats": ["A-1-1"]}))
    })
    .await;
    let held = created(held).await;
    created(
        order_at(
            &client,
            &b.base,
            &event,
            &other,
            hold_id(&held),
            "taken-over",
        )
        .await,
    )
    .await;
    // A wakes: its pending commit is refused by the epoch, and it forwards to B from now on.
    a.signal("CONT");
    let answered = pending.await.unwrap();
    assert_eq!(
        answered,
        StatusCode::SERVICE_UNAVAILABLE,
        "the stalled commit is fenced"
    );
    let orders = orders_at(&client, &b.base, &event).await;
    assert_eq!(
        orders["orders"].as_array().unwrap().len(),
        1,
        "A-1-1 sold once: {orders}"
    );
    let (seats, _) = until_served(|| {
        client
            .get(format!("{}/api/v1/events/{event}/seats", a.base))
            .bearer_auth(&other)
    })
    .await;
    assert_eq!(seats.status(), StatusCode::OK);
    let metrics = metrics_at(&client, &a.base).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("fenced_commits_total") && !l.ends_with(" 0")),
        "A counted the fenced commit"
    );
    assert!(!owns_an_event(&a).await, "A stopped serving the event");
}

async fn created_id(response: reqwest::Response) -> String {
    created(response).await["id"].as_str().unwrap().to_string()
}

/// An event's first page of orders, as the organizer reads it from the node at `base`.
async fn orders_at(client: &reqwest::Client, base: &str, event: &str) -> Value {
    let response = client
        .get(format!("{base}/api/v1/events/{event}/orders"))
        .bearer_auth(ORGANIZER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The `/metrics` text of the node at `base` (empty when it does not answer).
async fn metrics_at(client: &reqwest::Client, base: &str) -> String {
    match client.get(format!("{base}/metrics")).send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}
