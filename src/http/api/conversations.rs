//! `/api/v1/conversations`

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::domain::principal::Principal;
use crate::domain::time::parse_timestamp;
use crate::domain::{ConversationStatus, EscalationReason, Handler, RequestKey};
use crate::error::{Error, Problem, Result};
use crate::http::extract::{check_query_nul, double_option, ApiJson, ApiPath, ApiQuery};
use crate::service::conversations::{
    self, ConversationPage, ConversationPatch, ConversationQuery, MessagePage, MessageQuery,
};
use crate::service::escalations::{self, Escalation, EscalationPatch, EscalationRequest};
use crate::service::messages;
use crate::service::outbound::{self, FallbackStep, NewConversation, Outgoing};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;

fn parse_bool(field: &str, value: &str) -> Result<bool> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(Error::field(field, "must be true or false")),
    }
}

fn parse_int(field: &str, value: &str) -> Result<i64> {
    value.trim().parse().map_err(|_| Error::field(field, "must be an integer"))
}

/// Validates a page size against the 1–100 range (default 25).
pub fn page_size(limit: Option<i64>) -> Result<i64> {
    match limit {
        None => Ok(25),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(Error::field("limit", "must be between 1 and 100")),
    }
}

/// Parses a `+field` / `-field` / `field` order into the field and whether it is descending.
pub fn parse_order(order: &str) -> (String, bool) {
    match order.strip_prefix('+') {
        Some(field) => (field.to_owned(), false),
        None => (order.trim_start_matches('-').to_owned(), order.starts_with('-') || !order.starts_with('+')),
    }
}

fn parse_list_query(raw: Option<&str>, me: &Principal) -> Result<ConversationQuery> {
    check_query_nul(raw.unwrap_or_default())?;
    let mut query = ConversationQuery {
        archived: Some(false),
        sort: "last_message_at".into(),
        descending: true,
        limit: 25,
        ..Default::default()
    };
    let mut limit = None;
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = value.trim().to_owned();
        match name.as_ref() {
            "channel_id" | "channel_ids" => {
                for id in value.split(',').filter(|s| !s.is_empty()) {
                    query.channel_ids.push(parse_int("channel_id", id)?);
                }
            }
            "status" => {
                for status in value.split(',').filter(|s| !s.is_empty()) {
                    query.statuses.push(ConversationStatus::parse(status).ok_or_else(|| {
                        Error::field(
                            "status",
                            format!("unknown status `{status}`; use {}", ConversationStatus::accepted()),
                        )
                    })?);
                }
            }
            "archived" => query.archived = if value == "any" { None } else { Some(parse_bool("archived", &value)?) },
            "unread" | "unread_only" => query.unread_only = parse_bool("unread", &value)?,
            "assignee_id" => {
                query.assignee_id = Some(match value.as_str() {
                    "none" => None,
                    "me" => Some(me.operator_id().ok_or_else(|| {
                        Error::field("assignee_id", "`me` needs an operator session; API keys name the operator id")
                    })?),
                    id => Some(parse_int("assignee_id", id)?),
                })
            }
            "contact_id" => query.contact_id = Some(parse_int("contact_id", &value)?),
            "handler" => {
                query.handler = Some(Handler::parse(&value).ok_or_else(|| {
                    Error::field("handler", format!("unknown handler `{value}`; use {}", Handler::accepted()))
                })?)
            }
            "waiting" => query.waiting = parse_bool("waiting", &value)?,
            "negative_feedback" => query.negative_feedback = parse_bool("negative_feedback", &value)?,
            "tag" => query.tag = Some(value.to_lowercase()),
            "q" => query.text = Some(value),
            "updated_after" => {
                query.updated_after = Some(
                    parse_timestamp(&value)
                        .ok_or_else(|| Error::field("updated_after", "must be an RFC 3339 time or a date"))?,
                )
            }
            "updated_before" => {
                query.updated_before = Some(
                    parse_timestamp(&value)
                        .ok_or_else(|| Error::field("updated_before", "must be an RFC 3339 time or a date"))?,
                )
            }
            "order" | "sort" => (query.sort, query.descending) = parse_order(&value),
            "limit" => limit = Some(parse_int("limit", &value)?),
            "cursor" => query.cursor = Some(value),
            other => match other.strip_prefix("meta[").and_then(|k| k.strip_suffix(']')) {
                Some(key) if !key.is_empty() => query.meta.push((key.to_owned(), value)),
                _ => return Err(Error::field(other, "unknown query parameter")),
            },
        }
    }
    query.limit = page_size(limit)?;
    Ok(query)
}

