//! Objects as the native API returns them; event payloads carry the same objects.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::channels::{self, Capabilities};
use crate::domain::time::{opt_rfc3339, to_rfc3339};
use crate::domain::{ChannelKind, Direction, Handler};
use crate::store::accounts::{ApiKeyRow, OperatorRow};
use crate::store::channels::ChannelRow;
use crate::store::contacts::ContactRow;
use crate::store::conversations::ConversationRow;
use crate::store::flag;
use crate::store::media::MediaRow;
use crate::store::messages::MessageRow;
use crate::store::webhooks::{AttemptRow, DeliveryRow, WebhookRow};

fn json_or(text: &str, fallback: Value) -> Value {
    serde_json::from_str(text).unwrap_or(fallback)
}

/// A channel (provider settings are never shown).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Channel {
    pub id: i64,
    /// whatsapp, rcs, messenger, instagram, sms, email, webchat or api.
    pub kind: String,
    pub name: String,
    /// The business's address on the network (E.164 number, page id, email…).
    pub address: String,
    /// When true, nothing is sent to the provider and delivery is simulated.
    pub simulation: bool,
    /// Names of the provider settings that are set.
    pub settings_configured: Vec<String>,
    /// The values of the settings that are not secret (secrets are write-only).
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// What the network lets the channel do.
    pub capabilities: Capabilities,
    /// What a web chat widget names the channel by (`data-channel`): public, unguessable.
    pub public_id: Option<String>,
    /// When a satisfaction survey goes out by itself: `off`, `on_resolve` or `on_close`.
    pub survey_send: String,
    /// Which survey goes out; `null` for the account's first.
    pub survey_id: Option<i64>,
    /// What the provider last reported about the channel, by kind (RCS: `launch`, the agent's
    /// launch state).
    #[schema(value_type = Object)]
    pub notices: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ChannelRow> for Channel {
    fn from(row: &ChannelRow) -> Self {
        let stored = channels::settings::parse(&row.settings);
        let schema = ChannelKind::parse(&row.kind).map(channels::settings_schema).unwrap_or_default();
        Channel {
            id: row.id,
            kind: row.kind.clone(),
            name: row.name.clone(),
            address: row.address.clone(),
            simulation: flag(row.simulation),
            settings_configured: stored.keys().cloned().collect(),
            settings: channels::settings::visible(schema, &stored),
            capabilities: capabilities_of(&row.kind),
            notices: serde_json::from_str(&row.notices).unwrap_or_default(),
            public_id: row.public_id.clone(),
            survey_send: row.survey_send.clone(),
            survey_id: row.survey_id,
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// What a channel of a stored kind can do.
fn capabilities_of(kind: &str) -> Capabilities {
    channels::capabilities_of(kind)
}

/// A contact's address on one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Identity {
    pub channel_id: i64,
    pub channel_kind: String,
    /// The contact's id on that network (phone, wa_id, PSID, email…).
    pub external_id: String,
    /// When the contact opted out of the channel (texted STOP, or the provider reported them
    /// unsubscribed); `null` while messages may be sent.
    pub opted_out_at: Option<String>,
}

/// A customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    /// Display name; `null` for an unknown user.
    pub name: Option<String>,
    /// E.164 phone number.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    /// Whether the business saved this contact in its address book.
    pub in_address_book: bool,
    /// Free-form custom attributes.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// Addresses on each channel (only on single-contact responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<Vec<Identity>>,
    /// The contact's tags, sorted (on contact responses, not on conversations' contacts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
}

/// Two contacts that are likely the same person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateContacts {
    /// The most certain reason: `same_phone`, `same_email` or `same_name`.
    pub reason: String,
    /// The two contacts, older first.
    pub contacts: Vec<Contact>,
}

