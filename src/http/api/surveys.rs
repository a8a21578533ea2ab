//! `/api/v1/surveys`: satisfaction surveys, sending one into a conversation, and the results.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::surveys::{self, NewSurvey, ResultQuery, Survey, SurveyRequest, SurveyResults};
use crate::state::AppState;

/// The account's surveys.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyList {
    data: Vec<Survey>,
}

/// List surveys.
#[utoipa::path(get, path = "/api/v1/surveys", operation_id = "listSurveys", tag = "surveys", responses((status = 200, body = SurveyList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<SurveyList>> {
    Ok(Json(SurveyList { data: surveys::list(&state, me.account_id).await? }))
}

/// Create a survey: a question per language on a 1–5 scale.
#[utoipa::path(post, path = "/api/v1/surveys", operation_id = "createSurvey", tag = "surveys", request_body = NewSurvey,
    responses((status = 201, body = Survey), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<NewSurvey>,
) -> Result<(StatusCode, Json<Survey>)> {
    Ok((StatusCode::CREATED, Json(surveys::create(&state, me.account_id, body).await?)))
}

/// Get a survey.
#[utoipa::path(get, path = "/api/v1/surveys/{id}", operation_id = "getSurvey", tag = "surveys",
    responses((status = 200, body = Survey), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Survey>> {
    Ok(Json(surveys::get(&state, me.account_id, id).await?))
}

/// Results of the surveys sent: how many were sent and answered, the response rate, the average
/// vote and how many of each.
#[utoipa::path(get, path = "/api/v1/surveys/results", operation_id = "surveyResults", tag = "surveys", params(ResultQuery),
    responses((status = 200, body = SurveyResults), (status = 422, body = Problem)))]
pub async fn results(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Result<Json<SurveyResults>> {
    Ok(Json(surveys::results(&state, me.account_id, query).await?))
}

/// Which survey to send.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendSurvey {
    pub survey_id: i64,
}

/// Send a survey into a conversation.
///
/// In the customer's language, as a list of votes where the channel has choices, else as a
/// question asking for a number. While it is pending, a reply that is a vote becomes the
/// conversation's `survey` (`survey.answered`); other replies are ordinary messages.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/survey", operation_id = "sendSurvey", tag = "surveys",
    request_body = SendSurvey,
    responses((status = 201, body = SurveyRequest), (status = 404, body = Problem),
        (status = 409, description = "`channel_removed`: the conversation's channel was removed", body = Problem),
        (status = 422, description = "Invalid body, `reply_window_expired` outside the channel's reply window, or `opted_out`", body = Problem)))]
pub async fn send(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SendSurvey>,
) -> Result<(StatusCode, Json<SurveyRequest>)> {
    Ok((StatusCode::CREATED, Json(surveys::send(&state, me.account_id, id, body.survey_id).await?)))
}

/// Replace a survey's question, window, WhatsApp template and follow-up.
#[utoipa::path(put, path = "/api/v1/surveys/{id}", operation_id = "updateSurvey", tag = "surveys", request_body = NewSurvey,
    responses((status = 200, body = Survey), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewSurvey>,
) -> Result<Json<Survey>> {
    Ok(Json(surveys::update(&state, me.account_id, id, body).await?))
}

/// The surveys sent as CSV, newest first (at most 100,000 rows): id, survey, conversation,
/// channel, customer, virtual agent, operator, team, status, rating, comment, sent and answered
/// times. Same filters as the results.
#[utoipa::path(get, path = "/api/v1/surveys/results.csv", operation_id = "exportSurveyResults", tag = "surveys", params(ResultQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<ResultQuery>,
) -> Result<impl IntoResponse> {
    let csv = surveys::results_csv(&state, me.account_id, query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"survey-results.csv\""),
        ],
        csv,
    ))
}

/// A vote given directly.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Vote {
    /// 1 to 5.
    pub rating: i64,
    #[serde(default)]
    pub comment: Option<String>,
}

/// Record the customer's vote on a conversation given outside a reply (a form of the business's
/// own, a phone call): it answers the pending survey, else counts as one sent and answered.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/survey/vote", operation_id = "voteSurvey", tag = "surveys",
    request_body = Vote,
    responses((status = 201, body = SurveyRequest), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn vote(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Vote>,
) -> Result<(StatusCode, Json<SurveyRequest>)> {
    Ok((StatusCode::CREATED, Json(surveys::rate(&state, me.account_id, id, body.rating, body.comment).await?)))
}
