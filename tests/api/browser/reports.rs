//! Satisfaction and feedback in a real browser: an operator gives a thumbs down with a reason on a
//! virtual agent's answer (kept when the thread opens again), sees it counted on the agent's page,
//! finds the conversation under the negative-feedback filter, sends the survey from the contact
//! pane and sees the customer's vote there, and reads the Reports page: the counts, the
//! distribution and the day-by-day chart.

use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_votes_and_the_reports_page() {
    let app = spawn_app_with(Backend::Sqlite, &["--agent-debounce-ms", "0"]).await;
    let channel = app.channel("whatsapp", "+393209998800", true).await;
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Clara", "engine": "knowledge_base", "languages": ["it"],
                   "channels": [{"channel_id": channel, "answers_first": true}]}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let article = json!({"title": "Spedizione", "body": "La spedizione costa 4,90 euro.", "language": "it"});
    app.post(&format!("/api/v1/agents/{agent}/articles"), article).await;
    let written = app.inbound(channel, "+393471112233", "Lucia Neri", "Quanto costa la spedizione?").await;
    let id = written["conversation"]["id"].as_i64().unwrap();
    app.drain_jobs().await;

    let browser = Browser::open(&app).await;
    browser.login().await;
    browser.goto(&format!("/#/c/{id}")).await;
    browser.wait_for_text("[data-testid=thread]", "4,90 euro").await;
    browser.click("[data-testid=feedback-down]").await;
    browser.wait_for("[data-testid=message-feedback][data-rating=down]").await;
    browser
        .exec(
            "const s = document.querySelector('[data-testid=feedback-reason]'); s.value = 'wrong'; \
             s.dispatchEvent(new Event('change'));",
        )
        .await;
    let mut given = serde_json::Value::Null;
    for _ in 0..50 {
        given = app.get(&format!("/api/v1/conversations/{id}/feedback")).await.body["data"][0].clone();
        if given["reason"] == "wrong" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((given["rating"].as_str(), given["reason"].as_str()), (Some("down"), Some("wrong")), "{given}");
    assert_eq!(given["author"], "operator:1");

    // The agent's page counts it and lists it with its reason.
    browser.click("[data-testid=nav-agents]").await;
    browser.click(&format!("[data-testid=agent-row][data-id='{agent}'] [data-testid=agent-edit]")).await;
    browser.wait_for_text("[data-testid=agent-feedback-counts]", "👎 1").await;
    browser.wait_for_text("[data-testid=agent-feedback-row]", "Wrong").await;

    // The negative-feedback filter finds it; the thread shows the feedback again.
    browser.goto("/#/").await;
    browser.click("[data-testid=filter-negative]").await;
    browser.wait_for_text("[data-testid=conversation-list]", "Lucia Neri").await;

    // The operator sends the survey from the contact pane; the customer's vote shows there.
    app.post("/api/v1/surveys", json!({"name": "Soddisfazione"})).await;
    browser.goto(&format!("/#/c/{id}")).await;
    browser.click("[data-testid=survey-send]").await;
    browser.wait_for_text("[data-testid=thread]", "Come valuti il nostro servizio").await;
    app.inbound(channel, "+393471112233", "Lucia Neri", "5").await;
    let surveyed = app.get(&format!("/api/v1/conversations/{id}")).await.body;
    assert_eq!(surveyed["handler"], "virtual_agent", "a survey leaves the conversation to its agent: {surveyed}");
    browser.reload().await;
    browser.wait_for("[data-testid=message-feedback][data-rating=down]").await;
    browser.wait_for("[data-testid=survey-rating][data-rating='5']").await;
    browser.screenshot("feedback-and-vote").await;

    // The Reports page: counts, the distribution and the chart of the day.
    browser.click("[data-testid=nav-reports]").await;
    browser.wait_for_text("[data-testid=report-sent]", "1").await;
    browser.wait_for_text("[data-testid=report-rate]", "100 %").await;
    browser.wait_for_text("[data-testid=report-average]", "5.0").await;
    browser.wait_for("[data-testid=distribution-bar][data-vote='5'][data-count='1']").await;
    browser.wait_for("[data-testid=distribution-bar][data-vote='1'][data-count='0']").await;
    browser.wait_for("[data-testid=report-chart] [data-testid=report-day][data-sent='1'][data-answered='1']").await;
    let csv = browser.attr("[data-testid=report-csv]", "href").await.unwrap();
    assert!(csv.contains("/api/v1/surveys/results.csv?from="), "{csv}");
    browser.screenshot("reports-page").await;
    browser.close().await;
}
