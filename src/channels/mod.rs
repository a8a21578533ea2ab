//! Channel adapters: one folder per network, and one line in [`ADAPTERS`]. An adapter knows its
//! network's settings, webhook handshake, signatures and payloads; it verifies, parses and returns
//! data, and never calls services. Services ask an adapter what a channel can do, never its name.

pub mod meta;
pub mod whatsapp;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::inbound::InboundEvent;
use crate::domain::{ChannelKind, MessageType};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// What a network lets a channel do. Services decide by these, never by the network's name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Capabilities {
    /// Free-form replies are allowed this many hours after the customer's last message; `null`
    /// when there is no such window.
    pub reply_window_hours: Option<u32>,
    /// Approved message templates can be sent, also outside the reply window.
    pub templates: bool,
    /// The customer is told when an operator has read their messages.
    pub read_receipts: bool,
    /// Files the customer sends are fetched from the provider into the media store.
    pub media_fetch: bool,
}

impl Capabilities {
    /// When the reply window opened by a customer message at `inbound_at` (Unix ms) closes.
    pub fn reply_window_expiry(&self, inbound_at: i64) -> Option<i64> {
        self.reply_window_hours.map(|hours| inbound_at + i64::from(hours) * 3_600_000)
    }
}

/// A queued message as an adapter sends it.
#[derive(Debug, Clone)]
pub struct Outbound<'a> {
    /// The contact's addresses on the channel, phone numbers first.
    pub recipients: Vec<String>,
    pub kind: MessageType,
    pub text: Option<&'a str>,
    /// The first attachment, as a link the provider can fetch.
    pub media: Option<MediaLink>,
    /// The stored payload (structured content, and the provider's id of a quoted message).
    pub payload: &'a Map<String, Value>,
}

/// A file from Parley's media store, sent by link.
#[derive(Debug, Clone)]
pub struct MediaLink {
    /// A signed URL the provider can fetch.
    pub link: String,
    /// The file name, shown for documents.
    pub filename: Option<String>,
}

/// Why a call to a provider did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It will never succeed: fail the message with this code and text.
    Permanent { code: String, text: String },
    /// Worth trying again later (throttling, the provider's outages, network trouble).
    Transient(String),
}

/// The payload key under which an adapter describes the file of an inbound message to fetch
/// (with `InboundMessage.fetch_media`); the object is handed back to [`Channel::fetch_media`].
pub const MEDIA: &str = "media";

/// A file fetched from a provider.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Why a file could not be fetched: a stable code and what happened. Fetches are retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct FetchError {
    pub code: &'static str,
    pub detail: String,
}

impl FetchError {
    /// A fetch error with this code.
    pub fn new(code: &'static str, detail: impl Into<String>) -> FetchError {
        FetchError { code, detail: detail.into() }
    }
}

/// Which channels part of a webhook body concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The channel with this provider key (its phone number id, page id…).
    Channel(String),
    /// The live channels of the kind whose setting `name` is `value` (e.g. a WhatsApp business
    /// account's numbers).
    Setting {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

/// A network's adapter.
pub trait Channel: Sync {
    /// The network.
    fn kind(&self) -> ChannelKind;

    /// Checks a channel's provider settings (problems named `settings.<name>`); a live channel
    /// must have everything the provider needs. Answers the provider key, by which webhooks name
    /// the channel.
    fn check_settings(&self, settings: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>>;

    /// Answers the provider's verification of the webhook URL (its query parameters) for these
    /// live channels: the text to return, or why not.
    fn handshake(&self, query: &HashMap<String, String>, channels: &[ChannelRow]) -> Result<String, &'static str>;

    /// The provider keys of the channels a webhook body names, read before anything is verified;
    /// `None` when the body is not this network's.
    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>>;

    /// Whether the request is signed with `channel`'s credentials.
    fn verify(&self, channel: &ChannelRow, headers: &HeaderMap, body: &[u8]) -> bool;

    /// What a verified body reports, grouped by the channels it concerns, in the body's order.
    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)>;

    /// What the network lets a channel do.
    fn capabilities(&self) -> Capabilities;

    /// How many messages a second a live channel may send; `None` when the provider sets no pace.
    fn send_rate(&self, channel: &ChannelRow) -> Option<u32>;

    /// Sends a message on a live channel; answers the provider's id for it.
    fn send<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound<'a>,
    ) -> BoxFuture<'a, Result<String, Failure>>;

    /// Tells the provider the business read the customer's messages up to this one.
    fn mark_read<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Failure>>;

    /// Downloads the file a message's payload describes (the object the adapter put under
    /// `payload.media` when parsing it), at most `max_bytes`.
    fn fetch_media<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        media: &'a Value,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>>;
}

/// Every network Parley connects to.
pub const ADAPTERS: &[&dyn Channel] = &[&whatsapp::WhatsApp];

/// The adapter of a network, when Parley has one.
pub fn adapter(kind: ChannelKind) -> Option<&'static dyn Channel> {
    ADAPTERS.iter().copied().find(|adapter| adapter.kind() == kind)
}

/// What a channel of `kind` can do: its adapter's capabilities, or none without one (simulation
/// channels of networks Parley does not connect to yet).
pub fn capabilities(kind: ChannelKind) -> Capabilities {
    adapter(kind).map(|adapter| adapter.capabilities()).unwrap_or_default()
}
