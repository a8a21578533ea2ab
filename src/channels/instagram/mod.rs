//! Instagram direct messages and comments (a professional account) on Meta's Messenger
//! Platform: the account's settings, and the two ways to log in (Instagram Login, at
//! graph.instagram.com, or Facebook Login through the linked page, at graph.facebook.com).

use serde_json::{Map, Value};

use super::meta::messaging::Dialect;
use super::meta::platform::Platform;
use super::meta::{APP_SECRET_FIELD, GRAPH_BASE_URL_FIELD, VERIFY_TOKEN_FIELD};
use super::settings::{text, Field, Format};
use crate::domain::ChannelKind;

/// The settings of Instagram channels.
const SCHEMA: &[Field] = &[
    Field {
        name: "instagram_account_id",
        label: "Instagram account id",
        help: "The professional account's id (the `entry.id` of its webhooks)",
        secret: false,
        required: true,
        format: Format::Digits,
    },
    Field {
        name: "login",
        label: "Login",
        help: "instagram: Instagram Login (graph.instagram.com); facebook: Facebook Login through the linked page",
        secret: false,
        required: false,
        format: Format::Choice { options: &["instagram", "facebook"] },
    },
    Field {
        name: "page_id",
        label: "Linked page id",
        help: "With Facebook Login: the Facebook page linked to the account",
        secret: false,
        required: false,
        format: Format::Digits,
    },
    APP_SECRET_FIELD,
    VERIFY_TOKEN_FIELD,
    Field {
        name: "access_token",
        label: "Access token",
        help: "Instagram Login: the account's long-lived token; Facebook Login: the linked page's token",
        secret: true,
        required: true,
        format: Format::Text,
    },
    GRAPH_BASE_URL_FIELD,
];

fn facebook_login(settings: &Map<String, Value>) -> bool {
    text(settings, "login").as_deref() == Some("facebook")
}

fn graph_base(settings: &Map<String, Value>) -> String {
    let default =
        if facebook_login(settings) { "https://graph.facebook.com/v23.0" } else { "https://graph.instagram.com/v23.0" };
    text(settings, "graph_base_url").unwrap_or_else(|| default.to_owned()).trim_end_matches('/').to_owned()
}

fn messages_path(settings: &Map<String, Value>) -> String {
    let owner = match facebook_login(settings) {
        true => text(settings, "page_id"),
        false => text(settings, "instagram_account_id"),
    };
    format!("{}/messages", owner.unwrap_or_else(|| "me".to_owned()))
}

fn replies_path(comment_id: &str) -> String {
    format!("{comment_id}/replies")
}

/// The Instagram adapter.
pub const INSTAGRAM: Platform = Platform {
    kind: ChannelKind::Instagram,
    name: "Instagram",
    dialect: Dialect { object: "instagram", comment_fields: &["comments", "live_comments"] },
    schema: SCHEMA,
    key_setting: "instagram_account_id",
    token_setting: "access_token",
    graph_base,
    messages_path,
    replies_path,
    profile_fields: "name,username,profile_pic",
    comment_fields: "id,text,timestamp,from,media{id,permalink,caption,media_url,media_product_type}",
};
