//! RCS through Google's RCS Business Messaging (RBM): the agent's settings, OAuth tokens minted
//! from its service-account key, the signed Pub/Sub webhook, sends with Parley's own message ids
//! (so a retry is never a second message), a capability check before the first message to a
//! number, read receipts and typing indicators.

pub mod content;
pub mod webhook;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use gcp_auth::{CustomServiceAccount, TokenProvider};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::settings::{self, text, Field, Format};
use super::{Auth, Capabilities, Channel, Failure, FetchError, Fetched, Outbound, Target};
use crate::domain::inbound::InboundEvent;
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// The OAuth scope of RBM's API.
const SCOPE: &str = "https://www.googleapis.com/auth/rcsbusinessmessaging";

/// The failure code of a send to a number RCS cannot reach (RCS off or unsupported, the carrier
/// not launched, or the agent not launched and the number not a tester).
pub const NOT_RCS_CAPABLE: &str = "not_rcs_capable";

/// How long a number found RCS-capable is not checked again.
const CAPABLE_FOR: Duration = Duration::from_secs(24 * 3600);

/// Most numbers the capability cache holds (about 10 MB).
const MAX_CAPABLE_NUMBERS: usize = 100_000;

/// The settings of RBM channels.
const SCHEMA: &[Field] = &[
    Field {
        name: "agent_id",
        label: "Agent id",
        help: "The RBM agent's id, e.g. parley-demo-agent@rbm.goog (Business Communications console → agent → \
               Agent information)",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "service_account_key",
        label: "Service account key",
        help: "The JSON key of the agent's service account (console → Service account → Create key): Parley \
               signs its own OAuth tokens with it",
        secret: true,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "client_token",
        label: "Webhook client token",
        help: "The client token shown when the webhook is configured: RBM signs every delivery with it",
        secret: true,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "region",
        label: "Region",
        help: "Where the agent's API calls go: global (default), us, europe or asia",
        secret: false,
        required: false,
        format: Format::Choice { options: &["global", "us", "europe", "asia"] },
    },
    Field {
        name: "ttl_seconds",
        label: "Time to live (seconds)",
        help: "A message still undelivered this long after it was sent is revoked by RBM (and falls back to SMS \
               when the send asked for it); RBM keeps trying for 30 days when unset",
        secret: false,
        required: false,
        format: Format::Count { min: 60, max: 30 * 24 * 3600 },
    },
    Field {
        name: "api_base_url",
        label: "API base URL",
        help: "RBM's API (chosen by the region); change it only for a test server",
        secret: false,
        required: false,
        format: Format::Url,
    },
];

/// A channel's RBM settings.
struct Settings {
    agent_id: Option<String>,
    key: Option<String>,
    client_token: Option<String>,
    ttl_seconds: Option<u64>,
    api_base_url: String,
}

impl Settings {
    fn of(map: &Map<String, Value>) -> Settings {
        let region = match text(map, "region").as_deref() {
            Some("us") => "us-",
            Some("europe") => "europe-",
            Some("asia") => "asia-",
            _ => "",
        };
        Settings {
            agent_id: text(map, "agent_id"),
            key: text(map, "service_account_key"),
            client_token: text(map, "client_token"),
            ttl_seconds: map.get("ttl_seconds").and_then(Value::as_u64),
            api_base_url: text(map, "api_base_url")
                .unwrap_or_else(|| format!("https://{region}rcsbusinessmessaging.googleapis.com"))
                .trim_end_matches('/')
                .to_owned(),
        }
    }

    fn parse(stored: &str) -> Settings {
        Settings::of(&settings::parse(stored))
    }

    /// The URL of a call about the customer at `phone`.
    fn phone_url(&self, phone: &str, path: &str) -> String {
        format!(
            "{}/v1/phones/{}/{path}",
            self.api_base_url,
            url::form_urlencoded::byte_serialize(phone.as_bytes()).collect::<String>()
        )
    }
}

/// Service accounts by the hash of their key: each caches its tokens until shortly before they
/// expire, so a token is minted once an hour per agent, not per call.
static ACCOUNTS: LazyLock<Mutex<HashMap<[u8; 32], Arc<CustomServiceAccount>>>> = LazyLock::new(Default::default);

