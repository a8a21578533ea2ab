//! Chats as a contact-centre chat API sees them: a conversation with its end user (the contact),
//! its menu (the team that serves it), the virtual agent and the people who handled it, and what
//! an integration adds to it — the chat's language, context handed to the virtual agent as
//! unsigned data, a transcript of what was said before, custom data (signed with the account's
//! company secret or not), the customer's reserved flags and how the chat ended.
//!
//! Statuses are the reference platform's: `queued` (waiting for a person), `assigned` (a person
//! or the virtual agent has it), `finished`, `canceled` (ended before anyone answered),
//! `failed`, `no_response`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::inbound::InboundMessage;
use crate::domain::jwt::verify_hs256;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{ConversationStatus, Direction, Handler, MessageType, SenderType};
use crate::error::{Error, Result};
use crate::service::auth::random_token;
use crate::service::conversations::ConversationPatch;
use crate::service::events::{self, kind};
use crate::service::views::Conversation;
use crate::service::{contacts, conversations as conversation_service, inbound, routing};
use crate::state::AppState;
use crate::store::chats::{self, ChatRow};
use crate::store::conversations::{self, ConversationRow};
use crate::store::media::MediaRow;
use crate::store::{accounts, agents, channels, media, messages, teams, Conn};

/// The customer flags a business may set on an end user, kept as contact attributes.
pub const FLAGS: [&str; 3] = ["verified_customer", "bad_actor", "repeat_customer"];

/// Most messages a transcript may bring.
const MAX_TRANSCRIPT: usize = 200;

/// How long links to a chat's photos and videos stay valid, in seconds.
const LINK_SECONDS: i64 = 24 * 3600;

/// How long a pre-signed upload form stays valid, in seconds.
const UPLOAD_SECONDS: i64 = 15 * 60;

/// A person who handled the chat.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRef {
    pub id: i64,
    pub name: String,
    pub first_name: String,
    pub avatar_url: Option<String>,
    /// online, away or offline.
    pub status: String,
}

/// A virtual agent that handled the chat.
#[derive(Debug, Clone, Serialize)]
pub struct VirtualAgentRef {
    pub id: i64,
    pub name: String,
    pub avatar_url: Option<String>,
    /// active or paused.
    pub status: String,
}

/// The team (queue) the chat was routed through.
#[derive(Debug, Serialize)]
pub struct Menu {
    pub id: i64,
    pub name: String,
}

/// The chat's end user.
#[derive(Debug, Serialize)]
pub struct EndUser {
    pub id: i64,
    /// The business's own id for the end user, when it gave one.
    pub identifier: Option<String>,
}

/// A chat, shaped as the reference platform's chat object.
#[derive(Debug, Serialize)]
pub struct Chat {
    pub id: i64,
    pub status: &'static str,
    pub status_text: &'static str,
    /// What the chat can carry: text, photo, video, typing.
    pub features: Vec<&'static str>,
    pub created_at: String,
    /// When it ended.
    pub ends_at: Option<String>,
    /// When the channel stops accepting free-form replies, for channels with a reply window.
    pub timeout_at: Option<String>,
    pub agent: Option<AgentRef>,
    pub virtual_agent: Option<VirtualAgentRef>,
    pub all_agents: Vec<AgentRef>,
    pub all_virtual_agents: Vec<VirtualAgentRef>,
    pub lang: Option<String>,
    pub menus: Vec<Menu>,
    pub end_user: EndUser,
}

/// The status of a chat and its words.
fn status_of(conversation: &ConversationRow, details: Option<&ChatRow>) -> (&'static str, &'static str) {
    let ended = matches!(
        ConversationStatus::parse(&conversation.status),
        Some(ConversationStatus::Resolved | ConversationStatus::Closed)
    );
    if ended {
        return match details.and_then(|d| d.outcome.as_deref()) {
            Some("canceled") => ("canceled", "Canceled before anyone answered"),
            Some("failed") => ("failed", "Failed"),
            Some("no_response") => ("no_response", "Ended without a response"),
            _ => ("finished", "Finished"),
        };
    }
    if conversation.handler == Handler::VirtualAgent.as_str() {
        ("assigned", "Assigned to a virtual agent")
    } else if conversation.assignee_id.is_some() {
        ("assigned", "Assigned to an agent")
    } else {
        ("queued", "Waiting for an agent")
    }
}

