//! The API reference at `/docs`, as a developer uses it: grouped by tag with navigation, rendered
//! descriptions, search, examples, a request sent with an API key, and the second document.

use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend};

/// Clicks the first displayed element matching `css` whose text contains `text`.
async fn click_text(browser: &Browser, css: &str, text: &str) {
    let condition = format!(
        "[...document.querySelectorAll({css:?})].some(e => e.checkVisibility() && e.innerText.includes({text:?}))"
    );
    browser.wait_until(&condition).await;
    let script = "const e = [...document.querySelectorAll(arguments[0])]
        .find(e => e.checkVisibility() && e.innerText.includes(arguments[1])); e.click(); return true;";
    assert_eq!(browser.client().execute(script, vec![json!(css), json!(text)]).await.expect("click"), json!(true));
}

/// Opens the search, types `query` and follows the result that reads `result`.
async fn search(browser: &Browser, query: &str, result: &str) {
    click_text(browser, "button", "Search").await;
    browser.type_into("[role=dialog] input", query).await;
    click_text(browser, "[role=option]", result).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_navigates_searches_and_sends_requests_with_a_key() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    app.channel("sms", "+393209998800", true).await;
    let browser = Browser::open(&app).await;
    browser.goto("/docs").await;

    // Tags in the document's order, each a section of the navigation; the introduction is rendered
    // Markdown (links and code, no stray backticks).
    browser.wait_for("[id='parley/tag/conversations']").await;
    let tags = browser
        .exec(
            "return [...document.querySelectorAll('aside li[data-sidebar-id^=\"parley/tag/\"]')]
                .map(item => item.dataset.sidebarId.split('/')).filter(id => id.length === 3).map(id => id[2]);",
        )
        .await;
    let tags: Vec<String> = serde_json::from_value(tags).unwrap();
    let expected = ["conversations", "messages", "contacts", "channels", "templates", "media", "events", "webhooks"];
    assert_eq!(tags[..expected.len()], expected, "{tags:?}");
    browser.wait_for("a[href='https://www.rfc-editor.org/rfc/rfc9457']").await;
    let intro = browser.text("[id='parley/description/introduction']").await;
    assert!(intro.contains("Idempotency-Key") && !intro.contains('`'), "{intro}");
    assert_eq!(browser.count("a[href^='https://client.scalar.com']").await, 0, "nothing links away");

    // Search finds an operation by its summary and goes there.
    search(&browser, "send a message", "Send a message").await;
    browser.wait_until("location.hash.includes('POST/api/v1/conversations/%7Bid%7D/messages') || location.hash.includes('POST/api/v1/conversations/{id}/messages')").await;
    let section = "[id='parley/tag/messages/POST/api/v1/conversations/{id}/messages']";
    browser.wait_for_text(section, "Idempotency-Key").await;
    browser.wait_for_text(section, "202").await;
    browser.wait_for_text(section, "reply_window_expired").await;

    // A request sent from the page with an API key reaches this server and shows its answer.
    browser.type_into("input.scalar-password-input", &app.key).await;
    search(&browser, "list channels", "List channels").await;
    browser.wait_for("[id='parley/tag/channels/GET/api/v1/channels']").await;
    click_text(&browser, "[id='parley/tag/channels/GET/api/v1/channels'] button", "Test Request").await;
    click_text(&browser, "[role=dialog] button", "Send").await;
    browser.wait_for_text("[role=dialog]", "200 OK").await;
    browser.wait_for_text("[role=dialog]", "+393209998800").await;
    browser.screenshot("api-reference-request").await;
    browser.press(&[fantoccini::key::Key::Escape]).await;

    // The second document: the seed platform's API and the provider webhooks.
    click_text(&browser, "button", "Parley API").await;
    click_text(&browser, "[role=option]", "Compatible APIs and provider webhooks").await;
    browser.wait_for("[id='compatible/tag/qlara-inbox']").await;
    browser.wait_for_text("[id='compatible/tag/provider-webhooks']", "Provider webhooks").await;
    browser.screenshot("api-reference").await;
    browser.close().await;
}
