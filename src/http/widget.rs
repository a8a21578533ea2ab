//! The web chat widget's API under `/widget/v1/channels/{public_id}`: no API key — a page of one
//! of the channel's allowed origins opens a visitor session, and every other call carries its
//! token as `Authorization: Bearer …` (never in a URL). Answers carry CORS headers for allowed
//! origins only; other sites are refused (403 `origin_not_allowed`).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures::Stream;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::server::ClientAddr;
use crate::ratelimit::WidgetKey;
use crate::service::visitors::{self, ChatState, Identify, Proof, SessionToken, Whereabouts, WidgetMessage};
use crate::state::{AppState, Signal};
use crate::store::channels::ChannelRow;
use crate::store::visitors::VisitorSessionRow;

/// The widget's routes.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/channels/{public_id}/sessions", post(open).options(preflight))
        .route("/channels/{public_id}/identify", post(identify).options(preflight))
        .route("/channels/{public_id}/messages", get(messages).post(send).options(preflight))
        .route("/channels/{public_id}/events", get(events).options(preflight))
        .route("/channels/{public_id}/typing", post(typing).options(preflight))
        .route("/channels/{public_id}/state", get(chat_state).options(preflight))
        .route("/channels/{public_id}/deflect", post(deflect).options(preflight))
        .route("/channels/{public_id}/rating", post(rate).options(preflight))
        .route(
            "/channels/{public_id}/uploads",
            post(upload)
                .options(preflight)
                .layer(axum::extract::DefaultBodyLimit::max(crate::http::largest_body(&state.config))),
        )
        .layer(middleware::from_fn_with_state(state, cors))
}

/// A CORS preflight: [`cors`] lets it through for allowed origins only.
async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// The page's origin.
fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|value| value.to_str().ok())
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The web chat channel a request's page may use, found once by [`cors`] for the handlers.
#[derive(Clone)]
pub struct WidgetChannel(ChannelRow);

/// Refuses pages of other origins (and unknown channels) before anything else runs; for allowed
/// ones, hands the channel to the handler and lets the page read the answer (CORS), preflights
/// included.
async fn cors(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let mut segments = request.uri().path().split('/');
    let public_id = segments.find(|segment| *segment == "channels").and(segments.next()).unwrap_or_default().to_owned();
    let Some(origin) = origin(request.headers()).map(str::to_owned) else {
        return visitors::origin_not_allowed().into_response();
    };
    let channel = match visitors::widget_channel(&state, &public_id, &origin).await {
        Ok(channel) => channel,
        Err(refused) => return refused.into_response(),
    };
    request.extensions_mut().insert(WidgetChannel(channel));
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    }
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, last-event-id"),
    );
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    response
}

/// The visitor's session of a request, within the visitor's rate.
async fn visitor(state: &AppState, channel: &ChannelRow, headers: &HeaderMap) -> Result<VisitorSessionRow> {
    let session = visitors::session(state, channel, bearer(headers)).await?;
    state.widget_limiter.check(WidgetKey::Session(session.id))?;
    Ok(session)
}

/// Where a session opens.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenBody {
    /// The page the widget runs on, shown to the team with the browser (`User-Agent`).
    page_url: Option<String>,
    /// The visitor's language (the browser's, e.g. `it-IT`).
    #[serde(default)]
    language: Option<String>,
}

/// Open a visitor session.
///
/// From a page of one of the channel's allowed origins: a new anonymous visitor and their token.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/sessions", operation_id = "openWidgetSession", tag = "web chat widget",
    params(("public_id" = String, Path, description = "The channel's public id (the widget's `data-channel`).")),
    request_body(content = Option<OpenBody>), security(()),
    responses((status = 201, body = SessionToken), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn open(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    address: Option<Extension<ClientAddr>>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<SessionToken>)> {
    if let Some(Extension(ClientAddr(address))) = address {
        state.widget_limiter.check(WidgetKey::Address(address))?;
    }
    let browser = headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()).map(str::to_owned);
    // The body is optional: `{"page_url", "language"}` or nothing.
    let body: OpenBody = match body.is_empty() {
        true => OpenBody { page_url: None, language: None },
        false => serde_json::from_slice(&body).map_err(|e| Error::MalformedBody(format!("invalid body: {e}")))?,
    };
    let whereabouts = Whereabouts { page_url: body.page_url, browser, language: body.language };
    Ok((StatusCode::CREATED, Json(visitors::open(&state, &channel, whereabouts).await?)))
}

/// Who the visitor is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBody {
    /// Your id for the customer (an account number, a user id).
    identifier: String,
    name: Option<String>,
    email: Option<String>,
    /// Hex HMAC-SHA256 of `identifier` with the channel's identity secret, computed by your server.
    identifier_hash: Option<String>,
    /// Or an HS256 JWT from your server, signed with the identity secret: `sub` = `identifier`,
    /// with `exp`.
    identity_token: Option<String>,
}

