//! Outgoing webhooks end to end: a real receiver process verifies every delivery with the official
//! Standard Webhooks library; failures, timeouts, outages, 410 Gone and Retry-After are driven
//! through the retry schedule with a logical clock.

use std::collections::HashSet;

use parley::domain::time::{now_ms, parse_timestamp, to_rfc3339};
use parley::jobs::webhooks::{dispatch_once, run_once_at};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::receiver::Receiver;

const DAY: i64 = 24 * 3600 * 1000;

/// Creates a subscription to `receiver` (plus `extra` fields) and makes the receiver trust it.
async fn subscribe(app: &TestApp, receiver: &Receiver, extra: Value) -> Value {
    let mut body = json!({"url": receiver.url()});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    let reply = app.post("/api/v1/webhooks", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    receiver.accept(reply.body["secret"].as_str().unwrap()).await;
    reply.body
}

/// Runs the delivery engine once at `clock`; returns the attempts made.
async fn deliver(app: &TestApp, clock: i64) -> usize {
    run_once_at(&app.state, clock).await.unwrap()
}

async fn whatsapp(app: &TestApp) -> i64 {
    app.channel("whatsapp", "+393209998877", true).await
}

async fn deliveries(app: &TestApp, hook: &Value, query: &str) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/webhooks/{}/deliveries?limit=100{query}", hook["id"])).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().unwrap().clone()
}

/// Every event id of the account's log with this type.
async fn logged(app: &TestApp, kind: &str) -> Vec<i64> {
    let events = read_log(app, 1, &mut parley::store::events::Position::start()).await;
    events.iter().filter(|e| e.kind == kind).map(|e| e.id).collect()
}

fn types(payloads: &[Value]) -> Vec<String> {
    payloads.iter().map(|p| p["type"].as_str().unwrap_or_default().to_owned()).collect()
}

fn ms(time: &Value) -> i64 {
    parse_timestamp(time.as_str().unwrap()).unwrap()
}

