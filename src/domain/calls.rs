//! Phone calls, recorded in a conversation as messages of type `call`: who called whom, when,
//! for how long, how it ended, its recording and transcript, and who took it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::Direction;

string_enum!(
    /// How a call ended: someone answered it, nobody did, or the caller left a message.
    CallOutcome { Answered => "answered", Missed => "missed", Voicemail => "voicemail" }
);

/// Payload key of a call message's [`Call`].
pub const CALL: &str = "call";

/// A call as its message's `payload.call` keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Call {
    /// `inbound`: the customer called the business; `outbound`: the business called them.
    pub direction: String,
    /// The calling number (E.164).
    pub from: String,
    /// The called number (E.164).
    pub to: String,
    /// When it started ringing (RFC 3339).
    pub started_at: String,
    /// How long the conversation lasted, in seconds (0 for a missed call).
    pub duration_seconds: u32,
    /// `answered`, `missed` or `voicemail`.
    pub outcome: String,
    /// What was said, when a transcript was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript: Option<String>,
    /// The operator who took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_name: Option<String>,
}

impl Call {
    /// The call a message's payload holds, if it holds one.
    pub fn of(payload: &Value) -> Option<Call> {
        serde_json::from_value(payload.get(CALL)?.clone()).ok()
    }

    /// One line saying what happened, as previews and channels without calls show it:
    /// "Missed call", "Voicemail (0:32)", "Outgoing call (2:05)".
    pub fn summary(&self) -> String {
        let length = format!("{}:{:02}", self.duration_seconds / 60, self.duration_seconds % 60);
        let outgoing = self.direction == Direction::Outbound.as_str();
        match CallOutcome::parse(&self.outcome) {
            Some(CallOutcome::Missed) if outgoing => "Unanswered call".to_owned(),
            Some(CallOutcome::Missed) => "Missed call".to_owned(),
            Some(CallOutcome::Voicemail) => format!("Voicemail ({length})"),
            _ if outgoing => format!("Outgoing call ({length})"),
            _ => format!("Incoming call ({length})"),
        }
    }
}

/// Applies a JSON merge patch (RFC 7386) to `target`: objects merge key by key, `null` removes a
/// key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in changes {
            match value {
                Value::Null => {
                    map.remove(key);
                }
                _ => merge_patch(map.entry(key.clone()).or_insert(Value::Null), value),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(direction: &str, outcome: &str, seconds: u32) -> Call {
        Call {
            direction: direction.to_owned(),
            from: "+393331234567".to_owned(),
            to: "+390212345678".to_owned(),
            started_at: "2026-11-27T09:00:00Z".to_owned(),
            duration_seconds: seconds,
            outcome: outcome.to_owned(),
            transcript: None,
            operator_id: None,
            operator_name: None,
        }
    }

    #[test]
    fn summaries_say_how_the_call_went() {
        assert_eq!(call("inbound", "missed", 0).summary(), "Missed call");
        assert_eq!(call("outbound", "missed", 0).summary(), "Unanswered call");
        assert_eq!(call("inbound", "voicemail", 32).summary(), "Voicemail (0:32)");
        assert_eq!(call("inbound", "answered", 125).summary(), "Incoming call (2:05)");
        assert_eq!(call("outbound", "answered", 61).summary(), "Outgoing call (1:01)");
    }

    #[test]
    fn merge_patches_merge_objects_and_remove_nulls() {
        let mut payload = json!({"call": {"outcome": "answered", "from": "+1"}, "media_status": "pending"});
        merge_patch(
            &mut payload,
            &json!({"call": {"outcome": "voicemail"}, "media_status": null, "media": {"url": "u"}}),
        );
        assert_eq!(payload, json!({"call": {"outcome": "voicemail", "from": "+1"}, "media": {"url": "u"}}));
    }
}
