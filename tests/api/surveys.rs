//! Satisfaction surveys where the customer already is (seed 000's FashionOutlet scenario): a
//! list of votes on WhatsApp, a question asking for a number on SMS; votes read from replies in
//! any of their forms while the survey is pending, other replies handled as ordinary messages;
//! the results.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get(&format!("/api/v1/conversations/{id}")).await.body
}

/// A customer writes, the team resolves the conversation and sends the survey; answers the
/// conversation id and the question sent.
async fn surveyed(app: &TestApp, channel: i64, from: &str, survey: i64) -> (i64, Value) {
    let written = app.inbound(channel, from, "", "Ho appena comprato delle scarpe, grazie").await;
    let id = written["conversation"]["id"].as_i64().unwrap();
    assert_eq!(
        app.patch(&format!("/api/v1/conversations/{id}"), json!({"status": "resolved"})).await.status,
        StatusCode::OK
    );
    assert_eq!(app.post(&format!("/api/v1/conversations/{id}/read"), json!({})).await.status, StatusCode::OK);
    let sent = app.post(&format!("/api/v1/conversations/{id}/survey"), json!({"survey_id": survey})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    assert_eq!(sent.body["status"], "pending");
    let thread = app.get(&format!("/api/v1/conversations/{id}/messages")).await.body["data"].clone();
    let question = thread.as_array().unwrap().last().unwrap().clone();
    assert_eq!(question["id"], sent.body["message_id"]);
    (id, question)
}

async fn fashion_outlet_collects_votes(app: TestApp) {
    let survey = app.post("/api/v1/surveys", json!({"name": "After purchase"})).await;
    assert_eq!(survey.status, StatusCode::CREATED, "{survey:?}");
    let survey = survey.body["id"].as_i64().unwrap();
    assert_eq!(app.post("/api/v1/surveys", json!({"name": "x", "window_hours": 0})).await.status, 422);
    let whatsapp = app.channel("whatsapp", "+390299887766", true).await;

    // Three customers get the survey as a list of votes, in their language.
    let (first, question) = surveyed(&app, whatsapp, "+393470000001", survey).await;
    let choices = &question["payload"]["choices"];
    assert!(choices["text"].as_str().unwrap().starts_with("Come valuti"), "{question}");
    assert_eq!(choices["options"].as_array().unwrap().len(), 5);
    let (second, _) = surveyed(&app, whatsapp, "+393470000002", survey).await;
    let (third, _) = surveyed(&app, whatsapp, "+393470000003", survey).await;

    app.inbound(whatsapp, "+393470000001", "", "5").await;
    app.inbound(whatsapp, "+393470000002", "", "tre").await;
    app.inbound(whatsapp, "+393470000003", "", "Quando arriva il mio ordine?").await;

    // Votes are recorded and change nothing else; the question is an ordinary message.
    for (id, vote) in [(first, 5), (second, 3)] {
        let voted = conversation(&app, id).await;
        assert_eq!((voted["survey"].as_i64(), voted["status"].as_str()), (Some(vote), Some("resolved")), "{voted}");
        assert_eq!(voted["unread_count"], 0, "a vote is no question for the team: {voted}");
    }
    let asked = conversation(&app, third).await;
    assert_eq!((asked["survey"].as_i64(), asked["status"].as_str()), (Some(0), Some("open")), "{asked}");
    assert_eq!(asked["unread_count"], 1);

    let results = app.get("/api/v1/surveys/results").await;
    assert_eq!(results.status, StatusCode::OK, "{results:?}");
    let results = results.body;
    assert_eq!((results["sent"].as_i64(), results["answered"].as_i64()), (Some(3), Some(2)), "{results}");
    assert_eq!(results["average"], 4.0);
    assert!((results["response_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{results}");
    assert_eq!(results["distribution"], json!({"1": 0, "2": 0, "3": 1, "4": 0, "5": 1}));
    let answered: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE type = 'survey.answered'")
        .fetch_one(app.state.db.reader())
        .await
        .unwrap();
    assert_eq!(answered, 2);

    // Once answered, another "5" is an ordinary message again.
    app.inbound(whatsapp, "+393470000001", "", "5").await;
    let again = conversation(&app, first).await;
    assert_eq!((again["status"].as_str(), again["unread_count"].as_i64()), (Some("open"), Some(1)), "{again}");

    // On a channel without choices the question asks for a number; stars count.
    let sms = app.channel("sms", "+390211122233", true).await;
    let (texted, question) = surveyed(&app, sms, "+393470000004", survey).await;
    assert!(question["text"].as_str().unwrap().ends_with("Rispondi con un numero da 1 a 5."), "{question}");
    app.inbound(sms, "+393470000004", "", "⭐⭐⭐⭐").await;
    assert_eq!(conversation(&app, texted).await["survey"], 4);
    let by_channel = app.get(&format!("/api/v1/surveys/results?channel_id={sms}")).await.body;
    assert_eq!((by_channel["sent"].as_i64(), by_channel["average"].as_f64()), (Some(1), Some(4.0)), "{by_channel}");

    // What names nothing is refused.
    assert_eq!(app.post(&format!("/api/v1/conversations/{first}/survey"), json!({"survey_id": 999})).await.status, 404);
    assert_eq!(app.get("/api/v1/surveys/results?from=yesterday").await.status, 422);
    let other = app.other_account_key().await;
    let foreign = app.call_as(&other, reqwest::Method::GET, &format!("/api/v1/surveys/{survey}"), None).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

/// The texts of a conversation's messages, oldest first.
async fn texts(app: &TestApp, id: i64) -> Vec<Value> {
    app.get(&format!("/api/v1/conversations/{id}/messages?limit=100")).await.body["data"].as_array().unwrap().clone()
}

async fn surveys_send_themselves_and_collect_comments(app: TestApp) {
    let survey = app
        .post(
            "/api/v1/surveys",
            json!({"name": "Dopo l'acquisto", "follow_ups": {"it": "Vuoi dirci di più?", "en": "Anything to add?"},
                   "whatsapp_template": {"name": "survey_vote", "language": "it"}}),
        )
        .await;
    assert_eq!(survey.status, StatusCode::CREATED, "{survey:?}");
    assert_eq!(survey.body["whatsapp_template"]["name"], "survey_vote");
    let survey = survey.body["id"].as_i64().unwrap();
    let whatsapp = app.channel("whatsapp", "+390299887700", true).await;
    let path = format!("/api/v1/channels/{whatsapp}");
    assert_field_error(&app.patch(&path, json!({"survey_send": "sometimes"})).await, "survey_send");
    assert_field_error(&app.patch(&path, json!({"survey_send": "on_resolve", "survey_id": 999})).await, "survey_id");
    let set = app.patch(&path, json!({"survey_send": "on_resolve", "survey_id": survey})).await;
    assert_eq!((set.body["survey_send"].as_str(), set.body["survey_id"].as_i64()), (Some("on_resolve"), Some(survey)));
    let operator = app.get("/api/v1/operators").await.body["data"][0]["id"].as_i64().unwrap();

    // Resolving sends the survey by itself, once per conversation.
    let written = app.inbound(whatsapp, "+393470000011", "Anna", "Ciao, ho ricevuto le scarpe").await;
    let id = written["conversation"]["id"].as_i64().unwrap();
    let patch = |status: &str| json!({"status": status, "assignee_id": operator});
    assert_eq!(app.patch(&format!("/api/v1/conversations/{id}"), patch("resolved")).await.status, StatusCode::OK);
    app.post(&format!("/api/v1/conversations/{id}/read"), json!({})).await;
    app.drain_jobs().await;
    let thread = texts(&app, id).await;
    let asked = thread.last().unwrap();
    assert!(asked["payload"]["choices"]["text"].as_str().unwrap().starts_with("Come valuti"), "{asked}");
    app.patch(&format!("/api/v1/conversations/{id}"), patch("open")).await;
    app.patch(&format!("/api/v1/conversations/{id}"), patch("resolved")).await;
    app.drain_jobs().await;
    assert_eq!(texts(&app, id).await.len(), thread.len(), "one survey per conversation");

    // The vote, then the follow-up question, then the comment: none reopens the conversation.
    app.inbound(whatsapp, "+393470000011", "Anna", "4 stelle").await;
    app.drain_jobs().await;
    let thread = texts(&app, id).await;
    assert_eq!(thread.last().unwrap()["text"], "Vuoi dirci di più?");
    app.inbound(whatsapp, "+393470000011", "Anna", "Consegna velocissima, grazie").await;
    let rated = conversation(&app, id).await;
    assert_eq!((rated["survey"].as_i64(), rated["status"].as_str()), (Some(4), Some("resolved")), "{rated}");
    assert_eq!(rated["unread_count"], 0);
    // Later words are ordinary messages again.
    app.inbound(whatsapp, "+393470000011", "Anna", "Posso cambiare la taglia?").await;
    assert_eq!(conversation(&app, id).await["status"], "open");

    // Results per operator, per day, and as CSV.
    let mine = app.get(&format!("/api/v1/surveys/results?operator_id={operator}")).await.body;
    assert_eq!(
        (mine["sent"].as_i64(), mine["answered"].as_i64(), mine["average"].as_f64()),
        (Some(1), Some(1), Some(4.0))
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    assert_eq!(mine["days"], json!([{"date": today, "sent": 1, "answered": 1, "response_rate": 1.0, "average": 4.0}]));
    assert_eq!(app.get("/api/v1/surveys/results?operator_id=999").await.body["sent"], 0);
    let csv = app.client.get(format!("{}/api/v1/surveys/results.csv", app.base)).header("X-Api-Key", &app.key);
    let csv = csv.send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("id,survey_id,conversation_id,channel_id,customer,"), "{csv}");
    assert!(lines[1].contains(",Anna,") && lines[1].contains(",answered,4,\"Consegna velocissima, grazie\","), "{csv}");

    // Once the 24-hour window closed, WhatsApp gets the survey's approved template.
    let late =
        app.inbound(whatsapp, "+393470000012", "", "Ordine ricevuto").await["conversation"]["id"].as_i64().unwrap();
    sqlx::query("UPDATE conversations SET window_expires_at = $1 WHERE id = $2")
        .bind(parley::domain::time::now_ms() - 1000)
        .bind(late)
        .execute(app.state.db.writer())
        .await
        .unwrap();
    let bare = app.post("/api/v1/surveys", json!({"name": "Senza modello"})).await.body["id"].as_i64().unwrap();
    let refused = app.post(&format!("/api/v1/conversations/{late}/survey"), json!({"survey_id": bare})).await;
    assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "reply_window_expired");
    let template = json!({"name": "survey_vote", "language": "it", "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Come valuti il tuo acquisto? Rispondi da 1 a 5."},
                       {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "5 ⭐"}, {"type": "QUICK_REPLY", "text": "1 ⭐"}]}]});
    let created = app.post(&format!("/api/v1/channels/{whatsapp}/templates"), template).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let sent = app.post(&format!("/api/v1/conversations/{late}/survey"), json!({"survey_id": survey})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{sent:?}");
    let asked = texts(&app, late).await.last().unwrap().clone();
    assert_eq!(
        (asked["type"].as_str(), asked["payload"]["template"]["name"].as_str()),
        (Some("template"), Some("survey_vote"))
    );
    app.inbound(whatsapp, "+393470000012", "", "5 ⭐").await;
    assert_eq!(conversation(&app, late).await["survey"], 5);

    // A channel that sends on close waits for the close; a vote can also be given directly.
    let sms = app.channel("sms", "+390211122200", true).await;
    app.patch(&format!("/api/v1/channels/{sms}"), json!({"survey_send": "on_close"})).await;
    let texted = app.inbound(sms, "+393470000013", "", "Grazie!").await["conversation"]["id"].as_i64().unwrap();
    app.patch(&format!("/api/v1/conversations/{texted}"), json!({"status": "resolved"})).await;
    app.drain_jobs().await;
    assert_eq!(texts(&app, texted).await.len(), 1, "resolving does not send it");
    app.post(&format!("/api/v1/conversations/{texted}/close"), json!({})).await;
    app.drain_jobs().await;
    let asked = texts(&app, texted).await.last().unwrap().clone();
    assert!(asked["text"].as_str().unwrap().ends_with("Rispondi con un numero da 1 a 5."), "{asked}");
    // The closed conversation takes the vote, the follow-up and the comment; anything after
    // starts a new conversation.
    app.inbound(sms, "+393470000013", "", "3").await;
    app.drain_jobs().await;
    assert_eq!(texts(&app, texted).await.last().unwrap()["text"], "Vuoi dirci di più?");
    let comment = app.inbound(sms, "+393470000013", "", "Troppa attesa").await;
    assert_eq!(comment["conversation"]["id"].as_i64(), Some(texted));
    let closed = conversation(&app, texted).await;
    assert_eq!((closed["survey"].as_i64(), closed["status"].as_str()), (Some(3), Some("closed")), "{closed}");
    let next = app.inbound(sms, "+393470000013", "", "Un'altra domanda").await;
    assert_ne!(next["conversation"]["id"].as_i64(), Some(texted));
    let voted = app
        .post(&format!("/api/v1/conversations/{texted}/survey/vote"), json!({"rating": 2, "comment": "Lento"}))
        .await;
    assert_eq!((voted.status, voted.body["rating"].as_i64()), (StatusCode::CREATED, Some(2)), "{voted:?}");
    assert_eq!(voted.body["comment"], "Lento");
    assert_eq!(conversation(&app, texted).await["survey"], 2);
    assert_field_error(
        &app.post(&format!("/api/v1/conversations/{texted}/survey/vote"), json!({"rating": 6})).await,
        "survey",
    );
    let all = app.get("/api/v1/surveys/results").await.body;
    assert_eq!((all["sent"].as_i64(), all["answered"].as_i64()), (Some(4), Some(4)), "{all}");
}

