//! `/api/v1/media` uploads and signed downloads at `/media/{key}`.

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::media::MediaStore;
use crate::service::auth::Principal;
use crate::service::views::Media;
use crate::store::media::{self, MediaRow};

/// Content types accepted for upload (what the messaging networks carry).
const ALLOWED_TYPES: &[&str] = &[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/3gpp",
    "audio/aac",
    "audio/mpeg",
    "audio/mp4",
    "audio/ogg",
    "audio/amr",
    "application/pdf",
    "text/plain",
    "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "text/vcard",
];

/// An uploaded file with a download link.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaLink {
    #[serde(flatten)]
    media: Media,
    /// Signed download link.
    url: String,
    expires_at: String,
}

/// Lifetime of a download link.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkParams {
    /// Minutes the link stays valid, 1 to 10080 (default 60).
    expire_minutes: Option<i64>,
}

/// Longest lifetime of a signed link, in minutes (a week).
const MAX_LINK_MINUTES: i64 = 10_080;

/// A requested link lifetime, checked against its bounds; `default` when not given.
fn link_minutes(requested: Option<i64>, default: i64, field: &str) -> Result<i64> {
    let minutes = requested.unwrap_or(default);
    if !(1..=MAX_LINK_MINUTES).contains(&minutes) {
        return Err(Error::field(field, format!("must be between 1 and {MAX_LINK_MINUTES}")));
    }
    Ok(minutes)
}

fn link(state: &AppState, row: &MediaRow, minutes: i64) -> MediaLink {
    let expires = now_ms() / 1000 + minutes * 60;
    MediaLink {
        media: Media::from(row),
        url: state.media.signed_url(&row.key, expires),
        expires_at: to_rfc3339(expires * 1000),
    }
}

/// Upload a file (multipart field `file`).
#[utoipa::path(post, path = "/api/v1/media", tag = "media", request_body(content_type = "multipart/form-data", content = String),
    responses((status = 201, body = MediaLink), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    form: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<MediaLink>)> {
    let mut form =
        form.map_err(|e| Error::MalformedBody(format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let too_large = || Error::TooLarge(format!("files are limited to {} bytes", state.config.max_media_bytes));
    while let Some(field) = form.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            Error::MalformedBody(e.body_text())
        }
    })? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().map(str::to_owned);
        let content_type = field.content_type().unwrap_or("application/octet-stream");
        let content_type = content_type.split(';').next().unwrap_or_default().trim().to_lowercase();
        if !ALLOWED_TYPES.contains(&content_type.as_str()) {
            return Err(Error::field("file", format!("unsupported content type `{content_type}`")));
        }
        let bytes = field.bytes().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                Error::MalformedBody(e.body_text())
            }
        })?;
        if bytes.len() > state.config.max_media_bytes {
            return Err(too_large());
        }
        if bytes.is_empty() {
            return Err(Error::field("file", "the file is empty"));
        }
        let key = MediaStore::new_key();
        state.media.put(&key, &bytes).await.map_err(|e| anyhow::anyhow!("storing media: {e}"))?;
        let row = MediaRow {
            id: 0,
            account_id: me.account_id,
            key,
            content_type,
            size: bytes.len() as i64,
            filename,
            sha256: hex::encode(Sha256::digest(&bytes)),
            created_at: now_ms(),
        };
        let mut tx = state.db.begin().await?;
        let row = media::insert_media(&mut tx, &row).await?;
        tx.commit().await?;
        return Ok((StatusCode::CREATED, Json(link(&state, &row, 60))));
    }
    Err(Error::field("file", "a multipart field named `file` is required"))
}

/// Get a file's details and a signed download link.
#[utoipa::path(get, path = "/api/v1/media/{key}", tag = "media", params(LinkParams),
    responses((status = 200, body = MediaLink), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(params): ApiQuery<LinkParams>,
) -> Result<Json<MediaLink>> {
    let minutes = link_minutes(params.expire_minutes, 60, "expire_minutes")?;
    let row = media::find_media(state.db.reader(), me.account_id, &key).await?.ok_or(Error::NotFound("media"))?;
    Ok(Json(link(&state, &row, minutes)))
}

/// Lifetime of a link from the seed platform's files endpoint.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FileParams {
    /// Minutes the link stays valid, 1 to 10080 (default 180).
    expire_minutes: Option<i64>,
}

/// A file's signed download link, in the seed platform's (camelCase) shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileLink {
    media_key: String,
    /// Signed download link, valid until `expiresAt`.
    url: String,
    expires_at: String,
    expire_minutes: i64,
    mime_type: String,
    size: i64,
    file_name: Option<String>,
}

/// Get a signed download link for a media key (the seed platform's `GET /api/files/{mediaKey}`).
#[utoipa::path(get, path = "/api/files/{mediaKey}", tag = "media", params(("mediaKey" = String, Path), FileParams),
    responses((status = 200, body = FileLink), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn file(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(params): ApiQuery<FileParams>,
) -> Result<Json<FileLink>> {
    let minutes = link_minutes(params.expire_minutes, 180, "expireMinutes")?;
    let row = media::find_media(state.db.reader(), me.account_id, &key).await?.ok_or(Error::NotFound("media"))?;
    let MediaLink { url, expires_at, .. } = link(&state, &row, minutes);
    Ok(Json(FileLink {
        media_key: row.key,
        url,
        expires_at,
        expire_minutes: minutes,
        mime_type: row.content_type,
        size: row.size,
        file_name: row.filename,
    }))
}

/// The account's files.
#[derive(Debug, Serialize, ToSchema)]
pub struct MediaList {
    data: Vec<Media>,
}

/// List uploaded files, newest first (at most 100).
#[utoipa::path(get, path = "/api/v1/media", tag = "media", responses((status = 200, body = MediaList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<MediaList>> {
    let rows = media::list_media(state.db.reader(), me.account_id, i64::MAX, 100).await?;
    Ok(Json(MediaList { data: rows.iter().map(Media::from).collect() }))
}

/// A signed link's query.
#[derive(Debug, Deserialize)]
pub struct Signed {
    expires: i64,
    signature: String,
}

/// Serves a file to the holder of a valid, unexpired signed link; 403 otherwise.
pub async fn download(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(link): ApiQuery<Signed>,
) -> Result<Response> {
    let forbidden = || (StatusCode::FORBIDDEN, "this link is invalid or has expired").into_response();
    if !MediaStore::is_valid_key(&key)
        || !state.media.verify(&key, link.expires, &link.signature)
        || link.expires * 1000 < now_ms()
    {
        return Ok(forbidden());
    }
    let Some(row) = media::find_media_by_key(state.db.reader(), &key).await? else { return Ok(forbidden()) };
    let bytes = state.media.get(&key).await.map_err(|e| anyhow::anyhow!("reading media {key}: {e}"))?;
    Ok(([(header::CONTENT_TYPE, row.content_type), (header::CACHE_CONTROL, "private, max-age=300".to_owned())], bytes)
        .into_response())
}
