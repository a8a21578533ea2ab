//! Ingestion, conversation lists and filters, replies and their delivery, and conversation changes.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

async fn inbound_creates_contact_conversation_and_deduplicates(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let body = json!({"from": "+39 347 123 4567", "name": "Marco Bianchi", "text": "Buongiorno, ordine ORD-2026-1584?", "provider_message_id": "wamid.A"});
    let first = app.post(&format!("/api/v1/channels/{wa}/inbound"), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{first:?}");
    let conversation = &first.body["conversation"];
    assert_eq!(conversation["contact"]["phone"], "+393471234567");
    assert_eq!(conversation["contact"]["name"], "Marco Bianchi");
    assert_eq!(conversation["unread_count"], 1);
    assert_eq!(conversation["status"], "open");
    assert_eq!(conversation["last_message_preview"], "Buongiorno, ordine ORD-2026-1584?");
    assert_eq!(first.body["message"]["direction"], "inbound");
    assert_eq!(first.body["message"]["read"], false);
    // The WhatsApp window closes 24 h after the customer's message.
    let last = chrono::DateTime::parse_from_rfc3339(conversation["last_inbound_at"].as_str().unwrap()).unwrap();
    let window = chrono::DateTime::parse_from_rfc3339(conversation["window_expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(window - last, chrono::Duration::hours(24));

    let repeat = app.post(&format!("/api/v1/channels/{wa}/inbound"), body).await;
    assert_eq!(repeat.status, StatusCode::OK);
    assert_eq!(repeat.body["duplicate"], true);
    assert_eq!(repeat.body["message"]["id"], first.body["message"]["id"]);

    let second = app.inbound(wa, "+393471234567", "Marco Bianchi", "Grazie").await;
    assert_eq!(second["conversation"]["id"], conversation["id"], "same contact, same channel: same thread");
    assert_eq!(second["conversation"]["unread_count"], 2);
    assert!(second["message"]["id"].as_i64().unwrap() > first.body["message"]["id"].as_i64().unwrap());

    let list = app.get("/api/v1/conversations").await;
    assert_eq!(list.body["total"], 1);
    let thread = app.get(&format!("/api/v1/conversations/{}/messages", conversation["id"])).await;
    assert_eq!(thread.body["data"].as_array().unwrap().len(), 2, "the repeat created nothing");

    // An SMS from the same number is the same person, in a conversation of its own.
    let sms = app.channel("sms", "+393209998800", true).await;
    let on_sms = app.inbound(sms, "+393471234567", "", "Anche via SMS").await;
    assert_eq!(on_sms["conversation"]["contact"]["id"], conversation["contact"]["id"]);
    assert_ne!(on_sms["conversation"]["id"], conversation["id"]);
    assert_eq!(on_sms["conversation"]["window_expires_at"], serde_json::Value::Null);
}

async fn inbound_rejects_bad_input_and_changes_nothing(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let path = format!("/api/v1/channels/{wa}/inbound");
    let bad_phone = app.post(&path, json!({"from": "347-not-a-number", "text": "hi"})).await;
    assert_eq!(bad_phone.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_phone.body["code"], "validation_failed");
    assert_eq!(bad_phone.body["errors"][0]["field"], "from");
    let no_text = app.post(&path, json!({"from": "+393471234567", "type": "text"})).await;
    assert_eq!(no_text.body["errors"][0]["field"], "text");
    let bad_type = app.post(&path, json!({"from": "+393471234567", "type": "hologram", "text": "x"})).await;
    assert_eq!(bad_type.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown_media = app
        .post(
            &path,
            json!({"from": "+393471234567", "media_key": "aaaaaaaa/bbbbbbbb/cccccccccccccccccccccccccccccccc"}),
        )
        .await;
    assert_eq!(unknown_media.status, StatusCode::UNPROCESSABLE_ENTITY);
    let malformed = app
        .client
        .post(format!("{}{path}", app.base))
        .header("X-Api-Key", &app.key)
        .header("content-type", "application/json")
        .body("{\"from\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(malformed.headers()["content-type"], "application/problem+json");
    let list = app.get("/api/v1/conversations?archived=any").await;
    assert_eq!(list.body["total"], 0, "rejected messages leave no trace");
    let contacts = app.get("/api/v1/contacts").await;
    assert_eq!(contacts.body["data"].as_array().unwrap().len(), 0);
}

async fn concurrent_deliveries_commit_together_and_fail_alone(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let path = format!("/api/v1/channels/{wa}/inbound");
    // Requests arriving together share commits; each still gets its own answer.
    let bodies: Vec<serde_json::Value> = (0..30)
        .map(|i| match i % 3 {
            0 => json!({"from": format!("+3934700001{i:02}"), "text": format!("hello {i}"), "provider_message_id": format!("wamid.{i}")}),
            1 => json!({"from": "+393470000999", "text": "the same delivery, again and again", "provider_message_id": "wamid.repeated"}),
            _ => json!({"from": format!("+3934700002{i:02}"), "media_key": "aaaaaaaa/bbbbbbbb/cccccccccccccccccccccccccccccccc"}),
        })
        .collect();
    let replies = futures::future::join_all(bodies.iter().map(|body| app.post(&path, body.clone()))).await;
    let mut created_repeats = 0;
    for (i, reply) in replies.iter().enumerate() {
        match i % 3 {
            0 => assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}"),
            1 => {
                assert!(matches!(reply.status, StatusCode::CREATED | StatusCode::OK), "{reply:?}");
                created_repeats += usize::from(reply.status == StatusCode::CREATED);
                assert_eq!(
                    reply.body["message"]["id"], replies[1].body["message"]["id"],
                    "one message for one delivery id"
                );
            }
            _ => {
                assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{reply:?}");
                assert_eq!(reply.body["errors"][0]["field"], "media_key");
            }
        }
    }
    assert_eq!(created_repeats, 1, "the repeated delivery is stored once");
    let list = app.get("/api/v1/conversations?archived=any").await;
    assert_eq!(list.body["total"], 11, "ten distinct senders and the repeated one; the refused leave no trace");
    let contacts = app.get("/api/v1/contacts?limit=100").await;
    assert_eq!(contacts.body["data"].as_array().unwrap().len(), 11);
    let repeated = replies[1].body["conversation"]["id"].as_i64().unwrap();
    let thread = app.get(&format!("/api/v1/conversations/{repeated}/messages")).await;
    assert_eq!(thread.body["total"], 1);
}

async fn list_filters_search_and_pages(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let sms = app.channel("sms", "+393209998800", true).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let channel = if i % 2 == 0 { wa } else { sms };
        let reply = app
            .inbound(channel, &format!("+39347000000{i}"), &format!("Customer {i}"), &format!("question number {i}"))
            .await;
        ids.push(reply["conversation"]["id"].as_i64().unwrap());
    }
    app.inbound(sms, "+393470000009", "Lucia Verdi", "Il pacco ORD-77 è arrivato rotto").await;

    let by_channel = app.get(&format!("/api/v1/conversations?channel_id={wa}")).await;
    assert_eq!(by_channel.body["total"], 3);
    assert!(by_channel.body["data"].as_array().unwrap().iter().all(|c| c["channel"]["id"] == wa));
    let both = app.get(&format!("/api/v1/conversations?channel_id={wa},{sms}")).await;
    assert_eq!(both.body["total"], 6);

    let by_text = app.get("/api/v1/conversations?q=ord-77").await;
    assert_eq!(by_text.body["total"], 1, "message text is searched case-insensitively");
    assert_eq!(by_text.body["data"][0]["contact"]["name"], "Lucia Verdi");
    assert_eq!(app.get("/api/v1/conversations?q=lucia").await.body["total"], 1);
    assert_eq!(app.get("/api/v1/conversations?q=3470000003").await.body["total"], 1);
    assert_eq!(app.get("/api/v1/conversations?q=100%25").await.body["total"], 0, "LIKE wildcards are literal");

    // Newest activity first by default; pages of 2 with a cursor cover everything once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/conversations?limit=2&cursor={c}"),
            None => "/api/v1/conversations?limit=2".to_owned(),
        };
        let page = app.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        assert_eq!(page.body["total"], 6);
        seen.extend(page.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()));
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 6);
    let mut sorted = seen.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "conversations are listed newest activity first");
    let ascending = app.get("/api/v1/conversations?order=%2Bcreated_at&limit=1").await;
    assert_eq!(ascending.body["data"][0]["id"], ids[0]);

    // Unread, status, assignee, tag and meta filters.
    app.post(&format!("/api/v1/conversations/{}/read", ids[0]), json!({})).await;
    assert_eq!(app.get("/api/v1/conversations?unread=true").await.body["total"], 5);
    let operator = app.get("/api/v1/operators").await.body["data"][0]["id"].as_i64().unwrap();
    let patched = app
        .patch(&format!("/api/v1/conversations/{}", ids[1]), json!({"status": "pending", "assignee_id": operator, "tags": ["VIP", "vip", "refund"], "meta": {"order": "ORD-1", "tier": 2}}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    assert_eq!(patched.body["tags"], json!(["vip", "refund"]));
    assert_eq!(app.get("/api/v1/conversations?status=pending").await.body["total"], 1);
    assert_eq!(app.get(&format!("/api/v1/conversations?assignee_id={operator}")).await.body["total"], 1);
    assert_eq!(app.get("/api/v1/conversations?assignee_id=none").await.body["total"], 5);
    let by_tag = app.get("/api/v1/conversations?tag=refund").await;
    assert_eq!(by_tag.body["data"][0]["id"], ids[1], "{by_tag:?}");
    let by_meta = app
        .client
        .get(format!("{}/api/v1/conversations?meta%5Border%5D=ORD-1&meta%5Btier%5D=2", app.base))
        .header("X-Api-Key", &app.key)
        .send()
        .await
        .unwrap();
    let by_meta: serde_json::Value = by_meta.json().await.unwrap();
    assert_eq!(by_meta["total"], 1);
    assert_eq!(app.get("/api/v1/conversations?updated_after=2000-01-01").await.body["total"], 6);
    assert_eq!(app.get("/api/v1/conversations?updated_before=2000-01-01").await.body["total"], 0);

    for bad in [
        "limit=0",
        "limit=101",
        "status=done",
        "order=-colour",
        "cursor=nonsense",
        "unread=maybe",
        "colour=red",
        "updated_after=yesterday",
    ] {
        let reply = app.get(&format!("/api/v1/conversations?{bad}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {reply:?}");
        assert_eq!(reply.headers["content-type"], "application/problem+json");
    }
}

/// Ids of a conversation page, in order.
fn page_ids(page: &Reply) -> Vec<i64> {
    page.body["data"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect()
}

async fn search_folds_case_and_accents_and_tag_lists_follow_new_messages(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let mut ids = Vec::new();
    for (i, (name, text)) in [
        ("Niccolò Ferrari", "Il caffè è arrivato FREDDO"),
        ("Ana Gonçalves", "Não recebi o pedido"),
        ("Zoë Smith", "Where is my coffee order?"),
    ]
    .iter()
    .enumerate()
    {
        let reply = app.inbound(wa, &format!("+39347111000{i}"), name, text).await;
        ids.push(reply["conversation"]["id"].as_i64().unwrap());
    }
    // Message words: case and accents folded, every word must be there, in any order.
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=CAFFE").await), vec![ids[0]]);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=freddo%20arrivato").await), vec![ids[0]]);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=nao%20PEDIDO").await), vec![ids[1]]);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=coffee%20freddo").await), Vec::<i64>::new());
    // Contact names, phones and emails: any part of 3 characters or more, accents folded.
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=goncal").await), vec![ids[1]]);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=ccol").await), vec![ids[0]]);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=1110002").await), vec![ids[2]]);
    let contacts = app.get("/api/v1/contacts?q=ZOE").await;
    assert_eq!(contacts.body["data"][0]["name"], "Zoë Smith", "{contacts:?}");
    // A new message's words are found as soon as it is stored.
    app.inbound(wa, "+393471110001", "Ana Gonçalves", "Obrigada, chegou amanhã").await;
    assert_eq!(page_ids(&app.get("/api/v1/conversations?q=amanha").await), vec![ids[1]]);

    // Lists by tag and meta walk their own index: newest activity first, pages with a cursor,
    // and a new message moves its conversation to the front.
    for id in &ids {
        let patched =
            app.patch(&format!("/api/v1/conversations/{id}"), json!({"tags": ["vip"], "meta": {"plan": "gold"}})).await;
        assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    }
    let newest_first = vec![ids[1], ids[2], ids[0]];
    assert_eq!(page_ids(&app.get("/api/v1/conversations?tag=vip").await), newest_first);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?meta%5Bplan%5D=gold").await), newest_first);
    let first = app.get("/api/v1/conversations?tag=vip&limit=2").await;
    assert_eq!(page_ids(&first), newest_first[..2]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        page_ids(&app.get(&format!("/api/v1/conversations?tag=vip&limit=2&cursor={cursor}")).await),
        vec![ids[0]]
    );
    app.inbound(wa, "+393471110000", "Niccolò Ferrari", "Ancora nessuna risposta").await;
    let moved = vec![ids[0], ids[1], ids[2]];
    assert_eq!(page_ids(&app.get("/api/v1/conversations?tag=vip").await), moved);
    assert_eq!(page_ids(&app.get("/api/v1/conversations?meta%5Bplan%5D=gold&tag=vip").await), moved);
    assert_eq!(
        page_ids(&app.get("/api/v1/conversations?tag=vip&order=%2Blast_message_at").await),
        vec![ids[2], ids[1], ids[0]]
    );
    let list = app.get("/api/v1/conversations?tag=vip").await;
    assert_eq!((list.body["total"].clone(), list.body["total_exact"].clone()), (json!(3), json!(true)));
}