/// List conversations.
#[utoipa::path(get, path = "/api/v1/conversations", operation_id = "listConversations", tag = "conversations",
    params(
        ("channel_id" = Option<String>, Query, description = "Channel ids, comma-separated or repeated."),
        ("status" = Option<String>, Query, description = "Statuses, comma-separated: open, pending, resolved, closed."),
        ("archived" = Option<String>, Query, description = "`false` (default) hides archived conversations, `true` shows only them, `any` both."),
        ("unread" = Option<bool>, Query, description = "`true` keeps only conversations with unread messages."),
        ("assignee_id" = Option<String>, Query, description = "Operator id, `none` for unassigned, or `me` (the logged-in operator of a web UI session)."),
        ("contact_id" = Option<i64>, Query, description = "Only this contact's conversations."),
        ("handler" = Option<String>, Query, description = "`virtual_agent` (a virtual agent answers) or `human` (people do)."),
        ("waiting" = Option<bool>, Query, description = "`true` keeps only conversations waiting for a person (escalated or new, nobody assigned yet), oldest wait first within the order."),
        ("negative_feedback" = Option<bool>, Query, description = "`true` keeps only conversations where a virtual agent's answer got a thumbs down."),
        ("tag" = Option<String>, Query, description = "Only conversations with this tag."),
        ("q" = Option<String>, Query, description = "Search: conversations whose contact's name, phone or email contains the text (3 characters or more), or with a message holding all its words; case and accents are ignored. Each side looks at its newest 1,000 matches."),
        ("updated_after" = Option<String>, Query, description = "RFC 3339 time or date: updated after it."),
        ("updated_before" = Option<String>, Query, description = "RFC 3339 time or date: updated before it."),
        ("meta[key]" = Option<String>, Query, description = "Exact match on a meta entry (repeatable, e.g. `meta[order]=ORD-1`)."),
        ("order" = Option<String>, Query, description = "Sort field with `-` (descending, default) or `+`: last_message_at, created_at, updated_at, unread_count, id."),
        ("limit" = Option<i64>, Query, description = "Page size, 1 to 100 (default 25)."),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page."),
    ),
    responses((status = 200, body = ConversationPage), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ConversationPage>> {
    let query = parse_list_query(raw.as_deref(), &me)?;
    Ok(Json(conversations::list(&state, me.account_id, &query).await?))
}

/// Get a conversation.
#[utoipa::path(get, path = "/api/v1/conversations/{id}", operation_id = "getConversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(conversations::get(&state, me.account_id, id).await?))
}

/// Changes to a conversation; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchBody {
    status: Option<ConversationStatus>,
    archived: Option<bool>,
    /// Replaces the tags.
    tags: Option<Vec<String>>,
    /// Merged into meta; `null` removes a key.
    #[schema(value_type = Option<Object>)]
    meta: Option<Map<String, Value>>,
    subject: Option<String>,
    /// Operator id, or `null` to unassign.
    #[serde(default, deserialize_with = "double_option")]
    assignee_id: Option<Option<i64>>,
    /// Renames the contact.
    contact_name: Option<String>,
}

/// Update a conversation.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}", operation_id = "updateConversation", tag = "conversations", request_body = PatchBody,
    responses((status = 200, body = Conversation), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PatchBody>,
) -> Result<Json<Conversation>> {
    let patch = ConversationPatch {
        status: body.status,
        archived: body.archived,
        tags: body.tags,
        meta: body.meta,
        subject: body.subject,
        assignee_id: body.assignee_id,
        contact_name: body.contact_name,
    };
    Ok(Json(conversations::update(&state, me.account_id, id, patch).await?))
}

/// Mark every message read.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/read", operation_id = "readConversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn read(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(conversations::mark_read(&state, me.account_id, id).await?))
}

/// Whether an operator is typing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TypingBody {
    /// Typing now (`true`), or stopped.
    on: bool,
}

