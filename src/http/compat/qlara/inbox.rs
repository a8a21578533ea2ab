//! `/inbox/...`: conversations, threads, replies, read/archive and assignment in the seed
//! platform's field names, over `service::conversations` and `service::outbound`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Answer, Body, Caller, ChatId, Failure};
use crate::domain::time::parse_timestamp;
use crate::error::Error;
use crate::http::extract::check_query_nul;
use crate::service::conversations::{self, ConversationPatch, ConversationQuery, MessageQuery};
use crate::service::outbound::{self, Outgoing};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;

/// Most conversations (or messages) one list answers with; the seed documents no paging.
const MAX_ITEMS: i64 = 1000;

/// A conversation as in seed 000 Step 3.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraConversation)]
pub struct ConversationItem {
    id: i64,
    has_unread_messages: bool,
    /// The contact's name.
    user_name: Option<String>,
    /// The contact's phone.
    phone_number: Option<String>,
    unread_count: i64,
    last_message_text: Option<String>,
    last_message_date: String,
    /// The channel kind: `WHATSAPP`, `SMS`, `RCS`…
    social_media: String,
    /// The channel's name.
    company_profile_name: String,
    /// The channel's address.
    company_phone_number: String,
    /// When the WhatsApp 24-hour window ends; `null` on channels without one.
    whatsapp_window_expire: Option<String>,
}

impl From<&Conversation> for ConversationItem {
    fn from(c: &Conversation) -> Self {
        ConversationItem {
            id: c.id,
            has_unread_messages: c.unread_count > 0,
            user_name: c.contact.name.clone(),
            phone_number: c.contact.phone.clone(),
            unread_count: c.unread_count,
            last_message_text: c.last_message_preview.clone(),
            last_message_date: c.last_message_at.clone(),
            social_media: c.channel.kind.to_uppercase(),
            company_profile_name: c.channel.name.clone(),
            company_phone_number: c.channel.address.clone(),
            whatsapp_window_expire: c.window_expires_at.clone(),
        }
    }
}

/// One conversation: the list's fields with its assignee, archived flag and status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraConversationDetail)]
pub struct ConversationDetail {
    #[serde(flatten)]
    conversation: ConversationItem,
    /// The operator in charge (`userId` of `assignable-users`), or `null`.
    assignee_id: Option<i64>,
    archived: bool,
    /// `OPEN`, `PENDING`, `RESOLVED` or `CLOSED`.
    status: String,
}

/// A file attached to a message.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraAttachment)]
pub struct Attachment {
    media_key: String,
    /// The message type: `IMAGE`, `DOCUMENT`…
    #[serde(rename = "type")]
    kind: String,
    /// Where to ask for a download link.
    url: String,
}

/// A message as in seed 000 Step 4.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraMessage)]
pub struct ThreadMessage {
    id: i64,
    text: Option<String>,
    /// Inbound: an operator has read it; outbound: the customer has.
    is_read: bool,
    /// `true` for the customer's messages.
    is_user_reply: bool,
    created_at: String,
    attachments: Vec<Attachment>,
    /// `DELIVERED` for the customer's messages; for replies `QUEUED`, `SENT`, `DELIVERED`, `READ` or
    /// `FAILED`; `null` for private notes.
    status: Option<String>,
}

impl From<&Message> for ThreadMessage {
    fn from(m: &Message) -> Self {
        let inbound = m.direction == "inbound";
        let status = if inbound { Some("DELIVERED".to_owned()) } else { m.status.as_deref().map(str::to_uppercase) };
        let attachments = m
            .media_keys
            .iter()
            .map(|key| Attachment {
                media_key: key.clone(),
                kind: m.kind.to_uppercase(),
                url: format!("/api/files/{key}"),
            })
            .collect();
        ThreadMessage {
            id: m.id,
            text: m.text.clone(),
            is_read: if inbound { m.read } else { m.status.as_deref() == Some("read") },
            is_user_reply: inbound,
            created_at: m.created_at.clone(),
            attachments,
            status,
        }
    }
}

