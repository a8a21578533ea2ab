//! Feedback on virtual agents' answers: one thumbs up or down per message per author, and on
//! each conversation how many of its answers got a thumbs down.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// Feedback on one answer by one author.
#[derive(Debug, Clone, FromRow)]
pub struct FeedbackRow {
    pub id: i64,
    pub account_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    pub virtual_agent_id: Option<i64>,
    /// `operator:{id}`, `key:{id}` or `customer`.
    pub author: String,
    /// `up` or `down`.
    pub rating: String,
    pub reason: Option<String>,
    pub comment: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, account_id, message_id, conversation_id, virtual_agent_id, author, rating, reason, comment, \
                       created_at, updated_at";

/// Feedback to record.
pub struct NewFeedback<'a> {
    pub account_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    pub virtual_agent_id: Option<i64>,
    pub author: &'a str,
    pub rating: &'a str,
    pub reason: Option<&'a str>,
    pub comment: Option<&'a str>,
}

/// Records an author's feedback on a message, replacing theirs if they gave one, and keeps the
/// conversation's count of thumbs down.
pub async fn upsert(conn: &mut Conn, new: &NewFeedback<'_>, now: i64) -> sqlx::Result<FeedbackRow> {
    let before: Option<(String,)> =
        sqlx::query_as("SELECT rating FROM message_feedback WHERE message_id = $1 AND author = $2")
            .bind(new.message_id)
            .bind(new.author)
            .fetch_optional(&mut *conn)
            .await?;
    let row: FeedbackRow = match before {
        Some(_) => sqlx::query_as(&format!(
            "UPDATE message_feedback SET rating = $1, reason = $2, comment = $3, updated_at = $4 \
             WHERE message_id = $5 AND author = $6 RETURNING {COLUMNS}"
        ))
        .bind(new.rating)
        .bind(new.reason)
        .bind(new.comment)
        .bind(now)
        .bind(new.message_id)
        .bind(new.author)
        .fetch_one(&mut *conn)
        .await?,
        None => sqlx::query_as(&format!(
            "INSERT INTO message_feedback (account_id, message_id, conversation_id, virtual_agent_id, author, rating, \
             reason, comment, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {COLUMNS}"
        ))
        .bind(new.account_id)
        .bind(new.message_id)
        .bind(new.conversation_id)
        .bind(new.virtual_agent_id)
        .bind(new.author)
        .bind(new.rating)
        .bind(new.reason)
        .bind(new.comment)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?,
    };
    let was_down = before.is_some_and(|(rating,)| rating == "down");
    let change = i64::from(new.rating == "down") - i64::from(was_down);
    if change != 0 {
        sqlx::query("UPDATE conversations SET negative_feedback = negative_feedback + $1 WHERE id = $2")
            .bind(change)
            .bind(new.conversation_id)
            .execute(conn)
            .await?;
    }
    Ok(row)
}

/// The feedback on a conversation's messages, oldest first.
pub async fn of_conversation<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Vec<FeedbackRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM message_feedback WHERE conversation_id = $1 ORDER BY id"))
        .bind(conversation_id)
        .fetch_all(db)
        .await
}

/// The feedback on a virtual agent's answers, newest first, at most `limit`, with `up` and `down`
/// counted over all of it.
pub async fn of_agent<'c, E: AnyExecutor<'c> + Copy>(
    db: E,
    account_id: i64,
    agent_id: i64,
    rating: Option<&str>,
    limit: i64,
) -> sqlx::Result<(Vec<FeedbackRow>, Vec<(String, i64)>)> {
    let rows = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM message_feedback WHERE account_id = $1 AND virtual_agent_id = $2 \
         AND ($3 IS NULL OR rating = $3) ORDER BY id DESC LIMIT {limit}"
    ))
    .bind(account_id)
    .bind(agent_id)
    .bind(rating)
    .fetch_all(db)
    .await?;
    let counts = sqlx::query_as(
        "SELECT rating, COUNT(*) FROM message_feedback WHERE account_id = $1 AND virtual_agent_id = $2 GROUP BY rating",
    )
    .bind(account_id)
    .bind(agent_id)
    .fetch_all(db)
    .await?;
    Ok((rows, counts))
}
