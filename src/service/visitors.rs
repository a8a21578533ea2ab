//! Web chat visitors: a widget on an allowed website opens a session (a server-minted token, kept
//! hashed, sent back in a header and never in a URL) bound to a contact of its own; the visitor's
//! messages are ingested like any channel's, and the visitor reads only their own conversation.
//! The business's server may prove who a visitor is (HMAC-SHA256 of the identifier with the
//! channel's identity secret, or an HS256 JWT whose `sub` is the identifier): a proved visitor
//! joins the contact with that identifier; a visitor who only claims an identifier never does.
//! Identifying rotates the token.

use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::channels::webchat::WidgetSettings;
use crate::domain::inbound::InboundMessage;
use crate::domain::jwt::verify_hs256;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::EscalationStatus;
use crate::domain::{ChannelKind, MediaOrigin, MessageType};
use crate::error::{Error, Result};
use crate::service::auth::{hash_key, random_token};
use crate::service::escalations::{self, EscalationPatch};
use crate::service::outbound::{self, Outgoing};
use crate::service::{contacts, inbound, media};
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};
use crate::store::conversations::ConversationRow;
use crate::store::messages::{self, MessageRow};
use crate::store::visitors::{self, Identity, NewVisitorSession, VisitorSessionRow};

/// How long a visitor's session lasts.
const SESSION_MS: i64 = 30 * 24 * 3_600_000;

/// How the addresses of visitors who have not been identified start.
pub const ANONYMOUS_PREFIX: &str = "visitor-";

/// Most messages one page of a visitor's thread holds.
const PAGE: i64 = 100;

/// How long media links in a visitor's thread stay valid, in seconds.
const MEDIA_LINK_SECONDS: i64 = 24 * 3600;

/// A visitor's session as the widget keeps it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionToken {
    /// Send it as `Authorization: Bearer <token>` on every widget call; never put it in a URL.
    pub token: String,
    pub visitor: Visitor,
}

/// The visitor as the widget shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Visitor {
    pub identifier: Option<String>,
    /// The business's server proved the identifier.
    pub verified: bool,
    pub expires_at: String,
}

impl From<&VisitorSessionRow> for Visitor {
    fn from(row: &VisitorSessionRow) -> Self {
        Visitor {
            identifier: row.identifier.clone(),
            verified: row.verified != 0,
            expires_at: to_rfc3339(row.expires_at),
        }
    }
}

/// A message as the visitor sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct WidgetMessage {
    pub id: i64,
    /// `visitor`, `agent` (a person) or `bot` (a virtual agent).
    pub from: &'static str,
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    /// Choices and cards, as sent.
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Links to the message's files, valid for a day.
    pub media: Vec<String>,
    pub created_at: String,
}

impl WidgetMessage {
    fn of(state: &AppState, row: &MessageRow) -> WidgetMessage {
        let from = match (row.direction.as_str(), row.sender_type.as_str()) {
            ("inbound", _) => "visitor",
            (_, "virtual_agent") => "bot",
            _ => "agent",
        };
        let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
        let shown = ["choices", "cards", "location", "draft_id"]
            .into_iter()
            .filter_map(|key| payload.get(key).map(|value| (key.to_owned(), value.clone())))
            .collect();
        let keys: Vec<String> = serde_json::from_str(&row.media_keys).unwrap_or_default();
        let expires = now_ms() / 1000 + MEDIA_LINK_SECONDS;
        WidgetMessage {
            id: row.id,
            from,
            kind: row.kind.clone(),
            text: row.text.clone(),
            payload: Value::Object(shown),
            media: keys.iter().map(|key| state.media.signed_url(key, expires)).collect(),
            created_at: to_rfc3339(row.created_at),
        }
    }
}

/// The web chat channel a widget names, when the page's origin may use it.
pub async fn widget_channel(state: &AppState, public_id: &str, origin: &str) -> Result<ChannelRow> {
    let channel = channels::find_by_public_id(state.db.reader(), public_id)
        .await?
        .filter(|channel| channel.kind == ChannelKind::Webchat.as_str())
        .ok_or(Error::NotFound("widget"))?;
    match WidgetSettings::of(&channel).allows(origin) {
        true => Ok(channel),
        false => Err(origin_not_allowed()),
    }
}

