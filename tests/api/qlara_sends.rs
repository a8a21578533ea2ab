//! The seed platform's sends (`/api/message-server/{kind}/send`), delivery status polling, credit
//! and simulation.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::whatsapp_outbound::Graph;

const PRICES: &[&str] = &["--credit-prices", "sms=70,whatsapp=50,rcs=40"];

/// The credit available: the balance less what queued sends reserved.
async fn balance(app: &TestApp) -> i64 {
    app.get("/api/v1/credit").await.body["available"].as_i64().unwrap()
}

/// What queued sends reserved.
async fn frozen(app: &TestApp) -> i64 {
    app.get("/api/v1/credit").await.body["frozen"].as_i64().unwrap()
}

async fn top_up(app: &TestApp, amount: i64) {
    let reply = app.post("/api/v1/credit/top-ups", json!({"amount": amount, "reason": "test"})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
}

async fn message_count(app: &TestApp) -> usize {
    let mut total = 0;
    for conversation in app.get("/api/v1/conversations").await.body["data"].as_array().unwrap() {
        let thread = app.get(&format!("/api/v1/conversations/{}/messages", conversation["id"])).await;
        total += thread.body["data"].as_array().unwrap().len();
    }
    total
}

/// A live WhatsApp channel whose Graph API is the stand-in, and one of its customers who wrote
/// (so the 24-hour window is open).
async fn live_whatsapp(app: &TestApp, graph: &Graph) -> i64 {
    let channel = crate::whatsapp_outbound::channel(app, graph, "106540352242922").await;
    app.inbound(channel, "+393471234567", "Marco", "Ciao").await;
    channel
}

async fn sends_on_each_channel_kind(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let rcs = app.channel("rcs", "+393209998811", true).await;
    let graph = Graph::start().await;
    let wa = live_whatsapp(&app, &graph).await;
    top_up(&app, 1000).await;

    let reply = app
        .post(
            "/api/message-server/sms/send",
            json!({"destination": "+393471234567", "sender": "+393209998800", "body": "Ciao {name}, il tuo ordine è pronto",
                   "placeholders": {"name": "Marco"}, "messageId": "sms-1", "campaignId": "spring"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["messageId"], "sms-1");
    assert_eq!(reply.body["simulation"], true, "an SMS channel is a simulation channel for now");
    assert_eq!(reply.body["results"]["sms"]["accepted"], true);
    assert_eq!(reply.body["results"]["sms"]["reasons"], json!([]));
    assert_eq!(reply.body["results"]["sms"]["parts"], 1);
    // "è" is in the GSM alphabet, "ã" is not; "€" takes two of GSM's places.
    for (body, unicode, count) in [("è".repeat(71), false, 1), ("ã".repeat(71), true, 2), ("€".repeat(81), false, 2)]
    {
        let parts =
            app.post("/api/message-server/sms/send", json!({"destination": "+393471234567", "body": body})).await;
        assert_eq!(
            (parts.body["results"]["sms"]["unicode"].clone(), parts.body["results"]["sms"]["parts"].clone()),
            (json!(unicode), json!(count)),
            "{body}"
        );
    }
    assert_eq!(balance(&app).await, 1000, "simulated sends cost nothing");

    let rcs_reply = app
        .post(
            "/api/message-server/rcs/send",
            json!({"destination": "+393471234567", "agentId": rcs, "body": {"type": "TEXT", "body": {"text": "Promemoria"}}}),
        )
        .await;
    assert_eq!(rcs_reply.body["results"]["rcs"]["accepted"], true, "{rcs_reply:?}");
    let generated = rcs_reply.body["messageId"].as_str().unwrap();
    assert_eq!(generated.len(), 36, "a UUID when the caller gives none: {generated}");

    // WhatsApp: free-form inside the customer's window, charged.
    let wa_reply = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "+393471234567", "phoneNumberId": 106540352242922_i64, "body": {"text": "Ecco il tracking"}, "messageId": "wa-1"}),
        )
        .await;
    assert_eq!(wa_reply.body["results"]["whatsapp"]["accepted"], true, "{wa_reply:?}");
    assert_eq!(wa_reply.body["simulation"], false);
    assert_eq!((balance(&app).await, frozen(&app).await), (950, 50), "reserved while queued");
    // Outside a window a free-form WhatsApp message is refused, and costs nothing.
    let closed = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "+393470000001", "phoneNumberId": wa, "body": "hi"}),
        )
        .await;
    assert_eq!(closed.body["results"]["whatsapp"]["accepted"], false);
    assert_eq!(closed.body["results"]["whatsapp"]["reasons"], json!(["reply_window_expired"]));
    assert_eq!(balance(&app).await, 950);

    // The WhatsApp message joined the customer's conversation, carrying the caller's id.
    let conversations = app.get("/api/v1/conversations").await.body["data"].clone();
    let on_wa = conversations.as_array().unwrap().iter().find(|c| c["channel"]["id"] == wa).unwrap().clone();
    let thread = app.get(&format!("/api/v1/conversations/{}/messages", on_wa["id"])).await.body["data"].clone();
    assert_eq!(thread.as_array().unwrap().len(), 2);
    let sent = thread.as_array().unwrap().iter().find(|m| m["direction"] == "outbound").unwrap();
    assert_eq!(sent["payload"]["customer_message_id"], "wa-1");
    let _ = sms;

    // Once the provider takes it, the reservation is debited; the ledger lists it with its message.
    app.drain_jobs().await;
    assert_eq!((balance(&app).await, frozen(&app).await), (950, 0));
    let ledger = app.get("/api/v1/credit/ledger").await.body["data"].clone();
    let amounts: Vec<i64> = ledger.as_array().unwrap().iter().map(|e| e["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![-50, 1000]);
    assert_eq!(ledger[0]["balance_after"], 950);
    assert!(ledger[0]["message_id"].is_i64());

    // Unknown channel kinds and senders.
    let unknown = app.post("/api/message-server/fax/send", json!({"destination": "+393471234567", "body": "x"})).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let no_sender = app
        .post("/api/message-server/sms/send", json!({"destination": "+393471234567", "sender": "NOPE", "body": "x"}))
        .await;
    assert_eq!(no_sender.status, StatusCode::NOT_FOUND);
}

/// A charged message the provider refuses gets its debit back.
async fn failed_sends_are_refunded(app: TestApp) {
    let graph = Graph::start().await;
    let wa = live_whatsapp(&app, &graph).await;
    top_up(&app, 1000).await;
    graph.fail_next(400, 131026);
    let reply = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "+393471234567", "phoneNumberId": wa, "body": "Ecco"}),
        )
        .await;
    assert_eq!(reply.body["results"]["whatsapp"]["accepted"], true, "{reply:?}");
    assert_eq!((balance(&app).await, frozen(&app).await), (950, 50), "reserved when queued");
    app.drain_jobs().await;
    let id = reply.body["messageId"].as_str().unwrap();
    let status = app.get(&format!("/api/partner-gateway/v1/messages/status/{id}?channel=WHATSAPP")).await;
    assert_eq!(status.body["deliveryStatus"], "ERROR", "{status:?}");
    assert_eq!((balance(&app).await, frozen(&app).await), (1000, 0), "and released when it failed");
    let ledger = app.get("/api/v1/credit/ledger").await.body["data"].clone();
    assert_eq!(ledger.as_array().map(Vec::len), Some(1), "nothing was debited: {ledger}");

    // A message the provider took is debited; when it fails later, it is refunded.
    let taken = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "+393471234567", "phoneNumberId": wa, "body": "Di nuovo", "messageId": "wa-later"}),
        )
        .await;
    assert_eq!(taken.body["results"]["whatsapp"]["accepted"], true, "{taken:?}");
    app.drain_jobs().await;
    assert_eq!((balance(&app).await, frozen(&app).await), (950, 0), "debited once accepted");
    let row = sqlx::query_scalar::<_, String>(
        "SELECT provider_message_id FROM messages WHERE customer_message_id = 'wa-later'",
    )
    .fetch_one(app.state.db.reader())
    .await
    .unwrap();
    let failure = crate::whatsapp::webhook(
        "106540352242922",
        "messages",
        json!({"statuses": [{"id": row, "status": "failed", "timestamp": "1700000000", "recipient_id": "393471234567",
            "errors": [{"code": 131047, "title": "Re-engagement message"}]}]}),
    );
    crate::whatsapp::deliver(&app, &failure).await;
    assert_eq!(balance(&app).await, 1000, "refunded when it failed after the provider took it");
    let ledger = app.get("/api/v1/credit/ledger").await.body["data"].clone();
    assert_eq!(ledger[0]["amount"], 50, "{ledger}");
    assert_eq!(ledger[0]["reason"], "refund: the message failed");
    assert_eq!(ledger[0]["message_id"], ledger[1]["message_id"]);
    // A failure reported again changes nothing.
    crate::whatsapp::deliver(&app, &failure).await;
    assert_eq!(balance(&app).await, 1000);
}

