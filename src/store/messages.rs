//! Messages: ids only grow, so threads page by id.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored message.
#[derive(Debug, Clone, FromRow)]
pub struct MessageRow {
    pub id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub direction: String,
    pub sender_type: String,
    pub sender_id: Option<i64>,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub media_keys: String,
    pub payload: String,
    pub provider_message_id: Option<String>,
    pub status: Option<String>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub is_read: i64,
    pub simulated: i64,
    pub private: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub sent_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub read_at: Option<i64>,
    /// When the message was deleted (its content is gone).
    pub deleted_at: Option<i64>,
    /// When its sender last edited it.
    pub edited_at: Option<i64>,
}

impl MessageRow {
    /// The message's payload as a JSON object (empty when it is not one).
    pub fn payload_object(&self) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(&self.payload) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    }
}

/// Fields of a new message.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub account_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub direction: &'a str,
    pub sender_type: &'a str,
    pub sender_id: Option<i64>,
    pub kind: &'a str,
    pub text: Option<&'a str>,
    pub media_keys: &'a str,
    pub payload: &'a str,
    pub provider_message_id: Option<&'a str>,
    pub status: Option<&'a str>,
    pub is_read: bool,
    pub simulated: bool,
    pub private: bool,
    pub created_at: i64,
    /// When it was sent, for outbound messages stored as already sent.
    pub sent_at: Option<i64>,
    /// The `Idempotency-Key` of the request that created it.
    pub request_key: Option<&'a str>,
}

const COLUMNS: &str = "id, account_id, conversation_id, channel_id, direction, sender_type, sender_id, type, text, \
     media_keys, payload, provider_message_id, status, error_code, error_text, is_read, simulated, private, \
     created_at, updated_at, sent_at, delivered_at, read_at, deleted_at, edited_at";

/// Inserts a message.
pub async fn insert_message(conn: &mut Conn, new: &NewMessage<'_>) -> sqlx::Result<MessageRow> {
    sqlx::query_as(&format!(
        "INSERT INTO messages (account_id, conversation_id, channel_id, direction, sender_type, sender_id, type, text, \
         media_keys, payload, provider_message_id, status, is_read, simulated, private, created_at, updated_at, sent_at, \
         request_key) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17, $18) RETURNING {COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.conversation_id)
    .bind(new.channel_id)
    .bind(new.direction)
    .bind(new.sender_type)
    .bind(new.sender_id)
    .bind(new.kind)
    .bind(new.text)
    .bind(new.media_keys)
    .bind(new.payload)
    .bind(new.provider_message_id)
    .bind(new.status)
    .bind(i64::from(new.is_read))
    .bind(i64::from(new.simulated))
    .bind(i64::from(new.private))
    .bind(new.created_at)
    .bind(new.sent_at)
    .bind(new.request_key)
    .fetch_one(conn)
    .await
}

/// The message an account's request with this `Idempotency-Key` created at or after `since`.
pub async fn find_by_request_key<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    request_key: &str,
    since: i64,
) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE account_id = $1 AND request_key = $2 AND created_at >= $3 \
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(account_id)
    .bind(request_key)
    .bind(since)
    .fetch_optional(db)
    .await
}

/// Finds a message by the provider's id on a channel.
pub async fn find_by_provider_id<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    provider_message_id: &str,
) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE channel_id = $1 AND provider_message_id = $2"))
        .bind(channel_id)
        .bind(provider_message_id)
        .fetch_optional(db)
        .await
}

/// Finds a message by id, whatever its account (for jobs).
pub async fn find_message<'c>(db: impl AnyExecutor<'c>, id: i64) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// Finds a message of a conversation.
pub async fn find_conversation_message<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    id: i64,
) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND id = $2"))
        .bind(conversation_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The outbound messages with a provider id of the contact's active conversation on a channel
/// that are still `sent` or `delivered`: at most `limit`, sent at or before `until_time`, or with
/// an id up to `until_id`.
pub async fn list_awaiting_watermark(
    conn: &mut Conn,
    channel_id: i64,
    contact_id: i64,
    until_time: i64,
    until_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id IN (SELECT id FROM conversations \
         WHERE channel_id = $1 AND contact_id = $2 AND status <> 'closed') AND direction = 'outbound' \
         AND status IN ('sent', 'delivered') AND provider_message_id IS NOT NULL AND (sent_at <= $3 OR id <= $4) \
         ORDER BY id LIMIT $5"
    ))
    .bind(channel_id)
    .bind(contact_id)
    .bind(until_time)
    .bind(until_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A contact's messages across all their conversations with `id <= before`, newest first, at
/// most `limit`.
pub async fn list_contact_messages<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    contact_id: i64,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id IN (SELECT id FROM conversations \
         WHERE account_id = $1 AND contact_id = $2) AND id <= $3 ORDER BY id DESC LIMIT $4"
    ))
    .bind(account_id)
    .bind(contact_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many messages a contact has across all their conversations.
pub async fn count_contact_messages<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    contact_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages WHERE conversation_id IN (SELECT id FROM conversations \
         WHERE account_id = $1 AND contact_id = $2)",
    )
    .bind(account_id)
    .bind(contact_id)
    .fetch_one(db)
    .await
}

