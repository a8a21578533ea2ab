//! Channels: the business's numbers, pages and addresses.

use serde_json::Value;

use crate::app::AppState;
use crate::domain::time::now_ms;
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::service::contacts::normalize_address;
use crate::service::views::Channel;
use crate::store::channels::{self, ChannelUpdate, NewChannel};

/// A channel as a request describes it.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub simulation: Option<bool>,
    /// Provider settings (tokens, secrets, ids): stored, never returned.
    pub settings: Option<Value>,
}

fn parse_kind(kind: &str) -> Result<ChannelKind> {
    ChannelKind::parse(kind).ok_or_else(|| {
        Error::field("kind", format!("unknown channel kind `{kind}`; use one of {}", ChannelKind::accepted()))
    })
}

fn check_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

fn check_settings(settings: Option<Value>) -> Result<Option<String>> {
    match settings {
        Some(Value::Object(map)) => Ok(Some(Value::Object(map).to_string())),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(Error::field("settings", "must be an object")),
    }
}

/// Adds a channel.
pub async fn create(state: &AppState, account_id: i64, input: ChannelInput) -> Result<Channel> {
    let kind = parse_kind(input.kind.as_deref().ok_or_else(|| Error::field("kind", "is required"))?)?;
    let name = check_name(input.name.as_deref().ok_or_else(|| Error::field("name", "is required"))?)?;
    let address = input.address.as_deref().ok_or_else(|| Error::field("address", "is required"))?;
    let address = normalize_address(kind, address).map_err(|problem| Error::field("address", problem))?;
    let settings = check_settings(input.settings)?.unwrap_or_else(|| "{}".to_owned());
    let new = NewChannel {
        kind: kind.as_str(),
        address: &address,
        name: &name,
        simulation: input.simulation.unwrap_or(false),
        settings: &settings,
    };
    let mut tx = state.db.begin().await?;
    let row = channels::insert_channel(&mut tx, account_id, &new, now_ms()).await?;
    tx.commit().await?;
    Ok(Channel::from(&row))
}

/// One channel.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Channel> {
    let row = channels::find_channel(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("channel"))?;
    Ok(Channel::from(&row))
}

/// The account's channels.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<Channel>> {
    Ok(channels::list_channels(state.db.reader(), account_id).await?.iter().map(Channel::from).collect())
}

/// Changes a channel's name, address, simulation flag or settings (its kind is fixed).
pub async fn update(state: &AppState, account_id: i64, id: i64, input: ChannelInput) -> Result<Channel> {
    let current = channels::find_channel(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("channel"))?;
    if input.kind.as_deref().is_some_and(|kind| kind != current.kind) {
        return Err(Error::field("kind", "a channel's kind cannot change"));
    }
    let kind = parse_kind(&current.kind)?;
    let update = ChannelUpdate {
        name: input.name.as_deref().map(check_name).transpose()?,
        address: input
            .address
            .as_deref()
            .map(|a| normalize_address(kind, a).map_err(|problem| Error::field("address", problem)))
            .transpose()?,
        simulation: input.simulation,
        settings: check_settings(input.settings)?,
    };
    let mut tx = state.db.begin().await?;
    let row = channels::update_channel(&mut tx, account_id, id, &update, now_ms())
        .await?
        .ok_or(Error::NotFound("channel"))?;
    tx.commit().await?;
    Ok(Channel::from(&row))
}

/// Removes a channel; its conversations stay readable, new messages on it are refused.
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !channels::delete_channel(&mut tx, account_id, id, now_ms()).await? {
        return Err(Error::NotFound("channel"));
    }
    tx.commit().await?;
    Ok(())
}
