//! The seed platform's complete sends on RCS and SMS, against the RBM and Twilio stand-ins: seed
//! 000's flow on RCS (inbound → list → reply with a card → DELIVERED/READ → archive), cards,
//! carousels and suggestions in the seed's shapes, RCS templates, SMS fallback (a number RCS
//! cannot reach, a message revoked at its time to live, `maxSmsParts`), scheduled sends and their
//! cancellation, and credit reserved, debited, released and charged per SMS part.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::rbm_api::{RbmApi, AGENT};
use crate::rcs::{deliver, delivered_and_read, user_message};
use crate::twilio_api::TwilioApi;
use crate::whatsapp::message;

const CUSTOMER: &str = "+393331234567";
const NO_RCS: &str = "+393470000000";
const PRICES: &[&str] = &["--credit-prices", "sms=70,rcs=40"];

async fn credit(app: &TestApp) -> (i64, i64) {
    let credit = app.get("/api/v1/credit").await.body;
    (credit["available"].as_i64().unwrap(), credit["frozen"].as_i64().unwrap())
}

async fn send(app: &TestApp, kind: &str, body: Value) -> Value {
    let reply = app.post(&format!("/api/message-server/{kind}/send"), body).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["results"][kind]["accepted"], true, "{reply:?}");
    reply.body
}

/// A message by the caller's id on a channel kind (`RCS`, `SMS`).
async fn by_customer_id(app: &TestApp, kind: &str, id: &str) -> parley::store::messages::MessageRow {
    let found = parley::service::messages::find_by_customer_ids(&app.state, 1, kind, &[id.to_owned()]).await.unwrap();
    found.into_iter().next().unwrap_or_else(|| panic!("no {kind} message {id}")).1
}

async fn delivery_status(app: &TestApp, id: &str, channel: &str) -> Value {
    app.get(&format!("/api/partner-gateway/v1/messages/status/{id}?channel={channel}")).await.body
}

