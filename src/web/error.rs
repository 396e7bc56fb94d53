//! The one error type of the web layer, and its two renderings: the contract's JSON under
//! `/api/`, an HTML page in the site's style everywhere else.
//!
//! [`ApiError`] names every answer besides success; `impl ResponseError` turns a variant into
//! the status and `{"error", "message"}` body `docs/api.md` lists. [`PageError`] renders the same
//! error as the refusal page, with a link back where the fan or organizer can go on. A
//! [`Refusal`] (from the extractors, which serve pages and API alike) picks the rendering from
//! the request's path. Internal errors are logged with their cause and shown to the client
//! only as "internal error".

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use uuid::Uuid;

use super::render::{capitalize, error_page, ErrorPage};
use crate::sale::SaleError;

/// Seconds a client should wait before retrying after a 503 from a backend outage.
pub const BACKEND_RETRY_AFTER_SECS: u64 = 2;

/// Everything an API call can answer besides success: what a sale operation answered, and
/// the refusals only the web layer makes (credentials, bodies, rates).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An operation's answer (and the same answers from the web layer's own parsing).
    #[error(transparent)]
    Sale(#[from] SaleError),
    /// Organizer endpoint without a valid organizer token.
    #[error("a valid organizer token is required")]
    Unauthorized,
    /// A console form without its session's anti-forgery token (a cross-site request).
    #[error("{0}")]
    Forbidden(String),
    /// Body over the limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The request body took longer to arrive than the server allows (a slow client).
    #[error("the request body took too long to arrive; retry")]
    Timeout,
    /// Over a rate limit; retry after the seconds given.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    /// A body of another type than the route takes.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A method the route does not take; the methods it takes.
    #[error("this route does not take {0}; it takes {1}")]
    MethodNotAllowed(String, &'static str),
}

/// Every error under `/api/`: a stable code to act on, and a message for people.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// `bad_request`, `unauthorized`, `not_admitted`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `timeout`, `unavailable`, `sale_not_open`, `hold_expired`,
    /// `too_large`, `unsupported_media_type`, `invalid`, `rate_limited`, `internal`,
    /// `unavailable_backend`.
    #[schema(value_type = String, example = "not_found")]
    error: &'a str,
    #[schema(example = "no such event")]
    message: String,
    /// With `409 unavailable`: the items that are not free.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>, nullable = false)]
    unavailable: Option<&'a [String]>,
}

impl ApiError {
    /// Malformed JSON, wrong types, missing fields, bad query parameters (400).
    pub fn bad_request(message: impl Into<String>) -> Self {
        SaleError::BadRequest(message.into()).into()
    }

    /// Unknown event, hold, order or route (404).
    pub fn not_found(what: &'static str) -> Self {
        SaleError::NotFound(what).into()
    }

    /// Well-formed but against a rule (422).
    pub fn invalid(message: impl Into<String>) -> Self {
        SaleError::Invalid(message.into()).into()
    }

    /// No valid admission or ticket for this event (403).
    pub fn not_admitted(message: impl Into<String>) -> Self {
        SaleError::NotAdmitted(message.into()).into()
    }

    /// At capacity: retry after `secs` (503).
    pub fn busy(message: impl Into<String>, secs: u64) -> Self {
        SaleError::Busy(message.into(), secs).into()
    }

    /// A bug (500, logged).
    pub fn internal(message: impl Into<String>) -> Self {
        SaleError::Internal(message.into()).into()
    }

    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Sale(e) => match e {
                SaleError::BadRequest(_) => "bad_request",
                SaleError::NotAdmitted(_) => "not_admitted",
                SaleError::NotFound(_) => "not_found",
                SaleError::Unavailable(_) => "unavailable",
                SaleError::SaleNotOpen(_) => "sale_not_open",
                SaleError::HoldExpired => "hold_expired",
                SaleError::Invalid(_) => "invalid",
                SaleError::Busy(..) | SaleError::Backend(_) => "unavailable_backend",
                SaleError::Internal(_) => "internal",
            },
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooLarge(_) => "too_large",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Timeout => "timeout",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::MethodNotAllowed(..) => "method_not_allowed",
        }
    }

    /// Seconds for `Retry-After`, where the answer carries one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited(secs) | ApiError::Sale(SaleError::Busy(_, secs)) => Some(*secs),
            ApiError::Sale(SaleError::Backend(_)) => Some(BACKEND_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The text shown to the client (internal details stay in the log).
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Sale(SaleError::Internal(_)) => "internal error".into(),
            ApiError::Sale(SaleError::Backend(_)) => {
                "a backend is unavailable; nothing was changed, retry shortly".into()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Sale(e) => match e {
                SaleError::BadRequest(_) => StatusCode::BAD_REQUEST,
                SaleError::NotAdmitted(_) => StatusCode::FORBIDDEN,
                SaleError::NotFound(_) => StatusCode::NOT_FOUND,
                SaleError::Unavailable(_) | SaleError::SaleNotOpen(_) => StatusCode::CONFLICT,
                SaleError::HoldExpired => StatusCode::GONE,
                SaleError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
                SaleError::Busy(..) | SaleError::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
                SaleError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Sale(SaleError::Internal(cause)) => tracing::error!(%cause, "internal error"),
            ApiError::Sale(SaleError::Backend(cause)) => {
                tracing::warn!(%cause, "backend unavailable")
            }
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::MethodNotAllowed(_, allow) = self {
            response.insert_header((header::ALLOW, *allow));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.public_message(),
            unavailable: match self {
                ApiError::Sale(SaleError::Unavailable(ids)) => Some(ids),
                _ => None,
            },
        })
    }
}

