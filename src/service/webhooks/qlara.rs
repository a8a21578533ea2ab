//! The seed platform's webhook payloads (`format: "qlara"`): `INBOUND` for a contact's message,
//! `DELIVERY` for a delivery status of a sent message and `READ` when the contact read it.
//!
//! `statusCode` of `DELIVERY`: 2 sent (handed to the network, no receipt yet), 3 delivered,
//! 6 not delivered (the `description` says why). A queued message (1) sends no webhook; a read
//! message sends `READ` instead.

use serde_json::{json, Map, Value};

use super::Format;
use crate::service::events::kind;
use crate::service::media_fetch;
use crate::store::webhooks::ConversationAddresses;

/// `statusCode` of a delivery status, as the seed platform numbers them.
pub fn status_code(status: &str) -> Option<i64> {
    match status {
        "scheduled" | "queued" => Some(1),
        "sent" => Some(2),
        "delivered" => Some(3),
        "failed" => Some(6),
        _ => None,
    }
}

/// The seed platform's format.
pub struct Qlara;

impl Format for Qlara {
    fn name(&self) -> &'static str {
        "qlara"
    }

    fn handles(&self, event_type: &str) -> bool {
        event_type == kind::MESSAGE_CREATED || event_type == kind::MESSAGE_UPDATED
    }

    fn render(&self, event_type: &str, message: &Value, addresses: &ConversationAddresses) -> Option<Value> {
        render(event_type, message, addresses)
    }
}

/// The payload for an event carrying `message` (the API's message object), or `None` when the
/// format has nothing to say about it (outbound message created, private notes, queued status, an
/// edit: the update whose time is the message's edit time is not a delivery report).
fn render(event_type: &str, message: &Value, addresses: &ConversationAddresses) -> Option<Value> {
    let text = |field: &str| message.get(field).and_then(Value::as_str);
    if message.get("private").and_then(Value::as_bool).unwrap_or(false) {
        return None;
    }
    let channel = addresses.channel_kind.to_uppercase();
    let contact = addresses.contact_address.clone().unwrap_or_default();
    let is_edit = text("edited_at").is_some() && text("edited_at") == text("updated_at");
    let media_status = message.pointer("/payload/media_status").and_then(Value::as_str);
    match (event_type, text("direction")?) {
        // A message whose media is being fetched is reported once the fetch settled (the seed
        // reports a media message with its key).
        (kind::MESSAGE_CREATED, "inbound") if media_status == Some(media_fetch::PENDING) => None,
        (kind::MESSAGE_UPDATED, "inbound")
            if is_edit || !matches!(media_status, Some(media_fetch::STORED | media_fetch::FAILED)) =>
        {
            None
        }
        (kind::MESSAGE_CREATED | kind::MESSAGE_UPDATED, "inbound") => {
            let message_type = text("type")?.to_uppercase();
            let mut payload = Map::new();
            payload.insert("channel".into(), channel.into());
            payload.insert("eventType".into(), "INBOUND".into());
            let media_key = message.get("media_keys").and_then(|keys| keys.get(0)).and_then(Value::as_str);
            if media_key.is_none() {
                if let Some(id) = text("provider_message_id") {
                    payload.insert("messageId".into(), id.into());
                }
            }
            payload.insert("source".into(), contact.into());
            payload.insert("destination".into(), addresses.channel_address.clone().into());
            payload.insert("receivedDate".into(), text("created_at")?.into());
            payload.insert("messageType".into(), message_type.into());
            if let Some(body) = text("text") {
                payload.insert("text".into(), body.into());
            }
            if let Some(key) = media_key {
                payload.insert("mediaKey".into(), key.into());
            }
            Some(Value::Object(payload))
        }
        (kind::MESSAGE_UPDATED, "outbound") => {
            // A seed send with `"enableNotification": false` asked for no DELIVERY or READ reports.
            if is_edit || message.pointer("/payload/enable_notification") == Some(&Value::Bool(false)) {
                return None;
            }
            let status = text("status")?;
            let message_id = text("provider_message_id").map(str::to_owned).unwrap_or_else(|| id_text(message));
            if status == "read" {
                return Some(json!({
                    "eventType": "READ",
                    "messageId": message_id,
                    "destination": contact,
                    "channel": channel,
                    "timestamp": text("read_at").or(text("updated_at")),
                }));
            }
            let code = status_code(status).filter(|code| *code != 1)?;
            let description = match status {
                "sent" => "Sent".to_owned(),
                "delivered" => "Delivered".to_owned(),
                _ => {
                    let reason = message.pointer("/error/text").and_then(Value::as_str).unwrap_or("unknown error");
                    format!("Not delivered: {reason}")
                }
            };
            let customer_id = message.pointer("/payload/customer_message_id").and_then(Value::as_str);
            Some(json!({
                "eventType": "DELIVERY",
                "messageId": message_id,
                "customerMessageId": customer_id.map(str::to_owned).unwrap_or_else(|| id_text(message)),
                "destination": contact,
                "statusCode": code,
                "description": description,
                "channel": channel,
                "timestamp": text("delivered_at").filter(|_| status == "delivered").or(text("updated_at")),
            }))
        }
        _ => None,
    }
}

