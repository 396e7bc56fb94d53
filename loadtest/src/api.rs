//! The organizer's side of the public HTTP API (`docs/api.md`): create or read the event, sample
//! its stats while the sale runs, and read every order back for the audit.
//!
//! Errors here end the run before or after the load, so they say plainly what is wrong
//! (target unreachable, token refused, unknown event) rather than dumping a status code.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::audit::ListedOrder;

/// Most orders one page of the organizer's list may hold (`docs/api.md`).
const ORDER_PAGE: u32 = 1000;
/// How long one organizer call may take.
const ORGANIZER_TIMEOUT: Duration = Duration::from_secs(30);

/// A tier of the event as `GET /api/v1/events/{id}` shows it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TierView {
    pub id: String,
    pub capacity: u64,
    #[serde(default)]
    pub sold: u64,
    #[serde(default)]
    pub held: u64,
    #[serde(default)]
    pub available: u64,
    #[serde(default)]
    pub seated: bool,
}

/// The admission settings of an event.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct Admission {
    pub rate_per_minute: u32,
    pub max_active: u32,
    pub admission_ttl_secs: u32,
}

/// The event, as far as the load test needs it.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct EventView {
    pub id: String,
    pub name: String,
    pub state: String,
    #[serde(default)]
    pub sale_opens_at: Option<chrono::DateTime<chrono::Utc>>,
    pub max_per_order: u32,
    pub hold_ttl_secs: u32,
    pub admission: Admission,
    #[serde(default)]
    pub pow_difficulty_bits: u8,
    pub tiers: Vec<TierView>,
    /// Reserved seating blocks, in order (the seat map's layout).
    #[serde(default)]
    pub seating: Vec<crate::seats::Block>,
}

impl EventView {
    /// Capacity per tier (seating blocks count under their tier).
    pub fn capacity(&self) -> BTreeMap<String, u64> {
        self.tiers
            .iter()
            .map(|t| (t.id.clone(), t.capacity))
            .collect()
    }
}

/// `GET /api/v1/events/{id}/stats`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Stats {
    pub waiting: u64,
    pub admitted_total: u64,
    pub active_shoppers: u64,
    pub admission_rate_per_minute: f64,
    pub sold: u64,
    pub held: u64,
    pub available: u64,
    pub orders: u64,
    #[serde(default)]
    pub rejected_rate_limited: u64,
    #[serde(default)]
    pub rejected_not_admitted: u64,
    #[serde(default)]
    pub rejected_pow: u64,
    #[serde(default)]
    pub skipped_no_shows: u64,
    #[serde(default)]
    pub state: String,
}

#[derive(Deserialize)]
struct OrderPage {
    orders: Vec<ListedOrder>,
    next: Option<String>,
}

/// The organizer's client for one target.
#[derive(Clone)]
pub struct Organizer {
    http: reqwest::Client,
    base: String,
    token: String,
}

/// The `{"error", "message"}` body of a refusal, shown in our errors.
fn refusal(status: reqwest::StatusCode, body: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(v) => format!(
            "{status} {}: {}",
            v["error"].as_str().unwrap_or("?"),
            v["message"].as_str().unwrap_or(body)
        ),
        Err(_) => format!("{status}: {}", body.chars().take(200).collect::<String>()),
    }
}

impl Organizer {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`) with the organizer token.
    pub fn new(base: &str, token: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(ORGANIZER_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Organizer {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /healthz`: is anything Floodgate-like answering at the target?
    pub async fn check_reachable(&self) -> Result<()> {
        let url = self.url("/healthz");
        let response = self.http.get(&url).send().await.map_err(|e| {
            anyhow!("cannot reach the target at {url}: {e} (is the server running, and is --target right?)")
        })?;
        if !response.status().is_success() {
            bail!(
                "the target answered {} on {url}: is it a Floodgate server?",
                response.status()
            );
        }
        Ok(())
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> Result<String> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("{what}: request failed"))?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!(
                "{what}: the server refused the organizer token ({}); pass the server's ORGANIZER_TOKEN with --organizer-token",
                refusal(status, &body)
            );
        }
        if !status.is_success() {
            bail!("{what}: {}", refusal(status, &body));
        }
        Ok(body)
    }

    /// `GET /metrics` (Prometheus text), or `None` where the deployment does not expose it.
    pub async fn metrics(&self) -> Option<String> {
        let response = self.http.get(self.url("/metrics")).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.text().await.ok()
    }

    /// `POST /api/v1/events` with `spec`.
    pub async fn create_event(&self, spec: &serde_json::Value) -> Result<EventView> {
        let body = self
            .send(
                self.http.post(self.url("/api/v1/events")).json(spec),
                "creating the event",
            )
            .await?;
        serde_json::from_str(&body).context("reading the created event")
    }

    /// `GET /api/v1/events/{id}`.
    pub async fn event(&self, id: &str) -> Result<EventView> {
        let body = self
            .send(
                self.http.get(self.url(&format!("/api/v1/events/{id}"))),
                &format!("reading event {id}"),
            )
            .await?;
        serde_json::from_str(&body).with_context(|| format!("reading event {id}"))
    }

    /// `GET /api/v1/events/{id}/stats`.
    pub async fn stats(&self, id: &str) -> Result<Stats> {
        let body = self
            .send(
                self.http
                    .get(self.url(&format!("/api/v1/events/{id}/stats"))),
                "reading the event's stats",
            )
            .await?;
        serde_json::from_str(&body).context("reading the event's stats")
    }

    /// Every order of the event, page by page, oldest first.
    pub async fn orders(&self, id: &str) -> Result<Vec<ListedOrder>> {
        let mut all = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/events/{id}/orders?limit={ORDER_PAGE}");
            if let Some(cursor) = &after {
                url.push_str("&after=");
                url.push_str(cursor);
            }
            let body = self
                .send(self.http.get(self.url(&url)), "listing the orders")
                .await?;
            let page: OrderPage = serde_json::from_str(&body).context("reading the orders")?;
            all.extend(page.orders);
            match page.next {
                Some(cursor) => after = Some(cursor),
                None => return Ok(all),
            }
        }
    }
}
