//! The organizer console (`/organizer`): events, the event editor, a live dashboard per
//! event, and its orders.
//!
//! Every page calls the same operations as the organizer API (`create_event`, `change`,
//! `event_stats`, `cancel_order`, the CSV export), so the console can do nothing the API
//! could not, under the same rules. The organizer logs in once with the organizer token
//! ([`session`]); the dashboard's script reads the live numbers from a JSON endpoint under
//! `/organizer` that the session cookie opens, so the token itself never reaches a script.

pub mod event_form;
pub mod mail;
pub mod session;

use crate::web::{allow, get_only};
use actix_web::http::{header, StatusCode};
use actix_web::middleware::from_fn;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use self::event_form::EventForm;
use self::session::{form_fields, ConsoleForm, Session, CONSOLE_PATH};
use super::{money, render, show_time, state_label, EventLine};
use crate::domain::inventory::{SaleState, TierCounts};
use crate::domain::order::{Order, OrderStatus};
use crate::edge::Route;
use crate::sale::list_events::EventView;
use crate::sale::stats::Stats;
use crate::sale::{self, export, SaleError};
use crate::store::MailCounts;
use crate::web::error::{ApiError, Back, PageError};
use crate::web::extract::rate_limited;
use crate::web::{csv_download, forward, organizer_limits, read_body, State, ORGANIZER_BODY_LIMIT};

/// Orders per page of the console's orders table.
pub const ORDERS_PER_PAGE: u32 = 50;

/// The console's pages all know whether someone is logged in, and the form token.
pub struct Chrome {
    pub csrf: String,
}

impl Chrome {
    fn new(session: &Session) -> Self {
        Chrome {
            csrf: session.csrf(),
        }
    }
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    chrome: Chrome,
    events: Vec<EventLine>,
}

#[derive(Template)]
#[template(path = "console/event_form.html")]
struct EventFormPage {
    chrome: Chrome,
    /// `None` for a new event.
    id: Option<Uuid>,
    title: String,
    form: EventForm,
    errors: Vec<String>,
}

struct TierLine {
    id: String,
    name: String,
    price: String,
    capacity: u32,
    sold: u32,
    held: u32,
    available: u32,
    seated: bool,
    sold_percent: u32,
}

impl From<&TierCounts> for TierLine {
    fn from(t: &TierCounts) -> Self {
        TierLine {
            id: t.id.clone(),
            name: t.name.clone(),
            price: money(t.price_cents),
            capacity: t.capacity,
            sold: t.sold,
            held: t.held,
            available: t.available,
            seated: t.seated,
            sold_percent: percent(u64::from(t.sold), u64::from(t.capacity)),
        }
    }
}

fn percent(part: u64, whole: u64) -> u32 {
    (part * 100).checked_div(whole).unwrap_or(0) as u32
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    venue: String,
    starts_at: String,
    opens_at: Option<String>,
    state: SaleState,
    state_label: &'static str,
    paused: bool,
    rate_per_minute: u32,
    max_active: u32,
    stats: Stats,
    revenue: String,
    tiers: Vec<TierLine>,
    /// The event's mails not sent yet.
    mail: MailCounts,
}

struct OrderRow {
    id: Uuid,
    created_at: String,
    name: String,
    email: String,
    items: String,
    total: String,
    cancelled: bool,
}

