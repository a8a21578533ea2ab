//! Sending: replies and conversations started by the business. A message is stored as queued in
//! the same transaction as the job that hands it to the channel, so nothing accepted is lost.

use serde_json::{json, Map, Value};

use crate::channels::{self as adapters, Capabilities};
use crate::domain::content::{self, payload_key};
use crate::domain::sms::Segments;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{
    message_preview, AddressKind, ChannelKind, Direction, Handler, MessageStatus, MessageType, RequestKey, SenderType,
};
use crate::error::{Error, Result};
use crate::service::contacts::{self, normalize_address};
use crate::service::conversations::record_changes;
use crate::service::email::EMAIL;
use crate::service::events::{self, kind};
use crate::service::templates;
use crate::service::views::{Conversation, Message};
use crate::service::{credit, escalations};
use crate::state::AppState;
use crate::store::channels::ChannelRow;
use crate::store::conversations::{self, ConversationRow, ConversationState};
use crate::store::messages::MessageRow;
use crate::store::{agents, channels, jobs, media, messages, Conn};

/// Job kind that hands a queued message to its channel.
pub const SEND_JOB: &str = "send_message";

/// The stored payload key of an answer to a public comment: `{comment_id, message_id, private}`
/// (the provider's and Parley's ids of the comment).
pub const COMMENT_REPLY: &str = "comment_reply";

/// How long after a comment its author can get a private reply, in ms (Meta: 7 days).
const PRIVATE_REPLY_MS: i64 = 7 * 24 * 3_600_000;

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
    /// The virtual agent writing: only while it handles the conversation. Any other message
    /// that is not a private note means people take the conversation over.
    pub virtual_agent_id: Option<i64>,
    /// Structured content under one key naming its type (see [`content::PAYLOAD_KEYS`]).
    pub payload: Map<String, Value>,
    /// The Parley id of the message this one replies to (quoted on the channel); when it is a
    /// public comment, the message answers the comment.
    pub reply_to: Option<i64>,
    /// Answers a comment with a direct message to its author instead of a public reply.
    pub private_reply: bool,
    /// The caller's own id for the message (the seed platform's `messageId`), for status polling
    /// and delivery reports; stored in the payload as `customer_message_id` too.
    pub customer_message_id: Option<String>,
    /// Extra facts kept in the stored payload (e.g. `campaign_id`), never sent.
    pub extra: Map<String, Value>,
    /// The `Idempotency-Key` of the API request that sends it.
    pub request_key: Option<RequestKey>,
    /// Send it at this time (Unix ms) instead of now: it waits as `scheduled` and can be
    /// canceled until then.
    pub send_at: Option<i64>,
    /// Where it goes instead if it fails (the customer's phone cannot take it, say), in order.
    pub fallback: Vec<FallbackStep>,
    /// A satisfaction survey or its follow-up question: it may go into a closed conversation (the
    /// survey sent when it closed), and like a private note it leaves who handles the
    /// conversation as it is.
    pub survey: bool,
    /// Addresses in copy, and in hidden copy, on networks whose messages carry copies (email).
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
}

/// The most addresses in copy (or in hidden copy) of one message.
const MAX_COPIES: usize = 20;

/// Another channel a message goes out on when it fails, with its own text.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FallbackStep {
    /// The channel kind (`sms`, `rcs`…).
    pub kind: String,
    /// Which channel of that kind (its id, provider key, address or name); the account's only
    /// one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    pub text: String,
    /// On SMS: the most parts the text may take, or the step is skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sms_parts: Option<u32>,
}

/// The stored payload key of a message's remaining fallback steps.
pub const FALLBACK: &str = "fallback";

/// The stored payload key recording where a failed message fell back to: `{message_id, channel}`,
/// or `{error}` when it could not.
pub const FALLBACK_TO: &str = "fallback_to";

/// The failure code of a scheduled message canceled before it went out.
pub const CANCELED: &str = "canceled";

/// How far ahead a send can be scheduled.
const MAX_SCHEDULE_MS: i64 = 366 * 24 * 3_600_000;

