//! Customers' names and pictures, looked up once per new address on networks that show profiles
//! (Messenger, Instagram): a durable job asks the channel's adapter, keeps the picture in the media
//! store (links from the network expire) and fills what the contact lacks (`contact.updated`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::channels::{self, Failure};
use crate::domain::time::now_ms;
use crate::domain::MediaOrigin;
use crate::error::Result;
use crate::media::MediaStore;
use crate::service::channels::live_adapter;
use crate::service::contacts::apply_changes;
use crate::state::AppState;
use crate::store::contacts::{self, ContactFields};
use crate::store::jobs::{self, JobRow};
use crate::store::media::{self, MediaRow};
use crate::store::Conn;

/// Job kind that looks a customer's profile up.
pub const PROFILE_JOB: &str = "fetch_profile";

/// The largest profile picture kept.
const MAX_PICTURE_BYTES: usize = 5 * 1024 * 1024;

/// Attempts before a lookup is given up (a profile is a nicety; the contact works without it).
const MAX_ATTEMPTS: i64 = 6;

#[derive(Debug, Serialize, Deserialize)]
struct ProfileJob {
    channel_id: i64,
    contact_id: i64,
    address: String,
}

/// Queues the lookup of the profile behind `address` in the caller's transaction.
pub async fn queue(conn: &mut Conn, channel_id: i64, contact_id: i64, address: &str, now: i64) -> Result<()> {
    let job = ProfileJob { channel_id, contact_id, address: address.to_owned() };
    let payload = serde_json::to_string(&job).map_err(anyhow::Error::from)?;
    jobs::insert_job(conn, PROFILE_JOB, &payload, now, now).await?;
    Ok(())
}

/// Runs one lookup: `Ok` when finished (the job is gone), an error to be retried.
pub async fn run(state: &AppState, job: &JobRow) -> Result<()> {
    let ProfileJob { channel_id, contact_id, address } =
        serde_json::from_str(&job.payload).map_err(|e| anyhow::anyhow!("malformed {PROFILE_JOB} job payload: {e}"))?;
    let Some((channel, adapter)) = live_adapter(state, channel_id).await? else { return finish(state, job.id).await };
    let profile = match adapter.fetch_profile(&state.provider_client, &channel, &address).await {
        Ok(profile) => profile,
        Err(Failure::Transient(text)) if job.attempts < MAX_ATTEMPTS => {
            return Err(anyhow::anyhow!("profile lookup: {text}").into())
        }
        Err(failure) => {
            tracing::info!(channel = channel_id, error = ?failure, "profile not available; the contact keeps its address");
            return finish(state, job.id).await;
        }
    };
    let picture = match &profile.picture_url {
        Some(url) => {
            match channels::download(&state.provider_client, url, channels::Auth::None, MAX_PICTURE_BYTES).await {
                Ok(fetched) if fetched.content_type.starts_with("image/") => Some(fetched),
                Ok(_) => None,
                Err(e) => {
                    tracing::info!(channel = channel_id, error = %e, "profile picture not downloaded");
                    None
                }
            }
        }
        None => None,
    };
    let key = match &picture {
        Some(fetched) => {
            let key = MediaStore::new_key();
            state.media.put(&key, &fetched.bytes).await.map_err(|e| anyhow::anyhow!("storing a picture: {e}"))?;
            Some(key)
        }
        None => None,
    };
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    if let Some(contact) = contacts::find_contact(&mut *tx, channel.account_id, contact_id).await? {
        if let (Some(key), Some(fetched)) = (&key, &picture) {
            let row = MediaRow {
                id: 0,
                account_id: channel.account_id,
                key: key.clone(),
                content_type: fetched.content_type.clone(),
                size: fetched.bytes.len() as i64,
                filename: None,
                sha256: hex::encode(Sha256::digest(&fetched.bytes)),
                created_at: now,
                origin: MediaOrigin::Original.as_str().to_owned(),
            };
            media::insert_media(&mut tx, &row).await?;
        }
        let fields = ContactFields {
            name: profile.name.filter(|_| contact.name.is_none()),
            avatar_url: key.filter(|_| contact.avatar_url.is_none()).map(|key| format!("/api/v1/media/{key}/content")),
            ..Default::default()
        };
        apply_changes(&mut tx, &contact, &fields, now).await?;
    }
    jobs::delete_job(&mut tx, job.id).await?;
    tx.commit().await?;
    state.events.notify(channel.account_id);
    Ok(())
}

async fn finish(state: &AppState, job_id: i64) -> Result<()> {
    Ok(jobs::finish_job(&state.db, job_id).await?)
}
