//! What the nodes of a cluster share in PostgreSQL: who is up, and each channel's send pace.

use sqlx::FromRow;

use super::Db;

/// A node as the others see it.
#[derive(Debug, Clone, FromRow)]
pub struct NodeRow {
    pub name: String,
    pub address: String,
    pub started_at: i64,
    pub seen_at: i64,
    pub draining: i64,
}

/// Records that the node is up (and whether it drains).
pub async fn beat(db: &Db, node: &NodeRow) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO cluster_nodes (name, address, started_at, seen_at, draining) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET address = $2, started_at = $3, seen_at = $4, draining = $5",
    )
    .bind(&node.name)
    .bind(&node.address)
    .bind(node.started_at)
    .bind(node.seen_at)
    .bind(node.draining)
    .execute(db.writer())
    .await?;
    Ok(())
}

/// The nodes seen since `since`, by name.
pub async fn nodes_seen_since(db: &Db, since: i64) -> sqlx::Result<Vec<NodeRow>> {
    sqlx::query_as(
        "SELECT name, address, started_at, seen_at, draining FROM cluster_nodes WHERE seen_at >= $1 ORDER BY name",
    )
    .bind(since)
    .fetch_all(db.reader())
    .await
}

/// Forgets a node that stopped, and nodes not seen since `forgotten_before`.
pub async fn leave(db: &Db, name: &str, forgotten_before: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM cluster_nodes WHERE name = $1 OR seen_at < $2")
        .bind(name)
        .bind(forgotten_before)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Takes the channel's next send slot, `interval_us` after the one before, if it starts within
/// `window_us` of `now_us` (microseconds): `Ok(start)`; else `Err(time)` when a slot frees up.
pub async fn reserve_send_slot(
    db: &Db,
    channel_id: i64,
    now_us: i64,
    interval_us: i64,
    window_us: i64,
) -> sqlx::Result<Result<i64, i64>> {
    let reserved: Option<i64> = sqlx::query_scalar(
        "INSERT INTO channel_pace (channel_id, next_at) VALUES ($1, $2 + $3) \
         ON CONFLICT (channel_id) DO UPDATE SET next_at = GREATEST(channel_pace.next_at, $2) + $3 \
         WHERE channel_pace.next_at <= $2 + $4 RETURNING next_at - $3",
    )
    .bind(channel_id)
    .bind(now_us)
    .bind(interval_us)
    .bind(window_us)
    .fetch_optional(db.writer())
    .await?;
    if let Some(start) = reserved {
        return Ok(Ok(start));
    }
    let next: Option<i64> = sqlx::query_scalar("SELECT next_at FROM channel_pace WHERE channel_id = $1")
        .bind(channel_id)
        .fetch_optional(db.reader())
        .await?;
    Ok(Err(next.unwrap_or(now_us) - window_us))
}