/// The chat with this id (any conversation of the account).
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Chat> {
    let conn = &mut state.db.reader().acquire().await?;
    load(conn, account_id, id).await
}

async fn find<'c>(db: impl sqlx::AnyExecutor<'c>, account_id: i64, id: i64) -> Result<ConversationRow> {
    conversations::find_conversation(db, account_id, id).await?.ok_or(Error::NotFound("chat"))
}

async fn load(conn: &mut Conn, account_id: i64, id: i64) -> Result<Chat> {
    let conversation = find(&mut *conn, account_id, id).await?;
    let details = chats::find(&mut *conn, id).await?;
    let channel = channels::find_channel_any(&mut *conn, conversation.channel_id).await?;
    let capabilities = crate::channels::capabilities_of(channel.as_ref().map_or("", |c| c.kind.as_str()));
    let mut features = vec!["text"];
    if capabilities.content.contains(&"media") {
        features.extend(["photo", "video"]);
    }
    if capabilities.typing {
        features.push("typing");
    }
    let now = now_ms();
    let mut all_agents = Vec::new();
    let mut all_virtual_agents = Vec::new();
    for (sender_type, sender_id) in messages::senders(&mut *conn, id).await? {
        if sender_type == SenderType::Operator.as_str() {
            all_agents.extend(person(conn, account_id, sender_id, now).await?);
        } else if sender_type == SenderType::VirtualAgent.as_str() {
            all_virtual_agents.extend(virtual_agent(conn, account_id, sender_id).await?);
        }
    }
    let agent = match conversation.assignee_id {
        Some(operator) => person(conn, account_id, operator, now).await?,
        None => None,
    };
    if let Some(agent) = &agent {
        if !all_agents.iter().any(|a| a.id == agent.id) {
            all_agents.push(agent.clone());
        }
    }
    let virtual_agent = match conversation.virtual_agent_id {
        Some(id) => virtual_agent(conn, account_id, id).await?,
        None => None,
    };
    if let Some(current) = &virtual_agent {
        if !all_virtual_agents.iter().any(|a| a.id == current.id) {
            all_virtual_agents.push(current.clone());
        }
    }
    let menus = match conversation.team_id {
        Some(team) => teams::find_team(&mut *conn, account_id, team)
            .await?
            .map(|team| Menu { id: team.id, name: team.name })
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let identifier = crate::store::contacts::addresses_on(&mut *conn, conversation.channel_id, conversation.contact_id)
        .await?
        .into_iter()
        .rfind(|address| !is_anonymous(address));
    let (status, status_text) = status_of(&conversation, details.as_ref());
    let view = Conversation::from(&conversation);
    Ok(Chat {
        id,
        status,
        status_text,
        features,
        created_at: to_rfc3339(conversation.created_at),
        // A resolved chat ended when it was last updated; a closed one when it was closed.
        ends_at: view
            .closed_at
            .clone()
            .or_else(|| (status != "assigned" && status != "queued").then(|| view.updated_at.clone())),
        timeout_at: view.window_expires_at.clone().filter(|_| status == "assigned" || status == "queued"),
        agent,
        virtual_agent,
        all_agents,
        all_virtual_agents,
        lang: details.and_then(|d| d.lang),
        menus,
        end_user: EndUser { id: conversation.contact_id, identifier },
    })
}

async fn person(conn: &mut Conn, account_id: i64, id: i64, now: i64) -> Result<Option<AgentRef>> {
    let Some(operator) = accounts::find_operator(&mut *conn, account_id, id).await? else {
        return Ok(None);
    };
    let status = teams::find_presence(&mut *conn, account_id, id, now)
        .await?
        .map_or_else(|| "offline".to_owned(), |presence| presence.availability);
    let first_name = operator.name.split_whitespace().next().unwrap_or_default().to_owned();
    Ok(Some(AgentRef { id, name: operator.name, first_name, avatar_url: None, status }))
}

async fn virtual_agent(conn: &mut Conn, account_id: i64, id: i64) -> Result<Option<VirtualAgentRef>> {
    Ok(agents::find_agent(&mut *conn, account_id, id).await?.map(|agent| VirtualAgentRef {
        id: agent.id,
        name: agent.name,
        avatar_url: agent.avatar_url,
        status: agent.status,
    }))
}

fn attributes(text: &str) -> Map<String, Value> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// A line of a transcript imported when a chat starts.
#[derive(Debug, Clone, Deserialize)]
pub struct TranscriptLine {
    /// `end_user`, `virtual_agent` or `agent`.
    pub role: String,
    pub content: String,
    /// When it was said (RFC 3339); the chat's start when absent.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// A chat to start.
#[derive(Debug, Clone, Default)]
pub struct NewChat {
    /// The team (queue) that serves it.
    pub menu_id: i64,
    /// An existing end user (contact); a new one otherwise.
    pub end_user_id: Option<i64>,
    pub lang: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Unsigned data for the virtual agent (`{"value": {…}}`).
    pub context: Option<Value>,
    /// What was said before the chat reached Parley.
    pub transcript: Vec<TranscriptLine>,
}

/// A transcript as integrations send it: `{"messages": [...]}` or the list itself.
pub fn transcript_lines(value: Option<Value>) -> Result<Vec<TranscriptLine>> {
    let invalid = || {
        Error::field(
            "transcript",
            "must be {\"messages\": [{\"role\": \"end_user\"|\"virtual_agent\"|\"agent\", \"content\": \"…\"}]}",
        )
    };
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(mut map)) => map.remove("messages").ok_or_else(invalid)?,
        Some(list @ Value::Array(_)) => list,
        Some(_) => return Err(invalid()),
    };
    let lines: Vec<TranscriptLine> = serde_json::from_value(list).map_err(|_| invalid())?;
    if lines.len() > MAX_TRANSCRIPT {
        return Err(Error::field("transcript", format!("may hold at most {MAX_TRANSCRIPT} messages")));
    }
    for line in &lines {
        let role_known = matches!(line.role.as_str(), "end_user" | "virtual_agent" | "agent");
        let content_ok = !line.content.trim().is_empty() && line.content.chars().count() <= 4096;
        let time_ok = line.created_at.as_deref().is_none_or(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
        if !role_known || !content_ok || !time_ok {
            return Err(invalid());
        }
    }
    Ok(lines)
}

fn check_lang(lang: Option<String>) -> Result<Option<String>> {
    match lang.map(|l| l.trim().to_owned()).filter(|l| !l.is_empty()) {
        Some(lang)
            if lang.len() <= 16
                && lang.split('-').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric())) =>
        {
            Ok(Some(lang))
        }
        Some(_) => Err(Error::field("lang", "must be a language tag such as en or pt-BR")),
        None => Ok(None),
    }
}

