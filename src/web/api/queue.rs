//! Fan endpoints of the waiting room: join the line, read one's status, fetch a challenge,
//! check the draw.

use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;
use std::time::Duration;

use uuid::Uuid;

use crate::room::line::Status;
use crate::sale::admit::Fairness;
use crate::sale::join::ChallengeView;
use crate::sale::{self, join::PowSolution};
use crate::web::error::{ApiError, ErrorBody};
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
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pow: Option<SolutionBody>,
}

/// A solved proof-of-work challenge: SHA-256(challenge ‖ nonce) begins with the challenge's
/// `difficulty_bits` zero bits.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SolutionBody {
    /// As `GET …/challenge` gave it.
    challenge: String,
    /// 1–64 visible ASCII characters.
    #[schema(min_length = 1, max_length = 64, pattern = "^[!-~]+$")]
    nonce: String,
}

impl JoinBody {
    /// No body at all is a join without proof of work; anything else (whitespace included)
    /// must be a JSON object sent as `application/json`.
    fn parse(req: &HttpRequest, bytes: &[u8]) -> Result<Self, ApiError> {
        check_content_type(req, bytes)?;
        if bytes.is_empty() {
            return Ok(JoinBody::default());
        }
        let body: JoinBody = parse_object(bytes)?;
        // A malformed solution is refused even from a fan who needs none (their own ticket).
        if let Some(pow) = &body.pow {
            let n = pow.nonce.len();
            if !(1..=64).contains(&n) || !pow.nonce.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ApiError::bad_request(
                    "the nonce must be 1 to 64 visible ASCII characters",
                ));
            }
        }
        Ok(body)
    }

    fn solution(self) -> Option<PowSolution> {
        self.pow.map(|p| PowSolution {
            challenge: p.challenge,
            nonce: p.nonce,
        })
    }
}

/// Join the line.
///
/// `201` with a new place; `200` when the caller already holds a valid ticket for this event
/// (the same place, never a second one). The body is optional: the solved challenge, when the
/// event asks for proof of work. Sets the ticket cookie.
#[utoipa::path(
    post, path = "/api/v1/events/{id}/queue", tag = "fans", operation_id = "joinQueue",
    params(("id" = Uuid, Path, description = "The event")),
    request_body(content = Option<JoinBody>, content_type = "application/json",
        description = "Optional: the solved proof of work"),
    security((), ("ticket" = []), ("ticket_cookie" = [])),
    responses(
        (status = 201, description = "A new place in line", body = Status,
         links(("QueueStatus" = (operation_id = "queueStatus", parameters(("id" = "$request.path.id")))))),
        (status = 200, description = "The caller's own place", body = Status),
        (status = 409, description = "The sale has closed", body = ErrorBody),
        (status = 422, description = "The proof of work was refused (the message says why)", body = ErrorBody),
    )
)]
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
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LeaveAnswer {
    /// True when the fan was in the line (false: their turn had come and gone).
    left: bool,
    join_number: u64,
}

/// Leave the line.
///
/// A waiting fan's place is skipped when its turn comes and stops counting as waiting at once;
/// an admitted fan gives the admission back. The ticket and admission cookies are removed.
/// Leaving twice is harmless.
#[utoipa::path(
    delete, path = "/api/v1/events/{id}/queue", tag = "fans", operation_id = "leaveQueue",
    params(("id" = Uuid, Path, description = "The event")),
    security(("ticket" = []), ("ticket_cookie" = [])),
    responses((status = 200, description = "Out of the line", body = LeaveAnswer))
)]
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

/// Query of `GET …/queue`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatusQuery {
    /// Seconds a long poll may wait for a change near the front (0–30).
    #[param(minimum = 0, maximum = 30)]
    wait: Option<u64>,
}

/// The caller's place in line.
///
/// Once admitted the answer carries the admission (and sets its cookie). `poll_after_ms` says
/// when to ask again; `0` means near the front: ask with `?wait=N`, and the answer comes the
/// moment the state changes, or after N seconds.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/queue", tag = "fans", operation_id = "queueStatus",
    params(("id" = Uuid, Path, description = "The event"), StatusQuery),
    security(("ticket" = []), ("ticket_cookie" = [])),
    responses((status = 200, description = "The caller's status", body = Status))
)]
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
            // A parked poll waits without working: neither the node's nor the address's
            // in-flight ceiling counts it (the parked polls have their own bound).
            let client = state.edge.client(&req);
            sale::status::wait_for_change(
                &state.sale,
                ticket.event,
                &ticket.claims,
                ticket.token,
                wait,
                || state.edge.set_aside(client),
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

/// A fresh proof-of-work challenge, good for one join on any node until it expires
/// (`difficulty_bits` 0 when the event asks none).
#[utoipa::path(
    get, path = "/api/v1/events/{id}/challenge", tag = "fans", operation_id = "getChallenge",
    params(("id" = Uuid, Path, description = "The event")),
    responses((status = 200, description = "A challenge", body = ChallengeView))
)]
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

/// The pre-queue draw, published once the line opened: anyone can recompute the order from
/// the seed.
#[utoipa::path(
    get, path = "/api/v1/events/{id}/fairness", tag = "fans", operation_id = "getFairness",
    params(("id" = Uuid, Path, description = "The event")),
    responses(
        (status = 200, description = "The draw", body = Fairness),
        (status = 409, description = "The line has not opened yet", body = ErrorBody),
    )
)]
pub async fn fairness(
    _: Reader,
    state: State,
    path: web::Path<Uuid>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(sale::admit::fairness(&state.sale, path.into_inner()).await?))
}
