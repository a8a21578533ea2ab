//! WhatsApp Cloud API sends: the Graph API request bodies for every outbound message type, the
//! calls themselves, and Meta's synchronous errors sorted into what Parley does about them.

use serde_json::{json, Map, Value};

use crate::channels::{Failure, MediaLink};
use crate::domain::MessageType;

/// Payload keys that carry a Meta message object as is; each gives the message its type.
pub const PAYLOAD_TYPES: [(&str, MessageType); 10] = [
    ("location", MessageType::Location),
    ("contacts", MessageType::Contacts),
    ("interactive", MessageType::Interactive),
    ("template", MessageType::Template),
    ("reaction", MessageType::Reaction),
    ("image", MessageType::Image),
    ("video", MessageType::Video),
    ("audio", MessageType::Audio),
    ("document", MessageType::Document),
    ("sticker", MessageType::Sticker),
];

/// Who a message goes to: a phone number (`to`, digits only) or a business-scoped user id
/// (`recipient`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A phone number in E.164 digits, without `+`.
    Phone(String),
    /// A business-scoped user id such as `US.13491208655302741918`.
    UserId(String),
}

impl Recipient {
    /// The recipient for a stored address: `+E.164` phone numbers or WhatsApp user ids.
    pub fn from_address(address: &str) -> Recipient {
        match address.strip_prefix('+') {
            Some(digits) => Recipient::Phone(digits.to_owned()),
            None => Recipient::UserId(address.to_owned()),
        }
    }
}

/// A message as the Graph API needs it.
#[derive(Debug, Clone)]
pub struct Outbound<'a> {
    pub recipient: &'a Recipient,
    pub kind: MessageType,
    pub text: Option<&'a str>,
    /// The first attachment from the media store, if any.
    pub media: Option<MediaLink>,
    /// The stored payload: one of [`PAYLOAD_TYPES`] and an optional `context.message_id` (wamid).
    pub payload: &'a Map<String, Value>,
}

fn is_media(kind: MessageType) -> bool {
    matches!(
        kind,
        MessageType::Image | MessageType::Video | MessageType::Audio | MessageType::Document | MessageType::Sticker
    )
}

/// The `POST /{phone_number_id}/messages` body for a message.
pub fn message_body(message: &Outbound<'_>) -> Value {
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    match message.recipient {
        Recipient::Phone(digits) => body.insert("to".into(), json!(digits)),
        Recipient::UserId(id) => body.insert("recipient".into(), json!(id)),
    };
    if let Some(wamid) = message.payload.get("context").and_then(|c| c.get("message_id")).and_then(Value::as_str) {
        body.insert("context".into(), json!({ "message_id": wamid }));
    }
    let kind = message.kind.as_str();
    let content = match message.kind {
        MessageType::Text => json!({ "preview_url": false, "body": message.text.unwrap_or_default() }),
        kind if is_media(kind) => {
            let mut object = match (message.payload.get(kind.as_str()), &message.media) {
                (Some(Value::Object(given)), _) => given.clone(),
                (_, Some(media)) => {
                    let mut object = Map::new();
                    object.insert("link".into(), json!(media.link));
                    if let (MessageType::Document, Some(name)) = (kind, &media.filename) {
                        object.insert("filename".into(), json!(name));
                    }
                    object
                }
                _ => Map::new(),
            };
            // Audio and stickers take no caption.
            if let (Some(text), false) = (message.text, matches!(kind, MessageType::Audio | MessageType::Sticker)) {
                object.entry("caption").or_insert_with(|| json!(text));
            }
            Value::Object(object)
        }
        _ => message.payload.get(kind).cloned().unwrap_or(Value::Null),
    };
    body.insert("type".into(), json!(kind));
    body.insert(kind.into(), content);
    Value::Object(body)
}

/// The mark-as-read body for an inbound message.
pub fn read_body(wamid: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": wamid })
}

/// Sorts a Graph API error answer: 131047 → `reply_window_expired`, 131026 → `undeliverable`,
/// 130429 and 131056 (throughput and pair rate limits) and 5xx → retried; other errors fail the
/// message with Meta's code and message.
pub fn classify(status: u16, body: &Value) -> Failure {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let details = error["error_data"]["details"].as_str();
    let text = match (error["message"].as_str(), details) {
        (Some(message), Some(details)) => format!("{message}: {details}"),
        (Some(message), None) => message.to_owned(),
        (None, _) => format!("the Graph API answered {status}"),
    };
    match code {
        Some(131047) => Failure::Permanent { code: "reply_window_expired".into(), text },
        Some(131026) => Failure::Permanent { code: "undeliverable".into(), text },
        Some(130429 | 131056) => {
            Failure::Transient(format!("throttled by Meta ({}): {text}", code.unwrap_or_default()))
        }
        _ if status >= 500 || status == 429 => Failure::Transient(text),
        Some(code) => Failure::Permanent { code: code.to_string(), text },
        None => Failure::Permanent { code: format!("http_{status}"), text },
    }
}

/// The distinct numbered placeholders (`{{1}}`, `{{2}}`…) in a template text.
pub fn placeholder_count(text: &str) -> usize {
    let mut seen = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            let inner = rest[..end].trim();
            if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                seen.insert(inner.to_owned());
            }
        }
    }
    seen.len()
}

/// The message id (wamid) in a send answer.
pub fn sent_id(answer: &Value) -> Option<&str> {
    answer["messages"][0]["id"].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph_error(code: i64) -> Value {
        json!({"error": {"message": "(#x) problem", "type": "OAuthException", "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": "why"}, "fbtrace_id": "A"}})
    }

    #[test]
    fn errors_map_to_outcomes() {
        assert_eq!(
            classify(400, &graph_error(131047)),
            Failure::Permanent { code: "reply_window_expired".into(), text: "(#x) problem: why".into() }
        );
        assert!(
            matches!(classify(400, &graph_error(131026)), Failure::Permanent { code, .. } if code == "undeliverable")
        );
        assert!(matches!(classify(400, &graph_error(130429)), Failure::Transient(_)));
        assert!(matches!(classify(400, &graph_error(131056)), Failure::Transient(_)));
        assert!(matches!(classify(500, &graph_error(1)), Failure::Transient(_)));
        assert!(matches!(classify(400, &graph_error(100)), Failure::Permanent { code, .. } if code == "100"));
        assert!(matches!(classify(404, &Value::Null), Failure::Permanent { code, .. } if code == "http_404"));
    }

    #[test]
    fn placeholders_are_counted_once_each() {
        assert_eq!(placeholder_count("Hi {{1}}, order {{2}} ships {{ 3 }}; {{1}} again {{x}}"), 3);
        assert_eq!(placeholder_count("no parameters {{"), 0);
    }

    #[test]
    fn text_body_matches_meta() {
        let payload = Map::new();
        let to = Recipient::from_address("+121212121212");
        let body = message_body(&Outbound {
            recipient: &to,
            kind: MessageType::Text,
            text: Some("hi"),
            media: None,
            payload: &payload,
        });
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "121212121212",
                "type": "text", "text": {"preview_url": false, "body": "hi"}})
        );
    }
}
