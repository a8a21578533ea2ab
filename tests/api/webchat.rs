//! The web chat widget's API as a visitor's browser calls it (no API key, an `Origin`, a bearer
//! session token): allowed and refused origins with their CORS answers, a conversation with the
//! business both ways, one visitor never seeing another's messages, the live stream resumed without
//! loss or repeats, and identity proved by HMAC or JWT (valid, wrong, expired) or only claimed.

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

const SHOP: &str = "https://shop.example.com";
const SECRET: &str = "identity-secret-of-the-shop-0123456789";

/// A live web chat channel for the shop's site; returns (id, public id).
async fn widget_channel(app: &TestApp, identity: &str) -> (i64, String) {
    let settings = json!({"allowed_origins": format!("{SHOP} http://localhost:8080"), "identity_secret": SECRET, "identity": identity});
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "webchat", "name": "Shop chat", "address": "shop-site", "settings": settings}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    assert!(reply.body["settings"].get("identity_secret").is_none(), "the secret is write-only");
    let public_id = reply.body["public_id"].as_str().unwrap().to_owned();
    assert_eq!(public_id.len(), 32, "128 random bits: {public_id}");
    (reply.body["id"].as_i64().unwrap(), public_id)
}

/// A visitor's browser on a page of `origin`.
struct Visitor {
    http: reqwest::Client,
    base: String,
    origin: String,
    token: Option<String>,
}

impl Visitor {
    fn new(app: &TestApp, public_id: &str, origin: &str) -> Visitor {
        Visitor {
            http: reqwest::Client::new(),
            base: format!("{}/widget/v1/channels/{public_id}", app.base),
            origin: origin.to_owned(),
            token: None,
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).header("Origin", &self.origin);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::of(request.send().await.unwrap()).await
    }

    /// Opens a session; answers the visitor.
    async fn open(&mut self) -> Value {
        let reply = self.call(Method::POST, "/sessions", None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        assert_eq!(reply.headers["access-control-allow-origin"], self.origin.as_str());
        self.token = Some(reply.body["token"].as_str().unwrap().to_owned());
        reply.body["visitor"].clone()
    }

    async fn say(&self, text: &str) -> Value {
        let reply = self.call(Method::POST, "/messages", Some(json!({ "text": text }))).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        reply.body
    }

    async fn thread(&self) -> Vec<(String, String)> {
        let reply = self.call(Method::GET, "/messages", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        reply.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["from"].as_str().unwrap().to_owned(), m["text"].as_str().unwrap_or_default().to_owned()))
            .collect()
    }

    async fn identify(&mut self, body: Value) -> Reply {
        let reply = self.call(Method::POST, "/identify", Some(body)).await;
        if reply.status == StatusCode::OK {
            self.token = Some(reply.body["token"].as_str().unwrap().to_owned());
        }
        reply
    }
}

