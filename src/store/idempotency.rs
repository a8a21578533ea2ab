//! Stored responses of POST requests made with an `Idempotency-Key`. A key is claimed before the
//! request runs (status 0 while in progress), so concurrent retries cannot both run.

use sqlx::AnyExecutor;

/// A stored response: request hash, status (0 while in progress) and body.
pub type StoredResponse = (String, i64, String);

/// Claims a key for a request; false when the key was already claimed.
pub async fn claim_key<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    key: &str,
    request_hash: &str,
    now: i64,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, response_body, created_at) \
         VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (account_id, key) DO NOTHING",
    )
    .bind(account_id)
    .bind(key)
    .bind(request_hash)
    .bind(now)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Finds what is stored for a key of the account.
pub async fn find_response<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    key: &str,
) -> sqlx::Result<Option<StoredResponse>> {
    sqlx::query_as(
        "SELECT request_hash, status, response_body FROM idempotency_keys WHERE account_id = $1 AND key = $2",
    )
    .bind(account_id)
    .bind(key)
    .fetch_optional(db)
    .await
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

/// Releases a claimed key whose request failed on the server side, so a retry can run.
pub async fn release_key<'c>(db: impl AnyExecutor<'c>, account_id: i64, key: &str) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE account_id = $1 AND key = $2 AND status = 0")
        .bind(account_id)
        .bind(key)
        .execute(db)
        .await?;
    Ok(())
}
