//! Facebook Messenger and Instagram channels through the channel seam: every fixture signed and
//! posted twice, sending through the shared Graph stand-in (content, the 24-hour window and the
//! HUMAN_AGENT tag, errors), watermarks, profiles, comments answered publicly and privately, and
//! one person across networks.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::meta_graph::{cdn_bytes, Graph};
use crate::whatsapp::sign_with;

const APP_SECRET: &str = "meta-app-secret-for-tests";
const VERIFY_TOKEN: &str = "meta-verify-token-for-tests";
pub const PAGE_ID: &str = "12345654332";
pub const IG_ID: &str = "17841452691600098";
pub const PSID: &str = "987654321432";
pub const IGSID: &str = "5614879045272581";

/// Creates a live channel of `kind` ("messenger" or "instagram") for the page or account `id`,
/// whose Graph API is `graph` when given.
pub async fn meta_channel(app: &TestApp, kind: &str, id: &str, graph: Option<&Graph>) -> i64 {
    let mut settings = match kind {
        "messenger" => json!({"page_id": id, "page_access_token": "page-token"}),
        _ => json!({"instagram_account_id": id, "access_token": "ig-token"}),
    };
    settings["app_secret"] = json!(APP_SECRET);
    settings["verify_token"] = json!(VERIFY_TOKEN);
    if let Some(graph) = graph {
        settings["graph_base_url"] = json!(graph.base);
    }
    let body = json!({"kind": kind, "name": format!("{kind} {id}"), "address": id, "settings": settings});
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

/// Posts `body` to `/hooks/{kind}` signed with `secret` (unsigned when `None`).
async fn post_hook(app: &TestApp, kind: &str, body: &[u8], secret: Option<&str>) -> Reply {
    let mut request = app
        .client
        .post(format!("{}/hooks/{kind}", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(secret) = secret {
        request = request.header("X-Hub-Signature-256", sign_with(secret, body));
    }
    Reply::of(request.send().await.unwrap()).await
}

/// Posts a signed body and expects 200.
pub async fn deliver(app: &TestApp, kind: &str, body: &Value) {
    let bytes = body.to_string().into_bytes();
    let reply = post_hook(app, kind, &bytes, Some(APP_SECRET)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?} for {body}");
}

/// A Messenger Platform body with one `messaging[]` item from `customer` to `owner`, now.
pub fn messaging(object: &str, owner: &str, customer: &str, event: Value) -> Value {
    let now = parley::domain::time::now_ms();
    let mut item = json!({"sender": {"id": customer}, "recipient": {"id": owner}, "timestamp": now});
    item.as_object_mut().unwrap().extend(event.as_object().unwrap().clone());
    json!({"object": object, "entry": [{"id": owner, "time": now, "messaging": [item]}]})
}

fn fixtures(network: &str) -> Vec<(String, Value)> {
    let root = format!("{}/tests/fixtures/{network}", env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let body: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                files.push((path.display().to_string(), body));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

async fn all_messages(app: &TestApp) -> Vec<Value> {
    let mut messages = Vec::new();
    for conversation in app.get("/api/v1/conversations?limit=100").await.body["data"].as_array().unwrap() {
        let id = conversation["id"].as_i64().unwrap();
        let page = app.get(&format!("/api/v1/conversations/{id}/messages?limit=100")).await;
        messages.extend(page.body["data"].as_array().unwrap().iter().cloned());
    }
    messages
}

/// The message whose provider id ends with `suffix` (fixture ids get a prefix).
fn find_suffix<'a>(messages: &'a [Value], suffix: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["provider_message_id"].as_str().is_some_and(|id| id.ends_with(suffix)))
        .unwrap_or_else(|| panic!("message …{suffix} in {messages:?}"))
}

fn find<'a>(messages: &'a [Value], provider_id: &str) -> &'a Value {
    messages
        .iter()
        .find(|m| m["provider_message_id"] == provider_id)
        .unwrap_or_else(|| panic!("message {provider_id} in {messages:?}"))
}

async fn every_fixture_is_ingested_once(app: TestApp) {
    // The pages and accounts the fixtures name; `PAGE_ID` placeholders become a real page id.
    for id in [PAGE_ID, "1234567890321", "625987814267888", "555000111"] {
        meta_channel(&app, "messenger", id, None).await;
    }
    for id in [IG_ID, "0"] {
        meta_channel(&app, "instagram", id, None).await;
    }
    let mut posted = 0;
    for (network, object) in [("messenger", "page"), ("instagram", "instagram")] {
        for (name, body) in fixtures(network) {
            // Graph API read shapes and Send API bodies are not webhooks.
            if body["object"] != object {
                continue;
            }
            // Fixtures share message ids; each gets its own, as separate messages would.
            posted += 1;
            let text = body
                .to_string()
                .replace("\"PAGE_ID\"", "\"555000111\"")
                .replace("\"mid\":\"", &format!("\"mid\":\"f{posted}."));
            for _ in 0..2 {
                let reply = post_hook(&app, network, text.as_bytes(), Some(APP_SECRET)).await;
                assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
            }
        }
    }
    assert!(posted >= 28, "{posted} webhook fixtures posted");
    let messages = all_messages(&app).await;
    let mut ids: Vec<String> =
        messages.iter().map(|m| format!("{} {}", m["channel_id"], m["provider_message_id"])).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "every message stored once: {ids:?}");

    let greetings: Vec<(&str, &str)> = messages
        .iter()
        .filter(|m| {
            m["provider_message_id"].as_str().is_some_and(|id| id.ends_with("mid.1457764197618:41d102a3e1ae206a38"))
        })
        .filter(|m| m["payload"]["story_reply"].is_null())
        .map(|m| (m["direction"].as_str().unwrap(), m["text"].as_str().unwrap_or_default()))
        .collect();
    assert!(greetings.contains(&("inbound", "hello, world!")), "{greetings:?}");
    assert!(greetings.contains(&("outbound", "hello, world!")), "echoes are stored as sent: {greetings:?}");
    let sticker = find_suffix(&messages, "mid.12345654332:226a70a704");
    assert_eq!(sticker["type"], "sticker");
    let located = messages.iter().find(|m| m["type"] == "location").expect("a location");
    assert_eq!(located["payload"]["location"], json!({"latitude": 12.34, "longitude": 43.21}));
    let quick = messages.iter().find(|m| m["payload"]["quick_reply"]["payload"] == "PAYLOAD_QUICK_REPLY").unwrap();
    assert_eq!(quick["text"], "quick reply text");
    let postback = messages.iter().find(|m| m["payload"]["postback"]["payload"] == "USER_DEFINED_PAYLOAD").unwrap();
    assert_eq!(postback["type"], "interactive");
    assert!(messages.iter().any(|m| m["payload"]["referral"]["ref"] == "ref_data_in_m_dot_me_param"));
    assert!(messages.iter().any(|m| m["payload"]["handover"]["action"] == "pass_thread_control"));
    let reaction = messages.iter().find(|m| m["type"] == "reaction").unwrap();
    assert_eq!(reaction["payload"]["emoji"], "😢");
    assert!(messages.iter().any(|m| m["type"] == "unsupported"), "unsupported messages are kept");
    let fallback = messages.iter().find(|m| m["payload"]["fallback"].is_object()).unwrap();
    assert_eq!(fallback["text"], "Legacy Attachment https://www.messenger.com/");
    let story = messages.iter().find(|m| m["payload"]["story_reply"]["id"] == "STORY_ID").unwrap();
    assert_eq!(story["text"], "hello, world!");
    let comment = find(&messages, "123456789");
    assert_eq!(
        (comment["text"].as_str(), comment["payload"]["comment"]["post_id"].as_str()),
        (Some("This is an example."), Some("76543987"))
    );
    let page_comment = find(&messages, "901097836652708_903438993085259");
    assert_eq!(page_comment["text"], "and the next one");
}

