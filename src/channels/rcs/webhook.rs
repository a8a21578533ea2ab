//! RBM's webhook: Pub/Sub push bodies `{"message": {"data": base64, "attributes"?, "messageId",
//! "publishTime"}, "subscription"}` whose data is a user message (text, suggestion response,
//! location, file), a user event (DELIVERED, READ, IS_TYPING…), a server event (a message revoked
//! at its time to live) or, flagged in the attributes, an agent launch event. The data is signed
//! with the webhook's client token (`X-Goog-Signature`: base64 HMAC-SHA512 of the decoded data).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;
use subtle::ConstantTimeEq;

use crate::channels::MEDIA;
use crate::domain::inbound::{ChannelNotice, InboundEvent, InboundMessage, StatusUpdate};
use crate::domain::time::parse_timestamp;
use crate::domain::{MessageStatus, MessageType};

/// The header carrying the signature.
pub const HEADER: &str = "x-goog-signature";

/// The failure code of a message RBM revoked, undelivered, at its time to live.
pub const TTL_EXPIRED: &str = "ttl_expired";

/// The Pub/Sub body's decoded data and attributes.
pub struct Push {
    pub data: Vec<u8>,
    pub attributes: Value,
}

/// Reads a push body; `None` when it is not one.
pub fn push(body: &[u8]) -> Option<Push> {
    let envelope: Value = serde_json::from_slice(body).ok()?;
    let data = STANDARD.decode(envelope["message"]["data"].as_str()?).ok()?;
    Some(Push { data, attributes: envelope["message"]["attributes"].clone() })
}

/// The verification request RBM posts when the webhook is configured: `(clientToken, secret)`.
pub fn handshake(body: &[u8]) -> Option<(String, String)> {
    let body: Value = serde_json::from_slice(body).ok()?;
    Some((body["clientToken"].as_str()?.to_owned(), body["secret"].as_str()?.to_owned()))
}

/// Whether `signature` is the client token's HMAC-SHA512 of the data (compared in constant time).
pub fn signed(client_token: &str, data: &[u8], signature: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(client_token.as_bytes()) else { return false };
    mac.update(data);
    let expected = STANDARD.encode(mac.finalize().into_bytes());
    expected.as_bytes().ct_eq(signature.trim().as_bytes()).into()
}

/// The agent a decoded body concerns.
pub fn agent_id(data: &Value, attributes: &Value) -> Option<String> {
    data["agentId"].as_str().or_else(|| attributes["business_id"].as_str()).map(str::to_owned)
}

/// What a decoded body reports.
pub fn events(data: &Value, attributes: &Value) -> Vec<InboundEvent> {
    if attributes["type"] == "agent_launch_event" || data.get("newLaunchState").is_some() {
        return launch(data, attributes).into_iter().collect();
    }
    if let Some(event) = data["eventType"].as_str() {
        return event_of(event, data).into_iter().collect();
    }
    message(data).map(InboundEvent::Message).into_iter().collect()
}

fn text(value: &Value, name: &str) -> Option<String> {
    value[name].as_str().map(str::trim).filter(|text| !text.is_empty()).map(str::to_owned)
}

/// A user event or a server event.
fn event_of(event: &str, data: &Value) -> Option<InboundEvent> {
    let status = |status: MessageStatus, error: Option<(String, String)>| {
        Some(InboundEvent::Status(StatusUpdate { provider_message_id: text(data, "messageId")?, status, error }))
    };
    match event {
        "DELIVERED" => status(MessageStatus::Delivered, None),
        "READ" => status(MessageStatus::Read, None),
        "IS_TYPING" => Some(InboundEvent::Typing { address: text(data, "senderPhoneNumber")? }),
        "TTL_EXPIRATION_REVOKED" => status(
            MessageStatus::Failed,
            Some((TTL_EXPIRED.to_owned(), "Not delivered before its time to live: RBM revoked it".to_owned())),
        ),
        other => {
            // TTL_EXPIRATION_REVOKE_FAILED (the message may still arrive), SUBSCRIBE, UNSUBSCRIBE…
            tracing::info!(event = other, message = ?text(data, "messageId"), "RBM event not tracked");
            None
        }
    }
}

