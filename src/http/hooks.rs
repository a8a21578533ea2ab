//! Provider webhooks under `/hooks/{kind}` (the URL to give each provider): no API key, each
//! provider's own signature is the authentication, checked by the network's adapter.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::channels::{self, Channel};
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::service::hooks;
use crate::state::AppState;

/// The networks' webhook paths, for the API documentation.
const KINDS: &str = "The network: `whatsapp`, `messenger`, `instagram`, `twilio/sms`, `rcs`.";

/// Largest webhook body accepted: providers' payloads stay under 3 MB.
pub const MAX_HOOK_BYTES: usize = 3 * 1024 * 1024;

/// Provider webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/{*kind}", get(verify).post(receive).layer(DefaultBodyLimit::max(MAX_HOOK_BYTES)))
}

/// The adapter of the network a hook URL names.
fn adapter(kind: &str) -> Result<&'static dyn Channel> {
    channels::adapter_by_hook(kind).ok_or(Error::NotFound("webhook"))
}

/// Verify the webhook URL.
///
/// The provider's handshake, answered for the network's channels: for Meta's networks
/// (`whatsapp`), `hub.mode=subscribe`, `hub.verify_token` (one channel's `verify_token`) and
/// `hub.challenge`, which is answered as text; 403 when no channel has the token.
#[utoipa::path(get, path = "/hooks/{kind}", operation_id = "verifyWebhookUrl", tag = "Provider webhooks",
    params(("kind" = String, Path, description = KINDS, example = "whatsapp"),
        ("hub.mode" = Option<String>, Query, example = "subscribe"), ("hub.verify_token" = Option<String>, Query),
        ("hub.challenge" = Option<String>, Query, example = "1158201444")),
    security(()),
    responses((status = 200, description = "The challenge", content_type = "text/plain", body = String),
        (status = 403, body = Problem), (status = 404, description = "No such network.", body = Problem),
        (status = 422, description = "A parameter that cannot be read.", body = Problem)))]
pub async fn verify(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    ApiQuery(query): ApiQuery<HashMap<String, String>>,
) -> Result<Response> {
    let challenge = hooks::handshake(&state, adapter(&kind)?, &query).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response())
}

/// Receive a provider's events.
///
/// A webhook delivery (for WhatsApp: messages, statuses, echoes, template updates; for Twilio: a
/// received SMS or MMS, or a status callback, form-encoded; for RCS: a Pub/Sub push of a user
/// message or event), 200 once ingested. It must be signed with the credentials of every channel
/// it names (for Meta's networks, `X-Hub-Signature-256` over the raw body with the app secret;
/// for Twilio, `X-Twilio-Signature` over the public URL and the form with the auth token; for
/// RCS, `X-Goog-Signature` over the decoded `message.data` with the client token), or it is
/// refused with 401 and nothing is written. RBM's verification request (`{clientToken, secret}`)
/// is answered with the secret as text when a channel has that client token.
#[utoipa::path(post, path = "/hooks/{kind}", operation_id = "receiveWebhook", tag = "Provider webhooks",
    params(("kind" = String, Path, description = KINDS, example = "whatsapp"),
        ("X-Hub-Signature-256" = Option<String>, Header, description = "Meta: `sha256=` and the HMAC-SHA256 of the body with the app secret."),
        ("X-Twilio-Signature" = Option<String>, Header, description = "Twilio: the base64 HMAC-SHA1, with the auth token, of the URL called and the sorted form parameters."),
        ("X-Goog-Signature" = Option<String>, Header, description = "RBM: the base64 HMAC-SHA512, with the client token, of the decoded `message.data`.")),
    request_body(content = Object, description = "The provider's webhook body."),
    security(()),
    responses((status = 200, description = "Ingested (or, for RBM's verification request, the secret as text).", content_type = "text/plain", body = String), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, description = "RBM's verification request with a client token no channel has.", body = Problem),
        (status = 404, description = "No such network.", body = Problem), (status = 413, body = Problem)))]
pub async fn receive(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let adapter = adapter(&kind)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::body_too_large(MAX_HOOK_BYTES),
        _ => Error::MalformedBody(format!("unreadable body: {}", rejection.body_text())),
    })?;
    // The URL the provider called, as it knows it: Parley's public URL, this path and query.
    let path = uri.path_and_query().map_or(uri.path(), |path| path.as_str());
    let url = format!("{}{path}", state.config.effective_public_url());
    Ok(match hooks::receive(&state, adapter, &url, &headers, &body).await? {
        Some(answer) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], answer).into_response(),
        None => StatusCode::OK.into_response(),
    })
}
