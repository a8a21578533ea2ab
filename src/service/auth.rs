//! Accounts, API keys, operators and first-start bootstrap.

use std::net::IpAddr;

use anyhow::Context;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use futures::future::BoxFuture;
use rand::distributions::{Alphanumeric, DistString};
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};

use crate::domain::principal::{Caller, Principal};
use crate::domain::time::now_ms;
use crate::domain::OperatorRole;
use crate::error::{Error, Result};
use crate::service::views::{ApiKey, Operator};
use crate::state::AppState;
use crate::store::{accounts, sessions, Conn, Db};

/// A new API key with its value, shown once.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The secret value: store it now, it is never shown again.
    pub value: String,
}

/// What first start created.
#[derive(Debug)]
pub struct Bootstrap {
    pub account_id: i64,
    pub api_key: String,
    pub admin_email: String,
    /// `None` when the password came from configuration.
    pub generated_password: Option<String>,
}

/// How long a key's "last used" date may lag, so authentication does not write on every request.
const LAST_USED_RESOLUTION_MS: i64 = 60_000;

/// The stored form of a high-entropy secret (API key, session token): its SHA-256 in hex.
pub(crate) fn hash_key(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A random alphanumeric token of `len` characters.
pub(crate) fn random_token(len: usize) -> String {
    Alphanumeric.sample_string(&mut OsRng, len)
}

/// Hashes an operator password with argon2id.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Creates an API key for the account; `value` fixes its secret (bootstrap), otherwise one is
/// generated. A key of a virtual agent (`agent_id`) writes as that agent and may only read
/// conversations, answer and escalate them.
pub async fn create_api_key(
    db: &Db,
    account_id: i64,
    name: &str,
    value: Option<&str>,
    agent_id: Option<i64>,
) -> Result<CreatedApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field("name", "must be 1 to 100 characters"));
    }
    let value = value.map(str::to_owned).unwrap_or_else(|| format!("pk_{}", random_token(40)));
    if value.len() < 16 {
        return Err(Error::field("value", "an API key must be at least 16 characters"));
    }
    let prefix: String = value.chars().take(10).collect();
    let mut tx = db.begin().await?;
    if accounts::find_account(&mut *tx, account_id).await?.is_none() {
        return Err(Error::NotFound("account"));
    }
    if let Some(agent) = agent_id {
        if crate::store::agents::find_agent(&mut *tx, account_id, agent).await?.is_none() {
            return Err(Error::field("virtual_agent_id", "no virtual agent with this id in this account"));
        }
    }
    let row = accounts::insert_api_key(&mut tx, account_id, name, &prefix, &hash_key(&value), agent_id, now_ms()).await;
    let row = match row {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Err(Error::conflict("api_key_exists", "this API key value is already in use"))
        }
        other => other?,
    };
    tx.commit().await?;
    Ok(CreatedApiKey { key: ApiKey::from(&row), value })
}

/// Resolves an API key value to its account; unknown and revoked keys are refused. A `client`
/// address that sent too many wrong keys or passwords is refused before the key is looked up.
pub async fn authenticate(state: &AppState, value: &str, client: Option<IpAddr>) -> Result<Principal> {
    let now = now_ms();
    state.auth_failures.check(client, now)?;
    let row = accounts::find_api_key_by_hash(state.db.reader(), &hash_key(value)).await?;
    let Some(row) = row.filter(|row| row.revoked_at.is_none()) else {
        state.auth_failures.record(client, now);
        return Err(Error::Unauthorized);
    };
    if row.last_used_at.is_none_or(|at| now - at > LAST_USED_RESOLUTION_MS) {
        let id = row.id;
        record_use_later(&state.db, "API key use", move |conn| Box::pin(accounts::touch_api_key(conn, id, now)));
    }
    Ok(Principal { account_id: row.account_id, caller: Caller::ApiKey(row.id), virtual_agent_id: row.agent_id })
}

