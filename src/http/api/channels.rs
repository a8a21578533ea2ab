//! `/api/v1/channels` and the generic inbound door `/api/v1/channels/{id}/inbound`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::channels::settings::Field;
use crate::channels::{adapter, capabilities, settings_schema, Capabilities};
use crate::domain::inbound::InboundMessage;
use crate::domain::principal::Principal;
use crate::domain::{ChannelKind, MessageType, RequestKey, SurveySend};
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::service::channels::{self, ChannelInput};
use crate::service::mailboxes::{self, MailFailure};
use crate::service::views::{Channel, Conversation, Message};
use crate::service::{calls, inbound};
use crate::state::AppState;
use crate::store;

/// A channel to create or change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelBody {
    /// whatsapp, rcs, messenger, instagram, sms, email, webchat or api (required on create).
    kind: Option<String>,
    name: Option<String>,
    /// The business's address: E.164 number on WhatsApp, SMS and RCS.
    address: Option<String>,
    /// Never call the provider; simulate delivery.
    simulation: Option<bool>,
    /// Provider settings, as `GET /api/v1/channel-kinds` describes them for each network (secrets
    /// are never returned; required ones unless `simulation` is true). One channel per provider id
    /// (WhatsApp `phone_number_id`, Messenger `page_id`, Instagram `instagram_account_id`). On
    /// PATCH the given keys replace the stored ones and `null` removes one.
    #[schema(value_type = Option<Object>)]
    settings: Option<Value>,
    /// When a satisfaction survey goes out by itself: `off` (default), `on_resolve` (when a
    /// conversation is resolved or closed) or `on_close`; once per conversation.
    survey_send: Option<SurveySend>,
    /// Which survey goes out; `null` for the account's first.
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    #[schema(value_type = Option<i64>)]
    survey_id: Option<Option<i64>>,
}

impl From<ChannelBody> for ChannelInput {
    fn from(body: ChannelBody) -> Self {
        ChannelInput {
            kind: body.kind,
            name: body.name,
            address: body.address,
            simulation: body.simulation,
            settings: body.settings,
            survey_send: body.survey_send,
            survey_id: body.survey_id,
        }
    }
}

/// A list of channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelList {
    data: Vec<Channel>,
}

/// List channels.
#[utoipa::path(get, path = "/api/v1/channels", operation_id = "listChannels", tag = "channels", responses((status = 200, body = ChannelList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<ChannelList>> {
    Ok(Json(ChannelList { data: channels::list(&state, me.account_id).await? }))
}

/// A network Parley knows, as the channel settings form needs it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelKindInfo {
    /// whatsapp, rcs, messenger, instagram, sms, email, webchat or api.
    kind: &'static str,
    /// The path of the provider's webhook URL under `/hooks/` (`{channel}` stands for the
    /// channel's id); `null` for networks without one (the web chat, the API).
    webhook_path: Option<&'static str>,
    capabilities: Capabilities,
    /// The provider settings a channel of this kind has (secrets are write-only).
    settings: &'static [Field],
}

/// The networks and their settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelKindList {
    data: Vec<ChannelKindInfo>,
}

/// List the networks a channel can be of, with each one's capabilities and settings schema.
#[utoipa::path(get, path = "/api/v1/channel-kinds", operation_id = "listChannelKinds", tag = "channels",
    responses((status = 200, body = ChannelKindList)))]
pub async fn kinds() -> Json<ChannelKindList> {
    let data = ChannelKind::ALL
        .iter()
        .map(|&kind| ChannelKindInfo {
            kind: kind.as_str(),
            webhook_path: adapter(kind).and_then(|adapter| adapter.hook_path()),
            capabilities: capabilities(kind),
            settings: settings_schema(kind),
        })
        .collect();
    Json(ChannelKindList { data })
}

/// Add a channel.
#[utoipa::path(post, path = "/api/v1/channels", operation_id = "createChannel", tag = "channels", request_body = ChannelBody,
    responses((status = 201, body = Channel), (status = 409, description = "Another channel has this provider id", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<(StatusCode, Json<Channel>)> {
    Ok((StatusCode::CREATED, Json(channels::create(&state, me.account_id, body.into()).await?)))
}

/// Get a channel.
#[utoipa::path(get, path = "/api/v1/channels/{id}", operation_id = "getChannel", tag = "channels", responses((status = 200, body = Channel), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Channel>> {
    Ok(Json(channels::get(&state, me.account_id, id).await?))
}

/// The mails of an email channel that could not be read.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailFailureList {
    pub data: Vec<MailFailure>,
}

/// List an email channel's failed imports.
///
/// Mails its IMAP folder held that could not be read (no sender, say), newest first, at most 100:
/// each was recorded once with the reason and its raw bytes, and is never fetched again.
#[utoipa::path(get, path = "/api/v1/channels/{id}/mail-failures", operation_id = "listMailFailures", tag = "channels",
    responses((status = 200, body = MailFailureList), (status = 404, body = Problem)))]
