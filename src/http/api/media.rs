//! `/api/v1/media`: uploads, the media library, files' bytes, and signed downloads at `/media/{key}`.

use axum::body::Body;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::{Multipart, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::principal::Principal;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::MediaOrigin;
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::media::MediaStore;
use crate::service::media::{self as media_service, MediaPage, MediaQuery, NewMedia};
use crate::service::views::Media;
use crate::state::AppState;
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

/// The error for a multipart part that could not be read.
fn read_error(e: MultipartError, max_bytes: usize) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(max_bytes)
    } else {
        Error::MalformedBody(e.body_text())
    }
}

fn too_large(max_bytes: usize) -> Error {
    Error::TooLarge(format!("files are limited to {max_bytes} bytes"))
}

/// Upload a file (multipart field `file`, optional text field `origin`: `original`, the default,
/// or `ai_generated`).
#[utoipa::path(post, path = "/api/v1/media", operation_id = "uploadMedia", tag = "media", request_body(content_type = "multipart/form-data", content = String),
    responses((status = 201, body = MediaLink), (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    form: std::result::Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<MediaLink>)> {
    let mut form =
        form.map_err(|e| Error::MalformedBody(format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let max_bytes = state.config.max_media_bytes;
    let mut file = None;
    let mut origin = MediaOrigin::Original;
    while let Some(field) = form.next_field().await.map_err(|e| read_error(e, max_bytes))? {
        match field.name() {
            Some("file") if file.is_none() => {
                let filename = field.file_name().map(str::to_owned);
                let content_type = field.content_type().unwrap_or("application/octet-stream");
                let content_type = content_type.split(';').next().unwrap_or_default().trim().to_lowercase();
                if !ALLOWED_TYPES.contains(&content_type.as_str()) {
                    return Err(Error::field("file", format!("unsupported content type `{content_type}`")));
                }
                let bytes = field.bytes().await.map_err(|e| read_error(e, max_bytes))?;
                if bytes.len() > max_bytes {
                    return Err(too_large(max_bytes));
                }
                if bytes.is_empty() {
                    return Err(Error::field("file", "the file is empty"));
                }
                file = Some((filename, content_type, bytes));
            }
            Some("origin") => {
                let text = field.text().await.map_err(|e| read_error(e, max_bytes))?;
                origin = MediaOrigin::parse(text.trim())
                    .ok_or_else(|| Error::field("origin", format!("must be one of {}", MediaOrigin::accepted())))?;
            }
            _ => {}
        }
    }
    let (filename, content_type, bytes) =
        file.ok_or_else(|| Error::field("file", "a multipart field named `file` is required"))?;
    let row = media_service::save(&state, me.account_id, NewMedia { filename, content_type, origin, bytes }).await?;
    Ok((StatusCode::CREATED, Json(link(&state, &row, 60))))
}

/// Get a file's details and a signed download link.
#[utoipa::path(get, path = "/api/v1/media/{key}", operation_id = "getMedia", tag = "media", params(("key" = String, Path), LinkParams),
    responses((status = 200, body = MediaLink), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(key): ApiPath<String>,
    ApiQuery(params): ApiQuery<LinkParams>,
) -> Result<Response> {
    // Keys contain slashes, so both operations share the wildcard route; a key never ends in `/content`.
    if let Some(key) = key.strip_suffix("/content") {
        return content(&state, &me, key).await;
    }
    let minutes = link_minutes(params.expire_minutes, 60, "expire_minutes")?;
    let row = media::find_media(state.db.reader(), me.account_id, &key).await?.ok_or(Error::NotFound("media"))?;
    Ok(Json(link(&state, &row, minutes)).into_response())
}

/// Get a file's bytes.
///
/// Served with the file's content type and inline, for `<img>`, players and downloads.
#[utoipa::path(get, path = "/api/v1/media/{key}/content", operation_id = "getMediaContent", tag = "media", params(("key" = String, Path)),
    responses((status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        (status = 404, body = Problem)))]
pub async fn content(state: &AppState, me: &Principal, key: &str) -> Result<Response> {
    let (row, size, stream) = media_service::content(state, me.account_id, key).await?;
    let headers = [
        (header::CONTENT_TYPE, row.content_type.clone()),
        (header::CONTENT_LENGTH, size.to_string()),
        (header::CONTENT_DISPOSITION, inline_disposition(row.filename.as_deref())),
        (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// `inline` with the file's name twice: quoted with anything but printable ASCII, `"` and `\`
/// replaced by `_`, and exactly as RFC 8187 `filename*`.
fn inline_disposition(filename: Option<&str>) -> String {
    let name = filename.filter(|n| !n.trim().is_empty()).unwrap_or("file");
    let ascii: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
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
#[utoipa::path(get, path = "/api/files/{mediaKey}", operation_id = "getFileLink", tag = "media", params(("mediaKey" = String, Path), FileParams),
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

/// Filter, order and paging of the media library.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `original` or `ai_generated`; both when absent.
    origin: Option<String>,
    /// `-created_at` (newest first, the default), `created_at`, `content_type` or `-content_type`
    /// (by format); ties in upload order, reversed with `-`.
    sort: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page (with the same `sort`).
    cursor: Option<String>,
}

/// List the media library.
#[utoipa::path(get, path = "/api/v1/media", operation_id = "listMedia", tag = "media", params(ListParams),
    responses((status = 200, body = MediaPage), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<MediaPage>> {
    let origin = match params.origin.as_deref().filter(|o| !o.is_empty()) {
        Some(text) => Some(
            MediaOrigin::parse(text)
                .ok_or_else(|| Error::field("origin", format!("must be one of {}", MediaOrigin::accepted())))?,
        ),
        None => None,
    };
    let limit = params.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::field("limit", "must be between 1 and 200"));
    }
    let sort = params.sort.filter(|s| !s.is_empty()).unwrap_or_else(|| media_service::SORTS[0].to_owned());
    let query = MediaQuery { origin, sort, limit, cursor: params.cursor };
    Ok(Json(media_service::list(&state, me.account_id, &query).await?))
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

/// Upload through a pre-signed form (local media store).
///
/// The counterpart of an S3 POST policy, for forms the chat API hands out
/// (`…/photos/upload`): the form's fields first, the `file` last. The signed policy is the only
/// credential; it fixes the key, the type and the size, and expires. Answers
/// `success_action_status` (201 by default with `<PostResponse><Key>…</Key></PostResponse>`).
#[utoipa::path(post, path = "/uploads", operation_id = "uploadWithForm", tag = "media", security(()),
    request_body(content_type = "multipart/form-data", content = String),
    responses((status = 201, description = "Stored", content_type = "application/xml", body = String),
        (status = 200, description = "Stored (`success_action_status` 200)"),
        (status = 204, description = "Stored (no `success_action_status`)"),
        (status = 400, body = Problem),
        (status = 403, description = "`upload_refused`: signature, expiry, key, type, size or bytes not as signed, or the form already used", body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn form_upload(
    State(state): State<AppState>,
    form: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let mut form =
        form.map_err(|e| Error::MalformedBody(format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let refused = |detail: &str| Error::Forbidden { code: "upload_refused", detail: detail.to_owned() };
    let mut fields = std::collections::BTreeMap::new();
    let max_bytes = state.config.max_media_bytes;
    while let Some(field) = form.next_field().await.map_err(|e| read_error(e, max_bytes))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name != "file" {
            let text = field.text().await.map_err(|e| read_error(e, max_bytes))?;
            if text.len() > 8192 {
                return Err(Error::field(&name, "a form field may hold at most 8 KB"));
            }
            fields.insert(name.to_ascii_lowercase(), text);
            continue;
        }
        let field_text = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
        let policy = state
            .media
            .upload_policy(field_text("policy"), field_text(crate::media::LOCAL_SIGNATURE_FIELD))
            .ok_or_else(|| refused("the form's policy or signature is missing or does not match"))?;
        if policy.expires < now_ms() / 1000 {
            return Err(refused("the upload form has expired; ask for a new one"));
        }
        if field_text("key") != policy.key || !MediaStore::is_valid_key(&policy.key) {
            return Err(refused("the key is not the one the form was signed for"));
        }
        if !field_text("content-type").starts_with(&policy.type_prefix) {
            return Err(refused(&format!("Content-Type must start with {}", policy.type_prefix)));
        }
        let bytes = field.bytes().await.map_err(|e| read_error(e, max_bytes))?;
        if bytes.is_empty() || bytes.len() as u64 > policy.max_bytes {
            return Err(refused(&format!("the file must be 1 to {} bytes", policy.max_bytes)));
        }
        if !crate::domain::content::sniff_type(&bytes).is_some_and(|t| t.starts_with(&policy.type_prefix)) {
            return Err(refused(&format!("the file is not a {}", policy.type_prefix.trim_end_matches('/'))));
        }
        if state.media.open(&policy.key).await.is_ok() {
            return Err(refused("a file was already uploaded with this form"));
        }
        state.media.put(&policy.key, &bytes).await.map_err(|e| anyhow::anyhow!("storing media: {e}"))?;
        let body = format!("<PostResponse><Key>{}</Key></PostResponse>", policy.key);
        let status = match field_text("success_action_status") {
            "200" => StatusCode::OK,
            "201" => StatusCode::CREATED,
            _ => StatusCode::NO_CONTENT,
        };
        let headers = [(header::CONTENT_TYPE, "application/xml"), (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")];
        return Ok((status, headers, body).into_response());
    }
    Err(Error::field("file", "a multipart field named `file` is required, after the form's fields"))
}
