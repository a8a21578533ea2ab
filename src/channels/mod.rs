//! Channel adapters: one folder per network, and one line in [`ADAPTERS`]. An adapter knows its
//! network's settings, webhook handshake, signatures and payloads; it verifies, parses and returns
//! data, and never calls services. Services ask an adapter what a channel can do, never its name.

pub mod api;
pub mod email;
pub mod instagram;
pub mod messenger;
pub mod meta;
pub mod rcs;
pub mod settings;
pub mod twilio;
pub mod voice;
pub mod webchat;
pub mod whatsapp;

use std::collections::{BTreeSet, HashMap};

use axum::http::HeaderMap;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::content::{self, Content};
use crate::domain::inbound::{InboundEvent, InboundMessage};
use crate::domain::{AddressKind, ChannelKind};
use crate::error::FieldError;
use crate::store::channels::ChannelRow;

/// What a network lets a channel do. Services decide by these, never by the network's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub struct Capabilities {
    /// What a contact's address on the network is.
    pub address: AddressKind,
    /// Free-form replies are allowed this many hours after the customer's last message; `null`
    /// when there is no such window.
    pub reply_window_hours: Option<u32>,
    /// After the reply window, an operator's reply still goes out (tagged as a person's answer)
    /// until this many hours after the customer's last message; `null` when the network has no
    /// such tag.
    pub human_agent_window_hours: Option<u32>,
    /// Approved message templates can be sent, also outside the reply window.
    pub templates: bool,
    /// The customer is told when an operator has read their messages.
    pub read_receipts: bool,
    /// The customer sees that an operator is typing.
    pub typing: bool,
    /// Files the customer sends are fetched from the provider into the media store.
    pub media_fetch: bool,
    /// Customers' edits and unsends reach Parley.
    pub edits: bool,
    /// The sender's name and picture are looked up once per new contact.
    pub profiles: bool,
    /// Public comments on the business's posts arrive as messages and are answered publicly
    /// (under the comment) or privately (one direct message per comment).
    pub comments: bool,
    /// The kinds of content the network takes: text, media, location, contacts, choices, cards,
    /// template, reaction, native.
    #[schema(value_type = Vec<String>)]
    pub content: &'static [&'static str],
    /// Words that, as a customer's whole message, opt them out of every message on the channel
    /// (sends to them are refused) until they send one of `opt_in_keywords`.
    #[schema(value_type = Vec<String>)]
    pub opt_out_keywords: &'static [&'static str],
    #[schema(value_type = Vec<String>)]
    pub opt_in_keywords: &'static [&'static str],
    /// Texts travel as SMS, in parts (GSM-7 or UCS-2): the composer counts them as one types.
    pub sms_parts: bool,
    /// Failure codes of a delivery report after which the message is sent again, a little later
    /// (a phone that was off or out of coverage), up to twice before it fails.
    #[schema(value_type = Vec<String>)]
    pub resend_codes: &'static [&'static str],
    /// The sender names each message (RBM's `messageId`): Parley stores the id before the first
    /// attempt, so a retry after a crash is never a second message.
    pub names_messages: bool,
    /// Each message names the messages it answers (email's In-Reply-To and References): a
    /// customer's message joins the conversation of one Parley knows, else starts a new one, and
    /// replies go out with the conversation's subject and thread.
    pub threads: bool,
    /// Files travel inside the message (email attachments): the send hands the adapter their
    /// bytes rather than links.
    pub files_inline: bool,
    /// Phone calls are recorded in its conversations, as messages of type `call`.
    pub calls: bool,
}

/// The longest text (trimmed, in bytes) still compared with the opt-out and opt-in keywords.
const MAX_KEYWORD_BYTES: usize = 16;

impl Capabilities {
    /// A network Parley does not connect to yet: simulation channels only, every kind of content.
    pub const fn unconnected(address: AddressKind) -> Capabilities {
        Capabilities {
            address,
            reply_window_hours: None,
            human_agent_window_hours: None,
            templates: false,
            read_receipts: false,
            typing: false,
            media_fetch: false,
            edits: false,
            profiles: false,
            comments: false,
            content: content::KINDS,
            opt_out_keywords: &[],
            opt_in_keywords: &[],
            sms_parts: false,
            resend_codes: &[],
            names_messages: false,
            threads: false,
            files_inline: false,
            calls: false,
        }
    }

