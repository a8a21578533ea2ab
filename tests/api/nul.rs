//! The NUL character (U+0000), which neither backend can store in text: refused with a 422 naming
//! the field wherever the API takes text, and removed from what providers deliver, so a webhook
//! batch is never refused for it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;
use crate::whatsapp::{deliver, webhook, whatsapp_channel, PHONE_NUMBER_ID};

/// Counts of everything a refused request must leave as it was.
async fn stored(app: &TestApp) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in ["messages", "contacts", "conversations", "channels", "webhooks", "api_keys", "media"] {
        let count = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.state.db.reader())
            .await
            .unwrap_or_else(|e| panic!("{table}: {e}"));
        counts.push(count);
    }
    counts.push(
        sqlx::query_scalar("SELECT COUNT(*) FROM conversation_tags").fetch_one(app.state.db.reader()).await.unwrap(),
    );
    counts
}

/// A JSON text with a NUL character in it, as a client would send it.
fn with_nul(template: &str) -> String {
    template.replace("NUL", "\\u0000")
}

async fn text_with_nul_is_refused_everywhere_and_changes_nothing(app: TestApp) {
    let channel = app.channel("sms", "+393209998800", true).await;
    let first = app.inbound(channel, "+393471234567", "Marco", "ciao").await;
    let conversation = first["conversation"]["id"].as_i64().unwrap();
    let contact = first["conversation"]["contact"]["id"].as_i64().unwrap();
    let before = stored(&app).await;

    let inbound = format!("/api/v1/channels/{channel}/inbound");
    let messages = format!("/api/v1/conversations/{conversation}/messages");
    let this_conversation = format!("/api/v1/conversations/{conversation}");
    let this_contact = format!("/api/v1/contacts/{contact}");
    let start = format!(r#"{{"channel_id": {channel}, "to": "+393471234568", "subject": "sNUL", "text": "hi"}}"#);
    let cases: Vec<(Method, &str, String, &str)> = vec![
        (Method::POST, &inbound, with_nul(r#"{"from": "+393471234567", "text": "aNULb"}"#), "text"),
        (Method::POST, &inbound, with_nul(r#"{"from": "+393471234567", "name": "NUL", "text": "a"}"#), "name"),
        (Method::POST, &inbound, with_nul(r#"{"from": "+39347NUL1234567", "text": "a"}"#), "from"),
        (
            Method::POST,
            &inbound,
            with_nul(r#"{"from": "+393471234567", "text": "a", "provider_message_id": "wNUL"}"#),
            "provider_message_id",
        ),
        (
            Method::POST,
            &inbound,
            with_nul(r#"{"from": "+393471234567", "type": "location", "payload": {"location": {"name": "NUL"}}}"#),
            "payload.location.name",
        ),
        (Method::POST, &messages, with_nul(r#"{"text": "in spedizioneNUL"}"#), "text"),
        (
            Method::POST,
            &messages,
            with_nul(r#"{"text": "nota", "private": true, "payload": {"kNUL": 1}}"#),
            "payload.k\\u0000",
        ),
        (Method::POST, "/api/v1/conversations", with_nul(&start), "subject"),
        (Method::PATCH, &this_conversation, with_nul(r#"{"tags": ["ok", "tNUL"]}"#), "tags[1]"),
        (Method::PATCH, &this_conversation, with_nul(r#"{"meta": {"kNUL": "v"}}"#), "meta.k\\u0000"),
        (Method::PATCH, &this_conversation, with_nul(r#"{"meta": {"order": "ORDNUL"}}"#), "meta.order"),
        (Method::POST, "/api/v1/contacts", with_nul(r#"{"name": "AdaNUL"}"#), "name"),
        (Method::POST, "/api/v1/contacts", with_nul(r#"{"name": "Ada", "tags": ["NUL"]}"#), "tags[0]"),
        (
            Method::POST,
            "/api/v1/contacts",
            with_nul(r#"{"name": "Ada", "attributes": {"plan": "goldNUL"}}"#),
            "attributes.plan",
        ),
        (Method::PATCH, &this_contact, with_nul(r#"{"email": "aNUL@example.com"}"#), "email"),
        (Method::PATCH, &this_contact, with_nul(r#"{"phone": "+3934NUL"}"#), "phone"),
        (
            Method::POST,
            "/api/v1/channels",
            with_nul(r#"{"kind": "sms", "name": "nNUL", "address": "+393209998801", "simulation": true}"#),
            "name",
        ),
        (Method::POST, "/api/v1/webhooks", with_nul(r#"{"url": "https://example.com/NUL"}"#), "url"),
        (Method::POST, "/api/v1/api-keys", with_nul(r#"{"name": "kNUL"}"#), "name"),
    ];
    for (method, path, body, field) in &cases {
        let reply = app.call_raw(method.clone(), path, &[], body).await;
        assert_field_error(&reply, field);
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("U+0000"), "{reply:?}");
        assert_eq!(stored(&app).await, before, "{method} {path} {body} changed something");
    }

    // Query parameters.
    for path in ["/api/v1/conversations?q=a%00b", "/api/v1/contacts?q=a%00b", "/api/v1/conversations?meta[k%00]=v"] {
        let reply = app.get(path).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query");
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("U+0000"), "{path}: {reply:?}");
    }
    assert_problem(&app.get("/api/v1/media/a%00b").await, StatusCode::NOT_FOUND, "not_found");

    // The web UI's login, and the seed platform's API in its own error shape.
    let login = app
        .call_with(
            Method::POST,
            "/ui/session",
            &[],
            Some(serde_json::from_str(&with_nul(r#"{"email": "aNUL@x.it", "password": "p"}"#)).unwrap()),
        )
        .await;
    assert_field_error(&login, "email");
    let reply = app
        .call_raw(
            Method::POST,
            "/api/partner-gateway/v1/inbox/conversations/reply",
            &[],
            &with_nul(&format!(r#"{{"chatId": {conversation}, "message": "NUL"}}"#)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert!(reply.body["message"].as_str().unwrap().contains("message: must not contain"), "{reply:?}");
    let basic = app
        .client
        .get(format!("{}/api/partner-gateway/v1/inbox/conversations", app.base))
        .basic_auth("a\u{0}@example.com", Some("p"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);

    // A media file whose name has a NUL: the part's headers are malformed.
    let upload = crate::media::upload(&app, "a\u{0}.png", "image/png", &crate::media::png_bytes(100)).await;
    assert_problem(&upload, StatusCode::BAD_REQUEST, "malformed_body");
    assert_eq!(stored(&app).await, before, "nothing was stored");

    // Text without NUL, and an escaped backslash before u0000, are fine.
    let fine = app.call_raw(Method::POST, &inbound, &[], r#"{"from": "+393471234567", "text": "C:\\u0000 ok"}"#).await;
    assert_eq!(fine.status, StatusCode::CREATED, "{fine:?}");
    assert_eq!(fine.body["message"]["text"], "C:\\u0000 ok");
}

async fn a_whatsapp_batch_with_nul_is_stored_without_it(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let message = |id: &str, text: &str| json!({"from": "16505550100", "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": text}});
    let body = webhook(
        PHONE_NUMBER_ID,
        "messages",
        json!({"contacts": [{"profile": {"name": "Ann\u{0}"}, "wa_id": "16505550100"}],
               "messages": [message("wamid.nul-1", "before"), message("wamid.nul-2", "with\u{0} a NUL"),
                            message("wamid.nul-3", "after")]}),
    );
    deliver(&app, &body).await;
    deliver(&app, &body).await;
    let mut texts = Vec::new();
    for id in ["wamid.nul-1", "wamid.nul-2", "wamid.nul-3"] {
        let message = crate::whatsapp::message(&app, channel, id).await.unwrap_or_else(|| panic!("{id} is stored"));
        texts.push(message["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(texts, ["before", "with a NUL", "after"]);
    let conversations = app.get("/api/v1/conversations").await;
    assert_eq!(conversations.body["data"][0]["contact"]["name"], "Ann", "{conversations:?}");
    assert_eq!(conversations.body["total"], 1);
}

crate::backend_tests!(
    text_with_nul_is_refused_everywhere_and_changes_nothing,
    a_whatsapp_batch_with_nul_is_stored_without_it
);
