//! The waiting room's hot paths against baselines measured in the same run, with `wrk`:
//!
//! - status polls of a waiting fan versus `/healthz` on the same server (a poll should touch
//!   no store: target ≥ 60% of `/healthz`);
//! - joins on Redis versus a bare endpoint doing one `INCR` per request over one shared
//!   multiplexed connection (target ≥ 50% of it);
//! - an arena's seat states (20,000 seats, `GET …/availability` of an admitted fan: encoded
//!   once per version by the actor, each answer serialized and brotli-compressed as a browser
//!   asks) versus `/healthz`, with the sizes of the answer and of the whole shop page over the
//!   wire.
//!
//! Run: `FLOODGATE_BENCH_POSTGRES_URL=postgres://… FLOODGATE_BENCH_REDIS_URL=redis://… \
//!       cargo bench --bench room` (needs `wrk` on the PATH). `BENCH_SECS` (default 5) sets
//! each run's length, `BENCH_ROUNDS` (default 3) the interleaved repeats of each pair,
//! `BENCH_CONNECTIONS` (default 64) wrk's connections. Servers use one worker each, so `wrk`
//! has the other core.

mod common;

use std::collections::HashMap;
use std::process::Command;

use actix_web::{web, App, HttpResponse, HttpServer};
use floodgate::config::Settings;
use floodgate::startup::Application;
use serde_json::{json, Value};

use common::{median, runs, ScratchDb};

const TOKEN: &str = "bench-organizer-token-0123456789abcdef";

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("room bench: skipped (run it with cargo bench --bench room)");
        return;
    }
    let (Ok(admin), Ok(redis_url)) = (
        std::env::var("FLOODGATE_BENCH_POSTGRES_URL"),
        std::env::var("FLOODGATE_BENCH_REDIS_URL"),
    ) else {
        eprintln!(
            "set FLOODGATE_BENCH_POSTGRES_URL and FLOODGATE_BENCH_REDIS_URL (see the file's doc)"
        );
        std::process::exit(2);
    };
    let secs = env_or("BENCH_SECS", "5");
    let conns = env_or("BENCH_CONNECTIONS", "64");
    actix_web::rt::System::new().block_on(async move {
        let db = ScratchDb::create(&admin).await;
        let name = db.name.clone();
        let data_dir = std::env::temp_dir().join(&name);
        let vars: HashMap<&str, String> = HashMap::from([
            ("BIND_ADDR", "127.0.0.1:0".into()),
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis_url.clone()),
            ("REDIS_PREFIX", name.clone()),
            ("ORGANIZER_TOKEN", TOKEN.into()),
            ("DATA_DIR", data_dir.display().to_string()),
            ("WORKERS", "1".into()),
            // wrk is one client on loopback: measure the work, not the rate limits.
            ("RATE_LIMIT_EXEMPT", "127.0.0.1/32".into()),
        ]);
        let settings = Settings::from_lookup(|k| vars.get(k).cloned()).expect("settings");
        let app = Application::build(settings).await.expect("app");
        let site = format!("http://{}", app.addr());
        actix_web::rt::spawn(app.run_until_stopped());

        let baseline = baseline_incr(&redis_url, &name).await;

        let client = reqwest::Client::new();
        let starts = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
        // One admission a minute: every fan after the first stays waiting.
        let event: Value = client
            .post(format!("{site}/api/v1/events"))
            .bearer_auth(TOKEN)
            .json(&json!({
                "name": "Bench", "venue": "Bench Hall", "starts_at": starts,
                "admission": {"rate_per_minute": 1, "max_active": 1, "admission_ttl_secs": 3600},
                "tiers": [{"id": "floor", "name": "Floor", "price_cents": 100, "capacity": 10}]
            }))
            .send()
            .await
            .expect("create event")
            .json()
            .await
            .expect("event json");
        let id = event["id"].as_str().expect("id").to_string();
        let mut ticket = String::new();
        for _ in 0..2 {
            let joined: Value = client
                .post(format!("{site}/api/v1/events/{id}/queue"))
                .send()
                .await
                .expect("join")
                .json()
                .await
                .expect("join json");
            ticket = joined["ticket"].as_str().expect("ticket").to_string();
        }
        let status_url = format!("{site}/api/v1/events/{id}/queue");
        let check: Value = client
            .get(&status_url)
            .bearer_auth(&ticket)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            check["state"], "waiting",
            "the measured fan must be waiting: {check}"
        );

        let (admission, availability_url) = arena(&client, &site).await;
        sizes(&client, &site, &admission, &availability_url).await;

        let post = std::env::temp_dir().join(format!("{name}-post.lua"));
        std::fs::write(&post, "wrk.method = \"POST\"\n").expect("wrk script");
        let post = post.display().to_string();
        let auth = format!("Authorization: Bearer {ticket}");
        // Each pair runs interleaved, BENCH_ROUNDS times, and the medians are compared: this
        // machine is shared and its speed drifts between runs.
        let pairs = [
            (
                ("healthz", vec![format!("{site}/healthz")]),
                ("status poll", vec!["-H".into(), auth, status_url.clone()]),
                60.0,
            ),
            (
                (
                    "one INCR (baseline)",
                    vec!["-s".into(), post.clone(), baseline.clone()],
                ),
                ("join", vec!["-s".into(), post.clone(), status_url.clone()]),
                50.0,
            ),
            (
                ("healthz", vec![format!("{site}/healthz")]),
                (
                    "seat states (20k)",
                    vec![
                        "-H".into(),
                        format!("Authorization: Bearer {admission}"),
                        "-H".into(),
                        "Accept-Encoding: br".into(),
                        availability_url.clone(),
                    ],
                ),
                0.0,
            ),
        ];
        let rounds: usize = env_or("BENCH_ROUNDS", "3").parse().unwrap_or(3);
        for ((base_label, base_args), (label, args), target) in pairs {
            let (mut base_rates, mut rates) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                base_rates.push(wrk(&secs, &conns, &base_args).await);
                rates.push(wrk(&secs, &conns, &args).await);
            }
            let (base, rate) = (median(&mut base_rates), median(&mut rates));
            println!(
                "{base_label:<22} {base:>10.0} req/s  (runs: {})",
                runs(&base_rates)
            );
            println!("{label:<22} {rate:>10.0} req/s  (runs: {})", runs(&rates));
            if target > 0.0 {
                println!(
                    "  {label} / {base_label}: {:.0}%  (target >= {target:.0}%)\n",
                    100.0 * rate / base
                );
            } else {
                println!("  {label} / {base_label}: {:.0}%\n", 100.0 * rate / base);
            }
        }
        db.remove().await;
        std::process::exit(0);
    });
}

