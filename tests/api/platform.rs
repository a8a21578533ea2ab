//! Operations endpoints, the API reference, error shapes, body limits, idempotent POSTs and rate limits.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

fn header(reply: &Reply, name: &str) -> String {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// A GET without any API key: status, content type and text.
async fn get_text(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = app.client.get(format!("{}{path}", app.base)).send().await.expect("request");
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("text"))
}

/// Sends a prepared request and reads the reply.
async fn send(request: reqwest::RequestBuilder) -> Reply {
    Reply::of(request.send().await.expect("request")).await
}

/// POSTs JSON with the app's key and an `Idempotency-Key`.
async fn post_idempotent(app: &TestApp, key: &str, idempotency_key: &str, path: &str, body: &Value) -> Reply {
    send(
        app.client
            .post(format!("{}{path}", app.base))
            .header("X-Api-Key", key)
            .header("Idempotency-Key", idempotency_key)
            .json(body),
    )
    .await
}

async fn contact_count(app: &TestApp) -> usize {
    let reply = app.get("/api/v1/contacts?limit=100").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().expect("data").len()
}

async fn health_and_readiness(app: TestApp) {
    let (status, _, text) = get_text(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "ok");
    let (status, _, text) = get_text(&app, "/readyz").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "ready");
}

async fn metrics_count_requests(app: TestApp) {
    assert_eq!(app.get("/api/v1/channels").await.status, StatusCode::OK);
    let (status, content_type, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(text.contains("parley_http_requests_total"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("parley_http_requests_total")
            && l.contains("route=\"/api/v1/channels\"")
            && l.contains("method=\"GET\"")
            && l.contains("status=\"200\"")),
        "requests are counted per route: {text}"
    );
    assert!(text.contains("parley_http_request_duration_seconds"), "{text}");
}

async fn openapi_document_describes_the_api(app: TestApp) {
    let (status, content_type, text) = get_text(&app, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("application/json"), "{content_type}");
    let document: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    assert!(document["openapi"].as_str().is_some_and(|v| v.starts_with("3.1")), "{}", document["openapi"]);
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/api/v1/conversations",
        "/api/v1/channels/{id}/inbound",
        "/api/v1/contacts",
        "/api/v1/contacts/{id}/conversations",
        "/api/v1/api-keys",
        "/api/v1/media",
        "/api/v1/media/{key}/content",
        "/api/v1/contacts/duplicates",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert!(paths["/api/v1/conversations"].get("get").is_some());
    assert!(paths["/api/v1/channels/{id}/inbound"].get("post").is_some());
    assert!(paths["/api/v1/contacts/{id}/merge"].get("post").is_some(), "contact merging is documented");
    assert!(
        paths["/api/v1/conversations/{id}/messages/{message_id}"].get("delete").is_some(),
        "message deletion is documented"
    );
    assert!(document["components"]["schemas"]["Message"]["properties"]["deleted"].is_object());
    let media_params: Vec<&str> = paths["/api/v1/media"]["get"]["parameters"]
        .as_array()
        .map(|params| params.iter().filter_map(|p| p["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(media_params, ["origin", "sort", "limit", "cursor"], "the media library's filters are documented");
    assert!(document["components"]["securitySchemes"]["api_key"].is_object(), "the API key scheme is documented");
    for path in ["/api/v1/credit", "/api/v1/credit/top-ups", "/api/v1/credit/ledger"] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert_operations_are_complete(&document);
}

/// Every operation has a unique operationId, declares each of its path parameters, and documents
/// its problem answers as `application/problem+json` (or, in the seed dialect, its own shape).
fn assert_operations_are_complete(document: &Value) {
    let mut ids = std::collections::HashSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && ids.insert(id.to_owned()),
                "{method} {path}: operationId `{id}` is missing or repeated"
            );
            let declared: Vec<&str> = operation["parameters"]
                .as_array()
                .map(|params| params.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            for segment in path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')) {
                assert!(declared.contains(&segment), "{method} {path}: path parameter {segment} is declared");
            }
            let responses = operation["responses"].as_object().expect("responses");
            if !path.starts_with("/hooks/") {
                assert!(
                    responses.contains_key("401") && responses.contains_key("429"),
                    "{method} {path}: {responses:?}"
                );
            }
            for (status, response) in responses {
                if let Some(content) = response["content"].as_object() {
                    assert!(
                        !content.contains_key("application/json")
                            || !content["application/json"]["schema"]["$ref"]
                                .as_str()
                                .is_some_and(|r| r.ends_with("/Problem")),
                        "{method} {path} {status}: problems are application/problem+json"
                    );
                }
            }
        }
    }
}

async fn the_compatible_apis_have_their_own_document(app: TestApp) {
    let (status, _, text) = get_text(&app, "/api/compat/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let document: Value = serde_json::from_str(&text).expect("JSON");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/api/partner-gateway/v1/inbox/conversations",
        "/api/partner-gateway/v1/inbox/conversations/{chatId}/messages",
        "/api/partner-gateway/v1/inbox/conversations/reply",
        "/api/partner-gateway/v1/webhooks/delivery-status",
        "/api/message-server/{kind}/send",
        "/api/partner-gateway/v1/messages/status/{id}",
        "/api/v1/partner-gateway/subscription/credit",
        "/api/partner-gateway/v1/subscription/credit",
        "/hooks/{kind}",
    ] {
        assert!(paths.contains_key(path), "{path} is documented");
    }
    assert_eq!(paths["/hooks/{kind}"]["post"]["security"], json!([{}]), "provider webhooks need no key");
    let error = &paths["/api/partner-gateway/v1/inbox/conversations/reply"]["post"]["responses"]["400"];
    assert_eq!(error["$ref"], "#/components/responses/QlaraBadRequest", "{error}");
    assert!(document["components"]["schemas"]["QlaraError"].is_object());
    assert_operations_are_complete(&document);
}

async fn docs_page_serves_the_reference(app: TestApp) {
    let (status, content_type, text) = get_text(&app, "/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(
        text.contains("/ui/assets/vendor/scalar/standalone.js") && text.contains("/ui/assets/js/docs.js"),
        "{text}"
    );
    for asset in ["/ui/assets/vendor/scalar/standalone.js", "/ui/assets/js/docs.js"] {
        let (status, content_type, body) = get_text(&app, asset).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(content_type.contains("javascript"), "{asset}: {content_type}");
        assert!(!body.contains("cdn.jsdelivr.net/npm/@scalar"), "{asset} is served here, not from a CDN");
    }
    let script = get_text(&app, "/ui/assets/js/docs.js").await.2;
    assert!(script.contains("/api/v1/openapi.json") && script.contains("/api/compat/openapi.json"), "{script}");
}

async fn unknown_routes_answer_problem_404(app: TestApp) {
    let reply = send(app.client.get(format!("{}/no/such/page", app.base))).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app.get("/api/v1/no-such-resource").await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app.post("/api/v1/nothing-here", json!({})).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn malformed_json_is_a_400_problem(app: TestApp) {
    let url = format!("{}/api/v1/contacts", app.base);
    let reply = send(
        app.client
            .post(&url)
            .header("X-Api-Key", &app.key)
            .header("Content-Type", "application/json")
            .body("{\"name\": \"Ada\", "),
    )
    .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_body");

    let reply = send(
        app.client.post(&url).header("X-Api-Key", &app.key).header("Content-Type", "application/json").body("not json"),
    )
    .await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_body");

    let reply = send(app.client.post(&url).header("X-Api-Key", &app.key).body("{\"name\": \"Ada\"}")).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_body");
    assert!(reply.body["detail"].as_str().unwrap_or_default().contains("Content-Type"), "{reply:?}");

    // Well-formed JSON of the wrong shape names the field, whatever is wrong with it.
    let channel = app.channel("sms", "+393209998800", true).await;
    let inbound = format!("/api/v1/channels/{channel}/inbound");
    for (body, field, message) in [
        (json!({"from": 123, "text": "hi"}), "from", "invalid type: integer `123`, expected a string"),
        (json!({"text": "hi"}), "from", "missing field `from`"),
        (json!({"from": "+393471234567", "text": "hi", "colour": "red"}), "colour", "unknown field `colour`"),
        (json!({"from": "+393471234567", "type": "fax"}), "type", "unknown variant `fax`"),
    ] {
        let reply = app.post(&inbound, body).await;
        assert_field_error(&reply, field);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().starts_with(message), "{reply:?}");
        assert!(!reply.body["detail"].as_str().unwrap().contains("line 1"), "no parser positions: {reply:?}");
    }

    assert_eq!(contact_count(&app).await, 0, "nothing was created");
}

async fn idempotent_post_replays_the_first_response(app: TestApp) {
    let body = json!({"name": "Ada", "phone": "+393471234567"});
    let first = post_idempotent(&app, &app.key, "create-ada-1", "/api/v1/contacts", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    assert!(first.headers.get("idempotent-replayed").is_none(), "the first response is not a replay");

    let second = post_idempotent(&app, &app.key, "create-ada-1", "/api/v1/contacts", &body).await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_eq!(second.body, first.body, "the replay is the first response");
    assert_eq!(header(&second, "idempotent-replayed"), "true");
    assert!(header(&second, "content-type").starts_with("application/json"));
    assert_eq!(contact_count(&app).await, 1, "only one contact was created");

    let other_body = json!({"name": "Grace", "phone": "+14155550100"});
    let reused = post_idempotent(&app, &app.key, "create-ada-1", "/api/v1/contacts", &other_body).await;
    assert_problem(&reused, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    let reused = post_idempotent(&app, &app.key, "create-ada-1", "/api/v1/api-keys", &json!({"name": "x"})).await;
    assert_problem(&reused, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(contact_count(&app).await, 1, "a reused key creates nothing");
    assert_eq!(app.get("/api/v1/api-keys").await.body["data"].as_array().map(Vec::len), Some(1));

    // A new key is a new request; refused requests are replayed as refusals.
    let third = post_idempotent(&app, &app.key, "create-ada-2", "/api/v1/contacts", &body).await;
    assert_eq!(third.status, StatusCode::CREATED, "{third:?}");
    assert_ne!(third.body["id"], first.body["id"]);
    assert_eq!(contact_count(&app).await, 2);
    let bad = json!({"phone": "nope"});
    let refused = post_idempotent(&app, &app.key, "bad-1", "/api/v1/contacts", &bad).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let replayed = post_idempotent(&app, &app.key, "bad-1", "/api/v1/contacts", &bad).await;
    assert_problem(&replayed, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(replayed.body, refused.body);

    // Keys belong to one account: another account's identical request is its own.
    let other = app.other_account_key().await;
    let theirs = post_idempotent(&app, &other, "create-ada-1", "/api/v1/contacts", &body).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{theirs:?}");
    assert!(theirs.headers.get("idempotent-replayed").is_none());
    let their_list = app.call_as(&other, Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(their_list.body["data"].as_array().map(Vec::len), Some(1));
    assert_eq!(contact_count(&app).await, 2);

    // An unusable Idempotency-Key is refused.
    let long = "k".repeat(256);
    let reply = post_idempotent(&app, &app.key, &long, "/api/v1/contacts", &body).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "Idempotency-Key", "{reply:?}");
    assert_eq!(contact_count(&app).await, 2);
}

/// `--max-body-bytes` refuses larger JSON bodies with 413 and creates nothing.
async fn oversized_body_is_refused(app: TestApp) {
    let big = json!({"name": "Big", "attributes": {"notes": "x".repeat(3000)}});
    let reply = app.post("/api/v1/contacts", big.clone()).await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(reply.body["detail"].as_str().unwrap().contains("2000-byte limit"), "the limit is named: {reply:?}");
    let reply = post_idempotent(&app, &app.key, "big-1", "/api/v1/contacts", &big).await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert_eq!(contact_count(&app).await, 0, "nothing was created");

    let small = json!({"name": "Small", "attributes": {"notes": "x".repeat(1000)}});
    let reply = app.post("/api/v1/contacts", small).await;
    assert_eq!(reply.status, StatusCode::CREATED, "a body under the limit is fine: {reply:?}");
    assert_eq!(contact_count(&app).await, 1);
}

/// Each key has its own token bucket: a burst of 3, then 429 with `Retry-After`.
async fn rate_limit_is_per_key(app: TestApp) {
    // Made with the admin key before anything is exhausted (this uses one of its three).
    let reply = app.post("/api/v1/api-keys", json!({"name": "second"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let second = reply.body["value"].as_str().expect("value").to_owned();

    for n in 1..=3 {
        let reply = app.call_as(&second, Method::GET, "/api/v1/channels", None).await;
        assert_eq!(reply.status, StatusCode::OK, "request {n} is within the burst: {reply:?}");
    }
    let limited = app.call_as(&second, Method::GET, "/api/v1/channels", None).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry_after: u64 = header(&limited, "retry-after").parse().expect("a Retry-After header in seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let refused = app.call_as(&second, Method::POST, "/api/v1/contacts", Some(json!({"name": "Late"}))).await;
    assert_problem(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // The admin key has its own bucket.
    let reply = app.get("/api/v1/contacts").await;
    assert_eq!(reply.status, StatusCode::OK, "another key is unaffected: {reply:?}");
    assert_eq!(reply.body["data"], json!([]), "the rate-limited request created nothing");

    // Operations endpoints are not rate limited.
    let (status, _, _) = get_text(&app, "/healthz").await;
    assert_eq!(status, StatusCode::OK);
}

mod small_bodies {
    use super::*;

    const FLAGS: &[&str] = &["--max-body-bytes", "2000"];
    crate::backend_tests!(with FLAGS; oversized_body_is_refused);
}

mod few_requests {
    use super::*;

    const FLAGS: &[&str] = &["--rate-limit-per-minute", "60", "--rate-limit-burst", "3"];
    crate::backend_tests!(with FLAGS; rate_limit_is_per_key);
}

crate::backend_tests!(
    health_and_readiness,
    metrics_count_requests,
    openapi_document_describes_the_api,
    docs_page_serves_the_reference,
    the_compatible_apis_have_their_own_document,
    unknown_routes_answer_problem_404,
    malformed_json_is_a_400_problem,
    idempotent_post_replays_the_first_response,
    concurrent_idempotent_posts_create_once,
    wrong_method_is_a_problem,
);

/// Concurrent retries of one POST with the same `Idempotency-Key` create one resource.
async fn concurrent_idempotent_posts_create_once(app: TestApp) {
    // Open connections first so the retries really overlap.
    futures::future::join_all((0..10).map(|_| app.get("/api/v1/contacts"))).await;
    let body = json!({"name": "Ada", "phone": "+393471234567"});
    let replies = futures::future::join_all(
        (0..10).map(|_| post_idempotent(&app, &app.key, "retry-storm", "/api/v1/contacts", &body)),
    )
    .await;
    let ids: std::collections::HashSet<String> =
        replies.iter().filter(|r| r.status == StatusCode::CREATED).map(|r| r.body["id"].to_string()).collect();
    assert_eq!(ids.len(), 1, "every answer names the same contact: {replies:?}");
    assert_eq!(contact_count(&app).await, 1, "one Idempotency-Key, one contact");
}

/// A known route called with a method it does not support answers a 405 problem document.
async fn wrong_method_is_a_problem(app: TestApp) {
    let reply = send(app.client.put(format!("{}/api/v1/contacts", app.base)).header("X-Api-Key", &app.key)).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{reply:?}");
    assert!(header(&reply, "allow").contains("POST"), "{reply:?}");
    assert_eq!(header(&reply, "content-type"), "application/problem+json", "{reply:?}");
    assert_eq!(reply.body["status"], 405, "{reply:?}");
    assert!(reply.body["code"].is_string(), "{reply:?}");
}
