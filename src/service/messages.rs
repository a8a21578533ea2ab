//! Changes to stored messages: delivery status (shared by the sender job, the simulator and
//! provider status webhooks), edits by their sender, and deletion.

use serde_json::{Map, Value};

use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::MessageStatus;
use crate::error::{Error, Result};
use crate::service::conversations::record_changes;
use crate::service::events::{self, kind};
use crate::service::views::{Conversation, Message};
use crate::service::{credit, fallback, outbound};
use crate::state::AppState;
use crate::store::conversations::{self, ConversationState};
use crate::store::messages::{self, MessageRow};
use crate::store::{flag, jobs, Conn};

/// A delivery status report for one message.
#[derive(Debug, Clone)]
pub struct StatusReport<'a> {
    pub status: MessageStatus,
    /// Provider error code and text, for failures.
    pub error: Option<(&'a str, &'a str)>,
    /// The provider's id for the message, once known.
    pub provider_message_id: Option<&'a str>,
}

/// Moves a message forward to the reported status and records `message.updated`; reports that
/// would move it backwards (late or repeated webhooks) change nothing. A message that fails gets
/// its debit back. When the report records
/// the provider's id, statuses that arrived for that id before it was known are applied too.
/// Returns the message when it changed.
pub async fn apply_status(conn: &mut Conn, message: &MessageRow, report: &StatusReport<'_>) -> Result<Option<Message>> {
    let mut changed = advance(conn, message, report).await?;
    let Some(provider_id) = report.provider_message_id else { return Ok(changed.map(|row| Message::from(&row))) };
    for early in messages::take_early_statuses(conn, message.channel_id, provider_id).await? {
        let Some(status) = MessageStatus::parse(&early.status) else { continue };
        let error = early.error_code.as_deref().zip(early.error_text.as_deref());
        let latest = match &changed {
            Some(row) => row.clone(),
            None => messages::find_message(&mut *conn, message.id).await?.ok_or(Error::NotFound("message"))?,
        };
        let report = StatusReport { status, error, provider_message_id: None };
        if let Some(row) = advance(conn, &latest, &report).await? {
            changed = Some(row);
        }
    }
    Ok(changed.map(|row| Message::from(&row)))
}

/// How many times a message is sent again after a delivery failure worth retrying.
const MAX_RESENDS: usize = 2;

/// How long after such a failure the message goes out again, per earlier resend plus one.
const RESEND_DELAY_MS: i64 = 10 * 60_000;

/// A delivery failure the network says is worth another try (the phone was off): the message is
/// queued again a little later (its failures kept in `payload.resends`), up to [`MAX_RESENDS`]
/// times; then it fails with this code. Answers whether anything changed.
pub async fn resend_or_fail(conn: &mut Conn, message: &MessageRow, code: &str, text: &str) -> Result<bool> {
    let mut payload = message.payload_object();
    let mut resends = payload.get("resends").and_then(Value::as_array).cloned().unwrap_or_default();
    let current = message.status.as_deref().and_then(MessageStatus::parse).unwrap_or(MessageStatus::Queued);
    if resends.len() >= MAX_RESENDS || current == MessageStatus::Failed {
        let report =
            StatusReport { status: MessageStatus::Failed, error: Some((code, text)), provider_message_id: None };
        return Ok(apply_status(conn, message, &report).await?.is_some());
    }
    let now = now_ms();
    resends.push(serde_json::json!({ "code": code, "text": text, "at": to_rfc3339(now) }));
    let run_at = now + RESEND_DELAY_MS * resends.len() as i64;
    payload.insert("resends".to_owned(), Value::Array(resends));
    let row = messages::requeue(conn, message.id, &Value::Object(payload).to_string(), now).await?;
    jobs::insert_job(conn, outbound::SEND_JOB, &outbound::send_job(message.id), run_at, now).await?;
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &Message::from(&row), now).await?;
    Ok(true)
}

/// One monotonic status step with its `message.updated` event.
async fn advance(conn: &mut Conn, message: &MessageRow, report: &StatusReport<'_>) -> Result<Option<MessageRow>> {
    let current = message.status.as_deref().and_then(MessageStatus::parse).unwrap_or(MessageStatus::Queued);
    if !current.can_advance_to(report.status) {
        return Ok(None);
    }
    let now = now_ms();
    let row =
        messages::set_status(conn, message.id, report.status.as_str(), report.error, report.provider_message_id, now)
            .await?;
    match report.status {
        MessageStatus::Failed => {
            credit::release_or_refund(conn, row.account_id, row.id).await?;
            // A message its sender canceled goes nowhere else either.
            if report.error.is_none_or(|(code, _)| code != outbound::CANCELED) {
                fallback::queue_if_any(conn, &row, now).await?;
            }
        }
        // The first step past the queue: the provider took the message.
        _ if current.rank() <= MessageStatus::Queued.rank() => credit::settle(conn, row.id).await?,
        _ => {}
    }
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &Message::from(&row), now).await?;
    Ok(Some(row))
}

