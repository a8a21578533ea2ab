//! The WhatsApp Cloud API webhook body (`object: whatsapp_business_account`): which business
//! phone numbers it concerns, and its messages, message echoes and statuses as Parley's
//! ingestion events.
//!
//! Field `messages` carries `value.messages[]` (customer messages, including edits and revokes)
//! and `value.statuses[]` (delivery of the business's messages); field `smb_message_echoes`
//! carries `value.message_echoes[]`, messages the business sent from the WhatsApp Business app.
//! Other fields (account, template and quality updates, user id changes, marketing preferences)
//! are not mapped yet.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::channels::MEDIA;
use crate::domain::inbound::{InboundEvent, InboundMessage, MessageEdit, Reference, StatusUpdate, TemplateStatus};
use crate::domain::{is_whatsapp_user_id, Direction, MessageStatus, MessageType};

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    #[serde(default)]
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    phone_number_id: Option<Value>,
}

/// The business phone number ids a body names (`entry[].changes[].value.metadata.phone_number_id`),
/// read without interpreting anything else, so the signature can be checked against their
/// channels first. `None` when the body is not a webhook envelope.
pub fn phone_number_ids(body: &[u8]) -> Option<BTreeSet<String>> {
    let envelope: Envelope = serde_json::from_slice(body).ok()?;
    let ids = envelope
        .entry
        .iter()
        .flat_map(|entry| &entry.changes)
        .filter_map(|change| change.value.as_ref()?.metadata.as_ref()?.phone_number_id.as_ref())
        .filter_map(id_text)
        .collect();
    Some(ids)
}

/// The `message_template_status_update` changes of a (verified) body: the business account id
/// (the entry's id) and the template's new status. Changes without a status, name or language
/// are left out.
pub fn template_status_updates(body: &Value) -> Vec<(String, TemplateStatus)> {
    list(body, "entry")
        .iter()
        .flat_map(|entry| {
            let waba_id = entry.get("id").and_then(id_text);
            list(entry, "changes").iter().filter_map(move |change| {
                if text(change, "field") != Some("message_template_status_update") {
                    return None;
                }
                let value = &change["value"];
                let update = TemplateStatus {
                    provider_template_id: id_text(&value["message_template_id"]),
                    name: text(value, "message_template_name")?.to_owned(),
                    language: text(value, "message_template_language")?.to_owned(),
                    status: text(value, "event")?.to_owned(),
                    reason: text(value, "reason").filter(|reason| *reason != "NONE").map(str::to_owned),
                };
                Some((waba_id.clone()?, update))
            })
        })
        .collect()
}

/// The events a (verified) body reports, grouped by business phone number id in order of first
/// appearance, each group in the body's order. Parts that cannot be mapped are left out.
pub fn events(body: &Value) -> Vec<(String, Vec<InboundEvent>)> {
    let mut groups: Vec<(String, Vec<InboundEvent>)> = Vec::new();
    for change in list(body, "entry").iter().flat_map(|entry| list(entry, "changes")) {
        let value = &change["value"];
        let Some(phone_number_id) = value["metadata"].get("phone_number_id").and_then(id_text) else { continue };
        let events = change_events(text(change, "field").unwrap_or_default(), value);
        match groups.iter_mut().find(|(id, _)| *id == phone_number_id) {
            Some((_, group)) => group.extend(events),
            None => groups.push((phone_number_id, events)),
        }
    }
    groups
}

fn change_events(field: &str, value: &Value) -> Vec<InboundEvent> {
    let contacts = list(value, "contacts");
    match field {
        "messages" => {
            let value_errors = value.get("errors");
            let messages = list(value, "messages")
                .iter()
                .filter_map(|m| message_event(m, contacts, Direction::Inbound, value_errors));
            messages.chain(list(value, "statuses").iter().filter_map(status_event)).collect()
        }
        "smb_message_echoes" => list(value, "message_echoes")
            .iter()
            .filter_map(|m| message_event(m, contacts, Direction::Outbound, None))
            .collect(),
        other => {
            tracing::debug!(field = other, "WhatsApp webhook field not handled yet; acknowledged");
            Vec::new()
        }
    }
}

