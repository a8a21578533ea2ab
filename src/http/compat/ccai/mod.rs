//! The contact-centre chat API dialect (CCAI Platform Apps API, `/apps/api/v1/chats`): thin
//! translators from its paths, bodies and error answers to `service::chats` and
//! `service::escalations`. No business rule lives here. See `docs/ccai.md`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{describe_error, guarded, read_segment, Caller, Dialect, Guard};
use crate::domain::{EscalationReason, EscalationStatus};
use crate::error::Error;
use crate::media::UploadForm;
use crate::service::chats::{self, Chat, ChatMedia, CustomData, EndUserUpdate, Ending, MediaKind, NewChat};
use crate::service::escalations::{self, Escalation, EscalationPatch, EscalationRequest};
use crate::state::AppState;

/// The contact-centre chat API's dialect.
pub struct Ccai;

impl Dialect for Ccai {
    type Failure = Failure;

    fn rate_limited(retry_after: u64, _path: &str) -> Failure {
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "Too many requests".to_owned(),
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

/// The dialect's routes under `/apps/api/v1`.
pub fn routes(guard: Guard) -> Router<AppState> {
    let chats = Router::new()
        .route("/chats", post(create))
        .route("/chats/{id}", get(get_chat).patch(update))
        .route("/chats/{id}/message", post(message))
        .route("/chats/{id}/escalations", post(escalate))
        .route("/chats/{id}/escalations/{escalation_id}", patch(update_escalation))
        .route("/chats/{id}/photos", get(photos).post(add_photos))
        .route("/chats/{id}/photos/upload", post(photo_upload))
        .route("/chats/{id}/videos", get(videos).post(add_videos))
        .route("/chats/{id}/videos/upload", post(video_upload))
        .route("/chats/{id}/customer_flag", get(customer_flag).post(set_customer_flag))
        .route("/chats/{id}/custom_data", post(custom_data))
        .route("/chats/{id}/end-user", post(end_user));
    let chats = guarded::<Ccai>(chats, guard);
    Router::new().nest("/apps/api/v1", chats)
}

/// An error as the platform answers: `{"message": "…"}` with the HTTP status (and `Retry-After`
/// on 429).
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl Failure {
    fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into(), retry_after: None }
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let unauthorized = "Unauthorized: use HTTP Basic with any username and an API key as the password";
        let (status, message, retry_after) = describe_error(error, StatusCode::UNPROCESSABLE_ENTITY, unauthorized);
        Failure { status, message, retry_after }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "message": self.message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

type Answer<T> = Result<T, Failure>;

super::json_body!(Ccai);

/// The numeric chat id of the path; anything else names no chat (404).
pub struct ChatId(pub i64);

impl FromRequestParts<AppState> for ChatId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        match read_segment::<Ccai, Vec<String>>(parts, state, "Chat").await?.first().map(|id| id.parse()) {
            Some(Ok(id)) => Ok(ChatId(id)),
            _ => Err(Ccai::not_found("Chat")),
        }
    }
}

/// The escalation id of the path.
pub struct EscalationId(pub i64);

impl FromRequestParts<AppState> for EscalationId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        match read_segment::<Ccai, Vec<String>>(parts, state, "Escalation").await?.get(1).map(|id| id.parse()) {
            Some(Ok(id)) => Ok(EscalationId(id)),
            _ => Err(Ccai::not_found("Escalation")),
        }
    }
}

#[derive(Debug, Deserialize)]
struct CreateBody {
    chat: ChatFields,
    #[serde(default)]
    end_user: Option<EndUserFields>,
}

