//! Pure types and rules of the conversation model: no I/O, no HTTP, no SQL.

pub mod agents;
pub mod content;
pub mod inbound;
pub mod jobs;
pub mod jwt;
pub mod knowledge;
pub mod principal;
pub mod quick_replies;
pub mod reports;
pub mod sms;
pub mod surveys;
pub mod text;
pub mod time;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Declares a closed set of snake_case string values stored in the database and exposed in JSON.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and serialised.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses a stored or user-supplied value.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The accepted values joined for error messages.
            pub fn accepted() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub mod calls;

/// The `Idempotency-Key` a request came with, as services see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    /// The key.
    pub key: String,
    /// Set when an earlier request with this key, claimed at this time (Unix ms), never finished
    /// (its process stopped): what it may have stored is looked up by the key, not made again.
    pub unfinished_since: Option<i64>,
}

string_enum!(
    /// The messaging network a channel connects to.
    ChannelKind {
        Whatsapp => "whatsapp", Rcs => "rcs", Messenger => "messenger", Instagram => "instagram",
        Sms => "sms", Email => "email", Webchat => "webchat", Api => "api", Voice => "voice",
    }
);

string_enum!(
    /// What a contact's address on a network is: a phone number (E.164); a phone number or a
    /// WhatsApp business-scoped user id; an email address; or an id the network gives the
    /// person (a page-scoped id, an Instagram-scoped id…).
    AddressKind { Phone => "phone", PhoneOrUserId => "phone_or_user_id", Email => "email", Id => "id" }
);

impl AddressKind {
    /// Whether addresses of this kind are phone numbers (when they start with `+`), the key
    /// that joins one person's identities across phone channels.
    pub fn is_phone(self) -> bool {
        matches!(self, AddressKind::Phone | AddressKind::PhoneOrUserId)
    }

    /// Normalises an address: E.164 phone numbers, lower-case email, trimmed ids. The error says
    /// what is wrong.
    pub fn normalize(self, raw: &str) -> Result<String, String> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err("the address is required".to_owned());
        }
        match self {
            AddressKind::PhoneOrUserId if is_whatsapp_user_id(trimmed) => Ok(trimmed.to_owned()),
            AddressKind::PhoneOrUserId => normalize_e164(trimmed).ok_or_else(|| {
                format!("`{trimmed}` is neither a phone number in E.164 format (e.g. +393471234567) nor a WhatsApp user id (e.g. US.13491208655302741918)")
            }),
            AddressKind::Phone => normalize_e164(trimmed)
                .ok_or_else(|| format!("`{trimmed}` is not a phone number in E.164 format, e.g. +393471234567")),
            AddressKind::Email => text::is_email(trimmed)
                .then(|| trimmed.to_lowercase())
                .ok_or_else(|| format!("`{trimmed}` is not an email address")),
            AddressKind::Id if trimmed.len() > 256 => Err("the address must be at most 256 characters".to_owned()),
            AddressKind::Id => Ok(trimmed.to_owned()),
        }
    }
}

string_enum!(
    /// Where a conversation stands in its handling.
    ConversationStatus { Open => "open", Pending => "pending", Resolved => "resolved", Closed => "closed" }
);

string_enum!(
    /// Whether a message came from the customer or went to them.
    Direction { Inbound => "inbound", Outbound => "outbound" }
);

string_enum!(
    /// Who wrote a message.
    SenderType { Contact => "contact", Operator => "operator", VirtualAgent => "virtual_agent", System => "system" }
);

string_enum!(
    /// Who handles a conversation: a virtual agent answers it, or people do.
    Handler { VirtualAgent => "virtual_agent", Human => "human" }
);

string_enum!(
    /// Where an escalation to people stands (the CCAI Platform's codes): waiting for a person,
    /// with one, canceled, waiting for the customer to pick another channel, moved there.
    EscalationStatus {
        Escalating => "escalating", Escalated => "escalated", Canceled => "canceled",
        Deflecting => "deflecting", Deflected => "deflected",
    }
);

