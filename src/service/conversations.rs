//! Conversation lists, views and changes made by operators and integrations.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::channels as adapters;
use crate::domain::jobs::{MarkRead, Typing, MARK_READ_JOB, TYPING_JOB};
use crate::domain::time::now_ms;
use crate::domain::{ConversationStatus, Handler};
use crate::error::{Error, Result};
use crate::service::contacts::apply_changes as apply_contact_changes;
use crate::service::events::{self, kind};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;
use crate::store::contacts::{self, ContactFields};
use crate::store::conversations::{
    self, ConversationRow, ConversationState, ConversationUpdate, Filter, Param, SORT_COLUMNS, WALKABLE,
};
use crate::store::search::{self, SearchText};
use crate::store::{accounts, channels, flag, jobs, messages, Conn, Tx};

/// Which conversations to list and in what order.
#[derive(Debug, Clone, Default)]
pub struct ConversationQuery {
    pub channel_ids: Vec<i64>,
    pub statuses: Vec<ConversationStatus>,
    /// `Some(false)` hides archived conversations, `Some(true)` shows only them, `None` shows both.
    pub archived: Option<bool>,
    pub unread_only: bool,
    /// `Some(None)` selects unassigned conversations.
    pub assignee_id: Option<Option<i64>>,
    pub contact_id: Option<i64>,
    /// Only conversations handled by a virtual agent, or by people.
    pub handler: Option<Handler>,
    /// Only conversations waiting for a person.
    pub waiting: bool,
    /// Only conversations where a virtual agent's answer got a thumbs down.
    pub negative_feedback: bool,
    pub tag: Option<String>,
    /// Matches conversations whose contact's name, phone or email contains it, or with a message
    /// holding all its words (case and diacritics folded; among the newest
    /// [`search::SEARCH_HITS`] matches of each).
    pub text: Option<String>,
    pub updated_after: Option<i64>,
    pub updated_before: Option<i64>,
    /// Started from this time on.
    pub created_from: Option<i64>,
    /// Started before this time.
    pub created_before: Option<i64>,
    /// Meta entries that must all match exactly.
    pub meta: Vec<(String, String)>,
    /// Text one of the meta values contains (case folded).
    pub meta_text: Option<String>,
    /// Sort column (one of `last_message_at`, `created_at`, `updated_at`, `unread_count`, `id`).
    pub sort: String,
    pub descending: bool,
    pub limit: i64,
    pub cursor: Option<String>,
    /// Skips this many matches first (for APIs that page by offset; a cursor is faster).
    pub offset: i64,
}

/// One page of conversations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationPage {
    pub data: Vec<Conversation>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// Number of conversations matching the filters across all pages, counted up to
    /// 1,000: beyond, `total` is 1,000 and `total_exact` false.
    pub total: i64,
    /// Whether `total` is the exact count.
    pub total_exact: bool,
}

/// How far a list counts its matches.
const COUNT_LIMIT: i64 = 1_000;

/// Position after the last row of a page: the sort column's value (`text` for text columns) and
/// the id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Cursor {
    pub(crate) sort: String,
    pub(crate) value: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text: Option<String>,
    pub(crate) id: i64,
}

fn sort_value(row: &ConversationRow, column: &str) -> i64 {
    match column {
        "created_at" => row.created_at,
        "updated_at" => row.updated_at,
        "unread_count" => row.unread_count,
        "id" => row.id,
        _ => row.last_message_at,
    }
}

pub(crate) fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default())
}

pub(crate) fn decode_cursor(text: &str, sort: &str) -> Result<Cursor> {
    let invalid =
        || Error::field("cursor", "is not a cursor returned by this list (cursors are tied to their sort order)");
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if cursor.sort != sort {
        return Err(invalid());
    }
    Ok(cursor)
}

