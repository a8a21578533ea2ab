//! Outgoing webhooks: subscriptions, what each one receives, the delivery log and replays. The
//! delivery engine that fans events out and makes the HTTP attempts is `crate::jobs::webhooks`.

pub mod agentclara;
pub mod ccai;
pub mod qlara;
pub mod signature;
pub mod target;

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::domain::time::{now_ms, parse_timestamp};
use crate::error::{Error, Result};
use crate::service::conversations::{decode_cursor, encode_cursor, Cursor};
use crate::service::events::{self, kind, CATALOG};
use crate::service::views::{Webhook, WebhookAttempt, WebhookDelivery};
use crate::state::AppState;
use crate::store::events::{EventRow, Position};
use crate::store::webhooks::{self, ClaimedDelivery, ConversationAddresses, NewDelivery, WebhookRow};
use crate::store::{flag, Conn};

/// The format of Parley's own event envelope, the default.
pub const NATIVE_FORMAT: &str = "parley";

/// A payload shape a subscription may ask for instead of Parley's event envelope: a dialect's own
/// webhook format. It renders the events about messages, with the conversation's addresses.
pub trait Format: Sync {
    /// The name subscriptions give as `format`.
    fn name(&self) -> &'static str;
    /// Whether events of this type can produce a payload in this format.
    fn handles(&self, event_type: &str) -> bool;
    /// The payload for an event carrying `message` (the API's message object) in a conversation
    /// between these addresses; `None` when the format has nothing to say about it.
    fn render(&self, event_type: &str, message: &Value, addresses: &ConversationAddresses) -> Option<Value>;
    /// The headers that sign a delivery in this format (`secrets`: current first), when the
    /// format has its own instead of Standard Webhooks'.
    fn signature_headers(
        &self,
        _secrets: &[&str],
        _timestamp: i64,
        _body: &[u8],
    ) -> Option<Vec<(&'static str, String)>> {
        None
    }
}

/// Every format besides the native one.
pub const FORMATS: &[&dyn Format] = &[&qlara::Qlara, &ccai::Ccai, &agentclara::AgentClara];

/// How long the previous secret keeps signing after a rotation.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// A subscription whose every attempt failed for this long is disabled.
pub const DISABLE_AFTER_MS: i64 = 5 * 24 * 3600 * 1000;

/// Seconds to wait after the 1st, 2nd, … failed attempt (±10 % jitter): retries span 5 days and
/// 3 hours over 14 attempts, then the delivery is marked failed.
pub const RETRY_SCHEDULE_SECS: [i64; 13] =
    [5, 60, 300, 1800, 3600, 7200, 14_400, 28_800, 43_200, 86_400, 86_400, 86_400, 86_400];

/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER_MS: i64 = 24 * 3600 * 1000;

/// Page size bounds for the delivery log.
const MAX_PAGE: i64 = 100;

/// Events replayed per transaction.
const REPLAY_CHUNK: i64 = 500;

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Target URL (http or https).
    pub url: String,
    pub description: Option<String>,
    /// Event types to deliver (`message.*` patterns allowed); omitted or empty means every type.
    #[serde(default)]
    pub event_types: Vec<String>,
    /// `parley` (default), `qlara` (seed 000), `ccai` (the chat API's chat events, `X-Signature`) or
    /// `agentclara` (the conversations API's events).
    pub format: Option<String>,
    /// A `whsec_` secret to sign with (e.g. when moving from another system); generated when omitted.
    pub secret: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// Changes to a subscription; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookPatch {
    pub url: Option<String>,
    /// An empty string removes the description.
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub format: Option<String>,
    /// `true` re-enables a disabled subscription (its waiting deliveries become due); `false` pauses it.
    pub active: Option<bool>,
}

/// What to replay: events after an event id, or since a time.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Replay events with a greater id.
    pub after_event_id: Option<i64>,
    /// Replay events created at or after this RFC 3339 time.
    pub since: Option<String>,
}

