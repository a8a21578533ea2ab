//! The AI-agent conversations API dialect (EVA by xVia, `/eva/conversation/…`): thin translators
//! from its paths, bodies and answers to `service::api_conversations`, `service::conversations`,
//! `service::feedback` and `service::surveys`. No business rule lives here. See `docs/eva.md`,
//! which marks every choice the platform's documentation leaves open.

use axum::body::Body as HttpBody;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{describe_error, guarded, read_body, read_query, read_segment, Caller, Dialect, Guard};
use crate::domain::time::{parse_timestamp, to_rfc3339};
use crate::error::Error;
use crate::service::api_conversations;
use crate::service::conversations::{self, ConversationQuery};
use crate::service::feedback::{self, FeedbackInput};
use crate::service::surveys;
use crate::service::views::Conversation;
use crate::state::AppState;
use crate::store::messages::MessageRow;

/// The AI-agent API's dialect.
pub struct Eva;

impl Dialect for Eva {
    type Failure = Failure;

    fn rate_limited(retry_after: u64, path: &str) -> Failure {
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            detail: format!("Rate limit exceeded: retry in {retry_after} seconds"),
            retry_after: Some(retry_after),
            instance: Some(path.to_owned()),
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

/// The dialect's routes under `/eva` (the prefix stands for the platform's host).
pub fn routes(guard: Guard) -> Router<AppState> {
    let conversations = Router::new()
        .route("/conversation/create/{id}", post(create))
        .route("/conversation/complete/{id}", post(complete))
        .route("/conversation/stream/{id}", post(stream))
        .route("/conversation/list", get(list))
        .route("/conversation/metadata/{id}", get(metadata))
        .route("/conversation/messages/{id}", get(messages))
        .route("/conversation/meta/{id}", post(update_meta))
        .route("/conversation/feedback/{id}", post(give_feedback))
        .route("/conversation/survey/{id}", post(survey));
    let conversations = guarded::<Eva>(conversations, guard);
    Router::new().nest("/eva", conversations)
}

/// An error as the platform answers: `{"detail": "…"}`, and on 429 an RFC 9457 problem with
/// `type`, `title`, `status`, `instance` (and `Retry-After`).
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    detail: String,
    retry_after: Option<u64>,
    instance: Option<String>,
}

impl Failure {
    fn new(status: StatusCode, detail: impl Into<String>) -> Failure {
        Failure { status, detail: detail.into(), retry_after: None, instance: None }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let unauthorized = "Unauthorized: send `Authorization: Bearer <API key>`";
        let (status, detail, retry_after) = describe_error(error, StatusCode::BAD_REQUEST, unauthorized);
        Failure { status, detail, retry_after, instance: None }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = if self.status == StatusCode::TOO_MANY_REQUESTS {
            let problem = json!({
                "type": "https://httpstatuses.io/429",
                "title": "Too Many Requests",
                "status": 429,
                "detail": self.detail,
                "instance": self.instance,
            });
            let mut response = (self.status, Json(problem)).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
            response
        } else {
            (self.status, Json(json!({ "detail": self.detail }))).into_response()
        };
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Answer<T> = Result<T, Failure>;

super::json_body!(Eva);

/// The numeric id of the path (a conversation, agent or message); anything else names nothing.
pub struct PathId(pub i64);

impl FromRequestParts<AppState> for PathId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let id: String = read_segment::<Eva, String>(parts, state, "Resource").await?;
        id.trim().parse().map(PathId).map_err(|_| Eva::not_found("Resource"))
    }
}

/// What a conversation is created with.
#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    #[serde(default)]
    meta: Option<Map<String, Value>>,
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(agent_id): PathId,
    request: Request,
) -> Answer<Json<Value>> {
    // The body is optional: a bare POST starts a conversation without metadata.
    let headers = request.headers();
    let empty = match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length == "0",
        None => !headers.contains_key(header::TRANSFER_ENCODING),
    };
    let body = match empty {
        true => CreateBody::default(),
        false => read_body::<Eva, CreateBody>(request, &state).await?,
    };
    let conversation = api_conversations::start(&state, caller.account_id, agent_id, body.meta).await?;
    Ok(Json(json!({ "id": conversation.id.to_string() })))
}

/// What the customer says.
#[derive(Debug, Deserialize)]
struct ChatBody {
    text: String,
}

/// A message as the dialect shows it.
fn message_json(row: &MessageRow) -> Value {
    let role = match row.sender_type.as_str() {
        "contact" => "user",
        "virtual_agent" => "bot",
        // People of the business, in the inbox or through an API.
        _ => "agent",
    };
    json!({
        "id": row.id.to_string(),
        "text": row.text.clone().unwrap_or_default(),
        "role": role,
        "createdAt": to_rfc3339(row.created_at),
    })
}

async fn complete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    Body(body): Body<ChatBody>,
) -> Answer<Json<Value>> {
    let question = api_conversations::ask(&state, caller.account_id, id, &body.text).await?;
    let sent = api_conversations::answer_now(&state, id, question).await?;
    let messages: Vec<Value> = sent.iter().map(message_json).collect();
    Ok(Json(json!({ "id": question.to_string(), "sendMensages": messages })))
}

async fn stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    Body(body): Body<ChatBody>,
) -> Answer<Response> {
    let question = api_conversations::ask(&state, caller.account_id, id, &body.text).await?;
    let pieces = api_conversations::stream_answer(state, caller.account_id, id, question)
        .map(|piece| Ok::<_, std::convert::Infallible>(piece.into_bytes()));
    let mut response = HttpBody::from_stream(pieces).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert("x-message-id", HeaderValue::from(question));
    Ok(response)
}

