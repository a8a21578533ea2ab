//! What Meta's networks (WhatsApp, Messenger, Instagram) share: the `X-Hub-Signature-256` on every
//! webhook body, the `hub.challenge` handshake that verifies a webhook URL, the Graph API client,
//! and the Messenger Platform that Messenger and Instagram are both on.

pub mod graph;
pub mod messaging;
pub mod platform;
pub mod signature;

use std::collections::HashMap;

use axum::http::HeaderMap;
use subtle::{Choice, ConstantTimeEq};

use super::settings::{Field, Format};

/// The setting every Meta network's channel has for the app secret that signs its webhooks.
pub const APP_SECRET_FIELD: Field = Field {
    name: "app_secret",
    label: "App secret",
    help: "Meta App Dashboard → App settings → Basic: signs every webhook delivery",
    secret: true,
    required: true,
    format: Format::Text,
};

/// The setting for the token Meta presents when it verifies the webhook URL.
pub const VERIFY_TOKEN_FIELD: Field = Field {
    name: "verify_token",
    label: "Verify token",
    help: "Any phrase; the same one goes in the App Dashboard's webhook settings",
    secret: true,
    required: true,
    format: Format::Text,
};

/// The setting for where the Graph API is (tests point it at a stand-in).
pub const GRAPH_BASE_URL_FIELD: Field = Field {
    name: "graph_base_url",
    label: "Graph API base URL",
    help: "Leave empty for Meta's",
    secret: false,
    required: false,
    format: Format::Url,
};

/// Answers Meta's handshake (`hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`): the challenge,
/// to be returned as is, when one of `tokens` is the verify token (compared in constant time).
pub fn handshake<'a>(
    query: &HashMap<String, String>,
    tokens: impl IntoIterator<Item = &'a str>,
) -> Result<String, &'static str> {
    if query.get("hub.mode").map(String::as_str) != Some("subscribe") {
        return Err("hub.mode must be `subscribe`");
    }
    let (Some(token), Some(challenge)) = (query.get("hub.verify_token"), query.get("hub.challenge")) else {
        return Err("hub.verify_token and hub.challenge are required");
    };
    let mut matched = Choice::from(0);
    for expected in tokens {
        matched |= expected.as_bytes().ct_eq(token.as_bytes());
    }
    if bool::from(matched) {
        Ok(challenge.clone())
    } else {
        Err("no channel has this verify token")
    }
}

/// Whether the request's `X-Hub-Signature-256` signs `body` with `app_secret`.
pub fn signed(headers: &HeaderMap, body: &[u8], app_secret: &str) -> bool {
    headers
        .get(signature::HEADER)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|header| signature::verify(app_secret, body, header))
}