/// The refusal of a page whose origin may not use the widget.
pub fn origin_not_allowed() -> Error {
    Error::Forbidden {
        code: "origin_not_allowed",
        detail: "this website may not use the widget: add its origin to the channel's allowed_origins".to_owned(),
    }
}

/// Where a visitor is: the page and the browser, shown to the team.
#[derive(Debug, Clone, Default)]
pub struct Whereabouts {
    /// The page the widget runs on (http or https).
    pub page_url: Option<String>,
    /// The browser's `User-Agent`.
    pub browser: Option<String>,
    /// The visitor's language tag.
    pub language: Option<String>,
}

impl Whereabouts {
    /// Checks the page URL; a browser description is cut to 255 characters.
    pub fn checked(self) -> Result<Whereabouts> {
        if let Some(url) = &self.page_url {
            let web = url::Url::parse(url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
            if !web || url.len() > 2048 {
                return Err(Error::field("page_url", "must be the page's http(s) URL, at most 2048 characters"));
            }
        }
        let browser = self.browser.map(|browser| browser.chars().take(255).collect());
        let tag = |l: &String| {
            l.len() <= 35 && l.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
        };
        if self.language.as_ref().is_some_and(|l| !tag(l)) {
            return Err(Error::field("language", "must be a language tag such as it or pt-BR"));
        }
        Ok(Whereabouts { page_url: self.page_url, browser, language: self.language })
    }
}

/// Opens an anonymous session: a contact of its own on the channel (with the page and browser it
/// came from as attributes) and a fresh token.
pub async fn open(state: &AppState, channel: &ChannelRow, whereabouts: Whereabouts) -> Result<SessionToken> {
    let whereabouts = whereabouts.checked()?;
    let now = now_ms();
    let token = random_token(43);
    let address = format!("{ANONYMOUS_PREFIX}{}", random_token(24));
    let mut tx = state.db.begin().await?;
    let contact_id =
        contacts::find_or_create_by_address(&mut tx, ChannelKind::Webchat, channel, &address, &[], None, now).await?;
    let new = NewVisitorSession {
        account_id: channel.account_id,
        channel_id: channel.id,
        contact_id,
        address: &address,
        token_hash: &hash_key(&token),
        expires_at: now + SESSION_MS,
    };
    let row = visitors::insert(&mut tx, &new, now).await?;
    tx.commit().await?;
    let attributes: serde_json::Map<String, Value> =
        [("page_url", whereabouts.page_url), ("browser", whereabouts.browser), ("language", whereabouts.language)]
            .into_iter()
            .filter_map(|(name, value)| Some((name.to_owned(), Value::from(value?))))
            .collect();
    if !attributes.is_empty() {
        let input = contacts::ContactInput { attributes: Some(Value::Object(attributes)), ..Default::default() };
        contacts::update(state, channel.account_id, contact_id, input).await?;
    }
    state.events.notify(channel.account_id);
    Ok(SessionToken { token, visitor: Visitor::from(&row) })
}

/// The session of a bearer token on the channel.
pub async fn session(state: &AppState, channel: &ChannelRow, token: Option<&str>) -> Result<VisitorSessionRow> {
    let token = token.ok_or(Error::Unauthorized)?;
    visitors::find_by_token(state.db.reader(), channel.id, &hash_key(token), now_ms()).await?.ok_or(Error::Unauthorized)
}

/// How the business's server vouches for a visitor.
#[derive(Debug, Clone)]
pub enum Proof {
    /// Hex HMAC-SHA256 of the identifier with the channel's identity secret.
    Hash(String),
    /// An HS256 JWT signed with the identity secret, `sub` the identifier, with `exp`.
    Jwt(String),
    /// Nothing: the visitor only claims the identifier.
    None,
}

/// Who a visitor says they are.
#[derive(Debug, Clone)]
pub struct Identify {
    pub identifier: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub proof: Proof,
}

/// Identifies a session's visitor and rotates its token. A proved identifier joins the contact
/// that has it on the channel (the session's earlier messages go along); an unproved one is only
/// recorded, on the session's own contact, and refused where the channel requires proof.
pub async fn identify(
    state: &AppState,
    channel: &ChannelRow,
    session: &VisitorSessionRow,
    who: Identify,
) -> Result<SessionToken> {
    let identifier = who.identifier.trim().to_owned();
    if identifier.is_empty() || identifier.chars().count() > 255 {
        return Err(Error::field("identifier", "must be 1 to 255 characters"));
    }
    let settings = WidgetSettings::of(channel);
    let verified = proved(&settings, &identifier, &who.proof)?;
    if settings.identity_required && !verified {
        return Err(identity_required());
    }
    let now = now_ms();
    let token = random_token(43);
    // A proved identifier: the customer who has it on the channel (the session's contact merges
    // into them), or the session's contact gets it.
    let known = match verified {
        true => crate::store::contacts::find_identity(state.db.reader(), channel.id, &identifier).await?,
        false => None,
    };
    let contact_id = match &known {
        Some(identity) if identity.contact_id != session.contact_id => {
            contacts::merge(state, channel.account_id, identity.contact_id, session.contact_id).await?;
            identity.contact_id
        }
        _ => session.contact_id,
    };
    if who.name.is_some() || who.email.is_some() {
        let input = contacts::ContactInput { name: who.name, email: who.email, ..Default::default() };
        contacts::update(state, channel.account_id, contact_id, input).await?;
    }
    let address = if verified { identifier.clone() } else { session.address.clone() };
    let mut tx = state.db.begin().await?;
    if verified && known.is_none() {
        crate::store::contacts::insert_identity(&mut tx, channel.account_id, contact_id, channel.id, &identifier, now)
            .await?;
    }
    let identity = Identity { contact_id, address: &address, identifier: &identifier, verified };
    let row = visitors::identify(&mut tx, session.id, &identity, &hash_key(&token), now).await?;
    tx.commit().await?;
    Ok(SessionToken { token, visitor: Visitor::from(&row) })
}

fn identity_required() -> Error {
    Error::Forbidden {
        code: "identity_required",
        detail: "this chat is for signed-in customers: the website must vouch for the visitor first".to_owned(),
    }
}

/// Whether the proof vouches for the identifier; a proof that does not match is an error, not
/// an anonymous visitor.
fn proved(settings: &WidgetSettings, identifier: &str, proof: &Proof) -> Result<bool> {
    let invalid = |detail: &str| Error::Forbidden { code: "identity_invalid", detail: detail.to_owned() };
    let secret = match (proof, settings.identity_secret.as_deref()) {
        (Proof::None, _) => return Ok(false),
        (_, Some(secret)) => secret,
        (_, None) => return Err(invalid("the channel has no identity secret to check the proof with")),
    };
    match proof {
        Proof::Hash(hash) => {
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| invalid("bad secret"))?;
            mac.update(identifier.as_bytes());
            let expected = hex::encode(mac.finalize().into_bytes());
            match bool::from(expected.as_bytes().ct_eq(hash.trim().to_ascii_lowercase().as_bytes())) {
                true => Ok(true),
                false => {
                    Err(invalid("identifier_hash is not the HMAC-SHA256 of the identifier with the identity secret"))
                }
            }
        }
        Proof::Jwt(token) => {
            let claims = verify_hs256(token, secret.as_bytes(), now_ms() / 1000)
                .map_err(|e| invalid(&format!("the identity token was refused: {e}")))?;
            match claims["sub"].as_str() == Some(identifier) {
                true => Ok(true),
                false => Err(invalid("the identity token's `sub` is not the identifier")),
            }
        }
        Proof::None => Ok(false),
    }
}

