//! WhatsApp Cloud API channels: credentials on creation, the verified webhook, every inbound
//! message type from the shared fixtures, statuses, edits, revokes and business-app echoes.

use std::collections::BTreeSet;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::*;

pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const APP_SECRET: &str = "wa-app-secret-for-tests";
const VERIFY_TOKEN: &str = "wa-verify-token-for-tests";
/// The customer the tests' own messages come from (and placeholders in fixtures become).
pub const USER: &str = "16505550100";
const USER_ID: &str = "US.13491208655302741918";

/// Settings of a live WhatsApp channel with this phone number id.
pub fn settings(phone_number_id: &str) -> Value {
    json!({"phone_number_id": phone_number_id, "app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN,
           "access_token": "EAAG-access-token"})
}

/// Creates a live WhatsApp channel and returns its id.
pub async fn whatsapp_channel(app: &TestApp, phone_number_id: &str) -> i64 {
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
pub fn sign_with(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a raw body to the WhatsApp webhook with this signature header (none when `None`).
pub async fn post_hook(app: &TestApp, body: &[u8], signature: Option<&str>) -> Reply {
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
pub async fn deliver(app: &TestApp, body: &Value) {
    let bytes = body.to_string().into_bytes();
    let reply = post_hook(app, &bytes, Some(&sign_with(APP_SECRET, &bytes))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?} for {body}");
}

/// A webhook body with one change of `field` for phone number id `phone_number_id`.
pub fn webhook(phone_number_id: &str, field: &str, mut value: Value) -> Value {
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": field, "value": value}]}]})
}

/// A customer text message from `USER`.
pub fn text_message(phone_number_id: &str, id: &str, body: &str) -> Value {
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
pub(crate) fn statuses(id: &str, reports: &[Value]) -> Value {
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
pub async fn message(app: &TestApp, channel: i64, provider_message_id: &str) -> Option<Value> {
    let row = parley::store::messages::find_by_provider_id(app.state.db.reader(), channel, provider_message_id)
        .await
        .unwrap()?;
    Some(serde_json::to_value(parley::service::views::Message::from(&row)).unwrap())
}

/// How many messages, contacts and events are stored: what a refused webhook must not change.
pub async fn stored(app: &TestApp) -> (i64, i64, i64) {
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

/// A message a fixture sample refers to, created (from `USER`) before the sample is posted: its
/// id is read at this JSON pointer in the prepared sample.
enum Setup {
    None,
    /// A customer message.
    Inbound(String),
    /// A message the business sent.
    Outbound(String),
}

/// What posting a fixture sample must do.
enum Effect {
    /// A new message of this type and direction, text, contact address, and payload values at
    /// JSON pointers (`TARGET` stands for the Parley id of the setup message).
    Message {
        kind: &'static str,
        direction: &'static str,
        text: Option<&'static str>,
        contact: String,
        payload: Vec<(&'static str, Value)>,
    },
    /// The setup message's status and error code.
    Status { status: &'static str, error_code: Option<&'static str> },
    /// The setup message's new text, with its edit time.
    Edited { text: &'static str },
    /// The setup message is deleted.
    Deleted,
    /// Acknowledged; nothing stored.
    Ignored,
}

/// A table row: the sample (`file#key` for pywa's multi-sample files, `file#*` for all of them),
/// its setup and its effect.
struct Row {
    sample: &'static str,
    setup: Setup,
    effect: Effect,
}

/// Stands for the setup message's Parley id in expected payloads.
const TARGET: &str = "$target";
const MESSAGE: &str = "/entry/0/changes/0/value/messages/0";
const ECHO: &str = "/entry/0/changes/0/value/message_echoes/0";
const STATUS_ID: &str = "/entry/0/changes/0/value/statuses/0/id";
const PYWA_USER: &str = "+972987654321";
const RESTFB_USER: &str = "+491234567890";

fn inbound(
    kind: &'static str,
    text: Option<&'static str>,
    contact: &str,
    payload: Vec<(&'static str, Value)>,
) -> Effect {
    Effect::Message { kind, direction: "inbound", text, contact: contact.to_owned(), payload }
}

fn row(sample: &'static str, effect: Effect) -> Row {
    Row { sample, setup: Setup::None, effect }
}

fn with_setup(sample: &'static str, setup: Setup, effect: Effect) -> Row {
    Row { sample, setup, effect }
}

fn status(sample: &'static str, status: &'static str, error_code: Option<&'static str>) -> Row {
    with_setup(sample, Setup::Outbound(STATUS_ID.to_owned()), Effect::Status { status, error_code })
}

/// Every inbound fixture sample and what it must produce.
fn fixture_table() -> Vec<Row> {
    let pywa = |kind, text, payload| inbound(kind, text, PYWA_USER, payload);
    let restfb = |kind, text, payload| inbound(kind, text, RESTFB_USER, payload);
    let reacted = || Setup::Outbound(format!("{MESSAGE}/reaction/message_id"));
    vec![
        // pywa/message.json: one sample per message type and message feature.
        row("pywa/message.json#text", pywa("text", Some("Body Text"), vec![])),
        row("pywa/message.json#image", pywa("image", None, vec![("/media/id", json!("65463453")), ("/media/mime_type", json!("image/jpeg")), ("/media/sha256", json!("4654+8g="))])),
        row("pywa/message.json#media_with_url", pywa("image", None, vec![("/media/id", json!("65463453")), ("/media/url", json!("https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=65463453&source=webhook&ext=487r9re&hash=heiwchueowbcew-dnedcw"))])),
        row("pywa/message.json#video", pywa("video", Some("caption"), vec![("/media/mime_type", json!("video/mp4")), ("/context/forwarded", json!(true))])),
        row("pywa/message.json#document", pywa("document", Some("caption"), vec![("/media/filename", json!("filename.pdf")), ("/media/id", json!("1234567890987654321"))])),
        row("pywa/message.json#audio", pywa("audio", None, vec![("/media/voice", json!(false))])),
        row("pywa/message.json#voice", pywa("audio", None, vec![("/media/voice", json!(true)), ("/media/mime_type", json!("audio/ogg; codecs=opus"))])),
        row("pywa/message.json#static_sticker", pywa("sticker", None, vec![("/media/animated", json!(false))])),
        row("pywa/message.json#animated_sticker", pywa("sticker", None, vec![("/media/animated", json!(true))])),
        with_setup("pywa/message.json#reaction", reacted(), pywa("reaction", None, vec![("/message_id", json!(TARGET)), ("/emoji", json!("😮")), ("/removed", json!(false))])),
        with_setup("pywa/message.json#unreaction_empty", reacted(), pywa("reaction", None, vec![("/message_id", json!(TARGET)), ("/emoji", Value::Null), ("/removed", json!(true))])),
        row("pywa/message.json#unreaction_no_emoji", pywa("reaction", None, vec![("/message_id", Value::Null), ("/emoji", Value::Null), ("/removed", json!(true))])),
        row("pywa/message.json#current_location", pywa("location", None, vec![("/location/latitude", json!(12.25089)), ("/location/longitude", json!(43.90539))])),
        row("pywa/message.json#chosen_location", pywa("location", None, vec![("/location/name", json!("Facebook HQ")), ("/location/address", json!("1 Hacker Way, Menlo Park, CA 94025"))])),
        row("pywa/message.json#contacts", pywa("contacts", None, vec![("/contacts/0/name/formatted_name", json!("Chandler Bing")), ("/contacts/2/phones/0/phone", json!("+1 777-777-7777"))])),
        row("pywa/message.json#order", pywa("order", None, vec![("/order/catalog_id", json!("354160437058781")), ("/order/product_items/0/product_retailer_id", json!("HAMBURGER")), ("/order/product_items/0/quantity", json!(3))])),
        row("pywa/message.json#unsupported", pywa("unsupported", None, vec![("/whatsapp_type", json!("unsupported")), ("/errors/0/code", json!(131051))])),
        row("pywa/message.json#unsupported_with_type", pywa("unsupported", None, vec![("/unsupported/type", json!("pool")), ("/errors/0/error_data/details", json!("Message type is currently not supported."))])),
        with_setup("pywa/message.json#reply", Setup::Outbound(format!("{MESSAGE}/context/id")), pywa("text", Some("replied text"), vec![("/context/message_id", json!(TARGET)), ("/context/from", json!("972123456789"))])),
        row("pywa/message.json#forwarded", pywa("text", Some("forwarded text"), vec![("/context/forwarded", json!(true))])),
        row("pywa/message.json#forwarded_many_times", pywa("text", Some("text forwarded many times"), vec![("/context/frequently_forwarded", json!(true))])),
        row("pywa/message.json#interactive_message_with_err", pywa("unsupported", None, vec![("/whatsapp_type", json!("interactive")), ("/errors/0/code", json!(131000)), ("/context/message_id", Value::Null)])),
        row("pywa/message.json#referral", pywa("text", Some("BODY"), vec![("/referral/source_type", json!("ad or post")), ("/referral/ctwa_clid", json!("CTWA_CLID"))])),
        // Buttons, lists and flows.
        row("pywa/callback_button.json#button", pywa("interactive", Some("title"), vec![("/interactive/type", json!("button_reply")), ("/interactive/button_reply/id", json!("callback_data"))])),
        row("pywa/callback_button.json#quick_reply", pywa("interactive", Some("title"), vec![("/button/payload", json!("callback_data")), ("/context/message_id", Value::Null)])),
        row("pywa/callback_button.json#quick_reply_without_context", pywa("interactive", Some("title"), vec![("/button/payload", json!("callback_data"))])),
        row("pywa/callback_selection.json#callback", pywa("interactive", Some("title"), vec![("/interactive/list_reply/id", json!("callback_data"))])),
        row("pywa/callback_selection.json#description", pywa("interactive", Some("title"), vec![("/interactive/list_reply/description", json!("description"))])),
        row("pywa/flow_completion.json#completion", pywa("interactive", Some("Sent"), vec![("/interactive/type", json!("nfm_reply")), ("/flow_response/flow_token", json!("AQAAAAACS5FpgQ_cAAAAAD0QI3s.")), ("/flow_response/comment_text", json!("Comment Text"))])),
        row("pywa/flow_completion.json#without_flow_token", pywa("interactive", Some("Sent"), vec![("/flow_response/delivery_rating", json!("4"))])),
        // System messages, edits and revokes.
        row("pywa/system.json#phone_number_change", pywa("system", Some("User A changed from 972987654321 to 972912345678"), vec![("/system/type", json!("user_changed_number")), ("/system/wa_id", json!("972912345678"))])),
        row("pywa/system.json#identity_change", pywa("system", Some("User identity changed"), vec![("/system/type", json!("customer_identity_changed")), ("/identity/hash", json!("xyzxyz"))])),
        with_setup("pywa/edited_message.json#image", Setup::Inbound(format!("{MESSAGE}/edit/original_message_id")), Effect::Edited { text: "Updated image caption" }),
        with_setup("pywa/deleted_message.json#revoke", Setup::Inbound(format!("{MESSAGE}/revoke/original_message_id")), Effect::Deleted),
        // Messages the business sent from the WhatsApp Business app.
        row("pywa/outgoing_message.json#text", Effect::Message { kind: "text", direction: "outbound", text: Some("Test message"), contact: format!("+{USER}"), payload: vec![("/sent_from", json!("whatsapp_business_app"))] }),
        with_setup("pywa/outgoing_message.json#edit", Setup::Outbound(format!("{ECHO}/edit/original_message_id")), Effect::Edited { text: "Text was edited" }),
        with_setup("pywa/outgoing_message.json#delete", Setup::Outbound(format!("{ECHO}/revoke/original_message_id")), Effect::Deleted),
        // Statuses of the business's messages.
        status("pywa/message_status.json#sent", "sent", None),
        status("pywa/message_status.json#delivered", "delivered", None),
        status("pywa/message_status.json#read", "read", None),
        status("pywa/message_status.json#played", "read", None),
        status("pywa/message_status.json#failed", "failed", Some("130472")),
        status("pywa/message_status.json#with_tracker", "sent", None),
        status("pywa/message_status.json#group", "read", None),
        // Not about messages: acknowledged, nothing stored yet.
        row("pywa/account_update.json#*", Effect::Ignored),
        row("pywa/template_status_update.json#*", Effect::Ignored),
        row("pywa/user_marketing_preferences.json#*", Effect::Ignored),
        // restfb: one webhook body per file.
        row("restfb/webhook-incoming-message-text.json", restfb("text", Some("Test"), vec![])),
        row("restfb/webhook-incoming-message-ads.json", restfb("text", Some("Test"), vec![("/referral/source_type", json!("ad")), ("/referral/headline", json!("AD_TITLE"))])),
        row("restfb/webhook-incoming-message-image.json", restfb("image", Some("Some awesome image"), vec![("/media/id", json!("400962571939895"))])),
        row("restfb/webhook-incoming-message-video.json", restfb("video", Some("Video"), vec![("/media/id", json!("378911494190301"))])),
        row("restfb/webhook-incoming-message-audio.json", restfb("audio", None, vec![("/media/voice", json!(true)), ("/media/id", json!("1113842206146232"))])),
        row("restfb/webhook-incoming-message-document.json", restfb("document", Some("RESTFB ANNIVERSARY"), vec![("/media/filename", json!("RESTFB ANNIVERSARY.zip"))])),
        row("restfb/webhook-incoming-message-sticker.json", restfb("sticker", None, vec![("/media/id", json!("1122990445227715"))])),
        row("restfb/webhook-incoming-message-location.json", restfb("location", None, vec![("/location/latitude", json!(49.234939575195))])),
        row("restfb/webhook-incoming-message-button.json", restfb("interactive", Some("No"), vec![("/button/payload", json!("No-Button-Payload")), ("/context/message_id", Value::Null)])),
        row("restfb/webhook-incoming-message-interactive-btn.json", restfb("interactive", Some("button-text"), vec![("/interactive/button_reply/id", json!("unique-button-identifier-here"))])),
        row("restfb/webhook-incoming-message-interactive-list.json", restfb("interactive", Some("list_reply_title"), vec![("/interactive/list_reply/description", json!("list_reply_description"))])),
        with_setup("restfb/webhook-incoming-message-emoji.json", reacted(), restfb("reaction", None, vec![("/message_id", json!(TARGET)), ("/emoji", json!("👍🏻"))])),
        row("restfb/webhook-incoming-message-contacts.json", inbound("contacts", None, "+333333333333", vec![("/contacts/0/name/formatted_name", json!("j_doe"))])),
        row("restfb/webhook-incoming-message-contacts2.json", inbound("contacts", None, &format!("+{USER}"), vec![("/contacts/1/phones/0/type", json!("Cellulare"))])),
        row("restfb/webhook-incoming-message-contacts-request-bsuid.json", inbound("contacts", None, USER_ID, vec![("/origin", json!("contact_request/other")), ("/contacts/0/phones/0/phone", json!("15551234567"))])),
        row("restfb/webhook-incoming-message-text-bsuid.json", inbound("text", Some("Does it come in another color?"), USER_ID, vec![("/group_id", json!("120363418770915618@g.us"))])),
        row("restfb/webhook-incoming-message-unsupported.json", inbound("unsupported", None, "+333333333333", vec![("/errors/0/code", json!(131051))])),
        row("restfb/webhook-incoming-message-error.json", restfb("unsupported", None, vec![("/whatsapp_type", json!("unknown")), ("/errors/0/title", json!("Unsupported message type"))])),
        row("restfb/webhook-incoming-message-system.json", restfb("system", Some("NAME changed from PHONE_NUMBER to PHONE_NUMBER"), vec![("/system/type", json!("user_changed_number"))])),
        row("restfb/webhook-incoming-message-system-bsuid.json", inbound("system", Some("User Sheena Nelson changed from US.10101010101010101010 to US.13491208655302741918"), USER_ID, vec![("/system/type", json!("user_changed_user_id"))])),
        status("restfb/webhook-incoming-message-status-ui.json", "sent", None),
        status("restfb/webhook-incoming-message-status-bsuid.json", "delivered", None),
        status("restfb/webhook-incoming-message-status-group-bsuid.json", "read", None),
        status("restfb/webhook-incoming-message-status-errors.json", "failed", Some("131026")),
        row("restfb/webhook-accountUpdate-banned.json", Effect::Ignored),
        row("restfb/webhook-messageTemplateStatusUpdate-approved.json", Effect::Ignored),
        row("restfb/webhook-phoneNumberQualityUpdate.json", Effect::Ignored),
        row("restfb/webhook-userIdUpdate.json", Effect::Ignored),
    ]
}

/// Every inbound fixture sample as (name, webhook body): each key of pywa's multi-sample files,
/// each restfb `webhook-*.json` file.
fn fixture_samples() -> Vec<(String, Value)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/whatsapp");
    let files = |folder: &str, prefix: &str| -> Vec<(String, Value)> {
        let mut names: Vec<String> = std::fs::read_dir(root.join(folder))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.starts_with(prefix) && name.ends_with(".json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|name| {
                let text = std::fs::read_to_string(root.join(folder).join(&name)).unwrap();
                (format!("{folder}/{name}"), serde_json::from_str(&text).unwrap())
            })
            .collect()
    };
    let mut samples = Vec::new();
    for (file, body) in files("pywa", "") {
        for (key, sample) in body.as_object().unwrap() {
            samples.push((format!("{file}#{key}"), sample.clone()));
        }
    }
    samples.extend(files("restfb", "webhook-"));
    samples
}

/// Readies a sample for the test channel: its phone number id becomes the channel's, every
/// message id gets the sample's own suffix (pywa's samples share placeholder ids), and
/// placeholder user addresses become `USER`.
fn prepare(value: &mut Value, key: Option<&str>, suffix: &str) {
    match value {
        Value::Object(map) => map.iter_mut().for_each(|(key, value)| prepare(value, Some(key), suffix)),
        Value::Array(items) => items.iter_mut().for_each(|item| prepare(item, key, suffix)),
        Value::String(text) if key == Some("phone_number_id") => *text = PHONE_NUMBER_ID.to_owned(),
        Value::String(text)
            if text.starts_with("wamid.") || (text.starts_with('<') && text.ends_with("MESSAGE_ID>")) =>
        {
            *text = format!("{text}.{suffix}")
        }
        Value::String(text)
            if matches!(key, Some("from" | "to" | "wa_id")) && !text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            *text = USER.to_owned()
        }
        Value::String(text) if text == "<BSUID>" => *text = format!("US.{USER}"),
        _ => {}
    }
}

fn id_at(body: &Value, pointer: &str) -> String {
    body.pointer(pointer).and_then(Value::as_str).unwrap_or_else(|| panic!("no id at {pointer} in {body}")).to_owned()
}

async fn every_fixture_sample_has_its_effect(app: TestApp) {
    let channel = whatsapp_channel(&app, PHONE_NUMBER_ID).await;
    let table = fixture_table();
    let mut used = vec![false; table.len()];
    let samples = fixture_samples();
    assert!(samples.len() >= 80, "fixtures found: {}", samples.len());
    for (n, (name, mut body)) in samples.into_iter().enumerate() {
        let file = name.split('#').next().unwrap();
        let (index, row) = table
            .iter()
            .enumerate()
            .find(|(_, row)| row.sample == name || row.sample == format!("{file}#*"))
            .unwrap_or_else(|| panic!("no table row for fixture sample {name}"));
        used[index] = true;
        prepare(&mut body, None, &format!("s{n}"));
        let target = match &row.setup {
            Setup::None => None,
            Setup::Inbound(pointer) => Some(text_message(PHONE_NUMBER_ID, &id_at(&body, pointer), "Original")),
            Setup::Outbound(pointer) => Some(echo_message(PHONE_NUMBER_ID, &id_at(&body, pointer), "Original")),
        };
        let target = match target {
            Some(setup) => {
                deliver(&app, &setup).await;
                let id =
                    id_at(&setup, &format!("{}/id", if setup.pointer(MESSAGE).is_some() { MESSAGE } else { ECHO }));
                message(&app, channel, &id).await
            }
            None => None,
        };
        let before = stored(&app).await;
        deliver(&app, &body).await;
        let target_now = match &target {
            Some(target) => message(&app, channel, target["provider_message_id"].as_str().unwrap()).await,
            None => None,
        };
        match &row.effect {
            Effect::Message { kind, direction, text, contact, payload } => {
                let own = body.pointer(&format!("{MESSAGE}/id")).or_else(|| body.pointer(&format!("{ECHO}/id")));
                let stored = message(&app, channel, own.and_then(Value::as_str).unwrap())
                    .await
                    .unwrap_or_else(|| panic!("{name}: no message stored"));
                assert_eq!(stored["type"], *kind, "{name}: {stored}");
                assert_eq!(stored["direction"], *direction, "{name}: {stored}");
                assert_eq!(stored["text"].as_str(), *text, "{name}: {stored}");
                assert_eq!(stored["media_keys"], json!([]), "{name}: media is not fetched yet");
                let status = if *direction == "outbound" { json!("sent") } else { Value::Null };
                assert_eq!(stored["status"], status, "{name}: {stored}");
                for (pointer, expected) in payload {
                    let expected = match expected.as_str() {
                        Some(TARGET) => target.as_ref().unwrap()["id"].clone(),
                        _ => expected.clone(),
                    };
                    assert_eq!(
                        stored["payload"].pointer(pointer),
                        Some(&expected),
                        "{name}: payload{pointer} in {stored}"
                    );
                }
                let (_, addresses) = contact_addresses(&app, &stored).await;
                assert!(addresses.contains(contact), "{name}: contact {contact} not in {addresses:?}");
            }
            Effect::Status { status, error_code } => {
                let now = target_now.unwrap();
                assert_eq!(now["status"], *status, "{name}: {now}");
                assert_eq!(now["error"]["code"].as_str(), *error_code, "{name}: {now}");
            }
            Effect::Edited { text } => {
                let now = target_now.unwrap();
                assert_eq!(now["text"], *text, "{name}: {now}");
                assert!(now["edited_at"].is_string(), "{name}: {now}");
            }
            Effect::Deleted => {
                let now = target_now.unwrap();
                assert_eq!((now["deleted"].clone(), now["text"].clone()), (json!(true), Value::Null), "{name}: {now}");
            }
            Effect::Ignored => assert_eq!(stored(&app).await, before, "{name}: nothing is stored"),
        }
        // Meta retries deliveries: the same sample again changes nothing.
        let after = stored(&app).await;
        deliver(&app, &body).await;
        assert_eq!(stored(&app).await, after, "{name}: a repeat changes nothing");
    }
    let unused: Vec<&str> = table.iter().zip(used).filter(|(_, used)| !used).map(|(row, _)| row.sample).collect();
    assert!(unused.is_empty(), "table rows without a fixture: {unused:?}");
}

crate::backend_tests!(
    live_channels_need_credentials,
    verification_handshake,
    unsigned_tampered_and_unknown_bodies_write_nothing,
    one_body_reaches_every_number_it_names,
    one_message_id_twice_is_one_message,
    statuses_only_move_forward,
    users_without_a_phone_number_are_contacts,
    every_fixture_sample_has_its_effect,
);
