//! The event catalog: every change records exactly its events, in the same transaction, carrying
//! the object as the API shows it; changes to the values already there record nothing.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The account the bootstrap key belongs to.
const ACCOUNT: i64 = 1;

/// Reads the event log of the test account from a position on.
struct Log {
    position: parley::store::events::Position,
}

impl Log {
    /// Starts after everything recorded so far.
    async fn start(app: &TestApp) -> Log {
        Log { position: parley::store::events::Position::end(&app.state.db, ACCOUNT).await.unwrap() }
    }

    /// The events recorded since the last call, oldest first, as (type, object).
    async fn new_events(&mut self, app: &TestApp) -> Vec<(String, Value)> {
        let rows = read_log(app, ACCOUNT, &mut self.position).await;
        rows.iter()
            .map(|row| {
                let payload: Value = serde_json::from_str(&row.payload).unwrap();
                assert_eq!(payload["type"], row.kind.as_str());
                assert_eq!(payload["account_id"], ACCOUNT);
                (row.kind.clone(), payload["data"].clone())
            })
            .collect()
    }

    /// Asserts the event types recorded since the last call and returns their objects.
    async fn expect(&mut self, app: &TestApp, kinds: &[&str], what: &str) -> Vec<Value> {
        let events = self.new_events(app).await;
        let got: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
        assert_eq!(got, kinds, "{what}: {events:?}");
        events.into_iter().map(|(_, object)| object).collect()
    }
}

