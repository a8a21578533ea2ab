//! Quick replies: kept per account with a variant per language, checked, and listed for a
//! conversation filled with its contact, operator and conversation, in the customer's language,
//! only where their team and network fit; their buttons go out as the send takes them.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

crate::backend_tests!(quick_replies_are_kept_per_language_and_checked, quick_replies_fill_for_the_conversation);

/// Creates a quick reply; answers its body.
async fn create(app: &TestApp, body: Value) -> Value {
    let reply = app.post("/api/v1/quick-replies", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body
}

async fn quick_replies_are_kept_per_language_and_checked(app: TestApp) {
    let shipping = create(
        &app,
        json!({"shortcode": "/Spedizione", "text": "Ciao {{contact.first_name}}, spediamo entro 24 ore.",
            "buttons": ["Traccia ordine", "Parla con noi"]}),
    )
    .await;
    assert_eq!(shipping["shortcode"], "spedizione");
    assert_eq!(shipping["language"], Value::Null);
    assert_eq!(shipping["buttons"], json!(["Traccia ordine", "Parla con noi"]));
    let english =
        create(&app, json!({"shortcode": "spedizione", "language": "en", "text": "We ship within 24 hours."})).await;
    let taken =
        app.post("/api/v1/quick-replies", json!({"shortcode": "SPEDIZIONE", "language": "en", "text": "x"})).await;
    assert_problem(&taken, StatusCode::CONFLICT, "quick_reply_exists");

    let before = app.get("/api/v1/quick-replies").await.body;
    for (body, field) in [
        (json!({"shortcode": "two words", "text": "x"}), "shortcode"),
        (json!({"shortcode": "ok", "text": "  "}), "text"),
        (json!({"shortcode": "ok", "text": "x", "language": "italiano!"}), "language"),
        (json!({"shortcode": "ok", "text": "x", "buttons": ["a", "b", "c", "d"]}), "buttons"),
        (json!({"shortcode": "ok", "text": "x", "buttons": ["a title that is far too long"]}), "buttons"),
        (
            json!({"shortcode": "ok", "text": "x", "media_key": "00000000/00000000/00000000000000000000000000000000"}),
            "media_key",
        ),
        (json!({"shortcode": "ok", "text": "x", "team_id": 999_999}), "team_id"),
    ] {
        assert_field_error(&app.post("/api/v1/quick-replies", body).await, field);
    }
    assert_eq!(app.get("/api/v1/quick-replies").await.body, before, "refused quick replies change nothing");

    // Listed by short code and language; replaced whole; deleted.
    let codes: Vec<(Value, Value)> =
        before["data"].as_array().unwrap().iter().map(|q| (q["shortcode"].clone(), q["language"].clone())).collect();
    assert_eq!(codes, [(json!("spedizione"), Value::Null), (json!("spedizione"), json!("en"))]);
    let path = format!("/api/v1/quick-replies/{}", english["id"]);
    let changed =
        app.patch(&path, json!({"shortcode": "shipping", "text": "Ships in a day.", "buttons": ["Track"]})).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(
        (changed.body["shortcode"].as_str(), changed.body["language"].as_str(), changed.body["buttons"].clone()),
        (Some("shipping"), Some("en"), json!(["Track"]))
    );
    let any_language = app.patch(&path, json!({"language": null})).await;
    assert_eq!(any_language.body["language"], Value::Null, "{any_language:?}");
    let clash = app.patch(&path, json!({"shortcode": "spedizione"})).await;
    assert_problem(&clash, StatusCode::CONFLICT, "quick_reply_exists");
    let other = app.other_account_key().await;
    for (method, body) in [
        (reqwest::Method::GET, None),
        (reqwest::Method::PATCH, Some(json!({"text": "Hijacked"}))),
        (reqwest::Method::DELETE, None),
    ] {
        assert_problem(&app.call_as(&other, method, &path, body).await, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/quick-replies/{}", shipping["id"])).await.body["text"], shipping["text"]);
}

/// The quick replies of a conversation, by short code.
async fn filled(app: &TestApp, conversation: &Value) -> Vec<Value> {
    let reply = app.get(&format!("/api/v1/conversations/{}/quick-replies", conversation["id"])).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["data"].as_array().unwrap().clone()
}

async fn quick_replies_fill_for_the_conversation(app: TestApp) {
    let whatsapp = app.channel("whatsapp", "+390200000001", true).await;
    let sms = app.channel("sms", "+390200000002", true).await;
    let giulia =
        app.inbound(whatsapp, "+393331234567", "Giulia Bianchi", "Buongiorno, dove si trova il mio ordine?").await;
    let john = app.inbound(whatsapp, "+447700900123", "John Smith", "Hello, where is my order please?").await;
    let contact = giulia["conversation"]["contact"]["id"].as_i64().unwrap();
    let patched = app.patch(&format!("/api/v1/contacts/{contact}"), json!({"attributes": {"city": "Milano"}})).await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    let team = app.post("/api/v1/teams", json!({"name": "Resi", "channel_ids": [sms]})).await;
    assert_eq!(team.status, StatusCode::CREATED, "{team:?}");

    create(
        &app,
        json!({"shortcode": "spedizione",
            "text": "Ciao {{contact.first_name}} ({{contact.name}}, {{contact.city}}), spediamo entro 24 ore. Pratica {{conversation.id}}.{{operator.name}}",
            "buttons": ["Traccia ordine", "Parla con noi"]}),
    )
    .await;
    create(&app, json!({"shortcode": "spedizione", "language": "en", "text": "Hi {{contact.first_name}}, we ship within a day."}))
        .await;
    create(&app, json!({"shortcode": "stop", "text": "Scrivi STOP per non ricevere altro.", "channel_kind": "sms"}))
        .await;
    create(&app, json!({"shortcode": "reso", "text": "Per il reso…", "team_id": team.body["id"]})).await;

    // The Italian customer gets the variant for any language, filled; the English one the English
    // variant; only quick replies of the conversation's network and team are offered.
    let conversation = &giulia["conversation"];
    let offered = filled(&app, conversation).await;
    assert_eq!(offered.len(), 1, "the SMS-only and the other team's quick replies are not offered: {offered:?}");
    let shipping = &offered[0];
    assert_eq!(shipping["shortcode"], "spedizione");
    assert_eq!(
        shipping["filled_text"],
        format!("Ciao Giulia (Giulia Bianchi, Milano), spediamo entro 24 ore. Pratica {}.", conversation["id"]),
        "an API key writes as no operator: the name is left out"
    );
    let english = filled(&app, &john["conversation"]).await;
    assert_eq!(english[0]["filled_text"], "Hi John, we ship within a day.");
    // A contact's stated language wins over their words.
    let john_id = john["conversation"]["contact"]["id"].as_i64().unwrap();
    app.patch(&format!("/api/v1/contacts/{john_id}"), json!({"attributes": {"language": "it"}})).await;
    assert!(filled(&app, &john["conversation"]).await[0]["filled_text"].as_str().unwrap().starts_with("Ciao John"));

    // The buttons go out through the channel-neutral content: the send takes them as given.
    let sent = app
        .post(
            &format!("/api/v1/conversations/{}/messages", conversation["id"]),
            json!({"text": shipping["filled_text"], "payload": shipping["payload"]}),
        )
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    let titles: Vec<&str> = sent.body["payload"]["choices"]["options"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", sent.body))
        .iter()
        .map(|option| option["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Traccia ordine", "Parla con noi"]);

    // Buttons go only where the network takes them.
    create(&app, json!({"shortcode": "sms-info", "text": "Info", "buttons": ["Sì"], "channel_kind": "sms"})).await;
    let texting = app.inbound(sms, "+393331234567", "Giulia Bianchi", "Info?").await;
    let on_sms = filled(&app, &texting["conversation"]).await;
    let info = on_sms.iter().find(|q| q["shortcode"] == "sms-info").expect("offered on SMS");
    assert_eq!((info["buttons"].clone(), info["payload"].clone()), (json!(["Sì"]), Value::Null));

    // A deleted team's quick replies stay, for everyone.
    assert_eq!(app.delete(&format!("/api/v1/teams/{}", team.body["id"])).await.status, StatusCode::NO_CONTENT);
    let codes: Vec<Value> = filled(&app, conversation).await.iter().map(|q| q["shortcode"].clone()).collect();
    assert_eq!(codes, [json!("reso"), json!("spedizione")]);

    let other = app.other_account_key().await;
    let theirs = format!("/api/v1/conversations/{}/quick-replies", conversation["id"]);
    assert_problem(&app.call_as(&other, reqwest::Method::GET, &theirs, None).await, StatusCode::NOT_FOUND, "not_found");
}
