//! `/api/v1/channels/{id}/templates`: WhatsApp message templates per channel.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::service::templates::{self, NewTemplate, Template};
use crate::state::AppState;

/// A template to create, in Meta's shape.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateBody {
    /// Lowercase letters, digits and underscores.
    name: String,
    /// Language code such as `en_US`.
    language: String,
    /// MARKETING, UTILITY or AUTHENTICATION.
    category: String,
    /// Meta's components: HEADER, BODY (required; `{{1}}`… placeholders), FOOTER, BUTTONS.
    #[schema(value_type = Vec<Object>)]
    components: Vec<Value>,
}

/// A channel's templates.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateList {
    data: Vec<Template>,
}

/// List a WhatsApp channel's message templates.
#[utoipa::path(get, path = "/api/v1/channels/{id}/templates", operation_id = "listTemplates", tag = "templates",
    responses((status = 200, body = TemplateList), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TemplateList>> {
    Ok(Json(TemplateList { data: templates::list(&state, me.account_id, id).await? }))
}

/// Create a template: submitted to Meta on a live channel with `settings.waba_id` (status as Meta
/// answers, usually PENDING); stored as APPROVED on simulation channels and channels without it.
#[utoipa::path(post, path = "/api/v1/channels/{id}/templates", operation_id = "createTemplate", tag = "templates", request_body = TemplateBody,
    responses((status = 201, body = Template), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> Result<(StatusCode, Json<Template>)> {
    let new =
        NewTemplate { name: body.name, language: body.language, category: body.category, components: body.components };
    Ok((StatusCode::CREATED, Json(templates::create(&state, me.account_id, id, new).await?)))
}

/// Get a template.
#[utoipa::path(get, path = "/api/v1/channels/{id}/templates/{template_id}", operation_id = "getTemplate", tag = "templates",
    responses((status = 200, body = Template), (status = 404, body = Problem),
        (status = 409, description = "The network has no templates (`templates_unsupported`).", body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, template_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Template>> {
    Ok(Json(templates::get(&state, me.account_id, id, template_id).await?))
}

/// Delete a template from Parley.
#[utoipa::path(delete, path = "/api/v1/channels/{id}/templates/{template_id}", operation_id = "deleteTemplate", tag = "templates",
    responses((status = 204), (status = 404, body = Problem),
        (status = 409, description = "The network has no templates (`templates_unsupported`).", body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, template_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode> {
    templates::delete(&state, me.account_id, id, template_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sync templates from Meta (`GET /{waba_id}/message_templates`), upserting by name and language.
#[utoipa::path(post, path = "/api/v1/channels/{id}/templates/sync", operation_id = "syncTemplates", tag = "templates",
    responses((status = 200, body = TemplateList), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn sync(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<TemplateList>> {
    Ok(Json(TemplateList { data: templates::sync(&state, me.account_id, id).await? }))
}