async fn webhooks_are_verified_before_anything_is_written(app: TestApp) {
    let channel = meta_channel(&app, "messenger", PAGE_ID, None).await;
    let body = messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "m.1", "text": "hi"}})).to_string();
    for (secret, kind) in [(None, "messenger"), (Some("wrong-secret"), "messenger"), (Some(APP_SECRET), "instagram")] {
        let reply = post_hook(&app, kind, body.as_bytes(), secret).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "invalid_signature");
    }
    let unknown = messaging("page", "999", PSID, json!({"message": {"mid": "m.2", "text": "hi"}})).to_string();
    assert_problem(
        &post_hook(&app, "messenger", unknown.as_bytes(), Some(APP_SECRET)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_signature",
    );
    assert!(all_messages(&app).await.is_empty(), "nothing was written");

    // The handshake answers the challenge for a channel's verify token only.
    let path = format!("/hooks/messenger?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=42");
    let reply = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
    assert_eq!((reply.status(), reply.text().await.unwrap()), (StatusCode::OK, "42".to_owned()));
    let reply = app
        .client
        .get(format!("{}/hooks/instagram?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=42", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::FORBIDDEN);

    // Settings: required for a live channel, secrets never shown, unknown keys refused.
    let reply = app.post("/api/v1/channels", json!({"kind": "instagram", "name": "IG", "address": "x"})).await;
    assert_field_error(&reply, "settings.instagram_account_id");
    let reply = app
        .post("/api/v1/channels", json!({"kind": "messenger", "name": "M", "address": "x", "simulation": true, "settings": {"colour": "red"}}))
        .await;
    assert_field_error(&reply, "settings.colour");
    let shown = app.get(&format!("/api/v1/channels/{channel}")).await.body;
    assert_eq!(shown["settings"], json!({"page_id": PAGE_ID}), "{shown}");
    assert!(!shown.to_string().contains(APP_SECRET) && !shown.to_string().contains("page-token"));
    let kinds = app.get("/api/v1/channel-kinds").await.body;
    let messenger = kinds["data"].as_array().unwrap().iter().find(|k| k["kind"] == "messenger").unwrap();
    assert_eq!(messenger["webhook_path"], "messenger");
    let secrets: Vec<&str> = messenger["settings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["secret"] == true)
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(secrets, ["app_secret", "verify_token", "page_access_token"]);
    assert_eq!(messenger["capabilities"]["human_agent_window_hours"], 168);
}

/// A live Messenger channel on the stand-in, a customer message (the window opens) and its
/// conversation.
async fn messenger_setup(app: &TestApp) -> (Graph, i64, i64) {
    let graph = Graph::start().await;
    let channel = meta_channel(app, "messenger", PAGE_ID, Some(&graph)).await;
    deliver(
        app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "m.in.1", "text": "Hello"}})),
    )
    .await;
    let reply = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
    (graph, channel, reply.body["data"][0]["id"].as_i64().unwrap())
}

