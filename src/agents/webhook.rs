//! The `webhook` engine: an external bot (Typebot, n8n, Botpress, your own). Parley POSTs the turn
//! to the bot's URL, signed as Parley's webhooks are (Standard Webhooks headers with the agent's
//! `whsec_` secret). The bot answers in the response body — `{"text": "…"}`, or `{"handoff":
//! true, "reason": "…"}` for a person — or answers `202`/`204` and replies later through the API
//! with an API key of the agent; no answer in time hands the conversation to people.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::{text_setting, Call, Engine, Failure, Reply};
use crate::channels::settings::{Field, Format};
use crate::domain::time::now_ms;
use crate::service::webhooks::signature;

/// Asks an external bot.
pub struct ExternalBot;

const SETTINGS: &[Field] = &[
    Field {
        name: "url",
        label: "Bot URL",
        help: "Where Parley POSTs each customer turn (agent.turn)",
        secret: false,
        required: true,
        format: Format::Url,
    },
    Field {
        name: "secret",
        label: "Signing secret",
        help: "A whsec_ secret (whsec_ and 24 to 64 base64 bytes): requests carry webhook-id, webhook-timestamp and webhook-signature as Parley's webhooks do",
        secret: true,
        required: true,
        format: Format::SigningSecret,
    },
];

impl Engine for ExternalBot {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn label(&self) -> &'static str {
        "External bot: Parley POSTs each turn to your URL"
    }

    fn settings(&self) -> &'static [Field] {
        SETTINGS
    }

    fn calls_third_parties(&self) -> bool {
        true
    }

    fn answer<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<Reply, Failure>> {
        ask(call).boxed()
    }
}

async fn ask(call: &Call<'_>) -> Result<Reply, Failure> {
    let url = text_setting(call.settings, "url").ok_or_else(|| Failure("no bot url set".to_owned()))?;
    let secret = text_setting(call.settings, "secret").unwrap_or_default();
    let body = call.event.to_string();
    let id = call.event.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let timestamp = now_ms() / 1000;
    let response = call
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature::sign(&[secret], &id, timestamp, body.as_bytes()))
        .body(body)
        .send()
        .await
        .map_err(|e| Failure(format!("the bot could not be reached: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(Failure(format!("the bot answered {}", status.as_u16())));
    }
    let text = response.text().await.map_err(|e| Failure(format!("the bot's answer broke off: {e}")))?;
    if text.trim().is_empty() {
        return Ok(Reply::Deferred);
    }
    let answer: Value = serde_json::from_str(&text)
        .map_err(|e| Failure(format!("the bot answered something that is not JSON: {e}")))?;
    if answer.get("handoff").and_then(Value::as_bool) == Some(true) {
        let reason = answer.get("reason").and_then(Value::as_str).unwrap_or("the bot asked for a person");
        return Ok(Reply::Handoff { detail: reason.to_owned() });
    }
    match answer.get("text").and_then(Value::as_str).map(str::trim) {
        Some(reply) if !reply.is_empty() => {
            call.draft.push(reply);
            Ok(Reply::Answer { text: reply.to_owned(), usage: None })
        }
        _ if status == reqwest::StatusCode::ACCEPTED => Ok(Reply::Deferred),
        _ => Err(Failure("the bot's answer had no text".to_owned())),
    }
}