/// What a replay queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResult {
    /// Deliveries queued (events the subscription takes, in its format).
    pub queued: i64,
    /// Events looked at.
    pub events: i64,
}

/// One page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    pub data: Vec<WebhookDelivery>,
    /// Pass as `cursor` for the next (older) page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// One page of attempts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttemptPage {
    pub data: Vec<WebhookAttempt>,
    /// Pass as `cursor` for the next (older) page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// An event type with its meaning.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventType {
    #[serde(rename = "type")]
    pub name: &'static str,
    pub description: &'static str,
}

/// The event catalog.
pub fn catalog() -> Vec<EventType> {
    CATALOG.iter().map(|(name, description)| EventType { name, description }).collect()
}

fn check_event_types(types: Vec<String>) -> Result<Vec<String>> {
    let mut clean: Vec<String> = Vec::new();
    for raw in types {
        let name = raw.trim().to_owned();
        let known = match name.strip_suffix(".*") {
            Some(prefix) => CATALOG.iter().any(|(kind, _)| kind.starts_with(&format!("{prefix}."))),
            None => name == "*" || CATALOG.iter().any(|(kind, _)| *kind == name),
        };
        if !known {
            return Err(Error::field(
                "event_types",
                format!("`{name}` is not an event type; see GET /api/v1/webhooks/event-types"),
            ));
        }
        if !clean.contains(&name) {
            clean.push(name);
        }
    }
    if clean.iter().any(|t| t == "*") {
        clean.clear();
    }
    if clean.len() > 50 {
        return Err(Error::field("event_types", "at most 50 event types"));
    }
    Ok(clean)
}

fn check_format(format: &str) -> Result<String> {
    let mut names = std::iter::once(NATIVE_FORMAT).chain(FORMATS.iter().map(|f| f.name()));
    if names.clone().any(|name| name == format) {
        return Ok(format.to_owned());
    }
    let names: Vec<String> = names.by_ref().map(|name| format!("`{name}`")).collect();
    Err(Error::field("format", format!("must be one of {}", names.join(", "))))
}

fn check_description(description: &str) -> Result<Option<String>> {
    let trimmed = description.trim();
    if trimmed.chars().count() > 500 {
        return Err(Error::field("description", "at most 500 characters"));
    }
    Ok(Some(trimmed.to_owned()).filter(|d| !d.is_empty()))
}

async fn check_url(state: &AppState, url: &str) -> Result<String> {
    target::check_url(url, state.config.webhook_allow_private)
        .await
        .map(|url| url.to_string())
        .map_err(|message| Error::field("url", message))
}

fn not_found() -> Error {
    Error::NotFound("webhook")
}

async fn load(conn: &mut Conn, account_id: i64, id: i64) -> Result<WebhookRow> {
    webhooks::find_webhook(conn, account_id, id).await?.ok_or_else(not_found)
}

/// Creates a subscription; the answer carries its signing secret, shown only this once.
pub async fn create(state: &AppState, account_id: i64, request: NewWebhook) -> Result<Webhook> {
    let url = check_url(state, &request.url).await?;
    let event_types = check_event_types(request.event_types)?;
    let format = check_format(request.format.as_deref().unwrap_or("parley"))?;
    let description = match &request.description {
        Some(text) => check_description(text)?,
        None => None,
    };
    let secret = match request.secret {
        Some(secret) => {
            signature::secret_key(&secret).map_err(|message| Error::field("secret", message))?;
            secret
        }
        None => signature::generate_secret(),
    };
    let now = now_ms();
    let row = WebhookRow {
        id: 0,
        account_id,
        url,
        description,
        event_types: serde_json::to_string(&event_types).map_err(anyhow::Error::from)?,
        format,
        secret: secret.clone(),
        previous_secret: None,
        previous_secret_expires_at: None,
        active: i64::from(request.active.unwrap_or(true)),
        disabled_reason: None,
        disabled_at: None,
        failing_since: None,
        created_at: now,
        updated_at: now,
    };
    let mut tx = state.db.begin().await?;
    let mut saved = webhooks::insert_webhook(&mut tx, &row).await?;
    if !flag(saved.active) {
        saved.disabled_reason = Some("manual".to_owned());
        saved.disabled_at = Some(now);
        webhooks::save_webhook(&mut tx, &saved).await?;
    }
    tx.commit().await?;
    Ok(Webhook { secret: Some(secret), ..Webhook::from(&saved) })
}