/// Lists the account's conversations matching `query`, one page at a time.
pub async fn list(state: &AppState, account_id: i64, query: &ConversationQuery) -> Result<ConversationPage> {
    if !SORT_COLUMNS.contains(&query.sort.as_str()) {
        return Err(Error::field(
            "order",
            format!("unknown sort field `{}`; use one of {}", query.sort, SORT_COLUMNS.join(", ")),
        ));
    }
    let column = query.sort.as_str();
    let sort_key = format!("{}{column}", if query.descending { "-" } else { "+" });
    let mut filter = Filter::default();
    let account = filter.param(Param::Int(account_id));
    filter.push(format!("c.account_id = {account}"));
    if !query.channel_ids.is_empty() {
        let list: Vec<String> = query.channel_ids.iter().map(|id| filter.param(Param::Int(*id))).collect();
        filter.push(format!("c.channel_id IN ({})", list.join(", ")));
    }
    if !query.statuses.is_empty() {
        let list: Vec<String> =
            query.statuses.iter().map(|s| filter.param(Param::Text(s.as_str().to_owned()))).collect();
        filter.push(format!("c.status IN ({})", list.join(", ")));
    }
    if let Some(archived) = query.archived {
        let p = filter.param(Param::Int(i64::from(archived)));
        filter.push(format!("c.archived = {p}"));
    }
    if query.unread_only {
        filter.push("c.unread_count > 0".to_owned());
    }
    match query.assignee_id {
        Some(Some(id)) => {
            let p = filter.param(Param::Int(id));
            filter.push(format!("c.assignee_id = {p}"));
        }
        Some(None) => filter.push("c.assignee_id IS NULL".to_owned()),
        None => {}
    }
    if let Some(contact_id) = query.contact_id {
        let p = filter.param(Param::Int(contact_id));
        filter.push(format!("c.contact_id = {p}"));
    }
    if let Some(handler) = query.handler {
        // A literal, not a parameter: the partial index of agent-handled conversations needs it.
        filter.push(format!("c.handler = '{}'", handler.as_str()));
    }
    if query.waiting {
        filter.push("c.waiting_since IS NOT NULL".to_owned());
    }
    if query.negative_feedback {
        // A literal: the partial index of such conversations needs it.
        filter.push("c.negative_feedback > 0".to_owned());
    }
    // A tag or meta entry, when the list is sorted by last message, walks its index table.
    let walk = column == "last_message_at";
    if let Some(tag) = &query.tag {
        let p = filter.param(Param::Text(tag.clone()));
        if walk {
            filter.walk(WALKABLE[0]);
            filter.push(format!("w.account_id = {account} AND w.tag = {p}"));
        } else {
            filter.push(format!(
                "EXISTS (SELECT 1 FROM conversation_tags t WHERE t.conversation_id = c.id AND t.tag = {p})"
            ));
        }
    }
    for (key, value) in &query.meta {
        let k = filter.param(Param::Text(key.clone()));
        let v = filter.param(Param::Text(value.clone()));
        if walk && !filter.walks() {
            filter.walk(WALKABLE[1]);
            filter.push(format!("w.account_id = {account} AND w.key = {k} AND w.value = {v}"));
        } else {
            filter.push(format!(
                "EXISTS (SELECT 1 FROM conversation_meta m WHERE m.conversation_id = c.id AND m.key = {k} AND m.value = {v})"
            ));
        }
    }
    if let Some(text) = query.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let backend = state.db.backend();
        let search = SearchText::new(backend, text);
        // One list of conversation ids, so that the database goes from the (at most 2,000) hits
        // to their conversations; two `IN`s joined by `OR` made PostgreSQL test every
        // conversation against both.
        let mut hits = Vec::new();
        if let Some(substring) = search.substring {
            let p = filter.param(Param::Text(substring));
            hits.push(format!(
                "SELECT hc.id FROM conversations hc WHERE hc.contact_id IN ({})",
                search::matching_contacts(backend, &account, &p)
            ));
        }
        if let Some(words) = search.words {
            let p = filter.param(Param::Text(words));
            hits.push(format!(
                "SELECT hm.conversation_id FROM ({}) hm",
                search::matching_message_conversations(backend, &account, &p)
            ));
        }
        match hits.is_empty() {
            true => filter.push("0 = 1".to_owned()),
            false => filter.push(format!("c.id IN ({})", hits.join(" UNION ALL "))),
        }
    }
    if let Some(after) = query.updated_after {
        let p = filter.param(Param::Int(after));
        filter.push(format!("c.updated_at > {p}"));
    }
    if let Some(before) = query.updated_before {
        let p = filter.param(Param::Int(before));
        filter.push(format!("c.updated_at < {p}"));
    }
    if let Some(from) = query.created_from {
        let p = filter.param(Param::Int(from));
        filter.push(format!("c.created_at >= {p}"));
    }
    if let Some(before) = query.created_before {
        let p = filter.param(Param::Int(before));
        filter.push(format!("c.created_at < {p}"));
    }
    if let Some(text) = query.meta_text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = filter.param(Param::Text(format!("%{}%", search::like_escaped(&text.to_lowercase()))));
        filter.push(format!(
            "EXISTS (SELECT 1 FROM conversation_meta m WHERE m.conversation_id = c.id AND LOWER(m.value) LIKE {p} ESCAPE '\\')"
        ));
    }
    let counted = conversations::count_conversations(state.db.reader(), &filter, COUNT_LIMIT + 1).await?;
    let (total, total_exact) = (counted.min(COUNT_LIMIT), counted <= COUNT_LIMIT);
    if let Some(cursor) = &query.cursor {
        let cursor = decode_cursor(cursor, &sort_key)?;
        let v = filter.param(Param::Int(cursor.value));
        let id = filter.param(Param::Int(cursor.id));
        let op = if query.descending { "<" } else { ">" };
        let (sort, sort_id) = filter.order_columns(column);
        filter.push(format!("({sort} {op} {v} OR ({sort} = {v} AND {sort_id} {op} {id}))"));
    }
    let mut rows = conversations::list_conversations(
        state.db.reader(),
        &filter,
        column,
        query.descending,
        query.limit + 1,
        query.offset,
    )
    .await?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => {
            Some(encode_cursor(&Cursor { sort: sort_key, value: sort_value(last, column), text: None, id: last.id }))
        }
        _ => None,
    };
    Ok(ConversationPage { data: rows.iter().map(Conversation::from).collect(), next_cursor, total, total_exact })
}