async fn reply_flows_through_simulated_delivery(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let started = app.inbound(wa, "+393471234567", "Marco Bianchi", "Dov'è il mio ordine?").await;
    let id = started["conversation"]["id"].as_i64().unwrap();
    let reply = app
        .post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "In spedizione, tracking entro oggi."}))
        .await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
    assert_eq!(reply.body["status"], "queued");
    assert_eq!(reply.body["simulated"], true);
    let message_id = reply.body["id"].as_i64().unwrap();

    parley::jobs::run_once(&app.state).await.unwrap();
    let after_send = app.get(&format!("/api/v1/conversations/{id}/messages?id_from={message_id}")).await;
    assert_eq!(after_send.body["data"][0]["status"], "sent");
    assert!(after_send.body["data"][0]["provider_message_id"].as_str().unwrap().starts_with("sim-"));
    app.drain_jobs().await;
    let done = app.get(&format!("/api/v1/conversations/{id}/messages?id_from={message_id}")).await;
    let message = &done.body["data"][0];
    assert_eq!(message["status"], "read");
    assert!(message["sent_at"].is_string() && message["delivered_at"].is_string() && message["read_at"].is_string());

    let conversation = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(conversation.body["last_message_preview"], "In spedizione, tracking entro oggi.");

    // A private note is stored and never sent.
    let note = app
        .post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "customer is VIP", "private": true}))
        .await;
    assert_eq!(note.status, StatusCode::ACCEPTED);
    assert_eq!(note.body["type"], "note");
    assert_eq!(note.body["status"], serde_json::Value::Null);
    app.drain_jobs().await;
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    let last = thread.body["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["private"], true);
    assert_eq!(last["status"], serde_json::Value::Null);
    assert_eq!(
        app.get(&format!("/api/v1/conversations/{id}")).await.body["last_message_preview"],
        "In spedizione, tracking entro oggi."
    );

    let empty = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "  "})).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.body["errors"][0]["field"], "text");
}

