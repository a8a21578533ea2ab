//! The media library: storing an account's files, listing them and reading one back.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::time::now_ms;
use crate::domain::MediaOrigin;
use crate::error::{Error, Result};
use crate::media::{ByteStream, MediaStore};
use crate::service::conversations::{decode_cursor, encode_cursor, Cursor};
use crate::service::views::Media;
use crate::state::AppState;
use crate::store::conversations::{Filter, Param};
use crate::store::media::{self, MediaRow};

/// Orders a media list accepts; the first is the default.
pub const SORTS: &[&str] = &["-created_at", "created_at", "content_type", "-content_type"];

/// Which files to list and in what order.
#[derive(Debug, Clone)]
pub struct MediaQuery {
    pub origin: Option<MediaOrigin>,
    /// One of [`SORTS`].
    pub sort: String,
    pub limit: i64,
    pub cursor: Option<String>,
}

/// One page of the media library.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MediaPage {
    pub data: Vec<Media>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A file to add to the library.
#[derive(Debug)]
pub struct NewMedia {
    pub filename: Option<String>,
    pub content_type: String,
    pub origin: MediaOrigin,
    pub bytes: bytes::Bytes,
}

/// Stores a file's bytes and records it in the account's library.
pub async fn save(state: &AppState, account_id: i64, file: NewMedia) -> Result<MediaRow> {
    let key = MediaStore::new_key();
    state.media.put(&key, &file.bytes).await.map_err(|e| anyhow::anyhow!("storing media: {e}"))?;
    let row = MediaRow {
        id: 0,
        account_id,
        key,
        content_type: file.content_type,
        size: file.bytes.len() as i64,
        filename: file.filename,
        sha256: hex::encode(Sha256::digest(&file.bytes)),
        created_at: now_ms(),
        origin: file.origin.as_str().to_owned(),
    };
    let mut tx = state.db.begin().await?;
    let row = media::insert_media(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// Lists the account's files matching `query`, one page at a time; ties in the sort column are
/// broken by id in the same direction, so pages neither skip nor repeat files.
pub async fn list(state: &AppState, account_id: i64, query: &MediaQuery) -> Result<MediaPage> {
    if !SORTS.contains(&query.sort.as_str()) {
        return Err(Error::field("sort", format!("unknown sort `{}`; use one of {}", query.sort, SORTS.join(", "))));
    }
    let descending = query.sort.starts_with('-');
    let column = query.sort.trim_start_matches('-');
    let mut filter = Filter::default();
    let account = filter.param(Param::Int(account_id));
    filter.push(format!("account_id = {account}"));
    if let Some(origin) = query.origin {
        let p = filter.param(Param::Text(origin.as_str().to_owned()));
        filter.push(format!("origin = {p}"));
    }
    if let Some(cursor) = &query.cursor {
        let cursor = decode_cursor(cursor, &query.sort)?;
        let value = match (column, cursor.text) {
            ("content_type", Some(text)) => Param::Text(text),
            ("created_at", None) => Param::Int(cursor.value),
            _ => return Err(Error::field("cursor", "is not a cursor returned by this list")),
        };
        let v = filter.param(value);
        let id = filter.param(Param::Int(cursor.id));
        let op = if descending { "<" } else { ">" };
        filter.push(format!("({column} {op} {v} OR ({column} = {v} AND id {op} {id}))"));
    }
    let mut rows = media::list_media(state.db.reader(), &filter, column, descending, query.limit + 1).await?;
    let more = rows.len() as i64 > query.limit;
    rows.truncate(query.limit as usize);
    let next_cursor = rows.last().filter(|_| more).map(|last| {
        let mut cursor = Cursor { sort: query.sort.clone(), id: last.id, ..Cursor::default() };
        if column == "content_type" {
            cursor.text = Some(last.content_type.clone());
        } else {
            cursor.value = last.created_at;
        }
        encode_cursor(&cursor)
    });
    Ok(MediaPage { data: rows.iter().map(Media::from).collect(), next_cursor })
}

/// A file of the account with its bytes as a stream; `NotFound` for keys of other accounts.
pub async fn content(state: &AppState, account_id: i64, key: &str) -> Result<(MediaRow, u64, ByteStream)> {
    let row = media::find_media(state.db.reader(), account_id, key).await?.ok_or(Error::NotFound("media"))?;
    let (size, stream) = state.media.open(&row.key).await.map_err(|e| anyhow::anyhow!("reading media {key}: {e}"))?;
    Ok((row, size, stream))
}
