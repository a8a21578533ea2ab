//! `/hooks/whatsapp`: the WhatsApp Cloud API webhook URL to give Meta.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::app::AppState;
use crate::error::{Error, Problem, Result};
use crate::http::extract::ApiQuery;
use crate::providers::whatsapp::signature;
use crate::service::whatsapp;

/// Meta's verification handshake parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Handshake {
    /// Always `subscribe`.
    #[serde(rename = "hub.mode")]
    #[param(example = "subscribe")]
    mode: Option<String>,
    /// The `verify_token` of one of your WhatsApp channels.
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    /// Echoed back when the token matches.
    #[serde(rename = "hub.challenge")]
    #[param(example = "1158201444")]
    challenge: Option<String>,
}

/// WhatsApp: verify the webhook.
///
/// Meta's handshake: the challenge as text when a WhatsApp channel has this verify token, 403
/// otherwise. Give Meta `https://<your Parley>/hooks/whatsapp` as the callback URL.
#[utoipa::path(get, path = "/hooks/whatsapp", operation_id = "whatsappHandshake", tag = "Provider webhooks",
    params(Handshake), security(()),
    responses((status = 200, description = "The challenge", content_type = "text/plain", body = String),
        (status = 403, body = Problem), (status = 422, description = "A parameter that cannot be read.", body = Problem)))]
pub async fn verify(State(state): State<AppState>, ApiQuery(query): ApiQuery<Handshake>) -> Result<Response> {
    let challenge = whatsapp::verify_subscription(
        &state,
        query.mode.as_deref(),
        query.verify_token.as_deref(),
        query.challenge.as_deref(),
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge).into_response())
}

/// WhatsApp: receive events.
///
/// A WhatsApp Cloud API webhook delivery (messages, statuses, echoes, template updates): 200 once
/// ingested. The `X-Hub-Signature-256` must sign the raw body with the app secret of every channel
/// whose phone number id it names, or it is refused with 401 and nothing is written.
#[utoipa::path(post, path = "/hooks/whatsapp", operation_id = "whatsappWebhook", tag = "Provider webhooks",
    params(("X-Hub-Signature-256" = String, Header, description = "`sha256=` and the HMAC-SHA256 of the body with the app secret.")),
    request_body(content = Object, description = "Meta's webhook body (`object`: `whatsapp_business_account`)."),
    security(()),
    responses((status = 200, description = "Ingested."), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 413, body = Problem)))]
pub async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<StatusCode> {
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Error::TooLarge("the webhook body is larger than 3 MiB".to_owned()),
        _ => Error::MalformedBody(format!("unreadable body: {}", rejection.body_text())),
    })?;
    let signature = headers.get(signature::HEADER).and_then(|value| value.to_str().ok());
    whatsapp::receive(&state, signature, &body).await?;
    Ok(StatusCode::OK)
}