async fn send(app: &TestApp, conversation: i64, body: Value) -> Reply {
    app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await
}

async fn messenger_sends_through_the_send_api(app: TestApp) {
    let (graph, _, conversation) = messenger_setup(&app).await;
    app.drain_jobs().await;
    // The sender's profile was looked up once, its picture kept in the media store.
    let contact = &app.get(&format!("/api/v1/conversations/{conversation}")).await.body["contact"];
    assert_eq!(contact["name"], "Ann Lee", "{contact}");
    let avatar = contact["avatar_url"].as_str().unwrap();
    assert!(avatar.starts_with("/api/v1/media/"), "{avatar}");
    let picture = app.client.get(format!("{}{avatar}", app.base)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(picture.bytes().await.unwrap().to_vec(), cdn_bytes(&format!("{PSID}.png")), "the picture is served");

    let reply = send(&app, conversation, json!({"text": "Hi Ann"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let last = graph.last_send();
    assert_eq!(last.path, format!("/v21.0/{PAGE_ID}/messages"));
    assert_eq!(last.authorization.as_deref(), Some("Bearer page-token"));
    assert_eq!(
        last.body,
        json!({"recipient": {"id": PSID}, "messaging_type": "RESPONSE", "message": {"text": "Hi Ann"}})
    );
    let sent = reply.body["id"].as_i64().unwrap();
    let stored = |messages: Vec<Value>, id: i64| messages.into_iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(stored(all_messages(&app).await, sent)["status"], "sent");

    // Choices become quick replies; cards a generic template; a file its attachment, then its caption.
    send(&app, conversation, json!({"text": "Size?", "payload": {"choices": {"options": [{"id": "S", "title": "Small"}, {"title": "Large"}]}}})).await;
    app.drain_jobs().await;
    assert_eq!(
        graph.last_send().body["message"],
        json!({"text": "Size?", "quick_replies": [{"content_type": "text", "title": "Small", "payload": "S"},
            {"content_type": "text", "title": "Large", "payload": "Large"}]})
    );
    let cards = json!([{"title": "Boots", "subtitle": "€90", "image_url": "https://example.com/b.png",
        "buttons": [{"title": "Buy", "payload": "BUY_BOOTS"}, {"title": "See", "url": "https://example.com/b"}]}]);
    send(&app, conversation, json!({"payload": {"cards": cards}})).await;
    app.drain_jobs().await;
    assert_eq!(graph.last_send().body["message"]["attachment"]["payload"]["template_type"], "generic");
    assert_eq!(
        graph.last_send().body["message"]["attachment"]["payload"]["elements"][0]["buttons"][1],
        json!({"type": "web_url", "title": "See", "url": "https://example.com/b"})
    );
    let key = crate::media::upload_png(&app).await["key"].as_str().unwrap().to_owned();
    let before = graph.received().len();
    send(&app, conversation, json!({"text": "Photo", "media_keys": [key]})).await;
    app.drain_jobs().await;
    let requests = graph.received().split_off(before);
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].body["message"]["attachment"]["type"], "image");
    assert_eq!(requests[1].body["message"], json!({"text": "Photo"}));
    // Content Messenger does not take is refused before anything is queued.
    let reply = send(&app, conversation, json!({"payload": {"location": {"latitude": 1, "longitude": 2}}})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "content_unsupported");

    // Delivery and read watermarks move every earlier message forward.
    let watermark = parley::domain::time::now_ms() + 1000;
    deliver(&app, "messenger", &messaging("page", PAGE_ID, PSID, json!({"delivery": {"watermark": watermark}}))).await;
    let outbound: Vec<Value> = all_messages(&app).await.into_iter().filter(|m| m["direction"] == "outbound").collect();
    assert!(outbound.iter().all(|m| m["status"] == "delivered"), "{outbound:?}");
    deliver(&app, "messenger", &messaging("page", PAGE_ID, PSID, json!({"read": {"watermark": watermark}}))).await;
    assert!(all_messages(&app).await.iter().filter(|m| m["direction"] == "outbound").all(|m| m["status"] == "read"));

    // Reading the conversation marks it seen at Messenger.
    deliver(
        &app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "m.in.2", "text": "Thanks"}})),
    )
    .await;
    app.post(&format!("/api/v1/conversations/{conversation}/read"), json!({})).await;
    app.drain_jobs().await;
    assert_eq!(graph.last_send().body, json!({"recipient": {"id": PSID}, "sender_action": "mark_seen"}));

    // An attachment is fetched from the CDN into the media store.
    let image = json!({"message": {"mid": "m.in.3", "attachments": [{"type": "image", "payload": {"url": graph.cdn("cat.png")}}]}});
    deliver(&app, "messenger", &messaging("page", PAGE_ID, PSID, image)).await;
    app.drain_jobs().await;
    let fetched = find(&all_messages(&app).await, "m.in.3").clone();
    let key = fetched["media_keys"][0].as_str().unwrap_or_else(|| panic!("{fetched}")).to_owned();
    let bytes = app
        .client
        .get(format!("{}/api/v1/media/{key}/content", app.base))
        .bearer_auth(&app.key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.to_vec(), cdn_bytes("cat.png"));

    // Edits and unsends by the customer.
    deliver(
        &app,
        "messenger",
        &messaging(
            "page",
            PAGE_ID,
            PSID,
            json!({"message_edit": {"mid": "m.in.2", "text": "Thanks!!", "num_edit": 1}}),
        ),
    )
    .await;
    assert_eq!(find(&all_messages(&app).await, "m.in.2")["text"], "Thanks!!");
    deliver(
        &app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "m.in.2", "is_deleted": true}})),
    )
    .await;
    assert_eq!(find(&all_messages(&app).await, "m.in.2")["deleted"], true);
}

