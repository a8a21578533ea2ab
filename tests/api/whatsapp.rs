//! WhatsApp Cloud API channels: credentials on creation, the verified webhook, every inbound
//! message type from the shared fixtures, statuses, edits, revokes and business-app echoes.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

const PHONE_NUMBER_ID: &str = "106540352242922";
const APP_SECRET: &str = "wa-app-secret-for-tests";
const VERIFY_TOKEN: &str = "wa-verify-token-for-tests";
/// The customer the tests' own messages come from (and placeholders in fixtures become).
const USER: &str = "16505550100";
const USER_ID: &str = "US.13491208655302741918";

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

/// `X-Hub-Signature-256` for `body`, computed here independently of Parley's code.
fn sign_with(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a raw body to the WhatsApp webhook with this signature header (none when `None`).
async fn post_hook(app: &TestApp, body: &[u8], signature: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post(format!("{}/hooks/whatsapp", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(signature) = signature {
        request = request.header("X-Hub-Signature-256", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), headers }
}

/// Posts `body` signed with the tests' app secret and expects 200.
async fn deliver(app: &TestApp, body: &Value) {
    let bytes = body.to_string().into_bytes();
    let reply = post_hook(app, &bytes, Some(&sign_with(APP_SECRET, &bytes))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?} for {body}");
}

/// A webhook body with one change of `field` for phone number id `phone_number_id`.
fn webhook(phone_number_id: &str, field: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}]})
}