/// The contact a thread is with.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraProfile)]
pub struct Profile {
    name: Option<String>,
    phone_number: Option<String>,
}

/// A conversation's thread, oldest message first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = QlaraThread)]
pub struct Thread {
    profile: Profile,
    messages: Vec<ThreadMessage>,
}

/// An operator conversations can be assigned to.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraAssignableUser)]
pub struct AssignableUser {
    user_id: i64,
    name: String,
    email: String,
    /// `ADMIN` or `AGENT`.
    role: String,
    avatar_url: Option<String>,
}

fn parse_flag(name: &str, value: &str) -> Answer<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" | "" => Ok(false),
        _ => Err(Failure::bad_request(format!("{name} must be true or false"))),
    }
}

/// `orderBy` field names and the native sort columns they stand for.
const ORDER_FIELDS: &[(&str, &str)] = &[
    ("lastMessageDate", "last_message_at"),
    ("createdAt", "created_at"),
    ("createDate", "created_at"),
    ("updatedAt", "updated_at"),
    ("unreadCount", "unread_count"),
    ("id", "id"),
];

fn parse_list_query(raw: Option<&str>) -> Answer<ConversationQuery> {
    let mut query = ConversationQuery {
        archived: Some(false),
        sort: "last_message_at".into(),
        descending: true,
        limit: MAX_ITEMS,
        ..Default::default()
    };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let value = value.trim();
        match name.as_ref() {
            "channelIds" => {
                for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let id = item.rsplit_once('-').map_or(item, |(_, id)| id);
                    let id = id.parse::<i64>().map_err(|_| {
                        Failure::bad_request(format!("channelIds: `{item}` is not a channel id like WHATSAPP-123"))
                    })?;
                    query.channel_ids.push(id);
                }
            }
            "dateFrom" => {
                query.updated_after = Some(
                    parse_timestamp(value)
                        .ok_or_else(|| Failure::bad_request("dateFrom must be an ISO-8601 date or date-time"))?,
                )
            }
            "unreadOnly" => query.unread_only = parse_flag("unreadOnly", value)?,
            "orderBy" => {
                let (field, descending) = match value.strip_prefix('-') {
                    Some(field) => (field, true),
                    None => (value.strip_prefix('+').unwrap_or(value), false),
                };
                let column =
                    ORDER_FIELDS.iter().find(|(name, _)| *name == field).map(|(_, c)| *c).ok_or_else(|| {
                        let names: Vec<&str> = ORDER_FIELDS.iter().map(|(n, _)| *n).collect();
                        Failure::bad_request(format!(
                            "orderBy: unknown field `{field}`; use one of {}",
                            names.join(", ")
                        ))
                    })?;
                query.sort = column.to_owned();
                query.descending = descending;
            }
            _ => {}
        }
    }
    Ok(query)
}

