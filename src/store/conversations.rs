//! Conversations: one thread with one contact on one channel.

use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyExecutor, FromRow};

use super::Conn;

/// A conversation with its contact and channel columns, as lists and views need it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConversationRow {
    pub id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    pub channel_kind: String,
    pub channel_name: String,
    pub channel_address: String,
    pub contact_id: i64,
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    pub contact_email: Option<String>,
    pub contact_avatar_url: Option<String>,
    pub contact_in_address_book: i64,
    pub status: String,
    pub archived: i64,
    pub assignee_id: Option<i64>,
    pub subject: Option<String>,
    pub meta: String,
    pub tags: String,
    pub unread_count: i64,
    pub last_message_preview: Option<String>,
    pub last_message_at: i64,
    pub last_inbound_at: Option<i64>,
    pub window_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
    pub handler: String,
    pub virtual_agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub waiting_since: Option<i64>,
    /// The customer's latest satisfaction vote, 1 to 5; 0 for none.
    pub survey_rating: i64,
    /// Until when a reply may be a vote for the survey sent last.
    pub survey_due_until: Option<i64>,
    /// How many of its virtual agents' answers got a thumbs down.
    pub negative_feedback: i64,
}

macro_rules! columns {
    () => {
        "SELECT c.id, c.account_id, c.channel_id, ch.kind AS channel_kind, ch.name AS channel_name, \
     ch.address AS channel_address, c.contact_id, ct.name AS contact_name, ct.phone AS contact_phone, \
     ct.email AS contact_email, ct.avatar_url AS contact_avatar_url, ct.in_address_book AS contact_in_address_book, \
     c.status, c.archived, c.assignee_id, c.subject, c.meta, c.tags, c.unread_count, c.last_message_preview, \
     c.last_message_at, c.last_inbound_at, c.window_expires_at, c.created_at, c.updated_at, c.closed_at, \
     c.handler, c.virtual_agent_id, c.team_id, c.waiting_since, c.survey_rating, c.survey_due_until, \
     c.negative_feedback"
    };
}

/// The joins bringing the contact's and channel's columns of `columns!()`.
macro_rules! joins {
    () => {
        "JOIN contacts ct ON ct.id = c.contact_id JOIN channels ch ON ch.id = c.channel_id"
    };
}

const SELECT: &str = concat!(columns!(), " FROM conversations c ", joins!());

/// [`SELECT`]'s columns for `RETURNING` after a change to one conversation: the channel's and
/// contact's columns come from subqueries (a `RETURNING` clause names only the changed table).
const RETURNING: &str = "RETURNING id, account_id, channel_id, \
     (SELECT kind FROM channels WHERE channels.id = channel_id) AS channel_kind, \
     (SELECT name FROM channels WHERE channels.id = channel_id) AS channel_name, \
     (SELECT address FROM channels WHERE channels.id = channel_id) AS channel_address, contact_id, \
     (SELECT name FROM contacts WHERE contacts.id = contact_id) AS contact_name, \
     (SELECT phone FROM contacts WHERE contacts.id = contact_id) AS contact_phone, \
     (SELECT email FROM contacts WHERE contacts.id = contact_id) AS contact_email, \
     (SELECT avatar_url FROM contacts WHERE contacts.id = contact_id) AS contact_avatar_url, \
     (SELECT in_address_book FROM contacts WHERE contacts.id = contact_id) AS contact_in_address_book, \
     status, archived, assignee_id, subject, meta, tags, unread_count, last_message_preview, last_message_at, \
     last_inbound_at, window_expires_at, created_at, updated_at, closed_at, handler, virtual_agent_id, team_id, \
     waiting_since, survey_rating, survey_due_until, negative_feedback";

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub enum Param {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
}

/// Collects SQL conditions and their parameters, numbering placeholders as it goes.
#[derive(Debug, Default)]
pub struct Filter {
    conditions: Vec<String>,
    params: Vec<Param>,
    walk: Option<&'static str>,
}

