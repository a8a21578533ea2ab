//! Channels: the business's numbers, pages and addresses.

use serde_json::{Map, Value};

use crate::channels::{adapter, Channel as Adapter};
use crate::domain::time::now_ms;
use crate::domain::{ChannelKind, SurveySend};
use crate::error::{Error, Result};
use crate::service::contacts::normalize_address;
use crate::service::views::Channel;
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow, ChannelUpdate, NewChannel};
use crate::store::Tx;

/// A channel as a request describes it.
#[derive(Debug, Clone, Default)]
pub struct ChannelInput {
    pub kind: Option<String>,
    pub name: Option<String>,
    pub address: Option<String>,
    pub simulation: Option<bool>,
    /// Provider settings (tokens, secrets, ids): stored, never returned. On update the given
    /// keys replace the stored ones and `null` removes a key.
    pub settings: Option<Value>,
    /// When a survey goes out by itself.
    pub survey_send: Option<SurveySend>,
    /// Which survey (`Some(None)`: the account's first).
    pub survey_id: Option<Option<i64>>,
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

fn check_settings(settings: Option<Value>) -> Result<Option<Map<String, Value>>> {
    match settings {
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(Value::Null) | None => Ok(None),
        Some(_) => Err(Error::field("settings", "must be an object")),
    }
}

/// Checks the provider settings a channel of `kind` will have; a live channel (not in
/// simulation) must have everything its provider needs. Returns the settings as stored and the
/// provider key derived from them.
fn provider_settings(
    kind: ChannelKind,
    settings: &Map<String, Value>,
    simulation: bool,
) -> Result<(String, Option<String>)> {
    let adapter = adapter(kind).ok_or_else(|| anyhow::anyhow!("no adapter for {kind}"))?;
    let key = adapter.check_settings(settings, !simulation).map_err(Error::fields)?;
    Ok((Value::Object(settings.clone()).to_string(), key))
}

/// Settings after an update: the given keys replace the stored ones, `null` removes a key.
fn merge_settings(stored: &str, patch: Map<String, Value>) -> Map<String, Value> {
    let mut settings = match serde_json::from_str(stored) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            settings.remove(&key);
        } else {
            settings.insert(key, value);
        }
    }
    settings
}

/// Turns a clash on the provider key index into a conflict the caller can act on.
fn provider_key_taken(kind: ChannelKind, key: Option<&str>) -> impl FnOnce(sqlx::Error) -> Error + '_ {
    move |error| match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => Error::conflict(
            "provider_id_taken",
            format!(
                "another {kind} channel already uses the provider id `{}`; each provider id routes to one channel",
                key.unwrap_or_default()
            ),
        ),
        _ => Error::Database(error),
    }
}

/// A live (non-simulation) channel, by id whatever its account, with its network's adapter; `None`
/// when it is gone, simulated, or of a network Parley does not connect to (for jobs).
pub async fn live_adapter(state: &AppState, channel_id: i64) -> Result<Option<(ChannelRow, &'static dyn Adapter)>> {
    let Some(channel) = channels::find_channel_any(state.db.reader(), channel_id).await? else { return Ok(None) };
    let adapter = ChannelKind::parse(&channel.kind).and_then(adapter);
    Ok(adapter.filter(|_| channel.simulation == 0).map(|adapter| (channel, adapter)))
}

