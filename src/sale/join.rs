//! Joining the line: a new place paid with proof of work when the event asks for it, or the
//! caller's own place again; and the challenge that proof of work solves.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Sale, SaleError};
use crate::domain::inventory::SaleState;
use crate::edge::pow::{self, PowError};
use crate::room::line::{RoomError, Status};
use crate::room::token::Claims;

/// A solved proof-of-work challenge.
#[derive(Clone, Debug)]
pub struct PowSolution {
    pub challenge: String,
    pub nonce: String,
}

/// What a join brings: the caller's own ticket if they hold a valid one (its claims, verified
/// for this event, and its signed form), and a solution when the event asks for one.
pub struct JoinRequest {
    pub event: Uuid,
    pub own: Option<(Claims, String)>,
    pub pow: Option<PowSolution>,
}

/// The fan's place after a join, and whether it is new (201) or their own again (200).
pub struct Joined {
    pub status: Status,
    pub created: bool,
}

/// Joins the line: the caller's own place when they hold a valid ticket, else a new one, paid
/// with proof of work when the event asks.
pub async fn join(sale: &Sale, request: JoinRequest) -> Result<Joined, SaleError> {
    let event = request.event;
    let rules = sale.rules(event).await?;
    if rules.sale == SaleState::Closed {
        return Err(SaleError::SaleNotOpen("the sale has closed".into()));
    }
    let spent = match (&request.own, rules.pow_bits) {
        // Joining again with one's own ticket: the same place, no new work asked.
        (Some(_), _) | (None, 0) => None,
        (None, bits) => Some(spend_pow(sale, event, bits, request.pow.as_ref()).await?),
    };
    let (own_claims, own_token) = match request.own {
        Some((claims, token)) => (Some(claims), Some(token)),
        None => (None, None),
    };
    let joined = async {
        let (claims, created) = sale.room.join(event, own_claims, &rules).await?;
        let token = match own_token {
            Some(token) if !created => token,
            _ => sale.signer.sign(&claims),
        };
        let status = sale.room.status(&claims, token, &rules).await?;
        Ok::<_, RoomError>(Joined { status, created })
    };
    match joined.await {
        Ok(joined) => Ok(joined),
        Err(e) => {
            // The fan got no ticket, so bought nothing: they may retry with the same solution
            // (best effort; if the line store is down, a retry is told to fetch a new one).
            if let Some(id) = spent {
                let _ = sale.room.store().release_once(event, &id).await;
            }
            Err(e.into())
        }
    }
}

/// Checks and spends the join's proof of work (one place per solved challenge, across nodes).
/// Returns the spent challenge's id, to give back if the join then fails.
async fn spend_pow(
    sale: &Sale,
    event: Uuid,
    bits: u8,
    solution: Option<&PowSolution>,
) -> Result<String, SaleError> {
    let refused = |e: PowError| {
        sale.refused(event, super::refusals::Refused::Pow);
        match e {
            PowError::Missing => SaleError::BadRequest(e.to_string()),
            _ => SaleError::Invalid(format!("proof of work refused ({}): {e}", e.reason())),
        }
    };
    let now = sale.clock.now();
    let solution = solution.ok_or(PowError::Missing).map_err(refused)?;
    let challenge = pow::verify(
        &sale.signer,
        &solution.challenge,
        &solution.nonce,
        event,
        bits,
        now,
    )
    .map_err(refused)?;
    let first = sale
        .room
        .store()
        .claim_once(
            event,
            &challenge.id,
            now.timestamp_millis(),
            challenge.expires_ms,
        )
        .await?;
    if !first {
        return Err(refused(PowError::Replayed));
    }
    Ok(challenge.id)
}

/// A fresh challenge for one join, as `GET …/challenge` shows it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ChallengeView {
    pub challenge: String,
    pub difficulty_bits: u8,
    pub expires_at: DateTime<Utc>,
    pub algorithm: &'static str,
}

/// A fresh proof-of-work challenge for one join (issued with `difficulty_bits` 0 when the event
/// asks for none; a join then needs no solution).
pub async fn challenge(sale: &Sale, event: Uuid) -> Result<ChallengeView, SaleError> {
    let rules = sale.rules(event).await?;
    // The setting is a whole number of seconds, far inside chrono's range.
    let ttl = chrono::Duration::from_std(sale.settings.pow_challenge_ttl)
        .map_err(|e| SaleError::Internal(format!("POW_CHALLENGE_TTL_SECS: {e}")))?;
    let (token, challenge) = pow::issue(&sale.signer, event, rules.pow_bits, sale.clock.now(), ttl);
    Ok(ChallengeView {
        challenge: token,
        difficulty_bits: challenge.bits,
        expires_at: challenge.expires(),
        algorithm: pow::METHOD,
    })
}
