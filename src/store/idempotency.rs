//! Stored responses of POST requests made with an `Idempotency-Key`.

use sqlx::AnyExecutor;

/// A stored response: request hash, status and body.
pub type StoredResponse = (String, i64, String);

/// Finds the stored response for a key of the account.
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

/// Stores the first response for a key (a concurrent duplicate keeps the first one).
pub async fn insert_response<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    key: &str,
    request_hash: &str,
    status: i64,
    body: &str,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, response_body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, key) DO NOTHING",
    )
    .bind(account_id)
    .bind(key)
    .bind(request_hash)
    .bind(status)
    .bind(body)
    .bind(now)
    .execute(db)
    .await?;
    Ok(())
}
