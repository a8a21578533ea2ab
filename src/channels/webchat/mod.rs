//! The web chat widget as a channel: the websites allowed to embed it, the secret a business's
//! server proves its visitors' identity with, and whether it must. There is no provider: messages
//! reach visitors through the widget's own stream, so a send is accepted at once.

use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};

use super::settings::{self, text, Field, Format};
use super::{Capabilities, Channel, Failure, Outbound};
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// The settings of web chat channels.
const SCHEMA: &[Field] = &[
    Field {
        name: "allowed_origins",
        label: "Allowed websites",
        help: "The origins of the pages that may embed the widget, space-separated (e.g. https://shop.example.com \
               https://www.shop.example.com); any other site is refused",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "identity_secret",
        label: "Identity secret",
        help: "Your server signs visitors' identities with it: HMAC-SHA256 of the identifier (hex), or an HS256 JWT \
               whose `sub` is the identifier; at least 32 characters",
        secret: true,
        required: false,
        format: Format::Text,
    },
    Field {
        name: "identity",
        label: "Identity",
        help: "optional (default): anonymous visitors may chat; required: only visitors your server vouches for",
        secret: false,
        required: false,
        format: Format::Choice { options: &["optional", "required"] },
    },
];

/// A web chat channel's settings, as the widget's service needs them.
pub struct WidgetSettings {
    /// Origins allowed to embed the widget (`scheme://host[:port]`).
    pub allowed_origins: Vec<String>,
    pub identity_secret: Option<String>,
    /// Only visitors proved by the business's server may chat.
    pub identity_required: bool,
}

impl WidgetSettings {
    /// A channel's widget settings.
    pub fn of(channel: &ChannelRow) -> WidgetSettings {
        let map = settings::parse(&channel.settings);
        WidgetSettings {
            allowed_origins: origins(text(&map, "allowed_origins").as_deref().unwrap_or_default()),
            identity_secret: text(&map, "identity_secret"),
            identity_required: text(&map, "identity").as_deref() == Some("required"),
        }
    }

    /// Whether a page of `origin` may use the widget.
    pub fn allows(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(origin.trim_end_matches('/')))
    }
}

/// The origins of a setting (space- or comma-separated).
fn origins(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n'])
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| o.trim_end_matches('/').to_owned())
        .collect()
}

/// Whether `origin` is an origin: http(s), a host, an optional port, nothing else.
fn is_origin(origin: &str) -> bool {
    match url::Url::parse(origin) {
        Ok(url) => {
            matches!(url.scheme(), "http" | "https")
                && url.host_str().is_some()
                && url.path() == "/"
                && url.query().is_none()
                && url.fragment().is_none()
                && url.username().is_empty()
                && !origin.trim_end_matches('/').ends_with(':')
        }
        Err(_) => false,
    }
}

/// The web chat adapter.
pub struct WebChat;

impl Channel for WebChat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webchat
    }

    fn hook_path(&self) -> Option<&'static str> {
        None
    }

    fn check_settings(&self, map: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        let mut problems = settings::problems(SCHEMA, map, live, "web chat");
        let mut problem = |name: &str, message: String| {
            problems.push(FieldError { field: format!("settings.{name}"), message });
        };
        if let Some(listed) = text(map, "allowed_origins").map(|listed| origins(&listed)) {
            match listed.iter().find(|origin| !is_origin(origin)) {
                Some(bad) => {
                    problem("allowed_origins", format!("`{bad}` is not an origin like https://shop.example.com"))
                }
                None if listed.is_empty() => problem("allowed_origins", "names no origin".to_owned()),
                None => {}
            }
        }
        if text(map, "identity_secret").is_some_and(|secret| secret.chars().count() < 32) {
            problem("identity_secret", "must be at least 32 characters".to_owned());
        }
        if text(map, "identity").as_deref() == Some("required") && text(map, "identity_secret").is_none() {
            problem("identity_secret", "is needed when identity is required".to_owned());
        }
        match problems.is_empty() {
            true => Ok(None),
            false => Err(problems),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            names_messages: true,
            typing: true,
            content: &["text", "media", "choices", "cards"],
            ..Capabilities::unconnected(AddressKind::Id)
        }
    }

    /// Visitors read their messages from the widget's stream: a send is accepted at once.
    fn send<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        super::accepted_at_once(message)
    }

    /// The widget learns it from Parley's own live events: nothing to call.
    fn typing<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _recipient: &'a str,
        _on: bool,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async { Ok(()) }.boxed()
    }

    fn settings_schema(&self) -> &'static [Field] {
        SCHEMA
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn origins_are_checked() {
        let check = |settings: Value| WebChat.check_settings(settings.as_object().unwrap(), true);
        assert!(matches!(
            check(json!({"allowed_origins": "https://shop.example.com http://localhost:8080"})),
            Ok(None)
        ));
        for bad in ["shop.example.com", "https://shop.example.com/page", "ftp://x.example", "https://"] {
            assert!(check(json!({ "allowed_origins": bad })).is_err(), "{bad}");
        }
        let required = check(json!({"allowed_origins": "https://a.example", "identity": "required"})).unwrap_err();
        assert_eq!(required[0].field, "settings.identity_secret");
    }
}
