//! The seed platform's API dialect (Qlara Platform API, `/api/partner-gateway/v1`): thin
//! translators from its paths, field names, status codes and error bodies to the services the
//! native API uses. No business rule lives here. See `docs/qlara.md`.

pub(crate) mod inbox;
pub(crate) mod webhooks;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::Error;
use crate::http::extract::{parse_query, ApiJson, ApiPath};
use crate::http::server::ClientAddr;
use crate::service::auth;
use std::net::IpAddr;

/// The routes under `/api/partner-gateway/v1`.
pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
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
        )
        .fallback(|| async { Failure::new(StatusCode::NOT_FOUND, "No such endpoint") })
        .method_not_allowed_fallback(|| async {
            Failure::new(StatusCode::METHOD_NOT_ALLOWED, "This HTTP method is not allowed on this endpoint")
        })
        .layer(middleware::from_fn_with_state(state, authenticate))
}

/// Who is calling: the account, and the operator when they signed in with HTTP Basic.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: i64,
    pub operator_id: Option<i64>,
    /// The rate limit bucket: one per API key or operator.
    bucket: String,
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

    fn too_many(retry_after: u64) -> Failure {
        Failure {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: format!("Rate limit exceeded. Retry in {retry_after} seconds."),
            retry_after: Some(retry_after),
        }
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

/// A JSON body; unreadable bodies answer 400 in the dialect's shape.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Failure> {
        match ApiJson::<T>::from_request(req, state).await {
            Ok(ApiJson(value)) => Ok(Body(value)),
            Err(Error::Invalid { detail, .. }) => Err(Failure::bad_request(format!("Invalid request body: {detail}"))),
            Err(Error::MalformedBody(detail)) => Err(Failure::bad_request(format!("Malformed request body: {detail}"))),
            Err(other) => Err(Failure::from(other)),
        }
    }
}

/// Query parameters; invalid ones answer 400 in the dialect's shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Failure> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Params).map_err(Failure::from)
    }
}

/// A text path segment; one that cannot be read (or has a NUL) names nothing (404).
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        ApiPath::<String>::from_request_parts(parts, state)
            .await
            .map(|ApiPath(segment)| Segment(segment))
            .map_err(|_| Failure::not_found("Not found"))
    }
}

/// A numeric `{chatId}` path segment; anything else names no conversation (404).
pub struct ChatId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for ChatId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        axum::extract::Path::<i64>::from_request_parts(parts, state)
            .await
            .map(|p| ChatId(p.0))
            .map_err(|_| Failure::not_found("Conversation not found"))
    }
}

/// The credentials of a request: `X-Api-Key` (or a bearer token), else HTTP Basic with an
/// operator's email and password.
async fn identify(state: &AppState, headers: &HeaderMap, client: Option<IpAddr>) -> Result<Caller, Failure> {
    if let Some(key) = crate::http::auth::api_key(headers).filter(|k| !k.is_empty()) {
        let principal = auth::authenticate(state, key, client).await?;
        return Ok(Caller {
            account_id: principal.account_id,
            operator_id: None,
            bucket: match principal.caller {
                auth::Caller::ApiKey(id) => format!("key:{id}"),
                auth::Caller::Operator(id) => format!("operator:{id}"),
            },
        });
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, token)| STANDARD.decode(token.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let (email, password) = basic
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .map(|(e, p)| (e.to_owned(), p.to_owned()))
        .ok_or(Error::Unauthorized)?;
    let (account_id, operator_id) = auth::authenticate_operator(state, &email, &password, client).await?;
    Ok(Caller { account_id, operator_id: Some(operator_id), bucket: format!("operator:{operator_id}") })
}

/// Authenticates, applies the caller's rate limit windows and sets the `X-RateLimit-*` headers.
pub(crate) async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let caller = match identify(&state, request.headers(), ClientAddr::of(request.extensions())).await {
        Ok(caller) => caller,
        Err(failure) => return failure.into_response(),
    };
    let verdict = state.qlara_limiter.check(&caller.bucket);
    let mut response = if verdict.allowed {
        request.extensions_mut().insert(caller);
        next.run(request).await
    } else {
        Failure::too_many(verdict.retry_after).into_response()
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(verdict.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(verdict.reset_seconds));
    response
}