/// The visitor's messages after `after` (a message id), oldest first.
pub async fn messages(state: &AppState, session: &VisitorSessionRow, after: Option<i64>) -> Result<Vec<WidgetMessage>> {
    let rows = messages::list_visitor_messages(
        state.db.reader(),
        session.channel_id,
        session.contact_id,
        after.unwrap_or(0),
        PAGE,
    )
    .await?;
    Ok(rows.iter().map(|row| WidgetMessage::of(state, row)).collect())
}

/// Sends the visitor's text into their conversation (the virtual agent or the team answers), with
/// the page they wrote it on (`payload.page.url`).
pub async fn send(
    state: &AppState,
    channel: &ChannelRow,
    session: &VisitorSessionRow,
    text: &str,
    page_url: Option<String>,
) -> Result<WidgetMessage> {
    let page = Whereabouts { page_url, ..Whereabouts::default() }.checked()?.page_url;
    if WidgetSettings::of(channel).identity_required && session.verified == 0 {
        return Err(identity_required());
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4096 {
        return Err(Error::field("text", "must be 1 to 4096 characters"));
    }
    let mut message = InboundMessage::new(session.address.clone(), MessageType::Text);
    message.text = Some(text.to_owned());
    message.payload = match page {
        Some(url) => json!({ "page": { "url": url } }),
        None => json!({}),
    };
    let ingested = inbound::ingest(state, channel, vec![message]).await?;
    let stored = ingested.first().ok_or_else(|| anyhow::anyhow!("the visitor's message was not stored"))?;
    let row = messages::find_message(state.db.reader(), stored.message.id).await?.ok_or(Error::NotFound("message"))?;
    Ok(WidgetMessage::of(state, &row))
}

/// Sends a file from the visitor: a photo, video or PDF by its bytes, stored in the account's
/// library and sent into their conversation.
pub async fn send_file(
    state: &AppState,
    channel: &ChannelRow,
    session: &VisitorSessionRow,
    bytes: bytes::Bytes,
    filename: Option<String>,
) -> Result<WidgetMessage> {
    if WidgetSettings::of(channel).identity_required && session.verified == 0 {
        return Err(identity_required());
    }
    let content_type = match crate::domain::content::sniff_type(&bytes) {
        Some(kind) => kind,
        None if bytes.starts_with(b"%PDF-") => "application/pdf",
        None => return Err(Error::field("file", "send a photo, a video or a PDF")),
    };
    let kind = match content_type.split('/').next() {
        Some("image") => MessageType::Image,
        Some("video") => MessageType::Video,
        _ => MessageType::Document,
    };
    let filename = filename.map(|name| name.chars().take(255).collect());
    let file =
        media::NewMedia { filename, content_type: content_type.to_owned(), origin: MediaOrigin::Original, bytes };
    let row = media::save(state, channel.account_id, file).await?;
    let mut message = InboundMessage::new(session.address.clone(), kind);
    message.media_keys = vec![row.key];
    let ingested = inbound::ingest(state, channel, vec![message]).await?;
    let stored = ingested.first().ok_or_else(|| anyhow::anyhow!("the visitor's file was not stored"))?;
    let row = messages::find_message(state.db.reader(), stored.message.id).await?.ok_or(Error::NotFound("message"))?;
    Ok(WidgetMessage::of(state, &row))
}

/// The visitor is typing: shown to the team like any channel's typing.
pub async fn typing(state: &AppState, channel: &ChannelRow, session: &VisitorSessionRow) -> Result<()> {
    let typing = crate::domain::inbound::InboundEvent::Typing { address: session.address.clone() };
    inbound::apply(state, channel, vec![typing]).await?;
    Ok(())
}

/// What a transient event of the account shows the visitor, when it concerns one of their
/// conversations: an agent's answer as it is written (`draft`), an operator typing (`typing`).
pub fn live_event(kind: &str, data: &Value, conversations: &[i64]) -> Option<(&'static str, Value)> {
    let conversation = data["conversation_id"].as_i64()?;
    if !conversations.contains(&conversation) {
        return None;
    }
    match kind {
        "message.delta" => Some(("draft", json!({ "draft_id": data["draft_id"], "text": data["text"] }))),
        crate::service::conversations::OPERATOR_TYPING => Some(("typing", json!({ "on": data["on"] }))),
        _ => None,
    }
}

/// Where the visitor's latest chat stands, as the widget shows it: whether it ended (to ask for
/// a rating) and whether it waits for a person nobody is free to be (to offer email instead).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ChatState {
    pub conversation_id: i64,
    /// open, pending, resolved or closed.
    pub status: String,
    /// The latest escalation's status: escalating, escalated, deflecting, deflected or canceled.
    pub escalation: Option<String>,
    /// While escalating: whether a member of the team is online with room for it now.
    pub people_available: bool,
    /// The visitor's rating of the chat, `up` or `down`, once given.
    pub rating: Option<String>,
}

