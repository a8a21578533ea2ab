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
use axum::routing::{delete, get, post};
use axum::{middleware, Extension, Json, Router};
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::{rcs_templates, Answer, Body, Caller, Params, Qlara, Segment};
use crate::channels::OPTED_OUT;
use crate::domain::sms::{Encoding, Segments};
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::http::compat::{authenticate, Guard};
use crate::service::outbound::{self, FallbackStep, NewConversation, Outgoing};
use crate::service::{channels, credit, messages, rcs_templates as saved, surveys, templates};
use crate::state::AppState;
use crate::store::messages::MessageRow;

/// Routes of the seed platform's sends and status polling, with API key authentication.
pub fn routes(guard: Guard) -> Router<AppState> {
    Router::new()
        .route("/api/message-server/{kind}/send", post(send))
        .route("/api/message-server/rcs/templates", get(rcs_templates::list).post(rcs_templates::create))
        .route(
            "/api/message-server/rcs/templates/{id}",
            get(rcs_templates::get).put(rcs_templates::replace).delete(rcs_templates::delete),
        )
        .route("/api/message-server/messages/{id}", delete(cancel))
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
    /// A saved message instead of a body: an RCS template (`/api/message-server/rcs/templates`)
    /// or a WhatsApp template of the sending channel (`placeholders` `"1"`, `"2"`… fill its
    /// `{{1}}`, `{{2}}`…).
    template_id: Option<i64>,
    /// Send at this time (`yyyy-MM-dd HH:mm:ss.SSSZ`, e.g. `2026-12-01 09:00:00.000+0100`)
    /// instead of now; cancel with `DELETE /api/message-server/messages/{messageId}`.
    #[schema(example = "2026-12-01 09:00:00.000+0100")]
    scheduled_date: Option<String>,
    /// RCS: when the phone cannot take RCS (or the message is revoked undelivered), send the text
    /// as SMS if it takes at most this many parts (the body's `fallbackSms` text, else the
    /// message's own text).
    max_sms_parts: Option<u32>,
    /// Where the message goes if it fails, in order: `SMS`, `RCS`, `WHATSAPP`, `RCS_SMS`,
    /// `WHATSAPP_SMS`, `WHATSAPP_RCS`, `WHATSAPP_RCS_SMS`; it starts with the sending channel.
    #[schema(example = "WHATSAPP_RCS_SMS")]
    sending_mode: Option<String>,
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
    /// A satisfaction survey (`/api/v1/surveys`) instead of a body: its question in the
    /// customer's language — a list of votes on WhatsApp while the 24-hour window is open, the
    /// survey's approved template otherwise, a question asking for a number on SMS — whose replies
    /// are the customer's vote. No fallback (`sendingMode`, `maxSmsParts`).
    survey_id: Option<i64>,
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

/// The text of a body: a string, `{"text"}`, or `{"body": {"text"}}`.
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

/// What a send says: its text, structured payload and fallback steps (from an RCS body's
/// `fallbackSms`), from its body, template or template id.
async fn content(
    state: &AppState,
    account_id: i64,
    kind: ChannelKind,
    channel_id: i64,
    body: &SendBody,
    placeholders: &Map<String, Value>,
) -> Result<(Option<String>, Map<String, Value>, Vec<FallbackStep>)> {
    let rcs = |kind: &str, rcs_body: &Value| -> Result<_> {
        let content = saved::content(kind, rcs_body, placeholders)?;
        Ok((content.text, content.payload, content.fallback_sms.into_iter().collect()))
    };
    match (&body.body, &body.template, body.template_id) {
        (Some(_), Some(_), _) => Err(Error::field("template", "send either a body or a template")),
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            Err(Error::field("templateId", "send one of body, template and templateId"))
        }
        (Some(Value::Object(object)), None, None) if kind == ChannelKind::Rcs && object.contains_key("type") => {
            let kind = object["type"].as_str().unwrap_or_default();
            rcs(kind, object.get("body").unwrap_or(&Value::Null))
        }
        (Some(content), None, None) => {
            Ok((Some(saved::fill(&body_text(content)?, placeholders)), Map::new(), Vec::new()))
        }
        (None, Some(template), None) if kind == ChannelKind::Whatsapp => {
            Ok((None, Map::from_iter([("template".to_owned(), Value::Object(template.clone()))]), Vec::new()))
        }
        (None, None, Some(id)) if kind == ChannelKind::Rcs => {
            let template = saved::get(state, account_id, id).await?;
            rcs(&template.kind, &template.body)
        }
        (None, None, Some(id)) if kind == ChannelKind::Whatsapp => {
            let template = templates::get(state, account_id, channel_id, id).await?;
            let mut parameters: Vec<(usize, Value)> = placeholders
                .iter()
                .filter_map(|(name, value)| Some((name.parse::<usize>().ok()?, value.clone())))
                .collect();
            parameters.sort_by_key(|(number, _)| *number);
            let mut send = json!({ "name": template.name, "language": { "code": template.language } });
            if !parameters.is_empty() {
                let values: Vec<Value> = parameters
                    .into_iter()
                    .map(|(_, value)| json!({ "type": "text", "text": value.as_str().map_or_else(|| value.to_string(), str::to_owned) }))
                    .collect();
                send["components"] = json!([{ "type": "body", "parameters": values }]);
            }
            Ok((None, Map::from_iter([("template".to_owned(), send)]), Vec::new()))
        }
        _ => Err(Error::field("body", "is required")),
    }
}

