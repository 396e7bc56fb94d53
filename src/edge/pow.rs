//! Proof of work: a signed, expiring, single-use challenge per join.
//!
//! `GET …/challenge` hands out `base64url(payload).base64url(HMAC)`, the payload naming the
//! event, a random id, the difficulty and the expiry. A join carries the challenge and a nonce
//! such that SHA-256(challenge ‖ nonce) begins with `difficulty_bits` zero bits. Verifying is
//! one HMAC and one hash; the id is then claimed once in the line store (Redis `SET NX`), so a
//! solved challenge buys one place, on whichever node it is used.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::room::token::TokenSigner;

/// How a challenge is solved, as published with each one.
pub const METHOD: &str = "find a nonce (1-64 visible ASCII characters) such that SHA-256(UTF-8 bytes of challenge followed by UTF-8 bytes of nonce) begins with difficulty_bits zero bits";

/// Longest nonce accepted (a counter in decimal needs 20).
pub const MAX_NONCE_LEN: usize = 64;
/// Random bytes in a challenge id.
const CHALLENGE_ID_BYTES: usize = 16;
/// The kind tag inside a challenge payload.
const KIND: &str = "pow";

/// The signed content of a challenge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    #[serde(rename = "k")]
    kind: String,
    #[serde(rename = "e")]
    pub event: Uuid,
    /// Random id, claimed once when used.
    #[serde(rename = "c")]
    pub id: String,
    #[serde(rename = "b")]
    pub bits: u8,
    /// Expiry, ms since the epoch.
    #[serde(rename = "x")]
    pub expires_ms: i64,
}

impl Challenge {
    /// The expiry as a time.
    pub fn expires(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.expires_ms)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a solution was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("this event requires proof of work: fetch a challenge from …/challenge, solve it and send {{\"pow\": {{\"challenge\", \"nonce\"}}}}")]
    Missing,
    #[error("the challenge is malformed or its signature is not valid")]
    Forged,
    #[error("the challenge is for another event")]
    OtherEvent,
    #[error("the challenge has expired: fetch a new one")]
    Expired,
    #[error("the challenge is easier than this event now requires: fetch a new one")]
    TooEasy,
    #[error("the nonce must be 1 to {MAX_NONCE_LEN} visible ASCII characters")]
    BadNonce,
    #[error("SHA-256(challenge ‖ nonce) does not begin with enough zero bits")]
    Unsolved,
    #[error("this challenge was already used for a join: fetch a new one")]
    Replayed,
}

impl PowError {
    /// A short machine-readable reason (metrics label, error detail).
    pub fn reason(&self) -> &'static str {
        match self {
            PowError::Missing => "missing",
            PowError::Forged => "forged",
            PowError::OtherEvent => "other_event",
            PowError::Expired => "expired",
            PowError::TooEasy => "too_easy",
            PowError::BadNonce => "bad_nonce",
            PowError::Unsolved => "unsolved",
            PowError::Replayed => "replayed",
        }
    }
}

/// Issues a challenge for `event` at `bits`, good until `now + ttl`.
pub fn issue(
    signer: &TokenSigner,
    event: Uuid,
    bits: u8,
    now: DateTime<Utc>,
    ttl: chrono::Duration,
) -> (String, Challenge) {
    let mut raw = [0u8; CHALLENGE_ID_BYTES];
    rand::rng().fill_bytes(&mut raw);
    let challenge = Challenge {
        kind: KIND.into(),
        event,
        id: URL_SAFE_NO_PAD.encode(raw),
        bits,
        expires_ms: (now + ttl).timestamp_millis(),
    };
    (signer.sign_payload(&challenge), challenge)
}