/// Index tables that keep their conversation's `last_message_at`: a list filtered by one of
/// their entries walks them newest first instead of testing every conversation.
pub const WALKABLE: [&str; 2] = ["conversation_tags", "conversation_meta"];

impl Filter {
    /// Walks `table` (one of [`WALKABLE`], aliased `w`, joined to its conversations) instead of
    /// the conversations; conditions on `w` select its entries.
    pub fn walk(&mut self, table: &'static str) {
        self.walk = Some(table);
    }

    /// Whether the list walks an index table.
    pub fn walks(&self) -> bool {
        self.walk.is_some()
    }

    /// The expressions a list sorted by `column` orders by: the column, then the id.
    pub fn order_columns(&self, column: &str) -> (String, String) {
        match self.walk {
            Some(_) if column == "last_message_at" => ("w.last_message_at".to_owned(), "w.conversation_id".to_owned()),
            _ => (format!("c.{column}"), "c.id".to_owned()),
        }
    }

    fn tables(&self) -> String {
        match self.walk {
            Some(table) => format!("{table} w JOIN conversations c ON c.id = w.conversation_id"),
            None => "conversations c".to_owned(),
        }
    }

    /// Adds a parameter and returns its placeholder.
    pub fn param(&mut self, value: Param) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }

    /// Adds a condition built from placeholders obtained with [`Filter::param`].
    pub fn push(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    pub(super) fn where_clause(&self) -> String {
        if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        }
    }

    pub(super) fn bind<'q, O>(
        &self,
        mut query: QueryAs<'q, Any, O, AnyArguments<'q>>,
    ) -> QueryAs<'q, Any, O, AnyArguments<'q>> {
        for param in &self.params {
            query = match param {
                Param::Int(v) => query.bind(*v),
                Param::Text(v) => query.bind(v.clone()),
            };
        }
        query
    }
}

/// Sort columns a conversation list accepts.
pub const SORT_COLUMNS: &[&str] = &["last_message_at", "created_at", "updated_at", "unread_count", "id"];

/// Fetches one page of conversations matching `filter`, ordered by `column` (one of
/// [`SORT_COLUMNS`]) then id, in the given direction.
pub async fn list_conversations<'c>(
    db: impl AnyExecutor<'c>,
    filter: &Filter,
    column: &str,
    descending: bool,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<ConversationRow>> {
    let direction = if descending { "DESC" } else { "ASC" };
    let (sort, id) = filter.order_columns(column);
    // Only offset-paged dialects skip rows; every other list keeps the statement it had.
    let skip = match offset {
        0 => String::new(),
        rows => format!(" OFFSET {rows}"),
    };
    let sql = format!(
        "{} FROM {} {}{} ORDER BY {sort} {direction}, {id} {direction} LIMIT {limit}{skip}",
        columns!(),
        filter.tables(),
        joins!(),
        filter.where_clause()
    );
    filter.bind(sqlx::query_as(&sql)).fetch_all(db).await
}

/// Counts conversations matching `filter`, up to `limit`.
pub async fn count_conversations<'c>(db: impl AnyExecutor<'c>, filter: &Filter, limit: i64) -> sqlx::Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {}{} LIMIT {limit}) matching",
        filter.tables(),
        filter.where_clause()
    );
    let (count,): (i64,) = filter.bind(sqlx::query_as(&sql)).fetch_one(db).await?;
    Ok(count)
}

/// Finds a conversation of the account.
pub async fn find_conversation<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    id: i64,
) -> sqlx::Result<Option<ConversationRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE c.account_id = $1 AND c.id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The fields of a conversation whose changes have events of their own (status, assignee,
/// archiving, reading).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConversationState {
    pub id: i64,
    pub status: String,
    pub archived: i64,
    pub assignee_id: Option<i64>,
    pub unread_count: i64,
    pub handler: String,
    pub virtual_agent_id: Option<i64>,
    /// Until when a reply may be a vote for the survey sent last.
    pub survey_due_until: Option<i64>,
}

