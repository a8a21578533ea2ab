//! Twilio's form-encoded webhooks: incoming SMS and MMS (`MessageSid`, `From`, `To`, `Body`,
//! `NumMedia`, `MediaUrl{N}`, `MediaContentType{N}`…) and the status callbacks of messages
//! Parley sent (`MessageSid`, `MessageStatus`, `ErrorCode`). Twilio adds parameters without
//! notice: unknown ones are kept for the signature and otherwise ignored.

use serde_json::{json, Map, Value};

use crate::channels::MEDIA;
use crate::domain::inbound::{InboundEvent, InboundMessage, StatusUpdate};
use crate::domain::{MessageStatus, MessageType};

/// Most files Twilio attaches to one message.
const MAX_MEDIA: usize = 10;

/// The form parameters of a body, in order; `None` when it is not a form.
pub fn params(body: &[u8]) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).ok()
}

/// The parameters as one JSON object of strings (a repeated name keeps its last value).
pub fn object(params: &[(String, String)]) -> Value {
    Value::Object(params.iter().map(|(name, value)| (name.clone(), Value::from(value.as_str()))).collect())
}

/// Whether the parameters report the status of a message Parley sent (not a received message).
fn is_status(params: &Map<String, Value>) -> bool {
    text(params, "MessageStatus").is_some_and(|status| status != "received")
}

/// The provider key of the channel a request concerns: the Messaging Service when it names one,
/// else the business's number (`To` of a received message, `From` of a status callback).
pub fn channel_key(params: &Map<String, Value>) -> Option<String> {
    if let Some(service) = text(params, "MessagingServiceSid") {
        return Some(service.to_owned());
    }
    text(params, if is_status(params) { "From" } else { "To" }).map(str::to_owned)
}

fn text<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str).map(str::trim).filter(|value| !value.is_empty())
}

/// What a request reports: a status, or a received message (one per attached file beyond the
/// first, so that each file is its own message, the text going with the first).
pub fn events(body: &Value) -> Vec<InboundEvent> {
    let Some(params) = body.as_object() else { return Vec::new() };
    let Some(sid) = text(params, "MessageSid").or_else(|| text(params, "SmsSid")) else { return Vec::new() };
    if is_status(params) {
        return status(params, sid).map(InboundEvent::Status).into_iter().collect();
    }
    let Some(from) = text(params, "From") else { return Vec::new() };
    let body_text = params.get("Body").and_then(Value::as_str).filter(|body| !body.trim().is_empty());
    let count = text(params, "NumMedia").and_then(|n| n.parse::<usize>().ok()).unwrap_or(0).min(MAX_MEDIA);
    let files: Vec<(&str, &str)> = (0..count)
        .filter_map(|n| {
            let url = text(params, &format!("MediaUrl{n}"))?;
            Some((url, text(params, &format!("MediaContentType{n}")).unwrap_or("application/octet-stream")))
        })
        .collect();
    let mut messages = Vec::new();
    if files.is_empty() {
        let mut message = InboundMessage::new(from, MessageType::Text);
        message.text = body_text.map(str::to_owned);
        message.provider_message_id = Some(sid.to_owned());
        messages.push(message);
    }
    for (n, (url, content_type)) in files.into_iter().enumerate() {
        let mut message = InboundMessage::new(from, media_type(content_type));
        // The text goes with the first file; the others are known by the message and their place.
        message.text = body_text.filter(|_| n == 0).map(str::to_owned);
        message.provider_message_id = Some(if n == 0 { sid.to_owned() } else { format!("{sid}/{n}") });
        message.payload = json!({ MEDIA: { "url": url, "mime_type": content_type } });
        message.fetch_media = true;
        messages.push(message);
    }
    for message in &mut messages {
        if let Some(payload) = message.payload.as_object_mut() {
            let geo: Map<String, Value> = ["FromCity", "FromState", "FromCountry"]
                .into_iter()
                .filter_map(|name| text(params, name).map(|value| (name.to_owned(), Value::from(value))))
                .collect();
            if !geo.is_empty() {
                payload.insert("twilio".to_owned(), Value::Object(geo));
            }
        }
    }
    messages.into_iter().map(InboundEvent::Message).collect()
}

/// The message type of a file by its content type.
fn media_type(content_type: &str) -> MessageType {
    match content_type.split('/').next().unwrap_or_default() {
        "image" => MessageType::Image,
        "video" => MessageType::Video,
        "audio" => MessageType::Audio,
        _ => MessageType::Document,
    }
}

