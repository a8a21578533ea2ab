//! What a channel reports, as every adapter hands it to ingestion: customer messages, messages the
//! business sent elsewhere, edits and deletions by a message's sender, delivery statuses.

use serde_json::{Map, Value};

use crate::domain::{Direction, MessageStatus, MessageType, RequestKey};

/// A message as a channel delivered it: from the customer, or one the business sent outside
/// Parley (e.g. from the WhatsApp Business app) that the channel reports back.
#[derive(Debug, Clone)]
pub struct InboundMessage {
    /// The contact's address on the channel (phone, WhatsApp user id, PSID, email…): the sender
    /// of an inbound message, the recipient of an outbound one.
    pub from: String,
    /// Other addresses of the same contact on the channel (e.g. the WhatsApp user id next to the
    /// phone number): linked to the contact too. Invalid ones are dropped.
    pub aliases: Vec<String>,
    /// The contact's profile name, when the channel gives one.
    pub name: Option<String>,
    /// Inbound from the contact; outbound for a message the business sent outside Parley, stored
    /// as sent.
    pub direction: Direction,
    pub kind: MessageType,
    pub text: Option<String>,
    /// The provider's id for the message, used to drop repeats.
    pub provider_message_id: Option<String>,
    pub media_keys: Vec<String>,
    /// Structured content (location, buttons…).
    pub payload: Value,
    /// Messages this one refers to by provider id (a reaction's target, a quoted reply).
    pub references: Vec<Reference>,
    /// When it was sent (Unix ms); receipt time when unknown.
    pub sent_at: Option<i64>,
    /// The provider's media object in the payload is to be fetched after ingestion: a job is
    /// queued in the same transaction (never for simulation channels).
    pub fetch_media: bool,
    /// The `Idempotency-Key` of the API request that delivered it.
    pub request_key: Option<RequestKey>,
    /// A customer message opens (or moves) the reply window; a public comment or a notice of the
    /// network (a referral, a handover) does not.
    pub opens_window: bool,
    /// On networks whose messages carry their thread: the provider ids of the messages it
    /// answers, nearest first. It joins the conversation of the newest one Parley knows, else it
    /// starts a new conversation (never the contact's other open one).
    pub thread: Option<Vec<String>>,
    /// The subject a conversation it starts takes.
    pub subject: Option<String>,
    /// A machine sent it (an auto-reply, a bounce, a mailing list): it is stored read, never
    /// answered by a virtual agent, and never reopens a conversation.
    pub automated: bool,
}

impl InboundMessage {
    /// A message from the contact at `from`, with no content yet.
    pub fn new(from: impl Into<String>, kind: MessageType) -> InboundMessage {
        InboundMessage {
            from: from.into(),
            aliases: Vec::new(),
            name: None,
            direction: Direction::Inbound,
            kind,
            text: None,
            provider_message_id: None,
            media_keys: Vec::new(),
            payload: Value::Object(Map::new()),
            references: Vec::new(),
            sent_at: None,
            fetch_media: false,
            request_key: None,
            opens_window: true,
            thread: None,
            subject: None,
            automated: false,
        }
    }
}

/// A message referred to by its provider id. Ingestion writes Parley's id for it (`null` when
/// Parley does not know it) at `pointer`, a JSON pointer into the payload that must exist.
#[derive(Debug, Clone)]
pub struct Reference {
    pub provider_message_id: String,
    pub pointer: &'static str,
}

/// Its sender changed a message's content.
#[derive(Debug, Clone)]
pub struct MessageEdit {
    /// The provider's id of the edited message.
    pub provider_message_id: String,
    /// Who sent (and edited) it: only a message in that direction is changed.
    pub direction: Direction,
    /// The new text (caption for media).
    pub text: Option<String>,
    /// Payload keys replacing the stored ones.
    pub payload: Map<String, Value>,
}

/// More about a message, merged into its payload as a JSON merge patch (RFC 7386); a `media`
/// object it brings is fetched into the media store. One for a message not stored yet waits (a
/// day) for it.
#[derive(Debug, Clone)]
pub struct Addition {
    /// The provider's id of the message.
    pub provider_message_id: String,
    pub patch: Value,
}

/// A provider's delivery report for an outbound message.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    /// The provider's id of the message.
    pub provider_message_id: String,
    pub status: MessageStatus,
    /// Provider error code and text, for failures.
    pub error: Option<(String, String)>,
}

/// One report from a channel.
#[derive(Debug, Clone)]
pub enum InboundEvent {
    /// A new message, stored once per provider message id.
    Message(InboundMessage),
    /// Its sender edited a message; unknown messages are ignored.
    Edit(MessageEdit),
    /// Its sender deleted a message for everyone; unknown messages are ignored.
    Delete {
        /// The provider's id of the deleted message.
        provider_message_id: String,
        /// Who sent (and deleted) it: only a message in that direction is deleted.
        direction: Direction,
    },
    /// A delivery status: moves the outbound message forward, never back; a status for an id no
    /// message has yet waits (a day) for the send that records it.
    Status(StatusUpdate),
    /// The provider's review of a message template changed.
    TemplateStatus(TemplateStatus),
    /// Every outbound message to the contact at `address` up to a point reached `status`
    /// (Messenger's delivery and read watermarks, Instagram's seen).
    Watermark(Watermark),
    /// The contact at `address` is typing (shown live, never stored as a message).
    Typing {
        /// The contact's address on the channel.
        address: String,
    },
    /// The provider reports on the channel itself (e.g. RBM's agent launch state).
    Notice(ChannelNotice),
    /// More about a message already reported (a call's recording or transcript).
    Addition(Addition),
    /// The business was mentioned in a comment known only by its id: it is looked up, then
    /// ingested as a comment.
    Mention {
        /// The provider's id of the comment.
        comment_id: String,
    },
}

/// What the provider says about a channel, kept on it under `name` (the latest one wins).
#[derive(Debug, Clone)]
pub struct ChannelNotice {
    pub name: &'static str,
    pub value: Value,
}

/// A status reached by every outbound message up to a point.
#[derive(Debug, Clone)]
pub struct Watermark {
    /// The contact's address on the channel.
    pub address: String,
    /// `delivered` or `read`.
    pub status: MessageStatus,
    pub until: Until,
}

/// Up to where a watermark reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Messages sent at or before this time (Unix ms).
    Time(i64),
    /// This message (by provider id) and those before it.
    Message(String),
}

/// A message template's review status as the provider reports it.
#[derive(Debug, Clone)]
pub struct TemplateStatus {
    /// The provider's id of the template, when given.
    pub provider_template_id: Option<String>,
    pub name: String,
    pub language: String,
    /// `APPROVED`, `REJECTED`, `PAUSED`…
    pub status: String,
    /// Why, for a rejection or a pause.
    pub reason: Option<String>,
}
