//! The conversations API dialect of AgentClara (`/agentclara/conversations…`): thin translators
//! from its paths, bodies and `{"success", "data" | "error"}` envelope to `service::conversations`,
//! `service::outbound` and `service::inbound`. No business rule lives here. See
//! `docs/agentclara.md`, which marks every choice the platform's documentation leaves open.

mod customers;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{describe_error, guarded, read_segment, Caller, Dialect, Guard};
use crate::channels::capabilities_of;
use crate::domain::calls::Call;
use crate::domain::inbound::InboundMessage;
use crate::domain::{ChannelKind, ConversationStatus, MessageType};
use crate::error::Error;
use crate::ratelimit::WindowLimiter;
use crate::service::conversations::{self, ConversationPatch, ConversationQuery, MessageQuery};
use crate::service::inbound;
use crate::service::outbound::{self, NewConversation, Outgoing};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;
use crate::store::channels::{list_channels, ChannelRow};
use crate::store::{contacts, messages};

/// The platform's limits per API key: 1,000 requests a minute, bursts of 100 in 10 seconds.
pub fn windows() -> WindowLimiter {
    WindowLimiter::with_bursts(1000, 100, 10_000)
}

/// The conversations API's dialect.
pub struct AgentClara;

impl Dialect for AgentClara {
    type Failure = Failure;

    fn rate_limited(retry_after: u64, _path: &str) -> Failure {
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            error: format!("Rate limit exceeded: retry in {retry_after} seconds"),
            retry_after: Some(retry_after),
        }
    }

    fn bad_body(detail: &str, _malformed: bool) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, detail)
    }

    fn not_found(what: &str) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    fn answer(status: StatusCode, message: &str) -> Failure {
        Failure::new(status, message)
    }
}

/// The dialect's routes under `/agentclara` (the prefix stands for the platform's host).
pub fn routes(guard: Guard) -> Router<AppState> {
    let api = Router::new()
        .route("/conversations", get(list).post(create))
        .route("/conversations/{id}", get(show).patch(update))
        .route("/conversations/{id}/messages", post(send))
        .route("/conversations/{id}/close", post(close))
        .route("/contacts", get(customers::list).post(customers::create))
        .route("/contacts/search", get(customers::search))
        .route(
            "/contacts/{id}",
            get(customers::show).patch(customers::update).put(customers::update).delete(customers::delete),
        )
        .route("/contacts/{id}/conversations", get(customers::conversations_of));
    let api = guarded::<AgentClara>(api, guard);
    Router::new().nest("/agentclara", api)
}

/// An error as the platform answers: `{"success": false, "error": "…"}`.
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    error: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, error: impl Into<String>) -> Failure {
        Failure { status, error: error.into(), retry_after: None }
    }

    fn bad_request(error: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, error)
    }

    fn missing(field: &str) -> Failure {
        Failure::bad_request(format!("Missing required field: {field}"))
    }

    fn conversation_not_found() -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "Conversation not found")
    }

    fn contact_not_found() -> Failure {
        Failure::new(StatusCode::NOT_FOUND, "Contact not found")
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        match error {
            Error::NotFound("conversation") => return Failure::conversation_not_found(),
            Error::NotFound("contact") => return Failure::contact_not_found(),
            _ => {}
        }
        let (status, error, retry_after) = describe_error(error, StatusCode::BAD_REQUEST, "Invalid API key");
        Failure { status, error, retry_after }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "success": false, "error": self.error }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Answer<T> = Result<T, Failure>;

/// A success: `{"success": true, "data": …}`.
fn success(status: StatusCode, data: Value) -> (StatusCode, Json<Value>) {
    (status, Json(json!({ "success": true, "data": data })))
}

super::json_body!(AgentClara);
super::query_params!(AgentClara, Query);

/// A conversation's id in the path (`conv_…`); anything else names no conversation.
pub struct ConversationId(pub i64);

impl FromRequestParts<AppState> for ConversationId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let id: String = read_segment::<AgentClara, String>(parts, state, "Conversation").await?;
        parse_id(&id, "conv_").map(ConversationId).ok_or_else(Failure::conversation_not_found)
    }
}

/// The number in an id the dialect shows with a prefix (`conv_12`).
fn parse_id(text: &str, prefix: &str) -> Option<i64> {
    text.trim().strip_prefix(prefix)?.parse().ok().filter(|id| *id > 0)
}

/// The channels the platform names, and the network each stands for.
const CHANNELS: &[(&str, ChannelKind)] = &[
    ("sms", ChannelKind::Sms),
    ("email", ChannelKind::Email),
    ("instagram", ChannelKind::Instagram),
    ("facebook", ChannelKind::Messenger),
    ("whatsapp", ChannelKind::Whatsapp),
    ("voice", ChannelKind::Voice),
];

