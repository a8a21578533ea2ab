//! Calls in a real browser: a missed call and a voicemail from a WhatsApp customer sit in the
//! inbox beside their chat, and the thread shows each call as a card, the voicemail with its
//! transcript and a player for its recording.

use serde_json::json;

use super::Browser;
use crate::helpers::{spawn_app_with, Backend};
use crate::twilio_api::RECORDING;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_call_shows_beside_the_chat_and_a_voicemail_plays() {
    let app = spawn_app_with(Backend::Sqlite, &[]).await;
    let whatsapp = app.channel("whatsapp", "+390200000001", true).await;
    let voice = app.channel("voice", "+390212345678", true).await;
    let chat = app.inbound(whatsapp, "+393331234567", "Giulia Bianchi", "Il mio ordine non è arrivato").await;
    let chat_id = chat["conversation"]["id"].as_i64().unwrap();
    let recording = crate::media::upload(&app, "voicemail.mp3", "audio/mpeg", RECORDING).await;
    let record = |call: serde_json::Value| {
        let app = &app;
        async move {
            let reply = app.post(&format!("/api/v1/channels/{voice}/calls"), call).await;
            assert_eq!(reply.status, reqwest::StatusCode::CREATED, "{reply:?}");
            reply.body
        }
    };
    record(json!({"from": "+393331234567", "to": "+390212345678", "outcome": "missed",
        "started_at": "2026-11-27T09:00:00Z"}))
    .await;
    let voicemail = record(json!({"from": "+393331234567", "to": "+390212345678", "outcome": "voicemail",
        "duration_seconds": 21, "recording_media_key": recording.body["key"],
        "transcript": "Salve, richiamatemi per l'ordine 42."}))
    .await;
    let call_id = voicemail["conversation"]["id"].as_i64().unwrap();

    let browser = Browser::open(&app).await;
    browser.login().await;
    let row = |id: i64| format!("[data-testid=conversation-row][data-id='{id}']");
    browser.wait_for(&row(chat_id)).await;
    browser.wait_for_text(&format!("{} [data-testid=conversation-preview]", row(call_id)), "Voicemail (0:21)").await;
    assert_eq!(browser.count(&format!("{} svg[aria-label=Voice]", row(call_id))).await, 1);
    assert_eq!(
        browser.text(&format!("{} [data-testid=conversation-name]", row(call_id))).await,
        browser.text(&format!("{} [data-testid=conversation-name]", row(chat_id))).await,
        "one person on both channels"
    );

    browser.click(&row(call_id)).await;
    browser.wait_for("[data-testid=call-card][data-outcome=missed]").await;
    browser.wait_for_text("[data-testid=call-card][data-outcome=missed] [data-testid=call-title]", "Missed call").await;
    let card = "[data-testid=call-card][data-outcome=voicemail]";
    browser.wait_for_text(&format!("{card} [data-testid=call-title]"), "Voicemail").await;
    browser.wait_for_text(&format!("{card} [data-testid=call-transcript]"), "richiamatemi per l'ordine 42").await;
    let src = browser.attr(&format!("{card} [data-testid=call-recording]"), "src").await.expect("a player");
    // The player's file is served to the signed-in operator.
    let fetched = browser
        .exec(&format!(
            "return fetch({src:?}).then(async (r) => [r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength])"
        ))
        .await;
    assert_eq!(fetched, json!([200, "audio/mpeg", RECORDING.len()]), "{src}");
    // A voice line sends no messages: the composer says so and offers private notes.
    browser.wait_for_text("[data-testid=window-closed-banner]", "records calls and sends no messages").await;
    browser.screenshot("voice-call-cards").await;
    browser.close().await;
}