async fn seed_000_on_rcs(app: TestApp) {
    let api = RbmApi::start().await;
    let channel = crate::rcs::channel_on(&app, &api).await;
    assert_eq!(app.post("/api/v1/credit/top-ups", json!({"amount": 1000})).await.status, StatusCode::CREATED);
    deliver(&app, user_message("MxWalk1", json!({"text": "Buongiorno, il mio ordine ORD-1584?"}))).await;
    let listed = app.get("/api/partner-gateway/v1/inbox/conversations").await;
    let item = listed.body.as_array().unwrap().iter().find(|c| c["phoneNumber"] == CUSTOMER).unwrap().clone();
    assert_eq!(item["socialMedia"], "RCS", "{item}");
    assert_eq!(item["unreadCount"], 1);

    // The reply is a card with suggestions, in the seed's shapes.
    let card = json!({"destination": CUSTOMER, "agentId": AGENT, "messageId": "walk-card",
        "body": {"type": "CARD", "body": {"title": "Ordine {order}", "description": "In consegna domani",
            "mediaUrl": "https://example.com/pacco.jpg", "mediaHeight": "MEDIUM", "orientation": "VERTICAL",
            "suggestions": [{"type": "reply", "text": "Grazie", "postbackData": "thanks"},
                {"type": "url", "text": "Traccia", "url": {"url": "https://example.com/track/1584"}},
                {"type": "dial", "text": "Chiama", "dial": {"phoneNumber": "+390212345678"}}]}},
        "placeholders": {"order": "ORD-1584"}});
    send(&app, "rcs", card).await;
    app.drain_jobs().await;
    let sent = api.calls("agentMessages").pop().unwrap();
    assert_eq!(
        sent.body["contentMessage"]["richCard"]["standaloneCard"],
        json!({"cardOrientation": "VERTICAL", "cardContent": {"title": "Ordine ORD-1584", "description": "In consegna domani",
            "media": {"height": "MEDIUM", "contentInfo": {"fileUrl": "https://example.com/pacco.jpg", "forceRefresh": false}},
            "suggestions": [{"reply": {"text": "Grazie", "postbackData": "thanks"}},
                {"action": {"text": "Traccia", "postbackData": "Traccia", "openUrlAction": {"url": "https://example.com/track/1584"}}},
                {"action": {"text": "Chiama", "postbackData": "Chiama", "dialAction": {"phoneNumber": "+390212345678"}}}]}})
    );
    let row = by_customer_id(&app, "rcs", "walk-card").await;
    assert_eq!(row.conversation_id, item["id"].as_i64().unwrap(), "the reply joined the customer's conversation");
    assert_eq!(delivery_status(&app, "walk-card", "RCS").await["deliveryStatus"], "SENT");
    let id = row.provider_message_id.unwrap();
    delivered_and_read(&app, &id).await;
    let polled = delivery_status(&app, "walk-card", "RCS").await;
    assert_eq!(
        (polled["deliveryStatus"].as_str(), polled["deliveryStatusDescription"].as_str()),
        (Some("DELIVERED"), Some("Read"))
    );
    // The customer taps a suggestion: it arrives as their answer.
    deliver(
        &app,
        user_message(
            "MxWalk2",
            json!({"suggestionResponse": {"postbackData": "thanks", "text": "Grazie", "type": "REPLY"}}),
        ),
    )
    .await;
    assert_eq!(
        message(&app, channel, "MxWalk2").await.unwrap()["payload"]["suggestion_response"]["postback_data"],
        "thanks"
    );
    let archive = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/partner-gateway/v1/inbox/conversations/{}/archive", item["id"]),
            None,
        )
        .await;
    assert_eq!(archive.status, StatusCode::NO_CONTENT, "{archive:?}");
    let listed = app.get("/api/partner-gateway/v1/inbox/conversations").await;
    assert!(
        listed.body.as_array().unwrap().iter().all(|c| c["id"] != item["id"]),
        "archived conversations leave the list"
    );

    // A carousel of the seed's cards.
    let carousel = json!({"destination": CUSTOMER, "agentId": AGENT, "body": {"type": "CAROUSEL", "body": {"cardWidth": "SMALL",
        "cards": [{"title": "Scarpe", "mediaUrl": "https://example.com/s.jpg", "mediaHeight": "SHORT",
                   "suggestions": [{"type": "coordinates", "text": "Negozio", "coordinates": {"latitude": 45.46, "longitude": 9.19, "label": "Milano"}}]},
                  {"title": "Borse", "suggestions": [{"type": "calendar", "text": "Saldi", "calendar": {"title": "Saldi",
                      "startTime": "2027-01-07T09:00:00Z", "endTime": "2027-01-07T19:00:00Z"}}, {"type": "location", "text": "Dove sei?"}]}]}}});
    send(&app, "rcs", carousel).await;
    app.drain_jobs().await;
    let sent = api.calls("agentMessages").pop().unwrap();
    let cards = &sent.body["contentMessage"]["richCard"]["carouselCard"];
    assert_eq!(cards["cardWidth"], "SMALL");
    assert_eq!(
        cards["cardContents"][0]["suggestions"][0]["action"]["viewLocationAction"],
        json!({"latLong": {"latitude": 45.46, "longitude": 9.19}, "label": "Milano"})
    );
    assert_eq!(
        cards["cardContents"][1]["suggestions"][0]["action"]["createCalendarEventAction"]["startTime"],
        "2027-01-07T09:00:00Z"
    );
    assert_eq!(cards["cardContents"][1]["suggestions"][1]["action"]["shareLocationAction"], json!({}));

    // Bad shapes are refused with the field, and nothing is sent.
    let before = api.calls("agentMessages").len();
    for (body, field) in [
        (json!({"type": "CAROUSEL", "body": {"cards": [{"title": "One"}]}}), "cards"),
        (json!({"type": "CARD", "body": {"description": "no title"}}), "title"),
        (json!({"type": "POSTER", "body": {}}), "type"),
        (json!({"type": "TEXT", "body": {"text": "x", "suggestions": [{"type": "dial", "text": "Call"}]}}), "dial"),
    ] {
        let reply = app.post("/api/message-server/rcs/send", json!({"destination": CUSTOMER, "body": body})).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
        assert!(reply.body["message"].as_str().unwrap().contains(field), "{field}: {reply:?}");
    }
    assert_eq!(api.calls("agentMessages").len(), before);
}

