//! The durable event log: every change worth telling integrators about, in commit order per account.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored event.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub account_id: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub payload: String,
    pub created_at: i64,
}

/// Appends an event and returns its id.
pub async fn insert_event(conn: &mut Conn, account_id: i64, kind: &str, payload: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO events (account_id, type, payload, created_at, dispatched) VALUES ($1, $2, $3, $4, 0) RETURNING id",
    )
    .bind(account_id)
    .bind(kind)
    .bind(payload)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Appends events of one account, in order, in one statement: each its type and payload.
pub async fn insert_events(conn: &mut Conn, account_id: i64, events: &[(&str, String)], now: i64) -> sqlx::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<String> = (0..events.len()).map(|i| format!("($1, ${}, ${}, $2, 0)", 3 + 2 * i, 4 + 2 * i)).collect();
    let sql =
        format!("INSERT INTO events (account_id, type, payload, created_at, dispatched) VALUES {}", rows.join(", "));
    let mut query = sqlx::query(&sql).bind(account_id).bind(now);
    for (kind, payload) in events {
        query = query.bind(*kind).bind(payload.as_str());
    }
    query.execute(conn).await?;
    Ok(())
}

/// The account's events after `after_id`, oldest first, at most `limit`.
pub async fn list_events_after<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    after_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(
        "SELECT id, account_id, type, payload, created_at FROM events WHERE account_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(account_id)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The newest event id of the account (0 when none).
pub async fn latest_event_id<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<i64> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT MAX(id) FROM events WHERE account_id = $1").bind(account_id).fetch_one(db).await?;
    Ok(id.unwrap_or(0))
}
