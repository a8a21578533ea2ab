//! WhatsApp Cloud API webhooks: Meta's verification handshake, and signed deliveries, checked
//! against their channels' app secrets before anything else and then ingested, one transaction
//! per channel.

use serde_json::Value;
use subtle::{Choice, ConstantTimeEq};

use crate::app::AppState;
use crate::domain::text::strip_nul;
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::providers::whatsapp::settings::Settings;
use crate::providers::whatsapp::{signature, webhook};
use crate::service::inbound::{self, InboundEvent};
use crate::service::templates;
use crate::store::channels::{self, ChannelRow};

const KIND: &str = "whatsapp";

/// Job kind that marks an inbound WhatsApp message read on Meta's side.
pub const MARK_READ_JOB: &str = "whatsapp_mark_read";

/// A mark-as-read job: the channel and the newest inbound message the operator has seen.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct MarkRead {
    pub channel_id: i64,
    pub provider_message_id: String,
}

/// Answers Meta's verification handshake (`hub.mode=subscribe`): the challenge, to be returned
/// as is, when some live WhatsApp channel has this verify token.
pub async fn verify_subscription(
    state: &AppState,
    mode: Option<&str>,
    token: Option<&str>,
    challenge: Option<&str>,
) -> Result<String> {
    let refused = |detail: &str| Error::Forbidden { code: "verification_failed", detail: detail.to_owned() };
    if mode != Some("subscribe") {
        return Err(refused("hub.mode must be `subscribe`"));
    }
    let (Some(token), Some(challenge)) = (token, challenge) else {
        return Err(refused("hub.verify_token and hub.challenge are required"));
    };
    let mut matched = Choice::from(0);
    for channel in channels::list_live_by_kind(state.db.reader(), KIND).await? {
        if let Some(expected) = Settings::parse(&channel.settings).verify_token {
            matched |= expected.as_bytes().ct_eq(token.as_bytes());
        }
    }
    if bool::from(matched) {
        Ok(challenge.to_owned())
    } else {
        Err(refused("no WhatsApp channel has this verify token"))
    }
}

/// Whether `signature` signs `body` with the channel's app secret.
fn signed_by(channel: &ChannelRow, body: &[u8], signature: &str) -> bool {
    Settings::parse(&channel.settings).app_secret.is_some_and(|secret| signature::verify(&secret, body, signature))
}

/// Receives a webhook delivery. The `X-Hub-Signature-256` signature is checked first: every
/// phone number id the body names must belong to a live WhatsApp channel whose app secret signed
/// the raw body (a body naming none, such as an account update, must be signed by some channel's
/// app secret); otherwise nothing is read further or written. Then each channel's messages,
/// echoes, edits, revokes and statuses are ingested in one transaction; parts that cannot be
/// mapped are logged and skipped, so Meta does not retry them for days.
pub async fn receive(state: &AppState, signature: Option<&str>, body: &[u8]) -> Result<()> {
    let signature =
        signature.ok_or_else(|| Error::InvalidSignature(format!("the {} header is missing", signature::HEADER)))?;
    let ids = webhook::phone_number_ids(body)
        .ok_or_else(|| Error::InvalidSignature("the body is not a WhatsApp webhook".to_owned()))?;
    let ids: Vec<String> = ids.into_iter().collect();
    if ids.is_empty() {
        let known = channels::list_live_by_kind(state.db.reader(), KIND).await?;
        if !known.iter().any(|channel| signed_by(channel, body, signature)) {
            return Err(Error::InvalidSignature("the signature matches no WhatsApp channel's app secret".to_owned()));
        }
        let parsed = parse_delivery(body)?;
        for (waba_id, value) in webhook::template_status_updates(&parsed) {
            // Only the channels of that business account whose app secret signed the body.
            let owners: Vec<i64> = known
                .iter()
                .filter(|c| Settings::parse(&c.settings).waba_id.as_deref() == Some(waba_id.as_str()))
                .filter(|c| signed_by(c, body, signature))
                .map(|c| c.id)
                .collect();
            templates::apply_status_update(state, &owners, value).await?;
        }
        tracing::debug!("WhatsApp webhook without a phone number id acknowledged");
        return Ok(());
    }
    let known = channels::find_by_provider_keys(state.db.reader(), KIND, &ids).await?;
    for id in &ids {
        let channel = known.iter().find(|c| c.provider_key.as_ref() == Some(id)).ok_or_else(|| {
            Error::InvalidSignature(format!("no WhatsApp channel has settings.phone_number_id `{id}`"))
        })?;
        if !signed_by(channel, body, signature) {
            return Err(Error::InvalidSignature(format!(
                "the signature does not match the app secret of the channel with phone_number_id `{id}`"
            )));
        }
    }
    let body = parse_delivery(body)?;
    for (id, events) in webhook::events(&body) {
        let Some(channel) = known.iter().find(|c| c.provider_key.as_ref() == Some(&id)) else { continue };
        let events = ingestible(events);
        if !events.is_empty() {
            inbound::apply(state, channel, events).await?;
        }
    }
    Ok(())
}

/// A verified delivery as JSON, with any NUL character removed from its text (no backend stores
/// one, and refusing the delivery would make Meta retry the messages beside it for days).
fn parse_delivery(body: &[u8]) -> Result<Value> {
    let mut parsed: Value =
        serde_json::from_slice(body).map_err(|e| Error::MalformedBody(format!("malformed JSON: {e}")))?;
    strip_nul(&mut parsed);
    Ok(parsed)
}

/// The events ingestion will take: messages that fail its checks are logged and left out.
fn ingestible(events: Vec<InboundEvent>) -> Vec<InboundEvent> {
    events
        .into_iter()
        .filter_map(|event| match event {
            InboundEvent::Message(message) => {
                let id = message.provider_message_id.clone().unwrap_or_default();
                match inbound::validate(ChannelKind::Whatsapp, message) {
                    Ok(message) => Some(InboundEvent::Message(message)),
                    Err(e) => {
                        tracing::warn!(id = %id, error = %e, "WhatsApp message refused by ingestion; skipped");
                        None
                    }
                }
            }
            other => Some(other),
        })
        .collect()
}
