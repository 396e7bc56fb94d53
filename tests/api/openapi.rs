//! The OpenAPI document matches the routes the server really has: every documented operation
//! is served, and every path answers exactly the methods the document lists for it.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;

#[actix_web::test]
async fn the_document_is_openapi_3_1_and_lists_exactly_the_methods_each_path_takes() {
    let app = TestApp::spawn().await;
    let event = app.event(&event_spec(1, 5, 5)).await;
    let doc: Value = app.get_json("/api/v1/openapi.json").await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["organizer"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 23, "every API path is documented");
    for (path, item) in paths {
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .collect();
        let real = path
            .replace(
                "{id}",
                if path.starts_with("/api/v1/orders/") {
                    "01a23241-863a-741f-9614-04352ee2e31d"
                } else {
                    &event
                },
            )
            .replace("{hold_id}", "01a23241-863a-741f-9614-04352ee2e31d");
        // A method no path takes: the answer lists the ones it does.
        let answer = app
            .client
            .request(Method::PUT, app.url(&real))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT {path}"
        );
        let allowed: BTreeSet<String> = answer.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        assert_eq!(allowed, documented, "{path}: served vs documented");
        // And each documented method is routed (a refusal for no credentials or no body is
        // fine; 405 would say the route lost it).
        for method in &documented {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let answer = app
                .client
                .request(method.clone(), app.url(&real))
                .send()
                .await
                .unwrap();
            assert_ne!(
                answer.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not served"
            );
        }
    }
    app.stop().await;
}

#[actix_web::test]
async fn the_reference_page_is_served_with_its_script() {
    let app = TestApp::spawn().await;
    let page = app.client.get(app.url("/api/docs")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("/static/api-docs.js") && html.contains("/api/v1/openapi.json"));
    let script = app
        .client
        .get(app.url("/static/api-docs.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    app.stop().await;
}