/// The platform's name of a network (its own name for those it does not list).
fn channel_name(kind: &str) -> &str {
    CHANNELS.iter().find(|(_, k)| k.as_str() == kind).map_or(kind, |(name, _)| name)
}

/// The network a channel name stands for.
fn channel_kind(name: &str) -> Answer<ChannelKind> {
    CHANNELS.iter().find(|(n, _)| *n == name).map(|(_, kind)| *kind).ok_or_else(|| {
        let names: Vec<&str> = CHANNELS.iter().map(|(n, _)| *n).collect();
        Failure::bad_request(format!("Invalid channel: must be one of {}", names.join(", ")))
    })
}

/// The platform's status of a conversation: waiting on the business (pending) is still open.
fn status_name(status: &str) -> &str {
    match status {
        "resolved" => "resolved",
        "closed" => "closed",
        _ => "open",
    }
}

fn status(name: &str) -> Answer<ConversationStatus> {
    match name {
        "open" => Ok(ConversationStatus::Open),
        "closed" => Ok(ConversationStatus::Closed),
        "resolved" => Ok(ConversationStatus::Resolved),
        _ => Err(Failure::bad_request("Invalid status: must be open, closed or resolved")),
    }
}

/// A conversation as the platform lists it.
fn conversation_json(conversation: &Conversation) -> Value {
    json!({
        "id": format!("conv_{}", conversation.id),
        "customer_id": format!("cust_{}", conversation.contact.id),
        "customer_name": conversation.contact.name,
        "customer_email": conversation.contact.email,
        "customer_phone": conversation.contact.phone,
        "channel": channel_name(&conversation.channel.kind),
        "subject": conversation.subject,
        "last_message": conversation.last_message_preview,
        "timestamp": conversation.created_at,
        "status": status_name(&conversation.status),
        "unread": conversation.unread_count > 0,
        "tags": conversation.tags,
    })
}

/// Who wrote a message, as the platform says: the customer, or the assistant (the business's
/// people and virtual agents alike).
fn sender(message: &Message) -> &'static str {
    match message.direction.as_str() {
        "inbound" => "customer",
        _ => "assistant",
    }
}

/// A message as the platform shows it; a call's content is its transcript (else what happened),
/// and its details follow under `call`.
fn message_json(message: &Message) -> Value {
    let call = Call::of(&message.payload);
    let transcript = call.as_ref().and_then(|call| call.transcript.clone());
    let mut data = json!({
        "id": format!("msg_{}", message.id),
        "sender": sender(message),
        "content": transcript.or_else(|| message.text.clone()).unwrap_or_default(),
        "timestamp": message.created_at,
    });
    if let Some(call) = call {
        data["call"] = json!(call);
    }
    data
}

/// The list's filters and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    channel: Option<String>,
    status: Option<String>,
    customer_id: Option<String>,
}

/// The most items one page holds, and the default.
const MAX_LIMIT: i64 = 100;
const DEFAULT_LIMIT: i64 = 25;

/// The deepest offset a list goes to (a cursor-paged list goes anywhere: `/api/v1`).
const MAX_OFFSET: i64 = 10_000;

/// A page's size (`default` when not given) and offset, checked.
fn page_bounds(limit: Option<i64>, offset: Option<i64>, default: i64) -> Answer<(i64, i64)> {
    let limit = limit.unwrap_or(default);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(Failure::bad_request(format!("Invalid limit: must be 1 to {MAX_LIMIT}")));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=MAX_OFFSET).contains(&offset) {
        return Err(Failure::bad_request(format!("Invalid offset: must be 0 to {MAX_OFFSET}")));
    }
    Ok((limit, offset))
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Answer<(StatusCode, Json<Value>)> {
    let (limit, offset) = page_bounds(query.limit, query.offset, DEFAULT_LIMIT)?;
    let mut native = ConversationQuery {
        sort: "last_message_at".to_owned(),
        descending: true,
        limit,
        offset,
        ..ConversationQuery::default()
    };
    if let Some(name) = query.channel.as_deref() {
        let kind = channel_kind(name)?;
        native.channel_ids =
            account_channels(&state, caller.account_id, kind).await?.iter().map(|channel| channel.id).collect();
        if native.channel_ids.is_empty() {
            return Ok(success(StatusCode::OK, json!([])));
        }
    }
    if let Some(name) = query.status.as_deref() {
        native.statuses = match status(name)? {
            ConversationStatus::Open => vec![ConversationStatus::Open, ConversationStatus::Pending],
            other => vec![other],
        };
    }
    if let Some(customer) = query.customer_id.as_deref() {
        match parse_id(customer, "cust_") {
            Some(id) => native.contact_id = Some(id),
            None => return Ok(success(StatusCode::OK, json!([]))),
        }
    }
    let found = conversations::list(&state, caller.account_id, &native).await?;
    Ok(success(StatusCode::OK, Value::Array(found.data.iter().map(conversation_json).collect())))
}

