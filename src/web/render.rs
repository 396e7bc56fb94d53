//! Rendering askama templates into responses, and the error page every refusal shown as HTML
//! uses. Below both the pages and the errors, so each can use it.

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;

/// Renders a template into a response, or a plain 500 if rendering fails (logged).
pub fn render(status: StatusCode, template: &impl Template) -> HttpResponse {
    match template.render() {
        Ok(html) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

/// The error page, in the site's style, with a `Retry-After` when the refusal has one.
pub fn error_page(status: StatusCode, page: &ErrorPage, retry_after: Option<u64>) -> HttpResponse {
    let mut response = render(status, page);
    if let Some(secs) = retry_after {
        response.headers_mut().insert(
            actix_web::http::header::RETRY_AFTER,
            actix_web::http::header::HeaderValue::from(secs),
        );
    }
    response
}

/// The error page's words and its way back.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub title: String,
    pub message: String,
    pub back_href: String,
    pub back_label: String,
}

pub fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}
