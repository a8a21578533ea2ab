//! `/hooks/whatsapp`: the WhatsApp Cloud API webhook URL to give Meta.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::http::extract::ApiQuery;
use crate::providers::whatsapp::signature;
use crate::service::whatsapp;

/// Meta's verification handshake parameters.
#[derive(Debug, Deserialize)]
pub struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// Verification handshake: 200 with the raw challenge as text when a WhatsApp channel has the
/// verify token, 403 otherwise.
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

/// A webhook delivery: 200 once ingested; 401 with nothing written when the signature is missing
/// or wrong or the phone number id unknown.
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
