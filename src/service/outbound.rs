//! Sending: replies and conversations started by the business. A message is stored as queued in
//! the same transaction as the job that hands it to the channel, so nothing accepted is lost.

use serde_json::json;

use crate::app::AppState;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{message_preview, ChannelKind, Direction, MessageStatus, MessageType, SenderType};
use crate::error::{Error, Result};
use crate::service::contacts::{self, normalize_address};
use crate::service::events::{self, kind};
use crate::service::views::{Conversation, Message};
use crate::store::conversations::{self, ConversationRow};
use crate::store::{channels, jobs, media, messages, Conn};

/// Job kind that hands a queued message to its channel.
pub const SEND_JOB: &str = "send_message";

/// What the business wants to send.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub text: Option<String>,
    pub media_keys: Vec<String>,
    /// A private note: stored for operators, never sent.
    pub private: bool,
    /// Run the whole flow without calling the provider.
    pub simulation: bool,
    /// The operator writing, when known.
    pub operator_id: Option<i64>,
}

/// Who a new conversation is with and where.
#[derive(Debug, Clone)]
pub struct NewConversation {
    pub channel_id: i64,
    /// The contact's address on the channel (E.164 phone on phone channels).
    pub to: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub message: Outgoing,
}

/// Picks the message type from the content: text, or the first attachment's media type.
async fn message_type(conn: &mut Conn, account_id: i64, outgoing: &Outgoing) -> Result<MessageType> {
    if outgoing.private {
        return Ok(MessageType::Note);
    }
    let Some(first) = outgoing.media_keys.first() else { return Ok(MessageType::Text) };
    let row = media::find_media(&mut *conn, account_id, first)
        .await?
        .ok_or_else(|| Error::field("media_keys", "unknown media key"))?;
    let family = row.content_type.split('/').next().unwrap_or_default();
    Ok(match family {
        "image" if row.content_type == "image/webp" => MessageType::Sticker,
        "image" => MessageType::Image,
        "video" => MessageType::Video,
        "audio" => MessageType::Audio,
        _ => MessageType::Document,
    })
}

fn validate(outgoing: &mut Outgoing) -> Result<()> {
    outgoing.text = outgoing.text.take().filter(|t| !t.trim().is_empty());
    if outgoing.text.is_none() && outgoing.media_keys.is_empty() {
        return Err(Error::field("text", "a message needs text or at least one media key"));
    }
    if outgoing.text.as_ref().is_some_and(|t| t.chars().count() > 4096) {
        return Err(Error::field("text", "must be at most 4096 characters"));
    }
    if outgoing.media_keys.len() > 10 {
        return Err(Error::field("media_keys", "at most 10 attachments per message"));
    }
    if outgoing.private && !outgoing.media_keys.is_empty() && outgoing.text.is_none() {
        return Err(Error::field("text", "a private note needs text"));
    }
    Ok(())
}

/// Refuses free-form messages outside the channel's reply window.
fn check_window(conversation: &ConversationRow, outgoing: &Outgoing, now: i64) -> Result<()> {
    if outgoing.private || ChannelKind::parse(&conversation.channel_kind) != Some(ChannelKind::Whatsapp) {
        return Ok(());
    }
    match conversation.window_expires_at {
        Some(expiry) if expiry > now => Ok(()),
        expiry => Err(Error::invalid(
            "reply_window_expired",
            match expiry {
                Some(at) => format!(
                    "the WhatsApp 24-hour window closed at {}: free-form messages are refused until the customer writes again; send an approved template instead",
                    to_rfc3339(at)
                ),
                None => "the customer has not written on WhatsApp yet, so no 24-hour window is open: start with an approved template".to_owned(),
            },
        )),
    }
}

/// Sends a message in an existing conversation; answers with the queued message.
pub async fn send(state: &AppState, account_id: i64, conversation_id: i64, mut outgoing: Outgoing) -> Result<Message> {
    validate(&mut outgoing)?;
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if conversation.status == "closed" {
        return Err(Error::conflict(
            "conversation_closed",
            "this conversation is closed; start a new one to write to the contact",
        ));
    }
    check_window(&conversation, &outgoing, now_ms())?;
    let channel = channels::find_channel(&mut *tx, account_id, conversation.channel_id)
        .await?
        .ok_or_else(|| Error::conflict("channel_removed", "the conversation's channel has been removed"))?;
    let simulated = outgoing.simulation || channel.simulation != 0;
    let (message, _) = queue(&mut tx, &conversation, &outgoing, simulated).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(message)
}

