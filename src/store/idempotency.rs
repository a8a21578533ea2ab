//! Stored responses of POST requests made with an `Idempotency-Key`. A key is claimed before the
//! request runs (status 0 while in progress), so concurrent retries cannot both run; the claim is
//! a lease, so the key of a request whose process died is free again when the lease ends.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// How long a key is remembered after its request was claimed; afterwards it may be used again.
pub const KEY_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// What is stored for a key.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub request_hash: String,
    /// The response's HTTP status; 0 while the request runs.
    pub status: i64,
    pub response_body: String,
    /// When the request was claimed.
    pub created_at: i64,
    /// When an unfinished claim may be taken over.
    pub locked_until: i64,
}

/// How a claim went.
#[derive(Debug, Clone)]
pub enum Claim {
    /// The key was free: the request runs.
    New,
    /// An earlier claim's lease ran out before it finished (its process stopped): the request runs
    /// again; the earlier claim was made at this time.
    TakenOver(i64),
    /// The key is held or finished: this is what is stored.
    Held(KeyRow),
}

/// What is stored for an account's key.
async fn find_key(conn: &mut Conn, account_id: i64, key: &str) -> sqlx::Result<Option<KeyRow>> {
    sqlx::query_as(
        "SELECT request_hash, status, response_body, created_at, locked_until FROM idempotency_keys \
         WHERE account_id = $1 AND key = $2",
    )
    .bind(account_id)
    .bind(key)
    .fetch_optional(conn)
    .await
}

/// Claims a key for a request until `locked_until`. A completed key older than `expired_before`
/// counts as free.
pub async fn claim_key(
    conn: &mut Conn,
    account_id: i64,
    key: &str,
    request_hash: &str,
    now: i64,
    locked_until: i64,
    expired_before: i64,
) -> sqlx::Result<Claim> {
    let (claim, row) = match find_key(&mut *conn, account_id, key).await? {
        None => {
            let inserted = sqlx::query(
                "INSERT INTO idempotency_keys \
                 (account_id, key, request_hash, status, response_body, created_at, locked_until) \
                 VALUES ($1, $2, $3, 0, '', $4, $5) ON CONFLICT (account_id, key) DO NOTHING",
            )
            .bind(account_id)
            .bind(key)
            .bind(request_hash)
            .bind(now)
            .bind(locked_until)
            .execute(&mut *conn)
            .await?;
            if inserted.rows_affected() == 1 {
                return Ok(Claim::New);
            }
            // Another request claimed it between the two statements: report what it stored.
            let row = find_key(&mut *conn, account_id, key).await?.ok_or(sqlx::Error::RowNotFound)?;
            return Ok(Claim::Held(row));
        }
        Some(row) if row.created_at < expired_before => (Claim::New, row),
        Some(row) if row.status == 0 && row.locked_until <= now => (Claim::TakenOver(row.created_at), row),
        Some(row) => return Ok(Claim::Held(row)),
    };
    // Take the key over only if nobody else did since it was read.
    let taken = sqlx::query(
        "UPDATE idempotency_keys SET request_hash = $1, status = 0, response_body = '', created_at = $2, \
         locked_until = $3 WHERE account_id = $4 AND key = $5 AND created_at = $6 AND locked_until = $7 \
         AND status = $8",
    )
    .bind(request_hash)
    .bind(if matches!(claim, Claim::New) { now } else { row.created_at })
    .bind(locked_until)
    .bind(account_id)
    .bind(key)
    .bind(row.created_at)
    .bind(row.locked_until)
    .bind(row.status)
    .execute(&mut *conn)
    .await?;
    if taken.rows_affected() == 1 {
        return Ok(claim);
    }
    // Another request took it over first: report what it stored.
    Ok(Claim::Held(find_key(&mut *conn, account_id, key).await?.ok_or(sqlx::Error::RowNotFound)?))
}

/// Records the response of a claimed key.
pub async fn complete_key<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    key: &str,
    status: i64,
    body: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE idempotency_keys SET status = $1, response_body = $2 WHERE account_id = $3 AND key = $4")
        .bind(status)
        .bind(body)
        .bind(account_id)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends the lease of a claimed key whose request failed on the server side or was stopped, so a
/// retry can run at once and look for what the first attempt may have stored.
pub async fn abandon_claim<'c>(db: impl AnyExecutor<'c>, account_id: i64, key: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE idempotency_keys SET locked_until = 0 WHERE account_id = $1 AND key = $2 AND status = 0")
        .bind(account_id)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forgets keys claimed before `before` whose lease has ended.
pub async fn delete_expired(conn: &mut Conn, before: i64, now: i64) -> sqlx::Result<u64> {
    Ok(sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1 AND (status <> 0 OR locked_until <= $2)")
        .bind(before)
        .bind(now)
        .execute(conn)
        .await?
        .rows_affected())
}