/// The refusal page of an error, with a link back to `back_href`.
fn refusal_page(err: &ApiError, back_href: &str, back_label: &str) -> HttpResponse {
    let (title, message) = match err {
        ApiError::Sale(SaleError::NotFound(what)) => (
            format!("{} not found", capitalize(what)),
            "It may have been removed, or the link is mistyped.".to_string(),
        ),
        ApiError::Sale(SaleError::Backend(_) | SaleError::Busy(..)) => (
            "Busy right now".into(),
            "We could not complete that just now. Nothing was changed; please retry in a moment."
                .into(),
        ),
        ApiError::RateLimited(secs) => (
            "Slow down a little".into(),
            format!("Too many requests from your connection. Please wait {secs} s and try again; your place in line is kept."),
        ),
        ApiError::Sale(SaleError::NotAdmitted(_)) => (
            "You have not been admitted yet".into(),
            "The shop opens to fans in the order they joined the line. Go back to the line and you will be let in when it is your turn.".into(),
        ),
        ApiError::Sale(SaleError::Unavailable(_)) => (
            "Those places were just taken".into(),
            "Someone got there first. Please pick again.".into(),
        ),
        ApiError::Sale(SaleError::HoldExpired) => (
            "Your hold expired".into(),
            "The places you held were released when the time ran out. Pick again while your admission lasts.".into(),
        ),
        ApiError::Sale(SaleError::SaleNotOpen(message)) => {
            ("The sale is not open".into(), message.clone())
        }
        other => ("Something went wrong".into(), other.public_message()),
    };
    let page = ErrorPage {
        title,
        message,
        back_href: back_href.into(),
        back_label: back_label.into(),
    };
    let mut response = error_page(err.status_code(), &page, err.retry_after());
    if let ApiError::MethodNotAllowed(_, allow) = err {
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    }
    response
}

/// Where a refusal page links back to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Back {
    /// The list of events (the default).
    Events,
    /// The event's waiting room (a fan not admitted yet).
    Line(Uuid),
    /// A page of the organizer console.
    Console(String),
}

impl Back {
    fn link(&self) -> (String, &'static str) {
        match self {
            Back::Events => ("/".into(), "Back to events"),
            Back::Line(event) => (format!("/events/{event}/queue"), "Back to the line"),
            Back::Console(href) => (href.clone(), "Back to the console"),
        }
    }
}

/// An error shown as the HTML refusal page, with a way back.
#[derive(Debug)]
pub struct PageError {
    pub error: ApiError,
    pub back: Back,
}

impl PageError {
    /// The error, linking back to `back`.
    pub fn new(error: impl Into<ApiError>, back: Back) -> Self {
        PageError {
            error: error.into(),
            back,
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError::new(error, Back::Events)
    }
}

impl From<SaleError> for PageError {
    fn from(error: SaleError) -> Self {
        PageError::new(error, Back::Events)
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.error.status_code()
    }

    fn error_response(&self) -> HttpResponse {
        let (href, label) = self.back.link();
        refusal_page(&self.error, &href, label)
    }
}

/// A refusal by a check every route of a kind makes (an extractor, the guard): JSON under
/// `/api/`, the refusal page elsewhere.
#[derive(Debug)]
pub enum Refusal {
    Api(ApiError),
    Page(PageError),
}

impl Refusal {
    /// The refusal of `error` for this request, rendered as its path asks. A fan turned away
    /// from a shop page is sent back to the line; an organizer, back to the console.
    pub fn to(req: &actix_web::HttpRequest, error: impl Into<ApiError>) -> Self {
        let error = error.into();
        let path = req.path();
        if path.starts_with("/api/") {
            return Refusal::Api(error);
        }
        let back = if path.starts_with("/organizer") {
            Back::Console("/organizer".into())
        } else {
            match (&error, event_in_path(path)) {
                (ApiError::Sale(SaleError::NotAdmitted(_)), Some(event)) => Back::Line(event),
                _ => Back::Events,
            }
        };
        Refusal::Page(PageError::new(error, back))
    }

    /// The error inside.
    pub fn error(&self) -> &ApiError {
        match self {
            Refusal::Api(e) => e,
            Refusal::Page(p) => &p.error,
        }
    }
}

/// The event id of a page path `/events/{id}/…`.
fn event_in_path(path: &str) -> Option<Uuid> {
    let rest = path.strip_prefix("/events/")?;
    Uuid::parse_str(rest.split('/').next()?).ok()
}

impl From<Refusal> for PageError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Api(error) => PageError::new(error, Back::Events),
            Refusal::Page(page) => page,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error().fmt(f)
    }
}

impl ResponseError for Refusal {
    fn status_code(&self) -> StatusCode {
        self.error().status_code()
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Refusal::Api(e) => e.error_response(),
            Refusal::Page(p) => p.error_response(),
        }
    }
}