/// Whether the comment message `comment_id` has a private reply in its conversation that did not
/// fail (the stored payload of such a reply has `"private_reply_to": "<comment_id>"`).
pub async fn has_private_reply(conn: &mut Conn, conversation_id: i64, comment_id: i64) -> sqlx::Result<bool> {
    let pattern = format!("%\"private_reply_to\":\"{comment_id}\"%");
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM messages WHERE conversation_id = $1 AND direction = 'outbound' \
         AND (status IS NULL OR status <> 'failed') AND payload LIKE $2 LIMIT 1",
    )
    .bind(conversation_id)
    .bind(pattern)
    .fetch_optional(conn)
    .await?;
    Ok(found.is_some())
}

/// Deletes a message's content and marks it deleted; the record of it stays. Returns the message.
pub async fn soft_delete(conn: &mut Conn, id: i64, now: i64) -> sqlx::Result<MessageRow> {
    sqlx::query_as(&format!(
        "UPDATE messages SET deleted_at = $1, text = NULL, media_keys = '[]', payload = '{{}}', updated_at = $1 \
         WHERE id = $2 RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Replaces a message's text and payload, marked edited when its sender edited it (not when more
/// about it arrived, such as a call's recording). Returns the message.
pub async fn update_content(
    conn: &mut Conn,
    id: i64,
    text: Option<&str>,
    payload: &str,
    edited: bool,
    now: i64,
) -> sqlx::Result<MessageRow> {
    let edited_at = if edited { "$3" } else { "edited_at" };
    sqlx::query_as(&format!(
        "UPDATE messages SET text = $1, payload = $2, edited_at = {edited_at}, updated_at = $3 WHERE id = $4 \
         RETURNING {COLUMNS}"
    ))
    .bind(text)
    .bind(payload)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Keeps payload changes for a message not stored yet, dropping those that waited over a day.
pub async fn park_payload(
    conn: &mut Conn,
    channel_id: i64,
    provider_message_id: &str,
    patch: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM early_payloads WHERE received_at < $1")
        .bind(now - EARLY_STATUS_TTL_MS)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO early_payloads (channel_id, provider_message_id, payload, received_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(channel_id)
    .bind(provider_message_id)
    .bind(patch)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the payload changes that waited for this provider message id, in arrival order.
pub async fn take_early_payloads(
    conn: &mut Conn,
    channel_id: i64,
    provider_message_id: &str,
) -> sqlx::Result<Vec<String>> {
    let found: Vec<String> = sqlx::query_scalar(
        "SELECT payload FROM early_payloads WHERE channel_id = $1 AND provider_message_id = $2 ORDER BY id",
    )
    .bind(channel_id)
    .bind(provider_message_id)
    .fetch_all(&mut *conn)
    .await?;
    if !found.is_empty() {
        sqlx::query("DELETE FROM early_payloads WHERE channel_id = $1 AND provider_message_id = $2")
            .bind(channel_id)
            .bind(provider_message_id)
            .execute(conn)
            .await?;
    }
    Ok(found)
}

/// Puts a sent message back in the queue to be sent again (a new provider id follows), with this
/// payload. Returns the message.
pub async fn requeue(conn: &mut Conn, id: i64, payload: &str, now: i64) -> sqlx::Result<MessageRow> {
    sqlx::query_as(&format!(
        "UPDATE messages SET status = 'queued', provider_message_id = NULL, payload = $1, sent_at = NULL, \
         delivered_at = NULL, read_at = NULL, updated_at = $2 WHERE id = $3 RETURNING {COLUMNS}"
    ))
    .bind(payload)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Replaces a message's payload (facts recorded after it was stored).
pub async fn set_payload(conn: &mut Conn, id: i64, payload: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET payload = $1 WHERE id = $2").bind(payload).bind(id).execute(conn).await?;
    Ok(())
}

/// Replaces a message's media keys and payload (media fetched after receipt). Returns the message.
pub async fn set_media(
    conn: &mut Conn,
    id: i64,
    media_keys: &str,
    payload: &str,
    now: i64,
) -> sqlx::Result<MessageRow> {
    sqlx::query_as(&format!(
        "UPDATE messages SET media_keys = $1, payload = $2, updated_at = $3 WHERE id = $4 RETURNING {COLUMNS}"
    ))
    .bind(media_keys)
    .bind(payload)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Messages of a conversation with `min_id <= id <= max_id`, ascending, at most `limit`.
pub async fn list_messages<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    min_id: i64,
    max_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND id >= $2 AND id <= $3 ORDER BY id LIMIT $4"
    ))
    .bind(conversation_id)
    .bind(min_id)
    .bind(max_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A contact's messages on a channel after `after_id`, oldest first, without private notes and
/// deleted messages (what a web chat visitor sees).
pub async fn list_visitor_messages<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    contact_id: i64,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id IN \
         (SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2) \
         AND id > $3 AND private = 0 AND deleted_at IS NULL ORDER BY id LIMIT $4"
    ))
    .bind(channel_id)
    .bind(contact_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Who wrote a conversation's messages besides the customer: each (sender type, sender id) once,
/// in the order they first wrote.
pub async fn senders(conn: &mut Conn, conversation_id: i64) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT sender_type, sender_id FROM messages WHERE conversation_id = $1 AND sender_id IS NOT NULL \
         AND sender_type <> 'contact' GROUP BY sender_type, sender_id ORDER BY MIN(id)",
    )
    .bind(conversation_id)
    .fetch_all(conn)
    .await
}

/// The media keys (JSON lists) of a conversation's messages of one type, oldest first.
pub async fn media_keys_of_kind<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    kind: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT media_keys FROM messages WHERE conversation_id = $1 AND type = $2 AND deleted_at IS NULL ORDER BY id",
    )
    .bind(conversation_id)
    .bind(kind)
    .fetch_all(db)
    .await
}

/// Messages of a conversation with `id <= max_id`, newest first, at most `limit` (for paging back
/// through long threads).
/// How many messages of a conversation have ids from `min_id` to `max_id`.
pub async fn count_messages<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    min_id: i64,
    max_id: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND id >= $2 AND id <= $3")
        .bind(conversation_id)
        .bind(min_id)
        .bind(max_id)
        .fetch_one(db)
        .await
}

pub async fn list_messages_before<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    max_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM messages WHERE conversation_id = $1 AND id <= $2 ORDER BY id DESC LIMIT $3"
    ))
    .bind(conversation_id)
    .bind(max_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// How many answers virtual agents sent a contact since `since` (Unix ms), in all their
/// conversations.
pub async fn count_agent_answers_to<'c>(db: impl AnyExecutor<'c>, contact_id: i64, since: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM messages m JOIN conversations c ON c.id = m.conversation_id \
         WHERE c.contact_id = $1 AND m.sender_type = 'virtual_agent' AND m.created_at > $2",
    )
    .bind(contact_id)
    .bind(since)
    .fetch_one(db)
    .await
}

