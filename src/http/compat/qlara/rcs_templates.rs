//! The seed platform's RCS templates, `/api/message-server/rcs/templates`: saved RCS messages
//! (`{name, description, type: TEXT | CARD | CAROUSEL, body}`) sent with `templateId`.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{Answer, Body, Caller, Failure, Qlara};
use crate::http::compat::read_segment;
use crate::service::rcs_templates::{self, NewRcsTemplate, RcsTemplate};
use crate::state::AppState;

/// A template as the seed platform takes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = QlaraRcsTemplateBody)]
pub struct TemplateBody {
    #[schema(example = "order_shipped")]
    name: String,
    #[schema(example = "Tells the customer their order left the warehouse")]
    description: String,
    /// TEXT, CARD or CAROUSEL.
    #[serde(rename = "type")]
    #[schema(example = "CARD")]
    kind: String,
    /// The message, as in an RCS send's `body.body` (with `suggestions` and `fallbackSms`).
    #[schema(value_type = Object)]
    body: Value,
}

impl From<TemplateBody> for NewRcsTemplate {
    fn from(body: TemplateBody) -> Self {
        NewRcsTemplate { name: body.name, description: body.description, kind: body.kind, body: body.body }
    }
}

/// A numeric template id in the path; anything else names no template (404).
pub struct TemplateId(pub i64);

impl FromRequestParts<AppState> for TemplateId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        read_segment::<Qlara, i64>(parts, state, "template").await.map(TemplateId)
    }
}

/// Create an RCS template.
#[utoipa::path(post, path = "/api/message-server/rcs/templates", operation_id = "qlaraCreateRcsTemplate",
    tag = "Qlara sends", request_body = TemplateBody,
    responses((status = 201, body = RcsTemplate), (status = 409, description = "The account has a template with this name.")))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    Body(body): Body<TemplateBody>,
) -> Answer<(StatusCode, Json<RcsTemplate>)> {
    Ok((StatusCode::CREATED, Json(rcs_templates::create(&state, me.account_id, body.into()).await?)))
}

/// List the RCS templates.
#[utoipa::path(get, path = "/api/message-server/rcs/templates", operation_id = "qlaraListRcsTemplates",
    tag = "Qlara sends", responses((status = 200, body = Vec<RcsTemplate>)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Caller>) -> Answer<Json<Vec<RcsTemplate>>> {
    Ok(Json(rcs_templates::list(&state, me.account_id).await?))
}

/// Get an RCS template.
#[utoipa::path(get, path = "/api/message-server/rcs/templates/{id}", operation_id = "qlaraGetRcsTemplate",
    tag = "Qlara sends", params(("id" = i64, Path)), responses((status = 200, body = RcsTemplate)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    TemplateId(id): TemplateId,
) -> Answer<Json<RcsTemplate>> {
    Ok(Json(rcs_templates::get(&state, me.account_id, id).await?))
}

/// Replace an RCS template.
#[utoipa::path(put, path = "/api/message-server/rcs/templates/{id}", operation_id = "qlaraReplaceRcsTemplate",
    tag = "Qlara sends", params(("id" = i64, Path)), request_body = TemplateBody,
    responses((status = 200, body = RcsTemplate), (status = 409, description = "Another template has this name.")))]
pub async fn replace(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    TemplateId(id): TemplateId,
    Body(body): Body<TemplateBody>,
) -> Answer<Json<RcsTemplate>> {
    Ok(Json(rcs_templates::update(&state, me.account_id, id, body.into()).await?))
}

/// Delete an RCS template.
#[utoipa::path(delete, path = "/api/message-server/rcs/templates/{id}", operation_id = "qlaraDeleteRcsTemplate",
    tag = "Qlara sends", params(("id" = i64, Path)), responses((status = 204)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Caller>,
    TemplateId(id): TemplateId,
) -> Answer<StatusCode> {
    rcs_templates::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
