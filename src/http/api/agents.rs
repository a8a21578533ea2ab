//! `/api/v1/agents`: virtual agents, their engines, knowledge-base articles, search and try-out.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::agents::Passage;
use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::api::conversations::page_size;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::agents::{
    self, Agent, AgentInput, Article, ArticleInput, ArticlePage, EngineInfo, TryInput, TryResult,
};
use crate::state::AppState;

/// The account's virtual agents.
#[derive(Debug, Serialize, ToSchema)]
pub struct AgentList {
    data: Vec<Agent>,
}

/// The engines an agent can use.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineList {
    data: Vec<EngineInfo>,
}

/// List virtual agents.
#[utoipa::path(get, path = "/api/v1/agents", operation_id = "listAgents", tag = "virtual agents", responses((status = 200, body = AgentList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<AgentList>> {
    Ok(Json(AgentList { data: agents::list(&state, me.account_id).await? }))
}

/// List the engines and their settings.
#[utoipa::path(get, path = "/api/v1/agent-engines", operation_id = "listAgentEngines", tag = "virtual agents", responses((status = 200, body = EngineList)))]
pub async fn engines() -> Json<EngineList> {
    Json(EngineList { data: agents::engines() })
}

/// Create a virtual agent.
///
/// `engine` and its `settings` are required (see `GET /api/v1/agent-engines`); secrets are never
/// returned. `channels` lists the channels it serves (one agent per channel); with
/// `answers_first` new conversations there start with it. `handoff` defaults to keywords in
/// English, Italian, Portuguese and Spanish and at most 10 answers per conversation.
#[utoipa::path(post, path = "/api/v1/agents", operation_id = "createAgent", tag = "virtual agents", request_body = AgentInput,
    responses((status = 201, body = Agent), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<AgentInput>,
) -> Result<(StatusCode, Json<Agent>)> {
    Ok((StatusCode::CREATED, Json(agents::create(&state, me.account_id, body).await?)))
}

/// Get a virtual agent.
#[utoipa::path(get, path = "/api/v1/agents/{id}", operation_id = "getAgent", tag = "virtual agents",
    responses((status = 200, body = Agent), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Agent>> {
    Ok(Json(agents::get(&state, me.account_id, id).await?))
}

/// Change a virtual agent (given fields only; in `settings` a `null` removes a setting).
#[utoipa::path(patch, path = "/api/v1/agents/{id}", operation_id = "updateAgent", tag = "virtual agents", request_body = AgentInput,
    responses((status = 200, body = Agent), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AgentInput>,
) -> Result<Json<Agent>> {
    Ok(Json(agents::update(&state, me.account_id, id, body).await?))
}

/// Delete a virtual agent: it stops answering at once.
#[utoipa::path(delete, path = "/api/v1/agents/{id}", operation_id = "deleteAgent", tag = "virtual agents",
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    agents::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Which page of articles.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArticleParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// List an agent's knowledge-base articles, oldest first.
#[utoipa::path(get, path = "/api/v1/agents/{id}/articles", operation_id = "listArticles", tag = "virtual agents", params(ArticleParams),
    responses((status = 200, body = ArticlePage), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn list_articles(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<ArticleParams>,
) -> Result<Json<ArticlePage>> {
    let limit = page_size(params.limit)?;
    Ok(Json(agents::list_articles(&state, me.account_id, id, limit, params.cursor.as_deref()).await?))
}

/// Add a knowledge-base article (`title` and `body` required; split into passages for search).
#[utoipa::path(post, path = "/api/v1/agents/{id}/articles", operation_id = "createArticle", tag = "virtual agents", request_body = ArticleInput,
    responses((status = 201, body = Article), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn create_article(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ArticleInput>,
) -> Result<(StatusCode, Json<Article>)> {
    Ok((StatusCode::CREATED, Json(agents::create_article(&state, me.account_id, id, body).await?)))
}

/// Get an article.
#[utoipa::path(get, path = "/api/v1/agents/{id}/articles/{article_id}", operation_id = "getArticle", tag = "virtual agents",
    responses((status = 200, body = Article), (status = 404, body = Problem)))]
pub async fn get_article(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, article_id)): ApiPath<(i64, i64)>,
) -> Result<Json<Article>> {
    Ok(Json(agents::get_article(&state, me.account_id, id, article_id).await?))
}

/// Change an article (given fields only).
#[utoipa::path(patch, path = "/api/v1/agents/{id}/articles/{article_id}", operation_id = "updateArticle", tag = "virtual agents", request_body = ArticleInput,
    responses((status = 200, body = Article), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update_article(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, article_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<ArticleInput>,
) -> Result<Json<Article>> {
    Ok(Json(agents::update_article(&state, me.account_id, id, article_id, body).await?))
}

/// Delete an article.
#[utoipa::path(delete, path = "/api/v1/agents/{id}/articles/{article_id}", operation_id = "deleteArticle", tag = "virtual agents",
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
pub async fn delete_article(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath((id, article_id)): ApiPath<(i64, i64)>,
) -> Result<StatusCode> {
    agents::delete_article(&state, me.account_id, id, article_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What to search for.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// A customer's question.
    q: String,
}

/// Passages found.
#[derive(Debug, Serialize, ToSchema)]
pub struct PassageList {
    data: Vec<Passage>,
}

/// Search an agent's knowledge base as the agent does: the best passages for a question, with
/// the share of its key words each contains (`score`, 0 to 1).
#[utoipa::path(get, path = "/api/v1/agents/{id}/articles/search", operation_id = "searchArticles", tag = "virtual agents", params(SearchParams),
    responses((status = 200, body = PassageList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn search(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<PassageList>> {
    Ok(Json(PassageList { data: agents::search(&state, me.account_id, id, &params.q).await? }))
}

/// Try an agent on a message, outside any conversation.
///
/// The answer (or handoff, or failure) comes in the response; while it is written its draft
/// streams on `GET /api/v1/events` as `message.delta` events with `draft_id` `try-<draft_id>`
/// and `conversation_id` 0.
#[utoipa::path(post, path = "/api/v1/agents/{id}/try", operation_id = "tryAgent", tag = "virtual agents", request_body = TryInput,
    responses((status = 200, body = TryResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn try_out(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TryInput>,
) -> Result<Json<TryResult>> {
    Ok(Json(agents::try_out(&state, me.account_id, id, body).await?))
}
