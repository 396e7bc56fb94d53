//! Typed settings, read once from the environment at startup.
//!
//! Every knob the server has lives here, with its default, so the README can list them in one
//! table and no module reads the environment on its own. The embedded defaults (SQLite file,
//! in-process line, generated secret and organizer token kept in the data directory) make
//! `cargo run --release` work with no settings at all; Postgres demands an explicit organizer
//! token because a generated one would differ between the nodes that share the database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;

use crate::domain::mail::Backoff;
use crate::edge::limits::Limit;
use crate::edge::{parse_nets, EdgeSettings, RouteLimits};
use crate::mail::{self, Delivery, MailSettings};
pub use crate::store::{database_kind, DatabaseKind};

/// Length of a generated secret key, in bytes (HMAC-SHA256 keys need no more than 32).
const GENERATED_SECRET_BYTES: usize = 32;
/// Shortest secret key accepted from `SECRET_KEY`, in bytes.
const MIN_SECRET_BYTES: usize = 16;
/// Length of a generated organizer token, in random bytes (hex-encoded: twice as many chars).
const GENERATED_TOKEN_BYTES: usize = 24;
/// Shortest organizer token accepted: it guards every organizer write, so it must not be
/// guessable (the generated one has 48 characters).
pub const MIN_ORGANIZER_TOKEN_CHARS: usize = 32;
/// The sender of order e-mails unless `MAIL_FROM` says otherwise.
const DEFAULT_MAIL_FROM: &str = "Floodgate <tickets@localhost>";
/// File names inside the data directory.
const SECRET_FILE: &str = "secret_key";
const TOKEN_FILE: &str = "organizer_token";

/// Why the settings could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is set but its value is unusable.
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// A variable is required in this mode and is unset.
    #[error("{0} must be set when DATABASE_URL is a Postgres URL (nodes sharing a database must agree on it)")]
    Required(&'static str),
    /// The data directory (secret, token, SQLite file) cannot be written.
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// All settings of one server process.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port (tests).
    pub bind_addr: SocketAddr,
    /// `postgres://…` or `sqlite://…`.
    pub database_url: String,
    /// Most database connections this node opens.
    pub database_max_connections: u32,
    /// `redis://…`; `None` runs the line in process (one node only).
    pub redis_url: Option<String>,
    /// Prefix of every Redis key, so several deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// Directory for the SQLite file, the generated secret and organizer token.
    pub data_dir: PathBuf,
    /// HMAC key signing queue tickets, admissions and challenges.
    pub secret_key: Vec<u8>,
    /// Bearer token of the organizer API and console.
    pub organizer_token: String,
    /// Whether the organizer token was generated (and so should be printed at startup).
    pub organizer_token_generated: bool,
    /// Seed a demo event when the database has no events (embedded mode default).
    pub seed_demo: bool,
    /// How long `/readyz` waits for each backend before calling it down.
    pub ready_timeout: Duration,
    /// actix-web worker threads; 0 means one per core.
    pub workers: usize,
    /// Directory of static assets served under `/static`.
    pub static_dir: PathBuf,
    /// Most requests in flight to one event's inventory actor before 503.
    pub actor_inflight_limit: usize,
    /// Most orders queued for one event's committer before 503.
    pub commit_queue: usize,
    /// Most orders written in one transaction.
    pub commit_max_batch: usize,
    /// How long the committer waits for more orders once one is queued (0: none).
    pub commit_linger: Duration,
    /// Artificial delay before each commit: for backpressure tests only (0 in production).
    pub commit_slowdown: Duration,
    /// Batches of one event committing at once.
    pub commit_concurrency: usize,
    /// How often the pacer ticks.
    pub room_tick: Duration,
    /// Oldest line snapshot a status poll may answer from.
    pub snapshot_max_age: Duration,
    /// A waiting fan unseen this long is skipped when their turn comes.
    pub liveness_grace: Duration,
    /// Join numbers reserved in the database at a time.
    pub seq_block: u64,
    /// Most fans waiting in one event's line.
    pub line_limit: u64,
    /// An admission its fan has not fetched within this is taken back (a no-show).
    pub fetch_grace: Duration,
    /// Most status requests held open at once on this node (long polls).
    pub long_poll_max: usize,
    /// A commit slower than this means the shop is saturated (the pacer slows down).
    pub slow_commit: Duration,
    /// How long a client may take to send a request's head (slowloris).
    pub client_header_timeout: Duration,
    /// Rate limits, trusted proxies, in-flight ceiling, request deadline, proof of work.
    pub edge: EdgeSettings,
    /// This node's address as the other nodes reach it (`http://10.0.0.5:8080`); `None`: the
    /// address it listens on.
    pub node_url: Option<String>,
    /// How long an event's ownership lease lasts unless renewed (shared line store only).
    pub lease: Duration,
    /// Order e-mails: where they go, from whom, how hard they are tried.
    pub mail: MailSettings,
}

