//! Provider webhooks, whatever the network: the webhook URL's verification handshake, and
//! deliveries. A delivery's signature is checked against every channel it names before anything
//! else is read or written; then each channel's reports are ingested in one transaction. Reports
//! that cannot be ingested are logged and skipped, so the provider does not retry the others for
//! days.

use std::collections::HashMap;

use axum::http::HeaderMap;
use serde_json::Value;

use crate::channels::{Channel, Target};
use crate::domain::inbound::InboundEvent;
use crate::domain::text::strip_nul;
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::service::inbound;
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};

/// Answers the provider's verification of the webhook URL for the network's channels.
pub async fn handshake(state: &AppState, adapter: &dyn Channel, query: &HashMap<String, String>) -> Result<String> {
    let channels = channels::list_live_by_kind(state.db.reader(), adapter.kind().as_str()).await?;
    adapter
        .handshake(query, &channels)
        .map_err(|detail| Error::Forbidden { code: "verification_failed", detail: detail.to_owned() })
}

/// Receives a webhook delivery at `url` (the public URL the provider called, which some
/// networks sign): verified, then ingested per channel. A verification request posted to the
/// webhook is answered instead: the text to return.
pub async fn receive(
    state: &AppState,
    adapter: &dyn Channel,
    url: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>> {
    if let Some(params) = adapter.handshake_body(body) {
        return handshake(state, adapter, &params).await.map(Some);
    }
    let kind = adapter.kind();
    let keys: Vec<String> = adapter
        .route(body)
        .ok_or_else(|| Error::InvalidSignature(format!("the body is not a {kind} webhook")))?
        .into_iter()
        .collect();
    let named = channels::find_by_provider_keys(state.db.reader(), kind.as_str(), &keys).await?;
    for key in &keys {
        let channel = named
            .iter()
            .find(|channel| channel.provider_key.as_ref() == Some(key))
            .ok_or_else(|| Error::InvalidSignature(format!("no {kind} channel has the provider id `{key}`")))?;
        if !adapter.verify(channel, url, headers, body) {
            return Err(Error::InvalidSignature(format!(
                "the signature does not match the credentials of the {kind} channel with the provider id `{key}`"
            )));
        }
    }
    // Channels named by their settings, and bodies that name no channel (account-level updates),
    // are checked against every channel of the network.
    let mut all: Option<Vec<ChannelRow>> = None;
    if keys.is_empty() {
        let known = all.insert(channels::list_live_by_kind(state.db.reader(), kind.as_str()).await?);
        if !known.iter().any(|channel| adapter.verify(channel, url, headers, body)) {
            return Err(Error::InvalidSignature(format!("the signature matches no {kind} channel's credentials")));
        }
    }
    let mut parsed = adapter.decode(body).map_err(Error::MalformedBody)?;
    // No backend stores a NUL character; refusing the delivery would make the provider retry the
    // reports beside it for days.
    strip_nul(&mut parsed);
    for (target, events) in adapter.parse(&parsed) {
        let events = ingestible(kind, events);
        if events.is_empty() {
            continue;
        }
        let targets: Vec<&ChannelRow> = match &target {
            Target::Channel(key) => named.iter().filter(|channel| channel.provider_key.as_ref() == Some(key)).collect(),
            Target::Setting { name, value } => {
                let known = match &mut all {
                    Some(known) => known,
                    None => all.insert(channels::list_live_by_kind(state.db.reader(), kind.as_str()).await?),
                };
                known
                    .iter()
                    .filter(|channel| setting(channel, name).as_ref() == Some(value))
                    .filter(|channel| adapter.verify(channel, url, headers, body))
                    .collect()
            }
        };
        for channel in targets {
            inbound::apply(state, channel, events.clone()).await?;
        }
    }
    Ok(None)
}

/// A channel's text setting.
fn setting(channel: &ChannelRow, name: &str) -> Option<String> {
    serde_json::from_str::<Value>(&channel.settings).ok()?.get(name)?.as_str().map(str::to_owned)
}

/// The reports ingestion will take: messages that fail its checks are logged and left out.
fn ingestible(kind: ChannelKind, events: Vec<InboundEvent>) -> Vec<InboundEvent> {
    events
        .into_iter()
        .filter_map(|event| match event {
            InboundEvent::Message(message) => {
                let id = message.provider_message_id.clone().unwrap_or_default();
                match inbound::validate(kind, message) {
                    Ok(message) => Some(InboundEvent::Message(message)),
                    Err(e) => {
                        tracing::warn!(%kind, id = %id, error = %e, "message refused by ingestion; skipped");
                        None
                    }
                }
            }
            other => Some(other),
        })
        .collect()
}
