//! `/api/v1/webhooks`: subscriptions, their delivery log, redelivery and replay; `/api/v1/events/{id}`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::views::{Webhook, WebhookDelivery};
use crate::service::webhooks::{
    self, AttemptPage, DeliveryPage, EventType, NewWebhook, ReplayRequest, ReplayResult, WebhookPatch,
};
use crate::state::AppState;

/// The account's subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookList {
    data: Vec<Webhook>,
}

/// The event catalog.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventTypeList {
    data: Vec<EventType>,
}

/// The event to send again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeliverBody {
    event_id: i64,
}

/// Paging of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// pending, delivered or failed.
    status: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// Paging of attempts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptParams {
    /// Only attempts to deliver this event.
    event_id: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// Create a subscription (its signing secret is shown only in this response).
#[utoipa::path(post, path = "/api/v1/webhooks", operation_id = "createWebhook", tag = "webhooks", request_body = NewWebhook,
    responses((status = 201, body = Webhook), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<NewWebhook>,
) -> Result<(StatusCode, Json<Webhook>)> {
    Ok((StatusCode::CREATED, Json(webhooks::create(&state, me.account_id, body).await?)))
}

/// List subscriptions.
#[utoipa::path(get, path = "/api/v1/webhooks", operation_id = "listWebhooks", tag = "webhooks", responses((status = 200, body = WebhookList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<WebhookList>> {
    Ok(Json(WebhookList { data: webhooks::list(&state, me.account_id).await? }))
}

/// The event catalog: every type a subscription can ask for.
#[utoipa::path(get, path = "/api/v1/webhooks/event-types", operation_id = "listEventTypes", tag = "webhooks",
    responses((status = 200, body = EventTypeList)))]
pub async fn event_types() -> Json<EventTypeList> {
    Json(EventTypeList { data: webhooks::catalog() })
}

/// Get a subscription.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", operation_id = "getWebhook", tag = "webhooks",
    responses((status = 200, body = Webhook), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Webhook>> {
    Ok(Json(webhooks::get(&state, me.account_id, id).await?))
}

/// Update a subscription; `active: true` re-enables a disabled one.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", operation_id = "updateWebhook", tag = "webhooks", request_body = WebhookPatch,
    responses((status = 200, body = Webhook), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<WebhookPatch>,
) -> Result<Json<Webhook>> {
    Ok(Json(webhooks::update(&state, me.account_id, id, body).await?))
}

/// Delete a subscription and its delivery log.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", operation_id = "deleteWebhook", tag = "webhooks",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    webhooks::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Rotate the signing secret; the previous one also signs for 24 hours.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate-secret", operation_id = "rotateWebhookSecret", tag = "webhooks",
    responses((status = 200, body = Webhook), (status = 404, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Webhook>> {
    Ok(Json(webhooks::rotate_secret(&state, me.account_id, id).await?))
}

/// Send a `webhook.test` event to this subscription.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", operation_id = "testWebhook", tag = "webhooks",
    responses((status = 202, body = WebhookDelivery), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn test(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<(StatusCode, Json<WebhookDelivery>)> {
    Ok((StatusCode::ACCEPTED, Json(webhooks::send_test(&state, me.account_id, id).await?)))
}

/// Deliver one event to this subscription again (same `webhook-id`).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/redeliver", operation_id = "redeliverEvent", tag = "webhooks", request_body = RedeliverBody,
    responses((status = 202, body = WebhookDelivery), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn redeliver(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RedeliverBody>,
) -> Result<(StatusCode, Json<WebhookDelivery>)> {
    Ok((StatusCode::ACCEPTED, Json(webhooks::redeliver(&state, me.account_id, id, body.event_id).await?)))
}

/// Replay every event since a time or after an event id to this subscription.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/replay", operation_id = "replayEvents", tag = "webhooks", request_body = ReplayRequest,
    responses((status = 202, body = ReplayResult), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn replay(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReplayRequest>,
) -> Result<(StatusCode, Json<ReplayResult>)> {
    Ok((StatusCode::ACCEPTED, Json(webhooks::replay(&state, me.account_id, id, body).await?)))
}

/// A subscription's deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", operation_id = "listWebhookDeliveries", tag = "webhooks", params(DeliveryParams),
    responses((status = 200, body = DeliveryPage), (status = 404, body = Problem)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Json<DeliveryPage>> {
    let (status, cursor) = (params.status.as_deref(), params.cursor.as_deref());
    Ok(Json(webhooks::deliveries(&state, me.account_id, id, status, cursor, params.limit).await?))
}

/// A subscription's attempts, newest first (optionally those for one event).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/attempts", operation_id = "listWebhookAttempts", tag = "webhooks", params(AttemptParams),
    responses((status = 200, body = AttemptPage), (status = 404, body = Problem)))]
pub async fn attempts(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<AttemptParams>,
) -> Result<Json<AttemptPage>> {
    let cursor = params.cursor.as_deref();
    Ok(Json(webhooks::attempts(&state, me.account_id, Some(id), params.event_id, cursor, params.limit).await?))
}

/// One event as webhooks and the event stream carry it.
#[utoipa::path(get, path = "/api/v1/events/{id}", operation_id = "getEvent", tag = "events",
    responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn event(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>> {
    Ok(Json(webhooks::event(&state, me.account_id, id).await?))
}

/// Every attempt to deliver one event, to any subscription, newest first.
#[utoipa::path(get, path = "/api/v1/events/{id}/attempts", operation_id = "listEventAttempts", tag = "events", params(AttemptParams),
    responses((status = 200, body = AttemptPage), (status = 404, body = Problem)))]
pub async fn event_attempts(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<AttemptParams>,
) -> Result<Json<AttemptPage>> {
    let cursor = params.cursor.as_deref();
    Ok(Json(webhooks::attempts(&state, me.account_id, None, Some(id), cursor, params.limit).await?))
}