impl Settings {
    /// Reads the settings from the process environment, creating the data directory and the
    /// generated secret and token files when needed.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// Builds settings from any variable lookup (the environment, or a map in tests).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bind_addr = parse_var(&var, "BIND_ADDR", "127.0.0.1:8080")?;
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "data".into()));
        let database_url = var("DATABASE_URL")
            .unwrap_or_else(|| format!("sqlite://{}/floodgate.db", data_dir.display()));
        let kind = database_kind(&database_url).ok_or_else(|| ConfigError::Invalid {
            name: "DATABASE_URL",
            reason: "must start with postgres://, postgresql:// or sqlite:".into(),
        })?;
        let secret_key = match var("SECRET_KEY") {
            Some(text) => {
                let key = hex::decode(text.trim()).map_err(|e| ConfigError::Invalid {
                    name: "SECRET_KEY",
                    reason: format!("must be hex: {e}"),
                })?;
                if key.len() < MIN_SECRET_BYTES {
                    return Err(ConfigError::Invalid {
                        name: "SECRET_KEY",
                        reason: format!("must be at least {MIN_SECRET_BYTES} bytes (32 hex chars)"),
                    });
                }
                key
            }
            None => {
                let text = kept_or_generated(&data_dir, SECRET_FILE, GENERATED_SECRET_BYTES)?.0;
                // The file is ours and was written as hex; a corrupt one is a clear error.
                hex::decode(text.trim()).map_err(|e| ConfigError::Invalid {
                    name: "SECRET_KEY",
                    reason: format!("{}/{SECRET_FILE} is not hex: {e}", data_dir.display()),
                })?
            }
        };
        let (organizer_token, organizer_token_generated) = match var("ORGANIZER_TOKEN") {
            Some(token) if token.trim().chars().count() < MIN_ORGANIZER_TOKEN_CHARS => {
                return Err(ConfigError::Invalid {
                    name: "ORGANIZER_TOKEN",
                    reason: format!(
                        "must be at least {MIN_ORGANIZER_TOKEN_CHARS} characters (generate one with: openssl rand -hex 24)"
                    ),
                })
            }
            Some(token) => (token.trim().to_string(), false),
            None if kind == DatabaseKind::Postgres => {
                return Err(ConfigError::Required("ORGANIZER_TOKEN"))
            }
            None => kept_or_generated(&data_dir, TOKEN_FILE, GENERATED_TOKEN_BYTES)?,
        };
        let mail = mail_settings(&var, &data_dir)?;
        let seed_demo = match var("SEED_DEMO") {
            Some(v) => parse_bool("SEED_DEMO", &v)?,
            None => kind == DatabaseKind::Sqlite,
        };
        Ok(Settings {
            bind_addr,
            database_url,
            database_max_connections: parse_var(&var, "DATABASE_MAX_CONNECTIONS", "16")?,
            redis_url: var("REDIS_URL"),
            redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| "fg".into()),
            data_dir,
            secret_key,
            organizer_token,
            organizer_token_generated,
            seed_demo,
            ready_timeout: Duration::from_millis(parse_var(&var, "READY_TIMEOUT_MS", "800")?),
            workers: parse_var(&var, "WORKERS", "0")?,
            static_dir: PathBuf::from(var("STATIC_DIR").unwrap_or_else(default_static_dir)),
            actor_inflight_limit: parse_var(&var, "ACTOR_INFLIGHT_LIMIT", "4096")?,
            commit_queue: parse_var(&var, "COMMIT_QUEUE", "8192")?,
            commit_max_batch: parse_var(&var, "COMMIT_MAX_BATCH", "512")?,
            commit_linger: Duration::from_millis(parse_var(&var, "COMMIT_LINGER_MS", "0")?),
            commit_slowdown: Duration::from_millis(parse_var(&var, "COMMIT_SLOWDOWN_MS", "0")?),
            commit_concurrency: parse_var::<usize>(&var, "COMMIT_CONCURRENCY", "1")?.max(1),
            room_tick: Duration::from_millis(parse_var(&var, "ROOM_TICK_MS", "250")?),
            snapshot_max_age: Duration::from_millis(parse_var(&var, "SNAPSHOT_MAX_AGE_MS", "500")?),
            liveness_grace: Duration::from_secs(parse_var(&var, "LIVENESS_GRACE_SECS", "30")?),
            seq_block: parse_var::<u64>(&var, "SEQ_BLOCK", "1000")?.max(1),
            line_limit: parse_var(&var, "LINE_LIMIT", "1000000")?,
            fetch_grace: Duration::from_secs(
                parse_var::<u64>(&var, "ADMISSION_FETCH_GRACE_SECS", "20")?.max(1),
            ),
            long_poll_max: parse_var(&var, "LONG_POLL_MAX", "10000")?,
            slow_commit: Duration::from_millis(parse_var(&var, "SLOW_COMMIT_MS", "250")?),
            client_header_timeout: Duration::from_millis(parse_var(
                &var,
                "CLIENT_HEADER_TIMEOUT_MS",
                "5000",
            )?),
            edge: edge_settings(&var)?,
            node_url: var("NODE_URL").map(|u| u.trim().trim_end_matches('/').to_string()),
            lease: Duration::from_millis(parse_var::<u64>(&var, "LEASE_MS", "5000")?.max(300)),
            mail,
        })
    }

    /// The backend `database_url` names.
    pub fn database_kind(&self) -> DatabaseKind {
        // from_lookup refused any other URL; settings built by hand default to SQLite.
        database_kind(&self.database_url).unwrap_or(DatabaseKind::Sqlite)
    }
}

