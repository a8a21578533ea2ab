//! `/inbox/...`: conversations, threads, replies, read/archive and assignment in the seed
//! platform's field names, over `service::conversations` and `service::outbound`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Answer, Body, Caller, ChatId, Failure};
use crate::app::AppState;
use crate::domain::time::parse_timestamp;
use crate::error::Error;
use crate::http::extract::check_query_nul;
use crate::service::conversations::{self, ConversationPatch, ConversationQuery, MessageQuery};
use crate::service::outbound::{self, Outgoing};
use crate::service::views::{Conversation, Message};

/// Most conversations (or messages) one list answers with; the seed documents no paging.
const MAX_ITEMS: i64 = 1000;

/// A conversation as in seed 000 Step 3.
fn conversation_json(c: &Conversation) -> Value {
    json!({
        "id": c.id,
        "hasUnreadMessages": c.unread_count > 0,
        "userName": c.contact.name,
        "phoneNumber": c.contact.phone,
        "unreadCount": c.unread_count,
        "lastMessageText": c.last_message_preview,
        "lastMessageDate": c.last_message_at,
        "socialMedia": c.channel.kind.to_uppercase(),
        "companyProfileName": c.channel.name,
        "companyPhoneNumber": c.channel.address,
        "whatsappWindowExpire": c.window_expires_at,
    })
}

/// A message as in seed 000 Step 4.
fn message_json(m: &Message) -> Value {
    let inbound = m.direction == "inbound";
    let status = if inbound { Some("DELIVERED".to_owned()) } else { m.status.as_deref().map(str::to_uppercase) };
    let attachments: Vec<Value> = m
        .media_keys
        .iter()
        .map(|key| json!({"mediaKey": key, "type": m.kind.to_uppercase(), "url": format!("/api/files/{key}")}))
        .collect();
    json!({
        "id": m.id,
        "text": m.text,
        "isRead": if inbound { m.read } else { m.status.as_deref() == Some("read") },
        "isUserReply": inbound,
        "createdAt": m.created_at,
        "attachments": attachments,
        "status": status,
    })
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

/// `GET /inbox/conversations`: a bare array, archived conversations left out.
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    RawQuery(raw): RawQuery,
) -> Answer<Json<Vec<Value>>> {
    check_query_nul(raw.as_deref().unwrap_or_default())?;
    let query = parse_list_query(raw.as_deref())?;
    let page = conversations::list(&state, me.account_id, &query).await?;
    Ok(Json(page.data.iter().map(conversation_json).collect()))
}

fn not_found(error: Error) -> Failure {
    match error {
        Error::NotFound(_) => Failure::not_found("Conversation not found"),
        other => other.into(),
    }
}

/// `GET /inbox/conversations/{chatId}`: the list's fields plus the assignee and archived flag.
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<Value>> {
    let conversation = conversations::get(&state, me.account_id, id).await.map_err(not_found)?;
    let mut body = conversation_json(&conversation);
    body["assigneeId"] = json!(conversation.assignee_id);
    body["archived"] = json!(conversation.archived);
    body["status"] = json!(conversation.status.to_uppercase());
    Ok(Json(body))
}

fn parse_id(name: &str, value: &str) -> Answer<i64> {
    value.parse().map_err(|_| Failure::bad_request(format!("{name} must be an integer message id")))
}

/// `GET /inbox/conversations/{chatId}/messages?idFrom=&idTo=`: the contact's profile and the
/// thread, oldest first.
pub async fn messages(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
    RawQuery(raw): RawQuery,
) -> Answer<Json<Value>> {
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
    Ok(Json(json!({
        "profile": {"name": conversation.contact.name, "phoneNumber": conversation.contact.phone},
        "messages": page.data.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

/// The reply body of seed 000 Step 5.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplyBody {
    chat_id: Option<Value>,
    message: Option<String>,
    #[serde(default)]
    simulation: bool,
}

fn invalid_chat_id() -> Failure {
    Failure::bad_request("Invalid chatId")
}

/// `POST /inbox/conversations/reply`: queued on the conversation's own channel → 202, empty body.
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

/// `PATCH /inbox/conversations/{chatId}/read` → 204.
pub async fn read(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::mark_read(&state, me.account_id, id).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /inbox/conversations/{chatId}/archive` → 204.
pub async fn archive(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::set_archived(&state, me.account_id, id, true).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /inbox/conversations/{chatId}/unarchive` → 204.
pub async fn unarchive(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    conversations::set_archived(&state, me.account_id, id, false).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The assign body: `{"userId": n}` (an operator id from `assignable-users`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AssignBody {
    user_id: Option<i64>,
}

/// `POST /inbox/conversations/{chatId}/assignee` → 204; replaces any assignee.
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

/// `DELETE /inbox/conversations/{chatId}/assignee` → 204, also when nobody was assigned.
pub async fn unassign(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<StatusCode> {
    let patch = ConversationPatch { assignee_id: Some(None), ..Default::default() };
    conversations::update(&state, me.account_id, id, patch).await.map_err(not_found)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /inbox/assignable-users` (also under `/inbox/conversations/`): the account's operators.
pub async fn assignable_users(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
) -> Answer<Json<Vec<Value>>> {
    let operators = crate::service::auth::list_operators(&state.db, me.account_id).await?;
    Ok(Json(
        operators
            .iter()
            .map(|o| json!({"userId": o.id, "name": o.name, "email": o.email, "role": o.role.to_uppercase(), "avatarUrl": null}))
            .collect(),
    ))
}
