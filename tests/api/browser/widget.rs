//! The web chat widget in a real browser, embedded by one script tag in a page of another origin
//! (a shop's site served by the test): a visitor chats with the virtual agent, asks for a person,
//! the team's answer arrives live, a photo goes up, a reload keeps the history, a second browser
//! sees nothing of it whatever ids it tries; the pre-chat form and the page's JS API; email offered
//! when nobody is free and a rating at the end; a site that is not allowed gets no chat, and the
//! script stays small.

use std::io::Write;

use axum::response::Html;
use axum::routing::get;
use axum::Router;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{Browser, Options};
use crate::helpers::{spawn_app_with, Backend, TestApp};

/// Serves a shop's page embedding the widget (with `extra` attributes on its script tag);
/// answers its origin.
async fn shop_site(app: &TestApp, public_id: &str, extra: &str) -> String {
    let page = format!(
        "<!doctype html><html lang=it><head><title>Negozio</title></head><body><h1>Scarpe e borse</h1>\
         <script src=\"{}/widget.js\" data-channel=\"{public_id}\" data-lang=\"it\" {extra} async></script></body></html>",
        app.base
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().route("/", get(move || async move { Html(page) }));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    origin
}

/// A web chat channel allowing `origins`; answers its public id.
async fn channel(app: &TestApp, origins: &str) -> String {
    let body = json!({"kind": "webchat", "name": "Shop chat", "address": "shop",
        "settings": {"allowed_origins": origins}});
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["public_id"].as_str().unwrap().to_owned()
}

/// A web chat channel whose widget a shop's page embeds (with `extra` attributes), the page's
/// origin allowed once its server listens; answers the channel's id, its public id and the page's
/// origin.
async fn allowed_shop(app: &TestApp, extra: &str) -> (i64, String, String) {
    let public_id = channel(app, "http://placeholder.invalid").await;
    let shop = shop_site(app, &public_id, extra).await;
    let id = app.get("/api/v1/channels").await.body["data"][0]["id"].as_i64().unwrap();
    let allowed = app.patch(&format!("/api/v1/channels/{id}"), json!({"settings": {"allowed_origins": shop}})).await;
    assert_eq!(allowed.status, StatusCode::OK, "{allowed:?}");
    (id, public_id, shop)
}

/// JavaScript reaching into the widget's shadow root.
fn widget(query: &str) -> String {
    format!("document.querySelector('#parley-widget').shadowRoot.{query}")
}

/// Types a message into the widget and sends it.
async fn say(browser: &Browser, text: &str) {
    browser
        .exec(&format!(
            "const root = document.querySelector('#parley-widget').shadowRoot; \
             root.querySelector('textarea').value = {}; root.querySelector('form.compose').requestSubmit();",
            serde_json::to_string(text).unwrap()
        ))
        .await;
}

/// Waits until the widget's thread shows `text`.
async fn shows(browser: &Browser, text: &str) {
    let needle = serde_json::to_string(text).unwrap();
    browser.wait_until(&format!("{}.textContent.includes({needle})", widget("querySelector('.log')"))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_chats_from_a_shop_page_and_nobody_else_reads_it() {
    let app = spawn_app_with(Backend::Sqlite, &["--agent-debounce-ms", "0"]).await;
    let (id, public_id, shop) = allowed_shop(&app, "").await;
    // A virtual agent answers first, from the shop's knowledge base.
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Clara", "engine": "knowledge_base", "languages": ["it"],
                   "channels": [{"channel_id": id, "answers_first": true}]}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let article = json!({"title": "Taglie delle scarpe rosse", "language": "it",
        "body": "Le scarpe rosse sono disponibili dalla taglia 36 alla 41."});
    app.post(&format!("/api/v1/agents/{}/articles", agent.body["id"]), article).await;

    let mut browsers = Browser::open_many(&app, 2, Options::default()).await;
    let stranger = browsers.pop().unwrap();
    let visitor = browsers.pop().unwrap();
    visitor.goto(&shop).await;
    visitor.wait_until("!!document.querySelector('#parley-widget')").await;
    let label =
        visitor.exec(&format!("return {}", widget("querySelector('.launcher').getAttribute('aria-label')"))).await;
    assert_eq!(label, json!("Chatta con noi"), "the page's language");
    visitor.exec(&widget("querySelector('.launcher').click()")).await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.panel').hidden"))).await;
    say(&visitor, "Avete le scarpe rosse in 38?").await;
    shows(&visitor, "Avete le scarpe rosse in 38?").await;
    parley::service::answers::run_once(&app.state).await.unwrap();
    shows(&visitor, "dalla taglia 36 alla 41").await;
    // Asking for a person escalates; the team sees it and answers; the answer arrives live.
    say(&visitor, "Vorrei parlare con un operatore").await;
    shows(&visitor, "Vorrei parlare con un operatore").await;
    parley::service::answers::run_once(&app.state).await.unwrap();
    let conversations = app.get(&format!("/api/v1/conversations?channel_id={id}")).await;
    let conversation = conversations.body["data"][0]["id"].as_i64().expect("the visitor's conversation");
    let contact = app.get(&format!("/api/v1/conversations/{conversation}")).await.body["contact"]["id"].clone();
    let attributes = app.get(&format!("/api/v1/contacts/{contact}")).await.body["attributes"].clone();
    assert_eq!(attributes["page_url"], format!("{shop}/"), "{attributes}");
    assert!(attributes["browser"].as_str().unwrap().contains("Chrome"), "{attributes}");
    assert!(attributes["language"].is_string(), "the browser's language: {attributes}");
    let escalations = app.get(&format!("/api/v1/conversations/{conversation}/escalations")).await.body["data"].clone();
    assert_eq!(escalations[0]["reason"], "by_end_user_message", "{escalations}");
    let path = format!("/api/v1/conversations/{conversation}/messages");
    app.post(&path, json!({"text": "Sì, ne abbiamo due paia."})).await;
    app.post(&path, json!({"text": "Nota interna: cliente nuovo", "private": true})).await;
    app.drain_jobs().await;
    shows(&visitor, "Sì, ne abbiamo due paia.").await;

    // The operator typing, and an agent's answer as it is written, show live.
    app.post(&format!("/api/v1/conversations/{conversation}/typing"), json!({"on": true})).await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.typing').hidden"))).await;
    let draft = json!({"conversation_id": conversation, "draft_id": "d-7", "virtual_agent_id": 1, "delta": "Le", "text": "Le taglie"});
    app.state.events.publish(1, "message.delta", draft);
    visitor.wait_until(&format!("{}?.textContent.includes('Le taglie')", widget("querySelector('.draft')"))).await;

    // A photo from the visitor's device reaches the team and shows in the widget.
    visitor
        .exec(&format!(
            "const input = {}; const bytes = new Uint8Array(600); bytes.set([0x89,0x50,0x4e,0x47,0x0d,0x0a,0x1a,0x0a]); \
             const transfer = new DataTransfer(); transfer.items.add(new File([bytes], 'scarpe.png', {{type: 'image/png'}})); \
             input.files = transfer.files; input.dispatchEvent(new Event('change'));",
            widget("querySelector('input[type=file]')")
        ))
        .await;
    visitor.wait_until(&format!("!!{}", widget("querySelector('.msg.visitor img')"))).await;
    let thread = app.get(&path).await.body["data"].clone();
    let photo = thread.as_array().unwrap().iter().find(|m| m["type"] == "image").expect("the photo reached the team");
    assert_eq!(photo["sender"]["type"], "contact");
    assert_eq!(photo["media_keys"].as_array().unwrap().len(), 1);

    // A reload keeps the history (the session lives in the site's storage, not in a URL).
    visitor.reload().await;
    visitor.wait_until("!!document.querySelector('#parley-widget')").await;
    visitor.exec(&widget("querySelector('.launcher').click()")).await;
    shows(&visitor, "Sì, ne abbiamo due paia.").await;
    let thread = visitor.exec(&format!("return {}", widget("querySelector('.log').textContent"))).await;
    assert!(!thread.as_str().unwrap().contains("Nota interna"), "private notes stay inside: {thread}");
    assert!(!visitor.current_url().await.contains("token"), "no token in the URL");
    let ids: Vec<i64> = serde_json::from_value(
        visitor
            .exec(&format!("return [...{}].map((m) => Number(m.dataset.id))", widget("querySelectorAll('.msg')")))
            .await,
    )
    .unwrap();
    let sent = app.get(&format!("{path}?limit=100")).await.body["data"].clone();
    let public = sent.as_array().unwrap().iter().filter(|m| m["private"] == false).count();
    assert_eq!(ids.len(), public, "every message once, none private: {ids:?}");

    // Another browser on the same page is another visitor: nothing of hers, whatever ids it asks after.
    stranger.goto(&shop).await;
    stranger.wait_until("!!document.querySelector('#parley-widget')").await;
    stranger.exec(&widget("querySelector('.launcher').click()")).await;
    stranger.wait_until(&format!("!!localStorage.getItem('parley:{public_id}')")).await;
    for after in std::iter::once(0).chain(ids.iter().map(|id| id - 1)) {
        let seen = stranger
            .client()
            .execute_async(
                &format!(
                    "const done = arguments[0]; \
                     fetch('{}/widget/v1/channels/{public_id}/messages?after={after}', \
                       {{headers: {{Authorization: 'Bearer ' + localStorage.getItem('parley:{public_id}')}}}}) \
                     .then((r) => r.json()).then((page) => done(page.data.length), () => done(-1));",
                    app.base
                ),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(seen, json!(0), "after {after}");
    }
    stranger.close().await;
    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_that_is_not_allowed_gets_no_chat_and_the_script_is_small() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let public_id = channel(&app, "https://shop.example.com").await;
    let other = shop_site(&app, &public_id, "").await;
    let browser = Browser::open(&app).await;
    browser.goto(&other).await;
    browser.wait_until("!!document.querySelector('#parley-widget')").await;
    browser.exec(&widget("querySelector('.launcher').click()")).await;
    browser
        .wait_until(&format!("{}.textContent.includes('non è disponibile')", widget("querySelector('.status')")))
        .await;
    let stored: Value = browser.exec(&format!("return localStorage.getItem('parley:{public_id}')")).await;
    assert_eq!(stored, Value::Null, "no session for a site that is not allowed");
    browser.close().await;

    let script = reqwest::get(format!("{}/widget.js", app.base)).await.unwrap();
    assert!(script.headers()["content-type"].to_str().unwrap().contains("javascript"));
    let size = gzipped(&script.bytes().await.unwrap()).len();
    assert!(size < 40 * 1024, "the widget is {size} bytes gzipped");
}

/// The bytes compressed by the system's gzip, as a server would send them.
fn gzipped(bytes: &[u8]) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .arg("-9c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap().stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pre_chat_form_asks_a_name_and_email_first() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let (id, _, shop) = allowed_shop(&app, "data-prechat").await;
    let visitor = Browser::open(&app).await;
    visitor.goto(&shop).await;
    visitor.wait_until("!!document.querySelector('#parley-widget')").await;
    visitor.exec(&widget("querySelector('.launcher').click()")).await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.prechat').hidden"))).await;
    let composer_hidden = visitor.exec(&format!("return {}", widget("querySelector('.compose').hidden"))).await;
    assert_eq!(composer_hidden, json!(true), "no chat before the form");
    visitor
        .exec(&format!(
            "const form = {}; form.elements.name.value = 'Giulia Verdi'; \
             form.elements.email.value = 'giulia@example.com'; form.requestSubmit();",
            widget("querySelector('.prechat')")
        ))
        .await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.compose').hidden"))).await;
    visitor.exec("window.seen = []; Parley.on('message', (message) => window.seen.push(message.text));").await;
    say(&visitor, "Vorrei un reso").await;
    shows(&visitor, "Vorrei un reso").await;
    assert_eq!(visitor.exec("return window.seen").await, json!(["Vorrei un reso"]), "the page hears each message");
    let conversation = app.get(&format!("/api/v1/conversations?channel_id={id}")).await.body["data"][0].clone();
    let contact = app.get(&format!("/api/v1/contacts/{}", conversation["contact"]["id"])).await.body;
    assert_eq!(
        (contact["name"].as_str(), contact["email"].as_str()),
        (Some("Giulia Verdi"), Some("giulia@example.com"))
    );
    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_free_offers_email_and_an_ended_chat_asks_for_a_rating() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let (id, _, shop) = allowed_shop(&app, "").await;
    let visitor = Browser::open(&app).await;
    visitor.goto(&shop).await;
    visitor.wait_until("!!document.querySelector('#parley-widget')").await;
    visitor.exec(&widget("querySelector('.launcher').click()")).await;
    say(&visitor, "Posso parlare con una persona?").await;
    shows(&visitor, "Posso parlare con una persona?").await;
    let conversation = app.get(&format!("/api/v1/conversations?channel_id={id}")).await.body["data"][0]["id"].clone();

    // Escalated with nobody online: the widget offers email, and the choice is recorded.
    app.post(&format!("/api/v1/conversations/{conversation}/escalations"), json!({"force": true})).await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.deflect').hidden"))).await;
    let offer = visitor.exec(&format!("return {}", widget("querySelector('.deflect').textContent"))).await;
    assert!(offer.as_str().unwrap().contains("nessuno libero"), "{offer}");
    visitor
        .exec(&format!(
            "const form = {}; form.elements.email.value = 'anna@example.com'; form.requestSubmit();",
            widget("querySelector('.deflect')")
        ))
        .await;
    shows(&visitor, "ti risponderemo via email").await;
    let hidden = visitor.exec(&format!("return {}", widget("querySelector('.deflect').hidden"))).await;
    assert_eq!(hidden, json!(true));
    let escalations = app.get(&format!("/api/v1/conversations/{conversation}/escalations")).await.body["data"].clone();
    assert_eq!(escalations[0]["deflection_channel"], "email");

    // The team ends the chat: the widget asks for a rating, once.
    app.post(&format!("/api/v1/conversations/{conversation}/close"), json!({})).await;
    visitor.wait_until(&format!("!{}", widget("querySelector('.rating').hidden"))).await;
    visitor.screenshot("widget-rating").await;
    visitor.exec(&widget("querySelector('.rating [data-rating=up]').click()")).await;
    shows(&visitor, "Grazie del riscontro").await;
    visitor.wait_until(&widget("querySelector('.rating').hidden")).await;
    assert_eq!(app.get(&format!("/api/v1/conversations/{conversation}")).await.body["meta"]["rating"], "up");
    visitor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_survey_in_the_chat_is_five_stars() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let (id, _, shop) = allowed_shop(&app, "").await;
    let visitor = Browser::open(&app).await;
    visitor.goto(&shop).await;
    visitor.wait_until("!!document.querySelector('#parley-widget')").await;
    visitor.exec(&widget("querySelector('.launcher').click()")).await;
    say(&visitor, "Grazie, tutto chiaro").await;
    shows(&visitor, "Grazie, tutto chiaro").await;
    let conversation =
        app.get(&format!("/api/v1/conversations?channel_id={id}")).await.body["data"][0]["id"].as_i64().unwrap();
    let survey = app.post("/api/v1/surveys", json!({"name": "Chat"})).await.body["id"].as_i64().unwrap();
    let sent = app.post(&format!("/api/v1/conversations/{conversation}/survey"), json!({"survey_id": survey})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    visitor.wait_until(&format!("{}.length === 5", widget("querySelectorAll('.stars button')"))).await;
    assert_eq!(visitor.exec(&format!("return {}.length", widget("querySelectorAll('.chips')"))).await, json!(0));
    visitor.exec(&widget("querySelector('.stars button[data-vote=\"4\"]').click()")).await;
    visitor.wait_until(&format!("{}.dataset.voted === '4'", widget("querySelector('.stars')"))).await;
    let mut rated = Value::Null;
    for _ in 0..50 {
        rated = app.get(&format!("/api/v1/conversations/{conversation}")).await.body["survey"].clone();
        if rated == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(rated, 4, "the tapped star is the vote");
    visitor.screenshot("widget-survey-stars").await;
    visitor.close().await;
}
