//! Accounts, API keys, operators and installation settings.

use sqlx::{AnyExecutor, FromRow};

use super::Conn;

/// A stored API key (its value is never stored, only a hash).
#[derive(Debug, Clone, FromRow)]
pub struct ApiKeyRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The virtual agent the key belongs to (an external bot's key): it writes as that agent.
    pub agent_id: Option<i64>,
}

/// A stored operator.
#[derive(Debug, Clone, FromRow)]
pub struct OperatorRow {
    pub id: i64,
    pub account_id: i64,
    pub name: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub created_at: i64,
}

/// A stored account.
#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
}

const KEY_COLUMNS: &str = "id, account_id, name, prefix, key_hash, created_at, last_used_at, revoked_at, agent_id";
const OPERATOR_COLUMNS: &str = "id, account_id, name, email, password_hash, role, created_at";

/// Inserts an account and returns its id.
pub async fn insert_account(conn: &mut Conn, name: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO accounts (name, created_at) VALUES ($1, $2) RETURNING id")
        .bind(name)
        .bind(now)
        .fetch_one(conn)
        .await
}

/// Finds an account by id.
pub async fn find_account<'c>(db: impl AnyExecutor<'c>, id: i64) -> sqlx::Result<Option<AccountRow>> {
    sqlx::query_as("SELECT id, name, created_at FROM accounts WHERE id = $1").bind(id).fetch_optional(db).await
}

/// The installation's first account (the one created on first start), if any.
pub async fn first_account_id<'c>(db: impl AnyExecutor<'c>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MIN(id) FROM accounts").fetch_one(db).await
}

/// Number of accounts.
pub async fn count_accounts<'c>(db: impl AnyExecutor<'c>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM accounts").fetch_one(db).await
}

/// Inserts an API key.
pub async fn insert_api_key(
    conn: &mut Conn,
    account_id: i64,
    name: &str,
    prefix: &str,
    key_hash: &str,
    agent_id: Option<i64>,
    now: i64,
) -> sqlx::Result<ApiKeyRow> {
    sqlx::query_as(&format!(
        "INSERT INTO api_keys (account_id, name, prefix, key_hash, agent_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
    ))
    .bind(account_id)
    .bind(name)
    .bind(prefix)
    .bind(key_hash)
    .bind(agent_id)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// Finds a key by the SHA-256 hash of its value.
pub async fn find_api_key_by_hash<'c>(db: impl AnyExecutor<'c>, key_hash: &str) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"))
        .bind(key_hash)
        .fetch_optional(db)
        .await
}

/// An account's keys, newest first.
pub async fn list_api_keys<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<ApiKeyRow>> {
    sqlx::query_as(&format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE account_id = $1 ORDER BY id DESC"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Revokes a key of the account; returns the key, or `None` when the account has no such key.
pub async fn revoke_api_key(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> sqlx::Result<Option<ApiKeyRow>> {
    sqlx::query_as(&format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE account_id = $2 AND id = $3 \
         RETURNING {KEY_COLUMNS}"
    ))
    .bind(now)
    .bind(account_id)
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records that a key was used.
pub async fn touch_api_key(conn: &mut Conn, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2").bind(now).bind(id).execute(conn).await?;
    Ok(())
}

/// Inserts an operator.
pub async fn insert_operator(
    conn: &mut Conn,
    account_id: i64,
    name: &str,
    email: &str,
    password_hash: &str,
    role: &str,
    now: i64,
) -> sqlx::Result<OperatorRow> {
    sqlx::query_as(&format!(
        "INSERT INTO operators (account_id, name, email, password_hash, role, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {OPERATOR_COLUMNS}"
    ))
    .bind(account_id)
    .bind(name)
    .bind(email)
    .bind(password_hash)
    .bind(role)
    .bind(now)
    .fetch_one(conn)
    .await
}

/// An account's operators in creation order.
pub async fn list_operators<'c>(db: impl AnyExecutor<'c>, account_id: i64) -> sqlx::Result<Vec<OperatorRow>> {
    sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE account_id = $1 ORDER BY id"))
        .bind(account_id)
        .fetch_all(db)
        .await
}

/// Finds an operator of the account.
pub async fn find_operator<'c>(
    db: impl AnyExecutor<'c>,
    account_id: i64,
    id: i64,
) -> sqlx::Result<Option<OperatorRow>> {
    sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE account_id = $1 AND id = $2"))
        .bind(account_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Operators with this email (case-insensitive), in any account.
pub async fn find_operators_by_email<'c>(db: impl AnyExecutor<'c>, email: &str) -> sqlx::Result<Vec<OperatorRow>> {
    sqlx::query_as(&format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE LOWER(email) = LOWER($1) ORDER BY id"))
        .bind(email)
        .fetch_all(db)
        .await
}

/// Reads an installation setting.
pub async fn find_setting<'c>(db: impl AnyExecutor<'c>, key: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(db).await
}

/// Stores an installation setting unless it already exists; returns the value in effect.
pub async fn insert_setting_if_absent(conn: &mut Conn, key: &str, value: &str) -> sqlx::Result<String> {
    sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
        .bind(key)
        .bind(value)
        .execute(&mut *conn)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE key = $1").bind(key).fetch_one(conn).await
}
