//! Twilio Voice's callbacks: the call status callback (`CallSid`, `From`, `To`, `Direction`,
//! `CallStatus`, `CallDuration`, `Timestamp`…), sent for every call to or from the number; the
//! recording status callback (`RecordingSid`, `RecordingUrl`, `RecordingStatus`,
//! `RecordingDuration`, `RecordingSource`); and the transcription callback (`TranscriptionText`,
//! `TranscriptionStatus`). The last two name only the account and the call.

use chrono::DateTime;
use serde_json::{json, Map, Value};

use crate::channels::MEDIA;
use crate::domain::calls::{Call, CallOutcome, CALL};
use crate::domain::inbound::{Addition, InboundEvent, InboundMessage};
use crate::domain::time::to_rfc3339;
use crate::domain::{Direction, MessageType};

fn text<'a>(params: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    params.get(name).and_then(Value::as_str).map(str::trim).filter(|value| !value.is_empty())
}

/// Which way a call went, from Twilio's `Direction`: `inbound`, or `outbound-api` (placed by the
/// business). `outbound-dial` legs (an inbound call forwarded to a person) are part of the
/// inbound call and not calls of their own.
fn direction(params: &Map<String, Value>) -> Option<Direction> {
    match text(params, "Direction")? {
        "inbound" => Some(Direction::Inbound),
        "outbound-api" => Some(Direction::Outbound),
        _ => None,
    }
}

/// The business's number in a call status callback: `To` of a call it received, `From` of one it
/// placed; `None` for the callbacks that name no number.
pub fn business_number(params: &Map<String, Value>) -> Option<String> {
    text(params, "CallStatus")?;
    let name = match direction(params)? {
        Direction::Inbound => "To",
        Direction::Outbound => "From",
    };
    text(params, name).map(str::to_owned)
}

/// How a finished call ended by its `CallStatus`; `None` while it is still going on.
fn outcome(status: &str) -> Option<CallOutcome> {
    match status {
        "completed" => Some(CallOutcome::Answered),
        "no-answer" | "busy" | "failed" | "canceled" => Some(CallOutcome::Missed),
        _ => None,
    }
}

/// What a callback reports: a finished call, or its recording or transcript.
pub fn events(params: &Map<String, Value>) -> Vec<InboundEvent> {
    let Some(call_sid) = text(params, "CallSid") else { return Vec::new() };
    let addition =
        |patch: Value| vec![InboundEvent::Addition(Addition { provider_message_id: call_sid.to_owned(), patch })];
    if let Some(status) = text(params, "RecordingStatus") {
        let (Some(url), "completed") = (text(params, "RecordingUrl"), status) else { return Vec::new() };
        let seconds = text(params, "RecordingDuration").and_then(|s| s.parse::<u32>().ok()).unwrap_or(0);
        let mut patch = json!({
            // Twilio serves the recording as WAV at its URL, and as MP3 with this extension.
            MEDIA: { "url": format!("{url}.mp3"), "mime_type": "audio/mpeg" },
            "recording": { "sid": text(params, "RecordingSid"), "duration_seconds": seconds },
        });
        // A recording made by `<Record>` is a message the caller left.
        if text(params, "RecordingSource") == Some("RecordVerb") {
            patch[CALL] = json!({ "outcome": CallOutcome::Voicemail.as_str(), "duration_seconds": seconds });
        }
        return addition(patch);
    }
    if let Some(status) = text(params, "TranscriptionStatus") {
        return match (status, text(params, "TranscriptionText")) {
            ("completed", Some(transcript)) => addition(json!({ CALL: { "transcript": transcript } })),
            _ => Vec::new(),
        };
    }
    let (Some(direction), Some(outcome)) = (direction(params), text(params, "CallStatus").and_then(outcome)) else {
        return Vec::new();
    };
    let (Some(from), Some(to)) = (text(params, "From"), text(params, "To")) else { return Vec::new() };
    let seconds = match outcome {
        CallOutcome::Missed => 0,
        _ => text(params, "CallDuration").and_then(|s| s.parse::<u32>().ok()).unwrap_or(0),
    };
    // `Timestamp` is when the call ended (RFC 2822).
    let ended = text(params, "Timestamp").and_then(|t| DateTime::parse_from_rfc2822(t).ok());
    let started = ended.map(|at| at.timestamp_millis() - i64::from(seconds) * 1000);
    let call = Call {
        direction: direction.as_str().to_owned(),
        from: from.to_owned(),
        to: to.to_owned(),
        started_at: to_rfc3339(started.unwrap_or_else(crate::domain::time::now_ms)),
        duration_seconds: seconds,
        outcome: outcome.as_str().to_owned(),
        transcript: None,
        operator_id: None,
        operator_name: None,
    };
    let customer = match direction {
        Direction::Inbound => from,
        Direction::Outbound => to,
    };
    let mut message = InboundMessage::new(customer, MessageType::Call);
    message.direction = direction;
    message.text = Some(call.summary());
    message.provider_message_id = Some(call_sid.to_owned());
    message.sent_at = started;
    message.payload = json!({ CALL: call });
    vec![InboundEvent::Message(message)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Map<String, Value> {
        pairs.iter().map(|(k, v)| (k.to_string(), Value::from(*v))).collect()
    }

    #[test]
    fn a_missed_inbound_call_is_a_call_from_the_customer() {
        let status = params(&[
            ("CallSid", "CA1"),
            ("From", "+393331234567"),
            ("To", "+390212345678"),
            ("Direction", "inbound"),
            ("CallStatus", "no-answer"),
            ("Timestamp", "Fri, 27 Nov 2026 09:00:30 +0000"),
        ]);
        assert_eq!(business_number(&status).as_deref(), Some("+390212345678"));
        let Ok([InboundEvent::Message(message)]) = <[InboundEvent; 1]>::try_from(events(&status)) else {
            panic!("one message")
        };
        assert_eq!(message.from, "+393331234567");
        assert_eq!(message.text.as_deref(), Some("Missed call"));
        let call = Call::of(&message.payload).unwrap();
        assert_eq!((call.outcome.as_str(), call.duration_seconds), ("missed", 0));
        assert_eq!(call.started_at, "2026-11-27T09:00:30.000Z");
    }

    #[test]
    fn calls_still_ringing_and_forwarded_legs_are_not_calls() {
        let ringing = params(&[
            ("CallSid", "CA1"),
            ("From", "+1"),
            ("To", "+2"),
            ("Direction", "inbound"),
            ("CallStatus", "ringing"),
        ]);
        assert!(events(&ringing).is_empty());
        let leg = params(&[
            ("CallSid", "CA2"),
            ("From", "+1"),
            ("To", "+2"),
            ("Direction", "outbound-dial"),
            ("CallStatus", "completed"),
        ]);
        assert!(events(&leg).is_empty());
    }

    #[test]
    fn a_recorded_message_makes_the_call_a_voicemail() {
        let recording = params(&[
            ("CallSid", "CA1"),
            ("AccountSid", "AC1"),
            ("RecordingSid", "RE1"),
            ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"),
            ("RecordingStatus", "completed"),
            ("RecordingDuration", "32"),
            ("RecordingSource", "RecordVerb"),
        ]);
        assert_eq!(business_number(&recording), None);
        let Ok([InboundEvent::Addition(addition)]) = <[InboundEvent; 1]>::try_from(events(&recording)) else {
            panic!("one addition")
        };
        assert_eq!(addition.patch[CALL]["outcome"], "voicemail");
        assert_eq!(addition.patch[MEDIA]["url"], "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1.mp3");
    }
}