/// Parley's message id as text.
fn id_text(message: &Value) -> String {
    message.get("id").map(Value::to_string).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> ConversationAddresses {
        ConversationAddresses {
            channel_kind: "whatsapp".into(),
            channel_address: "+393209998877".into(),
            contact_address: Some("+393471234567".into()),
        }
    }

    #[test]
    fn outbound_messages_report_delivery_and_read() {
        let mut message = json!({"id": 7, "direction": "outbound", "type": "text", "status": "delivered",
            "provider_message_id": "wamid.X", "updated_at": "2026-04-09T09:15:22.041Z",
            "delivered_at": "2026-04-09T09:15:22.041Z", "private": false, "payload": {}});
        let delivery = render(kind::MESSAGE_UPDATED, &message, &addresses()).unwrap();
        assert_eq!(delivery["statusCode"], 3);
        assert_eq!(delivery["eventType"], "DELIVERY");
        assert_eq!(delivery["destination"], "+393471234567");
        assert_eq!(delivery["customerMessageId"], "7");
        message["status"] = "failed".into();
        message["error"] = json!({"code": "x", "text": "number unreachable"});
        let failed = render(kind::MESSAGE_UPDATED, &message, &addresses()).unwrap();
        assert_eq!(
            (failed["statusCode"].as_i64(), failed["description"].as_str()),
            (Some(6), Some("Not delivered: number unreachable"))
        );
        message["status"] = "read".into();
        assert_eq!(render(kind::MESSAGE_UPDATED, &message, &addresses()).unwrap()["eventType"], "READ");
        message["status"] = "queued".into();
        assert!(render(kind::MESSAGE_UPDATED, &message, &addresses()).is_none());
        assert!(render(kind::MESSAGE_CREATED, &message, &addresses()).is_none());
    }

    #[test]
    fn fetched_media_is_reported_once_settled() {
        let mut message = json!({"id": 8, "direction": "inbound", "type": "image", "media_keys": [],
            "provider_message_id": "wamid.M", "created_at": "2026-04-09T09:15:22.041Z",
            "updated_at": "2026-04-09T09:15:22.041Z", "private": false, "payload": {"media_status": "pending"}});
        assert!(render(kind::MESSAGE_CREATED, &message, &addresses()).is_none(), "waits for the file");
        message["media_keys"] = json!(["b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93"]);
        message["payload"]["media_status"] = "stored".into();
        message["updated_at"] = "2026-04-09T09:15:23.000Z".into();
        let inbound = render(kind::MESSAGE_UPDATED, &message, &addresses()).unwrap();
        assert_eq!(inbound["eventType"], "INBOUND");
        assert_eq!(inbound["mediaKey"], "b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93");
        // A later edit of the caption is no new message.
        message["edited_at"] = "2026-04-09T09:20:00.000Z".into();
        message["updated_at"] = "2026-04-09T09:20:00.000Z".into();
        assert!(render(kind::MESSAGE_UPDATED, &message, &addresses()).is_none());
        // Messages without fetched media are reported on creation only.
        let text = json!({"id": 9, "direction": "inbound", "type": "text", "text": "hi", "media_keys": [],
            "created_at": "2026-04-09T09:15:22.041Z", "updated_at": "2026-04-09T09:15:22.041Z", "payload": {}});
        assert!(render(kind::MESSAGE_CREATED, &text, &addresses()).is_some());
        assert!(render(kind::MESSAGE_UPDATED, &text, &addresses()).is_none());
    }

    #[test]
    fn sends_without_notification_report_nothing() {
        let message = json!({"id": 7, "direction": "outbound", "type": "text", "status": "delivered",
            "updated_at": "2026-04-09T09:15:22.041Z", "private": false,
            "payload": {"enable_notification": false, "customer_message_id": "c-1"}});
        assert!(render(kind::MESSAGE_UPDATED, &message, &addresses()).is_none());
    }

    #[test]
    fn edits_are_not_delivery_reports() {
        let mut message = json!({"id": 7, "direction": "outbound", "type": "text", "status": "delivered",
            "provider_message_id": "wamid.X", "updated_at": "2026-04-09T09:20:00.000Z",
            "edited_at": "2026-04-09T09:20:00.000Z", "delivered_at": "2026-04-09T09:15:22.041Z", "private": false});
        assert!(render(kind::MESSAGE_UPDATED, &message, &addresses()).is_none());
        // A later status of the edited message is one.
        message["status"] = "read".into();
        message["updated_at"] = "2026-04-09T09:25:00.000Z".into();
        assert_eq!(render(kind::MESSAGE_UPDATED, &message, &addresses()).unwrap()["eventType"], "READ");
    }
}