/// The state of the visitor's latest chat, if they have one.
pub async fn chat_state(state: &AppState, session: &VisitorSessionRow) -> Result<Option<ChatState>> {
    let Some(row) = latest_conversation(state, session).await? else {
        return Ok(None);
    };
    let reader = state.db.reader();
    let escalation = crate::store::escalations::latest_escalation(reader, row.id).await?.map(|e| e.status);
    let waiting = escalation.as_deref() == Some(EscalationStatus::Escalating.as_str());
    let people_available = match (waiting, row.team_id) {
        (true, Some(team)) => {
            let mut conn = reader.acquire().await?;
            crate::store::teams::next_member(&mut conn, team, now_ms()).await?.is_some()
        }
        _ => false,
    };
    let meta: serde_json::Map<String, Value> = serde_json::from_str(&row.meta).unwrap_or_default();
    let rating = meta.get(RATING).and_then(Value::as_str).map(str::to_owned);
    Ok(Some(ChatState { conversation_id: row.id, status: row.status, escalation, people_available, rating }))
}

async fn latest_conversation(state: &AppState, session: &VisitorSessionRow) -> Result<Option<ConversationRow>> {
    let Some(latest) = conversations(state, session).await?.into_iter().max() else {
        return Ok(None);
    };
    Ok(crate::store::conversations::find_conversation(state.db.reader(), session.account_id, latest).await?)
}

