//! WhatsApp Business Cloud API (Meta): channel settings, the webhook's handshake, signature and
//! payloads, and the Graph API's send bodies.

pub mod graph;
pub mod media;
pub mod settings;
pub mod templates;
pub mod webhook;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};

use super::settings::Field;
use super::{meta, Capabilities, Channel, Failure, FetchError, Fetched, Outbound, ProviderTemplate, Target};
use crate::domain::inbound::InboundEvent;
use crate::domain::{AddressKind, ChannelKind};
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

    fn verify(&self, channel: &ChannelRow, _url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
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

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            reply_window_hours: Some(24),
            templates: true,
            read_receipts: true,
            media_fetch: true,
            edits: true,
            content: graph::CONTENT,
            ..Capabilities::unconnected(AddressKind::PhoneOrUserId)
        }
    }

    fn settings_schema(&self) -> &'static [Field] {
        settings::SCHEMA
    }

    fn submit_template<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        template: &'a ProviderTemplate,
    ) -> BoxFuture<'a, Result<Option<ProviderTemplate>, Failure>> {
        templates::submit(http, channel, template).boxed()
    }

    fn list_templates<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
    ) -> BoxFuture<'a, Result<Option<Vec<ProviderTemplate>>, Failure>> {
        templates::list(http, channel).boxed()
    }

    fn send_rate(&self, channel: &ChannelRow) -> Option<u32> {
        Some(Settings::parse(&channel.settings).messages_per_second())
    }

    fn send<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        async move {
            let (settings, phone_number_id, token) = credentials(channel)?;
            // A phone number when the contact has one, else its WhatsApp user id.
            let address = message
                .recipients
                .iter()
                .find(|address| address.starts_with('+'))
                .or(message.recipients.first())
                .ok_or_else(|| Failure::Permanent {
                    code: "no_recipient".to_owned(),
                    text: "the contact has no WhatsApp phone number or user id on this channel".to_owned(),
                })?;
            let recipient = graph::Recipient::from_address(address);
            let body = graph::message_body(&recipient, &message.content, message.reply_to.as_deref())?;
            let path = format!("{phone_number_id}/messages");
            let answer =
                meta::graph::post(http, settings.graph_base_url(), &path, &token, &body, graph::classify).await?;
            graph::sent_id(&answer)
                .map(str::to_owned)
                .ok_or_else(|| Failure::Transient("the Graph API accepted the message without a message id".to_owned()))
        }
        .boxed()
    }

    fn mark_read<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        _recipient: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            let (settings, phone_number_id, token) = credentials(channel)?;
            let path = format!("{phone_number_id}/messages");
            let body = graph::read_body(provider_message_id);
            meta::graph::post(http, settings.graph_base_url(), &path, &token, &body, graph::classify).await.map(|_| ())
        }
        .boxed()
    }

    fn fetch_media<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        media: &'a Value,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        async move { media::fetch(http, &Settings::parse(&channel.settings), media, max_bytes).await }.boxed()
    }
}

/// A live channel's settings, phone number id and access token.
fn credentials(channel: &ChannelRow) -> Result<(Settings, String, String), Failure> {
    let settings = Settings::parse(&channel.settings);
    match (settings.phone_number_id.clone(), settings.access_token.clone()) {
        (Some(phone_number_id), Some(token)) => Ok((settings, phone_number_id, token)),
        _ => Err(Failure::Permanent {
            code: "provider_unavailable".to_owned(),
            text: "the channel has no settings.phone_number_id or settings.access_token".to_owned(),
        }),
    }
}
