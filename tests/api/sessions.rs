//! The web UI's page, assets and operator sessions: login, cookie auth on the API, CSRF, lockout
//! and logout.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_problem, Reply, TestApp};

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery";

/// A browser-like caller: the session cookie and, when set, the CSRF header.
struct Session {
    cookie: String,
    csrf: String,
}

async fn login(app: &TestApp, email: &str, password: &str) -> Reply {
    app.call_with(Method::POST, "/ui/session", &[], Some(json!({"email": email, "password": password}))).await
}

async fn logged_in(app: &TestApp) -> Session {
    let reply = login(app, EMAIL, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let set_cookie = reply.headers["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    Session { cookie, csrf: reply.body["csrf_token"].as_str().unwrap().to_owned() }
}

impl Session {
    async fn call(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
        app.call_with(method, path, &[("cookie", &self.cookie), ("x-csrf-token", &self.csrf)], body).await
    }

    async fn call_without_csrf(&self, app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
        app.call_with(method, path, &[("cookie", &self.cookie)], body).await
    }
}

async fn serves_the_page_and_its_assets(app: TestApp) {
    let page = app.client.get(format!("{}/", app.base)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    let etag = page.headers()["etag"].to_str().unwrap().to_owned();
    assert!(page.text().await.unwrap().contains("<html"));

    let again = app.client.get(format!("{}/", app.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    let missing = app.client.get(format!("{}/ui/assets/no-such-file.js", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let escape = app.client.get(format!("{}/ui/assets/..%2FCargo.toml", app.base)).send().await.unwrap();
    assert_eq!(escape.status(), StatusCode::NOT_FOUND);
}

async fn operators_log_in_with_email_and_password(app: TestApp) {
    let anonymous = app.call_with(Method::GET, "/ui/session", &[], None).await;
    assert_problem(&anonymous, StatusCode::UNAUTHORIZED, "unauthorized");

    let wrong = login(&app, EMAIL, "wrong password").await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert!(wrong.headers.get("set-cookie").is_none());
    let unknown = login(&app, "nobody@example.com", PASSWORD).await;
    assert_problem(&unknown, StatusCode::UNAUTHORIZED, "invalid_credentials");

    let reply = login(&app, "  ADMIN@example.com ", PASSWORD).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let cookie = reply.headers["set-cookie"].to_str().unwrap();
    assert!(cookie.starts_with("parley_session=ps_"), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(!cookie.contains("Secure"), "plain-HTTP installations cannot use Secure cookies: {cookie}");
    assert_eq!(reply.body["operator"]["email"], EMAIL);
    assert!(reply.body["operator"].get("password_hash").is_none());
    assert!(reply.body["csrf_token"].as_str().unwrap().len() >= 32);

    let session = logged_in(&app).await;
    let me = session.call(&app, Method::GET, "/ui/session", None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["operator"]["email"], EMAIL);
    assert_eq!(me.body["csrf_token"], session.csrf.as_str());
}

async fn sessions_use_the_api_with_csrf_protection(app: TestApp) {
    let channel = app.channel("sms", "+15550001000", true).await;
    let conversation =
        app.inbound(channel, "+15550002000", "Ada", "hello").await["conversation"]["id"].as_i64().unwrap();
    let session = logged_in(&app).await;
    let operator = session.call(&app, Method::GET, "/ui/session", None).await.body["operator"]["id"].as_i64().unwrap();

    let list = session.call_without_csrf(&app, Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(list.status, StatusCode::OK, "reads need no CSRF token: {list:?}");
    assert_eq!(list.body["total"], 1);

    let path = format!("/api/v1/conversations/{conversation}");
    let forged = session.call_without_csrf(&app, Method::PATCH, &path, Some(json!({"status": "resolved"}))).await;
    assert_problem(&forged, StatusCode::FORBIDDEN, "csrf_failed");
    let headers = [("cookie", session.cookie.as_str()), ("x-csrf-token", "not-the-token")];
    let wrong = app.call_with(Method::PATCH, &path, &headers, Some(json!({"status": "resolved"}))).await;
    assert_problem(&wrong, StatusCode::FORBIDDEN, "csrf_failed");
    assert_eq!(app.get(&path).await.body["status"], "open", "refused requests change nothing");

    let assigned = session.call(&app, Method::PATCH, &path, Some(json!({"assignee_id": operator}))).await;
    assert_eq!(assigned.status, StatusCode::OK, "{assigned:?}");
    let mine = session.call(&app, Method::GET, "/api/v1/conversations?assignee_id=me", None).await;
    assert_eq!(mine.body["total"], 1, "{mine:?}");
    let other = app.inbound(channel, "+15550003000", "Bob", "hi").await["conversation"]["id"].as_i64().unwrap();
    let mine = session.call(&app, Method::GET, "/api/v1/conversations?assignee_id=me", None).await;
    let ids: Vec<i64> = mine.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, vec![conversation], "{other} is not assigned to me");
    let by_key = app.get("/api/v1/conversations?assignee_id=me").await;
    assert_problem(&by_key, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let sent = session
        .call(&app, Method::POST, &format!("{path}/messages"), Some(json!({"text": "On it", "simulation": true})))
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    assert_eq!(sent.body["sender"]["type"], "operator");
    assert_eq!(sent.body["sender"]["id"], operator);

    let garbage =
        app.call_with(Method::GET, "/api/v1/conversations", &[("cookie", "parley_session=ps_forged")], None).await;
    assert_problem(&garbage, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn repeated_failures_lock_the_login(app: TestApp) {
    for attempt in 1..=4 {
        let reply = login(&app, EMAIL, &format!("guess {attempt}")).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let fifth = login(&app, EMAIL, "guess 5").await;
    assert_problem(&fifth, StatusCode::TOO_MANY_REQUESTS, "login_locked");
    let retry: u64 = fifth.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((800..=900).contains(&retry), "{retry}");

    let right = login(&app, EMAIL, PASSWORD).await;
    assert_problem(&right, StatusCode::TOO_MANY_REQUESTS, "login_locked");
    assert!(right.headers.get("set-cookie").is_none());

    let other = login(&app, "someone@example.com", "whatever").await;
    assert_problem(&other, StatusCode::UNAUTHORIZED, "invalid_credentials");
}

async fn password_guesses_on_the_seed_api_count_towards_the_lock(app: TestApp) {
    let guess = |password: &str| {
        app.client
            .get(format!("{}/api/partner-gateway/v1/inbox/conversations", app.base))
            .basic_auth(EMAIL, Some(password))
            .send()
    };
    for attempt in 1..=4 {
        assert_eq!(guess(&format!("guess {attempt}")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    let fifth = guess("guess 5").await.unwrap();
    assert_eq!(fifth.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(fifth.headers().contains_key("retry-after"));
    assert_eq!(guess(PASSWORD).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_problem(&login(&app, EMAIL, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "login_locked");
}

async fn a_success_resets_the_failure_count(app: TestApp) {
    for attempt in 1..=4 {
        assert_eq!(login(&app, EMAIL, &format!("guess {attempt}")).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, EMAIL, PASSWORD).await.status, StatusCode::OK);
    for attempt in 1..=4 {
        assert_eq!(login(&app, EMAIL, &format!("again {attempt}")).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, EMAIL, PASSWORD).await.status, StatusCode::OK);
}

async fn logout_ends_the_session(app: TestApp) {
    let session = logged_in(&app).await;
    let forged = session.call_without_csrf(&app, Method::DELETE, "/ui/session", None).await;
    assert_problem(&forged, StatusCode::FORBIDDEN, "csrf_failed");
    assert_eq!(session.call(&app, Method::GET, "/ui/session", None).await.status, StatusCode::OK);

    let out = session.call(&app, Method::DELETE, "/ui/session", None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{out:?}");
    let cleared = out.headers["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("parley_session=;") && cleared.contains("Max-Age=0"), "{cleared}");

    let after = session.call(&app, Method::GET, "/ui/session", None).await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "unauthorized");
    let api = session.call(&app, Method::GET, "/api/v1/conversations", None).await;
    assert_problem(&api, StatusCode::UNAUTHORIZED, "unauthorized");
}

backend_tests!(
    serves_the_page_and_its_assets,
    operators_log_in_with_email_and_password,
    sessions_use_the_api_with_csrf_protection,
    repeated_failures_lock_the_login,
    password_guesses_on_the_seed_api_count_towards_the_lock,
    a_success_resets_the_failure_count,
    logout_ends_the_session,
);