/// One conversation of the account.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Conversation> {
    let row = conversations::find_conversation(state.db.reader(), account_id, id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    Ok(Conversation::from(&row))
}

/// Changes an operator or integration may make to a conversation.
#[derive(Debug, Default, Clone)]
pub struct ConversationPatch {
    pub status: Option<ConversationStatus>,
    pub archived: Option<bool>,
    /// Replaces the tag list.
    pub tags: Option<Vec<String>>,
    /// Merged into the meta object; a `null` value removes the key.
    pub meta: Option<Map<String, Value>>,
    pub subject: Option<String>,
    /// `Some(None)` removes the assignee.
    pub assignee_id: Option<Option<i64>>,
    /// Renames the conversation's contact.
    pub contact_name: Option<String>,
}

/// Tags as stored: trimmed, lower-case, each once, 1 to 64 characters, at most 50.
pub fn normalize_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > 64 {
            return Err(Error::field("tags", "each tag must be 1 to 64 characters"));
        }
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > 50 {
        return Err(Error::field("tags", "at most 50 tags"));
    }
    Ok(clean)
}

/// Applies a patch in one transaction and records `conversation.updated` with the events of the
/// specific changes (see [`record_changes`]); renaming the contact also records
/// `contact.updated`. A patch that changes nothing writes and records nothing.
pub async fn update(state: &AppState, account_id: i64, id: i64, patch: ConversationPatch) -> Result<Conversation> {
    let tags = patch.tags.map(normalize_tags).transpose()?;
    let mut tx = state.db.begin().await?;
    let current =
        conversations::find_conversation(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("conversation"))?;
    if let Some(Some(operator)) = patch.assignee_id {
        if accounts::find_operator(&mut *tx, account_id, operator).await?.is_none() {
            return Err(Error::field("assignee_id", "no such operator in this account"));
        }
    }
    let now = now_ms();
    if let Some(Some(_)) = patch.assignee_id {
        // Assigning a person takes the conversation from its virtual agent and out of the queue.
        crate::service::escalations::take_over_in(&mut tx, &current, None).await?;
    }
    let frees_room = current.assignee_id.is_some()
        && (matches!(patch.status, Some(ConversationStatus::Resolved | ConversationStatus::Closed))
            || patch.assignee_id.is_some());
    if let (true, Some(team_id)) = (frees_room, current.team_id) {
        crate::service::routing::queue_routing(&mut tx, account_id, team_id, now).await?;
    }
    let mut update = ConversationUpdate {
        status: patch.status.map(|s| s.as_str().to_owned()),
        archived: patch.archived,
        subject: patch.subject.map(|s| s.trim().to_owned()),
        assignee_id: patch.assignee_id,
        ..Default::default()
    };
    if let Some(status) = patch.status {
        if status.as_str() != current.status {
            update.closed_at = Some((status == ConversationStatus::Closed).then_some(now));
            crate::service::surveys::queue_on_status(&mut tx, &current, status, now).await?;
        }
    }
    if let Some(tags) = &tags {
        conversations::replace_tags(&mut tx, account_id, id, tags).await?;
        update.tags = Some(serde_json::to_string(tags).map_err(anyhow::Error::from)?);
    }
    if let Some(changes) = patch.meta {
        let mut meta: Map<String, Value> = serde_json::from_str(&current.meta).unwrap_or_default();
        let mut index = Vec::new();
        for (key, value) in changes {
            if key.is_empty() || key.len() > 64 {
                return Err(Error::field("meta", "keys must be 1 to 64 characters"));
            }
            match value {
                Value::Null => {
                    meta.remove(&key);
                    index.push((key, None));
                }
                Value::String(text) => {
                    meta.insert(key.clone(), Value::String(text.clone()));
                    index.push((key, Some(text)));
                }
                Value::Number(_) | Value::Bool(_) => {
                    index.push((key.clone(), Some(value.to_string())));
                    meta.insert(key, value);
                }
                _ => return Err(Error::field("meta", "values must be strings, numbers, booleans or null")),
            }
        }
        if meta.len() > 100 {
            return Err(Error::field("meta", "at most 100 keys"));
        }
        conversations::upsert_meta(&mut tx, account_id, id, &index).await?;
        update.meta = Some(Value::Object(meta).to_string());
    }
    if let Some(name) = patch.contact_name {
        let fields =
            ContactFields { name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()), ..Default::default() };
        let contact = contacts::find_contact(&mut *tx, account_id, current.contact_id)
            .await?
            .ok_or(Error::NotFound("contact"))?;
        apply_contact_changes(&mut tx, &contact, &fields, now).await?;
    }
    conversations::update_conversation(&mut tx, account_id, id, &update, now).await?;
    commit_change(state, tx, &current, now).await
}

