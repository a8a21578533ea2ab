//! Inbound WhatsApp media, fetched after receipt by a durable job: the Graph API media id is
//! looked up (`GET {graph}/{media-id}` with the channel's bearer token), the bytes are downloaded
//! from the returned URL with the same token, checked against the sha256 Meta reported, kept in
//! the media store under a new media key and attached to the message (`message.updated`).
//! Failures are retried with the job runner's backoff; after [`MAX_ATTEMPTS`] the message keeps
//! a visible `payload.media_error`.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::channels::whatsapp::settings::Settings;
use crate::channels::whatsapp::webhook::MEDIA;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::MediaOrigin;
use crate::error::Result;
use crate::media::MediaStore;
use crate::service::events::{self, kind};
use crate::service::views::Message;
use crate::store::jobs::{self, JobRow};
use crate::store::media::{self, MediaRow};
use crate::store::messages::{self, MessageRow};
use crate::store::{channels, Conn};

/// Job kind that fetches a WhatsApp message's media.
pub const FETCH_JOB: &str = "whatsapp_media_fetch";

/// Attempts before the fetch is given up (the runner's backoff makes this about an hour).
pub const MAX_ATTEMPTS: i64 = 12;

/// Payload key of the error left on a message whose media could not be fetched.
pub const MEDIA_ERROR: &str = "media_error";

/// Payload key of where the fetch stands: [`PENDING`], [`STORED`] or [`FAILED`].
pub const MEDIA_STATUS: &str = "media_status";
/// The fetch is queued or being retried.
pub const PENDING: &str = "pending";
/// The file is in the media store and its key in `media_keys`.
pub const STORED: &str = "stored";
/// The fetch was given up; `media_error` says why.
pub const FAILED: &str = "failed";

/// The largest file WhatsApp carries (documents, 100 MB).
const MAX_BYTES: usize = 100 * 1024 * 1024;

#[derive(Debug, Serialize, Deserialize)]
struct FetchJob {
    message_id: i64,
}

/// Queues the fetch of a message's media in the caller's transaction.
pub async fn queue(conn: &mut Conn, message_id: i64, now: i64) -> Result<()> {
    let payload = serde_json::to_string(&FetchJob { message_id }).map_err(anyhow::Error::from)?;
    jobs::insert_job(conn, FETCH_JOB, &payload, now, now).await?;
    Ok(())
}

/// Why a fetch failed: a stable code and a human-readable detail.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {detail}")]
struct Failure {
    code: &'static str,
    detail: String,
}

impl Failure {
    fn new(code: &'static str, detail: impl Into<String>) -> Failure {
        Failure { code, detail: detail.into() }
    }

    fn network(e: reqwest::Error) -> Failure {
        Failure::new("media_fetch_failed", format!("calling the Graph API failed: {e}"))
    }
}

/// A downloaded, checked file.
struct Fetched {
    bytes: Vec<u8>,
    content_type: String,
}

/// Runs one fetch job. `Ok` when the job is finished (and deleted); an error leaves it to the
/// runner's retry, except on the last attempt, which records the failure on the message.
pub async fn run(state: &AppState, job: &JobRow) -> Result<()> {
    let FetchJob { message_id } =
        serde_json::from_str(&job.payload).map_err(|e| anyhow::anyhow!("malformed {FETCH_JOB} job payload: {e}"))?;
    let message = messages::find_message(state.db.reader(), message_id).await?;
    let channel = match &message {
        Some(message) => channels::find_channel_any(state.db.reader(), message.channel_id).await?,
        None => None,
    };
    let (Some(message), Some(channel)) = (message, channel) else { return finish(state, job.id).await };
    let media = payload(&message).get(MEDIA).cloned().unwrap_or(Value::Null);
    // Deleted messages need no file; simulation channels never call Meta.
    if message.deleted_at.is_some() || !media.is_object() {
        return finish(state, job.id).await;
    }
    if channel.simulation != 0 {
        let failure = Failure::new("media_fetch_skipped", "the channel is in simulation mode: Meta is not called");
        return give_up(state, job.id, &message, &failure).await;
    }
    match fetch(state, &Settings::parse(&channel.settings), &media).await {
        Ok(fetched) => attach(state, job.id, &message, &media, fetched).await,
        Err(failure) if job.attempts >= MAX_ATTEMPTS => {
            tracing::warn!(message = message.id, error = %failure, "WhatsApp media could not be fetched; given up");
            give_up(state, job.id, &message, &failure).await
        }
        Err(failure) => Err(anyhow::Error::from(failure).into()),
    }
}

async fn finish(state: &AppState, job_id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(())
}

