//! The contact-centre chat API's webhooks (`format: "ccai"`): one URL receives every chat event
//! — `chat.created`, `chat.message` (the end user's and the agents' messages), `chat.assigned`,
//! `chat.escalated` and `chat.finished` — as `{"event", "chat_id", "data"}`, signed with
//! `X-Signature: primary=<sig> [secondary=<sig>]` and `X-Signature-Timestamp`, where each
//! signature is base64(HMAC-SHA256(secret, timestamp + body)) with the subscription's secret
//! (primary) and, during a rotation, the previous one (secondary).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::Format;
use crate::service::events::kind;
use crate::store::webhooks::ConversationAddresses;

/// The chat API's format.
pub struct Ccai;

impl Format for Ccai {
    fn name(&self) -> &'static str {
        "ccai"
    }

    fn handles(&self, event_type: &str) -> bool {
        matches!(
            event_type,
            kind::MESSAGE_CREATED
                | kind::CONVERSATION_CREATED
                | kind::CONVERSATION_ASSIGNED
                | kind::CONVERSATION_ESCALATED
                | kind::CONVERSATION_STATUS_CHANGED
        )
    }

    fn render(&self, event_type: &str, data: &Value, _addresses: &ConversationAddresses) -> Option<Value> {
        let (event, chat_id, body) = match event_type {
            kind::MESSAGE_CREATED => {
                let transcript = data.pointer("/payload/transcript").is_some();
                if data["private"].as_bool().unwrap_or(false) || transcript {
                    return None;
                }
                let from = match data.pointer("/sender/type").and_then(Value::as_str)? {
                    "contact" => "end_user",
                    "operator" => "agent",
                    "virtual_agent" => "virtual_agent",
                    _ => "system",
                };
                let message = json!({
                    "id": data["id"],
                    "from": from,
                    "from_user_id": data.pointer("/sender/id"),
                    "type": data["type"],
                    "content": { "text": data["text"] },
                    "media_keys": data["media_keys"],
                    "created_at": data["created_at"],
                });
                ("chat.message", data["conversation_id"].clone(), json!({ "message": message }))
            }
            kind::CONVERSATION_CREATED => {
                ("chat.created", data["id"].clone(), json!({ "end_user_id": data.pointer("/contact/id") }))
            }
            kind::CONVERSATION_ASSIGNED => {
                ("chat.assigned", data["id"].clone(), json!({ "agent_id": data["assignee_id"] }))
            }
            kind::CONVERSATION_ESCALATED => (
                "chat.escalated",
                data["conversation_id"].clone(),
                json!({ "escalation": {
                    "id": data["id"],
                    "status": data["status"],
                    "reason": data["reason"],
                    "deflection_channel": data["deflection_channel"],
                } }),
            ),
            kind::CONVERSATION_STATUS_CHANGED if data["status"] == "closed" => {
                ("chat.finished", data["id"].clone(), json!({ "ended_at": data["closed_at"] }))
            }
            _ => return None,
        };
        Some(json!({ "event": event, "chat_id": chat_id, "data": body }))
    }

    fn signature_headers(&self, secrets: &[&str], timestamp: i64, body: &[u8]) -> Option<Vec<(&'static str, String)>> {
        let names = ["primary", "secondary"];
        let parts: Vec<String> = secrets
            .iter()
            .zip(names)
            .map(|(secret, name)| format!("{name}={}", sign(secret, timestamp, body)))
            .collect();
        Some(vec![("x-signature", parts.join(" ")), ("x-signature-timestamp", timestamp.to_string())])
    }
}

/// base64(HMAC-SHA256(secret, timestamp + body)).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}