    /// Whether a customer's message opts them out (`Some(true)`) or back in (`Some(false)`): its
    /// whole text, in any case, is one of the keywords.
    pub fn opt_out_change(&self, text: Option<&str>) -> Option<bool> {
        let text = text?.trim();
        // Keywords are short: longer texts (and networks without keywords) are never compared.
        if text.len() > MAX_KEYWORD_BYTES || (self.opt_out_keywords.is_empty() && self.opt_in_keywords.is_empty()) {
            return None;
        }
        let word = text.trim_end_matches(['.', '!']).to_uppercase();
        let named = |keywords: &[&str]| keywords.iter().any(|keyword| *keyword == word);
        if named(self.opt_out_keywords) {
            Some(true)
        } else if named(self.opt_in_keywords) {
            Some(false)
        } else {
            None
        }
    }

    /// When the reply window opened by a customer message at `inbound_at` (Unix ms) closes.
    pub fn reply_window_expiry(&self, inbound_at: i64) -> Option<i64> {
        self.reply_window_hours.map(|hours| inbound_at + i64::from(hours) * 3_600_000)
    }

    /// When an operator's replies to a customer message at `inbound_at` stop going out tagged as
    /// a person's answer.
    pub fn human_agent_expiry(&self, inbound_at: i64) -> Option<i64> {
        self.human_agent_window_hours.map(|hours| inbound_at + i64::from(hours) * 3_600_000)
    }
}

/// A queued message as an adapter sends it.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// The contact's addresses on the channel, phone numbers first.
    pub recipients: Vec<String>,
    pub content: Content,
    /// The provider's id of the message this one quotes.
    pub reply_to: Option<String>,
    /// Sent after the reply window, inside the human-agent window: tagged as a person's answer.
    pub human_agent: bool,
    /// Parley's webhook URL for the network, for providers told per message where to report its
    /// statuses.
    pub status_url: String,
    /// The comment this message answers, when it answers one.
    pub comment: Option<CommentReply>,
    /// The id Parley gave the message before its first attempt, on networks where the sender
    /// names messages (see `Capabilities::names_messages`).
    pub message_id: Option<String>,
    /// On networks whose messages carry their thread (`Capabilities::threads`): the subject,
    /// thread, copies and files of the message.
    pub envelope: Option<Envelope>,
}

/// What a message on a threaded network (email) carries besides its content.
#[derive(Debug, Clone, Default)]
pub struct Envelope {
    /// The conversation's subject.
    pub subject: Option<String>,
    /// The provider ids of the conversation's messages, oldest first: the last one is answered.
    pub references: Vec<String>,
    pub cc: Vec<String>,
    pub bcc: Vec<String>,
    /// The attached files.
    pub files: Vec<OutboundFile>,
    /// The name of the person writing.
    pub sender_name: Option<String>,
    /// Parley wrote it by itself (a virtual agent's answer, a survey): marked so that other
    /// systems do not answer it.
    pub automatic: bool,
}

/// A file sent inside a message.
#[derive(Debug, Clone)]
pub struct OutboundFile {
    pub name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// An answer to a public comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentReply {
    /// The provider's id of the comment.
    pub comment_id: String,
    /// A direct message to the commenter instead of a public reply under the comment.
    pub private: bool,
}

/// A message template as the provider keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    /// The provider's review status: APPROVED, PENDING, REJECTED…
    pub status: String,
    /// The template's components (header, body, footer, buttons).
    pub components: Value,
    pub provider_template_id: Option<String>,
    /// Why it was rejected or paused.
    pub reason: Option<String>,
}

/// A customer's profile as the network shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub name: Option<String>,
    /// Where the picture can be downloaded (short-lived).
    pub picture_url: Option<String>,
}

/// Why a call to a provider did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// It will never succeed: fail the message with this code and text.
    Permanent { code: String, text: String },
    /// Worth trying again later (throttling, the provider's outages, network trouble).
    Transient(String),
}

/// The failure code of a send refused because the customer unsubscribed from the channel (and
/// of a send Parley refuses for the same reason).
pub const OPTED_OUT: &str = "opted_out";

/// The payload key under which an adapter describes the file of an inbound message to fetch
/// (with `InboundMessage.fetch_media`); the object is handed back to [`Channel::fetch_media`].
pub const MEDIA: &str = "media";

/// A file fetched from a provider.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Why a file could not be fetched: a stable code and what happened. Fetches are retried.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct FetchError {
    pub code: &'static str,
    pub detail: String,
}

impl FetchError {
    /// A fetch error with this code.
    pub fn new(code: &'static str, detail: impl Into<String>) -> FetchError {
        FetchError { code, detail: detail.into() }
    }
}

/// Which channels part of a webhook body concerns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The channel with this provider key (its phone number id, page id…).
    Channel(String),
    /// The live channels of the kind whose setting `name` is `value` (e.g. a WhatsApp business
    /// account's numbers).
    Setting {
        /// The setting's name.
        name: &'static str,
        /// Its value.
        value: String,
    },
}

