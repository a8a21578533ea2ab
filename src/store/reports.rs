//! Reports: what happened to each conversation and messages per quarter hour, folded from the
//! event log; the figures are read back as one text per index range (`dimension,instant,…;…`), so a
//! report over a million conversations moves one value, not a million rows.

use sqlx::{AnyExecutor, FromRow};

use super::{placeholders, Backend, Conn, Db};

/// What a conversation's report row holds.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ReportConversationRow {
    pub conversation_id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// `human` or `virtual_agent`.
    pub handler: String,
    /// The virtual agent that handled it first.
    pub agent_id: Option<i64>,
    pub opened_at: i64,
    /// Since when the customer waits for people's first answer.
    pub waiting_from: Option<i64>,
    pub first_response_at: Option<i64>,
    /// The operator who answered first (none for an integration's answer).
    pub responder_id: Option<i64>,
    /// When people took it over from its virtual agent.
    pub escalated_at: Option<i64>,
    pub resolved_at: Option<i64>,
    /// 1 when its virtual agent resolved it, people never involved.
    pub bot_resolved: i64,
}

const COLUMNS: &str = "conversation_id, account_id, channel_id, team_id, assignee_id, handler, agent_id, opened_at, \
     waiting_from, first_response_at, responder_id, escalated_at, resolved_at, bot_resolved";
/// Rows per multi-row upsert (14 parameters each).
const UPSERT_CHUNK: usize = 60;

/// The report rows of these conversations.
pub async fn find_conversations(conn: &mut Conn, ids: &[i64]) -> sqlx::Result<Vec<ReportConversationRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql =
        format!("SELECT {COLUMNS} FROM report_conversations WHERE conversation_id IN ({})", placeholders(1, ids.len()));
    let mut query = sqlx::query_as(&sql);
    for id in ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}

/// Writes report rows, replacing the ones stored for the same conversations.
pub async fn save_conversations(conn: &mut Conn, rows: &[ReportConversationRow]) -> sqlx::Result<()> {
    for chunk in rows.chunks(UPSERT_CHUNK) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 14 + 1, 14))).collect();
        let sql = format!(
            "INSERT INTO report_conversations ({COLUMNS}) VALUES {} ON CONFLICT (conversation_id) DO UPDATE SET \
             channel_id = excluded.channel_id, team_id = excluded.team_id, assignee_id = excluded.assignee_id, \
             handler = excluded.handler, agent_id = excluded.agent_id, opened_at = excluded.opened_at, \
             waiting_from = excluded.waiting_from, first_response_at = excluded.first_response_at, \
             responder_id = excluded.responder_id, escalated_at = excluded.escalated_at, \
             resolved_at = excluded.resolved_at, bot_resolved = excluded.bot_resolved",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = query
                .bind(row.conversation_id)
                .bind(row.account_id)
                .bind(row.channel_id)
                .bind(row.team_id)
                .bind(row.assignee_id)
                .bind(&row.handler)
                .bind(row.agent_id)
                .bind(row.opened_at)
                .bind(row.waiting_from)
                .bind(row.first_response_at)
                .bind(row.responder_id)
                .bind(row.escalated_at)
                .bind(row.resolved_at)
                .bind(row.bot_resolved);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Messages to add to a quarter hour of one dimension's value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountKey {
    pub account_id: i64,
    pub bucket_at: i64,
    pub dimension: &'static str,
    pub dimension_id: i64,
}

