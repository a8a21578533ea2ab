//! WhatsApp Cloud API sends: the Graph API request bodies for every kind of content, and Meta's
//! synchronous errors sorted into what Parley does about them.

use serde_json::{json, Map, Value};

use crate::channels::Failure;
use crate::domain::content::{Choices, Content, Header, Media, MediaKind, MediaSource};

/// The kinds of content WhatsApp takes.
pub const CONTENT: &[&str] = &["text", "media", "location", "contacts", "choices", "template", "reaction", "native"];

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

fn media_type(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Image => "image",
        MediaKind::Video => "video",
        MediaKind::Audio => "audio",
        MediaKind::Document => "document",
        MediaKind::Sticker => "sticker",
    }
}

/// A media object: `{id}` or `{link}`, with the caption (not on audio and stickers) and, for
/// documents, the file name.
fn media_object(media: &Media) -> Value {
    let mut object = Map::new();
    match &media.source {
        MediaSource::ProviderId(id) => object.insert("id".into(), json!(id)),
        MediaSource::Link(link) => object.insert("link".into(), json!(link)),
    };
    if let (Some(caption), false) = (&media.caption, matches!(media.kind, MediaKind::Audio | MediaKind::Sticker)) {
        object.insert("caption".into(), json!(caption));
    }
    if let (MediaKind::Document, Some(name)) = (media.kind, &media.filename) {
        object.insert("filename".into(), json!(name));
    }
    Value::Object(object)
}

/// Reply buttons or a list menu.
fn interactive(choices: &Choices) -> Value {
    let mut object = Map::new();
    match &choices.list_button {
        Some(button) => {
            let sections: Vec<Value> = choices
                .sections
                .iter()
                .map(|section| {
                    let rows: Vec<Value> = section
                        .choices
                        .iter()
                        .map(|choice| {
                            let mut row = json!({"id": choice.id, "title": choice.title});
                            if let Some(description) = &choice.description {
                                row["description"] = json!(description);
                            }
                            row
                        })
                        .collect();
                    let mut object = json!({ "rows": rows });
                    if let Some(title) = &section.title {
                        object["title"] = json!(title);
                    }
                    object
                })
                .collect();
            object.insert("type".into(), json!("list"));
            object.insert("action".into(), json!({"button": button, "sections": sections}));
        }
        None => {
            let buttons: Vec<Value> = choices
                .all()
                .map(|choice| json!({"type": "reply", "reply": {"id": choice.id, "title": choice.title}}))
                .collect();
            object.insert("type".into(), json!("button"));
            object.insert("action".into(), json!({ "buttons": buttons }));
        }
    }
    object.insert("body".into(), json!({ "text": choices.text }));
    match &choices.header {
        Some(Header::Text(text)) => object.insert("header".into(), json!({"type": "text", "text": text})),
        Some(Header::Media(media)) => {
            let kind = media_type(media.kind);
            object.insert("header".into(), json!({"type": kind, kind: media_object(media)}))
        }
        None => None,
    };
    if let Some(footer) = &choices.footer {
        object.insert("footer".into(), json!({ "text": footer }));
    }
    Value::Object(object)
}

/// The `POST /{phone_number_id}/messages` body for a message to `recipient`, quoting the message
/// with the provider id `reply_to`; content WhatsApp does not take is a permanent failure.
pub fn message_body(recipient: &Recipient, content: &Content, reply_to: Option<&str>) -> Result<Value, Failure> {
    let mut body = Map::new();
    body.insert("messaging_product".into(), json!("whatsapp"));
    body.insert("recipient_type".into(), json!("individual"));
    match recipient {
        Recipient::Phone(digits) => body.insert("to".into(), json!(digits)),
        Recipient::UserId(id) => body.insert("recipient".into(), json!(id)),
    };
    if let Some(wamid) = reply_to {
        body.insert("context".into(), json!({ "message_id": wamid }));
    }
    let (kind, object) = match content {
        Content::Text(text) => ("text", json!({ "preview_url": false, "body": text })),
        Content::Media(media) => (media_type(media.kind), media_object(media)),
        Content::Location(location) => {
            let mut object = json!({"latitude": location.latitude, "longitude": location.longitude});
            if let Some(name) = &location.name {
                object["name"] = json!(name);
            }
            if let Some(address) = &location.address {
                object["address"] = json!(address);
            }
            ("location", object)
        }
        Content::Contacts(cards) => ("contacts", json!(cards)),
        Content::Choices(choices) => ("interactive", interactive(choices)),
        Content::Template(template) => {
            let mut object = json!({"name": template.name, "language": {"code": template.language}});
            if !template.components.is_empty() {
                object["components"] = json!(template.components);
            }
            ("template", object)
        }
        Content::Reaction { message_id, emoji } => ("reaction", json!({"message_id": message_id, "emoji": emoji})),
        Content::Native(native) => {
            // Meta's own message object: its type is the key that holds it.
            let kind = native.get("type").and_then(Value::as_str).map(str::to_owned);
            let key = kind.or_else(|| native.keys().find(|key| key.as_str() != "type").cloned());
            let Some(key) = key else {
                return Err(Failure::Permanent {
                    code: "content_unsupported".into(),
                    text: "an empty native message".into(),
                });
            };
            body.extend(native.clone());
            body.insert("type".into(), json!(key));
            return Ok(Value::Object(body));
        }
        Content::Cards(_) => {
            return Err(Failure::Permanent {
                code: "content_unsupported".into(),
                text: "WhatsApp does not take cards; send choices or a template".into(),
            })
        }
    };
    body.insert("type".into(), json!(kind));
    body.insert(kind.into(), object);
    Ok(Value::Object(body))
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
    fn text_body_matches_meta() {
        let to = Recipient::from_address("+121212121212");
        let body = message_body(&to, &Content::Text("hi".into()), None);
        assert_eq!(
            body,
            Ok(json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": "121212121212",
                "type": "text", "text": {"preview_url": false, "body": "hi"}}))
        );
    }
}
