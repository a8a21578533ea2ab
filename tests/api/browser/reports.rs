//! Satisfaction and feedback in a real browser: an operator gives a thumbs down with a reason on a
//! virtual agent's answer (kept when the thread opens again), sees it counted on the agent's page,
//! finds the conversation under the negative-feedback filter, sends the survey from the contact
//! pane and sees the customer's vote there, and reads the Reports page: the counts, the
//! distribution and the day-by-day chart. A manager reads this week's first response times per
//! channel and operator on the charts, and the workload.

use serde_json::json;

use super::Browser;
use crate::helpers::{on_logical_time, spawn_app_with, Backend};

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

/// This week on the logical clock (UTC, the browser's zone on the test machine): an hour after
/// Monday midnight at the earliest, three hours before now at the latest.
fn this_week() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let day = 86_400_000;
    // 1970-01-01 was a Thursday: three days after a Monday.
    let monday = (now / day - (now / day + 3) % 7) * day;
    (monday + 3_600_000).max(now - 3 * 3_600_000)
}

/// A manager opens Reports and reads this week's median first response time per channel, then
/// per operator, on the charts; the workload shows who has what; the CSV link exports the same.
#[test]
fn a_manager_reads_this_weeks_first_response_times_per_channel() {
    on_logical_time(Backend::Sqlite, &[], this_week(), |app, clock| async move {
        let started = clock.now();
        let minutes = |n: i64| clock.advance(n * 60_000);
        let line = |kind: &'static str, name: &'static str, address: &'static str| {
            let body = json!({"kind": kind, "name": name, "address": address, "simulation": true});
            let app = &app;
            async move { app.post("/api/v1/channels", body).await.body["id"].as_i64().unwrap() }
        };
        let sales = line("whatsapp", "Vendite", "+393200000041").await;
        let support = line("sms", "Assistenza", "+393200000042").await;
        let (anna, bruno) = (app.operator("Anna").await, app.operator("Bruno").await);
        let reply = |conversation: i64, operator: i64| {
            let app = &app;
            async move {
                let body = json!({"text": "Buongiorno, eccomi", "operator_id": operator});
                let sent = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
                assert_eq!(sent.status, reqwest::StatusCode::ACCEPTED, "{sent:?}");
            }
        };
        let writes = |channel: i64, from: &'static str| {
            let app = &app;
            async move { app.inbound(channel, from, "Cliente", "Buongiorno").await["conversation"]["id"].as_i64().unwrap() }
        };
        let first = writes(sales, "+393470000041").await;
        minutes(2);
        reply(first, anna).await;
        let second = writes(sales, "+393470000042").await;
        minutes(4);
        reply(second, anna).await;
        let third = writes(support, "+393470000043").await;
        minutes(10);
        reply(third, bruno).await;
        let resolved = app.patch(&format!("/api/v1/conversations/{first}"), json!({"status": "resolved"})).await;
        assert_eq!(resolved.status, reqwest::StatusCode::OK);
        parley::jobs::webhooks::run_once(&app.state).await.unwrap();

        let browser = Browser::open(&app).await;
        browser.login().await;
        browser.click("[data-testid=nav-reports]").await;
        browser.wait_for_text("[data-testid=activity-opened]", "3").await;
        browser.wait_for_text("[data-testid=activity-resolved]", "1").await;
        // Sales: 2 and 4 minutes (median 2, p90 4); support: 10 minutes.
        browser.wait_for("[data-testid=frt-chart] [data-testid=frt-bar][data-group^='Vendite'][data-median='120'][data-p90='240']").await;
        browser.wait_for("[data-testid=frt-bar][data-group^='Assistenza'][data-median='600']").await;
        browser.wait_for_text("[data-testid=frt-bar][data-group^='Vendite']", "2 min · p90 4 min").await;
        browser.wait_for("[data-testid=workload-open]").await;
        browser.wait_for("[data-testid=load-bar][data-name='Anna'][data-open='1']").await;
        browser.wait_for("[data-testid=load-bar][data-name='Bruno'][data-open='1']").await;
        browser.screenshot("reports-activity").await;

        let csv = browser.attr("[data-testid=activity-csv]", "href").await.unwrap();
        assert!(csv.contains("group_by=channel") && csv.contains("timezone="), "{csv}");
        let exported = app
            .client
            .get(format!("{}{csv}", app.base))
            .bearer_auth(&app.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(exported.contains(&format!("\ntotal,{sales},Vendite,2,1,2,2,2,120,240,")), "{exported}");

        browser
            .exec(
                "const s = document.querySelector('[data-testid=activity-group]'); s.value = 'operator'; \
                 s.dispatchEvent(new Event('change'));",
            )
            .await;
        browser.wait_for("[data-testid=frt-bar][data-group='Anna'][data-median='120'][data-p90='240']").await;
        browser.wait_for("[data-testid=frt-bar][data-group='Bruno'][data-median='600']").await;
        browser.wait_for_text("[data-testid=activity-frt]", "4 min").await;

        // Chosen dates: the day before shows nothing, the scenario's days the same figures.
        let date = |at: i64| parley::domain::time::to_rfc3339(at)[..10].to_owned();
        let (before, first_day, last_day) = (date(started - 86_400_000), date(started), date(clock.now()));
        let choose = |first: &str, last: &str| {
            format!(
                "const r = document.querySelector('[data-testid=activity-range]'); r.value = 'custom'; \
                 r.dispatchEvent(new Event('change')); \
                 const f = document.querySelector('[data-testid=activity-from]'); f.value = '{first}'; \
                 const l = document.querySelector('[data-testid=activity-to]'); l.value = '{last}'; \
                 l.dispatchEvent(new Event('change'));"
            )
        };
        browser.exec(&choose(&before, &before)).await;
        browser.wait_for_text("[data-testid=activity-opened]", "0").await;
        browser.exec(&choose(&first_day, &last_day)).await;
        browser.wait_for_text("[data-testid=activity-opened]", "3").await;
        browser.wait_for("[data-testid=frt-bar][data-group='Anna'][data-median='120']").await;
        browser.close().await;
    });
}
