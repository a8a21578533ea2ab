//! `/api/v1/channels`: the business's numbers and addresses, with secret provider settings.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const SECRET: &str = "EAAG-super-secret-token-31337";

fn sorted_names(value: &Value) -> Vec<String> {
    let mut names: Vec<String> =
        value.as_array().expect("array").iter().map(|v| v.as_str().expect("name").to_owned()).collect();
    names.sort();
    names
}

fn channel_ids(reply: &Reply) -> Vec<i64> {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().expect("data").iter().map(|c| c["id"].as_i64().expect("id")).collect()
}

async fn create_channel_never_returns_secrets(app: TestApp) {
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": " Support ", "address": "+39 02 1234 5678", "simulation": true,
                   "settings": {"access_token": SECRET, "phone_number_id": "1098765432"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let id = reply.body["id"].as_i64().expect("id");
    assert_eq!(reply.body["kind"], "whatsapp");
    assert_eq!(reply.body["name"], "Support");
    assert_eq!(reply.body["address"], "+390212345678", "phone addresses are stored in E.164");
    assert_eq!(reply.body["simulation"], true);
    assert_eq!(sorted_names(&reply.body["settings_configured"]), ["access_token", "phone_number_id"]);
    // Secrets are write-only; the other settings are shown, for the settings form.
    assert_eq!(reply.body["settings"], json!({"phone_number_id": "1098765432"}), "{reply:?}");
    let text = reply.body.to_string();
    assert!(!text.contains(SECRET), "secret settings leak: {text}");

    for path in [format!("/api/v1/channels/{id}"), "/api/v1/channels".to_owned()] {
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let text = reply.body.to_string();
        assert!(text.contains("access_token"), "{text}");
        assert!(!text.contains(SECRET), "settings values leak from {path}: {text}");
    }

    // Simulation defaults to off, and a live channel needs what its provider needs (an email
    // channel, its SMTP server); a simulation channel without settings says so.
    let body = json!({"kind": "email", "name": "Mail", "address": "Help@Example.com"});
    let refused = app.post("/api/v1/channels", body).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(refused.body["errors"][0]["field"], "settings.smtp_host", "{refused:?}");
    let body = json!({"kind": "email", "name": "Mail", "address": "Help@Example.com", "simulation": true});
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["settings_configured"], json!([]));
    assert_eq!(reply.body["simulation"], true);
    assert_eq!(reply.body["address"], "help@example.com");
}

async fn create_channel_rejects_bad_input(app: TestApp) {
    let reply = app.post("/api/v1/channels", json!({"kind": "telegram", "name": "TG", "address": "@shop"})).await;
    assert_field_error(&reply, "kind");
    let message = reply.body["errors"][0]["message"].as_str().unwrap_or_default();
    for kind in ["whatsapp", "rcs", "messenger", "instagram", "sms", "email", "webchat"] {
        assert!(message.contains(kind), "the error should list `{kind}`: {message}");
    }
    let reply = app.post("/api/v1/channels", json!({"name": "No kind", "address": "+390212345678"})).await;
    assert_field_error(&reply, "kind");
    let reply =
        app.post("/api/v1/channels", json!({"kind": "whatsapp", "name": "WA", "address": "02 1234 5678"})).await;
    assert_field_error(&reply, "address");
    let reply = app.post("/api/v1/channels", json!({"kind": "sms", "name": "SMS", "address": "+12"})).await;
    assert_field_error(&reply, "address");
    let reply = app.post("/api/v1/channels", json!({"kind": "email", "name": "Mail", "address": "help"})).await;
    assert_field_error(&reply, "address");
    let reply = app.post("/api/v1/channels", json!({"kind": "webchat", "name": "Chat"})).await;
    assert_field_error(&reply, "address");
    let reply = app.post("/api/v1/channels", json!({"kind": "whatsapp", "address": "+390212345678"})).await;
    assert_field_error(&reply, "name");
    let reply =
        app.post("/api/v1/channels", json!({"kind": "whatsapp", "name": "  ", "address": "+390212345678"})).await;
    assert_field_error(&reply, "name");
    let reply = app
        .post("/api/v1/channels", json!({"kind": "whatsapp", "name": "x".repeat(101), "address": "+390212345678"}))
        .await;
    assert_field_error(&reply, "name");
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": "WA", "address": "+390212345678", "settings": "t"}),
        )
        .await;
    assert_field_error(&reply, "settings");
    let reply = app
        .post("/api/v1/channels", json!({"kind": "whatsapp", "name": "WA", "address": "+390212345678", "token": "t"}))
        .await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    assert_eq!(channel_ids(&app.get("/api/v1/channels").await), Vec::<i64>::new(), "nothing was created");
}