async fn templates_fallback_scheduling_and_credit(app: TestApp) {
    let rbm = RbmApi::start().await;
    crate::rcs::channel_on(&app, &rbm).await;
    let twilio = TwilioApi::start().await;
    crate::twilio::channel_on(&app, &twilio).await;
    rbm.not_capable(NO_RCS);
    let top = app.post("/api/v1/credit/top-ups", json!({"amount": 1000})).await;
    assert_eq!(top.status, StatusCode::CREATED, "{top:?}");

    // RCS templates: create, list, replace, refuse a bad one, send by id with placeholders.
    let template = json!({"name": "order_ready", "description": "The order can be collected", "type": "CARD",
        "body": {"title": "Ciao {name}", "description": "Il tuo ordine è pronto",
            "suggestions": [{"type": "reply", "text": "Arrivo", "postbackData": "coming"}],
            "fallbackSms": {"sender": "+15005550006", "text": "Ciao {name}, il tuo ordine è pronto"}}});
    let created = app.post("/api/message-server/rcs/templates", template.clone()).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_i64().unwrap();
    assert_eq!(app.get("/api/message-server/rcs/templates").await.body.as_array().map(Vec::len), Some(1));
    let taken = app.post("/api/message-server/rcs/templates", template.clone()).await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{taken:?}");
    let bad = app
        .post(
            "/api/message-server/rcs/templates",
            json!({"name": "x", "description": "y", "type": "CAROUSEL", "body": {"cards": []}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{bad:?}");
    let mut replaced = template.clone();
    replaced["description"] = json!("Ready for pickup");
    let put = app.call(reqwest::Method::PUT, &format!("/api/message-server/rcs/templates/{id}"), Some(replaced)).await;
    assert_eq!((put.status, put.body["description"].as_str()), (StatusCode::OK, Some("Ready for pickup")), "{put:?}");
    send(
        &app,
        "rcs",
        json!({"destination": CUSTOMER, "templateId": id, "placeholders": {"name": "Anna"}, "messageId": "tpl-1"}),
    )
    .await;
    assert_eq!(credit(&app).await, (960, 40), "an RCS send reserves its price");
    app.drain_jobs().await;
    assert_eq!(credit(&app).await, (960, 0), "and is debited once RBM takes it");
    let card = rbm.calls("agentMessages").pop().unwrap().body;
    assert_eq!(card["contentMessage"]["richCard"]["standaloneCard"]["cardContent"]["title"], "Ciao Anna");

    // Revoked at its time to live: the template's fallback SMS goes out instead (charged per part).
    let revoked = by_customer_id(&app, "rcs", "tpl-1").await;
    deliver(
        &app,
        json!({"phoneNumber": CUSTOMER, "messageId": revoked.provider_message_id, "agentId": AGENT,
        "eventType": "TTL_EXPIRATION_REVOKED", "eventId": "EvTtl1", "sendTime": "2026-11-26T11:00:00Z"}),
    )
    .await;
    app.drain_jobs().await;
    let failed = by_customer_id(&app, "rcs", "tpl-1").await;
    assert_eq!((failed.status.as_deref(), failed.error_code.as_deref()), (Some("failed"), Some("ttl_expired")));
    let sms = by_customer_id(&app, "sms", "tpl-1").await;
    let recorded: Value = serde_json::from_str(&failed.payload).unwrap();
    assert_eq!(recorded["fallback_to"], json!({"message_id": sms.id, "channel": "sms"}));
    assert_eq!(twilio.received().last().unwrap().param("Body"), Some("Ciao Anna, il tuo ordine è pronto"));
    assert_eq!(delivery_status(&app, "tpl-1", "SMS").await["deliveryStatus"], "SENT");
    assert_eq!(credit(&app).await, (930, 0), "RCS was debited before the revoke: refunded; the SMS costs 70");

    // A number RCS cannot reach, with maxSmsParts: one part goes out as SMS, three do not.
    send(&app, "rcs", json!({"destination": NO_RCS, "body": {"type": "TEXT", "body": {"text": "Promo di oggi"}}, "maxSmsParts": 1, "messageId": "fb-1"})).await;
    app.drain_jobs().await;
    assert_eq!(by_customer_id(&app, "rcs", "fb-1").await.error_code.as_deref(), Some("not_rcs_capable"));
    assert_eq!(twilio.received().last().unwrap().param("Body"), Some("Promo di oggi"));
    assert_eq!(twilio.received().last().unwrap().param("To"), Some(NO_RCS));
    assert_eq!(credit(&app).await, (860, 0), "the refused RCS was released, the SMS debited");
    let long = "Una promozione lunghissima ".repeat(12);
    send(&app, "rcs", json!({"destination": NO_RCS, "body": {"type": "TEXT", "body": {"text": long}}, "maxSmsParts": 1, "messageId": "fb-2"})).await;
    app.drain_jobs().await;
    let kept: Value = serde_json::from_str(&by_customer_id(&app, "rcs", "fb-2").await.payload).unwrap();
    assert!(kept["fallback_to"]["error"].as_str().unwrap().contains("3 SMS parts"), "{kept}");
    assert_eq!(credit(&app).await, (860, 0));
    // sendingMode names the chain; it starts with the sending channel.
    let wrong = app
        .post(
            "/api/message-server/rcs/send",
            json!({"destination": CUSTOMER, "body": "x", "sendingMode": "WHATSAPP_SMS"}),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST, "{wrong:?}");
    send(
        &app,
        "rcs",
        json!({"destination": NO_RCS, "body": "Ultimo avviso", "sendingMode": "RCS_SMS", "messageId": "fb-3"}),
    )
    .await;
    app.drain_jobs().await;
    assert_eq!(delivery_status(&app, "fb-3", "SMS").await["deliveryStatus"], "SENT");

    // A scheduled send waits, reserved; canceled, it is never sent and its credit comes back.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).format("%Y-%m-%d %H:%M:%S%.3f%z").to_string();
    let sent_before = twilio.received().len();
    send(&app, "sms", json!({"destination": CUSTOMER, "body": "Promemoria: domani alle 9", "scheduledDate": later, "messageId": "later-1"})).await;
    app.drain_jobs().await;
    assert_eq!(by_customer_id(&app, "sms", "later-1").await.status.as_deref(), Some("scheduled"));
    assert_eq!(twilio.received().len(), sent_before, "not sent before its time");
    let (available, frozen) = credit(&app).await;
    assert_eq!(frozen, 70);
    let cancel = app.delete("/api/message-server/messages/later-1").await;
    assert_eq!(cancel.status, StatusCode::NO_CONTENT, "{cancel:?}");
    assert_eq!(credit(&app).await, (available + 70, 0));
    assert_eq!(delivery_status(&app, "later-1", "SMS").await["deliveryStatus"], "ERROR");
    assert_eq!(app.delete("/api/message-server/messages/later-1").await.status, StatusCode::CONFLICT);
    // A canceled message does not fall back either.
    send(&app, "rcs", json!({"destination": NO_RCS, "body": "Domani", "maxSmsParts": 2, "scheduledDate": later, "messageId": "later-rcs"})).await;
    assert_eq!(app.delete("/api/message-server/messages/later-rcs").await.status, StatusCode::NO_CONTENT);
    app.drain_jobs().await;
    assert_eq!(twilio.received().len(), sent_before, "nothing went out as SMS");
    // One that falls due goes out; a long SMS costs per part.
    let two_parts = "Gentile cliente, ".repeat(10);
    send(
        &app,
        "sms",
        json!({"destination": CUSTOMER, "body": two_parts, "scheduledDate": later, "messageId": "later-2"}),
    )
    .await;
    assert_eq!(credit(&app).await.1, 140, "two parts reserve twice the price");
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
    app.drain_jobs().await;
    assert_eq!(delivery_status(&app, "later-2", "SMS").await["deliveryStatus"], "SENT");
    assert_eq!(twilio.received().len(), sent_before + 1);
    let bad_date = app
        .post(
            "/api/message-server/sms/send",
            json!({"destination": CUSTOMER, "body": "x", "scheduledDate": "tomorrow"}),
        )
        .await;
    assert_eq!(bad_date.status, StatusCode::BAD_REQUEST, "{bad_date:?}");

    let gone = app.delete(&format!("/api/message-server/rcs/templates/{id}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/message-server/rcs/templates/{id}")).await.status, StatusCode::NOT_FOUND);
}

crate::backend_tests!(with PRICES; seed_000_on_rcs, templates_fallback_scheduling_and_credit);