async fn refusals_send_and_debit_nothing(app: TestApp) {
    let graph = Graph::start().await;
    let wa = live_whatsapp(&app, &graph).await;
    let before = message_count(&app).await;
    let poor = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "+393471234567", "phoneNumberId": wa, "body": "hi"}),
        )
        .await;
    assert_eq!(poor.status, StatusCode::OK, "{poor:?}");
    assert_eq!(poor.body["results"]["whatsapp"]["accepted"], false);
    assert_eq!(poor.body["results"]["whatsapp"]["reasons"], json!(["insufficient_credit"]));
    assert_eq!(message_count(&app).await, before, "nothing was stored");

    top_up(&app, 500).await;
    let bad = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": "347-nope", "phoneNumberId": wa, "body": "hi"}),
        )
        .await;
    assert_eq!(bad.body["results"]["whatsapp"]["accepted"], false);
    assert_eq!(bad.body["results"]["whatsapp"]["reasons"], json!(["invalid_destination"]));
    assert_eq!(balance(&app).await, 500);
    assert_eq!(app.get("/api/v1/credit/ledger").await.body["data"].as_array().unwrap().len(), 1);
}

async fn native_api_answers_402_and_422(app: TestApp) {
    let graph = Graph::start().await;
    let wa = live_whatsapp(&app, &graph).await;
    let poor = app.post("/api/v1/conversations", json!({"channel_id": wa, "to": "+393471234567", "text": "hi"})).await;
    assert_problem(&poor, StatusCode::PAYMENT_REQUIRED, "insufficient_credit");
    let bad = app.post("/api/v1/conversations", json!({"channel_id": wa, "to": "nope", "text": "hi"})).await;
    assert_problem(&bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_destination");
    // A simulated send needs no credit.
    let simulated = app
        .post(
            "/api/v1/conversations",
            json!({"channel_id": wa, "to": "+393471234567", "text": "hi", "simulation": true}),
        )
        .await;
    assert_eq!(simulated.status, StatusCode::CREATED, "{simulated:?}");
    let top = app.post("/api/v1/credit/top-ups", json!({"amount": -5})).await;
    assert_eq!(top.status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn simulation_spends_nothing_and_ends_delivered(app: TestApp) {
    let rcs = app.channel("rcs", "+393209998811", true).await;
    let reply = app
        .post(
            "/api/message-server/rcs/send",
            json!({"destination": "+393471234567", "agentId": "+393209998811", "body": {"type": "TEXT", "body": {"text": "Prova"}},
                   "messageId": "sim-1", "simulation": true}),
        )
        .await;
    assert_eq!(reply.body["simulation"], true);
    assert_eq!(reply.body["results"]["rcs"]["accepted"], true, "{reply:?}");
    app.drain_jobs().await;
    let status = app.get("/api/partner-gateway/v1/messages/status/sim-1?channel=RCS").await;
    assert_eq!(status.status, StatusCode::OK, "{status:?}");
    assert_eq!(status.body["customerMessageId"], "sim-1");
    assert_eq!(status.body["deliveryStatus"], "DELIVERED");
    assert_eq!(balance(&app).await, 0);
    assert_eq!(app.get("/api/v1/credit/ledger").await.body["data"], json!([]));
    let _ = rcs;

    // A simulation channel simulates every send, and says so, with or without the flag.
    app.channel("sms", "+393209998800", true).await;
    let reply = app
        .post(
            "/api/message-server/sms/send",
            json!({"destination": "+393471234567", "body": "Prova", "messageId": "sim-2"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["simulation"], true, "{reply:?}");
    let refused = app
        .post(
            "/api/message-server/sms/send",
            json!({"destination": "not a phone", "body": "Prova", "messageId": "sim-3"}),
        )
        .await;
    assert_eq!(
        (refused.body["simulation"].clone(), refused.body["results"]["sms"]["accepted"].clone()),
        (json!(true), json!(false))
    );
}

async fn status_polling_single_batch_and_channel_mismatch(app: TestApp) {
    app.channel("sms", "+393209998800", true).await;
    top_up(&app, 1000).await;
    for id in ["a", "b"] {
        let reply = app
            .post("/api/message-server/sms/send", json!({"destination": "+393471234567", "body": "x", "messageId": id}))
            .await;
        assert_eq!(reply.body["results"]["sms"]["accepted"], true, "{reply:?}");
    }
    let queued = app.get("/api/partner-gateway/v1/messages/status/a?channel=SMS").await;
    assert_eq!(queued.body["deliveryStatus"], "UNKNOWN", "{queued:?}");
    app.drain_jobs().await;
    let one = app.get("/api/partner-gateway/v1/messages/status/a?channel=SMS").await;
    assert_eq!(one.body["deliveryStatus"], "DELIVERED", "{one:?}");
    assert!(one.body["deliveryStatusDescription"].is_string());
    let mismatch = app.get("/api/partner-gateway/v1/messages/status/a?channel=WHATSAPP").await;
    assert_eq!(mismatch.status, StatusCode::NOT_FOUND);
    let unknown = app.get("/api/partner-gateway/v1/messages/status/zzz?channel=SMS").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let missing_channel = app.get("/api/partner-gateway/v1/messages/status/a").await;
    assert_eq!(missing_channel.status, StatusCode::BAD_REQUEST, "the seed platform's 400 for invalid requests");
    assert_eq!(missing_channel.body["status"], 400, "a seed-style error body: {missing_channel:?}");
    assert!(
        missing_channel.body["message"].as_str().unwrap().to_lowercase().contains("channel"),
        "{missing_channel:?}"
    );
    let batch = app.get("/api/partner-gateway/v1/messages/status?ids=a,b,zzz&channel=SMS").await;
    let mut ids: Vec<String> =
        batch.body.as_array().unwrap().iter().map(|s| s["customerMessageId"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    assert_eq!(ids, vec!["a", "b"]);
    let none = app.get("/api/partner-gateway/v1/messages/status?ids=zzz&channel=SMS").await;
    assert_eq!(none.body, json!([]));
    let other = app.other_account_key().await;
    let hidden =
        app.call_as(&other, reqwest::Method::GET, "/api/partner-gateway/v1/messages/status/a?channel=SMS", None).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
}

async fn dental_reminder_reply_threads(app: TestApp) {
    let rcs = app.channel("rcs", "+393209998811", true).await;
    top_up(&app, 1000).await;
    let reminder = app
        .post(
            "/api/message-server/rcs/send",
            json!({"destination": "+39 347 123 4567", "agentId": rcs,
                   "body": {"type": "TEXT", "body": {"text": "Gentile {name}, le ricordiamo la visita di domani alle 10:00. Risponda SI per confermare."}},
                   "placeholders": {"name": "Sig.ra Rossi"}, "messageId": "remind-42"}),
        )
        .await;
    assert_eq!(reminder.body["results"]["rcs"]["accepted"], true, "{reminder:?}");
    app.drain_jobs().await;
    let answer = app.inbound(rcs, "+393471234567", "Anna Rossi", "SI, confermo").await;
    let conversations = app.get("/api/v1/conversations").await;
    assert_eq!(conversations.body["total"], 1);
    assert_eq!(answer["conversation"]["id"], conversations.body["data"][0]["id"]);
    let thread = app.get(&format!("/api/v1/conversations/{}/messages", answer["conversation"]["id"])).await;
    let texts: Vec<Value> = thread.body["data"].as_array().unwrap().iter().map(|m| m["text"].clone()).collect();
    assert!(texts.contains(&json!(
        "Gentile Sig.ra Rossi, le ricordiamo la visita di domani alle 10:00. Risponda SI per confermare."
    )));
    assert!(texts.contains(&json!("SI, confermo")));
}

async fn subscription_credit_top_up_and_cli(app: TestApp) {
    let empty = app.get("/api/v1/partner-gateway/subscription/credit").await;
    assert_eq!(empty.body, json!({"credit": 0.0, "frozenCredit": 0.0, "availableCredit": 0.0}));
    top_up(&app, 10_324).await;
    parley::cli::top_up_credit(app.state.config.store.clone(), 1, 1000, Some("CLI".into())).await.unwrap();
    let credit = app.get("/api/v1/partner-gateway/subscription/credit").await;
    assert_eq!(credit.status, StatusCode::OK);
    assert!(credit.headers.contains_key("x-ratelimit-remaining"), "the dialect's rate-limit headers: {credit:?}");
    let basic = app
        .client
        .get(format!("{}/api/v1/partner-gateway/subscription/credit", app.base))
        .basic_auth("admin@example.com", Some("correct horse battery"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK, "operators sign in with Basic auth on the seed's routes");
    assert_eq!(credit.body["credit"], 11.324);
    assert_eq!(credit.body["availableCredit"], 11.324);
    assert_eq!(credit.body["frozenCredit"], 0.0);
    let alias = app.get("/api/partner-gateway/v1/subscription/credit").await;
    assert_eq!(alias.body, credit.body, "the path under the dialect's base answers too");
    let ledger = app.get("/api/v1/credit/ledger").await.body["data"].clone();
    assert_eq!(ledger[0]["reason"], "CLI");
    assert_eq!(ledger[0]["balance_after"], 11_324);
    let unauthenticated =
        app.call_as("nope", reqwest::Method::GET, "/api/v1/partner-gateway/subscription/credit", None).await;
    assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);

    // Only the installation's own account tops up; another account cannot give itself credit.
    let other = app.other_account_key().await;
    let body = json!({"amount": 5_000});
    let refused = app.call_as(&other, reqwest::Method::POST, "/api/v1/credit/top-ups", Some(body)).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "installation_admin_only");
    let their_credit = app.call_as(&other, reqwest::Method::GET, "/api/v1/credit", None).await;
    assert_eq!(their_credit.body["credit"], 0);
    let granted = app.post("/api/v1/credit/top-ups", json!({"account_id": 2, "amount": 5_000})).await;
    assert_eq!(granted.status, StatusCode::CREATED, "{granted:?}");
    let their_credit = app.call_as(&other, reqwest::Method::GET, "/api/v1/credit", None).await;
    assert_eq!(their_credit.body["credit"], 5_000);
    assert_field_error(&app.post("/api/v1/credit/top-ups", json!({"account_id": 99, "amount": 1})).await, "account_id");
}

crate::backend_tests!(
    with PRICES;
    sends_on_each_channel_kind,
    failed_sends_are_refunded,
    refusals_send_and_debit_nothing,
    native_api_answers_402_and_422,
    simulation_spends_nothing_and_ends_delivered,
    status_polling_single_batch_and_channel_mismatch,
    dental_reminder_reply_threads,
    subscription_credit_top_up_and_cli,
);
