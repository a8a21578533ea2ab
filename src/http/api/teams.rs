//! `/api/v1/teams` and operator availability (`/api/v1/operators/{id}/presence`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::domain::Availability;
use crate::error::{Error, Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::service::routing::{self, Presence, Team, TeamFields};
use crate::state::AppState;

/// The account's teams.
#[derive(Debug, Serialize, ToSchema)]
pub struct TeamList {
    data: Vec<Team>,
}

/// List teams.
#[utoipa::path(get, path = "/api/v1/teams", operation_id = "listTeams", tag = "routing", responses((status = 200, body = TeamList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<TeamList>> {
    Ok(Json(TeamList { data: routing::list_teams(&state, me.account_id).await? }))
}

/// Create a team: its members take the conversations of its channels, round-robin.
#[utoipa::path(post, path = "/api/v1/teams", operation_id = "createTeam", tag = "routing", request_body = TeamFields,
    responses((status = 201, body = Team), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<TeamFields>,
) -> Result<(StatusCode, Json<Team>)> {
    Ok((StatusCode::CREATED, Json(routing::create_team(&state, me.account_id, body).await?)))
}

/// Get a team.
#[utoipa::path(get, path = "/api/v1/teams/{id}", operation_id = "getTeam", tag = "routing",
    responses((status = 200, body = Team), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Team>> {
    Ok(Json(routing::get_team(&state, me.account_id, id).await?))
}

/// Change a team (given fields replace the stored ones).
#[utoipa::path(patch, path = "/api/v1/teams/{id}", operation_id = "updateTeam", tag = "routing", request_body = TeamFields,
    responses((status = 200, body = Team), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TeamFields>,
) -> Result<Json<Team>> {
    Ok(Json(routing::update_team(&state, me.account_id, id, body).await?))
}

/// Delete a team.
#[utoipa::path(delete, path = "/api/v1/teams/{id}", operation_id = "deleteTeam", tag = "routing",
    responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    routing::delete_team(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The operators' availability.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceList {
    data: Vec<Presence>,
}

/// List operators' availability, capacity and open conversations.
#[utoipa::path(get, path = "/api/v1/operators/presence", operation_id = "listPresence", tag = "routing",
    responses((status = 200, body = PresenceList)))]
pub async fn presence(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<Json<PresenceList>> {
    Ok(Json(PresenceList { data: routing::list_presence(&state, me.account_id).await? }))
}

/// An operator's availability to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    /// online, away or offline.
    #[serde(default)]
    availability: Option<Availability>,
    /// The most open conversations routing gives them (0 to 1000).
    #[serde(default)]
    capacity: Option<i64>,
}

/// Set an operator's availability (`me`: the logged-in operator).
///
/// Online operators with room get waiting conversations of their teams at once. An operator
/// counts as offline whenever they have no live session, whatever was set.
#[utoipa::path(put, path = "/api/v1/operators/{id}/presence", operation_id = "setPresence", tag = "routing", request_body = PresenceBody,
    params(("id" = String, Path, description = "An operator id, or `me`.")),
    responses((status = 200, body = Presence), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn set_presence(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<PresenceBody>,
) -> Result<Json<Presence>> {
    let operator = match id.as_str() {
        "me" => me
            .operator_id()
            .ok_or_else(|| Error::field("id", "`me` needs an operator session; API keys name the operator id"))?,
        other => other.parse().map_err(|_| Error::field("id", "must be an operator id or `me`"))?,
    };
    Ok(Json(routing::set_presence(&state, me.account_id, operator, body.availability, body.capacity).await?))
}