/// Adds messages in and out to their quarter hours.
pub async fn add_message_counts(conn: &mut Conn, counts: &[(CountKey, (i64, i64))]) -> sqlx::Result<()> {
    for chunk in counts.chunks(UPSERT_CHUNK) {
        let values: Vec<String> = (0..chunk.len()).map(|i| format!("({})", placeholders(i * 6 + 1, 6))).collect();
        let sql = format!(
            "INSERT INTO report_message_counts (account_id, bucket_at, dimension, dimension_id, inbound, outbound) \
             VALUES {} ON CONFLICT (account_id, dimension, bucket_at, dimension_id) DO UPDATE SET \
             inbound = report_message_counts.inbound + excluded.inbound, \
             outbound = report_message_counts.outbound + excluded.outbound",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for (key, (inbound, outbound)) in chunk {
            query = query
                .bind(key.account_id)
                .bind(key.bucket_at)
                .bind(key.dimension)
                .bind(key.dimension_id)
                .bind(*inbound)
                .bind(*outbound);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The length of a message count's bucket: a quarter hour, so every time zone's days are whole
/// buckets.
pub const BUCKET_MS: i64 = 15 * 60 * 1000;

/// Rebuilds the report tables from the conversations and messages stored (an installation from
/// before reports, or one written in bulk): first answers by people or integrations, from the
/// first inbound message or the escalation.
pub async fn rebuild(conn: &mut Conn) -> sqlx::Result<()> {
    let statements = [
        "DELETE FROM report_conversations".to_owned(),
        "DELETE FROM report_message_counts".to_owned(),
        "INSERT INTO report_conversations (conversation_id, account_id, channel_id, team_id, assignee_id, handler, \
         agent_id, opened_at, waiting_from, first_response_at, responder_id, escalated_at, resolved_at, bot_resolved) \
         SELECT c.id, c.account_id, c.channel_id, c.team_id, c.assignee_id, c.handler, COALESCE(c.virtual_agent_id, \
         (SELECT e.agent_id FROM escalations e WHERE e.conversation_id = c.id ORDER BY e.id LIMIT 1)), c.created_at, \
         NULL, NULL, NULL, (SELECT MIN(e.created_at) FROM escalations e WHERE e.conversation_id = c.id), \
         CASE WHEN c.status IN ('resolved', 'closed') THEN COALESCE(c.closed_at, c.updated_at) END, 0 \
         FROM conversations c"
            .to_owned(),
        "UPDATE report_conversations SET waiting_from = CASE WHEN escalated_at IS NOT NULL THEN escalated_at \
         ELSE (SELECT MIN(m.created_at) FROM messages m WHERE m.conversation_id = report_conversations.conversation_id \
         AND m.direction = 'inbound' AND m.private = 0) END WHERE escalated_at IS NOT NULL OR handler = 'human'"
            .to_owned(),
        "UPDATE report_conversations SET bot_resolved = 1 \
         WHERE resolved_at IS NOT NULL AND handler = 'virtual_agent' AND escalated_at IS NULL"
            .to_owned(),
        format!(
            "UPDATE report_conversations SET first_response_at = (SELECT MIN(m.created_at) FROM messages m \
             WHERE {ANSWER}) WHERE waiting_from IS NOT NULL"
        ),
        format!(
            "UPDATE report_conversations SET responder_id = (SELECT m.sender_id FROM messages m WHERE {ANSWER} \
             AND m.created_at = report_conversations.first_response_at AND m.sender_type = 'operator' \
             ORDER BY m.id LIMIT 1) WHERE first_response_at IS NOT NULL"
        ),
    ];
    for statement in statements {
        sqlx::query(&statement).execute(&mut *conn).await?;
    }
    let dimensions = [
        ("channel", "m.channel_id"),
        ("team", "COALESCE(c.team_id, 0)"),
        (
            "operator",
            "CASE WHEN m.direction = 'inbound' THEN COALESCE(c.assignee_id, 0) \
             WHEN m.sender_type = 'operator' THEN COALESCE(m.sender_id, 0) ELSE 0 END",
        ),
        (
            "virtual_agent",
            "CASE WHEN m.sender_type = 'virtual_agent' THEN COALESCE(m.sender_id, 0) \
             WHEN m.direction = 'inbound' AND c.handler = 'virtual_agent' THEN COALESCE(c.virtual_agent_id, 0) ELSE 0 END",
        ),
    ];
    for (dimension, value) in dimensions {
        sqlx::query(&format!(
            "INSERT INTO report_message_counts (account_id, bucket_at, dimension, dimension_id, inbound, outbound) \
             SELECT m.account_id, m.created_at - m.created_at % {BUCKET_MS}, $1, {value}, \
             SUM(CASE WHEN m.direction = 'inbound' THEN 1 ELSE 0 END), \
             SUM(CASE WHEN m.direction = 'outbound' THEN 1 ELSE 0 END) \
             FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.private = 0 \
             GROUP BY m.account_id, m.created_at - m.created_at % {BUCKET_MS}, {value}"
        ))
        .bind(dimension)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// After a rebuild, on PostgreSQL: marks the report tables' pages all-visible (their indexes then
/// answer reports alone, without visiting a row version the rebuild left behind) and updates the
/// planner's statistics. SQLite has nothing to do.
pub async fn settle(db: &Db) -> sqlx::Result<()> {
    if db.backend() == Backend::Postgres {
        sqlx::query("VACUUM (ANALYZE) report_conversations, report_message_counts").execute(db.writer()).await?;
    }
    Ok(())
}

/// A message that answers a report row's waiting customer (SQL condition on `m`).
const ANSWER: &str = "m.conversation_id = report_conversations.conversation_id AND m.direction = 'outbound' \
     AND m.private = 0 AND m.sender_type IN ('operator', 'system') AND m.created_at >= report_conversations.waiting_from";

/// A figure read from the conversations' report rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// `dimension,opened_at` per conversation opened in the range.
    Opened,
    /// `dimension,first_response_at,waiting_from` per first answer in the range.
    Responded,
    /// `dimension,resolved_at,opened_at,bot_resolved` per conversation resolved in the range.
    Resolved,
    /// `dimension,escalated_at` per escalation in the range.
    Escalated,
}

/// What a report splits its figures by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Everything,
    Channel,
    Team,
    Operator,
    VirtualAgent,
}

impl Dimension {
    /// Its name in the message counts (every message has a channel, so the whole is the channels').
    pub fn counted_as(self) -> &'static str {
        match self {
            Dimension::Everything | Dimension::Channel => "channel",
            Dimension::Team => "team",
            Dimension::Operator => "operator",
            Dimension::VirtualAgent => "virtual_agent",
        }
    }
}

/// One series of an account's figures from `from` (inclusive) to `to`, as `;`-separated records
/// of `,`-separated integers (`None` when there are none).
pub async fn series<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    series: Series,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> sqlx::Result<Option<String>> {
    let (time, fields) = match series {
        Series::Opened => ("opened_at", "opened_at"),
        Series::Responded => ("first_response_at", "first_response_at || ',' || waiting_from"),
        Series::Resolved => ("resolved_at", "resolved_at || ',' || opened_at || ',' || bot_resolved"),
        Series::Escalated => ("escalated_at", "escalated_at"),
    };
    let dimension = match (dimension, series) {
        (Dimension::Everything, _) => "0",
        (Dimension::Channel, _) => "channel_id",
        (Dimension::Team, _) => "COALESCE(team_id, 0)",
        (Dimension::Operator, Series::Responded) => "COALESCE(responder_id, 0)",
        (Dimension::Operator, _) => "COALESCE(assignee_id, 0)",
        (Dimension::VirtualAgent, _) => "COALESCE(agent_id, 0)",
    };
    sqlx::query_scalar(&format!(
        "SELECT string_agg({dimension} || ',' || {fields}, ';') FROM report_conversations \
         WHERE account_id = $1 AND {time} >= $2 AND {time} < $3"
    ))
    .bind(account_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

/// When the earliest time the series of `from` to `to` measure starts: a first response's wait
/// or a resolved conversation's opening.
pub async fn earliest_start<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT MIN(earliest) FROM (SELECT MIN(waiting_from) AS earliest FROM report_conversations \
         WHERE account_id = $1 AND first_response_at >= $2 AND first_response_at < $3 \
         UNION ALL SELECT MIN(opened_at) FROM report_conversations \
         WHERE account_id = $1 AND resolved_at >= $2 AND resolved_at < $3) AS starts",
    )
    .bind(account_id)
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

/// An account's message counts of one dimension from `from` to `to`, as
/// `dimension_id,bucket_at,inbound,outbound` records.
pub async fn message_counts<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    dimension: Dimension,
    from: i64,
    to: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT string_agg(dimension_id || ',' || bucket_at || ',' || inbound || ',' || outbound, ';') \
         FROM report_message_counts WHERE account_id = $1 AND dimension = $2 AND bucket_at >= $3 AND bucket_at < $4",
    )
    .bind(account_id)
    .bind(dimension.counted_as())
    .bind(from)
    .bind(to)
    .fetch_one(db)
    .await
}

/// A named thing a report splits by: a channel (with its network), team, operator or virtual agent.
#[derive(Debug, Clone, FromRow)]
pub struct NamedRow {
    pub id: i64,
    pub name: String,
    pub kind: Option<String>,
}

/// The names of an account's channels, teams, operators or virtual agents (deleted ones too:
/// their past figures stay theirs).
pub async fn names<'c>(db: impl AnyExecutor<'c>, account_id: i64, dimension: Dimension) -> sqlx::Result<Vec<NamedRow>> {
    let sql = match dimension {
        Dimension::Everything => return Ok(Vec::new()),
        Dimension::Channel => "SELECT id, name, kind FROM channels WHERE account_id = $1 ORDER BY id",
        Dimension::Team => "SELECT id, name, NULL AS kind FROM teams WHERE account_id = $1 ORDER BY id",
        Dimension::Operator => "SELECT id, name, NULL AS kind FROM operators WHERE account_id = $1 ORDER BY id",
        Dimension::VirtualAgent => "SELECT id, name, NULL AS kind FROM agents WHERE account_id = $1 ORDER BY id",
    };
    sqlx::query_as(sql).bind(account_id).fetch_all(db).await
}

/// Open (or pending) conversations of an account counted by team, assignee and the virtual agent
/// handling them (`None` for none).
#[derive(Debug, Clone, FromRow)]
pub struct OpenCountRow {
    pub team_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub handler: String,
    pub agent_id: Option<i64>,
    pub count: i64,
}

/// How an account's open conversations are spread, from their report rows (not resolved).
pub async fn open_counts<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<OpenCountRow>> {
    sqlx::query_as(
        "SELECT team_id, assignee_id, handler, agent_id, COUNT(*) AS count FROM report_conversations \
         WHERE account_id = $1 AND resolved_at IS NULL GROUP BY team_id, assignee_id, handler, agent_id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// The open conversations waiting for an operator, unassigned, as `team_id,waiting_since` records.
/// Only `waiting_since` filters rows, so the index of waiting conversations is the one read.
pub async fn waiting<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT string_agg(CASE WHEN assignee_id IS NULL AND status IN ('open', 'pending') \
         THEN COALESCE(team_id, 0) || ',' || waiting_since END, ';') FROM conversations \
         WHERE account_id = $1 AND waiting_since IS NOT NULL",
    )
    .bind(account_id)
    .fetch_one(db)
    .await
}

/// An account's business hours (JSON), if it set them.
pub async fn business_hours<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT business_hours FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Sets (or with `None` clears) an account's business hours.
pub async fn set_business_hours(conn: &mut Conn, account_id: i64, hours: Option<&str>) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET business_hours = $1 WHERE id = $2")
        .bind(hours)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(())
}
