//! Satisfaction surveys, each sending of one to a conversation, and their results.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored survey.
#[derive(Debug, Clone, FromRow)]
pub struct SurveyRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    /// JSON object: the question per language.
    pub questions: String,
    /// How long after sending a reply may still be a vote.
    pub window_hours: i64,
    /// JSON `{name, language}`: the approved WhatsApp template that asks once the window closed.
    pub whatsapp_template: Option<String>,
    /// JSON object: the question asking for a comment after the vote, per language.
    pub follow_ups: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const SURVEY_COLUMNS: &str =
    "id, account_id, name, questions, window_hours, whatsapp_template, follow_ups, created_at, updated_at";

/// A survey sent to a conversation.
#[derive(Debug, Clone, FromRow)]
pub struct RequestRow {
    pub id: i64,
    pub account_id: i64,
    pub survey_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub message_id: Option<i64>,
    /// pending, answered or expired.
    pub status: String,
    pub rating: Option<i64>,
    /// What the customer wrote after voting.
    pub comment: Option<String>,
    /// Who had the conversation when the survey was sent.
    pub virtual_agent_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub team_id: Option<i64>,
    pub sent_at: i64,
    pub answered_at: Option<i64>,
    pub expires_at: i64,
}

const REQUEST_COLUMNS: &str = "id, account_id, survey_id, conversation_id, channel_id, message_id, status, rating, \
                               comment, virtual_agent_id, operator_id, team_id, sent_at, answered_at, expires_at";

/// A survey's fields as stored.
pub struct SurveyFields<'a> {
    pub name: &'a str,
    pub questions: &'a str,
    pub window_hours: i64,
    pub whatsapp_template: Option<&'a str>,
    pub follow_ups: Option<&'a str>,
}

