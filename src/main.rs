//! The `floodgate` server: reads settings from the environment and serves until SIGTERM/SIGINT.

use anyhow::Context;
use floodgate::config::{DatabaseKind, Settings};
use floodgate::startup::Application;
use floodgate::telemetry;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    telemetry::init_logs("info,sqlx=warn");
    let settings = Settings::from_env().context("reading settings")?;
    let embedded = settings.database_kind() == DatabaseKind::Sqlite;
    let token_note = if settings.organizer_token_generated {
        "generated now"
    } else {
        "kept"
    };
    let app = Application::build(settings.clone())
        .await
        .context("starting floodgate")?;
    println!("Floodgate listening on http://{}", app.addr());
    println!(
        "  database: {}   line: {}",
        if embedded {
            &settings.database_url
        } else {
            "postgres"
        },
        if settings.redis_url.is_some() {
            "redis"
        } else {
            "in-process"
        }
    );
    if embedded && std::env::var_os("ORGANIZER_TOKEN").is_none() {
        println!(
            "  organizer token ({token_note} in {}/organizer_token): {}",
            settings.data_dir.display(),
            settings.organizer_token
        );
    }
    actix_web::rt::spawn(floodgate::startup::drain_on_signals(app.stopper()));
    app.run_until_stopped().await.context("serving")?;
    println!("Floodgate stopped");
    Ok(())
}
