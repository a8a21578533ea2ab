//! `/api/v1/credit`: the account's balance, top-ups and ledger (amounts in thousandths of the
//! currency unit).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::Result;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::service::auth::Principal;
use crate::service::credit::{self, Balance, LedgerEntry};

/// A top-up.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopUpBody {
    /// The account to credit (default: the caller's own).
    account_id: Option<i64>,
    /// Thousandths of the currency unit to add (positive).
    amount: i64,
    reason: Option<String>,
}

/// The account's balance.
pub async fn balance(State(state): State<AppState>, Extension(me): Extension<Principal>) -> Result<Json<Balance>> {
    Ok(Json(credit::balance(&state, me.account_id).await?))
}

/// Adds credit to an account; only the installation's own account (the first one) may.
pub async fn top_up(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<TopUpBody>,
) -> Result<(StatusCode, Json<LedgerEntry>)> {
    let reason = body.reason.as_deref();
    let entry = credit::top_up_as(&state, me.account_id, body.account_id, body.amount, reason).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

#[derive(Debug, Deserialize)]
pub struct LedgerQuery {
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct Ledger {
    data: Vec<LedgerEntry>,
}

/// The newest ledger entries, newest first.
pub async fn ledger(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(query): ApiQuery<LedgerQuery>,
) -> Result<Json<Ledger>> {
    Ok(Json(Ledger { data: credit::ledger(&state, me.account_id, query.limit).await? }))
}