/// The account's subscriptions.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<Webhook>> {
    let rows = webhooks::list_webhooks(state.db.reader(), account_id).await?;
    Ok(rows.iter().map(Webhook::from).collect())
}

/// One subscription.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Webhook> {
    let row = webhooks::find_webhook(state.db.reader(), account_id, id).await?.ok_or_else(not_found)?;
    Ok(Webhook::from(&row))
}

/// Applies a patch. Re-enabling clears the failure state and makes waiting deliveries due now.
pub async fn update(state: &AppState, account_id: i64, id: i64, patch: WebhookPatch) -> Result<Webhook> {
    let url = match &patch.url {
        Some(url) => Some(check_url(state, url).await?),
        None => None,
    };
    let event_types = patch.event_types.map(check_event_types).transpose()?;
    let format = patch.format.as_deref().map(check_format).transpose()?;
    let description = patch.description.as_deref().map(check_description).transpose()?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let mut row = load(&mut tx, account_id, id).await?;
    if let Some(url) = url {
        row.url = url;
    }
    if let Some(types) = event_types {
        row.event_types = serde_json::to_string(&types).map_err(anyhow::Error::from)?;
    }
    if let Some(format) = format {
        row.format = format;
    }
    if let Some(description) = description {
        row.description = description;
    }
    match patch.active {
        Some(true) if !flag(row.active) => {
            row.active = 1;
            row.disabled_reason = None;
            row.disabled_at = None;
            row.failing_since = None;
            webhooks::hasten_pending(&mut tx, id, now).await?;
        }
        Some(false) if flag(row.active) => {
            row.active = 0;
            row.disabled_reason = Some("manual".to_owned());
            row.disabled_at = Some(now);
        }
        _ => {}
    }
    row.updated_at = now;
    webhooks::save_webhook(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Webhook::from(&row))
}

/// Deletes a subscription and its delivery log.
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !webhooks::delete_webhook(&mut tx, account_id, id).await? {
        return Err(not_found());
    }
    tx.commit().await?;
    Ok(())
}

/// Replaces the signing secret; the previous one keeps signing (as a second signature) for 24 h.
pub async fn rotate_secret(state: &AppState, account_id: i64, id: i64) -> Result<Webhook> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let mut row = load(&mut tx, account_id, id).await?;
    let secret = signature::generate_secret();
    row.previous_secret = Some(std::mem::replace(&mut row.secret, secret.clone()));
    row.previous_secret_expires_at = Some(now + ROTATION_OVERLAP_MS);
    row.updated_at = now;
    webhooks::save_webhook(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Webhook { secret: Some(secret), ..Webhook::from(&row) })
}

/// Records a `webhook.test` event and queues it for this subscription only.
pub async fn send_test(state: &AppState, account_id: i64, id: i64) -> Result<WebhookDelivery> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let row = load(&mut tx, account_id, id).await?;
    ensure_active(&row)?;
    let event_id = events::record(&mut tx, account_id, kind::WEBHOOK_TEST, &Webhook::from(&row), now).await?;
    let delivery = NewDelivery { account_id, webhook_id: id, event_id, body: None };
    webhooks::queue_deliveries(&mut tx, &[delivery], now, true).await?;
    let queued = find_delivery(&mut tx, id, event_id).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(queued)
}