/// Starts a chat for an end user on the account's web chat channel of the menu's team (else its
/// first web chat channel), routed to the menu's team, with the channel's virtual agent first
/// when it has one. An end user has one open chat per channel: starting again returns it.
pub async fn create(state: &AppState, account_id: i64, new: NewChat) -> Result<Chat> {
    let lang = check_lang(new.lang)?;
    if new.context.as_ref().is_some_and(|c| !c.is_object() || c.to_string().len() > 16 * 1024) {
        return Err(Error::field("context", "must be an object of at most 16 KB"));
    }
    let reader = state.db.reader();
    let team = teams::find_team(reader, account_id, new.menu_id)
        .await?
        .ok_or_else(|| Error::field("menu_id", "no menu (team) with this id in this account"))?;
    let channel = channels::find_webchat_channel(reader, account_id, team.id).await?.ok_or_else(|| {
        Error::invalid("no_chat_channel", "the account has no web chat channel to hold chats; add one first")
    })?;
    let details = contacts::ContactInput { phone: new.phone, email: new.email, ..Default::default() };
    let contact_id = match new.end_user_id {
        Some(id) => {
            crate::store::contacts::find_contact(reader, account_id, id)
                .await?
                .ok_or_else(|| Error::field("end_user_id", "no end user with this id in this account"))?;
            if details.phone.is_some() || details.email.is_some() {
                contacts::update(state, account_id, id, details).await?;
            }
            id
        }
        None => contacts::create(state, account_id, details).await?.id,
    };
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let address = end_user_address(&mut tx, account_id, channel.id, contact_id, now).await?;
    if let Some(active) = conversations::find_active_conversation(&mut *tx, channel.id, contact_id).await? {
        tx.rollback().await?;
        return get(state, account_id, active.id).await;
    }
    let mut owner = routing::first_owner(&mut tx, &channel, false, now).await?;
    if owner.team_id != Some(team.id) {
        owner.team_id = Some(team.id);
        if owner.virtual_agent_id.is_none() {
            routing::queue_routing(&mut tx, account_id, team.id, now).await?;
        }
    }
    let id = conversations::insert_conversation(&mut tx, account_id, channel.id, contact_id, None, owner, now).await?;
    let row = ChatRow {
        conversation_id: id,
        account_id,
        lang,
        context: new.context.map(|c| c.to_string()),
        custom_data: "{}".to_owned(),
        ..ChatRow::default()
    };
    chats::save(&mut tx, &row, now).await?;
    import_transcript(&mut tx, account_id, channel.id, id, contact_id, &new.transcript, now).await?;
    let conversation = find(&mut *tx, account_id, id).await?;
    events::record(&mut tx, account_id, kind::CONVERSATION_CREATED, &Conversation::from(&conversation), now).await?;
    let chat = load(&mut tx, account_id, id).await?;
    tx.commit().await?;
    tracing::debug!(chat = id, address, "chat started");
    state.events.notify(account_id);
    Ok(chat)
}