/// The most messages a reply's thread names.
const MAX_THREAD_REFERENCES: i64 = 20;

/// The provider ids of a conversation's messages before `before_id` (the newest ones), oldest
/// first: the thread a reply names.
pub async fn thread_ids<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
    before_id: i64,
) -> sqlx::Result<Vec<String>> {
    let mut ids: Vec<String> = sqlx::query_scalar(
        "SELECT provider_message_id FROM messages WHERE conversation_id = $1 AND id < $2 \
         AND provider_message_id IS NOT NULL AND private = 0 ORDER BY id DESC LIMIT $3",
    )
    .bind(conversation_id)
    .bind(before_id)
    .bind(MAX_THREAD_REFERENCES)
    .fetch_all(db)
    .await?;
    ids.reverse();
    Ok(ids)
}

/// Records the id a message is sent with, before it is sent, unless it has one; answers the
/// message's id.
pub async fn name_message(conn: &mut Conn, id: i64, provider_message_id: &str) -> sqlx::Result<String> {
    sqlx::query_scalar(
        "UPDATE messages SET provider_message_id = COALESCE(provider_message_id, $1) WHERE id = $2 \
         RETURNING provider_message_id",
    )
    .bind(provider_message_id)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Moves a message to a new delivery status, stamping the matching date; the caller has checked
/// the move is forward. Returns the updated message.
pub async fn set_status(
    conn: &mut Conn,
    id: i64,
    status: &str,
    error: Option<(&str, &str)>,
    provider_message_id: Option<&str>,
    now: i64,
) -> sqlx::Result<MessageRow> {
    sqlx::query_as(&format!(
        "UPDATE messages SET status = $1, error_code = COALESCE($2, error_code), error_text = COALESCE($3, error_text), \
         provider_message_id = COALESCE($4, provider_message_id), updated_at = $5, \
         sent_at = CASE WHEN sent_at IS NULL AND $1 IN ('sent', 'delivered', 'read') THEN $5 ELSE sent_at END, \
         delivered_at = CASE WHEN delivered_at IS NULL AND $1 IN ('delivered', 'read') THEN $5 ELSE delivered_at END, \
         read_at = CASE WHEN read_at IS NULL AND $1 = 'read' THEN $5 ELSE read_at END \
         WHERE id = $6 RETURNING {COLUMNS}"
    ))
    .bind(status)
    .bind(error.map(|e| e.0))
    .bind(error.map(|e| e.1))
    .bind(provider_message_id)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// The provider id of a conversation's newest inbound message that has one.
pub async fn latest_inbound_provider_id<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT provider_message_id FROM messages WHERE conversation_id = $1 AND direction = 'inbound' \
         AND provider_message_id IS NOT NULL AND deleted_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(conversation_id)
    .fetch_optional(db)
    .await
}

/// The text of the conversation's newest inbound message that has text.
pub async fn latest_inbound_text<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT text FROM messages WHERE conversation_id = $1 AND direction = 'inbound' AND text IS NOT NULL \
         AND deleted_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(conversation_id)
    .fetch_optional(db)
    .await
}

