//! WhatsApp Cloud API channels: credentials on creation, the verified webhook, every inbound
//! message type from the shared fixtures, statuses, edits, revokes and business-app echoes.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "wa-app-secret-for-tests";
const VERIFY_TOKEN: &str = "wa-verify-token-for-tests";

/// Settings of a live WhatsApp channel with this phone number id.
fn settings(phone_number_id: &str) -> Value {
    json!({"phone_number_id": phone_number_id, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
           "access_token": "EAAG-access-token"})
}

/// Creates a live WhatsApp channel and returns its id.
async fn whatsapp_channel(app: &TestApp, phone_number_id: &str) -> i64 {
    let body = json!({"kind": "whatsapp", "name": "WhatsApp", "address": "+15550783881", "settings": settings(phone_number_id)});
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

fn error_fields(reply: &Reply) -> Vec<String> {
    reply.body["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect()
}

async fn live_channels_need_credentials(app: TestApp) {
    let reply =
        app.post("/api/v1/channels", json!({"kind": "whatsapp", "name": "WA", "address": "+15550783881"})).await;
    assert_field_error(&reply, "settings.phone_number_id");
    assert_eq!(
        error_fields(&reply),
        ["settings.phone_number_id", "settings.app_secret", "settings.verify_token", "settings.access_token"],
        "each missing setting is named: {reply:?}"
    );
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": "WA", "address": "+15550783881",
                   "settings": {"phone_number_id": "+1 555 0783881", "app_secret": 7, "verify_token": "v", "access_token": "t"}}),
        )
        .await;
    assert_eq!(error_fields(&reply), ["settings.phone_number_id", "settings.app_secret"], "{reply:?}");
    assert_eq!(app.get("/api/v1/channels").await.body["data"], json!([]), "nothing was created");

    // A simulation channel needs no credentials.
    let simulated = app.channel("whatsapp", "+15550783882", true).await;

    let id = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let reply = app.get(&format!("/api/v1/channels/{id}")).await;
    let mut names: Vec<&str> =
        reply.body["settings_configured"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["access_token", "app_secret", "phone_number_id", "verify_token"]);
    assert!(!reply.body.to_string().contains(APP_SECRET), "secrets are never returned: {reply:?}");

    // One channel per phone number id, whichever account asks.
    let body =
        json!({"kind": "whatsapp", "name": "Again", "address": "+15550783883", "settings": settings(PHONE_NUMBER_ID)});
    assert_problem(&app.post("/api/v1/channels", body.clone()).await, StatusCode::CONFLICT, "provider_id_taken");
    let other = app.other_account_key().await;
    let reply = app.call_as(&other, reqwest::Method::POST, "/api/v1/channels", Some(body.clone())).await;
    assert_problem(&reply, StatusCode::CONFLICT, "provider_id_taken");
    let reply = app
        .patch(&format!("/api/v1/channels/{simulated}"), json!({"settings": {"phone_number_id": PHONE_NUMBER_ID}}))
        .await;
    assert_problem(&reply, StatusCode::CONFLICT, "provider_id_taken");

    // The number moves to another channel once its first channel is deleted or renumbered.
    let reply = app.patch(&format!("/api/v1/channels/{id}"), json!({"settings": {"phone_number_id": "999"}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = app.post("/api/v1/channels", body.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let taken = reply.body["id"].as_i64().unwrap();
    assert_eq!(app.delete(&format!("/api/v1/channels/{taken}")).await.status, StatusCode::NO_CONTENT);
    let reply = app.call_as(&other, reqwest::Method::POST, "/api/v1/channels", Some(body)).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

crate::backend_tests!(live_channels_need_credentials);
