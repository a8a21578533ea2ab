//! Feedback on virtual agents' answers: `/api/v1/messages/{id}/feedback`, and the feedback of a
//! conversation and of an agent.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::feedback::{self, AgentFeedback, Feedback, FeedbackInput};
use crate::state::AppState;

/// Give feedback on a virtual agent's answer: thumbs `up` or `down`, with an optional reason and
/// comment. One per answer per operator or API key: giving it again changes it.
#[utoipa::path(post, path = "/api/v1/messages/{id}/feedback", operation_id = "giveFeedback", tag = "agents",
    request_body = FeedbackInput,
    responses((status = 200, body = Feedback), (status = 404, body = Problem),
        (status = 422, description = "Invalid body, or `not_an_agent_answer`", body = Problem)))]
pub async fn give(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FeedbackInput>,
) -> Result<Json<Feedback>> {
    Ok(Json(feedback::give(&state, me.account_id, &feedback::author_of(&me), id, body).await?))
}

/// Feedback on a conversation's answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedbackList {
    data: Vec<Feedback>,
}

/// The feedback on a conversation's answers, oldest first.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/feedback", operation_id = "conversationFeedback", tag = "agents",
    responses((status = 200, body = FeedbackList), (status = 404, body = Problem)))]
pub async fn of_conversation(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<FeedbackList>> {
    Ok(Json(FeedbackList { data: feedback::of_conversation(&state, me.account_id, id).await? }))
}

/// Which feedback of an agent to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AgentFeedbackQuery {
    /// `up` or `down`: only these.
    rating: Option<String>,
}

/// The feedback on a virtual agent's answers: how many up and down, and the newest 100.
#[utoipa::path(get, path = "/api/v1/agents/{id}/feedback", operation_id = "agentFeedback", tag = "agents",
    params(AgentFeedbackQuery),
    responses((status = 200, body = AgentFeedback), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn of_agent(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<AgentFeedbackQuery>,
) -> Result<Json<AgentFeedback>> {
    Ok(Json(feedback::of_agent(&state, me.account_id, id, query.rating).await?))
}
