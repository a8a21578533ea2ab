//! Facebook Messenger (a Facebook page's inbox) on Meta's Messenger Platform: the page's
//! settings; everything else is the platform's (see [`crate::channels::meta::platform`]).

use serde_json::{Map, Value};

use super::meta::messaging::Dialect;
use super::meta::platform::Platform;
use super::meta::{APP_SECRET_FIELD, GRAPH_BASE_URL_FIELD, VERIFY_TOKEN_FIELD};
use super::settings::{text, Field, Format};
use crate::domain::ChannelKind;

/// The Graph API used when a channel names none.
const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com/v23.0";

/// The settings of Messenger channels.
const SCHEMA: &[Field] = &[
    Field {
        name: "page_id",
        label: "Page id",
        help: "The Facebook page's numeric id (Page → About → Page transparency, or the App Dashboard)",
        secret: false,
        required: true,
        format: Format::Digits,
    },
    APP_SECRET_FIELD,
    VERIFY_TOKEN_FIELD,
    Field {
        name: "page_access_token",
        label: "Page access token",
        help: "A long-lived page token with pages_messaging (App Dashboard → Messenger → Access tokens)",
        secret: true,
        required: true,
        format: Format::Text,
    },
    GRAPH_BASE_URL_FIELD,
];

fn graph_base(settings: &Map<String, Value>) -> String {
    text(settings, "graph_base_url")
        .unwrap_or_else(|| DEFAULT_GRAPH_BASE_URL.to_owned())
        .trim_end_matches('/')
        .to_owned()
}

fn messages_path(settings: &Map<String, Value>) -> String {
    format!("{}/messages", text(settings, "page_id").unwrap_or_else(|| "me".to_owned()))
}

fn replies_path(comment_id: &str) -> String {
    format!("{comment_id}/comments")
}

/// The Messenger adapter.
pub const MESSENGER: Platform = Platform {
    kind: ChannelKind::Messenger,
    name: "Messenger",
    dialect: Dialect { object: "page", comment_fields: &["feed"] },
    schema: SCHEMA,
    key_setting: "page_id",
    token_setting: "page_access_token",
    graph_base,
    messages_path,
    replies_path,
    profile_fields: "first_name,last_name,profile_pic",
    comment_fields: "id,message,created_time,from,permalink_url",
};
