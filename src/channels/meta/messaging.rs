//! The Messenger Platform, shared by Facebook Messenger and Instagram: webhook bodies
//! (`entry[].messaging[]`, `entry[].standby[]` and `entry[].changes[]` for comments) turned into
//! reports, Send API bodies from Parley's content, and the Graph API's errors sorted.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::channels::{CommentReply, Failure, Outbound, Target, MEDIA};
use crate::domain::content::{ButtonAction, Card, Content, MediaKind, MediaSource};
use crate::domain::inbound::{InboundEvent, InboundMessage, MessageEdit, Reference, StatusUpdate, Until, Watermark};
use crate::domain::{Direction, MessageStatus, MessageType};

/// The payload key of an inbound public comment (see `service::outbound::COMMENT`).
const COMMENT: &str = "comment";

/// What sets the two networks apart in webhook bodies.
#[derive(Debug, Clone, Copy)]
pub struct Dialect {
    /// The body's `object`: `page` or `instagram`.
    pub object: &'static str,
    /// The `changes[].field` values that carry comments on the business's posts.
    pub comment_fields: &'static [&'static str],
}

/// An id as Meta writes it: a string, or a number in older payloads.
pub fn id(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The ids of the pages or accounts a body's entries name; `None` when the body is not the
/// dialect's.
pub fn entry_ids(dialect: Dialect, body: &[u8]) -> Option<BTreeSet<String>> {
    let body: Value = serde_json::from_slice(body).ok()?;
    if body.get("object").and_then(Value::as_str) != Some(dialect.object) {
        return None;
    }
    let entries = body.get("entry")?.as_array()?;
    entries.iter().map(|entry| id(&entry["id"])).collect()
}

/// What a verified body reports, per page or account, in the body's order.
pub fn parse(dialect: Dialect, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
    let mut parsed = Vec::new();
    for entry in body["entry"].as_array().into_iter().flatten() {
        let Some(owner) = id(&entry["id"]) else { continue };
        let mut events = Vec::new();
        for (key, standby) in [("messaging", false), ("standby", true)] {
            for item in entry[key].as_array().into_iter().flatten() {
                events.extend(messaging_event(&owner, item, standby));
            }
        }
        for change in entry["changes"].as_array().into_iter().flatten() {
            let field = change["field"].as_str().unwrap_or_default();
            if dialect.comment_fields.contains(&field) {
                events.extend(comment(field, &change["value"], &entry["time"]).map(InboundEvent::Message));
            } else if field == "mentions" {
                // Only ids: the comment (or caption) that mentions the business is looked up later.
                events
                    .extend(id(&change["value"]["comment_id"]).map(|comment_id| InboundEvent::Mention { comment_id }));
            } else {
                tracing::debug!(field, "webhook change not kept");
            }
        }
        parsed.push((Target::Channel(owner), events));
    }
    parsed
}

/// One `messaging[]` (or `standby[]`) item.
fn messaging_event(owner: &str, item: &Value, standby: bool) -> Vec<InboundEvent> {
    let sender = id(&item["sender"]["id"]);
    let recipient = id(&item["recipient"]["id"]);
    // The customer is whichever side is not the page (echoes come from the page).
    let customer = match (&sender, &recipient) {
        (Some(sender), Some(recipient)) if sender == owner => Some(recipient.clone()),
        (Some(sender), _) => Some(sender.clone()),
        _ => None,
    };
    let Some(customer) = customer else {
        tracing::warn!(keys = ?item.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), "Messenger Platform event without a customer; skipped");
        return Vec::new();
    };
    let at = item["timestamp"].as_i64();
    let notice = |kind: &str, text: String, detail: Value, opens_window: bool| {
        let mut message = InboundMessage::new(customer.clone(), MessageType::System);
        message.text = Some(text);
        message.payload = json!({ kind: detail });
        message.provider_message_id = Some(format!("{kind}:{customer}:{}", at.unwrap_or_default()));
        message.sent_at = at;
        message.opens_window = opens_window;
        InboundEvent::Message(message)
    };
    if let Some(message) = item.get("message").filter(|m| m.is_object()) {
        return message_events(&customer, message, at, standby);
    }
    if let Some(edit) = item.get("message_edit").filter(|e| e.is_object()) {
        let Some(mid) = id(&edit["mid"]) else { return Vec::new() };
        return vec![InboundEvent::Edit(MessageEdit {
            provider_message_id: mid,
            direction: Direction::Inbound,
            text: edit["text"].as_str().map(str::to_owned),
            payload: Map::new(),
        })];
    }
    if let Some(reaction) = item.get("reaction").filter(|r| r.is_object()) {
        let Some(target) = id(&reaction["mid"]) else { return Vec::new() };
        let removed = reaction["action"].as_str() == Some("unreact");
        let emoji = reaction["emoji"].as_str().filter(|_| !removed);
        let mut message = InboundMessage::new(customer.clone(), MessageType::Reaction);
        message.payload = json!({"message_id": null, "provider_message_id": target, "emoji": emoji,
            "reaction": reaction["reaction"], "removed": removed});
        message.references = vec![Reference { provider_message_id: target.clone(), pointer: "/message_id" }];
        message.provider_message_id = Some(format!("reaction:{target}:{customer}:{}", at.unwrap_or_default()));
        message.sent_at = at;
        return vec![InboundEvent::Message(message)];
    }
    if let Some(postback) = item.get("postback").filter(|p| p.is_object()) {
        let mut message = InboundMessage::new(customer.clone(), MessageType::Interactive);
        message.text = postback["title"].as_str().or(postback["payload"].as_str()).map(str::to_owned);
        message.payload = json!({ "postback": postback });
        message.provider_message_id =
            id(&postback["mid"]).or_else(|| Some(format!("postback:{customer}:{}", at.unwrap_or_default())));
        message.sent_at = at;
        return vec![InboundEvent::Message(message)];
    }
    if let Some(referral) = item.get("referral").filter(|r| r.is_object()) {
        let text = format!("Arrived from {}", referral["source"].as_str().unwrap_or("a link").to_lowercase());
        return vec![notice("referral", text, referral.clone(), true)];
    }
    if let Some(optin) = item.get("optin").filter(|o| o.is_object()) {
        return vec![notice("optin", "Opted in to messages".to_owned(), optin.clone(), true)];
    }
    for (key, text) in [
        ("pass_thread_control", "The conversation was passed to this app"),
        ("take_thread_control", "Another app took the conversation"),
        ("request_thread_control", "Another app asks for the conversation"),
    ] {
        if let Some(detail) = item.get(key).filter(|d| d.is_object()) {
            return vec![notice("handover", text.to_owned(), json!({"action": key, "detail": detail}), false)];
        }
    }
    if let Some(delivery) = item.get("delivery").filter(|d| d.is_object()) {
        let mut events: Vec<InboundEvent> = delivery["mids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(id)
            .map(|mid| {
                InboundEvent::Status(StatusUpdate {
                    provider_message_id: mid,
                    status: MessageStatus::Delivered,
                    error: None,
                })
            })
            .collect();
        if let Some(watermark) = delivery["watermark"].as_i64() {
            events.push(InboundEvent::Watermark(Watermark {
                address: customer,
                status: MessageStatus::Delivered,
                until: Until::Time(watermark),
            }));
        }
        return events;
    }
    if let Some(read) = item.get("read").filter(|r| r.is_object()) {
        let until = match (read["watermark"].as_i64(), id(&read["mid"])) {
            (Some(watermark), _) => Until::Time(watermark),
            (None, Some(mid)) => Until::Message(mid),
            (None, None) => return Vec::new(),
        };
        return vec![InboundEvent::Watermark(Watermark { address: customer, status: MessageStatus::Read, until })];
    }
    tracing::debug!("Messenger Platform event not kept");
    Vec::new()
}

/// A `message` object: a customer message, an echo of one the page sent, or an unsend.
fn message_events(customer: &str, m: &Value, at: Option<i64>, standby: bool) -> Vec<InboundEvent> {
    let Some(mid) = id(&m["mid"]) else { return Vec::new() };
    let direction = if m["is_echo"] == Value::Bool(true) { Direction::Outbound } else { Direction::Inbound };
    if m["is_deleted"] == Value::Bool(true) {
        return vec![InboundEvent::Delete { provider_message_id: mid, direction }];
    }
    let base = |kind: MessageType, provider_id: String| {
        let mut message = InboundMessage::new(customer.to_owned(), kind);
        message.direction = direction;
        message.provider_message_id = Some(provider_id);
        message.sent_at = at;
        message
    };
    let mut common = Map::new();
    if standby {
        common.insert("standby".into(), true.into());
    }
    let mut references = Vec::new();
    if let Some(reply) = m.get("reply_to") {
        if let Some(quoted) = id(&reply["mid"]) {
            common.insert("context".into(), json!({"message_id": null, "provider_message_id": quoted}));
            references.push(Reference { provider_message_id: quoted, pointer: "/context/message_id" });
        }
        if let Some(story) = reply.get("story").filter(|s| s.is_object()) {
            // Stories expire: kept as a link, never downloaded.
            common.insert("story_reply".into(), story.clone());
        }
    }
    if let Some(quick_reply) = m.get("quick_reply") {
        common.insert("quick_reply".into(), quick_reply.clone());
    }
    if direction == Direction::Outbound {
        common.insert("sent_from".into(), json!({"app_id": m["app_id"], "metadata": m["metadata"]}));
    }
    let finish = |mut message: InboundMessage, mut payload: Map<String, Value>, references: Vec<Reference>| {
        for (key, value) in &common {
            payload.entry(key.clone()).or_insert_with(|| value.clone());
        }
        message.fetch_media = payload.contains_key(MEDIA);
        message.payload = Value::Object(payload);
        message.references = references;
        InboundEvent::Message(message)
    };
    let text = m["text"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
    if m["is_unsupported"] == Value::Bool(true) {
        let mut message = base(MessageType::Unsupported, mid);
        message.text = text;
        return vec![finish(message, Map::new(), references)];
    }
    let attachments: Vec<&Value> = m["attachments"].as_array().into_iter().flatten().collect();
    if attachments.is_empty() {
        let kind = if m.get("quick_reply").is_some() { MessageType::Interactive } else { MessageType::Text };
        let mut message = base(kind, mid);
        message.text = text;
        return vec![finish(message, Map::new(), references)];
    }
    let mut events = Vec::new();
    for (index, attachment) in attachments.into_iter().enumerate() {
        // One message per attachment; the first keeps the text and the provider's id.
        let provider_id = if index == 0 { mid.clone() } else { format!("{mid}#{}", index + 1) };
        let (kind, body, payload) = attachment_content(attachment, m.get("sticker_id"));
        let mut message = base(kind, provider_id);
        message.text = if index == 0 { text.clone().or(body) } else { body };
        events.push(finish(message, payload, if index == 0 { references.clone() } else { Vec::new() }));
    }
    events
}

/// An attachment's message type, text and payload.
fn attachment_content(
    attachment: &Value,
    sticker_id: Option<&Value>,
) -> (MessageType, Option<String>, Map<String, Value>) {
    let kind = attachment["type"].as_str().unwrap_or("unknown");
    let url = attachment["payload"]["url"].as_str();
    let mut payload = Map::new();
    let media_type = match kind {
        "image" if sticker_id.is_some_and(|id| !id.is_null()) => Some(MessageType::Sticker),
        "image" | "animated_image" => Some(MessageType::Image),
        "video" => Some(MessageType::Video),
        "audio" => Some(MessageType::Audio),
        "file" => Some(MessageType::Document),
        _ => None,
    };
    if let (Some(media_type), Some(url)) = (media_type, url) {
        payload.insert(MEDIA.into(), json!({"url": url, "type": kind}));
        return (media_type, None, payload);
    }
    match kind {
        "location" => {
            let coordinates = &attachment["payload"]["coordinates"];
            payload
                .insert("location".into(), json!({"latitude": coordinates["lat"], "longitude": coordinates["long"]}));
            (MessageType::Location, attachment["title"].as_str().map(str::to_owned), payload)
        }
        "fallback" => {
            payload.insert("fallback".into(), attachment.clone());
            let text =
                [attachment["title"].as_str(), attachment["url"].as_str()].into_iter().flatten().collect::<Vec<_>>();
            (MessageType::Text, Some(text.join(" ")).filter(|t| !t.is_empty()), payload)
        }
        // Stories and shared posts expire or belong to others: kept as links, never downloaded.
        "story_mention" => {
            payload.insert("story_mention".into(), attachment["payload"].clone());
            (MessageType::Text, Some("Mentioned you in their story".to_owned()), payload)
        }
        "share" | "ig_reel" | "reel" | "ig_post" => {
            payload.insert("share".into(), json!({"type": kind, "payload": attachment["payload"]}));
            (MessageType::Text, url.map(str::to_owned).or(Some(format!("Shared a {kind}"))), payload)
        }
        "template" => {
            payload.insert("attachment".into(), attachment.clone());
            (MessageType::Interactive, attachment["payload"]["text"].as_str().map(str::to_owned), payload)
        }
        _ => {
            payload.insert("attachment".into(), attachment.clone());
            (MessageType::Unsupported, None, payload)
        }
    }
}

/// A public comment on one of the business's posts (or a live broadcast).
fn comment(field: &str, value: &Value, entry_time: &Value) -> Option<InboundMessage> {
    // Facebook page feeds carry every kind of change: only new comments are messages.
    if field == "feed" && (value["item"].as_str() != Some("comment") || value["verb"].as_str() != Some("add")) {
        return None;
    }
    comment_message(field, value, entry_time)
}

/// A comment's message: from its author, opening no messaging window, the post named in the
/// payload.
fn comment_message(field: &str, value: &Value, entry_time: &Value) -> Option<InboundMessage> {
    let comment_id = id(&value["id"]).or_else(|| id(&value["comment_id"]))?;
    let author = id(&value["from"]["id"]).or_else(|| id(&value["sender_id"]));
    let Some(author) = author else {
        tracing::warn!(comment = %comment_id, "comment without its author; skipped");
        return None;
    };
    let mut message = InboundMessage::new(author, MessageType::Text);
    message.name = value["from"]["username"]
        .as_str()
        .or(value["from"]["name"].as_str())
        .or(value["sender_name"].as_str())
        .map(str::to_owned);
    message.text = value["text"].as_str().or(value["message"].as_str()).map(str::to_owned);
    message.provider_message_id = Some(comment_id.clone());
    message.opens_window = false;
    let time = value["created_time"].as_i64().or(entry_time.as_i64());
    // Comment times are seconds.
    message.sent_at = time.map(|t| if t < 100_000_000_000 { t * 1000 } else { t });
    let media_id = id(&value["media"]["id"]).or_else(|| id(&value["post_id"]));
    let mut comment = json!({
        "id": comment_id,
        "field": field,
        "post_id": media_id,
        "media_product_type": value["media"]["media_product_type"],
        "parent_id": id(&value["parent_id"]),
        "live": field == "live_comments",
    });
    // Post details, when the body has them (a comment looked up through the Graph API does).
    for (key, found) in [
        ("permalink", value["media"]["permalink"].as_str().or(value["permalink_url"].as_str())),
        ("caption", value["media"]["caption"].as_str()),
        ("media_url", value["media"]["media_url"].as_str()),
    ] {
        if let Some(found) = found {
            comment[key] = json!(found);
        }
    }
    message.payload = json!({ COMMENT: comment });
    Some(message)
}

/// A comment as the Graph API answers a lookup (`GET /{comment-id}?fields=…`), with its post.
pub fn looked_up_comment(field: &str, value: &Value) -> Option<InboundMessage> {
    let mut message = comment_message(field, value, &Value::Null)?;
    let at = value["timestamp"].as_str().or(value["created_time"].as_str());
    message.sent_at = at
        .and_then(|at| chrono::DateTime::parse_from_str(at, "%Y-%m-%dT%H:%M:%S%z").ok())
        .map(|at| at.timestamp_millis());
    Some(message)
}

/// The kinds of content the Send API takes.
pub const CONTENT: &[&str] = &["text", "media", "choices", "cards", "reaction", "native"];

/// The Send API requests for a message: usually one, two for a file with a caption (the caption
/// follows as text). Each is `(path under the Graph API, body)`; `messages_path` is the page's or
/// account's `…/messages`, `replies_path` makes the path of a public answer under a comment.
pub fn requests(
    message: &Outbound,
    recipient: &str,
    messages_path: &str,
    replies_path: fn(&str) -> String,
) -> Result<Vec<(String, Value)>, Failure> {
    let unsupported = |what: &str| Failure::Permanent {
        code: "content_unsupported".to_owned(),
        text: format!("the network does not take {what}"),
    };
    if let Some(CommentReply { comment_id, private: false }) = &message.comment {
        let Content::Text(text) = &message.content else { return Err(unsupported("files in public comment replies")) };
        return Ok(vec![(replies_path(comment_id), json!({ "message": text }))]);
    }
    let to = match &message.comment {
        Some(CommentReply { comment_id, .. }) => json!({ "comment_id": comment_id }),
        None => json!({ "id": recipient }),
    };
    let envelope = |body: Value| {
        let mut request = json!({"recipient": to, "message": body});
        if message.human_agent {
            request["messaging_type"] = json!("MESSAGE_TAG");
            request["tag"] = json!("HUMAN_AGENT");
        } else {
            request["messaging_type"] = json!("RESPONSE");
        }
        (messages_path.to_owned(), request)
    };
    Ok(match &message.content {
        Content::Text(text) => vec![envelope(json!({ "text": text }))],
        Content::Media(media) => {
            let kind = match media.kind {
                MediaKind::Image | MediaKind::Sticker => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "audio",
                MediaKind::Document => "file",
            };
            let payload = match &media.source {
                MediaSource::Link(url) => json!({"url": url, "is_reusable": true}),
                MediaSource::ProviderId(id) => json!({ "attachment_id": id }),
            };
            let mut requests = vec![envelope(json!({"attachment": {"type": kind, "payload": payload}}))];
            if let Some(caption) = media.caption.as_deref().filter(|c| !c.trim().is_empty()) {
                requests.push(envelope(json!({ "text": caption })));
            }
            requests
        }
        Content::Choices(choices) => {
            let replies: Vec<Value> = choices
                .all()
                .take(13)
                .map(|choice| json!({"content_type": "text", "title": choice.title, "payload": choice.id}))
                .collect();
            vec![envelope(json!({"text": choices.text, "quick_replies": replies}))]
        }
        Content::Cards(cards) if cards.items.iter().any(|card| card.buttons.len() > 3) => {
            return Err(unsupported("more than 3 buttons on a card"))
        }
        Content::Cards(cards) => vec![envelope(
            generic_template(&cards.items)
                .ok_or_else(|| unsupported("card buttons that dial, show places or add events"))?,
        )],
        Content::Reaction { message_id, emoji } => {
            let action = if emoji.is_empty() { "unreact" } else { "react" };
            let body = json!({"recipient": {"id": recipient}, "sender_action": action,
                "payload": {"message_id": message_id, "reaction": if emoji.is_empty() { "other" } else { emoji.as_str() }}});
            vec![(messages_path.to_owned(), body)]
        }
        Content::Native(native) => vec![envelope(Value::Object(native.clone()))],
        Content::Location(_) => return Err(unsupported("locations")),
        Content::Contacts(_) => return Err(unsupported("contact cards")),
        Content::Template(_) => return Err(unsupported("message templates")),
    })
}

/// Cards as a generic template; `None` when a button does more than a postback or a link.
fn generic_template(cards: &[Card]) -> Option<Value> {
    let elements: Vec<Value> = cards
        .iter()
        .map(|card| {
            let buttons: Vec<Value> = card
                .buttons
                .iter()
                .map(|button| match &button.action {
                    ButtonAction::Postback(payload) => {
                        Some(json!({"type": "postback", "title": button.title, "payload": payload}))
                    }
                    ButtonAction::Url(url) => Some(json!({"type": "web_url", "title": button.title, "url": url})),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            let mut element = json!({ "title": card.title });
            if let Some(subtitle) = &card.subtitle {
                element["subtitle"] = json!(subtitle);
            }
            if let Some(image) = &card.image_url {
                element["image_url"] = json!(image);
            }
            if !buttons.is_empty() {
                element["buttons"] = json!(buttons);
            }
            Some(element)
        })
        .collect::<Option<_>>()?;
    Some(json!({"attachment": {"type": "template", "payload": {"template_type": "generic", "elements": elements}}}))
}

/// The id a Send API answer gives the message (a public comment reply answers `id`; reactions
/// answer none, so theirs is made from the message reacted to).
pub fn sent_id(answer: &Value, content: &Content) -> Option<String> {
    id(&answer["message_id"]).or_else(|| id(&answer["id"])).or_else(|| match content {
        Content::Reaction { message_id, .. } => Some(format!("reaction:{message_id}")),
        _ => None,
    })
}

/// Sorts a Graph API error answer of the Messenger Platform: outside the messaging window →
/// `reply_window_expired`; the person cannot be reached → `undeliverable`; an expired or revoked
/// token → `token_invalid`; throttling (4, 32, 613, 80006) and 5xx → retried; others fail with
/// Meta's code.
pub fn classify(status: u16, body: &Value) -> Failure {
    let error = &body["error"];
    let code = error["code"].as_i64();
    let subcode = error["error_subcode"].as_i64();
    let text = error["message"].as_str().map_or_else(|| format!("the Graph API answered {status}"), str::to_owned);
    let permanent = |code: &str| Failure::Permanent { code: code.to_owned(), text: text.clone() };
    match (code, subcode) {
        (Some(10), Some(2018278)) | (_, Some(2534022)) => permanent("reply_window_expired"),
        (Some(551), _) | (_, Some(1545041 | 2018001 | 2018108)) => permanent("undeliverable"),
        (Some(190), _) => permanent("token_invalid"),
        (Some(4 | 32 | 613 | 80006), _) => Failure::Transient(format!("throttled by Meta: {text}")),
        _ if status >= 500 || status == 429 => Failure::Transient(text),
        (Some(code), _) => permanent(&code.to_string()),
        (None, _) => permanent(&format!("http_{status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Dialect = Dialect { object: "page", comment_fields: &["feed"] };

    #[test]
    fn ids_are_read_as_strings_or_numbers() {
        assert_eq!(id(&json!(12345654332_i64)).as_deref(), Some("12345654332"));
        assert_eq!(id(&json!("PAGE_ID")).as_deref(), Some("PAGE_ID"));
        assert_eq!(id(&json!("")), None);
        let body = br#"{"object": "page", "entry": [{"id": 1}, {"id": "2"}]}"#;
        assert_eq!(entry_ids(PAGE, body), Some(BTreeSet::from(["1".to_owned(), "2".to_owned()])));
        assert_eq!(entry_ids(PAGE, br#"{"object": "instagram", "entry": []}"#), None);
    }

    #[test]
    fn send_errors_map_to_outcomes() {
        let error =
            |code: i64, subcode: i64| json!({"error": {"message": "no", "code": code, "error_subcode": subcode}});
        assert!(
            matches!(classify(400, &error(10, 2018278)), Failure::Permanent { code, .. } if code == "reply_window_expired")
        );
        assert!(
            matches!(classify(400, &error(551, 1545041)), Failure::Permanent { code, .. } if code == "undeliverable")
        );
        assert!(matches!(classify(400, &error(613, 0)), Failure::Transient(_)));
        assert!(matches!(classify(500, &error(2, 0)), Failure::Transient(_)));
        assert!(matches!(classify(400, &error(100, 0)), Failure::Permanent { code, .. } if code == "100"));
    }
}