/// List conversations.
///
/// Seed 000 Step 3: a bare array of at most 1000 conversations, archived ones left out.
#[utoipa::path(get, path = "/api/partner-gateway/v1/inbox/conversations", operation_id = "qlaraListConversations",
    tag = "Qlara inbox",
    params(
        ("channelIds" = Option<String>, Query, description = "Comma-separated channel ids like `WHATSAPP-3,SMS-4` (a bare id works too).", example = "WHATSAPP-1"),
        ("dateFrom" = Option<String>, Query, description = "ISO-8601 date or date-time: conversations updated after it."),
        ("orderBy" = Option<String>, Query, description = "`-` (descending) or `+` and one of lastMessageDate (default `-lastMessageDate`), createdAt, updatedAt, unreadCount, id."),
        ("unreadOnly" = Option<bool>, Query, description = "`true`: only conversations with unread messages."),
    ),
    responses((status = 200, body = Vec<ConversationItem>)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Answer<Json<Vec<ConversationItem>>> {
    check_query_nul(raw.as_deref().unwrap_or_default())?;
    let query = parse_list_query(raw.as_deref())?;
    let page = conversations::list(&state, me.account_id, &query).await?;
    Ok(Json(page.data.iter().map(ConversationItem::from).collect()))
}

fn not_found(error: Error) -> Failure {
    match error {
        Error::NotFound(_) => Failure::not_found("Conversation not found"),
        other => other.into(),
    }
}

/// Get a conversation.
///
/// The list's fields, with its assignee, archived flag and status.
#[utoipa::path(get, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}", operation_id = "qlaraGetConversation",
    tag = "Qlara inbox", responses((status = 200, body = ConversationDetail)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<ConversationDetail>> {
    let conversation = conversations::get(&state, me.account_id, id).await.map_err(not_found)?;
    Ok(Json(ConversationDetail {
        conversation: ConversationItem::from(&conversation),
        assignee_id: conversation.assignee_id,
        archived: conversation.archived,
        status: conversation.status.to_uppercase(),
    }))
}

fn parse_id(name: &str, value: &str) -> Answer<i64> {
    value.parse().map_err(|_| Failure::bad_request(format!("{name} must be an integer message id")))
}

/// Read a conversation's thread.
///
/// Seed 000 Step 4: the contact's profile and the messages, oldest first (without `idFrom` and
/// `idTo`, the newest 1000).
#[utoipa::path(get, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/messages",
    operation_id = "qlaraListMessages", tag = "Qlara inbox",
    params(
        ("idFrom" = Option<i64>, Query, description = "Smallest message id (inclusive)."),
        ("idTo" = Option<i64>, Query, description = "Largest message id (inclusive)."),
    ),
    responses((status = 200, body = Thread)))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
    RawQuery(raw): RawQuery,
) -> Answer<Json<Thread>> {
    check_query_nul(raw.as_deref().unwrap_or_default())?;
    let mut query = MessageQuery { limit: MAX_ITEMS, ..Default::default() };
    for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "idFrom" => query.id_from = Some(parse_id("idFrom", value.trim())?),
            "idTo" => query.id_to = Some(parse_id("idTo", value.trim())?),
            _ => {}
        }
    }
    let conversation = conversations::get(&state, me.account_id, id).await.map_err(not_found)?;
    let page = conversations::messages(&state, me.account_id, id, &query).await.map_err(not_found)?;
    Ok(Json(Thread {
        profile: Profile { name: conversation.contact.name, phone_number: conversation.contact.phone },
        messages: page.data.iter().map(ThreadMessage::from).collect(),
    }))
}

/// The reply body of seed 000 Step 5.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraReply)]
pub struct ReplyBody {
    /// The conversation's id (a number, or a string of one).
    #[schema(value_type = i64, example = 1042)]
    chat_id: Option<Value>,
    /// The text to send.
    #[schema(example = "Buongiorno Marco! Il suo ordine è in spedizione.")]
    message: Option<String>,
    /// Run the flow without calling the provider or spending credit.
    #[serde(default)]
    simulation: bool,
}

fn invalid_chat_id() -> Failure {
    Failure::bad_request("Invalid chatId")
}

/// Reply to a conversation.
///
/// Seed 000 Step 5: queued on the conversation's own channel, 202 with an empty body. A missing,
/// archived or closed conversation is `Invalid chatId`; a closed WhatsApp window `Window expired: …`
/// (both 400).
#[utoipa::path(post, path = "/api/partner-gateway/v1/inbox/conversations/reply", operation_id = "qlaraReply",
    tag = "Qlara inbox", request_body = ReplyBody, responses((status = 202, description = "Queued; empty body.")))]