fn hmac_hex(identifier: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(identifier.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// An HS256 JWT for `sub`, expiring `ttl` seconds from now.
fn jwt(sub: &str, ttl: i64) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let now = chrono::Utc::now().timestamp();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": sub, "iat": now - 10, "exp": now + ttl}).to_string());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{header}.{claims}").as_bytes());
    format!("{header}.{claims}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

/// The operator's reply in the visitor's conversation (by the visitor's last message).
async fn operator_replies(app: &TestApp, message: &Value, text: &str, private: bool) {
    let row = parley::store::messages::find_message(app.state.db.reader(), message["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    let path = format!("/api/v1/conversations/{}/messages", row.conversation_id);
    let reply = app.post(&path, json!({ "text": text, "private": private })).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    app.drain_jobs().await;
}

async fn visitors_chat_from_allowed_sites_only_and_see_only_their_own(app: TestApp) {
    let (channel, public_id) = widget_channel(&app, "optional").await;

    // Other sites, and requests without an Origin, are refused; preflights answer the same way.
    let mut stranger = Visitor::new(&app, &public_id, "https://evil.example");
    let refused = stranger.call(Method::POST, "/sessions", None).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "origin_not_allowed");
    assert!(refused.headers.get("access-control-allow-origin").is_none());
    let preflight = |origin: &str| {
        reqwest::Client::new()
            .request(Method::OPTIONS, format!("{}/widget/v1/channels/{public_id}/messages", app.base))
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "POST")
            .send()
    };
    let allowed = preflight(SHOP).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::NO_CONTENT);
    assert_eq!(allowed.headers()["access-control-allow-origin"], SHOP);
    assert!(allowed.headers()["access-control-allow-headers"].to_str().unwrap().contains("authorization"));
    assert_eq!(preflight("https://evil.example").await.unwrap().status(), StatusCode::FORBIDDEN);
    stranger.origin = String::new();
    assert_eq!(stranger.call(Method::POST, "/sessions", None).await.status, StatusCode::FORBIDDEN);
    let unknown = Visitor::new(&app, "0123456789abcdef0123456789abcdef", SHOP);
    assert_problem(&unknown.call(Method::POST, "/sessions", None).await, StatusCode::NOT_FOUND, "not_found");

    // A visitor chats; the team sees the conversation and answers; private notes stay inside.
    let mut anna = Visitor::new(&app, &public_id, SHOP);
    let visitor = anna.open().await;
    assert_eq!(visitor["verified"], false);
    assert!(anna.token.as_ref().unwrap().len() >= 43, "a token of at least 128 bits");
    let first = anna.say("Ciao, avete la taglia M?").await;
    assert_eq!(first["from"], "visitor");
    // The team sees the page she wrote from.
    let page = anna
        .call(
            Method::POST,
            "/messages",
            Some(json!({"text": "Questa", "page_url": "https://shop.example.com/scarpe?id=7"})),
        )
        .await;
    assert_eq!(page.status, StatusCode::CREATED, "{page:?}");
    let stored = parley::store::messages::find_message(app.state.db.reader(), page.body["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored.payload).unwrap()["page"]["url"],
        "https://shop.example.com/scarpe?id=7"
    );
    let bad_page =
        anna.call(Method::POST, "/messages", Some(json!({"text": "x", "page_url": "javascript:alert(1)"}))).await;
    assert_field_error(&bad_page, "page_url");
    let listed = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{}", listed.body);
    operator_replies(&app, &first, "Sì, è disponibile!", false).await;
    operator_replies(&app, &first, "Cliente abituale", true).await;
    assert_eq!(
        anna.thread().await,
        vec![
            ("visitor".to_owned(), "Ciao, avete la taglia M?".to_owned()),
            ("visitor".to_owned(), "Questa".to_owned()),
            ("agent".to_owned(), "Sì, è disponibile!".to_owned())
        ]
    );

    // Another visitor sees nothing of hers, whatever they ask for; bad tokens are refused.
    let mut bruno = Visitor::new(&app, &public_id, SHOP);
    bruno.open().await;
    assert!(bruno.thread().await.is_empty());
    let all = bruno.call(Method::GET, "/messages?after=0", None).await;
    assert_eq!(all.body["data"], json!([]));
    bruno.say("Buongiorno").await;
    assert_eq!(bruno.thread().await.len(), 1);
    assert_eq!(anna.thread().await.len(), 3);
    let mut forged = Visitor::new(&app, &public_id, SHOP);
    forged.token = Some("not-a-session".to_owned());
    assert_problem(&forged.call(Method::GET, "/messages", None).await, StatusCode::UNAUTHORIZED, "unauthorized");
    forged.token = None;
    assert_eq!(forged.call(Method::GET, "/messages", None).await.status, StatusCode::UNAUTHORIZED);
    // A session belongs to its channel.
    let (_, other_public) = widget_channel_named(&app, "other-site").await;
    let mut elsewhere = Visitor::new(&app, &other_public, SHOP);
    elsewhere.token = anna.token.clone();
    assert_eq!(elsewhere.call(Method::GET, "/messages", None).await.status, StatusCode::UNAUTHORIZED);
}

/// A second web chat channel.
async fn widget_channel_named(app: &TestApp, address: &str) -> (i64, String) {
    let settings = json!({"allowed_origins": SHOP});
    let reply = app
        .post("/api/v1/channels", json!({"kind": "webchat", "name": address, "address": address, "settings": settings}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    (reply.body["id"].as_i64().unwrap(), reply.body["public_id"].as_str().unwrap().to_owned())
}

/// The next event of a stream other than the chat's `state`, within 10 s.
async fn next_event<S, E>(events: &mut S) -> eventsource_stream::Event
where
    S: futures::Stream<Item = Result<eventsource_stream::Event, E>> + Unpin,
    E: std::fmt::Debug,
{
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), events.next());
        let event = next.await.expect("an event in time").expect("the stream goes on").expect("a readable event");
        // The chat's `state` comes along whenever it may have changed (checked in the browser tests).
        if event.event != "state" {
            return event;
        }
    }
}