/// A status callback as a status update; statuses before `sent` change nothing.
fn status(params: &Map<String, Value>, sid: &str) -> Option<StatusUpdate> {
    let status = match text(params, "MessageStatus")? {
        "sent" => MessageStatus::Sent,
        "delivered" => MessageStatus::Delivered,
        "read" => MessageStatus::Read,
        "undelivered" | "failed" | "canceled" => MessageStatus::Failed,
        _ => return None,
    };
    let error = (status == MessageStatus::Failed).then(|| {
        let code = text(params, "ErrorCode").unwrap_or("unknown");
        let text = error_label(code)
            .map(str::to_owned)
            .or_else(|| text(params, "ErrorMessage").map(str::to_owned))
            .unwrap_or_else(|| format!("Twilio reported error {code}"));
        (code.to_owned(), text)
    });
    Some(StatusUpdate { provider_message_id: sid.to_owned(), status, error })
}

/// What a Twilio error code means, for the people reading a failed message.
pub fn error_label(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow: Twilio could not send it in time",
        "30002" => "The Twilio account is suspended",
        "30003" => "Unreachable handset: the phone is off or out of coverage",
        "30004" => "Blocked: the recipient or their carrier blocks these messages",
        "30005" => "Unknown handset: the number does not exist",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Filtered by the carrier as spam",
        "30008" => "Unknown delivery error",
        "30009" => "A part of the message is missing",
        "30010" => "The price exceeds the maximum price set",
        "30011" => "The carrier does not take MMS",
        "30012" => "The time to live is too short",
        "21610" => "The recipient replied STOP: they no longer take messages from this number",
        "21211" => "The number is not a valid phone number",
        "21408" => "Sending to this region is not enabled on the Twilio account",
        "21614" => "The number cannot receive SMS (not a mobile number)",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Vec<InboundEvent> {
        events(&object(&params(body.as_bytes()).unwrap()))
    }

    #[test]
    fn a_received_mms_is_a_message_per_file_with_the_text_on_the_first() {
        let body = "MessageSid=SM1&From=%2B393331234567&To=%2B15005550006&Body=Foto+del+pacco&NumMedia=2\
                    &MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm0&MediaContentType0=image%2Fjpeg\
                    &MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm1&MediaContentType1=video%2Fmp4&FromCity=ROMA";
        let parsed = parse(body);
        let [InboundEvent::Message(first), InboundEvent::Message(second)] = parsed.as_slice() else {
            panic!("{parsed:?}")
        };
        assert_eq!(
            (first.from.as_str(), first.kind, first.text.as_deref()),
            ("+393331234567", MessageType::Image, Some("Foto del pacco"))
        );
        assert_eq!(first.provider_message_id.as_deref(), Some("SM1"));
        assert_eq!(first.payload[MEDIA]["url"], "https://api.twilio.com/m0");
        assert_eq!(first.payload["twilio"]["FromCity"], "ROMA");
        assert!(first.fetch_media);
        assert_eq!((second.kind, second.text.as_deref()), (MessageType::Video, None));
        assert_eq!(second.provider_message_id.as_deref(), Some("SM1/1"));
    }

    #[test]
    fn status_callbacks_map_to_statuses_with_labels() {
        let parsed = parse("MessageSid=SM2&MessageStatus=undelivered&ErrorCode=30003&From=%2B15005550006&To=%2B39333");
        let [InboundEvent::Status(update)] = parsed.as_slice() else { panic!("{parsed:?}") };
        assert_eq!(update.status, MessageStatus::Failed);
        let (code, text) = update.error.clone().unwrap();
        assert_eq!(code, "30003");
        assert!(text.starts_with("Unreachable handset"), "{text}");
        assert!(parse("MessageSid=SM2&MessageStatus=queued&From=%2B1").is_empty());
        let parsed = parse("MessageSid=SM2&MessageStatus=delivered&From=%2B1");
        assert!(matches!(
            parsed.as_slice(),
            [InboundEvent::Status(StatusUpdate { status: MessageStatus::Delivered, error: None, .. })]
        ));
    }

    #[test]
    fn the_channel_is_the_service_or_the_business_number() {
        let key = |body: &str| channel_key(object(&params(body.as_bytes()).unwrap()).as_object().unwrap());
        assert_eq!(key("MessageSid=SM1&From=%2B39&To=%2B1500&SmsStatus=received").as_deref(), Some("+1500"));
        assert_eq!(key("MessageSid=SM1&MessageStatus=sent&From=%2B1500&To=%2B39").as_deref(), Some("+1500"));
        assert_eq!(key("MessageSid=SM1&MessagingServiceSid=MG9&From=%2B39&To=%2B1500").as_deref(), Some("MG9"));
    }
}
