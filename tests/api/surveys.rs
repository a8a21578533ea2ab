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

crate::backend_tests!(fashion_outlet_collects_votes);