async fn the_stream_resumes_without_loss_or_repeats(app: TestApp) {
    let (_, public_id) = widget_channel(&app, "optional").await;
    let mut carla = Visitor::new(&app, &public_id, SHOP);
    carla.open().await;
    let first = carla.say("Il mio ordine?").await;
    let stream = |last: Option<i64>| {
        let mut request = carla
            .http
            .get(format!("{}/events", carla.base))
            .header("Origin", SHOP)
            .bearer_auth(carla.token.as_ref().unwrap());
        if let Some(last) = last {
            request = request.header("Last-Event-ID", last.to_string());
        }
        request.send()
    };
    let response = stream(None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
    let mut events = eventsource_stream::EventStream::new(response.bytes_stream());
    let opening = next_event(&mut events).await;
    assert_eq!(opening.id, first["id"].to_string());
    operator_replies(&app, &first, "Spedito ieri", false).await;
    let reply = next_event(&mut events).await;
    let data: Value = serde_json::from_str(&reply.data).unwrap();
    assert_eq!((data["from"].as_str(), data["text"].as_str()), (Some("agent"), Some("Spedito ieri")));
    drop(events);

    // Reconnecting after the last id seen: only what came since, once.
    operator_replies(&app, &first, "Arriva domani", false).await;
    let resumed = stream(Some(reply.id.parse().unwrap())).await.unwrap();
    let mut events = eventsource_stream::EventStream::new(resumed.bytes_stream());
    let next_one = next_event(&mut events).await;
    assert_eq!(serde_json::from_str::<Value>(&next_one.data).unwrap()["text"], "Arriva domani");
}

async fn identity_is_proved_or_only_claimed(app: TestApp) {
    let (channel, public_id) = widget_channel(&app, "optional").await;
    // The customer u-42 chatted before, proved by HMAC, from another browser.
    let mut earlier = Visitor::new(&app, &public_id, SHOP);
    earlier.open().await;
    let old_token = earlier.token.clone();
    let proved = earlier
        .identify(json!({"identifier": "u-42", "identifier_hash": hmac_hex("u-42"), "name": "Dora Rossi"}))
        .await;
    assert_eq!(proved.status, StatusCode::OK, "{proved:?}");
    assert_eq!(proved.body["visitor"]["verified"], true);
    assert_ne!(earlier.token, old_token, "identifying rotates the token");
    let mut stale = Visitor::new(&app, &public_id, SHOP);
    stale.token = old_token;
    assert_eq!(stale.call(Method::GET, "/messages", None).await.status, StatusCode::UNAUTHORIZED);
    earlier.say("Vorrei cambiare l'indirizzo").await;

    // Someone who only claims to be u-42 sees none of it and joins no one.
    let mut claimant = Visitor::new(&app, &public_id, SHOP);
    claimant.open().await;
    let claimed = claimant.identify(json!({"identifier": "u-42", "email": "dora@example.com"})).await;
    assert_eq!((claimed.status, claimed.body["visitor"]["verified"].as_bool()), (StatusCode::OK, Some(false)));
    assert!(claimant.thread().await.is_empty());
    claimant.say("Sono Dora").await;
    assert_eq!(earlier.thread().await.len(), 1);

    // Wrong proofs are refused and change nothing.
    let mut later = Visitor::new(&app, &public_id, SHOP);
    later.open().await;
    later.say("Ciao di nuovo").await;
    let before = later.token.clone();
    for body in [
        json!({"identifier": "u-42", "identifier_hash": hmac_hex("u-43")}),
        json!({"identifier": "u-42", "identity_token": jwt("u-43", 600)}),
        json!({"identifier": "u-42", "identity_token": jwt("u-42", -5)}),
        json!({"identifier": "u-42", "identity_token": format!("{}x", jwt("u-42", 600))}),
    ] {
        assert_problem(&later.identify(body).await, StatusCode::FORBIDDEN, "identity_invalid");
    }
    assert_eq!(later.token, before);
    assert_eq!(later.thread().await.len(), 1);

    // A valid JWT joins the customer: their earlier chat and this browser's messages together.
    let joined = later.identify(json!({"identifier": "u-42", "identity_token": jwt("u-42", 600)})).await;
    assert_eq!(joined.status, StatusCode::OK, "{joined:?}");
    let texts: Vec<String> = later.thread().await.into_iter().map(|(_, text)| text).collect();
    assert_eq!(texts, ["Vorrei cambiare l'indirizzo", "Ciao di nuovo"], "one customer, one history");
    let contacts = app.get(&format!("/api/v1/conversations?channel_id={channel}")).await;
    let names: Vec<&str> =
        contacts.body["data"].as_array().unwrap().iter().filter_map(|c| c["contact"]["name"].as_str()).collect();
    assert!(names.contains(&"Dora Rossi"), "{names:?}");
}

async fn a_channel_can_require_identity(app: TestApp) {
    let (_, public_id) = widget_channel(&app, "required").await;
    let mut guest = Visitor::new(&app, &public_id, SHOP);
    guest.open().await;
    let refused = guest.call(Method::POST, "/messages", Some(json!({"text": "ciao"}))).await;
    assert_problem(&refused, StatusCode::FORBIDDEN, "identity_required");
    assert_problem(&guest.identify(json!({"identifier": "u-7"})).await, StatusCode::FORBIDDEN, "identity_required");
    let proved = guest.identify(json!({"identifier": "u-7", "identifier_hash": hmac_hex("u-7")})).await;
    assert_eq!(proved.status, StatusCode::OK, "{proved:?}");
    guest.say("Ora posso scrivere").await;
    let settings = json!({"allowed_origins": SHOP, "identity": "required"});
    let bad = app
        .post("/api/v1/channels", json!({"kind": "webchat", "name": "x", "address": "x", "settings": settings}))
        .await;
    assert_field_error(&bad, "settings.identity_secret");
}

async fn visitors_and_addresses_are_rate_limited(app: TestApp) {
    let (_, public_id) = widget_channel(&app, "optional").await;
    let mut visitor = Visitor::new(&app, &public_id, SHOP);
    visitor.open().await;
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(visitor.call(Method::GET, "/messages", None).await.status);
    }
    assert!(statuses[..25].iter().all(|status| *status == StatusCode::OK), "{statuses:?}");
    let limited = visitor.call(Method::GET, "/messages", None).await;
    assert_problem(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Opening sessions is limited per address too (one visitor opened one above).
    let mut opened = Vec::new();
    for _ in 0..40 {
        opened.push(Visitor::new(&app, &public_id, SHOP).call(Method::POST, "/sessions", None).await.status);
    }
    assert!(opened.contains(&StatusCode::TOO_MANY_REQUESTS), "{opened:?}");
    assert!(opened[..25].iter().all(|status| *status == StatusCode::CREATED), "{opened:?}");
}

async fn typing_and_drafts_reach_both_sides(app: TestApp) {
    let (_, public_id) = widget_channel(&app, "optional").await;
    let mut elena = Visitor::new(&app, &public_id, SHOP);
    elena.open().await;
    let first = elena.say("Una domanda").await;
    let conversation = parley::store::messages::find_message(app.state.db.reader(), first["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap()
        .conversation_id;

    // The visitor types: the team's inbox hears it as the conversation's typing event.
    let typed = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE type = 'conversation.typing'")
            .fetch_one(app.state.db.reader())
            .await
            .unwrap()
    };
    let before = typed().await;
    assert_eq!(elena.call(Method::POST, "/typing", None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(typed().await, before + 1);

    // The visitor's stream carries an operator typing and an agent's draft of their conversation only.
    let response = elena
        .http
        .get(format!("{}/events", elena.base))
        .header("Origin", SHOP)
        .bearer_auth(elena.token.as_ref().unwrap())
        .send()
        .await
        .unwrap();
    let mut events = eventsource_stream::EventStream::new(response.bytes_stream());
    assert_eq!(next_event(&mut events).await.event, "message");
    let typing = app.post(&format!("/api/v1/conversations/{conversation}/typing"), json!({"on": true})).await;
    assert_eq!(typing.status, StatusCode::OK, "{typing:?}");
    let shown = next_event(&mut events).await;
    assert_eq!((shown.event.as_str(), shown.data.as_str()), ("typing", r#"{"on":true}"#));
    let draft = |id: i64, text: &str| json!({"conversation_id": id, "draft_id": "d-1", "virtual_agent_id": 1, "delta": text, "text": text});
    app.state.events.publish(1, "message.delta", draft(conversation + 1000, "di qualcun altro"));
    app.state.events.publish(1, "message.delta", draft(conversation, "Sto cercando"));
    let shown = next_event(&mut events).await;
    assert_eq!(shown.event, "draft");
    assert_eq!(serde_json::from_str::<Value>(&shown.data).unwrap(), json!({"draft_id": "d-1", "text": "Sto cercando"}));
}

/// Waiting for a person nobody is free to be, the visitor continues by email; an ended chat is
/// rated once; photos and files arrive checked by their bytes.
async fn email_instead_of_waiting_then_a_rating_and_files(app: TestApp) {
    let (_, public_id) = widget_channel(&app, "optional").await;
    let mut visitor = Visitor::new(&app, &public_id, SHOP);
    visitor.open().await;
    assert_eq!(visitor.call(Method::GET, "/state", None).await.status, StatusCode::NO_CONTENT, "no chat yet");
    let first = visitor.say("Vorrei parlare con qualcuno").await;
    let conversation = parley::store::messages::find_message(app.state.db.reader(), first["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap()
        .conversation_id;
    let waiting = visitor.call(Method::POST, "/deflect", Some(json!({"email": "anna@example.com"}))).await;
    assert_eq!(waiting.status, StatusCode::CONFLICT, "nothing to deflect before an escalation: {waiting:?}");

    let escalated =
        app.post(&format!("/api/v1/conversations/{conversation}/escalations"), json!({"force": true})).await;
    assert_eq!(escalated.status, StatusCode::CREATED, "{escalated:?}");
    let state = visitor.call(Method::GET, "/state", None).await.body;
    assert_eq!(
        (state["escalation"].as_str(), state["people_available"].as_bool()),
        (Some("escalating"), Some(false)),
        "{state}"
    );
    let bad = visitor.call(Method::POST, "/deflect", Some(json!({"email": "not an email"}))).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
    assert_eq!(
        visitor.call(Method::GET, "/state", None).await.body["escalation"],
        "escalating",
        "a bad email changes nothing"
    );
    let deflected = visitor.call(Method::POST, "/deflect", Some(json!({"email": "anna@example.com"}))).await;
    assert_eq!(deflected.status, StatusCode::OK, "{deflected:?}");
    assert_eq!(deflected.body["escalation"], "deflected");
    let escalations = app.get(&format!("/api/v1/conversations/{conversation}/escalations")).await.body["data"].clone();
    assert_eq!(
        (escalations[0]["status"].as_str(), escalations[0]["deflection_channel"].as_str()),
        (Some("deflected"), Some("email"))
    );
    let view = app.get(&format!("/api/v1/conversations/{conversation}")).await.body;
    let contact = app.get(&format!("/api/v1/contacts/{}", view["contact"]["id"])).await.body;
    assert_eq!(contact["email"], "anna@example.com");
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await.body["data"].clone();
    let note = thread.as_array().unwrap().iter().find(|m| m["private"] == true).expect("a note for the team");
    assert!(note["text"].as_str().unwrap().contains("anna@example.com"));
    assert!(
        !visitor.thread().await.iter().any(|(_, text)| text.contains("continue by email")),
        "the note stays inside"
    );

    // A rating waits for the end, takes up or down, and is kept on the conversation.
    let early = visitor.call(Method::POST, "/rating", Some(json!({"rating": "up"}))).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{early:?}");
    assert_eq!(
        app.post(&format!("/api/v1/conversations/{conversation}/close"), json!({})).await.status,
        StatusCode::OK
    );
    assert_eq!(visitor.call(Method::POST, "/rating", Some(json!({"rating": "5 stars"}))).await.status, 422);
    let rated = visitor.call(Method::POST, "/rating", Some(json!({"rating": "down"}))).await;
    assert_eq!((rated.status, rated.body["rating"].as_str()), (StatusCode::OK, Some("down")), "{rated:?}");
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}")).await.body["meta"]["rating"], "down");
    let mut stranger = Visitor::new(&app, &public_id, SHOP);
    stranger.open().await;
    assert_eq!(
        stranger.call(Method::POST, "/rating", Some(json!({"rating": "up"}))).await.status,
        StatusCode::NOT_FOUND
    );

    // Files: a photo by its bytes; anything else refused.
    let upload = |bytes: Vec<u8>| {
        let form = reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(bytes).file_name("f"));
        reqwest::Client::new()
            .post(format!("{}/widget/v1/channels/{public_id}/uploads", app.base))
            .header("Origin", SHOP)
            .bearer_auth(visitor.token.clone().unwrap())
            .multipart(form)
            .send()
    };
    let refused = upload(b"MZ\x90\0 not a photo".to_vec()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let sent = upload(crate::media::png_bytes(500)).await.unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!((sent["type"].as_str(), sent["media"].as_array().map(Vec::len)), (Some("image"), Some(1)), "{sent}");
}

crate::backend_tests!(
    email_instead_of_waiting_then_a_rating_and_files,
    typing_and_drafts_reach_both_sides,
    visitors_and_addresses_are_rate_limited,
    visitors_chat_from_allowed_sites_only_and_see_only_their_own,
    the_stream_resumes_without_loss_or_repeats,
    identity_is_proved_or_only_claimed,
    a_channel_can_require_identity,
);
