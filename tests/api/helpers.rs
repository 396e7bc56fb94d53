//! A real Floodgate on port 0 for each test, on the backends `FLOODGATE_TEST_BACKEND` names:
//! `embedded` (SQLite file + in-process line, the default) or `real` (a fresh Postgres
//! database per test on `FLOODGATE_TEST_POSTGRES_URL`, and a fresh key prefix on
//! `FLOODGATE_TEST_REDIS_URL`). `scripts/test` runs the suite once with each.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Duration, Utc};
use floodgate::clock::ShiftedClock;
use floodgate::config::Settings;
use floodgate::startup::{Application, Stopper};
use floodgate::web::AppState;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

pub const ORGANIZER_TOKEN: &str = "test-organizer-token-0123456789abcdef";
pub const SECRET_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/// Which backends the suite runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Real,
}

pub fn backend() -> Backend {
    match std::env::var("FLOODGATE_TEST_BACKEND").as_deref() {
        Ok("real") => Backend::Real,
        Ok("embedded") | Err(_) => Backend::Embedded,
        Ok(other) => panic!("FLOODGATE_TEST_BACKEND={other:?}: use embedded or real"),
    }
}

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} must be set for FLOODGATE_TEST_BACKEND=real (scripts/test sets it)")
    })
}

/// Where a test's data lives; several apps may share one (restart, split brain).
#[derive(Clone, Debug)]
pub struct TestData {
    pub database_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub data_dir: std::path::PathBuf,
}

impl TestData {
    /// A fresh database (and Redis prefix) for one test.
    pub async fn fresh() -> TestData {
        let id = Uuid::new_v4().simple().to_string();
        let data_dir = std::env::temp_dir().join(format!("floodgate-test-{id}"));
        std::fs::create_dir_all(&data_dir).unwrap();
        match backend() {
            Backend::Embedded => TestData {
                database_url: format!("sqlite://{}/floodgate.db", data_dir.display()),
                redis_url: None,
                redis_prefix: format!("t{id}"),
                data_dir,
            },
            Backend::Real => {
                let admin = required("FLOODGATE_TEST_POSTGRES_URL");
                let name = format!("fg_test_{id}");
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .expect("connecting to the test Postgres");
                sqlx::Executor::execute(
                    &mut conn,
                    sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")),
                )
                .await
                .expect("creating the test database");
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                TestData {
                    database_url: format!("{base}/{name}"),
                    redis_url: Some(required("FLOODGATE_TEST_REDIS_URL")),
                    redis_prefix: format!("t{id}"),
                    data_dir,
                }
            }
        }
    }

    /// Settings for an app on this data, with extra variables on top.
    pub fn settings(&self, extra: &[(&str, &str)]) -> Settings {
        let mut vars: HashMap<String, String> = HashMap::from([
            ("BIND_ADDR".into(), "127.0.0.1:0".into()),
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("DATA_DIR".into(), self.data_dir.display().to_string()),
            ("SECRET_KEY".into(), SECRET_KEY.into()),
            ("ORGANIZER_TOKEN".into(), ORGANIZER_TOKEN.into()),
            ("SEED_DEMO".into(), "false".into()),
            ("WORKERS".into(), "2".into()),
            ("REDIS_PREFIX".into(), self.redis_prefix.clone()),
            // The tests' clients all come from loopback: exempt it, as an operator would a
            // load generator (tests of the limits name their own).
            ("RATE_LIMIT_EXEMPT".into(), "127.0.0.0/8,::1".into()),
        ]);
        if let Some(url) = &self.redis_url {
            vars.insert("REDIS_URL".into(), url.clone());
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings")
    }
}

/// One running app and a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ShiftedClock>,
    pub data: TestData,
    #[allow(dead_code)] // reached by tests that inspect the stores directly
    pub state: actix_web::web::Data<AppState>,
    stopper: Stopper,
}

impl TestApp {
    /// A fresh app on fresh data.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// A fresh app on fresh data, with extra settings.
    pub async fn spawn_with(extra: &[(&str, &str)]) -> TestApp {
        let data = TestData::fresh().await;
        Self::spawn_on(data, extra).await
    }

    /// An app on existing data (a second node, or a restart).
    pub async fn spawn_on(data: TestData, extra: &[(&str, &str)]) -> TestApp {
        if std::env::var_os("TEST_LOG").is_some() {
            floodgate::telemetry::init_logs("info,sqlx=warn");
        }
        let settings = data.settings(extra);
        let clock = Arc::new(ShiftedClock::new());
        let app = Application::build_with_clock(settings, clock.clone())
            .await
            .expect("building the app");
        let base = format!("http://{}", app.addr());
        let stopper = app.stopper();
        let state = app.state();
        actix_web::rt::spawn(app.run_until_stopped());
        TestApp {
            base,
            client: client(),
            clock,
            data,
            state,
            stopper,
        }
    }

    /// Stops the node completely: the server (in-flight requests finish first), its pacer,
    /// its limiter sweep and its actors.
    pub async fn stop(self) {
        self.stopper.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The app's clock now.
    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        floodgate::clock::Clock::now(self.clock.as_ref())
    }