/// The events a conversation change records after `conversation.updated`, in this order:
/// `conversation.status_changed` (the status differs), `conversation.assigned` (the assignee
/// differs, including unassigning), `conversation.handler_changed` (a virtual agent took it or
/// people did), `conversation.archived` (archived went from false to true) and
/// `conversation.read` (the unread count went to zero).
pub(crate) fn change_kinds(before: &ConversationState, after: &Conversation) -> Vec<&'static str> {
    [
        (before.status != after.status, kind::CONVERSATION_STATUS_CHANGED),
        (before.assignee_id != after.assignee_id, kind::CONVERSATION_ASSIGNED),
        (
            before.handler != after.handler.as_str() || before.virtual_agent_id != after.virtual_agent_id,
            kind::CONVERSATION_HANDLER_CHANGED,
        ),
        (!flag(before.archived) && after.archived, kind::CONVERSATION_ARCHIVED),
        (before.unread_count > 0 && after.unread_count == 0, kind::CONVERSATION_READ),
    ]
    .into_iter()
    .filter_map(|(changed, kind)| changed.then_some(kind))
    .collect()
}

/// Records the events of a change to a conversation, inside the caller's transaction:
/// `conversation.updated`, then one event per specific change (see [`change_kinds`]), each
/// carrying the conversation as it is after the change.
pub async fn record_changes(
    conn: &mut Conn,
    account_id: i64,
    before: &ConversationState,
    after: &Conversation,
    now: i64,
) -> Result<()> {
    let data = serde_json::to_value(after).map_err(anyhow::Error::from)?;
    let recorded: Vec<(&str, &Value)> = std::iter::once(kind::CONVERSATION_UPDATED)
        .chain(change_kinds(before, after))
        .map(|kind| (kind, &data))
        .collect();
    events::record_all(conn, account_id, &recorded, now).await
}

