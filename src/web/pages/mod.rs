//! HTML pages (askama templates in `templates/`, assets in `static/`).

pub mod console;
pub mod fan;

use actix_files::Files;
use actix_web::http::StatusCode;
use actix_web::{web, HttpMessage, HttpResponse};
use askama::Template;
use uuid::Uuid;

use super::error::{ApiError, PageError};
use super::extract::Reader;
pub use super::render::render;
use super::{allow, State};
use crate::domain::inventory::SaleState;
pub use crate::domain::show::{money, show_time};
use crate::sale::{self, list_events::EventView};

/// An event state in the fan's words.
pub fn state_label(state: SaleState) -> &'static str {
    match state {
        SaleState::Scheduled => "On sale soon",
        SaleState::OnSale => "On sale",
        SaleState::Paused => "Paused",
        SaleState::SoldOut => "Sold out",
        SaleState::Closed => "Sale closed",
    }
}

/// An event as a list shows it: name, venue, show time and sale state, with the figure of the
/// list (from-price, or sold of capacity).
pub struct EventLine {
    pub id: Uuid,
    pub name: String,
    pub venue: String,
    pub starts_at: String,
    pub state: SaleState,
    pub state_label: &'static str,
    /// The list's own figure (`from $99.00`, `12 / 400`).
    pub figure: String,
}

impl EventLine {
    /// The line of `view`, with its figure.
    pub fn new(view: EventView, figure: String) -> Self {
        EventLine {
            id: view.id,
            starts_at: show_time(view.starts_at),
            state: view.state,
            state_label: state_label(view.state),
            name: view.name,
            venue: view.venue,
            figure,
        }
    }
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    events: Vec<EventLine>,
}

async fn index(_: Reader, state: State) -> Result<HttpResponse, PageError> {
    let views = sale::list_events::events(&state.sale).await?;
    let events = views
        .into_iter()
        .map(|view| {
            let from = view.tiers.iter().map(|t| t.price_cents).min().unwrap_or(0);
            EventLine::new(view, money(from))
        })
        .collect();
    Ok(render(StatusCode::OK, &IndexPage { events }))
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
    state: SaleState,
    state_label: &'static str,
    joinable: bool,
    tiers: Vec<TierRow>,
    /// The fan just left the line (`?left=1`, from the waiting room's button).
    left: bool,
}

impl From<EventView> for EventPage {
    fn from(v: EventView) -> Self {
        EventPage {
            id: v.id,
            starts_at: show_time(v.starts_at),
            opens_at: v.sale_opens_at.map(show_time),
            opens_iso: v
                .sale_opens_at
                .filter(|_| v.state == SaleState::Scheduled)
                .map(|t| t.to_rfc3339()),
            joinable: matches!(v.state, SaleState::OnSale | SaleState::Scheduled),
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
            left: false,
        }
    }
}

async fn event(
    _: Reader,
    req: actix_web::HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let view = sale::list_events::event(&state.sale, path.into_inner()).await?;
    let mut page = EventPage::from(view);
    page.left = req.query_string().split('&').any(|p| p == "left=1");
    Ok(render(StatusCode::OK, &page))
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, PageError> {
    req.extensions_mut().insert(crate::telemetry::UNMATCHED);
    Err(ApiError::not_found("page").into())
}

/// Registers the page routes and static assets.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(index))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/events/{id}")
            .route(web::get().to(event))
            .default_service(allow("GET")),
    )
    .configure(fan::routes)
    .configure(console::routes);
}

/// Static assets under `/static`, from the configured directory: with their `ETag`, and cached
/// for good when asked under their current content hash (see `compress`).
pub fn static_files(
    dir: &std::path::Path,
) -> actix_web::Scope<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::scope("/static")
        .wrap(actix_web::middleware::from_fn(
            super::compress::cache_assets,
        ))
        .service(Files::new("", dir).use_etag(true).use_last_modified(true))
}

/// The fallback for unknown paths outside `/api`.
pub fn default_page() -> actix_web::Route {
    web::to(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped() {
        let page = EventPage {
            id: Uuid::nil(),
            name: "<script>alert(1)</script>".into(),
            venue: "V & V".into(),
            starts_at: "soon".into(),
            opens_at: None,
            opens_iso: None,
            state: SaleState::OnSale,
            state_label: "On sale",
            joinable: true,
            tiers: vec![],
            left: false,
        };
        let html = page.render().unwrap();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("script&#62;alert(1)") || html.contains("script&gt;alert(1)"),
            "{html}"
        );
    }
}
