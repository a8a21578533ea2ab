//! Email in: a raw mail, whichever way it came (the IMAP watcher or the raw-MIME webhook), parsed
//! once, stored raw with its files in the media store, then ingested as a message of its thread.
//! A bounce fails the message it reports on; a spam complaint opts the contact out of the channel.

use axum::http::HeaderMap;
use serde_json::{json, Value};

use crate::channels::email::ingress::{self, Refusal};
use crate::channels::email::parse::{self, Mail, Report};
use crate::channels::email::Settings;
use crate::domain::inbound::{InboundEvent, InboundMessage, StatusUpdate};
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, MediaOrigin, MessageStatus, MessageType};
use crate::error::{Error, Result};
use crate::service::inbound::{self, Ingested};
use crate::service::media::{self as media_service, NewMedia};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;
use crate::store::channels as store_channels;
use crate::store::channels::ChannelRow;
use crate::store::{contacts, conversations, messages};

/// The largest mail taken, in bytes.
pub const MAX_MAIL_BYTES: usize = 30 * 1024 * 1024;

/// The stored payload key of what a message's mail says besides its text.
pub const EMAIL: &str = "email";

/// The most of a mail's reply kept as its message's text (what the inbox and agents read).
const MAX_TEXT_BYTES: usize = 60 * 1024;

/// The most of a mail's whole text kept with its message; the raw mail keeps all of it.
const MAX_FULL_TEXT_BYTES: usize = 512 * 1024;

