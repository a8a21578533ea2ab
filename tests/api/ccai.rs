//! The contact-centre chat API (seed 003) as the seed writes its calls: HTTP Basic with any
//! username and an API key, a chat created with a transcript and context that the virtual agent
//! answers, the end user's messages (content as a string or `{text}`), escalation and deflection,
//! finishing, customer flags, custom data unsigned and signed with the company secret (valid,
//! wrong, expired), the end-user update, photos and videos through pre-signed upload forms on the
//! local store and on S3 (moto), and the chat webhooks signed `X-Signature: primary=…`.

use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::Mac;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// Agents answer as soon as they are due.
const FLAGS: &[&str] = &["--agent-debounce-ms", "0", "--max-media-bytes", "4000"];

const COMPANY_SECRET: &str = "company-secret-of-techstore-0123456789abcdef";

/// The fields of the seed's chat object, exactly.
const CHAT_FIELDS: &[&str] = &[
    "id",
    "status",
    "status_text",
    "features",
    "created_at",
    "ends_at",
    "timeout_at",
    "agent",
    "virtual_agent",
    "all_agents",
    "all_virtual_agents",
    "lang",
    "menus",
    "end_user",
];

/// Calls `/apps/api/v1{path}` as the platform's clients do: Basic `subdomain:token`.
async fn ccai(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = reqwest::Client::new()
        .request(method, format!("{}/apps/api/v1{path}", app.base))
        .basic_auth("techstore", Some(&app.key))
        .header("Accept", "application/json");
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::of(request.send().await.unwrap()).await
}

/// A web chat channel served by a knowledge-base agent, and the team "Support" as the menu;
/// returns (team id, agent id).
async fn contact_centre(app: &TestApp) -> (i64, i64) {
    let settings = json!({"allowed_origins": "https://shop.example.com"});
    let channel = app
        .post("/api/v1/channels", json!({"kind": "webchat", "name": "Site", "address": "site", "settings": settings}))
        .await;
    assert_eq!(channel.status, StatusCode::CREATED, "{channel:?}");
    let channel = channel.body["id"].as_i64().unwrap();
    let team = app.post("/api/v1/teams", json!({"name": "Support", "channel_ids": [channel]})).await;
    assert_eq!(team.status, StatusCode::CREATED, "{team:?}");
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Clara", "engine": "knowledge_base", "languages": ["en"],
                   "channels": [{"channel_id": channel, "answers_first": true}]}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let agent = agent.body["id"].as_i64().unwrap();
    let article = json!({"title": "Resetting your password", "language": "en",
        "body": "To reset your password open Settings, choose Security and press Reset password."});
    assert_eq!(app.post(&format!("/api/v1/agents/{agent}/articles"), article).await.status, StatusCode::CREATED);
    (team.body["id"].as_i64().unwrap(), agent)
}

