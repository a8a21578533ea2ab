//! `/webhooks/delivery-status`: the account's single seed-platform webhook, kept as a native
//! subscription with format `qlara` marked by its description.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Answer, Body, Caller, Failure, FailureBody};
use crate::error::Error;
use crate::service::views::Webhook;
use crate::service::webhooks::{self, NewWebhook, WebhookPatch};
use crate::state::AppState;

/// The description that marks the subscription this endpoint manages.
pub const MARKER: &str = "qlara:delivery-status";

/// The account's delivery-status webhook.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraWebhook)]
pub struct Registration {
    #[schema(example = "wh-1")]
    id: String,
    callback_url: String,
    /// `ACTIVE` or `DISABLED`.
    status: String,
    created_at: String,
    updated_at: String,
    /// The signing secret (Standard Webhooks), only in the answer that creates the webhook.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

impl From<&Webhook> for Registration {
    fn from(hook: &Webhook) -> Self {
        Registration {
            id: format!("wh-{}", hook.id),
            callback_url: hook.url.clone(),
            status: if hook.active { "ACTIVE" } else { "DISABLED" }.to_owned(),
            created_at: hook.created_at.clone(),
            updated_at: hook.updated_at.clone(),
            secret: None,
        }
    }
}

async fn find(state: &AppState, account_id: i64) -> Answer<Option<Webhook>> {
    Ok(webhooks::list(state, account_id)
        .await?
        .into_iter()
        .find(|h| h.format == "qlara" && h.description.as_deref() == Some(MARKER)))
}

fn none_configured() -> Failure {
    Failure::not_found("No delivery-status webhook is configured")
}

fn url_error(error: Error) -> Failure {
    match error {
        Error::Invalid { fields, .. } if fields.first().is_some_and(|f| f.field == "url") => {
            Failure::bad_request(format!("Invalid callbackUrl: {}", fields[0].message))
        }
        other => other.into(),
    }
}

/// Where to send INBOUND, DELIVERY and READ events.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraCallback)]
pub struct CallbackBody {
    #[schema(example = "https://api.tuaazienda.it/webhook/inbound")]
    callback_url: Option<String>,
}

fn callback_url(body: CallbackBody) -> Answer<String> {
    body.callback_url.filter(|u| !u.trim().is_empty()).ok_or_else(|| Failure::bad_request("callbackUrl is required"))
}

/// Get the delivery-status webhook.
#[utoipa::path(get, path = "/api/partner-gateway/v1/webhooks/delivery-status", operation_id = "qlaraGetWebhook",
    tag = "Qlara webhooks",
    responses((status = 200, body = Registration), (status = 404, description = "None is configured.", body = FailureBody)))]
pub async fn get(State(state): State<AppState>, Extension(me): Extension<Caller>) -> Answer<Json<Registration>> {
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    Ok(Json(Registration::from(&hook)))
}

/// Register the delivery-status webhook.
///
/// Seed 000 Step 1. The answer carries the signing `secret`, shown once. INBOUND, DELIVERY and READ
/// events go to `callbackUrl`.
#[utoipa::path(post, path = "/api/partner-gateway/v1/webhooks/delivery-status", operation_id = "qlaraCreateWebhook",
    tag = "Qlara webhooks", request_body = CallbackBody,
    responses((status = 201, body = Registration), (status = 409, description = "One is configured already.", body = FailureBody)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<CallbackBody>,
) -> Answer<(StatusCode, Json<Registration>)> {
    let url = callback_url(body)?;
    if find(&state, me.account_id).await?.is_some() {
        return Err(Failure::new(
            StatusCode::CONFLICT,
            "A delivery-status webhook is already configured; use PUT to change it or DELETE to remove it",
        ));
    }
    let request = NewWebhook {
        url,
        description: Some(MARKER.to_owned()),
        event_types: Vec::new(),
        format: Some("qlara".to_owned()),
        secret: None,
        active: Some(true),
    };
    let hook = webhooks::create(&state, me.account_id, request).await.map_err(url_error)?;
    let registration = Registration { secret: hook.secret.clone(), ..Registration::from(&hook) };
    Ok((StatusCode::CREATED, Json(registration)))
}

/// Change the delivery-status webhook's URL.
///
/// It is never created here.
#[utoipa::path(put, path = "/api/partner-gateway/v1/webhooks/delivery-status", operation_id = "qlaraReplaceWebhook",
    tag = "Qlara webhooks", request_body = CallbackBody,
    responses((status = 200, body = Registration), (status = 404, description = "None is configured.", body = FailureBody)))]
pub async fn replace(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<CallbackBody>,
) -> Answer<Json<Registration>> {
    let url = callback_url(body)?;
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    let patch = WebhookPatch { url: Some(url), ..Default::default() };
    let hook = webhooks::update(&state, me.account_id, hook.id, patch).await.map_err(url_error)?;
    Ok(Json(Registration::from(&hook)))
}

/// Remove the delivery-status webhook.
#[utoipa::path(delete, path = "/api/partner-gateway/v1/webhooks/delivery-status", operation_id = "qlaraDeleteWebhook",
    tag = "Qlara webhooks",
    responses((status = 204, description = "Removed."), (status = 404, description = "None is configured.", body = FailureBody)))]
pub async fn delete(State(state): State<AppState>, Extension(me): Extension<Caller>) -> Answer<StatusCode> {
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    webhooks::delete(&state, me.account_id, hook.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