/// One message (or echo) as an event: an edit, a deletion, or a new message.
fn message_event(
    m: &Value,
    contacts: &[Value],
    direction: Direction,
    value_errors: Option<&Value>,
) -> Option<InboundEvent> {
    match text(m, "type") {
        Some("edit") => {
            let edit = &m["edit"];
            let content = content(&edit["message"], None);
            Some(InboundEvent::Edit(MessageEdit {
                provider_message_id: text(edit, "original_message_id")?.to_owned(),
                direction,
                text: content.text,
                payload: content.payload,
            }))
        }
        Some("revoke") => Some(InboundEvent::Delete {
            provider_message_id: text(&m["revoke"], "original_message_id")?.to_owned(),
            direction,
        }),
        _ => new_message(m, contacts, direction, value_errors).map(InboundEvent::Message),
    }
}

fn new_message(
    m: &Value,
    contacts: &[Value],
    direction: Direction,
    value_errors: Option<&Value>,
) -> Option<InboundMessage> {
    let Some((address, aliases, name)) = counterpart(m, contacts, direction) else {
        tracing::warn!(
            id = text(m, "id").unwrap_or_default(),
            "WhatsApp message without a usable user address; skipped"
        );
        return None;
    };
    let Content { kind, text: body, mut payload, mut references } = content(m, value_errors);
    if let Some(context) = m.get("context").and_then(Value::as_object) {
        let mut kept = Map::new();
        if let Some(id) = context.get("id").and_then(Value::as_str) {
            kept.insert("message_id".to_owned(), Value::Null);
            kept.insert("provider_message_id".to_owned(), id.into());
            references.push(Reference { provider_message_id: id.to_owned(), pointer: "/context/message_id" });
        }
        for key in ["from", "forwarded", "frequently_forwarded"] {
            if let Some(value) = context.get(key) {
                kept.insert(key.to_owned(), value.clone());
            }
        }
        payload.insert("context".to_owned(), Value::Object(kept));
    }
    for key in ["referral", "errors", "identity", "group_id", "origin"] {
        if let Some(value) = m.get(key) {
            payload.insert(key.to_owned(), value.clone());
        }
    }
    if direction == Direction::Outbound {
        payload.insert("sent_from".to_owned(), "whatsapp_business_app".into());
    }
    let mut message = InboundMessage::new(address, kind);
    message.aliases = aliases;
    message.name = name;
    message.direction = direction;
    message.text = body;
    message.provider_message_id = text(m, "id").map(str::to_owned);
    message.fetch_media = payload.contains_key(MEDIA);
    message.payload = Value::Object(payload);
    message.references = references;
    message.sent_at = timestamp_ms(&m["timestamp"]);
    Some(message)
}

/// The user's address (E.164 phone, else user id), their other address and profile name: the
/// sender of an inbound message, the recipient of an echo.
fn counterpart(m: &Value, contacts: &[Value], direction: Direction) -> Option<(String, Vec<String>, Option<String>)> {
    let (phone_key, user_key) = match direction {
        Direction::Inbound => ("from", "from_user_id"),
        Direction::Outbound => ("to", "to_user_id"),
    };
    let wa_id = text(m, phone_key).filter(|id| is_wa_id(id));
    let user_id = text(m, user_key).or_else(|| text(&m["system"], "user_id")).filter(|id| is_whatsapp_user_id(id));
    let contact = contacts
        .iter()
        .find(|c| {
            (wa_id.is_some() && text(c, "wa_id") == wa_id) || (user_id.is_some() && text(c, "user_id") == user_id)
        })
        .or(match contacts {
            [only] if text(m, phone_key).is_none() && text(m, user_key).is_none() => Some(only),
            _ => None,
        });
    let wa_id = wa_id.or_else(|| contact.and_then(|c| text(c, "wa_id")).filter(|id| is_wa_id(id)));
    let user_id = user_id.or_else(|| contact.and_then(|c| text(c, "user_id")).filter(|id| is_whatsapp_user_id(id)));
    let name = contact.and_then(|c| text(&c["profile"], "name")).map(str::to_owned);
    match (wa_id, user_id) {
        (Some(phone), user_id) => Some((format!("+{phone}"), user_id.map(str::to_owned).into_iter().collect(), name)),
        (None, Some(user_id)) => Some((user_id.to_owned(), Vec::new(), name)),
        (None, None) => None,
    }
}