/// Ends a change made in `tx`: when the conversation differs from `before` (beyond its update
/// time) it records the events and commits; otherwise it rolls back, so a change to the values a
/// conversation already has leaves no trace. Returns the conversation as it stands.
async fn commit_change(state: &AppState, mut tx: Tx, before: &ConversationRow, now: i64) -> Result<Conversation> {
    let after = conversations::find_conversation(&mut *tx, before.account_id, before.id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if (ConversationRow { updated_at: before.updated_at, ..after.clone() }) == *before {
        tx.rollback().await?;
        return Ok(Conversation::from(before));
    }
    let conversation = Conversation::from(&after);
    record_changes(&mut tx, before.account_id, &ConversationState::from(before), &conversation, now).await?;
    tx.commit().await?;
    state.events.notify(before.account_id);
    Ok(conversation)
}

/// Marks every inbound message read, clears the unread count and records `conversation.updated`
/// and `conversation.read`; nothing is written or recorded when nothing was unread. On a live
/// channel with read receipts a job tells the provider the newest inbound message was read.
pub async fn mark_read(state: &AppState, account_id: i64, id: i64) -> Result<Conversation> {
    let mut tx = state.db.begin().await?;
    let current =
        conversations::find_conversation(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("conversation"))?;
    let now = now_ms();
    if current.unread_count > 0 && adapters::capabilities_of(&current.channel_kind).read_receipts {
        let live = live_recipient(&mut tx, &current).await?;
        if let (Some(recipient), Some(wamid)) = (live, messages::latest_inbound_provider_id(&mut *tx, id).await?) {
            let job =
                MarkRead { channel_id: current.channel_id, provider_message_id: wamid, recipient: Some(recipient) };
            let payload = serde_json::to_string(&job).map_err(anyhow::Error::from)?;
            jobs::insert_job(&mut tx, MARK_READ_JOB, &payload, now, now).await?;
        }
    }
    conversations::mark_read(&mut tx, account_id, id, now).await?;
    commit_change(state, tx, &current, now).await
}

/// The customer's address on the conversation's channel, when the channel is live (not in
/// simulation): where read receipts and typing indicators go.
async fn live_recipient(tx: &mut Tx, conversation: &ConversationRow) -> Result<Option<String>> {
    let live = channels::find_channel_any(&mut **tx, conversation.channel_id).await?.is_some_and(|c| c.simulation == 0);
    if !live {
        return Ok(None);
    }
    let identities = contacts::list_identities(&mut **tx, conversation.account_id, conversation.contact_id).await?;
    Ok(identities
        .into_iter()
        .find(|identity| identity.channel_id == conversation.channel_id)
        .map(|identity| identity.external_id))
}

/// The transient event telling live listeners that an operator is typing (or stopped) in a
/// conversation: `{conversation_id, on}`.
pub const OPERATOR_TYPING: &str = "operator.typing";

/// Shows the customer that an operator is typing (`on`) or stopped, on a live channel whose
/// network shows it; elsewhere nothing happens. Answers whether the network is told.
pub async fn typing(state: &AppState, account_id: i64, id: i64, on: bool) -> Result<bool> {
    let mut tx = state.db.begin().await?;
    let current =
        conversations::find_conversation(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("conversation"))?;
    if !adapters::capabilities_of(&current.channel_kind).typing {
        return Ok(false);
    }
    // Live listeners (the web chat widget) learn it at once; providers through a job.
    state.events.publish(account_id, OPERATOR_TYPING, serde_json::json!({ "conversation_id": id, "on": on }));
    let Some(recipient) = live_recipient(&mut tx, &current).await? else { return Ok(false) };
    let now = now_ms();
    let job = Typing { channel_id: current.channel_id, recipient, on };
    let payload = serde_json::to_string(&job).map_err(anyhow::Error::from)?;
    jobs::insert_job(&mut tx, TYPING_JOB, &payload, now, now).await?;
    tx.commit().await?;
    Ok(true)
}

/// Archives (`true`) or restores (`false`) a conversation.
pub async fn set_archived(state: &AppState, account_id: i64, id: i64, archived: bool) -> Result<Conversation> {
    update(state, account_id, id, ConversationPatch { archived: Some(archived), ..Default::default() }).await
}

/// Closes a conversation: the contact's next message starts a new one.
pub async fn close(state: &AppState, account_id: i64, id: i64) -> Result<Conversation> {
    update(state, account_id, id, ConversationPatch { status: Some(ConversationStatus::Closed), ..Default::default() })
        .await
}

/// Bounds of a message page: ids from/to, or the newest messages before a cursor.
#[derive(Debug, Clone, Default)]
pub struct MessageQuery {
    pub id_from: Option<i64>,
    pub id_to: Option<i64>,
    /// Opaque cursor from a previous page (older messages).
    pub cursor: Option<String>,
    pub limit: i64,
}

/// One page of a thread, oldest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    pub data: Vec<Message>,
    /// Pass as `cursor` to get the previous (older) page; `null` when there is none.
    pub next_cursor: Option<String>,
    /// How many messages the query matches on all its pages (the thread, or the id range).
    pub total: i64,
}

