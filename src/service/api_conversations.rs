//! Conversations an integration holds with a virtual agent through an API (the EVA dialect):
//! started for an agent on the account's API channel, the customer's words sent in by the
//! integration and the agent's answer written at once — whole, or streamed as it is written —
//! instead of after the debounce. They are ordinary conversations: operators see them in the
//! inbox and can take them over (then the integration's questions wait for people).

use std::time::Duration;

use futures::Stream;
use serde_json::{Map, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::inbound::InboundMessage;
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, Direction, MessageType};
use crate::error::{Error, Result};
use crate::service::conversations::{self as conversation_service, ConversationPatch};
use crate::service::events::{self, kind};
use crate::service::views::Conversation;
use crate::service::{answers, inbound};
use crate::state::{AppState, Signal};
use crate::store::channels::{self, ChannelRow, NewChannel};
use crate::store::conversations::{self, ConversationRow, Ownership};
use crate::store::messages::{self, MessageRow};
use crate::store::{agents, contacts};

/// The name of the API channel Parley adds when an account has none.
const API_CHANNEL_NAME: &str = "API";

/// How customers' addresses on API channels start.
const ADDRESS_PREFIX: &str = "api-";

/// The longest a question's text may be.
const MAX_TEXT_CHARS: usize = 4096;

/// The account's API channel, added when it has none.
async fn api_channel(state: &AppState, account_id: i64) -> Result<ChannelRow> {
    let kind = ChannelKind::Api.as_str();
    if let Some(channel) =
        channels::list_channels(state.db.reader(), account_id).await?.into_iter().find(|c| c.kind == kind)
    {
        return Ok(channel);
    }
    let new = NewChannel {
        kind,
        address: API_CHANNEL_NAME,
        name: API_CHANNEL_NAME,
        simulation: false,
        settings: "{}",
        provider_key: None,
    };
    let mut tx = state.db.begin().await?;
    let channel = channels::insert_channel(&mut tx, account_id, &new, now_ms()).await?;
    tx.commit().await?;
    Ok(channel)
}

/// Starts a conversation with virtual agent `agent_id` for a new customer on the account's API
/// channel, with `meta` as its metadata.
pub async fn start(
    state: &AppState,
    account_id: i64,
    agent_id: i64,
    meta: Option<Map<String, Value>>,
) -> Result<Conversation> {
    agents::find_agent(state.db.reader(), account_id, agent_id).await?.ok_or(Error::NotFound("virtual agent"))?;
    let channel = api_channel(state, account_id).await?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let contact = contacts::insert_contact(&mut tx, account_id, &contacts::ContactFields::default(), now).await?;
    let address = format!("{ADDRESS_PREFIX}{}", uuid::Uuid::new_v4().simple());
    contacts::insert_identity(&mut tx, account_id, contact.id, channel.id, &address, now).await?;
    let owner = Ownership { virtual_agent_id: Some(agent_id), team_id: channel.team_id, waiting_since: None };
    let id = conversations::insert_conversation(&mut tx, account_id, channel.id, contact.id, None, owner, now).await?;
    let row = find(&mut *tx, account_id, id).await?;
    events::record(&mut tx, account_id, kind::CONVERSATION_CREATED, &Conversation::from(&row), now).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    match meta.filter(|meta| !meta.is_empty()) {
        Some(meta) => set_meta(state, account_id, id, meta).await,
        None => Ok(Conversation::from(&row)),
    }
}

async fn find<'c>(db: impl sqlx::AnyExecutor<'c>, account_id: i64, id: i64) -> Result<ConversationRow> {
    conversations::find_conversation(db, account_id, id).await?.ok_or(Error::NotFound("conversation"))
}

/// Merges `meta` into the conversation's metadata (existing names are overwritten).
pub async fn set_meta(state: &AppState, account_id: i64, id: i64, meta: Map<String, Value>) -> Result<Conversation> {
    let patch = ConversationPatch { meta: Some(meta), ..ConversationPatch::default() };
    conversation_service::update(state, account_id, id, patch).await
}