/// A message's content: its Parley type, text and payload.
struct Content {
    kind: MessageType,
    text: Option<String>,
    payload: Map<String, Value>,
    references: Vec<Reference>,
}

/// Maps the typed part of a message (`type` and the object of that name). Types Parley does not
/// know, and known ones missing their object, become `unsupported` with WhatsApp's type and
/// errors kept (`value_errors` when the message has none of its own).
fn content(m: &Value, value_errors: Option<&Value>) -> Content {
    let type_name = text(m, "type").unwrap_or("unknown");
    let object = m.get(type_name).filter(|o| o.is_object());
    let mut payload = Map::new();
    let mut references = Vec::new();
    let owned = |key: &str| object.and_then(|o| text(o, key)).filter(|t| !t.is_empty()).map(str::to_owned);
    let mut keep = |key: &str| {
        if let Some(object) = object {
            payload.insert(key.to_owned(), object.clone());
        }
    };
    let (kind, body) = match (type_name, object) {
        ("text", Some(_)) if owned("body").is_some() => (MessageType::Text, owned("body")),
        ("image" | "video" | "audio" | "document" | "sticker", Some(_)) => {
            keep(MEDIA);
            (MessageType::parse(type_name).unwrap_or(MessageType::Document), owned("caption"))
        }
        ("location", Some(_)) => {
            keep("location");
            (MessageType::Location, None)
        }
        ("order", Some(_)) => {
            keep("order");
            (MessageType::Order, owned("text"))
        }
        ("system", Some(_)) => {
            keep("system");
            (MessageType::System, owned("body"))
        }
        ("button", Some(_)) => {
            // A quick-reply button of a template message.
            keep("button");
            (MessageType::Interactive, owned("text"))
        }
        ("interactive", Some(o)) => {
            keep("interactive");
            let reply = text(o, "type").map(|t| &o[t]).unwrap_or(&Value::Null);
            if let Some(response) = text(reply, "response_json").and_then(|r| serde_json::from_str::<Value>(r).ok()) {
                payload.insert("flow_response".to_owned(), response);
            }
            (MessageType::Interactive, text(reply, "title").or_else(|| text(reply, "body")).map(str::to_owned))
        }
        ("reaction", Some(o)) => {
            let emoji = text(o, "emoji").filter(|e| !e.is_empty());
            let target = text(o, "message_id").unwrap_or_default();
            payload.insert("message_id".to_owned(), Value::Null);
            payload.insert("provider_message_id".to_owned(), target.into());
            payload.insert("emoji".to_owned(), emoji.map_or(Value::Null, Value::from));
            payload.insert("removed".to_owned(), emoji.is_none().into());
            references.push(Reference { provider_message_id: target.to_owned(), pointer: "/message_id" });
            (MessageType::Reaction, None)
        }
        ("contacts", _) if m["contacts"].is_array() => {
            payload.insert("contacts".to_owned(), m["contacts"].clone());
            (MessageType::Contacts, None)
        }
        _ => {
            payload.insert("whatsapp_type".to_owned(), type_name.into());
            if let Some(object) = m.get(type_name).filter(|o| !o.is_null()) {
                payload.insert(type_name.to_owned(), object.clone());
            }
            if let Some(errors) = m.get("errors").or(value_errors) {
                payload.insert("errors".to_owned(), errors.clone());
            }
            (MessageType::Unsupported, None)
        }
    };
    Content { kind, text: body, payload, references }
}

/// A status report as an event; statuses Parley does not track are left out. `played` (a voice
/// message was listened to) counts as read.
fn status_event(s: &Value) -> Option<InboundEvent> {
    let status = match text(s, "status")? {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" | "played" => MessageStatus::Read,
        "failed" => MessageStatus::Failed,
        other => {
            tracing::debug!(status = other, "WhatsApp status not tracked; ignored");
            return None;
        }
    };
    let error = list(s, "errors").first().map(|e| {
        let code = e.get("code").and_then(id_text).unwrap_or_else(|| "unknown".to_owned());
        let summary = text(e, "message").or_else(|| text(e, "title")).unwrap_or("failed");
        let details = text(&e["error_data"], "details").or_else(|| text(e, "details"));
        let description = match details {
            Some(details) if details != summary => format!("{summary}: {details}"),
            _ => summary.to_owned(),
        };
        (code, description)
    });
    Some(InboundEvent::Status(StatusUpdate { provider_message_id: text(s, "id")?.to_owned(), status, error }))
}