/// Identify the visitor.
///
/// With `identifier_hash` or `identity_token` from the business's server the visitor joins the
/// customer with that identifier (and their earlier chats); without, the identifier is only
/// noted (refused where the channel requires proof). The session's token changes: use the new
/// one.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/identify", operation_id = "identifyWidgetVisitor", tag = "web chat widget",
    params(("public_id" = String, Path)), request_body = IdentifyBody, security(("visitor" = [])),
    responses((status = 200, body = SessionToken), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn identify(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<IdentifyBody>,
) -> Result<Json<SessionToken>> {
    let session = visitor(&state, &channel, &headers).await?;
    let proof = match (body.identifier_hash, body.identity_token) {
        (Some(_), Some(_)) => return Err(Error::field("identity_token", "send identifier_hash or identity_token")),
        (Some(hash), None) => Proof::Hash(hash),
        (None, Some(token)) => Proof::Jwt(token),
        (None, None) => Proof::None,
    };
    let who = Identify { identifier: body.identifier, name: body.name, email: body.email, proof };
    Ok(Json(visitors::identify(&state, &channel, &session, who).await?))
}

/// Where a visitor's thread continues.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AfterParams {
    /// Messages after this id.
    after: Option<i64>,
}

/// A page of messages.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct WidgetMessages {
    data: Vec<WidgetMessage>,
}

/// The visitor's messages.
///
/// Their own conversation only, oldest first, 100 at a time after `after`; no private notes.
#[utoipa::path(get, path = "/widget/v1/channels/{public_id}/messages", operation_id = "listWidgetMessages", tag = "web chat widget",
    params(("public_id" = String, Path), AfterParams), security(("visitor" = [])),
    responses((status = 200, body = WidgetMessages), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<AfterParams>,
) -> Result<Json<WidgetMessages>> {
    let session = visitor(&state, &channel, &headers).await?;
    Ok(Json(WidgetMessages { data: visitors::messages(&state, &session, params.after).await? }))
}

/// A visitor's message.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    text: String,
    /// The page the visitor writes from, shown with the message.
    page_url: Option<String>,
}