async fn messages_fail_without_a_provider_and_request_simulation_works(app: TestApp) {
    // A live channel without what its provider needs is refused…
    let live = app
        .post(
            "/api/v1/channels",
            json!({"kind": "email", "name": "Mail", "address": "help@example.com", "simulation": false}),
        )
        .await;
    assert_problem(&live, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(live.body["detail"].as_str().unwrap().contains("smtp_host"), "{live:?}");
    assert_eq!(app.get("/api/v1/channels").await.body["data"], json!([]), "nothing was created");
    let path = "/api/v1/channels";
    let mail = app.channel("email", "help@example.com", true).await;
    let refused = app.patch(&format!("{path}/{mail}"), json!({"simulation": false})).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // …but one made live without them anyway fails its sends visibly, and a request may still
    // ask for simulation.
    sqlx::query("UPDATE channels SET simulation = 0 WHERE id = $1")
        .bind(mail)
        .execute(app.state.db.writer())
        .await
        .unwrap();
    let started = app.inbound(mail, "anna@example.com", "Anna", "ciao").await;
    let id = started["conversation"]["id"].as_i64().unwrap();
    let real = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "hello"})).await;
    assert_eq!(real.body["simulated"], false);
    let simulated =
        app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "hello", "simulation": true})).await;
    assert_eq!(simulated.body["simulated"], true);
    app.drain_jobs().await;
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    let data = thread.body["data"].as_array().unwrap();
    let failed = data.iter().find(|m| m["id"] == real.body["id"]).unwrap();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "not_configured");
    let ok = data.iter().find(|m| m["id"] == simulated.body["id"]).unwrap();
    assert_eq!(ok["status"], "read");
}

