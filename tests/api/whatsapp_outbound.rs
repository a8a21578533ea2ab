//! WhatsApp outbound against a local Graph API stand-in: every message type's request body, the
//! bearer token, the round trip inbound → reply → statuses, Meta's error codes, read receipts and
//! each business number's own send pace.

use std::time::{Duration, Instant};

use axum::http::Method;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
pub use crate::meta_graph::{Graph, Received};
use crate::whatsapp::{deliver, message, statuses, webhook, whatsapp_channel, PHONE_NUMBER_ID, USER};

const TOKEN: &str = "EAAG-access-token";
const INBOUND: &str = "wamid.inbound-1";

/// A customer text from `USER` written just now (so the 24-hour window is open).
fn text_message(phone_number_id: &str, id: &str, body: &str) -> Value {
    let now = (parley::domain::time::now_ms() / 1000).to_string();
    webhook(
        phone_number_id,
        "messages",
        json!({"contacts": [{"profile": {"name": "Ann"}, "wa_id": USER}],
               "messages": [{"from": USER, "id": id, "timestamp": now, "type": "text", "text": {"body": body}}]}),
    )
}

/// A live WhatsApp channel with `phone_number_id` whose Graph API is the stand-in.
pub async fn channel(app: &TestApp, graph: &Graph, phone_number_id: &str) -> i64 {
    let id = whatsapp_channel(app, phone_number_id).await;
    let reply = app.patch(&format!("/api/v1/channels/{id}"), json!({"settings": {"graph_base_url": graph.base}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    id
}

/// A live channel, a customer message on it (the 24-hour window opens) and its conversation id.
async fn setup(app: &TestApp) -> (Graph, i64, i64) {
    let graph = Graph::start().await;
    let channel = channel(app, &graph, PHONE_NUMBER_ID).await;
    deliver(app, &text_message(PHONE_NUMBER_ID, INBOUND, "Hello")).await;
    let conversation = conversation_of(app, channel).await;
    (graph, channel, conversation)
}

async fn conversation_of(app: &TestApp, channel: i64) -> i64 {
    let reply = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
    reply.body["data"][0]["id"].as_i64().unwrap_or_else(|| panic!("a conversation on {channel}: {reply:?}"))
}

async fn send(app: &TestApp, conversation: i64, body: Value) -> Value {
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body.clone()).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?} for {body}");
    reply.body
}

async fn stored_message(app: &TestApp, conversation: i64, id: i64) -> Value {
    let reply = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
    reply.body["data"].as_array().unwrap().iter().find(|m| m["id"] == id).cloned().expect("message listed")
}

fn fixture(n: u32) -> Value {
    let path = format!(
        "{}/tests/fixtures/whatsapp/whatsapp-business-java-api/expectedMessage{n}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Makes every waiting job due now (instead of waiting out its backoff).
async fn make_jobs_due(app: &TestApp) {
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
}

async fn outbound_bodies_are_metas(app: TestApp) {
    let (graph, channel, conversation) = setup(&app).await;
    // The Java SDK's serialisations: each is sent through Parley and must arrive as Meta's shape
    // (lowercase interactive types), addressed to the customer.
    for n in [1, 2, 5, 6, 7, 10, 11, 12, 13, 14] {
        let mut expected = fixture(n);
        expected["to"] = json!(USER);
        let kind = expected["type"].as_str().unwrap().to_owned();
        let request = match kind.as_str() {
            "text" => json!({"text": expected["text"]["body"]}),
            _ => json!({"payload": {kind.clone(): expected[&kind]}}),
        };
        if let Some(kind) = expected["interactive"]["type"].as_str().map(str::to_ascii_lowercase) {
            expected["interactive"]["type"] = json!(kind);
        }
        if kind == "template" {
            register_template(&app, channel, &expected["template"]).await;
        }
        let sent = send(&app, conversation, request).await;
        assert_eq!(sent["type"], json!(kind), "{sent}");
        app.drain_jobs().await;
        let received = graph.last();
        assert_eq!(
            (&received.method, received.path.as_str()),
            (&Method::POST, format!("/v21.0/{PHONE_NUMBER_ID}/messages").as_str())
        );
        assert_eq!(received.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
        assert_eq!(received.body, expected, "expectedMessage{n}.json");
    }

    // Replies quote the customer's message; reactions name it by its Parley id.
    let inbound = message(&app, channel, INBOUND).await.unwrap();
    let inbound_id = inbound["id"].as_i64().unwrap();
    send(&app, conversation, json!({"text": "Sure", "reply_to": inbound_id})).await;
    app.drain_jobs().await;
    assert_eq!(
        graph.last().body,
        json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": USER,
               "context": {"message_id": INBOUND}, "type": "text", "text": {"preview_url": false, "body": "Sure"}})
    );
    send(&app, conversation, json!({"payload": {"reaction": {"message_id": inbound_id, "emoji": "👍"}}})).await;
    app.drain_jobs().await;
    assert_eq!(graph.last().body["reaction"], json!({"message_id": INBOUND, "emoji": "👍"}));

    // Media: an uploaded Graph media id with a caption, a link with a file name, and a file from
    // Parley's media store (sent as a signed link Meta can fetch).
    send(&app, conversation, json!({"text": "Your invoice", "payload": {"image": {"id": "1234567890"}}})).await;
    app.drain_jobs().await;
    assert_eq!(graph.last().body["image"], json!({"id": "1234567890", "caption": "Your invoice"}));
    let document = json!({"link": "https://example.com/invoice.pdf", "filename": "invoice.pdf"});
    send(&app, conversation, json!({"payload": {"document": document}})).await;
    app.drain_jobs().await;
    assert_eq!(graph.last().body["type"], "document");
    assert_eq!(graph.last().body["document"], document);
    let key = crate::media::upload_png(&app).await["key"].as_str().unwrap().to_owned();
    send(&app, conversation, json!({"text": "Photo", "media_keys": [key]})).await;
    app.drain_jobs().await;
    let body = graph.last().body;
    assert_eq!(body["type"], "image");
    assert_eq!(body["image"]["caption"], "Photo");
    let link = body["image"]["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/media/{key}?expires=", app.base)), "{link}");
    assert_eq!(app.client.get(link).send().await.unwrap().status(), StatusCode::OK, "Meta can fetch it");

    // Payloads are checked before anything is queued.
    for (body, field) in [
        (json!({"payload": {"location": {"latitude": "north"}}}), "payload.location.latitude"),
        (json!({"payload": {"interactive": {"action": {}}}}), "payload.interactive.type"),
        (json!({"payload": {"template": {"language": "en_US"}}}), "payload.template.name"),
        (json!({"payload": {"image": {"caption": "x"}}}), "payload.image.id"),
        (json!({"payload": {"poll": {}}}), "payload.poll"),
        (json!({"text": "x", "reply_to": 999999}), "reply_to"),
    ] {
        let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
        assert_field_error(&reply, field);
    }
}

