//! Channels: the business's numbers, pages and addresses on each network.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored channel.
#[derive(Debug, Clone, FromRow)]
pub struct ChannelRow {
    pub id: i64,
    pub account_id: i64,
    pub kind: String,
    pub address: String,
    pub name: String,
    pub simulation: i64,
    pub settings: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Fields of a new channel.
pub struct NewChannel<'a> {
    pub kind: &'a str,
    pub address: &'a str,
    pub name: &'a str,
    pub simulation: bool,
    pub settings: &'a str,
}

/// Partial update of a channel.
#[derive(Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub address: Option<String>,
    pub simulation: Option<bool>,
    pub settings: Option<String>,
}

const COLUMNS: &str = "id, account_id, kind, address, name, simulation, settings, created_at, updated_at";

/// Inserts a channel.
pub async fn insert_channel(
    conn: &mut Conn,
    account_id: i64,
    new: &NewChannel<'_>,
    now: i64,
) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "INSERT INTO channels (account_id, kind, address, name, simulation, settings, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(new.kind)
    .bind(new.address)
    .bind(new.name)
    .bind(i64::from(new.simulation))
    .bind(new.settings)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Finds a live channel of the account.
pub async fn find_channel<'c>(db: impl AnyExecutor<'c>, account_id: i64, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Finds a channel by id whatever its account or state (for jobs working on stored messages).
pub async fn find_channel_any<'c>(db: impl AnyExecutor<'c>, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// An account's live channels in creation order.
pub async fn list_channels<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE account_id = $1 AND deleted_at IS NULL ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Applies a partial update; `None` when the account has no such live channel.
pub async fn update_channel(
    conn: &mut Conn,
    account_id: i64,
    id: i64,
    update: &ChannelUpdate,
    now: i64,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!(
        "UPDATE channels SET name = COALESCE($1, name), address = COALESCE($2, address), \
         simulation = COALESCE($3, simulation), settings = COALESCE($4, settings), updated_at = $5 \
         WHERE account_id = $6 AND id = $7 AND deleted_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(update.name.as_deref())
    .bind(update.address.as_deref())
    .bind(update.simulation.map(i64::from))
    .bind(update.settings.as_deref())
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Removes a channel from use (its conversations stay readable); false when absent.
pub async fn delete_channel(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> sqlx::Result<bool> {
    let done =
        sqlx::query("UPDATE channels SET deleted_at = $1 WHERE account_id = $2 AND id = $3 AND deleted_at IS NULL")
            .bind(now)
            .bind(account_id)
            .bind(id)
            .execute(conn)
            .await?;
    Ok(done.rows_affected() == 1)
}
