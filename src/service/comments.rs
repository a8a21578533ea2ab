//! Public comments looked up after receipt by a durable job: a new comment gets its post's link,
//! caption and picture (webhooks carry only the post's id); a mention, which names only the
//! comment, is looked up and ingested as a comment.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channels::Failure;
use crate::domain::inbound::InboundEvent;
use crate::domain::time::now_ms;
use crate::error::Result;
use crate::service::channels::live_adapter;
use crate::service::events::{self, kind};
use crate::service::inbound;
use crate::service::outbound::COMMENT;
use crate::service::views::Message;
use crate::state::AppState;
use crate::store::jobs::{self, JobRow};
use crate::store::{messages, Conn};

/// Job kind that looks a comment up.
pub const COMMENT_JOB: &str = "comment_lookup";

/// Attempts before a lookup is given up (the comment stays as the webhook described it).
const MAX_ATTEMPTS: i64 = 6;

#[derive(Debug, Serialize, Deserialize)]
struct CommentJob {
    channel_id: i64,
    comment_id: String,
    /// The stored comment to complete; none for a mention, which is ingested once looked up.
    message_id: Option<i64>,
}

/// Queues the lookup of a comment in the caller's transaction.
pub async fn queue(
    conn: &mut Conn,
    channel_id: i64,
    comment_id: &str,
    message_id: Option<i64>,
    now: i64,
) -> Result<()> {
    let job = CommentJob { channel_id, comment_id: comment_id.to_owned(), message_id };
    let payload = serde_json::to_string(&job).map_err(anyhow::Error::from)?;
    jobs::insert_job(conn, COMMENT_JOB, &payload, now, now).await?;
    Ok(())
}

/// Runs one lookup: `Ok` when finished (the job is gone), an error to be retried.
pub async fn run(state: &AppState, job: &JobRow) -> Result<()> {
    let CommentJob { channel_id, comment_id, message_id } =
        serde_json::from_str(&job.payload).map_err(|e| anyhow::anyhow!("malformed {COMMENT_JOB} job payload: {e}"))?;
    let Some((channel, adapter)) = live_adapter(state, channel_id).await? else { return finish(state, job.id).await };
    let looked = match adapter.lookup_comment(&state.provider_client, &channel, &comment_id).await {
        Ok(looked) => looked,
        Err(Failure::Transient(text)) if job.attempts < MAX_ATTEMPTS => {
            return Err(anyhow::anyhow!("comment lookup: {text}").into())
        }
        Err(failure) => {
            tracing::info!(channel = channel_id, comment = %comment_id, error = ?failure, "comment not looked up");
            return finish(state, job.id).await;
        }
    };
    let Some(message_id) = message_id else {
        // A mention: the comment becomes a message like any other (once, by its id).
        let mut mention = looked;
        if let Some(comment) = mention.payload.get_mut(COMMENT) {
            comment["mention"] = Value::Bool(true);
        }
        inbound::apply(state, &channel, vec![InboundEvent::Message(mention)]).await?;
        return finish(state, job.id).await;
    };
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let stored = messages::find_message(&mut *tx, message_id).await?.filter(|m| m.deleted_at.is_none());
    if let Some(stored) = stored {
        let mut payload: Value = serde_json::from_str(&stored.payload).unwrap_or_default();
        if let (Some(comment), Some(found)) = (payload.get_mut(COMMENT), looked.payload.get(COMMENT)) {
            for key in ["permalink", "caption", "media_url"] {
                if let Some(value) = found.get(key).filter(|v| !v.is_null()) {
                    comment[key] = value.clone();
                }
            }
            let row = messages::set_media(&mut tx, stored.id, &stored.media_keys, &payload.to_string(), now).await?;
            events::record(&mut tx, row.account_id, kind::MESSAGE_UPDATED, &Message::from(&row), now).await?;
        }
    }
    jobs::delete_job(&mut tx, job.id).await?;
    tx.commit().await?;
    state.events.notify(channel.account_id);
    Ok(())
}

async fn finish(state: &AppState, job_id: i64) -> Result<()> {
    Ok(jobs::finish_job(&state.db, job_id).await?)
}
