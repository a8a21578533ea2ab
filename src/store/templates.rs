//! WhatsApp message templates per channel.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored template.
#[derive(Debug, Clone, FromRow)]
pub struct TemplateRow {
    pub id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    pub name: String,
    pub language: String,
    pub category: String,
    /// Meta's review status: APPROVED, PENDING, REJECTED, PAUSED, DISABLED…
    pub status: String,
    /// Meta's component list, as JSON.
    pub components: String,
    pub provider_template_id: Option<String>,
    /// Why Meta rejected or paused it.
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "id, account_id, channel_id, name, language, category, status, components, \
    provider_template_id, reason, created_at, updated_at";

/// Inserts a template, or replaces the one with its name and language on the channel; returns it.
pub async fn upsert(conn: &mut Conn, row: &TemplateRow) -> sqlx::Result<TemplateRow> {
    sqlx::query_as(&format!(
        "INSERT INTO templates (account_id, channel_id, name, language, category, status, components, \
         provider_template_id, reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (channel_id, name, language) DO UPDATE SET category = excluded.category, \
         status = excluded.status, components = excluded.components, \
         provider_template_id = excluded.provider_template_id, reason = excluded.reason, updated_at = excluded.updated_at \
         RETURNING {COLUMNS}"
    ))
    .bind(row.account_id)
    .bind(row.channel_id)
    .bind(&row.name)
    .bind(&row.language)
    .bind(&row.category)
    .bind(&row.status)
    .bind(&row.components)
    .bind(&row.provider_template_id)
    .bind(&row.reason)
    .bind(row.updated_at)
    .fetch_one(conn)
    .await
}

/// A channel's templates by name and language.
pub async fn list<'c>(db: impl AnyExecutor<'c>, channel_id: i64) -> sqlx::Result<Vec<TemplateRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE channel_id = $1 ORDER BY name, language, id"))
        .bind(channel_id)
        .fetch_all(db)
        .await
}

/// One of a channel's templates by id.
pub async fn find<'c>(db: impl AnyExecutor<'c>, channel_id: i64, id: i64) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE channel_id = $1 AND id = $2"))
        .bind(channel_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// A channel's template by name and language.
pub async fn find_by_name<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    name: &str,
    language: &str,
) -> sqlx::Result<Option<TemplateRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM templates WHERE channel_id = $1 AND name = $2 AND language = $3"))
        .bind(channel_id)
        .bind(name)
        .bind(language)
        .fetch_optional(db)
        .await
}

/// Removes a template; whether it existed.
pub async fn delete(conn: &mut Conn, channel_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM templates WHERE channel_id = $1 AND id = $2")
        .bind(channel_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Meta's review verdict on a template.
#[derive(Debug)]
pub struct StatusUpdate<'a> {
    pub provider_template_id: Option<&'a str>,
    pub name: &'a str,
    pub language: &'a str,
    pub status: &'a str,
    pub reason: Option<&'a str>,
}

/// Records Meta's review status for the templates of these channels matching Meta's template id,
/// or else name and language; returns how many changed.
pub async fn set_status(
    conn: &mut Conn,
    channel_ids: &[i64],
    update: &StatusUpdate<'_>,
    now: i64,
) -> sqlx::Result<u64> {
    if channel_ids.is_empty() {
        return Ok(0);
    }
    let sql = format!(
        "UPDATE templates SET status = $1, reason = $2, updated_at = $3 WHERE channel_id IN ({}) \
         AND (provider_template_id = $4 OR (name = $5 AND language = $6))",
        super::placeholders(7, channel_ids.len())
    );
    let mut query = sqlx::query(&sql)
        .bind(update.status)
        .bind(update.reason)
        .bind(now)
        .bind(update.provider_template_id)
        .bind(update.name)
        .bind(update.language);
    for id in channel_ids {
        query = query.bind(*id);
    }
    Ok(query.execute(conn).await?.rows_affected())
}
