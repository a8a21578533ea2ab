//! SMS and MMS through Twilio Programmable Messaging: the channel's settings, the form-encoded
//! webhooks (received messages and status callbacks, signed with `X-Twilio-Signature`), sends
//! through the Messages resource, and MMS files fetched with the account's credentials.

pub mod signature;
pub mod webhook;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::{Map, Value};

use super::settings::{self, text, Field, Format};
use super::{Auth, Capabilities, Channel, Failure, FetchError, Fetched, Outbound, Target, OPTED_OUT};
use crate::domain::content::{Content, MediaSource};
use crate::domain::inbound::InboundEvent;
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// Twilio's REST API, when a channel names none.
const DEFAULT_API_BASE_URL: &str = "https://api.twilio.com";

/// The words Twilio itself acts on for long codes: after one of these, Twilio refuses to send to
/// the number (error 21610) until one of [`OPT_IN_KEYWORDS`].
const OPT_OUT_KEYWORDS: &[&str] = &["STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL"];
const OPT_IN_KEYWORDS: &[&str] = &["START", "YES", "UNSTOP"];

/// The settings of Twilio SMS channels.
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
        help: "The account's auth token: Twilio signs its webhooks with it (Console → Account info)",
        secret: true,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "from",
        label: "From",
        help: "The number messages go out from (E.164, e.g. +393331234567), or a Messaging Service SID (MG…) \
               when the number belongs to one",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "api_key_sid",
        label: "API key SID",
        help: "Optional: an API key (SK…) Parley sends with instead of the auth token",
        secret: false,
        required: false,
        format: Format::Text,
    },
    Field {
        name: "api_key_secret",
        label: "API key secret",
        help: "The secret of that API key",
        secret: true,
        required: false,
        format: Format::Text,
    },
    Field {
        name: "api_base_url",
        label: "API base URL",
        help: "Twilio's REST API (https://api.twilio.com); change it only for a test server",
        secret: false,
        required: false,
        format: Format::Url,
    },
];

/// A channel's Twilio settings (shared by SMS and voice channels).
pub(crate) struct Settings {
    pub(crate) account_sid: Option<String>,
    pub(crate) auth_token: Option<String>,
    pub(crate) from: Option<String>,
    api_key: Option<(String, String)>,
    api_base_url: String,
}

impl Settings {
    pub(crate) fn parse(stored: &str) -> Settings {
        let map = settings::parse(stored);
        Settings::of(&map)
    }

    pub(crate) fn of(map: &Map<String, Value>) -> Settings {
        Settings {
            account_sid: text(map, "account_sid"),
            auth_token: text(map, "auth_token"),
            from: text(map, "from").map(|from| from.trim().to_owned()),
            api_key: text(map, "api_key_sid").zip(text(map, "api_key_secret")),
            api_base_url: text(map, "api_base_url")
                .unwrap_or_else(|| DEFAULT_API_BASE_URL.to_owned())
                .trim_end_matches('/')
                .to_owned(),
        }
    }

    /// Who Parley is to Twilio's REST API: the API key when there is one, else the account.
    fn credentials(&self) -> Option<(&str, &str)> {
        match &self.api_key {
            Some((sid, secret)) => Some((sid.as_str(), secret.as_str())),
            None => self.account_sid.as_deref().zip(self.auth_token.as_deref()),
        }
    }
}

/// Whether `from` names a Messaging Service rather than a number.
fn is_service(from: &str) -> bool {
    from.starts_with("MG")
}

/// The Twilio SMS adapter.
pub struct Twilio;

