//! The organizer console (`/organizer`): events, the event editor, a live dashboard per
//! event, and its orders.
//!
//! Every page calls the same operations as the organizer API (`create_event`, `change`,
//! `event_stats`, `cancel_order`, the CSV export), so the console can do nothing the API
//! could not, under the same rules. The organizer logs in once with the organizer token
//! ([`session`]); the dashboard's script reads the live numbers from a JSON endpoint under
//! `/organizer` that the session cookie opens, so the token itself never reaches a script.

pub mod event_form;
pub mod session;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use self::event_form::EventForm;
use self::session::Session;
use super::{money, refusal_page, render, show_time, state_label};
use crate::domain::inventory::TierCounts;
use crate::domain::order::{Order, OrderStatus};
use crate::edge::Route;
use crate::inventory::actor::GetSnapshot;
use crate::web::api::events::{change, create_event, event_views, EventView};
use crate::web::api::inventory;
use crate::web::api::orders::{cancel_order, csv_export, search_term};
use crate::web::api::stats::{event_stats, stats_of, Stats};
use crate::web::auth::rate_limited;
use crate::web::error::ApiError;
use crate::web::State;

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

struct EventRow {
    id: Uuid,
    name: String,
    venue: String,
    starts_at: String,
    state: &'static str,
    state_label: &'static str,
    sold: u64,
    capacity: u64,
}

#[derive(Template)]
#[template(path = "console/events.html")]
struct EventsPage {
    chrome: Chrome,
    events: Vec<EventRow>,
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
    state: &'static str,
    state_label: &'static str,
    paused: bool,
    rate_per_minute: u32,
    max_active: u32,
    stats: Stats,
    revenue: String,
    tiers: Vec<TierLine>,
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
                .map(|i| i.id.as_str())
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
}

/// Query of the orders page.
#[derive(Deserialize)]
struct OrdersQuery {
    q: Option<String>,
    after: Option<Uuid>,
}

/// Why a console request was turned away.
enum Denied {
    /// No valid session: to the login.
    NotSignedIn,
    /// A form without its session's token.
    Forged(ApiError),
}

impl Denied {
    fn answer(self) -> HttpResponse {
        match self {
            Denied::NotSignedIn => see_other(session::CONSOLE_PATH),
            Denied::Forged(e) => console_error(&e, session::CONSOLE_PATH),
        }
    }
}

/// The logged-in organizer.
fn signed_in(req: &HttpRequest, state: &State) -> Result<Session, Denied> {
    session::session(req, state).ok_or(Denied::NotSignedIn)
}

/// A posted console form's fields, once its session and anti-forgery token are checked.
fn posted(
    req: &HttpRequest,
    state: &State,
    body: &[u8],
) -> Result<(Session, Vec<(String, String)>), Denied> {
    let session = signed_in(req, state)?;
    let pairs = form_pairs(body);
    session
        .check_csrf(field(&pairs, "csrf"))
        .map_err(Denied::Forged)?;
    Ok((session, pairs))
}

/// The fields of an `application/x-www-form-urlencoded` body.
fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

fn field<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

fn console_error(err: &ApiError, back: &str) -> HttpResponse {
    refusal_page(err, back, "Back to the console")
}