/// A network's adapter.
pub trait Channel: Sync {
    /// The network.
    fn kind(&self) -> ChannelKind;

    /// The path of the network's webhook URL under `/hooks/` (`{channel}` stands for the channel's
    /// id where each channel has its own); `None` for networks without a provider webhook.
    fn hook_path(&self) -> Option<&'static str> {
        Some(self.kind().as_str())
    }

    /// Checks a channel's provider settings (problems named `settings.<name>`); a live channel
    /// must have everything the provider needs. Answers the provider key, by which webhooks name
    /// the channel.
    fn check_settings(&self, settings: &Map<String, Value>, live: bool) -> Result<Option<String>, Vec<FieldError>>;

    /// Answers the provider's verification of the webhook URL (its query parameters) for these
    /// live channels: the text to return, or why not. Networks without a provider webhook (the web
    /// chat, the API) keep the defaults of this and of `route`, `verify` and `parse`: no
    /// handshake, no body routed, nothing verified, nothing read.
    fn handshake(&self, _query: &HashMap<String, String>, _channels: &[ChannelRow]) -> Result<String, &'static str> {
        Err("this network has no provider webhook")
    }

    /// The parameters of a verification request the provider posts to the webhook (RBM's
    /// `{clientToken, secret}`), answered by [`Channel::handshake`]; `None` for other bodies.
    fn handshake_body(&self, _body: &[u8]) -> Option<HashMap<String, String>> {
        None
    }

    /// The provider keys of the channels a webhook body names, read before anything is verified;
    /// `None` when the body is not this network's.
    fn route(&self, _body: &[u8]) -> Option<BTreeSet<String>> {
        None
    }

    /// Whether the request to `url` (the public URL the provider called) is signed with
    /// `channel`'s credentials.
    fn verify(&self, _channel: &ChannelRow, _url: &str, _headers: &HeaderMap, _body: &[u8]) -> bool {
        false
    }

    /// A verified body as JSON (the network's form parameters as an object of strings, for
    /// networks that post forms); the error says why it cannot be read.
    fn decode(&self, body: &[u8]) -> Result<Value, String> {
        serde_json::from_slice(body).map_err(|e| format!("malformed JSON: {e}"))
    }

    /// What a verified body reports, grouped by the channels it concerns, in the body's order.
    fn parse(&self, _body: &Value) -> Vec<(Target, Vec<InboundEvent>)> {
        Vec::new()
    }

    /// What the network lets a channel do.
    fn capabilities(&self) -> Capabilities;

    /// How many messages a second a live channel may send; `None` when the provider sets no pace.
    fn send_rate(&self, _channel: &ChannelRow) -> Option<u32> {
        None
    }

    /// Sends a message on a live channel; answers the provider's id for it.
    fn send<'a>(
        &'a self,
        http: &'a reqwest::Client,
        channel: &'a ChannelRow,
        message: &'a Outbound,
    ) -> BoxFuture<'a, Result<String, Failure>>;

    /// The id a message is sent under, on networks where the sender names messages.
    fn message_name(&self, _channel: &ChannelRow) -> String {
        uuid::Uuid::new_v4().to_string()
    }

    /// Tells the provider the business read the customer's (`recipient`'s) messages up to this
    /// one; only called when the capabilities say `read_receipts`.
    fn mark_read<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _recipient: &'a str,
        _provider_message_id: &'a str,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        unsupported("read receipts")
    }

    /// Shows the customer that an operator is typing (`on`) or stopped; only called when the
    /// capabilities say `typing`.
    fn typing<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _recipient: &'a str,
        _on: bool,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        unsupported("typing indicators")
    }

    /// Downloads the file a message's payload describes (the object the adapter put under
    /// `payload.media` when parsing it), at most `max_bytes`.
    fn fetch_media<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _media: &'a Value,
        _max_bytes: usize,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        async { Err(FetchError::new("media_fetch_unsupported", "the network does not hand over files")) }.boxed()
    }

    /// Looks a customer's profile up by their address; only called when the capabilities say
    /// `profiles`.
    fn fetch_profile<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _address: &'a str,
    ) -> BoxFuture<'a, Result<Profile, Failure>> {
        unsupported("profiles")
    }

    /// Submits a new template for the provider's review and answers it as the provider keeps it
    /// (status, id); `None` when the channel keeps its templates itself (a simulation channel, or
    /// no template account in its settings). Only called when the capabilities say `templates`.
    fn submit_template<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _template: &'a ProviderTemplate,
    ) -> BoxFuture<'a, Result<Option<ProviderTemplate>, Failure>> {
        async { Ok(None) }.boxed()
    }

    /// The provider's templates of the channel; `None` when the channel keeps its templates
    /// itself.
    fn list_templates<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
    ) -> BoxFuture<'a, Result<Option<Vec<ProviderTemplate>>, Failure>> {
        async { Ok(None) }.boxed()
    }

    /// Looks a public comment up by its id, with its post (link, caption, picture); only called
    /// when the capabilities say `comments`.
    fn lookup_comment<'a>(
        &'a self,
        _http: &'a reqwest::Client,
        _channel: &'a ChannelRow,
        _comment_id: &'a str,
    ) -> BoxFuture<'a, Result<InboundMessage, Failure>> {
        unsupported("comments")
    }

    /// The settings a channel of the network has, for forms and for hiding the secrets.
    fn settings_schema(&self) -> &'static [settings::Field];
}