/// A customer text message from `USER`.
fn text_message(phone_number_id: &str, id: &str, body: &str) -> Value {
    webhook(
        phone_number_id,
        "messages",
        json!({"contacts": [{"profile": {"name": "Ann"}, "wa_id": USER}],
               "messages": [{"from": USER, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": body}}]}),
    )
}

/// A text the business sent to `USER` from the WhatsApp Business app.
fn echo_message(phone_number_id: &str, id: &str, body: &str) -> Value {
    webhook(
        phone_number_id,
        "smb_message_echoes",
        json!({"message_echoes": [{"from": "15550783881", "to": USER, "id": id, "timestamp": "1749416383",
                                   "type": "text", "text": {"body": body}}]}),
    )
}

/// Delivery statuses of message `id`, in this order.
fn statuses(id: &str, reports: &[Value]) -> Value {
    let statuses: Vec<Value> = reports
        .iter()
        .map(|report| {
            let mut status = json!({"id": id, "timestamp": "1750030073", "recipient_id": USER});
            status.as_object_mut().unwrap().extend(report.as_object().unwrap().clone());
            status
        })
        .collect();
    webhook(PHONE_NUMBER_ID, "messages", json!({"statuses": statuses}))
}

/// The channel's message with this provider id, as the API shows it.
async fn message(app: &TestApp, channel: i64, provider_message_id: &str) -> Option<Value> {
    let row = parley::store::messages::find_by_provider_id(app.state.db.reader(), channel, provider_message_id)
        .await
        .unwrap()?;
    Some(serde_json::to_value(parley::service::views::Message::from(&row)).unwrap())
}

/// How many messages, contacts and events are stored: what a refused webhook must not change.
async fn stored(app: &TestApp) -> (i64, i64, i64) {
    let count = |table: &'static str| async move {
        sqlx::query_scalar::<_, i64>(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(app.state.db.reader())
            .await
            .unwrap()
    };
    (count("messages").await, count("contacts").await, count("events").await)
}

/// The addresses linked to the contact of a message's conversation.
async fn contact_addresses(app: &TestApp, message: &Value) -> (Value, BTreeSet<String>) {
    let conversation = app.get(&format!("/api/v1/conversations/{}", message["conversation_id"])).await;
    let contact = app.get(&format!("/api/v1/contacts/{}", conversation.body["contact"]["id"])).await;
    let addresses = contact.body["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|identity| identity["external_id"].as_str().unwrap().to_owned())
        .collect();
    (contact.body, addresses)
}

async fn verification_handshake(app: TestApp) {
    whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let handshake = |token: &str| {
        format!("{}/hooks/whatsapp?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444", app.base)
    };
    let response = app.client.get(handshake(VERIFY_TOKEN)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(response.text().await.unwrap(), "1158201444", "the raw challenge comes back");

    for url in [
        handshake("wrong-token"),
        handshake(""),
        format!("{}/hooks/whatsapp?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1", app.base),
        format!("{}/hooks/whatsapp?hub.verify_token={VERIFY_TOKEN}&hub.challenge=1", app.base),
    ] {
        let response = app.client.get(&url).send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap();
        assert_problem(&Reply { status, body, headers }, StatusCode::FORBIDDEN, "verification_failed");
    }
}

async fn unsigned_tampered_and_unknown_bodies_write_nothing(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let before = stored(&app).await;
    let body = text_message(PHONE_NUMBER_ID, "wamid.tamper", "Transfer 1000 EUR").to_string().into_bytes();
    let signature = sign_with(APP_SECRET, &body);

    let mut tampered = body.clone();
    let at = tampered.len() - 30;
    tampered[at] ^= 0x01;
    let reply = post_hook(&app, &tampered, Some(&signature)).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    assert_problem(&post_hook(&app, &body, None).await, StatusCode::UNAUTHORIZED, "invalid_signature");
    let reply = post_hook(&app, &body, Some(&sign_with("another-app", &body))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    let reply = post_hook(&app, &body, Some(signature.trim_start_matches("sha256="))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    let unknown = text_message("999000111", "wamid.unknown", "Hi").to_string().into_bytes();
    let reply = post_hook(&app, &unknown, Some(&sign_with(APP_SECRET, &unknown))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    let reply = post_hook(&app, b"not json", Some(&sign_with(APP_SECRET, b"not json"))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    let oversized = vec![b' '; 3 * 1024 * 1024 + 1];
    let reply = post_hook(&app, &oversized, Some(&sign_with(APP_SECRET, &oversized))).await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Larger than the API's 1 MiB limit is fine on the hook (Meta sends up to 3 MB).
    let mut large = text_message(PHONE_NUMBER_ID, "wamid.large", "Hi");
    large["padding"] = json!("x".repeat(2 * 1024 * 1024));
    deliver(&app, &large).await;
    assert!(message(&app, channel, "wamid.large").await.is_some());
    let before = (before.0 + 1, before.1 + 1, stored(&app).await.2);

    // A body naming two numbers must be signed with each one's app secret.
    let other = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": "Other app", "address": "+15550783899",
                   "settings": {"phone_number_id": "777", "app_secret": "other-app-secret", "verify_token": "v", "access_token": "t"}}),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    let mut both = text_message(PHONE_NUMBER_ID, "wamid.both1", "One");
    let second = text_message("777", "wamid.both2", "Two")["entry"][0].clone();
    both["entry"].as_array_mut().unwrap().push(second);
    let both = both.to_string().into_bytes();
    let reply = post_hook(&app, &both, Some(&sign_with(APP_SECRET, &both))).await;
    assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");

    assert_eq!(stored(&app).await, before, "refused webhooks write nothing");
    assert!(message(&app, channel, "wamid.tamper").await.is_none());
}

async fn one_body_reaches_every_number_it_names(app: TestApp) {
    let first = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    // A second number of the same Meta app: same app secret.
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": "Second", "address": "+15550783884", "settings": settings("555000222")}),
        )
        .await;
    let second = reply.body["id"].as_i64().unwrap();
    let mut body = text_message(PHONE_NUMBER_ID, "wamid.n1", "To the first");
    let other = text_message("555000222", "wamid.n2", "To the second")["entry"][0].clone();
    body["entry"].as_array_mut().unwrap().push(other);
    // Several messages and a status in one change.
    let extra =
        json!({"from": USER, "id": "wamid.n3", "timestamp": "1749416384", "type": "text", "text": {"body": "Again"}});
    body["entry"][0]["changes"][0]["value"]["messages"].as_array_mut().unwrap().push(extra);
    body["entry"][0]["changes"][0]["value"]["statuses"] = json!([{"id": "wamid.unknown", "status": "read"}]);
    deliver(&app, &body).await;
    assert_eq!(message(&app, first, "wamid.n1").await.unwrap()["text"], "To the first");
    assert_eq!(message(&app, first, "wamid.n3").await.unwrap()["text"], "Again");
    assert_eq!(message(&app, second, "wamid.n2").await.unwrap()["text"], "To the second");
    assert!(message(&app, first, "wamid.n2").await.is_none(), "each message goes to its own number's channel");
}

async fn one_message_id_twice_is_one_message(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let body = text_message(PHONE_NUMBER_ID, "wamid.twice", "Hello");
    deliver(&app, &body).await;
    let after_first = stored(&app).await;
    deliver(&app, &body).await;
    assert_eq!(stored(&app).await, after_first, "Meta's retry changes nothing");
    // The same id twice within one body too.
    let mut double = text_message(PHONE_NUMBER_ID, "wamid.double", "Hi");
    let copy = double["entry"][0]["changes"][0]["value"]["messages"][0].clone();
    double["entry"][0]["changes"][0]["value"]["messages"].as_array_mut().unwrap().push(copy);
    deliver(&app, &double).await;
    assert_eq!(stored(&app).await.0, after_first.0 + 1);
    let conversation = message(&app, channel, "wamid.twice").await.unwrap()["conversation_id"].clone();
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    let texts: Vec<&str> =
        thread.body["data"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Hello", "Hi"]);
}

async fn statuses_only_move_forward(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    deliver(&app, &echo_message(PHONE_NUMBER_ID, "wamid.out1", "Your order shipped")).await;
    let sent = message(&app, channel, "wamid.out1").await.unwrap();
    assert_eq!((sent["direction"].as_str(), sent["status"].as_str()), (Some("outbound"), Some("sent")));

    // Read arrives before delivered (Meta skips or reorders steps): read stays.
    deliver(&app, &statuses("wamid.out1", &[json!({"status": "read"})])).await;
    let read = message(&app, channel, "wamid.out1").await.unwrap();
    assert_eq!(read["status"], "read");
    assert!(read["read_at"].is_string() && read["delivered_at"].is_string(), "{read}");
    let events = stored(&app).await.2;
    deliver(&app, &statuses("wamid.out1", &[json!({"status": "delivered"}), json!({"status": "read"})])).await;
    assert_eq!(message(&app, channel, "wamid.out1").await.unwrap(), read, "late and repeated statuses change nothing");
    assert_eq!(stored(&app).await.2, events, "and record nothing");

    deliver(&app, &echo_message(PHONE_NUMBER_ID, "wamid.out2", "Second")).await;
    let failure = json!({"status": "failed", "errors": [{"code": 131026, "title": "Receiver is incapable of receiving this message",
        "message": "Receiver is incapable of receiving this message", "error_data": {"details": "Message Undeliverable."}}]});
    deliver(&app, &statuses("wamid.out2", &[failure, json!({"status": "delivered"})])).await;
    let failed = message(&app, channel, "wamid.out2").await.unwrap();
    assert_eq!(failed["status"], "failed", "a failed message stays failed");
    assert_eq!(failed["error"]["code"], "131026");
    assert_eq!(failed["error"]["text"], "Receiver is incapable of receiving this message: Message Undeliverable.");

    // Statuses of unknown messages, or naming an inbound message, are acknowledged and ignored.
    deliver(&app, &text_message(PHONE_NUMBER_ID, "wamid.in1", "Thanks")).await;
    let events = stored(&app).await.2;
    deliver(&app, &statuses("wamid.in1", &[json!({"status": "read"})])).await;
    deliver(&app, &statuses("wamid.nobody", &[json!({"status": "delivered"})])).await;
    assert_eq!(stored(&app).await.2, events);
    assert_eq!(message(&app, channel, "wamid.in1").await.unwrap()["status"], Value::Null);
}

async fn users_without_a_phone_number_are_contacts(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let hidden = webhook(
        PHONE_NUMBER_ID,
        "messages",
        json!({"contacts": [{"profile": {"name": "Sheena Nelson", "username": "@realsheenanelson"}, "user_id": USER_ID}],
               "messages": [{"from_user_id": USER_ID, "id": "wamid.bsuid1", "timestamp": "1749416383", "type": "text",
                             "text": {"body": "Does it come in another color?"}}]}),
    );
    deliver(&app, &hidden).await;
    let first = message(&app, channel, "wamid.bsuid1").await.unwrap();
    let (contact, addresses) = contact_addresses(&app, &first).await;
    assert_eq!(contact["phone"], Value::Null, "{contact}");
    assert_eq!(contact["name"], "Sheena Nelson");
    assert_eq!(addresses, BTreeSet::from([USER_ID.to_owned()]));

    // The same user later writes with the phone number visible: same contact, both addresses linked.
    let visible = webhook(
        PHONE_NUMBER_ID,
        "messages",
        json!({"contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": USER, "user_id": USER_ID}],
               "messages": [{"from": USER, "from_user_id": USER_ID, "id": "wamid.bsuid2", "timestamp": "1749416390",
                             "type": "text", "text": {"body": "Red please"}}]}),
    );
    deliver(&app, &visible).await;
    let second = message(&app, channel, "wamid.bsuid2").await.unwrap();
    assert_eq!(second["conversation_id"], first["conversation_id"]);
    let (_, addresses) = contact_addresses(&app, &second).await;
    assert_eq!(addresses, BTreeSet::from([format!("+{USER}"), USER_ID.to_owned()]));
    assert_eq!(stored(&app).await.1, 1, "one contact");
}

crate::backend_tests!(
    live_channels_need_credentials,
    verification_handshake,
    unsigned_tampered_and_unknown_bodies_write_nothing,
    one_body_reaches_every_number_it_names,
    one_message_id_twice_is_one_message,
    statuses_only_move_forward,
    users_without_a_phone_number_are_contacts,
);