/// Whether the customer is shown the typing indicator.
#[derive(Debug, Serialize, ToSchema)]
pub struct TypingAnswer {
    /// The network shows typing and the channel is live: the customer is told.
    shown: bool,
}

/// Show the customer that an operator is typing, or stopped (on networks that show it, such as
/// Messenger and Instagram; elsewhere nothing happens).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/typing", operation_id = "typingInConversation", tag = "conversations",
    request_body = TypingBody,
    responses((status = 200, body = TypingAnswer), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn typing(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TypingBody>,
) -> Result<Json<TypingAnswer>> {
    Ok(Json(TypingAnswer { shown: conversations::typing(&state, me.account_id, id, body.on).await? }))
}

/// Archive: hide from the default inbox until the contact writes again.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/archive", operation_id = "archiveConversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn archive(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(conversations::set_archived(&state, me.account_id, id, true).await?))
}

/// Restore an archived conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/unarchive", operation_id = "unarchiveConversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn unarchive(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(conversations::set_archived(&state, me.account_id, id, false).await?))
}

/// Close: the contact's next message starts a new conversation.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/close", operation_id = "closeConversation", tag = "conversations",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn close(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(conversations::close(&state, me.account_id, id).await?))
}

/// Paging of a thread.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageParams {
    /// Only messages with id ≥ this.
    id_from: Option<i64>,
    /// Only messages with id ≤ this.
    id_to: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// List a conversation's messages (newest page first, oldest first within a page).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", operation_id = "listMessages", tag = "messages", params(MessageParams),
    responses((status = 200, body = MessagePage), (status = 404, body = Problem)))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<MessageParams>,
) -> Result<Json<MessagePage>> {
    let query = MessageQuery {
        id_from: params.id_from,
        id_to: params.id_to,
        cursor: params.cursor,
        limit: page_size(params.limit)?,
    };
    Ok(Json(conversations::messages(&state, me.account_id, id, &query).await?))
}

/// Delete a message: its text, media and payload are gone, it stays in the thread as deleted.
/// Deleting it again changes nothing.
#[utoipa::path(delete, path = "/api/v1/conversations/{id}/messages/{message_id}", operation_id = "deleteMessage", tag = "messages",
    params(("id" = i64, Path, description = "Conversation id."), ("message_id" = i64, Path, description = "Message id.")),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete_message(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, message_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode> {
    messages::delete(&state, me.account_id, id, message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A message to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    text: Option<String>,
    /// Keys of uploaded media to attach.
    #[serde(default)]
    media_keys: Vec<String>,
    /// Store as a private note for operators; never sent.
    #[serde(default)]
    private: bool,
    /// Run the whole flow without calling the provider.
    #[serde(default)]
    simulation: bool,
    /// The operator writing, if any.
    operator_id: Option<i64>,
    /// Structured content in Meta's message object shapes, under one key naming its type:
    /// `location`, `contacts`, `interactive`, `template`, `reaction` (`message_id` is a Parley
    /// message id), or `image`/`video`/`audio`/`document`/`sticker` with an uploaded media `id` or
    /// a `link`. `text` becomes the caption of media.
    #[serde(default)]
    #[schema(value_type = Object)]
    payload: Map<String, Value>,
    /// The id of the message this one replies to. When it is a public comment (Instagram,
    /// Facebook), the message answers the comment: publicly under it, or privately with
    /// `private_reply`.
    reply_to: Option<i64>,
    /// Answer the comment `reply_to` names with one direct message to its author (once per
    /// comment, within 7 days of it) instead of publicly.
    #[serde(default)]
    private_reply: bool,
    /// Send it at this time (RFC 3339) instead of now: it waits as `scheduled` and can be
    /// canceled until then.
    send_at: Option<String>,
    /// Where it goes instead if it fails, in order: `[{"kind": "sms", "text": "…",
    /// "max_sms_parts"?: 2, "channel"?: "…"}]`.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    fallback: Vec<FallbackStep>,
    /// Email only: addresses in copy (at most 20).
    #[serde(default)]
    cc: Vec<String>,
    /// Email only: addresses in hidden copy (at most 20).
    #[serde(default)]
    bcc: Vec<String>,
}

/// A `send_at` time in Unix ms.
fn send_at(value: Option<&str>) -> Result<Option<i64>> {
    value
        .map(|text| parse_timestamp(text).ok_or_else(|| Error::field("send_at", "must be an RFC 3339 time")))
        .transpose()
}

impl SendBody {
    fn into_outgoing(self) -> Result<Outgoing> {
        Ok(Outgoing {
            send_at: send_at(self.send_at.as_deref())?,
            fallback: self.fallback,
            text: self.text,
            media_keys: self.media_keys,
            private: self.private,
            simulation: self.simulation,
            operator_id: self.operator_id,
            payload: self.payload,
            reply_to: self.reply_to,
            private_reply: self.private_reply,
            cc: self.cc,
            bcc: self.bcc,
            ..Default::default()
        })
    }
}

/// Send a message (queued; delivery is reported through events).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", operation_id = "sendMessage", tag = "messages", request_body = SendBody,
    responses((status = 202, body = Message), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, description = "Invalid message, `reply_window_expired` outside the channel's reply window, or `opted_out` when the customer opted out of the channel (texted STOP)", body = Problem)))]