fn edge_settings(var: &impl Fn(&str) -> Option<String>) -> Result<EdgeSettings, ConfigError> {
    let nets = |name: &'static str, default: &str| {
        parse_nets(&var(name).unwrap_or_else(|| default.into()))
            .map_err(|reason| ConfigError::Invalid { name, reason })
    };
    let route =
        |ip: &'static str, ip_default: &str, session: &'static str, session_default: &str| {
            Ok::<_, ConfigError>(RouteLimits {
                per_ip: parse_var(var, ip, ip_default)?,
                per_session: parse_var(var, session, session_default)?,
            })
        };
    Ok(EdgeSettings {
        trusted_proxies: nets("TRUSTED_PROXIES", "")?,
        rate_limit_exempt: nets("RATE_LIMIT_EXEMPT", "none")?,
        join: route(
            "LIMIT_JOIN_PER_IP",
            "120/min:60",
            "LIMIT_JOIN_PER_SESSION",
            "20/min:10",
        )?,
        status: route(
            "LIMIT_STATUS_PER_IP",
            "1200/min:300",
            "LIMIT_STATUS_PER_SESSION",
            "60/min:20",
        )?,
        hold: route(
            "LIMIT_HOLD_PER_IP",
            "600/min:100",
            "LIMIT_HOLD_PER_SESSION",
            "20/min:10",
        )?,
        order: route(
            "LIMIT_ORDER_PER_IP",
            "600/min:100",
            "LIMIT_ORDER_PER_SESSION",
            "20/min:10",
        )?,
        login: RouteLimits {
            per_ip: parse_var(var, "LIMIT_LOGIN_PER_IP", "10/min:5")?,
            per_session: Limit(None),
        },
        read: RouteLimits {
            per_ip: parse_var(var, "LIMIT_READ_PER_IP", "600/min:120")?,
            per_session: Limit(None),
        },
        limiter_max_keys: parse_var(var, "RATE_LIMIT_MAX_KEYS", "200000")?,
        max_inflight: parse_var(var, "MAX_INFLIGHT", "4096")?,
        max_inflight_per_client: parse_var(var, "MAX_INFLIGHT_PER_CLIENT", "64")?,
        request_timeout: Duration::from_secs(parse_var(var, "REQUEST_TIMEOUT_SECS", "5")?),
        pow_challenge_ttl: Duration::from_secs(parse_var(var, "POW_CHALLENGE_TTL_SECS", "120")?),
        public_url: public_url(var)?,
    })
}