impl From<&ContactRow> for Contact {
    fn from(row: &ContactRow) -> Self {
        Contact {
            id: row.id,
            name: row.name.clone(),
            phone: row.phone.clone(),
            email: row.email.clone(),
            avatar_url: row.avatar_url.clone(),
            in_address_book: flag(row.in_address_book),
            attributes: json_or(&row.attributes, Value::Object(Default::default())),
            identities: None,
            tags: None,
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// The object of a `contact.merged` event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MergedContact {
    /// The surviving contact, as it is after the merge.
    pub contact: Contact,
    /// The id of the contact merged into it (that contact no longer exists).
    pub merged_contact_id: i64,
}

/// The channel a conversation runs on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelSummary {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub address: String,
}

/// The contact a conversation is with.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactSummary {
    pub id: i64,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub in_address_book: bool,
}

/// A conversation with one contact on one channel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Conversation {
    pub id: i64,
    pub channel: ChannelSummary,
    pub contact: ContactSummary,
    /// open, pending, resolved or closed.
    pub status: String,
    /// Archived conversations are hidden from the default inbox until the contact writes again.
    pub archived: bool,
    /// Operator in charge, if any.
    pub assignee_id: Option<i64>,
    /// Who handles the conversation: `virtual_agent` (the agent answers) or `human` (people do).
    pub handler: Handler,
    /// The virtual agent answering, while `handler` is `virtual_agent`.
    pub virtual_agent_id: Option<i64>,
    /// The team whose queue the conversation is in.
    pub team_id: Option<i64>,
    /// Since when it waits for a person (escalated or new, nobody assigned yet); `null` otherwise.
    pub waiting_since: Option<String>,
    pub subject: Option<String>,
    pub tags: Vec<String>,
    /// Free-form metadata (string values).
    #[schema(value_type = Object)]
    pub meta: Value,
    pub unread_count: i64,
    pub last_message_preview: Option<String>,
    pub last_message_at: String,
    pub last_inbound_at: Option<String>,
    /// When the free-form reply window closes (WhatsApp: last inbound + 24 h); `null` on channels without one.
    pub window_expires_at: Option<String>,
    /// On networks with a human-agent tag (Messenger, Instagram): until when an operator can still
    /// answer after the reply window (last inbound + 7 days).
    pub human_agent_window_expires_at: Option<String>,
    /// The customer's latest satisfaction vote, 1 to 5; 0 when not rated.
    pub survey: i64,
    /// How many of its virtual agents' answers got a thumbs down.
    pub negative_feedback: i64,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
}

impl From<&ConversationRow> for Conversation {
    fn from(row: &ConversationRow) -> Self {
        Conversation {
            id: row.id,
            channel: ChannelSummary {
                id: row.channel_id,
                kind: row.channel_kind.clone(),
                name: row.channel_name.clone(),
                address: row.channel_address.clone(),
            },
            contact: ContactSummary {
                id: row.contact_id,
                name: row.contact_name.clone(),
                phone: row.contact_phone.clone(),
                email: row.contact_email.clone(),
                avatar_url: row.contact_avatar_url.clone(),
                in_address_book: flag(row.contact_in_address_book),
            },
            status: row.status.clone(),
            archived: flag(row.archived),
            assignee_id: row.assignee_id,
            handler: Handler::parse(&row.handler).unwrap_or(Handler::Human),
            virtual_agent_id: row.virtual_agent_id,
            team_id: row.team_id,
            waiting_since: opt_rfc3339(row.waiting_since),
            subject: row.subject.clone(),
            tags: serde_json::from_str(&row.tags).unwrap_or_default(),
            meta: json_or(&row.meta, Value::Object(Default::default())),
            unread_count: row.unread_count,
            last_message_preview: row.last_message_preview.clone(),
            last_message_at: to_rfc3339(row.last_message_at),
            last_inbound_at: opt_rfc3339(row.last_inbound_at),
            window_expires_at: opt_rfc3339(row.window_expires_at),
            human_agent_window_expires_at: opt_rfc3339(
                row.last_inbound_at
                    .filter(|_| row.window_expires_at.is_some())
                    .and_then(|at| capabilities_of(&row.channel_kind).human_agent_expiry(at)),
            ),
            survey: row.survey_rating,
            negative_feedback: row.negative_feedback,
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
            closed_at: opt_rfc3339(row.closed_at),
        }
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Sender {
    /// contact, operator, virtual_agent or system.
    #[serde(rename = "type")]
    pub kind: String,
    /// The contact's or operator's id; `null` for a person writing outside Parley (e.g. in the
    /// WhatsApp Business app).
    pub id: Option<i64>,
}

/// Why a message failed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeliveryError {
    pub code: String,
    pub text: Option<String>,
}

/// A message in a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Message {
    /// Grows with every message: page threads with `id_from` / `id_to`.
    pub id: i64,
    pub conversation_id: i64,
    pub channel_id: i64,
    /// inbound or outbound.
    pub direction: String,
    pub sender: Sender,
    /// text, image, video, audio, document, sticker, location, contacts, interactive, template, reaction,
    /// order, system, unsupported or note.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    /// Keys of attached media files.
    pub media_keys: Vec<String>,
    /// Structured content (location, buttons, template parameters…).
    #[schema(value_type = Object)]
    pub payload: Value,
    pub provider_message_id: Option<String>,
    /// queued, sent, delivered, read or failed; `null` for inbound messages and private notes.
    pub status: Option<String>,
    pub error: Option<DeliveryError>,
    /// Inbound: an operator has read it. Outbound: the recipient has (its status is `read`).
    pub read: bool,
    /// Sent in simulation: no provider was called.
    pub simulated: bool,
    /// A private note: stored, never sent.
    pub private: bool,
    /// Deleted: its text, media and payload are gone; it keeps its place in the thread.
    pub deleted: bool,
    /// When its sender last edited it (WhatsApp edits); `null` if never.
    pub edited_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub sent_at: Option<String>,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
}