fn payload(message: &MessageRow) -> serde_json::Map<String, Value> {
    match serde_json::from_str(&message.payload) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// Looks the media id up, downloads the bytes and checks them.
async fn fetch(state: &AppState, settings: &Settings, media: &Value) -> std::result::Result<Fetched, Failure> {
    let token = settings
        .access_token
        .as_deref()
        .ok_or_else(|| Failure::new("media_fetch_failed", "the channel has no settings.access_token"))?;
    let id = media
        .get("id")
        .and_then(|id| id.as_str().map(str::to_owned).or_else(|| id.as_u64().map(|n| n.to_string())))
        .ok_or_else(|| Failure::new("media_fetch_failed", "the webhook gave no media id"))?;
    let lookup_url = format!("{}/{}", settings.graph_base_url(), urlencode(&id));
    let lookup: Value = checked(state.provider_client.get(&lookup_url).bearer_auth(token).send().await, "media id")
        .await?
        .json()
        .await
        .map_err(Failure::network)?;
    let url = lookup
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| Failure::new("media_fetch_failed", "the Graph API media lookup gave no url"))?;
    let mut response = checked(state.provider_client.get(url).bearer_auth(token).send().await, "media file").await?;
    let too_large = || Failure::new("media_too_large", format!("files are limited to {MAX_BYTES} bytes"));
    if response.content_length().is_some_and(|length| length > MAX_BYTES as u64) {
        return Err(too_large());
    }
    // Read chunk by chunk, so a body without a length cannot grow past the limit.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(Failure::network)? {
        if bytes.len() + chunk.len() > MAX_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let digest = Sha256::digest(&bytes);
    for reported in [lookup.get("sha256"), media.get("sha256")].into_iter().flatten().filter_map(Value::as_str) {
        if !sha256_matches(reported, &digest) {
            return Err(Failure::new(
                "media_checksum_mismatch",
                format!("the downloaded file's sha256 is not the reported `{reported}`"),
            ));
        }
    }
    let content_type = [lookup.get("mime_type"), media.get("mime_type")]
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .find(|mime| !mime.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    Ok(Fetched { bytes, content_type })
}

/// The response when it succeeded; 404 and other statuses become failures.
async fn checked(
    response: reqwest::Result<reqwest::Response>,
    what: &str,
) -> std::result::Result<reqwest::Response, Failure> {
    let response = response.map_err(Failure::network)?;
    match response.status() {
        status if status.is_success() => Ok(response),
        reqwest::StatusCode::NOT_FOUND => {
            Err(Failure::new("media_not_found", format!("the Graph API does not know the {what} (404)")))
        }
        status => Err(Failure::new("media_fetch_failed", format!("the Graph API answered {status} for the {what}"))),
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// Whether a sha256 as Meta reports it matches `digest`: hex on the media endpoint, base64 in
/// webhooks (sometimes without padding).
fn sha256_matches(reported: &str, digest: &[u8]) -> bool {
    let reported = reported.trim();
    if reported.len() == 64 && reported.bytes().all(|b| b.is_ascii_hexdigit()) {
        return reported.eq_ignore_ascii_case(&hex::encode(digest));
    }
    let unpadded = reported.trim_end_matches('=');
    [&base64::engine::general_purpose::STANDARD_NO_PAD, &base64::engine::general_purpose::URL_SAFE_NO_PAD]
        .iter()
        .any(|engine| engine.decode(unpadded).is_ok_and(|decoded| decoded == digest))
}

/// Stores the file, records it and attaches its key to the message, with `message.updated`.
async fn attach(state: &AppState, job_id: i64, message: &MessageRow, media: &Value, fetched: Fetched) -> Result<()> {
    let key = MediaStore::new_key();
    state.media.put(&key, &fetched.bytes).await.map_err(|e| anyhow::anyhow!("storing media: {e}"))?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    // Re-read inside the transaction: a concurrent run may have attached it already.
    let current = messages::find_message(&mut *tx, message.id).await?;
    if let Some(current) = current.filter(|m| m.deleted_at.is_none() && m.media_keys == message.media_keys) {
        let row = MediaRow {
            id: 0,
            account_id: current.account_id,
            key: key.clone(),
            content_type: fetched.content_type,
            size: fetched.bytes.len() as i64,
            filename: media.get("filename").and_then(Value::as_str).map(str::to_owned),
            sha256: hex::encode(Sha256::digest(&fetched.bytes)),
            created_at: now,
            origin: MediaOrigin::Original.as_str().to_owned(),
        };
        media::insert_media(&mut tx, &row).await?;
        let mut keys: Vec<String> = serde_json::from_str(&current.media_keys).unwrap_or_default();
        keys.push(key);
        let mut payload = payload(&current);
        payload.remove(MEDIA_ERROR);
        payload.insert(MEDIA_STATUS.to_owned(), STORED.into());
        update(&mut tx, &current, &keys, payload, now).await?;
    }
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    state.events.notify(message.account_id);
    Ok(())
}

/// Leaves the failure on the message (`payload.media_error`), with `message.updated`.
async fn give_up(state: &AppState, job_id: i64, message: &MessageRow, failure: &Failure) -> Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if let Some(current) = messages::find_message(&mut *tx, message.id).await?.filter(|m| m.deleted_at.is_none()) {
        let mut payload = payload(&current);
        let error = json!({ "code": failure.code, "detail": failure.detail, "at": to_rfc3339(now) });
        payload.insert(MEDIA_ERROR.to_owned(), error);
        payload.insert(MEDIA_STATUS.to_owned(), FAILED.into());
        let keys: Vec<String> = serde_json::from_str(&current.media_keys).unwrap_or_default();
        update(&mut tx, &current, &keys, payload, now).await?;
    }
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    state.events.notify(message.account_id);
    Ok(())
}

async fn update(
    conn: &mut Conn,
    message: &MessageRow,
    keys: &[String],
    payload: serde_json::Map<String, Value>,
    now: i64,
) -> Result<()> {
    let keys = serde_json::to_string(keys).map_err(anyhow::Error::from)?;
    let payload = Value::Object(payload).to_string();
    let row = messages::set_media(conn, message.id, &keys, &payload, now).await?;
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &Message::from(&row), now).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_in_both_of_metas_formats() {
        let digest = Sha256::digest(b"hello");
        let hex = hex::encode(digest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        assert!(sha256_matches(&hex, &digest));
        assert!(sha256_matches(&hex.to_uppercase(), &digest));
        assert!(sha256_matches(&b64, &digest));
        assert!(sha256_matches(b64.trim_end_matches('='), &digest));
        assert!(!sha256_matches("4654+8g=", &digest));
        assert!(!sha256_matches(&hex::encode(Sha256::digest(b"other")), &digest));
    }
}