impl Outgoing {
    /// The payload key that gives the message its type, if any.
    fn payload_type(&self) -> Option<(&'static str, MessageType)> {
        payload_key(&self.payload)
    }
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
    if let Some((_, kind)) = outgoing.payload_type() {
        return Ok(kind);
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

/// Checks the structured payload and puts it in canonical form.
fn validate_payload(outgoing: &mut Outgoing) -> Result<()> {
    if outgoing.private && !outgoing.payload.is_empty() {
        return Err(Error::field("payload", "a private note carries text only"));
    }
    content::normalize_payload(&mut outgoing.payload, outgoing.text.as_deref())
        .map_err(|problem| Error::field(&problem.field, problem.detail))
}

fn validate(outgoing: &mut Outgoing) -> Result<()> {
    outgoing.text = outgoing.text.take().filter(|t| !t.trim().is_empty());
    validate_payload(outgoing)?;
    if outgoing.text.is_none() && outgoing.media_keys.is_empty() && outgoing.payload.is_empty() {
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
    for (field, copies) in [("cc", &mut outgoing.cc), ("bcc", &mut outgoing.bcc)] {
        if copies.len() > MAX_COPIES {
            return Err(Error::field(field, format!("at most {MAX_COPIES} addresses")));
        }
        for (index, address) in copies.iter_mut().enumerate() {
            *address = AddressKind::Email
                .normalize(address)
                .map_err(|problem| Error::field(&format!("{field}[{index}]"), problem))?;
        }
    }
    if outgoing.private && !(outgoing.cc.is_empty() && outgoing.bcc.is_empty()) {
        return Err(Error::field("cc", "a private note is not sent to anyone"));
    }
    if outgoing.send_at.is_some_and(|at| at > now_ms() + MAX_SCHEDULE_MS) {
        return Err(Error::field("send_at", "can be at most a year ahead"));
    }
    if outgoing.private && (outgoing.send_at.is_some() || !outgoing.fallback.is_empty()) {
        return Err(Error::field("private", "a private note is neither scheduled nor sent elsewhere"));
    }
    for (index, step) in outgoing.fallback.iter().enumerate() {
        if ChannelKind::parse(&step.kind).is_none() {
            return Err(Error::field(
                &format!("fallback[{index}].kind"),
                format!("unknown channel kind `{}`", step.kind),
            ));
        }
        if step.text.trim().is_empty() || step.text.chars().count() > 4096 {
            return Err(Error::field(&format!("fallback[{index}].text"), "must be 1 to 4096 characters"));
        }
    }
    Ok(())
}

/// What the conversation's channel can do.
fn capabilities(conversation: &ConversationRow) -> Capabilities {
    adapters::capabilities_of(&conversation.channel_kind)
}

/// Refuses content the channel's network does not take.
fn check_content(capabilities: &Capabilities, outgoing: &Outgoing, kind: &str) -> Result<()> {
    if outgoing.private || capabilities.content.contains(&kind) {
        return Ok(());
    }
    Err(Error::invalid(
        "content_unsupported",
        format!("this channel's network does not take {kind} messages; it takes {}", capabilities.content.join(", ")),
    ))
}

/// The public comment a message answers: the message it replies to, when that is a comment on
/// a network with comments.
async fn answered_comment(
    conn: &mut Conn,
    capabilities: &Capabilities,
    conversation: &ConversationRow,
    outgoing: &Outgoing,
) -> Result<Option<MessageRow>> {
    let (true, Some(id)) = (capabilities.comments, outgoing.reply_to) else {
        if outgoing.private_reply {
            return Err(Error::field("private_reply", "only an answer to a public comment can be private"));
        }
        return Ok(None);
    };
    let replied = messages::find_conversation_message(&mut *conn, conversation.id, id)
        .await?
        .ok_or_else(|| Error::field("reply_to", "no such message in this conversation"))?;
    let is_comment =
        matches!(serde_json::from_str::<Value>(&replied.payload), Ok(payload) if payload.get(COMMENT).is_some());
    match is_comment {
        true => Ok(Some(replied)),
        false if outgoing.private_reply => {
            Err(Error::field("private_reply", "only an answer to a public comment can be private"))
        }
        false => Ok(None),
    }
}

/// The payload key under which adapters describe an inbound public comment.
pub const COMMENT: &str = "comment";

/// Refuses a private reply to a comment that already has one, or that is over 7 days old.
async fn check_private_reply(conn: &mut Conn, comment: &MessageRow, now: i64) -> Result<()> {
    if comment.created_at + PRIVATE_REPLY_MS <= now {
        return Err(Error::invalid(
            "private_reply_expired",
            format!(
                "a comment can be answered privately for 7 days; this one was written at {}: answer it publicly",
                to_rfc3339(comment.created_at)
            ),
        ));
    }
    if messages::has_private_reply(&mut *conn, comment.conversation_id, comment.id).await? {
        return Err(Error::conflict(
            "private_reply_used",
            "this comment already has its private reply (one per comment); write to the customer when they answer it",
        ));
    }
    Ok(())
}

/// Refuses messages to a customer who opted out of the conversation's channel (texted STOP,
/// marked a mail as spam, or the provider reported them unsubscribed).
async fn check_opt_in(conn: &mut Conn, conversation: &ConversationRow) -> Result<()> {
    match crate::store::contacts::opted_out_since(&mut *conn, conversation.contact_id, conversation.channel_id).await? {
        Some(since) => Err(Error::invalid(
            adapters::OPTED_OUT,
            format!(
                "the customer opted out of this channel at {} (they texted STOP, or reported a mail as spam): nothing can be sent to them here until they opt in again (texting START)",
                to_rfc3339(since)
            ),
        )),
        None => Ok(()),
    }
}

/// Refuses free-form messages outside the channel's reply window (and, where the network has a
/// human-agent tag, outside that longer window). Templates, private notes and answers to comments
/// are not bound by it.
fn check_window(
    conversation: &ConversationRow,
    capabilities: &Capabilities,
    outgoing: &Outgoing,
    answers_comment: bool,
    now: i64,
) -> Result<()> {
    let template = outgoing.payload_type().is_some_and(|(_, kind)| kind == MessageType::Template);
    let Some(hours) = capabilities.reply_window_hours else { return Ok(()) };
    if outgoing.private || template || answers_comment {
        return Ok(());
    }
    let kind = &conversation.channel_kind;
    let last_inbound = conversation.last_inbound_at.filter(|_| conversation.window_expires_at.is_some());
    let human_agent = last_inbound.and_then(|at| capabilities.human_agent_expiry(at));
    let person_window = human_agent.filter(|expiry| *expiry > now);
    if person_window.is_some() && outgoing.operator_id.is_some() {
        return Ok(());
    }
    let instead = match (capabilities.templates, person_window, capabilities.human_agent_window_hours) {
        (true, _, _) => "send an approved template instead".to_owned(),
        (false, Some(until), _) => format!("only an operator's answer goes out, until {}", to_rfc3339(until)),
        (false, None, Some(hours)) => format!("an operator can answer for {} days after it", hours / 24),
        (false, None, None) => "wait for the customer to write".to_owned(),
    };
    match conversation.window_expires_at {
        Some(expiry) if expiry > now => Ok(()),
        expiry => Err(Error::invalid(
            "reply_window_expired",
            match expiry {
                Some(at) => format!(
                    "the {kind} {hours}-hour window closed at {}: free-form messages are refused until the customer writes again; {instead}",
                    to_rfc3339(if person_window.is_some() { at } else { human_agent.unwrap_or(at).max(at) })
                ),
                None => format!("the customer has not written on {kind} yet, so no {hours}-hour window is open: {}",
                    if capabilities.templates { "start with an approved template" } else { "wait for the customer to write" }),
            },
        )),
    }
}

/// Replies from an inbox integration (the seed platform's `POST /inbox/conversations/reply`): like
/// [`send`], but an archived conversation is refused (`conversation_archived`, 409) because such
/// integrations treat archived conversations as done.
pub async fn reply_from_inbox(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    outgoing: Outgoing,
) -> Result<Message> {
    let conversation = conversations::find_conversation(state.db.reader(), account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if crate::store::flag(conversation.archived) {
        return Err(Error::conflict("conversation_archived", "this conversation is archived; unarchive it to reply"));
    }
    send(state, account_id, conversation_id, outgoing).await
}

/// Sends a message in an existing conversation; answers with the queued message.
pub async fn send(state: &AppState, account_id: i64, conversation_id: i64, mut outgoing: Outgoing) -> Result<Message> {
    validate(&mut outgoing)?;
    let mut tx = state.db.begin().await?;
    if let Some(earlier) = find_earlier(&mut tx, account_id, &outgoing).await? {
        return Ok(Message::from(&earlier));
    }
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if conversation.status == "closed" && !outgoing.survey {
        return Err(Error::conflict(
            "conversation_closed",
            "this conversation is closed; start a new one to write to the contact",
        ));
    }
    let channel = channels::find_channel(&mut *tx, account_id, conversation.channel_id)
        .await?
        .ok_or_else(|| Error::conflict("channel_removed", "the conversation's channel has been removed"))?;
    let simulated = outgoing.simulation || channel.simulation != 0;
    let price = credit::price(state, &channel.kind);
    let (message, _) = queue(&mut tx, &conversation, &outgoing, simulated, price).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(message)
}

/// Queues a message in the caller's transaction (a virtual agent's answer or handoff notice),
/// on the conversation's channel as [`send`] does.
pub async fn queue_in(
    state: &AppState,
    conn: &mut Conn,
    conversation: &ConversationRow,
    outgoing: &Outgoing,
) -> Result<Message> {
    let mut outgoing = outgoing.clone();
    validate(&mut outgoing)?;
    let channel = channels::find_channel(&mut *conn, conversation.account_id, conversation.channel_id)
        .await?
        .ok_or_else(|| Error::conflict("channel_removed", "the conversation's channel has been removed"))?;
    let simulated = outgoing.simulation || channel.simulation != 0;
    let price = credit::price(state, &channel.kind);
    Ok(queue(conn, conversation, &outgoing, simulated, price).await?.0)
}

/// Checks who may write: a virtual agent only while it handles the conversation; anyone else
/// (but a private note or a survey) takes the conversation over from its agent, or from the queue
/// it waits in.
async fn check_writer(conn: &mut Conn, conversation: &ConversationRow, outgoing: &Outgoing) -> Result<()> {
    let by_agent = conversation.handler == Handler::VirtualAgent.as_str();
    match outgoing.virtual_agent_id {
        Some(agent) if !by_agent || conversation.virtual_agent_id != Some(agent) => Err(Error::conflict(
            "not_handled_by_agent",
            "people handle this conversation now: the virtual agent's message was not sent",
        )),
        // An external bot's answer through the API: the turn it was asked is done.
        Some(_) => Ok(agents::delete_awaited_run(conn, conversation.id).await?),
        None if !outgoing.private && !outgoing.survey && (by_agent || conversation.waiting_since.is_some()) => {
            escalations::take_over_in(conn, conversation, outgoing.operator_id).await
        }
        None => Ok(()),
    }
}

/// The message a request with the same `Idempotency-Key` stored before its process stopped.
async fn find_earlier(conn: &mut Conn, account_id: i64, outgoing: &Outgoing) -> Result<Option<MessageRow>> {
    match &outgoing.request_key {
        Some(RequestKey { key, unfinished_since: Some(since) }) => {
            Ok(messages::find_by_request_key(conn, account_id, key, *since).await?)
        }
        _ => Ok(None),
    }
}

/// Stores a message for a conversation, with its send job unless it is a private note, and
/// debits its `price` unless it is simulated; returns the message and the conversation as it
/// stands afterwards.
async fn queue(
    conn: &mut Conn,
    conversation: &ConversationRow,
    outgoing: &Outgoing,
    simulated: bool,
    price: Option<i64>,
) -> Result<(Message, Conversation)> {
    let now = now_ms();
    check_writer(conn, conversation, outgoing).await?;
    let capabilities = capabilities(conversation);
    let comment = answered_comment(conn, &capabilities, conversation, outgoing).await?;
    check_window(conversation, &capabilities, outgoing, comment.is_some(), now)?;
    if !outgoing.private {
        check_opt_in(conn, conversation).await?;
    }
    check_content(&capabilities, outgoing, content::kind_of(&outgoing.payload, !outgoing.media_keys.is_empty()))?;
    let copies = !(outgoing.cc.is_empty() && outgoing.bcc.is_empty());
    if copies && !capabilities.threads {
        return Err(Error::field("cc", "only email channels send copies"));
    }
    if let (Some(comment), true) = (&comment, outgoing.private_reply) {
        check_private_reply(conn, comment, now).await?;
    }
    let kind = message_type(conn, conversation.account_id, outgoing).await?;
    if !outgoing.media_keys.is_empty()
        && media::count_owned(&mut *conn, conversation.account_id, &outgoing.media_keys).await?
            != outgoing.media_keys.len() as i64
    {
        return Err(Error::field("media_keys", "unknown media key"));
    }
    if let (Some(Value::Object(template)), true) = (outgoing.payload.get("template"), capabilities.templates) {
        templates::check_send(conn, conversation.channel_id, template).await?;
    }
    let media_keys = serde_json::to_string(&outgoing.media_keys).map_err(anyhow::Error::from)?;
    let payload = stored_payload(conn, conversation, outgoing, comment.as_ref()).await?;
    let scheduled = outgoing.send_at.filter(|at| *at > now);
    let row = messages::insert_message(
        conn,
        &messages::NewMessage {
            account_id: conversation.account_id,
            conversation_id: conversation.id,
            channel_id: conversation.channel_id,
            direction: Direction::Outbound.as_str(),
            sender_type: match (outgoing.virtual_agent_id, outgoing.operator_id) {
                (Some(_), _) => SenderType::VirtualAgent,
                (None, Some(_)) => SenderType::Operator,
                (None, None) => SenderType::System,
            }
            .as_str(),
            sender_id: outgoing.virtual_agent_id.or(outgoing.operator_id),
            kind: kind.as_str(),
            text: outgoing.text.as_deref(),
            media_keys: &media_keys,
            payload: &payload,
            provider_message_id: None,
            status: (!outgoing.private)
                .then_some(scheduled.map_or(MessageStatus::Queued, |_| MessageStatus::Scheduled).as_str()),
            is_read: true,
            simulated,
            private: outgoing.private,
            created_at: now,
            sent_at: None,
            request_key: outgoing.request_key.as_ref().map(|k| k.key.as_str()),
        },
    )
    .await?;
    if let Some(customer_id) = &outgoing.customer_message_id {
        messages::set_customer_message_id(&mut *conn, row.id, customer_id).await?;
    }
    if let (Some(price), false, false) = (price, simulated, outgoing.private) {
        // SMS is charged per part.
        let units = match capabilities.sms_parts {
            true => i64::from(Segments::of(outgoing.text.as_deref().unwrap_or_default()).parts.max(1)),
            false => 1,
        };
        credit::reserve(conn, conversation.account_id, price * units, row.id).await?;
    }
    let message = Message::from(&row);
    events::record(conn, conversation.account_id, kind::MESSAGE_CREATED, &message, now).await?;
    if outgoing.private {
        return Ok((message, Conversation::from(conversation)));
    }
    jobs::insert_job(conn, SEND_JOB, &send_job(row.id), scheduled.unwrap_or(now), now).await?;
    let preview = message_preview(kind, outgoing.text.as_deref());
    let updated = Conversation::from(&conversations::record_outbound(conn, conversation.id, &preview, now).await?);
    record_changes(conn, conversation.account_id, &ConversationState::from(conversation), &updated, now).await?;
    metrics::counter!("parley_messages_total", "direction" => "outbound", "channel" => conversation.channel_kind.clone()).increment(1);
    Ok((message, updated))
}

/// The payload of a message's send job.
pub fn send_job(message_id: i64) -> String {
    json!({ "message_id": message_id }).to_string()
}

/// Cancels a scheduled message before it goes out: it fails as `canceled` and what it reserved
/// of the credit is released.
pub async fn cancel_scheduled(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    message_id: i64,
) -> Result<Message> {
    let mut tx = state.db.begin().await?;
    let message = messages::find_conversation_message(&mut *tx, conversation_id, message_id)
        .await?
        .filter(|message| message.account_id == account_id)
        .ok_or(Error::NotFound("message"))?;
    if message.status.as_deref() != Some(MessageStatus::Scheduled.as_str()) {
        return Err(Error::conflict("not_scheduled", "only a scheduled message that has not gone out can be canceled"));
    }
    jobs::delete_job_by_payload(&mut tx, SEND_JOB, &send_job(message.id)).await?;
    let report = crate::service::messages::StatusReport {
        status: MessageStatus::Failed,
        error: Some((CANCELED, "Canceled before it was sent")),
        provider_message_id: None,
    };
    let canceled = crate::service::messages::apply_status(&mut tx, &message, &report).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    canceled.ok_or(Error::NotFound("message"))
}

/// The provider id of a message in the conversation that `field` refers to.
async fn referenced_provider_id(
    conn: &mut Conn,
    conversation: &ConversationRow,
    id: i64,
    field: &str,
) -> Result<String> {
    let message = messages::find_conversation_message(&mut *conn, conversation.id, id)
        .await?
        .ok_or_else(|| Error::field(field, "no such message in this conversation"))?;
    message.provider_message_id.ok_or_else(|| Error::field(field, "that message has no id on the channel yet"))
}

/// The payload as stored: references to Parley messages (`reply_to`, a reaction's target) are
/// resolved to the channel's message ids, which the provider needs.
async fn stored_payload(
    conn: &mut Conn,
    conversation: &ConversationRow,
    outgoing: &Outgoing,
    comment: Option<&MessageRow>,
) -> Result<String> {
    let mut payload = outgoing.payload.clone();
    payload.extend(outgoing.extra.clone());
    if let Some(id) = &outgoing.customer_message_id {
        payload.insert("customer_message_id".to_owned(), json!(id));
    }
    if !(outgoing.cc.is_empty() && outgoing.bcc.is_empty()) {
        payload.insert(EMAIL.to_owned(), json!({ "cc": outgoing.cc, "bcc": outgoing.bcc }));
    }
    if !outgoing.fallback.is_empty() {
        payload.insert(FALLBACK.to_owned(), serde_json::to_value(&outgoing.fallback).map_err(anyhow::Error::from)?);
    }
    if let Some(comment) = comment {
        let comment_id = comment
            .provider_message_id
            .clone()
            .ok_or_else(|| Error::field("reply_to", "that comment has no id on the channel"))?;
        payload.insert(
            COMMENT_REPLY.to_owned(),
            json!({ "comment_id": comment_id, "message_id": comment.id, "private": outgoing.private_reply }),
        );
        if outgoing.private_reply {
            payload.insert("private_reply_to".to_owned(), json!(comment.id.to_string()));
        }
    } else if let Some(id) = outgoing.reply_to {
        let wamid = referenced_provider_id(conn, conversation, id, "reply_to").await?;
        payload.insert("context".to_owned(), json!({ "message_id": wamid, "id": id }));
    }
    if let Some(reaction) = payload.get_mut("reaction") {
        if let Some(id) = reaction.get("message_id").and_then(Value::as_i64) {
            reaction["message_id"] =
                json!(referenced_provider_id(conn, conversation, id, "payload.reaction.message_id").await?);
        }
    }
    Ok(Value::Object(payload).to_string())
}

/// Starts a conversation from the business side: finds or creates the contact on the channel,
/// reuses its active conversation there or opens one, and queues the first message.
pub async fn start(state: &AppState, account_id: i64, mut new: NewConversation) -> Result<(Conversation, Message)> {
    validate(&mut new.message)?;
    if new.message.private {
        return Err(Error::field("private", "a conversation cannot start with a private note"));
    }
    let mut tx = state.db.begin().await?;
    if let Some(earlier) = find_earlier(&mut tx, account_id, &new.message).await? {
        let conversation = conversations::find_conversation(&mut *tx, account_id, earlier.conversation_id)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        return Ok((Conversation::from(&conversation), Message::from(&earlier)));
    }
    let (conversation, channel) = open_in(&mut tx, account_id, &new).await?;
    let simulated = new.message.simulation || channel.simulation != 0;
    let price = credit::price(state, &channel.kind);
    let (message, conversation) = queue(&mut tx, &conversation, &new.message, simulated, price).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok((conversation, message))
}

/// Opens a conversation from the business side without writing in it yet (the first message
/// comes later): the contact's active conversation on the channel, or a new one.
pub async fn open(state: &AppState, account_id: i64, new: &NewConversation) -> Result<Conversation> {
    let mut tx = state.db.begin().await?;
    let (conversation, _) = open_in(&mut tx, account_id, new).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(Conversation::from(&conversation))
}

/// Finds or creates the contact at `new.to` on the channel, and the conversation a message to
/// them goes into (recording `conversation.created` for a new one).
async fn open_in(conn: &mut Conn, account_id: i64, new: &NewConversation) -> Result<(ConversationRow, ChannelRow)> {
    let tx = conn;
    let channel =
        channels::find_channel(&mut *tx, account_id, new.channel_id).await?.ok_or(Error::NotFound("channel"))?;
    let kind =
        ChannelKind::parse(&channel.kind).ok_or_else(|| anyhow::anyhow!("stored channel kind {}", channel.kind))?;
    let to = normalize_address(kind, &new.to)
        .map_err(|problem| Error::invalid("invalid_destination", format!("to: {problem}")))?;
    let now = now_ms();
    let contact_id =
        contacts::find_or_create_by_address(tx, kind, &channel, &to, &[], new.name.as_deref(), now).await?;
    // On threaded networks (email) each conversation started is a thread of its own.
    let active = match adapters::capabilities(kind).threads {
        true => None,
        false => conversations::find_active_conversation(&mut *tx, channel.id, contact_id).await?,
    };
    let started = active.is_none();
    let conversation_id = match active {
        Some(state) => state.id,
        None => {
            conversations::insert_conversation(
                tx,
                account_id,
                channel.id,
                contact_id,
                new.subject.as_deref(),
                conversations::Ownership::default(),
                now,
            )
            .await?
        }
    };
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if started {
        events::record(tx, account_id, kind::CONVERSATION_CREATED, &Conversation::from(&conversation), now).await?;
    }
    Ok((conversation, channel))
}