pub async fn mail_failures(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MailFailureList>> {
    Ok(Json(MailFailureList { data: mailboxes::failures(&state, me.account_id, id).await? }))
}

/// Change a channel.
#[utoipa::path(patch, path = "/api/v1/channels/{id}", operation_id = "updateChannel", tag = "channels", request_body = ChannelBody,
    responses((status = 200, body = Channel), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<Json<Channel>> {
    Ok(Json(channels::update(&state, me.account_id, id, body.into()).await?))
}

/// Remove a channel (its conversations stay readable).
#[utoipa::path(delete, path = "/api/v1/channels/{id}", operation_id = "deleteChannel", tag = "channels", responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    channels::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A customer message delivered to a channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboundBody {
    /// The sender's address: E.164 on SMS and RCS; E.164 or a business-scoped user id
    /// (`US.1349…`) on WhatsApp.
    from: String,
    /// The sender's profile name.
    name: Option<String>,
    /// Message type (default text).
    #[serde(rename = "type")]
    kind: Option<MessageType>,
    text: Option<String>,
    /// The provider's message id: a repeat with the same id creates nothing.
    provider_message_id: Option<String>,
    /// Key of an uploaded media file.
    media_key: Option<String>,
    /// Structured content (location, buttons…).
    #[schema(value_type = Option<Object>)]
    payload: Option<Value>,
}

/// The stored message and its conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InboundResult {
    message: Message,
    conversation: Conversation,
    /// True when the provider message id was already known and nothing was created.
    duplicate: bool,
}

/// A call a telephony system (a PBX, a contact-center platform) reports.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    /// `inbound` (the customer called; default) or `outbound` (the business called them).
    direction: Option<String>,
    /// The calling number, E.164.
    from: String,
    /// The called number, E.164.
    to: String,
    /// When it started ringing (RFC 3339; default now).
    started_at: Option<String>,
    /// How long the conversation lasted (0 for a missed call).
    #[serde(default)]
    duration_seconds: u32,
    /// `answered`, `missed` or `voicemail`.
    outcome: String,
    /// Media key of the recording, uploaded first (`POST /api/v1/media`).
    recording_media_key: Option<String>,
    /// What was said.
    transcript: Option<String>,
    /// The operator who took the call.
    operator_id: Option<i64>,
    /// The customer's name, for a number not known yet.
    customer_name: Option<String>,
    /// The telephony system's id of the call: a repeat with the same id records nothing.
    external_id: Option<String>,
}

/// Record a call on a voice channel (201; 200 for a repeat of a known `external_id`).
///
/// The call becomes a message of type `call` in the customer's conversation on the channel
/// (`payload.call` holds its details, `media_keys` the recording); the customer is the contact
/// with that phone number on any channel, or a new one.
#[utoipa::path(post, path = "/api/v1/channels/{id}/calls", operation_id = "recordCall", tag = "channels", request_body = CallBody,
    responses((status = 201, body = InboundResult), (status = 200, description = "Repeat: the first result", body = InboundResult),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn call(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    request_key: Option<Extension<RequestKey>>,
    ApiJson(body): ApiJson<CallBody>,
) -> Result<(StatusCode, Json<InboundResult>)> {
    let call = calls::NewCall {
        direction: body.direction,
        from: body.from,
        to: body.to,
        started_at: body.started_at,
        duration_seconds: body.duration_seconds,
        outcome: body.outcome,
        recording_media_key: body.recording_media_key,
        transcript: body.transcript,
        operator_id: body.operator_id,
        customer_name: body.customer_name,
        external_id: body.external_id,
    };
    let result = calls::record(&state, me.account_id, id, call, request_key.map(|Extension(key)| key)).await?;
    let status = if result.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(InboundResult { message: result.message, conversation: result.conversation, duplicate: result.duplicate }),
    ))
}

/// Deliver a customer message to a channel (201; 200 for a repeat of a known provider message id).
#[utoipa::path(post, path = "/api/v1/channels/{id}/inbound", operation_id = "deliverInbound", tag = "channels", request_body = InboundBody,
    responses((status = 201, body = InboundResult), (status = 200, description = "Repeat: the first result", body = InboundResult),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn inbound(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    request_key: Option<Extension<RequestKey>>,
    ApiJson(body): ApiJson<InboundBody>,
) -> Result<(StatusCode, Json<InboundResult>)> {
    let channel =
        store::channels::find_channel(state.db.reader(), me.account_id, id).await?.ok_or(Error::NotFound("channel"))?;
    let kind = body.kind.unwrap_or(if body.media_key.is_some() { MessageType::Image } else { MessageType::Text });
    let mut message = InboundMessage::new(body.from, kind);
    message.name = body.name;
    message.text = body.text;
    message.provider_message_id = body.provider_message_id.filter(|id| !id.is_empty());
    message.media_keys = body.media_key.into_iter().collect();
    message.request_key = request_key.map(|Extension(key)| key);
    if let Some(payload) = body.payload {
        message.payload = payload;
    }
    let mut results = inbound::ingest(&state, &channel, vec![message]).await?;
    let result = results.pop().ok_or_else(|| anyhow::anyhow!("ingestion returned no result"))?;
    let status = if result.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    Ok((
        status,
        Json(InboundResult { message: result.message, conversation: result.conversation, duplicate: result.duplicate }),
    ))
}
