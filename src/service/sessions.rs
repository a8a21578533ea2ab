//! Operator sessions of the web UI: login with email and password, per-session CSRF tokens,
//! logout.

use std::net::IpAddr;

use subtle::ConstantTimeEq;

use crate::domain::time::now_ms;
use crate::error::{Error, Result};
use crate::service::auth::{self, hash_key, random_token};
use crate::service::views::Operator;
use crate::state::AppState;
use crate::store::sessions::{self, NewSession};

/// A session ends this long after login, however active.
pub const SESSION_MAX_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// A session ends after this long without a request.
pub const SESSION_IDLE_MS: i64 = 12 * 60 * 60 * 1000;
/// How long a session's "last seen" may lag, so authentication does not write on every request.
const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// A logged-in operator, as the web UI sees it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub operator: Operator,
    pub account_id: i64,
    /// Send it back as `X-CSRF-Token` on every request that changes something.
    pub csrf_token: String,
}

/// A session resolved from its cookie.
#[derive(Debug, Clone)]
pub struct ActiveSession {
    pub account_id: i64,
    pub operator_id: i64,
    pub csrf_token: String,
}

impl ActiveSession {
    /// Whether `candidate` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, candidate: &str) -> bool {
        bool::from(self.csrf_token.as_bytes().ct_eq(candidate.as_bytes()))
    }
}

/// Checks an operator's email and password (with the lockout of
/// [`auth::authenticate_operator`]) and opens a session; returns the cookie's token and the session.
pub async fn login(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(String, SessionInfo)> {
    let (account_id, operator_id) = auth::authenticate_operator(state, email, password, client).await?;
    let now = now_ms();
    let token = format!("ps_{}", random_token(40));
    let csrf_token = random_token(32);
    let mut tx = state.db.begin().await?;
    sessions::delete_expired_sessions(&mut tx, now).await?;
    let new = NewSession {
        account_id,
        operator_id,
        token_hash: &hash_key(&token),
        csrf_token: &csrf_token,
        now,
        expires_at: now + SESSION_MAX_MS,
    };
    sessions::insert_session(&mut tx, &new).await?;
    crate::service::routing::sign_in(&mut tx, account_id, operator_id, now).await?;
    tx.commit().await?;
    let operator = operator_view(state, account_id, operator_id).await?;
    Ok((token, SessionInfo { operator, account_id, csrf_token }))
}

/// Resolves a session cookie's token; expired, idle and unknown sessions are refused.
pub async fn authenticate(state: &AppState, token: &str) -> Result<ActiveSession> {
    let now = now_ms();
    let row = sessions::find_session(state.db.reader(), &hash_key(token), now).await?.ok_or(Error::Unauthorized)?;
    if now - row.last_seen_at > SESSION_IDLE_MS {
        return Err(Error::Unauthorized);
    }
    if now - row.last_seen_at > LAST_SEEN_RESOLUTION_MS {
        let id = row.id;
        auth::record_use_later(&state.db, "session activity", move |conn| {
            Box::pin(sessions::touch_session(conn, id, now))
        });
    }
    Ok(ActiveSession { account_id: row.account_id, operator_id: row.operator_id, csrf_token: row.csrf_token })
}

/// The logged-in operator and the session's CSRF token.
pub async fn describe(state: &AppState, session: &ActiveSession) -> Result<SessionInfo> {
    Ok(SessionInfo {
        operator: operator_view(state, session.account_id, session.operator_id).await?,
        account_id: session.account_id,
        csrf_token: session.csrf_token.clone(),
    })
}

/// Ends the session with this token.
pub async fn logout(state: &AppState, token: &str) -> Result<()> {
    let mut tx = state.db.begin().await?;
    sessions::delete_session(&mut tx, &hash_key(token)).await?;
    tx.commit().await?;
    Ok(())
}

async fn operator_view(state: &AppState, account_id: i64, operator_id: i64) -> Result<Operator> {
    crate::store::accounts::find_operator(state.db.reader(), account_id, operator_id)
        .await?
        .map(|row| Operator::from(&row))
        .ok_or(Error::Unauthorized)
}
