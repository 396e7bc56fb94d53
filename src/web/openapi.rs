//! The API's OpenAPI 3.1 description, derived from the handlers' own types and annotations
//! (`#[utoipa::path]` on each handler, `ToSchema` on each body), served at
//! `GET /api/v1/openapi.json`; `/api/docs` renders it for people.
//!
//! Each handler lists its successes and the errors particular to it; the answers every call
//! may get (a malformed request, a cross-site post, an unknown id, a rate limit, a busy or
//! unreachable backend) are added here, the same way for every operation, so no handler can
//! forget one.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema};

use super::api;
use super::error::ErrorBody;
use super::health;

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Floodgate",
        description = "A fair virtual waiting room in front of a ticket shop that sells every \
                       place once. Fans join an event's line, are admitted at the organizer's \
                       rate, hold places and order them; organizers create and run events. \
                       Errors are `{\"error\": code, \"message\": text}`; every `429` and `503` \
                       carries `Retry-After`.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        api::events::create,
        api::events::list,
        api::events::get,
        api::events::patch,
        api::events::pause,
        api::events::resume,
        api::events::stats,
        api::orders::list,
        api::orders::get,
        api::orders::cancel,
        api::notifications::list,
        api::notifications::retry,
        api::notifications::resend,
        api::queue::join,
        api::queue::status,
        api::queue::leave,
        api::queue::challenge,
        api::queue::fairness,
        api::shop::seats,
        api::shop::availability,
        api::shop::hold,
        api::shop::release,
        api::shop::order,
        health::healthz,
        health::readyz,
        health::metrics,
        document,
    ),
    components(schemas(ErrorBody, api::orders::ListFormat)),
    modifiers(&Credentials, &CommonAnswers),
    tags(
        (name = "events", description = "Events anyone may read"),
        (name = "fans", description = "The waiting room: join, wait, leave"),
        (name = "shop", description = "Admitted fans: the seat map, holds and orders"),
        (name = "orders", description = "Reading an order back"),
        (name = "organizer", description = "Running events (the organizer token)"),
        (name = "operations", description = "Health, readiness, metrics"),
    )
)]
pub struct ApiDoc;

/// The three credentials, each as a bearer header or (for fans' browsers) a cookie.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            let mut http = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
            http.description = Some(what.to_string());
            SecurityScheme::Http(http)
        };
        let cookie = |name: &str, what: &str| {
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(name, what)))
        };
        components.add_security_scheme(
            "organizer",
            bearer("The organizer token (`ORGANIZER_TOKEN`, at least 32 characters)."),
        );
        components.add_security_scheme(
            "ticket",
            bearer("A queue ticket of the event in the path, as the join answered it."),
        );
        components.add_security_scheme(
            "ticket_cookie",
            cookie(
                "fg_ticket_<event>",
                "The queue ticket as a browser carries it: cookie `fg_ticket_` + the event id \
                 without hyphens.",
            ),
        );
        components.add_security_scheme(
            "admission",
            bearer("An admission to the event in the path, as the status answered it."),
        );
        components.add_security_scheme(
            "admission_cookie",
            cookie(
                "fg_admission_<event>",
                "The admission as a browser carries it: cookie `fg_admission_` + the event id \
                 without hyphens.",
            ),
        );
    }
}

/// The answers every operation under `/api/` may get, added to each where it applies.
struct CommonAnswers;

/// An error answer: the error body, with `Retry-After` when the client should come back.
fn error(description: &str, retry: bool) -> utoipa::openapi::Response {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Error")))
            .build(),
    );
    if retry {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(u32::schema()))
                .description(Some("Seconds to wait before trying again"))
                .build(),
        );
    }
    response.build()
}

impl Modify for CommonAnswers {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/") {
                continue;
            }
            let methods = [
                (HttpMethod::Get, &mut item.get),
                (HttpMethod::Post, &mut item.post),
                (HttpMethod::Patch, &mut item.patch),
                (HttpMethod::Delete, &mut item.delete),
            ];
            for (method, operation) in methods {
                if let Some(operation) = operation {
                    add_common(path, &method, operation);
                }
            }
        }
    }
}