async fn subscriptions_are_managed_and_validated(app: TestApp) {
    let created = app
        .post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/hook", "event_types": ["message.*", "contact.merged"], "description": "CRM"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let hook = &created.body;
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(hook["event_types"], json!(["message.*", "contact.merged"]));
    assert_eq!((hook["format"].as_str(), hook["active"].as_bool()), (Some("parley"), Some(true)));
    let path = format!("/api/v1/webhooks/{}", hook["id"]);

    let listed = app.get("/api/v1/webhooks").await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert!(listed.body["data"][0].get("secret").is_none(), "the secret is shown once");
    assert!(app.get(&path).await.body.get("secret").is_none());

    let patched = app.patch(&path, json!({"event_types": [], "description": "", "format": "qlara"})).await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!((patched.body["event_types"].clone(), patched.body["description"].clone()), (json!([]), Value::Null));
    assert_eq!(patched.body["format"], "qlara");
    let paused = app.patch(&path, json!({"active": false})).await;
    assert_eq!(
        (paused.body["active"].as_bool(), paused.body["disabled_reason"].as_str()),
        (Some(false), Some("manual"))
    );
    let resumed = app.patch(&path, json!({"active": true})).await;
    assert_eq!((resumed.body["active"].as_bool(), resumed.body["disabled_reason"].clone()), (Some(true), Value::Null));

    for (body, field) in [
        (json!({"url": "ftp://example.com/x"}), "url"),
        (json!({"url": "not a url"}), "url"),
        (json!({"url": "https://example.com/x", "event_types": ["message.exploded"]}), "event_types"),
        (json!({"url": "https://example.com/x", "format": "xml"}), "format"),
        (json!({"url": "https://example.com/x", "secret": "hunter2"}), "secret"),
    ] {
        assert_field_error(&app.post("/api/v1/webhooks", body).await, field);
    }
    assert_eq!(app.post("/api/v1/webhooks", json!({"url": "https://example.com/x", "colour": 1})).await.status, 422);
    assert_field_error(&app.patch(&path, json!({"url": "gopher://x"})).await, "url");
    assert_eq!(app.get("/api/v1/webhooks").await.body["data"].as_array().unwrap().len(), 1, "errors create nothing");
    assert_eq!(app.get(&path).await.body["format"], "qlara", "a refused patch changes nothing");

    let other = app.other_account_key().await;
    for (method, body) in [
        (reqwest::Method::GET, None),
        (reqwest::Method::PATCH, Some(json!({"description": "mine"}))),
        (reqwest::Method::DELETE, None),
    ] {
        assert_problem(&app.call_as(&other, method, &path, body).await, StatusCode::NOT_FOUND, "not_found");
    }
    let foreign = app.call_as(&other, reqwest::Method::POST, &format!("{path}/test"), Some(json!({}))).await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "not_found");

    let catalog = app.get("/api/v1/webhooks/event-types").await;
    let names: Vec<&str> =
        catalog.body["data"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    for name in ["message.created", "message.deleted", "conversation.assigned", "contact.merged", "webhook.test"] {
        assert!(names.contains(&name), "{names:?}");
    }

    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_problem(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
}

async fn events_arrive_signed_once_each(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({})).await;
    let channel = whatsapp(&app).await;
    let first = app.inbound(channel, "+393471234567", "Marco", "Buongiorno").await;
    app.inbound(channel, "+393471234567", "Marco", "Ci sei?").await;
    let conversation = first["conversation"]["id"].as_i64().unwrap();
    app.post(&format!("/api/v1/conversations/{conversation}/read"), json!({})).await;

    assert!(deliver(&app, now_ms()).await > 0);
    let seen = receiver.seen().await;
    assert_eq!(seen["rejected"], 0, "every delivery verifies with the official library");
    let payloads = receiver.payloads().await;
    let kinds = types(&payloads);
    assert_eq!(kinds.iter().filter(|k| *k == "message.created").count(), 2, "{kinds:?}");
    assert!(kinds.contains(&"conversation.created".to_owned()) && kinds.contains(&"conversation.read".to_owned()));
    let ids = receiver.ids().await;
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len(), "each event once: {ids:?}");
    for (id, payload) in ids.iter().zip(&payloads) {
        assert_eq!(id, &format!("evt_{}", payload["id"]));
        assert_eq!(payload["account_id"], 1);
        assert!(payload["created_at"].is_string());
        // Webhooks and the API (and the live stream) draw from the same log.
        assert_eq!(&app.get(&format!("/api/v1/events/{}", payload["id"])).await.body, payload);
    }
    let created = payloads.iter().find(|p| p["type"] == "message.created").unwrap();
    assert_eq!(created["data"]["id"], first["message"]["id"]);
    assert_eq!(created["data"]["text"], "Buongiorno");
    assert_eq!(created["data"]["direction"], "inbound");

    let log = deliveries(&app, &hook, "").await;
    assert_eq!(log.len(), payloads.len());
    assert!(log.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 1 && d["last_status_code"] == 200));
    assert_eq!(deliver(&app, now_ms() + DAY).await, 0, "nothing is sent twice");
    assert_eq!(receiver.payloads().await.len(), payloads.len());
}

