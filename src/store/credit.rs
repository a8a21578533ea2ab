//! Credit balances and their ledger (amounts in thousandths of the currency unit).

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// One debit (negative) or credit (positive).
#[derive(Debug, Clone, FromRow)]
pub struct LedgerRow {
    pub id: i64,
    pub account_id: i64,
    pub amount: i64,
    pub balance_after: i64,
    pub reason: String,
    pub message_id: Option<i64>,
    pub created_at: i64,
}

/// An account's `(balance, frozen)`; `(0, 0)` when it never had credit.
pub async fn balance<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<(i64, i64)> {
    let row: Option<(i64, i64)> = sqlx::query_as("SELECT balance, frozen FROM credit_balances WHERE account_id = $1")
        .bind(account_id)
        .fetch_optional(db)
        .await?;
    Ok(row.unwrap_or((0, 0)))
}

/// Adds `amount` to the balance (creating it); returns the balance after.
pub async fn add(conn: &mut Conn, account_id: i64, amount: i64, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO credit_balances (account_id, balance, frozen, updated_at) VALUES ($1, $2, 0, $3) \
         ON CONFLICT (account_id) DO UPDATE SET balance = credit_balances.balance + $2, updated_at = $3 \
         RETURNING balance",
    )
    .bind(account_id)
    .bind(amount)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

/// Freezes `amount` of the available balance for a message until it is settled or released;
/// `false` (and no change) when the available balance does not cover it.
pub async fn reserve(conn: &mut Conn, account_id: i64, message_id: i64, amount: i64, now: i64) -> sqlx::Result<bool> {
    let frozen: Option<i64> = sqlx::query_scalar(
        "UPDATE credit_balances SET frozen = frozen + $2, updated_at = $3 \
         WHERE account_id = $1 AND balance - frozen >= $2 RETURNING frozen",
    )
    .bind(account_id)
    .bind(amount)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if frozen.is_none() {
        return Ok(false);
    }
    sqlx::query("INSERT INTO credit_reservations (message_id, account_id, amount, created_at) VALUES ($1, $2, $3, $4)")
        .bind(message_id)
        .bind(account_id)
        .bind(amount)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Ends a message's reservation: the amount leaves the frozen credit and, when `spend`, the
/// balance too. Answers `(account, amount, balance after)`, or `None` when it had none.
pub async fn end_reservation(
    conn: &mut Conn,
    message_id: i64,
    spend: bool,
    now: i64,
) -> sqlx::Result<Option<(i64, i64, i64)>> {
    let reserved: Option<(i64, i64)> =
        sqlx::query_as("DELETE FROM credit_reservations WHERE message_id = $1 RETURNING account_id, amount")
            .bind(message_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((account_id, amount)) = reserved else { return Ok(None) };
    let spent = if spend { amount } else { 0 };
    let balance: i64 = sqlx::query_scalar(
        "UPDATE credit_balances SET frozen = frozen - $2, balance = balance - $3, updated_at = $4 \
         WHERE account_id = $1 RETURNING balance",
    )
    .bind(account_id)
    .bind(amount)
    .bind(spent)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(Some((account_id, amount, balance)))
}

/// Records a ledger row.
pub async fn insert_entry(
    conn: &mut Conn,
    account_id: i64,
    amount: i64,
    balance_after: i64,
    reason: &str,
    message_id: Option<i64>,
    now: i64,
) -> sqlx::Result<LedgerRow> {
    sqlx::query_as(
        "INSERT INTO credit_ledger (account_id, amount, balance_after, reason, message_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, account_id, amount, balance_after, reason, message_id, created_at",
    )
    .bind(account_id)
    .bind(amount)
    .bind(balance_after)
    .bind(reason)
    .bind(message_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await
}

/// What a message has cost so far: the sum of its ledger rows (negative when it was debited and
/// not refunded).
pub async fn message_charge(conn: &mut Conn, message_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM credit_ledger WHERE message_id = $1")
        .bind(message_id)
        .fetch_one(conn)
        .await
}

/// The newest ledger rows of an account, newest first.
pub async fn list_entries<'c>(db: impl AnyExecutor<'c>, account_id: i64, limit: i64) -> sqlx::Result<Vec<LedgerRow>> {
    sqlx::query_as(
        "SELECT id, account_id, amount, balance_after, reason, message_id, created_at FROM credit_ledger \
         WHERE account_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(account_id)
    .bind(limit)
    .fetch_all(db)
    .await
}