/// Send the visitor's message.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/messages", operation_id = "sendWidgetMessage", tag = "web chat widget",
    params(("public_id" = String, Path)), request_body = SendBody, security(("visitor" = [])),
    responses((status = 201, body = WidgetMessage), (status = 401, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn send(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SendBody>,
) -> Result<(StatusCode, Json<WidgetMessage>)> {
    let session = visitor(&state, &channel, &headers).await?;
    Ok((StatusCode::CREATED, Json(visitors::send(&state, &channel, &session, &body.text, body.page_url).await?)))
}

/// Send a photo, video or PDF (multipart field `file`).
///
/// Checked by its bytes (JPEG, PNG, GIF, WebP, HEIC, MP4, QuickTime, WebM or PDF) and the media
/// size limit, stored, and sent into the visitor's conversation as their message.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/uploads", operation_id = "widgetUpload", tag = "web chat widget",
    params(("public_id" = String, Path)), security(("visitor" = [])), request_body(content_type = "multipart/form-data", content = String),
    responses((status = 201, body = WidgetMessage), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn upload(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    form: std::result::Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<(StatusCode, Json<WidgetMessage>)> {
    let session = visitor(&state, &channel, &headers).await?;
    let mut form =
        form.map_err(|e| Error::MalformedBody(format!("expected a multipart/form-data upload: {}", e.body_text())))?;
    let too_large = || Error::TooLarge(format!("files are limited to {} bytes", state.config.max_media_bytes));
    while let Some(field) = form.next_field().await.map_err(|e| Error::MalformedBody(e.body_text()))? {
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().map(str::to_owned);
        let bytes = field.bytes().await.map_err(|_| too_large())?;
        if bytes.len() > state.config.max_media_bytes {
            return Err(too_large());
        }
        let sent = visitors::send_file(&state, &channel, &session, bytes, filename).await?;
        return Ok((StatusCode::CREATED, Json(sent)));
    }
    Err(Error::field("file", "a multipart field named `file` is required"))
}

/// Where the visitor's latest chat stands.
///
/// The stream sends the same object as a `state` event whenever it changes.
#[utoipa::path(get, path = "/widget/v1/channels/{public_id}/state", operation_id = "widgetChatState", tag = "web chat widget",
    params(("public_id" = String, Path)), security(("visitor" = [])),
    responses((status = 200, body = ChatState), (status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn chat_state(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
) -> Result<Response> {
    let session = visitor(&state, &channel, &headers).await?;
    Ok(match visitors::chat_state(&state, &session).await? {
        Some(current) => Json(current).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// An email to continue on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeflectBody {
    pub email: String,
}

/// Continue by email instead of waiting for a person.
///
/// Only while the chat waits for a person (409 `not_waiting` otherwise): the email goes on the
/// visitor's contact, the escalation is deflected to `email`, and the team gets a private note.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/deflect", operation_id = "widgetDeflect", tag = "web chat widget",
    params(("public_id" = String, Path)), security(("visitor" = [])), request_body = DeflectBody,
    responses((status = 200, body = ChatState), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn deflect(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<DeflectBody>,
) -> Result<Json<ChatState>> {
    let session = visitor(&state, &channel, &headers).await?;
    Ok(Json(visitors::deflect_to_email(&state, &session, &body.email).await?))
}

/// A rating of the chat.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// `up` or `down`.
    pub rating: String,
}

/// Rate the chat once it has ended.
///
/// Kept as the conversation's `rating` meta (`up` or `down`); 409 `chat_not_ended` before.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/rating", operation_id = "widgetRate", tag = "web chat widget",
    params(("public_id" = String, Path)), security(("visitor" = [])), request_body = RatingBody,
    responses((status = 200, body = ChatState), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn rate(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RatingBody>,
) -> Result<Json<ChatState>> {
    let session = visitor(&state, &channel, &headers).await?;
    Ok(Json(visitors::rate(&state, &session, &body.rating).await?))
}

/// The visitor is typing.
///
/// Shown to the team live (`conversation.typing`); send it every few seconds while they type.
#[utoipa::path(post, path = "/widget/v1/channels/{public_id}/typing", operation_id = "widgetVisitorTyping", tag = "web chat widget",
    params(("public_id" = String, Path)), security(("visitor" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn typing(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
) -> Result<StatusCode> {
    let session = visitor(&state, &channel, &headers).await?;
    visitors::typing(&state, &channel, &session).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How often the thread is read again without a sign from this process (other nodes).
const POLL: Duration = Duration::from_secs(2);

/// Stream the visitor's messages.
///
/// Server-Sent Events, one `message` event per message of the visitor's conversation (their own
/// and the business's), each with its id: reconnect with `Last-Event-ID` (or `after`) and nothing
/// is lost or sent twice. Between them, without ids: `draft` (`{draft_id, text}`, a virtual
/// agent's answer as it is written; the finished `message` carries the same `payload.draft_id`)
/// and `typing` (`{on}`, an operator typing). Read it with `fetch` so the token stays in the
/// `Authorization` header.
#[utoipa::path(get, path = "/widget/v1/channels/{public_id}/events", operation_id = "streamWidgetMessages", tag = "web chat widget",
    params(("public_id" = String, Path), AfterParams, ("Last-Event-ID" = Option<i64>, Header)), security(("visitor" = [])),
    responses((status = 200, description = "text/event-stream of `message` events", content_type = "text/event-stream"),
        (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn events(
    State(state): State<AppState>,
    Extension(WidgetChannel(channel)): Extension<WidgetChannel>,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<AfterParams>,
) -> Result<Sse<impl Stream<Item = std::result::Result<Event, Infallible>>>> {
    let session = visitor(&state, &channel, &headers).await?;
    let resume = headers.get("last-event-id").and_then(|value| value.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let mut last: i64 = resume.or(params.after).unwrap_or(0);
    let mut wake = state.events.subscribe();
    let shutdown = state.shutdown.clone();
    let account = channel.account_id;
    let stream = async_stream::stream! {
        // The chat's state is read again when something happened: at the start, with new
        // messages, and when the account's log moved.
        let mut shown_state = None;
        let mut check_state = true;
        'stream: while !shutdown.is_cancelled() {
            let batch = match visitors::messages(&state, &session, Some(last)).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "widget stream read failed");
                    break;
                }
            };
            let full = batch.len() >= 100;
            check_state |= !batch.is_empty();
            for message in batch {
                last = message.id;
                if let Ok(data) = serde_json::to_string(&message) {
                    yield Ok(Event::default().id(message.id.to_string()).event("message").data(data));
                }
            }
            if full {
                continue;
            }
            if check_state {
                let current = visitors::chat_state(&state, &session).await.unwrap_or_default();
                if current.is_some() && current != shown_state {
                    if let Ok(data) = serde_json::to_string(&current) {
                        yield Ok(Event::default().event("state").data(data));
                    }
                    shown_state = current;
                }
            }
            let conversations = visitors::conversations(&state, &session).await.unwrap_or_default();
            check_state = false;
            let deadline = tokio::time::sleep(POLL);
            tokio::pin!(deadline);
            loop {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => break 'stream,
                    _ = &mut deadline => break,
                    received = wake.recv() => received,
                };
                match received {
                    Ok(Signal::Transient(event)) if event.account_id == account => {
                        if let Some((name, data)) = visitors::live_event(&event.kind, &event.data, &conversations) {
                            yield Ok(Event::default().event(name).data(data.to_string()));
                        }
                    }
                    Ok(Signal::Logged(id)) if id == account => {
                        check_state = true;
                        break;
                    }
                    Ok(_) => continue,
                    Err(_) => break,
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