/// Stores a message for a conversation, with its send job unless it is a private note; returns
/// the message and the conversation as it stands afterwards.
async fn queue(
    conn: &mut Conn,
    conversation: &ConversationRow,
    outgoing: &Outgoing,
    simulated: bool,
) -> Result<(Message, Conversation)> {
    let now = now_ms();
    let kind = message_type(conn, conversation.account_id, outgoing).await?;
    if !outgoing.media_keys.is_empty()
        && media::count_owned(&mut *conn, conversation.account_id, &outgoing.media_keys).await?
            != outgoing.media_keys.len() as i64
    {
        return Err(Error::field("media_keys", "unknown media key"));
    }
    let media_keys = serde_json::to_string(&outgoing.media_keys).map_err(anyhow::Error::from)?;
    let row = messages::insert_message(
        conn,
        &messages::NewMessage {
            account_id: conversation.account_id,
            conversation_id: conversation.id,
            channel_id: conversation.channel_id,
            direction: Direction::Outbound.as_str(),
            sender_type: if outgoing.operator_id.is_some() { SenderType::Operator } else { SenderType::System }
                .as_str(),
            sender_id: outgoing.operator_id,
            kind: kind.as_str(),
            text: outgoing.text.as_deref(),
            media_keys: &media_keys,
            payload: "{}",
            provider_message_id: None,
            status: (!outgoing.private).then_some(MessageStatus::Queued.as_str()),
            is_read: true,
            simulated,
            private: outgoing.private,
            created_at: now,
            sent_at: None,
        },
    )
    .await?;
    let message = Message::from(&row);
    events::record(conn, conversation.account_id, kind::MESSAGE_CREATED, &message, now).await?;
    if outgoing.private {
        return Ok((message, Conversation::from(conversation)));
    }
    jobs::insert_job(conn, SEND_JOB, &json!({ "message_id": row.id }).to_string(), now, now).await?;
    conversations::record_outbound(conn, conversation.id, &message_preview(kind, outgoing.text.as_deref()), now)
        .await?;
    let updated = conversations::find_conversation(&mut *conn, conversation.account_id, conversation.id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let updated = Conversation::from(&updated);
    events::record(conn, conversation.account_id, kind::CONVERSATION_UPDATED, &updated, now).await?;
    metrics::counter!("parley_messages_total", "direction" => "outbound", "channel" => conversation.channel_kind.clone()).increment(1);
    Ok((message, updated))
}

/// Starts a conversation from the business side: finds or creates the contact on the channel,
/// reuses its active conversation there or opens one, and queues the first message.
pub async fn start(state: &AppState, account_id: i64, mut new: NewConversation) -> Result<(Conversation, Message)> {
    validate(&mut new.message)?;
    if new.message.private {
        return Err(Error::field("private", "a conversation cannot start with a private note"));
    }
    let mut tx = state.db.begin().await?;
    let channel =
        channels::find_channel(&mut *tx, account_id, new.channel_id).await?.ok_or(Error::NotFound("channel"))?;
    let kind =
        ChannelKind::parse(&channel.kind).ok_or_else(|| anyhow::anyhow!("stored channel kind {}", channel.kind))?;
    let to = normalize_address(kind, &new.to)
        .map_err(|problem| Error::invalid("invalid_destination", format!("to: {problem}")))?;
    let now = now_ms();
    let contact_id =
        contacts::find_or_create_by_address(&mut tx, kind, &channel, &to, &[], new.name.as_deref(), now).await?;
    let active = conversations::find_active_conversation(&mut *tx, channel.id, contact_id).await?;
    let started = active.is_none();
    let conversation_id = match active {
        Some(state) => state.id,
        None => {
            conversations::insert_conversation(&mut tx, account_id, channel.id, contact_id, new.subject.as_deref(), now)
                .await?
        }
    };
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if started {
        events::record(&mut tx, account_id, kind::CONVERSATION_CREATED, &Conversation::from(&conversation), now)
            .await?;
    }
    check_window(&conversation, &new.message, now)?;
    let simulated = new.message.simulation || channel.simulation != 0;
    let (message, conversation) = queue(&mut tx, &conversation, &new.message, simulated).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok((conversation, message))
}