pub async fn reply(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<ReplyBody>,
) -> Answer<StatusCode> {
    let chat_id = match &body.chat_id {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .ok_or_else(invalid_chat_id)?;
    let text =
        body.message.filter(|m| !m.trim().is_empty()).ok_or_else(|| Failure::bad_request("message is required"))?;
    let outgoing =
        Outgoing { text: Some(text), simulation: body.simulation, operator_id: me.operator_id, ..Default::default() };
    match outbound::reply_from_inbox(&state, me.account_id, chat_id, outgoing).await {
        Ok(_) => Ok(StatusCode::ACCEPTED),
        Err(Error::NotFound(_) | Error::Conflict { code: "conversation_closed" | "conversation_archived", .. }) => {
            Err(invalid_chat_id())
        }
        Err(Error::Invalid { code: "reply_window_expired", detail, .. }) => {
            Err(Failure::bad_request(format!("Window expired: {detail}")))
        }
        Err(other) => Err(other.into()),
    }
}

/// Mark a conversation read.
///
/// Seed 000 Step 6.
#[utoipa::path(patch, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/read", operation_id = "qlaraReadConversation",
    tag = "Qlara inbox", responses((status = 204, description = "Done.")))]
pub async fn read(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::mark_read(&state, me.account_id, id).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Archive a conversation.
///
/// Seed 000 Step 6. It comes back when the contact writes again.
#[utoipa::path(patch, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/archive", operation_id = "qlaraArchiveConversation",
    tag = "Qlara inbox", responses((status = 204, description = "Done.")))]
pub async fn archive(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::set_archived(&state, me.account_id, id, true).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Unarchive a conversation.
#[utoipa::path(patch, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/unarchive", operation_id = "qlaraUnarchiveConversation",
    tag = "Qlara inbox", responses((status = 204, description = "Done.")))]
pub async fn unarchive(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::set_archived(&state, me.account_id, id, false).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who to assign: an operator's `userId` from `assignable-users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraAssignee)]
pub struct AssignBody {
    #[schema(example = 1)]
    user_id: Option<i64>,
}

/// Assign a conversation.
///
/// To an operator of `assignable-users`, replacing any assignee; an unknown operator is 404.
#[utoipa::path(post, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/assignee",
    operation_id = "qlaraAssign", tag = "Qlara inbox", request_body = AssignBody,
    responses((status = 204, description = "Assigned.")))]
pub async fn assign(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<AssignBody>,
) -> Answer<StatusCode> {
    let user = body.user_id.ok_or_else(|| Failure::bad_request("userId is required"))?;
    let patch = ConversationPatch { assignee_id: Some(Some(user)), ..Default::default() };
    match conversations::update(&state, me.account_id, id, patch).await {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(Error::Invalid { fields, .. }) if fields.first().is_some_and(|f| f.field == "assignee_id") => {
            Err(Failure::not_found("User not found"))
        }
        Err(other) => Err(not_found(other)),
    }
}

/// Unassign a conversation.
///
/// 204 also when nobody was assigned.
#[utoipa::path(delete, path = "/api/partner-gateway/v1/inbox/conversations/{chatId}/assignee",
    operation_id = "qlaraUnassign", tag = "Qlara inbox", responses((status = 204, description = "Unassigned.")))]
pub async fn unassign(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    let patch = ConversationPatch { assignee_id: Some(None), ..Default::default() };
    conversations::update(&state, me.account_id, id, patch).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// List assignable operators.
///
/// Also at `/inbox/conversations/assignable-users`.
#[utoipa::path(get, path = "/api/partner-gateway/v1/inbox/assignable-users", operation_id = "qlaraAssignableUsers",
    tag = "Qlara inbox", responses((status = 200, body = Vec<AssignableUser>)))]
pub async fn assignable_users(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
) -> Answer<Json<Vec<AssignableUser>>> {
    let operators = crate::service::auth::list_operators(&state.db, me.account_id).await?;
    let users = operators.into_iter().map(|o| AssignableUser {
        user_id: o.id,
        name: o.name,
        email: o.email,
        role: o.role.to_uppercase(),
        avatar_url: None,
    });
    Ok(Json(users.collect()))
}
