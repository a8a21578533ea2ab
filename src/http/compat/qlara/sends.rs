//! The seed platform's sends, delivery status polling and credit, translated onto Parley's
//! services:
//!
//! - `POST /api/message-server/{whatsapp|sms|rcs}/send` starts (or joins) the contact's
//!   conversation on the channel named by `phoneNumberId` / `sender` / `agentId` (its id, provider
//!   key, address or name; optional when the account has one channel of that kind). The caller's
//!   `messageId` (a UUID when absent) is kept as the message's customer id; `campaignId` and
//!   `enableNotification` are kept in its payload; `{name}` placeholders are filled in the body.
//!   An invalid destination, missing credit, a closed WhatsApp window or a recipient who opted
//!   out (texted STOP) answer 200 with `accepted: false` and the reason codes
//!   (`invalid_destination`, `insufficient_credit`, `reply_window_expired`, `opted_out`); nothing
//!   is sent or debited then. SMS answers carry the encoding (`unicode`) and parts (GSM-7 160/153,
//!   UCS-2 70/67, extension characters counting twice).
//! - `GET /api/partner-gateway/v1/messages/status/{customerMessageId}?channel=` and
//!   `GET /api/partner-gateway/v1/messages/status?ids=a,b&channel=`: `deliveryStatus` is `SENT`
//!   (handed to the provider), `DELIVERED` (delivered or read), `ERROR` (failed, description
//!   says why) or `UNKNOWN` (still queued).
//! - `GET /api/v1/partner-gateway/subscription/credit` (the seed's own odd path; also under
//!   `/api/partner-gateway/v1/`): amounts in currency units (the balance is kept in thousandths).

use axum::extract::State;
use axum::routing::{get, post};
use axum::{middleware, Extension, Json, Router};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{Answer, Body, Caller, Params, Qlara, Segment};
use crate::channels::OPTED_OUT;
use crate::domain::sms::{Encoding, Segments};
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::http::compat::{authenticate, Guard};
use crate::service::outbound::{self, NewConversation, Outgoing};
use crate::service::{channels, credit, messages};
use crate::state::AppState;
use crate::store::messages::MessageRow;

/// Routes of the seed platform's sends and status polling, with API key authentication.
pub fn routes(guard: Guard) -> Router<AppState> {
    Router::new()
        .route("/api/message-server/{kind}/send", post(send))
        .route("/api/partner-gateway/v1/messages/status", get(statuses))
        .route("/api/partner-gateway/v1/messages/status/{id}", get(status))
        .route("/api/v1/partner-gateway/subscription/credit", get(subscription_credit))
        .route("/api/partner-gateway/v1/subscription/credit", get(subscription_credit_under_base))
        .layer(middleware::from_fn_with_state(guard, authenticate::<Qlara>))
}

/// A send as the seed platform's message-server takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraSend)]
pub struct SendBody {
    /// The recipient's phone, E.164.
    #[schema(example = "+393471234567")]
    destination: Option<String>,
    /// WhatsApp: the sending channel (its id, phone number id, address or name); optional with one
    /// WhatsApp channel.
    #[schema(value_type = Option<String>)]
    phone_number_id: Option<Value>,
    /// SMS: the sending channel, as `phoneNumberId`.
    #[schema(value_type = Option<String>)]
    sender: Option<Value>,
    /// RCS: the sending channel, as `phoneNumberId`.
    #[schema(value_type = Option<String>)]
    agent_id: Option<Value>,
    /// The text: a string, `{"text": "…"}`, or RCS's `{"type": "TEXT", "body": {"text": "…"}}`;
    /// `{name}` placeholders are filled.
    #[schema(value_type = Option<Object>, example = "Gentile {name}, le ricordiamo l'appuntamento di domani.")]
    body: Option<Value>,
    /// WhatsApp: an approved template instead of a body, in Meta's shape.
    #[schema(value_type = Option<Object>)]
    template: Option<Map<String, Value>>,
    /// Your id for the message, for status polling and delivery reports (a UUID when absent).
    message_id: Option<String>,
    /// Run the flow without calling the provider or spending credit.
    #[serde(default)]
    simulation: bool,
    /// Kept with the message (default true).
    enable_notification: Option<bool>,
    /// Values for `{name}` placeholders in the body.
    #[schema(value_type = Option<Object>)]
    placeholders: Option<Map<String, Value>>,
    /// Kept with the message.
    campaign_id: Option<String>,
}

/// What happened to a send on its channel.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QlaraSendResult)]
pub struct SendResult {
    accepted: bool,
    /// Why it was not: `invalid_destination`, `insufficient_credit` or `reply_window_expired`.
    reasons: Vec<&'static str>,
    /// SMS: whether the text needs Unicode.
    #[serde(skip_serializing_if = "Option::is_none")]
    unicode: Option<bool>,
    /// SMS: how many parts the text takes.
    #[serde(skip_serializing_if = "Option::is_none")]
    parts: Option<usize>,
}