async fn whatsapp_window_is_enforced(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let started = app.inbound(wa, "+393471234567", "Marco", "ciao").await;
    let id = started["conversation"]["id"].as_i64().unwrap();
    // Age the window: the customer last wrote 25 hours ago.
    let past = chrono::Utc::now().timestamp_millis() - 25 * 3600 * 1000;
    sqlx::query("UPDATE conversations SET last_inbound_at = $1, window_expires_at = $2 WHERE id = $3")
        .bind(past)
        .bind(past + 24 * 3600 * 1000)
        .bind(id)
        .execute(app.state.db.reader())
        .await
        .unwrap();
    let refused = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "are you there?"})).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused.body["code"], "reply_window_expired");
    assert!(refused.body["detail"].as_str().unwrap().contains("template"));
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    assert_eq!(thread.body["data"].as_array().unwrap().len(), 1, "nothing was queued");
    let note = app
        .post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "window closed", "private": true}))
        .await;
    assert_eq!(note.status, StatusCode::ACCEPTED, "private notes are never refused");
    // The customer writes again: the window reopens.
    app.inbound(wa, "+393471234567", "Marco", "sono qui").await;
    let allowed = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "eccoci"})).await;
    assert_eq!(allowed.status, StatusCode::ACCEPTED);
    // A business-started WhatsApp conversation has no window until the customer writes.
    let cold =
        app.post("/api/v1/conversations", json!({"channel_id": wa, "to": "+393331112222", "text": "Promo!"})).await;
    assert_eq!(cold.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(cold.body["code"], "reply_window_expired");
}