impl From<&MessageRow> for Message {
    fn from(row: &MessageRow) -> Self {
        Message {
            id: row.id,
            conversation_id: row.conversation_id,
            channel_id: row.channel_id,
            direction: row.direction.clone(),
            sender: Sender { kind: row.sender_type.clone(), id: row.sender_id },
            kind: row.kind.clone(),
            text: row.text.clone(),
            media_keys: serde_json::from_str(&row.media_keys).unwrap_or_default(),
            payload: json_or(&row.payload, Value::Object(Default::default())),
            provider_message_id: row.provider_message_id.clone(),
            status: row.status.clone(),
            error: row
                .error_code
                .as_ref()
                .map(|code| DeliveryError { code: code.clone(), text: row.error_text.clone() }),
            read: if row.direction == Direction::Outbound.as_str() { row.read_at.is_some() } else { flag(row.is_read) },
            simulated: flag(row.simulated),
            private: flag(row.private),
            deleted: row.deleted_at.is_some(),
            edited_at: opt_rfc3339(row.edited_at),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
            sent_at: opt_rfc3339(row.sent_at),
            delivered_at: opt_rfc3339(row.delivered_at),
            read_at: opt_rfc3339(row.read_at),
        }
    }
}

/// An API key (its value is shown only once, at creation).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The key's public prefix, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// The virtual agent the key belongs to, if any.
    pub virtual_agent_id: Option<i64>,
}

impl From<&ApiKeyRow> for ApiKey {
    fn from(row: &ApiKeyRow) -> Self {
        ApiKey {
            id: row.id,
            name: row.name.clone(),
            prefix: row.prefix.clone(),
            created_at: to_rfc3339(row.created_at),
            last_used_at: opt_rfc3339(row.last_used_at),
            revoked_at: opt_rfc3339(row.revoked_at),
            virtual_agent_id: row.agent_id,
        }
    }
}

/// A person who answers conversations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    pub email: String,
    /// admin or agent.
    pub role: String,
    pub created_at: String,
}

impl From<&OperatorRow> for Operator {
    fn from(row: &OperatorRow) -> Self {
        Operator {
            id: row.id,
            name: row.name.clone(),
            email: row.email.clone(),
            role: row.role.clone(),
            created_at: to_rfc3339(row.created_at),
        }
    }
}