#[derive(Debug, Deserialize)]
struct ChatFields {
    menu_id: i64,
    #[serde(default)]
    end_user_id: Option<i64>,
    #[serde(default)]
    lang: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    context: Option<Value>,
    #[serde(default)]
    transcript: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct EndUserFields {
    #[serde(default)]
    phone: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<CreateBody>,
) -> Answer<Json<Chat>> {
    let new = NewChat {
        menu_id: body.chat.menu_id,
        end_user_id: body.chat.end_user_id,
        lang: body.chat.lang,
        email: body.chat.email,
        phone: body.end_user.and_then(|u| u.phone),
        context: body.chat.context,
        transcript: chats::transcript_lines(body.chat.transcript)?,
    };
    Ok(Json(chats::create(&state, caller.account_id, new).await?))
}

async fn get_chat(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<Chat>> {
    Ok(Json(chats::get(&state, caller.account_id, id).await?))
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    #[serde(default)]
    finished_by_user_id: Option<i64>,
    #[serde(default)]
    chat: Option<UpdateFields>,
}

#[derive(Debug, Deserialize)]
struct UpdateFields {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    deflection_channel: Option<String>,
    #[serde(default)]
    escalation_id: Option<i64>,
}

/// Finishes a chat and/or records the deflection channel the end user chose for an escalation.
async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<UpdateBody>,
) -> Answer<Json<Chat>> {
    let fields = body.chat.unwrap_or(UpdateFields { status: None, deflection_channel: None, escalation_id: None });
    let ending = match fields.status.as_deref() {
        None => None,
        Some("finished") => Some(Ending::Finished),
        Some("canceled") => Some(Ending::Canceled),
        Some(other) => {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("chat.status: `{other}` cannot be set; use finished or canceled"),
            ))
        }
    };
    match (fields.deflection_channel, fields.escalation_id) {
        (Some(channel), Some(escalation)) => {
            let patch = EscalationPatch { status: None, deflection_channel: Some(channel) };
            escalations::update(&state, caller.account_id, id, escalation, patch).await?;
        }
        (Some(_), None) => {
            return Err(Failure::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "chat.escalation_id: is required with deflection_channel",
            ))
        }
        _ => {}
    }
    let chat = match ending {
        Some(ending) => chats::finish(&state, caller.account_id, id, ending, body.finished_by_user_id).await?,
        None => chats::get(&state, caller.account_id, id).await?,
    };
    Ok(Json(chat))
}

#[derive(Debug, Deserialize)]
struct MessageBody {
    #[serde(default)]
    from_user_id: Option<i64>,
    message: MessageFields,
}

#[derive(Debug, Deserialize)]
struct MessageFields {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    content: Value,
}

/// The end user's message: `content` a string, or `{"text": "…"}`.
async fn message(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<MessageBody>,
) -> Answer<Json<Value>> {
    if body.message.kind.as_deref().is_some_and(|kind| kind != "text") {
        return Err(Failure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "message.type: only text messages are sent this way; photos and videos have their own endpoints",
        ));
    }
    let text = match &body.message.content {
        Value::String(text) => text.as_str(),
        Value::Object(content) => content.get("text").and_then(Value::as_str).unwrap_or_default(),
        _ => "",
    };
    chats::end_user_says(&state, caller.account_id, id, body.from_user_id, text).await?;
    Ok(Json(json!({})))
}

/// An escalation as the platform returns it.
fn escalation_view(escalation: &Escalation) -> Json<Value> {
    Json(json!({ "id": escalation.id, "chat_id": escalation.conversation_id, "status": escalation.status }))
}

#[derive(Debug, Deserialize)]
struct EscalateBody {
    #[serde(default)]
    reason: Option<EscalationReason>,
    #[serde(default)]
    force_escalate: bool,
}

async fn escalate(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<EscalateBody>,
) -> Answer<Json<Value>> {
    let request = EscalationRequest { reason: body.reason, force: body.force_escalate, detail: None };
    Ok(escalation_view(&escalations::escalate(&state, caller.account_id, id, request).await?))
}

#[derive(Debug, Deserialize)]
struct EscalationBody {
    #[serde(default)]
    deflection_channel: Option<String>,
    #[serde(default)]
    status: Option<EscalationStatus>,
}

async fn update_escalation(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    EscalationId(escalation_id): EscalationId,
    Body(body): Body<EscalationBody>,
) -> Answer<Json<Value>> {
    let patch = EscalationPatch { status: body.status, deflection_channel: body.deflection_channel };
    Ok(escalation_view(&escalations::update(&state, caller.account_id, id, escalation_id, patch).await?))
}

#[derive(Debug, Deserialize)]
struct UploadedFile {
    #[serde(default)]
    s3_path: Option<String>,
    #[serde(default)]
    gcs_path: Option<String>,
}

/// `{"photo": [files]}` or `{"video": file}` (either key, one file or a list).
#[derive(Debug, Deserialize)]
struct MediaBody {
    #[serde(default)]
    photo: Option<Value>,
    #[serde(default)]
    video: Option<Value>,
}