fn private(mut response: HttpResponse) -> HttpResponse {
    // Console pages show buyers' names and emails: never cached anywhere.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

async fn home(req: HttpRequest, state: State) -> HttpResponse {
    let session = match session::session(&req, &state) {
        Some(s) => s,
        None => return private(render(StatusCode::OK, &LoginPage { error: None })),
    };
    let views = match event_views(&state).await {
        Ok(v) => v,
        Err(e) => return console_error(&e, "/"),
    };
    // Newest first: the event being set up is the one the organizer came for.
    let events = views
        .into_iter()
        .rev()
        .map(|v| EventRow {
            id: v.id,
            starts_at: show_time(v.starts_at),
            state: v.state,
            state_label: state_label(v.state),
            sold: v.tiers.iter().map(|t| u64::from(t.sold)).sum(),
            capacity: v.tiers.iter().map(|t| u64::from(t.capacity)).sum(),
            name: v.name,
            venue: v.venue,
        })
        .collect();
    private(render(
        StatusCode::OK,
        &EventsPage {
            chrome: Chrome::new(&session),
            events,
        },
    ))
}

async fn login(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let client = state.edge.client(&req);
    if let Err(wait) = state.edge.check_ip(Route::Login, client) {
        return console_error(&rate_limited(wait), session::CONSOLE_PATH);
    }
    let pairs = form_pairs(&body);
    if !session::is_organizer_token(&state, field(&pairs, "token").unwrap_or("")) {
        tracing::warn!("console login with a wrong token");
        let page = LoginPage {
            error: Some("That is not the organizer token. Check it and try again.".into()),
        };
        return private(render(StatusCode::UNAUTHORIZED, &page));
    }
    HttpResponse::SeeOther()
        .cookie(session::start(&req, &state))
        .insert_header((header::LOCATION, session::CONSOLE_PATH))
        .finish()
}

async fn logout(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    if let Err(denied) = posted(&req, &state, &body) {
        return denied.answer();
    }
    HttpResponse::SeeOther()
        .cookie(session::end(&req))
        .insert_header((header::LOCATION, session::CONSOLE_PATH))
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

async fn new_event(req: HttpRequest, state: State) -> HttpResponse {
    match signed_in(&req, &state) {
        Ok(session) => form_page(StatusCode::OK, &session, None, EventForm::blank(), vec![]),
        Err(denied) => denied.answer(),
    }
}

/// The answer to a refused event form: the same form, as typed, with the reasons.
fn refused_form(
    session: &Session,
    id: Option<Uuid>,
    mut form: EventForm,
    err: Result<ApiError, Vec<String>>,
) -> HttpResponse {
    let errors = match err {
        Err(field_errors) => field_errors,
        Ok(ApiError::Invalid(reason)) => vec![reason],
        Ok(other) => return console_error(&other, session::CONSOLE_PATH),
    };
    form.add_spare_rows();
    form_page(StatusCode::UNPROCESSABLE_ENTITY, session, id, form, errors)
}

async fn create(req: HttpRequest, state: State, body: web::Bytes) -> HttpResponse {
    let (session, pairs) = match posted(&req, &state, &body) {
        Ok(p) => p,
        Err(denied) => return denied.answer(),
    };
    let form = EventForm::from_pairs(&pairs, &[], &[]);
    let spec = match form.to_spec() {
        Ok(spec) => spec,
        Err(errors) => return refused_form(&session, None, form, Err(errors)),
    };
    match create_event(&state, spec).await {
        Ok(v) => see_other(&format!("/organizer/events/{}", v.id)),
        Err(e) => refused_form(&session, None, form, Ok(e)),
    }
}

async fn edit_event(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(denied) => return denied.answer(),
    };
    let id = path.into_inner();
    match state.store.get_event(id).await {
        Ok(Some(record)) => form_page(
            StatusCode::OK,
            &session,
            Some(id),
            EventForm::from_spec(&record.spec),
            vec![],
        ),
        Ok(None) => console_error(&ApiError::NotFound("event"), session::CONSOLE_PATH),
        Err(e) => console_error(&e.into(), session::CONSOLE_PATH),
    }
}

async fn save_event(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> HttpResponse {
    let (session, pairs) = match posted(&req, &state, &body) {
        Ok(p) => p,
        Err(denied) => return denied.answer(),
    };
    let id = path.into_inner();
    let saved = match state.store.get_event(id).await {
        Ok(Some(record)) => record.spec,
        Ok(None) => return console_error(&ApiError::NotFound("event"), session::CONSOLE_PATH),
        Err(e) => return console_error(&e.into(), session::CONSOLE_PATH),
    };
    let tier_ids: Vec<String> = saved.tiers.iter().map(|t| t.id.clone()).collect();
    let sections: Vec<String> = saved.seating.iter().map(|b| b.section.clone()).collect();
    let form = EventForm::from_pairs(&pairs, &tier_ids, &sections);
    let patch = match form.to_patch() {
        Ok(p) => p,
        Err(errors) => return refused_form(&session, Some(id), form, Err(errors)),
    };
    match change(&state, id, |r| r.spec = patch.apply(r.spec.clone())).await {
        Ok(_) => see_other(&format!("/organizer/events/{id}")),
        Err(e) => refused_form(&session, Some(id), form, Ok(e)),
    }
}

async fn set_paused(
    req: HttpRequest,
    state: State,
    path: web::Path<(Uuid, String)>,
    body: web::Bytes,
) -> HttpResponse {
    if let Err(denied) = posted(&req, &state, &body) {
        return denied.answer();
    }
    let (id, action) = path.into_inner();
    let paused = match action.as_str() {
        "pause" => true,
        "resume" => false,
        _ => return console_error(&ApiError::NotFound("page"), session::CONSOLE_PATH),
    };
    let back = format!("/organizer/events/{id}");
    match change(&state, id, |r| r.paused = paused).await {
        Ok(_) => see_other(&back),
        Err(e) => console_error(&e, &back),
    }
}

async fn dashboard(req: HttpRequest, state: State, path: web::Path<Uuid>) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(denied) => return denied.answer(),
    };
    let id = path.into_inner();
    // One snapshot serves the event, its numbers and its pause flag.
    let found = async {
        let snap = inventory(&state, id).await?.ask(GetSnapshot).await?;
        let stats = stats_of(&state, id, &snap).await?;
        Ok::<_, ApiError>((snap, stats))
    };
    let (snap, stats) = match found.await {
        Ok(found) => found,
        Err(e) => return console_error(&e, session::CONSOLE_PATH),
    };
    let paused = snap.paused;
    private(render(
        StatusCode::OK,
        &dashboard_page(
            Chrome::new(&session),
            EventView::new(id, snap),
            stats,
            paused,
        ),
    ))
}

