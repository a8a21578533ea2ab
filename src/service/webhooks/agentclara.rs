//! The AgentClara conversations API's webhooks (`format: "agentclara"`): `{"event", "timestamp",
//! "data"}` with `conversation.created`, `conversation.updated`, `conversation.closed` and
//! `message.received` (a customer's or the assistant's message), in the dialect's ids (`conv_…`,
//! `cust_…`, `msg_…`) and channel names. The platform documents no signature: deliveries are
//! signed with Standard Webhooks, as Parley's own.

use serde_json::{json, Value};

use super::Format;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::service::events::kind;
use crate::store::webhooks::ConversationAddresses;

/// The conversations API's format.
pub struct AgentClara;

/// The platform's name of a network.
fn channel_name(kind: &str) -> &str {
    match kind {
        "messenger" => "facebook",
        other => other,
    }
}

/// The platform's status of a conversation (waiting on the business is still open).
fn status_name(status: &Value) -> &str {
    match status.as_str() {
        Some("resolved") => "resolved",
        Some("closed") => "closed",
        _ => "open",
    }
}

impl Format for AgentClara {
    fn name(&self) -> &'static str {
        "agentclara"
    }

    fn handles(&self, event_type: &str) -> bool {
        matches!(
            event_type,
            kind::MESSAGE_CREATED
                | kind::CONVERSATION_CREATED
                | kind::CONVERSATION_UPDATED
                | kind::CONVERSATION_STATUS_CHANGED
        )
    }

    fn render(&self, event_type: &str, data: &Value, addresses: &ConversationAddresses) -> Option<Value> {
        let channel = channel_name(&addresses.channel_kind);
        let conversation_id = |id: &Value| format!("conv_{}", id.as_i64().unwrap_or_default());
        let (event, body) = match event_type {
            kind::MESSAGE_CREATED => {
                if data["private"].as_bool().unwrap_or(false) {
                    return None;
                }
                let sender = if data["direction"] == "inbound" { "customer" } else { "assistant" };
                let body = json!({
                    "conversation_id": conversation_id(&data["conversation_id"]),
                    "message_id": format!("msg_{}", data["id"].as_i64().unwrap_or_default()),
                    "sender": sender,
                    "content": data["text"],
                    "channel": channel,
                });
                ("message.received", body)
            }
            kind::CONVERSATION_CREATED => {
                let body = json!({
                    "conversation_id": conversation_id(&data["id"]),
                    "customer_id": format!("cust_{}", data.pointer("/contact/id").and_then(Value::as_i64).unwrap_or_default()),
                    "customer_name": data.pointer("/contact/name"),
                    "channel": channel,
                    "status": status_name(&data["status"]),
                });
                ("conversation.created", body)
            }
            kind::CONVERSATION_UPDATED => {
                let body = json!({
                    "conversation_id": conversation_id(&data["id"]),
                    "status": status_name(&data["status"]),
                    "tags": data["tags"],
                });
                ("conversation.updated", body)
            }
            kind::CONVERSATION_STATUS_CHANGED if data["status"] == "closed" => {
                let body = json!({
                    "conversation_id": conversation_id(&data["id"]),
                    "status": "closed",
                    "closed_at": data["closed_at"],
                });
                ("conversation.closed", body)
            }
            _ => return None,
        };
        Some(json!({ "event": event, "timestamp": to_rfc3339(now_ms()), "data": body }))
    }
}
