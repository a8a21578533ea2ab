//! Provider calls for queued work: handing a message to its channel's adapter at the channel's
//! pace, and telling the provider an operator read a conversation. The calls happen outside any
//! transaction, so a slow provider holds no database lock and never blocks ingestion.

use serde_json::{Map, Value};

use super::Outcome;
use crate::channels::{Channel, CommentReply, Envelope, Failure, Outbound, OutboundFile, OPTED_OUT};
use crate::domain::content;
use crate::domain::jobs::{MarkRead, Typing};
use crate::domain::time::now_ms;
use crate::domain::{MessageStatus, MessageType, SenderType};
use crate::error::Result;
use crate::service::channels::live_adapter;
use crate::service::email::EMAIL;
use crate::service::messages::{apply_status, StatusReport};
use crate::service::outbound::COMMENT_REPLY;
use crate::state::AppState;
use crate::store::conversations::ConversationRow;
use crate::store::messages::MessageRow;
use crate::store::{accounts, contacts, conversations, jobs, media, messages};

/// How long the media links handed to providers stay valid, in seconds.
const MEDIA_LINK_SECONDS: i64 = 7 * 24 * 3600;

/// Sends a queued message through its channel's adapter (`None` when the channel is not a live
/// channel Parley can send on). The provider's answer decides: accepted → `sent` with its id
/// (later status reports match it); a permanent refusal → `failed` with its code; throttling,
/// outages and network trouble → an error, so the job is retried with backoff. A channel over its
/// pace waits its turn without holding up other channels.
pub async fn send(state: &AppState, job_id: i64, message: &MessageRow) -> Result<Option<Outcome>> {
    let Some((channel, adapter)) = live_adapter(state, message.channel_id).await? else { return Ok(None) };
    if let Some(rate) = adapter.send_rate(&channel) {
        let held = match state.cluster {
            Some(_) => crate::cluster::take_send_slot(state, channel.id, rate).await?,
            None => state.send_limiter.check(channel.id, rate).err(),
        };
        if let Some(wait) = held {
            return Ok(Some(Outcome::Later(wait)));
        }
    }
    let mut outbound = outbound(state, message, adapter).await?;
    if adapter.capabilities().names_messages {
        outbound.message_id = Some(match &message.provider_message_id {
            Some(id) => id.clone(),
            None => name_message(state, message.id, &adapter.message_name(&channel)).await?,
        });
    }
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
    // The provider says the customer unsubscribed: later sends are refused before they are queued.
    if matches!(&answer, Err(Failure::Permanent { code, .. }) if code == OPTED_OUT) {
        for recipient in &outbound.recipients {
            contacts::set_opted_out(&mut tx, channel.id, recipient, Some(now_ms())).await?;
        }
    }
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    state.events.notify(message.account_id);
    Ok(Some(Outcome::Done))
}

/// A stored message as the adapter sends it: the contact's addresses on the channel, phone
/// numbers first; its content (the first attachment as a signed link); what it quotes or answers;
/// whether it goes out in the human-agent window; where the provider reports its statuses.
async fn outbound(state: &AppState, message: &MessageRow, adapter: &dyn Channel) -> Result<Outbound> {
    let capabilities = adapter.capabilities();
    let db = state.db.reader();
    let conversation = conversations::find_conversation(db, message.account_id, message.conversation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("message {} has no conversation", message.id))?;
    let recipients = recipients(state, message.account_id, message.channel_id, &conversation).await?;
    let payload = message.payload_object();
    let keys: Vec<String> = serde_json::from_str(&message.media_keys).unwrap_or_default();
    let media = match keys.first() {
        Some(key) => media::find_media(db, message.account_id, key)
            .await?
            .map(|row| (state.media.signed_url(&row.key, now_ms() / 1000 + MEDIA_LINK_SECONDS), row.filename)),
        None => None,
    };
    let kind = MessageType::parse(&message.kind).unwrap_or(MessageType::Text);
    let content = content::parse(kind, message.text.as_deref(), &payload, media)
        .map_err(|problem| anyhow::anyhow!("message {} has no content: {}", message.id, problem.detail))?;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let comment = payload.get(COMMENT_REPLY).and_then(|reply| {
        Some(CommentReply { comment_id: text(&reply["comment_id"])?, private: reply["private"] == Value::Bool(true) })
    });
    let standard_window = capabilities.reply_window_expiry(conversation.last_inbound_at.unwrap_or(0));
    let envelope = match capabilities.threads {
        true => Some(envelope(state, message, &conversation, &payload, capabilities.files_inline).await?),
        false => None,
    };
    Ok(Outbound {
        recipients,
        content,
        reply_to: payload.get("context").and_then(|context| text(&context["message_id"])),
        human_agent: comment.is_none() && standard_window.is_some_and(|expiry| expiry <= now_ms()),
        comment,
        status_url: format!(
            "{}/hooks/{}",
            state.config.effective_public_url(),
            adapter.hook_path().unwrap_or_default()
        ),
        message_id: None,
        envelope,
    })
}