fn dashboard_page(chrome: Chrome, v: EventView, stats: Stats, paused: bool) -> DashboardPage {
    DashboardPage {
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
    let stats = event_stats(&state, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(stats))
}

async fn orders(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    query: web::Query<OrdersQuery>,
) -> HttpResponse {
    let session = match signed_in(&req, &state) {
        Ok(s) => s,
        Err(denied) => return denied.answer(),
    };
    let id = path.into_inner();
    let back = format!("/organizer/events/{id}");
    let listed = async {
        let search = search_term(query.q.as_deref())?;
        let record = state
            .store
            .get_event(id)
            .await?
            .ok_or(ApiError::NotFound("event"))?;
        let orders = state
            .store
            .list_orders(id, query.after, ORDERS_PER_PAGE, search)
            .await?;
        Ok::<_, ApiError>((record, orders, search.unwrap_or("").to_string()))
    };
    let (record, orders, q) = match listed.await {
        Ok(found) => found,
        Err(e) => return console_error(&e, &back),
    };
    let page = |after: Option<Uuid>| {
        let base = format!("/organizer/events/{id}/orders?q={}", encode(&q));
        match after {
            Some(after) => format!("{base}&after={after}"),
            None => base,
        }
    };
    let next = (orders.len() == ORDERS_PER_PAGE as usize)
        .then(|| orders.last().map(|o| page(Some(o.order_id))))
        .flatten();
    let here = page(query.after);
    private(render(
        StatusCode::OK,
        &OrdersPage {
            chrome: Chrome::new(&session),
            id,
            name: record.spec.name,
            query: q,
            orders: orders.into_iter().map(OrderRow::from).collect(),
            next,
            here,
        },
    ))
}

fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn orders_csv(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    session::session(&req, &state).ok_or(ApiError::Unauthorized)?;
    let id = path.into_inner();
    if state.store.get_event(id).await?.is_none() {
        return Err(ApiError::NotFound("event"));
    }
    Ok(private(csv_export(&state, id).await?))
}

async fn cancel(
    req: HttpRequest,
    state: State,
    path: web::Path<Uuid>,
    body: web::Bytes,
) -> HttpResponse {
    let (_, pairs) = match posted(&req, &state, &body) {
        Ok(p) => p,
        Err(denied) => return denied.answer(),
    };
    // Only back into the console: a posted address elsewhere would be an open redirect.
    let back = field(&pairs, "back")
        .filter(|b| b.starts_with("/organizer/") && !b.starts_with("/organizer//"))
        .unwrap_or(session::CONSOLE_PATH)
        .to_string();
    match cancel_order(&state, path.into_inner()).await {
        Ok(order) => {
            tracing::info!(order = %order.order_id, "order cancelled from the console");
            see_other(&back)
        }
        Err(e) => console_error(&e, &back),
    }
}

/// Registers the console's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let form_limit = || web::PayloadConfig::new(crate::web::ORGANIZER_BODY_LIMIT);
    cfg.route("/organizer", web::get().to(home)).service(
        web::scope("/organizer")
            .app_data(form_limit())
            .route("/login", web::post().to(login))
            .route("/logout", web::post().to(logout))
            .route("/events/new", web::get().to(new_event))
            .route("/events", web::post().to(create))
            .route("/events/{id}", web::get().to(dashboard))
            .route("/events/{id}/edit", web::get().to(edit_event))
            .route("/events/{id}/edit", web::post().to(save_event))
            .route("/events/{id}/stats", web::get().to(live_stats))
            .route("/events/{id}/orders", web::get().to(orders))
            .route("/events/{id}/orders.csv", web::get().to(orders_csv))
            .route("/events/{id}/{action}", web::post().to(set_paused))
            .route("/orders/{id}/cancel", web::post().to(cancel)),
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
            events: vec![EventRow {
                id: Uuid::nil(),
                name: HOSTILE.into(),
                venue: HOSTILE.into(),
                starts_at: "soon".into(),
                state: "on_sale",
                state_label: "On sale",
                sold: 1,
                capacity: 2,
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