async fn a_failing_receiver_gets_everything_once_it_recovers(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({})).await;
    receiver.mode("fail").await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    app.inbound(channel, "+393471234567", "Marco", "due").await;
    let t0 = now_ms();
    let first_round = deliver(&app, t0).await;
    assert!(first_round >= 2);
    let pending = deliveries(&app, &hook, "&status=pending").await;
    assert_eq!(pending.len(), first_round);
    for delivery in &pending {
        assert_eq!((delivery["attempts"].as_i64(), delivery["last_status_code"].as_i64()), (Some(1), Some(500)));
        let wait = ms(&delivery["next_attempt_at"]) - t0;
        assert!((4_500..=5_500).contains(&wait), "first retry after 5 s ± 10 %: {wait}");
    }
    let failing = app.get(&format!("/api/v1/webhooks/{}", hook["id"])).await.body;
    assert_eq!(ms(&failing["failing_since"]), t0);
    let attempts = app.get(&format!("/api/v1/webhooks/{}/attempts", hook["id"])).await.body;
    let attempt = &attempts["data"][0];
    assert_eq!((attempt["status_code"].as_i64(), attempt["succeeded"].as_bool()), (Some(500), Some(false)));
    assert_eq!(attempt["response_body"], "receiver failing on purpose");
    assert!(attempt["error"].as_str().unwrap().contains("500"), "{attempt}");
    assert!(attempt["latency_ms"].as_i64().unwrap() >= 0);

    assert_eq!(deliver(&app, t0 + 1_000).await, 0, "retries wait for their time");
    receiver.mode("ok").await;
    assert_eq!(deliver(&app, t0 + 6_000).await, first_round);
    let ids = receiver.ids().await;
    assert_eq!(ids.len(), first_round, "{ids:?}");
    assert!(deliveries(&app, &hook, "").await.iter().all(|d| d["status"] == "delivered" && d["attempts"] == 2));
    assert_eq!(app.get(&format!("/api/v1/webhooks/{}", hook["id"])).await.body["failing_since"], Value::Null);

    // The same event's attempts, newest first, share the webhook-id the receiver saw.
    let event_id = ids[0].trim_start_matches("evt_");
    let history = app.get(&format!("/api/v1/events/{event_id}/attempts")).await.body;
    let codes: Vec<i64> =
        history["data"].as_array().unwrap().iter().map(|a| a["status_code"].as_i64().unwrap()).collect();
    assert_eq!(codes, vec![200, 500]);
    let page = app.get(&format!("/api/v1/webhooks/{}/attempts?limit=1", hook["id"])).await.body;
    let next = page["next_cursor"].as_str().expect("more attempts");
    let second = app.get(&format!("/api/v1/webhooks/{}/attempts?limit=1&cursor={next}", hook["id"])).await.body;
    assert!(second["data"][0]["id"].as_i64() < page["data"][0]["id"].as_i64());
}

async fn timeouts_count_as_failures(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    receiver.configure(json!({"mode": "slow", "delay": 3})).await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "lento").await;
    let t0 = now_ms();
    assert_eq!(deliver(&app, t0).await, 1);
    let attempt = app.get(&format!("/api/v1/webhooks/{}/attempts", hook["id"])).await.body["data"][0].clone();
    assert!(attempt["error"].as_str().unwrap().contains("timed out after 1000 ms"), "{attempt}");
    assert_eq!(attempt["status_code"], Value::Null);
    receiver.mode("ok").await;
    assert_eq!(deliver(&app, t0 + 10_000).await, 1);
    assert_eq!(deliveries(&app, &hook, "").await[0]["status"], "delivered");
}

async fn a_receiver_that_was_down_catches_up_when_it_returns(app: TestApp) {
    let mut receiver = Receiver::start().await;
    let port = receiver.port;
    let hook = subscribe(&app, &receiver, json!({})).await;
    receiver.stop().await;
    let channel = whatsapp(&app).await;
    for text in ["uno", "due", "tre"] {
        app.inbound(channel, "+393471234567", "Marco", text).await;
    }
    let waiting = deliver(&app, now_ms()).await;
    let attempt = app.get(&format!("/api/v1/webhooks/{}/attempts", hook["id"])).await.body["data"][0].clone();
    assert!(attempt["error"].as_str().unwrap().to_lowercase().contains("connect"), "{attempt}");

    let receiver = Receiver::start_on(port).await;
    receiver.accept(hook["secret"].as_str().unwrap()).await;
    // The next success (here an on-demand ping) makes the backlog due at once instead of at its
    // backed-off retry time.
    let ping = app.post(&format!("/api/v1/webhooks/{}/test", hook["id"]), json!({})).await;
    assert_eq!((ping.status, ping.body["status"].as_str()), (StatusCode::ACCEPTED, Some("pending")));
    assert_eq!(deliver(&app, now_ms()).await, 1);
    assert_eq!(deliver(&app, now_ms()).await, waiting);
    let kinds = types(&receiver.payloads().await);
    assert_eq!(kinds.last().map(String::as_str), Some("webhook.test"));
    assert_eq!(kinds.iter().filter(|k| *k == "message.created").count(), 3, "{kinds:?}");
    assert!(deliveries(&app, &hook, "&status=pending").await.is_empty());
}

