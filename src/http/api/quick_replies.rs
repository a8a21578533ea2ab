//! `/api/v1/quick-replies`, and a conversation's quick replies filled for it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::service::quick_replies::{self, FilledQuickReply, NewQuickReply, QuickReply, QuickReplyPatch};
use crate::state::AppState;

/// The account's quick replies.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuickReplyList {
    data: Vec<QuickReply>,
}

/// A conversation's quick replies, filled for it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FilledQuickReplyList {
    data: Vec<FilledQuickReply>,
}

/// List quick replies, by short code and language.
#[utoipa::path(get, path = "/api/v1/quick-replies", operation_id = "listQuickReplies", tag = "quick replies",
    responses((status = 200, body = QuickReplyList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<QuickReplyList>> {
    Ok(Json(QuickReplyList { data: quick_replies::list(&state, me.account_id).await? }))
}

/// Add a quick reply (or another language's variant of one: the same short code).
#[utoipa::path(post, path = "/api/v1/quick-replies", operation_id = "createQuickReply", tag = "quick replies",
    request_body = NewQuickReply,
    responses((status = 201, body = QuickReply), (status = 409, description = "The short code has a variant in this language.", body = Problem),
        (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<NewQuickReply>,
) -> Result<(StatusCode, Json<QuickReply>)> {
    Ok((StatusCode::CREATED, Json(quick_replies::create(&state, me.account_id, body).await?)))
}

/// Get a quick reply.
#[utoipa::path(get, path = "/api/v1/quick-replies/{id}", operation_id = "getQuickReply", tag = "quick replies",
    responses((status = 200, body = QuickReply), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<QuickReply>> {
    Ok(Json(quick_replies::get(&state, me.account_id, id).await?))
}

/// Change a quick reply.
#[utoipa::path(patch, path = "/api/v1/quick-replies/{id}", operation_id = "updateQuickReply", tag = "quick replies",
    request_body = QuickReplyPatch,
    responses((status = 200, body = QuickReply), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<QuickReplyPatch>,
) -> Result<Json<QuickReply>> {
    Ok(Json(quick_replies::update(&state, me.account_id, id, body).await?))
}

/// Delete a quick reply.
#[utoipa::path(delete, path = "/api/v1/quick-replies/{id}", operation_id = "deleteQuickReply", tag = "quick replies",
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    quick_replies::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The quick replies for a conversation.
///
/// Those of its team and network, one per short code in the customer's language (their contact's
/// `language` attribute, else their latest message's), with `filled_text` for this conversation
/// and the signed-in operator, and `payload` carrying the buttons as the send takes them.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/quick-replies", operation_id = "listConversationQuickReplies",
    tag = "quick replies", responses((status = 200, body = FilledQuickReplyList), (status = 404, body = Problem)))]
pub async fn for_conversation(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<FilledQuickReplyList>> {
    let data = quick_replies::for_conversation(&state, me.account_id, id, me.operator_id()).await?;
    Ok(Json(FilledQuickReplyList { data }))
}