impl From<&ConversationRow> for ConversationState {
    fn from(row: &ConversationRow) -> Self {
        ConversationState {
            id: row.id,
            status: row.status.clone(),
            archived: row.archived,
            assignee_id: row.assignee_id,
            unread_count: row.unread_count,
            handler: row.handler.clone(),
            virtual_agent_id: row.virtual_agent_id,
            survey_due_until: row.survey_due_until,
        }
    }
}

/// The newest conversation of a contact on a channel that still takes messages (not closed).
pub async fn find_active_conversation<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    contact_id: i64,
) -> sqlx::Result<Option<ConversationState>> {
    sqlx::query_as(
        "SELECT id, status, archived, assignee_id, unread_count, handler, virtual_agent_id, survey_due_until \
         FROM conversations \
         WHERE channel_id = $1 AND contact_id = $2 AND status <> 'closed' ORDER BY id DESC LIMIT 1",
    )
    .bind(channel_id)
    .bind(contact_id)
    .fetch_optional(db)
    .await
}

/// The most message ids a thread is looked up by.
const MAX_THREAD_IDS: usize = 20;

/// The conversation of the newest of a channel's messages with one of these provider ids (a
/// mail's In-Reply-To and References), whatever its status.
pub async fn find_thread_conversation<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    provider_ids: &[String],
) -> sqlx::Result<Option<ConversationState>> {
    let ids = &provider_ids[..provider_ids.len().min(MAX_THREAD_IDS)];
    if ids.is_empty() {
        return Ok(None);
    }
    let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT id, status, archived, assignee_id, unread_count, handler, virtual_agent_id, survey_due_until \
         FROM conversations WHERE id = (SELECT m.conversation_id FROM messages m \
         WHERE m.channel_id = $1 AND m.provider_message_id IN ({}) ORDER BY m.id DESC LIMIT 1)",
        placeholders.join(", ")
    );
    let mut query = sqlx::query_as(&sql).bind(channel_id);
    for id in ids {
        query = query.bind(id);
    }
    query.fetch_optional(db).await
}

/// The contact known at an address on a channel, and its conversation there that still takes
/// messages (the newest not closed, or closed with its survey still due), in one query.
#[derive(Debug, Clone, FromRow)]
pub struct AddressOwner {
    pub contact_id: i64,
    pub id: Option<i64>,
    pub status: Option<String>,
    pub archived: Option<i64>,
    pub assignee_id: Option<i64>,
    pub unread_count: Option<i64>,
    pub handler: Option<String>,
    pub virtual_agent_id: Option<i64>,
    pub survey_due_until: Option<i64>,
}

impl AddressOwner {
    /// The active conversation's state, when there is one.
    pub fn conversation(&self) -> Option<ConversationState> {
        Some(ConversationState {
            id: self.id?,
            status: self.status.clone()?,
            archived: self.archived?,
            assignee_id: self.assignee_id,
            unread_count: self.unread_count?,
            handler: self.handler.clone()?,
            virtual_agent_id: self.virtual_agent_id,
            survey_due_until: self.survey_due_until,
        })
    }
}