/// Whether an address is one Parley made up for an end user the business has not named.
fn is_anonymous(address: &str) -> bool {
    address.starts_with(ANONYMOUS_PREFIX) || address.starts_with(crate::service::visitors::ANONYMOUS_PREFIX)
}

/// How addresses Parley makes up for end users of chats start.
const ANONYMOUS_PREFIX: &str = "end-user-";

/// The end user's address on the channel: the one they have, else a new one.
async fn end_user_address(
    conn: &mut Conn,
    account_id: i64,
    channel_id: i64,
    contact_id: i64,
    now: i64,
) -> Result<String> {
    if let Some(address) = crate::store::contacts::addresses_on(&mut *conn, channel_id, contact_id).await?.pop() {
        return Ok(address);
    }
    let address = format!("{ANONYMOUS_PREFIX}{}", random_token(24));
    crate::store::contacts::insert_identity(conn, account_id, contact_id, channel_id, &address, now).await?;
    Ok(address)
}

/// Stores a transcript as the chat's first messages (already seen: read, delivered, sending
/// nothing and notifying no one).
async fn import_transcript(
    conn: &mut Conn,
    account_id: i64,
    channel_id: i64,
    conversation_id: i64,
    contact_id: i64,
    lines: &[TranscriptLine],
    now: i64,
) -> Result<()> {
    for line in lines {
        let at = line
            .created_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.timestamp_millis().min(now));
        let (direction, sender_type, sender_id) = match line.role.as_str() {
            "end_user" => (Direction::Inbound, SenderType::Contact, Some(contact_id)),
            "virtual_agent" => (Direction::Outbound, SenderType::VirtualAgent, None),
            _ => (Direction::Outbound, SenderType::Operator, None),
        };
        let outbound = direction == Direction::Outbound;
        messages::insert_message(
            conn,
            &messages::NewMessage {
                account_id,
                conversation_id,
                channel_id,
                direction: direction.as_str(),
                sender_type: sender_type.as_str(),
                sender_id,
                kind: MessageType::Text.as_str(),
                text: Some(line.content.trim()),
                media_keys: "[]",
                payload: &json!({ "transcript": true }).to_string(),
                provider_message_id: None,
                status: outbound.then_some("delivered"),
                is_read: true,
                simulated: false,
                private: false,
                created_at: at,
                sent_at: outbound.then_some(at),
                request_key: None,
            },
        )
        .await?;
    }
    if let Some(last) = lines.last() {
        let preview: String = last.content.trim().chars().take(200).collect();
        conversations::record_outbound(conn, conversation_id, &preview, now).await?;
    }
    Ok(())
}