/// The failure of a call the network does not offer.
fn unsupported<'a, T: Send + 'a>(what: &str) -> BoxFuture<'a, Result<T, Failure>> {
    let failure = Failure::Permanent { code: "unsupported".to_owned(), text: format!("the network has no {what}") };
    async move { Err(failure) }.boxed()
}

/// How a download proves who asks.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// A public file.
    None,
    Bearer(&'a str),
    Basic {
        user: &'a str,
        password: &'a str,
    },
}

/// Downloads `url` with `auth`, at most `max_bytes`; the content type is the response's.
pub async fn download(
    http: &reqwest::Client,
    url: &str,
    auth: Auth<'_>,
    max_bytes: usize,
) -> Result<Fetched, FetchError> {
    let network = |e: reqwest::Error| FetchError::new("media_fetch_failed", format!("downloading failed: {e}"));
    let request = match auth {
        Auth::None => http.get(url),
        Auth::Bearer(token) => http.get(url).bearer_auth(token),
        Auth::Basic { user, password } => http.get(url).basic_auth(user, Some(password)),
    };
    let mut response = request.send().await.map_err(network)?;
    match response.status() {
        status if status.is_success() => {}
        reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::GONE => {
            return Err(FetchError::new("media_not_found", format!("the file is gone ({})", response.status())))
        }
        status => return Err(FetchError::new("media_fetch_failed", format!("the file's server answered {status}"))),
    }
    let too_large = || FetchError::new("media_too_large", format!("files are limited to {max_bytes} bytes"));
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(';').next().unwrap_or(value).trim().to_owned())
        .filter(|value| !value.is_empty())
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    // Read chunk by chunk, so a body without a length cannot grow past the limit.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        if bytes.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched { bytes, content_type })
}

/// A send to a network whose messages Parley delivers itself (the web chat's stream, the API): taken
/// at once, under the message's own id.
pub fn accepted_at_once(message: &Outbound) -> BoxFuture<'static, Result<String, Failure>> {
    let id = message.message_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    async move { Ok(id) }.boxed()
}

/// Every network Parley connects to.
pub const ADAPTERS: &[&dyn Channel] = &[
    &whatsapp::WhatsApp,
    &messenger::MESSENGER,
    &instagram::INSTAGRAM,
    &twilio::Twilio,
    &rcs::Rbm,
    &webchat::WebChat,
    &api::ApiChannel,
    &email::Email,
    &voice::Voice,
];

/// The adapter of a network, when Parley has one.
pub fn adapter(kind: ChannelKind) -> Option<&'static dyn Channel> {
    ADAPTERS.iter().copied().find(|adapter| adapter.kind() == kind)
}

/// The adapter whose webhook URL is `/hooks/{path}`.
pub fn adapter_by_hook(path: &str) -> Option<&'static dyn Channel> {
    ADAPTERS.iter().copied().find(|adapter| adapter.hook_path() == Some(path))
}

/// What a channel of `kind` can do: its adapter's capabilities, or none without one.
pub fn capabilities(kind: ChannelKind) -> Capabilities {
    adapter(kind).map_or(Capabilities::unconnected(AddressKind::Id), |adapter| adapter.capabilities())
}

/// What a channel of a stored kind can do.
pub fn capabilities_of(stored_kind: &str) -> Capabilities {
    ChannelKind::parse(stored_kind).map_or(Capabilities::unconnected(AddressKind::Id), capabilities)
}

/// The settings schema of a network's channels (empty without an adapter).
pub fn settings_schema(kind: ChannelKind) -> &'static [settings::Field] {
    adapter(kind).map(|adapter| adapter.settings_schema()).unwrap_or_default()
}
