//! `/webhooks/delivery-status`: the account's single seed-platform webhook, kept as a native
//! subscription with format `qlara` marked by its description.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{Answer, Body, Caller, Failure};
use crate::app::AppState;
use crate::error::Error;
use crate::service::views::Webhook;
use crate::service::webhooks::{self, NewWebhook, WebhookPatch};

/// The description that marks the subscription this endpoint manages.
pub const MARKER: &str = "qlara:delivery-status";

fn webhook_json(hook: &Webhook) -> Value {
    json!({
        "id": format!("wh-{}", hook.id),
        "callbackUrl": hook.url,
        "status": if hook.active { "ACTIVE" } else { "DISABLED" },
        "createdAt": hook.created_at,
        "updatedAt": hook.updated_at,
    })
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

/// `{"callbackUrl": "https://..."}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallbackBody {
    callback_url: Option<String>,
}

fn callback_url(body: CallbackBody) -> Answer<String> {
    body.callback_url.filter(|u| !u.trim().is_empty()).ok_or_else(|| Failure::bad_request("callbackUrl is required"))
}

/// `GET`: the registration, or 404.
pub async fn get(State(state): State<AppState>, Extension(me): Extension<Caller>) -> Answer<Json<Value>> {
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    Ok(Json(webhook_json(&hook)))
}

/// `POST` → 201 with the registration and its signing `secret` (shown once); 409 if one exists.
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<CallbackBody>,
) -> Answer<(StatusCode, Json<Value>)> {
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
    let mut body = webhook_json(&hook);
    body["secret"] = json!(hook.secret);
    Ok((StatusCode::CREATED, Json(body)))
}

/// `PUT`: changes the URL (never creates) → 200.
pub async fn replace(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<CallbackBody>,
) -> Answer<Json<Value>> {
    let url = callback_url(body)?;
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    let patch = WebhookPatch { url: Some(url), ..Default::default() };
    let hook = webhooks::update(&state, me.account_id, hook.id, patch).await.map_err(url_error)?;
    Ok(Json(webhook_json(&hook)))
}

/// `DELETE` → 204; 404 when none is configured.
pub async fn delete(State(state): State<AppState>, Extension(me): Extension<Caller>) -> Answer<StatusCode> {
    let hook = find(&state, me.account_id).await?.ok_or_else(none_configured)?;
    webhooks::delete(&state, me.account_id, hook.id).await?;
    Ok(StatusCode::NO_CONTENT)
}
