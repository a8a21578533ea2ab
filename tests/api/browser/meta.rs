//! Messenger and Instagram in a real browser: a Messenger conversation answered from the composer, an
//! Instagram comment answered privately, seed 001's story (Instagram today, Messenger tomorrow, merged,
//! one history), and a channel connected from the settings form drawn from its network's schema.

use serde_json::{json, Value};

use super::Browser;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::meta_channels::{comment, deliver, messaging, meta_channel, IGSID, IG_ID, PAGE_ID, PSID};
use crate::meta_graph::Graph;

async fn app() -> TestApp {
    spawn_app_with(Backend::Sqlite, &[]).await
}

async fn first_conversation(app: &TestApp, channel: i64) -> i64 {
    app.get(&format!("/api/v1/conversations?channel_id={channel}")).await.body["data"][0]["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messenger_conversation_and_an_instagram_comment_are_answered() {
    let app = app().await;
    let graph = Graph::start().await;
    let messenger = meta_channel(&app, "messenger", PAGE_ID, Some(&graph)).await;
    let instagram = meta_channel(&app, "instagram", IG_ID, Some(&graph)).await;
    deliver(
        &app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "m.b.1", "text": "Avete il rosso?"}})),
    )
    .await;
    deliver(&app, "instagram", &comment("c-b-1", "post-7", "Spedite in Spagna?")).await;
    app.drain_jobs().await;
    let on_messenger = first_conversation(&app, messenger).await;
    let on_instagram = first_conversation(&app, instagram).await;

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{on_messenger}")).await;
    browser.wait_for_text("[data-testid=thread]", "Avete il rosso?").await;
    browser.type_into("[data-testid=composer-input]", "Sì, in tutte le taglie").await;
    browser.press_enter().await;
    browser.wait_for("[data-testid=message][data-direction=outbound]").await;
    app.drain_jobs().await;
    browser.wait_for("[data-testid=message][data-direction=outbound][data-status=sent]").await;
    let sent = graph.last_message();
    assert_eq!(sent.body["message"], json!({"text": "Sì, in tutte le taglie"}));
    assert_eq!(sent.body["recipient"], json!({"id": PSID}));
    browser.screenshot("messenger-conversation").await;

    // The comment shows as one, and the composer offers to answer it privately.
    browser.goto(&format!("/#/c/{on_instagram}")).await;
    browser.wait_for_text("[data-testid=message-comment]", "post-7").await;
    assert!(!browser.text("[data-testid=window-closed-banner]").await.is_empty(), "no DM window is open yet");
    // The reply button shows on hover; a click from script stands in for it.
    browser.exec("document.querySelector('[data-testid=message][data-direction=inbound] [data-testid=reply-button]').click();").await;
    browser.wait_for("[data-testid=comment-mode]:not([hidden])").await;
    browser.click("[data-testid=comment-private]").await;
    browser.type_into("[data-testid=composer-input]", "Ti scriviamo in privato").await;
    browser.press_enter().await;
    browser.wait_for("[data-testid=message][data-direction=outbound]").await;
    app.drain_jobs().await;
    let private = graph.last_message();
    assert_eq!(private.path, format!("/v21.0/{IG_ID}/messages"));
    assert_eq!(private.body["recipient"], json!({"comment_id": "c-b-1"}));
    browser.screenshot("instagram-private-reply").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instagram_today_messenger_tomorrow_one_history() {
    let app = app().await;
    let graph = Graph::start().await;
    meta_channel(&app, "instagram", IG_ID, Some(&graph)).await;
    let messenger = meta_channel(&app, "messenger", PAGE_ID, Some(&graph)).await;
    deliver(
        &app,
        "instagram",
        &messaging("instagram", IG_ID, IGSID, json!({"message": {"mid": "ig.s.1", "text": "Do you have boots?"}})),
    )
    .await;
    deliver(
        &app,
        "messenger",
        &messaging("page", PAGE_ID, PSID, json!({"message": {"mid": "fb.s.1", "text": "About the boots…"}})),
    )
    .await;
    app.drain_jobs().await;
    let duplicates = app.get("/api/v1/contacts/duplicates").await.body;
    let keep = duplicates["data"][0]["contacts"][0]["id"].as_i64().unwrap();

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto("/#/contacts").await;
    browser.wait_for("[data-testid=duplicate-pair]").await;
    browser.click(&format!("[data-testid=duplicate-pair] [data-testid=merge-keep][data-contact-id='{keep}']")).await;
    browser.wait_gone("[data-testid=duplicate-pair]").await;

    let conversation = first_conversation(&app, messenger).await;
    browser.goto(&format!("/#/c/{conversation}")).await;
    browser.wait_for_text("[data-testid=thread]", "About the boots").await;
    browser.click("[data-testid=contact-history-open]").await;
    browser.wait_until("document.querySelectorAll('[data-testid=contact-history-item]').length === 2").await;
    let kinds: Value = browser
        .exec("return [...document.querySelectorAll('[data-testid=contact-history-item]')].map((e) => e.dataset.channelKind);")
        .await;
    assert_eq!(kinds, json!(["instagram", "messenger"]), "oldest first, one history across networks");
    browser.screenshot("one-history").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_is_connected_from_its_settings_form() {
    let app = app().await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.click("[data-testid=nav-channels]").await;
    browser.click("[data-testid=channel-add]").await;
    browser.wait_for("[data-testid=channel-form]").await;
    browser
        .exec("const s = document.querySelector('[data-testid=channel-kind]'); s.value = 'messenger'; s.dispatchEvent(new Event('change'));")
        .await;
    browser.wait_for("[data-testid=channel-setting][data-name=page_access_token][data-secret=true]").await;
    browser.type_into("[data-testid=channel-name]", "Shop page").await;
    browser.type_into("[data-testid=channel-address]", "Shop").await;
    for (name, value) in [
        ("page_id", "1029384756"),
        ("app_secret", "s3cret"),
        ("verify_token", "v-token"),
        ("page_access_token", "EAAB"),
    ] {
        browser.type_into(&format!("[data-testid=channel-setting][data-name={name}]"), value).await;
    }
    browser.click("[data-testid=channel-save]").await;
    browser.wait_for("[data-testid=channel-row][data-kind=messenger]").await;
    let channel = app.get("/api/v1/channels").await.body["data"][0].clone();
    assert_eq!(
        (channel["simulation"].as_bool(), &channel["settings"]),
        (Some(false), &json!({"page_id": "1029384756"}))
    );

    // Editing shows the set secrets without their values; a refused value is explained.
    browser.click("[data-testid=channel-edit]").await;
    let secret = "[data-testid=channel-setting][data-name=app_secret]";
    browser.wait_for(secret).await;
    assert_eq!(browser.attr(secret, "value").await.unwrap_or_default(), "");
    assert!(!browser.attr(secret, "placeholder").await.unwrap_or_default().is_empty());
    browser.clear("[data-testid=channel-setting][data-name=page_id]").await;
    browser.type_into("[data-testid=channel-setting][data-name=page_id]", "not-a-number").await;
    browser.click("[data-testid=channel-save]").await;
    browser.wait_for_text("[data-testid=channel-error]", "settings.page_id").await;
    browser.screenshot("channel-settings").await;
    browser.close().await;
}
