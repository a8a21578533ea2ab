//! The operator web UI: its page and assets (embedded in the binary; read from `ui/` at request
//! time in debug builds) and the session endpoints behind its login.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use rust_embed::RustEmbed;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::auth::{require_session, session_token, SESSION_COOKIE};
use crate::http::extract::{ApiJson, ApiPath};
use crate::http::server::ClientAddr;
use crate::service::sessions::{self, SESSION_MAX_MS};
use crate::state::AppState;

/// The files of the web UI.
#[derive(RustEmbed)]
#[folder = "ui/"]
struct Assets;

/// Routes of the web UI: `/`, `/ui/assets/*` and `/ui/session`, the API reference at `/docs`, and
/// the web chat widget's script at `/widget.js`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/docs", get(|headers: HeaderMap| async move { serve("docs.html", &headers) }))
        .route("/ui/assets/{*path}", get(asset))
        .route("/ui/session", get(current).post(login).delete(logout))
        .layer(middleware::from_fn(security_headers))
        // The web chat widget runs in other sites' pages: none of the UI's page headers apply.
        .route("/widget.js", get(|headers: HeaderMap| async move { serve("widget.js", &headers) }))
}

/// Keeps the UI's pages out of frames and other origins' scripts out of the pages.
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
             style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(ApiPath(path): ApiPath<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// Answers with an embedded file, or 304 when the browser's copy (by ETag) is current.
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else { return Error::NotFound("asset").into_response() };
    let etag = format!("\"{}\"", hex::encode(file.metadata.sha256_hash()));
    let cached = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut response =
        if cached { StatusCode::NOT_MODIFIED.into_response() } else { file.data.into_owned().into_response() };
    let headers = response.headers_mut();
    if let Ok(content_type) = HeaderValue::from_str(file.metadata.mimetype()) {
        headers.insert(header::CONTENT_TYPE, content_type);
    }
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// An operator's login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

/// Logs an operator in: sets the HttpOnly session cookie and returns the session's CSRF token.
async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Response> {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    let (token, info) = sessions::login(&state, &body.email, &body.password, client).await?;
    let secure = state.config.effective_public_url().starts_with("https://");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_MAX_MS / 1000,
        if secure { "; Secure" } else { "" }
    );
    Ok(with_cookie(Json(info).into_response(), &cookie))
}

/// The logged-in operator, or 401.
async fn current(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    let session = require_session(&state, &headers, &Method::GET).await?;
    let mut response = Json(sessions::describe(&state, &session).await?).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Logs out: ends the session and clears the cookie (needs the CSRF token).
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Result<Response> {
    require_session(&state, &headers, &Method::DELETE).await?;
    if let Some(token) = session_token(&headers) {
        sessions::logout(&state, token).await?;
    }
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(with_cookie(StatusCode::NO_CONTENT.into_response(), &cookie))
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
