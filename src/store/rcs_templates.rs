//! Saved RCS messages, per account.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored RCS template.
#[derive(Debug, Clone, FromRow)]
pub struct RcsTemplateRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub description: String,
    /// TEXT, CARD or CAROUSEL.
    #[sqlx(rename = "type")]
    pub kind: String,
    /// The message body, as JSON.
    pub body: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a template is made of.
pub struct TemplateFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub kind: &'a str,
    pub body: &'a str,
}

const COLUMNS: &str = "id, account_id, name, description, type, body, created_at, updated_at";

/// Inserts a template; answers it.
pub async fn insert(
    conn: &mut Conn,
    account_id: i64,
    fields: &TemplateFields<'_>,
    now: i64,
) -> sqlx::Result<RcsTemplateRow> {
    sqlx::query_as(&format!(
        "INSERT INTO rcs_templates (account_id, name, description, type, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.kind)
    .bind(fields.body)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Replaces a template's fields; `None` when the account has no such template.
pub async fn update(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    fields: &TemplateFields<'_>,
    now: i64,
) -> sqlx::Result<Option<RcsTemplateRow>> {
    sqlx::query_as(&format!(
        "UPDATE rcs_templates SET name = $1, description = $2, type = $3, body = $4, updated_at = $5 \
         WHERE account_id = $6 AND id = $7 RETURNING {COLUMNS}"
    ))
    .bind(fields.name)
    .bind(fields.description)
    .bind(fields.kind)
    .bind(fields.body)
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// The account's templates, oldest first.
pub async fn list<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<RcsTemplateRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM rcs_templates WHERE account_id = $1 ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// One of the account's templates.
pub async fn find<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<RcsTemplateRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM rcs_templates WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Deletes one of the account's templates; whether it existed.
pub async fn delete(conn: &mut Conn, account_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM rcs_templates WHERE account_id = $1 AND id = $2")
        .bind(account_id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}
