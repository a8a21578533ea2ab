//! How far each email channel's IMAP folder was read, how the connection fares, and the mails
//! that could not be read.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// An email channel's IMAP cursor and health.
#[derive(Debug, Clone, FromRow)]
pub struct MailboxRow {
    pub channel_id: i64,
    /// The folder read.
    pub folder: String,
    /// The folder's UIDVALIDITY when last read.
    pub uid_validity: i64,
    /// The UID of the last mail taken.
    pub last_uid: i64,
    /// When the folder was last read completely (Unix ms).
    pub synced_at: Option<i64>,
    /// Why the last connection failed, until one succeeds.
    pub error: Option<String>,
    pub error_at: Option<i64>,
    pub updated_at: i64,
}

/// The channel's cursor and health.
pub async fn find<'c>(db: impl AnyExecutor<'c>, channel_id: i64) -> sqlx::Result<Option<MailboxRow>> {
    sqlx::query_as(
        "SELECT channel_id, folder, uid_validity, last_uid, synced_at, error, error_at, updated_at FROM mailboxes \
         WHERE channel_id = $1",
    )
    .bind(channel_id)
    .fetch_optional(db)
    .await
}

/// Moves the cursor to a mail taken (or given up on).
pub async fn advance(
    conn: &mut Conn,
    channel_id: i64,
    folder: &str,
    uid_validity: i64,
    last_uid: i64,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mailboxes (channel_id, folder, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (channel_id) DO UPDATE SET folder = excluded.folder, uid_validity = excluded.uid_validity, \
         last_uid = excluded.last_uid, updated_at = excluded.updated_at",
    )
    .bind(channel_id)
    .bind(folder)
    .bind(uid_validity)
    .bind(last_uid)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a complete read (clearing any error), or the error of a failed one.
pub async fn record_health(conn: &mut Conn, channel_id: i64, error: Option<&str>, now: i64) -> sqlx::Result<()> {
    let updated = match error {
        None => sqlx::query(
            "UPDATE mailboxes SET synced_at = $2, error = NULL, error_at = NULL, updated_at = $2 WHERE channel_id = $1",
        )
        .bind(channel_id)
        .bind(now),
        Some(error) => {
            sqlx::query("UPDATE mailboxes SET error = $3, error_at = $2, updated_at = $2 WHERE channel_id = $1")
                .bind(channel_id)
                .bind(now)
                .bind(error)
        }
    }
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        // Never connected yet: the error is kept on a cursor that takes nothing.
        sqlx::query(
            "INSERT INTO mailboxes (channel_id, folder, uid_validity, last_uid, synced_at, error, error_at, updated_at) \
             VALUES ($1, '', 0, 0, NULL, $2, $3, $3) ON CONFLICT (channel_id) DO NOTHING",
        )
        .bind(channel_id)
        .bind(error)
        .bind(now)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// A mail that could not be read.
#[derive(Debug, Clone, FromRow)]
pub struct MailFailureRow {
    pub id: i64,
    pub account_id: i64,
    pub channel_id: i64,
    pub uid_validity: i64,
    pub uid: i64,
    pub reason: String,
    pub raw_media_key: Option<String>,
    pub created_at: i64,
}

/// Records a mail that could not be read, once.
pub async fn record_failure(conn: &mut Conn, failure: &MailFailureRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO mail_failures (account_id, channel_id, uid_validity, uid, reason, raw_media_key, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id, uid_validity, uid) DO NOTHING",
    )
    .bind(failure.account_id)
    .bind(failure.channel_id)
    .bind(failure.uid_validity)
    .bind(failure.uid)
    .bind(&failure.reason)
    .bind(&failure.raw_media_key)
    .bind(failure.created_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many mails of a channel could not be read.
pub async fn count_failures<'c>(db: impl AnyExecutor<'c>, channel_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM mail_failures WHERE channel_id = $1").bind(channel_id).fetch_one(db).await
}

/// A channel's failed imports, newest first.
pub async fn list_failures<'c>(
    db: impl AnyExecutor<'c>,
    channel_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<MailFailureRow>> {
    sqlx::query_as(
        "SELECT id, account_id, channel_id, uid_validity, uid, reason, raw_media_key, created_at FROM mail_failures \
         WHERE channel_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(channel_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