async fn conversation_changes_record_their_specific_events(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let id = app.inbound(sms, "+393471234567", "Marco", "ciao").await["conversation"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{id}");
    let operator = app.get("/api/v1/operators").await.body["data"][0]["id"].as_i64().unwrap();
    let mut log = Log::start(&app).await;

    let pending = app.patch(&path, json!({"status": "pending"})).await;
    assert_eq!(pending.status, StatusCode::OK, "{pending:?}");
    let objects =
        log.expect(&app, &["conversation.updated", "conversation.status_changed"], "status open → pending").await;
    assert!(objects.iter().all(|o| *o == pending.body), "both events carry the conversation as returned");
    assert_eq!(objects[1]["status"], "pending");

    let again = app.patch(&path, json!({"status": "pending"})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.body, pending.body, "setting the current status changes nothing, not even updated_at");
    log.expect(&app, &[], "status set to its current value").await;

    let assigned = app.patch(&path, json!({"assignee_id": operator})).await;
    let objects = log.expect(&app, &["conversation.updated", "conversation.assigned"], "assign").await;
    assert_eq!(objects[1]["assignee_id"], operator);
    assert_eq!(objects[1], assigned.body);
    app.patch(&path, json!({"assignee_id": operator})).await;
    log.expect(&app, &[], "assign to the current assignee").await;
    app.patch(&path, json!({"assignee_id": null})).await;
    let objects = log.expect(&app, &["conversation.updated", "conversation.assigned"], "unassign").await;
    assert_eq!(objects[1]["assignee_id"], Value::Null);

    app.patch(&path, json!({"subject": "Ordine ORD-1"})).await;
    let objects = log.expect(&app, &["conversation.updated"], "subject only").await;
    assert_eq!(objects[0]["subject"], "Ordine ORD-1");
    app.patch(&path, json!({})).await;
    app.patch(&path, json!({"subject": "Ordine ORD-1", "tags": [], "meta": {}})).await;
    log.expect(&app, &[], "patches that change nothing").await;

    let archived = app.post(&format!("{path}/archive"), json!({})).await;
    assert_eq!(archived.body["archived"], true);
    let objects = log.expect(&app, &["conversation.updated", "conversation.archived"], "archive").await;
    assert_eq!(objects[1], archived.body);
    app.post(&format!("{path}/archive"), json!({})).await;
    log.expect(&app, &[], "archive an archived conversation").await;
    app.post(&format!("{path}/unarchive"), json!({})).await;
    log.expect(&app, &["conversation.updated"], "unarchive").await;
    app.patch(&path, json!({"archived": true})).await;
    log.expect(&app, &["conversation.updated", "conversation.archived"], "archive by PATCH").await;
    app.patch(&path, json!({"archived": false})).await;
    log.expect(&app, &["conversation.updated"], "unarchive by PATCH").await;

    let read = app.post(&format!("{path}/read"), json!({})).await;
    assert_eq!(read.body["unread_count"], 0);
    let objects = log.expect(&app, &["conversation.updated", "conversation.read"], "read").await;
    assert_eq!(objects[1]["unread_count"], 0);
    assert_eq!(objects[1], read.body);
    let read_again = app.post(&format!("{path}/read"), json!({})).await;
    assert_eq!(read_again.body, read.body);
    log.expect(&app, &[], "nothing left to read").await;

    app.patch(&path, json!({"status": "resolved", "assignee_id": operator, "archived": true})).await;
    log.expect(
        &app,
        &["conversation.updated", "conversation.status_changed", "conversation.assigned", "conversation.archived"],
        "several changes at once",
    )
    .await;

    let closed = app.post(&format!("{path}/close"), json!({})).await;
    let objects = log.expect(&app, &["conversation.updated", "conversation.status_changed"], "close").await;
    assert_eq!(objects[1]["status"], "closed");
    assert_eq!(objects[1], closed.body);
    app.post(&format!("{path}/close"), json!({})).await;
    log.expect(&app, &[], "close a closed conversation").await;

    // Refused changes record nothing.
    for bad in [json!({"assignee_id": 999}), json!({"status": "done"}), json!({"tags": [""]})] {
        let reply = app.patch(&path, bad.clone()).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {reply:?}");
    }
    let other = app.other_account_key().await;
    let hidden = app.call_as(&other, Method::PATCH, &path, Some(json!({"status": "open"}))).await;
    assert_problem(&hidden, StatusCode::NOT_FOUND, "not_found");
    let hidden = app.call_as(&other, Method::POST, &format!("{path}/archive"), Some(json!({}))).await;
    assert_problem(&hidden, StatusCode::NOT_FOUND, "not_found");
    log.expect(&app, &[], "refused changes").await;
}

async fn inbound_messages_reopen_and_restore_with_their_events(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let first = app.inbound(sms, "+393471234567", "Marco", "uno").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    app.patch(&format!("/api/v1/conversations/{id}"), json!({"status": "resolved"})).await;
    let mut log = Log::start(&app).await;

    let reopened = app.inbound(sms, "+393471234567", "Marco", "due").await;
    assert_eq!(reopened["conversation"]["status"], "open");
    let objects = log
        .expect(
            &app,
            &["message.created", "conversation.updated", "conversation.status_changed"],
            "a message reopens a resolved conversation",
        )
        .await;
    assert_eq!(objects[0], reopened["message"]);
    assert_eq!(objects[1], reopened["conversation"]);
    assert_eq!(objects[2], reopened["conversation"]);

    app.inbound(sms, "+393471234567", "Marco", "tre").await;
    log.expect(&app, &["message.created", "conversation.updated"], "a message in an open conversation").await;

    app.post(&format!("/api/v1/conversations/{id}/archive"), json!({})).await;
    log.expect(&app, &["conversation.updated", "conversation.archived"], "archive").await;
    let back = app.inbound(sms, "+393471234567", "Marco", "quattro").await;
    assert_eq!(back["conversation"]["archived"], false);
    log.expect(&app, &["message.created", "conversation.updated"], "the conversation comes back to the inbox").await;

    app.post(&format!("/api/v1/conversations/{id}/close"), json!({})).await;
    log.expect(&app, &["conversation.updated", "conversation.status_changed"], "close").await;
    let fresh = app.inbound(sms, "+393471234567", "Marco", "cinque").await;
    assert_ne!(fresh["conversation"]["id"], id);
    let objects = log
        .expect(&app, &["conversation.created", "message.created"], "after close a known contact starts a new one")
        .await;
    assert_eq!(objects[0]["id"], fresh["conversation"]["id"]);

    // A repeated provider message id records nothing.
    let body = json!({"from": "+393471234567", "text": "sei", "provider_message_id": "sms-6"});
    app.post(&format!("/api/v1/channels/{sms}/inbound"), body.clone()).await;
    log.expect(&app, &["message.created", "conversation.updated"], "new provider message").await;
    let repeat = app.post(&format!("/api/v1/channels/{sms}/inbound"), body).await;
    assert_eq!(repeat.body["duplicate"], true);
    log.expect(&app, &[], "repeated provider message").await;
}

async fn contact_lifecycle_records_created_updated_deleted(app: TestApp) {
    let mut log = Log::start(&app).await;
    let created = app.post("/api/v1/contacts", json!({"name": "Ada", "email": "ada@example.com"})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let id = created.body["id"].as_i64().unwrap();
    let objects = log.expect(&app, &["contact.created"], "POST /contacts").await;
    assert_eq!(objects[0], created.body);

    let updated = app.patch(&format!("/api/v1/contacts/{id}"), json!({"name": "Ada Lovelace"})).await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    let objects = log.expect(&app, &["contact.updated"], "PATCH /contacts").await;
    assert_eq!(objects[0]["id"], id);
    assert_eq!(objects[0]["name"], "Ada Lovelace");
    assert_eq!(objects[0]["updated_at"], updated.body["updated_at"]);

    let same = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            json!({"name": " Ada Lovelace ", "email": "ADA@example.com", "in_address_book": true}),
        )
        .await;
    assert_eq!(same.status, StatusCode::OK, "{same:?}");
    assert_eq!(same.body, updated.body, "a patch to the current values changes nothing");
    log.expect(&app, &[], "PATCH with the current values").await;

    let refused = app.patch(&format!("/api/v1/contacts/{id}"), json!({"email": "nope"})).await;
    assert_field_error(&refused, "email");
    let other = app.other_account_key().await;
    assert_hidden_from(&app, &other, &format!("/api/v1/contacts/{id}")).await;
    log.expect(&app, &[], "refused contact changes").await;

    let deleted = app.delete(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let objects = log.expect(&app, &["contact.deleted"], "DELETE /contacts").await;
    assert_eq!(objects[0]["id"], id);
    assert_eq!(objects[0]["name"], "Ada Lovelace", "the contact as it was before deletion");
    assert_eq!(app.delete(&format!("/api/v1/contacts/{id}")).await.status, StatusCode::NOT_FOUND);
    log.expect(&app, &[], "deleting a deleted contact").await;

    // A first message from a new address creates the contact; later ones do not.
    let sms = app.channel("sms", "+393209998800", true).await;
    let first = app.inbound(sms, "+393471234567", "Marco", "ciao").await;
    let objects =
        log.expect(&app, &["contact.created", "conversation.created", "message.created"], "first message").await;
    assert_eq!(objects[0]["id"], first["conversation"]["contact"]["id"]);
    assert_eq!(objects[0]["phone"], "+393471234567");
    assert_eq!(objects[0]["name"], "Marco");
    assert_eq!(objects[0]["in_address_book"], false);
    app.inbound(sms, "+393471234567", "Marco Bianchi", "di nuovo").await;
    log.expect(&app, &["message.created", "conversation.updated"], "a known address").await;

    // So does a conversation the business starts with a new address.
    let started = app
        .post(
            "/api/v1/conversations",
            json!({"channel_id": sms, "to": "+393331112222", "name": "Paziente", "text": "Promemoria"}),
        )
        .await;
    assert_eq!(started.status, StatusCode::CREATED, "{started:?}");
    let objects = log
        .expect(
            &app,
            &["contact.created", "conversation.created", "message.created", "conversation.updated"],
            "a conversation started by the business",
        )
        .await;
    assert_eq!(objects[0]["id"], started.body["conversation"]["contact"]["id"]);
    assert_eq!(objects[0]["name"], "Paziente");

    // A contact without a name takes the one the channel reports.
    let nameless = app.post("/api/v1/contacts", json!({"phone": "+393470000001"})).await;
    log.expect(&app, &["contact.created"], "nameless contact").await;
    let named = app.inbound(sms, "+393470000001", "Lucia", "salve").await;
    assert_eq!(named["conversation"]["contact"]["id"], nameless.body["id"]);
    let objects = log
        .expect(&app, &["contact.updated", "conversation.created", "message.created"], "inbound fills in the name")
        .await;
    assert_eq!(objects[0]["id"], nameless.body["id"]);
    assert_eq!(objects[0]["name"], "Lucia");

    // Renaming through the conversation updates both.
    let conversation = first["conversation"]["id"].as_i64().unwrap();
    let renamed =
        app.patch(&format!("/api/v1/conversations/{conversation}"), json!({"contact_name": "Marco Rossi"})).await;
    assert_eq!(renamed.body["contact"]["name"], "Marco Rossi");
    let objects = log.expect(&app, &["contact.updated", "conversation.updated"], "rename from the conversation").await;
    assert_eq!(objects[0]["name"], "Marco Rossi");
    assert_eq!(objects[1], renamed.body);
    app.patch(&format!("/api/v1/conversations/{conversation}"), json!({"contact_name": "Marco Rossi"})).await;
    log.expect(&app, &[], "renaming to the current name").await;

    // A contact with conversations cannot be deleted: nothing is recorded.
    let contact = first["conversation"]["contact"]["id"].as_i64().unwrap();
    let conflict = app.delete(&format!("/api/v1/contacts/{contact}")).await;
    assert_problem(&conflict, StatusCode::CONFLICT, "contact_has_conversations");
    log.expect(&app, &[], "refused deletion").await;
}

async fn merge_moves_identities_and_conversations(app: TestApp) {
    let wa = app.channel("whatsapp", "+393209998877", true).await;
    let survivor = app
        .post(
            "/api/v1/contacts",
            json!({"name": "Marco Bianchi", "email": "marco@example.com", "attributes": {"tier": "gold", "lang": "it"}}),
        )
        .await;
    let id = survivor.body["id"].as_i64().unwrap();
    let first = app.inbound(wa, "+393471234567", "Marco B.", "Buongiorno").await;
    let other = first["conversation"]["contact"]["id"].as_i64().unwrap();
    let conversation = first["conversation"]["id"].as_i64().unwrap();
    app.patch(
        &format!("/api/v1/contacts/{other}"),
        json!({"avatar_url": "https://cdn.example.com/m.png", "attributes": {"tier": "silver", "city": "Roma"}}),
    )
    .await;
    let mut log = Log::start(&app).await;

    let merged = app.post(&format!("/api/v1/contacts/{id}/merge"), json!({"contact_id": other})).await;
    assert_eq!(merged.status, StatusCode::OK, "{merged:?}");
    let contact = &merged.body;
    assert_eq!(contact["id"], id);
    assert_eq!(contact["name"], "Marco Bianchi", "the survivor's own fields stay");
    assert_eq!(contact["email"], "marco@example.com");
    assert_eq!(contact["phone"], "+393471234567", "empty fields are filled from the merged contact");
    assert_eq!(contact["avatar_url"], "https://cdn.example.com/m.png");
    assert_eq!(contact["attributes"], json!({"tier": "gold", "lang": "it", "city": "Roma"}));
    assert_eq!(contact["in_address_book"], true);
    assert_eq!(
        contact["identities"],
        json!([{"channel_id": wa, "channel_kind": "whatsapp", "external_id": "+393471234567", "opted_out_at": null}])
    );

    let objects = log.expect(&app, &["contact.merged"], "merge (no contact.deleted for the merged one)").await;
    assert_eq!(objects[0]["merged_contact_id"], other);
    assert_eq!(objects[0]["contact"]["id"], id);
    assert_eq!(objects[0]["contact"]["phone"], "+393471234567");
    assert_eq!(objects[0]["contact"]["attributes"], contact["attributes"]);
    assert_eq!(objects[0]["contact"]["updated_at"], contact["updated_at"]);

    assert_problem(&app.get(&format!("/api/v1/contacts/{other}")).await, StatusCode::NOT_FOUND, "not_found");
    let conversations = app.get(&format!("/api/v1/contacts/{id}/conversations")).await;
    let list = conversations.body["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{conversations:?}");
    assert_eq!(list[0]["id"], conversation);
    assert_eq!(list[0]["contact"]["id"], id);
    assert_eq!(list[0]["contact"]["name"], "Marco Bianchi");
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages")).await;
    assert_eq!(thread.body["data"][0]["sender"], json!({"type": "contact", "id": id}));

    // The moved identity leads the next message to the survivor and its conversation.
    let next = app.inbound(wa, "+393471234567", "Marco B.", "Ci sono ancora").await;
    assert_eq!(next["conversation"]["id"], conversation);
    assert_eq!(next["conversation"]["contact"]["id"], id);
    log.expect(&app, &["message.created", "conversation.updated"], "a message after the merge").await;

    // Refusals change nothing and record nothing.
    let itself = app.post(&format!("/api/v1/contacts/{id}/merge"), json!({"contact_id": id})).await;
    assert_field_error(&itself, "contact_id");
    let gone = app.post(&format!("/api/v1/contacts/{id}/merge"), json!({"contact_id": other})).await;
    assert_problem(&gone, StatusCode::NOT_FOUND, "not_found");
    let missing = app.post(&format!("/api/v1/contacts/{}/merge", id + 1000), json!({"contact_id": id})).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
    let no_body = app.post(&format!("/api/v1/contacts/{id}/merge"), json!({})).await;
    assert_problem(&no_body, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let key = app.other_account_key().await;
    let foreign = app.call_as(&key, Method::POST, "/api/v1/contacts", Some(json!({"name": "Someone else"}))).await.body
        ["id"]
        .as_i64()
        .unwrap();
    let into_foreign = app.post(&format!("/api/v1/contacts/{foreign}/merge"), json!({"contact_id": id})).await;
    assert_problem(&into_foreign, StatusCode::NOT_FOUND, "not_found");
    let from_foreign = app.post(&format!("/api/v1/contacts/{id}/merge"), json!({"contact_id": foreign})).await;
    assert_problem(&from_foreign, StatusCode::NOT_FOUND, "not_found");
    let by_foreign = app
        .call_as(&key, Method::POST, &format!("/api/v1/contacts/{foreign}/merge"), Some(json!({"contact_id": id})))
        .await;
    assert_problem(&by_foreign, StatusCode::NOT_FOUND, "not_found");
    assert_hidden_from(&app, &key, &format!("/api/v1/contacts/{id}")).await;
    log.expect(&app, &[], "refused merges").await;
    let after = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(after.body, *contact, "refused merges leave the survivor as it was");
    let foreign_after = app.call_as(&key, Method::GET, &format!("/api/v1/contacts/{foreign}"), None).await;
    assert_eq!(foreign_after.body["name"], "Someone else");
}

async fn deleting_messages_keeps_their_place(app: TestApp) {
    let sms = app.channel("sms", "+393209998800", true).await;
    let one = app.inbound(sms, "+393471234567", "Marco", "uno").await;
    let two = app.inbound(sms, "+393471234567", "Marco", "due").await;
    let id = one["conversation"]["id"].as_i64().unwrap();
    let (m1, m2) = (one["message"]["id"].as_i64().unwrap(), two["message"]["id"].as_i64().unwrap());
    let messages = format!("/api/v1/conversations/{id}/messages");
    let mut log = Log::start(&app).await;

    // An older message: the preview still comes from the newest one.
    let deleted = app.delete(&format!("{messages}/{m1}")).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let objects = log.expect(&app, &["message.deleted"], "delete an older message").await;
    assert_eq!(objects[0]["id"], m1);
    assert_eq!(objects[0]["deleted"], true);
    assert_eq!(objects[0]["text"], Value::Null);
    assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body["last_message_preview"], "due");

    // The newest message: its preview goes too.
    app.delete(&format!("{messages}/{m2}")).await;
    let objects = log.expect(&app, &["message.deleted", "conversation.updated"], "delete the newest message").await;
    assert_eq!(objects[0]["id"], m2);
    assert_eq!(objects[1]["id"], id);
    assert_eq!(objects[1]["last_message_preview"], Value::Null);
    assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body, objects[1]);

    let again = app.delete(&format!("{messages}/{m2}")).await;
    assert_eq!(again.status, StatusCode::NO_CONTENT);
    log.expect(&app, &[], "deleting a deleted message").await;

    let thread = app.get(&messages).await;
    let data = thread.body["data"].as_array().unwrap();
    let ids: Vec<i64> = data.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [m1, m2], "deleted messages keep their place in the thread");
    for message in data {
        assert_eq!(message["deleted"], true);
        assert_eq!(message["text"], Value::Null);
        assert_eq!(message["media_keys"], json!([]));
        assert_eq!(message["payload"], json!({}));
        assert_eq!(message["direction"], "inbound", "the record of it stays");
    }
    assert_eq!(app.get("/api/v1/conversations?q=due").await.body["total"], 0, "deleted text is not searchable");

    // A private note never set the preview: deleting the message before it clears the preview.
    let three = app.inbound(sms, "+393471234567", "Marco", "tre").await["message"]["id"].as_i64().unwrap();
    let note = app.post(&messages, json!({"text": "nota interna", "private": true})).await;
    let note = note.body["id"].as_i64().unwrap();
    log.new_events(&app).await;
    app.delete(&format!("{messages}/{note}")).await;
    log.expect(&app, &["message.deleted"], "delete a private note").await;
    assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body["last_message_preview"], "tre");
    app.delete(&format!("{messages}/{three}")).await;
    log.expect(&app, &["message.deleted", "conversation.updated"], "delete the newest non-private message").await;

    // A reply deleted before it was handed to the channel is never sent.
    let reply = app.post(&messages, json!({"text": "risposta"})).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED);
    let reply = reply.body["id"].as_i64().unwrap();
    log.new_events(&app).await;
    app.delete(&format!("{messages}/{reply}")).await;
    log.expect(&app, &["message.deleted", "conversation.updated"], "delete a queued reply").await;
    app.drain_jobs().await;
    log.expect(&app, &[], "a deleted reply is not sent").await;
    let stored = app.get(&format!("{messages}?id_from={reply}")).await;
    assert_eq!(stored.body["data"][0]["status"], "queued");
    assert_eq!(stored.body["data"][0]["deleted"], true);

    // Unknown, foreign and mismatched ids answer 404 and record nothing.
    let elsewhere = app.inbound(sms, "+393479999999", "Anna", "altrove").await;
    let elsewhere_message = elsewhere["message"]["id"].as_i64().unwrap();
    log.new_events(&app).await;
    for path in [
        format!("{messages}/{elsewhere_message}"),
        format!("{messages}/999999"),
        format!("/api/v1/conversations/999999/messages/{m1}"),
        format!("{messages}/abc"),
    ] {
        assert_problem(&app.delete(&path).await, StatusCode::NOT_FOUND, "not_found");
    }
    let key = app.other_account_key().await;
    let foreign = app.call_as(&key, Method::DELETE, &format!("{messages}/{three}"), None).await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "not_found");
    let foreign = app
        .call_as(
            &key,
            Method::DELETE,
            &format!("/api/v1/conversations/{}/messages/{elsewhere_message}", elsewhere["conversation"]["id"]),
            None,
        )
        .await;
    assert_problem(&foreign, StatusCode::NOT_FOUND, "not_found");
    log.expect(&app, &[], "refused deletions").await;
    let untouched = app.get(&format!("/api/v1/conversations/{}/messages", elsewhere["conversation"]["id"])).await;
    assert_eq!(untouched.body["data"][0]["text"], "altrove");
    assert_eq!(untouched.body["data"][0]["deleted"], false);
}

crate::backend_tests!(
    conversation_changes_record_their_specific_events,
    inbound_messages_reopen_and_restore_with_their_events,
    contact_lifecycle_records_created_updated_deleted,
    merge_moves_identities_and_conversations,
    deleting_messages_keeps_their_place,
);
