//! Files customers send, fetched after receipt by a durable job: the channel's adapter downloads
//! what the message's `payload.media` describes, the file is kept in the media store under a new
//! media key and attached to the message (`message.updated`). Failures are retried with the job
//! runner's backoff; after [`MAX_ATTEMPTS`] the message keeps a visible `payload.media_error`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::channels::{adapter, FetchError, Fetched, MEDIA};
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{ChannelKind, MediaOrigin};
use crate::error::Result;
use crate::media::MediaStore;
use crate::service::events::{self, kind};
use crate::service::views::Message;
use crate::state::AppState;
use crate::store::jobs::{self, JobRow};
use crate::store::media::{self, MediaRow};
use crate::store::messages::{self, MessageRow};
use crate::store::{channels, Conn};

/// Job kind that fetches a message's file.
pub const FETCH_JOB: &str = "media_fetch";

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

/// The largest file fetched (WhatsApp documents go up to 100 MB).
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
    let media = message.payload_object().get(MEDIA).cloned().unwrap_or(Value::Null);
    // Deleted messages need no file; simulation channels never call Meta.
    if message.deleted_at.is_some() || !media.is_object() {
        return finish(state, job.id).await;
    }
    let adapter = ChannelKind::parse(&channel.kind).and_then(adapter);
    let Some(adapter) = adapter.filter(|_| channel.simulation == 0) else {
        let failure =
            FetchError::new("media_fetch_skipped", "the channel is in simulation mode: the provider is not called");
        return give_up(state, job.id, &message, &failure).await;
    };
    match adapter.fetch_media(&state.provider_client, &channel, &media, MAX_BYTES).await {
        Ok(fetched) => attach(state, job.id, &message, &media, fetched).await,
        Err(failure) if job.attempts >= MAX_ATTEMPTS => {
            tracing::warn!(message = message.id, error = %failure, "media could not be fetched; given up");
            give_up(state, job.id, &message, &failure).await
        }
        Err(failure) => Err(anyhow::Error::from(failure).into()),
    }
}

async fn finish(state: &AppState, job_id: i64) -> Result<()> {
    Ok(jobs::finish_job(&state.db, job_id).await?)
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
        let mut payload = current.payload_object();
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
async fn give_up(state: &AppState, job_id: i64, message: &MessageRow, failure: &FetchError) -> Result<()> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if let Some(current) = messages::find_message(&mut *tx, message.id).await?.filter(|m| m.deleted_at.is_none()) {
        let mut payload = current.payload_object();
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
