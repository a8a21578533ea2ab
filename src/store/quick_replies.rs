//! Quick replies: saved answers, one row per short code and language.

use sqlx::any::AnyArguments;
use sqlx::query::QueryAs;
use sqlx::{Any, AnyExecutor, FromRow};

use super::Conn;

/// A stored quick reply.
#[derive(Debug, Clone, FromRow)]
pub struct QuickReplyRow {
    pub id: i64,
    pub account_id: i64,
    pub shortcode: String,
    /// `''` for any language.
    pub language: String,
    pub text: String,
    pub media_key: Option<String>,
    /// JSON array of button titles.
    pub buttons: String,
    pub team_id: Option<i64>,
    pub channel_kind: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A quick reply's fields as stored.
#[derive(Debug, Clone)]
pub struct QuickReplyFields<'a> {
    pub shortcode: &'a str,
    pub language: &'a str,
    pub text: &'a str,
    pub media_key: Option<&'a str>,
    pub buttons: &'a str,
    pub team_id: Option<i64>,
    pub channel_kind: Option<&'a str>,
}

const COLUMNS: &str =
    "id, account_id, shortcode, language, text, media_key, buttons, team_id, channel_kind, created_at, updated_at";

/// Binds a quick reply's fields as `$1` to `$7`, in the order of [`QuickReplyFields`].
fn bind_fields<'q>(
    query: QueryAs<'q, Any, QuickReplyRow, AnyArguments<'q>>,
    fields: &QuickReplyFields<'q>,
) -> QueryAs<'q, Any, QuickReplyRow, AnyArguments<'q>> {
    query
        .bind(fields.shortcode)
        .bind(fields.language)
        .bind(fields.text)
        .bind(fields.media_key)
        .bind(fields.buttons)
        .bind(fields.team_id)
        .bind(fields.channel_kind)
}

/// Inserts a quick reply; `None` when the account has one with this short code and language.
pub async fn insert(
    conn: &mut Conn,
    account_id: i64,
    fields: &QuickReplyFields<'_>,
    now: i64,
) -> sqlx::Result<Option<QuickReplyRow>> {
    let sql = format!(
        "INSERT INTO quick_replies (shortcode, language, text, media_key, buttons, team_id, channel_kind, account_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (account_id, shortcode, language) DO NOTHING RETURNING {COLUMNS}"
    );
    bind_fields(sqlx::query_as(&sql), fields).bind(account_id).bind(now).fetch_optional(conn).await
}

/// Replaces a quick reply's fields; `None` when the account has no such quick reply.
pub async fn update(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    fields: &QuickReplyFields<'_>,
    now: i64,
) -> sqlx::Result<Option<QuickReplyRow>> {
    let sql = format!(
        "UPDATE quick_replies SET shortcode = $1, language = $2, text = $3, media_key = $4, buttons = $5, team_id = $6, \
         channel_kind = $7, updated_at = $8 WHERE account_id = $9 AND id = $10 RETURNING {COLUMNS}"
    );
    bind_fields(sqlx::query_as(&sql), fields).bind(now).bind(account_id).bind(id).fetch_optional(conn).await
}

/// One quick reply of the account.
pub async fn find<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<QuickReplyRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM quick_replies WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The account's quick replies, by short code then language (a few hundred at most).
pub async fn list<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<QuickReplyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM quick_replies WHERE account_id = $1 ORDER BY shortcode, language, id"
    ))
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// The account's quick replies that share a short code (its language variants).
pub async fn variants<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    shortcode: &str,
) -> sqlx::Result<Vec<QuickReplyRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM quick_replies WHERE account_id = $1 AND shortcode = $2 ORDER BY language, id"
    ))
    .bind(account_id)
    .bind(shortcode)
    .fetch_all(db)
    .await
}

/// Deletes a quick reply; false when the account has none with this id.
pub async fn delete(conn: &mut Conn, account_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM quick_replies WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() == 1)
}
