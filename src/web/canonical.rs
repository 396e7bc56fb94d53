//! One spelling per id: a path naming an event, order or hold by a UUID in any spelling but
//! the canonical one (lowercase, hyphenated) is answered `308` to the canonical path, pages
//! and API alike. Routing by path (a load balancer hashing the event id) then always sees one
//! path per event, and every node agrees which event a request is for.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse};
use percent_encoding::percent_decode_str;
use uuid::Uuid;

use crate::telemetry::FixedLabel;

/// Shortest spelling of a UUID (32 hex digits, no hyphens).
const SHORTEST_UUID: usize = 32;

/// Whether a segment is already a canonical UUID (or cannot be one), decided without parsing:
/// every request passes here, and almost every path is canonical.
fn plainly_canonical(segment: &str) -> bool {
    if segment.len() < SHORTEST_UUID {
        return true;
    }
    segment.len() == 36
        && segment.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
        })
}

/// The canonical form of a path whose segments spell UUIDs otherwise, if it differs.
pub fn canonical_path(path: &str) -> Option<String> {
    if path.split('/').all(plainly_canonical) {
        return None;
    }
    let mut changed = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            if plainly_canonical(segment) {
                return segment.to_string();
            }
            let decoded = percent_decode_str(segment).decode_utf8_lossy();
            match Uuid::parse_str(&decoded) {
                Ok(id) if id.hyphenated().to_string() != segment => {
                    changed = true;
                    id.hyphenated().to_string()
                }
                _ => segment.to_string(),
            }
        })
        .collect();
    changed.then(|| segments.join("/"))
}

/// Middleware: redirects non-canonical id spellings (`308`, method and body kept).
pub async fn canonical_ids(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let Some(path) = canonical_path(req.path()) else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    let location = match req.query_string() {
        "" => path,
        query => format!("{path}?{query}"),
    };
    req.extensions_mut().insert(FixedLabel("redirect"));
    let response = HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, location))
        .finish();
    Ok(req.into_response(response).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_other_spelling_of_an_id_has_one_canonical_path() {
        let id = "0193a0b4-6a5e-7c2d-9f10-2b3c4d5e6f70";
        let want = format!("/api/v1/events/{id}/queue");
        for spelling in [
            id.to_uppercase(),
            id.replace('-', ""),
            format!("{{{id}}}"),
            format!("%7B{id}%7D"),
            format!("urn:uuid:{id}"),
            "0193A0B4-6a5e-7C2D-9f10-2B3C4D5E6F70".to_string(),
        ] {
            let path = format!("/api/v1/events/{spelling}/queue");
            assert_eq!(
                canonical_path(&path).as_deref(),
                Some(want.as_str()),
                "{path}"
            );
        }
        assert_eq!(canonical_path(&want), None, "the canonical path stays");
        assert_eq!(canonical_path("/events/not-a-uuid"), None);
        assert_eq!(canonical_path("/static/site.css"), None);
    }
}