fn add_common(path: &str, method: &HttpMethod, operation: &mut Operation) {
    let has_body = operation.request_body.is_some();
    // An `Option<T>` body is one that may be left out (the join's), not a JSON `null`.
    if let Some(utoipa::openapi::RefOr::T(body)) = &mut operation.request_body {
        for content in body.content.values_mut() {
            if let utoipa::openapi::RefOr::T(content) = content {
                if let Some(utoipa::openapi::RefOr::T(utoipa::openapi::Schema::OneOf(one))) =
                    &content.schema
                {
                    let not_null = one.items.iter().find(|item| {
                        !matches!(item, utoipa::openapi::RefOr::T(utoipa::openapi::Schema::Object(o))
                            if o.schema_type == utoipa::openapi::schema::SchemaType::Type(utoipa::openapi::Type::Null))
                    });
                    if let Some(schema) = not_null.cloned() {
                        content.schema = Some(schema);
                        body.required = Some(utoipa::openapi::Required::False);
                    }
                }
            }
        }
    }
    let has_id = path.contains('{');
    let secured: Vec<String> = operation
        .security
        .iter()
        .flatten()
        .filter_map(|s| serde_json::to_value(s).ok())
        .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
        .flatten()
        .collect();
    let organizer = secured.iter().any(|s| s == "organizer");
    let fan_only = !organizer && secured.iter().any(|s| s != "organizer");
    let mut answers: Vec<(&str, utoipa::openapi::Response)> = vec![
        (
            "400",
            error(
                "Malformed: a body, query or header of the wrong shape",
                false,
            ),
        ),
        (
            "429",
            error(
                "Over a rate limit, or over this address's requests in flight",
                true,
            ),
        ),
        (
            "500",
            error("A bug (the cause is logged, never shown)", false),
        ),
        (
            "503",
            error(
                "A backend cannot be reached, or the node, the event's shop or its line is at \
                 capacity, or the event is moving to another node: retry after Retry-After",
                true,
            ),
        ),
    ];
    if has_id {
        answers.push(("404", error("No such event, hold or order", false)));
    }
    if organizer {
        answers.push((
            "401",
            error(
                "Without a valid organizer token (WWW-Authenticate: Bearer)",
                false,
            ),
        ));
    }
    let unsafe_method = !matches!(method, HttpMethod::Get);
    if fan_only || unsafe_method {
        answers.push((
            "403",
            error(
                "Without a valid ticket or admission for this event (`not_admitted`), or a \
                 state-changing request from another site's page (`forbidden`)",
                false,
            ),
        ));
    }
    if has_body {
        answers.push((
            "408",
            error("The body did not arrive within REQUEST_TIMEOUT_SECS", false),
        ));
        answers.push((
            "413",
            error(
                "The body is over the limit (16 KiB for fans, 256 KiB for organizers)",
                false,
            ),
        ));
        answers.push((
            "415",
            error("The body is not declared application/json", false),
        ));
    }
    for (status, answer) in answers {
        operation
            .responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| answer.into());
    }
}

/// This document.
#[utoipa::path(
    get, path = "/api/v1/openapi.json", tag = "operations", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn document() -> HttpResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"internal\",\"message\":\"{e}\"}}"))
    });
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(("Cache-Control", "public, max-age=300"))
        .body(json.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn it_is_openapi_3_1_with_every_operation_named_and_described() {
        let doc = doc();
        if std::env::var_os("PRINT_OPENAPI").is_some() {
            println!("{}", serde_json::to_string_pretty(&doc).unwrap());
        }
        assert_eq!(doc["openapi"], "3.1.0");
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{method} {path}"));
                assert!(ids.insert(id.to_string()), "{id} twice");
                assert!(op["summary"].is_string(), "{method} {path} has no summary");
                for (status, answer) in op["responses"].as_object().unwrap() {
                    assert!(
                        answer["description"].is_string(),
                        "{method} {path} {status}"
                    );
                    if status.starts_with('4')
                        || status.starts_with('5') && path.starts_with("/api/")
                    {
                        let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                        assert_eq!(
                            schema, "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
