//! `Idempotency-Key`s: claims are leases, so a key whose request died with its process is usable
//! again and the retry runs once; JSON bodies compare by value; keys are forgotten after a day.

use parley::domain::time::now_ms;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// Settings of every app here: requests stop after 1 s, so a claim's lease lasts 2 s.
const FLAGS: &[&str] = &["--request-timeout-ms", "1000"];

/// POSTs a raw JSON text with the app's key and an `Idempotency-Key`.
async fn post_keyed(app: &TestApp, idempotency_key: &str, path: &str, body: &str) -> Reply {
    app.call_raw(reqwest::Method::POST, path, &[("Idempotency-Key", idempotency_key)], body).await
}

/// Makes a key look like its request was still running when its process died: unfinished, with
/// its lease ending at `locked_until`.
async fn leave_unfinished(app: &TestApp, key: &str, locked_until: i64) {
    let changed =
        sqlx::query("UPDATE idempotency_keys SET status = 0, response_body = '', locked_until = $1 WHERE key = $2")
            .bind(locked_until)
            .bind(key)
            .execute(app.state.db.writer())
            .await
            .expect("update key");
    assert_eq!(changed.rows_affected(), 1);
}

/// Claims `key` for the same request as `like` without running it, as a process that died right
/// after claiming would have.
async fn claim_like(app: &TestApp, key: &str, like: &str, locked_until: i64) {
    sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, response_body, created_at, locked_until) \
         SELECT account_id, $1, request_hash, 0, '', $2, $3 FROM idempotency_keys WHERE key = $4",
    )
    .bind(key)
    .bind(now_ms())
    .bind(locked_until)
    .bind(like)
    .execute(app.state.db.writer())
    .await
    .expect("insert claim");
}

async fn count_texts(app: &TestApp, text: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE text = $1")
        .bind(text)
        .fetch_one(app.state.db.reader())
        .await
        .expect("count")
}

async fn a_key_left_by_a_dead_request_is_usable_after_its_lease(app: TestApp) {
    let channel = app.channel("sms", "+393209998800", true).await;
    let path = format!("/api/v1/channels/{channel}/inbound");
    let body = r#"{"from": "+393471234567", "text": "ordine ORD-1"}"#;
    let first = post_keyed(&app, "inbound-1", &path, body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");

    // The process stored the message and died before answering: while the lease lasts the key is
    // busy, afterwards the retry finds the stored message instead of storing it twice.
    leave_unfinished(&app, "inbound-1", now_ms() + 60_000).await;
    let busy = post_keyed(&app, "inbound-1", &path, body).await;
    assert_problem(&busy, StatusCode::CONFLICT, "idempotency_key_in_progress");
    leave_unfinished(&app, "inbound-1", now_ms() - 1).await;
    let retried = post_keyed(&app, "inbound-1", &path, body).await;
    assert!(retried.status.is_success(), "{retried:?}");
    assert_eq!(retried.body["message"]["id"], first.body["message"]["id"], "the stored message is the answer");
    assert_eq!(count_texts(&app, "ordine ORD-1").await, 1, "stored once");
    let again = post_keyed(&app, "inbound-1", &path, body).await;
    assert_eq!(again.body, retried.body, "the retry's answer is now the key's answer");

    // The process died right after claiming, before storing anything: the retry stores it once.
    claim_like(&app, "inbound-2", "inbound-1", now_ms() - 1).await;
    let retried = post_keyed(&app, "inbound-2", &path, body).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{retried:?}");
    assert_ne!(retried.body["message"]["id"], first.body["message"]["id"], "a new message");
    assert_eq!(count_texts(&app, "ordine ORD-1").await, 2);

    // Replies sent with a key behave the same.
    let conversation = first.body["conversation"]["id"].as_i64().expect("conversation");
    let reply_path = format!("/api/v1/conversations/{conversation}/messages");
    let reply = post_keyed(&app, "reply-1", &reply_path, r#"{"text": "in spedizione"}"#).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    leave_unfinished(&app, "reply-1", now_ms() - 1).await;
    let retried = post_keyed(&app, "reply-1", &reply_path, r#"{"text": "in spedizione"}"#).await;
    assert_eq!(retried.status, StatusCode::ACCEPTED, "{retried:?}");
    assert_eq!(retried.body["id"], reply.body["id"]);
    assert_eq!(count_texts(&app, "in spedizione").await, 1, "the reply is queued once");

    // And conversations started with a key.
    let start = format!(r#"{{"channel_id": {channel}, "to": "+393470000001", "text": "promemoria"}}"#);
    let started = post_keyed(&app, "start-1", "/api/v1/conversations", &start).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    leave_unfinished(&app, "start-1", now_ms() - 1).await;
    let retried = post_keyed(&app, "start-1", "/api/v1/conversations", &start).await;
    assert_eq!(retried.status, StatusCode::CREATED, "{retried:?}");
    assert_eq!(retried.body["message"]["id"], started.body["message"]["id"]);
    assert_eq!(retried.body["conversation"]["id"], started.body["conversation"]["id"]);
    assert_eq!(count_texts(&app, "promemoria").await, 1);
}

async fn json_bodies_are_the_same_request_whatever_their_spacing(app: TestApp) {
    let first = post_keyed(&app, "ada", "/api/v1/contacts", r#"{"name":"Ada","phone":"+393471234567"}"#).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let spaced = "{\n  \"phone\" : \"+393471234567\",\n  \"name\" : \"Ada\"\n}";
    let second = post_keyed(&app, "ada", "/api/v1/contacts", spaced).await;
    assert_eq!(second.status, StatusCode::CREATED, "{second:?}");
    assert_eq!(second.body, first.body);
    assert_eq!(second.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap_or_default()), Some("true"));
    let other = post_keyed(&app, "ada", "/api/v1/contacts", r#"{"name":"Ada ","phone":"+393471234567"}"#).await;
    assert_problem(&other, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
}

async fn keys_are_forgotten_after_a_day(app: TestApp) {
    let first = post_keyed(&app, "daily", "/api/v1/contacts", r#"{"name":"Ada"}"#).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let day = 24 * 60 * 60 * 1000;
    sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1 WHERE key = 'daily'")
        .bind(day + 1000)
        .execute(app.state.db.writer())
        .await
        .expect("age the key");
    // A day later the key is free for another request.
    let next = post_keyed(&app, "daily", "/api/v1/contacts", r#"{"name":"Grace"}"#).await;
    assert_eq!(next.status, StatusCode::CREATED, "{next:?}");
    assert_eq!(next.body["name"], "Grace");

    // Housekeeping removes keys older than a day, and only those.
    post_keyed(&app, "old", "/api/v1/contacts", r#"{"name":"Old"}"#).await;
    sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1 WHERE key = 'old'")
        .bind(day + 1000)
        .execute(app.state.db.writer())
        .await
        .expect("age the key");
    parley::jobs::housekeeping(&app.state, now_ms()).await.expect("housekeeping");
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM idempotency_keys ORDER BY key")
        .fetch_all(app.state.db.reader())
        .await
        .expect("keys");
    assert_eq!(keys, vec!["daily".to_owned()]);
    let replay = post_keyed(&app, "daily", "/api/v1/contacts", &json!({"name": "Grace"}).to_string()).await;
    assert_eq!(replay.body, next.body, "a key younger than a day still replays");
}

crate::backend_tests!(with FLAGS;
    a_key_left_by_a_dead_request_is_usable_after_its_lease,
    json_bodies_are_the_same_request_whatever_their_spacing,
    keys_are_forgotten_after_a_day,
);
