//! `/api/v1/credit`: the account's balance, top-ups and ledger (amounts in thousandths of the
//! currency unit).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::principal::Principal;
use crate::error::{Problem, Result};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::service::credit::{self, Balance, LedgerEntry};
use crate::state::AppState;

/// A top-up.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// The account to credit (default: the caller's own).
    account_id: Option<i64>,
    /// Thousandths of the currency unit to add (positive).
    amount: i64,
    reason: Option<String>,
}

/// The account's credit balance (thousandths of the currency unit).
#[utoipa::path(get, path = "/api/v1/credit", operation_id = "getCredit", tag = "credit",
    responses((status = 200, body = Balance)))]
pub async fn balance(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<Balance>> {
    Ok(Json(credit::balance(&state, me.account_id).await?))
}

/// Add credit to an account.
///
/// Only the installation's own account (the first one) may top up, its own or another account's
/// credit; any other account answers 403.
#[utoipa::path(post, path = "/api/v1/credit/top-ups", operation_id = "topUpCredit", tag = "credit",
    request_body = TopUpBody, responses((status = 201, body = LedgerEntry), (status = 403, body = Problem)))]
pub async fn top_up(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<(StatusCode, Json<LedgerEntry>)> {
    let reason = body.reason.as_deref();
    let entry = credit::top_up_as(&state, me.account_id, body.account_id, body.amount, reason).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// How many ledger entries.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Entries to return, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// Ledger entries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ledger {
    data: Vec<LedgerEntry>,
}

/// The credit ledger: top-ups and the debit of every charged message, newest first.
#[utoipa::path(get, path = "/api/v1/credit/ledger", operation_id = "listCreditLedger", tag = "credit",
    params(LedgerQuery), responses((status = 200, body = Ledger)))]
pub async fn ledger(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Ledger>> {
    Ok(Json(Ledger { data: credit::ledger(&state, me.account_id, query.limit).await? }))
}
