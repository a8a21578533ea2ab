//! The API as a channel: conversations an integration holds on its customers' behalf through an
//! API (the EVA dialect's conversations), read and written over HTTP. There is no network behind
//! it: a send is accepted at once and the integration reads the answer from the API.

use futures::future::BoxFuture;
use serde_json::{Map, Value};

use super::settings::Field;
use super::{Capabilities, Channel, Failure, Outbound};
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// The API channel adapter.
pub struct ApiChannel;

impl Channel for ApiChannel {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Api
    }

    fn hook_path(&self) -> Option<&'static str> {
        None
    }

    fn check_settings(&self, map: &Map<String, Value>, _live: bool) -> Result<Option<String>, Vec<FieldError>> {
        match map.keys().next() {
            Some(name) => Err(vec![FieldError {
                field: format!("settings.{name}"),
                message: "API channels have no settings".to_owned(),
            }]),
            None => Ok(None),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            names_messages: true,
            content: &["text", "media", "choices", "cards"],
            ..Capabilities::unconnected(AddressKind::Id)
        }
    }

    /// The integration reads its messages from the API: a send is accepted at once.
    fn send<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        super::accepted_at_once(message)
    }

    fn settings_schema(&self) -> &'static [Field] {
        &[]
    }
}
