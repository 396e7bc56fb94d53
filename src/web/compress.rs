//! Compression where it pays, and static assets cached for good under a content hash.
//!
//! actix's `Compress` negotiates brotli or gzip from `Accept-Encoding` (and sends `Vary:
//! Accept-Encoding`); it leaves images and video alone. Bodies under [`MIN_COMPRESSED`] bytes
//! (a status poll's answer) are not worth a compressor's setup: [`mark_small`], inside
//! `Compress`, marks them with `Content-Encoding: identity`, which `Compress` respects, and
//! [`unmark_small`], outside it, removes the marker before the answer leaves.
//!
//! Static assets: pages link them as `/static/NAME?v=HASH` ([`asset`]), the hash of the file's
//! content taken at startup; an asset asked with its current hash is cacheable for a year
//! (`immutable`): a new release changes the hash, so browsers fetch it at once. Asked without
//! (or with an old hash) it must be revalidated (`no-cache`, with its `ETag`).

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use sha2::{Digest, Sha256};

/// Smallest body worth compressing, bytes.
pub const MIN_COMPRESSED: u64 = 1024;

/// Middleware inside `Compress`: small bodies go out as they are.
pub async fn mark_small(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    if matches!(response.response().body().size(), BodySize::Sized(n) if n < MIN_COMPRESSED) {
        let headers = response.headers_mut();
        if !headers.contains_key(header::CONTENT_ENCODING) {
            headers.insert(
                header::CONTENT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
    }
    Ok(response)
}

/// Middleware outside `Compress`: removes the marker [`mark_small`] set, and says on every
/// answer that it depends on `Accept-Encoding` (a small or unasked-for answer went out as it
/// is, but a cache must not hand it to a client that asked otherwise).
pub async fn unmark_small(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let headers = response.headers_mut();
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v == "identity")
    {
        headers.remove(header::CONTENT_ENCODING);
    }
    let varies = headers.get_all(header::VARY).any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|h| h.trim().eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if !varies {
        headers.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    Ok(response)
}

/// Content hashes of the static assets, by file name, taken once at startup.
static HASHES: OnceLock<HashMap<String, String>> = OnceLock::new();

/// Hashes every file of the static directory (a missing directory hashes nothing: links then
/// carry no version and assets are revalidated).
pub fn hash_assets(dir: &Path) {
    let mut hashes = HashMap::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if let (Some(name), Ok(bytes)) = (
                path.file_name()
                    .and_then(|n| n.to_str())
                    .map(str::to_string),
                std::fs::read(&path),
            ) {
                let digest = Sha256::digest(&bytes);
                hashes.insert(name, hex::encode(&digest[..6]));
            }
        }
    }
    let _ = HASHES.set(hashes);
}

/// The address of a static asset, with its content hash: `/static/shop.js?v=1a2b3c4d5e6f`.
pub fn asset(name: &str) -> String {
    match HASHES.get().and_then(|h| h.get(name)) {
        Some(hash) => format!("/static/{name}?v={hash}"),
        None => format!("/static/{name}"),
    }
}

/// Middleware on `/static`: a year of caching for an asset asked with its current hash,
/// revalidation otherwise.
pub async fn cache_assets(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let name = req.path().trim_start_matches("/static/").to_string();
    let current = HASHES
        .get()
        .and_then(|h| h.get(&name))
        .is_some_and(|hash| req.query_string() == format!("v={hash}"));
    let mut response = next.call(req).await?;
    if response.status().is_success()
        || response.status() == actix_web::http::StatusCode::NOT_MODIFIED
    {
        let value = if current {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    Ok(response)
}