/// The virtual agent that wrote the conversation's latest answer, if any did.
pub async fn latest_virtual_agent<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Option<i64>> {
    Ok(latest_virtual_agents(db, &[conversation_id]).await?.pop().map(|(_, agent)| agent))
}

/// Of each conversation a virtual agent answered, the agent that wrote its latest answer:
/// (conversation id, agent id), in one query.
pub async fn latest_virtual_agents<'c>(
    db: impl AnyExecutor<'c>,
    conversation_ids: &[i64],
) -> sqlx::Result<Vec<(i64, i64)>> {
    if conversation_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT conversation_id, sender_id FROM messages WHERE id IN (SELECT MAX(id) FROM messages \
         WHERE conversation_id IN ({}) AND sender_type = 'virtual_agent' AND sender_id IS NOT NULL \
         GROUP BY conversation_id)",
        super::placeholders(1, conversation_ids.len())
    );
    let mut query = sqlx::query_as(&sql);
    for id in conversation_ids {
        query = query.bind(*id);
    }
    query.fetch_all(db).await
}

/// A delivery status that arrived before its message's provider id was recorded.
#[derive(Debug, Clone, FromRow)]
pub struct EarlyStatus {
    pub status: String,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
}

/// How long an early status waits for its message.
const EARLY_STATUS_TTL_MS: i64 = 24 * 3600 * 1000;

/// Keeps a status whose message is not known (yet), dropping those that waited over a day.
pub async fn park_status(
    conn: &mut Conn,
    channel_id: i64,
    provider_message_id: &str,
    status: &EarlyStatus,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM early_statuses WHERE received_at < $1")
        .bind(now - EARLY_STATUS_TTL_MS)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO early_statuses (channel_id, provider_message_id, status, error_code, error_text, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(channel_id)
    .bind(provider_message_id)
    .bind(&status.status)
    .bind(&status.error_code)
    .bind(&status.error_text)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes the statuses that waited for this provider message id, in arrival order.
pub async fn take_early_statuses(
    conn: &mut Conn,
    channel_id: i64,
    provider_message_id: &str,
) -> sqlx::Result<Vec<EarlyStatus>> {
    let found: Vec<EarlyStatus> = sqlx::query_as(
        "SELECT status, error_code, error_text FROM early_statuses WHERE channel_id = $1 \
         AND provider_message_id = $2 ORDER BY id",
    )
    .bind(channel_id)
    .bind(provider_message_id)
    .fetch_all(&mut *conn)
    .await?;
    if !found.is_empty() {
        sqlx::query("DELETE FROM early_statuses WHERE channel_id = $1 AND provider_message_id = $2")
            .bind(channel_id)
            .bind(provider_message_id)
            .execute(conn)
            .await?;
    }
    Ok(found)
}

/// Records the caller's own id of a message.
pub async fn set_customer_message_id(conn: &mut Conn, id: i64, customer_message_id: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE messages SET customer_message_id = $1 WHERE id = $2")
        .bind(customer_message_id)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The newest messages of an account with one of the caller's ids, on channels of `kind`.
pub async fn find_by_customer_ids(
    conn: &mut Conn,
    account_id: i64,
    kind: &str,
    customer_ids: &[String],
) -> sqlx::Result<Vec<(String, MessageRow)>> {
    let mut found = Vec::new();
    for customer_id in customer_ids {
        let row: Option<MessageRow> = sqlx::query_as(&format!(
            "SELECT {} FROM messages m WHERE m.account_id = $1 AND m.customer_message_id = $2 \
             AND m.channel_id IN (SELECT id FROM channels WHERE account_id = $1 AND kind = $3) \
             ORDER BY m.id DESC LIMIT 1",
            COLUMNS.split(", ").map(|c| format!("m.{c}")).collect::<Vec<_>>().join(", ")
        ))
        .bind(account_id)
        .bind(customer_id)
        .bind(kind)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(row) = row {
            found.push((customer_id.clone(), row));
        }
    }
    Ok(found)
}
