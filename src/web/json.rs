//! JSON request bodies as the contract takes them: `Content-Type: application/json` (`415`
//! otherwise), a JSON **object** (an array, a string or a number is `400`, never read by
//! position into a struct), within the route's body limit (`413`), arriving in time (`408`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::error::{ApiError, Refusal};
use super::{read_body, BodyLimit, FAN_BODY_LIMIT};

/// A JSON object body, parsed into `T`.
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The parsed body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// Whether the request declares a JSON body (`application/json`, or `application/…+json`).
fn is_json(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parses a body that must be a JSON object (leading whitespace aside).
pub fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        None => return Err(ApiError::bad_request("a JSON object body is required")),
        Some(_) => {
            return Err(ApiError::bad_request(
                "the body must be a JSON object ({…}), not an array, string or number",
            ))
        }
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// Checks an optional body's declared type: JSON, or no body at all (zero bytes).
pub fn check_content_type(req: &HttpRequest, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() || is_json(req) {
        return Ok(());
    }
    Err(ApiError::UnsupportedMediaType(
        "send the body as Content-Type: application/json".into(),
    ))
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = Refusal;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Refusal>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let limit = req.app_data::<BodyLimit>().map_or(FAN_BODY_LIMIT, |l| l.0);
        // A wrong or missing type is refused before the body is read.
        if !is_json(&req) {
            let refused = Refusal::to(
                &req,
                ApiError::UnsupportedMediaType(
                    "send the body as Content-Type: application/json".into(),
                ),
            );
            return Box::pin(async move { Err(refused) });
        }
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = read_body(body.await, limit).map_err(|e| Refusal::to(&req, e))?;
            parse_object(&body)
                .map(JsonObject)
                .map_err(|e| Refusal::to(&req, e))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Hold {
        seats: Vec<String>,
    }

    #[test]
    fn only_objects_are_bodies() {
        assert!(parse_object::<Hold>(br#" {"seats": ["A-1-1"]}"#).is_ok());
        for bad in [&br#"[["A-9-9"]]"#[..], b"\"x\"", b"42", b"", b"  ", b"null"] {
            let err = parse_object::<Hold>(bad).unwrap_err();
            assert_eq!(
                err.code(),
                "bad_request",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