/// The subject, thread, copies, writer and files of a message on a threaded network.
async fn envelope(
    state: &AppState,
    message: &MessageRow,
    conversation: &ConversationRow,
    payload: &Map<String, Value>,
    files_inline: bool,
) -> Result<Envelope> {
    let db = state.db.reader();
    let addresses = |name: &str| -> Vec<String> {
        payload
            .get(EMAIL)
            .and_then(|email| email.get(name))
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let sender_name = match (message.sender_type == SenderType::Operator.as_str(), message.sender_id) {
        (true, Some(id)) => accounts::find_operator(db, message.account_id, id).await?.map(|operator| operator.name),
        _ => None,
    };
    let mut files = Vec::new();
    let keys: Vec<String> = serde_json::from_str(&message.media_keys).unwrap_or_default();
    if files_inline {
        for row in media::find_many(db, message.account_id, &keys).await? {
            let bytes =
                state.media.get(&row.key).await.map_err(|e| anyhow::anyhow!("reading media {}: {e}", row.key))?;
            let name = row.filename.clone().unwrap_or_else(|| row.key.clone());
            files.push(OutboundFile { name, content_type: row.content_type, bytes: bytes.to_vec() });
        }
    }
    Ok(Envelope {
        subject: conversation.subject.clone(),
        references: messages::thread_ids(db, conversation.id, message.id).await?,
        cc: addresses("cc"),
        bcc: addresses("bcc"),
        files,
        sender_name,
        automatic: message.sender_type == SenderType::VirtualAgent.as_str() || payload.contains_key("survey_id"),
    })
}

/// Gives a message the id it is sent with (the adapter's name for it), committed before the
/// provider is called: a retry after a crash sends the same id, which the provider takes only
/// once.
async fn name_message(state: &AppState, message_id: i64, name: &str) -> Result<String> {
    let mut tx = state.db.begin().await?;
    let id = messages::name_message(&mut tx, message_id, name).await?;
    tx.commit().await?;
    Ok(id)
}

/// The contact's addresses on the channel, phone numbers first.
async fn recipients(
    state: &AppState,
    account_id: i64,
    channel_id: i64,
    conversation: &ConversationRow,
) -> Result<Vec<String>> {
    let identities = contacts::list_identities(state.db.reader(), account_id, conversation.contact_id).await?;
    let mut recipients: Vec<String> = identities
        .into_iter()
        .filter(|identity| identity.channel_id == channel_id)
        .map(|identity| identity.external_id)
        .collect();
    recipients.sort_by_key(|address| !address.starts_with('+'));
    if recipients.is_empty() {
        recipients.extend(conversation.contact_phone.clone());
    }
    Ok(recipients)
}

/// Tells the provider the business read a message (read ticks for the customer).
pub async fn mark_read(state: &AppState, job_id: i64, job: &MarkRead) -> Result<Outcome> {
    if let Some((channel, adapter)) = live_adapter(state, job.channel_id).await? {
        let recipient = job.recipient.as_deref().unwrap_or_default();
        let answer = adapter.mark_read(&state.provider_client, &channel, recipient, &job.provider_message_id).await;
        told(answer, job.channel_id, "read receipt")?;
    }
    finish(state, job_id).await
}

/// Shows the customer that an operator is typing, or stopped.
pub async fn typing(state: &AppState, job_id: i64, job: &Typing) -> Result<Outcome> {
    if let Some((channel, adapter)) = live_adapter(state, job.channel_id).await? {
        let answer = adapter.typing(&state.provider_client, &channel, &job.recipient, job.on).await;
        told(answer, job.channel_id, "typing indicator")?;
    }
    finish(state, job_id).await
}

/// The outcome of a call that tells the customer something and changes nothing in Parley:
/// permanent refusals are logged and dropped (there is nothing to fail), transient ones retried.
fn told(answer: std::result::Result<(), Failure>, channel_id: i64, what: &str) -> Result<()> {
    match answer {
        Ok(()) => Ok(()),
        Err(Failure::Permanent { code, text }) => {
            tracing::warn!(channel = channel_id, code = %code, error = %text, "the provider refused a {what}");
            Ok(())
        }
        Err(Failure::Transient(text)) => Err(anyhow::anyhow!("{what}: {text}").into()),
    }
}

async fn finish(state: &AppState, job_id: i64) -> Result<Outcome> {
    jobs::finish_job(&state.db, job_id).await?;
    Ok(Outcome::Done)
}
