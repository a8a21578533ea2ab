//! WhatsApp Cloud API jobs: handing queued messages to the Graph API at the number's pace, and
//! telling Meta an operator read a conversation. Provider calls happen outside any transaction,
//! so a slow Graph API holds no database lock and never blocks ingestion.

use serde_json::{Map, Value};

use super::Outcome;
use crate::app::AppState;
use crate::channels::whatsapp::graph::{self, Failure, MediaLink, Outbound, Recipient};
use crate::channels::whatsapp::settings::Settings;
use crate::domain::jobs::MarkRead;
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, MessageStatus, MessageType};
use crate::error::Result;
use crate::service::messages::{apply_status, StatusReport};
use crate::store::channels::{self, ChannelRow};
use crate::store::messages::MessageRow;
use crate::store::{contacts, conversations, jobs, media, messages};

/// How long the media links handed to Meta stay valid, in seconds.
const MEDIA_LINK_SECONDS: i64 = 7 * 24 * 3600;

/// A live WhatsApp channel's credentials, when it has them.
struct Live {
    settings: Settings,
    phone_number_id: String,
    token: String,
}

fn live(channel: &ChannelRow) -> Option<Live> {
    if ChannelKind::parse(&channel.kind) != Some(ChannelKind::Whatsapp) || channel.simulation != 0 {
        return None;
    }
    let settings = Settings::parse(&channel.settings);
    let phone_number_id = settings.phone_number_id.clone()?;
    let token = settings.access_token.clone()?;
    Some(Live { settings, phone_number_id, token })
}

/// Sends a queued message through the Graph API when its channel is a configured WhatsApp
/// channel (`None` otherwise). Meta's answer decides: accepted → `sent` with the wamid (later
/// status webhooks match it); a permanent error → `failed` with its code; throttling, 5xx and
/// network trouble → an error, so the job is retried with backoff. A number over its
/// `messages_per_second` waits its turn without holding up other channels.
pub async fn send(state: &AppState, job_id: i64, message: &MessageRow) -> Result<Option<Outcome>> {
    let Some(channel) = channels::find_channel_any(state.db.reader(), message.channel_id).await? else {
        return Ok(None);
    };
    let Some(live) = live(&channel) else { return Ok(None) };
    if let Err(wait) = state.send_limiter.check(channel.id, live.settings.messages_per_second()) {
        return Ok(Some(Outcome::Later(wait)));
    }
    let path = format!("{}/messages", live.phone_number_id);
    let answer = match request_body(state, message).await? {
        Some(body) => {
            graph::post(&state.provider_client, live.settings.graph_base_url(), &path, &live.token, &body).await
        }
        None => Err(Failure::Permanent {
            code: "no_recipient".to_owned(),
            text: "the contact has no WhatsApp phone number or user id on this channel".to_owned(),
        }),
    };
    let report_error;
    let report = match &answer {
        Ok(answer) => match graph::sent_id(answer) {
            Some(wamid) => StatusReport { status: MessageStatus::Sent, error: None, provider_message_id: Some(wamid) },
            None => return Err(anyhow::anyhow!("the Graph API accepted the message without a message id").into()),
        },
        Err(Failure::Permanent { code, text }) => {
            tracing::warn!(message = message.id, code = %code, error = %text, "WhatsApp refused the message");
            report_error = (code.as_str(), text.as_str());
            StatusReport { status: MessageStatus::Failed, error: Some(report_error), provider_message_id: None }
        }
        Err(Failure::Transient(text)) => return Err(anyhow::anyhow!("WhatsApp send not accepted yet: {text}").into()),
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

/// The Graph API body for a stored message; `None` when its contact has no address to send to.
async fn request_body(state: &AppState, message: &MessageRow) -> Result<Option<Value>> {
    let db = state.db.reader();
    let conversation = conversations::find_conversation(db, message.account_id, message.conversation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("message {} has no conversation", message.id))?;
    let identities = contacts::list_identities(db, message.account_id, conversation.contact_id).await?;
    let on_channel: Vec<&str> = identities
        .iter()
        .filter(|(channel, _, _)| *channel == message.channel_id)
        .map(|(_, _, address)| address.as_str())
        .collect();
    let address = on_channel
        .iter()
        .find(|address| address.starts_with('+'))
        .or(on_channel.first())
        .map(|address| (*address).to_owned())
        .or(conversation.contact_phone.clone());
    let Some(address) = address else { return Ok(None) };
    let recipient = Recipient::from_address(&address);
    let keys: Vec<String> = serde_json::from_str(&message.media_keys).unwrap_or_default();
    let media = match keys.first() {
        Some(key) => media::find_media(db, message.account_id, key).await?.map(|row| MediaLink {
            link: state.media.signed_url(&row.key, now_ms() / 1000 + MEDIA_LINK_SECONDS),
            filename: row.filename,
        }),
        None => None,
    };
    let payload = match serde_json::from_str(&message.payload) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let kind = MessageType::parse(&message.kind).unwrap_or(MessageType::Text);
    Ok(Some(graph::message_body(&Outbound {
        recipient: &recipient,
        kind,
        text: message.text.as_deref(),
        media,
        payload: &payload,
    })))
}

/// Tells Meta the business read a message (blue ticks for the customer). Permanent refusals are
/// logged and dropped: there is nothing to fail.
pub async fn mark_read(state: &AppState, job_id: i64, job: &MarkRead) -> Result<Outcome> {
    let channel = channels::find_channel_any(state.db.reader(), job.channel_id).await?;
    if let Some(live) = channel.as_ref().and_then(live) {
        let path = format!("{}/messages", live.phone_number_id);
        let body = graph::read_body(&job.provider_message_id);
        match graph::post(&state.provider_client, live.settings.graph_base_url(), &path, &live.token, &body).await {
            Ok(_) => {}
            Err(Failure::Permanent { code, text }) => {
                tracing::warn!(channel = job.channel_id, code = %code, error = %text, "WhatsApp refused a read receipt")
            }
            Err(Failure::Transient(text)) => return Err(anyhow::anyhow!("WhatsApp read receipt: {text}").into()),
        }
    }
    let mut tx = state.db.begin().await?;
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    Ok(Outcome::Done)
}