/// The answer to a send.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraSendAnswer)]
pub struct SendAnswer {
    message_id: String,
    /// Whether it ran in simulation (asked for, or the channel is a simulation channel).
    simulation: bool,
    /// One result, under the channel kind (`whatsapp`, `sms` or `rcs`).
    results: BTreeMap<&'static str, SendResult>,
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
const REFUSALS: &[&str] = &["invalid_destination", "insufficient_credit", "reply_window_expired", OPTED_OUT];

/// Send a message.
///
/// A WhatsApp, SMS or RCS message to a phone: it starts or joins the contact's conversation on that
/// channel. An invalid destination, missing credit, a closed WhatsApp window or a recipient who
/// opted out answer 200 with `accepted: false` and the reason; nothing is sent or charged then.
#[utoipa::path(post, path = "/api/message-server/{kind}/send", operation_id = "qlaraSend", tag = "Qlara sends",
    params(("kind" = String, Path, description = "`whatsapp`, `sms` or `rcs`.", example = "sms")),
    request_body = SendBody, responses((status = 200, body = SendAnswer)))]
async fn send(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Segment(kind): Segment,
    Body(body): Body<SendBody>,
) -> Answer<Json<SendAnswer>> {
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
    let (accepted, reasons, simulation) = match outbound::start(&state, me.account_id, new).await {
        Ok((_, message)) => (true, Vec::new(), message.simulated),
        Err(refused) if REFUSALS.contains(&refused.code()) => {
            let channel = channels::get(&state, me.account_id, channel_id).await?;
            (false, vec![refused.code()], body.simulation || channel.simulation)
        }
        Err(other) => return Err(other.into()),
    };
    let mut result = SendResult { accepted, reasons, unicode: None, parts: None };
    if kind == ChannelKind::Sms {
        let segments = Segments::of(text.as_deref().unwrap_or_default());
        result.unicode = Some(segments.encoding == Encoding::Ucs2);
        result.parts = Some(segments.parts.max(1) as usize);
    }
    Ok(Json(SendAnswer { message_id, simulation, results: BTreeMap::from([(kind.as_str(), result)]) }))
}

/// Which messages, on which channel.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// `SMS`, `RCS` or `WHATSAPP` (required).
    #[param(example = "SMS")]
    channel: Option<String>,
    /// Batch: your message ids, comma-separated (at most 500; also `customerMessageIds`).
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

/// A message's delivery in the seed's vocabulary.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraDeliveryStatus)]
pub struct DeliveryStatus {
    customer_message_id: String,
    /// `SENT`, `DELIVERED` (delivered or read), `ERROR` or `UNKNOWN` (still queued).
    delivery_status: &'static str,
    delivery_status_description: String,
}

/// A message's status in the seed's vocabulary.
fn delivery_status(customer_id: &str, row: &MessageRow) -> DeliveryStatus {
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
    DeliveryStatus {
        customer_message_id: customer_id.to_owned(),
        delivery_status: status,
        delivery_status_description: description,
    }
}

/// Get a message's delivery status.
///
/// By your `messageId`.
#[utoipa::path(get, path = "/api/partner-gateway/v1/messages/status/{id}", operation_id = "qlaraMessageStatus",
    tag = "Qlara sends", params(("id" = String, Path, description = "Your `messageId`."), StatusQuery),
    responses((status = 200, body = DeliveryStatus)))]
async fn status(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Segment(id): Segment,
    Params(query): Params<StatusQuery>,
) -> Answer<Json<DeliveryStatus>> {
    let kind = query_kind(&query)?;
    let found = messages::find_by_customer_ids(&state, me.account_id, kind, std::slice::from_ref(&id)).await?;
    let (customer_id, row) = found.into_iter().next().ok_or(Error::NotFound("message"))?;
    Ok(Json(delivery_status(&customer_id, &row)))
}

/// Get several messages' delivery status.
///
/// Unknown ids are left out.
#[utoipa::path(get, path = "/api/partner-gateway/v1/messages/status", operation_id = "qlaraMessageStatuses",
    tag = "Qlara sends", params(StatusQuery), responses((status = 200, body = Vec<DeliveryStatus>)))]
async fn statuses(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Params(query): Params<StatusQuery>,
) -> Answer<Json<Vec<DeliveryStatus>>> {
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
    Ok(Json(found.iter().map(|(id, row)| delivery_status(id, row)).collect()))
}

/// Credit in currency units.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraCredit)]
pub struct Credit {
    #[schema(example = 12.5)]
    credit: f64,
    frozen_credit: f64,
    available_credit: f64,
}

/// Get the account's credit.
///
/// The seed's own path (its odd order); also at `/api/partner-gateway/v1/subscription/credit`.
#[utoipa::path(get, path = "/api/v1/partner-gateway/subscription/credit", operation_id = "qlaraCredit",
    tag = "Qlara sends", responses((status = 200, body = Credit)))]
pub async fn subscription_credit(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
) -> Answer<Json<Credit>> {
    let balance = credit::balance(&state, me.account_id).await?;
    let units = |thousandths: i64| thousandths as f64 / 1000.0;
    Ok(Json(Credit {
        credit: units(balance.credit),
        frozen_credit: units(balance.frozen),
        available_credit: units(balance.available),
    }))
}

/// Get the account's credit, under the dialect's base path.
///
/// The same as `/api/v1/partner-gateway/subscription/credit`, where the seed platform has it.
#[utoipa::path(get, path = "/api/partner-gateway/v1/subscription/credit", operation_id = "qlaraCreditUnderBase",
    tag = "Qlara sends", responses((status = 200, body = Credit)))]
pub async fn subscription_credit_under_base(state: State<AppState>, caller: Extension<Caller>) -> Answer<Json<Credit>> {
    subscription_credit(state, caller).await
}
