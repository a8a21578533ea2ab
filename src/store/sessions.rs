//! Operator sessions of the web UI and failed logins.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored session, joined with its operator.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: i64,
    pub account_id: i64,
    pub operator_id: i64,
    pub csrf_token: String,
    pub last_seen_at: i64,
}

/// Login attempts of one email in the current window that did not succeed (yet).
#[derive(Debug, Clone, FromRow)]
pub struct LoginFailuresRow {
    pub failures: i64,
    pub window_started_at: i64,
    pub locked_until: Option<i64>,
}

/// A new session to store.
pub struct NewSession<'a> {
    pub account_id: i64,
    pub operator_id: i64,
    pub token_hash: &'a str,
    pub csrf_token: &'a str,
    pub now: i64,
    pub expires_at: i64,
}

/// Stores a session and returns its id.
pub async fn insert_session(conn: &mut Conn, session: &NewSession<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO operator_sessions \
         (account_id, operator_id, token_hash, csrf_token, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id",
    )
    .bind(session.account_id)
    .bind(session.operator_id)
    .bind(session.token_hash)
    .bind(session.csrf_token)
    .bind(session.now)
    .bind(session.expires_at)
    .fetch_one(conn)
    .await
}

/// Finds an unexpired session by its token's hash.
pub async fn find_session<'c>(
    db: impl AnyExecutor<'c>,
    token_hash: &str,
    now: i64,
) -> sqlx::Result<Option<SessionRow>> {
    sqlx::query_as(
        "SELECT id, account_id, operator_id, csrf_token, last_seen_at FROM operator_sessions \
         WHERE token_hash = $1 AND expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(db)
    .await
}

/// Records activity on a session.
pub async fn touch_session(conn: &mut Conn, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE operator_sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes a session (logout).
pub async fn delete_session(conn: &mut Conn, token_hash: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1").bind(token_hash).execute(conn).await?;
    Ok(())
}

/// Deletes sessions that expired before `now`.
pub async fn delete_expired_sessions(conn: &mut Conn, now: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected())
}

/// Counts one more login attempt for an email (it stays counted unless the login succeeds),
/// starting a new window when the current one began before `window_cutoff`; returns the updated
/// state. The row stays locked until the transaction ends.
pub async fn record_login_attempt(
    conn: &mut Conn,
    email: &str,
    now: i64,
    window_cutoff: i64,
) -> sqlx::Result<LoginFailuresRow> {
    sqlx::query_as(
        "INSERT INTO login_failures (email, failures, window_started_at) VALUES ($1, 1, $2) \
         ON CONFLICT (email) DO UPDATE SET \
           failures = CASE WHEN login_failures.window_started_at < $3 THEN 1 ELSE login_failures.failures + 1 END, \
           window_started_at = CASE WHEN login_failures.window_started_at < $3 THEN $2 \
             ELSE login_failures.window_started_at END \
         RETURNING failures, window_started_at, locked_until",
    )
    .bind(email)
    .bind(now)
    .bind(window_cutoff)
    .fetch_one(conn)
    .await
}

/// Refuses logins for an email until `until`.
pub async fn lock_login(conn: &mut Conn, email: &str, until: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE login_failures SET locked_until = $1 WHERE email = $2")
        .bind(until)
        .bind(email)
        .execute(conn)
        .await?;
    Ok(())
}

/// Forgets an email's login attempts after a successful one.
pub async fn clear_login_failures(conn: &mut Conn, email: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1").bind(email).execute(conn).await?;
    Ok(())
}
