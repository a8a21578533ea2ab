//! Provider webhooks under `/hooks/{kind}` (the URL to give each provider): no API key, each
//! provider's own signature is the authentication, checked by the network's adapter.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::DefaultBodyLimit;
use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::channels::{self, Channel};
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiPath, ApiQuery};
use crate::service::{email, hooks};
use crate::state::AppState;

/// The networks' webhook paths, for the API documentation.
const KINDS: &str = "The network: `whatsapp`, `messenger`, `instagram`, `twilio/sms`, `twilio/voice`, `rcs`.";

/// Largest webhook body accepted: providers' payloads stay under 3 MB.
pub const MAX_HOOK_BYTES: usize = 3 * 1024 * 1024;

/// Provider webhook routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/email/{channel}", post(receive_mail).layer(DefaultBodyLimit::max(MAX_MAIL_HOOK_BYTES)))
        .route("/{*kind}", get(verify).post(receive).layer(DefaultBodyLimit::max(MAX_HOOK_BYTES)))
}

/// Largest raw-MIME webhook body: the largest mail taken, base64 in a form or JSON.
const MAX_MAIL_HOOK_BYTES: usize = email::MAX_MAIL_BYTES / 3 * 4 + 64 * 1024;

/// What became of a posted mail.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedMail {
    /// The message it became.
    pub message_id: i64,
    pub conversation_id: i64,
    /// The mail (by its Message-ID) was already stored; nothing changed.
    pub duplicate: bool,
}

/// Receive a raw mail.
///
/// A whole RFC 822 mail for the email channel `channel` (its id): the raw body
/// (`message/rfc822`, from an MTA pipe), Mailgun's `body-mime` form field (signed with the
/// channel's `mailgun_signing_key`), Postmark's JSON `RawEmail`, or SendGrid's `email` form field
/// (the last three, and the raw body, with Basic auth and the channel's `hook_password`). It is
/// stored and threaded as IMAP mail is; a mail already stored (by its Message-ID) changes nothing.
#[utoipa::path(post, path = "/hooks/email/{channel}", operation_id = "receiveMail", tag = "Provider webhooks",
    params(("channel" = i64, Path, description = "The email channel's id.")),
    request_body(content = String, content_type = "text/plain", description = "The raw mail (sent as `message/rfc822`, `text/plain` or `application/octet-stream`), or a provider's form (`multipart/form-data` or urlencoded) or JSON holding it."),
    security(()),
    responses((status = 200, body = ReceivedMail), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, description = "No such email channel.", body = Problem), (status = 413, body = Problem),
        (status = 422, description = "Not a mail Parley can read (no sender, say); nothing is stored.", body = Problem)))]
pub async fn receive_mail(
    State(state): State<AppState>,
    ApiPath(channel): ApiPath<i64>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Json<ReceivedMail>> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::body_too_large(MAX_MAIL_HOOK_BYTES),
        _ => Error::MalformedBody(format!("unreadable body: {}", rejection.body_text())),
    })?;
    let ingested = email::receive_posted(&state, channel, &headers, body).await?;
    Ok(Json(ReceivedMail {
        message_id: ingested.message.id,
        conversation_id: ingested.conversation.id,
        duplicate: ingested.duplicate,
    }))
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
/// received SMS or MMS, or a status callback, form-encoded; for Twilio Voice: a call's status,
/// recording or transcription callback; for RCS: a Pub/Sub push of a user
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