impl From<Order> for OrderRow {
    fn from(o: Order) -> Self {
        OrderRow {
            id: o.order_id,
            created_at: o.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            items: o
                .items
                .iter()
                .map(|i| i.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            total: money(o.total_cents),
            cancelled: o.status == OrderStatus::Cancelled,
            name: o.name,
            email: o.email,
        }
    }
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    id: Uuid,
    name: String,
    query: String,
    orders: Vec<OrderRow>,
    /// The next page's address, when there is one.
    next: Option<String>,
    /// Where a cancel button comes back to (this page, as shown).
    here: String,
    /// The CSV of what is searched.
    csv_href: String,
}

/// Query of the orders page.
#[derive(Deserialize)]
struct OrdersQuery {
    q: Option<String>,
    after: Option<Uuid>,
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

/// An error on a console page, linking back to `back`.
fn console_error(error: impl Into<ApiError>, back: &str) -> PageError {
    PageError::new(error, Back::Console(back.into()))
}

fn private(mut response: HttpResponse) -> HttpResponse {
    // Console pages show buyers' names and emails: never cached anywhere.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn home(session: Option<Session>, state: State) -> Result<HttpResponse, PageError> {
    let Some(session) = session else {
        return Ok(private(render(StatusCode::OK, &LoginPage { error: None })));
    };
    let views = sale::list_events::events(&state.sale)
        .await
        .map_err(|e| console_error(e, "/"))?;
    // Newest first: the event being set up is the one the organizer came for.
    let events = views
        .into_iter()
        .rev()
        .map(|v| {
            let sold: u64 = v.tiers.iter().map(|t| u64::from(t.sold)).sum();
            let capacity: u64 = v.tiers.iter().map(|t| u64::from(t.capacity)).sum();
            EventLine::new(v, format!("{sold} / {capacity}"))
        })
        .collect();
    Ok(private(render(
        StatusCode::OK,
        &EventsPage {
            chrome: Chrome::new(&session),
            events,
        },
    )))
}

async fn login(
    req: HttpRequest,
    state: State,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, PageError> {
    let client = state.edge.client(&req);
    if let Err(wait) = state.edge.check_ip(Route::Login, client) {
        return Err(console_error(rate_limited(wait), CONSOLE_PATH));
    }
    let body = read_body(body, ORGANIZER_BODY_LIMIT).map_err(|e| console_error(e, CONSOLE_PATH))?;
    let fields = form_fields(&body);
    if !session::is_organizer_token(&state, session::field(&fields, "token").unwrap_or("")) {
        tracing::warn!("console login with a wrong token");
        let page = LoginPage {
            error: Some("That is not the organizer token. Check it and try again.".into()),
        };
        return Ok(private(render(StatusCode::UNAUTHORIZED, &page)));
    }
    Ok(HttpResponse::SeeOther()
        .cookie(session::start(&req, &state))
        .insert_header((header::LOCATION, CONSOLE_PATH))
        .finish())
}

async fn logout(_: ConsoleForm, req: HttpRequest) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(session::end(&req))
        .insert_header((header::LOCATION, CONSOLE_PATH))
        .finish()
}

fn form_page(
    status: StatusCode,
    session: &Session,
    id: Option<Uuid>,
    form: EventForm,
    errors: Vec<String>,
) -> HttpResponse {
    let title = match id {
        None => "New event".to_string(),
        Some(_) if form.name.is_empty() => "Edit event".to_string(),
        Some(_) => format!("Edit {}", form.name),
    };
    private(render(
        status,
        &EventFormPage {
            chrome: Chrome::new(session),
            id,
            title,
            form,
            errors,
        },
    ))
}

async fn new_event(session: Session) -> HttpResponse {
    form_page(StatusCode::OK, &session, None, EventForm::blank(), vec![])
}

/// The answer to a refused event form: the same form, as typed, with the reasons.
fn refused_form(
    session: &Session,
    id: Option<Uuid>,
    mut form: EventForm,
    reasons: Vec<String>,
) -> HttpResponse {
    form.add_spare_rows();
    form_page(StatusCode::UNPROCESSABLE_ENTITY, session, id, form, reasons)
}

/// The answer to a saved event form: to the dashboard, or the form again with the reason the
/// sale gave.
fn saved_or_refused(
    session: &Session,
    id: Option<Uuid>,
    form: EventForm,
    saved: Result<EventView, SaleError>,
) -> Result<HttpResponse, PageError> {
    match saved {
        Ok(v) => Ok(see_other(&format!("/organizer/events/{}", v.id))),
        Err(SaleError::Invalid(reason)) => Ok(refused_form(session, id, form, vec![reason])),
        Err(e) => Err(console_error(e, CONSOLE_PATH)),
    }
}

async fn create(posted: ConsoleForm, state: State) -> Result<HttpResponse, PageError> {
    let form = EventForm::from_pairs(&posted.fields, &[], &[]);
    let spec = match form.to_spec() {
        Ok(spec) => spec,
        Err(reasons) => return Ok(refused_form(&posted.session, None, form, reasons)),
    };
    let saved = sale::create_event::create_event(&state.sale, spec).await;
    saved_or_refused(&posted.session, None, form, saved)
}

async fn edit_event(
    session: Session,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let spec = sale::edit_event::saved_spec(&state.sale, id)
        .await
        .map_err(|e| console_error(e, CONSOLE_PATH))?;
    Ok(form_page(
        StatusCode::OK,
        &session,
        Some(id),
        EventForm::from_spec(&spec),
        vec![],
    ))
}

async fn save_event(
    posted: ConsoleForm,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let saved = sale::edit_event::saved_spec(&state.sale, id)
        .await
        .map_err(|e| console_error(e, CONSOLE_PATH))?;
    let tier_ids: Vec<String> = saved.tiers.iter().map(|t| t.id.clone()).collect();
    let sections: Vec<String> = saved.seating.iter().map(|b| b.section.clone()).collect();
    let form = EventForm::from_pairs(&posted.fields, &tier_ids, &sections);
    let patch = match form.to_patch() {
        Ok(p) => p,
        Err(reasons) => return Ok(refused_form(&posted.session, Some(id), form, reasons)),
    };
    let saved = sale::edit_event::edit_event(&state.sale, id, patch).await;
    saved_or_refused(&posted.session, Some(id), form, saved)
}

async fn set_paused(
    _: ConsoleForm,
    state: State,
    path: web::Path<(Uuid, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, action) = path.into_inner();
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return Err(console_error(ApiError::not_found("page"), CONSOLE_PATH)),
    };
    let back = format!("/organizer/events/{id}");
    sale::pause::pause(&state.sale, id, paused)
        .await
        .map_err(|e| console_error(e, &back))?;
    Ok(see_other(&back))
}

async fn dashboard(
    session: Session,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let board = sale::stats::dashboard(&state.sale, id)
        .await
        .map_err(|e| console_error(e, CONSOLE_PATH))?;
    let mail = sale::notifications::counts(&state.sale, id)
        .await
        .map_err(|e| console_error(e, CONSOLE_PATH))?;
    let mut page = dashboard_page(
        Chrome::new(&session),
        board.event,
        board.stats,
        board.paused,
    );
    page.mail = mail;
    Ok(private(render(StatusCode::OK, &page)))
}

fn dashboard_page(chrome: Chrome, v: EventView, stats: Stats, paused: bool) -> DashboardPage {
    DashboardPage {
        mail: MailCounts::default(),
        chrome,
        id: v.id,
        starts_at: show_time(v.starts_at),
        opens_at: v.sale_opens_at.map(show_time),
        state: v.state,
        state_label: state_label(v.state),
        paused,
        rate_per_minute: v.admission.rate_per_minute,
        max_active: v.admission.max_active,
        revenue: money(stats.revenue_cents),
        tiers: stats.tiers.iter().map(TierLine::from).collect(),
        stats,
        name: v.name,
        venue: v.venue,
    }
}

/// The dashboard's live numbers, for its script (the session cookie opens it).
async fn live_stats(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session::session(&req, &state).ok_or(ApiError::Unauthorized)?;
    let stats = sale::stats::stats(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(stats))
}

async fn orders(
    session: Session,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, PageError> {
    let id = path.into_inner();
    let back = format!("/organizer/events/{id}");
    let search = export::search_term(query.q.as_deref()).map_err(|e| console_error(e, &back))?;
    let q = search.unwrap_or("").to_string();
    let name = sale::edit_event::saved_spec(&state.sale, id)
        .await
        .map_err(|e| console_error(e, &back))?
        .name;
    let page = export::PageRequest {
        after: query.after,
        limit: ORDERS_PER_PAGE,
        search,
    };
    let export::OrdersPage { orders, next } = export::orders(&state.sale, id, page)
        .await
        .map_err(|e| console_error(e, &back))?;
    let page = |after: Option<String>| {
        let base = format!("/organizer/events/{id}/orders?q={}", encode(&q));
        match after {
            Some(after) => format!("{base}&after={after}"),
            None => base,
        }
    };
    let next = next.map(|after| page(Some(after)));
    let here = page(query.after.map(|after| after.to_string()));
    let csv_href = match q.as_str() {
        "" => format!("/organizer/events/{id}/orders.csv"),
        q => format!("/organizer/events/{id}/orders.csv?q={}", encode(q)),
    };
    Ok(private(render(
        StatusCode::OK,
        &OrdersPage {
            chrome: Chrome::new(&session),
            id,
            name,
            query: q,
            orders: orders.into_iter().map(OrderRow::from).collect(),
            next,
            here,
            csv_href,
        },
    )))
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The CSV of the orders the organizer sees: every order, or those matching their search.
async fn orders_csv(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<OrdersQuery>,
) -> Result<HttpResponse, ApiError> {
    session::session(&req, &state).ok_or(ApiError::Unauthorized)?;
    let id = path.into_inner();
    let search = export::search_term(query.q.as_deref())?;
    let body = export::csv(&state.sale, id, None, None, search).await?;
    Ok(private(csv_download(id, body)))
}

/// Where a posted form's `back` field says to return: only into the console (an address
/// elsewhere would be an open redirect), else the console's home.
fn back_to(posted: &ConsoleForm) -> String {
    posted
        .field("back")
        .filter(|b| b.starts_with("/organizer/") && !b.starts_with("/organizer//"))
        .unwrap_or(CONSOLE_PATH)
        .to_string()
}

async fn cancel(
    posted: ConsoleForm,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, PageError> {
    let back = back_to(&posted);
    let order = sale::cancel::cancel(&state.sale, path.into_inner())
        .await
        .map_err(|e| console_error(e, &back))?;
    tracing::info!(order = %order.order_id, "order cancelled from the console");
    Ok(see_other(&back))
}

/// Registers the console's routes; each answers the methods it does not take with 405.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/organizer")
            .route(web::get().to(home))
            .default_service(allow("GET")),
    )
    .service(
        organizer_limits()
            .on_scope(web::scope("/organizer"))
            .service(
                web::resource("/login")
                    .route(web::post().to(login))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/logout")
                    .route(web::post().to(logout))
                    .default_service(allow("POST")),
            )
            .service(get_only("/events/new", new_event))
            .service(
                web::resource("/events")
                    .route(web::post().to(create))
                    .default_service(allow("POST")),
            )
            .service(get_only("/events/{id}", dashboard))
            .service(
                web::resource("/events/{id}/edit")
                    .wrap(from_fn(forward::writes_to_event_owner))
                    .route(web::get().to(edit_event))
                    .route(web::post().to(save_event))
                    .default_service(allow("GET, POST")),
            )
            .service(get_only("/events/{id}/stats", live_stats))
            .service(get_only("/events/{id}/orders", orders))
            .service(get_only("/events/{id}/orders.csv", orders_csv))
            .service(get_only("/events/{id}/notifications", mail::mails))
            .service(
                web::resource("/events/{id}/{action}")
                    .wrap(from_fn(forward::to_event_owner))
                    .route(web::post().to(set_paused))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/orders/{id}/cancel")
                    .wrap(from_fn(forward::to_order_owner))
                    .route(web::post().to(cancel))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/notifications/{id}/retry")
                    .route(web::post().to(mail::retry))
                    .default_service(allow("POST")),
            ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "<script>alert(1)</script>\"'&";

    fn assert_escaped(html: &str) {
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(1)") || html.contains("&lt;script&gt;alert(1)"),
            "{html}"
        );
    }

    #[test]
    fn console_pages_escape_what_organizers_and_buyers_typed() {
        let chrome = || Chrome { csrf: "t".into() };
        let events = EventsPage {
            chrome: chrome(),
            events: vec![EventLine {
                id: Uuid::nil(),
                name: HOSTILE.into(),
                venue: HOSTILE.into(),
                starts_at: "soon".into(),
                state: SaleState::OnSale,
                state_label: "On sale",
                figure: "1 / 2".into(),
            }],
        };
        assert_escaped(&events.render().unwrap());

        let orders = OrdersPage {
            chrome: chrome(),
            id: Uuid::nil(),
            name: HOSTILE.into(),
            query: HOSTILE.into(),
            orders: vec![OrderRow {
                id: Uuid::nil(),
                created_at: "now".into(),
                name: HOSTILE.into(),
                email: HOSTILE.into(),
                items: HOSTILE.into(),
                total: "$1.00".into(),
                cancelled: false,
            }],
            next: None,
            here: "/organizer/x?q=\"><script>alert(1)</script>".into(),
            csv_href: "/organizer/x.csv?q=\"><script>alert(1)</script>".into(),
        };
        let html = orders.render().unwrap();
        assert_escaped(&html);
        assert!(
            html.contains("&#34;&#62;&#60;script&#62;")
                || html.contains("&quot;&gt;&lt;script&gt;"),
            "attribute values are escaped too: {html}"
        );

        let mut form = EventForm::blank();
        form.name = HOSTILE.into();
        form.tiers[0].name = HOSTILE.into();
        let page = EventFormPage {
            chrome: chrome(),
            id: None,
            title: HOSTILE.into(),
            form,
            errors: vec![HOSTILE.into()],
        };
        assert_escaped(&page.render().unwrap());
    }

    #[test]
    fn percentages_of_an_empty_tier_are_zero() {
        assert_eq!(percent(0, 0), 0);
        assert_eq!(percent(3, 3), 100);
        assert_eq!(percent(1, 3), 33);
    }
}