async fn gone_disables_and_replay_recovers(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    let watcher = Receiver::start().await;
    subscribe(&app, &watcher, json!({"event_types": ["webhook.disabled"]})).await;
    receiver.mode("gone").await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    assert_eq!(deliver(&app, now_ms()).await, 1);
    let path = format!("/api/v1/webhooks/{}", hook["id"]);
    let disabled = app.get(&path).await.body;
    assert_eq!((disabled["active"].as_bool(), disabled["disabled_reason"].as_str()), (Some(false), Some("gone")));
    assert_eq!(logged(&app, "webhook.disabled").await.len(), 1);
    deliver(&app, now_ms()).await;
    let told = watcher.payloads().await;
    assert_eq!(types(&told), vec!["webhook.disabled"]);
    assert_eq!(told[0]["data"]["id"], hook["id"]);
    assert!(told[0]["data"].get("secret").is_none());

    app.inbound(channel, "+393471234567", "Marco", "due").await;
    deliver(&app, now_ms()).await;
    assert_eq!(receiver.seen().await["attempts"], 1, "a disabled subscription receives nothing");
    let refused = app.post(&format!("{path}/test"), json!({})).await;
    assert_problem(&refused, StatusCode::CONFLICT, "webhook_disabled");

    receiver.mode("ok").await;
    assert_eq!(app.patch(&path, json!({"active": true})).await.body["active"], true);
    let replay = app.post(&format!("{path}/replay"), json!({"after_event_id": 0})).await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{replay:?}");
    assert_eq!(replay.body["queued"], 2, "{replay:?}");
    assert_eq!(deliver(&app, now_ms()).await, 2);
    let texts: Vec<Value> = receiver.payloads().await.iter().map(|p| p["data"]["text"].clone()).collect();
    assert_eq!(texts, vec![json!("uno"), json!("due")]);
}

async fn five_days_of_failures_disable_the_subscription(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    receiver.mode("fail").await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    let t0 = now_ms();
    deliver(&app, t0).await;
    deliver(&app, t0 + 2 * DAY).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"]);
    assert_eq!(app.get(&path).await.body["active"], true, "two days of failures are retried");
    assert_eq!(deliveries(&app, &hook, "").await[0]["attempts"], 2);
    deliver(&app, t0 + 5 * DAY + 3_600_000).await;
    let disabled = app.get(&path).await.body;
    assert_eq!((disabled["active"].as_bool(), disabled["disabled_reason"].as_str()), (Some(false), Some("failing")));
    assert_eq!(logged(&app, "webhook.disabled").await.len(), 1);
    let delivery = &deliveries(&app, &hook, "").await[0];
    assert_eq!((delivery["status"].as_str(), delivery["attempts"].as_i64()), (Some("pending"), Some(3)));

    // Re-enabling makes what waited due at once.
    receiver.mode("ok").await;
    app.patch(&path, json!({"active": true})).await;
    assert_eq!(deliver(&app, t0 + 5 * DAY + 3_600_000).await, 1);
    assert_eq!(receiver.payloads().await[0]["data"]["text"], "uno");
}

