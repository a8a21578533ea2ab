//! `/api/v1/reports`: activity (volumes and times per day or week, split by channel, team,
//! operator or virtual agent), the live workload, their CSV, and the account's business hours.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};

use crate::domain::principal::Principal;
use crate::domain::reports::BusinessHours;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::service::reports::{self, Activity, ActivityQuery, Workload};
use crate::state::AppState;

/// Activity over a range: conversations opened and resolved, messages in and out, first response
/// and resolution times (count, median, p90: nearest rank), virtual agents' resolutions and
/// escalations, per local day or week, in all and per group.
///
/// Times count only the account's business hours when it set them. Figures follow the event log
/// within a moment of each change.
#[utoipa::path(get, path = "/api/v1/reports/activity", operation_id = "activityReport", tag = "reports", params(ActivityQuery),
    responses((status = 200, body = Activity), (status = 422, body = Problem)))]
pub async fn activity(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> Result<Json<Activity>> {
    Ok(Json(reports::activity(&state, me.account_id, query).await?))
}

/// The activity report as CSV: one line per period and group, then the totals (`period` = `total`).
#[utoipa::path(get, path = "/api/v1/reports/activity.csv", operation_id = "exportActivityReport", tag = "reports",
    params(ActivityQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = Problem)))]
pub async fn activity_csv(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> Result<impl IntoResponse> {
    Ok(csv("activity.csv", reports::activity_csv(&state, me.account_id, query).await?))
}

/// Who has what now: open conversations per operator, team and virtual agent, and how long the
/// unassigned ones have waited for an operator.
#[utoipa::path(get, path = "/api/v1/reports/workload", operation_id = "workloadReport", tag = "reports",
    responses((status = 200, body = Workload)))]
pub async fn workload(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<Workload>> {
    Ok(Json(reports::workload(&state, me.account_id).await?))
}

/// The workload as CSV: one line per operator, team and virtual agent.
#[utoipa::path(get, path = "/api/v1/reports/workload.csv", operation_id = "exportWorkloadReport", tag = "reports",
    responses((status = 200, content_type = "text/csv", body = String)))]
pub async fn workload_csv(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<impl IntoResponse> {
    Ok(csv("workload.csv", reports::workload_csv(&state, me.account_id).await?))
}

fn csv(filename: &str, body: String) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")),
        ],
        body,
    )
}

/// The account's business hours.
#[utoipa::path(get, path = "/api/v1/account/business-hours", operation_id = "getBusinessHours", tag = "reports",
    responses((status = 200, body = BusinessHours), (status = 404, description = "Not set: times count every hour", body = Problem)))]
pub async fn business_hours(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<Json<BusinessHours>> {
    Ok(Json(reports::business_hours(&state, me.account_id).await?))
}

/// Set the account's business hours: open intervals per weekday in a time zone. Reports' waiting
/// and resolution times then count only these hours, over the past too.
#[utoipa::path(put, path = "/api/v1/account/business-hours", operation_id = "setBusinessHours", tag = "reports",
    request_body = BusinessHours,
    responses((status = 200, body = BusinessHours), (status = 422, body = Problem)))]
pub async fn set_business_hours(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<BusinessHours>,
) -> Result<Json<BusinessHours>> {
    Ok(Json(reports::set_business_hours(&state, me.account_id, body).await?))
}

/// Clear the account's business hours: times count every hour.
#[utoipa::path(delete, path = "/api/v1/account/business-hours", operation_id = "clearBusinessHours", tag = "reports",
    responses((status = 204)))]
pub async fn clear_business_hours(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<StatusCode> {
    reports::clear_business_hours(&state, me.account_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
