//! The contract every channel adapter keeps, run for each Meta network against the shared Graph
//! stand-in: a signed webhook becomes one message (a repeat adds nothing); a reply becomes the
//! network's request body at its path with the channel's token; the network's "outside the window"
//! refusal fails the message with `reply_window_expired`; throttling is retried until accepted. A
//! network that joins the registry adds one entry to [`networks`].

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::meta_graph::Graph;

/// What the contract needs to know of one network.
struct Network {
    kind: &'static str,
    /// The channel's settings for the stand-in at this base URL.
    settings: fn(&str) -> Value,
    /// The webhook body of a customer text (message id, text), signed with [`APP_SECRET`].
    inbound: fn(&str, &str) -> Value,
    /// The path and body the network's API expects for a text reply.
    reply: (&'static str, fn(&str) -> Value),
    /// The token the API is called with.
    token: &'static str,
    /// The error answer (status, code, subcode) the network gives outside its reply window.
    window_error: (u16, i64, Option<i64>),
    /// The error answer that means "slow down".
    throttled: (u16, i64),
}

const APP_SECRET: &str = "contract-app-secret";
const CUSTOMER_PHONE: &str = "16505550123";
const CUSTOMER_ID: &str = "7000000000000001";

fn now_ms() -> i64 {
    parley::domain::time::now_ms()
}

fn networks() -> Vec<Network> {
    vec![
        Network {
            kind: "whatsapp",
            settings: |base| {
                json!({"phone_number_id": "1111", "app_secret": APP_SECRET, "verify_token": "v",
                    "access_token": "wa-token", "graph_base_url": base})
            },
            inbound: |id, text| {
                json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages",
                    "value": {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1111"},
                        "contacts": [{"wa_id": CUSTOMER_PHONE, "profile": {"name": "Ann"}}],
                        "messages": [{"from": CUSTOMER_PHONE, "id": id, "timestamp": (now_ms() / 1000).to_string(),
                            "type": "text", "text": {"body": text}}]}}]}]})
            },
            reply: ("/v21.0/1111/messages", |text| {
                json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER_PHONE,
                    "type": "text", "text": {"preview_url": false, "body": text}})
            }),
            token: "wa-token",
            window_error: (400, 131047, None),
            throttled: (400, 130429),
        },
        Network {
            kind: "messenger",
            settings: |base| {
                json!({"page_id": "2222", "app_secret": APP_SECRET, "verify_token": "v",
                    "page_access_token": "page-token", "graph_base_url": base})
            },
            inbound: |id, text| messaging("page", "2222", id, text),
            reply: (
                "/v21.0/2222/messages",
                |text| json!({"recipient": {"id": CUSTOMER_ID}, "messaging_type": "RESPONSE", "message": {"text": text}}),
            ),
            token: "page-token",
            window_error: (400, 10, Some(2018278)),
            throttled: (400, 613),
        },
        Network {
            kind: "instagram",
            settings: |base| {
                json!({"instagram_account_id": "3333", "app_secret": APP_SECRET, "verify_token": "v",
                    "access_token": "ig-token", "graph_base_url": base})
            },
            inbound: |id, text| messaging("instagram", "3333", id, text),
            reply: (
                "/v21.0/3333/messages",
                |text| json!({"recipient": {"id": CUSTOMER_ID}, "messaging_type": "RESPONSE", "message": {"text": text}}),
            ),
            token: "ig-token",
            window_error: (400, 10, Some(2018278)),
            throttled: (400, 4),
        },
    ]
}

/// A Messenger Platform text from the customer to `owner`.
fn messaging(object: &str, owner: &str, id: &str, text: &str) -> Value {
    json!({"object": object, "entry": [{"id": owner, "time": now_ms(), "messaging": [{
        "sender": {"id": CUSTOMER_ID}, "recipient": {"id": owner}, "timestamp": now_ms(),
        "message": {"mid": id, "text": text}}]}]})
}

async fn post_signed(app: &TestApp, kind: &str, body: &Value) -> Reply {
    let bytes = body.to_string().into_bytes();
    let request = app
        .client
        .post(format!("{}/hooks/{kind}", app.base))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", crate::whatsapp::sign_with(APP_SECRET, &bytes))
        .body(bytes);
    Reply::of(request.send().await.unwrap()).await
}

async fn message(app: &TestApp, conversation: i64, id: i64) -> Value {
    let page = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
    page.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().expect("message listed")
}

async fn reply(app: &TestApp, conversation: i64, text: &str) -> i64 {
    let sent = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": text})).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    sent.body["id"].as_i64().unwrap()
}

async fn every_network_keeps_the_channel_contract(app: TestApp) {
    let graph = Graph::start().await;
    for network in networks() {
        let kind = network.kind;
        let body =
            json!({"kind": kind, "name": kind, "address": "+15550001111", "settings": (network.settings)(&graph.base)});
        let created = app.post("/api/v1/channels", body).await;
        assert_eq!(created.status, StatusCode::CREATED, "{kind}: {created:?}");
        let channel = created.body["id"].as_i64().unwrap();

        // Webhook → one message, however often it is delivered.
        let inbound = (network.inbound)(&format!("{kind}-in-1"), "Hello");
        for _ in 0..2 {
            let answer = post_signed(&app, kind, &inbound).await;
            assert_eq!(answer.status, StatusCode::OK, "{kind}: {answer:?}");
        }
        let list = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
        let conversation = list.body["data"][0]["id"].as_i64().unwrap_or_else(|| panic!("{kind}: {list:?}"));
        let page = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
        assert_eq!(page.body["total"], 1, "{kind}: {page:?}");
        assert_eq!(page.body["data"][0]["text"], "Hello", "{kind}");
        app.drain_jobs().await;

        // Content → the network's request body, at its path, with the channel's token.
        let id = reply(&app, conversation, "Hi there").await;
        app.drain_jobs().await;
        let sent = graph.last_send();
        assert_eq!(sent.path, network.reply.0, "{kind}");
        assert_eq!(sent.body, (network.reply.1)("Hi there"), "{kind}");
        assert_eq!(sent.authorization, Some(format!("Bearer {}", network.token)), "{kind}");
        assert_eq!(message(&app, conversation, id).await["status"], "sent", "{kind}");

        // Provider errors → outcomes.
        let (status, code, subcode) = network.window_error;
        graph.fail_next_with(status, code, subcode);
        let id = reply(&app, conversation, "Late").await;
        app.drain_jobs().await;
        let failed = message(&app, conversation, id).await;
        assert_eq!(
            (failed["status"].as_str(), failed["error"]["code"].as_str()),
            (Some("failed"), Some("reply_window_expired")),
            "{kind}"
        );
        let (status, code) = network.throttled;
        graph.fail_next(status, code);
        let id = reply(&app, conversation, "Again").await;
        app.drain_jobs().await;
        assert_eq!(message(&app, conversation, id).await["status"], "queued", "{kind}: throttling is retried");
        sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
        app.drain_jobs().await;
        assert_eq!(message(&app, conversation, id).await["status"], "sent", "{kind}");
    }
}

crate::backend_tests!(every_network_keeps_the_channel_contract);
