//! The seed platform's sends, delivery status polling and credit, translated onto Parley's
//! services:
//!
//! - `POST /api/message-server/{whatsapp|sms|rcs}/send` starts (or joins) the contact's
//!   conversation on the channel named by `phoneNumberId` / `sender` / `agentId` (its id, provider
//!   key, address or name; optional when the account has one channel of that kind). The caller's
//!   `messageId` (a UUID when absent) is kept as the message's customer id; `campaignId` and
//!   `enableNotification` are kept in its payload; `{name}` placeholders are filled in the body.
//!   An invalid destination, missing credit or a closed WhatsApp window answer 200 with
//!   `accepted: false` and the reason codes (`invalid_destination`, `insufficient_credit`,
//!   `reply_window_expired`); nothing is sent or debited then.
//! - `GET /api/partner-gateway/v1/messages/status/{customerMessageId}?channel=` and
//!   `GET /api/partner-gateway/v1/messages/status?ids=a,b&channel=`: `deliveryStatus` is `SENT`
//!   (handed to the provider), `DELIVERED` (delivered or read), `ERROR` (failed, description
//!   says why) or `UNKNOWN` (still queued).
//! - `GET /api/v1/partner-gateway/subscription/credit`: amounts in currency units (the balance is
//!   kept in thousandths).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::app::AppState;
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::qlara::{authenticate, Answer, Caller};
use crate::service::outbound::{self, NewConversation, Outgoing};
use crate::service::{channels, credit, messages};
use crate::store::messages::MessageRow;

/// Routes of the seed platform's sends and status polling, with API key authentication.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/message-server/{kind}/send", post(send))
        .route("/api/partner-gateway/v1/messages/status", get(statuses))
        .route("/api/partner-gateway/v1/messages/status/{id}", get(status))
        .route("/api/v1/partner-gateway/subscription/credit", get(subscription_credit))
        .layer(middleware::from_fn_with_state(state, authenticate))
}

/// A send as the seed platform's message-server takes it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendBody {
    destination: Option<String>,
    phone_number_id: Option<Value>,
    sender: Option<Value>,
    agent_id: Option<Value>,
    body: Option<Value>,
    template: Option<Map<String, Value>>,
    message_id: Option<String>,
    #[serde(default)]
    simulation: bool,
    enable_notification: Option<bool>,
    placeholders: Option<Map<String, Value>>,
    campaign_id: Option<String>,
}

/// A scalar reference (number or text) as text.
fn reference(value: &Option<Value>) -> Option<String> {
    match value {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Number(number)) => Some(number.to_string()),
        _ => None,
    }
}

/// The text of a body: a string, `{"text"}`, or RCS's `{"type":"TEXT","body":{"text"}}`.
fn body_text(body: &Value) -> Result<String> {
    let text = match body {
        Value::String(text) => Some(text.as_str()),
        Value::Object(object) => object
            .get("text")
            .and_then(|t| t.as_str().or_else(|| t.get("body").and_then(Value::as_str)))
            .or_else(|| object.get("body").and_then(|b| b.get("text")).and_then(Value::as_str))
            .or_else(|| object.get("body").and_then(Value::as_str)),
        _ => None,
    };
    text.map(str::to_owned).ok_or_else(|| Error::field("body", "only text bodies are supported"))
}

/// Fills `{name}` placeholders; unknown ones stay as written.
fn fill(text: &str, placeholders: &Map<String, Value>) -> String {
    placeholders.iter().fold(text.to_owned(), |text, (name, value)| {
        let value = match value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        text.replace(&format!("{{{name}}}"), &value)
    })
}

/// Reasons a send is answered with `accepted: false` rather than an error.
const REFUSALS: &[&str] = &["invalid_destination", "insufficient_credit", "reply_window_expired"];

