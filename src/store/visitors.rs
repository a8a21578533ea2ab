//! Sessions of web chat visitors.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A visitor's session.
#[derive(Debug, Clone, FromRow)]
pub struct VisitorSessionRow {
    pub id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    pub contact_id: i64,
    /// The contact's address on the channel, which the visitor's messages come from.
    pub address: String,
    /// Who the visitor says they are (proved when `verified`).
    pub identifier: Option<String>,
    pub verified: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

/// A new session.
pub struct NewVisitorSession<'a> {
    pub account_id: i64,
    pub channel_id: i64,
    pub contact_id: i64,
    pub address: &'a str,
    pub token_hash: &'a str,
    pub expires_at: i64,
}

const COLUMNS: &str =
    "id, account_id, channel_id, contact_id, address, identifier, verified, created_at, last_seen_at, expires_at";

/// Inserts a session.
pub async fn insert(conn: &mut Conn, new: &NewVisitorSession<'_>, now: i64) -> sqlx::Result<VisitorSessionRow> {
    sqlx::query_as(&format!(
        "INSERT INTO visitor_sessions (account_id, channel_id, contact_id, address, token_hash, verified, created_at, \
         last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, 0, $6, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(new.account_id)
    .bind(new.channel_id)
    .bind(new.contact_id)
    .bind(new.address)
    .bind(new.token_hash)
    .bind(now)
    .bind(new.expires_at)
    .fetch_one(conn)
    .await
}

/// The unexpired session of a token (by its hash) on a channel.
pub async fn find_by_token<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<VisitorSessionRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM visitor_sessions WHERE token_hash = $1 AND channel_id = $2 AND expires_at > $3"
    ))
    .bind(token_hash)
    .bind(channel_id)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Who a session's visitor is now.
pub struct Identity<'a> {
    pub contact_id: i64,
    pub address: &'a str,
    pub identifier: &'a str,
    pub verified: bool,
}

/// Records who the visitor is now under a new token; answers the session.
pub async fn identify(
    conn: &mut Conn,
    id: i64,
    identity: &Identity<'_>,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<VisitorSessionRow> {
    sqlx::query_as(&format!(
        "UPDATE visitor_sessions SET contact_id = $1, address = $2, identifier = $3, verified = $4, token_hash = $5, \
         last_seen_at = $6 WHERE id = $7 RETURNING {COLUMNS}"
    ))
    .bind(identity.contact_id)
    .bind(identity.address)
    .bind(identity.identifier)
    .bind(i64::from(identity.verified))
    .bind(token_hash)
    .bind(now)
    .bind(id)
    .fetch_one(conn)
    .await
}
