//! `/api/v1/contacts`: the address book, search, identities and one history per person.

use std::collections::HashSet;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// The ids on one page of `GET /api/v1/contacts…`.
fn ids(reply: &Reply) -> Vec<i64> {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().expect("data").iter().map(|c| c["id"].as_i64().expect("id")).collect()
}

async fn create(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/contacts", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

async fn create_contact_normalises_phone_and_email(app: TestApp) {
    let reply = app
        .post(
            "/api/v1/contacts",
            json!({"name": "  Ada Lovelace ", "phone": "+39 347 123 4567", "email": "Ada@Example.COM",
                   "attributes": {"tier": "gold", "visits": 3}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    let id = reply.body["id"].as_i64().expect("id");
    assert_eq!(reply.body["name"], "Ada Lovelace");
    assert_eq!(reply.body["phone"], "+393471234567");
    assert_eq!(reply.body["email"], "ada@example.com");
    assert_eq!(reply.body["in_address_book"], true);
    assert_eq!(reply.body["attributes"], json!({"tier": "gold", "visits": 3}));

    // Other common spellings of a number normalise the same way.
    let other = create(&app, json!({"phone": "0039 (347) 765-4321"})).await;
    assert_eq!(other["phone"], "+393477654321");
    assert_eq!(other["name"], Value::Null);

    let stored = app.get(&format!("/api/v1/contacts/{id}")).await;
    assert_eq!(stored.status, StatusCode::OK, "{stored:?}");
    assert_eq!(stored.body["phone"], "+393471234567");
    assert_eq!(stored.body["email"], "ada@example.com");
    assert_eq!(stored.body["attributes"]["tier"], "gold");
    assert_eq!(stored.body["identities"], json!([]), "an address-book contact has no channel identity yet");

    let missing = app.get(&format!("/api/v1/contacts/{}", id + 1000)).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
    let not_an_id = app.get("/api/v1/contacts/abc").await;
    assert_problem(&not_an_id, StatusCode::NOT_FOUND, "not_found");
}

async fn create_contact_rejects_bad_input(app: TestApp) {
    let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "phone": "347 123"})).await;
    assert_field_error(&reply, "phone");
    let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "phone": "+39 347 abc"})).await;
    assert_field_error(&reply, "phone");
    let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "email": "ada.example.com"})).await;
    assert_field_error(&reply, "email");
    let reply = app.post("/api/v1/contacts", json!({})).await;
    assert_field_error(&reply, "name");
    let reply = app.post("/api/v1/contacts", json!({"name": "   ", "phone": ""})).await;
    assert_field_error(&reply, "name");
    let reply = app.post("/api/v1/contacts", json!({"name": "x".repeat(201)})).await;
    assert_field_error(&reply, "name");
    let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "attributes": ["vip"]})).await;
    assert_field_error(&reply, "attributes");
    let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "nickname": "Countess"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(reply.body["detail"].as_str().unwrap_or_default().contains("nickname"), "{reply:?}");
    let reply = app.post("/api/v1/contacts", json!({"name": 42})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let list = app.get("/api/v1/contacts").await;
    assert_eq!(ids(&list), Vec::<i64>::new(), "a refused contact must not be stored");
}

async fn contact_lists_identities_after_inbound(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let result = app.inbound(whatsapp, "+39 347 123 4567", "Ada", "Hello!").await;
    let contact_id = result["conversation"]["contact"]["id"].as_i64().expect("contact id");

    let contact = app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact.status, StatusCode::OK, "{contact:?}");
    assert_eq!(contact.body["name"], "Ada");
    assert_eq!(contact.body["phone"], "+393471234567");
    assert_eq!(contact.body["in_address_book"], false, "a contact who wrote in is not saved in the address book");
    assert_eq!(
        contact.body["identities"],
        json!([{"channel_id": whatsapp, "channel_kind": "whatsapp", "external_id": "+393471234567", "opted_out_at": null}])
    );

    // A second message from the same number reuses the contact.
    let again = app.inbound(whatsapp, "+393471234567", "Ada L.", "Still there?").await;
    assert_eq!(again["conversation"]["contact"]["id"], contact_id);
    let contact = app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    assert_eq!(contact.body["name"], "Ada", "a known name is not overwritten by the profile name");
    assert_eq!(contact.body["identities"].as_array().map(Vec::len), Some(1));

    // The contact is not listed in search results twice.
    let list = app.get("/api/v1/contacts").await;
    assert_eq!(ids(&list), vec![contact_id]);
    assert!(list.body["data"][0].get("identities").is_none(), "identities appear on single-contact responses only");
}

