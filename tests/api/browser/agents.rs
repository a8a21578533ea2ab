//! Virtual agents in a real browser: a newcomer creates a knowledge-base agent with an article on
//! the agents page, tries it, watches it answer a simulated WhatsApp customer and hand the
//! conversation over on "operatore", and takes it over; a model's answer streams into the thread
//! as a draft; the availability switch and the teams page.

use std::time::Duration;

use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend, TestApp};
use crate::openai_model::{Model, Reply};

async fn app() -> TestApp {
    spawn_app_with(Backend::Sqlite, &["--agent-debounce-ms", "0"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newcomer_builds_a_knowledge_base_agent_and_watches_it_hand_over() {
    let app = app().await;
    let channel = app.channel("whatsapp", "+393209998877", true).await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.click("[data-testid=nav-agents]").await;
    browser.click("[data-testid=agent-add]").await;
    browser.type_into("[data-testid=agent-name]", "Clara").await;
    browser.clear("[data-testid=agent-languages]").await;
    browser.type_into("[data-testid=agent-languages]", "it, en").await;
    browser.click(&format!("[data-testid=agent-channel][data-id='{channel}']")).await;
    browser.click("[data-testid=agent-save]").await;
    browser.wait_for_text("[data-testid=agent-row]", "Clara").await;
    browser.type_into("[data-testid=article-title]", "Spedizione in Italia").await;
    browser
        .type_into(
            "[data-testid=article-body]",
            "La spedizione in Italia costa 4,90 euro ed è gratuita sopra i 49 euro.",
        )
        .await;
    browser.click("[data-testid=article-save]").await;
    browser.wait_for_text("[data-testid=article-row]", "Spedizione in Italia").await;
    browser.type_into("[data-testid=try-input]", "Quanto costa la spedizione?").await;
    browser.click("[data-testid=try-send]").await;
    browser.wait_for_text("[data-testid=try-draft]", "4,90 euro").await;
    browser.screenshot("agents-page").await;
    let agents = app.get("/api/v1/agents").await.body;
    assert_eq!(agents["data"][0]["channels"], json!([{"channel_id": channel, "answers_first": true}]));

    // A customer writes: the agent answers from the article.
    let first = app.inbound(channel, "+393471234567", "Marco Bianchi", "Buongiorno, quanto costa la spedizione?").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    app.drain_jobs().await;
    browser.goto(&format!("/#/c/{id}")).await;
    browser.wait_for_text("[data-testid=message-bot]", "Clara").await;
    browser.wait_for_text("[data-testid=thread]", "4,90 euro").await;
    browser.wait_for("[data-testid=handler-badge][data-handler=virtual_agent]").await;

    // "operatore": the agent tells the customer and hands over; the banner says why.
    app.inbound(channel, "+393471234567", "Marco Bianchi", "Vorrei parlare con un operatore").await;
    app.drain_jobs().await;
    browser.wait_for_text("[data-testid=escalation-banner]", "Needs a person").await;
    browser.wait_for_text("[data-testid=escalation-reason]", "asked for a person").await;
    browser.wait_for_text("[data-testid=thread]", "Ti metto in contatto con un operatore").await;
    browser.screenshot("agent-handoff").await;

    // Taking it over: people handle it, and it can be handed back.
    browser.click("[data-testid=takeover-button]").await;
    browser.wait_for_text("[data-testid=handler-badge]", "Handled by people").await;
    let taken = app.get(&format!("/api/v1/conversations/{id}")).await.body;
    assert_eq!(taken["waiting_since"], serde_json::Value::Null);
    assert_eq!(taken["assignee_id"], 1, "the operator who took it over is its assignee");
    browser.click("[data-testid=handback-button]").await;
    browser.wait_for("[data-testid=handler-badge][data-handler=virtual_agent]").await;

    // The "Needs a person" filter and the availability switch.
    browser.goto("/#/").await;
    browser.click("[data-testid=filter-bot]").await;
    browser.wait_for_text("[data-testid=conversation-list]", "Marco Bianchi").await;
    browser
        .exec(
            "const s = document.querySelector('[data-testid=availability-select]'); s.value = 'away'; \
             s.dispatchEvent(new Event('change'));",
        )
        .await;
    let mut availability = String::new();
    for _ in 0..100 {
        let presence = app.get("/api/v1/operators/presence").await.body;
        availability = presence["data"][0]["availability"].as_str().unwrap().to_owned();
        if availability == "away" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(availability, "away");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_answer_streams_into_the_thread_as_a_draft() {
    let app = app().await;
    let model = Model::start().await;
    model.default_reply(Reply::Answer {
        chunks: vec!["Il tuo ordine ".into(), "è partito ".into(), "ieri ".into(), "da Milano.".into()],
        first_token: Duration::ZERO,
        pace: Duration::from_millis(400),
    });
    let channel = app.channel("whatsapp", "+393209998866", true).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Giulia", "engine": "openai", "languages": ["it"],
                   "settings": {"base_url": model.base, "model": "llama3.1:8b"}, "channels": [{"channel_id": channel}]}),
        )
        .await;
    assert_eq!(agent.status, reqwest::StatusCode::CREATED, "{agent:?}");
    let first = app.inbound(channel, "+393471234567", "Marco Bianchi", "Dov'è il mio ordine?").await;
    let id = first["conversation"]["id"].as_i64().unwrap();
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{id}")).await;
    browser.wait_for_text("[data-testid=thread]", "Dov'è il mio ordine?").await;
    let writing = tokio::spawn({
        let state = app.state.clone();
        async move { parley::service::answers::run_once(&state).await.unwrap() }
    });
    browser.wait_for_text("[data-testid=message-draft]", "Il tuo ordine è partito").await;
    let ownership = browser.text("[data-testid=ownership]").await;
    assert!(ownership.contains("Giulia is answering") && !ownership.contains("null"), "{ownership}");
    assert_eq!(browser.count("[data-testid=takeover-button]").await, 1);
    assert_eq!(browser.count("[data-testid=handback-button]").await, 0, "the agent has it: nothing to hand back");
    browser.screenshot("agent-draft").await;
    writing.await.unwrap();
    browser
        .wait_for_text("[data-testid=message][data-direction=outbound]", "Il tuo ordine è partito ieri da Milano.")
        .await;
    browser.wait_gone("[data-testid=message-draft]").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_is_made_on_the_teams_page() {
    let app = app().await;
    let channel = app.channel("sms", "+393209998855", true).await;
    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.click("[data-testid=nav-teams]").await;
    browser.wait_for("[data-testid=presence-row][data-availability=online]").await;
    browser.click("[data-testid=team-add]").await;
    browser.type_into("[data-testid=team-name]", "Assistenza").await;
    browser.click("[data-testid=team-member][data-id='1']").await;
    browser.click(&format!("[data-testid=team-channel][data-id='{channel}']")).await;
    browser.click("[data-testid=team-save]").await;
    browser.wait_for_text("[data-testid=team-row]", "Assistenza").await;
    browser.screenshot("teams-page").await;
    let teams = app.get("/api/v1/teams").await.body;
    assert_eq!(teams["data"][0]["operator_ids"], json!([1]));
    assert_eq!(teams["data"][0]["channel_ids"], json!([channel]));
    // Signed in and online, the admin gets the team's next conversation.
    let asked = app.inbound(channel, "+393471234567", "Marco", "Buongiorno").await;
    app.drain_jobs().await;
    let id = asked["conversation"]["id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/api/v1/conversations/{id}")).await.body["assignee_id"], 1);
    browser.close().await;
}
