//! Fan endpoints of the waiting room: join the line, read one's status, fetch a challenge,
//! check the draw.

use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use std::time::Duration;

use uuid::Uuid;

use crate::room::line::Status;
use crate::sale::{self, join::PowSolution};
use crate::web::error::ApiError;
use crate::web::extract::{
    clear_cookies, set_cookies, JoinRoute, Joiner, Reader, StatusRoute, Ticket,
};
use crate::web::json::{check_content_type, parse_object};
use crate::web::{read_body, State, FAN_BODY_LIMIT};

/// The answer to a join or a poll: the status as JSON, with the fan's cookies.
fn respond(
    mut response: HttpResponseBuilder,
    req: &HttpRequest,
    event: Uuid,
    status: &Status,
    joined: bool,
) -> HttpResponse {
    set_cookies(&mut response, req, event, status, joined);
    response
        .insert_header(("Cache-Control", "no-store"))
        .json(status)
}

/// Body of a join: optional, with the solved challenge when the event demands one.
#[derive(Deserialize, Default)]
pub struct JoinBody {
    pow: Option<SolutionBody>,
}

/// A solved proof-of-work challenge.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SolutionBody {
    challenge: String,
    nonce: String,
}

impl JoinBody {
    /// An empty body is a join without proof of work; anything else must be a JSON object
    /// sent as `application/json`.
    fn parse(req: &HttpRequest, bytes: &[u8]) -> Result<Self, ApiError> {
        check_content_type(req, bytes, true)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JoinBody::default());
        }
        parse_object(bytes)
    }

    fn solution(self) -> Option<PowSolution> {
        self.pow.map(|p| PowSolution {
            challenge: p.challenge,
            nonce: p.nonce,
        })
    }
}

/// `POST /api/v1/events/{id}/queue`: 201 with a new place, 200 with the caller's own.
pub async fn join(
    joiner: Joiner,
    req: HttpRequest,
    state: State,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = JoinBody::parse(&req, &read_body(body, FAN_BODY_LIMIT)?)?;
    let event = joiner.event;
    let joined = sale::join::join(
        &state.sale,
        sale::join::JoinRequest {
            event,
            own: joiner.own,
            pow: body.solution(),
        },
    )
    .await?;
    let builder = if joined.created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(respond(builder, &req, event, &joined.status, true))
}

/// What a leave answers.
#[derive(serde::Serialize)]
struct LeaveAnswer {
    /// True when the fan was in the line (false: their turn had come and gone).
    left: bool,
    join_number: u64,
}

/// `DELETE /api/v1/events/{id}/queue`: the caller leaves the line (their ticket's place is
/// skipped, an admission is given back); the fan's cookies are removed. Leaving twice is
/// harmless.
pub async fn leave(
    ticket: Ticket<JoinRoute>,
    req: HttpRequest,
    state: State,
) -> Result<HttpResponse, ApiError> {
    let left = sale::leave::leave(&state.sale, ticket.event, &ticket.claims).await?;
    let mut response = HttpResponse::Ok();
    clear_cookies(&mut response, &req, ticket.event);
    Ok(response
        .insert_header(("Cache-Control", "no-store"))
        .json(LeaveAnswer {
            left,
            join_number: ticket.claims.seq,
        }))
}

/// Query of `GET …/queue`: `wait`, seconds a long poll may wait for a change (0–30).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    wait: Option<u64>,
}

/// `GET /api/v1/events/{id}/queue[?wait=N]`: the caller's status (with an admission once
/// admitted); with `wait`, near the front, held until it changes or N seconds pass.
pub async fn status(
    ticket: Ticket<StatusRoute>,
    req: HttpRequest,
    state: State,
    query: web::Query<StatusQuery>,
) -> Result<HttpResponse, ApiError> {
    let wait = match query.wait {
        None | Some(0) => None,
        Some(secs) if secs <= sale::status::MAX_WAIT_SECS => Some(Duration::from_secs(secs)),
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "wait must be 0 to {} seconds",
                sale::status::MAX_WAIT_SECS
            )))
        }
    };
    let status = match wait {
        None => {
            sale::status::status(&state.sale, ticket.event, &ticket.claims, ticket.token).await?
        }
        Some(wait) => {
            // A parked poll waits without working: the node's in-flight ceiling does not count
            // it (the parked polls have their own bound).
            let _aside = state.edge.set_aside();
            sale::status::wait_for_change(
                &state.sale,
                ticket.event,
                &ticket.claims,
                ticket.token,
                wait,
            )
            .await?
        }
    };
    Ok(respond(
        HttpResponse::Ok(),
        &req,
        ticket.event,
        &status,
        false,
    ))
}

/// `GET /api/v1/events/{id}/challenge`: a fresh proof-of-work challenge for one join.
pub async fn challenge(
    _: Reader,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    let challenge = sale::join::challenge(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(challenge))
}

/// `GET /api/v1/events/{id}/fairness`: the pre-queue draw, published once the line opened.
pub async fn fairness(
    _: Reader,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::admit::fairness(&state.sale, path.into_inner()).await?))
}