fn ensure_active(row: &WebhookRow) -> Result<()> {
    if flag(row.active) {
        return Ok(());
    }
    Err(Error::Conflict {
        code: "webhook_disabled",
        detail: "this subscription is disabled; enable it (PATCH active: true) first".to_owned(),
    })
}

async fn find_delivery(conn: &mut Conn, webhook_id: i64, event_id: i64) -> Result<WebhookDelivery> {
    let row = webhooks::find_delivery(conn, webhook_id, event_id).await?;
    row.map(|row| WebhookDelivery::from(&row))
        .ok_or_else(|| anyhow::anyhow!("delivery of event {event_id} vanished").into())
}

/// Queues one event for a subscription again, whatever happened to it before (same `webhook-id`).
pub async fn redeliver(state: &AppState, account_id: i64, id: i64, event_id: i64) -> Result<WebhookDelivery> {
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let row = load(&mut tx, account_id, id).await?;
    ensure_active(&row)?;
    let event = webhooks::find_event(&mut *tx, account_id, event_id).await?.ok_or(Error::NotFound("event"))?;
    let delivery = plan(&mut tx, &row, &event, &mut HashMap::new()).await?.ok_or_else(|| {
        Error::field("event_id", format!("this subscription does not take `{}` events in its format", event.kind))
    })?;
    webhooks::queue_deliveries(&mut tx, &[delivery], now, true).await?;
    let queued = find_delivery(&mut tx, id, event_id).await?;
    tx.commit().await?;
    Ok(queued)
}

/// Queues every event since a time or after an event id that the subscription takes; events
/// already delivered are sent again.
pub async fn replay(state: &AppState, account_id: i64, id: i64, request: ReplayRequest) -> Result<ReplayResult> {
    let row = webhooks::find_webhook(state.db.reader(), account_id, id).await?.ok_or_else(not_found)?;
    ensure_active(&row)?;
    let after = match (request.after_event_id, &request.since) {
        (Some(event_id), None) => event_id,
        (None, Some(since)) => {
            let since = parse_timestamp(since).ok_or_else(|| Error::field("since", "must be an RFC 3339 time"))?;
            match webhooks::first_event_since(state.db.reader(), account_id, since).await? {
                Some(first) => first - 1,
                None => return Ok(ReplayResult { queued: 0, events: 0 }),
            }
        }
        _ => return Err(Error::field("after_event_id", "give exactly one of `after_event_id` and `since`")),
    };
    let mut position = Position::of_event(&state.db, account_id, after).await?;
    let mut result = ReplayResult { queued: 0, events: 0 };
    let mut cache = HashMap::new();
    loop {
        let batch = position.read(&state.db, account_id, REPLAY_CHUNK).await?.events;
        if batch.is_empty() {
            break;
        }
        let mut tx = state.db.begin().await?;
        let mut deliveries = Vec::new();
        for event in batch.iter().filter(|event| event.kind != kind::WEBHOOK_TEST) {
            if let Some(delivery) = plan(&mut tx, &row, event, &mut cache).await? {
                deliveries.push(delivery);
            }
        }
        webhooks::queue_deliveries(&mut tx, &deliveries, now_ms(), true).await?;
        tx.commit().await?;
        result.events += batch.len() as i64;
        result.queued += deliveries.len() as i64;
        if (batch.len() as i64) < REPLAY_CHUNK {
            break;
        }
    }
    Ok(result)
}

fn page_bounds(cursor: Option<&str>, limit: Option<i64>, name: &str) -> Result<(i64, i64)> {
    let before = match cursor {
        Some(text) => decode_cursor(text, name)?.id,
        None => i64::MAX,
    };
    Ok((before, limit.unwrap_or(25).clamp(1, MAX_PAGE)))
}

fn next_cursor(last_id: Option<i64>, full: bool, name: &str) -> Option<String> {
    last_id.filter(|_| full).map(|id| encode_cursor(&Cursor { sort: name.to_owned(), id, ..Cursor::default() }))
}

