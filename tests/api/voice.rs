//! Voice: calls recorded as messages of type `call`, reported by a telephony system through the
//! API and by Twilio Voice's signed callbacks (a recording reported before its call waits for it
//! and is fetched with the account's credentials); the caller is the same contact as on WhatsApp,
//! so the call sits in their history beside their chats.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::twilio_api::{TwilioApi, ACCOUNT_SID, AUTH_TOKEN, RECORDING};
use crate::whatsapp::{message, stored};
use crate::whatsapp_media::run_jobs_now;
use parley::channels::twilio::signature;

crate::backend_tests!(calls_by_api_join_the_callers_history, twilio_calls_are_verified_and_recordings_fetched);

const LINE: &str = "+390212345678";
const CUSTOMER: &str = "+393331234567";

/// Creates a live voice channel on the Twilio stand-in; returns its id.
pub async fn voice_channel_on(app: &TestApp, api: &TwilioApi) -> i64 {
    let settings =
        json!({"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": LINE, "api_base_url": api.base});
    let reply = app
        .post("/api/v1/channels", json!({"kind": "voice", "name": "Phone", "address": LINE, "settings": settings}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert!(reply.body["settings"].get("auth_token").is_none(), "the auth token is write-only: {}", reply.body);
    reply.body["id"].as_i64().unwrap()
}

/// Records a call by the API.
async fn record(app: &TestApp, channel: i64, call: Value) -> Reply {
    app.post(&format!("/api/v1/channels/{channel}/calls"), call).await
}

async fn calls_by_api_join_the_callers_history(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390200000001", true).await;
    let voice = app.channel("voice", LINE, true).await;
    let chat = app.inbound(whatsapp, CUSTOMER, "Giulia Bianchi", "Il mio ordine non è arrivato").await;
    let contact = chat["conversation"]["contact"]["id"].as_i64().unwrap();

    // A missed call from the same number, just after the chat (the next whole second): the same
    // contact, a call on the voice line.
    let started = parley::domain::time::to_rfc3339((parley::domain::time::now_ms() / 1000 + 1) * 1000);
    let missed = record(
        &app,
        voice,
        json!({"from": "+39 333 123 4567", "to": LINE, "outcome": "missed", "started_at": started,
            "duration_seconds": 12, "external_id": "pbx-1"}),
    )
    .await;
    assert_eq!(missed.status, StatusCode::CREATED, "{missed:?}");
    let message = &missed.body["message"];
    assert_eq!((message["type"].as_str(), message["direction"].as_str()), (Some("call"), Some("inbound")));
    assert_eq!(message["text"], "Missed call");
    assert_eq!(message["payload"]["call"]["outcome"], "missed");
    assert_eq!(message["payload"]["call"]["duration_seconds"], 0, "a missed call lasted nothing");
    assert_eq!(message["payload"]["call"]["from"], CUSTOMER);
    assert_eq!(message["created_at"], started.as_str());
    let call_conversation = &missed.body["conversation"];
    assert_eq!(call_conversation["contact"]["id"], contact, "the caller is the WhatsApp customer");
    assert_eq!(call_conversation["last_message_preview"], "Missed call");
    assert_eq!(call_conversation["unread_count"], 1);

    // The inbox lists both conversations of the person; their history holds the chat and the call.
    let inbox = app.get(&format!("/api/v1/conversations?contact_id={contact}")).await;
    let kinds: Vec<&str> =
        inbox.body["data"].as_array().unwrap().iter().map(|c| c["channel"]["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["voice", "whatsapp"], "{}", inbox.body);
    let history = app.get(&format!("/api/v1/contacts/{contact}/messages")).await;
    let types: Vec<&str> =
        history.body["data"].as_array().unwrap().iter().map(|m| m["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text", "call"], "{}", history.body);

    // The same call reported again records nothing.
    let again =
        record(&app, voice, json!({"from": CUSTOMER, "to": LINE, "outcome": "missed", "external_id": "pbx-1"})).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    assert_eq!(again.body["duplicate"], true);
    assert_eq!(again.body["message"]["id"], message["id"]);

    // An answered outbound call, with its recording, transcript and the operator who made it.
    let recording = crate::media::upload(&app, "call.mp3", "audio/mpeg", RECORDING).await;
    assert_eq!(recording.status, StatusCode::CREATED, "{recording:?}");
    let operators = app.get("/api/v1/operators").await.body;
    let (operator, operator_name) =
        (operators["data"][0]["id"].as_i64().unwrap(), operators["data"][0]["name"].clone());
    let answered = record(
        &app,
        voice,
        json!({"direction": "outbound", "from": LINE, "to": CUSTOMER, "outcome": "answered", "duration_seconds": 125,
            "recording_media_key": recording.body["key"], "transcript": "Buongiorno, la richiamo per l'ordine.",
            "operator_id": operator}),
    )
    .await;
    assert_eq!(answered.status, StatusCode::CREATED, "{answered:?}");
    let call = &answered.body["message"];
    assert_eq!((call["direction"].as_str(), call["text"].as_str()), (Some("outbound"), Some("Outgoing call (2:05)")));
    assert_eq!(call["media_keys"], json!([recording.body["key"]]));
    assert_eq!(call["payload"]["call"]["transcript"], "Buongiorno, la richiamo per l'ordine.");
    assert_eq!(call["payload"]["call"]["operator_name"], operator_name, "{call}");
    assert_eq!(answered.body["conversation"]["id"], call_conversation["id"], "the same conversation on the line");

    // Bad reports are refused and change nothing.
    let before = stored(&app).await;
    for (body, field) in [
        (json!({"from": CUSTOMER, "to": LINE, "outcome": "hung up"}), "outcome"),
        (json!({"from": "3331234567", "to": LINE, "outcome": "missed"}), "from"),
        (json!({"from": CUSTOMER, "to": LINE, "outcome": "answered", "duration_seconds": 100_000}), "duration_seconds"),
        (json!({"from": CUSTOMER, "to": LINE, "outcome": "answered", "started_at": "yesterday"}), "started_at"),
        (json!({"from": CUSTOMER, "to": LINE, "outcome": "answered", "operator_id": 999_999}), "operator_id"),
        (json!({"direction": "sideways", "from": CUSTOMER, "to": LINE, "outcome": "missed"}), "direction"),
    ] {
        let refused = record(&app, voice, body).await;
        assert_field_error(&refused, field);
    }
    let on_whatsapp = record(&app, whatsapp, json!({"from": CUSTOMER, "to": LINE, "outcome": "missed"})).await;
    assert_field_error(&on_whatsapp, "channel");
    assert_eq!(stored(&app).await, before);

    // A voice line takes no messages.
    let conversation = call_conversation["id"].as_i64().unwrap();
    let text = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Ciao"})).await;
    assert_eq!(text.status, StatusCode::UNPROCESSABLE_ENTITY, "{text:?}");

    // Another account cannot record calls on the line.
    let other = app.other_account_key().await;
    let hidden = app
        .call_as(
            &other,
            reqwest::Method::POST,
            &format!("/api/v1/channels/{voice}/calls"),
            Some(json!({"from": CUSTOMER, "to": LINE, "outcome": "missed"})),
        )
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{hidden:?}");
}

/// Posts a Twilio Voice callback with this signature (none when `None`).
async fn post_callback(app: &TestApp, form: &[(&str, &str)], signature: Option<&str>) -> StatusCode {
    let mut request = app.client.post(format!("{}/hooks/twilio/voice", app.base)).form(form);
    if let Some(signature) = signature {
        request = request.header("X-Twilio-Signature", signature);
    }
    request.send().await.unwrap().status()
}

/// Posts a callback signed as Twilio signs it.
async fn callback(app: &TestApp, form: &[(&str, &str)]) {
    let url = format!("{}/hooks/twilio/voice", app.base);
    let params: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let status = post_callback(app, form, Some(&signature::sign(AUTH_TOKEN, &url, &params))).await;
    assert_eq!(status, StatusCode::OK);
}

/// A call status callback as Twilio posts it when a call to the line ends.
fn status_callback<'a>(sid: &'a str, from: &'a str, status: &'a str, duration: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("AccountSid", ACCOUNT_SID),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", sid),
        ("CallStatus", status),
        ("CallDuration", duration),
        ("Called", LINE),
        ("Caller", from),
        ("Direction", "inbound"),
        ("From", from),
        ("To", LINE),
        ("Timestamp", "Fri, 27 Nov 2026 09:05:32 +0000"),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "0"),
    ]
}

async fn twilio_calls_are_verified_and_recordings_fetched(app: TestApp) {
    let api = TwilioApi::start().await;
    let voice = voice_channel_on(&app, &api).await;
    let whatsapp = app.channel("whatsapp", "+390200000001", true).await;
    let chat = app.inbound(whatsapp, CUSTOMER, "Giulia Bianchi", "Posso chiamarvi?").await;
    let contact = chat["conversation"]["contact"]["id"].as_i64().unwrap();

    // Forged, tampered and unsigned callbacks write nothing.
    let before = stored(&app).await;
    let missed = status_callback("CA0000000000000000000000000000001", CUSTOMER, "no-answer", "0");
    let url = format!("{}/hooks/twilio/voice", app.base);
    let params: Vec<(String, String)> = missed.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    assert_eq!(post_callback(&app, &missed, None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        post_callback(&app, &missed, Some(&signature::sign("wrong", &url, &params))).await,
        StatusCode::UNAUTHORIZED
    );
    let mut tampered = missed.clone();
    tampered[3] = ("CallStatus", "completed");
    assert_eq!(
        post_callback(&app, &tampered, Some(&signature::sign(AUTH_TOKEN, &url, &params))).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(stored(&app).await, before);

    // A missed call, delivered twice: one call from the WhatsApp customer.
    callback(&app, &missed).await;
    callback(&app, &missed).await;
    let call = message(&app, voice, "CA0000000000000000000000000000001").await.expect("the call is stored");
    assert_eq!((call["type"].as_str(), call["text"].as_str()), (Some("call"), Some("Missed call")));
    assert_eq!(call["payload"]["call"]["started_at"], "2026-11-27T09:05:32.000Z");
    let conversation = app.get(&format!("/api/v1/conversations/{}", call["conversation_id"])).await.body;
    assert_eq!(conversation["contact"]["id"], contact, "beside their WhatsApp conversation");
    assert_eq!(stored(&app).await.0, before.0 + 1);

    // A voicemail: Twilio reports the recording before the call ends; it waits for the call.
    let sid = "CA0000000000000000000000000000002";
    let recording_url = api.recording_url("RE0000000000000000000000000000002");
    callback(
        &app,
        &[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", sid),
            ("RecordingSid", "RE0000000000000000000000000000002"),
            ("RecordingUrl", &recording_url),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "21"),
            ("RecordingChannels", "1"),
            ("RecordingStartTime", "Fri, 27 Nov 2026 09:10:02 +0000"),
            ("RecordingSource", "RecordVerb"),
        ],
    )
    .await;
    assert!(message(&app, voice, sid).await.is_none(), "no call without its status");
    callback(&app, &status_callback(sid, CUSTOMER, "completed", "30")).await;
    let voicemail = message(&app, voice, sid).await.expect("the call is stored");
    assert_eq!(voicemail["text"], "Voicemail (0:21)");
    assert_eq!(voicemail["payload"]["call"]["outcome"], "voicemail");
    assert_eq!(voicemail["payload"]["media_status"], "pending");
    run_jobs_now(&app).await;
    assert_eq!(
        api.media_requests(),
        vec![Some(crate::twilio_api::basic_auth())],
        "fetched with the account's credentials"
    );
    let voicemail = message(&app, voice, sid).await.unwrap();
    assert_eq!(voicemail["payload"]["media_status"], "stored", "{voicemail}");
    let key = voicemail["media_keys"][0].as_str().unwrap_or_else(|| panic!("no recording: {voicemail}"));
    let file = app.get(&format!("/api/v1/media/{key}")).await;
    assert_eq!(file.body["content_type"], "audio/mpeg");
    assert_eq!(file.body["sha256"], hex::encode(Sha256::digest(RECORDING)));

    // Twilio repeating the recording callback fetches nothing again.
    let requests = api.media_requests().len();
    callback(
        &app,
        &[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", sid),
            ("RecordingSid", "RE0000000000000000000000000000002"),
            ("RecordingUrl", &recording_url),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "21"),
            ("RecordingSource", "RecordVerb"),
        ],
    )
    .await;
    run_jobs_now(&app).await;
    assert_eq!(api.media_requests().len(), requests);
    assert_eq!(message(&app, voice, sid).await.unwrap()["media_keys"].as_array().map(Vec::len), Some(1));

    // Its transcript follows later and joins the call.
    callback(
        &app,
        &[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", sid),
            ("RecordingSid", "RE0000000000000000000000000000002"),
            ("TranscriptionSid", "TR0000000000000000000000000000002"),
            ("TranscriptionStatus", "completed"),
            ("TranscriptionText", "Salve, richiamatemi per favore."),
        ],
    )
    .await;
    let voicemail = message(&app, voice, sid).await.unwrap();
    assert_eq!(voicemail["payload"]["call"]["transcript"], "Salve, richiamatemi per favore.");
    assert_eq!(voicemail["edited_at"], Value::Null, "more about a call is no edit");

    // A recording reported after its call turns the answered call into a voicemail, preview too.
    let late = "CA0000000000000000000000000000004";
    callback(&app, &status_callback(late, CUSTOMER, "completed", "18")).await;
    let call = message(&app, voice, late).await.unwrap();
    assert_eq!(call["text"], "Incoming call (0:18)");
    let recording_url = api.recording_url("RE0000000000000000000000000000004");
    callback(
        &app,
        &[
            ("AccountSid", ACCOUNT_SID),
            ("CallSid", late),
            ("RecordingSid", "RE0000000000000000000000000000004"),
            ("RecordingUrl", &recording_url),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "9"),
            ("RecordingSource", "RecordVerb"),
        ],
    )
    .await;
    let call = message(&app, voice, late).await.unwrap();
    assert_eq!(
        (call["text"].as_str(), call["payload"]["media_status"].as_str()),
        (Some("Voicemail (0:09)"), Some("pending"))
    );
    let conversation = app.get(&format!("/api/v1/conversations/{}", call["conversation_id"])).await.body;
    assert_eq!(conversation["last_message_preview"], "Voicemail (0:09)");

    // A call from someone new makes a contact by number; calls still ringing are not calls.
    callback(&app, &status_callback("CA0000000000000000000000000000003", "+393339998877", "ringing", "0")).await;
    assert!(message(&app, voice, "CA0000000000000000000000000000003").await.is_none());
    callback(&app, &status_callback("CA0000000000000000000000000000003", "+393339998877", "completed", "65")).await;
    let answered = message(&app, voice, "CA0000000000000000000000000000003").await.unwrap();
    assert_eq!(answered["text"], "Incoming call (1:05)");
}
