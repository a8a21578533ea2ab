//! Reports on a scenario of known timings, run on a logical clock: first response and
//! resolution medians and p90 per day, channel, operator and virtual agent, messages in and out,
//! bot-resolved and escalated conversations, business hours, the live workload, CSV, bad
//! queries and other accounts.

use parley::domain::time::LogicalClock;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const FLAGS: &[&str] = &["--agent-debounce-ms", "0"];
const MINUTE: i64 = 60_000;

/// Monday and Tuesday of the scenario's week, UTC.
const TWO_DAYS: &str = "from=2026-11-23T00:00:00Z&to=2026-11-25T00:00:00Z";

fn minutes(clock: &LogicalClock, n: i64) {
    clock.advance(n * MINUTE);
}

/// Folds what happened into the reports, as the dispatcher does after each commit.
async fn dispatch(app: &TestApp) {
    parley::jobs::webhooks::run_once(&app.state).await.unwrap();
}

async fn report(app: &TestApp, query: &str) -> Value {
    dispatch(app).await;
    let reply = app.get(&format!("/api/v1/reports/activity?{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

/// The workload once the dispatcher has folded what happened.
async fn workload(app: &TestApp) -> Value {
    dispatch(app).await;
    let reply = app.get("/api/v1/reports/workload").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body
}

async fn named_channel(app: &TestApp, name: &str, address: &str) -> i64 {
    line_of(app, "whatsapp", name, address).await
}

async fn line_of(app: &TestApp, kind: &str, name: &str, address: &str) -> i64 {
    let reply =
        app.post("/api/v1/channels", json!({"kind": kind, "name": name, "address": address, "simulation": true})).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

/// A customer writes on a channel; returns the conversation.
async fn customer_writes(app: &TestApp, channel: i64, from: &str, text: &str) -> i64 {
    app.inbound(channel, from, "Cliente", text).await["conversation"]["id"].as_i64().unwrap()
}

async fn operator_replies(app: &TestApp, conversation: i64, operator: i64, text: &str) {
    let body = json!({"text": text, "operator_id": operator});
    let reply = app.post(&format!("/api/v1/conversations/{conversation}/messages"), body).await;
    assert_eq!(reply.status, StatusCode::ACCEPTED, "{reply:?}");
}

async fn resolve(app: &TestApp, conversation: i64) {
    let reply = app.patch(&format!("/api/v1/conversations/{conversation}"), json!({"status": "resolved"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
}

/// The figures of the group with this id (`None`: the whole when unsplit, "none" when split).
fn group(figures: &Value, id: Option<i64>) -> &Value {
    figures
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["group"]["id"].as_i64() == id)
        .unwrap_or_else(|| panic!("no group {id:?} in {figures}"))
}

/// `[count, median, p90]` of a times figure.
fn times(figures: &Value) -> [Value; 3] {
    [figures["count"].clone(), figures["median_seconds"].clone(), figures["p90_seconds"].clone()]
}

/// A virtual agent answering first on a channel, which knows the shipping price.
async fn shipping_agent(app: &TestApp, channel: i64) -> i64 {
    let agent = app
        .post(
            "/api/v1/agents",
            json!({"name": "Clara", "engine": "knowledge_base", "languages": ["it"],
                   "channels": [{"channel_id": channel, "answers_first": true}]}),
        )
        .await;
    assert_eq!(agent.status, StatusCode::CREATED, "{agent:?}");
    let id = agent.body["id"].as_i64().unwrap();
    let article = json!({"title": "Spedizione in Italia", "language": "it",
        "body": "La spedizione in Italia costa 4,90 euro ed è gratuita sopra i 50 euro."});
    assert_eq!(app.post(&format!("/api/v1/agents/{id}/articles"), article).await.status, StatusCode::CREATED);
    id
}

async fn messages_by(app: &TestApp, conversation: i64, sender: &str) -> i64 {
    let thread = app.get(&format!("/api/v1/conversations/{conversation}/messages?limit=100")).await;
    thread.body["data"].as_array().unwrap().iter().filter(|m| m["sender"]["type"] == sender).count() as i64
}

/// Two days of a small team: Anna and Bruno answer on the sales and support lines, Clara (a
/// virtual agent) resolves one conversation alone and hands one over; every time is known.
async fn medians_and_p90_follow_a_known_scenario(app: TestApp, clock: LogicalClock) {
    let sales = named_channel(&app, "Vendite", "+393200000001").await;
    let support = named_channel(&app, "Assistenza", "+393200000002").await;
    let bot_line = named_channel(&app, "Clara", "+393200000003").await;
    let clara = shipping_agent(&app, bot_line).await;
    let team = app.post("/api/v1/teams", json!({"name": "Vendite", "channel_ids": [sales]})).await;
    let team = team.body["id"].as_i64().unwrap();
    let (anna, bruno) = (app.operator("Anna").await, app.operator("Bruno").await);

    // Monday 08:00 UTC.
    let c1 = customer_writes(&app, sales, "+393470000001", "Buongiorno, avete il modello X?").await;
    let c2 = customer_writes(&app, support, "+393470000002", "Il mio ordine non è arrivato").await;
    minutes(&clock, 2);
    operator_replies(&app, c1, anna, "Sì, è disponibile").await; // 2 min
    minutes(&clock, 3);
    operator_replies(&app, c2, bruno, "Controllo subito").await; // 5 min
    minutes(&clock, 5);
    let c3 = customer_writes(&app, support, "+393470000003", "Vorrei cambiare indirizzo").await; // 08:10
    minutes(&clock, 10);
    let note = json!({"text": "chiedere il numero d'ordine", "private": true, "operator_id": bruno});
    assert_eq!(app.post(&format!("/api/v1/conversations/{c3}/messages"), note).await.status, StatusCode::ACCEPTED);
    minutes(&clock, 20);
    operator_replies(&app, c3, anna, "Certo, mi dica il nuovo indirizzo").await; // 30 min after c3
    minutes(&clock, 20);
    resolve(&app, c1).await; // 09:00: 60 min
    minutes(&clock, 30);
    resolve(&app, c2).await; // 09:30: 90 min
    minutes(&clock, 10);
    let c4 = customer_writes(&app, bot_line, "+393470000004", "Quanto costa la spedizione in Italia?").await; // 09:40
    app.drain_jobs().await;
    minutes(&clock, 10);
    resolve(&app, c4).await; // Clara alone: 10 min
    minutes(&clock, 10);
    let c5 = customer_writes(&app, bot_line, "+393470000005", "Vorrei parlare con un operatore").await; // 10:00
    app.drain_jobs().await;
    let handed = app.get(&format!("/api/v1/conversations/{c5}")).await;
    assert_eq!(handed.body["handler"], "human", "the customer asked for a person: {handed:?}");
    minutes(&clock, 7);
    operator_replies(&app, c5, bruno, "Eccomi, sono Bruno").await; // 7 min after the escalation
                                                                   // Tuesday 08:00 UTC.
    clock.advance((24 * 60 - 127) * MINUTE);
    let c6 = customer_writes(&app, sales, "+393470000006", "Spedite anche in Svizzera?").await;
    minutes(&clock, 4);
    operator_replies(&app, c6, anna, "Sì").await; // 4 min
    minutes(&clock, 6);
    resolve(&app, c3).await; // Tuesday 08:10: 24 h after it opened

    let all = report(&app, TWO_DAYS).await;
    assert_eq!(all["timezone"], "UTC");
    assert_eq!(all["business_hours"], false);
    let total = &all["totals"][0];
    assert_eq!(total["opened"], 6);
    assert_eq!(total["resolved"], 4);
    // First responses 120, 240, 300, 420, 1800 s: nearest rank 3 and 5 of 5.
    assert_eq!(times(&total["first_response"]), [json!(5), json!(300.0), json!(1800.0)]);
    // Resolutions 600, 3600, 5400, 86400 s: ranks 2 and 4 of 4.
    assert_eq!(times(&total["resolution"]), [json!(4), json!(3600.0), json!(86400.0)]);
    assert_eq!((total["bot_resolved"].clone(), total["escalated"].clone()), (json!(1), json!(1)));
    assert_eq!(total["bot_resolved_share"], 0.5);
    assert_eq!(total["messages_in"], 6, "the six customers' messages; the private note is no message");
    let bot_out = messages_by(&app, c4, "virtual_agent").await + messages_by(&app, c5, "virtual_agent").await;
    assert!(bot_out >= 1, "Clara answered the shipping question");
    assert_eq!(total["messages_out"], 5 + bot_out);

    let days = all["periods"].as_array().unwrap();
    assert_eq!(days.len(), 2);
    assert_eq!(
        (days[0]["date"].clone(), days[0]["start"].clone()),
        (json!("2026-11-23"), json!("2026-11-23T00:00:00.000Z"))
    );
    let (monday, tuesday) = (&days[0]["figures"][0], &days[1]["figures"][0]);
    assert_eq!((monday["opened"].clone(), monday["resolved"].clone()), (json!(5), json!(3)));
    assert_eq!(times(&monday["first_response"]), [json!(4), json!(300.0), json!(1800.0)]);
    assert_eq!(times(&monday["resolution"]), [json!(3), json!(3600.0), json!(5400.0)]);
    assert_eq!((tuesday["opened"].clone(), tuesday["resolved"].clone()), (json!(1), json!(1)));
    assert_eq!(times(&tuesday["first_response"]), [json!(1), json!(240.0), json!(240.0)]);
    assert_eq!(times(&tuesday["resolution"]), [json!(1), json!(86400.0), json!(86400.0)]);
    assert_eq!((tuesday["messages_in"].clone(), tuesday["messages_out"].clone()), (json!(1), json!(1)));

    let by_channel = report(&app, &format!("{TWO_DAYS}&group_by=channel")).await;
    let totals = &by_channel["totals"];
    assert_eq!(all["overall"], all["totals"][0]);
    assert_eq!(by_channel["overall"], all["overall"], "split or not, the whole is computed over every value");
    assert_eq!(group(totals, Some(sales))["group"], json!({"id": sales, "name": "Vendite", "kind": "whatsapp"}));
    assert_eq!(times(&group(totals, Some(sales))["first_response"]), [json!(2), json!(120.0), json!(240.0)]);
    assert_eq!(times(&group(totals, Some(support))["first_response"]), [json!(2), json!(300.0), json!(1800.0)]);
    assert_eq!(times(&group(totals, Some(bot_line))["first_response"]), [json!(1), json!(420.0), json!(420.0)]);
    assert_eq!(group(totals, Some(bot_line))["messages_in"], 2);
    let monday_sales = group(&by_channel["periods"][0]["figures"], Some(sales));
    assert_eq!(times(&monday_sales["first_response"]), [json!(1), json!(120.0), json!(120.0)]);
    let tuesday_support = group(&by_channel["periods"][1]["figures"], Some(support));
    assert_eq!((tuesday_support["opened"].clone(), tuesday_support["resolved"].clone()), (json!(0), json!(1)));

    let by_operator = report(&app, &format!("{TWO_DAYS}&group_by=operator")).await;
    let totals = &by_operator["totals"];
    assert_eq!(group(totals, Some(anna))["group"]["name"], "Anna");
    assert_eq!(times(&group(totals, Some(anna))["first_response"]), [json!(3), json!(240.0), json!(1800.0)]);
    assert_eq!(times(&group(totals, Some(bruno))["first_response"]), [json!(2), json!(300.0), json!(420.0)]);
    assert_eq!(group(totals, Some(anna))["messages_out"], 3);
    assert_eq!(group(totals, Some(bruno))["messages_out"], 2);

    let by_team = report(&app, &format!("{TWO_DAYS}&group_by=team")).await;
    let totals = &by_team["totals"];
    assert_eq!(group(totals, Some(team))["opened"], 2);
    assert_eq!(times(&group(totals, Some(team))["first_response"]), [json!(2), json!(120.0), json!(240.0)]);
    assert_eq!(group(totals, None)["opened"], 4, "the support and bot lines have no team");

    let by_agent = report(&app, &format!("{TWO_DAYS}&group_by=virtual_agent")).await;
    let clara_figures = group(&by_agent["totals"], Some(clara));
    assert_eq!(clara_figures["group"]["name"], "Clara");
    assert_eq!((clara_figures["opened"].clone(), clara_figures["bot_resolved"].clone()), (json!(2), json!(1)));
    assert_eq!(
        (clara_figures["escalated"].clone(), clara_figures["bot_resolved_share"].clone()),
        (json!(1), json!(0.5))
    );
    assert_eq!(clara_figures["messages_out"], bot_out);
    assert_eq!(group(&by_agent["totals"], None)["bot_resolved_share"], Value::Null);

    // A week, in Rome: Monday 00:00 local is Sunday 23:00 UTC.
    let week = report(&app, &format!("{TWO_DAYS}&interval=week&timezone=Europe/Rome")).await;
    assert_eq!(week["periods"].as_array().unwrap().len(), 1);
    assert_eq!(week["periods"][0]["start"], "2026-11-22T23:00:00.000Z");
    assert_eq!(week["periods"][0]["figures"][0]["first_response"], week["totals"][0]["first_response"]);

    // Reopened, a conversation is no longer resolved; resolved again, it counts from its opening.
    let reopened = app.patch(&format!("/api/v1/conversations/{c1}"), json!({"status": "open"})).await;
    assert_eq!(reopened.status, StatusCode::OK, "{reopened:?}");
    assert_eq!(report(&app, TWO_DAYS).await["totals"][0]["resolved"], 3);
    minutes(&clock, 50);
    resolve(&app, c1).await; // Tuesday 09:00: 25 h after it opened
    let again = report(&app, TWO_DAYS).await;
    assert_eq!(times(&again["totals"][0]["resolution"]), [json!(4), json!(5400.0), json!(90000.0)]);

    // The same as CSV: a line per day and group, then the totals.
    let csv = app.client.get(format!("{}/api/v1/reports/activity.csv?{TWO_DAYS}&group_by=operator", app.base));
    let csv = csv.bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("period,group_id,group_name,opened,resolved,messages_in,messages_out,first_responses,")
    );
    // Anna became the assignee of the three conversations she answered first.
    assert!(lines.contains(&format!("total,{anna},Anna,3,2,0,3,3,240,1800,2,86400,90000,0,0").as_str()), "{text}");
    assert!(lines.contains(&format!("2026-11-24,{anna},Anna,1,2,0,1,1,240,240,2,86400,90000,0,0").as_str()), "{text}");
}

/// With business hours (Monday to Friday, 9 to 18 in Rome), a wait over the weekend counts only
/// the open minutes; without them, every minute. (SMS: no reply window closes over the weekend.)
async fn business_hours_count_only_open_time(app: TestApp, clock: LogicalClock) {
    let line = line_of(&app, "sms", "Vendite", "+393200000011").await;
    let anna = app.operator("Anna").await;
    let open = |from: &str, to: &str| json!([{"from": from, "to": to}]);
    let hours = json!({"timezone": "Europe/Rome", "week": {
        "monday": open("09:00", "18:00"), "tuesday": open("09:00", "18:00"), "wednesday": open("09:00", "18:00"),
        "thursday": open("09:00", "18:00"), "friday": open("09:00", "18:00")}});
    let set = app.call(reqwest::Method::PUT, "/api/v1/account/business-hours", Some(hours.clone())).await;
    assert_eq!(set.status, StatusCode::OK, "{set:?}");
    assert_eq!(app.get("/api/v1/account/business-hours").await.body, hours);

    // Friday 27th, 17:50 in Rome (16:50 UTC): ten minutes before closing.
    clock.advance(4 * 24 * 60 * MINUTE + 8 * 60 * MINUTE + 50 * MINUTE);
    let friday = customer_writes(&app, line, "+393470000011", "Siete aperti domani?").await;
    // Saturday 11:00 in Rome: closed.
    clock.advance(17 * 60 * MINUTE + 10 * MINUTE);
    let saturday = customer_writes(&app, line, "+393470000012", "Avete il modello X?").await;
    // Monday 30th, 09:01 and 09:05 in Rome.
    clock.advance(46 * 60 * MINUTE + MINUTE);
    operator_replies(&app, saturday, anna, "Sì").await;
    minutes(&clock, 4);
    operator_replies(&app, friday, anna, "No, il sabato siamo chiusi").await;

    let range = "from=2026-11-23&to=2026-12-07";
    let business = report(&app, range).await;
    assert_eq!((business["business_hours"].clone(), business["timezone"].clone()), (json!(true), json!("Europe/Rome")));
    // 60 s (Saturday to Monday 09:01) and 900 s (10 min on Friday, 5 on Monday).
    assert_eq!(times(&business["totals"][0]["first_response"]), [json!(2), json!(60.0), json!(900.0)]);
    // Days are Rome's: the Friday message is on the 27th, the answers on the 30th.
    let days = business["periods"].as_array().unwrap();
    assert_eq!(days[0]["start"], "2026-11-22T23:00:00.000Z", "midnight in Rome");
    let day = |date: &str| days.iter().find(|d| d["date"] == date).unwrap()["figures"][0].clone();
    assert_eq!((day("2026-11-27")["opened"].clone(), day("2026-11-28")["opened"].clone()), (json!(1), json!(1)));
    assert_eq!(day("2026-11-30")["first_response"]["count"], 2);

    assert_eq!(app.delete("/api/v1/account/business-hours").await.status, StatusCode::NO_CONTENT);
    assert_problem(&app.get("/api/v1/account/business-hours").await, StatusCode::NOT_FOUND, "not_found");
    let wall = report(&app, range).await;
    assert_eq!(wall["business_hours"], false);
    let saturday_wait = (46 * 60 + 1) as f64 * 60.0;
    let friday_wait = (63 * 60 + 15) as f64 * 60.0;
    assert_eq!(times(&wall["totals"][0]["first_response"]), [json!(2), json!(saturday_wait), json!(friday_wait)]);

    let bad = |week: Value| json!({"timezone": "Europe/Rome", "week": week});
    for (body, field) in [
        (json!({"timezone": "Mars/Olympus", "week": {"monday": open("09:00", "18:00")}}), "timezone"),
        (bad(json!({"funday": open("09:00", "18:00")})), "week.funday"),
        (bad(json!({"monday": open("18:00", "09:00")})), "week.monday[0]"),
        (bad(json!({"monday": open("9", "18:00")})), "week.monday[0]"),
        (
            bad(json!({"monday": [{"from": "09:00", "to": "13:00"}, {"from": "12:00", "to": "18:00"}]})),
            "week.monday[1]",
        ),
        (bad(json!({})), "week"),
    ] {
        let reply = app.call(reqwest::Method::PUT, "/api/v1/account/business-hours", Some(body)).await;
        assert_field_error(&reply, field);
    }
    assert_problem(&app.get("/api/v1/account/business-hours").await, StatusCode::NOT_FOUND, "not_found");
}

/// Who has what now: open conversations per operator and team, and how long the unassigned ones
/// have waited, moving with the clock.
async fn workload_shows_open_conversations_and_waiting_times(app: TestApp, clock: LogicalClock) {
    let sales = named_channel(&app, "Vendite", "+393200000021").await;
    let support = named_channel(&app, "Assistenza", "+393200000022").await;
    let team = app.post("/api/v1/teams", json!({"name": "Vendite", "channel_ids": [sales]})).await;
    let team = team.body["id"].as_i64().unwrap();
    let anna = app.operator("Anna").await;
    let bruno = app.operator("Bruno").await;
    let first = customer_writes(&app, sales, "+393470000021", "Buongiorno").await;
    minutes(&clock, 10);
    customer_writes(&app, sales, "+393470000022", "Salve").await;
    minutes(&clock, 20);
    customer_writes(&app, support, "+393470000023", "Aiuto").await;
    let assigned = customer_writes(&app, support, "+393470000024", "Aiuto anche a me").await;
    let reply = app.patch(&format!("/api/v1/conversations/{assigned}"), json!({"assignee_id": anna})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let done = customer_writes(&app, support, "+393470000025", "Grazie, tutto a posto").await;
    resolve(&app, done).await;
    minutes(&clock, 5);

    let load = &workload(&app).await;
    assert_eq!(load["open"], 4, "{load}");
    let person = |id: i64| load["operators"].as_array().unwrap().iter().find(|o| o["id"] == id).unwrap().clone();
    assert_eq!(person(anna), json!({"id": anna, "name": "Anna", "open": 1}));
    assert_eq!(person(bruno)["open"], 0, "operators without conversations are listed too");
    let teams = load["teams"].as_array().unwrap();
    let sales_team = teams.iter().find(|t| t["id"] == team).unwrap();
    assert_eq!(sales_team["open"], 2);
    // Waiting 35 and 25 minutes.
    assert_eq!(sales_team["waiting"], json!({"count": 2, "oldest_seconds": 2100.0, "median_seconds": 1500.0}));
    let no_team = teams.iter().find(|t| t["id"].is_null()).unwrap();
    assert_eq!(no_team["waiting"], json!({"count": 1, "oldest_seconds": 300.0, "median_seconds": 300.0}));
    assert_eq!(load["waiting"], json!({"count": 3, "oldest_seconds": 2100.0, "median_seconds": 1500.0}));

    minutes(&clock, 60);
    let later = workload(&app).await;
    assert_eq!(later["waiting"]["oldest_seconds"], 5700.0);
    operator_replies(&app, first, bruno, "Eccomi").await;
    let answered = workload(&app).await;
    assert_eq!(answered["waiting"]["count"], 2, "answered, the conversation waits no more: {answered}");

    let csv =
        app.client.get(format!("{}/api/v1/reports/workload.csv", app.base)).bearer_auth(&app.key).send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    let text = csv.text().await.unwrap();
    assert!(text.starts_with("kind,id,name,open,waiting,oldest_wait_seconds,median_wait_seconds\n"), "{text}");
    assert!(text.contains(&format!("operator,{anna},Anna,1,,,\n")), "{text}");
    assert!(text.contains(&format!("team,{team},Vendite,2,1,5100,5100\n")), "{text}");
}

/// Bad ranges, zones and splits are refused; another account's reports hold none of this one's
/// conversations and business hours.
async fn reports_refuse_bad_queries_and_keep_to_their_account(app: TestApp, clock: LogicalClock) {
    let line = named_channel(&app, "Vendite", "+393200000031").await;
    let anna = app.operator("Anna").await;
    let id = customer_writes(&app, line, "+393470000031", "Buongiorno").await;
    minutes(&clock, 3);
    operator_replies(&app, id, anna, "Buongiorno a lei").await;
    dispatch(&app).await;

    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-11-23&to=2026-11-23", "to"),
        ("from=2026-11-23&to=2026-11-22", "to"),
        ("from=2025-01-01&to=2026-11-23", "to"),
        ("timezone=Mars/Olympus", "timezone"),
    ] {
        let reply = app.get(&format!("/api/v1/reports/activity?{query}")).await;
        assert_field_error(&reply, field);
    }
    for query in ["interval=month", "group_by=contact", "limit=10"] {
        let reply = app.get(&format!("/api/v1/reports/activity?{query}")).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {reply:?}");
    }

    let mine = report(&app, TWO_DAYS).await;
    assert_eq!(times(&mine["totals"][0]["first_response"]), [json!(1), json!(180.0), json!(180.0)]);
    let other = app.other_account_key().await;
    let theirs = app
        .call_as(&other, reqwest::Method::GET, &format!("/api/v1/reports/activity?{TWO_DAYS}&group_by=channel"), None)
        .await;
    assert_eq!(theirs.status, StatusCode::OK, "{theirs:?}");
    assert_eq!(theirs.body["totals"], json!([]), "another account sees none of these conversations");
    let workload = app.call_as(&other, reqwest::Method::GET, "/api/v1/reports/workload", None).await;
    assert_eq!((workload.body["open"].clone(), workload.body["operators"].clone()), (json!(0), json!([])));
    let hours = json!({"timezone": "UTC", "week": {"monday": [{"from": "09:00", "to": "17:00"}]}});
    let set = app.call_as(&other, reqwest::Method::PUT, "/api/v1/account/business-hours", Some(hours)).await;
    assert_eq!(set.status, StatusCode::OK);
    assert_problem(&app.get("/api/v1/account/business-hours").await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(report(&app, TWO_DAYS).await["business_hours"], false);
}

/// An installation from before reports gets its report rows from its stored conversations and
/// messages at its first start, and events not yet dispatched then are not counted twice.
async fn history_from_before_reports_is_built_once(app: TestApp, clock: LogicalClock) {
    let line = named_channel(&app, "Vendite", "+393200000051").await;
    let anna = app.operator("Anna").await;
    let first = customer_writes(&app, line, "+393470000051", "Buongiorno").await;
    minutes(&clock, 3);
    operator_replies(&app, first, anna, "Buongiorno a lei").await;
    minutes(&clock, 7);
    resolve(&app, first).await;
    let second = customer_writes(&app, line, "+393470000052", "Salve").await;
    minutes(&clock, 5);
    operator_replies(&app, second, anna, "Salve!").await;
    let live = report(&app, &format!("{TWO_DAYS}&group_by=channel")).await;

    // As before reports: no report rows, operators' messages of old without their operator, and
    // a message whose events wait for the dispatcher.
    for statement in [
        "UPDATE messages SET sender_id = NULL WHERE sender_type = 'operator'",
        "DELETE FROM report_conversations",
        "DELETE FROM report_message_counts",
        "DELETE FROM settings WHERE key = 'reports_history_through_event'",
    ] {
        sqlx::query(statement).execute(app.state.db.writer()).await.unwrap();
    }
    minutes(&clock, 1);
    customer_writes(&app, line, "+393470000052", "Grazie").await;
    parley::service::reports::fold_history(&app.state.db).await.unwrap();
    parley::service::reports::fold_history(&app.state.db).await.unwrap();
    let rebuilt = report(&app, &format!("{TWO_DAYS}&group_by=channel")).await;
    let (before, after) = (group(&live["totals"], Some(line)), group(&rebuilt["totals"], Some(line)));
    assert_eq!(after["first_response"], before["first_response"]);
    assert_eq!(times(&after["first_response"]), [json!(2), json!(180.0), json!(300.0)]);
    assert_eq!(after["resolution"], before["resolution"]);
    assert_eq!((after["opened"].clone(), after["resolved"].clone()), (json!(2), json!(1)));
    assert_eq!(after["messages_in"], 3, "the message written before the rebuild counts once");
    assert_eq!(after["messages_out"], before["messages_out"]);
}

crate::logical_time_tests!(with FLAGS;
    medians_and_p90_follow_a_known_scenario,
    business_hours_count_only_open_time,
    workload_shows_open_conversations_and_waiting_times,
    reports_refuse_bad_queries_and_keep_to_their_account,
    history_from_before_reports_is_built_once,
);