/// Writes that a credential was used in its own transaction, off the request's path, so that
/// authentication does not wait on the writer; a failure is only logged.
pub(crate) fn record_use_later<F>(db: &Db, what: &'static str, write: F)
where
    F: for<'c> FnOnce(&'c mut Conn) -> BoxFuture<'c, sqlx::Result<()>> + Send + 'static,
{
    let db = db.clone();
    tokio::spawn(async move {
        let recorded = async {
            let mut tx = db.begin().await?;
            write(&mut tx).await?;
            tx.commit().await
        };
        if let Err(e) = recorded.await {
            tracing::warn!(error = %e, "could not record {what}");
        }
    });
}

/// Failed password checks of one email that lock it.
pub const MAX_LOGIN_FAILURES: i64 = 5;
/// The window in which failures add up, and how long a lock lasts.
pub const LOGIN_LOCKOUT_MS: i64 = 15 * 60 * 1000;

/// A well-formed argon2 hash of no one's password, checked when an email is unknown so that the
/// answer takes as long as for a known one.
const UNKNOWN_OPERATOR_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$4pQW0v3CGkB9yPiSsW2wq4PY0oWztGz3NnJq5dnXeuI";

/// Resolves an operator's email and password (the web UI's login, HTTP Basic on the seed platform's
/// API) to the operator's account and id. Each attempt is counted before the password is checked,
/// so that however many arrive at once, at most five per email are checked in 15 minutes; five
/// failures lock the email for 15 minutes, whether or not it exists, and a locked email is refused
/// even with the right password. Failures also count against the `client` address.
pub async fn authenticate_operator(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<(i64, i64)> {
    let now = now_ms();
    state.auth_failures.check(client, now)?;
    let email = email.trim().to_lowercase();
    if email.is_empty() || password.is_empty() || email.contains('\0') {
        state.auth_failures.record(client, now);
        return Err(Error::InvalidCredentials);
    }
    let attempt = count_login_attempt(state, &email, now).await?;
    let rows = accounts::find_operators_by_email(state.db.reader(), &email).await?;
    let password = password.to_owned();
    let verified = tokio::task::spawn_blocking(move || {
        let matches = |hash: &str| {
            PasswordHash::new(hash)
                .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
        };
        if rows.is_empty() {
            matches(UNKNOWN_OPERATOR_HASH);
            return None;
        }
        rows.into_iter().find(|row| matches(&row.password_hash))
    })
    .await
    .map_err(|e| anyhow::anyhow!("verifying a password: {e}"))?;
    let outcome = if verified.is_some() { "accepted" } else { "rejected" };
    metrics::counter!("parley_password_checks_total", "outcome" => outcome).increment(1);
    let Some(row) = verified else {
        state.auth_failures.record(client, now);
        if attempt < MAX_LOGIN_FAILURES {
            return Err(Error::InvalidCredentials);
        }
        let mut tx = state.db.begin().await?;
        sessions::lock_login(&mut tx, &email, now + LOGIN_LOCKOUT_MS).await?;
        tx.commit().await?;
        tracing::warn!(failures = MAX_LOGIN_FAILURES, "operator login locked after repeated failures");
        return Err(Error::LoginLocked(seconds_until(now + LOGIN_LOCKOUT_MS, now)));
    };
    let mut tx = state.db.begin().await?;
    sessions::clear_login_failures(&mut tx, &email).await?;
    tx.commit().await?;
    Ok((row.account_id, row.id))
}

/// Counts a login attempt for an email before its password is checked; answers which attempt of
/// the window it is, or refuses it when the email is locked or already has five attempts there.
async fn count_login_attempt(state: &AppState, email: &str, now: i64) -> Result<i64> {
    let mut tx = state.db.begin().await?;
    let counted = sessions::record_login_attempt(&mut tx, email, now, now - LOGIN_LOCKOUT_MS).await?;
    tx.commit().await?;
    let locked_until = match counted.locked_until.filter(|until| *until > now) {
        Some(until) => until,
        None if counted.failures > MAX_LOGIN_FAILURES => counted.window_started_at + LOGIN_LOCKOUT_MS,
        None => return Ok(counted.failures),
    };
    metrics::counter!("parley_login_attempts_refused_total").increment(1);
    Err(Error::LoginLocked(seconds_until(locked_until, now)))
}

fn seconds_until(until: i64, now: i64) -> u64 {
    u64::try_from((until - now + 999) / 1000).unwrap_or(1).max(1)
}

/// The account's API keys.
pub async fn list_api_keys(db: &Db, account_id: i64) -> Result<Vec<ApiKey>> {
    Ok(accounts::list_api_keys(db.reader(), account_id).await?.iter().map(ApiKey::from).collect())
}

/// Revokes one of the account's keys.
pub async fn revoke_api_key(db: &Db, account_id: i64, id: i64) -> Result<ApiKey> {
    let mut tx = db.begin().await?;
    let row = accounts::revoke_api_key(&mut tx, account_id, id, now_ms()).await?.ok_or(Error::NotFound("API key"))?;
    tx.commit().await?;
    Ok(ApiKey::from(&row))
}

/// The account's operators.
pub async fn list_operators(db: &Db, account_id: i64) -> Result<Vec<Operator>> {
    Ok(accounts::list_operators(db.reader(), account_id).await?.iter().map(Operator::from).collect())
}

/// Creates an account with its first admin API key; returns the account id and the key.
pub async fn create_account(db: &Db, name: &str, key_value: Option<&str>) -> Result<(i64, CreatedApiKey)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::field("name", "must not be empty"));
    }
    let mut tx = db.begin().await?;
    let account_id = accounts::insert_account(&mut tx, name, now_ms()).await?;
    tx.commit().await?;
    let key = create_api_key(db, account_id, "admin", key_value, None).await?;
    Ok((account_id, key))
}