/// The account's channels of a network, oldest first.
async fn account_channels(state: &AppState, account_id: i64, kind: ChannelKind) -> Answer<Vec<ChannelRow>> {
    let all = list_channels(state.db.reader(), account_id).await.map_err(Error::from)?;
    Ok(all.into_iter().filter(|channel| channel.kind == kind.as_str()).collect())
}

/// How many of a conversation's newest messages a single conversation shows.
const SHOWN_MESSAGES: i64 = 100;

async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConversationId(id): ConversationId,
) -> Answer<(StatusCode, Json<Value>)> {
    let conversation = conversations::get(&state, caller.account_id, id).await?;
    let page = conversations::messages(
        &state,
        caller.account_id,
        id,
        &MessageQuery { limit: SHOWN_MESSAGES, ..MessageQuery::default() },
    )
    .await?;
    let mut data = conversation_json(&conversation);
    let shown: Vec<Value> =
        page.data.iter().filter(|message| !message.private && !message.deleted).map(message_json).collect();
    data["messages"] = Value::Array(shown);
    Ok(success(StatusCode::OK, data))
}

/// A conversation to start.
#[derive(Debug, Deserialize)]
struct CreateBody {
    customer_phone: Option<String>,
    customer_email: Option<String>,
    customer_name: Option<String>,
    /// A customer already known, for the networks where people have no phone or email address
    /// (facebook, instagram).
    customer_id: Option<String>,
    channel: Option<String>,
    message: Option<String>,
}

/// A text that counts as given.
fn given(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|text| !text.is_empty())
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<CreateBody>,
) -> Answer<(StatusCode, Json<Value>)> {
    let name = given(&body.channel).ok_or_else(|| Failure::missing("channel"))?;
    let kind = channel_kind(name)?;
    let channel = account_channels(&state, caller.account_id, kind)
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, format!("No {name} channel is set up")))?;
    let to = match kind {
        ChannelKind::Sms | ChannelKind::Whatsapp | ChannelKind::Voice => {
            given(&body.customer_phone).ok_or_else(|| Failure::missing("customer_phone"))?.to_owned()
        }
        ChannelKind::Email => given(&body.customer_email).ok_or_else(|| Failure::missing("customer_email"))?.to_owned(),
        _ => {
            let customer = given(&body.customer_id).ok_or_else(|| Failure::missing("customer_id"))?;
            let id =
                parse_id(customer, "cust_").ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "Customer not found"))?;
            let addresses = contacts::addresses_on(state.db.reader(), channel.id, id).await.map_err(Error::from)?;
            addresses
                .into_iter()
                .next()
                .ok_or_else(|| Failure::bad_request(format!("The customer has no {name} address yet")))?
        }
    };
    let new_name = given(&body.customer_name).map(str::to_owned);
    let new = NewConversation {
        channel_id: channel.id,
        to,
        name: new_name.clone(),
        subject: None,
        message: Outgoing { text: given(&body.message).map(str::to_owned), ..Outgoing::default() },
    };
    let (conversation, message_id) = match new.message.text.is_some() {
        true => {
            let (conversation, message) = outbound::start(&state, caller.account_id, new).await?;
            (conversation, Some(format!("msg_{}", message.id)))
        }
        false => (outbound::open(&state, caller.account_id, &new).await?, None),
    };
    // A customer known without a name takes the one given.
    let conversation = match (&conversation.contact.name, &new_name) {
        (None, Some(name)) => {
            let patch = ConversationPatch { contact_name: Some(name.clone()), ..ConversationPatch::default() };
            conversations::update(&state, caller.account_id, conversation.id, patch).await?
        }
        _ => conversation,
    };
    let mut data = json!({
        "id": format!("conv_{}", conversation.id),
        "customer_id": format!("cust_{}", conversation.contact.id),
        "customer_name": conversation.contact.name,
        "channel": channel_name(&conversation.channel.kind),
        "status": status_name(&conversation.status),
        "message_id": message_id,
    });
    match kind {
        ChannelKind::Email => data["customer_email"] = json!(conversation.contact.email),
        _ => data["customer_phone"] = json!(conversation.contact.phone),
    }
    Ok(success(StatusCode::CREATED, data))
}