/// Starts a chat as the seed's example does; returns the chat object.
async fn create_chat(app: &TestApp, menu: i64) -> Value {
    let body = json!({
        "chat": {
            "menu_id": menu, "lang": "en", "email": "ada@example.com",
            "context": {"value": {"foo": "bar", "key": "value"}},
            "transcript": {"messages": [
                {"role": "end_user", "content": "Hi, I was on the FAQ page"},
                {"role": "virtual_agent", "content": "Hello! How can I help?"},
            ]},
        },
        "end_user": {"phone": "+393471234567"},
    });
    let reply = ccai(app, Method::POST, "/chats", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

/// An HS256 JWT of `claims`, made here independently of Parley's code.
fn jwt(claims: &Value, secret: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// What a chat webhook endpoint received: headers and body of each delivery.
#[derive(Clone, Default)]
struct ChatHook {
    received: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

impl ChatHook {
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/chat-events", listener.local_addr().unwrap());
        let received = self.received.clone();
        let router = axum::Router::new().route(
            "/chat-events",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push((headers, body));
                    StatusCode::OK
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }

    /// The events received whose `X-Signature` primary signature verifies with `secret`, in
    /// order; panics on one that does not.
    fn events(&self, secret: &str) -> Vec<Value> {
        let mut events: Vec<Value> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|(headers, body)| {
                let timestamp = headers["x-signature-timestamp"].to_str().unwrap();
                let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
                mac.update(format!("{timestamp}{body}").as_bytes());
                let expected = format!("primary={}", STANDARD.encode(mac.finalize().into_bytes()));
                let signature = headers["x-signature"].to_str().unwrap();
                assert!(signature.split(' ').any(|part| part == expected), "bad signature {signature} on {body}");
                let id: i64 = headers["webhook-id"].to_str().unwrap().trim_start_matches("evt_").parse().unwrap();
                json!({"order": id, "payload": serde_json::from_str::<Value>(body).unwrap()})
            })
            .collect();
        events.sort_by_key(|e| e["order"].as_i64());
        events.into_iter().map(|e| e["payload"].clone()).collect()
    }
}

async fn a_chat_as_the_seed_writes_it(app: TestApp) {
    let (menu, agent) = contact_centre(&app).await;
    let hook = ChatHook::default();
    let url = hook.start().await;
    let webhook = app.post("/api/v1/webhooks", json!({"url": url, "format": "ccai"})).await;
    assert_eq!(webhook.status, StatusCode::CREATED, "{webhook:?}");
    let hook_secret = webhook.body["secret"].as_str().unwrap().to_owned();

    // Create: the seed's object, exactly its fields; the virtual agent has it first.
    let chat = create_chat(&app, menu).await;
    let mut fields: Vec<&str> = chat.as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    let mut expected = CHAT_FIELDS.to_vec();
    expected.sort_unstable();
    assert_eq!(fields, expected);
    let id = chat["id"].as_i64().unwrap();
    assert_eq!(chat["status"], "assigned");
    assert_eq!(chat["virtual_agent"]["id"], agent);
    assert_eq!(chat["virtual_agent"]["name"], "Clara");
    assert_eq!(chat["agent"], Value::Null);
    assert_eq!(chat["lang"], "en");
    assert_eq!(chat["menus"], json!([{"id": menu, "name": "Support"}]));
    assert_eq!(chat["ends_at"], Value::Null);
    assert!(chat["features"].as_array().unwrap().contains(&json!("photo")), "{chat}");
    let end_user = chat["end_user"]["id"].as_i64().unwrap();
    assert_eq!(chat["end_user"]["identifier"], Value::Null);
    let contact = app.get(&format!("/api/v1/contacts/{end_user}")).await.body;
    assert_eq!(
        (contact["phone"].as_str(), contact["email"].as_str()),
        (Some("+393471234567"), Some("ada@example.com"))
    );
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}"), None).await.body, chat);
    // Starting again for the same end user while it is open answers the same chat.
    let again =
        ccai(&app, Method::POST, "/chats", Some(json!({"chat": {"menu_id": menu, "end_user_id": end_user}}))).await;
    assert_eq!(again.body["id"], id, "{again:?}");

    // The transcript came first, as already-seen history.
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await.body["data"].clone();
    assert_eq!(thread[0]["text"], "Hi, I was on the FAQ page");
    assert_eq!(thread[1]["sender"]["type"], "virtual_agent");

    // The end user writes (content a string, then `{text}`); the virtual agent answers.
    let say = |content: Value| json!({"from_user_id": end_user, "message": {"type": "text", "content": content}});
    let reply =
        ccai(&app, Method::POST, &format!("/chats/{id}/message"), Some(say(json!("How do I reset my password?"))))
            .await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({})));
    parley::service::answers::run_once(&app.state).await.unwrap();
    let reply = ccai(&app, Method::POST, &format!("/chats/{id}/message"), Some(say(json!({"text": "thanks"})))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await.body["data"].clone();
    let texts: Vec<&str> = thread.as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"How do I reset my password?") && texts.contains(&"thanks"), "{texts:?}");
    let answer =
        thread.as_array().unwrap().iter().find(|m| m["text"].as_str().unwrap_or("").contains("Reset password"));
    assert!(answer.is_some_and(|m| m["sender"]["type"] == "virtual_agent"), "{thread}");
    let chat = ccai(&app, Method::GET, &format!("/chats/{id}"), None).await.body;
    assert_eq!(chat["all_virtual_agents"][0]["id"], agent);

    // Someone else's message, an empty one, an unknown chat: the platform's error shape.
    let wrong = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/message"),
        Some(json!({"from_user_id": end_user + 99, "message": {"type": "text", "content": "x"}})),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body["message"].as_str().unwrap().contains("from_user_id"), "{wrong:?}");
    assert_eq!(ccai(&app, Method::POST, &format!("/chats/{id}/message"), Some(say(json!("  ")))).await.status, 422);
    let missing = ccai(&app, Method::GET, "/chats/999999", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body["message"].is_string(), "{missing:?}");

    // Escalate as the seed's example; nobody is online, so the chat waits and is deflected.
    let escalation = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/escalations"),
        Some(json!({"reason": "by_end_user_ask", "force_escalate": true})),
    )
    .await;
    assert_eq!(escalation.status, StatusCode::OK, "{escalation:?}");
    assert_eq!(
        (escalation.body["chat_id"].as_i64(), escalation.body["status"].as_str()),
        (Some(id), Some("escalating"))
    );
    let escalation_id = escalation.body["id"].as_i64().unwrap();
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}"), None).await.body["status"], "queued");
    let bad_reason =
        ccai(&app, Method::POST, &format!("/chats/{id}/escalations"), Some(json!({"reason": "bored"}))).await;
    assert_eq!(bad_reason.status, StatusCode::BAD_REQUEST, "{bad_reason:?}");
    let deflect = ccai(
        &app,
        Method::PATCH,
        &format!("/chats/{id}/escalations/{escalation_id}"),
        Some(json!({"deflection_channel": "email"})),
    )
    .await;
    assert_eq!(deflect.body, json!({"id": escalation_id, "chat_id": id, "status": "deflecting"}));

    // Flags, custom data (unsigned and signed), the end user.
    let flags = ccai(&app, Method::GET, &format!("/chats/{id}/customer_flag"), None).await;
    assert_eq!(flags.body, json!({"verified_customer": false, "bad_actor": false, "repeat_customer": false}));
    let flags = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/customer_flag"),
        Some(json!({"verified_customer": true, "bad_actor": false, "repeat_customers": true})),
    )
    .await;
    assert_eq!(flags.body, json!({"verified_customer": true, "bad_actor": false, "repeat_customer": true}));
    assert_eq!(
        ccai(&app, Method::POST, &format!("/chats/{id}/customer_flag"), Some(json!({"vip": true}))).await.status,
        422
    );
    let unsigned = json!({"signed": false, "data": {
        "reserved_bad_actor": {"label": "LABEL 2", "value": true},
        "field1": {"label": "Plan", "value": "gold"},
    }});
    let reply = ccai(&app, Method::POST, &format!("/chats/{id}/custom_data"), Some(unsigned)).await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({"message": "accepted"})));
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}/customer_flag"), None).await.body["bad_actor"], true);

    let secret = app.post("/api/v1/account/company-secret", json!({"value": COMPANY_SECRET})).await;
    assert_eq!(secret.status, StatusCode::CREATED, "{secret:?}");
    let now = unix_now();
    let payload = |exp: i64| {
        json!({"custom_data": {
        "reserved_bad_actor": {"value": false}, "field2": {"label": "Order", "value": "A-1001"},
    }, "exp": exp, "iat": now - 10})
    };
    let signed = |token: String| json!({"signed": true, "signed_data": token});
    for (token, why) in [
        (jwt(&payload(now + 600), "not-the-company-secret-0123456789abcdef"), "wrong secret"),
        (jwt(&payload(now - 60), COMPANY_SECRET), "expired"),
        ("eyJhbGciOiJIUzI1NiJ9.e30.AAAA".to_owned(), "garbage"),
    ] {
        let reply = ccai(&app, Method::POST, &format!("/chats/{id}/custom_data"), Some(signed(token))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{why}: {reply:?}");
        assert!(reply.body["message"].is_string());
    }
    let details = app.get(&format!("/api/v1/conversations/{id}/chat")).await.body;
    assert!(details["custom_data"].get("field2").is_none(), "refused data wrote nothing: {details}");
    assert_eq!(details["custom_data"]["field1"], json!({"label": "Plan", "value": "gold"}));
    assert_eq!(details["context"], json!({"value": {"foo": "bar", "key": "value"}}));
    let reply = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/custom_data"),
        Some(signed(jwt(&payload(now + 600), COMPANY_SECRET))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let details = app.get(&format!("/api/v1/conversations/{id}/chat")).await.body;
    assert_eq!(
        (details["custom_data"]["field2"]["value"].as_str(), details["custom_data_signed"].as_bool()),
        (Some("A-1001"), Some(true))
    );
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}/customer_flag"), None).await.body["bad_actor"], false);

    let no_identifier = ccai(&app, Method::POST, &format!("/chats/{id}/end-user"), Some(json!({"name": "Ada"}))).await;
    assert_eq!(no_identifier.status, StatusCode::UNPROCESSABLE_ENTITY, "{no_identifier:?}");
    let reply = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/end-user"),
        Some(json!({"identifier": "cust-42", "name": "Ada Lovelace"})),
    )
    .await;
    assert_eq!((reply.status, reply.body.clone()), (StatusCode::OK, json!({"message": "accepted"})));
    let chat = ccai(&app, Method::GET, &format!("/chats/{id}"), None).await.body;
    assert_eq!(chat["end_user"], json!({"id": end_user, "identifier": "cust-42"}));
    assert_eq!(app.get(&format!("/api/v1/contacts/{end_user}")).await.body["name"], "Ada Lovelace");

    // Finish as the seed's PATCH example; a finished chat takes no more messages.
    let finish = json!({"finished_by_user_id": end_user, "chat": {"deflection_channel": "email", "status": "finished", "escalation_id": escalation_id}});
    let finished = ccai(&app, Method::PATCH, &format!("/chats/{id}"), Some(finish)).await;
    assert_eq!(finished.status, StatusCode::OK, "{finished:?}");
    assert_eq!(finished.body["status"], "finished");
    assert!(finished.body["ends_at"].is_string());
    assert_eq!(ccai(&app, Method::POST, &format!("/chats/{id}/message"), Some(say(json!("hello?")))).await.status, 409);
    let invented =
        ccai(&app, Method::PATCH, &format!("/chats/{id}"), Some(json!({"chat": {"status": "va_assigned"}}))).await;
    assert_eq!(invented.status, StatusCode::UNPROCESSABLE_ENTITY);

    // The webhooks: every chat event, signed with the subscription's secret.
    app.drain_jobs().await;
    parley::jobs::webhooks::run_once(&app.state).await.unwrap();
    let events = hook.events(&hook_secret);
    let names: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in ["chat.created", "chat.message", "chat.escalated", "chat.finished"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert!(events.iter().all(|e| e["chat_id"] == id), "{events:?}");
    let messages: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["event"] == "chat.message")
        .map(|e| {
            (
                e["data"]["message"]["from"].as_str().unwrap(),
                e["data"]["message"]["content"]["text"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        messages.first(),
        Some(&("end_user", "How do I reset my password?")),
        "the transcript is not re-sent: {messages:?}"
    );
    assert!(messages.iter().any(|(from, _)| *from == "virtual_agent"), "{messages:?}");
}

async fn the_chat_api_checks_who_calls(app: TestApp) {
    let (menu, _) = contact_centre(&app).await;
    let id = create_chat(&app, menu).await["id"].as_i64().unwrap();
    let url = format!("{}/apps/api/v1/chats/{id}", app.base);
    let client = reqwest::Client::new();
    for request in [
        client.get(&url),
        client.get(&url).basic_auth("techstore", Some("pk_wrong")),
        client.get(&url).basic_auth("x", None::<&str>),
    ] {
        let reply = Reply::of(request.send().await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:?}");
        assert!(reply.body["message"].is_string());
    }
    // Another account's key sees no such chat, and cannot write to it.
    let other = app.other_account_key().await;
    let reply = Reply::of(client.get(&url).basic_auth("other", Some(&other)).send().await.unwrap()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let flag =
        client.post(format!("{url}/customer_flag")).basic_auth("other", Some(&other)).json(&json!({"bad_actor": true}));
    assert_eq!(flag.send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}/customer_flag"), None).await.body["bad_actor"], false);
    // Bad input changes nothing.
    let no_menu = ccai(&app, Method::POST, "/chats", Some(json!({"chat": {"menu_id": 999_999}}))).await;
    assert_eq!(no_menu.status, StatusCode::UNPROCESSABLE_ENTITY, "{no_menu:?}");
    let contacts_before = app.get("/api/v1/contacts").await.body["data"].as_array().unwrap().len();
    let bad_transcript = json!({"chat": {"menu_id": menu, "transcript": {"messages": [{"role": "robot", "content": "x"}]}}, "end_user": {"phone": "+393470000001"}});
    assert_eq!(ccai(&app, Method::POST, "/chats", Some(bad_transcript)).await.status, 422);
    let contacts = app.get("/api/v1/contacts").await.body["data"].as_array().unwrap().len();
    assert_eq!(contacts, contacts_before, "a refused chat created no end user");
    assert_eq!(ccai(&app, Method::POST, "/chats", None).await.status, StatusCode::BAD_REQUEST);
}

/// Posts an upload form as a browser does: its fields, then the file.
async fn post_form(url: &str, fields: &Value, overrides: &[(&str, &str)], bytes: Vec<u8>) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields.as_object().unwrap() {
        let value = overrides.iter().find(|(n, _)| n == name).map_or(value.as_str().unwrap(), |(_, v)| v);
        form = form.text(name.clone(), value.to_owned());
    }
    form = form.part("file", reqwest::multipart::Part::bytes(bytes).file_name("photo.png"));
    reqwest::Client::new().post(url).multipart(form).send().await.unwrap()
}

fn png(size: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    bytes.resize(size, 7);
    bytes
}

async fn photos_and_videos_upload_through_signed_forms(app: TestApp) {
    let (menu, _) = contact_centre(&app).await;
    let id = create_chat(&app, menu).await["id"].as_i64().unwrap();
    let form = ccai(&app, Method::POST, &format!("/chats/{id}/photos/upload"), None).await;
    assert_eq!(form.status, StatusCode::OK, "{form:?}");
    let (url, fields) = (form.body["url"].as_str().unwrap().to_owned(), form.body["fields"].clone());
    assert_eq!(url, format!("{}/uploads", app.base));
    let key = fields["key"].as_str().unwrap().to_owned();
    assert_eq!(fields["success_action_status"], "201");

    // What the signed form does not allow is refused, and stores nothing.
    for (overrides, bytes, why) in [
        (vec![("key", "00000000/00000000/00000000000000000000000000000000")], png(100), "another key"),
        (vec![("Content-Type", "text/html")], png(100), "another type"),
        (vec![("policy", "eyJrZXkiOiJ4In0")], png(100), "a forged policy"),
        (vec![], b"<html>not a photo</html>".to_vec(), "not an image"),
        (vec![], png(5000), "larger than the limit"),
    ] {
        let response = post_form(&url, &fields, &overrides, bytes).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{why}");
    }
    let not_uploaded = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/photos"),
        Some(json!({"photo": [{"s3_path": key, "photo_type": "image"}]})),
    )
    .await;
    assert_eq!(not_uploaded.status, StatusCode::UNPROCESSABLE_ENTITY, "{not_uploaded:?}");

    let response = post_form(&url, &fields, &[("Content-Type", "image/png")], png(1200)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(post_form(&url, &fields, &[], png(1200)).await.status(), StatusCode::FORBIDDEN, "a form uploads once");

    // Added as the seed shows, listed, served; a video cannot be a photo's key.
    let added = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/photos"),
        Some(json!({"photo": [{"s3_path": key, "photo_type": "image"}]})),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    let media_id = added.body["media_id"].as_i64().unwrap();
    let listed = ccai(&app, Method::GET, &format!("/chats/{id}/photos"), None).await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["media_id"], media_id);
    let bytes = reqwest::get(listed[0]["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap();
    assert_eq!(bytes.to_vec(), png(1200));
    let as_video =
        ccai(&app, Method::POST, &format!("/chats/{id}/videos"), Some(json!({"video": {"s3_path": key}}))).await;
    assert_eq!(as_video.status, StatusCode::UNPROCESSABLE_ENTITY, "{as_video:?}");
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}/videos"), None).await.body, json!([]));
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await.body["data"].clone();
    let photo = thread.as_array().unwrap().iter().find(|m| m["type"] == "image").expect("the photo is in the thread");
    assert_eq!(photo["sender"]["type"], "contact");

    // A video through its own form.
    let form = ccai(&app, Method::POST, &format!("/chats/{id}/videos/upload"), None).await.body;
    let mut mp4 = b"\0\0\0\x18ftypmp42".to_vec();
    mp4.resize(900, 1);
    let response = post_form(form["url"].as_str().unwrap(), &form["fields"], &[], mp4).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let video_key = form["fields"]["key"].as_str().unwrap();
    let added = ccai(
        &app,
        Method::POST,
        &format!("/chats/{id}/videos"),
        Some(json!({"video": {"s3_path": video_key, "gcs_path": ""}})),
    )
    .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    assert_eq!(ccai(&app, Method::GET, &format!("/chats/{id}/videos"), None).await.body.as_array().unwrap().len(), 1);
}

crate::backend_tests!(with FLAGS; a_chat_as_the_seed_writes_it, the_chat_api_checks_who_calls, photos_and_videos_upload_through_signed_forms);

/// On S3 the form is a real POST policy signed with Signature Version 4: checked here with an
/// independent derivation, then posted to the S3 stand-in, and the file added to the chat.
async fn uploads_go_straight_to_s3(backend: Backend) {
    let s3 = crate::s3::S3Server::start().await;
    s3.create_bucket("chat-media").await;
    let mut flags = FLAGS.to_vec();
    let s3_flags = [
        "--media-store",
        "s3",
        "--s3-bucket",
        "chat-media",
        "--s3-endpoint",
        &s3.endpoint,
        "--s3-access-key-id",
        "testing",
        "--s3-secret-access-key",
        "testing-secret",
        "--s3-path-style",
        "true",
    ];
    flags.extend(s3_flags);
    let app = spawn_app_with(backend, &flags).await;
    let (menu, _) = contact_centre(&app).await;
    let id = create_chat(&app, menu).await["id"].as_i64().unwrap();
    let form = ccai(&app, Method::POST, &format!("/chats/{id}/photos/upload"), None).await.body;
    assert_eq!(form["url"].as_str().unwrap(), format!("{}/chat-media", s3.endpoint));
    let fields = &form["fields"];
    assert_eq!(fields["x-amz-algorithm"], "AWS4-HMAC-SHA256");
    let credential = fields["x-amz-credential"].as_str().unwrap();
    let day = &fields["x-amz-date"].as_str().unwrap()[..8];
    assert_eq!(credential, format!("testing/{day}/us-east-1/s3/aws4_request"));
    let policy: Value = serde_json::from_slice(&STANDARD.decode(fields["policy"].as_str().unwrap()).unwrap()).unwrap();
    let conditions = policy["conditions"].to_string();
    assert!(
        conditions.contains(r#"["content-length-range",1,4000]"#)
            && conditions.contains(r#"["starts-with","$Content-Type","image/"]"#),
        "{conditions}"
    );
    let mut key = format!("AWS4{}", "testing-secret").into_bytes();
    for part in [day, "us-east-1", "s3", "aws4_request"] {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(part.as_bytes());
        key = mac.finalize().into_bytes().to_vec();
    }
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(fields["policy"].as_str().unwrap().as_bytes());
    assert_eq!(fields["x-amz-signature"].as_str().unwrap(), hex::encode(mac.finalize().into_bytes()));

    let response = post_form(form["url"].as_str().unwrap(), fields, &[("Content-Type", "image/png")], png(1500)).await;
    assert!(response.status().is_success(), "S3 refused the form: {}", response.text().await.unwrap());
    let object_key = fields["key"].as_str().unwrap();
    assert!(s3.keys("chat-media").await.contains(&object_key.to_owned()));
    let added =
        ccai(&app, Method::POST, &format!("/chats/{id}/photos"), Some(json!({"photo": [{"s3_path": object_key}]})))
            .await;
    assert_eq!(added.status, StatusCode::OK, "{added:?}");
    let listed = ccai(&app, Method::GET, &format!("/chats/{id}/photos"), None).await.body;
    assert_eq!(listed[0]["media_id"], added.body["media_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_go_straight_to_s3_sqlite() {
    uploads_go_straight_to_s3(Backend::Sqlite).await;
}

crate::postgres_test!(
    async fn uploads_go_straight_to_s3_postgres() {
        uploads_go_straight_to_s3(Backend::Postgres).await;
    }
);