/// Finds who owns `address` on a channel (see [`AddressOwner`]).
pub async fn find_address_owner<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    address: &str,
    now: i64,
) -> sqlx::Result<Option<AddressOwner>> {
    sqlx::query_as(
        "SELECT i.contact_id, c.id, c.status, c.archived, c.assignee_id, c.unread_count, c.handler, c.virtual_agent_id, \
         c.survey_due_until \
         FROM contact_identities i LEFT JOIN conversations c ON c.id = (SELECT a.id FROM conversations a \
         WHERE a.channel_id = i.channel_id AND a.contact_id = i.contact_id \
         AND (a.status <> 'closed' OR a.survey_due_until > $3) ORDER BY a.id DESC LIMIT 1) \
         WHERE i.channel_id = $1 AND i.external_id = $2",
    )
    .bind(channel_id)
    .bind(address)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Who a new conversation starts with: a virtual agent, or people (a team's queue when
/// `waiting_since` is set).
#[derive(Debug, Clone, Copy, Default)]
pub struct Ownership {
    pub virtual_agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub waiting_since: Option<i64>,
}

/// Inserts an open conversation and returns its id.
pub async fn insert_conversation(
    conn: &mut Conn,
    account_id: i64,
    channel_id: i64,
    contact_id: i64,
    subject: Option<&str>,
    owner: Ownership,
    now: i64,
) -> sqlx::Result<i64> {
    let handler = if owner.virtual_agent_id.is_some() { "virtual_agent" } else { "human" };
    sqlx::query_scalar(
        "INSERT INTO conversations (account_id, channel_id, contact_id, status, archived, subject, meta, tags, \
         unread_count, last_message_at, created_at, updated_at, handler, virtual_agent_id, team_id, waiting_since) \
         VALUES ($1, $2, $3, 'open', 0, $4, '{}', '[]', 0, $5, $5, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(account_id)
    .bind(channel_id)
    .bind(contact_id)
    .bind(subject)
    .bind(now)
    .bind(handler)
    .bind(owner.virtual_agent_id)
    .bind(owner.team_id)
    .bind(owner.waiting_since)
    .fetch_one(conn)
    .await
}

/// Locks a conversation for its virtual agent's answer: true while `agent_id` handles it (on
/// PostgreSQL the row stays locked until the transaction ends, so no person's takeover
/// interleaves with the answer).
pub async fn hold_for_agent(conn: &mut Conn, id: i64, agent_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET updated_at = updated_at \
         WHERE id = $1 AND handler = 'virtual_agent' AND virtual_agent_id = $2 AND status <> 'closed'",
    )
    .bind(id)
    .bind(agent_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Moves a conversation its virtual agent handles to people: `assignee` takes it when given
/// (an operator who answered or was assigned), otherwise it waits in `team_id`'s queue from
/// `now`. False when no virtual agent handled it.
pub async fn hand_to_people(
    conn: &mut Conn,
    id: i64,
    assignee: Option<i64>,
    team_id: Option<i64>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET handler = 'human', virtual_agent_id = NULL, \
         assignee_id = COALESCE($1, assignee_id), team_id = COALESCE($2, team_id), \
         waiting_since = CASE WHEN COALESCE($1, assignee_id) IS NULL THEN $3 ELSE NULL END, updated_at = $3 \
         WHERE id = $4 AND handler = 'virtual_agent'",
    )
    .bind(assignee)
    .bind(team_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// People take a conversation: a virtual agent stops handling it, it stops waiting, and
/// `operator_id` becomes its assignee when it has none.
pub async fn claim_for_people(conn: &mut Conn, id: i64, operator_id: Option<i64>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET handler = 'human', virtual_agent_id = NULL, waiting_since = NULL, \
         assignee_id = COALESCE(assignee_id, $1), updated_at = $2 WHERE id = $3",
    )
    .bind(operator_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Puts a conversation (back) in the queue of people: unassigned, waiting in `team_id`'s queue.
pub async fn queue_for_people(conn: &mut Conn, id: i64, team_id: Option<i64>, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET handler = 'human', virtual_agent_id = NULL, assignee_id = NULL, \
         team_id = COALESCE($1, team_id), waiting_since = $2, updated_at = $2 WHERE id = $3",
    )
    .bind(team_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Hands a conversation to a virtual agent: no operator in charge, nobody waiting.
pub async fn hand_to_agent(conn: &mut Conn, id: i64, agent_id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET handler = 'virtual_agent', virtual_agent_id = $1, assignee_id = NULL, \
         waiting_since = NULL, updated_at = $2 WHERE id = $3",
    )
    .bind(agent_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Gives a waiting conversation to an operator; false when it no longer waits unassigned.
pub async fn assign_waiting(conn: &mut Conn, id: i64, operator_id: i64, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET assignee_id = $1, waiting_since = NULL, updated_at = $2 \
         WHERE id = $3 AND assignee_id IS NULL AND waiting_since IS NOT NULL",
    )
    .bind(operator_id)
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records an inbound message on its conversation: one more unread, new preview and dates, the
/// reply window moved, and the conversation back in the active inbox. Returns the conversation
/// as it now stands.
pub async fn record_inbound(
    conn: &mut Conn,
    id: i64,
    preview: &str,
    at: i64,
    window_expires_at: Option<i64>,
    now: i64,
) -> sqlx::Result<ConversationRow> {
    sqlx::query_as(&format!(
        "UPDATE conversations SET unread_count = unread_count + 1, last_message_preview = $1, \
         last_message_at = $2, last_inbound_at = $2, window_expires_at = $3, archived = 0, \
         status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END, updated_at = $4 WHERE id = $5 {RETURNING}"
    ))
    .bind(preview)
    .bind(at)
    .bind(window_expires_at)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// What an inbound message that answers the conversation's survey changes.
pub struct SurveyAnswer<'a> {
    /// The vote; `None` for the comment after it.
    pub rating: Option<i64>,
    /// Until when the next reply may still belong to the survey.
    pub due_until: Option<i64>,
    pub preview: &'a str,
}

/// Records a customer's answer to a survey (their vote, or their comment after it): the vote,
/// the new preview and the reply window, but no unread count and no reopening. Returns the
/// conversation as it now stands.
pub async fn record_survey_answer(
    conn: &mut Conn,
    id: i64,
    answer: &SurveyAnswer<'_>,
    at: i64,
    window_expires_at: Option<i64>,
    now: i64,
) -> sqlx::Result<ConversationRow> {
    sqlx::query_as(&format!(
        "UPDATE conversations SET survey_rating = COALESCE($1, survey_rating), survey_due_until = $2, \
         last_message_preview = $3, last_message_at = $4, last_inbound_at = $4, \
         window_expires_at = COALESCE($5, window_expires_at), updated_at = $6 WHERE id = $7 {RETURNING}"
    ))
    .bind(answer.rating)
    .bind(answer.due_until)
    .bind(answer.preview)
    .bind(at)
    .bind(window_expires_at)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Sets the conversation's vote given directly (not as a reply); nothing is due any more.
pub async fn set_rating(conn: &mut Conn, id: i64, rating: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET survey_rating = $1, survey_due_until = NULL, updated_at = $2 WHERE id = $3")
        .bind(rating)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sets until when a reply to the conversation may be a vote.
pub async fn set_survey_due(conn: &mut Conn, id: i64, until: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE conversations SET survey_due_until = $1 WHERE id = $2")
        .bind(until)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records an inbound message that opens no reply window: new preview and date. A public
/// comment or a notice of the network also counts as unread and brings the conversation back to
/// the active inbox (`attention`); a machine's mail (an auto-reply, a bounce) changes nothing
/// else. Returns the conversation as it now stands.
pub async fn record_notice(
    conn: &mut Conn,
    id: i64,
    preview: &str,
    at: i64,
    attention: bool,
    now: i64,
) -> sqlx::Result<ConversationRow> {
    let attention = match attention {
        true => {
            "unread_count = unread_count + 1, archived = 0, \
                 status = CASE WHEN status = 'resolved' THEN 'open' ELSE status END,"
        }
        false => "",
    };
    sqlx::query_as(&format!(
        "UPDATE conversations SET {attention} last_message_preview = $1, last_message_at = $2, updated_at = $3 \
         WHERE id = $4 {RETURNING}"
    ))
    .bind(preview)
    .bind(at)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Records an outbound message on its conversation (new preview and last message date).
/// Returns the conversation as it now stands.
pub async fn record_outbound(conn: &mut Conn, id: i64, preview: &str, now: i64) -> sqlx::Result<ConversationRow> {
    sqlx::query_as(&format!(
        "UPDATE conversations SET last_message_preview = $1, last_message_at = $2, updated_at = $2 WHERE id = $3 {RETURNING}"
    ))
    .bind(preview)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// Fields of a conversation an update may change; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ConversationUpdate {
    pub status: Option<String>,
    pub archived: Option<bool>,
    pub subject: Option<String>,
    /// `Some(None)` removes the assignee.
    pub assignee_id: Option<Option<i64>>,
    pub meta: Option<String>,
    pub tags: Option<String>,
    pub closed_at: Option<Option<i64>>,
}

/// Applies an update to a conversation of the account; false when absent.
pub async fn update_conversation(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    update: &ConversationUpdate,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET status = COALESCE($1, status), archived = COALESCE($2, archived), \
         subject = COALESCE($3, subject), \
         assignee_id = CASE WHEN $4 = 1 THEN $5 ELSE assignee_id END, \
         meta = COALESCE($6, meta), tags = COALESCE($7, tags), \
         closed_at = CASE WHEN $8 = 1 THEN $9 ELSE closed_at END, updated_at = $10 \
         WHERE account_id = $11 AND id = $12",
    )
    .bind(update.status.as_deref())
    .bind(update.archived.map(i64::from))
    .bind(update.subject.as_deref())
    .bind(i64::from(update.assignee_id.is_some()))
    .bind(update.assignee_id.flatten())
    .bind(update.meta.as_deref())
    .bind(update.tags.as_deref())
    .bind(i64::from(update.closed_at.is_some()))
    .bind(update.closed_at.flatten())
    .bind(now)
    .bind(account_id)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a conversation's tag index.
pub async fn replace_tags(conn: &mut Conn, account_id: i64, id: i64, tags: &[String]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM conversation_tags WHERE conversation_id = $1").bind(id).execute(&mut *conn).await?;
    for tag in tags {
        sqlx::query(
            "INSERT INTO conversation_tags (conversation_id, account_id, tag, last_message_at) \
             SELECT id, $2, $3, last_message_at FROM conversations WHERE id = $1",
        )
        .bind(id)
        .bind(account_id)
        .bind(tag)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sets or removes (`None`) meta entries in a conversation's meta index.
pub async fn upsert_meta(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    entries: &[(String, Option<String>)],
) -> sqlx::Result<()> {
    for (key, value) in entries {
        sqlx::query("DELETE FROM conversation_meta WHERE conversation_id = $1 AND key = $2")
            .bind(id)
            .bind(key)
            .execute(&mut *conn)
            .await?;
        if let Some(value) = value {
            sqlx::query(
                "INSERT INTO conversation_meta (conversation_id, account_id, key, value, last_message_at) \
                 SELECT id, $2, $3, $4, last_message_at FROM conversations WHERE id = $1",
            )
            .bind(id)
            .bind(account_id)
            .bind(key)
            .bind(value)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Marks every inbound message of the conversation read and clears its unread count (nothing
/// changes when nothing was unread).
pub async fn mark_read(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE conversations SET unread_count = 0, updated_at = $1 WHERE account_id = $2 AND id = $3 AND unread_count > 0",
    )
    .bind(now)
    .bind(account_id)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE messages SET is_read = 1, updated_at = $1 WHERE conversation_id = $2 AND direction = 'inbound' AND is_read = 0")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Replaces (or clears, with `None`) the conversation's preview when it came from message
/// `message_id`, i.e. no newer message that sets previews (any but private notes) follows it;
/// returns whether it changed.
pub async fn replace_preview_of(
    conn: &mut Conn,
    id: i64,
    message_id: i64,
    preview: Option<&str>,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE conversations SET last_message_preview = $4, updated_at = $1 \
         WHERE id = $2 AND last_message_preview IS NOT NULL AND ($4 IS NULL OR last_message_preview <> $4) \
         AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = $2 AND m.id > $3 AND m.private = 0)",
    )
    .bind(now)
    .bind(id)
    .bind(message_id)
    .bind(preview)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The ids of a contact's conversations on a channel.
pub async fn ids_of_contact<'c>(db: impl AnyExecutor<'c>, channel_id: i64, contact_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar("SELECT id FROM conversations WHERE channel_id = $1 AND contact_id = $2")
        .bind(channel_id)
        .bind(contact_id)
        .fetch_all(db)
        .await
}
