//! WhatsApp Business Cloud API (Meta): channel settings, the webhook's handshake, signature and
//! payloads, and the Graph API's send bodies.

pub mod graph;
pub mod settings;
pub mod webhook;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::{meta, Channel, Target};
use crate::domain::inbound::InboundEvent;
use crate::domain::ChannelKind;
use crate::error::FieldError;
use crate::store::channels::ChannelRow;
use settings::Settings;

/// The WhatsApp adapter.
pub struct WhatsApp;

impl Channel for WhatsApp {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Whatsapp
    }

    fn check_settings(&self, settings: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        match settings::problems(settings, live) {
            problems if problems.is_empty() => Ok(settings::provider_key(settings)),
            problems => Err(problems),
        }
    }

    fn handshake(&self, query: &HashMap<String, String>, channels: &[ChannelRow]) -> Result<String, &'static str> {
        let tokens: Vec<String> =
            channels.iter().filter_map(|channel| Settings::parse(&channel.settings).verify_token).collect();
        meta::handshake(query, tokens.iter().map(String::as_str))
    }

    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>> {
        webhook::phone_number_ids(body)
    }

    fn verify(&self, channel: &ChannelRow, headers: &HeaderMap, body: &[u8]) -> bool {
        Settings::parse(&channel.settings).app_secret.is_some_and(|secret| meta::signed(headers, body, &secret))
    }

    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        let mut parsed: Vec<(Target, Vec<InboundEvent>)> =
            webhook::events(body).into_iter().map(|(id, events)| (Target::Channel(id), events)).collect();
        for (waba_id, update) in webhook::template_status_updates(body) {
            let target = Target::Setting { name: settings::WABA_ID, value: waba_id };
            parsed.push((target, vec![InboundEvent::TemplateStatus(update)]));
        }
        parsed
    }
}