    /// Moves the app's clock forward.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// `POST /api/v1/events` as the organizer.
    pub async fn create_event(&self, spec: &Value) -> Response {
        self.client
            .post(self.url("/api/v1/events"))
            .bearer_auth(ORGANIZER_TOKEN)
            .json(spec)
            .send()
            .await
            .unwrap()
    }

    /// Creates an event and returns its id (panics unless 201).
    pub async fn event(&self, spec: &Value) -> String {
        let response = self.create_event(spec).await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "{:?}",
            response.text().await
        );
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub async fn organizer_get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .bearer_auth(ORGANIZER_TOKEN)
            .send()
            .await
            .unwrap()
    }

    pub async fn organizer_post(&self, path: &str, body: Option<&Value>) -> Response {
        let mut request = self
            .client
            .post(self.url(path))
            .bearer_auth(ORGANIZER_TOKEN);
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.unwrap()
    }

    /// Joins the line: returns the join response's JSON.
    pub async fn join_queue(&self, event: &str) -> Value {
        let response = self
            .client
            .post(self.url(&format!("/api/v1/events/{event}/queue")))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "join: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Joins the line and waits until admitted: returns the admission token.
    pub async fn admitted_fan(&self, event: &str) -> String {
        admit(&self.client, &self.base, event)
            .await
            .expect("admitted in time")
    }

    /// A fan's status with their ticket.
    pub async fn queue_status(&self, event: &str, ticket: &str) -> Value {
        self.client
            .get(self.url(&format!("/api/v1/events/{event}/queue")))
            .bearer_auth(ticket)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `POST …/holds` with a JSON body and an admission.
    pub async fn hold(&self, event: &str, admission: &str, body: &Value) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/events/{event}/holds")))
            .bearer_auth(admission)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Holds places and returns the hold's JSON (panics unless the answer is 201).
    pub async fn held(&self, event: &str, admission: &str, body: &Value) -> Value {
        created(self.hold(event, admission, body).await).await
    }

    /// Holds seats by id and returns the hold's JSON (panics unless the answer is 201).
    pub async fn held_seats(&self, event: &str, admission: &str, seats: &[&str]) -> Value {
        self.held(event, admission, &json!({ "seats": seats }))
            .await
    }

    /// Holds seats by id.
    pub async fn hold_seats(&self, event: &str, admission: &str, seats: &[&str]) -> Response {
        self.hold(event, admission, &json!({ "seats": seats }))
            .await
    }

    /// `POST …/holds/{hold}/order` with a key.
    pub async fn place_order(
        &self,
        event: &str,
        admission: &str,
        hold: &str,
        key: &str,
        name: &str,
    ) -> Response {
        self.client
            .post(self.url(&format!("/api/v1/events/{event}/holds/{hold}/order")))
            .bearer_auth(admission)
            .header("Idempotency-Key", key)
            .json(&json!({ "name": name, "email": "fan@example.com" }))
            .send()
            .await
            .unwrap()
    }

    /// Orders a hold (the JSON of a `POST …/holds` answer): returns the order (panics unless 201).
    pub async fn buy(
        &self,
        event: &str,
        admission: &str,
        hold: &Value,
        key: &str,
        name: &str,
    ) -> Value {
        let order = self
            .place_order(event, admission, hold_id(hold), key, name)
            .await;
        assert_eq!(order.status(), StatusCode::CREATED);
        order.json().await.unwrap()
    }

    /// Every order of an event, through the organizer API's pages.
    pub async fn all_orders(&self, event: &str) -> Vec<Value> {
        let mut orders = Vec::new();
        let mut after = String::new();
        loop {
            let page: Value = self
                .organizer_get(&format!(
                    "/api/v1/events/{event}/orders?limit=1000&after={after}"
                ))
                .await
                .json()
                .await
                .unwrap();
            orders.extend(page["orders"].as_array().unwrap().iter().cloned());
            match page["next"].as_str() {
                Some(next) => after = next.to_string(),
                None => return orders,
            }
        }
    }

    /// Any GET as JSON, without credentials.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Any GET as text, without credentials (a page, `/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// `GET /api/v1/events`: the listed events.
    pub async fn events(&self) -> Vec<Value> {
        self.get_json("/api/v1/events").await["events"]
            .as_array()
            .expect("an events array")
            .clone()
    }

    /// The organizer's stats of an event.
    pub async fn stats(&self, event: &str) -> Value {
        self.organizer_get(&format!("/api/v1/events/{event}/stats"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// `GET /api/v1/events/{id}` as JSON.
    pub async fn event_view(&self, event: &str) -> Value {
        self.get_json(&format!("/api/v1/events/{event}")).await
    }
}

/// A client with a large connection pool and no cookie store (tokens go in headers).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A small event: two seat blocks of the given size and one GA tier, on sale now.
pub fn event_spec(rows: u32, seats_per_row: u32, ga: u32) -> Value {
    let starts = (Utc::now() + Duration::days(30)).to_rfc3339();
    json!({
        "name": "Test Night",
        "venue": "Test Hall",
        "starts_at": starts,
        "max_per_order": 6,
        "hold_ttl_secs": 120,
        "admission": { "rate_per_minute": 60000, "max_active": 100000, "admission_ttl_secs": 600 },
        "tiers": [ { "id": "floor", "name": "Floor", "price_cents": 5000, "capacity": ga } ],
        "seating": [ { "section": "A", "rows": rows, "seats_per_row": seats_per_row, "tier": "lower", "price_cents": 9000 } ]
    })
}

/// The id of a hold, from a `POST …/holds` answer's JSON.
pub fn hold_id(hold: &Value) -> &str {
    hold["hold_id"].as_str().unwrap()
}

/// The JSON of a `201 Created` answer (panics on any other status, showing the body).
pub async fn created(response: Response) -> Value {
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The id of a hold just placed (panics unless the answer is 201).
pub async fn created_hold_id(response: Response) -> String {
    hold_id(&created(response).await).to_string()
}

/// A client like a browser without a cookie jar: it follows no redirect, so a test sees each
/// answer (and its `Set-Cookie`) as sent.
pub fn no_redirect_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `Set-Cookie` header of a cookie whose name starts with `prefix` (panics if none).
pub fn set_cookie(response: &Response, prefix: &str) -> String {
    response
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix}… cookie set"))
        .to_string()
}

/// The `name=value` pair of a `Set-Cookie` header, as a `Cookie` header sends it back.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_string()
}

/// Sends `head` (a request line and headers, without the blank line) with a chunked body:
/// `first`, then up to `chunks` chunks of 16 KiB of spaces, stopping when the server closes.
/// Returns the start of the server's answer (at most 1 KiB, within 5 s).
pub async fn chunked_post(base: &str, head: &str, first: &str, chunks: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    if !first.is_empty() {
        let first = format!("{:x}\r\n{first}\r\n", first.len());
        stream.write_all(first.as_bytes()).await.unwrap();
    }
    let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
    for _ in 0..chunks {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break; // the server answered and closed
        }
    }
    let mut answer = vec![0u8; 1024];
    let n = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut answer))
        .await
        .expect("an answer to the chunked body")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).to_string()
}