/// A subscription's deliveries, newest first, optionally only those with `status`.
pub async fn deliveries(
    state: &AppState,
    account_id: i64,
    id: i64,
    status: Option<&str>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<DeliveryPage> {
    if let Some(status) = status {
        if !["pending", "delivered", "failed"].contains(&status) {
            return Err(Error::field("status", "must be pending, delivered or failed"));
        }
    }
    webhooks::find_webhook(state.db.reader(), account_id, id).await?.ok_or_else(not_found)?;
    let (before, limit) = page_bounds(cursor, limit, "deliveries")?;
    let rows = webhooks::list_deliveries(state.db.reader(), id, status, before, limit).await?;
    let next = next_cursor(rows.last().map(|row| row.id), rows.len() as i64 == limit, "deliveries");
    Ok(DeliveryPage { data: rows.iter().map(WebhookDelivery::from).collect(), next_cursor: next })
}

/// Attempts, newest first, of one subscription and/or of one event.
pub async fn attempts(
    state: &AppState,
    account_id: i64,
    webhook_id: Option<i64>,
    event_id: Option<i64>,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> Result<AttemptPage> {
    if let Some(id) = webhook_id {
        webhooks::find_webhook(state.db.reader(), account_id, id).await?.ok_or_else(not_found)?;
    }
    if let Some(id) = event_id {
        webhooks::find_event(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("event"))?;
    }
    let (before, limit) = page_bounds(cursor, limit, "attempts")?;
    let rows = webhooks::list_attempts(state.db.reader(), account_id, webhook_id, event_id, before, limit).await?;
    let next = next_cursor(rows.last().map(|row| row.id), rows.len() as i64 == limit, "attempts");
    Ok(AttemptPage { data: rows.iter().map(WebhookAttempt::from).collect(), next_cursor: next })
}

/// One event of the account as webhooks and the event stream carry it.
pub async fn event(state: &AppState, account_id: i64, event_id: i64) -> Result<Value> {
    let row = webhooks::find_event(state.db.reader(), account_id, event_id).await?.ok_or(Error::NotFound("event"))?;
    Ok(envelope(&row))
}

/// An event as integrators see it: `id`, `type`, `account_id`, `created_at` and the object in `data`.
pub fn envelope(event: &EventRow) -> Value {
    let mut payload: Value = serde_json::from_str(&event.payload).unwrap_or_else(|_| json!({}));
    if let Some(object) = payload.as_object_mut() {
        object.insert("id".to_owned(), event.id.into());
    }
    payload
}

/// Whether a subscription wants events of `event_type` (its patterns, or every type when it has none).
pub fn wants(webhook: &WebhookRow, event_type: &str) -> bool {
    let patterns: Vec<String> = serde_json::from_str(&webhook.event_types).unwrap_or_default();
    patterns.is_empty()
        || patterns.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => pattern == event_type,
        })
}

/// The delivery of `event` to `webhook`, or `None` when the subscription does not take it.
/// `addresses` caches conversation lookups for the dialects' formats across calls.
pub async fn plan(
    conn: &mut Conn,
    webhook: &WebhookRow,
    event: &EventRow,
    addresses: &mut HashMap<i64, Option<ConversationAddresses>>,
) -> Result<Option<NewDelivery>> {
    if !wants(webhook, &event.kind) {
        return Ok(None);
    }
    let delivery =
        |body| NewDelivery { account_id: event.account_id, webhook_id: webhook.id, event_id: event.id, body };
    let Some(format) = FORMATS.iter().find(|format| format.name() == webhook.format) else {
        return Ok(Some(delivery(None)));
    };
    if !format.handles(&event.kind) {
        return Ok(None);
    }
    let payload: Value = serde_json::from_str(&event.payload).unwrap_or_default();
    let message = &payload["data"];
    // Conversation events carry the conversation itself.
    let own_id =
        || event.kind.starts_with("conversation.").then(|| message.get("id").and_then(Value::as_i64)).flatten();
    let Some(conversation_id) = message.get("conversation_id").and_then(Value::as_i64).or_else(own_id) else {
        return Ok(None);
    };
    let found = match addresses.entry(conversation_id) {
        Entry::Occupied(entry) => entry.into_mut(),
        Entry::Vacant(entry) => entry.insert(webhooks::conversation_addresses(conn, conversation_id).await?),
    };
    let Some(found) = found else {
        return Ok(None);
    };
    Ok(format.render(&event.kind, message, found).map(|body| delivery(Some(body.to_string()))))
}

