//! Provider calls for queued work: handing a message to its channel's adapter at the channel's
//! pace, and telling the provider an operator read a conversation. The calls happen outside any
//! transaction, so a slow provider holds no database lock and never blocks ingestion.

use serde_json::{Map, Value};

use super::Outcome;
use crate::app::AppState;
use crate::channels::{self, Channel, Failure, MediaLink, Outbound};
use crate::domain::jobs::MarkRead;
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, MessageStatus, MessageType};
use crate::error::Result;
use crate::service::messages::{apply_status, StatusReport};
use crate::store::channels::ChannelRow;
use crate::store::messages::MessageRow;
use crate::store::{contacts, conversations, jobs, media, messages};

/// How long the media links handed to providers stay valid, in seconds.
const MEDIA_LINK_SECONDS: i64 = 7 * 24 * 3600;

/// A live channel with an adapter, by id.
async fn live(state: &AppState, channel_id: i64) -> Result<Option<(ChannelRow, &'static dyn Channel)>> {
    let Some(channel) = crate::store::channels::find_channel_any(state.db.reader(), channel_id).await? else {
        return Ok(None);
    };
    let adapter = ChannelKind::parse(&channel.kind).and_then(channels::adapter);
    Ok(match adapter {
        Some(adapter) if channel.simulation == 0 => Some((channel, adapter)),
        _ => None,
    })
}

/// Sends a queued message through its channel's adapter (`None` when the channel is not a live
/// channel Parley can send on). The provider's answer decides: accepted → `sent` with its id
/// (later status reports match it); a permanent refusal → `failed` with its code; throttling,
/// outages and network trouble → an error, so the job is retried with backoff. A channel over its
/// pace waits its turn without holding up other channels.
pub async fn send(state: &AppState, job_id: i64, message: &MessageRow) -> Result<Option<Outcome>> {
    let Some((channel, adapter)) = live(state, message.channel_id).await? else { return Ok(None) };
    if let Some(rate) = adapter.send_rate(&channel) {
        if let Err(wait) = state.send_limiter.check(channel.id, rate) {
            return Ok(Some(Outcome::Later(wait)));
        }
    }
    let payload = match serde_json::from_str(&message.payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let outbound = outbound(state, message, &payload).await?;
    let report_error;
    let answer = adapter.send(&state.provider_client, &channel, &outbound).await;
    let report = match &answer {
        Ok(id) => StatusReport { status: MessageStatus::Sent, error: None, provider_message_id: Some(id) },
        Err(Failure::Permanent { code, text }) => {
            tracing::warn!(message = message.id, channel = %channel.kind, code = %code, error = %text, "the provider refused the message");
            report_error = (code.as_str(), text.as_str());
            StatusReport { status: MessageStatus::Failed, error: Some(report_error), provider_message_id: None }
        }
        Err(Failure::Transient(text)) => {
            return Err(anyhow::anyhow!("{} send not accepted yet: {text}", channel.kind).into())
        }
    };
    let mut tx = state.db.begin().await?;
    if let Some(current) = messages::find_message(&mut *tx, message.id).await? {
        apply_status(&mut tx, &current, &report).await?;
    }
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    state.events.notify(message.account_id);
    Ok(Some(Outcome::Done))
}

/// A stored message as the adapter sends it: the contact's addresses on the channel, phone
/// numbers first, and the first attachment as a signed link.
async fn outbound<'a>(
    state: &AppState,
    message: &'a MessageRow,
    payload: &'a Map<String, Value>,
) -> Result<Outbound<'a>> {
    let db = state.db.reader();
    let conversation = conversations::find_conversation(db, message.account_id, message.conversation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("message {} has no conversation", message.id))?;
    let identities = contacts::list_identities(db, message.account_id, conversation.contact_id).await?;
    let mut recipients: Vec<String> = identities
        .into_iter()
        .filter(|(channel, _, _)| *channel == message.channel_id)
        .map(|(_, _, address)| address)
        .collect();
    recipients.sort_by_key(|address| !address.starts_with('+'));
    if recipients.is_empty() {
        recipients.extend(conversation.contact_phone.clone());
    }
    let keys: Vec<String> = serde_json::from_str(&message.media_keys).unwrap_or_default();
    let media = match keys.first() {
        Some(key) => media::find_media(db, message.account_id, key).await?.map(|row| MediaLink {
            link: state.media.signed_url(&row.key, now_ms() / 1000 + MEDIA_LINK_SECONDS),
            filename: row.filename,
        }),
        None => None,
    };
    Ok(Outbound {
        recipients,
        kind: MessageType::parse(&message.kind).unwrap_or(MessageType::Text),
        text: message.text.as_deref(),
        media,
        payload,
    })
}

/// Tells the provider the business read a message (read ticks for the customer). Permanent
/// refusals are logged and dropped: there is nothing to fail.
pub async fn mark_read(state: &AppState, job_id: i64, job: &MarkRead) -> Result<Outcome> {
    if let Some((channel, adapter)) = live(state, job.channel_id).await? {
        match adapter.mark_read(&state.provider_client, &channel, &job.provider_message_id).await {
            Ok(()) => {}
            Err(Failure::Permanent { code, text }) => {
                tracing::warn!(channel = job.channel_id, code = %code, error = %text, "the provider refused a read receipt")
            }
            Err(Failure::Transient(text)) => return Err(anyhow::anyhow!("read receipt: {text}").into()),
        }
    }
    let mut tx = state.db.begin().await?;
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}
