//! Authentication (API keys, or the web UI's session cookie with its CSRF token), rate limiting and
//! idempotent POSTs for the native API.

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

use crate::domain::principal::{Caller, Principal};
use crate::domain::time::now_ms;
use crate::domain::RequestKey;
use crate::error::{Error, Result};
use crate::http::extract::{is_json, read_body};
use crate::http::server::ClientAddr;
use crate::service::auth;
use crate::service::sessions::{self, ActiveSession};
use crate::state::AppState;
use crate::store::idempotency::{self, Claim, KeyRow, KEY_LIFETIME_MS};

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
        Some(key) => auth::authenticate(&state, key, ClientAddr::of(request.extensions())).await?,
        None => {
            let session = require_session(&state, request.headers(), request.method()).await?;
            Principal {
                account_id: session.account_id,
                caller: Caller::Operator(session.operator_id),
                virtual_agent_id: None,
            }
        }
    };
    if principal.virtual_agent_id.is_some() && !agent_may(request.method(), request.uri().path()) {
        return Err(Error::Forbidden {
            code: "virtual_agent_key",
            detail: "a virtual agent's key may only read conversations, send messages in them and escalate them"
                .to_owned(),
        });
    }
    state.limiter.check(principal.caller)?;
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Whether a virtual agent's key may make this request: reading conversations and their
/// messages, answering (`POST …/messages`) and escalating (`POST …/escalations`).
fn agent_may(method: &axum::http::Method, path: &str) -> bool {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let Some(rest) = path.strip_prefix("/conversations/") else { return false };
    let mut parts = rest.split('/');
    let (Some(id), tail) = (parts.next(), parts.collect::<Vec<_>>()) else { return false };
    if id.parse::<i64>().is_err() {
        return false;
    }
    matches!(
        (method.as_str(), tail.as_slice()),
        ("GET", [] | ["messages"] | ["escalations"]) | ("POST", ["messages"] | ["escalations"])
    )
}

/// Longest accepted `Idempotency-Key`.
const MAX_KEY_LEN: usize = 255;

/// Replays the first response of a POST repeated with the same `Idempotency-Key` and body (JSON
/// bodies compare by value: spacing and key order do not matter); the same key with another body
/// is refused with 422, and a retry while the first is still running with 409. A request runs for
/// at most the request timeout, and its claim on the key is a lease a little longer than that: if
/// the process dies mid-request, the key is free again when the lease ends, and the handler is told
/// (through [`RequestKey`]) so that what the first run stored is found instead of made twice.
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
    let (mut parts, body) = request.into_parts();
    let bytes = read_body(body, crate::http::largest_body(&state.config)).await?;
    let request_hash = request_hash(&parts, &bytes);
    let timeout = Duration::from_millis(state.config.request_timeout_ms);
    let now = now_ms();
    let lease_ends = now + i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX / 4) + LEASE_MARGIN_MS;
    let mut tx = state.db.begin().await?;
    let claim =
        idempotency::claim_key(&mut tx, account, &key, &request_hash, now, lease_ends, now - KEY_LIFETIME_MS).await?;
    tx.commit().await?;
    let unfinished_since = match claim {
        Claim::New => None,
        Claim::TakenOver(since) => Some(since),
        Claim::Held(stored) => return replay(stored, &request_hash),
    };
    parts.extensions.insert(RequestKey { key: key.clone(), unfinished_since });
    let db = state.db.writer();
    let run = next.run(Request::from_parts(parts, Body::from(bytes)));
    let response = match tokio::time::timeout(timeout, run).await {
        Ok(response) => response,
        Err(_) => {
            idempotency::abandon_claim(db, account, &key).await?;
            return Err(Error::RequestTimeout(timeout.as_secs()));
        }
    };
    if response.status().is_server_error() {
        idempotency::abandon_claim(db, account, &key).await?;
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, usize::MAX).await.map_err(|e| anyhow::anyhow!("buffering response: {e}"))?;
    let status = i64::from(parts.status.as_u16());
    idempotency::complete_key(db, account, &key, status, &String::from_utf8_lossy(&body)).await?;
    Ok(Response::from_parts(parts, Body::from(body)))
}

/// How much longer than the request timeout a claim on a key lasts.
const LEASE_MARGIN_MS: i64 = 1000;

/// The answer for a key that is already claimed: its stored response, or why there is none.
fn replay(stored: KeyRow, request_hash: &str) -> Result<Response> {
    if stored.request_hash != request_hash {
        return Err(Error::invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request",
        ));
    }
    if stored.status == 0 {
        return Err(Error::conflict(
            "idempotency_key_in_progress",
            "a request with this Idempotency-Key is still being processed; retry shortly",
        ));
    }
    let status = StatusCode::from_u16(stored.status as u16).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.response_body).into_response();
    let content_type = if status.is_success() { "application/json" } else { "application/problem+json" };
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

/// What identifies a request for its key: the path and the body, a JSON body by its value.
fn request_hash(parts: &Parts, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(parts.uri.path().as_bytes());
    hasher.update([0]);
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if is_json(&parts.headers) => {
            let mut canonical = String::with_capacity(body.len());
            write_canonical(&value, &mut canonical);
            hasher.update(canonical.as_bytes());
        }
        _ => hasher.update(body),
    }
    hex::encode(hasher.finalize())
}

/// Writes a JSON value with object keys sorted and no insignificant whitespace.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (n, (name, value)) in entries.into_iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(name.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (n, item) in items.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(content_type: &str, body: &str) -> String {
        let request =
            axum::http::Request::post("/api/v1/x").header(header::CONTENT_TYPE, content_type).body(()).unwrap();
        request_hash(&request.into_parts().0, body.as_bytes())
    }

    #[test]
    fn json_bodies_compare_by_value() {
        let compact = hash("application/json", r#"{"text":"hi","n":[1,{"b":2,"a":1}]}"#);
        let spaced =
            hash("application/json; charset=utf-8", "{ \"n\" : [ 1, {\"a\":1, \"b\":2} ],\n \"text\": \"hi\" }");
        assert_eq!(compact, spaced);
        assert_ne!(compact, hash("application/json", r#"{"text":"hi!","n":[1,{"b":2,"a":1}]}"#));
        assert_ne!(compact, hash("application/json", r#"{"text":"hi","n":[{"b":2,"a":1},1]}"#));
        assert_ne!(hash("text/plain", "{ }"), hash("text/plain", "{}"), "other bodies compare byte for byte");
    }
}