/// The mail settings: `SMTP_URL` (else `.eml` files in `DATA_DIR/mail`), `MAIL_FROM`, and
/// how mails are tried.
fn mail_settings(
    var: &impl Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> Result<MailSettings, ConfigError> {
    let delivery = match var("SMTP_URL") {
        Some(url) => {
            let url = url.trim().to_string();
            mail::check_smtp_url(&url).map_err(|reason| ConfigError::Invalid {
                name: "SMTP_URL",
                reason,
            })?;
            Delivery::Smtp(url)
        }
        None => Delivery::Files(data_dir.join("mail")),
    };
    let from = mail::parse_from(&var("MAIL_FROM").unwrap_or_else(|| DEFAULT_MAIL_FROM.into()))
        .map_err(|reason| ConfigError::Invalid {
            name: "MAIL_FROM",
            reason,
        })?;
    let at_least_one = |name: &'static str, n: u64| {
        if n == 0 {
            Err(ConfigError::Invalid {
                name,
                reason: "must be at least 1".into(),
            })
        } else {
            Ok(n)
        }
    };
    let base = Duration::from_millis(at_least_one(
        "MAIL_BACKOFF_BASE_MS",
        parse_var(var, "MAIL_BACKOFF_BASE_MS", "30000")?,
    )?);
    let cap = Duration::from_millis(parse_var(var, "MAIL_BACKOFF_CAP_MS", "3600000")?);
    if cap < base {
        return Err(ConfigError::Invalid {
            name: "MAIL_BACKOFF_CAP_MS",
            reason: "must not be below MAIL_BACKOFF_BASE_MS".into(),
        });
    }
    Ok(MailSettings {
        delivery,
        from,
        max_attempts: at_least_one(
            "MAIL_MAX_ATTEMPTS",
            parse_var(var, "MAIL_MAX_ATTEMPTS", "8")?,
        )? as u32,
        concurrency: at_least_one("MAIL_CONCURRENCY", parse_var(var, "MAIL_CONCURRENCY", "8")?)?
            as usize,
        backoff: Backoff { base, cap },
        send_timeout: Duration::from_secs(at_least_one(
            "MAIL_SEND_TIMEOUT_SECS",
            parse_var(var, "MAIL_SEND_TIMEOUT_SECS", "30")?,
        )?),
        poll: Duration::from_millis(at_least_one(
            "MAIL_POLL_MS",
            parse_var(var, "MAIL_POLL_MS", "1000")?,
        )?),
    })
}

/// `PUBLIC_URL`, checked: an `http://` or `https://` URL, without a trailing slash.
fn public_url(var: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = var("PUBLIC_URL") else {
        return Ok(None);
    };
    let url = url.trim().trim_end_matches('/').to_string();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok || url.contains(char::is_whitespace) {
        return Err(ConfigError::Invalid {
            name: "PUBLIC_URL",
            reason: format!("{url:?}: expected http://host[:port] or https://host[:port]"),
        });
    }
    Ok(Some(url))
}

/// `static/` beside the binary's crate when run from a checkout, else `./static`.
fn default_static_dir() -> String {
    let in_checkout = concat!(env!("CARGO_MANIFEST_DIR"), "/static");
    if Path::new(in_checkout).is_dir() {
        in_checkout.into()
    } else {
        "static".into()
    }
}

fn parse_var<T>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: &str,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text = var(name).unwrap_or_else(|| default.to_string());
    text.trim().parse().map_err(|e| ConfigError::Invalid {
        name,
        reason: format!("{text:?}: {e}"),
    })
}

fn parse_bool(name: &'static str, text: &str) -> Result<bool, ConfigError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(ConfigError::Invalid {
            name,
            reason: format!("{other:?} is not a boolean"),
        }),
    }
}