/// Thread pages carry the total they page through, and a reply is `read` once the recipient read it.
async fn thread_pages_count_and_replies_show_when_they_are_read(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let first = app.inbound(sms, "+393471234567", "Marco", "uno").await;
    let second = app.inbound(sms, "+393471234567", "Marco", "due").await;
    app.inbound(sms, "+393471234567", "Marco", "tre").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    let page = app.get(&format!("/api/v1/conversations/{id}/messages?limit=2")).await;
    assert_eq!((page.body["total"].clone(), page.body["data"].as_array().unwrap().len()), (json!(3), 2), "{page:?}");
    assert!(page.body["next_cursor"].is_string());
    let (from, to) = (first["message"]["id"].as_i64().unwrap(), second["message"]["id"].as_i64().unwrap());
    let range = app.get(&format!("/api/v1/conversations/{id}/messages?id_from={from}&id_to={to}")).await;
    assert_eq!(range.body["total"], 2, "{range:?}");

    let reply = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "arrivo"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    assert_eq!(
        (reply.body["status"].clone(), reply.body["read"].clone()),
        (json!("queued"), json!(false)),
        "{reply:?}"
    );
    app.drain_jobs().await;
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    let sent = &thread.body["data"][3];
    assert_eq!((sent["status"].clone(), sent["read"].clone()), (json!("read"), json!(true)), "{thread:?}");
    assert_eq!(thread.body["total"], 4);
}

