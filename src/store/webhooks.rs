//! Webhook subscriptions, their deliveries (one per subscription and event) and every attempt.

use sqlx::{AnyExecutor, FromRow};

use super::events::EventRow;
use super::{placeholders, Backend, Conn, Db};

/// A stored subscription.
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub account_id: i64,
    pub url: String,
    pub description: Option<String>,
    /// JSON array of event type patterns; empty means every type.
    pub event_types: String,
    pub format: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub active: i64,
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<i64>,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const WEBHOOK_COLUMNS: &str = "id, account_id, url, description, event_types, format, secret, previous_secret, \
     previous_secret_expires_at, active, disabled_reason, disabled_at, failing_since, created_at, updated_at";

/// Stores a new subscription.
pub async fn insert_webhook(conn: &mut Conn, row: &WebhookRow) -> sqlx::Result<WebhookRow> {
    sqlx::query_as(&format!(
        "INSERT INTO webhooks (account_id, url, description, event_types, format, secret, active, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {WEBHOOK_COLUMNS}"
    ))
    .bind(row.account_id)
    .bind(&row.url)
    .bind(&row.description)
    .bind(&row.event_types)
    .bind(&row.format)
    .bind(&row.secret)
    .bind(row.active)
    .bind(row.created_at)
    .fetch_one(conn)
    .await
}