/// Reads `dir/file`, or writes a fresh random hex value there (mode 0600) on first start.
/// Returns the value and whether it was generated now.
fn kept_or_generated(dir: &Path, file: &str, bytes: usize) -> Result<(String, bool), ConfigError> {
    let path = dir.join(file);
    let io = |source| ConfigError::DataDir {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok((text.trim().to_string(), false)),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    let value = hex::encode(raw);
    write_private(&path, &value).map_err(io)?;
    Ok((value, true))
}

#[cfg(unix)]
fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(value.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn embedded_defaults_generate_and_keep_secret_and_token() {
        let dir = tempdir();
        let d = dir.to_str().unwrap();
        let first = settings(&[("DATA_DIR", d)]).unwrap();
        assert_eq!(first.database_kind(), DatabaseKind::Sqlite);
        assert_eq!(first.database_url, format!("sqlite://{d}/floodgate.db"));
        assert!(first.organizer_token_generated);
        assert!(first.seed_demo);
        assert_eq!(first.secret_key.len(), GENERATED_SECRET_BYTES);
        let second = settings(&[("DATA_DIR", d)]).unwrap();
        assert_eq!(second.secret_key, first.secret_key);
        assert_eq!(second.organizer_token, first.organizer_token);
        assert!(!second.organizer_token_generated);
    }

    #[test]
    fn postgres_requires_an_organizer_token() {
        let dir = tempdir();
        let err = settings(&[
            ("DATA_DIR", dir.to_str().unwrap()),
            ("DATABASE_URL", "postgres://localhost/x"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::Required("ORGANIZER_TOKEN")));
    }

    #[test]
    fn nobody_is_exempt_from_rate_limits_unless_named() {
        let dir = tempdir();
        let d = dir.to_str().unwrap();
        let default = settings(&[("DATA_DIR", d)]).unwrap();
        assert!(
            default.edge.rate_limit_exempt.is_empty(),
            "nobody by default"
        );
        let loopback = settings(&[("DATA_DIR", d), ("RATE_LIMIT_EXEMPT", "127.0.0.0/8")]).unwrap();
        assert_eq!(loopback.edge.rate_limit_exempt.len(), 1);
    }

    #[test]
    fn a_short_organizer_token_is_refused() {
        let dir = tempdir();
        let d = dir.to_str().unwrap();
        let err = settings(&[("DATA_DIR", d), ("ORGANIZER_TOKEN", "rehearsal-token")]).unwrap_err();
        assert!(err.to_string().starts_with("ORGANIZER_TOKEN"), "{err}");
        let ok = settings(&[("DATA_DIR", d), ("ORGANIZER_TOKEN", &"t".repeat(32))]);
        assert!(ok.is_ok());
        let bad = settings(&[("DATA_DIR", d), ("PUBLIC_URL", "tickets.example.com")]).unwrap_err();
        assert!(bad.to_string().starts_with("PUBLIC_URL"), "{bad}");
    }

    #[test]
    fn bad_values_are_named_in_the_error() {
        let dir = tempdir();
        let d = dir.to_str().unwrap();
        let err = settings(&[("DATA_DIR", d), ("BIND_ADDR", "nowhere")]).unwrap_err();
        assert!(err.to_string().starts_with("BIND_ADDR"), "{err}");
        let err = settings(&[("DATA_DIR", d), ("SECRET_KEY", "abcd")]).unwrap_err();
        assert!(err.to_string().starts_with("SECRET_KEY"), "{err}");
        let err = settings(&[("DATA_DIR", d), ("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().starts_with("DATABASE_URL"), "{err}");
    }

    #[test]
    fn mail_goes_to_files_without_an_smtp_url_and_bad_mail_settings_are_named() {
        let dir = tempdir();
        let d = dir.to_str().unwrap();
        let default = settings(&[("DATA_DIR", d)]).unwrap().mail;
        assert_eq!(default.delivery, Delivery::Files(dir.join("mail")));
        assert_eq!(default.from.email.to_string(), "tickets@localhost");
        assert_eq!(default.max_attempts, 8);
        let smtp = settings(&[
            ("DATA_DIR", d),
            ("SMTP_URL", "smtps://user:secret@mail.example.com:465"),
            ("MAIL_FROM", "Box Office <box@example.com>"),
        ])
        .unwrap()
        .mail;
        assert!(matches!(smtp.delivery, Delivery::Smtp(_)));
        assert_eq!(smtp.from.email.to_string(), "box@example.com");
        for (name, value) in [
            ("SMTP_URL", "http://mail.example.com"),
            ("SMTP_URL", "smtp://mail.example.com?tls=maybe"),
            ("MAIL_FROM", "a@example.com, b@example.com"),
            ("MAIL_FROM", "not an address"),
            ("MAIL_MAX_ATTEMPTS", "0"),
            ("MAIL_CONCURRENCY", "0"),
            ("MAIL_CONCURRENCY", "-1"),
            ("MAIL_BACKOFF_BASE_MS", "0"),
            ("MAIL_BACKOFF_CAP_MS", "10"),
            ("MAIL_SEND_TIMEOUT_SECS", "0"),
            ("MAIL_POLL_MS", "soon"),
        ] {
            let err = settings(&[("DATA_DIR", d), (name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{name}={value}: {err}");
        }
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("floodgate-config-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