/// Numbers found RCS-capable, per API and agent, and when.
static CAPABLE: LazyLock<Mutex<HashMap<(String, String), Instant>>> = LazyLock::new(Default::default);

/// A bearer token for RBM, minted from the service-account key (never from a metadata server).
async fn token(key: &str) -> Result<String, Failure> {
    let hash: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let cached =
        ACCOUNTS.lock().map_err(|_| Failure::Transient("token cache poisoned".to_owned()))?.get(&hash).cloned();
    let account = match cached {
        Some(account) => account,
        None => {
            let account = Arc::new(CustomServiceAccount::from_json(key).map_err(|e| Failure::Permanent {
                code: "provider_unavailable".to_owned(),
                text: format!("the service account key cannot be used: {e}"),
            })?);
            if let Ok(mut accounts) = ACCOUNTS.lock() {
                accounts.insert(hash, account.clone());
            }
            account
        }
    };
    let token =
        account.token(&[SCOPE]).await.map_err(|e| Failure::Transient(format!("no OAuth token for RBM: {e}")))?;
    Ok(token.as_str().to_owned())
}

/// Whether a number was found RCS-capable lately.
fn known_capable(agent: &str, phone: &str) -> bool {
    let key = (agent.to_owned(), phone.to_owned());
    CAPABLE.lock().is_ok_and(|capable| capable.get(&key).is_some_and(|at| at.elapsed() < CAPABLE_FOR))
}

fn remember_capable(agent: &str, phone: &str, capable: bool) {
    if let Ok(mut known) = CAPABLE.lock() {
        let key = (agent.to_owned(), phone.to_owned());
        if !capable {
            known.remove(&key);
            return;
        }
        // The cache is bounded: stale numbers go first, and if that is not enough, all of them.
        if known.len() >= MAX_CAPABLE_NUMBERS {
            known.retain(|_, at| at.elapsed() < CAPABLE_FOR);
            if known.len() >= MAX_CAPABLE_NUMBERS {
                known.clear();
            }
        }
        known.insert(key, Instant::now());
    }
}

/// The RBM adapter.
pub struct Rbm;

/// What a channel needs to call RBM: its settings, agent and a token.
struct Call {
    settings: Settings,
    agent: String,
    token: String,
}

impl Call {
    async fn new(channel: &ChannelRow) -> Result<Call, Failure> {
        let settings = Settings::parse(&channel.settings);
        let missing = |what: &str| Failure::Permanent {
            code: "provider_unavailable".to_owned(),
            text: format!("the channel has no settings.{what}"),
        };
        let agent = settings.agent_id.clone().ok_or_else(|| missing("agent_id"))?;
        let token = token(settings.key.as_deref().ok_or_else(|| missing("service_account_key"))?).await?;
        Ok(Call { settings, agent, token })
    }

    /// The agent as the capability cache knows it: at its API.
    fn agent_key(&self) -> String {
        format!("{} {}", self.settings.api_base_url, self.agent)
    }

    /// Sends a request; answers the status and the JSON body.
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(u16, Value), Failure> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| Failure::Transient(format!("calling RBM failed: {e}")))?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// Checks that the number can take RCS messages from the agent (once a day per number).
    async fn check_capable(&self, http: &reqwest::Client, phone: &str) -> Result<(), Failure> {
        let agent = self.agent_key();
        if known_capable(&agent, phone) {
            return Ok(());
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let url = self.settings.phone_url(phone, "capabilities");
        let (status, answer) =
            self.send(http.get(url).query(&[("requestId", request_id.as_str()), ("agentId", &self.agent)])).await?;
        match status {
            200..=299 => {
                remember_capable(&agent, phone, true);
                Ok(())
            }
            _ => Err(classify(status, &answer)),
        }
    }
}