pub async fn send(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    request_key: Option<Extension<RequestKey>>,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<(StatusCode, Json<Message>)> {
    if let Some(operator) = body.operator_id {
        crate::store::accounts::find_operator(state.db.reader(), me.account_id, operator)
            .await?
            .ok_or_else(|| Error::field("operator_id", "no such operator in this account"))?;
    }
    let mut outgoing = body.into_outgoing()?;
    outgoing.operator_id = outgoing.operator_id.or(me.operator_id());
    outgoing.virtual_agent_id = me.virtual_agent_id;
    if outgoing.virtual_agent_id.is_some() {
        outgoing.operator_id = None;
    }
    outgoing.request_key = request_key.map(|Extension(key)| key);
    let message = outbound::send(&state, me.account_id, id, outgoing).await?;
    Ok((StatusCode::ACCEPTED, Json(message)))
}

/// Cancel a scheduled message before it goes out: it fails as `canceled` and its reserved credit
/// is released. 409 `not_scheduled` once it has gone out.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages/{message_id}/cancel", operation_id = "cancelScheduledMessage", tag = "messages",
    params(("id" = i64, Path, description = "Conversation id."), ("message_id" = i64, Path, description = "Message id.")),
    responses((status = 200, body = Message), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, message_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Message>> {
    Ok(Json(outbound::cancel_scheduled(&state, me.account_id, id, message_id).await?))
}

/// A conversation started by the business.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    channel_id: i64,
    /// The contact's address on the channel (E.164 phone on WhatsApp, SMS and RCS).
    to: String,
    /// The contact's name, for a new contact.
    name: Option<String>,
    subject: Option<String>,
    text: Option<String>,
    #[serde(default)]
    media_keys: Vec<String>,
    #[serde(default)]
    simulation: bool,
    /// Structured content, as on sends (a template opens a conversation on WhatsApp).
    #[serde(default)]
    #[schema(value_type = Object)]
    payload: Map<String, Value>,
    /// Send the first message at this time (RFC 3339), as on sends.
    send_at: Option<String>,
    /// Where the first message goes instead if it fails, as on sends.
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    fallback: Vec<FallbackStep>,
    /// Email only: addresses in copy, as on sends.
    #[serde(default)]
    cc: Vec<String>,
    /// Email only: addresses in hidden copy, as on sends.
    #[serde(default)]
    bcc: Vec<String>,
}

/// The started conversation and its first message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Started {
    conversation: Conversation,
    message: Message,
}

/// Start a conversation with a first message.
#[utoipa::path(post, path = "/api/v1/conversations", operation_id = "startConversation", tag = "conversations", request_body = StartBody,
    responses((status = 201, body = Started), (status = 404, body = Problem),
        (status = 422, description = "Invalid message, or `opted_out` when the customer opted out of the channel (texted STOP)", body = Problem)))]
