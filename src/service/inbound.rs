//! Ingestion: the one way a channel's reports enter Parley, whichever door they came through:
//! customer messages, messages the business sent outside Parley, edits and deletions by a
//! message's sender, and delivery statuses.

use serde_json::Value;

use crate::channels as adapters;
use crate::channels::MEDIA;
use crate::domain::calls::{merge_patch, Call};
use crate::domain::inbound::{Addition, InboundEvent, InboundMessage, Until, Watermark};
use crate::domain::time::now_ms;
use crate::domain::{
    message_preview, ChannelKind, ConversationStatus, Direction, Handler, MessageStatus, MessageType, RequestKey,
    SenderType,
};
use crate::error::{Error, Result};
use crate::service::contacts::{self, normalize_address};
use crate::service::conversations::change_kinds;
use crate::service::events::{self, kind};
use crate::service::messages::{self as message_changes, StatusReport};
use crate::service::outbound::COMMENT;
use crate::service::views::{Conversation, Message};
use crate::service::{comments, media_fetch, profiles, routing, surveys};
use crate::state::AppState;
use crate::store::channels::ChannelRow;
use crate::store::conversations::SurveyAnswer;
use crate::store::{agents, conversations, media, messages, templates, Conn};

/// The outcome of ingesting one message.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub message: Message,
    pub conversation: Conversation,
    /// True when the provider message id had been seen before and nothing was created.
    pub duplicate: bool,
}

/// Checks and normalises one message before anything is written.
pub fn validate(kind: ChannelKind, mut message: InboundMessage) -> Result<InboundMessage> {
    message.from = normalize_address(kind, &message.from).map_err(|problem| Error::field("from", problem))?;
    let mut aliases: Vec<String> = Vec::new();
    for alias in std::mem::take(&mut message.aliases) {
        match normalize_address(kind, &alias) {
            Ok(alias) if alias != message.from && !aliases.contains(&alias) => aliases.push(alias),
            _ => {}
        }
    }
    message.aliases = aliases;
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
    if message.kind == MessageType::Call && Call::of(&message.payload).is_none() {
        return Err(Error::field("payload.call", "a call needs its direction, numbers, start, duration and outcome"));
    }
    Ok(message)
}

/// Merges more about a message (see [`Addition`]) into it, or keeps it for a message not stored
/// yet. A call's text follows its merged details. Answers whether a message changed.
async fn add_to_message(conn: &mut Conn, channel: &ChannelRow, addition: &Addition) -> Result<bool> {
    let now = now_ms();
    let Some(row) = messages::find_by_provider_id(&mut *conn, channel.id, &addition.provider_message_id).await? else {
        let patch = addition.patch.to_string();
        messages::park_payload(conn, channel.id, &addition.provider_message_id, &patch, now).await?;
        return Ok(false);
    };
    if row.deleted_at.is_some() {
        return Ok(false);
    }
    let stored = serde_json::from_str::<Value>(&row.payload).unwrap_or(Value::Null);
    let mut payload = stored.clone();
    let fetch = merge_addition(&mut payload, &addition.patch, channel);
    if payload == stored {
        return Ok(false);
    }
    let text = match Call::of(&payload) {
        Some(call) if row.kind == MessageType::Call.as_str() => Some(call.summary()),
        _ => row.text.clone(),
    };
    let updated = messages::update_content(conn, row.id, text.as_deref(), &payload.to_string(), false, now).await?;
    if fetch {
        media_fetch::queue(conn, row.id, now).await?;
    }
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &Message::from(&updated), now).await?;
    if text != row.text {
        let kind = MessageType::parse(&row.kind).unwrap_or(MessageType::Unsupported);
        message_changes::replace_preview(conn, &updated, Some(&message_preview(kind, text.as_deref())), now).await?;
    }
    Ok(true)
}

/// Merges an addition's patch into a payload; a file it brings that the payload did not name yet
/// is marked to fetch (never on a simulation channel). Answers whether the file is to be fetched.
fn merge_addition(payload: &mut Value, patch: &Value, channel: &ChannelRow) -> bool {
    let new_file = patch.get(MEDIA).is_some_and(|media| media.is_object() && payload.get(MEDIA) != Some(media));
    merge_patch(payload, patch);
    let fetch = new_file && channel.simulation == 0;
    if let (true, Some(object)) = (fetch, payload.as_object_mut()) {
        object.insert(media_fetch::MEDIA_STATUS.to_owned(), media_fetch::PENDING.into());
    }
    fetch
}