async fn send(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ApiPath(kind): ApiPath<String>,
    ApiJson(body): ApiJson<SendBody>,
) -> Answer<Json<Value>> {
    let kind = match ChannelKind::parse(&kind) {
        Some(kind @ (ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Rcs)) => kind,
        _ => return Err(Error::NotFound("route").into()),
    };
    let destination = body.destination.clone().ok_or_else(|| Error::field("destination", "is required"))?;
    let sender = reference(&body.phone_number_id).or(reference(&body.sender)).or(reference(&body.agent_id));
    let channel_id = channels::find_sender(&state, me.account_id, kind.as_str(), sender.as_deref()).await?;
    let placeholders = body.placeholders.clone().unwrap_or_default();
    let mut payload = Map::new();
    let text = match (&body.body, &body.template) {
        (Some(_), Some(_)) => return Err(Error::field("template", "send either a body or a template").into()),
        (Some(content), None) => Some(fill(&body_text(content)?, &placeholders)),
        (None, Some(template)) if kind == ChannelKind::Whatsapp => {
            payload.insert("template".to_owned(), Value::Object(template.clone()));
            None
        }
        _ => return Err(Error::field("body", "is required").into()),
    };
    let message_id =
        body.message_id.clone().filter(|id| !id.trim().is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    if message_id.chars().count() > 255 {
        return Err(Error::field("messageId", "must be at most 255 characters").into());
    }
    let mut extra = Map::new();
    if let Some(campaign) = &body.campaign_id {
        extra.insert("campaign_id".to_owned(), json!(campaign));
    }
    extra.insert("enable_notification".to_owned(), json!(body.enable_notification.unwrap_or(true)));
    let new = NewConversation {
        channel_id,
        to: destination,
        name: None,
        subject: None,
        message: Outgoing {
            text: text.clone(),
            simulation: body.simulation,
            payload,
            customer_message_id: Some(message_id.clone()),
            extra,
            ..Default::default()
        },
    };
    let (accepted, reasons) = match outbound::start(&state, me.account_id, new).await {
        Ok(_) => (true, Vec::new()),
        Err(refused) if REFUSALS.contains(&refused.code()) => (false, vec![refused.code()]),
        Err(other) => return Err(other.into()),
    };
    let mut result = json!({ "accepted": accepted, "reasons": reasons });
    if kind == ChannelKind::Sms {
        let text = text.unwrap_or_default();
        let unicode = !text.chars().all(|c| c.is_ascii() && c != '`');
        let length = text.chars().count();
        let (single, part) = if unicode { (70, 67) } else { (160, 153) };
        result["unicode"] = json!(unicode);
        result["parts"] = json!(if length <= single { 1 } else { length.div_ceil(part) });
    }
    Ok(Json(json!({
        "messageId": message_id,
        "simulation": body.simulation,
        "results": { kind.as_str(): result },
    })))
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    channel: Option<String>,
    #[serde(alias = "customerMessageIds")]
    ids: Option<String>,
}

/// The channel kind a status query names (mandatory).
fn query_kind(query: &StatusQuery) -> Result<&'static str> {
    let channel = query.channel.as_deref().ok_or_else(|| Error::field("channel", "is required"))?;
    match ChannelKind::parse(&channel.to_ascii_lowercase()) {
        Some(kind @ (ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Rcs)) => Ok(kind.as_str()),
        _ => Err(Error::field("channel", "must be SMS, RCS or WHATSAPP")),
    }
}

/// A message's status in the seed's vocabulary.
fn delivery_status(customer_id: &str, row: &MessageRow) -> Value {
    let (status, description) = match row.status.as_deref() {
        Some("sent") => ("SENT", "Sent".to_owned()),
        Some("delivered") => ("DELIVERED", "Delivered".to_owned()),
        Some("read") => ("DELIVERED", "Read".to_owned()),
        Some("failed") => (
            "ERROR",
            format!("Not delivered: {}", row.error_text.as_deref().or(row.error_code.as_deref()).unwrap_or("unknown")),
        ),
        _ => ("UNKNOWN", "Queued".to_owned()),
    };
    json!({ "customerMessageId": customer_id, "deliveryStatus": status, "deliveryStatusDescription": description })
}

async fn status(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> Answer<Json<Value>> {
    let kind = query_kind(&query)?;
    let found = messages::find_by_customer_ids(&state, me.account_id, kind, std::slice::from_ref(&id)).await?;
    let (customer_id, row) = found.into_iter().next().ok_or(Error::NotFound("message"))?;
    Ok(Json(delivery_status(&customer_id, &row)))
}

async fn statuses(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ApiQuery(query): ApiQuery<StatusQuery>,
) -> Answer<Json<Value>> {
    let kind = query_kind(&query)?;
    let mut ids: Vec<String> = query
        .ids
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    ids.dedup();
    if ids.len() > 500 {
        return Err(Error::field("ids", "at most 500 ids per call").into());
    }
    let found = messages::find_by_customer_ids(&state, me.account_id, kind, &ids).await?;
    Ok(Json(Value::Array(found.iter().map(|(id, row)| delivery_status(id, row)).collect())))
}

/// `GET /api/v1/partner-gateway/subscription/credit`.
pub async fn subscription_credit(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
) -> Answer<Json<Value>> {
    let balance = credit::balance(&state, me.account_id).await?;
    let units = |thousandths: i64| thousandths as f64 / 1000.0;
    Ok(Json(json!({
        "credit": units(balance.credit),
        "frozenCredit": units(balance.frozen),
        "availableCredit": units(balance.available),
    })))
}