async fn update_contact_changes_only_given_fields(app: TestApp) {
    let contact = create(&app, json!({"name": "Ada", "phone": "+393471234567", "attributes": {"tier": "gold"}})).await;
    let id = contact["id"].as_i64().expect("id");
    let path = format!("/api/v1/contacts/{id}");

    let reply =
        app.patch(&path, json!({"name": "Ada Lovelace", "attributes": {"tier": "platinum", "lang": "en"}})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["name"], "Ada Lovelace");
    assert_eq!(reply.body["phone"], "+393471234567", "absent fields stay as they are");
    assert_eq!(reply.body["attributes"], json!({"tier": "platinum", "lang": "en"}));

    let reply = app.patch(&path, json!({"email": "ADA@example.com", "phone": "+44 20 7946 0958"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["email"], "ada@example.com");
    assert_eq!(reply.body["phone"], "+442079460958");
    assert_eq!(reply.body["name"], "Ada Lovelace");

    let before = app.get(&path).await;
    assert_eq!(before.status, StatusCode::OK);

    let reply = app.patch(&path, json!({"name": "Changed", "attributes": "vip"})).await;
    assert_field_error(&reply, "attributes");
    let reply = app.patch(&path, json!({"name": "Changed", "attributes": [1, 2]})).await;
    assert_field_error(&reply, "attributes");
    let reply = app.patch(&path, json!({"name": "Changed", "phone": "12"})).await;
    assert_field_error(&reply, "phone");
    let reply = app.patch(&path, json!({"name": "Changed", "email": "nope"})).await;
    assert_field_error(&reply, "email");
    let reply = app.patch(&path, json!({"name": "Changed", "colour": "blue"})).await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    let after = app.get(&path).await;
    assert_eq!(after.body, before.body, "a refused update changes nothing");

    let missing = app.patch(&format!("/api/v1/contacts/{}", id + 1000), json!({"name": "Ghost"})).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
}

async fn search_contacts_by_name_phone_and_email(app: TestApp) {
    let ada = create(&app, json!({"name": "Ada Lovelace", "phone": "+393471234567", "email": "ada@analytical.org"}))
        .await["id"]
        .as_i64()
        .expect("id");
    let grace = create(&app, json!({"name": "Grace Hopper", "phone": "+14155550100", "email": "Grace@Navy.mil"})).await
        ["id"]
        .as_i64()
        .expect("id");
    let alan = create(&app, json!({"name": "Alan Turing", "phone": "+441234567890", "email": "alan@bletchley.uk"}))
        .await["id"]
        .as_i64()
        .expect("id");

    assert_eq!(ids(&app.get("/api/v1/contacts?q=ada").await), vec![ada]);
    assert_eq!(ids(&app.get("/api/v1/contacts?q=LOVELACE").await), vec![ada], "search ignores case");
    assert_eq!(ids(&app.get("/api/v1/contacts?q=4155550").await), vec![grace], "search matches phone numbers");
    assert_eq!(ids(&app.get("/api/v1/contacts?q=%2B44").await), vec![alan], "a leading + matches too");
    assert_eq!(ids(&app.get("/api/v1/contacts?q=NAVY.MIL").await), vec![grace], "search matches emails");
    assert_eq!(ids(&app.get("/api/v1/contacts?q=bletchley").await), vec![alan]);
    assert_eq!(ids(&app.get("/api/v1/contacts?q=nobody").await), Vec::<i64>::new());
    assert_eq!(ids(&app.get("/api/v1/contacts?q=").await), vec![ada, grace, alan], "an empty query lists everyone");

    // Paging: two pages of a three-contact search, without overlap.
    let first = app.get("/api/v1/contacts?q=a&limit=2").await;
    let first_ids = ids(&first);
    assert_eq!(first_ids.len(), 2, "{first:?}");
    let cursor = first.body["next_cursor"].as_str().expect("a next_cursor on a full page").to_owned();
    let second = app.get(&format!("/api/v1/contacts?q=a&limit=2&cursor={cursor}")).await;
    let second_ids = ids(&second);
    assert_eq!(second_ids.len(), 1, "{second:?}");
    assert_eq!(second.body["next_cursor"], Value::Null, "the last page has no cursor");
    let all: HashSet<i64> = first_ids.iter().chain(&second_ids).copied().collect();
    assert_eq!(all, HashSet::from([ada, grace, alan]), "pages cover every match exactly once");

    let exact = app.get("/api/v1/contacts?limit=3").await;
    assert_eq!(ids(&exact).len(), 3);
    assert_eq!(exact.body["next_cursor"], Value::Null, "no cursor when nothing follows");

    let reply = app.get("/api/v1/contacts?limit=0").await;
    assert_field_error(&reply, "limit");
    let reply = app.get("/api/v1/contacts?limit=101").await;
    assert_field_error(&reply, "limit");
    let reply = app.get("/api/v1/contacts?cursor=not-a-cursor").await;
    assert_field_error(&reply, "cursor");
    let reply = app.get("/api/v1/contacts?limit=many").await;
    assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "invalid_query");
}

async fn delete_contact_without_conversations(app: TestApp) {
    let id = create(&app, json!({"name": "Temp", "email": "temp@example.com"})).await["id"].as_i64().expect("id");
    let path = format!("/api/v1/contacts/{id}");

    let reply = app.delete(&path).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{reply:?}");
    assert_problem(&app.get(&path).await, StatusCode::NOT_FOUND, "not_found");
    assert_problem(&app.delete(&path).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(ids(&app.get("/api/v1/contacts").await), Vec::<i64>::new());

    // A contact with a conversation stays.
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let result = app.inbound(whatsapp, "+393471234567", "Ada", "Hi").await;
    let contact_id = result["conversation"]["contact"]["id"].as_i64().expect("contact id");
    let path = format!("/api/v1/contacts/{contact_id}");
    let before = app.get(&path).await;
    let reply = app.delete(&path).await;
    assert_problem(&reply, StatusCode::CONFLICT, "contact_has_conversations");
    let after = app.get(&path).await;
    assert_eq!(after.status, StatusCode::OK, "{after:?}");
    assert_eq!(after.body, before.body, "a refused delete changes nothing");
    let conversations = app.get(&format!("{path}/conversations")).await;
    assert_eq!(conversations.body["data"].as_array().map(Vec::len), Some(1), "{conversations:?}");
}

async fn contact_has_one_history_across_channels(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let sms = app.channel("sms", "+390298765432", true).await;
    let on_whatsapp = app.inbound(whatsapp, "+393471234567", "Ada", "Hi on WhatsApp").await;
    let on_sms = app.inbound(sms, "+39 347 1234567", "", "Hi by SMS").await;
    let contact_id = on_whatsapp["conversation"]["contact"]["id"].as_i64().expect("contact id");
    assert_eq!(on_sms["conversation"]["contact"]["id"], contact_id, "the same number is the same person");
    assert_ne!(on_sms["conversation"]["id"], on_whatsapp["conversation"]["id"], "one conversation per channel");

    // Someone else on SMS is another contact.
    let stranger = app.inbound(sms, "+393479999999", "Bob", "Wrong number").await;
    assert_ne!(stranger["conversation"]["contact"]["id"], contact_id);

    let reply = app.get(&format!("/api/v1/contacts/{contact_id}/conversations")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let data = reply.body["data"].as_array().expect("data");
    assert_eq!(data.len(), 2, "{reply:?}");
    let channels: HashSet<(i64, String)> = data
        .iter()
        .map(|c| {
            (c["channel"]["id"].as_i64().expect("channel id"), c["channel"]["kind"].as_str().expect("kind").into())
        })
        .collect();
    assert_eq!(channels, HashSet::from([(whatsapp, "whatsapp".to_owned()), (sms, "sms".to_owned())]));
    assert!(data.iter().all(|c| c["contact"]["id"] == contact_id));

    let contact = app.get(&format!("/api/v1/contacts/{contact_id}")).await;
    let identities: HashSet<i64> = contact.body["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .map(|i| i["channel_id"].as_i64().expect("channel id"))
        .collect();
    assert_eq!(identities, HashSet::from([whatsapp, sms]));
    assert_eq!(ids(&app.get("/api/v1/contacts").await).len(), 2, "Ada and Bob, nobody twice");

    let missing = app.get(&format!("/api/v1/contacts/{}/conversations", contact_id + 1000)).await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");
}

async fn contacts_of_another_account_answer_404(app: TestApp) {
    let other = app.other_account_key().await;
    let saved = create(&app, json!({"name": "Ada", "phone": "+393471234567"})).await;
    let saved_id = saved["id"].as_i64().expect("id");
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let wrote = app.inbound(whatsapp, "+393470000001", "Bob", "Hi").await["conversation"]["contact"]["id"]
        .as_i64()
        .expect("contact id");

    for id in [saved_id, wrote] {
        let path = format!("/api/v1/contacts/{id}");
        let before = app.get(&path).await;
        assert_eq!(before.status, StatusCode::OK);
        assert_hidden_from(&app, &other, &path).await;
        let reply = app.call_as(&other, Method::GET, &format!("{path}/conversations"), None).await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
        let after = app.get(&path).await;
        assert_eq!(after.body, before.body, "another account cannot change or delete the contact");
    }

    let theirs = app.call_as(&other, Method::GET, "/api/v1/contacts", None).await;
    assert_eq!(ids(&theirs), Vec::<i64>::new(), "another account sees none of our contacts");
    let theirs = app.call_as(&other, Method::GET, "/api/v1/contacts?q=ada", None).await;
    assert_eq!(ids(&theirs), Vec::<i64>::new());
    assert_eq!(ids(&app.get("/api/v1/contacts").await), vec![saved_id, wrote]);
}

crate::backend_tests!(
    create_contact_normalises_phone_and_email,
    create_contact_rejects_bad_input,
    contact_lists_identities_after_inbound,
    update_contact_changes_only_given_fields,
    search_contacts_by_name_phone_and_email,
    delete_contact_without_conversations,
    contact_has_one_history_across_channels,
    contacts_of_another_account_answer_404,
    search_matches_wildcard_characters_literally,
    create_contact_rejects_malformed_emails,
    unknown_contact_saved_to_address_book,
    duplicate_suggestions_find_the_same_person_written_differently,
    merging_a_suggested_pair_removes_the_suggestion,
);

/// Search text is matched literally: `%` and `_` are not wildcards.
async fn search_matches_wildcard_characters_literally(app: TestApp) {
    let discount = create(&app, json!({"name": "100% Organic Ltd"})).await["id"].as_i64().expect("id");
    let underscore =
        create(&app, json!({"name": "Bob", "email": "bob_smith@example.com"})).await["id"].as_i64().expect("id");
    create(&app, json!({"name": "Carol", "email": "carol@example.com"})).await;

    assert_eq!(
        ids(&app.get("/api/v1/contacts?q=%25").await),
        vec![discount],
        "`%` matches only a literal percent sign"
    );
    assert_eq!(ids(&app.get("/api/v1/contacts?q=100%25").await), vec![discount]);
    assert_eq!(ids(&app.get("/api/v1/contacts?q=_").await), vec![underscore], "`_` matches only a literal underscore");
    assert_eq!(ids(&app.get("/api/v1/contacts?q=b_s").await), vec![underscore]);
    assert_eq!(ids(&app.get("/api/v1/contacts?q=o_o").await), Vec::<i64>::new(), "`_` is not a one-character wildcard");
}

/// Only plausible email addresses are accepted.
async fn create_contact_rejects_malformed_emails(app: TestApp) {
    for email in ["@", "ada@", "@example.com", "ada lovelace@example.com", "ada@@example.com"] {
        let reply = app.post("/api/v1/contacts", json!({"name": "Ada", "email": email})).await;
        assert_field_error(&reply, "email");
    }
    assert_eq!(ids(&app.get("/api/v1/contacts").await), Vec::<i64>::new(), "no contact with a broken email was stored");
    let ok = create(&app, json!({"name": "Ada", "email": "ada+news@mail.example.co.uk"})).await;
    assert_eq!(ok["email"], "ada+news@mail.example.co.uk");
}

/// "Add to contacts" in the operator UI: an unknown user who wrote in is saved in the address book
/// by a PATCH with its name, and every conversation with it shows it as known.
async fn unknown_contact_saved_to_address_book(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let result = app.inbound(whatsapp, "+393471234567", "", "Ciao!").await;
    let conversation = result["conversation"]["id"].as_i64().expect("conversation id");
    let contact = result["conversation"]["contact"]["id"].as_i64().expect("contact id");
    assert_eq!(result["conversation"]["contact"]["in_address_book"], false);

    let path = format!("/api/v1/contacts/{contact}");
    let reply = app
        .patch(&path, json!({"name": "Ada Lovelace", "phone": "", "email": "ada@example.com", "in_address_book": true}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["in_address_book"], true);
    assert_eq!(reply.body["name"], "Ada Lovelace");
    assert_eq!(reply.body["phone"], "+393471234567", "an empty phone keeps the known number");
    assert_eq!(reply.body["email"], "ada@example.com");

    let seen = app.get(&format!("/api/v1/conversations/{conversation}")).await;
    assert_eq!(seen.body["contact"]["in_address_book"], true, "{seen:?}");
    assert_eq!(seen.body["contact"]["name"], "Ada Lovelace");

    let removed = app.patch(&path, json!({"in_address_book": false})).await;
    assert_eq!(removed.body["in_address_book"], false, "{removed:?}");
    assert_eq!(removed.body["name"], "Ada Lovelace", "leaving the address book keeps the name");
}

/// The suggestions of `GET /api/v1/contacts/duplicates` as (reason, older id, newer id).
async fn suggestions(app: &TestApp, key: &str) -> Vec<(String, i64, i64)> {
    let reply = app.call_as(key, Method::GET, "/api/v1/contacts/duplicates", None).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|pair| {
            let contacts = pair["contacts"].as_array().expect("contacts");
            assert_eq!(contacts.len(), 2, "{pair}");
            assert!(contacts.iter().all(|c| c["created_at"].is_string()), "full contacts: {pair}");
            let id = |i: usize| contacts[i]["id"].as_i64().expect("id");
            (pair["reason"].as_str().expect("reason").to_owned(), id(0), id(1))
        })
        .collect()
}

/// Gives a contact a phone number as an older import may have stored it (the API only stores E.164).
async fn store_raw_phone(app: &TestApp, id: i64, phone: &str) {
    sqlx::query("UPDATE contacts SET phone = $1 WHERE id = $2")
        .bind(phone)
        .bind(id)
        .execute(app.state.db.writer())
        .await
        .expect("raw phone");
}

/// Same phone however written (`+39`, `0039`, national), same email ignoring case, same name
/// ignoring case and spaces; each pair once, phone first; other accounts see none of it.
async fn duplicate_suggestions_find_the_same_person_written_differently(app: TestApp) {
    let id = |contact: Value| contact["id"].as_i64().expect("id");
    let mario = id(create(&app, json!({"name": "Mario Rossi", "phone": "+39 333 123 4567"})).await);
    let m_rossi = id(create(&app, json!({"name": "M. Rossi", "phone": "0039 333-1234567"})).await);
    let national = id(create(&app, json!({"name": "Rossi (ufficio)", "email": "rossi@example.com"})).await);
    store_raw_phone(&app, national, "333 1234567").await;
    let anna = id(create(&app, json!({"name": "Anna", "email": "Anna.Verdi@Example.com"})).await);
    let verdi = id(create(&app, json!({"name": "A. Verdi", "email": " anna.verdi@example.com"})).await);
    let luca = id(create(&app, json!({"name": "Luca  Bianchi"})).await);
    let bianchi = id(create(&app, json!({"name": "luca bianchi", "phone": "+39 347 000 0000"})).await);
    create(&app, json!({"name": "Someone Else", "phone": "+39 347 000 0001", "email": "else@example.com"})).await;

    let found = suggestions(&app, &app.key).await;
    let phone = |a, b| ("same_phone".to_owned(), a, b);
    assert_eq!(
        found,
        vec![
            phone(mario, m_rossi),
            phone(mario, national),
            phone(m_rossi, national),
            ("same_email".to_owned(), anna, verdi),
            ("same_name".to_owned(), luca, bianchi),
        ]
    );

    // The route is not taken for a contact id, nor does it hide contact ids.
    assert_eq!(app.get(&format!("/api/v1/contacts/{mario}")).await.status, StatusCode::OK);
    let other = app.other_account_key().await;
    assert_eq!(suggestions(&app, &other).await, vec![], "another account sees no suggestions of ours");
}

/// Merging a suggested pair makes the suggestion disappear; the merged contact keeps both details.
async fn merging_a_suggested_pair_removes_the_suggestion(app: TestApp) {
    let id = |contact: Value| contact["id"].as_i64().expect("id");
    let ada = id(create(&app, json!({"name": "Ada", "phone": "+393471234567"})).await);
    let lovelace =
        id(create(&app, json!({"name": "Ada Lovelace", "phone": "0039 347 123 4567", "email": "ada@example.com"}))
            .await);
    assert_eq!(suggestions(&app, &app.key).await, vec![("same_phone".to_owned(), ada, lovelace)]);

    let merged = app.post(&format!("/api/v1/contacts/{ada}/merge"), json!({"contact_id": lovelace})).await;
    assert_eq!(merged.status, StatusCode::OK, "{merged:?}");
    assert_eq!(merged.body["email"], "ada@example.com", "filled from the merged contact");
    assert_eq!(suggestions(&app, &app.key).await, vec![], "the pair is gone");
    assert_problem(&app.get(&format!("/api/v1/contacts/{lovelace}")).await, StatusCode::NOT_FOUND, "not_found");
}