/// Inserts a survey.
pub async fn insert_survey(
    conn: &mut Conn,
    account_id: i64,
    fields: &SurveyFields<'_>,
    now: i64,
) -> sqlx::Result<SurveyRow> {
    sqlx::query_as(&format!(
        "INSERT INTO surveys (account_id, name, questions, window_hours, whatsapp_template, follow_ups, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {SURVEY_COLUMNS}"
    ))
    .bind(account_id)
    .bind(fields.name)
    .bind(fields.questions)
    .bind(fields.window_hours)
    .bind(fields.whatsapp_template)
    .bind(fields.follow_ups)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Replaces a survey's fields; `None` when the account has no such survey.
pub async fn update_survey(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    fields: &SurveyFields<'_>,
    now: i64,
) -> sqlx::Result<Option<SurveyRow>> {
    sqlx::query_as(&format!(
        "UPDATE surveys SET name = $1, questions = $2, window_hours = $3, whatsapp_template = $4, follow_ups = $5, \
         updated_at = $6 WHERE account_id = $7 AND id = $8 RETURNING {SURVEY_COLUMNS}"
    ))
    .bind(fields.name)
    .bind(fields.questions)
    .bind(fields.window_hours)
    .bind(fields.whatsapp_template)
    .bind(fields.follow_ups)
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The account's surveys, oldest first.
pub async fn list_surveys<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<SurveyRow>> {
    sqlx::query_as(&format!("SELECT {SURVEY_COLUMNS} FROM surveys WHERE account_id = $1 ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// One survey of the account.
pub async fn find_survey<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<SurveyRow>> {
    sqlx::query_as(&format!("SELECT {SURVEY_COLUMNS} FROM surveys WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A survey sent (or a vote given without one being sent, `message_id` `None`).
pub struct NewRequest {
    pub account_id: i64,
    pub survey_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub message_id: Option<i64>,
    pub virtual_agent_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub team_id: Option<i64>,
    pub expires_at: i64,
}

/// Expires the survey pending on a conversation, if any.
async fn expire_pending(conn: &mut Conn, conversation_id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE survey_requests SET status = 'expired' WHERE conversation_id = $1 AND status = 'pending'")
        .bind(conversation_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records a sent survey as pending; an earlier one still pending on the conversation expires.
pub async fn insert_request(conn: &mut Conn, new: &NewRequest, now: i64) -> sqlx::Result<RequestRow> {
    expire_pending(conn, new.conversation_id).await?;
    sqlx::query_as(&format!(
        "INSERT INTO survey_requests (account_id, survey_id, conversation_id, channel_id, message_id, \
         virtual_agent_id, operator_id, team_id, status, sent_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10) RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.survey_id)
    .bind(new.conversation_id)
    .bind(new.channel_id)
    .bind(new.message_id)
    .bind(new.virtual_agent_id)
    .bind(new.operator_id)
    .bind(new.team_id)
    .bind(now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await
}

/// Whether a survey was ever sent to the conversation.
pub async fn was_sent<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<bool> {
    let found: Option<(i64,)> = sqlx::query_as("SELECT id FROM survey_requests WHERE conversation_id = $1 LIMIT 1")
        .bind(conversation_id)
        .fetch_optional(db)
        .await?;
    Ok(found.is_some())
}

/// Keeps `comment` on the conversation's survey answered since `since` that has none yet; `None`
/// when there is no such survey.
pub async fn add_comment(
    conn: &mut Conn,
    conversation_id: i64,
    comment: &str,
    since: i64,
) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(&format!(
        "UPDATE survey_requests SET comment = $1 WHERE conversation_id = $2 AND status = 'answered' \
         AND comment IS NULL AND answered_at >= $3 RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(comment)
    .bind(conversation_id)
    .bind(since)
    .fetch_optional(conn)
    .await
}

/// Records a vote given without a survey sent (from an API or the web chat's stars), answered at once.
pub async fn insert_answered(
    conn: &mut Conn,
    new: &NewRequest,
    rating: i64,
    comment: Option<&str>,
    now: i64,
) -> sqlx::Result<RequestRow> {
    expire_pending(conn, new.conversation_id).await?;
    sqlx::query_as(&format!(
        "INSERT INTO survey_requests (account_id, survey_id, conversation_id, channel_id, virtual_agent_id, \
         operator_id, team_id, status, rating, comment, sent_at, answered_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'answered', $8, $9, $10, $10, $10) RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.survey_id)
    .bind(new.conversation_id)
    .bind(new.channel_id)
    .bind(new.virtual_agent_id)
    .bind(new.operator_id)
    .bind(new.team_id)
    .bind(rating)
    .bind(comment)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Records the vote on the conversation's pending survey; `None` when none is pending.
pub async fn answer(conn: &mut Conn, conversation_id: i64, rating: i64, now: i64) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(&format!(
        "UPDATE survey_requests SET status = 'answered', rating = $1, answered_at = $2 \
         WHERE conversation_id = $3 AND status = 'pending' AND expires_at > $2 RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(rating)
    .bind(now)
    .bind(conversation_id)
    .fetch_optional(conn)
    .await
}

/// The conversation's latest answered survey.
pub async fn latest_answered<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Option<RequestRow>> {
    sqlx::query_as(&format!(
        "SELECT {REQUEST_COLUMNS} FROM survey_requests WHERE conversation_id = $1 AND status = 'answered' \
         ORDER BY id DESC LIMIT 1"
    ))
    .bind(conversation_id)
    .fetch_optional(db)
    .await
}

/// What the results count: surveys sent from `from` to `to` (ms), of one survey, channel,
/// virtual agent, operator or team.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub survey_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub virtual_agent_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub team_id: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The conditions of a filter, on parameters `$1` (the account) to `$8`.
const FILTERED: &str = "r.account_id = $1 AND ($2 IS NULL OR r.survey_id = $2) AND ($3 IS NULL OR r.channel_id = $3) \
     AND ($4 IS NULL OR r.virtual_agent_id = $4) AND ($5 IS NULL OR r.operator_id = $5) \
     AND ($6 IS NULL OR r.team_id = $6) AND ($7 IS NULL OR r.sent_at >= $7) AND ($8 IS NULL OR r.sent_at < $8)";

fn bind_filter<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    account_id: i64,
    filter: &ResultFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
    query
        .bind(account_id)
        .bind(filter.survey_id)
        .bind(filter.channel_id)
        .bind(filter.virtual_agent_id)
        .bind(filter.operator_id)
        .bind(filter.team_id)
        .bind(filter.from)
        .bind(filter.to)
}

/// Sent surveys matching the filter, counted per outcome: (rating or `None` when unanswered, count).
pub async fn tally<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    filter: &ResultFilter,
) -> sqlx::Result<Vec<(Option<i64>, i64)>> {
    let sql = format!("SELECT r.rating, COUNT(*) FROM survey_requests r WHERE {FILTERED} GROUP BY r.rating");
    bind_filter(sqlx::query_as(&sql), account_id, filter).fetch_all(db).await
}

/// Sent surveys matching the filter per day (days since the Unix epoch, UTC), oldest first:
/// (day, sent, answered, sum of the votes).
pub async fn daily<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    filter: &ResultFilter,
) -> sqlx::Result<Vec<(i64, i64, i64, i64)>> {
    let sql = format!(
        "SELECT r.sent_at / 86400000 AS day, COUNT(*), COUNT(r.rating), CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) \
         FROM survey_requests r WHERE {FILTERED} GROUP BY r.sent_at / 86400000 ORDER BY day"
    );
    bind_filter(sqlx::query_as(&sql), account_id, filter).fetch_all(db).await
}

/// Sent surveys matching the filter, newest first, at most `limit`, with the customer's name.
pub async fn list_requests<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    filter: &ResultFilter,
    limit: i64,
) -> sqlx::Result<Vec<(RequestRow, Option<String>)>> {
    let columns = REQUEST_COLUMNS.split(", ").map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT {columns}, ct.name AS contact_name FROM survey_requests r \
         JOIN conversations c ON c.id = r.conversation_id JOIN contacts ct ON ct.id = c.contact_id \
         WHERE {FILTERED} ORDER BY r.sent_at DESC, r.id DESC LIMIT {limit}"
    );
    let rows: Vec<RequestWithName> = bind_filter(sqlx::query_as(&sql), account_id, filter).fetch_all(db).await?;
    Ok(rows.into_iter().map(|row| (row.request, row.contact_name)).collect())
}

#[derive(FromRow)]
struct RequestWithName {
    #[sqlx(flatten)]
    request: RequestRow,
    contact_name: Option<String>,
}
