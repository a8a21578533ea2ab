//! Metadata of stored media files (the bytes live in the media store).

use sqlx::{AnyExecutor, FromRow};

use super::conversations::Filter;
use super::Conn;

/// A stored media file's metadata.
#[derive(Debug, Clone, FromRow)]
pub struct MediaRow {
    pub id: i64,
    pub account_id: i64,
    pub key: String,
    pub content_type: String,
    pub size: i64,
    pub filename: Option<String>,
    pub sha256: String,
    pub created_at: i64,
    /// `original` or `ai_generated`.
    pub origin: String,
}

const COLUMNS: &str = "id, account_id, key, content_type, size, filename, sha256, created_at, origin";

/// Records a stored file.
pub async fn insert_media(conn: &mut Conn, row: &MediaRow) -> sqlx::Result<MediaRow> {
    sqlx::query_as(&format!(
        "INSERT INTO media (account_id, key, content_type, size, filename, sha256, created_at, origin) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(row.account_id)
    .bind(&row.key)
    .bind(&row.content_type)
    .bind(row.size)
    .bind(row.filename.as_deref())
    .bind(&row.sha256)
    .bind(row.created_at)
    .bind(&row.origin)
    .fetch_one(conn)
    .await
}

/// Finds a file of the account by key.
pub async fn find_media<'c>(db: impl AnyExecutor<'c>, account_id: i64, key: &str) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE account_id = $1 AND key = $2"))
        .bind(account_id)
        .bind(key)
        .fetch_optional(db)
        .await
}

/// Finds a file by key whatever its account (signed download links carry no account).
pub async fn find_media_by_key<'c>(db: impl AnyExecutor<'c>, key: &str) -> sqlx::Result<Option<MediaRow>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM media WHERE key = $1")).bind(key).fetch_optional(db).await
}

/// The account's files with these keys, in the keys' order.
pub async fn find_many<'c>(db: impl AnyExecutor<'c>, account_id: i64, keys: &[String]) -> sqlx::Result<Vec<MediaRow>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!("SELECT {COLUMNS} FROM media WHERE account_id = $1 AND key IN ({})", marks.join(", "));
    let mut query = sqlx::query_as::<_, MediaRow>(&sql).bind(account_id);
    for key in keys {
        query = query.bind(key);
    }
    let mut rows = query.fetch_all(db).await?;
    rows.sort_by_key(|row| keys.iter().position(|key| *key == row.key));
    Ok(rows)
}

/// How many of `keys` belong to the account.
pub async fn count_owned<'c>(db: impl AnyExecutor<'c>, account_id: i64, keys: &[String]) -> sqlx::Result<i64> {
    let sql =
        format!("SELECT COUNT(*) FROM media WHERE account_id = $1 AND key IN ({})", super::placeholders(2, keys.len()));
    let mut query = sqlx::query_scalar(&sql).bind(account_id);
    for key in keys {
        query = query.bind(key.clone());
    }
    query.fetch_one(db).await
}

/// Fetches one page of files matching `filter` (conditions on the table's own columns), ordered
/// by `column` (`created_at` or `content_type`) then id, in the given direction.
pub async fn list_media<'c>(
    db: impl AnyExecutor<'c>,
    filter: &Filter,
    column: &str,
    descending: bool,
    limit: i64,
) -> sqlx::Result<Vec<MediaRow>> {
    let direction = if descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {COLUMNS} FROM media{} ORDER BY {column} {direction}, id {direction} LIMIT {limit}",
        filter.where_clause()
    );
    filter.bind(sqlx::query_as(&sql)).fetch_all(db).await
}
