//! Quick replies in a real browser: saved on their page, then `/` and a letter in the composer
//! list them filled for the conversation, Enter puts the chosen one in the composer and Enter
//! sends it, buttons included.

use fantoccini::key::Key;
use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_and_a_letter_answer_with_a_quick_reply() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let whatsapp = app.channel("whatsapp", "+390200000001", true).await;
    let chat = app.inbound(whatsapp, "+393331234567", "Giulia Bianchi", "Quando arriva il mio pacco?").await;
    let id = chat["conversation"]["id"].as_i64().unwrap();
    let operator = app.get("/api/v1/operators").await.body["data"][0]["name"].as_str().unwrap().to_owned();
    app.post("/api/v1/quick-replies", json!({"shortcode": "orari", "text": "Siamo aperti dalle 9 alle 18."})).await;

    let browser = Browser::open(&app).await;
    browser.login().await;

    // Saved on the quick replies page.
    browser.goto("/#/quick-replies").await;
    browser.wait_for("[data-testid=quick-reply-row]").await;
    browser.click("[data-testid=quick-reply-add]").await;
    browser.type_into("[data-testid=quick-reply-code]", "spedizione").await;
    browser
        .type_into(
            "[data-testid=quick-reply-text]",
            "Ciao {{contact.first_name}}, il pacco parte entro 24 ore. {{operator.name}}",
        )
        .await;
    browser.type_into("[data-testid=quick-reply-buttons]", "Traccia ordine").await;
    browser.click("[data-testid=quick-reply-save]").await;
    browser.wait_for_text("[data-testid=quick-reply-list]", "/spedizione").await;
    browser.screenshot("quick-replies-page").await;

    // `/` and `s`: the list shows it filled; Enter fills the composer, Enter sends.
    browser.goto(&format!("/#/c/{id}")).await;
    browser.wait_for("[data-testid=composer-input]").await;
    browser.type_into("[data-testid=composer-input]", "/s").await;
    browser.wait_for("[data-testid=quick-reply][data-code=spedizione]").await;
    assert_eq!(browser.count("[data-testid=quick-reply]").await, 1, "only the matching short code");
    let filled = format!("Ciao Giulia, il pacco parte entro 24 ore. {operator}");
    browser.wait_for_text("[data-testid=quick-reply]", &filled).await;
    browser.screenshot("quick-replies-composer").await;
    browser.press_enter().await;
    browser
        .wait_until(&format!(
            "document.querySelector('[data-testid=composer-input]').value === {filled:?} \
             && document.querySelector('[data-testid=composer-suggestions]').value === 'Traccia ordine'"
        ))
        .await;
    browser.press_enter().await;
    browser.wait_for_text("[data-testid=message][data-direction=outbound]", &filled).await;
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await.body;
    let sent = thread["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(sent["text"], filled.as_str());
    assert_eq!(sent["payload"]["choices"]["options"][0]["title"], "Traccia ordine", "{sent}");

    // Escape closes the list and leaves the text as typed.
    browser.type_into("[data-testid=composer-input]", "/or").await;
    browser.wait_for("[data-testid=quick-reply][data-code=orari]").await;
    browser.press(&[Key::Escape]).await;
    browser.wait_gone("[data-testid=quick-replies]:not([hidden])").await;
    assert_eq!(browser.exec("return document.querySelector('[data-testid=composer-input]').value").await, "/or");
    browser.close().await;
}