fn list<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn text<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// An id given as a string or a number.
/// An id given as a string or a number, as text.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// A WhatsApp id of a phone number: its digits, without `+`.
fn is_wa_id(text: &str) -> bool {
    (8..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// A Unix time in seconds (string or number) as milliseconds.
fn timestamp_ms(value: &Value) -> Option<i64> {
    let seconds = match value {
        Value::String(text) => text.parse::<i64>().ok()?,
        other => other.as_i64()?,
    };
    seconds.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn only_message(body: Value) -> InboundMessage {
        let mut groups = events(&body);
        assert_eq!(groups.len(), 1);
        match groups.remove(0).1.remove(0) {
            InboundEvent::Message(message) => message,
            other => panic!("not a message: {other:?}"),
        }
    }

    fn envelope(field: &str, value: Value) -> Value {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}]})
    }

    #[test]
    fn phone_number_ids_are_read_without_the_rest() {
        let body = json!({"entry": [
            {"changes": [{"value": {"metadata": {"phone_number_id": "1"}, "messages": "anything"}}]},
            {"changes": [{"value": {"metadata": {"phone_number_id": 2}}}, {"field": "account_update", "value": {"event": "X"}}]},
        ]});
        let ids = phone_number_ids(body.to_string().as_bytes()).unwrap();
        assert_eq!(ids.into_iter().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(phone_number_ids(b"not json"), None);
    }

    #[test]
    fn a_user_without_a_phone_number_is_addressed_by_user_id() {
        let message = only_message(envelope(
            "messages",
            json!({"metadata": {"phone_number_id": "1"},
                   "contacts": [{"profile": {"name": "Sheena"}, "user_id": "US.13491208655302741918"}],
                   "messages": [{"from_user_id": "US.13491208655302741918", "id": "wamid.A", "timestamp": "1749416383",
                                 "type": "text", "text": {"body": "Hi"}}]}),
        ));
        assert_eq!(message.from, "US.13491208655302741918");
        assert!(message.aliases.is_empty());
        assert_eq!(message.name.as_deref(), Some("Sheena"));
        assert_eq!(message.sent_at, Some(1_749_416_383_000));
    }

    #[test]
    fn a_phone_number_comes_first_and_the_user_id_is_an_alias() {
        let message = only_message(envelope(
            "messages",
            json!({"metadata": {"phone_number_id": "1"},
                   "contacts": [{"profile": {"name": "Ann"}, "wa_id": "16505551234", "user_id": "US.1"}],
                   "messages": [{"from": "16505551234", "id": "wamid.B", "timestamp": 1, "type": "reaction",
                                 "reaction": {"message_id": "wamid.A", "emoji": ""}}]}),
        ));
        assert_eq!((message.from.as_str(), message.aliases.as_slice()), ("+16505551234", &["US.1".to_owned()][..]));
        assert_eq!(message.kind, MessageType::Reaction);
        assert_eq!(
            message.payload,
            json!({"message_id": null, "provider_message_id": "wamid.A", "emoji": null, "removed": true})
        );
        assert_eq!(message.references[0].pointer, "/message_id");
    }

    #[test]
    fn failed_statuses_carry_the_error() {
        let body = envelope(
            "messages",
            json!({"metadata": {"phone_number_id": "1"}, "statuses": [{"id": "wamid.C", "status": "failed",
                "errors": [{"code": 131026, "title": "Receiver is incapable", "message": "Receiver is incapable",
                            "error_data": {"details": "Message Undeliverable."}}]}, {"id": "wamid.C", "status": "deleted"}]}),
        );
        let groups = events(&body);
        assert_eq!(groups[0].1.len(), 1, "unknown statuses are left out");
        let InboundEvent::Status(update) = &groups[0].1[0] else { panic!("not a status") };
        assert_eq!(update.status, MessageStatus::Failed);
        assert_eq!(
            update.error,
            Some(("131026".to_owned(), "Receiver is incapable: Message Undeliverable.".to_owned()))
        );
    }
}
