//! Authentication (API keys, or the web UI's session cookie with its CSRF token), rate limiting and
//! idempotent POSTs for the native API.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::domain::time::now_ms;
use crate::error::{Error, Result};
use crate::service::auth::{self, Caller, Principal};
use crate::service::sessions::{self, ActiveSession};
use crate::store::idempotency;

/// The API key of a request: `X-Api-Key: <key>` or `Authorization: Bearer <key>`.
pub fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(value.trim());
    }
    let authorization = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The name of the web UI's session cookie.
pub const SESSION_COOKIE: &str = "parley_session";

/// The web UI's session token from the request's cookies.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value)
}

/// Resolves the session cookie; requests that may change something (any method but GET and
/// HEAD) must also carry the session's token in `X-CSRF-Token`.
pub async fn require_session(state: &AppState, headers: &HeaderMap, method: &Method) -> Result<ActiveSession> {
    let token = session_token(headers).ok_or(Error::Unauthorized)?;
    let session = sessions::authenticate(state, token).await?;
    if method != Method::GET && method != Method::HEAD {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !session.csrf_matches(sent) {
            return Err(Error::Forbidden {
                code: "csrf_failed",
                detail: "this request needs the session's X-CSRF-Token header".to_owned(),
            });
        }
    }
    Ok(session)
}

/// Authenticates the request by API key or, failing that, by the web UI's session, applies the
/// caller's rate limit and makes the account available to handlers as a [`Principal`] extension.
pub async fn require_caller(State(state): State<AppState>, mut request: Request, next: Next) -> Result<Response> {
    let principal = match api_key(request.headers()).filter(|k| !k.is_empty()) {
        Some(key) => auth::authenticate(&state, key).await?,
        None => {
            let session = require_session(&state, request.headers(), request.method()).await?;
            Principal { account_id: session.account_id, caller: Caller::Operator(session.operator_id) }
        }
    };
    state.limiter.check(principal.caller)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 255;

/// Replays the first response of a POST repeated with the same `Idempotency-Key` and body; the same
/// key with another body is refused with 422, and a retry while the first is still running with 409.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Result<Response> {
    let key = match request.headers().get("idempotency-key") {
        Some(value) if request.method() == Method::POST => value
            .to_str()
            .ok()
            .map(str::to_owned)
            .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_LEN)
            .ok_or_else(|| Error::field("Idempotency-Key", "must be 1 to 255 visible ASCII characters"))?,
        _ => return Ok(next.run(request).await),
    };
    let account = request.extensions().get::<Principal>().ok_or(Error::Unauthorized)?.account_id;
    let (parts, body) = request.into_parts();
    let limit = state.config.max_media_bytes.max(state.config.max_body_bytes);
    let bytes = to_bytes(body, limit).await.map_err(|_| Error::TooLarge("the request body is too large".to_owned()))?;
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    hasher.update(&bytes);
    let request_hash = hex::encode(hasher.finalize());
    let db = state.db.writer();
    if !idempotency::claim_key(db, account, &key, &request_hash, now_ms()).await? {
        let (stored_hash, status, body) = idempotency::find_response(db, account, &key)
            .await?
            .ok_or_else(|| anyhow::anyhow!("claimed key vanished"))?;
        if stored_hash != request_hash {
            return Err(Error::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request",
            ));
        }
        if status == 0 {
            return Err(Error::conflict(
                "idempotency_key_in_progress",
                "a request with this Idempotency-Key is still being processed; retry shortly",
            ));
        }
        let status = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        let mut response = (status, body).into_response();
        let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(response);
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if response.status().is_server_error() {
        idempotency::release_key(db, account, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.map_err(|e| anyhow::anyhow!("buffering response: {e}"))?;
    let status = i64::from(parts.status.as_u16());
    idempotency::complete_key(db, account, &key, status, &String::from_utf8_lossy(&body)).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}
