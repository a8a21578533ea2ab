//! Phone calls through Twilio Voice: the number's call status callbacks (a call that ended:
//! answered, missed) and the recording and transcription callbacks that follow it, form-encoded
//! and signed with `X-Twilio-Signature` like SMS webhooks. Each call becomes a message of type
//! `call`; its recording is fetched with the account's credentials. Calls are recorded, never
//! placed: the channel sends no messages.

mod webhook;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};

use super::settings::{Field, Format};
use super::twilio;
use super::{Capabilities, Channel, Failure, FetchError, Fetched, Outbound, Target};
use crate::domain::inbound::InboundEvent;
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// The settings of voice channels.
const SCHEMA: &[Field] = &[
    Field {
        name: "account_sid",
        label: "Account SID",
        help: "The Twilio account's SID, AC followed by 32 characters (Console → Account info)",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "auth_token",
        label: "Auth token",
        help: "The account's auth token: Twilio signs its callbacks with it, and recordings are fetched with it",
        secret: true,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "from",
        label: "Phone number",
        help: "The business's number calls arrive at and go out from (E.164, e.g. +390212345678)",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "api_base_url",
        label: "API base URL",
        help:
            "Twilio's REST API (https://api.twilio.com), where recordings are fetched; change it only for a test server",
        secret: false,
        required: false,
        format: Format::Url,
    },
];

/// The voice adapter (Twilio Voice).
pub struct Voice;

impl Channel for Voice {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Voice
    }

    fn hook_path(&self) -> Option<&'static str> {
        Some("twilio/voice")
    }

    fn check_settings(&self, map: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        let (settings, mut problems) = twilio::account_problems(SCHEMA, map, live, "Twilio Voice");
        let number = settings.from.as_deref();
        if number.is_some_and(|number| AddressKind::Phone.normalize(number).is_err()) {
            problems.push(FieldError {
                field: "settings.from".to_owned(),
                message: "must be an E.164 phone number, e.g. +390212345678".to_owned(),
            });
        }
        match problems.is_empty() {
            true => Ok(number.map(twilio::provider_key)),
            false => Err(problems),
        }
    }

    fn handshake(&self, _query: &HashMap<String, String>, _channels: &[ChannelRow]) -> Result<String, &'static str> {
        Err("Twilio does not verify webhook URLs: paste the URL in the number's voice settings")
    }

    fn decode(&self, body: &[u8]) -> Result<Value, String> {
        twilio::decode_form(body)
    }

    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>> {
        let object = twilio::webhook::object(&twilio::webhook::params(body)?);
        let params = object.as_object()?;
        params.get("CallSid")?;
        Some(webhook::business_number(params).map(|number| twilio::provider_key(&number)).into_iter().collect())
    }

    fn verify(&self, channel: &ChannelRow, url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        twilio::signed(channel, url, headers, body)
    }

    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        let Some(params) = body.as_object() else { return Vec::new() };
        let target = match webhook::business_number(params) {
            Some(number) => Target::Channel(twilio::provider_key(&number)),
            // Recordings and transcripts name only the account: they go to its channels that
            // know the call.
            None => match params.get("AccountSid").and_then(Value::as_str) {
                Some(account) => Target::Setting { name: "account_sid", value: account.to_owned() },
                None => return Vec::new(),
            },
        };
        vec![(target, webhook::events(params))]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { media_fetch: true, calls: true, content: &[], ..Capabilities::unconnected(AddressKind::Phone) }
    }

    fn send<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        async {
            Err(Failure::Permanent {
                code: "content_unsupported".to_owned(),
                text: "a voice channel records calls and sends no messages".to_owned(),
            })
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
        // Recordings are served like MMS files: by Twilio's API, with the account's credentials.
        twilio::Twilio.fetch_media(http, channel, media, max_bytes)
    }

    fn settings_schema(&self) -> &'static [Field] {
        SCHEMA
    }
}
