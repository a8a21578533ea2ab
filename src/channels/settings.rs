//! Channel settings described by their network's adapter: what each field holds, whether it is a
//! secret (write-only: stored, never shown) and whether a live channel needs it. The same schema
//! checks the settings a request gives and draws the settings form in the operator UI.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::error::FieldError;

/// What a setting's value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Format {
    /// Any non-empty text.
    Text,
    /// A numeric id (digits only), as Meta's ids are.
    Digits,
    /// An http(s) URL.
    Url,
    /// A whole number in a range.
    Count { min: u32, max: u32 },
    /// A number from 0 to `max`, fractions allowed.
    Fraction { max: u32 },
    /// A Standard Webhooks signing secret (`whsec_` and base64).
    SigningSecret,
    /// One of these words.
    Choice { options: &'static [&'static str] },
}

/// One setting of a network's channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Field {
    /// The key under `settings`.
    pub name: &'static str,
    /// What an operator sees in the settings form.
    pub label: &'static str,
    /// Where to find the value, or what it changes.
    pub help: &'static str,
    /// Write-only: stored, never returned by the API.
    pub secret: bool,
    /// A live (non-simulation) channel needs it.
    pub required: bool,
    #[serde(flatten)]
    pub format: Format,
}

/// What is wrong with a channel's settings, one entry per field, named `settings.<name>`: known
/// fields must have their format, unknown keys are refused, and a live channel must have every
/// required field. `network` names the network in messages.
pub fn problems(schema: &[Field], settings: &Map<String, Value>, live: bool, network: &str) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let mut problem = |name: &str, message: String| {
        problems.push(FieldError { field: format!("settings.{name}"), message });
    };
    for name in settings.keys() {
        if !schema.iter().any(|field| field.name == name) {
            let known: Vec<&str> = schema.iter().map(|field| field.name).collect();
            problem(name, format!("is not a {network} setting; known settings: {}", known.join(", ")));
        }
    }
    for field in schema {
        match settings.get(field.name) {
            None | Some(Value::Null) if live && field.required => problem(
                field.name,
                format!("is required for a live {network} channel (or create it with \"simulation\": true)"),
            ),
            None | Some(Value::Null) => {}
            Some(value) => {
                if let Some(message) = misfit(field.format, value) {
                    problem(field.name, message);
                }
            }
        }
    }
    problems
}

/// Why a value does not have the format, if it does not.
fn misfit(format: Format, value: &Value) -> Option<String> {
    if let Format::Count { min, max } = format {
        let fits = value.as_u64().is_some_and(|n| (u64::from(min)..=u64::from(max)).contains(&n));
        return (!fits).then(|| format!("must be a whole number from {min} to {max}"));
    }
    if let Format::Fraction { max } = format {
        let fits = value.as_f64().is_some_and(|n| (0.0..=f64::from(max)).contains(&n));
        return (!fits).then(|| format!("must be a number from 0 to {max}"));
    }
    let Some(text) = value.as_str() else { return Some("must be a string".to_owned()) };
    match format {
        _ if text.trim().is_empty() => Some("must not be empty".to_owned()),
        Format::Digits if !is_digits(text) => Some("must be a numeric id (digits only)".to_owned()),
        Format::Url if !is_http_url(text) => Some("must be an http(s) URL".to_owned()),
        Format::SigningSecret => crate::service::webhooks::signature::secret_key(text).err().map(str::to_owned),
        Format::Choice { options } if !options.contains(&text) => {
            Some(format!("must be one of {}", options.join(", ")))
        }
        _ => None,
    }
}

/// Whether a text is a numeric id of 1 to 32 digits.
pub fn is_digits(text: &str) -> bool {
    (1..=32).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

/// The settings an operator may see: every value except the secrets.
pub fn visible(schema: &[Field], settings: &Map<String, Value>) -> Map<String, Value> {
    settings
        .iter()
        .filter(|(name, _)| schema.iter().any(|field| field.name == name.as_str() && !field.secret))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

/// A text setting, when set and not empty.
pub fn text(settings: &Map<String, Value>, name: &str) -> Option<String> {
    settings.get(name).and_then(Value::as_str).filter(|text| !text.is_empty()).map(str::to_owned)
}

/// A channel's stored settings text as an object (empty when unreadable).
pub fn parse(stored: &str) -> Map<String, Value> {
    match serde_json::from_str(stored) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &[Field] = &[
        Field { name: "page_id", label: "Page id", help: "", secret: false, required: true, format: Format::Digits },
        Field { name: "app_secret", label: "App secret", help: "", secret: true, required: true, format: Format::Text },
        Field {
            name: "graph_base_url",
            label: "Graph API",
            help: "",
            secret: false,
            required: false,
            format: Format::Url,
        },
    ];

    fn fields(settings: Value, live: bool) -> Vec<String> {
        let settings = settings.as_object().cloned().unwrap_or_default();
        problems(SCHEMA, &settings, live, "Messenger").into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn live_channels_need_the_required_fields() {
        assert_eq!(fields(json!({}), true), ["settings.page_id", "settings.app_secret"]);
        assert!(fields(json!({}), false).is_empty());
    }

    #[test]
    fn values_must_fit_and_keys_must_be_known() {
        let given = json!({"page_id": "12ab", "app_secret": 3, "graph_base_url": "ftp://x", "colour": "red"});
        assert_eq!(
            fields(given, false),
            ["settings.colour", "settings.page_id", "settings.app_secret", "settings.graph_base_url"]
        );
    }

    #[test]
    fn secrets_are_never_visible() {
        let settings = json!({"page_id": "1", "app_secret": "s3cr3t"}).as_object().cloned().unwrap_or_default();
        assert_eq!(Value::Object(visible(SCHEMA, &settings)), json!({"page_id": "1"}));
    }
}