/// The channels a `sendingMode` names after the sending one, with the message's text.
fn sending_mode(kind: ChannelKind, mode: Option<&str>, text: Option<&str>) -> Result<Vec<FallbackStep>> {
    let Some(mode) = mode.map(str::trim).filter(|mode| !mode.is_empty()) else { return Ok(Vec::new()) };
    const MODES: [&str; 7] = ["SMS", "RCS", "WHATSAPP", "RCS_SMS", "WHATSAPP_SMS", "WHATSAPP_RCS", "WHATSAPP_RCS_SMS"];
    let mode = mode.to_ascii_uppercase();
    let named: Vec<&str> = mode.split('_').collect();
    if !MODES.contains(&mode.as_str()) || named.first() != Some(&kind.as_str().to_ascii_uppercase().as_str()) {
        return Err(Error::field(
            "sendingMode",
            format!("must be one of {} and start with {}", MODES.join(", "), kind.as_str().to_ascii_uppercase()),
        ));
    }
    let text = text.ok_or_else(|| Error::field("sendingMode", "a fallback needs a text body"))?;
    Ok(named[1..]
        .iter()
        .map(|next| FallbackStep {
            kind: next.to_ascii_lowercase(),
            channel: None,
            text: text.to_owned(),
            max_sms_parts: None,
        })
        .collect())
}

/// A message's words as plain text, for an SMS standing in for it: its text, or its choices'
/// text, or its cards' titles and descriptions.
fn plain_text(text: Option<&str>, payload: &Map<String, Value>) -> String {
    if let Some(text) = text.or_else(|| payload.get("choices").and_then(|c| c["text"].as_str())) {
        return text.to_owned();
    }
    let items = payload.get("cards").and_then(|cards| cards["items"].as_array()).cloned().unwrap_or_default();
    items
        .iter()
        .map(|card| {
            [card["title"].as_str(), card["subtitle"].as_str()].into_iter().flatten().collect::<Vec<_>>().join(": ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A `scheduledDate` (`yyyy-MM-dd HH:mm:ss.SSSZ`) in Unix ms.
fn scheduled_date(text: &str) -> Result<i64> {
    chrono::DateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S%.3f%z").map(|at| at.timestamp_millis()).map_err(
        |_| Error::field("scheduledDate", "must be yyyy-MM-dd HH:mm:ss.SSSZ, e.g. 2026-12-01 09:00:00.000+0100"),
    )
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
    let (text, payload, mut fallback) = match body.survey_id {
        Some(_) if body.body.is_some() || body.template.is_some() || body.template_id.is_some() => {
            return Err(Error::field("surveyId", "send either a survey or a body, template or templateId").into())
        }
        Some(_) if body.sending_mode.is_some() || body.max_sms_parts.is_some() => {
            return Err(
                Error::field("surveyId", "a survey has no fallback: leave out sendingMode and maxSmsParts").into()
            )
        }
        Some(_) => (None, Map::new(), Vec::new()),
        None => content(&state, me.account_id, kind, channel_id, &body, &placeholders).await?,
    };
    fallback.extend(sending_mode(kind, body.sending_mode.as_deref(), text.as_deref())?);
    if let (ChannelKind::Rcs, Some(parts)) = (kind, body.max_sms_parts) {
        match fallback.iter_mut().find(|step| step.kind == ChannelKind::Sms.as_str()) {
            Some(step) => step.max_sms_parts = Some(parts),
            None => fallback.push(FallbackStep {
                kind: ChannelKind::Sms.as_str().to_owned(),
                channel: None,
                text: plain_text(text.as_deref(), &payload),
                max_sms_parts: Some(parts),
            }),
        }
    }
    let send_at = body.scheduled_date.as_deref().map(scheduled_date).transpose()?;
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
    let message = Outgoing {
        text: text.clone(),
        simulation: body.simulation,
        payload,
        customer_message_id: Some(message_id.clone()),
        extra,
        send_at,
        fallback,
        ..Default::default()
    };
    let started = match body.survey_id {
        Some(survey) => surveys::send_to(&state, me.account_id, channel_id, &destination, survey, message).await,
        None => {
            let new = NewConversation { channel_id, to: destination, name: None, subject: None, message };
            outbound::start(&state, me.account_id, new).await
        }
    };
    let mut text = text;
    let (accepted, reasons, simulation) = match started {
        Ok((_, message)) => {
            text = message.text.clone().or(text);
            (true, Vec::new(), message.simulated)
        }
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

/// Cancel a scheduled send.
///
/// By your `messageId`, before its `scheduledDate`: it is not sent and its credit is released
/// (its status becomes `ERROR`, "canceled"). 404 when no scheduled message has the id.
#[utoipa::path(delete, path = "/api/message-server/messages/{id}", operation_id = "qlaraCancelScheduled",
    tag = "Qlara sends", params(("id" = String, Path, description = "Your `messageId`.")),
    responses((status = 204), (status = 404), (status = 409)))]
async fn cancel(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Segment(id): Segment,
) -> Answer<axum::http::StatusCode> {
    for kind in [ChannelKind::Whatsapp, ChannelKind::Sms, ChannelKind::Rcs] {
        let found =
            messages::find_by_customer_ids(&state, me.account_id, kind.as_str(), std::slice::from_ref(&id)).await?;
        if let Some((_, row)) = found.into_iter().next() {
            outbound::cancel_scheduled(&state, me.account_id, row.conversation_id, row.id).await?;
            return Ok(axum::http::StatusCode::NO_CONTENT);
        }
    }
    Err(Error::NotFound("scheduled message").into())
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
