//! Fan endpoints of the waiting room: join the line, read one's status, fetch a challenge,
//! check the draw.

use actix_web::{web, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use std::time::Duration;

use uuid::Uuid;

use crate::room::line::Status;
use crate::sale::{self, join::PowSolution};
use crate::web::error::ApiError;
use crate::web::extract::{set_cookies, Joiner, StatusRoute, Ticket};
use crate::web::{read_body, State, FAN_BODY_LIMIT};

/// The answer to a join or a poll: the status as JSON, with the fan's cookies.
fn respond(
    mut response: HttpResponseBuilder,
    event: Uuid,
    status: &Status,
    joined: bool,
) -> HttpResponse {
    set_cookies(&mut response, event, status, joined);
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
    /// An empty body is a join without proof of work; anything else must be the JSON object.
    fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JoinBody::default());
        }
        serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
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
    state: State,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let body = JoinBody::parse(&read_body(body, FAN_BODY_LIMIT)?)?;
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
    Ok(respond(builder, event, &joined.status, true))
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
    Ok(respond(HttpResponse::Ok(), ticket.event, &status, false))
}

/// `GET /api/v1/events/{id}/challenge`: a fresh proof-of-work challenge for one join.
pub async fn challenge(state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let challenge = sale::join::challenge(&state.sale, path.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(challenge))
}

/// `GET /api/v1/events/{id}/fairness`: the pre-queue draw, published once the line opened.
pub async fn fairness(state: State, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::admit::fairness(&state.sale, path.into_inner()).await?))
}
