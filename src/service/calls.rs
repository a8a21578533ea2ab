//! Calls reported by telephony systems (a PBX, a contact-center platform) through the API: each
//! becomes a message of type `call` in the customer's conversation on a voice channel, ingested
//! like any provider's report, so the same phone number is the same contact everywhere.

use serde_json::json;

use crate::channels as adapters;
use crate::domain::calls::{Call, CallOutcome, CALL};
use crate::domain::inbound::InboundMessage;
use crate::domain::time::{now_ms, parse_timestamp, to_rfc3339};
use crate::domain::{normalize_e164, Direction, MessageType, RequestKey};
use crate::error::{Error, Result};
use crate::service::inbound::{self, Ingested};
use crate::state::AppState;
use crate::store::{accounts, channels};

/// The longest call recorded: a day.
const MAX_CALL_SECONDS: u32 = 24 * 3600;

/// The longest transcript kept.
const MAX_TRANSCRIPT_BYTES: usize = 65_536;

/// A call as a telephony system reports it.
#[derive(Debug, Clone, Default)]
pub struct NewCall {
    /// `inbound` (default) or `outbound`.
    pub direction: Option<String>,
    pub from: String,
    pub to: String,
    /// RFC 3339; now when absent.
    pub started_at: Option<String>,
    pub duration_seconds: u32,
    pub outcome: String,
    /// The recording, uploaded to the media store first.
    pub recording_media_key: Option<String>,
    pub transcript: Option<String>,
    pub operator_id: Option<i64>,
    /// The customer's name, for a contact not known yet.
    pub customer_name: Option<String>,
    /// The telephony system's id of the call: a repeat with the same id records nothing.
    pub external_id: Option<String>,
}

/// Records a call on a channel that records calls: the customer (the caller of an inbound call,
/// the called number of an outbound one) is found or created by number, and the call joins their
/// conversation there.
pub async fn record(
    state: &AppState,
    account_id: i64,
    channel_id: i64,
    call: NewCall,
    request_key: Option<RequestKey>,
) -> Result<Ingested> {
    let channel =
        channels::find_channel(state.db.reader(), account_id, channel_id).await?.ok_or(Error::NotFound("channel"))?;
    if !adapters::capabilities_of(&channel.kind).calls {
        return Err(Error::field("channel", "this channel does not record calls: use a voice channel"));
    }
    let direction = match call.direction.as_deref().unwrap_or("inbound") {
        "inbound" => Direction::Inbound,
        "outbound" => Direction::Outbound,
        _ => return Err(Error::field("direction", "must be inbound or outbound")),
    };
    let number = |field: &str, raw: &str| {
        normalize_e164(raw)
            .ok_or_else(|| Error::field(field, "must be a phone number in E.164 format, e.g. +393471234567"))
    };
    let (from, to) = (number("from", &call.from)?, number("to", &call.to)?);
    let outcome = CallOutcome::parse(&call.outcome)
        .ok_or_else(|| Error::field("outcome", format!("must be one of {}", CallOutcome::accepted())))?;
    if call.duration_seconds > MAX_CALL_SECONDS {
        return Err(Error::field("duration_seconds", "must be at most 86400"));
    }
    let started = match call.started_at.as_deref() {
        Some(text) => {
            parse_timestamp(text).ok_or_else(|| Error::field("started_at", "must be an RFC 3339 timestamp"))?
        }
        None => now_ms(),
    };
    let transcript = call.transcript.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
    if transcript.as_ref().is_some_and(|t| t.len() > MAX_TRANSCRIPT_BYTES) {
        return Err(Error::field("transcript", "must be at most 65536 bytes"));
    }
    let operator = match call.operator_id {
        Some(id) => Some(
            accounts::find_operator(state.db.reader(), account_id, id)
                .await?
                .ok_or_else(|| Error::field("operator_id", "no operator of the account has this id"))?,
        ),
        None => None,
    };
    let details = Call {
        direction: direction.as_str().to_owned(),
        from: from.clone(),
        to: to.clone(),
        started_at: to_rfc3339(started),
        duration_seconds: if outcome == CallOutcome::Missed { 0 } else { call.duration_seconds },
        outcome: outcome.as_str().to_owned(),
        transcript,
        operator_id: operator.as_ref().map(|operator| operator.id),
        operator_name: operator.map(|operator| operator.name),
    };
    let customer = match direction {
        Direction::Inbound => from,
        Direction::Outbound => to,
    };
    let mut message = InboundMessage::new(customer, MessageType::Call);
    message.direction = direction;
    message.name = call.customer_name;
    message.text = Some(details.summary());
    message.provider_message_id = call.external_id.map(|id| id.trim().to_owned()).filter(|id| !id.is_empty());
    message.media_keys = call.recording_media_key.into_iter().collect();
    message.sent_at = Some(started);
    message.request_key = request_key;
    message.payload = json!({ CALL: details });
    let mut results = inbound::ingest(state, &channel, vec![message]).await?;
    results.pop().ok_or_else(|| anyhow::anyhow!("ingestion returned no result").into())
}