impl MediaBody {
    fn keys(self) -> Answer<Vec<String>> {
        let files = match self.photo.or(self.video) {
            Some(Value::Array(list)) => list,
            Some(one @ Value::Object(_)) => vec![one],
            _ => {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "give the uploaded files as photo (or video): [{\"s3_path\": \"…\"}]",
                ))
            }
        };
        files
            .into_iter()
            .map(|file| {
                let file: UploadedFile =
                    serde_json::from_value(file).unwrap_or(UploadedFile { s3_path: None, gcs_path: None });
                file.s3_path
                    .or(file.gcs_path)
                    .ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "each file needs its s3_path or gcs_path"))
            })
            .collect()
    }
}

async fn add_media(
    state: &AppState,
    caller: &Caller,
    id: i64,
    kind: MediaKind,
    body: MediaBody,
) -> Answer<Json<ChatMedia>> {
    let added = chats::add_media(state, caller.account_id, id, kind, &body.keys()?).await?;
    added.into_iter().next().map(Json).ok_or_else(|| Failure::new(StatusCode::BAD_REQUEST, "no file given"))
}

async fn add_photos(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<MediaBody>,
) -> Answer<Json<ChatMedia>> {
    add_media(&state, &caller, id, MediaKind::Photo, body).await
}

async fn add_videos(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<MediaBody>,
) -> Answer<Json<ChatMedia>> {
    add_media(&state, &caller, id, MediaKind::Video, body).await
}

async fn photos(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<Vec<ChatMedia>>> {
    Ok(Json(chats::media_of(&state, caller.account_id, id, MediaKind::Photo).await?))
}

async fn videos(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<Vec<ChatMedia>>> {
    Ok(Json(chats::media_of(&state, caller.account_id, id, MediaKind::Video).await?))
}

async fn photo_upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<UploadForm>> {
    Ok(Json(chats::upload_form(&state, caller.account_id, id, MediaKind::Photo).await?))
}

async fn video_upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<UploadForm>> {
    Ok(Json(chats::upload_form(&state, caller.account_id, id, MediaKind::Video).await?))
}

async fn customer_flag(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
) -> Answer<Json<Map<String, Value>>> {
    Ok(Json(chats::flags(&state, caller.account_id, id).await?))
}

/// Sets flags; the platform's own body spells one `repeat_customers`, which is read too.
async fn set_customer_flag(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<Map<String, Value>>,
) -> Answer<Json<Map<String, Value>>> {
    let mut changes = Vec::new();
    for (name, value) in &body {
        let flag = match name.as_str() {
            "repeat_customers" => "repeat_customer",
            other => chats::FLAGS.iter().copied().find(|flag| *flag == other).ok_or_else(|| {
                Failure::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("{name}: not a customer flag (verified_customer, bad_actor, repeat_customer)"),
                )
            })?,
        };
        let on = value
            .as_bool()
            .ok_or_else(|| Failure::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{name}: must be true or false")))?;
        changes.push((flag, on));
    }
    Ok(Json(chats::set_flags(&state, caller.account_id, id, &changes).await?))
}

#[derive(Debug, Deserialize)]
struct CustomDataBody {
    #[serde(default)]
    signed: bool,
    #[serde(default)]
    data: Option<Map<String, Value>>,
    #[serde(default)]
    signed_data: Option<String>,
}

async fn custom_data(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<CustomDataBody>,
) -> Answer<Json<Value>> {
    let data = match (body.signed, body.signed_data, body.data) {
        (true, Some(token), _) => CustomData::Signed(token),
        (false, _, Some(data)) => CustomData::Unsigned(data),
        (true, None, _) => {
            return Err(Failure::new(StatusCode::BAD_REQUEST, "signed_data is required when signed is true"))
        }
        (false, _, None) => return Err(Failure::new(StatusCode::BAD_REQUEST, "data is required when signed is false")),
    };
    chats::add_custom_data(&state, caller.account_id, id, data).await?;
    Ok(Json(json!({ "message": "accepted" })))
}

#[derive(Debug, Deserialize)]
struct EndUserBody {
    #[serde(default)]
    identifier: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
}

async fn end_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ChatId(id): ChatId,
    Body(body): Body<EndUserBody>,
) -> Answer<Json<Value>> {
    let update = EndUserUpdate {
        identifier: body.identifier.unwrap_or_default(),
        name: body.name,
        email: body.email,
        phone: body.phone,
    };
    chats::update_end_user(&state, caller.account_id, id, update).await?;
    Ok(Json(json!({ "message": "accepted" })))
}
