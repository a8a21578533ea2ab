//! The AgentClara conversations API (`/agentclara`): the seed's examples as written, its filters,
//! offsets and error strings, customers' messages relayed by another system, its webhooks verified
//! by the reference receiver, and its request windows.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{Reply, TestApp};
use crate::receiver::Receiver;

crate::backend_tests!(
    the_seed_examples_run_unchanged,
    lists_filter_and_page_by_offset,
    errors_answer_in_the_envelope,
    customers_are_listed_searched_and_kept,
    voice_conversations_hold_calls
);

/// A call to the dialect with the app's key as a bearer token.
async fn clara(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    let mut request = app
        .client
        .request(method, format!("{}/agentclara{path}", app.base))
        .header("Authorization", format!("Bearer {}", app.key));
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::of(request.send().await.expect("request")).await
}

/// The `data` of a successful answer with this status.
fn data(reply: &Reply, status: StatusCode) -> Value {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["success"], true, "{reply:?}");
    reply.body["data"].clone()
}

/// A failure's status and exact error string.
fn assert_error(reply: &Reply, status: StatusCode, error: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body, json!({"success": false, "error": error}), "{reply:?}");
}

async fn the_seed_examples_run_unchanged(app: TestApp) {
    app.channel("sms", "+15005550006", true).await;
    let receiver = Receiver::start().await;
    let hook = app.post("/api/v1/webhooks", json!({"url": receiver.url(), "format": "agentclara"})).await;
    assert_eq!(hook.status, StatusCode::CREATED, "{hook:?}");
    receiver.accept(hook.body["secret"].as_str().expect("secret")).await;

    // "Create and Send Message", step 1 and 2, as the seed writes them.
    let created = data(
        &clara(&app, Method::POST, "/conversations", Some(json!({"customer_phone": "+15551234567", "channel": "sms"})))
            .await,
        StatusCode::CREATED,
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("conv_"), "{created}");
    assert_eq!(created["channel"], "sms");
    assert_eq!(created["status"], "open");
    assert_eq!(created["customer_phone"], "+15551234567");
    assert_eq!(created["message_id"], Value::Null, "no first message was given");
    let sent = data(
        &clara(
            &app,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({"content": "Hi! How can we help?"})),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(sent["conversation_id"], json!(id));
    assert_eq!(sent["sender"], "assistant");
    assert_eq!(sent["content"], "Hi! How can we help?");
    assert!(sent["message_id"].as_str().expect("message id").starts_with("msg_"));

    // "Create Conversation" with a name and a first message: the customer's open conversation.
    let again = data(
        &clara(
            &app,
            Method::POST,
            "/conversations",
            Some(json!({"customer_phone": "+15551234567", "customer_name": "John Smith", "channel": "sms",
                "message": "Hi John, checking in on your appointment!"})),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(again["id"], json!(id));
    assert!(again["message_id"].as_str().expect("message id").starts_with("msg_"));
    assert_eq!(again["customer_name"], "John Smith");

    // Another system relays the customer's answer.
    let relayed = data(
        &clara(
            &app,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({"content": "Can I move my appointment to Friday?", "sender": "customer"})),
        )
        .await,
        StatusCode::CREATED,
    );
    assert_eq!(relayed["sender"], "customer");

    // "List Conversations" and "Get Single Conversation".
    let listed = data(&clara(&app, Method::GET, "/conversations?limit=25&channel=sms", None).await, StatusCode::OK);
    let item = &listed[0];
    assert_eq!(item["id"], json!(id));
    assert_eq!(item["customer_name"], "John Smith");
    assert_eq!(item["customer_phone"], "+15551234567");
    assert_eq!(item["last_message"], "Can I move my appointment to Friday?");
    assert_eq!(item["unread"], true);
    assert!(item["customer_id"].as_str().expect("customer").starts_with("cust_"));
    for field in ["customer_email", "subject", "timestamp", "status", "tags"] {
        assert!(item.get(field).is_some(), "{field} missing from {item}");
    }
    let shown = data(&clara(&app, Method::GET, &format!("/conversations/{id}"), None).await, StatusCode::OK);
    let thread: Vec<(Value, Value)> = shown["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["sender"].clone(), m["content"].clone()))
        .collect();
    assert_eq!(
        thread,
        vec![
            (json!("assistant"), json!("Hi! How can we help?")),
            (json!("assistant"), json!("Hi John, checking in on your appointment!")),
            (json!("customer"), json!("Can I move my appointment to Friday?")),
        ]
    );

    // "Update Conversation": tags are added, not replaced.
    let path = format!("/conversations/{id}");
    let updated = data(
        &clara(&app, Method::PATCH, &path, Some(json!({"status": "resolved", "tags": ["completed", "satisfied"]})))
            .await,
        StatusCode::OK,
    );
    assert_eq!(updated["status"], "resolved");
    assert_eq!(updated["tags"], json!(["completed", "satisfied"]));
    let more = data(
        &clara(&app, Method::PATCH, &path, Some(json!({"tags": ["vip"], "customer_name": "John A. Smith"}))).await,
        StatusCode::OK,
    );
    assert_eq!(more["tags"], json!(["completed", "satisfied", "vip"]));
    assert_eq!(more["customer_name"], "John A. Smith");
    assert_eq!(
        data(&clara(&app, Method::GET, "/conversations?status=resolved", None).await, StatusCode::OK)[0]["id"],
        json!(id)
    );
    assert_eq!(data(&clara(&app, Method::GET, "/conversations?status=open", None).await, StatusCode::OK), json!([]));

    // "Close Conversation".
    let closed = data(&clara(&app, Method::POST, &format!("/conversations/{id}/close"), None).await, StatusCode::OK);
    assert_eq!(closed["status"], "closed");
    assert!(closed["closed_at"].is_string(), "{closed}");

    // The webhooks, in the platform's envelope, verified with the official library.
    parley::jobs::webhooks::run_once(&app.state).await.expect("deliveries");
    assert_eq!(receiver.seen().await["rejected"], 0);
    let payloads = receiver.payloads().await;
    let events: Vec<&str> = payloads.iter().filter_map(|p| p["event"].as_str()).collect();
    for event in ["conversation.created", "message.received", "conversation.updated", "conversation.closed"] {
        assert!(events.contains(&event), "{event} missing from {events:?}");
    }
    let created_event = payloads.iter().find(|p| p["event"] == "conversation.created").expect("created");
    assert_eq!(created_event["data"]["conversation_id"], json!(id));
    assert_eq!(created_event["data"]["channel"], "sms");
    assert!(created_event["timestamp"].is_string());
    let customer = payloads
        .iter()
        .find(|p| p["event"] == "message.received" && p["data"]["sender"] == "customer")
        .expect("the customer's message");
    assert_eq!(customer["data"]["content"], "Can I move my appointment to Friday?");
    let closed_event = payloads.iter().find(|p| p["event"] == "conversation.closed").expect("closed");
    assert_eq!(closed_event["data"]["status"], "closed");
}

async fn lists_filter_and_page_by_offset(app: TestApp) {
    app.channel("sms", "+15005550006", true).await;
    app.channel("whatsapp", "+15005550007", true).await;
    let mut ids = Vec::new();
    // (On WhatsApp the business cannot write first without a template: that conversation opens empty.)
    for (n, channel) in ["sms", "sms", "whatsapp"].iter().enumerate() {
        let mut body = json!({"customer_phone": format!("+1555123450{n}"), "channel": channel});
        if *channel == "sms" {
            body["message"] = json!(format!("Hello {n}"));
        }
        ids.push(data(&clara(&app, Method::POST, "/conversations", Some(body)).await, StatusCode::CREATED));
    }
    let page = |query: &'static str| {
        let app = &app;
        async move {
            let list = data(&clara(app, Method::GET, &format!("/conversations?{query}"), None).await, StatusCode::OK);
            list.as_array().expect("list").iter().map(|c| c["id"].clone()).collect::<Vec<Value>>()
        }
    };
    // Newest activity first.
    assert_eq!(page("limit=2").await, vec![ids[2]["id"].clone(), ids[1]["id"].clone()]);
    assert_eq!(page("limit=2&offset=2").await, vec![ids[0]["id"].clone()]);
    assert_eq!(page("offset=3").await, Vec::<Value>::new());
    assert_eq!(page("channel=sms").await, vec![ids[1]["id"].clone(), ids[0]["id"].clone()]);
    assert_eq!(page("channel=whatsapp").await, vec![ids[2]["id"].clone()]);
    assert_eq!(page("channel=email").await, Vec::<Value>::new(), "no email channel, no email conversations");
    let customer = ids[0]["customer_id"].as_str().expect("customer").to_owned();
    let mine =
        data(&clara(&app, Method::GET, &format!("/conversations?customer_id={customer}"), None).await, StatusCode::OK);
    assert_eq!(mine.as_array().expect("list").len(), 1);
    assert_eq!(mine[0]["id"], ids[0]["id"]);
    assert_eq!(page("customer_id=cust_999999").await, Vec::<Value>::new());
    // Another account sees none of them.
    let other = app.other_account_key().await;
    let response = app
        .client
        .get(format!("{}/agentclara/conversations", app.base))
        .header("Authorization", format!("Bearer {other}"))
        .send()
        .await
        .expect("request");
    assert_eq!(data(&Reply::of(response).await, StatusCode::OK), json!([]));
    let foreign = ids[0]["id"].as_str().expect("id").to_owned();
    let response = app
        .client
        .get(format!("{}/agentclara/conversations/{foreign}", app.base))
        .header("Authorization", format!("Bearer {other}"))
        .send()
        .await
        .expect("request");
    assert_error(&Reply::of(response).await, StatusCode::NOT_FOUND, "Conversation not found");
}

async fn errors_answer_in_the_envelope(app: TestApp) {
    app.channel("sms", "+15005550006", true).await;
    let create = |body: Value| {
        let app = &app;
        async move { clara(app, Method::POST, "/conversations", Some(body)).await }
    };
    assert_error(
        &create(json!({"channel": "sms"})).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: customer_phone",
    );
    assert_error(
        &create(json!({"channel": "email", "customer_phone": "+15551234567"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "No email channel is set up",
    );
    assert_error(
        &create(json!({"customer_phone": "+15551234567"})).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: channel",
    );
    assert_error(
        &create(json!({"channel": "fax", "customer_phone": "+15551234567"})).await,
        StatusCode::BAD_REQUEST,
        "Invalid channel: must be one of sms, email, instagram, facebook, whatsapp, voice",
    );
    app.channel("email", "help@example.com", true).await;
    assert_error(
        &create(json!({"channel": "email"})).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: customer_email",
    );
    let mailed =
        data(&create(json!({"channel": "email", "customer_email": "Ana@Example.com"})).await, StatusCode::CREATED);
    assert_eq!(mailed["customer_email"], "ana@example.com");

    for path in ["/conversations/conv_999999", "/conversations/abc", "/conversations/999"] {
        assert_error(&clara(&app, Method::GET, path, None).await, StatusCode::NOT_FOUND, "Conversation not found");
    }
    let id = mailed["id"].as_str().expect("id");
    assert_error(
        &clara(&app, Method::POST, &format!("/conversations/{id}/messages"), Some(json!({"sender": "assistant"})))
            .await,
        StatusCode::BAD_REQUEST,
        "Missing required field: content",
    );
    assert_error(
        &clara(
            &app,
            Method::POST,
            &format!("/conversations/{id}/messages"),
            Some(json!({"content": "x", "sender": "bot"})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "Invalid sender: must be customer or assistant",
    );
    assert_error(
        &clara(&app, Method::PATCH, &format!("/conversations/{id}"), Some(json!({"status": "archived"}))).await,
        StatusCode::BAD_REQUEST,
        "Invalid status: must be open, closed or resolved",
    );
    assert_error(
        &clara(&app, Method::GET, "/conversations?limit=500", None).await,
        StatusCode::BAD_REQUEST,
        "Invalid limit: must be 1 to 100",
    );
    let unauthorized = app
        .client
        .get(format!("{}/agentclara/conversations", app.base))
        .header("Authorization", "Bearer sk_live_wrong")
        .send()
        .await
        .expect("request");
    assert_error(&Reply::of(unauthorized).await, StatusCode::UNAUTHORIZED, "Invalid API key");

    // 100 requests in ten seconds, then 429 in the envelope with Retry-After.
    let mut refused = None;
    for _ in 0..250 {
        let reply = clara(&app, Method::GET, "/conversations?limit=1", None).await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(reply);
            break;
        }
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let refused = refused.expect("the burst limit answers 429");
    assert_eq!(refused.body["success"], false);
    assert!(refused.body["error"].as_str().expect("error").starts_with("Rate limit exceeded"), "{refused:?}");
    let wait: u64 = refused.headers["retry-after"].to_str().expect("header").parse().expect("seconds");
    assert!((1..=10).contains(&wait), "{wait}");
}

/// Creates a customer and answers its `data`.
async fn customer(app: &TestApp, body: Value) -> Value {
    data(&clara(app, Method::POST, "/contacts", Some(body)).await, StatusCode::CREATED)
}

/// The ids of a list's items.
fn ids(list: &Value) -> Vec<String> {
    list.as_array().expect("a list").iter().map(|item| item["id"].as_str().expect("id").to_owned()).collect()
}

async fn customers_are_listed_searched_and_kept(app: TestApp) {
    let sms = app.channel("sms", "+15005550006", true).await;
    let anna = customer(
        &app,
        json!({"name": "Anna Rossi", "email": "Anna@Example.com", "phone": "+15551230001", "tags": ["VIP", "retail", "vip"],
            "custom_fields": {"plan": "gold"}}),
    )
    .await;
    assert!(anna["id"].as_str().unwrap().starts_with("cust_"), "{anna}");
    assert_eq!(anna["email"], "anna@example.com");
    assert_eq!(anna["tags"], json!(["retail", "vip"]));
    assert_eq!(anna["custom_fields"], json!({"plan": "gold"}));
    assert_eq!(anna["conversation_count"], 0);
    assert_eq!(anna["last_conversation"], Value::Null);
    let bruno = customer(&app, json!({"name": "Bruno Verdi", "phone": "+15551230002", "tags": ["retail"]})).await;
    let carla = customer(&app, json!({"name": "Carla Bianchi"})).await;

    // Newest first by default; by name; by last change; filtered by tag and by search; paged.
    let list = |query: &'static str| {
        let app = &app;
        async move { data(&clara(app, Method::GET, &format!("/contacts{query}"), None).await, StatusCode::OK) }
    };
    let (a, b, c) = (anna["id"].clone(), bruno["id"].clone(), carla["id"].clone());
    let all = list("").await;
    assert_eq!(ids(&all), [&c, &b, &a].map(|id| id.as_str().unwrap().to_owned()));
    let item = &all[2];
    let fields: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["created_at", "email", "id", "last_conversation", "name", "phone", "tags", "updated_at"]);
    assert_eq!(ids(&list("?sort=name").await), [&a, &b, &c].map(|id| id.as_str().unwrap().to_owned()));
    assert_eq!(ids(&list("?tag=retail&sort=name").await), [&a, &b].map(|id| id.as_str().unwrap().to_owned()));
    assert_eq!(ids(&list("?tag=VIP").await), [a.as_str().unwrap()]);
    assert_eq!(ids(&list("?search=verdi").await), [b.as_str().unwrap()]);
    assert_eq!(ids(&list("?search=example.com").await), [a.as_str().unwrap()]);
    assert_eq!(ids(&list("?sort=name&limit=1&offset=1").await), [b.as_str().unwrap()]);

    // A conversation counts and dates the customer.
    app.inbound(sms, "+15551230002", "Bruno", "Hello").await;
    let shown =
        data(&clara(&app, Method::GET, &format!("/contacts/{}", b.as_str().unwrap()), None).await, StatusCode::OK);
    assert_eq!(shown["conversation_count"], 1);
    assert!(shown["last_conversation"].is_string(), "{shown}");
    assert_eq!(ids(&list("?sort=updated&limit=1").await).len(), 1);
    let theirs = data(
        &clara(&app, Method::GET, &format!("/contacts/{}/conversations", b.as_str().unwrap()), None).await,
        StatusCode::OK,
    );
    assert_eq!(theirs.as_array().unwrap().len(), 1);
    assert_eq!(theirs[0]["customer_id"], b);
    assert_eq!(theirs[0]["last_message"], "Hello");

    // Search (q required, 10 by default).
    let found = data(&clara(&app, Method::GET, "/contacts/search?q=rossi", None).await, StatusCode::OK);
    assert_eq!(ids(&found), [a.as_str().unwrap()]);
    assert_error(
        &clara(&app, Method::GET, "/contacts/search", None).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: q",
    );

    // Update: given fields change, tags are replaced, custom fields merged.
    let path = format!("/contacts/{}", a.as_str().unwrap());
    let updated = data(
        &clara(
            &app,
            Method::PATCH,
            &path,
            Some(json!({"phone": "+15551239999", "tags": ["churn-risk"],
            "custom_fields": {"region": "north"}})),
        )
        .await,
        StatusCode::OK,
    );
    assert_eq!(updated["name"], "Anna Rossi");
    assert_eq!(updated["phone"], "+15551239999");
    assert_eq!(updated["tags"], json!(["churn-risk"]));
    assert_eq!(updated["custom_fields"], json!({"plan": "gold", "region": "north"}));
    let put = data(&clara(&app, Method::PUT, &path, Some(json!({"name": "Anna Rossi-Neri"}))).await, StatusCode::OK);
    assert_eq!((put["name"].as_str(), put["tags"].clone()), (Some("Anna Rossi-Neri"), json!(["churn-risk"])));
    assert_eq!(ids(&list("?tag=vip").await), Vec::<String>::new());

    // Errors, in the envelope; a customer with conversations stays.
    assert_error(
        &clara(&app, Method::POST, "/contacts", Some(json!({"email": "x@example.com"}))).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: name",
    );
    let bad_phone = clara(&app, Method::POST, "/contacts", Some(json!({"name": "X", "phone": "12"}))).await;
    assert_eq!(bad_phone.status, StatusCode::BAD_REQUEST, "{bad_phone:?}");
    assert_error(
        &clara(&app, Method::POST, "/contacts", Some(json!({"name": "X", "custom_fields": [1]}))).await,
        StatusCode::BAD_REQUEST,
        "Invalid custom_fields: must be an object",
    );
    assert_error(
        &clara(&app, Method::GET, "/contacts?sort=age", None).await,
        StatusCode::BAD_REQUEST,
        "Invalid sort: must be created, updated or name",
    );
    assert_error(
        &clara(&app, Method::GET, "/contacts?limit=101", None).await,
        StatusCode::BAD_REQUEST,
        "Invalid limit: must be 1 to 100",
    );
    for missing in ["/contacts/cust_999999", "/contacts/42", "/contacts/cust_999999/conversations"] {
        assert_error(&clara(&app, Method::GET, missing, None).await, StatusCode::NOT_FOUND, "Contact not found");
    }
    let kept = clara(&app, Method::DELETE, &format!("/contacts/{}", b.as_str().unwrap()), None).await;
    assert_eq!(kept.status, StatusCode::CONFLICT, "{kept:?}");
    assert_eq!(kept.body["success"], false);
    let deleted =
        data(&clara(&app, Method::DELETE, &format!("/contacts/{}", c.as_str().unwrap()), None).await, StatusCode::OK);
    assert_eq!(deleted, json!({"id": c, "deleted": true}));
    assert_error(
        &clara(&app, Method::GET, &format!("/contacts/{}", c.as_str().unwrap()), None).await,
        StatusCode::NOT_FOUND,
        "Contact not found",
    );

    // Another account sees none of them.
    let other = app.other_account_key().await;
    let theirs = app.client.get(format!("{}/agentclara/contacts", app.base)).bearer_auth(&other).send().await.unwrap();
    let theirs: Value = theirs.json().await.unwrap();
    assert_eq!(theirs["data"], json!([]));
}

async fn voice_conversations_hold_calls(app: TestApp) {
    let voice = app.channel("voice", "+15005550009", true).await;
    app.channel("sms", "+15005550006", true).await;
    let receiver = Receiver::start().await;
    let hook = app.post("/api/v1/webhooks", json!({"url": receiver.url(), "format": "agentclara"})).await;
    assert_eq!(hook.status, StatusCode::CREATED, "{hook:?}");
    receiver.accept(hook.body["secret"].as_str().expect("secret")).await;
    assert_error(
        &clara(&app, Method::POST, "/conversations", Some(json!({"channel": "voice", "customer_name": "Dan"}))).await,
        StatusCode::BAD_REQUEST,
        "Missing required field: customer_phone",
    );
    let call = app
        .post(
            &format!("/api/v1/channels/{voice}/calls"),
            json!({"from": "+15551234567", "to": "+15005550009",
            "outcome": "voicemail", "duration_seconds": 14, "transcript": "Please call me back about my booking."}),
        )
        .await;
    assert_eq!(call.status, StatusCode::CREATED, "{call:?}");
    let listed = data(&clara(&app, Method::GET, "/conversations?channel=voice", None).await, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["channel"], "voice");
    assert_eq!(listed[0]["customer_phone"], "+15551234567");
    assert_eq!(listed[0]["last_message"], "Voicemail (0:14)");
    let id = listed[0]["id"].as_str().unwrap();
    let shown = data(&clara(&app, Method::GET, &format!("/conversations/{id}"), None).await, StatusCode::OK);
    let message = &shown["messages"][0];
    assert_eq!(message["sender"], "customer");
    assert_eq!(message["content"], "Please call me back about my booking.");
    assert_eq!(message["call"]["outcome"], "voicemail");
    assert_eq!(message["call"]["duration_seconds"], 14);
    let none = data(&clara(&app, Method::GET, "/conversations?channel=sms", None).await, StatusCode::OK);
    assert_eq!(none, json!([]));

    // The call reaches integrators as a customer's message on the voice channel.
    parley::jobs::webhooks::run_once(&app.state).await.expect("deliveries");
    assert_eq!(receiver.seen().await["rejected"], 0);
    let payloads = receiver.payloads().await;
    let created = payloads.iter().find(|p| p["event"] == "conversation.created").expect("created");
    assert_eq!(created["data"]["channel"], "voice");
    let received = payloads.iter().find(|p| p["event"] == "message.received").expect("the call");
    assert_eq!(
        (received["data"]["sender"].as_str(), received["data"]["channel"].as_str()),
        (Some("customer"), Some("voice"))
    );
    assert_eq!(received["data"]["content"], "Voicemail (0:14)");
}