async fn list_and_get_channels(app: TestApp) {
    assert_eq!(channel_ids(&app.get("/api/v1/channels").await), Vec::<i64>::new());
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let webchat = app.channel("webchat", "site-widget", true).await;

    let list = app.get("/api/v1/channels").await;
    assert_eq!(channel_ids(&list), vec![whatsapp, webchat], "channels are listed in creation order");
    assert_eq!(list.body["data"][1]["kind"], "webchat");
    assert_eq!(list.body["data"][1]["address"], "site-widget");
    // What each network lets a channel do, for clients (the inbox's composer) to follow.
    assert_eq!(
        list.body["data"][0]["capabilities"],
        json!({"address": "phone_or_user_id", "reply_window_hours": 24, "human_agent_window_hours": null,
            "templates": true, "read_receipts": true, "typing": false, "media_fetch": true, "edits": true,
            "profiles": false, "comments": false,
            "content": ["text", "media", "location", "contacts", "choices", "template", "reaction", "native"],
            "opt_out_keywords": [], "opt_in_keywords": [], "sms_parts": false, "resend_codes": [], "names_messages": false,
            "threads": false, "files_inline": false, "calls": false})
    );
    assert_eq!(
        list.body["data"][1]["capabilities"],
        json!({"address": "id", "reply_window_hours": null, "human_agent_window_hours": null, "templates": false,
            "read_receipts": false, "typing": true, "media_fetch": false, "edits": false, "profiles": false,
            "comments": false, "content": ["text", "media", "choices", "cards"],
            "opt_out_keywords": [], "opt_in_keywords": [], "sms_parts": false, "resend_codes": [], "names_messages": true,
            "threads": false, "files_inline": false, "calls": false})
    );
    let started = app.inbound(whatsapp, "+393471234567", "Ada", "ciao").await;
    // Conversations name their channel; its capabilities are the channel's (kept out of every
    // conversation event).
    assert_eq!(started["conversation"]["channel"]["id"], whatsapp);
    assert!(started["conversation"]["channel"].get("capabilities").is_none());

    let one = app.get(&format!("/api/v1/channels/{whatsapp}")).await;
    assert_eq!(one.status, StatusCode::OK, "{one:?}");
    assert_eq!(one.body, list.body["data"][0], "one channel reads the same as in the list");
    assert_eq!(one.body["name"], "whatsapp line");

    assert_problem(&app.get(&format!("/api/v1/channels/{}", webchat + 1000)).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.get("/api/v1/channels/not-a-number").await, StatusCode::NOT_FOUND, "not_found");
}