string_enum!(
    /// Why a conversation went to people (the CCAI Platform's reason codes).
    EscalationReason {
        Unknown => "unknown", ByEndUserAsk => "by_end_user_ask", ByEndUserMessage => "by_end_user_message",
        ByVirtualAgent => "by_virtual_agent", PayloadFailure => "payload_failure", CouldNotResume => "could_not_resume",
        ByHumanAgent => "by_human_agent", InvalidQueue => "invalid_queue", Dismissed => "dismissed",
    }
);

string_enum!(
    /// When a channel sends its satisfaction survey by itself.
    SurveySend { Off => "off", OnResolve => "on_resolve", OnClose => "on_close" }
);

string_enum!(
    /// Whether a virtual agent answers.
    AgentStatus { Active => "active", Paused => "paused" }
);

string_enum!(
    /// Whether an operator takes new conversations: online ones do, away and offline ones do not.
    Availability { Online => "online", Away => "away", Offline => "offline" }
);

string_enum!(
    /// The kind of content a message carries.
    MessageType {
        Text => "text", Image => "image", Video => "video", Audio => "audio", Document => "document",
        Sticker => "sticker", Location => "location", Contacts => "contacts", Interactive => "interactive",
        Template => "template", Reaction => "reaction", Order => "order", System => "system",
        Unsupported => "unsupported", Note => "note", Call => "call",
    }
);

string_enum!(
    /// Where a media file came from: uploaded or received, or made by an AI tool.
    MediaOrigin { Original => "original", AiGenerated => "ai_generated" }
);

string_enum!(
    /// Delivery state of an outbound message.
    MessageStatus {
        Scheduled => "scheduled", Queued => "queued", Sent => "sent", Delivered => "delivered", Read => "read",
        Failed => "failed",
    }
);

string_enum!(
    /// What an operator may do.
    OperatorRole { Admin => "admin", Agent => "agent" }
);

impl MessageStatus {
    /// Position on the delivery path; a status update never moves a message backwards.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Scheduled | MessageStatus::Queued => 0,
            MessageStatus::Sent => 1,
            MessageStatus::Delivered => 2,
            MessageStatus::Read => 3,
            MessageStatus::Failed => 4,
        }
    }

    /// Whether moving from `self` to `next` is progress (statuses only move forward; a failed
    /// message stays failed).
    pub fn can_advance_to(self, next: MessageStatus) -> bool {
        self != MessageStatus::Failed && next.rank() > self.rank()
    }
}

impl ConversationStatus {
    /// Whether a new inbound message may join a conversation in this status. Resolved
    /// conversations reopen when the customer writes again; closed ones stay closed and the
    /// message starts a new conversation.
    pub fn accepts_new_messages(self) -> bool {
        self != ConversationStatus::Closed
    }
}

/// Longest conversation preview kept, in characters.
const PREVIEW_CHARS: usize = 160;

/// The one-line preview shown in conversation lists for a message.
pub fn message_preview(kind: MessageType, text: Option<&str>) -> String {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => text.chars().take(PREVIEW_CHARS).collect(),
        None => format!("[{kind}]"),
    }
}

/// Normalises a phone number to E.164 (`+` and 8 to 15 digits), accepting common separators.
pub fn normalize_e164(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix("00") {
        Some(rest) => (true, rest),
        None => match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        },
    };
    if !plus {
        return None;
    }
    let mut digits = String::with_capacity(rest.len() + 1);
    digits.push('+');
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    let count = digits.len() - 1;
    ((8..=15).contains(&count) && !digits[1..].starts_with('0')).then_some(digits)
}

/// A phone number reduced to its digits for comparison, however it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PhoneDigits {
    /// With a country code (written with `+` or the `00` international prefix), without the prefix.
    International(String),
    /// Without a country code, as dialled within the country.
    National(String),
}

