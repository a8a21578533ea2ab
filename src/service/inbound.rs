//! Ingestion: the one way a customer's message enters Parley, whichever door it came through.

use serde_json::Value;

use crate::app::AppState;
use crate::domain::time::now_ms;
use crate::domain::{message_preview, ChannelKind, Direction, MessageType, SenderType};
use crate::error::{Error, Result};
use crate::service::contacts::{self, normalize_address};
use crate::service::conversations::record_changes;
use crate::service::events::{self, kind};
use crate::service::views::{Conversation, Message};
use crate::store::channels::ChannelRow;
use crate::store::{conversations, media, messages, Conn};

/// A customer message as a channel delivered it.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The sender's address on the channel (phone, wa_id, PSID, email…).
    pub from: String,
    /// The sender's profile name, when the channel gives one.
    pub name: Option<String>,
    pub kind: MessageType,
    pub text: Option<String>,
    /// The provider's id for the message, used to drop repeats.
    pub provider_message_id: Option<String>,
    pub media_keys: Vec<String>,
    /// Structured content (location, buttons…).
    pub payload: Value,
    /// When the customer sent it (Unix ms); receipt time when unknown.
    pub sent_at: Option<i64>,
}

/// The outcome of ingesting one message.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub message: Message,
    pub conversation: Conversation,
    /// True when the provider message id had been seen before and nothing was created.
    pub duplicate: bool,
}

/// Checks and normalises one message before anything is written.
fn validate(kind: ChannelKind, mut message: InboundMessage) -> Result<InboundMessage> {
    message.from = normalize_address(kind, &message.from).map_err(|problem| Error::field("from", problem))?;
    message.name = message.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    message.text = message.text.filter(|t| !t.is_empty());
    if message.kind == MessageType::Text && message.text.is_none() {
        return Err(Error::field("text", "a text message needs text"));
    }
    if message.text.as_ref().is_some_and(|t| t.len() > 65_536) {
        return Err(Error::field("text", "must be at most 65536 bytes"));
    }
    if message.kind == MessageType::Note {
        return Err(Error::field("type", "a customer cannot send a private note"));
    }
    Ok(message)
}

/// Ingests a batch of messages from one channel in one transaction: repeats are recognised by
/// provider id and return the first result; contacts, conversations, counters, the reply window
/// and events are updated together.
pub async fn ingest(state: &AppState, channel: &ChannelRow, batch: Vec<InboundMessage>) -> Result<Vec<Ingested>> {
    let kind =
        ChannelKind::parse(&channel.kind).ok_or_else(|| anyhow::anyhow!("stored channel kind {}", channel.kind))?;
    let batch = batch.into_iter().map(|m| validate(kind, m)).collect::<Result<Vec<_>>>()?;
    // Two deliveries racing to create the same contact or message collide on a unique index; the
    // retry then finds what the winner created.
    let mut attempt = 0;
    let results = loop {
        attempt += 1;
        match ingest_batch(state, kind, channel, &batch).await {
            Err(Error::Database(sqlx::Error::Database(e))) if e.is_unique_violation() && attempt < 3 => continue,
            other => break other?,
        }
    };
    let created = results.iter().filter(|r| !r.duplicate).count();
    if created > 0 {
        metrics::counter!("parley_messages_total", "direction" => "inbound", "channel" => kind.as_str())
            .increment(created as u64);
        state.events.notify(channel.account_id);
    }
    Ok(results)
}

async fn ingest_batch(
    state: &AppState,
    kind: ChannelKind,
    channel: &ChannelRow,
    batch: &[InboundMessage],
) -> Result<Vec<Ingested>> {
    let mut tx = state.db.begin().await?;
    let mut results = Vec::with_capacity(batch.len());
    for message in batch {
        results.push(ingest_one(&mut tx, kind, channel, message.clone()).await?);
    }
    tx.commit().await?;
    Ok(results)
}

async fn ingest_one(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    message: InboundMessage,
) -> Result<Ingested> {
    let account_id = channel.account_id;
    if let Some(provider_id) = &message.provider_message_id {
        if let Some(existing) = messages::find_by_provider_id(&mut *conn, channel.id, provider_id).await? {
            let conversation = conversations::find_conversation(&mut *conn, account_id, existing.conversation_id)
                .await?
                .ok_or(Error::NotFound("conversation"))?;
            return Ok(Ingested {
                message: Message::from(&existing),
                conversation: Conversation::from(&conversation),
                duplicate: true,
            });
        }
    }
    if !message.media_keys.is_empty()
        && media::count_owned(&mut *conn, account_id, &message.media_keys).await? != message.media_keys.len() as i64
    {
        return Err(Error::field("media_key", "unknown media key"));
    }
    let now = now_ms();
    let at = message.sent_at.unwrap_or(now);
    let contact_id =
        contacts::find_or_create_by_address(conn, kind, channel, &message.from, message.name.as_deref(), now).await?;
    // The active conversation's state before this message, to tell what the message changed.
    let before = conversations::find_active_conversation(&mut *conn, channel.id, contact_id).await?;
    let conversation_id = match &before {
        Some(state) => state.id,
        None => conversations::insert_conversation(conn, account_id, channel.id, contact_id, None, now).await?,
    };
    let media_keys = serde_json::to_string(&message.media_keys).map_err(anyhow::Error::from)?;
    let row = messages::insert_message(
        conn,
        &messages::NewMessage {
            account_id,
            conversation_id,
            channel_id: channel.id,
            direction: Direction::Inbound.as_str(),
            sender_type: SenderType::Contact.as_str(),
            sender_id: Some(contact_id),
            kind: message.kind.as_str(),
            text: message.text.as_deref(),
            media_keys: &media_keys,
            payload: &message.payload.to_string(),
            provider_message_id: message.provider_message_id.as_deref(),
            status: None,
            is_read: false,
            simulated: false,
            private: false,
            created_at: at,
        },
    )
    .await?;
    let preview = message_preview(message.kind, message.text.as_deref());
    conversations::record_inbound(conn, conversation_id, &preview, at, kind.reply_window_expiry(at), now).await?;
    let conversation = conversations::find_conversation(&mut *conn, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let message = Message::from(&row);
    let conversation = Conversation::from(&conversation);
    if before.is_none() {
        events::record(conn, account_id, kind::CONVERSATION_CREATED, &conversation, now).await?;
    }
    events::record(conn, account_id, kind::MESSAGE_CREATED, &message, now).await?;
    if let Some(before) = &before {
        // A resolved conversation reopens: `conversation.status_changed` follows the update.
        record_changes(conn, account_id, before, &conversation, now).await?;
    }
    Ok(Ingested { message, conversation, duplicate: false })
}
