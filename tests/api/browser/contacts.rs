//! The contact pane and the address book in a real browser: saving an unknown user, archiving,
//! searching and merging a suggested duplicate, each checked through the API afterwards.

use serde_json::{json, Value};

use super::{Browser, Options};
use crate::helpers::{spawn_app_with, Backend, TestApp};

async fn app() -> TestApp {
    spawn_app_with(Backend::Sqlite, &[]).await
}

/// A customer writes on WhatsApp; returns the conversation id and the contact id.
async fn customer_writes(app: &TestApp, from: &str, name: &str, text: &str) -> (i64, i64) {
    let channel = app.channel("whatsapp", "+390212345678", true).await;
    let result = app.inbound(channel, from, name, text).await;
    let conversation = result["conversation"]["id"].as_i64().expect("conversation id");
    let contact = result["conversation"]["contact"]["id"].as_i64().expect("contact id");
    (conversation, contact)
}

/// Logs in with a browser in `lang` and opens a conversation with its contact pane.
async fn open_conversation(app: &TestApp, conversation: i64, lang: &'static str) -> Browser {
    let browser = Browser::open_with(app, Options { lang, ..Options::default() }).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for("[data-testid=contact-pane] [data-testid=contact-name]").await;
    browser
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let reply = app.get(path).await;
    assert!(reply.status.is_success(), "{path}: {reply:?}");
    reply.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_user_is_added_to_contacts_from_the_pane() {
    let app = app().await;
    let (conversation, contact) = customer_writes(&app, "+393471234567", "", "Ciao, avete la taglia M?").await;
    let browser = open_conversation(&app, conversation, "en").await;

    browser.wait_for_text("[data-testid=contact-pane] [data-testid=contact-name]", "Unknown user").await;
    browser.wait_for_text("[data-testid=identity-list]", "+393471234567").await;
    browser.wait_for("[data-testid=add-contact-form]").await;
    browser.screenshot("contact-pane-unknown-user").await;

    browser.type_into("[data-testid=add-contact-name]", "Ada Lovelace").await;
    browser.type_into("[data-testid=add-contact-email]", "ada@example.com").await;
    browser.click("[data-testid=add-contact-submit]").await;
    browser.wait_for_text("[data-testid=contact-pane] [data-testid=contact-name]", "Ada Lovelace").await;
    browser.wait_gone("[data-testid=add-contact-form]").await;
    let pane = browser.text("[data-testid=contact-pane]").await;
    assert!(!pane.contains("Unknown user") && !pane.contains("null"), "{pane}");

    let saved = json_of(&app, &format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(saved["in_address_book"], true, "{saved}");
    assert_eq!(saved["name"], "Ada Lovelace");
    assert_eq!(saved["email"], "ada@example.com");
    assert_eq!(saved["phone"], "+393471234567", "the number it wrote from stays");

    // Tags and custom attributes of the same pane.
    browser.type_into("[data-testid=tag-input]", "VIP").await;
    browser.click("[data-testid=tag-add]").await;
    browser.wait_for("[data-testid=tag][data-tag=vip]").await;
    browser.type_into("[data-testid=attribute-key]", "city").await;
    browser.type_into("[data-testid=attribute-value]", "Roma").await;
    browser.click("[data-testid=attribute-save]").await;
    browser.wait_for_text("[data-testid=attribute-list]", "Roma").await;
    assert_eq!(json_of(&app, &format!("/api/v1/conversations/{conversation}")).await["tags"], json!(["vip"]));
    assert_eq!(json_of(&app, &format!("/api/v1/contacts/{contact}")).await["attributes"], json!({"city": "Roma"}));
    browser.screenshot("contact-pane").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conversation_is_archived_unarchived_and_resolved_from_the_pane_in_italian() {
    let app = app().await;
    let (conversation, _) = customer_writes(&app, "+393471234567", "Ada", "Grazie, tutto chiaro").await;
    let path = format!("/api/v1/conversations/{conversation}");
    let browser = open_conversation(&app, conversation, "it").await;
    browser.wait_for_text("[data-testid=conversation-status]", "Stato: Aperta").await;
    assert_eq!(browser.text("[data-testid=archive-button]").await, "Archivia", "Italian from the browser's language");

    browser.click("[data-testid=archive-button]").await;
    browser.wait_for("[data-testid=unarchive-button]").await;
    browser.wait_for("[data-testid=conversation-archived]").await;
    assert_eq!(json_of(&app, &path).await["archived"], true);

    browser.click("[data-testid=unarchive-button]").await;
    browser.wait_for("[data-testid=archive-button]").await;
    browser.wait_gone("[data-testid=conversation-archived]").await;
    assert_eq!(json_of(&app, &path).await["archived"], false);

    browser.click("[data-testid=resolve-button]").await;
    browser.wait_for("[data-testid=reopen-button]").await;
    assert_eq!(json_of(&app, &path).await["status"], "resolved");
    browser.click("[data-testid=reopen-button]").await;
    browser.wait_for("[data-testid=resolve-button]").await;
    assert_eq!(json_of(&app, &path).await["status"], "open");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_book_search_finds_by_name_phone_and_email() {
    let app = app().await;
    for body in [
        json!({"name": "Ada Lovelace", "phone": "+393471234567", "email": "ada@analytical.org"}),
        json!({"name": "Grace Hopper", "phone": "+14155550100", "email": "grace@navy.mil"}),
        json!({"name": "Alan Turing", "phone": "+441234567890", "email": "alan@bletchley.uk"}),
    ] {
        assert!(app.post("/api/v1/contacts", body).await.status.is_success());
    }
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto("/#/contacts").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 3").await;
    browser.screenshot("address-book").await;

    browser.type_into("[data-testid=contact-search]", "hopper").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 1").await;
    browser.wait_for_text("[data-testid=contact-row]", "Grace Hopper").await;

    browser.clear("[data-testid=contact-search]").await;
    browser.type_into("[data-testid=contact-search]", "bletchley").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 1").await;
    browser.wait_for_text("[data-testid=contact-row]", "Alan Turing").await;

    // Pages of 50: the next page loads on demand.
    for n in 0..50 {
        let reply = app.post("/api/v1/contacts", json!({"name": format!("Customer {n:02}")})).await;
        assert!(reply.status.is_success(), "{reply:?}");
    }
    browser.clear("[data-testid=contact-search]").await;
    browser.type_into("[data-testid=contact-search]", " ").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 50").await;
    browser.click("[data-testid=contacts-more]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 53").await;
    browser.wait_gone("[data-testid=contacts-more]").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suggested_duplicate_is_merged_with_one_click() {
    let app = app().await;
    let whatsapp = app.channel("whatsapp", "+390212345678", true).await;
    let instagram = app.channel("instagram", "shop_ig", true).await;
    let on_whatsapp = app.inbound(whatsapp, "+393471234567", "Ada", "Ciao!").await;
    let keep = on_whatsapp["conversation"]["contact"]["id"].as_i64().expect("contact id");
    let on_instagram = app.inbound(instagram, "ada.ig", "Ada L.", "Ciao da Instagram").await;
    let other = on_instagram["conversation"]["contact"]["id"].as_i64().expect("contact id");
    assert_ne!(keep, other);
    // The same number, written another way, on the Instagram contact.
    let reply = app.patch(&format!("/api/v1/contacts/{other}"), json!({"phone": "0039 347 123 4567"})).await;
    assert!(reply.status.is_success(), "{reply:?}");

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto("/#/contacts").await;
    browser.wait_for("[data-testid=duplicate-pair]").await;
    browser.screenshot("address-book-duplicates").await;
    browser.click(&format!("[data-testid=duplicate-pair] [data-testid=merge-keep][data-contact-id='{keep}']")).await;
    browser.wait_for_text("[data-testid=addressbook-status]", "Merged").await;
    browser.wait_gone("[data-testid=duplicate-pair]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-row]').length === 1").await;
    browser.close().await;

    let list = json_of(&app, "/api/v1/contacts").await;
    let ids: Vec<i64> = list["data"].as_array().expect("data").iter().filter_map(|c| c["id"].as_i64()).collect();
    assert_eq!(ids, vec![keep], "one contact remains");
    let survivor = json_of(&app, &format!("/api/v1/contacts/{keep}")).await;
    let mut channels: Vec<i64> = survivor["identities"]
        .as_array()
        .expect("identities")
        .iter()
        .filter_map(|i| i["channel_id"].as_i64())
        .collect();
    channels.sort_unstable();
    assert_eq!(channels, vec![whatsapp, instagram], "{survivor}");
    let conversations = json_of(&app, &format!("/api/v1/contacts/{keep}/conversations")).await;
    assert_eq!(conversations["data"].as_array().map(Vec::len), Some(2), "one history across both channels");
}

/// A chat started through the chat API shows the customer's flags as badges (bad actor in red)
/// and the business's custom data and language in the pane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_flags_and_custom_data_show_in_the_pane() {
    let app = app().await;
    let settings = json!({"allowed_origins": "https://shop.example.com"});
    let channel = json_of_post(
        &app,
        "/api/v1/channels",
        json!({"kind": "webchat", "name": "Site", "address": "site", "settings": settings}),
    )
    .await;
    let team = json_of_post(&app, "/api/v1/teams", json!({"name": "Support", "channel_ids": [channel["id"]]})).await;
    let ccai = |path: &str, body: Value| {
        reqwest::Client::new()
            .post(format!("{}/apps/api/v1{path}", app.base))
            .basic_auth("shop", Some(&app.key))
            .json(&body)
            .send()
    };
    let chat: Value =
        ccai("/chats", json!({"chat": {"menu_id": team["id"], "lang": "it"}, "end_user": {"phone": "+393471112223"}}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let id = chat["id"].as_i64().unwrap();
    let data = json!({"signed": false, "data": {"reserved_bad_actor": {"label": "Bad", "value": true}, "plan": {"label": "Plan", "value": "gold"}}});
    assert!(ccai(&format!("/chats/{id}/custom_data"), data).await.unwrap().status().is_success());
    assert!(ccai(&format!("/chats/{id}/customer_flag"), json!({"verified_customer": true}))
        .await
        .unwrap()
        .status()
        .is_success());

    let browser = open_conversation(&app, id, "en").await;
    browser.wait_for("[data-testid=customer-flags] [data-flag=bad_actor]").await;
    let flags = browser.text("[data-testid=customer-flags]").await;
    assert!(flags.contains("Bad actor") && flags.contains("Verified customer") && !flags.contains("Repeat"), "{flags}");
    let colour = browser.exec("return getComputedStyle(document.querySelector('[data-flag=bad_actor]')).color").await;
    assert_eq!(colour, "rgb(185, 28, 28)", "bad actor is red");
    browser.wait_for_text("[data-testid=chat-details]", "gold").await;
    let details = browser.text("[data-testid=chat-details]").await;
    assert!(details.contains("Plan") && details.contains("it"), "{details}");
    browser.screenshot("contact-pane-chat-flags").await;
    browser.close().await;
}

async fn json_of_post(app: &TestApp, path: &str, body: Value) -> Value {
    let reply = app.post(path, body).await;
    assert!(reply.status.is_success(), "{path}: {reply:?}");
    reply.body
}
