//! The seed platform's API dialect (Qlara Platform API, `/api/partner-gateway/v1`): thin
//! translators from its paths, field names, status codes and error bodies to the services the
//! native API uses. No business rule lives here. See `docs/qlara.md`.

pub(crate) mod inbox;
pub(crate) mod rcs_templates;
pub(crate) mod sends;
pub(crate) mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::{guarded, read_segment, Dialect, Guard};
use crate::error::Error;
use crate::state::AppState;

pub use super::Caller;

/// The seed platform's dialect.
pub struct Qlara;

impl Dialect for Qlara {
    type Failure = Failure;

    fn rate_limited(retry_after: u64, _path: &str) -> Failure {
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("Rate limit exceeded. Retry in {retry_after} seconds."),
            retry_after: Some(retry_after),
        }
    }

    fn bad_body(detail: &str, malformed: bool) -> Failure {
        match malformed {
            true => Failure::bad_request(format!("Malformed request body: {detail}")),
            false => Failure::bad_request(format!("Invalid request body: {detail}")),
        }
    }

    fn not_found(what: &str) -> Failure {
        Failure::not_found(format!("{} not found", capitalize(what)))
    }

    fn answer(status: StatusCode, message: &str) -> Failure {
        Failure::new(status, message)
    }

    fn unknown(status: StatusCode) -> Failure {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => Failure::new(status, "This HTTP method is not allowed on this endpoint"),
            _ => Failure::new(status, "No such endpoint"),
        }
    }
}

/// The dialect's routes: the inbox and webhook settings under `/api/partner-gateway/v1`, and
/// the sends, statuses and credit at the seed platform's own paths.
pub fn routes(guard: Guard) -> Router<AppState> {
    let inbox = Router::new()
        .route("/inbox/conversations", get(inbox::list))
        .route("/inbox/conversations/reply", post(inbox::reply))
        .route("/inbox/conversations/assignable-users", get(inbox::assignable_users))
        .route("/inbox/assignable-users", get(inbox::assignable_users))
        .route("/inbox/conversations/{chat_id}", get(inbox::get))
        .route("/inbox/conversations/{chat_id}/messages", get(inbox::messages))
        .route("/inbox/conversations/{chat_id}/read", patch(inbox::read))
        .route("/inbox/conversations/{chat_id}/archive", patch(inbox::archive))
        .route("/inbox/conversations/{chat_id}/unarchive", patch(inbox::unarchive))
        .route("/inbox/conversations/{chat_id}/assignee", post(inbox::assign).delete(inbox::unassign))
        .route(
            "/webhooks/delivery-status",
            get(webhooks::get).post(webhooks::create).put(webhooks::replace).delete(webhooks::delete),
        );
    let inbox = guarded::<Qlara>(inbox, guard.clone());
    Router::new().nest("/api/partner-gateway/v1", inbox).merge(sends::routes(guard))
}

/// An error in the seed platform's shape: `{"status", "error", "message"}` (plus `retryAfter` on 429).
#[derive(Debug)]
pub struct Failure {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

impl Failure {
    /// A failure with this status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure { status, message: message.into(), retry_after: None }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Failure {
        Failure::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        let status = match &error {
            Error::Invalid { .. } | Error::MalformedBody(_) => StatusCode::BAD_REQUEST,
            other => other.status(),
        };
        let message = match &error {
            Error::Unauthorized => "Missing or invalid API Key".to_owned(),
            Error::Database(_) | Error::Internal(_) => {
                tracing::error!(error = %error, "request failed");
                "An internal error occurred".to_owned()
            }
            Error::NotFound(what) => format!("{} not found", capitalize(what)),
            other => capitalize(&other.to_string()),
        };
        let retry_after = match error {
            Error::RateLimited(seconds) | Error::LoginLocked(seconds) | Error::TooManyFailures(seconds) => {
                Some(seconds)
            }
            _ => None,
        };
        Failure { status, message, retry_after }
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// An error body in the seed platform's shape.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraError)]
pub struct FailureBody {
    #[schema(example = 400)]
    status: u16,
    /// The status's reason phrase.
    #[schema(example = "Bad Request")]
    error: String,
    #[schema(example = "Invalid chatId")]
    message: String,
    /// On 429: seconds to wait, as in `Retry-After`.
    #[serde(skip_serializing_if = "Option::is_none")]
    retry_after: Option<u64>,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = FailureBody {
            status: self.status.as_u16(),
            error: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            message: self.message,
            retry_after: self.retry_after,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Result of a dialect handler.
pub type Answer<T> = std::result::Result<T, Failure>;

super::json_body!(Qlara);
super::query_params!(Qlara, Params);

/// A text path segment; one that cannot be read (or has a NUL) names nothing (404).
pub struct Segment(pub String);

impl FromRequestParts<AppState> for Segment {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        read_segment::<Qlara, String>(parts, state, "it")
            .await
            .map(Segment)
            .map_err(|_| Failure::not_found("Not found"))
    }
}

/// A numeric `{chatId}` path segment; anything else names no conversation (404).
pub struct ChatId(pub i64);

impl FromRequestParts<AppState> for ChatId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        read_segment::<Qlara, i64>(parts, state, "conversation").await.map(ChatId)
    }
}