pub async fn start(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    request_key: Option<Extension<RequestKey>>,
    ApiJson(body): ApiJson<StartBody>,
) -> Result<(StatusCode, Json<Started>)> {
    let new = NewConversation {
        channel_id: body.channel_id,
        to: body.to,
        name: body.name,
        subject: body.subject,
        message: Outgoing {
            text: body.text,
            media_keys: body.media_keys,
            simulation: body.simulation,
            payload: body.payload,
            request_key: request_key.map(|Extension(key)| key),
            send_at: send_at(body.send_at.as_deref())?,
            fallback: body.fallback,
            cc: body.cc,
            bcc: body.bcc,
            ..Default::default()
        },
    };
    let (conversation, message) = outbound::start(&state, me.account_id, new).await?;
    Ok((StatusCode::CREATED, Json(Started { conversation, message })))
}

/// Escalate a conversation to people.
///
/// `reason` defaults to `by_end_user_ask` (`by_virtual_agent` with a virtual agent's key). The
/// virtual agent stops at once, tells the customer a person will follow (in their language)
/// and the conversation waits in its channel's team queue (routed at once to a free operator).
/// Records `conversation.escalated`. Without `force` only a conversation a virtual agent handles
/// can be escalated.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/escalations", operation_id = "escalateConversation", tag = "virtual agents",
    request_body = EscalationRequest,
    responses((status = 201, body = Escalation), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn escalate(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(mut body): ApiJson<EscalationRequest>,
) -> Result<(StatusCode, Json<Escalation>)> {
    if me.virtual_agent_id.is_some() {
        body.reason = body.reason.or(Some(EscalationReason::ByVirtualAgent));
    }
    Ok((StatusCode::CREATED, Json(escalations::escalate(&state, me.account_id, id, body).await?)))
}

/// A conversation's escalations.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscalationList {
    data: Vec<Escalation>,
}

/// List a conversation's escalations, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/escalations", operation_id = "listEscalations", tag = "virtual agents",
    responses((status = 200, body = EscalationList), (status = 404, body = Problem)))]
pub async fn escalations_of(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<EscalationList>> {
    Ok(Json(EscalationList { data: escalations::list(&state, me.account_id, id).await? }))
}

/// Deflect or cancel an escalation.
///
/// A `deflection_channel` offers the customer another channel instead of waiting (`deflecting`);
/// `status` then moves it to `deflected` or `canceled`.
#[utoipa::path(patch, path = "/api/v1/conversations/{id}/escalations/{escalation_id}", operation_id = "updateEscalation", tag = "virtual agents",
    request_body = EscalationPatch,
    responses((status = 200, body = Escalation), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update_escalation(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, escalation_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<EscalationPatch>,
) -> Result<Json<Escalation>> {
    Ok(Json(escalations::update(&state, me.account_id, id, escalation_id, body).await?))
}

/// Take a conversation over from its virtual agent.
///
/// People handle it from now on: the agent sends nothing more, and the logged-in operator becomes
/// its assignee when it has none.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/takeover", operation_id = "takeOverConversation", tag = "virtual agents",
    responses((status = 200, body = Conversation), (status = 404, body = Problem)))]
pub async fn take_over(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Conversation>> {
    Ok(Json(escalations::take_over(&state, me.account_id, id, me.operator_id()).await?))
}

/// Which virtual agent takes a conversation back.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandBackBody {
    /// The agent; by default the one serving the conversation's channel.
    #[serde(default)]
    virtual_agent_id: Option<i64>,
}

/// Hand a conversation (back) to a virtual agent.
///
/// The agent answers the customer's next message; the conversation has no assignee meanwhile.
/// The body may be `{}`.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/handback", operation_id = "handBackConversation", tag = "virtual agents",
    request_body = HandBackBody,
    responses((status = 200, body = Conversation), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn hand_back(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<HandBackBody>,
) -> Result<Json<Conversation>> {
    Ok(Json(escalations::hand_back(&state, me.account_id, id, body.virtual_agent_id).await?))
}

/// Get what an integration added to a conversation through the chat API: its language, the
/// context given to the virtual agent and the business's custom data.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/chat", operation_id = "getChatDetails", tag = "conversations",
    responses((status = 200, body = crate::service::chats::ChatDetails), (status = 404, body = Problem)))]
pub async fn chat_details(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<crate::service::chats::ChatDetails>> {
    Ok(Json(crate::service::chats::details(&state, me.account_id, id).await?))
}
