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
    pub created_at: i64,
    pub updated_at: i64,
}

const SURVEY_COLUMNS: &str = "id, account_id, name, questions, window_hours, created_at, updated_at";

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
    pub sent_at: i64,
    pub answered_at: Option<i64>,
    pub expires_at: i64,
}

const REQUEST_COLUMNS: &str = "id, account_id, survey_id, conversation_id, channel_id, message_id, status, rating, \
                               sent_at, answered_at, expires_at";

/// Inserts a survey.
pub async fn insert_survey(
    conn: &mut Conn,
    account_id: i64,
    name: &str,
    questions: &str,
    window_hours: i64,
    now: i64,
) -> sqlx::Result<SurveyRow> {
    sqlx::query_as(&format!(
        "INSERT INTO surveys (account_id, name, questions, window_hours, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING {SURVEY_COLUMNS}"
    ))
    .bind(account_id)
    .bind(name)
    .bind(questions)
    .bind(window_hours)
    .bind(now)
    .fetch_one(conn)
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

/// A survey sent.
pub struct NewRequest {
    pub account_id: i64,
    pub survey_id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    pub message_id: i64,
    pub expires_at: i64,
}

/// Records a sent survey as pending; an earlier one still pending on the conversation expires.
pub async fn insert_request(conn: &mut Conn, new: &NewRequest, now: i64) -> sqlx::Result<RequestRow> {
    sqlx::query("UPDATE survey_requests SET status = 'expired' WHERE conversation_id = $1 AND status = 'pending'")
        .bind(new.conversation_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query_as(&format!(
        "INSERT INTO survey_requests (account_id, survey_id, conversation_id, channel_id, message_id, status, sent_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7) RETURNING {REQUEST_COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.survey_id)
    .bind(new.conversation_id)
    .bind(new.channel_id)
    .bind(new.message_id)
    .bind(now)
    .bind(new.expires_at)
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

/// What the results count: surveys sent from `from` to `to` (ms), of one survey or channel.
#[derive(Debug, Clone, Default)]
pub struct ResultFilter {
    pub survey_id: Option<i64>,
    pub channel_id: Option<i64>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Sent surveys matching the filter, counted per outcome: (rating or `None` when unanswered, count).
pub async fn tally<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    filter: &ResultFilter,
) -> sqlx::Result<Vec<(Option<i64>, i64)>> {
    sqlx::query_as(
        "SELECT rating, COUNT(*) FROM survey_requests WHERE account_id = $1 \
         AND ($2 IS NULL OR survey_id = $2) AND ($3 IS NULL OR channel_id = $3) \
         AND ($4 IS NULL OR sent_at >= $4) AND ($5 IS NULL OR sent_at < $5) GROUP BY rating",
    )
    .bind(account_id)
    .bind(filter.survey_id)
    .bind(filter.channel_id)
    .bind(filter.from)
    .bind(filter.to)
    .fetch_all(db)
    .await
}
