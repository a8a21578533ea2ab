//! `/api/v1/api-keys` and `/api/v1/operators`

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiPath};
use crate::service::auth::{self, CreatedApiKey};
use crate::service::views::{ApiKey, Operator};
use crate::state::AppState;

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    /// A label to recognise the key.
    name: String,
    /// Makes it the key of this virtual agent (an external bot): it may only read conversations,
    /// answer in them (as the agent, while the agent handles the conversation) and escalate them.
    #[serde(default)]
    virtual_agent_id: Option<i64>,
}

/// The account's API keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    data: Vec<ApiKey>,
}

/// The account's operators.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorList {
    data: Vec<Operator>,
}

/// Create an API key (its value is shown only in this response).
#[utoipa::path(post, path = "/api/v1/api-keys", operation_id = "createApiKey", tag = "api keys", request_body = KeyBody,
    responses((status = 201, body = CreatedApiKey), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<(StatusCode, Json<CreatedApiKey>)> {
    Ok((
        StatusCode::CREATED,
        Json(auth::create_api_key(&state.db, me.account_id, &body.name, None, body.virtual_agent_id).await?),
    ))
}

/// List API keys (values are never shown).
#[utoipa::path(get, path = "/api/v1/api-keys", operation_id = "listApiKeys", tag = "api keys", responses((status = 200, body = KeyList)))]
pub async fn list(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<KeyList>> {
    Ok(Json(KeyList { data: auth::list_api_keys(&state.db, me.account_id).await? }))
}

/// Revoke an API key: it stops working at once.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", operation_id = "revokeApiKey", tag = "api keys", responses((status = 200, body = ApiKey), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ApiKey>> {
    Ok(Json(auth::revoke_api_key(&state.db, me.account_id, id).await?))
}

/// List operators.
#[utoipa::path(get, path = "/api/v1/operators", operation_id = "listOperators", tag = "operators", responses((status = 200, body = OperatorList)))]
pub async fn operators(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<Json<OperatorList>> {
    Ok(Json(OperatorList { data: auth::list_operators(&state.db, me.account_id).await? }))
}

/// A company secret to set: the given value, or a new random one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanySecretRequest {
    /// 32 to 256 characters (the secret a business already signs with); generated when absent.
    #[serde(default)]
    pub value: Option<String>,
}

/// The company secret, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanySecret {
    pub company_secret: String,
}

/// Set the account's company secret, which signs custom data sent to the chat API
/// (`signed_data`, HS256). It is shown only in this answer; data signed with the previous
/// secret is refused from then on.
#[utoipa::path(post, path = "/api/v1/account/company-secret", operation_id = "setCompanySecret", tag = "api keys",
    request_body = CompanySecretRequest,
    responses((status = 201, body = CompanySecret), (status = 422, body = Problem)))]
pub async fn set_company_secret(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<CompanySecret>)> {
    let request: CompanySecretRequest = match body.iter().all(u8::is_ascii_whitespace) {
        true => CompanySecretRequest::default(),
        false => serde_json::from_slice(&body).map_err(|e| crate::error::Error::MalformedBody(e.to_string()))?,
    };
    let value = request.value;
    let company_secret = crate::service::chats::set_company_secret(&state, me.account_id, value).await?;
    Ok((StatusCode::CREATED, Json(CompanySecret { company_secret })))
}
