//! Signed tokens: queue tickets and admissions (and the signing of proof-of-work challenges).
//!
//! A token is `base64url(claims JSON) . base64url(HMAC-SHA256(secret, claims))`. Claims carry
//! their kind, event, session, sequence number and expiry, so any node holding the secret can
//! verify one without a lookup, and a queue ticket can never pass for an admission (the kind is
//! inside the signed part), nor a token of one event for another.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

/// Longest token accepted, before any decoding: a valid one is about 250 characters.
pub const MAX_TOKEN_LEN: usize = 1024;
/// What an order link's key signs before the order id: no JSON payload starts so, so no other
/// signature passes for a key, nor a key for a token.
const ORDER_KEY_PREFIX: &[u8] = b"floodgate order view\0";

/// What a token lets its bearer do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A place in the line.
    #[serde(rename = "queue")]
    Queue,
    /// Permission to shop.
    #[serde(rename = "admission")]
    Admission,
}

/// The signed content of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(rename = "k")]
    pub kind: TokenKind,
    #[serde(rename = "e")]
    pub event: Uuid,
    /// Random session id, shared by a fan's ticket and admission.
    #[serde(rename = "s")]
    pub session: String,
    #[serde(rename = "q")]
    pub seq: u64,
    /// Issued at, seconds since the epoch.
    #[serde(rename = "i")]
    pub issued_at: i64,
    /// Expires at, seconds since the epoch.
    #[serde(rename = "x")]
    pub expires_at: i64,
}

impl Claims {
    /// The expiry as a time.
    pub fn expires(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.expires_at, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    BadSignature,
    #[error("the token is for another event")]
    OtherEvent,
    #[error("the token is not an admission")]
    WrongKind,
    #[error("the token has expired")]
    Expired,
}

/// Signs and verifies tokens with the server's secret key.
#[derive(Clone)]
pub struct TokenSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSigner(..)")
    }
}

impl TokenSigner {
    /// A signer over `key` (any length; HMAC hashes long keys).
    pub fn new(key: &[u8]) -> Self {
        TokenSigner { key: key.to_vec() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length: new_from_slice cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length")
    }

    /// Signs claims into a token.
    pub fn sign(&self, claims: &Claims) -> String {
        self.sign_payload(claims)
    }

    /// Signs any plain payload (challenges use this too; their shape keeps them apart).
    pub fn sign_payload<T: Serialize>(&self, payload: &T) -> String {
        // Payloads are plain strings and numbers: serializing cannot fail.
        let payload = serde_json::to_vec(payload).expect("payload serializes");
        let mut mac = self.mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// Verifies a token's signature and returns its claims, whatever their kind or expiry.
    pub fn open(&self, token: &str) -> Result<Claims, TokenError> {
        self.open_payload(token)
    }

    /// Verifies a signature and decodes the payload as `T`.
    pub fn open_payload<T: DeserializeOwned>(&self, token: &str) -> Result<T, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)
    }

    /// The key of an order's link (`/orders/{id}?k=…`, sent in its mails): an HMAC of the
    /// order id, apart from every other signature by its prefix, so the link opens that order
    /// on any device and nobody can make one for an order they were not sent.
    pub fn order_key(&self, order: Uuid) -> String {
        URL_SAFE_NO_PAD.encode(self.order_mac(order).finalize().into_bytes())
    }

    /// Whether `key` is [`Self::order_key`] of `order` (compared in constant time).
    pub fn is_order_key(&self, order: Uuid, key: &str) -> bool {
        if key.len() > MAX_TOKEN_LEN {
            return false;
        }
        let Ok(tag) = URL_SAFE_NO_PAD.decode(key) else {
            return false;
        };
        self.order_mac(order).verify_slice(&tag).is_ok()
    }

    fn order_mac(&self, order: Uuid) -> Hmac<Sha256> {
        let mut mac = self.mac();
        mac.update(ORDER_KEY_PREFIX);
        mac.update(order.as_bytes());
        mac
    }

    /// Verifies a token of `kind` for `event`, unexpired at `now`.
    pub fn verify(
        &self,
        token: &str,
        kind: TokenKind,
        event: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Claims, TokenError> {
        let claims = self.open(token)?;
        if claims.event != event {
            return Err(TokenError::OtherEvent);
        }
        if claims.kind != kind {
            return Err(TokenError::WrongKind);
        }
        if claims.expires_at <= now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(kind: TokenKind, event: Uuid, expires_at: i64) -> Claims {
        Claims {
            kind,
            event,
            session: "s1".into(),
            seq: 7,
            issued_at: 0,
            expires_at,
        }
    }

    #[test]
    fn a_signed_admission_verifies_for_its_event_only() {
        let signer = TokenSigner::new(b"0123456789abcdef");
        let event = Uuid::new_v4();
        let now = Utc::now();
        let token = signer.sign(&claims(TokenKind::Admission, event, now.timestamp() + 60));
        assert!(signer
            .verify(&token, TokenKind::Admission, event, now)
            .is_ok());
        assert_eq!(
            signer.verify(&token, TokenKind::Admission, Uuid::new_v4(), now),
            Err(TokenError::OtherEvent)
        );
    }

    #[test]
    fn an_order_key_opens_its_order_only() {
        let signer = TokenSigner::new(b"0123456789abcdef");
        let (order, other) = (Uuid::new_v4(), Uuid::new_v4());
        let key = signer.order_key(order);
        assert!(signer.is_order_key(order, &key));
        assert!(!signer.is_order_key(other, &key));
        assert!(!TokenSigner::new(b"another secret!!").is_order_key(order, &key));
        assert!(!signer.is_order_key(order, &key[..key.len() - 2]));
        for junk in ["", "!!", "a.b", &"x".repeat(5000)] {
            assert!(!signer.is_order_key(order, junk));
        }
    }

    #[test]
    fn a_queue_ticket_is_not_an_admission() {
        let signer = TokenSigner::new(b"0123456789abcdef");
        let event = Uuid::new_v4();
        let now = Utc::now();
        let ticket = signer.sign(&claims(TokenKind::Queue, event, now.timestamp() + 60));
        assert_eq!(
            signer.verify(&ticket, TokenKind::Admission, event, now),
            Err(TokenError::WrongKind)
        );
    }

    #[test]
    fn forged_tampered_and_expired_tokens_are_refused() {
        let signer = TokenSigner::new(b"0123456789abcdef");
        let other = TokenSigner::new(b"another secret!!");
        let event = Uuid::new_v4();
        let now = Utc::now();
        let good = claims(TokenKind::Admission, event, now.timestamp() + 60);
        let forged = other.sign(&good);
        assert_eq!(
            signer.verify(&forged, TokenKind::Admission, event, now),
            Err(TokenError::BadSignature)
        );
        let token = signer.sign(&good);
        let (_, tag) = token.split_once('.').unwrap();
        let mut longer = good.clone();
        longer.expires_at += 3600;
        let tampered = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&longer).unwrap())
        );
        assert_eq!(
            signer.verify(&tampered, TokenKind::Admission, event, now),
            Err(TokenError::BadSignature)
        );
        let old = signer.sign(&claims(TokenKind::Admission, event, now.timestamp() - 1));
        assert_eq!(
            signer.verify(&old, TokenKind::Admission, event, now),
            Err(TokenError::Expired)
        );
        for junk in ["", ".", "abc", "a.b.c", &"x".repeat(5000)] {
            assert!(signer
                .verify(junk, TokenKind::Admission, event, now)
                .is_err());
        }
    }
}