async fn retry_after_is_honoured(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    receiver.configure(json!({"mode": "retry_after", "retry_after": "120"})).await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    let t0 = now_ms();
    assert_eq!(deliver(&app, t0).await, 1);
    let delivery = &deliveries(&app, &hook, "").await[0];
    assert_eq!(ms(&delivery["next_attempt_at"]), t0 + 120_000);
    assert_eq!(delivery["last_status_code"], 503);
    receiver.mode("ok").await;
    assert_eq!(deliver(&app, t0 + 60_000).await, 0);
    assert_eq!(deliver(&app, t0 + 121_000).await, 1);
}

async fn rotated_secrets_overlap(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    let old = hook["secret"].as_str().unwrap().to_owned();
    let rotated = app.post(&format!("/api/v1/webhooks/{}/rotate-secret", hook["id"]), json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    let overlap = ms(&rotated.body["previous_secret_expires_at"]) - now_ms();
    assert!((DAY - 60_000..=DAY).contains(&overlap), "{overlap}");
    let channel = whatsapp(&app).await;
    for (n, secret) in [&old, &new].into_iter().enumerate() {
        receiver.configure(json!({"secrets": [secret]})).await;
        app.inbound(channel, "+393471234567", "Marco", &format!("messaggio {n}")).await;
        deliver(&app, now_ms()).await;
        assert_eq!(receiver.ids().await.len(), n + 1, "signed with both secrets during the overlap");
    }
    receiver.configure(json!({"secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]})).await;
    app.inbound(channel, "+393471234567", "Marco", "intruso").await;
    deliver(&app, now_ms()).await;
    assert_eq!(receiver.seen().await["rejected"], 1, "a wrong secret does not verify");
}

async fn events_can_be_redelivered_and_replayed(app: TestApp) {
    let receiver = Receiver::start().await;
    let hook = subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    let path = format!("/api/v1/webhooks/{}", hook["id"]);
    let channel = whatsapp(&app).await;
    let before = to_rfc3339(now_ms() - 1_000);
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    app.inbound(channel, "+393471234567", "Marco", "due").await;
    deliver(&app, now_ms()).await;
    let ids = receiver.ids().await;
    assert_eq!(ids.len(), 2);

    let event: i64 = ids[0].trim_start_matches("evt_").parse().unwrap();
    let again = app.post(&format!("{path}/redeliver"), json!({"event_id": event})).await;
    assert_eq!((again.status, again.body["status"].as_str()), (StatusCode::ACCEPTED, Some("pending")));
    assert_eq!(deliver(&app, now_ms()).await, 1);
    let again_ids = receiver.ids().await;
    assert_eq!(again_ids.iter().filter(|id| **id == ids[0]).count(), 2, "a redelivery keeps its webhook-id");

    let replay = app.post(&format!("{path}/replay"), json!({"since": before})).await;
    assert_eq!((replay.status, replay.body["queued"].as_i64()), (StatusCode::ACCEPTED, Some(2)));
    assert_eq!(deliver(&app, now_ms()).await, 2);
    assert_eq!(receiver.ids().await.len(), 5);
    let later = app.post(&format!("{path}/replay"), json!({"since": to_rfc3339(now_ms() + DAY)})).await;
    assert_eq!(later.body["queued"], 0);

    assert_field_error(&app.post(&format!("{path}/replay"), json!({})).await, "after_event_id");
    let both = app.post(&format!("{path}/replay"), json!({"since": before, "after_event_id": 1})).await;
    assert_field_error(&both, "after_event_id");
    assert_field_error(&app.post(&format!("{path}/replay"), json!({"since": "yesterday"})).await, "since");
    let unknown = app.post(&format!("{path}/redeliver"), json!({"event_id": 99_999_999})).await;
    assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
    let conversation_created = logged(&app, "conversation.created").await[0];
    let unwanted = app.post(&format!("{path}/redeliver"), json!({"event_id": conversation_created})).await;
    assert_field_error(&unwanted, "event_id");

    let other = app.other_account_key().await;
    let theirs = app
        .call_as(
            &other,
            reqwest::Method::POST,
            "/api/v1/channels",
            Some(json!({"kind": "sms", "name": "o", "address": "+15550001111", "simulation": true})),
        )
        .await;
    let inbound = app
        .call_as(
            &other,
            reqwest::Method::POST,
            &format!("/api/v1/channels/{}/inbound", theirs.body["id"]),
            Some(json!({"from": "+15550002222", "text": "private"})),
        )
        .await;
    assert_eq!(inbound.status, StatusCode::CREATED);
    let foreign = parley::store::events::Position::end(&app.state.db, 2).await.unwrap().id;
    assert!(foreign > 0);
    let stolen = app.post(&format!("{path}/redeliver"), json!({"event_id": foreign})).await;
    assert_problem(&stolen, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.get(&format!("/api/v1/events/{foreign}")).await, StatusCode::NOT_FOUND, "not_found");
}

async fn subscriptions_get_only_their_event_types(app: TestApp) {
    let narrow = Receiver::start().await;
    let narrow_hook = subscribe(&app, &narrow, json!({"event_types": ["conversation.*"]})).await;
    let wide = Receiver::start().await;
    subscribe(&app, &wide, json!({})).await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    deliver(&app, now_ms()).await;
    let narrow_kinds = types(&narrow.payloads().await);
    assert!(
        !narrow_kinds.is_empty() && narrow_kinds.iter().all(|k| k.starts_with("conversation.")),
        "{narrow_kinds:?}"
    );
    assert!(types(&wide.payloads().await).contains(&"message.created".to_owned()));

    let ping = app.post(&format!("/api/v1/webhooks/{}/test", narrow_hook["id"]), json!({})).await;
    assert_eq!(ping.status, StatusCode::ACCEPTED);
    deliver(&app, now_ms()).await;
    assert_eq!(types(&narrow.payloads().await).last().map(String::as_str), Some("webhook.test"));
    assert!(!types(&wide.payloads().await).contains(&"webhook.test".to_owned()), "a ping goes to one subscription");
}

async fn qlara_payloads_match_the_seed(app: TestApp) {
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver, json!({"format": "qlara"})).await;
    let channel = whatsapp(&app).await;
    let text = "Buongiorno, vorrei sapere lo stato del mio ordine ORD-2026-1584";
    let inbound = app
        .post(
            &format!("/api/v1/channels/{channel}/inbound"),
            json!({"from": "+393471234567", "name": "Marco Bianchi", "text": text,
                   "provider_message_id": "wamid.HBgNMzkzNDcxNDg4NDg5FQIAEhgUM0EB"}),
        )
        .await;
    let media = crate::media::upload_png(&app).await;
    let key = media["key"].as_str().unwrap();
    let image = app
        .post(
            &format!("/api/v1/channels/{channel}/inbound"),
            json!({"from": "+393471234567", "type": "image", "media_key": key}),
        )
        .await;
    assert_eq!(image.status, StatusCode::CREATED, "{image:?}");
    deliver(&app, now_ms()).await;
    let payloads = receiver.payloads().await;
    assert_eq!(payloads.len(), 2, "only INBOUND for customer messages: {payloads:?}");
    assert_eq!(
        payloads[0],
        json!({
            "channel": "WHATSAPP",
            "eventType": "INBOUND",
            "messageId": "wamid.HBgNMzkzNDcxNDg4NDg5FQIAEhgUM0EB",
            "source": "+393471234567",
            "destination": "+393209998877",
            "receivedDate": inbound.body["message"]["created_at"],
            "messageType": "TEXT",
            "text": text,
        })
    );
    assert_eq!(
        payloads[1],
        json!({
            "channel": "WHATSAPP",
            "eventType": "INBOUND",
            "source": "+393471234567",
            "destination": "+393209998877",
            "receivedDate": image.body["message"]["created_at"],
            "messageType": "IMAGE",
            "mediaKey": key,
        })
    );
    let date = payloads[0]["receivedDate"].as_str().unwrap();
    assert!(date.len() == 24 && date.ends_with('Z') && date.as_bytes()[19] == b'.', "{date}");

    // A reply reports its delivery as the seed platform does.
    let conversation = inbound.body["conversation"]["id"].as_i64().unwrap();
    let reply =
        app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Arriva oggi"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    deliver(&app, now_ms()).await;
    let payloads = receiver.payloads().await;
    let reports: Vec<(String, Value)> = payloads[2..]
        .iter()
        .map(|p| (p["eventType"].as_str().unwrap().to_owned(), p.get("statusCode").cloned().unwrap_or(Value::Null)))
        .collect();
    assert_eq!(
        reports,
        vec![("DELIVERY".to_owned(), json!(2)), ("DELIVERY".to_owned(), json!(3)), ("READ".to_owned(), Value::Null)]
    );
    let delivered = &payloads[3];
    assert_eq!(delivered["destination"], "+393471234567");
    assert_eq!(delivered["channel"], "WHATSAPP");
    assert_eq!(delivered["customerMessageId"], reply.body["id"].to_string());
    assert_eq!(delivered["description"], "Delivered");
    assert!(delivered["timestamp"].is_string() && delivered["messageId"].is_string());
}

async fn a_claimed_delivery_survives_a_crash(app: TestApp) {
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    let channel = whatsapp(&app).await;
    app.inbound(channel, "+393471234567", "Marco", "uno").await;
    dispatch_once(&app.state, now_ms()).await.unwrap();
    let now = now_ms();
    // A worker claims the delivery and dies before answering.
    let claimed = parley::store::webhooks::claim_due_deliveries(&app.state.db, now, 6_000, 10, 10, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    drop(claimed);
    assert_eq!(deliver(&app, now).await, 0, "the lease hides it from other workers");
    assert_eq!(deliver(&app, now + 7_000).await, 1, "the lease runs out and it is delivered");
    assert_eq!(receiver.ids().await.len(), 1);
}

crate::backend_tests!(
    subscriptions_are_managed_and_validated,
    events_arrive_signed_once_each,
    a_failing_receiver_gets_everything_once_it_recovers,
    timeouts_count_as_failures,
    a_receiver_that_was_down_catches_up_when_it_returns,
    gone_disables_and_replay_recovers,
    five_days_of_failures_disable_the_subscription,
    retry_after_is_honoured,
    rotated_secrets_overlap,
    events_can_be_redelivered_and_replayed,
    subscriptions_get_only_their_event_types,
    qlara_payloads_match_the_seed,
    a_claimed_delivery_survives_a_crash,
);

#[tokio::test]
async fn internal_targets_are_refused_by_default() {
    let app = spawn_app_with(Backend::Sqlite, &["--webhook-allow-private", "false"]).await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:192.168.1.1]/hook",
        "http://[::127.0.0.1]/hook",
        "http://[::ffff:0:7f00:1]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[::a9fe:a9fe]/hook",
        "http://[fec0::1]/hook",
        "http://[2001::1]/hook",
        "http://[100::1]/hook",
        "http://[2001:2::1]/hook",
        "http://[2001:20::1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://2130706433/hook",
    ] {
        let reply = app.post("/api/v1/webhooks", json!({"url": url})).await;
        assert_field_error(&reply, "url");
        assert!(reply.body["errors"][0]["message"].as_str().unwrap().contains("internal"), "{url}: {reply:?}");
    }
    let public = app.post("/api/v1/webhooks", json!({"url": "https://93.184.215.14/hook"})).await;
    assert_eq!(public.status, StatusCode::CREATED, "{public:?}");
    let moved =
        app.patch(&format!("/api/v1/webhooks/{}", public.body["id"]), json!({"url": "http://192.168.0.1/"})).await;
    assert_field_error(&moved, "url");

    // A target that is internal at delivery time (saved before this rule, or set in the database)
    // is refused without connecting.
    sqlx::query("UPDATE webhooks SET url = 'http://[::ffff:0:7f00:1]:9/hook' WHERE id = $1")
        .bind(public.body["id"].as_i64().unwrap())
        .execute(app.state.db.writer())
        .await
        .unwrap();
    app.post("/api/v1/contacts", json!({"name": "Ada"})).await;
    assert!(deliver(&app, now_ms()).await > 0);
    let attempts = app.get(&format!("/api/v1/webhooks/{}/attempts", public.body["id"])).await.body;
    let error = attempts["data"][0]["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("internal address"), "{attempts}");
    assert!(attempts["data"][0]["status_code"].is_null(), "{attempts}");
}

#[tokio::test]
async fn oversized_events_are_sent_without_their_object() {
    let app = spawn_app_with(Backend::Sqlite, &["--webhook-max-payload-bytes", "1200"]).await;
    let receiver = Receiver::start().await;
    subscribe(&app, &receiver, json!({"event_types": ["message.created"]})).await;
    let channel = whatsapp(&app).await;
    let short = app.inbound(channel, "+393471234567", "Marco", "breve").await;
    let long = app.inbound(channel, "+393471234567", "Marco", &"lungo ".repeat(300)).await;
    deliver(&app, now_ms()).await;
    let payloads = receiver.payloads().await;
    assert_eq!(payloads[0]["data"]["id"], short["message"]["id"]);
    assert_eq!(payloads[0]["data"]["text"], "breve");
    assert_eq!(payloads[0].get("truncated"), None);
    assert_eq!(payloads[1]["truncated"], true);
    assert_eq!(payloads[1]["data"], json!({"id": long["message"]["id"]}));
    assert_eq!(payloads[1]["type"], "message.created");
}

#[tokio::test]
async fn a_restart_mid_flight_loses_no_event() {
    use crate::process::{free_port, parley, post_json, start, terminate};
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = "pk_webhook_restart_key_0123456789";
    let command = || {
        let mut command = parley(dir.path(), port);
        command.env("PARLEY_BOOTSTRAP_API_KEY", key).env("PARLEY_WEBHOOK_ALLOW_PRIVATE", "true");
        command.env("PARLEY_WEBHOOK_TIMEOUT_MS", "3000");
        command
    };
    let (mut child, _) = start(command());
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let body = json!({"url": receiver.url(), "event_types": ["message.created"]});
    let hook = post_json(&client, format!("{base}/webhooks"), key, body).await;
    receiver.accept(hook["secret"].as_str().unwrap()).await;
    receiver.configure(json!({"mode": "slow", "delay": 1.0})).await;
    let body = json!({"kind": "whatsapp", "name": "w", "address": "+393209998877", "simulation": true});
    let channel = post_json(&client, format!("{base}/channels"), key, body).await;
    let sent = 40;
    for n in 0..sent {
        let reply = client
            .post(format!("{base}/channels/{}/inbound", channel["id"]))
            .header("X-Api-Key", key)
            .json(&json!({"from": "+393471234567", "text": format!("m{n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::CREATED, "acknowledged before the crash");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart = receiver.payloads().await.len();
    assert!(before_restart < sent, "the crash came mid-flight ({before_restart} of {sent} delivered)");

    let (mut child, _) = start(command());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let texts: HashSet<String> =
            receiver.payloads().await.iter().map(|p| p["data"]["text"].as_str().unwrap().to_owned()).collect();
        if texts.len() == sent {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {sent} events arrived after the restart",
            texts.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.seen().await["rejected"], 0);
    assert!(terminate(&mut child).success());
}