/// The body sent for a claimed delivery: its rendered payload, or the event envelope; an envelope
/// over `max_bytes` goes without its object, marked `"truncated": true`.
pub fn body_for(delivery: &ClaimedDelivery, max_bytes: usize) -> String {
    if let Some(body) = &delivery.body {
        return body.clone();
    }
    let event = EventRow {
        id: delivery.event_id,
        account_id: delivery.account_id,
        kind: delivery.event_type.clone(),
        payload: delivery.event_payload.clone(),
        created_at: 0,
    };
    let mut envelope = envelope(&event);
    let body = envelope.to_string();
    if body.len() <= max_bytes {
        return body;
    }
    let object_id = envelope.pointer("/data/id").cloned().unwrap_or(Value::Null);
    envelope["data"] = json!({ "id": object_id });
    envelope["truncated"] = true.into();
    envelope.to_string()
}

/// Milliseconds until the next attempt after `attempts_made` failed ones, or `None` when retries
/// are exhausted. A `Retry-After` from the target replaces the schedule's wait (up to a day).
pub fn retry_delay_ms(attempts_made: i64, retry_after_ms: Option<i64>) -> Option<i64> {
    let index = usize::try_from(attempts_made - 1).ok()?;
    let base = RETRY_SCHEDULE_SECS.get(index)? * 1000;
    if let Some(wait) = retry_after_ms {
        return Some(wait.clamp(1000, MAX_RETRY_AFTER_MS));
    }
    let jitter = rand::thread_rng().gen_range(0.9..1.1);
    Some((base as f64 * jitter) as i64)
}

/// Disables a subscription (if it still exists and is active) and records `webhook.disabled`;
/// true when it changed.
pub async fn disable(conn: &mut Conn, account_id: i64, id: i64, reason: &str, now: i64) -> Result<bool> {
    let Some(mut row) = webhooks::find_webhook(&mut *conn, account_id, id).await? else {
        return Ok(false);
    };
    if !flag(row.active) {
        return Ok(false);
    }
    row.active = 0;
    row.disabled_reason = Some(reason.to_owned());
    row.disabled_at = Some(now);
    row.updated_at = now;
    webhooks::save_webhook(conn, &row).await?;
    events::record(conn, account_id, kind::WEBHOOK_DISABLED, &Webhook::from(&row), now).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_span_more_than_three_days() {
        let total: i64 = RETRY_SCHEDULE_SECS.iter().sum();
        assert!(total * 1000 > DISABLE_AFTER_MS && total > 3 * 86_400, "{total}");
        assert!(retry_delay_ms(RETRY_SCHEDULE_SECS.len() as i64 + 1, None).is_none());
        let first = retry_delay_ms(1, None).unwrap();
        assert!((4500..=5500).contains(&first), "{first}");
        assert_eq!(retry_delay_ms(1, Some(120_000)), Some(120_000));
    }

    #[test]
    fn event_type_patterns() {
        assert!(check_event_types(vec!["message.*".into(), "contact.merged".into()]).is_ok());
        assert!(check_event_types(vec!["nope.*".into()]).is_err());
        assert!(check_event_types(vec!["message.exploded".into()]).is_err());
        assert_eq!(check_event_types(vec!["*".into(), "message.created".into()]).unwrap(), Vec::<String>::new());
    }
}