/// How a chat ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    Canceled,
}

/// Ends a chat (`finished`, or `canceled` when the end user gave up before anyone answered),
/// recording who ended it.
pub async fn finish(state: &AppState, account_id: i64, id: i64, ending: Ending, by: Option<i64>) -> Result<Chat> {
    let conversation = find(state.db.reader(), account_id, id).await?;
    let mut tx = state.db.begin().await?;
    let mut row = chats::find(&mut *tx, id).await?.unwrap_or_else(|| blank(&conversation));
    row.outcome = Some(if ending == Ending::Canceled { "canceled" } else { "finished" }.to_owned());
    row.finished_by = by;
    chats::save(&mut tx, &row, now_ms()).await?;
    tx.commit().await?;
    if conversation.status != ConversationStatus::Closed.as_str() {
        let patch = ConversationPatch { status: Some(ConversationStatus::Closed), ..Default::default() };
        conversation_service::update(state, account_id, id, patch).await?;
    }
    get(state, account_id, id).await
}

fn blank(conversation: &ConversationRow) -> ChatRow {
    ChatRow {
        conversation_id: conversation.id,
        account_id: conversation.account_id,
        custom_data: "{}".to_owned(),
        ..ChatRow::default()
    }
}

/// An open chat and its channel, for what the end user sends.
async fn open_chat(
    state: &AppState,
    account_id: i64,
    id: i64,
) -> Result<(ConversationRow, channels::ChannelRow, String)> {
    let reader = state.db.reader();
    let conversation = find(reader, account_id, id).await?;
    if conversation.status == ConversationStatus::Closed.as_str() {
        return Err(Error::conflict("chat_finished", "this chat has ended"));
    }
    let channel =
        channels::find_channel(reader, account_id, conversation.channel_id).await?.ok_or(Error::NotFound("chat"))?;
    let address = crate::store::contacts::addresses_on(reader, channel.id, conversation.contact_id)
        .await?
        .pop()
        .ok_or(Error::NotFound("end user"))?;
    Ok((conversation, channel, address))
}

/// The end user writes in their chat: ingested like any customer message (the virtual agent or
/// the team answers).
pub async fn end_user_says(state: &AppState, account_id: i64, id: i64, from: Option<i64>, text: &str) -> Result<i64> {
    let (conversation, channel, address) = open_chat(state, account_id, id).await?;
    if from.is_some_and(|from| from != conversation.contact_id) {
        return Err(Error::field("from_user_id", "must be this chat's end user"));
    }
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4096 {
        return Err(Error::field("message.content", "must be 1 to 4096 characters"));
    }
    let mut message = InboundMessage::new(address, MessageType::Text);
    message.text = Some(text.to_owned());
    let ingested = inbound::ingest(state, &channel, vec![message]).await?;
    ingested.first().map(|i| i.message.id).ok_or_else(|| anyhow::anyhow!("the message was not stored").into())
}

/// Photos or videos.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
}

impl MediaKind {
    fn message_type(self) -> MessageType {
        match self {
            MediaKind::Photo => MessageType::Image,
            MediaKind::Video => MessageType::Video,
        }
    }

    fn type_prefix(self) -> &'static str {
        match self {
            MediaKind::Photo => "image/",
            MediaKind::Video => "video/",
        }
    }

    fn default_type(self) -> &'static str {
        match self {
            MediaKind::Photo => "image/jpeg",
            MediaKind::Video => "video/mp4",
        }
    }
}

/// A photo or video of a chat.
#[derive(Debug, Serialize)]
pub struct ChatMedia {
    /// A link to the file, valid for a day.
    pub url: String,
    pub media_id: i64,
}

fn chat_media(state: &AppState, row: &MediaRow) -> ChatMedia {
    ChatMedia { url: state.media.signed_url(&row.key, now_ms() / 1000 + LINK_SECONDS), media_id: row.id }
}

