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
    /// The provider's own id for the channel (WhatsApp: the phone number id), routing its webhooks.
    pub provider_key: Option<String>,
    /// The team whose members take the channel's conversations.
    pub team_id: Option<i64>,
    /// What the provider reported about the channel (JSON object by notice name).
    pub notices: String,
    /// What a widget on a website names the channel by: unguessable, never a secret.
    pub public_id: Option<String>,
    /// When a satisfaction survey goes out by itself: `off`, `on_resolve` or `on_close`.
    pub survey_send: String,
    /// Which survey goes out (the account's first when none).
    pub survey_id: Option<i64>,
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
    pub provider_key: Option<&'a str>,
}

/// Partial update of a channel.
#[derive(Default)]
pub struct ChannelUpdate {
    pub name: Option<String>,
    pub address: Option<String>,
    pub simulation: Option<bool>,
    /// New settings, with the provider key derived from them.
    pub settings: Option<(String, Option<String>)>,
}

const COLUMNS: &str = "id, account_id, kind, address, name, simulation, settings, provider_key, team_id, notices, \
     public_id, survey_send, survey_id, created_at, updated_at";

/// Inserts a channel.
pub async fn insert_channel(
    conn: &mut Conn,
    account_id: i64,
    new: &NewChannel<'_>,
    now: i64,
) -> sqlx::Result<ChannelRow> {
    sqlx::query_as(&format!(
        "INSERT INTO channels (account_id, kind, address, name, simulation, settings, provider_key, public_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING {COLUMNS}"
    ))
    .bind(account_id)
    .bind(new.kind)
    .bind(new.address)
    .bind(new.name)
    .bind(i64::from(new.simulation))
    .bind(new.settings)
    .bind(new.provider_key)
    .bind(hex::encode(rand::random::<[u8; 16]>()))
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

/// Live channels of a kind with one of these provider keys (any account: provider webhooks name
/// the channel by the provider's id).
pub async fn find_by_provider_keys<'c>(
    db: impl AnyExecutor<'c>,
    kind: &str,
    keys: &[String],
) -> sqlx::Result<Vec<ChannelRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT {COLUMNS} FROM channels WHERE kind = $1 AND deleted_at IS NULL AND provider_key IN ({}) ORDER BY id",
        super::placeholders(2, keys.len())
    );
    let mut query = sqlx::query_as(&sql).bind(kind);
    for key in keys {
        query = query.bind(key.as_str());
    }
    query.fetch_all(db).await
}

/// Every live channel of a kind, in all accounts (for provider-wide checks such as webhook
/// verification handshakes).
pub async fn list_live_by_kind<'c>(db: impl AnyExecutor<'c>, kind: &str) -> sqlx::Result<Vec<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE kind = $1 AND deleted_at IS NULL ORDER BY id"))
        .bind(kind)
        .fetch_all(db)
        .await
}

/// Finds a channel by id whatever its account or state (for jobs working on stored messages).
pub async fn find_channel_any<'c>(db: impl AnyExecutor<'c>, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1")).bind(id).fetch_optional(db).await
}

/// A channel of any account by id, unless it was deleted.
pub async fn find_undeleted<'c>(db: impl AnyExecutor<'c>, id: i64) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE id = $1 AND deleted_at IS NULL"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The web chat channel that holds an account's chats for a team: the live one the team serves,
/// else the account's first live web chat channel.
pub async fn find_webchat_channel<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    team_id: i64,
) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM channels WHERE account_id = $1 AND kind = 'webchat' AND deleted_at IS NULL \
         ORDER BY CASE WHEN team_id = $2 THEN 0 ELSE 1 END, id LIMIT 1"
    ))
    .bind(account_id)
    .bind(team_id)
    .fetch_optional(db)
    .await
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
         simulation = COALESCE($3, simulation), settings = COALESCE($4, settings), \
         provider_key = CASE WHEN $4 IS NULL THEN provider_key ELSE $5 END, updated_at = $6 \
         WHERE account_id = $7 AND id = $8 AND deleted_at IS NULL RETURNING {COLUMNS}"
    ))
    .bind(update.name.as_deref())
    .bind(update.address.as_deref())
    .bind(update.simulation.map(i64::from))
    .bind(update.settings.as_ref().map(|(settings, _)| settings.as_str()))
    .bind(update.settings.as_ref().and_then(|(_, key)| key.as_deref()))
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Sets when a survey goes out by itself on the channel, and which.
pub async fn set_survey(conn: &mut Conn, id: i64, send: &str, survey_id: Option<i64>, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE channels SET survey_send = $1, survey_id = $2, updated_at = $3 WHERE id = $4")
        .bind(send)
        .bind(survey_id)
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
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

/// A channel by its public id.
pub async fn find_by_public_id<'c>(db: impl AnyExecutor<'c>, public_id: &str) -> sqlx::Result<Option<ChannelRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM channels WHERE public_id = $1 AND deleted_at IS NULL"))
        .bind(public_id)
        .fetch_optional(db)
        .await
}

/// Keeps a provider's notice about a channel under `name`, replacing the previous one.
pub async fn set_notice(conn: &mut Conn, id: i64, name: &str, value: &str, now: i64) -> sqlx::Result<()> {
    let stored: Option<String> =
        sqlx::query_scalar("SELECT notices FROM channels WHERE id = $1").bind(id).fetch_optional(&mut *conn).await?;
    let mut notices: serde_json::Map<String, serde_json::Value> =
        stored.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default();
    notices.insert(name.to_owned(), serde_json::from_str(value).unwrap_or(serde_json::Value::Null));
    sqlx::query("UPDATE channels SET notices = $1, updated_at = $2 WHERE id = $3")
        .bind(serde_json::Value::Object(notices).to_string())
        .bind(now)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}
