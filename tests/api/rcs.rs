//! RCS through Google's RBM: the webhook's handshake, Pub/Sub pushes verified with the client
//! token before anything is written (forged, tampered and unsigned ones write nothing), every
//! user message and event kind (each delivered twice), replies that reach the stand-in in RBM's
//! exact shapes (suggestions as in the fixtures, cards, carousels), tokens minted from the
//! service-account key, the capability check, and a lost answer that does not send twice.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::rbm_api::{self, RbmApi, AGENT, CLIENT_TOKEN};
use crate::whatsapp::{message, stored};
use crate::whatsapp_media::run_jobs_now;

const NUMBER: &str = "+393209998877";
const CUSTOMER: &str = "+393331234567";

/// Creates a live RCS channel on the stand-in; returns its id.
pub async fn channel_on(app: &TestApp, api: &RbmApi) -> i64 {
    let settings = json!({"agent_id": AGENT, "service_account_key": api.service_account_key(),
        "client_token": CLIENT_TOKEN, "api_base_url": api.base, "ttl_seconds": 3600});
    let reply = app
        .post("/api/v1/channels", json!({"kind": "rcs", "name": "RCS", "address": NUMBER, "settings": settings}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    for secret in ["service_account_key", "client_token"] {
        assert!(reply.body["settings"].get(secret).is_none(), "{secret} is write-only: {}", reply.body);
    }
    reply.body["id"].as_i64().unwrap()
}

/// Posts a push body with this signature (none when `None`).
async fn post_push(app: &TestApp, body: &Value, signature: Option<&str>) -> reqwest::Response {
    let mut request = app.client.post(format!("{}/hooks/rcs", app.base)).json(body);
    if let Some(signature) = signature {
        request = request.header("X-Goog-Signature", signature);
    }
    request.send().await.unwrap()
}

/// Delivers `data` signed with the client token, twice (RBM retries).
pub async fn deliver(app: &TestApp, data: Value) {
    let (body, signature) = rbm_api::push(&data, None, CLIENT_TOKEN);
    for _ in 0..2 {
        assert_eq!(post_push(app, &body, Some(&signature)).await.status(), StatusCode::OK);
    }
}

/// RBM reports the customer's phone got the message `id`, then that they read it.
pub async fn delivered_and_read(app: &TestApp, id: &str) {
    for event in ["DELIVERED", "READ"] {
        deliver(
            app,
            json!({"senderPhoneNumber": CUSTOMER, "eventType": event, "eventId": format!("Ev{event}"),
            "messageId": id, "sendTime": "2026-11-26T10:01:00Z", "agentId": AGENT}),
        )
        .await;
    }
}

/// A user message from the customer with this content.
pub fn user_message(id: &str, content: Value) -> Value {
    let mut data = json!({"senderPhoneNumber": CUSTOMER, "messageId": id, "sendTime": "2026-11-26T10:00:00.123Z",
        "agentId": AGENT, "carrier": "TIM"});
    data.as_object_mut().unwrap().extend(content.as_object().unwrap().clone());
    data
}

async fn typing_events(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE type = 'conversation.typing'")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap()
}

async fn rbm_webhooks_are_verified_and_every_kind_arrives_once(app: TestApp) {
    let api = RbmApi::start().await;
    let channel = channel_on(&app, &api).await;
    let hook = format!("{}/hooks/rcs", app.base);

    // The handshake answers the secret as text, and only for a known client token.
    let handshake = |token: &str| json!({"clientToken": token, "secret": "1234567890"});
    let answer = app.client.post(&hook).json(&handshake(CLIENT_TOKEN)).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.text().await.unwrap(), "1234567890");
    let refused = app.client.post(&hook).json(&handshake("NOT-THE-TOKEN")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // Forged (another token), tampered (signed, then changed) and unsigned: refused, nothing kept.
    let before = stored(&app).await;
    let text = user_message("MxText1", json!({"text": "Ciao, il mio ordine?"}));
    let (forged, forged_signature) = rbm_api::push(&text, None, "NOT-THE-TOKEN");
    assert_eq!(post_push(&app, &forged, Some(&forged_signature)).await.status(), StatusCode::UNAUTHORIZED);
    let (body, signature) = rbm_api::push(&text, None, CLIENT_TOKEN);
    let (tampered, _) = rbm_api::push(&user_message("MxText1", json!({"text": "Rimborsami"})), None, CLIENT_TOKEN);
    assert_eq!(post_push(&app, &tampered, Some(&signature)).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(post_push(&app, &body, None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stored(&app).await, before);

    // Every user message kind, each delivered twice: one message each.
    deliver(&app, text).await;
    deliver(
        &app,
        user_message(
            "MxChoice",
            json!({"suggestionResponse": {"postbackData": "track_order", "text": "Traccia l'ordine", "type": "REPLY"}}),
        ),
    )
    .await;
    deliver(&app, user_message("MxPlace", json!({"location": {"latitude": 45.4642, "longitude": 9.19}}))).await;
    let file = json!({"userFile": {"payload": {"mimeType": "image/jpeg", "fileSizeBytes": 27,
        "fileUri": api.file_url("photo.jpg"), "fileName": "photo.jpg"}}});
    deliver(&app, user_message("MxFile", file)).await;
    assert_eq!(stored(&app).await.0, before.0 + 4, "a repeated delivery adds nothing");
    let first = message(&app, channel, "MxText1").await.unwrap();
    assert_eq!((first["type"].as_str(), first["text"].as_str()), (Some("text"), Some("Ciao, il mio ordine?")));
    let choice = message(&app, channel, "MxChoice").await.unwrap();
    assert_eq!((choice["type"].as_str(), choice["text"].as_str()), (Some("interactive"), Some("Traccia l'ordine")));
    assert_eq!(choice["payload"]["suggestion_response"]["postback_data"], "track_order");
    let place = message(&app, channel, "MxPlace").await.unwrap();
    assert_eq!(
        (place["type"].as_str(), place["payload"]["location"]["latitude"].as_f64()),
        (Some("location"), Some(45.4642))
    );
    run_jobs_now(&app).await;
    let photo = message(&app, channel, "MxFile").await.unwrap();
    assert_eq!(photo["type"], "image");
    let key = photo["media_keys"][0].as_str().unwrap_or_else(|| panic!("the file is fetched: {photo}"));
    assert_eq!(app.get(&format!("/api/v1/media/{key}")).await.body["content_type"], "image/jpeg");
    let conversation = first["conversation_id"].as_i64().unwrap();
    assert!([&choice, &place, &photo].iter().all(|m| m["conversation_id"] == conversation), "one conversation");

    // The customer types: shown live (an event), never stored as a message.
    let typing = json!({"senderPhoneNumber": CUSTOMER, "eventType": "IS_TYPING", "eventId": "EvTyping1",
        "sendTime": "2026-11-26T10:00:02Z", "agentId": AGENT});
    let events_before = typing_events(&app).await;
    deliver(&app, typing).await;
    assert_eq!(typing_events(&app).await, events_before + 2);
    assert_eq!(stored(&app).await.0, before.0 + 4);

    // An agent launch event is kept on the channel.
    let launch = json!({"eventId": "EvLaunch1", "agentId": AGENT, "botDisplayName": "Parley Demo",
        "brandId": "brand-1", "regionId": "/v1/regions/fi-rcs", "oldLaunchState": "LAUNCH_STATE_PENDING",
        "newLaunchState": "LAUNCH_STATE_LAUNCHED", "actingParty": "CARRIER", "comment": "TIM approved",
        "sendTime": "2026-11-26T10:00:03Z"});
    let attributes =
        json!({"business_id": AGENT, "event_type": "LAUNCHED", "product": "RBM", "type": "agent_launch_event"});
    let (body, signature) = rbm_api::push(&launch, Some(attributes), CLIENT_TOKEN);
    assert_eq!(post_push(&app, &body, Some(&signature)).await.status(), StatusCode::OK);
    let shown = app.get(&format!("/api/v1/channels/{channel}")).await;
    assert_eq!(shown.body["notices"]["launch"]["state"], "LAUNCH_STATE_LAUNCHED", "{}", shown.body);
    assert_eq!(shown.body["notices"]["launch"]["comment"], "TIM approved");
}

/// Sends a message in the conversation and runs the send; returns the stored message.
pub async fn reply(app: &TestApp, conversation: i64, body: Value) -> Value {
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let id = reply.body["id"].as_i64().unwrap();
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).unwrap().clone()
}

/// A fixture's suggestions (RBM's `Suggestion` objects).
fn fixture_suggestions(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/rbm/rbm-api-examples/{name}", env!("CARGO_MANIFEST_DIR"));
    let fixture: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    fixture["rbm"]["params"]["suggestions"].clone()
}

async fn replies_reach_rbm_in_its_shapes(app: TestApp) {
    let api = RbmApi::start().await;
    let channel = channel_on(&app, &api).await;
    deliver(&app, user_message("MxIn1", json!({"text": "Ciao"}))).await;
    let inbound = message(&app, channel, "MxIn1").await.unwrap();
    let conversation = inbound["conversation_id"].as_i64().unwrap();

    // Text: one capability check for the number, then the message with Parley's UUID and the TTL.
    let sent = reply(&app, conversation, json!({"text": "Buongiorno!"})).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let [check] = api.calls("capabilities").try_into().unwrap();
    assert_eq!(check.phone, CUSTOMER);
    let [first] = api.calls("agentMessages").try_into().unwrap();
    assert_eq!(first.body, json!({"contentMessage": {"text": "Buongiorno!"}, "ttl": "3600s"}));
    assert_eq!(Some(first.query["messageId"].as_str()), sent["provider_message_id"].as_str());

    // Suggested replies and actions, exactly as RBM's own examples write them.
    let replies = json!({"choices": {"text": "Hello, world!", "options": [
        {"id": "suggestion_1", "title": "Suggestion #1"}, {"id": "suggestion_2", "title": "Suggestion #2"}]}});
    reply(&app, conversation, json!({"payload": replies})).await;
    let actions = json!({"choices": {"text": "Hello, world!", "options": [
        {"id": "postback_data_1234", "title": "Call", "dial": "+15556667777"},
        {"id": "postback_data_1234", "title": "View map",
            "view_location": {"latitude": 37.4220188, "longitude": -122.0844786, "label": "Googleplex"}},
        {"id": "postback_data_1234", "title": "Share your location", "share_location": true},
        {"id": "postback_data_1234", "title": "Open Google", "url": "https://www.google.com"},
        {"id": "postback_data_1234", "title": "Save to calendar", "calendar": {"title": "My calendar event",
            "description": "Description of the calendar event", "start_time": "2020-06-30T19:00:00Z",
            "end_time": "2020-06-30T20:00:00Z"}}]}});
    reply(&app, conversation, json!({"payload": actions})).await;
    let sent_bodies: Vec<Value> = api.calls("agentMessages").into_iter().map(|call| call.body).collect();
    assert_eq!(sent_bodies[1]["contentMessage"]["suggestions"], fixture_suggestions("rbmSuggestedReplies.json"));
    assert_eq!(sent_bodies[2]["contentMessage"]["suggestions"], fixture_suggestions("rbmSuggestedActions.json"));
    assert_eq!(sent_bodies[2]["contentMessage"]["text"], "Hello, world!");

    // A standalone card and a carousel.
    let card = json!({"cards": {"orientation": "horizontal", "image_alignment": "right", "items": [
        {"title": "Hello, world!", "subtitle": "RBM is awesome!", "media_height": "medium",
         "image_url": "https://storage.googleapis.com/kitchen-sink-sample-images/cute-dog.jpg",
         "buttons": [{"title": "Suggestion #1", "payload": "suggestion_1"}, {"title": "Suggestion #2", "payload": "suggestion_2"}]}]}});
    reply(&app, conversation, json!({"payload": card})).await;
    let carousel = json!({"cards": {"width": "small", "items": [
        {"title": "Scarpe", "image_url": "https://example.com/a.jpg", "media_height": "short",
         "buttons": [{"title": "Compra", "url": "https://example.com/a"}]},
        {"title": "Borse", "subtitle": "Nuova collezione", "buttons": [{"title": "Chiama", "dial": "+390212345678"}]}]}});
    let sent = reply(&app, conversation, json!({"payload": carousel})).await;
    assert_eq!(sent["status"], "sent", "{sent}");
    let sent_bodies: Vec<Value> = api.calls("agentMessages").into_iter().map(|call| call.body).collect();
    assert_eq!(
        sent_bodies[3]["contentMessage"]["richCard"],
        json!({"standaloneCard": {"cardOrientation": "HORIZONTAL", "thumbnailImageAlignment": "RIGHT", "cardContent": {
            "title": "Hello, world!", "description": "RBM is awesome!",
            "media": {"height": "MEDIUM", "contentInfo": {"fileUrl": "https://storage.googleapis.com/kitchen-sink-sample-images/cute-dog.jpg", "forceRefresh": false}},
            "suggestions": fixture_suggestions("rbmRichCard.json")}}})
    );
    assert_eq!(
        sent_bodies[4]["contentMessage"]["richCard"],
        json!({"carouselCard": {"cardWidth": "SMALL", "cardContents": [
            {"title": "Scarpe", "media": {"height": "SHORT", "contentInfo": {"fileUrl": "https://example.com/a.jpg", "forceRefresh": false}},
             "suggestions": [{"action": {"text": "Compra", "postbackData": "Compra", "openUrlAction": {"url": "https://example.com/a"}}}]},
            {"title": "Borse", "description": "Nuova collezione",
             "suggestions": [{"action": {"text": "Chiama", "postbackData": "Chiama", "dialAction": {"phoneNumber": "+390212345678"}}}]}]}})
    );
    assert_eq!(api.calls("capabilities").len(), 1, "the number's capability is checked once");
    assert_eq!(api.tokens_minted(), 1, "one token serves every call");

    // Content other networks do not take is refused up front on them, taken here.
    let sms = app.channel("sms", "+15550001111", true).await;
    let start = json!({"channel_id": sms, "to": CUSTOMER, "payload": actions});
    assert_problem(
        &app.post("/api/v1/conversations", start).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "content_unsupported",
    );

    // DELIVERED and READ move the reply on; reading the conversation sends a read receipt.
    let id = sent["provider_message_id"].as_str().unwrap().to_owned();
    delivered_and_read(&app, &id).await;
    let read = message(&app, channel, &id).await.unwrap();
    assert_eq!(read["status"], "read", "{read}");
    assert!(read["delivered_at"].is_string() && read["read_at"].is_string());
    app.post(&format!("/api/v1/conversations/{conversation}/read"), json!({})).await;
    app.drain_jobs().await;
    let receipts: Vec<Value> = api.calls("agentEvents").into_iter().map(|call| call.body).collect();
    assert_eq!(receipts, vec![json!({"eventType": "READ", "messageId": "MxIn1"})]);
}

async fn a_lost_answer_does_not_send_twice_and_unreachable_numbers_fail(app: TestApp) {
    let api = RbmApi::start().await;
    let channel = channel_on(&app, &api).await;
    deliver(&app, user_message("MxIn2", json!({"text": "Ciao"}))).await;
    let conversation = message(&app, channel, "MxIn2").await.unwrap()["conversation_id"].as_i64().unwrap();

    // RBM is down: the message keeps the id it was first tried with, and the retry uses it.
    api.fail_next(503);
    let queued = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Eccoci"})).await;
    run_jobs_now(&app).await;
    let id = queued.body["id"].as_i64().unwrap();
    let row = parley::store::messages::find_message(app.state.db.reader(), id).await.unwrap().unwrap();
    assert_eq!(row.status.as_deref(), Some("queued"));
    let named = row.provider_message_id.clone().expect("the id is stored before the first call");
    run_jobs_now(&app).await;
    assert_eq!(message(&app, channel, &named).await.unwrap()["status"], "sent");

    // RBM accepts a message but its answer is lost (Parley stops, or the connection breaks, before
    // recording it): the retry sends the same id, RBM answers that it exists, and the customer
    // got one message.
    api.lose_next_answer();
    let queued =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Una volta"})).await;
    run_jobs_now(&app).await;
    run_jobs_now(&app).await;
    let row = parley::store::messages::find_message(app.state.db.reader(), queued.body["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status.as_deref(), Some("sent"));
    let once = row.provider_message_id.unwrap();
    let attempts: Vec<String> =
        api.calls("agentMessages").into_iter().map(|call| call.query["messageId"].clone()).collect();
    assert_eq!(attempts[attempts.len() - 2..], [once.clone(), once.clone()]);
    assert_eq!(api.accepted(&once), 1, "RBM took the message once");

    // A number RCS cannot reach fails with `not_rcs_capable`, before any message is sent.
    api.not_capable("+393470000000");
    let start = json!({"channel_id": channel, "to": "+393470000000", "text": "Promo"});
    let started = app.post("/api/v1/conversations", start).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    app.drain_jobs().await;
    let failed = app.get(&format!("/api/v1/conversations/{}/messages", started.body["conversation"]["id"])).await;
    let failed = &failed.body["data"][0];
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("not_rcs_capable"))
    );
    assert!(api.calls("agentMessages").iter().all(|call| call.phone != "+393470000000"));
}

async fn rcs_settings_are_checked(app: TestApp) {
    let settings = json!({"agent_id": AGENT, "service_account_key": "{\"type\": \"authorized_user\"}", "client_token": "t", "region": "mars"});
    let body = json!({"kind": "rcs", "name": "RCS", "address": NUMBER, "settings": settings});
    let reply = app.post("/api/v1/channels", body).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let fields: Vec<&str> =
        reply.body["errors"].as_array().unwrap().iter().filter_map(|e| e["field"].as_str()).collect();
    assert_eq!(fields, ["settings.region", "settings.service_account_key"], "{}", reply.body);
    let kinds = app.get("/api/v1/channel-kinds").await;
    let rcs = kinds.body["data"].as_array().unwrap().iter().find(|kind| kind["kind"] == "rcs").unwrap().clone();
    assert_eq!(rcs["webhook_path"], "rcs");
    assert_eq!(rcs["capabilities"]["read_receipts"], true, "{rcs}");
}

crate::backend_tests!(
    rbm_webhooks_are_verified_and_every_kind_arrives_once,
    replies_reach_rbm_in_its_shapes,
    a_lost_answer_does_not_send_twice_and_unreachable_numbers_fail,
    rcs_settings_are_checked,
);