/// Creates a local template that a template message in Meta's send shape fits: as many
/// placeholders as it gives parameters, a media header when it sends media.
async fn register_template(app: &TestApp, channel: i64, sent: &Value) {
    let mut components = Vec::new();
    for component in sent["components"].as_array().unwrap() {
        let parameters = component["parameters"].as_array().unwrap();
        let text: Vec<String> = (1..=parameters.len()).map(|n| format!("{{{{{n}}}}}")).collect();
        match component["type"].as_str().unwrap() {
            "header" if parameters[0]["type"] != "text" => components.push(
                json!({"type": "HEADER", "format": parameters[0]["type"].as_str().unwrap().to_ascii_uppercase()}),
            ),
            "header" => components.push(json!({"type": "HEADER", "format": "TEXT", "text": text.join(" ")})),
            "body" => components.push(json!({"type": "BODY", "text": format!("Hello {}", text.join(", "))})),
            _ => {}
        }
    }
    let body = json!({"name": sent["name"], "language": sent["language"]["code"], "category": "UTILITY",
                      "components": components});
    let reply = app.post(&format!("/api/v1/channels/{channel}/templates"), body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(reply.body["status"], "APPROVED", "local templates are approved at once");
}

async fn templates_crud_sync_status_and_sending(app: TestApp) {
    let (graph, channel, conversation) = setup(&app).await;
    let path = format!("/api/v1/channels/{channel}/templates");

    // Local templates (no waba_id): approved at once.
    let body = json!({"name": "welcome", "language": "en_US", "category": "UTILITY",
                      "components": [{"type": "BODY", "text": "Welcome {{1}}!"}]});
    let reply = app.post(&path, body.clone()).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let id = reply.body["id"].as_i64().unwrap();
    assert_eq!(reply.body["status"], "APPROVED");
    assert_problem(&app.post(&path, body).await, StatusCode::CONFLICT, "template_exists");
    assert_field_error(
        &app.post(&path, json!({"name": "Bad Name", "language": "en", "category": "UTILITY", "components": []})).await,
        "name",
    );
    assert_eq!(app.get(&format!("{path}/{id}")).await.body["name"], "welcome");
    assert_eq!(app.get(&path).await.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(app.delete(&format!("{path}/{id}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("{path}/{id}")).await.status, StatusCode::NOT_FOUND);
    assert_problem(
        &app.post(&format!("{path}/sync"), json!({})).await,
        StatusCode::CONFLICT,
        "template_account_missing",
    );

    // With a business account id: sync from Meta, create through Meta.
    let waba = "102290129340398";
    let reply = app.patch(&format!("/api/v1/channels/{channel}"), json!({"settings": {"waba_id": waba}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = app.post(&format!("{path}/sync"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let synced: Vec<(String, String)> = reply.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(synced, [("order_update".into(), "APPROVED".into()), ("winter_sale".into(), "PENDING".into())]);
    let received = graph.last();
    assert_eq!(
        (received.method, received.path.as_str()),
        (Method::GET, format!("/v21.0/{waba}/message_templates").as_str())
    );
    assert_eq!(received.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    app.post(&format!("{path}/sync"), json!({})).await;
    assert_eq!(app.get(&path).await.body["data"].as_array().unwrap().len(), 2, "sync upserts by name and language");

    let reply = app
        .post(
            &path,
            json!({"name": "shipping", "language": "en_US", "category": "UTILITY",
                            "components": [{"type": "BODY", "text": "Shipped {{1}}"}]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert_eq!(
        (reply.body["status"].as_str(), reply.body["provider_template_id"].as_str()),
        (Some("PENDING"), Some("594425479261596"))
    );
    assert_eq!(graph.last().body["name"], "shipping");

    // Not approved yet: refused. Then Meta approves it by webhook.
    let shipping = json!({"payload": {"template": {"name": "shipping", "language": {"code": "en_US"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "today"}]}]}}});
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), shipping.clone()).await;
    assert_field_error(&reply, "payload.template.name");
    let update = json!({"object": "whatsapp_business_account", "entry": [{"id": waba, "time": 1604703141,
        "changes": [{"field": "message_template_status_update", "value": {"event": "APPROVED",
            "message_template_id": 594425479261596_i64, "message_template_name": "shipping",
            "message_template_language": "en_US", "reason": null}}]}]});
    deliver(&app, &update).await;
    let list = app.get(&path).await.body["data"].clone();
    let shipping_row = list.as_array().unwrap().iter().find(|t| t["name"] == "shipping").unwrap().clone();
    assert_eq!(shipping_row["status"], "APPROVED");

    // Parameter counts are checked against the template before anything leaves.
    for (components, field) in [
        (
            json!([{"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "Mon"}]}]),
            "payload.template.components.header",
        ),
        (
            json!([{"type": "header", "parameters": [{"type": "text", "text": "ORD-1"}]},
                {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]),
            "payload.template.components.body",
        ),
    ] {
        let body =
            json!({"payload": {"template": {"name": "order_update", "language": "en_US", "components": components}}});
        let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
        assert_field_error(&reply, field);
    }
    let unknown = json!({"payload": {"template": {"name": "nope", "language": "en_US"}}});
    assert_field_error(
        &app.post(&format!("/api/v1/conversations/{conversation}/messages"), unknown).await,
        "payload.template.name",
    );

    // The window closes: free text is refused with a template hint, an approved template goes out.
    let reply = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert!(reply.body["window_expires_at"].is_string(), "{reply:?}");
    sqlx::query("UPDATE conversations SET window_expires_at = $1 WHERE id = $2")
        .bind(parley::domain::time::now_ms() - 1000)
        .bind(conversation)
        .execute(app.state.db.writer())
        .await
        .unwrap();
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), json!({"text": "Hi"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "reply_window_expired");
    assert!(reply.body["detail"].as_str().unwrap().contains("template"), "{reply:?}");
    let sent = send(&app, conversation, shipping.clone()).await;
    app.drain_jobs().await;
    let body = graph.last().body;
    assert_eq!(body["type"], "template");
    assert_eq!(body["template"]["name"], "shipping");
    assert_eq!(stored_message(&app, conversation, sent["id"].as_i64().unwrap()).await["status"], "sent");

    // A conversation the business starts opens with a template; free text cannot open one.
    let start = |payload: Value| json!({"channel_id": channel, "to": "+16505550199", "payload": payload});
    let reply =
        app.post("/api/v1/conversations", json!({"channel_id": channel, "to": "+16505550199", "text": "Hi"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "reply_window_expired");
    let reply = app.post("/api/v1/conversations", start(shipping["payload"].clone())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    app.drain_jobs().await;
    assert_eq!(graph.last().body["to"], "16505550199");
    assert_eq!(graph.last().body["type"], "template");
}

async fn round_trip_with_statuses(app: TestApp) {
    let (graph, channel, conversation) = setup(&app).await;
    let sent = send(&app, conversation, json!({"text": "Your order ships today"})).await;
    assert_eq!(sent["status"], "queued");
    app.drain_jobs().await;
    let received = graph.last();
    assert_eq!(received.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(received.body["text"]["body"], "Your order ships today");
    let id = sent["id"].as_i64().unwrap();
    let stored = stored_message(&app, conversation, id).await;
    assert_eq!((stored["status"].as_str(), stored["provider_message_id"].as_str()), (Some("sent"), Some("wamid.1")));

    for (status, expected) in [("delivered", "delivered"), ("read", "read"), ("delivered", "read")] {
        deliver(&app, &statuses("wamid.1", &[json!({"status": status})])).await;
        let stored = message(&app, channel, "wamid.1").await.unwrap();
        assert_eq!(stored["status"], expected, "{stored}");
    }
}

async fn statuses_that_overtake_the_send_are_kept(app: TestApp) {
    let (_graph, _channel, conversation) = setup(&app).await;
    let sent = send(&app, conversation, json!({"text": "Fast network"})).await;
    let id = sent["id"].as_i64().unwrap();
    // Meta reports the status before Parley has recorded the wamid its send answer carries.
    deliver(&app, &statuses("wamid.1", &[json!({"status": "delivered"})])).await;
    assert_eq!(stored_message(&app, conversation, id).await["status"], "queued");
    app.drain_jobs().await;
    let stored = stored_message(&app, conversation, id).await;
    assert_eq!(
        (stored["status"].as_str(), stored["provider_message_id"].as_str()),
        (Some("delivered"), Some("wamid.1"))
    );
    assert!(stored["delivered_at"].is_string(), "{stored}");
}

async fn sends_that_keep_failing_give_up(app: TestApp) {
    let (graph, _channel, conversation) = setup(&app).await;
    graph.fail_next(500, 1);
    let sent = send(&app, conversation, json!({"text": "Anyone there?"})).await;
    let id = sent["id"].as_i64().unwrap();
    app.drain_jobs().await;
    assert_eq!(stored_message(&app, conversation, id).await["status"], "queued", "a 500 is retried");
    // Skip the backoff: the job's next attempt is its last.
    let last = parley::jobs::MAX_SEND_ATTEMPTS - 1;
    sqlx::query(&format!("UPDATE jobs SET attempts = {last}, run_at = 0"))
        .execute(app.state.db.writer())
        .await
        .unwrap();
    graph.fail_next(500, 1);
    app.drain_jobs().await;
    let stored = stored_message(&app, conversation, id).await;
    assert_eq!(
        (stored["status"].as_str(), stored["error"]["code"].as_str()),
        (Some("failed"), Some("retries_exhausted"))
    );
    assert!(stored["error"]["text"].as_str().unwrap().contains("15 attempts"), "{stored}");
}

/// Sends a text while the stand-in answers Meta's error `code`; the message after one job round.
async fn outcome(app: &TestApp, graph: &Graph, conversation: i64, status: u16, code: i64) -> Value {
    graph.fail_next(status, code);
    let sent = send(app, conversation, json!({"text": format!("code {code}")})).await;
    app.drain_jobs().await;
    stored_message(app, conversation, sent["id"].as_i64().unwrap()).await
}

async fn graph_errors_map_to_outcomes(app: TestApp) {
    let (graph, _, conversation) = setup(&app).await;
    let failed = outcome(&app, &graph, conversation, 400, 131047).await;
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("reply_window_expired"))
    );
    let failed = outcome(&app, &graph, conversation, 400, 131026).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("undeliverable")));
    let failed = outcome(&app, &graph, conversation, 400, 131009).await;
    assert_eq!((failed["status"].as_str(), failed["error"]["code"].as_str()), (Some("failed"), Some("131009")));
    assert!(failed["error"]["text"].as_str().unwrap().contains("(#131009) refused"), "{failed}");

    // Throttling and Meta's outages are retried with backoff until Meta accepts.
    for (status, code) in [(400, 130429), (400, 131056), (500, 1), (503, 2)] {
        let queued = outcome(&app, &graph, conversation, status, code).await;
        assert_eq!(queued["status"], "queued", "{code}: retried later, not failed: {queued}");
        let (attempts, error): (i64, Option<String>) =
            sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE kind = 'send_message'")
                .fetch_one(app.state.db.reader())
                .await
                .unwrap();
        assert_eq!(attempts, 1);
        assert!(error.unwrap_or_default().contains("refused"));
        make_jobs_due(&app).await;
        app.drain_jobs().await;
        let sent = stored_message(&app, conversation, queued["id"].as_i64().unwrap()).await;
        assert_eq!(sent["status"], "sent", "{code}: {sent}");
    }
}

async fn reading_a_conversation_sends_a_read_receipt(app: TestApp) {
    let (graph, _, conversation) = setup(&app).await;
    let before = graph.received().len();
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/read"), json!({})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(graph.received().len(), before, "queued as a job, not sent inline");
    app.drain_jobs().await;
    let mut expected = fixture(17);
    expected["message_id"] = json!(INBOUND);
    let received = graph.last();
    assert_eq!(received.body, expected);
    assert_eq!(received.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));

    // Nothing unread: no receipt.
    app.post(&format!("/api/v1/conversations/{conversation}/read"), json!({})).await;
    app.drain_jobs().await;
    assert_eq!(graph.received().len(), before + 1);
}

async fn each_number_has_its_own_pace(app: TestApp) {
    let (graph, busy, busy_conversation) = setup(&app).await;
    let reply = app.patch(&format!("/api/v1/channels/{busy}"), json!({"settings": {"messages_per_second": 2}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = app.patch(&format!("/api/v1/channels/{busy}"), json!({"settings": {"messages_per_second": 0}})).await;
    assert_field_error(&reply, "settings.messages_per_second");
    let other_number = "106540352242923";
    let quiet = channel(&app, &graph, other_number).await;
    deliver(&app, &text_message(other_number, "wamid.other-in", "Hi")).await;
    let quiet_conversation = conversation_of(&app, quiet).await;

    let start = graph.received().len();
    for n in 0..6 {
        send(&app, busy_conversation, json!({"text": format!("busy {n}")})).await;
    }
    send(&app, quiet_conversation, json!({"text": "quiet"})).await;
    parley::jobs::run_once(&app.state).await.unwrap();
    let first_round: Vec<Received> = graph.received().split_off(start);
    assert!(
        first_round.iter().any(|r| r.path.contains(other_number)),
        "the other number's message went out in the first round"
    );
    let busy_first = first_round.iter().filter(|r| r.path.contains(PHONE_NUMBER_ID)).count();
    assert_eq!(busy_first, 2, "a burst of one second's worth, the rest wait their turn");

    let deadline = Instant::now() + Duration::from_secs(20);
    while graph.received().len() < start + 7 {
        assert!(Instant::now() < deadline, "the busy number's queue drained");
        parley::jobs::run_once(&app.state).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let busy: Vec<Instant> =
        graph.received().split_off(start).iter().filter(|r| r.path.contains(PHONE_NUMBER_ID)).map(|r| r.at).collect();
    assert_eq!(busy.len(), 6);
    // 2 at once, then one every 500 ms: the sixth no sooner than 2 s after the first (margin kept).
    assert!(busy[5] - busy[0] >= Duration::from_millis(1500), "{:?}", busy[5] - busy[0]);
    let (waiting,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM jobs").fetch_one(app.state.db.reader()).await.unwrap();
    assert_eq!(waiting, 0);
}

crate::backend_tests!(
    outbound_bodies_are_metas,
    round_trip_with_statuses,
    statuses_that_overtake_the_send_are_kept,
    sends_that_keep_failing_give_up,
    graph_errors_map_to_outcomes,
    reading_a_conversation_sends_a_read_receipt,
    each_number_has_its_own_pace,
    templates_crud_sync_status_and_sending,
);