/// The customer of an API conversation says `text`: ingested like any customer message (the
/// agent owes an answer while it handles the conversation). Returns the message's id.
pub async fn ask(state: &AppState, account_id: i64, id: i64, text: &str) -> Result<i64> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::field("text", format!("must be 1 to {MAX_TEXT_CHARS} characters")));
    }
    let reader = state.db.reader();
    let conversation = find(reader, account_id, id).await?;
    if conversation.status == crate::domain::ConversationStatus::Closed.as_str() {
        return Err(Error::conflict("conversation_closed", "this conversation was closed; start another"));
    }
    let channel = channels::find_channel_any(reader, conversation.channel_id)
        .await?
        .filter(|c| c.kind == ChannelKind::Api.as_str())
        .ok_or_else(|| Error::invalid("not_an_api_conversation", "this conversation is not held through the API"))?;
    let address = contacts::addresses_on(reader, channel.id, conversation.contact_id)
        .await?
        .pop()
        .ok_or(Error::NotFound("customer"))?;
    let mut message = InboundMessage::new(address, MessageType::Text);
    message.text = Some(text.to_owned());
    let ingested = inbound::ingest(state, &channel, vec![message]).await?;
    ingested.first().map(|i| i.message.id).ok_or_else(|| anyhow::anyhow!("the message was not stored").into())
}

/// The agent answers the conversation's latest question now rather than after the debounce, and
/// returns the messages sent to the customer after `question_id` (the answer, or the word that a
/// person will follow). Nothing when people handle the conversation: they answer in their time.
pub async fn answer_now(state: &AppState, conversation_id: i64, question_id: i64) -> Result<Vec<MessageRow>> {
    match agents::claim_run_of(&state.db, conversation_id, now_ms(), answers::LEASE_MS).await? {
        Some(run) => answers::answer_or_release(state.clone(), run).await,
        // Another worker writes it: wait for it to finish.
        None => wait_for_run(state, conversation_id).await?,
    }
    let rows = messages::list_messages(state.db.reader(), conversation_id, question_id + 1, i64::MAX, 100).await?;
    Ok(rows.into_iter().filter(|m| m.direction == Direction::Outbound.as_str() && m.private == 0).collect())
}

/// Waits (at most the longest answer) until no answer is owed to the conversation.
async fn wait_for_run(state: &AppState, conversation_id: i64) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(answers::MAX_ANSWER_MS as u64);
    while agents::find_run(state.db.reader(), conversation_id).await?.is_some() {
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The agent answers the question now, as a stream of text: each piece as the engine writes it,
/// then — when nothing was streamed (an engine that answers at once, or a handover) — the text
/// of the messages sent.
pub fn stream_answer(
    state: AppState,
    account_id: i64,
    conversation_id: i64,
    question_id: i64,
) -> impl Stream<Item = String> + Send + 'static {
    let mut bus = state.events.subscribe();
    async_stream::stream! {
        let answering = answer_now(&state, conversation_id, question_id);
        tokio::pin!(answering);
        let (mut streamed, mut listening) = (false, true);
        let sent = loop {
            tokio::select! {
                sent = &mut answering => break sent,
                signal = bus.recv(), if listening => match signal {
                    Ok(Signal::Transient(event)) => {
                        if let Some(delta) = delta_of(&event, account_id, conversation_id) {
                            streamed = true;
                            yield delta;
                        }
                    }
                    Ok(Signal::Logged(_) | Signal::Resync) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => listening = false,
                },
            }
        };
        // Pieces published before the answer was sent and not read yet.
        while let Ok(signal) = bus.try_recv() {
            if let Signal::Transient(event) = signal {
                if let Some(delta) = delta_of(&event, account_id, conversation_id) {
                    streamed = true;
                    yield delta;
                }
            }
        }
        match sent {
            Ok(rows) if !streamed => {
                yield rows.iter().filter_map(|m| m.text.clone()).collect::<Vec<_>>().join("\n");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(conversation = conversation_id, error = %e, "a streamed answer failed"),
        }
    }
}

/// The piece of answer a transient event carries for the conversation.
fn delta_of(event: &crate::state::Transient, account_id: i64, conversation_id: i64) -> Option<String> {
    let ours = event.account_id == account_id
        && event.kind == "message.delta"
        && event.data.get("conversation_id").and_then(Value::as_i64) == Some(conversation_id);
    ours.then(|| event.data.get("delta").and_then(Value::as_str).map(str::to_owned)).flatten()
}

/// The conversations held through the API's channels, for lists.
pub async fn api_channel_ids(state: &AppState, account_id: i64) -> Result<Vec<i64>> {
    Ok(channels::list_channels(state.db.reader(), account_id)
        .await?
        .into_iter()
        .filter(|c| c.kind == ChannelKind::Api.as_str())
        .map(|c| c.id)
        .collect())
}
