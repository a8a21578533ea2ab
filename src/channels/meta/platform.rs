//! A network on Meta's Messenger Platform (Facebook Messenger, Instagram) as a channel adapter:
//! the two differ only in their settings, hosts and a few paths, which [`Platform`] names.

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{json, Map, Value};

use super::messaging::{self, Dialect};
use crate::channels::settings::{self, Field};
use crate::channels::{download, Auth, Capabilities, Channel, Failure, FetchError, Fetched, Outbound, Profile, Target};
use crate::domain::inbound::{InboundEvent, InboundMessage};
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// Where a network on the Messenger Platform differs.
pub struct Platform {
    pub kind: ChannelKind,
    /// The network's name in messages.
    pub name: &'static str,
    pub dialect: Dialect,
    pub schema: &'static [Field],
    /// The setting holding the id webhooks name the channel by (`entry[].id`).
    pub key_setting: &'static str,
    /// The setting holding the access token.
    pub token_setting: &'static str,
    /// The Graph API base for a channel's settings.
    pub graph_base: fn(&Map<String, Value>) -> String,
    /// The path sends go to, for a channel's settings.
    pub messages_path: fn(&Map<String, Value>) -> String,
    /// The path of a public answer under a comment.
    pub replies_path: fn(&str) -> String,
    /// The fields a profile lookup asks for.
    pub profile_fields: &'static str,
    /// The fields a comment lookup asks for (with its post's).
    pub comment_fields: &'static str,
}

/// A live channel's settings and access token.
fn credentials(platform: &Platform, channel: &ChannelRow) -> Result<(Map<String, Value>, String), Failure> {
    let stored = settings::parse(&channel.settings);
    match settings::text(&stored, platform.token_setting) {
        Some(token) => Ok((stored, token)),
        None => Err(Failure::Permanent {
            code: "provider_unavailable".to_owned(),
            text: format!("the channel has no settings.{}", platform.token_setting),
        }),
    }
}

impl Platform {
    async fn post(
        &self,
        http: &reqwest::Client,
        channel: &ChannelRow,
        path: &str,
        body: &Value,
    ) -> Result<Value, Failure> {
        let (stored, token) = credentials(self, channel)?;
        super::graph::post(http, &(self.graph_base)(&stored), path, &token, body, messaging::classify).await
    }

    async fn get(&self, http: &reqwest::Client, channel: &ChannelRow, path: &str) -> Result<Value, Failure> {
        let (stored, token) = credentials(self, channel)?;
        super::graph::get(http, &(self.graph_base)(&stored), path, &token, messaging::classify).await
    }

    async fn sender_action(
        &self,
        http: &reqwest::Client,
        channel: &ChannelRow,
        recipient: &str,
        action: &str,
    ) -> Result<(), Failure> {
        let path = (self.messages_path)(&settings::parse(&channel.settings));
        let body = json!({"recipient": {"id": recipient}, "sender_action": action});
        self.post(http, channel, &path, &body).await.map(|_| ())
    }
}

impl Channel for Platform {
    fn kind(&self) -> ChannelKind {
        self.kind
    }

    fn check_settings(&self, given: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        match settings::problems(self.schema, given, live, self.name) {
            problems if problems.is_empty() => Ok(settings::text(given, self.key_setting)),
            problems => Err(problems),
        }
    }

    fn handshake(&self, query: &HashMap<String, String>, channels: &[ChannelRow]) -> Result<String, &'static str> {
        let tokens: Vec<String> = channels
            .iter()
            .filter_map(|channel| settings::text(&settings::parse(&channel.settings), "verify_token"))
            .collect();
        super::handshake(query, tokens.iter().map(String::as_str))
    }

    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>> {
        messaging::entry_ids(self.dialect, body)
    }

    fn verify(&self, channel: &ChannelRow, _url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        settings::text(&settings::parse(&channel.settings), "app_secret")
            .is_some_and(|secret| super::signed(headers, body, &secret))
    }

    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        messaging::parse(self.dialect, body)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            reply_window_hours: Some(24),
            human_agent_window_hours: Some(7 * 24),
            read_receipts: true,
            typing: true,
            media_fetch: true,
            edits: true,
            profiles: true,
            comments: true,
            content: messaging::CONTENT,
            ..Capabilities::unconnected(AddressKind::Id)
        }
    }

    fn send<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        async move {
            let recipient = message.recipients.first().ok_or_else(|| Failure::Permanent {
                code: "no_recipient".to_owned(),
                text: format!("the contact has no {} id on this channel", self.name),
            })?;
            let path = (self.messages_path)(&settings::parse(&channel.settings));
            let mut first = None;
            for (path, body) in messaging::requests(message, recipient, &path, self.replies_path)? {
                let answer = self.post(http, channel, &path, &body).await?;
                first = first.or_else(|| messaging::sent_id(&answer, &message.content));
            }
            first
                .ok_or_else(|| Failure::Transient("the Graph API accepted the message without a message id".to_owned()))
        }
        .boxed()
    }

    fn mark_read<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        recipient: &'a str,
        _provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async move { self.sender_action(http, channel, recipient, "mark_seen").await }.boxed()
    }

    fn typing<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        recipient: &'a str,
        on: bool,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        let action = if on { "typing_on" } else { "typing_off" };
        async move { self.sender_action(http, channel, recipient, action).await }.boxed()
    }

    fn fetch_media<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        media: &'a Value,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        async move {
            // Attachment URLs are signed CDN links that need no token.
            let url = media["url"]
                .as_str()
                .ok_or_else(|| FetchError::new("media_fetch_failed", "the webhook gave no attachment url"))?;
            download(http, url, Auth::None, max_bytes).await
        }
        .boxed()
    }

    fn fetch_profile<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        address: &'a str,
    ) -> BoxFuture<'a, Result<Profile, Failure>> {
        async move {
            let answer = self.get(http, channel, &format!("{address}?fields={}", self.profile_fields)).await?;
            let text = |key: &str| answer[key].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            let full = [text("first_name"), text("last_name")].into_iter().flatten().collect::<Vec<_>>().join(" ");
            Ok(Profile {
                name: text("name").or_else(|| Some(full).filter(|n| !n.is_empty())).or_else(|| text("username")),
                picture_url: text("profile_pic"),
            })
        }
        .boxed()
    }

    fn lookup_comment<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        comment_id: &'a str,
    ) -> BoxFuture<'a, Result<InboundMessage, Failure>> {
        async move {
            let answer = self.get(http, channel, &format!("{comment_id}?fields={}", self.comment_fields)).await?;
            let field = self.dialect.comment_fields.first().copied().unwrap_or("comments");
            messaging::looked_up_comment(field, &answer).ok_or_else(|| Failure::Permanent {
                code: "comment_unreadable".to_owned(),
                text: format!("the Graph API's answer for comment {comment_id} has no author"),
            })
        }
        .boxed()
    }

    fn settings_schema(&self) -> &'static [Field] {
        self.schema
    }
}