/// Adds a channel.
pub async fn create(state: &AppState, account_id: i64, input: ChannelInput) -> Result<Channel> {
    let kind = parse_kind(input.kind.as_deref().ok_or_else(|| Error::field("kind", "is required"))?)?;
    let name = check_name(input.name.as_deref().ok_or_else(|| Error::field("name", "is required"))?)?;
    let address = input.address.as_deref().ok_or_else(|| Error::field("address", "is required"))?;
    let address = normalize_address(kind, address).map_err(|problem| Error::field("address", problem))?;
    let simulation = input.simulation.unwrap_or(false);
    let settings = check_settings(input.settings)?.unwrap_or_default();
    let (settings, provider_key) = provider_settings(kind, &settings, simulation)?;
    let new = NewChannel {
        kind: kind.as_str(),
        address: &address,
        name: &name,
        simulation,
        settings: &settings,
        provider_key: provider_key.as_deref(),
    };
    let mut tx = state.db.begin().await?;
    let mut row = channels::insert_channel(&mut tx, account_id, &new, now_ms())
        .await
        .map_err(provider_key_taken(kind, provider_key.as_deref()))?;
    if let Some(changed) = survey_settings(&mut tx, &row, input.survey_send, input.survey_id).await? {
        row = changed;
    }
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

/// Changes a channel's name, address, simulation flag or settings (its kind is fixed). Given
/// settings keys replace the stored ones (`null` removes one); the channel as it will be must
/// still have what its provider needs.
pub async fn update(state: &AppState, account_id: i64, id: i64, input: ChannelInput) -> Result<Channel> {
    let mut tx = state.db.begin().await?;
    let current = channels::find_channel(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("channel"))?;
    if input.kind.as_deref().is_some_and(|kind| kind != current.kind) {
        return Err(Error::field("kind", "a channel's kind cannot change"));
    }
    let kind = parse_kind(&current.kind)?;
    let name = input.name.as_deref().map(check_name).transpose()?;
    let address = input
        .address
        .as_deref()
        .map(|a| normalize_address(kind, a).map_err(|problem| Error::field("address", problem)))
        .transpose()?;
    let patch = check_settings(input.settings)?;
    let simulation = input.simulation.unwrap_or(current.simulation != 0);
    // Settings are checked whenever they or the simulation flag change: going live needs them.
    let settings = match (&patch, input.simulation) {
        (None, None) => None,
        _ => Some(provider_settings(kind, &merge_settings(&current.settings, patch.unwrap_or_default()), simulation)?),
    };
    let provider_key = settings.as_ref().and_then(|(_, key)| key.clone());
    let update = ChannelUpdate { name, address, simulation: input.simulation, settings };
    let mut row = channels::update_channel(&mut tx, account_id, id, &update, now_ms())
        .await
        .map_err(provider_key_taken(kind, provider_key.as_deref()))?
        .ok_or(Error::NotFound("channel"))?;
    if let Some(changed) = survey_settings(&mut tx, &row, input.survey_send, input.survey_id).await? {
        row = changed;
    }
    tx.commit().await?;
    Ok(Channel::from(&row))
}

/// Applies a change to when the channel sends a survey and which; the channel as changed, `None`
/// when nothing was asked.
async fn survey_settings(
    tx: &mut Tx,
    row: &ChannelRow,
    send: Option<SurveySend>,
    survey_id: Option<Option<i64>>,
) -> Result<Option<ChannelRow>> {
    if send.is_none() && survey_id.is_none() {
        return Ok(None);
    }
    let survey_id = survey_id.unwrap_or(row.survey_id);
    if let Some(id) = survey_id {
        if crate::store::surveys::find_survey(&mut **tx, row.account_id, id).await?.is_none() {
            return Err(Error::field("survey_id", "no survey with this id in this account"));
        }
    }
    let send = send.map_or(row.survey_send.clone(), |send| send.as_str().to_owned());
    channels::set_survey(tx, row.id, &send, survey_id, now_ms()).await?;
    Ok(Some(ChannelRow { survey_send: send, survey_id, ..row.clone() }))
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

/// The account's channel of `kind` that `reference` names: its id, provider key (WhatsApp phone
/// number id), address or name. Without a reference, the account's only channel of that kind.
pub async fn find_sender(state: &AppState, account_id: i64, kind: &str, reference: Option<&str>) -> Result<i64> {
    let candidates: Vec<_> = channels::list_channels(state.db.reader(), account_id)
        .await?
        .into_iter()
        .filter(|channel| channel.kind == kind)
        .collect();
    let found = match reference.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reference) => candidates.iter().find(|channel| {
            channel.id.to_string() == reference
                || channel.provider_key.as_deref() == Some(reference)
                || channel.address == reference
                || crate::domain::normalize_e164(reference).is_some_and(|phone| phone == channel.address)
                || channel.name == reference
        }),
        None if candidates.len() == 1 => candidates.first(),
        None => None,
    };
    found.map(|channel| channel.id).ok_or(Error::NotFound("sender channel"))
}