/// Ten sections of 40 rows × 50 seats, a fan admitted to it: the admission and the address of
/// the seat states.
async fn arena(client: &reqwest::Client, site: &str) -> (String, String) {
    let sections: Vec<Value> = (b'A'..=b'J')
        .map(|s| {
            json!({"section": (s as char).to_string(), "rows": 40, "seats_per_row": 50,
                   "tier": "arena", "price_cents": 9000})
        })
        .collect();
    let starts = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let event: Value = client
        .post(format!("{site}/api/v1/events"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "name": "Arena", "venue": "Arena", "starts_at": starts,
            "admission": {"rate_per_minute": 60000, "max_active": 1000, "admission_ttl_secs": 3600},
            "seating": sections
        }))
        .send()
        .await
        .expect("create the arena")
        .json()
        .await
        .expect("arena json");
    let id = event["id"].as_str().expect("id").to_string();
    let joined: Value = client
        .post(format!("{site}/api/v1/events/{id}/queue"))
        .send()
        .await
        .expect("join")
        .json()
        .await
        .expect("join json");
    let ticket = joined["ticket"].as_str().expect("ticket").to_string();
    for _ in 0..100 {
        let status: Value = client
            .get(format!("{site}/api/v1/events/{id}/queue"))
            .bearer_auth(&ticket)
            .send()
            .await
            .expect("status")
            .json()
            .await
            .expect("status json");
        if let Some(admission) = status["admission"].as_str() {
            // Sell a scattering of seats so the states are not all alike.
            for n in 0..6 {
                let seats: Vec<String> = (1..=3)
                    .map(|s| format!("{}-{}-{}", (b'A' + n) as char, n + 1, s * 7))
                    .collect();
                let _ = client
                    .post(format!("{site}/api/v1/events/{id}/holds"))
                    .bearer_auth(admission)
                    .json(&json!({"seats": &seats[..1]}))
                    .send()
                    .await;
            }
            return (
                admission.to_string(),
                format!("{site}/api/v1/events/{id}/availability"),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the arena's fan was not admitted");
}

/// Bytes of one answer as received with `Accept-Encoding: encoding` (none: as it is).
async fn wire_bytes(client: &reqwest::Client, url: &str, bearer: &str, encoding: &str) -> usize {
    let mut request = client.get(url).bearer_auth(bearer);
    if !encoding.is_empty() {
        request = request.header("Accept-Encoding", encoding);
    }
    request
        .send()
        .await
        .expect("fetch")
        .bytes()
        .await
        .expect("body")
        .len()
}

/// The seat states' size, and the shop page's weight over the wire on a first visit (page,
/// stylesheet, script, seat states; the layout is in the page), as it is and compressed.
async fn sizes(client: &reqwest::Client, site: &str, admission: &str, availability: &str) {
    let shop = availability
        .replace("/api/v1/events/", "/events/")
        .replace("/availability", "/shop");
    let page = client
        .get(&shop)
        .bearer_auth(admission)
        .send()
        .await
        .expect("shop page")
        .text()
        .await
        .expect("shop html");
    let asset = |name: &str| {
        let at = page
            .find(&format!("/static/{name}"))
            .expect("an asset link");
        let link: String = page[at..].chars().take_while(|c| *c != '"').collect();
        format!("{site}{link}")
    };
    let parts = [
        shop.clone(),
        asset("site.css"),
        asset("shop.js"),
        availability.to_string(),
    ];
    println!("seat map of 20,000 seats, bytes over the wire:");
    for encoding in ["", "gzip", "br"] {
        let mut total = 0;
        let mut each = Vec::new();
        for url in &parts {
            let n = wire_bytes(client, url, admission, encoding).await;
            total += n;
            each.push(n);
        }
        println!(
            "  {:<8} page {:>7}  css {:>6}  js {:>6}  states {:>6}  = {total:>7}",
            if encoding.is_empty() {
                "plain"
            } else {
                encoding
            },
            each[0],
            each[1],
            each[2],
            each[3]
        );
    }
    println!();
}

/// An actix-web server, one worker, with Floodgate's own middleware (request tracing and
/// metrics, as every Floodgate route has), answering every request with one Redis INCR over
/// one shared multiplexed connection: the ceiling a join can approach.
async fn baseline_incr(redis_url: &str, prefix: &str) -> String {
    let conn = redis::Client::open(redis_url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let key = format!("{prefix}:baseline");
    let server = HttpServer::new(move || {
        let (conn, key) = (conn.clone(), key.clone());
        App::new()
            .wrap(actix_web::middleware::from_fn(
                floodgate::telemetry::record_request,
            ))
            .wrap(tracing_actix_web::TracingLogger::default())
            .default_service(web::to(move || {
                let (mut conn, key) = (conn.clone(), key.clone());
                async move {
                    let n: u64 = redis::cmd("INCR")
                        .arg(&key)
                        .query_async(&mut conn)
                        .await
                        .expect("incr");
                    HttpResponse::Ok().body(n.to_string())
                }
            }))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("bind");
    let addr = server.addrs()[0];
    actix_web::rt::spawn(server.run());
    format!("http://{addr}/incr")
}

/// Runs wrk and returns its requests per second.
async fn wrk(secs: &str, conns: &str, args: &[String]) -> f64 {
    let mut command = Command::new("wrk");
    command
        .args(["-t1", "-c", conns, "-d", &format!("{secs}s")])
        .args(args);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("wrk thread")
        .expect("running wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let non_2xx = text.lines().find(|l| l.contains("Non-2xx"));
    if let Some(line) = non_2xx {
        eprintln!("wrk: {line}");
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}
