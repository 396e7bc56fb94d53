//! The one error type of the HTTP API, and its one mapping to the contract's answers.
//!
//! Every handler returns `Result<_, ApiError>`; `impl ResponseError` turns a variant into the
//! status and `{"error", "message"}` body API.md lists. Internal errors are logged with their
//! cause and shown to the client only as "internal error".

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::room::LineError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying after a 503 from a backend outage.
pub const BACKEND_RETRY_AFTER_SECS: u64 = 2;

/// Everything an API call can answer besides success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, wrong types, missing fields, bad query parameters.
    #[error("{0}")]
    BadRequest(String),
    /// Organizer endpoint without a valid organizer token.
    #[error("a valid organizer token is required")]
    Unauthorized,
    /// Shop endpoint without a valid admission for this event.
    #[error("{0}")]
    NotAdmitted(String),
    /// A console form without its session's anti-forgery token (a cross-site request).
    #[error("{0}")]
    Forbidden(String),
    /// Unknown event, hold or order.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Some requested items are not free.
    #[error("some of the requested places are no longer available")]
    Unavailable(Vec<String>),
    /// The sale is not open (scheduled, paused or closed).
    #[error("{0}")]
    SaleNotOpen(String),
    /// The hold's time ran out; its items are free again.
    #[error("the hold expired and its places were released")]
    HoldExpired,
    /// Body over the limit.
    #[error("request body is larger than {0} bytes")]
    TooLarge(usize),
    /// Well-formed but against a rule.
    #[error("{0}")]
    Invalid(String),
    /// The request took longer than the server allows (a slow client).
    #[error("the request body took too long to arrive; retry")]
    Timeout,
    /// Over a rate limit.
    #[error("too many requests; retry in {0} s")]
    RateLimited(u64),
    /// A bounded queue is full (actor mailbox, committer); retry shortly.
    #[error("{0}")]
    Busy(String, u64),
    /// The database or Redis cannot be reached; nothing was done.
    #[error("{0}")]
    Backend(String),
    /// A bug or corrupt state: logged, hidden from the client.
    #[error("{0}")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    unavailable: Option<&'a [String]>,
}

impl ApiError {
    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotAdmitted(_) => "not_admitted",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::SaleNotOpen(_) => "sale_not_open",
            ApiError::HoldExpired => "hold_expired",
            ApiError::TooLarge(_) => "too_large",
            ApiError::Invalid(_) => "invalid",
            ApiError::RateLimited(_) => "rate_limited",
            ApiError::Timeout => "timeout",
            ApiError::Busy(..) | ApiError::Backend(_) => "unavailable_backend",
            ApiError::Internal(_) => "internal",
        }
    }

    /// Seconds for `Retry-After`, where the answer carries one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited(secs) | ApiError::Busy(_, secs) => Some(*secs),
            ApiError::Backend(_) => Some(BACKEND_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// The text shown to the client (internal details stay in the log).
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => "internal error".into(),
            ApiError::Backend(_) => {
                "a backend is unavailable; nothing was changed, retry shortly".into()
            }
            other => other.to_string(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotAdmitted(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) | ApiError::SaleNotOpen(_) => StatusCode::CONFLICT,
            ApiError::HoldExpired => StatusCode::GONE,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy(..) | ApiError::Backend(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Backend(cause) => tracing::warn!(%cause, "backend unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        if matches!(self, ApiError::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(ErrorBody {
            error: self.code(),
            message: self.public_message(),
            unavailable: match self {
                ApiError::Unavailable(ids) => Some(ids),
                _ => None,
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => ApiError::Backend(cause),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<LineError> for ApiError {
    fn from(e: LineError) -> Self {
        match e {
            LineError::Unavailable(cause) => ApiError::Backend(cause),
        }
    }
}
