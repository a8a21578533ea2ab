//! A WhatsApp channel's settings: the Cloud API phone number id that routes webhooks to it, the
//! app secret that signs them, the token Meta's verification handshake presents, the access token
//! for the Graph API and an optional Graph API base URL.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::channels::meta::{APP_SECRET_FIELD, GRAPH_BASE_URL_FIELD, VERIFY_TOKEN_FIELD};
use crate::channels::settings::{is_digits, Field, Format};
use crate::error::FieldError;

/// Optional setting: where the Graph API is reached (tests point it at a local stand-in).
pub const GRAPH_BASE_URL: &str = "graph_base_url";

/// Optional setting: the WhatsApp Business Account id, for templates.
pub const WABA_ID: &str = "waba_id";

/// Optional setting: how many messages per second the business number may send.
pub const MESSAGES_PER_SECOND: &str = "messages_per_second";

/// The Graph API used when a channel names none.
pub const DEFAULT_GRAPH_BASE_URL: &str = "https://graph.facebook.com/v23.0";

/// Messages per second when a channel names no limit (Meta's default throughput).
pub const DEFAULT_MESSAGES_PER_SECOND: u32 = 80;

/// The highest `messages_per_second` Meta grants a business number.
pub const MAX_MESSAGES_PER_SECOND: u32 = 1000;

/// A WhatsApp channel's stored settings, read leniently: a missing or mistyped value is `None`.
/// Its `Debug` output never shows secret values.
#[derive(Default, Deserialize)]
pub struct Settings {
    /// The Cloud API id of the business phone number (`metadata.phone_number_id` in webhooks).
    #[serde(default, deserialize_with = "lenient")]
    pub phone_number_id: Option<String>,
    /// The Meta app secret: key of the `X-Hub-Signature-256` HMAC on webhooks.
    #[serde(default, deserialize_with = "lenient")]
    pub app_secret: Option<String>,
    /// The token Meta presents in the webhook verification handshake.
    #[serde(default, deserialize_with = "lenient")]
    pub verify_token: Option<String>,
    /// The bearer token for Graph API calls.
    #[serde(default, deserialize_with = "lenient")]
    pub access_token: Option<String>,
    /// Graph API base URL; Meta's when absent.
    #[serde(default, deserialize_with = "lenient")]
    pub graph_base_url: Option<String>,
    /// The WhatsApp Business Account id that owns the number's templates.
    #[serde(default, deserialize_with = "lenient")]
    pub waba_id: Option<String>,
    /// The number's send limit; [`DEFAULT_MESSAGES_PER_SECOND`] when absent.
    #[serde(default, deserialize_with = "lenient_rate")]
    pub messages_per_second: Option<u32>,
}

fn lenient_rate<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Ok(Value::deserialize(deserializer)?.as_u64().and_then(|n| u32::try_from(n).ok()))
}

fn lenient<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) if !text.is_empty() => Some(text),
        _ => None,
    })
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secret = |value: &Option<String>| if value.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Settings")
            .field("phone_number_id", &self.phone_number_id)
            .field("app_secret", &secret(&self.app_secret))
            .field("verify_token", &secret(&self.verify_token))
            .field("access_token", &secret(&self.access_token))
            .field("graph_base_url", &self.graph_base_url)
            .field("waba_id", &self.waba_id)
            .field("messages_per_second", &self.messages_per_second)
            .finish()
    }
}

impl Settings {
    /// Reads a channel's stored settings text.
    pub fn parse(text: &str) -> Settings {
        serde_json::from_str(text).unwrap_or_default()
    }

    /// The Graph API base URL, without a trailing slash.
    pub fn graph_base_url(&self) -> &str {
        self.graph_base_url.as_deref().unwrap_or(DEFAULT_GRAPH_BASE_URL).trim_end_matches('/')
    }

    /// The number's send limit per second.
    pub fn messages_per_second(&self) -> u32 {
        self.messages_per_second.unwrap_or(DEFAULT_MESSAGES_PER_SECOND).clamp(1, MAX_MESSAGES_PER_SECOND)
    }
}

/// The settings of WhatsApp channels.
pub const SCHEMA: &[Field] = &[
    Field {
        name: "phone_number_id",
        label: "Phone number id",
        help: "WhatsApp Manager → API setup: the numeric id of the business number (not the number itself)",
        secret: false,
        required: true,
        format: Format::Digits,
    },
    APP_SECRET_FIELD,
    VERIFY_TOKEN_FIELD,
    Field {
        name: "access_token",
        label: "Access token",
        help: "A system user's permanent token with whatsapp_business_messaging",
        secret: true,
        required: true,
        format: Format::Text,
    },
    Field {
        name: WABA_ID,
        label: "WhatsApp Business Account id",
        help: "Needed to synchronise message templates",
        secret: false,
        required: false,
        format: Format::Digits,
    },
    Field {
        name: MESSAGES_PER_SECOND,
        label: "Messages per second",
        help: "The number's throughput; 80 unless Meta granted more",
        secret: false,
        required: false,
        format: Format::Count { min: 1, max: MAX_MESSAGES_PER_SECOND },
    },
    GRAPH_BASE_URL_FIELD,
];

/// What is wrong with a WhatsApp channel's settings (see [`crate::channels::settings::problems`]).
pub fn problems(settings: &Map<String, Value>, live: bool) -> Vec<FieldError> {
    crate::channels::settings::problems(SCHEMA, settings, live, "WhatsApp")
}

/// The key that routes webhooks to the channel: its phone number id, when set.
pub fn provider_key(settings: &Map<String, Value>) -> Option<String> {
    settings.get("phone_number_id").and_then(Value::as_str).filter(|id| is_digits(id)).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn live_channels_need_every_credential() {
        let fields: Vec<String> = problems(&Map::new(), true).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["settings.phone_number_id", "settings.app_secret", "settings.verify_token", "settings.access_token"]
        );
        assert!(problems(&Map::new(), false).is_empty(), "simulation channels need none");
    }

    #[test]
    fn values_must_have_the_right_shape() {
        let settings = object(json!({"phone_number_id": "+1 555", "app_secret": 12, "verify_token": " ",
            "access_token": "EAAG", "graph_base_url": "ftp://x"}));
        let fields: Vec<String> = problems(&settings, false).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            ["settings.phone_number_id", "settings.app_secret", "settings.verify_token", "settings.graph_base_url"]
        );
        assert_eq!(provider_key(&settings), None);
        let settings = object(json!({"phone_number_id": "106540352242922", "graph_base_url": "http://127.0.0.1:9",
            "messages_per_second": 1000}));
        assert!(problems(&settings, false).is_empty());
        for bad in [json!(0), json!(1001), json!(2.5), json!("80")] {
            let fields: Vec<String> =
                problems(&object(json!({"messages_per_second": bad})), false).into_iter().map(|p| p.field).collect();
            assert_eq!(fields, ["settings.messages_per_second"]);
        }
        assert_eq!(Settings::parse("{}").messages_per_second(), 80);
        assert_eq!(Settings::parse(r#"{"messages_per_second": 2}"#).messages_per_second(), 2);
        assert_eq!(provider_key(&settings).as_deref(), Some("106540352242922"));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let settings = Settings::parse(r#"{"phone_number_id": "1", "app_secret": "s3cr3t", "access_token": "EAAG"}"#);
        let text = format!("{settings:?}");
        assert!(!text.contains("s3cr3t") && !text.contains("EAAG"), "{text}");
        assert_eq!(settings.app_secret.as_deref(), Some("s3cr3t"));
    }
}
