//! Credit: a balance per account and a ledger of every debit and credit.
//!
//! Amounts are integers in thousandths of the currency unit (`1000` = 1.000 EUR), so prices like
//! 0.045 EUR per SMS are exact. An outbound message on a channel kind with a configured price
//! (`--credit-prices`; SMS per part) reserves it in the transaction that queues it (the account's
//! frozen credit); the reservation is debited when the provider accepts the message and released
//! when it fails first; a message that fails after it was debited is refunded. Simulated messages
//! and private notes cost nothing. Kinds without a price are free and never refused for credit,
//! so an installation that configures no prices never enforces credit.

use serde::Serialize;

use crate::domain::time::{now_ms, to_rfc3339};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::credit::{self, LedgerRow};
use crate::store::{accounts, Conn};

/// An account's credit: `available = credit - frozen`.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct Balance {
    pub credit: i64,
    pub frozen: i64,
    pub available: i64,
}

/// One ledger entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LedgerEntry {
    pub id: i64,
    /// Positive for a top-up, negative for a debit.
    pub amount: i64,
    pub balance_after: i64,
    pub reason: String,
    pub message_id: Option<i64>,
    pub created_at: String,
}

impl From<LedgerRow> for LedgerEntry {
    fn from(row: LedgerRow) -> Self {
        LedgerEntry {
            id: row.id,
            amount: row.amount,
            balance_after: row.balance_after,
            reason: row.reason,
            message_id: row.message_id,
            created_at: to_rfc3339(row.created_at),
        }
    }
}

/// The account's balance.
pub async fn balance(state: &AppState, account_id: i64) -> Result<Balance> {
    let (credit, frozen) = credit::balance(state.db.reader(), account_id).await?;
    Ok(Balance { credit, frozen, available: credit - frozen })
}

/// Adds credit on behalf of `caller`: only keys of the installation's first account (the one
/// created on first start, which runs the installation) may top up, any account (`target`, their
/// own when absent); other accounts cannot give themselves credit.
pub async fn top_up_as(
    state: &AppState,
    caller: i64,
    target: Option<i64>,
    amount: i64,
    reason: Option<&str>,
) -> Result<LedgerEntry> {
    if accounts::first_account_id(state.db.reader()).await? != Some(caller) {
        return Err(Error::Forbidden {
            code: "installation_admin_only",
            detail: "credit is topped up by the installation's own account (or `parley credit top-up`)".to_owned(),
        });
    }
    let target = target.unwrap_or(caller);
    if accounts::find_account(state.db.reader(), target).await?.is_none() {
        return Err(Error::field("account_id", "no such account"));
    }
    top_up(state, target, amount, reason).await
}

/// Adds credit to an account; answers with the ledger entry.
pub async fn top_up(state: &AppState, account_id: i64, amount: i64, reason: Option<&str>) -> Result<LedgerEntry> {
    if amount <= 0 {
        return Err(Error::field("amount", "must be a positive number of thousandths"));
    }
    let reason = reason.map(str::trim).filter(|r| !r.is_empty()).unwrap_or("top-up");
    if reason.chars().count() > 255 {
        return Err(Error::field("reason", "must be at most 255 characters"));
    }
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    let after = credit::add(&mut tx, account_id, amount, now).await?;
    let row = credit::insert_entry(&mut tx, account_id, amount, after, reason, None, now).await?;
    tx.commit().await?;
    Ok(row.into())
}

/// The newest ledger entries.
pub async fn ledger(state: &AppState, account_id: i64, limit: Option<i64>) -> Result<Vec<LedgerEntry>> {
    let limit = limit.unwrap_or(100).clamp(1, 1000);
    Ok(credit::list_entries(state.db.reader(), account_id, limit).await?.into_iter().map(Into::into).collect())
}

/// The price of a message on a channel of `kind`, when that kind is charged.
pub fn price(state: &AppState, kind: &str) -> Option<i64> {
    state.config.message_price(kind).filter(|price| *price > 0)
}

/// Reserves `price` for message `message_id` inside the transaction that queues it.
pub async fn reserve(conn: &mut Conn, account_id: i64, price: i64, message_id: i64) -> Result<()> {
    match credit::reserve(conn, account_id, message_id, price, now_ms()).await? {
        true => Ok(()),
        false => {
            let (balance, frozen) = credit::balance(&mut *conn, account_id).await?;
            Err(insufficient(balance - frozen, price))
        }
    }
}

/// Debits a message's reservation: the provider accepted it.
pub async fn settle(conn: &mut Conn, message_id: i64) -> Result<()> {
    let now = now_ms();
    if let Some((account_id, amount, after)) = credit::end_reservation(conn, message_id, true, now).await? {
        credit::insert_entry(conn, account_id, -amount, after, "message", Some(message_id), now).await?;
    }
    Ok(())
}

/// Releases a message's reservation, or refunds what it was debited: it failed (or was canceled).
pub async fn release_or_refund(conn: &mut Conn, account_id: i64, message_id: i64) -> Result<()> {
    if credit::end_reservation(conn, message_id, false, now_ms()).await?.is_none() {
        refund_failed(conn, account_id, message_id).await?;
    }
    Ok(())
}

/// Gives back what a message that failed was debited, in the transaction that fails it.
async fn refund_failed(conn: &mut Conn, account_id: i64, message_id: i64) -> Result<()> {
    let charged = -credit::message_charge(&mut *conn, message_id).await?;
    if charged > 0 {
        let now = now_ms();
        let after = credit::add(conn, account_id, charged, now).await?;
        credit::insert_entry(conn, account_id, charged, after, "refund: the message failed", Some(message_id), now)
            .await?;
    }
    Ok(())
}

fn insufficient(available: i64, price: i64) -> Error {
    Error::InsufficientCredit(format!(
        "insufficient credit: the message costs {price} thousandths and {available} are available; top up the account"
    ))
}