/// A stored media file.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Media {
    /// Reference to attach the file to messages.
    pub key: String,
    pub content_type: String,
    pub size: i64,
    pub filename: Option<String>,
    pub sha256: String,
    /// `original` (uploaded or received) or `ai_generated`.
    pub origin: String,
    pub created_at: String,
}

impl From<&MediaRow> for Media {
    fn from(row: &MediaRow) -> Self {
        Media {
            key: row.key.clone(),
            content_type: row.content_type.clone(),
            size: row.size,
            filename: row.filename.clone(),
            sha256: row.sha256.clone(),
            origin: row.origin.clone(),
            created_at: to_rfc3339(row.created_at),
        }
    }
}

/// A webhook subscription. `secret` appears only when it is created or rotated.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Webhook {
    pub id: i64,
    /// Where events are POSTed.
    pub url: String,
    pub description: Option<String>,
    /// Event types delivered (`message.*` style patterns allowed); empty means every type.
    pub event_types: Vec<String>,
    /// `parley` (native events) or `qlara` (the seed platform's INBOUND / DELIVERY / READ payloads).
    pub format: String,
    /// Disabled subscriptions receive nothing; their queued deliveries wait until re-enabled.
    pub active: bool,
    /// Why it was disabled: `gone` (the target answered 410), `failing` (5 days of failures) or `manual`.
    pub disabled_reason: Option<String>,
    pub disabled_at: Option<String>,
    /// Since when every attempt has failed; `null` while healthy.
    pub failing_since: Option<String>,
    /// Until when the previous secret still signs deliveries after a rotation.
    pub previous_secret_expires_at: Option<String>,
    /// The signing secret (`whsec_…`); shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&WebhookRow> for Webhook {
    fn from(row: &WebhookRow) -> Self {
        Webhook {
            id: row.id,
            url: row.url.clone(),
            description: row.description.clone(),
            event_types: serde_json::from_str(&row.event_types).unwrap_or_default(),
            format: row.format.clone(),
            active: flag(row.active),
            disabled_reason: row.disabled_reason.clone(),
            disabled_at: opt_rfc3339(row.disabled_at),
            failing_since: opt_rfc3339(row.failing_since),
            previous_secret_expires_at: opt_rfc3339(row.previous_secret_expires_at),
            secret: None,
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// One event's delivery to one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub event_type: String,
    /// pending (will be attempted at `next_attempt_at`), delivered, or failed (retries exhausted).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_status_code: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
}

impl From<&DeliveryRow> for WebhookDelivery {
    fn from(row: &DeliveryRow) -> Self {
        WebhookDelivery {
            id: row.id,
            webhook_id: row.webhook_id,
            event_id: row.event_id,
            event_type: row.event_type.clone(),
            status: row.status.clone(),
            attempts: row.attempts,
            next_attempt_at: opt_rfc3339(row.next_attempt_at.filter(|_| row.status == "pending")),
            last_status_code: row.last_status_code,
            last_error: row.last_error.clone(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
            delivered_at: opt_rfc3339(row.delivered_at),
        }
    }
}

/// One HTTP attempt to deliver an event.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WebhookAttempt {
    pub id: i64,
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub event_id: i64,
    pub attempted_at: String,
    /// The target answered 2xx.
    pub succeeded: bool,
    /// The HTTP status the target answered; `null` when no answer came.
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    /// The first bytes of the target's answer.
    pub response_body: Option<String>,
    /// Why the attempt failed (timeout, connection refused, HTTP status…).
    pub error: Option<String>,
}

impl From<&AttemptRow> for WebhookAttempt {
    fn from(row: &AttemptRow) -> Self {
        WebhookAttempt {
            id: row.id,
            webhook_id: row.webhook_id,
            delivery_id: row.delivery_id,
            event_id: row.event_id,
            attempted_at: to_rfc3339(row.attempted_at),
            succeeded: flag(row.succeeded),
            status_code: row.status_code,
            latency_ms: row.latency_ms,
            response_body: row.response_body.clone(),
            error: row.error.clone(),
        }
    }
}