/// A refused call as a failure: throttling and outages are retried; a number RCS cannot reach is
/// `not_rcs_capable`; the rest keep Google's status.
fn classify(status: u16, answer: &Value) -> Failure {
    let said = answer["error"]["message"].as_str().unwrap_or_default();
    let text = |what: &str| if said.is_empty() { what.to_owned() } else { format!("{what}: {said}") };
    match status {
        429 | 500.. => Failure::Transient(text(&format!("RBM answered {status}"))),
        404 => Failure::Permanent {
            code: NOT_RCS_CAPABLE.to_owned(),
            text: "The number cannot take RCS messages from this agent (RCS off, carrier not launched, or the agent \
                   not launched and the number not a tester)"
                .to_owned(),
        },
        403 => Failure::Permanent {
            code: "agent_not_launched".to_owned(),
            text: text("The agent may not message this number (not launched on the carrier, or no permission)"),
        },
        401 => Failure::Permanent {
            code: "provider_auth_failed".to_owned(),
            text: text("RBM refused the service account's token"),
        },
        _ => Failure::Permanent { code: format!("http_{status}"), text: text(&format!("RBM answered {status}")) },
    }
}

impl Channel for Rbm {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Rcs
    }

    fn check_settings(&self, map: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>> {
        let mut problems = settings::problems(SCHEMA, map, live, "RCS");
        let settings = Settings::of(map);
        if let Some(key) = settings.key.as_deref() {
            if let Some(problem) = key_problem(key) {
                problems.push(FieldError { field: "settings.service_account_key".to_owned(), message: problem });
            }
        }
        match problems.is_empty() {
            true => Ok(settings.agent_id),
            false => Err(problems),
        }
    }

    fn handshake(&self, query: &HashMap<String, String>, channels: &[ChannelRow]) -> Result<String, &'static str> {
        let (Some(token), Some(secret)) = (query.get("clientToken"), query.get("secret")) else {
            return Err("RBM verifies the webhook by posting {clientToken, secret}");
        };
        let known = channels.iter().any(|channel| {
            Settings::parse(&channel.settings)
                .client_token
                .is_some_and(|own| bool::from(own.as_bytes().ct_eq(token.as_bytes())))
        });
        match known {
            true => Ok(secret.clone()),
            false => Err("no RCS channel has this client token"),
        }
    }

    fn handshake_body(&self, body: &[u8]) -> Option<HashMap<String, String>> {
        let (token, secret) = webhook::handshake(body)?;
        Some(HashMap::from([("clientToken".to_owned(), token), ("secret".to_owned(), secret)]))
    }

    fn route(&self, body: &[u8]) -> Option<BTreeSet<String>> {
        let push = webhook::push(body)?;
        let data: Value = serde_json::from_slice(&push.data).ok()?;
        Some(webhook::agent_id(&data, &push.attributes).into_iter().collect())
    }

    fn verify(&self, channel: &ChannelRow, _url: &str, headers: &HeaderMap, body: &[u8]) -> bool {
        let token = Settings::parse(&channel.settings).client_token;
        let signature = headers.get(webhook::HEADER).and_then(|value| value.to_str().ok());
        match (token, signature, webhook::push(body)) {
            (Some(token), Some(signature), Some(push)) => webhook::signed(&token, &push.data, signature),
            _ => false,
        }
    }

    fn decode(&self, body: &[u8]) -> Result<Value, String> {
        let push = webhook::push(body).ok_or_else(|| "not a Pub/Sub push body".to_owned())?;
        let data: Value = serde_json::from_slice(&push.data).map_err(|e| format!("message.data is not JSON: {e}"))?;
        Ok(json!({ "data": data, "attributes": push.attributes }))
    }

    fn parse(&self, body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        let (data, attributes) = (&body["data"], &body["attributes"]);
        match webhook::agent_id(data, attributes) {
            Some(agent) => vec![(Target::Channel(agent), webhook::events(data, attributes))],
            None => Vec::new(),
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            read_receipts: true,
            typing: true,
            media_fetch: true,
            names_messages: true,
            content: &["text", "media", "location", "choices", "cards", "actions", "native"],
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
            let phone = recipient(message)?;
            let message_id = message.message_id.clone().ok_or_else(|| Failure::Permanent {
                code: "no_message_id".to_owned(),
                text: "RBM messages need Parley's id before they are sent".to_owned(),
            })?;
            let mut body = json!({ "contentMessage": content::content_message(&message.content)? });
            let call = Call::new(channel).await?;
            if let Some(ttl) = call.settings.ttl_seconds {
                body["ttl"] = json!(format!("{ttl}s"));
            }
            call.check_capable(http, phone).await?;
            let url = call.settings.phone_url(phone, "agentMessages");
            let query = [("messageId", message_id.as_str()), ("agentId", call.agent.as_str())];
            let (status, answer) = call.send(http.post(url).query(&query).json(&body)).await?;
            match status {
                // 409: an earlier attempt with this id was accepted before Parley could record it.
                200..=299 | 409 => Ok(message_id),
                _ => {
                    if status == 404 {
                        remember_capable(&call.agent_key(), phone, false);
                    }
                    Err(classify(status, &answer))
                }
            }
        }
        .boxed()
    }

    fn mark_read<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        recipient: &'a str,
        provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            agent_event(http, channel, recipient, json!({"eventType": "READ", "messageId": provider_message_id})).await
        }
        .boxed()
    }

    fn typing<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        recipient: &'a str,
        on: bool,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            // RBM has no "stopped typing": the indicator fades by itself.
            match on {
                true => agent_event(http, channel, recipient, json!({ "eventType": "IS_TYPING" })).await,
                false => Ok(()),
            }
        }
        .boxed()
    }

    fn fetch_media<'a>(
        &'a self,
        http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        media: &'a Value,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        async move {
            let url = media["url"]
                .as_str()
                .ok_or_else(|| FetchError::new("media_fetch_failed", "the message gave no file URL"))?;
            // RBM hands user files over as links to Google's storage, readable without credentials.
            let mut fetched = super::download(http, url, Auth::None, max_bytes).await?;
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