/// An agent launch event, shown on the channel.
fn launch(data: &Value, attributes: &Value) -> Option<InboundEvent> {
    let state = text(data, "newLaunchState").or_else(|| text(attributes, "event_type"))?;
    tracing::info!(agent = ?agent_id(data, attributes), state = %state, comment = ?text(data, "comment"), "RBM agent launch event");
    Some(InboundEvent::Notice(ChannelNotice {
        name: "launch",
        value: json!({
            "state": state,
            "previous_state": text(data, "oldLaunchState"),
            "region": text(data, "regionId"),
            "comment": text(data, "comment"),
            "at": text(data, "sendTime"),
        }),
    }))
}

/// A user message: text, a suggestion's answer, a location or a file (fetched after ingestion).
fn message(data: &Value) -> Option<InboundMessage> {
    let from = text(data, "senderPhoneNumber")?;
    let mut message = InboundMessage::new(from, MessageType::Text);
    message.provider_message_id = Some(text(data, "messageId")?);
    message.sent_at = data["sendTime"].as_str().and_then(parse_timestamp);
    if let Some(body) = text(data, "text") {
        message.text = Some(body);
    } else if let Some(response) = data.get("suggestionResponse").filter(|r| r.is_object()) {
        message.kind = MessageType::Interactive;
        message.text = text(response, "text").or_else(|| text(response, "postbackData"));
        message.payload = json!({ "suggestion_response": {
            "postback_data": text(response, "postbackData"),
            "text": text(response, "text"),
            "type": text(response, "type"),
        } });
    } else if let Some(location) = data.get("location").filter(|l| l.is_object()) {
        message.kind = MessageType::Location;
        message.payload =
            json!({ "location": { "latitude": location["latitude"], "longitude": location["longitude"] } });
    } else if let Some(file) = data["userFile"]["payload"].as_object() {
        let mime = file.get("mimeType").and_then(Value::as_str).unwrap_or("application/octet-stream");
        message.kind = match mime.split('/').next().unwrap_or_default() {
            "image" => MessageType::Image,
            "video" => MessageType::Video,
            "audio" => MessageType::Audio,
            _ => MessageType::Document,
        };
        let url = file.get("fileUri").and_then(Value::as_str)?;
        message.payload = json!({ MEDIA: {
            "url": url,
            "mime_type": mime,
            "filename": file.get("fileName"),
            "size": file.get("fileSizeBytes"),
        } });
        message.fetch_media = true;
    } else {
        message.kind = MessageType::Unsupported;
        message.payload = json!({ "rbm": data });
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_the_client_tokens_hmac_of_the_data() {
        // printf '{}' | openssl dgst -sha512 -hmac SJENCPGJESMGUFPY -binary | base64
        let data = b"{}";
        let signature = "Svu7MJkNA3pGm5Kpx86ZvbWiDx1RgGWHUuhLMS9ia0DWjKGFoRzUbIEp0Kja2B3MMf6i1xcGoEaXexiZsJO2Ag==";
        assert!(signed("SJENCPGJESMGUFPY", data, signature));
        assert!(!signed("another token", data, signature));
        assert!(!signed("SJENCPGJESMGUFPY", b"{ }", signature));
    }

    #[test]
    fn user_messages_and_events_are_read() {
        let answer = json!({"senderPhoneNumber": "+393331234567", "messageId": "MxA", "agentId": "a@rbm.goog",
            "sendTime": "2026-11-26T10:00:00.123Z",
            "suggestionResponse": {"postbackData": "yes_please", "text": "Yes", "type": "REPLY"}});
        let parsed = events(&answer, &Value::Null);
        let [InboundEvent::Message(message)] = parsed.as_slice() else { panic!("{parsed:?}") };
        assert_eq!((message.kind, message.text.as_deref()), (MessageType::Interactive, Some("Yes")));
        assert_eq!(message.payload["suggestion_response"]["postback_data"], "yes_please");
        let read = json!({"senderPhoneNumber": "+39333", "eventType": "READ", "eventId": "E1", "messageId": "m-1"});
        assert!(matches!(
            events(&read, &Value::Null).as_slice(),
            [InboundEvent::Status(StatusUpdate { status: MessageStatus::Read, .. })]
        ));
        let revoked = json!({"phoneNumber": "+39333", "messageId": "m-2", "eventType": "TTL_EXPIRATION_REVOKED"});
        let parsed = events(&revoked, &Value::Null);
        let [InboundEvent::Status(update)] = parsed.as_slice() else { panic!("{parsed:?}") };
        assert_eq!(update.error.as_ref().map(|(code, _)| code.as_str()), Some(TTL_EXPIRED));
    }
}
