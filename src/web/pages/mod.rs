//! HTML pages (askama templates in `templates/`, assets in `static/`).

pub mod console;
pub mod fan;

use actix_files::Files;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpResponse};
use askama::Template;
use uuid::Uuid;

use super::api::events::{event_views, view, EventView};
use super::error::ApiError;
use super::State;

/// Renders a template into a response, or a plain 500 if rendering fails (logged).
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

/// Formats cents as a price (`$129.00`).
pub fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    format!("{sign}${}.{:02}", cents / 100, cents % 100)
}

/// A time as the pages show it (`Tue 31 Dec 2030, 20:00 UTC`).
pub fn show_time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a %-d %b %Y, %H:%M UTC").to_string()
}

/// An event state in the fan's words.
pub fn state_label(state: &str) -> &'static str {
    match state {
        "scheduled" => "On sale soon",
        "on_sale" => "On sale",
        "paused" => "Paused",
        "sold_out" => "Sold out",
        _ => "Sale closed",
    }
}

/// The error page, in the site's style.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub back_href: String,
    pub back_label: String,
}

/// Turns an API error into the matching HTML page, with a link back to the events.
pub fn error_page(err: &ApiError) -> HttpResponse {
    refusal_page(err, "/", "Back to events")
}

/// Turns an API error into the matching HTML page, with a link back to `back_href`.
pub fn refusal_page(err: &ApiError, back_href: &str, back_label: &str) -> HttpResponse {
    use actix_web::ResponseError;
    let (title, message) = match err {
        ApiError::NotFound(what) => (
            format!("{} not found", capitalize(what)),
            "It may have been removed, or the link is mistyped.".to_string(),
        ),
        ApiError::Backend(_) | ApiError::Busy(..) => (
            "Busy right now".into(),
            "We could not complete that just now. Nothing was changed; please retry in a moment."
                .into(),
        ),
        ApiError::RateLimited(secs) => (
            "Slow down a little".into(),
            format!("Too many requests from your connection. Please wait {secs} s and try again; your place in line is kept."),
        ),
        ApiError::NotAdmitted(_) => (
            "You have not been admitted yet".into(),
            "The shop opens to fans in the order they joined the line. Go back to the line and you will be let in when it is your turn.".into(),
        ),
        ApiError::Unavailable(_) => (
            "Those places were just taken".into(),
            "Someone got there first. Please pick again.".into(),
        ),
        ApiError::HoldExpired => (
            "Your hold expired".into(),
            "The places you held were released when the time ran out. Pick again while your admission lasts.".into(),
        ),
        ApiError::SaleNotOpen(message) => ("The sale is not open".into(), message.clone()),
        other => ("Something went wrong".into(), other.public_message()),
    };
    let mut response = render(
        err.status_code(),
        &ErrorPage {
            title,
            message,
            back_href: back_href.into(),
            back_label: back_label.into(),
        },
    );
    if let Some(secs) = err.retry_after() {
        if let Ok(value) = secs.to_string().parse() {
            response
                .headers_mut()
                .insert(actix_web::http::header::RETRY_AFTER, value);
        }
    }
    response
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

struct EventCard {
    id: Uuid,
    name: String,
    venue: String,
    starts_at: String,
    state: &'static str,
    state_label: &'static str,
    from_price: String,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    events: Vec<EventCard>,
}

async fn index(state: State) -> HttpResponse {
    let views = match event_views(&state).await {
        Ok(v) => v,
        Err(e) => return error_page(&e),
    };
    let events = views
        .into_iter()
        .map(|view| EventCard {
            id: view.id,
            from_price: money(view.tiers.iter().map(|t| t.price_cents).min().unwrap_or(0)),
            name: view.name,
            venue: view.venue,
            starts_at: show_time(view.starts_at),
            state: view.state,
            state_label: state_label(view.state),
        })
        .collect();
    render(StatusCode::OK, &IndexPage { events })
}

struct TierRow {
    name: String,
    price: String,
    available: u32,
    capacity: u32,
    seated: bool,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    id: Uuid,
    name: String,
    venue: String,
    starts_at: String,
    opens_at: Option<String>,
    /// The opening as RFC 3339, for the countdown script, while the sale is still to open.
    opens_iso: Option<String>,
    state: &'static str,
    state_label: &'static str,
    joinable: bool,
    tiers: Vec<TierRow>,
}

impl From<EventView> for EventPage {
    fn from(v: EventView) -> Self {
        EventPage {
            id: v.id,
            starts_at: show_time(v.starts_at),
            opens_at: v.sale_opens_at.map(show_time),
            opens_iso: v
                .sale_opens_at
                .filter(|_| v.state == "scheduled")
                .map(|t| t.to_rfc3339()),
            joinable: matches!(v.state, "on_sale" | "scheduled"),
            state: v.state,
            state_label: state_label(v.state),
            tiers: v
                .tiers
                .into_iter()
                .map(|t| TierRow {
                    name: t.name,
                    price: money(t.price_cents),
                    available: t.available,
                    capacity: t.capacity,
                    seated: t.seated,
                })
                .collect(),
            name: v.name,
            venue: v.venue,
        }
    }
}

async fn event(state: State, path: web::Path<Uuid>) -> HttpResponse {
    match view(&state, path.into_inner()).await {
        Ok(v) => render(StatusCode::OK, &EventPage::from(v)),
        Err(e) => error_page(&e),
    }
}

async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    req.extensions_mut().insert(crate::telemetry::UNMATCHED);
    error_page(&ApiError::NotFound("page"))
}

/// Registers the page routes and static assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/events/{id}", web::get().to(event))
        .configure(fan::routes)
        .configure(console::routes);
}

/// Static assets under `/static`, from the configured directory.
pub fn static_files(dir: &std::path::Path) -> Files {
    Files::new("/static", dir)
        .use_etag(true)
        .use_last_modified(true)
}

/// The fallback for unknown paths outside `/api`.
pub fn default_page() -> actix_web::Route {
    web::to(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_formats_cents() {
        assert_eq!(money(12900), "$129.00");
        assert_eq!(money(5), "$0.05");
        assert_eq!(money(-150), "-$1.50");
    }

    #[test]
    fn names_are_escaped() {
        let page = EventPage {
            id: Uuid::nil(),
            name: "<script>alert(1)</script>".into(),
            venue: "V & V".into(),
            starts_at: "soon".into(),
            opens_at: None,
            opens_iso: None,
            state: "on_sale",
            state_label: "On sale",
            joinable: true,
            tiers: vec![],
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("script&#62;alert(1)") || html.contains("script&gt;alert(1)"),
            "{html}"
        );
    }
}