/// A pre-signed form to upload one photo or video of the chat straight to the media store.
pub async fn upload_form(
    state: &AppState,
    account_id: i64,
    id: i64,
    kind: MediaKind,
) -> Result<crate::media::UploadForm> {
    open_chat(state, account_id, id).await?;
    let key = crate::media::MediaStore::new_key();
    let expires = now_ms() / 1000 + UPLOAD_SECONDS;
    let limits = crate::media::UploadLimits {
        type_prefix: kind.type_prefix(),
        content_type: kind.default_type(),
        max_bytes: state.config.max_media_bytes as u64,
    };
    state.media.upload_form(&key, &limits, expires).map_err(|e| anyhow::anyhow!("signing the upload form: {e}").into())
}

/// Adds uploaded files (their keys) to the chat as the end user's messages, one per file. Each
/// file must be in the media store, of the kind's type (checked from its bytes) and within the
/// size limit.
pub async fn add_media(
    state: &AppState,
    account_id: i64,
    id: i64,
    kind: MediaKind,
    keys: &[String],
) -> Result<Vec<ChatMedia>> {
    let (_, channel, address) = open_chat(state, account_id, id).await?;
    if keys.is_empty() || keys.len() > 10 {
        return Err(Error::field("s3_path", "give 1 to 10 uploaded files"));
    }
    let mut rows = Vec::new();
    for key in keys {
        rows.push(register_upload(state, account_id, kind, key).await?);
    }
    let batch: Vec<InboundMessage> = rows
        .iter()
        .map(|row| {
            let mut message = InboundMessage::new(address.clone(), kind.message_type());
            message.media_keys = vec![row.key.clone()];
            message
        })
        .collect();
    inbound::ingest(state, &channel, batch).await?;
    Ok(rows.iter().map(|row| chat_media(state, row)).collect())
}

