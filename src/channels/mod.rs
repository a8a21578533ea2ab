//! Channel adapters: one folder per network, and one line in [`ADAPTERS`]. An adapter knows its
//! network's settings, webhook handshake, signatures and payloads; it verifies, parses and returns
//! data, and never calls services. Services ask an adapter what a channel can do, never its name.

pub mod meta;
pub mod whatsapp;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use crate::domain::inbound::InboundEvent;
use crate::domain::ChannelKind;
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

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
}

/// Every network Parley connects to.
pub const ADAPTERS: &[&dyn Channel] = &[&whatsapp::WhatsApp];

/// The adapter of a network, when Parley has one.
pub fn adapter(kind: ChannelKind) -> Option<&'static dyn Channel> {
    ADAPTERS.iter().copied().find(|adapter| adapter.kind() == kind)
}