async fn update_channel_keeps_its_kind(app: TestApp) {
    let id = app.channel("whatsapp", "+390212345678", true).await;
    let path = format!("/api/v1/channels/{id}");

    let reply = app.patch(&path, json!({"name": "Sales"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["name"], "Sales");
    assert_eq!(reply.body["address"], "+390212345678", "absent fields stay as they are");
    assert_eq!(reply.body["simulation"], true);
    assert_eq!(app.get(&path).await.body["name"], "Sales");

    let reply = app.patch(&path, json!({"simulation": false})).await;
    assert_field_error(&reply, "settings.phone_number_id");
    let live = json!({"phone_number_id": "1098765432", "app_secret": "app-secret", "verify_token": "verify",
                      "access_token": "old-token"});
    let reply = app
        .patch(&path, json!({"kind": "whatsapp", "simulation": false, "address": "+39 02 0000 1111", "settings": live}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "restating the same kind is fine: {reply:?}");
    assert_eq!(reply.body["simulation"], false);
    assert_eq!(reply.body["address"], "+390200001111");

    let reply = app.patch(&path, json!({"settings": {"access_token": SECRET}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(
        sorted_names(&reply.body["settings_configured"]),
        ["access_token", "app_secret", "phone_number_id", "verify_token"],
        "given settings replace the stored ones, the others stay"
    );
    assert!(!reply.body.to_string().contains(SECRET));
    let reply = app.patch(&path, json!({"settings": {"app_secret": null}})).await;
    assert_field_error(&reply, "settings.app_secret");

    let before = app.get(&path).await;
    let reply = app.patch(&path, json!({"kind": "sms", "name": "Renamed"})).await;
    assert_field_error(&reply, "kind");
    let reply = app.patch(&path, json!({"kind": "carrier-pigeon"})).await;
    assert_field_error(&reply, "kind");
    let reply = app.patch(&path, json!({"name": "", "simulation": true})).await;
    assert_field_error(&reply, "name");
    let reply = app.patch(&path, json!({"address": "not a number", "name": "Renamed"})).await;
    assert_field_error(&reply, "address");
    let reply = app.patch(&path, json!({"settings": [1], "name": "Renamed"})).await;
    assert_field_error(&reply, "settings");
    let after = app.get(&path).await;
    assert_eq!(after.body, before.body, "a refused update changes nothing");

    let reply = app.patch(&format!("/api/v1/channels/{}", id + 1000), json!({"name": "Ghost"})).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
}

async fn deleted_channel_keeps_its_conversations(app: TestApp) {
    let id = app.channel("whatsapp", "+390212345678", true).await;
    let kept = app.channel("sms", "+390298765432", true).await;
    let result = app.inbound(id, "+393471234567", "Ada", "Hello").await;
    let conversation_id = result["conversation"]["id"].as_i64().expect("conversation id");
    let path = format!("/api/v1/channels/{id}");

    let reply = app.delete(&path).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");

    assert_problem(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.delete(&path).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.patch(&path, json!({"name": "Back"})).await, StatusCode::NOT_FOUND, "not_found");
    let reply = app.post(&format!("{path}/inbound"), json!({"from": "+393471234567", "text": "Anyone?"})).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(channel_ids(&app.get("/api/v1/channels").await), vec![kept]);

    let conversation = app.get(&format!("/api/v1/conversations/{conversation_id}")).await;
    assert_eq!(conversation.status, StatusCode::OK, "{conversation:?}");
    assert_eq!(conversation.body["channel"]["id"], id);
    assert_eq!(conversation.body["last_message_preview"], "Hello");
    let messages = app.get(&format!("/api/v1/conversations/{conversation_id}/messages")).await;
    assert_eq!(messages.status, StatusCode::OK, "{messages:?}");
    let texts: Vec<&str> =
        messages.body["data"].as_array().expect("data").iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(texts, ["Hello"], "the refused inbound message was not stored");
}

async fn channels_of_another_account_answer_404(app: TestApp) {
    let other = app.other_account_key().await;
    let id = app.channel("whatsapp", "+390212345678", true).await;
    let path = format!("/api/v1/channels/{id}");
    let before = app.get(&path).await;

    assert_hidden_from(&app, &other, &path).await;
    let reply = app
        .call_as(&other, Method::POST, &format!("{path}/inbound"), Some(json!({"from": "+393471234567", "text": "Hi"})))
        .await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let theirs = app.call_as(&other, Method::GET, "/api/v1/channels", None).await;
    assert_eq!(channel_ids(&theirs), Vec::<i64>::new());

    let after = app.get(&path).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body, before.body, "another account cannot change or delete the channel");
    let conversations = app.get("/api/v1/conversations").await;
    assert_eq!(conversations.body["data"], json!([]), "another account cannot inject messages: {conversations:?}");
    let contacts = app.get("/api/v1/contacts").await;
    assert_eq!(contacts.body["data"], json!([]), "{contacts:?}");
}

crate::backend_tests!(
    create_channel_never_returns_secrets,
    create_channel_rejects_bad_input,
    list_and_get_channels,
    update_channel_keeps_its_kind,
    deleted_channel_keeps_its_conversations,
    channels_of_another_account_answer_404,
);
