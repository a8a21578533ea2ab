//! What a chat of the contact-centre chat API carries beyond its conversation, and the account's
//! company secret that signs custom data.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A conversation's chat details.
#[derive(Debug, Clone, Default, FromRow)]
pub struct ChatRow {
    pub conversation_id: i64,
    pub account_id: i64,
    pub lang: Option<String>,
    /// JSON handed to the virtual agent as unsigned data.
    pub context: Option<String>,
    /// JSON object of `{label, value}` fields.
    pub custom_data: String,
    pub custom_data_signed: i64,
    /// How it ended when not simply `finished`.
    pub outcome: Option<String>,
    pub finished_by: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str = "conversation_id, account_id, lang, context, custom_data, custom_data_signed, outcome, \
                       finished_by, created_at, updated_at";

/// A conversation's chat details, if it has any.
pub async fn find<'c>(db: impl AnyExecutor<'c>, conversation_id: i64) -> sqlx::Result<Option<ChatRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM chat_details WHERE conversation_id = $1"))
        .bind(conversation_id)
        .fetch_optional(db)
        .await
}

/// Writes a conversation's chat details (all of them).
pub async fn save(conn: &mut Conn, row: &ChatRow, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO chat_details (conversation_id, account_id, lang, context, custom_data, custom_data_signed, \
         outcome, finished_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         ON CONFLICT (conversation_id) DO UPDATE SET lang = excluded.lang, context = excluded.context, \
         custom_data = excluded.custom_data, custom_data_signed = excluded.custom_data_signed, \
         outcome = excluded.outcome, finished_by = excluded.finished_by, updated_at = excluded.updated_at",
    )
    .bind(row.conversation_id)
    .bind(row.account_id)
    .bind(row.lang.as_deref())
    .bind(row.context.as_deref())
    .bind(&row.custom_data)
    .bind(row.custom_data_signed)
    .bind(row.outcome.as_deref())
    .bind(row.finished_by)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The account's company secret, if one is set.
pub async fn company_secret<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT company_secret FROM accounts WHERE id = $1")
        .bind(account_id)
        .fetch_optional(db)
        .await
        .map(Option::flatten)
}

/// Replaces the account's company secret.
pub async fn set_company_secret(conn: &mut Conn, account_id: i64, secret: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE accounts SET company_secret = $1 WHERE id = $2")
        .bind(secret)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(())
}
