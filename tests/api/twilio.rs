//! SMS and MMS through Twilio: form webhooks signed with `X-Twilio-Signature` over Parley's public
//! URL (the fixtures, each twice), forged, tampered and unsigned ones writing nothing, MMS files
//! fetched with the account's credentials, replies as Messages resources with a status callback,
//! and the statuses and refusals that follow.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::twilio_api::{self, TwilioApi, ACCOUNT_SID, AUTH_TOKEN};
use crate::whatsapp::{message, stored};
use crate::whatsapp_media::run_jobs_now;
use parley::channels::twilio::signature;

const NUMBER: &str = "+15005550006";
const CUSTOMER: &str = "+393331234567";

/// Creates a live Twilio SMS channel on the stand-in; returns its id.
pub async fn channel_on(app: &TestApp, api: &TwilioApi) -> i64 {
    let settings =
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": NUMBER, "api_base_url": api.base});
    let reply = app
        .post("/api/v1/channels", json!({"kind": "sms", "name": "SMS", "address": NUMBER, "settings": settings}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert!(reply.body["settings"].get("auth_token").is_none(), "the auth token is write-only: {}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

/// A fixture's form with `To` (and an anonymised `From`) replaced by real-looking numbers.
fn fixture(name: &str, replace: &[(&str, &str)]) -> Vec<(String, String)> {
    let path = format!("{}/tests/fixtures/twilio/botbuilder-dotnet/{name}", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(path).unwrap();
    let mut form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    for (name, value) in replace {
        let slot = form.iter_mut().find(|(key, _)| key == name).unwrap();
        slot.1 = value.to_string();
    }
    form
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect()
}

/// Posts a form to the Twilio webhook with this signature header (none when `None`).
async fn post_form(app: &TestApp, form: &[(String, String)], signature: Option<&str>) -> StatusCode {
    let mut request = app.client.post(format!("{}/hooks/twilio/sms", app.base)).form(form);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.unwrap().status()
}

/// Posts a form signed as Twilio signs it, with the channel's auth token.
async fn deliver(app: &TestApp, form: &[(String, String)]) {
    let url = format!("{}/hooks/twilio/sms", app.base);
    let status = post_form(app, form, Some(&signature::sign(AUTH_TOKEN, &url, form))).await;
    assert_eq!(status, StatusCode::OK);
}

async fn twilio_messages_arrive_verified_and_once(app: TestApp) {
    let api = TwilioApi::start().await;
    let channel = channel_on(&app, &api).await;
    let url = format!("{}/hooks/twilio/sms", app.base);
    let sms = fixture("NoMediaPayload.txt", &[("To", NUMBER), ("From", CUSTOMER)]);

    // Forged (another token), tampered (signed, then changed) and unsigned: refused, nothing kept.
    let before = stored(&app).await;
    let forged = signature::sign("not-the-token", &url, &sms);
    assert_eq!(post_form(&app, &sms, Some(&forged)).await, StatusCode::UNAUTHORIZED);
    let signed = signature::sign(AUTH_TOKEN, &url, &sms);
    let mut tampered = sms.clone();
    tampered.iter_mut().find(|(name, _)| name == "Body").unwrap().1 = "Send me the refund".to_owned();
    assert_eq!(post_form(&app, &tampered, Some(&signed)).await, StatusCode::UNAUTHORIZED);
    assert_eq!(post_form(&app, &sms, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, before);

    // Each fixture twice: one message each.
    deliver(&app, &sms).await;
    deliver(&app, &sms).await;
    let text = message(&app, channel, "3333").await.unwrap();
    assert_eq!((text["type"].as_str(), text["text"].as_str()), (Some("text"), Some("Hello")));
    let mms = fixture(
        "MediaPayload.txt",
        &[("To", NUMBER), ("MediaUrl0", &api.media_url("photo.jpg")), ("MediaContentType0", "image/jpeg")],
    );
    deliver(&app, &mms).await;
    deliver(&app, &mms).await;
    assert_eq!(stored(&app).await.0, before.0 + 2, "a repeated delivery adds nothing");

    // The MMS file is fetched with the account's credentials into the media store.
    let photo = message(&app, channel, "SMa56324aa4a31735561b7205472192d68").await.unwrap();
    assert_eq!((photo["type"].as_str(), photo["text"].as_str()), (Some("image"), Some("Hello")));
    assert_eq!(photo["payload"]["twilio"]["FromCountry"], "AR");
    run_jobs_now(&app).await;
    assert_eq!(api.media_requests(), vec![Some(twilio_api::basic_auth())]);
    let photo = message(&app, channel, "SMa56324aa4a31735561b7205472192d68").await.unwrap();
    let key = photo["media_keys"][0].as_str().unwrap_or_else(|| panic!("no media key: {photo}"));
    let file = app.get(&format!("/api/v1/media/{key}")).await;
    assert_eq!(file.status, StatusCode::OK, "{file:?}");
    assert_eq!(file.body["content_type"], "image/jpeg");

    // The conversation lists the customer by phone, from the one fixture sender with a valid number.
    let conversations = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
    let phones: Vec<&str> =
        conversations.body["data"].as_array().unwrap().iter().filter_map(|c| c["contact"]["phone"].as_str()).collect();
    assert_eq!(phones.len(), 2, "{}", conversations.body);
    assert!(phones.contains(&CUSTOMER) && phones.contains(&"+571138050810"), "{phones:?}");
}

/// A message of the conversation, as the API shows it.
async fn message_by_id(app: &TestApp, conversation: i64, id: i64) -> Value {
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone()
}

/// Sends an operator's text in the conversation and runs the send; returns the stored message.
async fn reply(app: &TestApp, conversation: i64, text: &str) -> Value {
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": text})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let id = reply.body["id"].as_i64().unwrap();
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone()
}

async fn replies_become_twilio_messages_and_statuses_follow(app: TestApp) {
    let api = TwilioApi::start().await;
    let channel = channel_on(&app, &api).await;
    deliver(
        &app,
        &form(&[("MessageSid", "SMin1"), ("From", CUSTOMER), ("To", NUMBER), ("Body", "Ciao"), ("NumMedia", "0")]),
    )
    .await;
    let conversation = message(&app, channel, "SMin1").await.unwrap()["conversation_id"].as_i64().unwrap();

    let sent = reply(&app, conversation, "Ciao! Il pacco arriva domani €").await;
    let [request] = api.received().try_into().unwrap();
    assert_eq!(request.account, ACCOUNT_SID);
    assert_eq!(request.authorization.as_deref(), Some(twilio_api::basic_auth().as_str()));
    assert_eq!(
        (request.param("To"), request.param("From"), request.param("Body")),
        (Some(CUSTOMER), Some(NUMBER), Some("Ciao! Il pacco arriva domani €"))
    );
    let callback = format!("{}/hooks/twilio/sms", app.base);
    assert_eq!(request.param("StatusCallback"), Some(callback.as_str()));
    assert_eq!(sent["status"], "sent", "{sent}");
    let sid = sent["provider_message_id"].as_str().unwrap().to_owned();

    // Status callbacks, signed like the webhooks: delivered; a late `sent` does not move it back.
    for status in ["delivered", "sent"] {
        deliver(&app, &form(&[("MessageSid", &sid), ("MessageStatus", status), ("From", NUMBER), ("To", CUSTOMER)]))
            .await;
    }
    assert_eq!(message(&app, channel, &sid).await.unwrap()["status"], "delivered");

    // Undelivered because the phone was unreachable (30003): sent again a little later, twice;
    // the third time it fails, with a label people can read.
    let second = reply(&app, conversation, "Ci sei?").await;
    let id = second["id"].as_i64().unwrap();
    let mut sid = second["provider_message_id"].as_str().unwrap().to_owned();
    for attempt in 1..=3 {
        let undelivered = [
            ("MessageSid", sid.as_str()),
            ("MessageStatus", "undelivered"),
            ("ErrorCode", "30003"),
            ("From", NUMBER),
            ("To", CUSTOMER),
        ];
        deliver(&app, &form(&undelivered)).await;
        let row = parley::store::messages::find_message(app.state.db.reader(), id).await.unwrap().unwrap();
        if attempt == 3 {
            break;
        }
        assert_eq!(row.status.as_deref(), Some("queued"), "resent after attempt {attempt}");
        run_jobs_now(&app).await;
        let resent = message_by_id(&app, conversation, id).await;
        assert_eq!(resent["status"], "sent", "{resent}");
        assert_eq!(resent["payload"]["resends"].as_array().map(Vec::len), Some(attempt));
        let next = resent["provider_message_id"].as_str().unwrap().to_owned();
        assert_ne!(next, sid, "a resend is a new Twilio message");
        sid = next;
    }
    let failed = message_by_id(&app, conversation, id).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("30003")));
    assert!(failed["error"]["text"].as_str().unwrap().starts_with("Unreachable handset"), "{failed}");
    // A carrier's spam filter (30007) is final at once.
    let third = reply(&app, conversation, "Promo!").await;
    let filtered = [
        ("MessageSid", third["provider_message_id"].as_str().unwrap()),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30007"),
        ("From", NUMBER),
        ("To", CUSTOMER),
    ];
    deliver(&app, &form(&filtered)).await;
    assert_eq!(message_by_id(&app, conversation, third["id"].as_i64().unwrap()).await["status"], "failed");

    // Throttling is retried until Twilio accepts.
    api.fail_next(429, 20429, "Too Many Requests");
    let queued = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Riprovo"})).await;
    run_jobs_now(&app).await;
    run_jobs_now(&app).await;
    let id = queued.body["id"].as_i64().unwrap();
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    let retried = thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(retried["status"], "sent", "{retried}");

    // Twilio refuses a recipient who unsubscribed (21610): failed as `opted_out`, and Parley
    // refuses the next message up front.
    api.fail_next(400, 21610, "Attempt to send to unsubscribed recipient");
    let refused = reply(&app, conversation, "Offerta!").await;
    assert_eq!((refused["status"].as_str(), refused["error"]["code"].as_str()), (Some("failed"), Some("opted_out")));
    let next = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Ancora?"})).await;
    assert_problem(&next, StatusCode::UNPROCESSABLE_ENTITY, "opted_out");
    assert_eq!(api.received().len(), 8, "nothing more reached Twilio");
}

async fn stop_opts_the_customer_out_and_start_back_in(app: TestApp) {
    let api = TwilioApi::start().await;
    let channel = channel_on(&app, &api).await;
    let text = |sid: &str, body: &str| form(&[("MessageSid", sid), ("From", CUSTOMER), ("To", NUMBER), ("Body", body)]);
    deliver(&app, &text("SMa", "Ciao")).await;
    let conversation = message(&app, channel, "SMa").await.unwrap()["conversation_id"].as_i64().unwrap();
    // A keyword inside a sentence is just a message.
    deliver(&app, &text("SMb", "Please stop sending the invoice twice")).await;
    let sent = reply(&app, conversation, "Sorry!").await;
    assert_eq!(sent["status"], "sent");

    deliver(&app, &text("SMc", " stop! ")).await;
    assert_eq!(message(&app, channel, "SMc").await.unwrap()["text"], " stop! ", "the STOP itself is kept");
    let path = format!("/api/v1/conversations/{conversation}/messages");
    let refused = app.post(&path, json!({"text": "Last chance"})).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "opted_out");
    assert!(refused.body["detail"].as_str().unwrap().contains("START"), "{}", refused.body);
    let note = app.post(&path, json!({"text": "Customer opted out", "private": true})).await;
    assert!(note.status.is_success(), "private notes stay possible: {note:?}");
    let seed = json!({"destination": CUSTOMER, "sender": NUMBER, "body": "Promo"});
    let seed_send = app.post("/api/message-server/sms/send", seed.clone()).await;
    assert_eq!(seed_send.body["results"]["sms"]["accepted"], false, "{seed_send:?}");
    assert_eq!(seed_send.body["results"]["sms"]["reasons"], json!(["opted_out"]));
    assert_eq!(api.received().len(), 1, "only the first reply reached Twilio");

    let contact = app.get(&format!("/api/v1/conversations/{conversation}")).await.body["contact"]["id"].clone();
    let opted_out = |body: &Value| body["identities"][0]["opted_out_at"].clone();
    let shown = app.get(&format!("/api/v1/contacts/{contact}")).await;
    assert!(opted_out(&shown.body).is_string(), "the contact shows the opt-out: {}", shown.body);

    deliver(&app, &text("SMd", "START")).await;
    let shown = app.get(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(opted_out(&shown.body), Value::Null);
    let sent = reply(&app, conversation, "Welcome back").await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let seed_send = app.post("/api/message-server/sms/send", seed).await;
    assert_eq!(seed_send.body["results"]["sms"]["accepted"], true, "{seed_send:?}");
}

async fn twilio_settings_are_checked(app: TestApp) {
    let settings = json!({"account_sid": "AC12", "auth_token": "t", "from": "not a number"});
    let body = json!({"kind": "sms", "name": "SMS", "address": NUMBER, "settings": settings});
    let reply = app.post("/api/v1/channels", body).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<&str> =
        reply.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["settings.account_sid", "settings.from"], "{}", reply.body);
    let kinds = app.get("/api/v1/channel-kinds").await;
    let sms = kinds.body["data"].as_array().unwrap().iter().find(|kind| kind["kind"] == "sms").unwrap().clone();
    assert_eq!(sms["webhook_path"], "twilio/sms");
    assert_eq!(sms["capabilities"]["content"], json!(["text", "media"]), "{sms}");
    assert_eq!(sms["capabilities"]["media_fetch"], true);
}

crate::backend_tests!(
    twilio_messages_arrive_verified_and_once,
    replies_become_twilio_messages_and_statuses_follow,
    stop_opts_the_customer_out_and_start_back_in,
    twilio_settings_are_checked,
);