impl PhoneDigits {
    /// The digits of a phone number, ignoring every other character; `None` below 8 digits.
    pub fn of(raw: &str) -> Option<PhoneDigits> {
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let number = if raw.trim_start().starts_with('+') {
            PhoneDigits::International(digits)
        } else if let Some(rest) = digits.strip_prefix("00") {
            PhoneDigits::International(rest.to_owned())
        } else {
            PhoneDigits::National(digits)
        };
        (number.digits().len() >= 8).then_some(number)
    }

    fn digits(&self) -> &str {
        match self {
            PhoneDigits::International(d) | PhoneDigits::National(d) => d,
        }
    }
}

/// The national numbers an international one (its digits after the prefix) may also be written
/// as: what follows a country code of 1 to 3 digits, with or without a leading trunk `0`, when at
/// least 8 digits remain.
pub fn national_forms(international: &str) -> Vec<String> {
    (1..=3)
        .filter_map(|code| international.get(code..))
        .filter(|rest| rest.len() >= 8)
        .flat_map(|rest| [rest.to_owned(), format!("0{rest}")])
        .collect()
}

/// Whether `text` is a WhatsApp business-scoped user id (BSUID), the address WhatsApp gives users
/// who hide their phone number: a two-letter country code, a dot and an alphanumeric id, e.g.
/// `US.13491208655302741918`. Parent ids (`US.ENT.…`) name a business portfolio, not a user.
pub fn is_whatsapp_user_id(text: &str) -> bool {
    let Some((country, id)) = text.split_once('.') else { return false };
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(MessageStatus::Queued.can_advance_to(MessageStatus::Delivered));
        assert!(MessageStatus::Sent.can_advance_to(MessageStatus::Failed));
        assert!(!MessageStatus::Read.can_advance_to(MessageStatus::Delivered));
        assert!(!MessageStatus::Failed.can_advance_to(MessageStatus::Read));
        assert!(!MessageStatus::Sent.can_advance_to(MessageStatus::Sent));
    }

    #[test]
    fn phone_numbers_normalise_to_e164() {
        assert_eq!(normalize_e164("+39 347 123-4567").as_deref(), Some("+393471234567"));
        assert_eq!(normalize_e164("0039 3471234567").as_deref(), Some("+393471234567"));
        assert_eq!(normalize_e164("3471234567"), None);
        assert_eq!(normalize_e164("+12"), None);
        assert_eq!(normalize_e164("+39abc"), None);
        assert_eq!(normalize_e164("++393471234567"), None);
    }

    #[test]
    fn phone_digits_tell_international_from_national() {
        let international = Some(PhoneDigits::International("393331234567".to_owned()));
        assert_eq!(PhoneDigits::of("+39 333 123 4567"), international);
        assert_eq!(PhoneDigits::of("0039 333-1234567"), international);
        assert_eq!(PhoneDigits::of("333 1234567"), Some(PhoneDigits::National("3331234567".to_owned())));
        assert_eq!(PhoneDigits::of("+39 12"), None);
        assert!(national_forms("393331234567").contains(&"3331234567".to_owned()));
        let forms = national_forms("442079460000");
        assert!(forms.contains(&"02079460000".to_owned()) && forms.contains(&"2079460000".to_owned()));
        assert!(national_forms("3912345").is_empty());
    }

    #[test]
    fn whatsapp_user_ids_are_recognised() {
        assert!(is_whatsapp_user_id("US.13491208655302741918"));
        assert!(!is_whatsapp_user_id("US.ENT.11815799212886844830"), "a parent id is not a user");
        assert!(!is_whatsapp_user_id("+16505551234"));
        assert!(!is_whatsapp_user_id("us.123"));
        assert!(!is_whatsapp_user_id("US."));
    }

    #[test]
    fn previews_fall_back_to_the_type() {
        assert_eq!(message_preview(MessageType::Image, None), "[image]");
        assert_eq!(message_preview(MessageType::Text, Some("  hi ")), "hi");
        assert_eq!(message_preview(MessageType::Text, Some(&"x".repeat(500))).len(), 160);
    }
}
