//! One request of a simulated client, sent through goose (so goose counts it in its report)
//! and recorded in the run's own histograms with the pace its sender meant to keep.

use std::time::{Duration, Instant};

use goose::prelude::*;
use serde::de::DeserializeOwned;

use crate::run::Run;

/// Wait before retrying when a refusal carries no usable `Retry-After`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(2);

/// An answer, or the absence of one, with when the request left and when the answer was in.
pub struct Answer {
    /// `None`: no answer (connection refused or reset, timeout).
    pub status: Option<u16>,
    pub body: String,
    pub retry_after: Option<Duration>,
    /// Seconds since the start of the run.
    pub sent: f64,
    pub done: f64,
}

impl Answer {
    /// The body as `T`, if it is one.
    pub fn json<T: DeserializeOwned>(&self) -> Option<T> {
        serde_json::from_str(&self.body).ok()
    }

    /// The `error` code of a refusal (`docs/api.md`), or "" when the body has none.
    pub fn error_code(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// The item ids a `409 unavailable` names as taken.
    pub fn unavailable(&self) -> Vec<String> {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| {
                v["unavailable"].as_array().map(|ids| {
                    ids.iter()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect()
                })
            })
            .unwrap_or_default()
    }

    /// How long a well-behaved client waits before retrying.
    pub fn retry_after(&self) -> Duration {
        self.retry_after.unwrap_or(DEFAULT_RETRY_AFTER)
    }

    /// A short description for a fan's record.
    pub fn describe(&self) -> String {
        match self.status {
            None => "no answer".to_owned(),
            Some(s) => format!("{s} {}", self.error_code()),
        }
    }
}

/// A request being put together.
pub struct Call<'a> {
    endpoint: &'static str,
    method: GooseMethod,
    path: String,
    address: Option<&'a str>,
    bearer: Option<&'a str>,
    json: Option<serde_json::Value>,
    headers: Vec<(&'static str, String)>,
    interval: Option<Duration>,
    held_open: bool,
}

impl<'a> Call<'a> {
    /// A request to `path`, counted under `endpoint`.
    pub fn new(endpoint: &'static str, method: GooseMethod, path: String) -> Self {
        Call {
            endpoint,
            method,
            path,
            address: None,
            bearer: None,
            json: None,
            headers: Vec::new(),
            interval: None,
            held_open: false,
        }
    }

    /// Sent as if from `address` (`X-Forwarded-For`), when given.
    pub fn sent_from(mut self, address: Option<&'a str>) -> Self {
        self.address = address;
        self
    }

    /// With `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: Option<&'a str>) -> Self {
        self.bearer = token;
        self
    }

    /// With a JSON body.
    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.json = Some(body);
        self
    }

    /// With one more header.
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The pace the sender meant to keep, for the coordinated-omission correction.
    pub fn paced(mut self, interval: Duration) -> Self {
        self.interval = Some(interval);
        self
    }

    /// A long poll: it holds a connection of its own while the server keeps it, outside the
    /// bounded pool of working requests (as a CDN keeps streamed answers out of its pool).
    pub fn held_open(mut self) -> Self {
        self.held_open = true;
        self
    }

    /// Sends it as `user` and records it.
    pub async fn send(self, user: &mut GooseUser, run: &Run) -> Answer {
        // Waiting for a connection is the generator's queue, not the server's: the clock
        // starts once the request can go (the correction still charges a late answer
        // against its sender's pace).
        let _connection = if self.held_open {
            None
        } else {
            run.connections.acquire().await.ok()
        };
        let started = Instant::now();
        let sent = run.rec.secs(started);
        let (status, body, retry_after) = match self.request(user).await {
            Some(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                match response.text().await {
                    Ok(body) => (Some(status), body, retry_after),
                    Err(_) => (None, String::new(), None),
                }
            }
            None => (None, String::new(), None),
        };
        let done = Instant::now();
        run.rec
            .record(self.endpoint, done, done - started, status, self.interval);
        Answer {
            status,
            body,
            retry_after,
            sent,
            done: run.rec.secs(done),
        }
    }

    async fn request(&self, user: &mut GooseUser) -> Option<reqwest::Response> {
        let mut builder = user.get_request_builder(&self.method, &self.path).ok()?;
        if let Some(address) = self.address {
            builder = builder.header("X-Forwarded-For", address);
        }
        if let Some(token) = self.bearer {
            builder = builder.bearer_auth(token);
        }
        if let Some(body) = &self.json {
            builder = builder.json(body);
        }
        for (name, value) in &self.headers {
            builder = builder.header(*name, value);
        }
        let request = GooseRequest::builder()
            .method(self.method)
            .path(self.path.as_str())
            .name(self.endpoint)
            .set_request_builder(builder)
            .build();
        user.request(request).await.ok()?.response.ok()
    }
}
