//! The seed platform's API dialect (`/api/partner-gateway/v1`): seed 000 steps 1–6 as its curl
//! commands are written, the TechStore scenario, errors, Basic auth and the rate limit.

use base64::Engine;
use parley::domain::time::now_ms;
use parley::jobs::webhooks::run_once_at;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Backend, Reply, TestApp};
use crate::receiver::Receiver;

const GATEWAY: &str = "/api/partner-gateway/v1";
const TEXT: &str = "Buongiorno, vorrei sapere lo stato del mio ordine ORD-2026-1584";
const WAMID: &str = "wamid.HBgNMzkzNDcxNDg4NDg5FQIAEhgUM0EB";

crate::backend_tests!(seed_000_steps_and_techstore, errors_in_the_seed_shape, basic_auth_and_filters);

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    app.call(method, &format!("{GATEWAY}{path}"), body).await
}

async fn deliver(app: &TestApp) {
    run_once_at(&app.state, now_ms()).await.unwrap();
}

/// A seed-style error: `{"status","error","message"}`.
fn assert_failure(reply: &Reply, status: StatusCode, message: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["status"], status.as_u16(), "{reply:?}");
    assert_eq!(reply.body["error"], status.canonical_reason().unwrap(), "{reply:?}");
    let text = reply.body["message"].as_str().unwrap_or_default();
    assert!(text.starts_with(message), "{reply:?}");
}