/// A message to add.
#[derive(Debug, Deserialize)]
struct SendBody {
    content: Option<String>,
    sender: Option<String>,
}

async fn send(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConversationId(id): ConversationId,
    Body(body): Body<SendBody>,
) -> Answer<(StatusCode, Json<Value>)> {
    let content = given(&body.content).ok_or_else(|| Failure::missing("content"))?.to_owned();
    let message = match body.sender.as_deref().unwrap_or("assistant") {
        "assistant" => {
            let outgoing = Outgoing { text: Some(content), operator_id: caller.operator_id, ..Outgoing::default() };
            outbound::send(&state, caller.account_id, id, outgoing).await?
        }
        "customer" => relay(&state, caller.account_id, id, content).await?,
        _ => return Err(Failure::bad_request("Invalid sender: must be customer or assistant")),
    };
    Ok(success(
        StatusCode::CREATED,
        json!({
            "message_id": format!("msg_{}", message.id),
            "conversation_id": format!("conv_{}", message.conversation_id),
            "content": message.text,
            "sender": sender(&message),
            "timestamp": message.created_at,
        }),
    ))
}

/// Records a customer's message another system received (`sender: customer`), as the channel
/// would have delivered it: in the conversation's thread.
async fn relay(state: &AppState, account_id: i64, id: i64, content: String) -> Answer<Message> {
    let conversation = conversations::get(state, account_id, id).await?;
    let channel = crate::store::channels::find_channel(state.db.reader(), account_id, conversation.channel.id)
        .await
        .map_err(Error::from)?
        .ok_or(Error::NotFound("conversation"))?;
    let db = state.db.reader();
    let address = contacts::addresses_on(db, channel.id, conversation.contact.id).await.map_err(Error::from)?;
    let from = address.into_iter().next().ok_or(Error::NotFound("conversation"))?;
    let mut message = InboundMessage::new(from, MessageType::Text);
    message.text = Some(content);
    if capabilities_of(&channel.kind).threads {
        message.thread =
            Some(messages::thread_ids(db, id, i64::MAX).await.map_err(Error::from)?.into_iter().rev().collect());
    }
    let ingested = inbound::ingest(state, &channel, vec![message]).await?;
    let first = ingested.into_iter().next().ok_or_else(|| Error::Internal(anyhow::anyhow!("nothing ingested")))?;
    Ok(first.message)
}

/// Changes to a conversation.
#[derive(Debug, Deserialize)]
struct UpdateBody {
    status: Option<String>,
    customer_name: Option<String>,
    /// Added to the conversation's tags.
    tags: Option<Vec<String>>,
}

async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConversationId(id): ConversationId,
    Body(body): Body<UpdateBody>,
) -> Answer<(StatusCode, Json<Value>)> {
    let current = conversations::get(&state, caller.account_id, id).await?;
    let tags = body.tags.map(|added| {
        let mut tags = current.tags.clone();
        tags.extend(added.into_iter().filter(|tag| !current.tags.contains(tag)));
        tags
    });
    let patch = ConversationPatch {
        status: body.status.as_deref().map(status).transpose()?,
        contact_name: body.customer_name,
        tags,
        ..ConversationPatch::default()
    };
    let updated = conversations::update(&state, caller.account_id, id, patch).await?;
    Ok(success(
        StatusCode::OK,
        json!({
            "id": format!("conv_{}", updated.id),
            "status": status_name(&updated.status),
            "customer_name": updated.contact.name,
            "tags": updated.tags,
        }),
    ))
}

async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ConversationId(id): ConversationId,
) -> Answer<(StatusCode, Json<Value>)> {
    let closed = conversations::close(&state, caller.account_id, id).await?;
    Ok(success(
        StatusCode::OK,
        json!({
            "id": format!("conv_{}", closed.id),
            "status": status_name(&closed.status),
            "closed_at": closed.closed_at.clone().map_or(Value::Null, Value::from),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_need_their_prefix() {
        assert_eq!(parse_id("conv_42", "conv_"), Some(42));
        assert_eq!(parse_id("42", "conv_"), None);
        assert_eq!(parse_id("conv_0", "conv_"), None);
        assert_eq!(parse_id("cust_7", "conv_"), None);
    }

    #[test]
    fn channel_names_map_to_networks() {
        assert_eq!(channel_name("messenger"), "facebook");
        assert_eq!(channel_name("webchat"), "webchat");
        assert!(matches!(channel_kind("facebook"), Ok(ChannelKind::Messenger)));
        assert!(channel_kind("fax").is_err());
    }
}