/// Ingests a batch of messages from one channel, all or nothing: repeats are recognised by
/// provider id and return the first result; contacts, conversations, counters, the reply window
/// and events are updated together.
pub async fn ingest(state: &AppState, channel: &ChannelRow, batch: Vec<InboundMessage>) -> Result<Vec<Ingested>> {
    let outcomes = apply(state, channel, batch.into_iter().map(InboundEvent::Message).collect()).await?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// Applies a batch of reports from one channel in order, all or nothing, through the group
/// commit (see [`crate::service::group_commit`]); returns once they are committed, per report, the
/// ingestion result of a message and `None` for the others. Every message must pass [`validate`],
/// or nothing is applied.
pub async fn apply(state: &AppState, channel: &ChannelRow, batch: Vec<InboundEvent>) -> Result<Vec<Option<Ingested>>> {
    let kind =
        ChannelKind::parse(&channel.kind).ok_or_else(|| anyhow::anyhow!("stored channel kind {}", channel.kind))?;
    let batch = batch
        .into_iter()
        .map(|event| match event {
            InboundEvent::Message(message) => validate(kind, message).map(InboundEvent::Message),
            other => Ok(other),
        })
        .collect::<Result<Vec<_>>>()?;
    let Applied { results, changed, answer_owed } = state.ingest.apply(kind, channel, batch).await?;
    for direction in [Direction::Inbound, Direction::Outbound] {
        let created =
            results.iter().flatten().filter(|r| !r.duplicate && r.message.direction == direction.as_str()).count();
        if created > 0 {
            metrics::counter!("parley_messages_total", "direction" => direction.as_str(), "channel" => kind.as_str())
                .increment(created as u64);
        }
    }
    if changed {
        state.events.notify(channel.account_id);
    }
    if answer_owed {
        state.answers_due.notify_one();
    }
    Ok(results)
}

/// What applying a batch of reports came to.
#[derive(Debug)]
pub struct Applied {
    /// Per report, the ingestion result of a message and `None` for the others.
    pub results: Vec<Option<Ingested>>,
    /// Whether anything changed (events were recorded).
    pub changed: bool,
    /// Whether a virtual agent now owes an answer.
    pub answer_owed: bool,
}

/// Applies validated reports from one channel in order, on `conn` (inside the caller's
/// transaction); a virtual agent's answer falls due `debounce_ms` after the message.
pub async fn apply_events(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    batch: &[InboundEvent],
    debounce_ms: i64,
) -> Result<Applied> {
    let mut results = Vec::with_capacity(batch.len());
    let mut changed = false;
    let mut answer_owed = false;
    for event in batch {
        let result = match event {
            InboundEvent::Message(message) => {
                let (ingested, owed) = ingest_one(conn, kind, channel, message.clone(), debounce_ms).await?;
                changed |= !ingested.duplicate;
                answer_owed |= owed;
                Some(ingested)
            }
            InboundEvent::Edit(edit) => {
                if let Some(message) = find_own(conn, channel, &edit.provider_message_id, edit.direction).await? {
                    changed |= message_changes::edit(conn, &message, edit.text.as_deref(), edit.payload.clone())
                        .await?
                        .is_some();
                }
                None
            }
            InboundEvent::Delete { provider_message_id, direction } => {
                if let Some(message) = find_own(conn, channel, provider_message_id, *direction).await? {
                    changed |= message_changes::remove(conn, &message).await?;
                }
                None
            }
            InboundEvent::TemplateStatus(update) => {
                let update = templates::StatusUpdate {
                    provider_template_id: update.provider_template_id.as_deref(),
                    name: &update.name,
                    language: &update.language,
                    status: &update.status,
                    reason: update.reason.as_deref(),
                };
                templates::set_status(conn, &[channel.id], &update, now_ms()).await?;
                None
            }
            InboundEvent::Addition(addition) => {
                changed |= add_to_message(conn, channel, addition).await?;
                None
            }
            InboundEvent::Mention { comment_id } => {
                if channel.simulation == 0 && adapters::capabilities(kind).comments {
                    comments::queue(conn, channel.id, comment_id, None, now_ms()).await?;
                }
                None
            }
            InboundEvent::Watermark(watermark) => {
                changed |= apply_watermark(conn, kind, channel, watermark).await?;
                None
            }
            InboundEvent::Typing { address } => {
                changed |= record_typing(conn, kind, channel, address).await?;
                None
            }
            InboundEvent::Notice(notice) => {
                crate::store::channels::set_notice(conn, channel.id, notice.name, &notice.value.to_string(), now_ms())
                    .await?;
                None
            }
            InboundEvent::Status(update) => {
                let found = find_own(conn, channel, &update.provider_message_id, Direction::Outbound).await?;
                let report = StatusReport {
                    status: update.status,
                    error: update.error.as_ref().map(|(code, text)| (code.as_str(), text.as_str())),
                    provider_message_id: None,
                };
                let resend = update.error.as_ref().filter(|(code, _)| {
                    update.status == MessageStatus::Failed
                        && adapters::capabilities(kind).resend_codes.contains(&code.as_str())
                });
                match (found, resend) {
                    (Some(message), Some((code, text))) => {
                        changed |= message_changes::resend_or_fail(conn, &message, code, text).await?
                    }
                    (Some(message), None) => {
                        changed |= message_changes::apply_status(conn, &message, &report).await?.is_some()
                    }
                    (None, _) => {
                        message_changes::park_status(conn, channel.id, &update.provider_message_id, &report).await?
                    }
                }
                None
            }
        };
        results.push(result);
    }
    Ok(Applied { results, changed, answer_owed })
}

/// Records that the contact at `address` is typing in their active conversation on the channel;
/// `false` when they have none.
async fn record_typing(conn: &mut Conn, kind: ChannelKind, channel: &ChannelRow, address: &str) -> Result<bool> {
    let Ok(address) = normalize_address(kind, address) else { return Ok(false) };
    let Some(identity) = crate::store::contacts::find_identity(&mut *conn, channel.id, &address).await? else {
        return Ok(false);
    };
    let Some(conversation) =
        conversations::find_active_conversation(&mut *conn, channel.id, identity.contact_id).await?
    else {
        return Ok(false);
    };
    let typing = serde_json::json!({ "conversation_id": conversation.id, "contact_id": identity.contact_id });
    events::record(conn, channel.account_id, kind::CONVERSATION_TYPING, &typing, now_ms()).await?;
    Ok(true)
}

/// How many messages one watermark moves at most (the rest follow with the next one).
const WATERMARK_BATCH: i64 = 500;

/// Moves the contact's outbound messages up to the watermark to its status.
async fn apply_watermark(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    watermark: &Watermark,
) -> Result<bool> {
    let Ok(address) = normalize_address(kind, &watermark.address) else { return Ok(false) };
    let Some(identity) = crate::store::contacts::find_identity(&mut *conn, channel.id, &address).await? else {
        return Ok(false);
    };
    let (until_time, until_id) = match &watermark.until {
        Until::Time(at) => (*at, 0),
        Until::Message(provider_id) => match find_own(conn, channel, provider_id, Direction::Outbound).await? {
            Some(message) => (0, message.id),
            None => return Ok(false),
        },
    };
    let waiting =
        messages::list_awaiting_watermark(conn, channel.id, identity.contact_id, until_time, until_id, WATERMARK_BATCH)
            .await?;
    let report = StatusReport { status: watermark.status, error: None, provider_message_id: None };
    let mut changed = false;
    for message in waiting {
        changed |= message_changes::apply_status(conn, &message, &report).await?.is_some();
    }
    Ok(changed)
}

/// The channel's message with this provider id, when it went in `direction`.
async fn find_own(
    conn: &mut Conn,
    channel: &ChannelRow,
    provider_message_id: &str,
    direction: Direction,
) -> Result<Option<messages::MessageRow>> {
    let found = messages::find_by_provider_id(&mut *conn, channel.id, provider_message_id).await?;
    Ok(found.filter(|message| message.direction == direction.as_str()))
}

/// The message stored earlier for this one: by the provider's id, or by the `Idempotency-Key` of
/// a request that stopped before it could answer.
async fn find_earlier(
    conn: &mut Conn,
    channel: &ChannelRow,
    message: &InboundMessage,
) -> Result<Option<messages::MessageRow>> {
    if let Some(RequestKey { key, unfinished_since: Some(since) }) = &message.request_key {
        if let Some(found) = messages::find_by_request_key(&mut *conn, channel.account_id, key, *since).await? {
            return Ok(Some(found));
        }
    }
    Ok(match &message.provider_message_id {
        Some(provider_id) => messages::find_by_provider_id(&mut *conn, channel.id, provider_id).await?,
        None => None,
    })
}

/// Stores one message: finds or creates its contact and conversation (a new one starts with the
/// channel's virtual agent, or waits for people), schedules the agent's answer `debounce_ms`
/// later when an agent handles the conversation, and records the events. Also tells whether an
/// answer is now owed.
async fn ingest_one(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    mut message: InboundMessage,
    debounce_ms: i64,
) -> Result<(Ingested, bool)> {
    let account_id = channel.account_id;
    if let Some(existing) = find_earlier(conn, channel, &message).await? {
        let conversation = conversations::find_conversation(&mut *conn, account_id, existing.conversation_id)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        let ingested = Ingested {
            message: Message::from(&existing),
            conversation: Conversation::from(&conversation),
            duplicate: true,
        };
        return Ok((ingested, false));
    }
    if !message.media_keys.is_empty()
        && media::count_owned(&mut *conn, account_id, &message.media_keys).await? != message.media_keys.len() as i64
    {
        return Err(Error::field("media_key", "unknown media key"));
    }
    for reference in &message.references {
        let found = messages::find_by_provider_id(&mut *conn, channel.id, &reference.provider_message_id).await?;
        if let Some(slot) = message.payload.pointer_mut(reference.pointer) {
            *slot = found.map_or(Value::Null, |row| Value::from(row.id));
        }
    }
    let outbound = message.direction == Direction::Outbound;
    let now = now_ms();
    let at = message.sent_at.unwrap_or(now);
    let capabilities = adapters::capabilities(kind);
    // A known address without new aliases: its contact and active conversation in one query.
    let owner = match message.aliases.is_empty() {
        true => conversations::find_address_owner(&mut *conn, channel.id, &message.from, now).await?,
        false => None,
    };
    let (contact_id, before) = match owner {
        Some(owner) => (owner.contact_id, owner.conversation()),
        None => {
            // Without aliases the owner query already found the address unknown.
            let lookup_profile = capabilities.profiles
                && channel.simulation == 0
                && (message.aliases.is_empty()
                    || crate::store::contacts::find_identity(&mut *conn, channel.id, &message.from).await?.is_none());
            let contact_id = contacts::find_or_create_by_address(
                conn,
                kind,
                channel,
                &message.from,
                &message.aliases,
                message.name.as_deref(),
                now,
            )
            .await?;
            if lookup_profile {
                profiles::queue(conn, channel.id, contact_id, &message.from, now).await?;
            }
            (contact_id, conversations::find_active_conversation(&mut *conn, channel.id, contact_id).await?)
        }
    };
    // A message that names its thread belongs to the conversation of the message it answers,
    // never to another conversation of its sender (who may be someone in copy).
    let before = match &message.thread {
        Some(thread) => conversations::find_thread_conversation(&mut *conn, channel.id, thread).await?,
        None => before,
    };
    // A reply that is a vote on the conversation's pending survey, or the comment asked after
    // it, is recorded as such: it is read at once, and neither reopens the conversation nor wakes
    // its agent.
    let survey_reply = match (&before, message.text.as_deref()) {
        (Some(state), Some(text))
            if !outbound && !message.automated && state.survey_due_until.is_some_and(|until| until > now) =>
        {
            surveys::take_reply(conn, account_id, state.id, text, now).await?
        }
        _ => None,
    };
    // A closed conversation takes only the answers to its survey (and, quietly, what machines
    // send in its thread); anything else starts anew.
    let before = before.filter(|state| {
        survey_reply.is_some() || message.automated || state.status != ConversationStatus::Closed.as_str()
    });
    // `before`: the active conversation's state before this message, to tell what it changed.
    let (conversation_id, agent) = match &before {
        Some(state) => (state.id, state.virtual_agent_id.filter(|_| state.handler == Handler::VirtualAgent.as_str())),
        None => {
            let owner = routing::first_owner(conn, channel, outbound, now).await?;
            let subject = message.subject.as_deref();
            let id = conversations::insert_conversation(conn, account_id, channel.id, contact_id, subject, owner, now)
                .await?;
            (id, owner.virtual_agent_id)
        }
    };
    // A call's recording or transcript may have been reported before the call.
    let mut fetch_media = message.fetch_media && channel.simulation == 0;
    if let (MessageType::Call, Some(id)) = (message.kind, message.provider_message_id.as_deref()) {
        for patch in messages::take_early_payloads(conn, channel.id, id).await? {
            let patch = serde_json::from_str::<Value>(&patch).unwrap_or(Value::Null);
            fetch_media |= merge_addition(&mut message.payload, &patch, channel);
        }
        if let Some(call) = Call::of(&message.payload) {
            message.text = Some(call.summary());
        }
    }
    if let (true, Some(payload)) = (fetch_media, message.payload.as_object_mut()) {
        payload.insert(media_fetch::MEDIA_STATUS.to_owned(), media_fetch::PENDING.into());
    }
    let media_keys = serde_json::to_string(&message.media_keys).map_err(anyhow::Error::from)?;
    let row = messages::insert_message(
        conn,
        &messages::NewMessage {
            account_id,
            conversation_id,
            channel_id: channel.id,
            direction: message.direction.as_str(),
            // A message the business sent outside Parley was written by a person there.
            sender_type: if outbound { SenderType::Operator } else { SenderType::Contact }.as_str(),
            sender_id: (!outbound).then_some(contact_id),
            kind: message.kind.as_str(),
            text: message.text.as_deref(),
            media_keys: &media_keys,
            payload: &message.payload.to_string(),
            provider_message_id: message.provider_message_id.as_deref(),
            status: outbound.then_some(MessageStatus::Sent.as_str()),
            is_read: outbound || survey_reply.is_some() || message.automated,
            simulated: false,
            private: false,
            created_at: at,
            sent_at: outbound.then_some(at),
            request_key: message.request_key.as_ref().map(|k| k.key.as_str()),
        },
    )
    .await?;
    if fetch_media {
        media_fetch::queue(conn, row.id, now).await?;
    }
    // A new comment's post is looked up (webhooks name only its id); a mention already was.
    let new_comment = message.payload.get(COMMENT).is_some_and(|comment| comment.get("mention").is_none());
    if let (Some(comment_id), true) =
        (&message.provider_message_id, new_comment && capabilities.comments && channel.simulation == 0)
    {
        comments::queue(conn, channel.id, comment_id, Some(row.id), now).await?;
    }
    // STOP opts the customer out of the channel (and asks for no answer); START back in.
    let opt_out = if outbound { None } else { capabilities.opt_out_change(message.text.as_deref()) };
    if let Some(opted_out) = opt_out {
        crate::store::contacts::set_opted_out(conn, channel.id, &message.from, opted_out.then_some(now)).await?;
    }
    let agent = agent.filter(|_| opt_out != Some(true) && survey_reply.is_none() && !message.automated);
    if let Some(agent_id) = agent {
        if outbound {
            // Someone of the business answered outside Parley: people have it from now on.
            conversations::hand_to_people(conn, conversation_id, None, None, now).await?;
            agents::delete_run(conn, conversation_id).await?;
        } else {
            let due = now + debounce_ms;
            agents::schedule_run(conn, account_id, conversation_id, agent_id, row.id, due, now).await?;
        }
    }
    let preview = message_preview(message.kind, message.text.as_deref());
    let conversation = if outbound {
        conversations::record_outbound(conn, conversation_id, &preview, now).await?
    } else if let Some((reply, due_until)) = survey_reply {
        let window = message.opens_window.then(|| capabilities.reply_window_expiry(at)).flatten();
        let answer = SurveyAnswer { rating: reply.rating(), due_until, preview: &preview };
        conversations::record_survey_answer(conn, conversation_id, &answer, at, window, now).await?
    } else if !message.opens_window {
        conversations::record_notice(conn, conversation_id, &preview, at, !message.automated, now).await?
    } else {
        let window = capabilities.reply_window_expiry(at);
        conversations::record_inbound(conn, conversation_id, &preview, at, window, now).await?
    };
    let message = Message::from(&row);
    let conversation = Conversation::from(&conversation);
    let message_data = serde_json::to_value(&message).map_err(anyhow::Error::from)?;
    let conversation_data = serde_json::to_value(&conversation).map_err(anyhow::Error::from)?;
    let mut recorded: Vec<(&str, &Value)> = Vec::with_capacity(3);
    if before.is_none() {
        recorded.push((kind::CONVERSATION_CREATED, &conversation_data));
    }
    recorded.push((kind::MESSAGE_CREATED, &message_data));
    if let Some(before) = &before {
        // A resolved conversation reopens: `conversation.status_changed` follows the update.
        recorded.push((kind::CONVERSATION_UPDATED, &conversation_data));
        for change in change_kinds(before, &conversation) {
            recorded.push((change, &conversation_data));
        }
    }
    events::record_all(conn, account_id, &recorded, now).await?;
    Ok((Ingested { message, conversation, duplicate: false }, agent.is_some() && !outbound))
}