/// Writes every changeable column of a subscription.
pub async fn save_webhook(conn: &mut Conn, row: &WebhookRow) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhooks SET url = $1, description = $2, event_types = $3, format = $4, secret = $5, \
         previous_secret = $6, previous_secret_expires_at = $7, active = $8, disabled_reason = $9, disabled_at = $10, \
         failing_since = $11, updated_at = $12 WHERE id = $13 AND account_id = $14",
    )
    .bind(&row.url)
    .bind(&row.description)
    .bind(&row.event_types)
    .bind(&row.format)
    .bind(&row.secret)
    .bind(&row.previous_secret)
    .bind(row.previous_secret_expires_at)
    .bind(row.active)
    .bind(&row.disabled_reason)
    .bind(row.disabled_at)
    .bind(row.failing_since)
    .bind(row.updated_at)
    .bind(row.id)
    .bind(row.account_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// One subscription of the account.
pub async fn find_webhook<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<WebhookRow>> {
    sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND account_id = $2"))
        .bind(id)
        .bind(account_id)
        .fetch_optional(db)
        .await
}

/// The account's subscriptions, oldest first.
pub async fn list_webhooks<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<WebhookRow>> {
    sqlx::query_as(&format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE account_id = $1 ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Deletes a subscription with its deliveries and attempts.
pub async fn delete_webhook(conn: &mut Conn, account_id: i64, id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND account_id = $2")
        .bind(id)
        .bind(account_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Active subscriptions of the given accounts.
pub async fn active_webhooks(conn: &mut Conn, account_ids: &[i64]) -> sqlx::Result<Vec<WebhookRow>> {
    if account_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE active = 1 AND account_id IN ({}) ORDER BY id",
        placeholders(1, account_ids.len())
    );
    let mut query = sqlx::query_as(&sql);
    for id in account_ids {
        query = query.bind(*id);
    }
    query.fetch_all(conn).await
}

/// Takes up to `limit` events not yet fanned out to subscriptions, in commit order. One dispatcher
/// at a time: SQLite's single writer serialises the claim; on PostgreSQL the transaction must win
/// the dispatcher's advisory lock (another node's dispatcher holding it gets nothing), and takes
/// only events below the oldest transaction still running, so a late commit is dispatched in its
/// place in commit order.
pub async fn claim_undispatched_events(conn: &mut Conn, backend: Backend, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    let sql = match backend {
        Backend::Sqlite => {
            "SELECT id, account_id, type, payload, created_at FROM events WHERE dispatched = 0 ORDER BY id LIMIT $1"
        }
        Backend::Postgres => {
            let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(crate::cluster::DISPATCHER_LOCK)
                .fetch_one(&mut *conn)
                .await?;
            if !won {
                return Ok(Vec::new());
            }
            "SELECT id, account_id, type, payload, created_at FROM events \
             WHERE dispatched = 0 AND xid < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY xid, id LIMIT $1"
        }
    };
    sqlx::query_as(sql).bind(limit).fetch_all(conn).await
}

/// Whether any event waits to be fanned out (a read, so checking never takes SQLite's write lock).
pub async fn has_undispatched_events<'c>(db: impl AnyExecutor<'c>) -> sqlx::Result<bool> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM events WHERE dispatched = 0 LIMIT 1").fetch_optional(db).await?;
    Ok(found.is_some())
}

/// Marks events as fanned out.
pub async fn mark_dispatched(conn: &mut Conn, event_ids: &[i64]) -> sqlx::Result<()> {
    if event_ids.is_empty() {
        return Ok(());
    }
    let sql = format!("UPDATE events SET dispatched = 1 WHERE id IN ({})", placeholders(1, event_ids.len()));
    let mut query = sqlx::query(&sql);
    for id in event_ids {
        query = query.bind(*id);
    }
    query.execute(conn).await?;
    Ok(())
}

/// A delivery to create: an event for a subscription, with its rendered body when the subscription's
/// format is not the native event.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub account_id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub body: Option<String>,
}

/// Rows per multi-row insert (7 parameters each).
const INSERT_CHUNK: usize = 100;

/// Queues deliveries due at `now`; a pair already queued is left alone, or with `reset` starts over.
pub async fn queue_deliveries(conn: &mut Conn, deliveries: &[NewDelivery], now: i64, reset: bool) -> sqlx::Result<()> {
    let conflict = if reset {
        " DO UPDATE SET status = 'pending', attempts = 0, next_attempt_at = excluded.next_attempt_at, \
         locked_until = NULL, body = excluded.body, updated_at = excluded.updated_at"
    } else {
        " DO NOTHING"
    };
    for chunk in deliveries.chunks(INSERT_CHUNK) {
        let rows: Vec<String> = (0..chunk.len())
            .map(|i| {
                let p = i * 5;
                format!(
                    "(${}, ${}, ${}, ${}, 'pending', 0, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 5,
                    p + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO webhook_deliveries (account_id, webhook_id, event_id, body, status, attempts, next_attempt_at, \
             created_at, updated_at) VALUES {} ON CONFLICT (webhook_id, event_id){conflict}",
            rows.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for delivery in chunk {
            query = query.bind(delivery.account_id).bind(delivery.webhook_id).bind(delivery.event_id);
            query = query.bind(&delivery.body).bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Everything needed to make one attempt, read when the delivery is claimed.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub account_id: i64,
    pub attempts: i64,
    pub body: Option<String>,
    pub webhook_id: i64,
    pub url: String,
    pub secret: String,
    pub previous_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub event_id: i64,
    pub event_type: String,
    pub event_payload: String,
    /// The subscription's payload format.
    pub format: String,
}

/// Claims up to `limit` due deliveries of active subscriptions for `lease_ms`, taking at most
/// `per_webhook` of any one subscription and none of those in `busy`.
pub async fn claim_due_deliveries(
    db: &Db,
    now: i64,
    lease_ms: i64,
    limit: usize,
    per_webhook: usize,
    busy: &[i64],
) -> sqlx::Result<Vec<ClaimedDelivery>> {
    // A read first, so an idle engine never takes SQLite's single write lock.
    let due: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
         AND (locked_until IS NULL OR locked_until < $1) LIMIT 1",
    )
    .bind(now)
    .fetch_optional(db.reader())
    .await?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let mut tx = db.begin().await?;
    let lock = match db.backend() {
        Backend::Postgres => " FOR UPDATE OF d SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let excluded = if busy.is_empty() {
        String::new()
    } else {
        format!(" AND d.webhook_id NOT IN ({})", placeholders(3, busy.len()))
    };
    let sql = format!(
        "SELECT d.id, d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
         WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND (d.locked_until IS NULL OR d.locked_until < $1) \
         AND w.active = 1{excluded} ORDER BY d.next_attempt_at, d.id LIMIT $2{lock}"
    );
    let mut query = sqlx::query_as::<_, (i64, i64)>(&sql).bind(now).bind((limit * per_webhook) as i64);
    for id in busy {
        query = query.bind(*id);
    }
    let candidates = query.fetch_all(&mut *tx).await?;
    let mut taken: Vec<(i64, usize)> = Vec::new();
    let mut ids = Vec::new();
    for (id, webhook) in candidates {
        if ids.len() == limit {
            break;
        }
        match taken.iter_mut().find(|(w, _)| *w == webhook) {
            Some((_, count)) if *count >= per_webhook => continue,
            Some((_, count)) => *count += 1,
            None => taken.push((webhook, 1)),
        }
        ids.push(id);
    }
    if ids.is_empty() {
        tx.commit().await?;
        return Ok(Vec::new());
    }
    let lease = format!("UPDATE webhook_deliveries SET locked_until = $1 WHERE id IN ({})", placeholders(2, ids.len()));
    let mut query = sqlx::query(&lease).bind(now + lease_ms);
    for id in &ids {
        query = query.bind(*id);
    }
    query.execute(&mut *tx).await?;
    let sql = format!(
        "SELECT d.id, d.account_id, d.attempts, d.body, d.webhook_id, w.url, w.secret, w.previous_secret, \
         w.previous_secret_expires_at, d.event_id, e.type AS event_type, e.payload AS event_payload, \
         w.format FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id JOIN events e ON e.id = d.event_id \
         WHERE d.id IN ({}) ORDER BY d.id",
        placeholders(1, ids.len())
    );
    let mut query = sqlx::query_as(&sql);
    for id in &ids {
        query = query.bind(*id);
    }
    let claimed = query.fetch_all(&mut *tx).await?;
    tx.commit().await?;
    Ok(claimed)
}

/// One attempt as logged.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptRow {
    pub id: i64,
    pub account_id: i64,
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub event_id: i64,
    pub attempted_at: i64,
    pub succeeded: i64,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub response_body: Option<String>,
    pub error: Option<String>,
}

const ATTEMPT_COLUMNS: &str = "id, account_id, webhook_id, delivery_id, event_id, attempted_at, succeeded, \
     status_code, latency_ms, response_body, error";

/// Logs an attempt (unless its subscription was deleted meanwhile).
pub async fn insert_attempt(conn: &mut Conn, attempt: &AttemptRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO webhook_attempts (account_id, webhook_id, delivery_id, event_id, attempted_at, succeeded, \
         status_code, latency_ms, response_body, error) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
         WHERE EXISTS (SELECT 1 FROM webhook_deliveries WHERE id = $3)",
    )
    .bind(attempt.account_id)
    .bind(attempt.webhook_id)
    .bind(attempt.delivery_id)
    .bind(attempt.event_id)
    .bind(attempt.attempted_at)
    .bind(attempt.succeeded)
    .bind(attempt.status_code)
    .bind(attempt.latency_ms)
    .bind(&attempt.response_body)
    .bind(&attempt.error)
    .execute(conn)
    .await?;
    Ok(())
}

/// Where a delivery stands after an attempt.
#[derive(Debug, Clone)]
pub struct DeliveryState<'a> {
    /// pending, delivered or failed.
    pub status: &'a str,
    pub next_attempt_at: Option<i64>,
    pub status_code: Option<i64>,
    pub error: Option<&'a str>,
    pub delivered_at: Option<i64>,
}

/// Records the outcome of an attempt on the delivery and releases its lease.
pub async fn finish_attempt(
    conn: &mut Conn,
    delivery_id: i64,
    state: &DeliveryState<'_>,
    now: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, locked_until = NULL, \
         last_status_code = $3, last_error = $4, delivered_at = COALESCE($5, delivered_at), updated_at = $6 WHERE id = $7",
    )
    .bind(state.status)
    .bind(state.next_attempt_at)
    .bind(state.status_code)
    .bind(state.error)
    .bind(state.delivered_at)
    .bind(now)
    .bind(delivery_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Makes every waiting delivery of a subscription due now (its target is reachable again, or it
/// was re-enabled).
pub async fn hasten_pending(conn: &mut Conn, webhook_id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE webhook_deliveries SET next_attempt_at = $1 WHERE webhook_id = $2 AND status = 'pending' \
         AND next_attempt_at > $1",
    )
    .bind(now)
    .bind(webhook_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// A delivery as listed.
#[derive(Debug, Clone, FromRow)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_SELECT: &str = "SELECT d.id, d.webhook_id, d.event_id, e.type AS event_type, d.status, d.attempts, \
     d.next_attempt_at, d.last_status_code, d.last_error, d.created_at, d.updated_at, d.delivered_at \
     FROM webhook_deliveries d JOIN events e ON e.id = d.event_id";

/// A subscription's deliveries, newest first, with ids below `before`, optionally of one status.
pub async fn list_deliveries<'c>(
    db: impl AnyExecutor<'c>,
    webhook_id: i64,
    status: Option<&str>,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<DeliveryRow>> {
    let status_filter = if status.is_some() { " AND d.status = $4" } else { "" };
    let sql =
        format!("{DELIVERY_SELECT} WHERE d.webhook_id = $1 AND d.id < $2{status_filter} ORDER BY d.id DESC LIMIT $3");
    let mut query = sqlx::query_as(&sql).bind(webhook_id).bind(before).bind(limit);
    if let Some(status) = status {
        query = query.bind(status);
    }
    query.fetch_all(db).await
}

/// The delivery of one event to one subscription.
pub async fn find_delivery<'c>(
    db: impl AnyExecutor<'c>,
    webhook_id: i64,
    event_id: i64,
) -> sqlx::Result<Option<DeliveryRow>> {
    sqlx::query_as(&format!("{DELIVERY_SELECT} WHERE d.webhook_id = $1 AND d.event_id = $2"))
        .bind(webhook_id)
        .bind(event_id)
        .fetch_optional(db)
        .await
}

/// Attempts of the account, newest first, with ids below `before`, for one subscription and/or one event.
pub async fn list_attempts<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    webhook_id: Option<i64>,
    event_id: Option<i64>,
    before: i64,
    limit: i64,
) -> sqlx::Result<Vec<AttemptRow>> {
    let mut sql = format!("SELECT {ATTEMPT_COLUMNS} FROM webhook_attempts WHERE account_id = $1 AND id < $2");
    let mut next = 4;
    for (column, value) in [("webhook_id", webhook_id), ("event_id", event_id)] {
        if value.is_some() {
            sql.push_str(&format!(" AND {column} = ${next}"));
            next += 1;
        }
    }
    sql.push_str(" ORDER BY id DESC LIMIT $3");
    let mut query = sqlx::query_as(&sql).bind(account_id).bind(before).bind(limit);
    for value in [webhook_id, event_id].into_iter().flatten() {
        query = query.bind(value);
    }
    query.fetch_all(db).await
}

/// Deliveries waiting to be made, for metrics.
pub async fn count_pending_deliveries<'c>(db: impl AnyExecutor<'c>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'").fetch_one(db).await
}

/// Notes a failed attempt: the subscription has been failing since the returned time.
pub async fn mark_failing(conn: &mut Conn, webhook_id: i64, now: i64) -> sqlx::Result<Option<i64>> {
    let since: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, $1) WHERE id = $2 RETURNING failing_since",
    )
    .bind(now)
    .bind(webhook_id)
    .fetch_optional(conn)
    .await?;
    Ok(since.flatten())
}