/// The start of `text`, at most `max` bytes, cut at a character boundary.
fn clipped(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// What became of a received mail.
#[derive(Debug)]
pub enum Received {
    /// Stored (or already stored: `duplicate`).
    Ingested(Box<Ingested>),
    /// Not a mail Parley can read: the reason.
    Unreadable(String),
}

/// Receives a mail posted to the raw-MIME webhook of the email channel `channel_id`: verified
/// (Basic auth or Mailgun's signature) before anything is read, then received; a mail that
/// cannot be read is refused (422) and becomes no message.
pub async fn receive_posted(
    state: &AppState,
    channel_id: i64,
    headers: &HeaderMap,
    body: bytes::Bytes,
) -> Result<Ingested> {
    let channel = store_channels::find_undeleted(state.db.reader(), channel_id)
        .await?
        .filter(|channel| channel.kind == ChannelKind::Email.as_str())
        .ok_or(Error::NotFound("email channel"))?;
    let settings = Settings::of(&channel);
    let raw = ingress::raw_mail(&settings, headers, body, now_ms() / 1000).await.map_err(|refusal| match refusal {
        Refusal::Unauthorized(why) => Error::InvalidSignature(why),
        Refusal::Unsupported(why) | Refusal::Malformed(why) => Error::MalformedBody(why),
    })?;
    match receive(state, &channel, &raw).await? {
        Received::Ingested(ingested) => Ok(*ingested),
        Received::Unreadable(why) => Err(Error::invalid("unreadable_mail", why)),
    }
}

/// Receives one raw mail on an email channel: nothing is written for a mail already stored or one
/// that cannot be read (the caller records that).
pub async fn receive(state: &AppState, channel: &ChannelRow, raw: &[u8]) -> Result<Received> {
    if raw.len() > MAX_MAIL_BYTES {
        return Ok(Received::Unreadable(format!("the mail is larger than {MAX_MAIL_BYTES} bytes")));
    }
    let settings = Settings::of(channel);
    let mail = match parse::parse(raw, &[settings.address.as_str()]) {
        Ok(mail) => mail,
        Err(reason) => return Ok(Received::Unreadable(reason.to_owned())),
    };
    let db = state.db.reader();
    if let Some(existing) = messages::find_by_provider_id(db, channel.id, &mail.message_id).await? {
        let conversation = conversations::find_conversation(db, channel.account_id, existing.conversation_id)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        let message = Message::from(&existing);
        let conversation = Conversation::from(&conversation);
        return Ok(Received::Ingested(Box::new(Ingested { message, conversation, duplicate: true })));
    }
    let save = |filename: Option<String>, content_type: String, bytes: Vec<u8>| {
        let file = NewMedia { filename, content_type, origin: MediaOrigin::Original, bytes: bytes.into() };
        media_service::save(state, channel.account_id, file)
    };
    let raw_key = save(Some("message.eml".to_owned()), "message/rfc822".to_owned(), raw.to_vec()).await?.key;
    let mut attachments = Vec::new();
    let mut inline = serde_json::Map::new();
    for file in &mail.files {
        let key = save(file.name.clone(), file.content_type.clone(), file.bytes.clone()).await?.key;
        match &file.content_id {
            Some(cid) if mail.html.as_deref().is_some_and(|html| html.contains(&format!("cid:{cid}"))) => {
                inline.insert(cid.clone(), key.into());
            }
            _ => attachments.push(key),
        }
    }
    let mut events = Vec::with_capacity(2);
    if let Some(status) = bounce_status(&mail) {
        events.push(InboundEvent::Status(status));
    }
    events.push(InboundEvent::Message(message(&settings, &mail, raw_key, attachments, inline)));
    // A mail ingestion refuses (an address no rule takes, say) would be refused again on every
    // read: it is unreadable, not worth another try.
    let outcome = match inbound::apply(state, channel, events).await {
        Ok(outcome) => outcome,
        Err(Error::Invalid { detail, .. }) => return Ok(Received::Unreadable(detail)),
        Err(other) => return Err(other),
    };
    if let Some(Report::Complaint { .. }) = &mail.report {
        complaint(state, channel, &mail).await?;
    }
    let ingested = outcome.into_iter().flatten().next();
    ingested
        .map(|found| Received::Ingested(Box::new(found)))
        .ok_or_else(|| Error::Internal(anyhow::anyhow!("a mail was ingested without a message")))
}

/// The message a mail becomes: its reply as the text (the whole mail in the payload), its
/// attachments, and its thread: the mail a report is about, the mails it answers and any
/// `reply+<id>@` address it went to.
fn message(
    settings: &Settings,
    mail: &Mail,
    raw_key: String,
    attachments: Vec<String>,
    inline: serde_json::Map<String, Value>,
) -> InboundMessage {
    let text = mail
        .reply
        .as_deref()
        .filter(|reply| !reply.trim().is_empty())
        .map(|reply| clipped(reply, MAX_TEXT_BYTES).to_owned())
        .or_else(|| mail.subject.clone());
    let kind = match (&text, attachments.first()) {
        (None, Some(_)) => MessageType::Document,
        _ => MessageType::Text,
    };
    let mut message = InboundMessage::new(mail.from.clone(), kind);
    message.name = mail.name.clone();
    message.text = text.or_else(|| Some("(empty mail)".to_owned())).filter(|_| kind == MessageType::Text);
    message.provider_message_id = Some(mail.message_id.clone());
    message.media_keys = attachments;
    message.sent_at = mail.sent_at.filter(|at| *at > 0 && *at <= now_ms() + 3_600_000);
    let domain = settings.address.rsplit_once('@').map_or("", |(_, domain)| domain);
    // A report belongs with the mail it reports on.
    let reported = match &mail.report {
        Some(Report::Delivery { original, .. } | Report::Complaint { original, .. }) => original.clone(),
        None => None,
    };
    let mut thread: Vec<String> = reported.into_iter().chain(mail.thread.iter().cloned()).collect();
    for address in mail.to.iter().chain(&mail.cc) {
        if let Some(token) =
            address.strip_prefix("reply+").and_then(|rest| rest.split_once('@')).map(|(token, _)| token)
        {
            thread.push(format!("{token}@{domain}"));
        }
    }
    message.thread = Some(thread);
    message.subject = mail.subject.clone();
    message.automated = mail.automated.is_some();
    message.opens_window = mail.automated.is_none();
    let delivery = match &mail.report {
        Some(Report::Delivery { original, action, status, recipient, diagnostic }) => json!({
            "original_message_id": original, "action": action, "status": status, "recipient": recipient,
            "diagnostic": diagnostic,
        }),
        Some(Report::Complaint { original, recipient, feedback_type }) => json!({
            "original_message_id": original, "action": "complaint", "recipient": recipient,
            "feedback_type": feedback_type,
        }),
        None => Value::Null,
    };
    message.payload = json!({ EMAIL: {
        "subject": mail.subject,
        "message_id": mail.message_id,
        "from": mail.from,
        "to": mail.to,
        "cc": mail.cc,
        "text": mail.text.as_deref().map(|text| clipped(text, MAX_FULL_TEXT_BYTES)),
        "html": mail.html,
        "quoted": mail.text.as_deref().is_some_and(|text| mail.reply.as_deref() != Some(text.trim_end())),
        "raw_media_key": raw_key,
        "inline": inline,
        "automated": mail.automated,
        "report": delivery,
    }});
    message
}

/// The status a delivery report gives the message it reports on: failed for a permanent failure
/// (a delay is only noted, on the report's own message).
fn bounce_status(mail: &Mail) -> Option<StatusUpdate> {
    let report = mail.report.as_ref().filter(|report| report.is_permanent_failure())?;
    let Report::Delivery { original: Some(original), status, diagnostic, .. } = report else { return None };
    Some(StatusUpdate {
        provider_message_id: original.clone(),
        status: MessageStatus::Failed,
        error: Some((status.clone(), diagnostic.clone().unwrap_or_else(|| format!("delivery failed ({status})")))),
    })
}

/// A spam complaint: the complaining address is opted out of the channel, so nothing more is
/// sent to it until they write again and are opted back in by an operator.
async fn complaint(state: &AppState, channel: &ChannelRow, mail: &Mail) -> Result<()> {
    let Some(Report::Complaint { recipient: Some(recipient), .. }) = &mail.report else { return Ok(()) };
    let mut tx = state.db.begin().await?;
    contacts::set_opted_out(&mut tx, channel.id, recipient, Some(now_ms())).await?;
    tx.commit().await?;
    Ok(())
}