/// The list's query.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    limit: Option<i64>,
    current_page: Option<i64>,
    date_init: Option<String>,
    date_end: Option<String>,
    search: Option<String>,
    meta: Option<String>,
    cursor: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ListQuery {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Failure> {
        read_query::<Eva, ListQuery>(parts)
    }
}

fn date(value: Option<&str>, field: &str) -> Answer<Option<i64>> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(text) => match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(_) => Ok(parse_timestamp(text)),
            Err(_) => Err(Failure::new(StatusCode::BAD_REQUEST, format!("{field} must be a date, YYYY-MM-DD"))),
        },
        None => Ok(None),
    }
}

/// The metadata of conversations as the dialect shows them, each named by its agent: the one
/// handling it, else the last one that answered.
async fn metadata_json(state: &AppState, account_id: i64, conversations: &[Conversation]) -> Answer<Vec<Value>> {
    let reader = state.db.reader();
    let agents = crate::store::agents::list_agents(reader, account_id).await.map_err(Error::from)?;
    let ids: Vec<i64> = conversations.iter().filter(|c| c.virtual_agent_id.is_none()).map(|c| c.id).collect();
    let answered = crate::store::messages::latest_virtual_agents(reader, &ids).await.map_err(Error::from)?;
    Ok(conversations
        .iter()
        .map(|conversation| {
            let agent = conversation
                .virtual_agent_id
                .or_else(|| answered.iter().find(|(id, _)| *id == conversation.id).map(|(_, agent)| *agent));
            let botname = agent.and_then(|id| agents.iter().find(|a| a.id == id)).map(|a| a.name.clone());
            metadata_of(conversation, botname)
        })
        .collect())
}

fn metadata_of(conversation: &Conversation, botname: Option<String>) -> Value {
    json!({
        "id": conversation.id.to_string(),
        "botname": botname,
        "description": conversation.subject.clone().or_else(|| conversation.last_message_preview.clone()),
        "channel": conversation.channel.name,
        "survey": conversation.survey,
        "meta": conversation.meta,
        "createdAt": conversation.created_at,
        "updatedAt": conversation.updated_at,
    })
}

async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: ListQuery,
) -> Answer<Json<Value>> {
    let limit = query.limit.unwrap_or(25);
    if !(1..=100).contains(&limit) {
        return Err(Failure::new(StatusCode::BAD_REQUEST, "limit must be 1 to 100"));
    }
    let page = query.current_page.unwrap_or(0);
    if page < 0 {
        return Err(Failure::new(StatusCode::BAD_REQUEST, "currentPage must be 0 or more"));
    }
    let cursor = query.cursor.filter(|c| !c.is_empty());
    if page > 0 && cursor.is_none() {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "cursor is required from the second page on: send the cursor of the previous answer",
        ));
    }
    let date_end = date(query.date_end.as_deref(), "dateEnd")?;
    let channel_ids = api_conversations::api_channel_ids(&state, caller.account_id).await?;
    if channel_ids.is_empty() {
        return Ok(Json(
            json!({ "total": 0, "currentPage": page + 1, "totalPages": 0, "cursor": null, "conversations": [] }),
        ));
    }
    let native = ConversationQuery {
        channel_ids,
        text: query.search,
        meta_text: query.meta,
        created_from: date(query.date_init.as_deref(), "dateInit")?,
        // The end date is included: conversations started before the next day.
        created_before: date_end.map(|day| day + 86_400_000),
        sort: "created_at".to_owned(),
        descending: true,
        limit,
        cursor,
        ..ConversationQuery::default()
    };
    let found = conversations::list(&state, caller.account_id, &native).await?;
    let items = metadata_json(&state, caller.account_id, &found.data).await?;
    Ok(Json(json!({
        "total": found.total,
        "currentPage": page + 1,
        "totalPages": (found.total + limit - 1) / limit,
        "cursor": found.next_cursor,
        "conversations": items,
    })))
}

async fn metadata(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> Answer<Json<Value>> {
    let conversation = conversations::get(&state, caller.account_id, id).await?;
    let mut items = metadata_json(&state, caller.account_id, std::slice::from_ref(&conversation)).await?;
    Ok(Json(items.pop().unwrap_or_default()))
}

async fn messages(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
) -> Answer<Json<Value>> {
    conversations::get(&state, caller.account_id, id).await?;
    let rows =
        crate::store::messages::list_messages(state.db.reader(), id, 0, i64::MAX, 1000).await.map_err(Error::from)?;
    let items: Vec<Value> =
        rows.iter().filter(|m| m.private == 0 && m.deleted_at.is_none()).map(message_json).collect();
    Ok(Json(json!({ "id": id.to_string(), "messages": items })))
}

/// Metadata to merge.
#[derive(Debug, Deserialize)]
struct MetaBody {
    meta: Map<String, Value>,
}

async fn update_meta(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    Body(body): Body<MetaBody>,
) -> Answer<Json<Value>> {
    api_conversations::set_meta(&state, caller.account_id, id, body.meta).await?;
    Ok(Json(json!({ "message": "Conversation metadata updated" })))
}

async fn give_feedback(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    Body(body): Body<FeedbackInput>,
) -> Answer<Json<Value>> {
    let given = feedback::give(&state, caller.account_id, caller.author(), id, body).await?;
    Ok(Json(json!({ "message": "Feedback saved", "id": given.id.to_string(), "rating": given.rating })))
}

/// The customer's vote on the conversation.
#[derive(Debug, Deserialize)]
struct SurveyBody {
    survey: i64,
    #[serde(default)]
    comment: Option<String>,
}

async fn survey(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    PathId(id): PathId,
    Body(body): Body<SurveyBody>,
) -> Answer<Json<Value>> {
    surveys::rate(&state, caller.account_id, id, body.survey, body.comment).await?;
    Ok(Json(json!({ "message": "Survey saved", "survey": body.survey })))
}