/// Notes a successful attempt; true when the subscription had been failing.
pub async fn mark_healthy(conn: &mut Conn, webhook_id: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE webhooks SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
        .bind(webhook_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The addresses a message travelled between: the channel's kind and business address, and the
/// contact's address on that channel.
#[derive(Debug, Clone, FromRow)]
pub struct ConversationAddresses {
    pub channel_kind: String,
    pub channel_address: String,
    pub contact_address: Option<String>,
}

/// Addresses of a conversation.
pub async fn conversation_addresses(
    conn: &mut Conn,
    conversation_id: i64,
) -> sqlx::Result<Option<ConversationAddresses>> {
    sqlx::query_as(
        "SELECT ch.kind AS channel_kind, ch.address AS channel_address, \
         (SELECT ci.external_id FROM contact_identities ci WHERE ci.contact_id = c.contact_id \
          AND ci.channel_id = c.channel_id ORDER BY ci.id LIMIT 1) AS contact_address \
         FROM conversations c JOIN channels ch ON ch.id = c.channel_id WHERE c.id = $1",
    )
    .bind(conversation_id)
    .fetch_optional(conn)
    .await
}

/// The first event of the account created at or after `since` (ms), if any.
pub async fn first_event_since<'c>(db: impl AnyExecutor<'c>, account_id: i64, since: i64) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(id) FROM events WHERE account_id = $1 AND created_at >= $2")
        .bind(account_id)
        .bind(since)
        .fetch_one(db)
        .await
}

/// One event of the account.
pub async fn find_event<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as("SELECT id, account_id, type, payload, created_at FROM events WHERE id = $1 AND account_id = $2")
        .bind(id)
        .bind(account_id)
        .fetch_optional(db)
        .await
}