/// The customer's phone number.
fn recipient(message: &Outbound) -> Result<&str, Failure> {
    message.recipients.iter().find(|address| address.starts_with('+')).map(String::as_str).ok_or_else(|| {
        Failure::Permanent { code: "no_recipient".to_owned(), text: "the contact has no phone number".to_owned() }
    })
}

/// Sends an agent event (read receipt, typing) to the customer.
async fn agent_event(http: &reqwest::Client, channel: &ChannelRow, phone: &str, event: Value) -> Result<(), Failure> {
    let call = Call::new(channel).await?;
    let event_id = uuid::Uuid::new_v4().to_string();
    let url = call.settings.phone_url(phone, "agentEvents");
    let query = [("eventId", event_id.as_str()), ("agentId", call.agent.as_str())];
    match call.send(http.post(url).query(&query).json(&event)).await? {
        (200..=299, _) => Ok(()),
        (status, answer) => Err(classify(status, &answer)),
    }
}

/// What is wrong with a service-account key, if anything: it must be the JSON key Google gives.
fn key_problem(key: &str) -> Option<String> {
    let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
        return Some("must be the service account's JSON key, as downloaded".to_owned());
    };
    if key.get("type").and_then(Value::as_str) != Some("service_account") {
        return Some("must be a key of type service_account".to_owned());
    }
    let missing: Vec<&str> = ["client_email", "private_key", "token_uri"]
        .into_iter()
        .filter(|name| key.get(*name).and_then(Value::as_str).is_none_or(str::is_empty))
        .collect();
    if !missing.is_empty() {
        return Some(format!("the key lacks {}", missing.join(", ")));
    }
    if !key["private_key"].as_str().is_some_and(|pem| pem.contains("BEGIN PRIVATE KEY")) {
        return Some("the key's private_key must be a PEM (PKCS#8) private key".to_owned());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_classified() {
        let not_found =
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}});
        assert!(matches!(classify(404, &not_found), Failure::Permanent { code, .. } if code == NOT_RCS_CAPABLE));
        assert!(matches!(classify(429, &Value::Null), Failure::Transient(_)));
        assert!(matches!(classify(503, &Value::Null), Failure::Transient(_)));
        assert!(matches!(classify(403, &Value::Null), Failure::Permanent { code, .. } if code == "agent_not_launched"));
    }

    #[test]
    fn keys_must_be_service_account_keys() {
        assert!(key_problem("not json").is_some());
        assert!(key_problem(r#"{"type": "authorized_user"}"#).is_some());
        let key = include_str!("../../../tests/fixtures/rbm/service-account.json");
        assert_eq!(key_problem(key), None);
    }
}