/// The conversation meta key that holds the visitor's rating.
const RATING: &str = "rating";

/// The visitor, waiting for a person nobody is free to be, chooses to continue by email: their
/// email goes on the contact, the escalation is deflected to `email`, and the team gets a note.
pub async fn deflect_to_email(state: &AppState, session: &VisitorSessionRow, email: &str) -> Result<ChatState> {
    let email = email.trim();
    let input = contacts::ContactInput { email: Some(email.to_owned()), ..Default::default() };
    if email.is_empty() {
        return Err(Error::field("email", "must be an email address"));
    }
    let conversation = latest_conversation(state, session).await?.ok_or(Error::NotFound("conversation"))?;
    let escalation = crate::store::escalations::latest_escalation(state.db.reader(), conversation.id)
        .await?
        .filter(|e| {
            e.status == EscalationStatus::Escalating.as_str() || e.status == EscalationStatus::Deflecting.as_str()
        })
        .ok_or_else(|| Error::conflict("not_waiting", "this chat is not waiting for a person"))?;
    contacts::update(state, session.account_id, session.contact_id, input).await?;
    let (account, id) = (session.account_id, conversation.id);
    let to_email = EscalationPatch { status: None, deflection_channel: Some("email".to_owned()) };
    escalations::update(state, account, id, escalation.id, to_email).await?;
    let done = EscalationPatch { status: Some(EscalationStatus::Deflected), deflection_channel: None };
    escalations::update(state, account, id, escalation.id, done).await?;
    let note = Outgoing {
        text: Some(format!("The customer chose to continue by email: {email}")),
        private: true,
        ..Outgoing::default()
    };
    outbound::send(state, account, id, note).await?;
    chat_state(state, session).await?.ok_or(Error::NotFound("conversation"))
}

/// The visitor rates their chat once it has ended (`up` or `down`); kept as the conversation's
/// `rating` meta, so the inbox and the API can filter by it.
pub async fn rate(state: &AppState, session: &VisitorSessionRow, rating: &str) -> Result<ChatState> {
    if !matches!(rating, "up" | "down") {
        return Err(Error::field("rating", "must be up or down"));
    }
    let conversation = latest_conversation(state, session).await?.ok_or(Error::NotFound("conversation"))?;
    if !matches!(conversation.status.as_str(), "resolved" | "closed") {
        return Err(Error::conflict("chat_not_ended", "a chat is rated once it has ended"));
    }
    let meta = serde_json::Map::from_iter([(RATING.to_owned(), Value::from(rating))]);
    let patch = crate::service::conversations::ConversationPatch { meta: Some(meta), ..Default::default() };
    crate::service::conversations::update(state, session.account_id, conversation.id, patch).await?;
    chat_state(state, session).await?.ok_or(Error::NotFound("conversation"))
}

/// The visitor's conversations.
pub async fn conversations(state: &AppState, session: &VisitorSessionRow) -> Result<Vec<i64>> {
    Ok(crate::store::conversations::ids_of_contact(state.db.reader(), session.channel_id, session.contact_id).await?)
}
