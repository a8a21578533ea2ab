//! Escalations: each time a conversation went (or was asked to go) from a virtual agent to people.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored escalation.
#[derive(Debug, Clone, FromRow)]
pub struct EscalationRow {
    pub id: i64,
    pub account_id: i64,
    pub conversation_id: i64,
    pub agent_id: Option<i64>,
    pub status: String,
    pub reason: String,
    pub detail: Option<String>,
    pub deflection_channel: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "id, account_id, conversation_id, agent_id, status, reason, detail, deflection_channel, created_at, updated_at";

/// A new escalation.
pub struct NewEscalation<'a> {
    pub account_id: i64,
    pub conversation_id: i64,
    pub agent_id: Option<i64>,
    pub status: &'a str,
    pub reason: &'a str,
    pub detail: Option<&'a str>,
}

/// Inserts an escalation.
pub async fn insert_escalation(conn: &mut Conn, new: &NewEscalation<'_>, now: i64) -> sqlx::Result<EscalationRow> {
    sqlx::query_as(&format!(
        "INSERT INTO escalations (account_id, conversation_id, agent_id, status, reason, detail, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.conversation_id)
    .bind(new.agent_id)
    .bind(new.status)
    .bind(new.reason)
    .bind(new.detail)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// A conversation's escalations, oldest first.
pub async fn list_escalations<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    conversation_id: i64,
) -> sqlx::Result<Vec<EscalationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE account_id = $1 AND conversation_id = $2 ORDER BY id"
    ))
    .bind(account_id)
    .bind(conversation_id)
    .fetch_all(db)
    .await
}

/// One escalation of a conversation of the account.
pub async fn find_escalation<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    conversation_id: i64,
    id: i64,
) -> sqlx::Result<Option<EscalationRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM escalations WHERE account_id = $1 AND conversation_id = $2 AND id = $3"
    ))
    .bind(account_id)
    .bind(conversation_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The conversation's newest escalation, if any.
pub async fn latest_escalation<'c>(
    db: impl AnyExecutor<'c>,
    conversation_id: i64,
) -> sqlx::Result<Option<EscalationRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM escalations WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1"))
        .bind(conversation_id)
        .fetch_optional(db)
        .await
}

/// Sets an escalation's status and deflection channel.
pub async fn update_escalation(
    conn: &mut Conn,
    id: i64,
    status: &str,
    deflection_channel: Option<&str>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE escalations SET status = $1, deflection_channel = $2, updated_at = $3 WHERE id = $4")
        .bind(status)
        .bind(deflection_channel)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