/// Makes the customer's last message of a conversation `days` old.
async fn age(app: &TestApp, conversation: i64, days: i64) {
    let day = 24 * 3600 * 1000;
    let at = parley::domain::time::now_ms() - days * day;
    sqlx::query("UPDATE conversations SET last_inbound_at = $1, window_expires_at = $2 WHERE id = $3")
        .bind(at)
        .bind(at + day)
        .bind(conversation)
        .execute(app.state.db.writer())
        .await
        .unwrap();
}

async fn messenger_window_and_human_agent_tag(app: TestApp) {
    let (graph, _, conversation) = messenger_setup(&app).await;
    age(&app, conversation, 2).await;
    let shown = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
    assert!(shown["human_agent_window_expires_at"].is_string(), "{shown}");
    // After 24 hours an operator's answer goes out tagged HUMAN_AGENT; an unattended one is refused.
    let reply = send(&app, conversation, json!({"text": "Sorry for the wait"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "reply_window_expired");
    let reply = send(&app, conversation, json!({"text": "Sorry for the wait", "operator_id": 1})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let body = graph.last_send().body;
    assert_eq!((body["messaging_type"].as_str(), body["tag"].as_str()), (Some("MESSAGE_TAG"), Some("HUMAN_AGENT")));
    // After 7 days nobody can answer until the customer writes again.
    age(&app, conversation, 8).await;
    let reply = send(&app, conversation, json!({"text": "Hello?", "operator_id": 1})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "reply_window_expired");

    // Meta's refusals: outside the window fails the message, throttling is retried.
    age(&app, conversation, 0).await;
    graph.fail_next_with(400, 10, Some(2018278));
    let id = send(&app, conversation, json!({"text": "One"})).await.body["id"].as_i64().unwrap();
    app.drain_jobs().await;
    let failed = all_messages(&app).await.into_iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(
        (failed["status"].as_str(), failed["error"]["code"].as_str()),
        (Some("failed"), Some("reply_window_expired")),
        "{failed}"
    );
    graph.fail_next(400, 613);
    let id = send(&app, conversation, json!({"text": "Two"})).await.body["id"].as_i64().unwrap();
    app.drain_jobs().await;
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
    app.drain_jobs().await;
    let retried = all_messages(&app).await.into_iter().find(|m| m["id"] == id).unwrap();
    assert_eq!(retried["status"], "sent", "{retried}");
}

/// A comment by `IGSID` on post `post`, written `days_ago`.
pub fn comment(id: &str, post: &str, text: &str) -> Value {
    json!({"object": "instagram", "entry": [{"id": IG_ID, "time": parley::domain::time::now_ms() / 1000,
        "changes": [{"field": "comments", "value": {"id": id, "text": text, "from": {"id": IGSID, "username": "ann.lee"},
            "media": {"id": post, "media_product_type": "FEED"}}}]}]})
}

async fn instagram_comments_are_answered_publicly_or_privately(app: TestApp) {
    let graph = Graph::start().await;
    let channel = meta_channel(&app, "instagram", IG_ID, Some(&graph)).await;
    deliver(&app, "instagram", &comment("c-1", "post-9", "Do you ship to Italy?")).await;
    deliver(&app, "instagram", &comment("c-1", "post-9", "Do you ship to Italy?")).await;
    let conversation = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await.body["data"][0].clone();
    let id = conversation["id"].as_i64().unwrap();
    assert!(conversation["window_expires_at"].is_null(), "a comment opens no messaging window: {conversation}");
    let messages = all_messages(&app).await;
    assert_eq!(messages.len(), 1, "the repeated webhook stored nothing: {messages:?}");
    let comment_message = messages[0]["id"].as_i64().unwrap();
    assert_eq!(messages[0]["payload"]["comment"]["post_id"], "post-9");
    // The post is looked up: its link and caption show with the comment.
    app.drain_jobs().await;
    let looked = find(&all_messages(&app).await, "c-1").clone();
    assert_eq!(looked["payload"]["comment"]["permalink"], "https://www.instagram.com/p/post-9/", "{looked}");
    assert_eq!(looked["payload"]["comment"]["caption"], "Our new boots");

    // A direct message needs the customer to write first; an answer to the comment does not.
    assert_problem(
        &send(&app, id, json!({"text": "Yes"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reply_window_expired",
    );
    let reply = send(&app, id, json!({"text": "Yes, we do!", "reply_to": comment_message})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let public = graph.last_send();
    assert_eq!((public.path.as_str(), &public.body), ("/v21.0/c-1/replies", &json!({"message": "Yes, we do!"})));
    let reply =
        send(&app, id, json!({"text": "Here is a discount code", "reply_to": comment_message, "private_reply": true}))
            .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
    let private = graph.last_send();
    assert_eq!(private.path, format!("/v21.0/{IG_ID}/messages"));
    assert_eq!(
        private.body,
        json!({"recipient": {"comment_id": "c-1"}, "messaging_type": "RESPONSE", "message": {"text": "Here is a discount code"}})
    );
    // One private reply per comment, within 7 days.
    let again = send(&app, id, json!({"text": "Again", "reply_to": comment_message, "private_reply": true})).await;
    assert_problem(&again, StatusCode::CONFLICT, "private_reply_used");
    deliver(&app, "instagram", &comment("c-2", "post-9", "And to Spain?")).await;
    let second = find(&all_messages(&app).await, "c-2")["id"].as_i64().unwrap();
    sqlx::query("UPDATE messages SET created_at = created_at - 8 * 86400000 WHERE id = $1")
        .bind(second)
        .execute(app.state.db.writer())
        .await
        .unwrap();
    let late = send(&app, id, json!({"text": "Late", "reply_to": second, "private_reply": true})).await;
    assert_problem(&late, StatusCode::UNPROCESSABLE_ENTITY, "private_reply_expired");
    let plain = send(&app, id, json!({"text": "x", "private_reply": true})).await;
    assert_field_error(&plain, "private_reply");

    // A mention names only the comment: it is looked up and kept as the author's comment.
    let mention = json!({"object": "instagram", "entry": [{"id": IG_ID, "time": 1,
        "changes": [{"field": "mentions", "value": {"comment_id": "c-m-1", "media_id": "post-9"}}]}]});
    deliver(&app, "instagram", &mention).await;
    deliver(&app, "instagram", &mention).await;
    app.drain_jobs().await;
    let mentioned: Vec<Value> =
        all_messages(&app).await.into_iter().filter(|m| m["provider_message_id"] == "c-m-1").collect();
    assert_eq!(mentioned.len(), 1, "{mentioned:?}");
    assert_eq!(
        (mentioned[0]["text"].as_str(), mentioned[0]["payload"]["comment"]["mention"].as_bool()),
        (Some("Love these @shop"), Some(true))
    );

    // DMs: a story mention stays a link and is never downloaded; seen moves messages to read.
    let mention = json!({"message": {"mid": "ig.m.1", "attachments": [{"type": "story_mention", "payload": {"url": graph.cdn("story.png")}}]}});
    deliver(&app, "instagram", &messaging("instagram", IG_ID, IGSID, mention)).await;
    let before = graph.received().len();
    app.drain_jobs().await;
    assert!(graph.received()[before..].iter().all(|r| !r.path.starts_with("/cdn/")), "stories are not downloaded");
    let mentioned = find(&all_messages(&app).await, "ig.m.1").clone();
    assert_eq!(mentioned["payload"]["story_mention"]["url"], graph.cdn("story.png"));
    let dm = send(&app, id, json!({"text": "Thanks for the mention"})).await;
    assert_eq!(dm.status, StatusCode::ACCEPTED, "the mention opened the window: {dm:?}");
    app.drain_jobs().await;
    let provider_id = all_messages(&app).await.into_iter().find(|m| m["id"] == dm.body["id"]).unwrap()
        ["provider_message_id"]
        .as_str()
        .unwrap()
        .to_owned();
    deliver(&app, "instagram", &messaging("instagram", IG_ID, IGSID, json!({"read": {"mid": provider_id}}))).await;
    let read = all_messages(&app).await.into_iter().find(|m| m["id"] == dm.body["id"]).unwrap();
    assert_eq!(read["status"], "read");
}

async fn one_person_across_networks(app: TestApp) {
    // Seed 001's story: Ann writes on Instagram one day and on Messenger the next.
    let graph = Graph::start().await;
    meta_channel(&app, "instagram", IG_ID, Some(&graph)).await;
    meta_channel(&app, "messenger", PAGE_ID, Some(&graph)).await;
    deliver(
        &app,
        "instagram",
        &messaging("instagram", IG_ID, IGSID, json!({"message": {"mid": "ig.1", "text": "Do you have boots?"}})),
    )
    .await;
    deliver(
        &app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "fb.1", "text": "About the boots…"}})),
    )
    .await;
    app.drain_jobs().await;
    let duplicates = app.get("/api/v1/contacts/duplicates").await.body;
    let pair = &duplicates["data"][0];
    assert_eq!(pair["reason"], "same_name", "{duplicates}");
    let (a, b) = (pair["contacts"][0]["id"].as_i64().unwrap(), pair["contacts"][1]["id"].as_i64().unwrap());
    let merged = app.post(&format!("/api/v1/contacts/{a}/merge"), json!({"contact_id": b})).await;
    assert_eq!(merged.status, StatusCode::OK, "{merged:?}");
    let history = app.get(&format!("/api/v1/contacts/{a}/messages?limit=1")).await.body;
    assert_eq!(history["total"], 2);
    assert_eq!(history["data"][0]["text"], "About the boots…");
    let cursor = history["next_cursor"].as_str().unwrap();
    let older = app.get(&format!("/api/v1/contacts/{a}/messages?limit=1&cursor={cursor}")).await.body;
    assert_eq!(older["data"][0]["text"], "Do you have boots?");
    assert!(older["next_cursor"].is_null());
    assert_eq!(app.get(&format!("/api/v1/contacts/{b}/messages")).await.status, StatusCode::NOT_FOUND);
    let other = app.other_account_key().await;
    let hidden = app.call_as(&other, reqwest::Method::GET, &format!("/api/v1/contacts/{a}/messages"), None).await;
    assert_problem(&hidden, StatusCode::NOT_FOUND, "not_found");
}

crate::backend_tests!(
    every_fixture_is_ingested_once,
    webhooks_are_verified_before_anything_is_written,
    messenger_sends_through_the_send_api,
    messenger_window_and_human_agent_tag,
    instagram_comments_are_answered_publicly_or_privately,
    one_person_across_networks,
);