async fn techstore(app: &TestApp) -> i64 {
    let reply = app
        .post(
            "/api/v1/channels",
            json!({"kind": "whatsapp", "name": "TechStore Italia", "address": "+393209998877", "simulation": true}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

async fn marco_writes(app: &TestApp, channel: i64) -> Value {
    let reply = app
        .post(
            &format!("/api/v1/channels/{channel}/inbound"),
            json!({"from": "+393471234567", "name": "Marco Bianchi", "text": TEXT, "provider_message_id": WAMID}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

async fn seed_000_steps_and_techstore(app: TestApp) {
    // Step 1: register the webhook.
    let receiver = Receiver::start().await;
    let created =
        call(&app, Method::POST, "/webhooks/delivery-status", Some(json!({"callbackUrl": receiver.url()}))).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert!(created.body["id"].as_str().unwrap().starts_with("wh-"), "{created:?}");
    assert_eq!(
        (created.body["callbackUrl"].as_str(), created.body["status"].as_str()),
        (Some(receiver.url().as_str()), Some("ACTIVE"))
    );
    receiver.accept(created.body["secret"].as_str().unwrap()).await;
    let registered = call(&app, Method::GET, "/webhooks/delivery-status", None).await;
    assert_eq!(registered.status, StatusCode::OK);
    assert_eq!(registered.body["id"], created.body["id"]);
    assert!(registered.body.get("secret").is_none(), "the secret is shown once");
    let again =
        call(&app, Method::POST, "/webhooks/delivery-status", Some(json!({"callbackUrl": receiver.url()}))).await;
    assert_failure(&again, StatusCode::CONFLICT, "A delivery-status webhook is already configured");
    let native = app.get("/api/v1/webhooks").await;
    assert_eq!(native.body["data"][0]["format"], "qlara", "{native:?}");

    // Step 2: Marco writes; the webhook receives the seed's INBOUND text.
    let channel = techstore(&app).await;
    let inbound = marco_writes(&app, channel).await;
    deliver(&app).await;
    let received = inbound["message"]["created_at"].clone();
    assert_eq!(
        receiver.payloads().await,
        vec![json!({
            "channel": "WHATSAPP",
            "eventType": "INBOUND",
            "messageId": WAMID,
            "source": "+393471234567",
            "destination": "+393209998877",
            "receivedDate": received,
            "messageType": "TEXT",
            "text": TEXT,
        })]
    );

    // Step 3: list unread conversations.
    let chat = inbound["conversation"]["id"].as_i64().unwrap();
    let listed = call(&app, Method::GET, "/inbox/conversations?unreadOnly=true", None).await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    let expected = json!([{
        "id": chat,
        "hasUnreadMessages": true,
        "userName": "Marco Bianchi",
        "phoneNumber": "+393471234567",
        "unreadCount": 1,
        "lastMessageText": TEXT,
        "lastMessageDate": received,
        "socialMedia": "WHATSAPP",
        "companyProfileName": "TechStore Italia",
        "companyPhoneNumber": "+393209998877",
        "whatsappWindowExpire": inbound["conversation"]["window_expires_at"],
    }]);
    assert_eq!(listed.body, expected);
    let window =
        chrono::DateTime::parse_from_rfc3339(listed.body[0]["whatsappWindowExpire"].as_str().unwrap()).unwrap();
    let last = chrono::DateTime::parse_from_rfc3339(received.as_str().unwrap()).unwrap();
    assert_eq!(window - last, chrono::Duration::hours(24));
    let one = call(&app, Method::GET, &format!("/inbox/conversations/{chat}"), None).await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!((one.body["id"].as_i64(), one.body["assigneeId"].clone()), (Some(chat), Value::Null));

    // Step 4: the thread.
    let thread = call(&app, Method::GET, &format!("/inbox/conversations/{chat}/messages"), None).await;
    assert_eq!(thread.status, StatusCode::OK, "{thread:?}");
    let first = inbound["message"]["id"].as_i64().unwrap();
    assert_eq!(
        thread.body,
        json!({
            "profile": {"name": "Marco Bianchi", "phoneNumber": "+393471234567"},
            "messages": [{
                "id": first,
                "text": TEXT,
                "isRead": false,
                "isUserReply": true,
                "createdAt": received,
                "attachments": [],
                "status": "DELIVERED",
            }],
        })
    );

    // TechStore: the question goes to an operator.
    let users = call(&app, Method::GET, "/inbox/assignable-users", None).await;
    assert_eq!(users.status, StatusCode::OK);
    let operator = users.body[0]["userId"].as_i64().unwrap();
    assert_eq!(users.body[0]["email"], "admin@example.com");
    let same = call(&app, Method::GET, "/inbox/conversations/assignable-users", None).await;
    assert_eq!(same.body, users.body);
    let assigned =
        call(&app, Method::POST, &format!("/inbox/conversations/{chat}/assignee"), Some(json!({"userId": operator})))
            .await;
    assert_eq!(assigned.status, StatusCode::NO_CONTENT, "{assigned:?}");
    let one = call(&app, Method::GET, &format!("/inbox/conversations/{chat}"), None).await;
    assert_eq!(one.body["assigneeId"], operator);

    // Step 5: reply; it goes out on the conversation's WhatsApp channel and is delivered.
    let reply_text = "Buongiorno Marco! Il suo ordine ORD-2026-1584 e' in fase di spedizione. Ricevera' il tracking entro oggi pomeriggio.";
    let reply = app
        .client
        .post(format!("{}{GATEWAY}/inbox/conversations/reply", app.base))
        .header("X-Api-Key", &app.key)
        .header("Content-Type", "application/json")
        .body(json!({"chatId": chat, "message": reply_text}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    assert!(reply.headers().get("x-ratelimit-limit").is_some());
    assert!(reply.text().await.unwrap().is_empty(), "202 with an empty body");
    app.drain_jobs().await;
    deliver(&app).await;
    let thread =
        call(&app, Method::GET, &format!("/inbox/conversations/{chat}/messages?idFrom={}", first + 1), None).await;
    let messages = thread.body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{thread:?}");
    assert_eq!((messages[0]["text"].as_str(), messages[0]["isUserReply"].as_bool()), (Some(reply_text), Some(false)));
    assert!(["DELIVERED", "READ"].contains(&messages[0]["status"].as_str().unwrap()), "{thread:?}");
    let native = app.get(&format!("/api/v1/conversations/{chat}/messages")).await;
    let sent = &native.body["data"][1];
    assert_eq!(sent["channel_id"].as_i64(), Some(channel), "routed to the conversation's own channel");
    assert_ne!(sent["sender"]["type"], "operator", "an API key reply has no operator: {sent}");
    let payloads = receiver.payloads().await;
    assert!(
        payloads
            .iter()
            .any(|p| p["eventType"] == "DELIVERY" && p["statusCode"] == 3 && p["destination"] == "+393471234567"),
        "a DELIVERY with statusCode 3: {payloads:?}"
    );

    // Step 6: read, then archive.
    let read = call(&app, Method::PATCH, &format!("/inbox/conversations/{chat}/read"), None).await;
    assert_eq!((read.status, read.body.clone()), (StatusCode::NO_CONTENT, Value::Null));
    assert_eq!(call(&app, Method::GET, "/inbox/conversations?unreadOnly=true", None).await.body, json!([]));
    let listed = call(&app, Method::GET, "/inbox/conversations", None).await;
    assert_eq!(
        (listed.body[0]["unreadCount"].as_i64(), listed.body[0]["hasUnreadMessages"].as_bool()),
        (Some(0), Some(false))
    );
    let archived = call(&app, Method::PATCH, &format!("/inbox/conversations/{chat}/archive"), None).await;
    assert_eq!(archived.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, Method::GET, "/inbox/conversations", None).await.body, json!([]), "archived are left out");
    let refused =
        call(&app, Method::POST, "/inbox/conversations/reply", Some(json!({"chatId": chat, "message": "ancora?"})))
            .await;
    assert_failure(&refused, StatusCode::BAD_REQUEST, "Invalid chatId");
    let restored = call(&app, Method::PATCH, &format!("/inbox/conversations/{chat}/unarchive"), None).await;
    assert_eq!(restored.status, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, Method::GET, "/inbox/conversations", None).await.body[0]["id"], chat);
    for _ in 0..2 {
        let unassigned = call(&app, Method::DELETE, &format!("/inbox/conversations/{chat}/assignee"), None).await;
        assert_eq!(unassigned.status, StatusCode::NO_CONTENT, "idempotent");
    }
    assert_eq!(
        call(&app, Method::GET, &format!("/inbox/conversations/{chat}"), None).await.body["assigneeId"],
        Value::Null
    );

    // The registration can move and go.
    let moved =
        call(&app, Method::PUT, "/webhooks/delivery-status", Some(json!({"callbackUrl": "https://example.com/hook"})))
            .await;
    assert_eq!((moved.status, moved.body["callbackUrl"].as_str()), (StatusCode::OK, Some("https://example.com/hook")));
    assert_eq!(call(&app, Method::DELETE, "/webhooks/delivery-status", None).await.status, StatusCode::NO_CONTENT);
    assert_failure(
        &call(&app, Method::GET, "/webhooks/delivery-status", None).await,
        StatusCode::NOT_FOUND,
        "No delivery-status webhook",
    );
    assert_failure(
        &call(&app, Method::DELETE, "/webhooks/delivery-status", None).await,
        StatusCode::NOT_FOUND,
        "No delivery-status webhook",
    );
}

async fn errors_in_the_seed_shape(app: TestApp) {
    let anonymous = app.client.get(format!("{}{GATEWAY}/inbox/conversations", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let body: Value = anonymous.json().await.unwrap();
    assert_eq!(body, json!({"status": 401, "error": "Unauthorized", "message": "Missing or invalid API Key"}));
    let wrong =
        app.call_as("pk_not_a_real_key_at_all", Method::GET, &format!("{GATEWAY}/inbox/conversations"), None).await;
    assert_failure(&wrong, StatusCode::UNAUTHORIZED, "Missing or invalid API Key");
    let lower = app
        .client
        .get(format!("{}{GATEWAY}/inbox/conversations", app.base))
        .header("x-api-key", &app.key)
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status(), StatusCode::OK, "header names are case-insensitive");

    let channel = techstore(&app).await;
    let chat = marco_writes(&app, channel).await["conversation"]["id"].as_i64().unwrap();
    for path in ["/inbox/conversations/999999", "/inbox/conversations/999999/messages", "/inbox/conversations/abc"] {
        assert_failure(&call(&app, Method::GET, path, None).await, StatusCode::NOT_FOUND, "Conversation not found");
    }
    for action in ["read", "archive", "unarchive"] {
        let reply = call(&app, Method::PATCH, &format!("/inbox/conversations/999999/{action}"), None).await;
        assert_failure(&reply, StatusCode::NOT_FOUND, "Conversation not found");
    }
    let other = app.other_account_key().await;
    let foreign = app.call_as(&other, Method::GET, &format!("{GATEWAY}/inbox/conversations/{chat}"), None).await;
    assert_failure(&foreign, StatusCode::NOT_FOUND, "Conversation not found");
    let foreign =
        app.call_as(&other, Method::PATCH, &format!("{GATEWAY}/inbox/conversations/{chat}/archive"), None).await;
    assert_failure(&foreign, StatusCode::NOT_FOUND, "Conversation not found");
    let foreign = app
        .call_as(
            &other,
            Method::POST,
            &format!("{GATEWAY}/inbox/conversations/reply"),
            Some(json!({"chatId": chat, "message": "hi"})),
        )
        .await;
    assert_failure(&foreign, StatusCode::BAD_REQUEST, "Invalid chatId");
    assert_eq!(app.call_as(&other, Method::GET, &format!("{GATEWAY}/inbox/conversations"), None).await.body, json!([]));

    let missing =
        call(&app, Method::POST, "/inbox/conversations/reply", Some(json!({"chatId": 999999, "message": "hi"}))).await;
    assert_eq!(missing.body, json!({"status": 400, "error": "Bad Request", "message": "Invalid chatId"}));
    let no_id = call(&app, Method::POST, "/inbox/conversations/reply", Some(json!({"message": "hi"}))).await;
    assert_failure(&no_id, StatusCode::BAD_REQUEST, "Invalid chatId");
    let no_text = call(&app, Method::POST, "/inbox/conversations/reply", Some(json!({"chatId": chat}))).await;
    assert_failure(&no_text, StatusCode::BAD_REQUEST, "message is required");

    // The WhatsApp window closed 1 hour ago.
    let past = now_ms() - 25 * 3600 * 1000;
    sqlx::query("UPDATE conversations SET last_inbound_at = $1, window_expires_at = $2 WHERE id = $3")
        .bind(past)
        .bind(past + 24 * 3600 * 1000)
        .bind(chat)
        .execute(app.state.db.reader())
        .await
        .unwrap();
    let expired =
        call(&app, Method::POST, "/inbox/conversations/reply", Some(json!({"chatId": chat, "message": "hi"}))).await;
    assert_failure(&expired, StatusCode::BAD_REQUEST, "Window expired");

    let nobody =
        call(&app, Method::POST, &format!("/inbox/conversations/{chat}/assignee"), Some(json!({"userId": 999999})))
            .await;
    assert_failure(&nobody, StatusCode::NOT_FOUND, "User not found");
    let null =
        call(&app, Method::POST, &format!("/inbox/conversations/{chat}/assignee"), Some(json!({"userId": null}))).await;
    assert_failure(&null, StatusCode::BAD_REQUEST, "userId is required");
    let unassign = call(&app, Method::DELETE, "/inbox/conversations/999999/assignee", None).await;
    assert_failure(&unassign, StatusCode::NOT_FOUND, "Conversation not found");

    let empty = call(&app, Method::POST, "/webhooks/delivery-status", Some(json!({}))).await;
    assert_failure(&empty, StatusCode::BAD_REQUEST, "callbackUrl is required");
    let bad = call(&app, Method::POST, "/webhooks/delivery-status", Some(json!({"callbackUrl": "ftp://x"}))).await;
    assert_failure(&bad, StatusCode::BAD_REQUEST, "Invalid callbackUrl");
    let put =
        call(&app, Method::PUT, "/webhooks/delivery-status", Some(json!({"callbackUrl": "https://example.com/x"})))
            .await;
    assert_failure(&put, StatusCode::NOT_FOUND, "No delivery-status webhook");
    let order = call(&app, Method::GET, "/inbox/conversations?orderBy=-colour", None).await;
    assert_failure(&order, StatusCode::BAD_REQUEST, "orderBy: unknown field");
    let date = call(&app, Method::GET, "/inbox/conversations?dateFrom=yesterday", None).await;
    assert_failure(&date, StatusCode::BAD_REQUEST, "dateFrom");
    assert_failure(&call(&app, Method::GET, "/nowhere", None).await, StatusCode::NOT_FOUND, "No such endpoint");
}

async fn basic_auth_and_filters(app: TestApp) {
    let basic = |user: &str, password: &str| {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    };
    let get = |authorization: String, path: &str| {
        app.client.get(format!("{}{GATEWAY}{path}", app.base)).header("Authorization", authorization).send()
    };
    let ok = get(basic("admin@example.com", "correct horse battery"), "/inbox/conversations").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.headers()["x-ratelimit-limit"], "1000", "the default: 1,000 a minute");
    let wrong = get(basic("admin@example.com", "wrong"), "/inbox/conversations").await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let stranger = get(basic("nobody@example.com", "correct horse battery"), "/inbox/conversations").await.unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
    let garbage = get("Basic !!!".to_owned(), "/inbox/conversations").await.unwrap();
    assert_eq!(garbage.status(), StatusCode::UNAUTHORIZED);

    // Filters and order.
    let wa = techstore(&app).await;
    let sms = app.channel("sms", "+393200000000", true).await;
    let first = app.inbound(wa, "+393471234567", "Marco", "primo").await["conversation"]["id"].as_i64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let second = app.inbound(sms, "+393471111111", "Anna", "secondo").await["conversation"]["id"].as_i64().unwrap();
    let ids = |reply: &Reply| -> Vec<i64> {
        reply.body.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
    };
    assert_eq!(ids(&call(&app, Method::GET, "/inbox/conversations", None).await), vec![second, first]);
    assert_eq!(
        ids(&call(&app, Method::GET, "/inbox/conversations?orderBy=-lastMessageDate", None).await),
        vec![second, first]
    );
    assert_eq!(
        ids(&call(&app, Method::GET, "/inbox/conversations?orderBy=%2BlastMessageDate", None).await),
        vec![first, second]
    );
    let only_wa = call(&app, Method::GET, &format!("/inbox/conversations?channelIds=WHATSAPP-{wa}"), None).await;
    assert_eq!(ids(&only_wa), vec![first]);
    assert_eq!(only_wa.body[0]["socialMedia"], "WHATSAPP");
    let both = call(
        &app,
        Method::GET,
        &format!("/inbox/conversations?channelIds=WHATSAPP-{wa},SMS-{sms}&orderBy=%2Bid"),
        None,
    )
    .await;
    assert_eq!(ids(&both), vec![first, second]);
    assert_eq!(both.body[1]["socialMedia"], "SMS");
    assert_eq!(both.body[1]["whatsappWindowExpire"], Value::Null);
    let future = call(&app, Method::GET, "/inbox/conversations?dateFrom=2999-01-01T00:00:00Z", None).await;
    assert_eq!(future.body, json!([]));
    let past = call(&app, Method::GET, "/inbox/conversations?dateFrom=2020-01-01", None).await;
    assert_eq!(ids(&past).len(), 2);

    // Threads page by id.
    app.inbound(wa, "+393471234567", "Marco", "terzo").await;
    let thread = call(&app, Method::GET, &format!("/inbox/conversations/{first}/messages"), None).await;
    let message_ids: Vec<i64> =
        thread.body["messages"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(message_ids.len(), 2);
    let newer =
        call(&app, Method::GET, &format!("/inbox/conversations/{first}/messages?idFrom={}", message_ids[1]), None)
            .await;
    assert_eq!(newer.body["messages"].as_array().unwrap().len(), 1);
    let older =
        call(&app, Method::GET, &format!("/inbox/conversations/{first}/messages?idTo={}", message_ids[0]), None).await;
    assert_eq!(older.body["messages"][0]["text"], "primo");

    // Media arrive as attachments with their key.
    let media = crate::media::upload_png(&app).await;
    let key = media["key"].as_str().unwrap();
    let image = app
        .post(
            &format!("/api/v1/channels/{wa}/inbound"),
            json!({"from": "+393471234567", "type": "image", "media_key": key}),
        )
        .await;
    assert_eq!(image.status, StatusCode::CREATED, "{image:?}");
    let thread = call(&app, Method::GET, &format!("/inbox/conversations/{first}/messages"), None).await;
    let last = thread.body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["attachments"],
        json!([{"mediaKey": key, "type": "IMAGE", "url": format!("/api/files/{key}")}]),
        "{last}"
    );
    let link = app.get(last["attachments"][0]["url"].as_str().unwrap()).await;
    assert_eq!((link.status, link.body["mediaKey"].as_str()), (StatusCode::OK, Some(key)));

    // A reply by an operator signed in with Basic is theirs.
    let reply = app
        .client
        .post(format!("{}{GATEWAY}/inbox/conversations/reply", app.base))
        .header("Authorization", basic("admin@example.com", "correct horse battery"))
        .json(&json!({"chatId": first, "message": "Arriva oggi", "simulation": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    let native = app.get(&format!("/api/v1/conversations/{first}/messages")).await;
    let sent = native.body["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((sent["text"].as_str(), sent["simulated"].as_bool()), (Some("Arriva oggi"), Some(true)));
    assert_eq!((sent["sender"]["type"].as_str(), sent["sender"]["id"].as_i64()), (Some("operator"), Some(1)), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_headers_and_429() {
    let app =
        spawn_app_with(Backend::Sqlite, &["--compat-rate-limit-per-minute", "3", "--compat-rate-limit-burst", "50"])
            .await;
    let mut remaining = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let reply = call(&app, Method::GET, "/inbox/conversations", None).await;
        assert_eq!(reply.headers["x-ratelimit-limit"], "3");
        let reset: u64 = reply.headers["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&reset), "{reset}");
        remaining.push(reply.headers["x-ratelimit-remaining"].to_str().unwrap().parse::<u32>().unwrap());
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            last = Some(reply);
            break;
        }
    }
    let refused = last.expect("a 429 within the minute (or the next, if the minute turned)");
    assert_eq!(refused.body["status"], 429);
    assert_eq!(refused.body["error"], "Too Many Requests");
    let wait = refused.body["retryAfter"].as_u64().unwrap();
    assert!((1..=60).contains(&wait), "{refused:?}");
    assert!(refused.body["message"].as_str().unwrap().contains(&wait.to_string()));
    assert_eq!(refused.headers["retry-after"], wait.to_string().as_str());
    assert_eq!(remaining.last(), Some(&0));
    // Another key has its own window.
    let other = app.other_account_key().await;
    let theirs = app.call_as(&other, Method::GET, &format!("{GATEWAY}/inbox/conversations"), None).await;
    assert_eq!((theirs.status, theirs.headers["x-ratelimit-remaining"].to_str().unwrap()), (StatusCode::OK, "2"));
    // The native API is not counted in this limit.
    assert_eq!(app.get("/api/v1/conversations").await.status, StatusCode::OK);

    // Bursts: at most 2 a second.
    let app =
        spawn_app_with(Backend::Sqlite, &["--compat-rate-limit-per-minute", "1000", "--compat-rate-limit-burst", "2"])
            .await;
    let mut refused = None;
    for _ in 0..8 {
        let reply = call(&app, Method::GET, "/inbox/conversations", None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
    }
    let refused = refused.expect("the burst limit refuses");
    assert_eq!(refused.body["retryAfter"], 1);
}