async fn read_archive_unarchive_and_close(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let first = app.inbound(sms, "+393471234567", "Marco", "uno").await;
    app.inbound(sms, "+393471234567", "Marco", "due").await;
    let id = first["conversation"]["id"].as_i64().unwrap();

    let read = app.post(&format!("/api/v1/conversations/{id}/read"), json!({})).await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.body["unread_count"], 0);
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    assert!(thread.body["data"].as_array().unwrap().iter().all(|m| m["read"] == true));
    assert_eq!(
        app.post(&format!("/api/v1/conversations/{id}/read"), json!({})).await.status,
        StatusCode::OK,
        "idempotent"
    );

    let archived = app.post(&format!("/api/v1/conversations/{id}/archive"), json!({})).await;
    assert_eq!(archived.body["archived"], true);
    assert_eq!(app.get("/api/v1/conversations").await.body["total"], 0, "archived conversations leave the inbox");
    assert_eq!(app.get("/api/v1/conversations?archived=true").await.body["total"], 1);
    let restored = app.post(&format!("/api/v1/conversations/{id}/unarchive"), json!({})).await;
    assert_eq!(restored.body["archived"], false);
    app.post(&format!("/api/v1/conversations/{id}/archive"), json!({})).await;
    let back = app.inbound(sms, "+393471234567", "Marco", "tre").await;
    assert_eq!(back["conversation"]["id"], id, "an archived conversation comes back when the contact writes");
    assert_eq!(back["conversation"]["archived"], false);

    let resolved = app.patch(&format!("/api/v1/conversations/{id}"), json!({"status": "resolved"})).await;
    assert_eq!(resolved.body["status"], "resolved");
    let reopened = app.inbound(sms, "+393471234567", "Marco", "quattro").await;
    assert_eq!(reopened["conversation"]["id"], id);
    assert_eq!(reopened["conversation"]["status"], "open", "a resolved conversation reopens");

    let closed = app.post(&format!("/api/v1/conversations/{id}/close"), json!({})).await;
    assert_eq!(closed.body["status"], "closed");
    assert!(closed.body["closed_at"].is_string());
    let refused = app.post(&format!("/api/v1/conversations/{id}/messages"), json!({"text": "hello?"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.body["code"], "conversation_closed");
    let fresh = app.inbound(sms, "+393471234567", "Marco", "cinque").await;
    assert_ne!(fresh["conversation"]["id"], id, "after close the next message starts a new conversation");
}

async fn patch_validates_and_merges(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let id = app.inbound(sms, "+393471234567", "", "ciao").await["conversation"]["id"].as_i64().unwrap();
    let first = app
        .patch(
            &format!("/api/v1/conversations/{id}"),
            json!({"meta": {"a": "1", "b": "2"}, "subject": "Order", "contact_name": "Marco Rossi"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(first.body["contact"]["name"], "Marco Rossi");
    let merged = app.patch(&format!("/api/v1/conversations/{id}"), json!({"meta": {"b": null, "c": "3"}})).await;
    assert_eq!(merged.body["meta"], json!({"a": "1", "c": "3"}));
    assert_eq!(merged.body["subject"], "Order");
    for bad in [
        json!({"status": "done"}),
        json!({"assignee_id": 999}),
        json!({"tags": [""]}),
        json!({"meta": {"x": [1]}}),
        json!({"colour": "red"}),
    ] {
        let reply = app.patch(&format!("/api/v1/conversations/{id}"), bad.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {reply:?}");
    }
    let unchanged = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(unchanged.body["meta"], json!({"a": "1", "c": "3"}));
    assert_eq!(unchanged.body["status"], "open");
    let unassign = app.patch(&format!("/api/v1/conversations/{id}"), json!({"assignee_id": null})).await;
    assert_eq!(unassign.body["assignee_id"], serde_json::Value::Null);
}

async fn start_conversation_from_the_business(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let started = app.post("/api/v1/conversations", json!({"channel_id": sms, "to": "+39 333 111 2222", "name": "Paziente Rossi", "text": "Promemoria: visita domani alle 10"})).await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let id = started.body["conversation"]["id"].as_i64().unwrap();
    assert_eq!(started.body["conversation"]["contact"]["phone"], "+393331112222");
    assert_eq!(started.body["message"]["status"], "queued");
    // The patient's answer lands in the same conversation.
    let answer = app.inbound(sms, "+393331112222", "Paziente Rossi", "Confermo").await;
    assert_eq!(answer["conversation"]["id"], id);
    let bad = app.post("/api/v1/conversations", json!({"channel_id": sms, "to": "12", "text": "x"})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.body["code"], "invalid_destination");
    let missing =
        app.post("/api/v1/conversations", json!({"channel_id": 9999, "to": "+393331112222", "text": "x"})).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn thread_pages_by_id_and_cursor(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.inbound(sms, "+393471234567", "Marco", &format!("m{i}")).await["message"]["id"].as_i64().unwrap());
    }
    let conversation = app.get("/api/v1/conversations").await.body["data"][0]["id"].as_i64().unwrap();
    let base = format!("/api/v1/conversations/{conversation}/messages");
    let range = app.get(&format!("{base}?id_from={}&id_to={}", ids[2], ids[4])).await;
    let got: Vec<i64> = range.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[2..=4].to_vec());
    let newest = app.get(&format!("{base}?limit=3")).await;
    let got: Vec<i64> = newest.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[4..].to_vec(), "the newest page, oldest first");
    let older = app.get(&format!("{base}?limit=3&cursor={}", newest.body["next_cursor"].as_str().unwrap())).await;
    let got: Vec<i64> = older.body["data"].as_array().unwrap().iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(got, ids[1..4].to_vec());
    let oldest = app.get(&format!("{base}?limit=3&cursor={}", older.body["next_cursor"].as_str().unwrap())).await;
    assert_eq!(oldest.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(oldest.body["next_cursor"], serde_json::Value::Null);
}

async fn other_accounts_ids_answer_404(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let id = app.inbound(sms, "+393471234567", "Marco", "privato").await["conversation"]["id"].as_i64().unwrap();
    let other = app.other_account_key().await;
    use reqwest::Method;
    let attempts = [
        (Method::GET, format!("/api/v1/conversations/{id}"), None),
        (Method::PATCH, format!("/api/v1/conversations/{id}"), Some(json!({"status": "closed"}))),
        (Method::GET, format!("/api/v1/conversations/{id}/messages"), None),
        (Method::POST, format!("/api/v1/conversations/{id}/messages"), Some(json!({"text": "hijack"}))),
        (Method::POST, format!("/api/v1/conversations/{id}/read"), Some(json!({}))),
        (Method::POST, format!("/api/v1/conversations/{id}/archive"), Some(json!({}))),
        (Method::POST, format!("/api/v1/conversations/{id}/unarchive"), Some(json!({}))),
        (Method::POST, format!("/api/v1/conversations/{id}/close"), Some(json!({}))),
        (Method::POST, format!("/api/v1/channels/{sms}/inbound"), Some(json!({"from": "+393471234567", "text": "x"}))),
        (
            Method::POST,
            "/api/v1/conversations".to_owned(),
            Some(json!({"channel_id": sms, "to": "+393471234567", "text": "x"})),
        ),
    ];
    for (method, path, body) in attempts {
        let reply = app.call_as(&other, method.clone(), &path, body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {reply:?}");
        assert_eq!(reply.body["code"], "not_found");
    }
    assert_eq!(app.call_as(&other, Method::GET, "/api/v1/conversations", None).await.body["total"], 0);
    let untouched = app.get(&format!("/api/v1/conversations/{id}")).await;
    assert_eq!(untouched.body["status"], "open");
    assert_eq!(untouched.body["unread_count"], 1);
    assert_eq!(untouched.body["archived"], false);
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await;
    assert_eq!(thread.body["data"].as_array().unwrap().len(), 1);
    let anonymous = app.call_as("", Method::GET, "/api/v1/conversations", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn scheduled_messages_wait_and_can_be_canceled(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let started = app.inbound(sms, "+393471234567", "Anna", "ciao").await;
    let id = started["conversation"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}/messages");
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let scheduled = app.post(&path, json!({"text": "Domani alle 9", "send_at": later})).await;
    assert_eq!(
        (scheduled.status, scheduled.body["status"].as_str()),
        (StatusCode::ACCEPTED, Some("scheduled")),
        "{scheduled:?}"
    );
    app.drain_jobs().await;
    let message = scheduled.body["id"].as_i64().unwrap();
    let cancel = format!("{path}/{message}/cancel");
    let canceled = app.post(&cancel, json!({})).await;
    assert_eq!(canceled.status, StatusCode::OK, "{canceled:?}");
    assert_eq!(
        (canceled.body["status"].as_str(), canceled.body["error"]["code"].as_str()),
        (Some("failed"), Some("canceled"))
    );
    assert_problem(&app.post(&cancel, json!({})).await, StatusCode::CONFLICT, "not_scheduled");
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
    app.drain_jobs().await;
    let thread = app.get(&path).await;
    let shown = thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == message).unwrap().clone();
    assert_eq!(shown["status"], "failed", "a canceled message never goes out: {shown}");

    // Due ones go out; times and fallback steps are checked.
    let soon = app.post(&path, json!({"text": "Adesso", "send_at": later})).await;
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
    app.drain_jobs().await;
    let thread = app.get(&path).await;
    let sent = thread.body["data"].as_array().unwrap().iter().find(|m| m["id"] == soon.body["id"]).unwrap().clone();
    assert_eq!(sent["status"], "read", "simulated delivery: {sent}");
    assert_field_error(&app.post(&path, json!({"text": "x", "send_at": "domani"})).await, "send_at");
    let far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    assert_field_error(&app.post(&path, json!({"text": "x", "send_at": far})).await, "send_at");
    assert_field_error(
        &app.post(&path, json!({"text": "x", "fallback": [{"kind": "pigeon", "text": "x"}]})).await,
        "fallback[0].kind",
    );
    assert_field_error(&app.post(&path, json!({"text": "x", "private": true, "send_at": later})).await, "private");
}

crate::backend_tests!(
    scheduled_messages_wait_and_can_be_canceled,
    thread_pages_count_and_replies_show_when_they_are_read,
    inbound_creates_contact_conversation_and_deduplicates,
    inbound_rejects_bad_input_and_changes_nothing,
    list_filters_search_and_pages,
    concurrent_deliveries_commit_together_and_fail_alone,
    search_folds_case_and_accents_and_tag_lists_follow_new_messages,
    reply_flows_through_simulated_delivery,
    messages_fail_without_a_provider_and_request_simulation_works,
    whatsapp_window_is_enforced,
    read_archive_unarchive_and_close,
    patch_validates_and_merges,
    start_conversation_from_the_business,
    thread_pages_by_id_and_cursor,
    other_accounts_ids_answer_404,
);