/// On an empty database, creates the default account, its admin operator and admin API key.
pub async fn bootstrap(db: &Db, config: &crate::config::Config) -> anyhow::Result<Option<Bootstrap>> {
    if accounts::count_accounts(db.reader()).await? > 0 {
        return Ok(None);
    }
    let (account_id, key) = create_account(db, "Default", config.bootstrap_api_key.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("creating the default account: {e}"))?;
    let email = config.bootstrap_admin_email.clone().unwrap_or_else(|| "admin@parley.local".to_owned());
    let (password, generated_password) = match &config.bootstrap_admin_password {
        Some(password) => (password.clone(), None),
        None => {
            let password = random_token(20);
            (password.clone(), Some(password))
        }
    };
    let mut tx = db.begin().await?;
    accounts::insert_operator(
        &mut tx,
        account_id,
        "Administrator",
        &email,
        &hash_password(&password)?,
        OperatorRole::Admin.as_str(),
        now_ms(),
    )
    .await
    .context("creating the admin operator")?;
    tx.commit().await?;
    Ok(Some(Bootstrap { account_id, api_key: key.value, admin_email: email, generated_password }))
}

/// The installation's secret for signing links, created on first use.
pub async fn installation_secret(db: &Db) -> anyhow::Result<Vec<u8>> {
    if let Some(value) = accounts::find_setting(db.reader(), "signing_key").await? {
        return hex::decode(value).context("stored signing key is not hex");
    }
    let mut candidate = [0u8; 32];
    rand::RngCore::fill_bytes(&mut OsRng, &mut candidate);
    let mut tx = db.begin().await?;
    let value = accounts::insert_setting_if_absent(&mut tx, "signing_key", &hex::encode(candidate)).await?;
    tx.commit().await?;
    hex::decode(value).context("stored signing key is not hex")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unknown_operator_hash_is_checked_at_full_cost() {
        let hash = PasswordHash::new(UNKNOWN_OPERATOR_HASH).expect("a valid PHC string");
        assert_eq!(hash.algorithm.as_str(), "argon2id");
        let current = hash_password("anything").expect("hash");
        let current = PasswordHash::new(&current).expect("current hash");
        assert_eq!(hash.params, current.params, "same parameters as real operators' hashes");
        assert!(Argon2::default().verify_password(b"", &hash).is_err());
    }
}