/// Seed 000's FashionOutlet scenario as a campaign: the survey goes to three customers through the
/// platform's send (its template, since none of them has written yet); two vote "5" and "tre",
/// the third asks something else.
async fn fashion_outlet_campaign_through_the_seed_send(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390299887711", true).await;
    let template = json!({"name": "dopo_acquisto", "language": "it", "category": "MARKETING",
        "components": [{"type": "BODY", "text": "Grazie per l'acquisto! Come valuti FashionOutlet da 1 a 5?"}]});
    assert_eq!(app.post(&format!("/api/v1/channels/{whatsapp}/templates"), template).await.status, StatusCode::CREATED);
    let survey = app
        .post(
            "/api/v1/surveys",
            json!({"name": "Dopo l'acquisto",
            "whatsapp_template": {"name": "dopo_acquisto", "language": "it"}}),
        )
        .await
        .body["id"]
        .as_i64()
        .unwrap();
    let customers = ["+393470000021", "+393470000022", "+393470000023"];
    for customer in customers {
        let sent = app
            .post(
                "/api/message-server/whatsapp/send",
                json!({"destination": customer, "surveyId": survey, "campaignId": "post-purchase"}),
            )
            .await;
        assert_eq!(sent.body["results"]["whatsapp"]["accepted"], true, "{sent:?}");
    }
    let mixed = app
        .post(
            "/api/message-server/whatsapp/send",
            json!({"destination": customers[0], "surveyId": survey, "body": "x"}),
        )
        .await;
    assert_eq!(mixed.status, StatusCode::BAD_REQUEST, "{mixed:?}");
    let conversations = app.get(&format!("/api/v1/conversations?channel_id={whatsapp}")).await.body["data"].clone();
    assert_eq!(conversations.as_array().unwrap().len(), 3);
    let first = conversations[0]["id"].as_i64().unwrap();
    let asked = texts(&app, first).await.last().unwrap().clone();
    assert_eq!(asked["payload"]["template"]["name"], "dopo_acquisto", "{asked}");
    assert_eq!(asked["payload"]["campaign_id"], "post-purchase");

    app.inbound(whatsapp, customers[0], "", "5").await;
    app.inbound(whatsapp, customers[1], "", "tre").await;
    let question = app.inbound(whatsapp, customers[2], "", "Quando arriva il mio ordine?").await;
    let results = app.get("/api/v1/surveys/results").await.body;
    assert_eq!((results["sent"].as_i64(), results["answered"].as_i64()), (Some(3), Some(2)), "{results}");
    assert_eq!(results["average"], 4.0);
    assert_eq!((results["response_rate"].as_f64().unwrap() * 100.0).round(), 67.0);
    let asking = conversation(&app, question["conversation"]["id"].as_i64().unwrap()).await;
    assert_eq!((asking["survey"].as_i64(), asking["unread_count"].as_i64()), (Some(0), Some(1)), "{asking}");
}

crate::backend_tests!(
    fashion_outlet_collects_votes,
    surveys_send_themselves_and_collect_comments,
    fashion_outlet_campaign_through_the_seed_send
);