/// Checks a solution statelessly (signature, event, expiry, difficulty, hash). The caller
/// then claims the id once in the line store.
pub fn verify(
    signer: &TokenSigner,
    token: &str,
    nonce: &str,
    event: Uuid,
    required_bits: u8,
    now: DateTime<Utc>,
) -> Result<Challenge, PowError> {
    let challenge: Challenge = signer.open_payload(token).map_err(|_| PowError::Forged)?;
    if challenge.kind != KIND {
        return Err(PowError::Forged);
    }
    if challenge.event != event {
        return Err(PowError::OtherEvent);
    }
    if challenge.expires_ms <= now.timestamp_millis() {
        return Err(PowError::Expired);
    }
    if challenge.bits < required_bits {
        return Err(PowError::TooEasy);
    }
    if nonce.is_empty()
        || nonce.len() > MAX_NONCE_LEN
        || !nonce.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(PowError::BadNonce);
    }
    if !floodgate_pow::solves(token, nonce, challenge.bits) {
        return Err(PowError::Unsolved);
    }
    Ok(challenge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use floodgate_pow::{solve, zero_bits as leading_zero_bits};

    fn setup() -> (TokenSigner, Uuid, DateTime<Utc>) {
        (
            TokenSigner::new(b"0123456789abcdef"),
            Uuid::new_v4(),
            Utc::now(),
        )
    }

    #[test]
    fn a_solved_challenge_verifies() {
        let (signer, event, now) = setup();
        let (token, issued) = issue(&signer, event, 10, now, chrono::Duration::seconds(60));
        let nonce = solve(&token, 10);
        assert!(leading_zero_bits(&token, &nonce) >= 10);
        assert_eq!(verify(&signer, &token, &nonce, event, 10, now), Ok(issued));
    }

    #[test]
    fn every_kind_of_bad_solution_is_refused_with_its_reason() {
        let (signer, event, now) = setup();
        let ttl = chrono::Duration::seconds(60);
        let (token, _) = issue(&signer, event, 8, now, ttl);
        let nonce = solve(&token, 8);
        let check = |t: &str, n: &str, e: Uuid, bits: u8, at: DateTime<Utc>| {
            verify(&signer, t, n, e, bits, at).unwrap_err()
        };
        assert_eq!(
            check(&token, &nonce, Uuid::new_v4(), 8, now),
            PowError::OtherEvent
        );
        assert_eq!(
            check(&token, &nonce, event, 8, now + ttl),
            PowError::Expired
        );
        assert_eq!(check(&token, &nonce, event, 9, now), PowError::TooEasy);
        for bad in ["", "a b", &"1".repeat(65), "é"] {
            assert_eq!(check(&token, bad, event, 8, now), PowError::BadNonce);
        }
        let unsolved = (0u64..)
            .map(|n| n.to_string())
            .find(|n| leading_zero_bits(&token, n) < 8)
            .unwrap();
        assert_eq!(check(&token, &unsolved, event, 8, now), PowError::Unsolved);
        let other = TokenSigner::new(b"another secret!!");
        let (forged, _) = issue(&other, event, 8, now, ttl);
        let forged_nonce = solve(&forged, 8);
        assert_eq!(
            check(&forged, &forged_nonce, event, 8, now),
            PowError::Forged
        );
        assert_eq!(check("junk", "1", event, 8, now), PowError::Forged);
    }

    #[test]
    fn a_queue_ticket_is_not_a_challenge() {
        use crate::room::token::{Claims, TokenKind};
        let (signer, event, now) = setup();
        let ticket = signer.sign(&Claims {
            kind: TokenKind::Queue,
            event,
            session: "s".into(),
            seq: 1,
            issued_at: now.timestamp(),
            expires_at: now.timestamp() + 60,
        });
        let nonce = solve(&ticket, 0);
        assert_eq!(
            verify(&signer, &ticket, &nonce, event, 0, now),
            Err(PowError::Forged)
        );
        let (challenge, _) = issue(&signer, event, 0, now, chrono::Duration::seconds(60));
        assert!(
            signer.open(&challenge).is_err(),
            "a challenge is not a ticket"
        );
    }
}
