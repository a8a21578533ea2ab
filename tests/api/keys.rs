//! `/api/v1/api-keys` and `/api/v1/operators`: authentication and who can use the API.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

/// Sends a request with arbitrary headers (or none) and returns the reply.
async fn send(app: &TestApp, method: Method, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    Reply { status, body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null), headers }
}

/// Creates a key with the app's key and returns (id, value).
async fn create_key(app: &TestApp, name: &str) -> (i64, String) {
    let reply = app.post("/api/v1/api-keys", json!({"name": name})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    (reply.body["id"].as_i64().expect("id"), reply.body["value"].as_str().expect("value").to_owned())
}

async fn created_key_is_shown_once_and_works(app: TestApp) {
    let reply = app.post("/api/v1/api-keys", json!({"name": " CI pipeline "})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let id = reply.body["id"].as_i64().expect("id");
    let value = reply.body["value"].as_str().expect("the value is shown at creation").to_owned();
    assert!(value.len() >= 32, "a generated key is long: {value}");
    assert_eq!(reply.body["name"], "CI pipeline");
    assert_eq!(reply.body["prefix"].as_str(), Some(&value[..10]), "the prefix helps recognise the key");
    assert_eq!(reply.body["revoked_at"], serde_json::Value::Null);

    let list = app.get("/api/v1/api-keys").await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let text = list.body.to_string();
    assert!(!text.contains(&value), "the list must never show a key's value: {text}");
    assert!(!text.contains(KEY), "the list must never show the bootstrap key's value: {text}");
    let listed = list.body["data"].as_array().expect("data");
    assert_eq!(listed.len(), 2, "the bootstrap key and the new one: {list:?}");
    let new = listed.iter().find(|k| k["id"] == id).expect("the new key is listed");
    assert_eq!(new["name"], "CI pipeline");
    assert!(new.get("value").is_none());

    let reply = app.call_as(&value, Method::GET, "/api/v1/channels", None).await;
    assert_eq!(reply.status, StatusCode::OK, "the new key works: {reply:?}");
    let bearer = format!("Bearer {value}");
    let reply = send(&app, Method::GET, "/api/v1/channels", &[("Authorization", &bearer)]).await;
    assert_eq!(reply.status, StatusCode::OK, "a bearer token works too: {reply:?}");
    let bearer = format!("bearer {KEY}");
    let reply = send(&app, Method::GET, "/api/v1/channels", &[("Authorization", &bearer)]).await;
    assert_eq!(reply.status, StatusCode::OK, "the scheme is case-insensitive: {reply:?}");

    // Both keys act for the same account.
    let channel = app.channel("webchat", "site", true).await;
    let reply = app.call_as(&value, Method::GET, &format!("/api/v1/channels/{channel}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

async fn create_key_rejects_bad_input(app: TestApp) {
    let reply = app.post("/api/v1/api-keys", json!({"name": "   "})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "name", "{reply:?}");
    let reply = app.post("/api/v1/api-keys", json!({"name": "k".repeat(101)})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], "name", "{reply:?}");
    let reply = app.post("/api/v1/api-keys", json!({})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let reply = app.post("/api/v1/api-keys", json!({"name": "ci", "value": "pk_chosen_by_me_0123456789"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let list = app.get("/api/v1/api-keys").await;
    assert_eq!(list.body["data"].as_array().map(Vec::len), Some(1), "only the bootstrap key: {list:?}");
    let reply = app.call_as("pk_chosen_by_me_0123456789", Method::GET, "/api/v1/channels", None).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
}

async fn revoked_key_stops_working(app: TestApp) {
    let (id, value) = create_key(&app, "temporary").await;
    assert_eq!(app.call_as(&value, Method::GET, "/api/v1/channels", None).await.status, StatusCode::OK);

    let reply = app.delete(&format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["id"], id);
    assert!(reply.body["revoked_at"].is_string(), "{reply:?}");
    assert!(!reply.body.to_string().contains(&value));

    let reply = app.call_as(&value, Method::GET, "/api/v1/channels", None).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let bearer = format!("Bearer {value}");
    let reply = send(&app, Method::GET, "/api/v1/channels", &[("Authorization", &bearer)]).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    let reply = app.call_as(&value, Method::POST, "/api/v1/contacts", Some(json!({"name": "Sneaky"}))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.get("/api/v1/contacts").await.body["data"], json!([]), "a revoked key creates nothing");

    // The list shows the revocation; the admin key is unaffected.
    let list = app.get("/api/v1/api-keys").await;
    assert_eq!(list.status, StatusCode::OK);
    let revoked = list.body["data"].as_array().expect("data").iter().find(|k| k["id"] == id).expect("listed");
    assert!(revoked["revoked_at"].is_string(), "{list:?}");

    // Revoking again keeps the first revocation; unknown ids answer 404.
    let again = app.delete(&format!("/api/v1/api-keys/{id}")).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["revoked_at"], revoked["revoked_at"]);
    let reply = app.delete(&format!("/api/v1/api-keys/{}", id + 1000)).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let reply = app.delete("/api/v1/api-keys/abc").await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn requests_without_a_valid_key_get_401(app: TestApp) {
    let paths = ["/api/v1/channels", "/api/v1/contacts", "/api/v1/api-keys", "/api/v1/operators"];
    for path in paths {
        let reply = send(&app, Method::GET, path, &[]).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    for headers in [
        vec![("X-Api-Key", "pk_not_a_real_key_0000000000")],
        vec![("X-Api-Key", "")],
        vec![("Authorization", "Bearer ")],
        vec![("Authorization", "Bearer pk_not_a_real_key_0000000000")],
        vec![("Authorization", "Basic YWRtaW46cGFzc3dvcmQ=")],
        vec![("Authorization", KEY)],
    ] {
        let reply = send(&app, Method::GET, "/api/v1/channels", &headers).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let reply = send(&app, Method::POST, "/api/v1/api-keys", &[]).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(app.get("/api/v1/api-keys").await.body["data"].as_array().map(Vec::len), Some(1));
}

async fn keys_of_another_account_answer_404(app: TestApp) {
    let other = app.other_account_key().await;
    let (id, value) = create_key(&app, "ours").await;

    let reply = app.call_as(&other, Method::DELETE, &format!("/api/v1/api-keys/{id}"), None).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.call_as(&value, Method::GET, "/api/v1/channels", None).await.status,
        StatusCode::OK,
        "another account cannot revoke our key"
    );

    let theirs = app.call_as(&other, Method::GET, "/api/v1/api-keys", None).await;
    assert_eq!(theirs.status, StatusCode::OK, "{theirs:?}");
    let their_ids: Vec<i64> =
        theirs.body["data"].as_array().expect("data").iter().map(|k| k["id"].as_i64().expect("id")).collect();
    assert_eq!(their_ids.len(), 1, "only their own admin key: {theirs:?}");
    assert!(!their_ids.contains(&id));
    let ours = app.get("/api/v1/api-keys").await;
    assert!(ours.body["data"].as_array().expect("data").iter().all(|k| k["id"] != their_ids[0]));

    // Our key cannot revoke theirs either, and their operators list is their own (empty).
    let reply = app.delete(&format!("/api/v1/api-keys/{}", their_ids[0])).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.call_as(&other, Method::GET, "/api/v1/channels", None).await.status, StatusCode::OK);
    let operators = app.call_as(&other, Method::GET, "/api/v1/operators", None).await;
    assert_eq!(operators.body["data"], json!([]), "{operators:?}");
}

async fn operators_list_the_admin_without_secrets(app: TestApp) {
    let reply = app.get("/api/v1/operators").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let operators = reply.body["data"].as_array().expect("data");
    assert_eq!(operators.len(), 1, "{reply:?}");
    assert_eq!(operators[0]["email"], "admin@example.com");
    assert_eq!(operators[0]["role"], "admin");
    assert!(operators[0]["id"].is_i64());
    let text = reply.body.to_string();
    assert!(!text.contains("argon2"), "no password hash: {text}");
    assert!(!text.contains("password"), "no password field: {text}");
    assert!(!text.contains("correct horse battery"), "no password: {text}");
}

async fn keys_are_stored_only_as_hashes(app: TestApp) {
    let (_, value) = create_key(&app, "hashed").await;
    let hashes = sqlx::query_scalar::<_, String>("SELECT key_hash FROM api_keys")
        .fetch_all(app.state.db.reader())
        .await
        .expect("read key hashes");
    assert_eq!(hashes.len(), 2, "{hashes:?}");
    for hash in &hashes {
        assert_ne!(hash, &value);
        assert_ne!(hash, KEY);
        assert!(!hash.contains(&value) && !hash.contains(KEY), "{hash}");
        assert!(hash.len() >= 32 && hash.chars().all(|c| c.is_ascii_hexdigit()), "a digest, not a value: {hash}");
    }
    // And the key still authenticates through its hash.
    assert_eq!(app.call_as(&value, Method::GET, "/api/v1/operators", None).await.status, StatusCode::OK);
}

crate::backend_tests!(
    created_key_is_shown_once_and_works,
    create_key_rejects_bad_input,
    revoked_key_stops_working,
    requests_without_a_valid_key_get_401,
    keys_of_another_account_answer_404,
    operators_list_the_admin_without_secrets,
    keys_are_stored_only_as_hashes,
    key_names_are_limited_in_characters_not_bytes,
);

/// A key name of up to 100 characters is accepted, whatever the script.
async fn key_names_are_limited_in_characters_not_bytes(app: TestApp) {
    let name = "é".repeat(60); // 60 characters, 120 bytes
    let reply = app.post("/api/v1/api-keys", json!({"name": name})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "the error promises 1 to 100 characters: {reply:?}");
    assert_eq!(reply.body["name"], name.as_str());
}