/// Records an uploaded file in the account's library (once), after checking it.
async fn register_upload(state: &AppState, account_id: i64, kind: MediaKind, key: &str) -> Result<MediaRow> {
    let missing =
        || Error::field("s3_path", format!("no uploaded file at `{key}`; upload it with the pre-signed form first"));
    if !crate::media::MediaStore::is_valid_key(key) {
        return Err(missing());
    }
    if let Some(row) = media::find_media_by_key(state.db.reader(), key).await? {
        return match row.account_id == account_id && row.content_type.starts_with(kind.type_prefix()) {
            true => Ok(row),
            false => Err(missing()),
        };
    }
    let bytes = state.media.get(key).await.map_err(|_| missing())?;
    if bytes.len() as u64 > state.config.max_media_bytes as u64 {
        return Err(Error::field("s3_path", "the file is larger than the media size limit"));
    }
    let content_type =
        crate::domain::content::sniff_type(&bytes).filter(|t| t.starts_with(kind.type_prefix())).ok_or_else(|| {
            Error::field("s3_path", format!("the file is not a {}", kind.type_prefix().trim_end_matches('/')))
        })?;
    let row = MediaRow {
        id: 0,
        account_id,
        key: key.to_owned(),
        content_type: content_type.to_owned(),
        size: bytes.len() as i64,
        filename: None,
        sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
        created_at: now_ms(),
        origin: "original".to_owned(),
    };
    let mut tx = state.db.begin().await?;
    let row = media::insert_media(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(row)
}

/// The chat's photos or videos, oldest first.
pub async fn media_of(state: &AppState, account_id: i64, id: i64, kind: MediaKind) -> Result<Vec<ChatMedia>> {
    let reader = state.db.reader();
    find(reader, account_id, id).await?;
    let keys: Vec<String> = messages::media_keys_of_kind(reader, id, kind.message_type().as_str())
        .await?
        .iter()
        .flat_map(|keys| serde_json::from_str::<Vec<String>>(keys).unwrap_or_default())
        .collect();
    let rows = media::find_many(reader, account_id, &keys).await?;
    Ok(rows.iter().map(|row| chat_media(state, row)).collect())
}

/// The end user's reserved flags.
pub async fn flags(state: &AppState, account_id: i64, id: i64) -> Result<Map<String, Value>> {
    let reader = state.db.reader();
    let conversation = find(reader, account_id, id).await?;
    let contact = crate::store::contacts::find_contact(reader, account_id, conversation.contact_id)
        .await?
        .ok_or(Error::NotFound("end user"))?;
    let stored = attributes(&contact.attributes);
    Ok(FLAGS
        .iter()
        .map(|flag| (flag.to_string(), Value::Bool(stored.get(*flag) == Some(&Value::Bool(true)))))
        .collect())
}

/// Sets some of the end user's reserved flags (kept as contact attributes, so every
/// conversation with them shows the flags).
pub async fn set_flags(
    state: &AppState,
    account_id: i64,
    id: i64,
    changes: &[(&str, bool)],
) -> Result<Map<String, Value>> {
    let conversation = find(state.db.reader(), account_id, id).await?;
    if !changes.is_empty() {
        set_contact_attributes(
            state,
            account_id,
            conversation.contact_id,
            changes.iter().map(|(k, v)| (*k, Value::Bool(*v))),
        )
        .await?;
    }
    flags(state, account_id, id).await
}

async fn set_contact_attributes<'a>(
    state: &AppState,
    account_id: i64,
    contact_id: i64,
    changes: impl Iterator<Item = (&'a str, Value)>,
) -> Result<()> {
    let contact = crate::store::contacts::find_contact(state.db.reader(), account_id, contact_id)
        .await?
        .ok_or(Error::NotFound("end user"))?;
    let mut stored = attributes(&contact.attributes);
    for (name, value) in changes {
        stored.insert(name.to_owned(), value);
    }
    let input = contacts::ContactInput { attributes: Some(Value::Object(stored)), ..Default::default() };
    contacts::update(state, account_id, contact_id, input).await?;
    Ok(())
}

/// Custom data as the business sends it.
pub enum CustomData {
    /// `{field: {label, value}}`, trusted as far as the caller is.
    Unsigned(Map<String, Value>),
    /// An HS256 JWT signed with the company secret whose `custom_data` holds the fields.
    Signed(String),
}

/// Adds custom data to the chat: `reserved_*` fields set the end user's flags, the others are
/// kept on the chat (shown to operators, given to the virtual agent). Signed data is checked
/// against the account's company secret (signature, `exp`, `iat`) before anything is written.
pub async fn add_custom_data(state: &AppState, account_id: i64, id: i64, data: CustomData) -> Result<()> {
    let conversation = find(state.db.reader(), account_id, id).await?;
    let (fields, signed) = match data {
        CustomData::Unsigned(fields) => (fields, false),
        CustomData::Signed(token) => {
            let secret = chats::company_secret(state.db.reader(), account_id)
                .await?
                .ok_or_else(|| Error::invalid("no_company_secret", "set the account's company secret first"))?;
            let claims = verify_hs256(&token, secret.as_bytes(), now_ms() / 1000)
                .map_err(|e| Error::InvalidSignature(format!("signed_data was refused: {e}")))?;
            if claims.get("iat").and_then(Value::as_i64).is_none() {
                return Err(Error::field("signed_data", "the token must carry `iat`"));
            }
            match claims.get("custom_data") {
                Some(Value::Object(fields)) => (fields.clone(), true),
                _ => return Err(Error::field("signed_data", "the token's payload must hold a `custom_data` object")),
            }
        }
    };
    if Value::Object(fields.clone()).to_string().len() > 16 * 1024 {
        return Err(Error::field("data", "custom data may be at most 16 KB"));
    }
    let mut flags: Vec<(&str, bool)> = Vec::new();
    let mut kept = Map::new();
    for (name, field) in fields {
        let value = field.get("value").cloned().unwrap_or(field.clone());
        let flag = name.strip_prefix("reserved_").map(|flag| FLAGS.iter().copied().find(|f| *f == flag));
        match flag {
            Some(Some(flag)) => match value {
                Value::Bool(on) => flags.push((flag, on)),
                _ => return Err(Error::field(&name, "a reserved flag's value must be true or false")),
            },
            Some(_) => {
                return Err(Error::field(&name, "reserved_ fields are verified_customer, bad_actor, repeat_customer"))
            }
            None => {
                let label = field.get("label").and_then(Value::as_str).unwrap_or(&name).to_owned();
                kept.insert(name, json!({ "label": label, "value": value }));
            }
        }
    }
    let mut tx = state.db.begin().await?;
    let mut row = chats::find(&mut *tx, id).await?.unwrap_or_else(|| blank(&conversation));
    let mut stored = attributes(&row.custom_data);
    stored.extend(kept);
    row.custom_data = Value::Object(stored).to_string();
    row.custom_data_signed = i64::from(signed);
    chats::save(&mut tx, &row, now_ms()).await?;
    tx.commit().await?;
    if !flags.is_empty() {
        set_contact_attributes(
            state,
            account_id,
            conversation.contact_id,
            flags.into_iter().map(|(k, v)| (k, Value::Bool(v))),
        )
        .await?;
    }
    Ok(())
}

/// The end user's details given during a chat.
#[derive(Debug, Clone, Default)]
pub struct EndUserUpdate {
    pub identifier: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

/// Updates the chat's end user: the business's identifier (their address on the chat's channel;
/// when another contact already has it there, the end user joins that contact), name, email,
/// phone.
pub async fn update_end_user(state: &AppState, account_id: i64, id: i64, update: EndUserUpdate) -> Result<()> {
    let identifier = update.identifier.trim().to_owned();
    if identifier.is_empty() || identifier.chars().count() > 255 {
        return Err(Error::field("identifier", "is required, 1 to 255 characters"));
    }
    let conversation = find(state.db.reader(), account_id, id).await?;
    let input =
        contacts::ContactInput { name: update.name, email: update.email, phone: update.phone, ..Default::default() };
    contacts::update(state, account_id, conversation.contact_id, input).await?;
    let channel_id = conversation.channel_id;
    match crate::store::contacts::find_identity(state.db.reader(), channel_id, &identifier).await? {
        Some(holder) if holder.contact_id != conversation.contact_id => {
            contacts::merge(state, account_id, holder.contact_id, conversation.contact_id).await?;
        }
        Some(_) => {}
        None => {
            let mut tx = state.db.begin().await?;
            let contact_id = conversation.contact_id;
            crate::store::contacts::insert_identity(&mut tx, account_id, contact_id, channel_id, &identifier, now_ms())
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// What operators see of a chat beyond the conversation: its language, the context given to the
/// virtual agent and the business's custom data.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChatDetails {
    pub lang: Option<String>,
    /// The context given when the chat was created.
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    /// `{field: {label, value}}`.
    #[schema(value_type = Object)]
    pub custom_data: Value,
    /// The custom data came signed with the company secret.
    pub custom_data_signed: bool,
}

/// A conversation's chat details (empty ones when an integration added none).
pub async fn details(state: &AppState, account_id: i64, id: i64) -> Result<ChatDetails> {
    let reader = state.db.reader();
    find(reader, account_id, id).await?;
    let row = chats::find(reader, id).await?.unwrap_or_default();
    Ok(ChatDetails {
        lang: row.lang,
        context: row.context.as_deref().and_then(|c| serde_json::from_str(c).ok()),
        custom_data: Value::Object(attributes(&row.custom_data)),
        custom_data_signed: row.custom_data_signed != 0,
    })
}

/// The unsigned data a virtual agent receives with a turn: the chat's context and custom data.
pub async fn agent_context<'c>(db: impl sqlx::AnyExecutor<'c>, conversation_id: i64) -> Result<Option<Value>> {
    let Some(row) = chats::find(db, conversation_id).await? else {
        return Ok(None);
    };
    let context = row.context.as_deref().and_then(|c| serde_json::from_str::<Value>(c).ok());
    let custom = attributes(&row.custom_data);
    if context.is_none() && custom.is_empty() {
        return Ok(None);
    }
    Ok(Some(json!({ "context": context, "custom_data": custom })))
}

/// Sets the account's company secret (given, at least 32 characters, or generated) and returns
/// it once; custom data signed with the previous one is refused from then on.
pub async fn set_company_secret(state: &AppState, account_id: i64, value: Option<String>) -> Result<String> {
    let secret = match value {
        Some(value) if value.len() >= 32 && value.len() <= 256 => value,
        Some(_) => return Err(Error::field("value", "must be 32 to 256 characters")),
        None => random_token(48),
    };
    let mut tx = state.db.begin().await?;
    chats::set_company_secret(&mut tx, account_id, &secret).await?;
    tx.commit().await?;
    Ok(secret)
}