impl Channel for Twilio {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Sms
    }

    fn hook_path(&self) -> Option<&'static str> {
        Some("twilio/sms")
    }

    fn check_settings(&self, map: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        let (settings, mut problems) = account_problems(SCHEMA, map, live, "Twilio SMS");
        let mut problem = |name: &str, message: &str| {
            problems.push(FieldError { field: format!("settings.{name}"), message: message.to_owned() });
        };
        let from = settings.from.as_deref();
        if from.is_some_and(|from| !(is_sid(from, "MG") || AddressKind::Phone.normalize(from).is_ok())) {
            problem("from", "must be an E.164 phone number (+393331234567) or a Messaging Service SID (MG…)");
        }
        if map.contains_key("api_key_sid") != map.contains_key("api_key_secret") {
            problem("api_key_secret", "an API key needs both api_key_sid and api_key_secret");
        }
        match problems.is_empty() {
            true => Ok(from.map(provider_key)),
            false => Err(problems),
        }
    }

    fn handshake(&self, _query: &HashMap<String, String>, _channels: &[ChannelRow]) -> Result<String, &'static str> {
        Err("Twilio does not verify webhook URLs: paste the URL in the number's messaging settings")
    }

    fn decode(&self, body: &[u8]) -> Result<Value, String> {
        decode_form(body)
    }

    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>> {
        let object = webhook::object(&webhook::params(body)?);
        webhook::channel_key(object.as_object()?).map(|key| BTreeSet::from([provider_key(&key)]))
    }

    fn verify(&self, channel: &ChannelRow, url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        signed(channel, url, headers, body)
    }

    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        let Some(key) = body.as_object().and_then(webhook::channel_key) else { return Vec::new() };
        vec![(Target::Channel(provider_key(&key)), webhook::events(body))]
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            media_fetch: true,
            content: &["text", "media"],
            opt_out_keywords: OPT_OUT_KEYWORDS,
            opt_in_keywords: OPT_IN_KEYWORDS,
            sms_parts: true,
            // Unreachable handset, unknown delivery error: worth another try.
            resend_codes: &["30003", "30008"],
            ..Capabilities::unconnected(AddressKind::Phone)
        }
    }

    fn send<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>> {
        async move {
            let settings = Settings::parse(&channel.settings);
            let unavailable = |what: &str| Failure::Permanent {
                code: "provider_unavailable".to_owned(),
                text: format!("the channel has no {what}"),
            };
            let account = settings.account_sid.as_deref().ok_or_else(|| unavailable("settings.account_sid"))?;
            let (user, password) = settings.credentials().ok_or_else(|| unavailable("credentials"))?;
            let from = settings.from.as_deref().ok_or_else(|| unavailable("settings.from"))?;
            let to = message.recipients.iter().find(|address| address.starts_with('+')).ok_or_else(|| {
                Failure::Permanent {
                    code: "no_recipient".to_owned(),
                    text: "the contact has no phone number on this channel".to_owned(),
                }
            })?;
            let mut form: Vec<(&str, &str)> = vec![("To", to.as_str())];
            form.push((if is_service(from) { "MessagingServiceSid" } else { "From" }, from));
            match &message.content {
                Content::Text(body) => form.push(("Body", body.as_str())),
                Content::Media(media) => {
                    if let Some(caption) = media.caption.as_deref() {
                        form.push(("Body", caption));
                    }
                    match &media.source {
                        MediaSource::Link(url) => form.push(("MediaUrl", url.as_str())),
                        MediaSource::ProviderId(_) => {
                            return Err(Failure::Permanent {
                                code: "content_unsupported".to_owned(),
                                text: "Twilio fetches MMS files by link only".to_owned(),
                            })
                        }
                    }
                }
                _ => {
                    return Err(Failure::Permanent {
                        code: "content_unsupported".to_owned(),
                        text: "SMS carries text and files only".to_owned(),
                    })
                }
            }
            form.push(("StatusCallback", message.status_url.as_str()));
            let url = format!("{}/2010-04-01/Accounts/{account}/Messages.json", settings.api_base_url);
            let response = http
                .post(&url)
                .basic_auth(user, Some(password))
                .form(&form)
                .send()
                .await
                .map_err(|e| Failure::Transient(format!("calling Twilio failed: {e}")))?;
            let status = response.status().as_u16();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            match answer["sid"].as_str() {
                Some(sid) if (200..300).contains(&status) => Ok(sid.to_owned()),
                _ => Err(classify(status, &answer)),
            }
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
        async move {
            let settings = Settings::parse(&channel.settings);
            let url = media["url"]
                .as_str()
                .ok_or_else(|| FetchError::new("media_fetch_failed", "the webhook gave no media URL"))?;
            // Twilio serves MMS files only with the account's credentials (HTTP Basic), which go
            // to Twilio's API and nowhere else.
            let (user, password) = settings
                .credentials()
                .ok_or_else(|| FetchError::new("media_fetch_failed", "the channel has no Twilio credentials"))?;
            let auth = match url.starts_with(&format!("{}/", settings.api_base_url)) {
                true => Auth::Basic { user, password },
                false => Auth::None,
            };
            let mut fetched = super::download(http, url, auth, max_bytes).await?;
            if let Some(reported) = media["mime_type"].as_str().filter(|mime| mime.contains('/')) {
                fetched.content_type = reported.to_owned();
            }
            Ok(fetched)
        }
        .boxed()
    }

    fn settings_schema(&self) -> &'static [Field] {
        SCHEMA
    }
}