/// A thread page. With `id_from`/`id_to` it returns messages in that id range (oldest first,
/// continuing with a cursor after the last one); otherwise the newest messages, with a cursor to
/// page back through older ones.
pub async fn messages(state: &AppState, account_id: i64, id: i64, query: &MessageQuery) -> Result<MessagePage> {
    conversations::find_conversation(state.db.reader(), account_id, id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let limit = query.limit;
    let cursor = match &query.cursor {
        Some(text) => Some(decode_cursor(text, "messages")?),
        None => None,
    };
    if query.id_from.is_some() || query.id_to.is_some() {
        let from = cursor.as_ref().map_or(query.id_from.unwrap_or(0), |c| c.id + 1);
        let to = query.id_to.unwrap_or(i64::MAX);
        let total = messages::count_messages(state.db.reader(), id, query.id_from.unwrap_or(0), to).await?;
        let mut rows = messages::list_messages(state.db.reader(), id, from, to, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = match rows.last() {
            Some(last) if more => {
                Some(encode_cursor(&Cursor { sort: "messages".into(), id: last.id, ..Cursor::default() }))
            }
            _ => None,
        };
        return Ok(MessagePage { data: rows.iter().map(Message::from).collect(), next_cursor, total });
    }
    let total = messages::count_messages(state.db.reader(), id, 0, i64::MAX).await?;
    let before = cursor.map_or(i64::MAX, |c| c.id - 1);
    let mut rows = messages::list_messages_before(state.db.reader(), id, before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(oldest) if more => {
            Some(encode_cursor(&Cursor { sort: "messages".into(), id: oldest.id, ..Cursor::default() }))
        }
        _ => None,
    };
    rows.reverse();
    Ok(MessagePage { data: rows.iter().map(Message::from).collect(), next_cursor, total })
}