/// Reads a JSON error body and checks its code.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    body
}

/// A refusal that tells the caller when to come back: a `Retry-After` header and a JSON error.
pub async fn assert_retry_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert!(
        response.headers().contains_key("retry-after"),
        "expected Retry-After on {status} {code}"
    );
    assert_error(response, status, code).await
}

/// Joins `event` on the server at `base` and polls until admitted (30 s at most).
pub async fn admit(client: &reqwest::Client, base: &str, event: &str) -> Result<String, String> {
    let joined = client
        .post(format!("{base}/api/v1/events/{event}/queue"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !joined.status().is_success() {
        return Err(format!("join answered {}", joined.status()));
    }
    let joined: Value = joined.json().await.map_err(|e| e.to_string())?;
    if let Some(admission) = joined["admission"].as_str() {
        return Ok(admission.to_string());
    }
    let ticket = joined["ticket"].as_str().ok_or("no ticket")?.to_string();
    for _ in 0..600 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let status: Value = client
            .get(format!("{base}/api/v1/events/{event}/queue"))
            .bearer_auth(&ticket)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(admission) = status["admission"].as_str() {
            return Ok(admission.to_string());
        }
        if status["state"] == "expired" {
            return Err(format!("expired: {status}"));
        }
    }
    Err("not admitted in time".into())
}

/// A Floodgate server in a process of its own (so it can be killed or stopped).
pub struct Process {
    pub child: std::process::Child,
    pub base: String,
}

impl Process {
    pub async fn start(data: &TestData, extra: &[(&str, &str)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let settings = data.settings(extra);
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_floodgate"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &settings.database_url)
            .env("REDIS_URL", settings.redis_url.as_deref().unwrap_or(""))
            .env("REDIS_PREFIX", &settings.redis_prefix)
            .env("DATA_DIR", &settings.data_dir)
            .env("SECRET_KEY", SECRET_KEY)
            .env("ORGANIZER_TOKEN", ORGANIZER_TOKEN)
            .env("SEED_DEMO", "false")
            .env("WORKERS", "2")
            // As in `TestData::settings`: the tests' clients are all on loopback.
            .env("RATE_LIMIT_EXEMPT", "127.0.0.0/8,::1")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        for (k, v) in extra {
            command.env(k, v);
        }
        let child = command.spawn().expect("starting floodgate");
        let base = format!("http://127.0.0.1:{port}");
        let client = client();
        let started = std::time::Instant::now();
        while !client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == StatusCode::OK)
        {
            assert!(
                started.elapsed() < std::time::Duration::from_secs(30),
                "floodgate did not start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        Process { child, base }
    }

    pub fn signal(&self, signal: &str) {
        let ok = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{signal}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