/// A Twilio account's settings with their problems: the schema's, and an account SID that is not
/// one.
pub(crate) fn account_problems(
    schema: &[Field],
    map: &Map<String, Value>,
    live: bool,
    network: &str,
) -> (Settings, Vec<FieldError>) {
    let mut problems = settings::problems(schema, map, live, network);
    let settings = Settings::of(map);
    if settings.account_sid.as_deref().is_some_and(|sid| !is_sid(sid, "AC")) {
        problems.push(FieldError {
            field: "settings.account_sid".to_owned(),
            message: "must be AC followed by 32 hexadecimal characters".to_owned(),
        });
    }
    (settings, problems)
}

/// A form-encoded webhook body as a JSON object of strings.
pub(crate) fn decode_form(body: &[u8]) -> Result<Value, String> {
    webhook::params(body).map(|params| webhook::object(&params)).ok_or_else(|| "not a form body".to_owned())
}

/// Whether a form request to `url` carries `X-Twilio-Signature` made with the channel's auth token.
pub(crate) fn signed(channel: &ChannelRow, url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
    let settings = Settings::parse(&channel.settings);
    let signature = headers.get(signature::HEADER).and_then(|value| value.to_str().ok());
    match (settings.auth_token, signature, webhook::params(body)) {
        (Some(token), Some(signature), Some(params)) => signature::verify(&token, url, &params, signature),
        _ => false,
    }
}

/// The key a `from` setting (or a webhook's number or service) names its channel by.
pub(crate) fn provider_key(from: &str) -> String {
    AddressKind::Phone.normalize(from).unwrap_or_else(|_| from.trim().to_owned())
}

/// Whether `sid` is `prefix` and 32 hexadecimal characters, as Twilio's SIDs are.
pub(crate) fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.strip_prefix(prefix).is_some_and(|rest| rest.len() == 32 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A refused send as a failure: throttling and Twilio's outages are tried again; an opted-out
/// recipient (21610) is `opted_out`; other errors keep Twilio's code and its label.
fn classify(status: u16, answer: &Value) -> Failure {
    let code = answer["code"].as_i64().map(|code| code.to_string());
    let text = code
        .as_deref()
        .and_then(webhook::error_label)
        .map(str::to_owned)
        .or_else(|| answer["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("Twilio answered {status}"));
    match code.as_deref() {
        _ if status == 429 || status >= 500 => Failure::Transient(text),
        Some("21610") => Failure::Permanent { code: OPTED_OUT.to_owned(), text },
        Some(code) => Failure::Permanent { code: code.to_owned(), text },
        None => Failure::Permanent { code: format!("http_{status}"), text },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refusals_are_classified() {
        let stop = json!({"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400});
        assert!(matches!(classify(400, &stop), Failure::Permanent { code, .. } if code == OPTED_OUT));
        assert!(matches!(classify(429, &json!({"code": 20429})), Failure::Transient(_)));
        assert!(matches!(classify(503, &Value::Null), Failure::Transient(_)));
        let invalid = json!({"code": 21211, "message": "Invalid 'To' Phone Number"});
        assert!(matches!(classify(400, &invalid), Failure::Permanent { code, .. } if code == "21211"));
    }

    #[test]
    fn whole_keywords_opt_out_and_back_in() {
        let capabilities = Twilio.capabilities();
        for (text, change) in [
            ("STOP", Some(true)),
            (" stop! ", Some(true)),
            ("Unsubscribe.", Some(true)),
            ("start", Some(false)),
            ("Yes", Some(false)),
            ("stop it", None),
            ("please stop sending these", None),
        ] {
            assert_eq!(capabilities.opt_out_change(Some(text)), change, "{text}");
        }
        assert_eq!(Capabilities::unconnected(AddressKind::Phone).opt_out_change(Some("STOP")), None);
    }

    #[test]
    fn settings_name_an_account_and_a_number_or_service() {
        let check = |settings: Value| Twilio.check_settings(settings.as_object().unwrap(), true);
        let good =
            json!({"account_sid": format!("AC{}", "a".repeat(32)), "auth_token": "t", "from": "+39 333 123 4567"});
        assert_eq!(check(good).unwrap().as_deref(), Some("+393331234567"));
        let service = json!({"account_sid": format!("AC{}", "0".repeat(32)), "auth_token": "t", "from": format!("MG{}", "1".repeat(32))});
        assert_eq!(check(service).unwrap(), Some(format!("MG{}", "1".repeat(32))));
        let bad = json!({"account_sid": "AC12", "auth_token": "t", "from": "nobody", "api_key_sid": "SK1"});
        let fields: Vec<String> = check(bad).unwrap_err().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["settings.account_sid", "settings.from", "settings.api_key_secret"]);
    }
}