/// Keeps a provider status for a message not known by that provider id yet (its send may not have
/// recorded the id); [`apply_status`] applies it when the id is recorded.
pub async fn park_status(
    conn: &mut Conn,
    channel_id: i64,
    provider_message_id: &str,
    report: &StatusReport<'_>,
) -> Result<()> {
    let early = messages::EarlyStatus {
        status: report.status.as_str().to_owned(),
        error_code: report.error.map(|(code, _)| code.to_owned()),
        error_text: report.error.map(|(_, text)| text.to_owned()),
    };
    Ok(messages::park_status(conn, channel_id, provider_message_id, &early, now_ms()).await?)
}

/// Applies its sender's edit to a message inside the caller's transaction: `text` replaces the
/// text, the keys of `payload` replace the stored ones, `edited_at` is set, and `message.updated`
/// is recorded. A deleted message, or an edit that changes nothing (a repeated
/// webhook), writes and records nothing. Returns the message when it changed.
pub async fn edit(
    conn: &mut Conn,
    message: &MessageRow,
    text: Option<&str>,
    payload: Map<String, Value>,
) -> Result<Option<Message>> {
    if message.deleted_at.is_some() {
        return Ok(None);
    }
    let stored = serde_json::from_str::<Value>(&message.payload).unwrap_or(Value::Null);
    let mut merged = match &stored {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    merged.extend(payload);
    let merged = Value::Object(merged);
    if message.text.as_deref() == text && merged == stored {
        return Ok(None);
    }
    let now = now_ms();
    let row = messages::update_content(conn, message.id, text, &merged.to_string(), true, now).await?;
    let view = Message::from(&row);
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &view, now).await?;
    Ok(Some(view))
}

/// Deletes a message of a conversation: its text, media and payload are cleared, the record of it
/// stays in the thread, and `message.deleted` is recorded. When the conversation's preview came
/// from it, the preview is cleared and `conversation.updated` follows. Deleting a deleted message
/// changes and records nothing.
pub async fn delete(state: &AppState, account_id: i64, conversation_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let message =
        messages::find_conversation_message(&mut *tx, conversation_id, id).await?.ok_or(Error::NotFound("message"))?;
    if remove(&mut tx, &message).await? {
        tx.commit().await?;
        state.events.notify(account_id);
    }
    Ok(())
}

/// Deletes a message inside the caller's transaction, as [`delete`] describes (also used when
/// its sender deletes it on the provider's side). Returns false when it was already deleted.
pub async fn remove(conn: &mut Conn, message: &MessageRow) -> Result<bool> {
    if message.deleted_at.is_some() {
        return Ok(false);
    }
    let now = now_ms();
    let row = messages::soft_delete(conn, message.id, now).await?;
    events::record(conn, message.account_id, kind::MESSAGE_DELETED, &Message::from(&row), now).await?;
    // Private notes never set the preview.
    if flag(message.private) {
        return Ok(true);
    }
    replace_preview(conn, message, None, now).await?;
    Ok(true)
}

/// Replaces (or clears) the conversation's preview when it came from this message, and records
/// the conversation's change.
pub async fn replace_preview(conn: &mut Conn, message: &MessageRow, preview: Option<&str>, now: i64) -> Result<()> {
    let (account_id, conversation_id) = (message.account_id, message.conversation_id);
    let before = conversations::find_conversation(&mut *conn, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if conversations::replace_preview_of(conn, conversation_id, message.id, preview, now).await? {
        let after = conversations::find_conversation(&mut *conn, account_id, conversation_id)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        record_changes(conn, account_id, &ConversationState::from(&before), &Conversation::from(&after), now).await?;
    }
    Ok(())
}

/// The account's newest message for each of the caller's ids (`customer_message_id`) sent on a
/// channel of `kind`; ids with no such message are left out.
pub async fn find_by_customer_ids(
    state: &AppState,
    account_id: i64,
    kind: &str,
    ids: &[String],
) -> Result<Vec<(String, MessageRow)>> {
    let mut conn = state.db.reader().acquire().await?;
    Ok(messages::find_by_customer_ids(&mut conn, account_id, kind, ids).await?)
}
