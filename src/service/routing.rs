//! Routing conversations to people: who a new conversation starts with, teams (queues) and their
//! members, operator availability and capacity, and round-robin assignment of waiting
//! conversations to the online member of the team with room, the one assigned longest ago first.

use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{Availability, EscalationStatus};
use crate::error::{Error, Result};
use crate::service::conversations::record_changes;
use crate::service::views::Conversation;
use crate::state::AppState;
use crate::store::channels::ChannelRow;
use crate::store::conversations::{self, ConversationState, Ownership};
use crate::store::jobs::JobRow;
use crate::store::teams::{self, OperatorPresence, TeamRow};
use crate::store::{accounts, agents, channels, escalations, jobs, Conn};

/// Job kind that assigns a team's waiting conversations to its free members.
pub const ROUTE_JOB: &str = "route_conversations";

/// How many waiting conversations one routing round assigns at most.
const ROUND: usize = 100;

/// Who a new conversation on `channel` starts with: the channel's virtual agent when it answers
/// first (customers only), otherwise people: waiting in the channel's team queue, which a job
/// routes at once.
pub async fn first_owner(conn: &mut Conn, channel: &ChannelRow, outbound: bool, now: i64) -> Result<Ownership> {
    if outbound {
        return Ok(Ownership { team_id: channel.team_id, ..Ownership::default() });
    }
    if let Some((agent_id, true)) = agents::channel_agent(&mut *conn, channel.id).await? {
        return Ok(Ownership { virtual_agent_id: Some(agent_id), team_id: channel.team_id, waiting_since: None });
    }
    if let Some(team_id) = channel.team_id {
        queue_routing(conn, channel.account_id, team_id, now).await?;
    }
    Ok(Ownership { virtual_agent_id: None, team_id: channel.team_id, waiting_since: Some(now) })
}

/// Queues a routing round for a team (after the caller's transaction commits, a job assigns).
pub async fn queue_routing(conn: &mut Conn, account_id: i64, team_id: i64, now: i64) -> Result<()> {
    let payload = json!({ "account_id": account_id, "team_id": team_id }).to_string();
    jobs::insert_job(conn, ROUTE_JOB, &payload, now, now).await?;
    Ok(())
}

/// Assigns the team's waiting conversations, oldest first, to free online members in turn, in
/// the caller's transaction; each assignment records `conversation.updated` and
/// `conversation.assigned`, and an escalation waiting for a person becomes `escalated`.
/// Returns how many were assigned.
pub async fn route_team(conn: &mut Conn, team_id: i64, now: i64) -> Result<usize> {
    let mut assigned = 0;
    for (account_id, conversation_id) in teams::waiting_conversations(conn, team_id, ROUND as i64).await? {
        let Some(operator_id) = teams::next_member(conn, team_id, now).await? else { break };
        let Some(before) = conversations::find_conversation(&mut *conn, account_id, conversation_id).await? else {
            continue;
        };
        if !conversations::assign_waiting(conn, conversation_id, operator_id, now).await? {
            continue;
        }
        // Later assignments of the round go after earlier ones in the turn order.
        teams::mark_assigned(conn, team_id, operator_id, now + assigned as i64).await?;
        if let Some(escalation) = escalations::latest_escalation(&mut *conn, conversation_id).await? {
            if escalation.status == EscalationStatus::Escalating.as_str() {
                let status = EscalationStatus::Escalated.as_str();
                escalations::update_escalation(conn, escalation.id, status, None, now).await?;
            }
        }
        let after = conversations::find_conversation(&mut *conn, account_id, conversation_id)
            .await?
            .ok_or(Error::NotFound("conversation"))?;
        record_changes(conn, account_id, &ConversationState::from(&before), &Conversation::from(&after), now).await?;
        assigned += 1;
    }
    Ok(assigned)
}

/// Runs a queued routing round and removes its job in the same transaction.
pub async fn run_job(state: &AppState, row: &JobRow) -> Result<()> {
    let job: RouteJob =
        serde_json::from_str(&row.payload).map_err(|e| anyhow::anyhow!("malformed {ROUTE_JOB} job: {e}"))?;
    let mut tx = state.db.begin().await?;
    let assigned = route_team(&mut tx, job.team_id, now_ms()).await?;
    jobs::delete_job(&mut tx, row.id).await?;
    tx.commit().await?;
    if assigned > 0 {
        state.events.notify(job.account_id);
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct RouteJob {
    account_id: i64,
    team_id: i64,
}

/// A team: the operators who take the conversations of its channels.
#[derive(Debug, Serialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// Members, by operator id.
    pub operator_ids: Vec<i64>,
    /// Channels whose conversations wait in this team's queue.
    pub channel_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// A team to create, or the changes to one (`None` leaves a field as it is).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamFields {
    pub name: Option<String>,
    /// Replaces the members.
    pub operator_ids: Option<Vec<i64>>,
    /// Replaces the team's channels (a channel belongs to one team).
    pub channel_ids: Option<Vec<i64>>,
}

fn team_view(row: &TeamRow, members: &[(i64, i64)], channels: &[(i64, i64)]) -> Team {
    Team {
        id: row.id,
        name: row.name.clone(),
        operator_ids: members.iter().filter(|(team, _)| *team == row.id).map(|(_, op)| *op).collect(),
        channel_ids: channels.iter().filter(|(team, _)| *team == row.id).map(|(_, ch)| *ch).collect(),
        created_at: to_rfc3339(row.created_at),
        updated_at: to_rfc3339(row.updated_at),
    }
}

/// The account's teams.
pub async fn list_teams(state: &AppState, account_id: i64) -> Result<Vec<Team>> {
    let rows = teams::list_teams(state.db.reader(), account_id).await?;
    let members = teams::list_members(state.db.reader(), account_id).await?;
    let channels = teams::list_team_channels(state.db.reader(), account_id).await?;
    Ok(rows.iter().map(|row| team_view(row, &members, &channels)).collect())
}

/// One team of the account.
pub async fn get_team(state: &AppState, account_id: i64, id: i64) -> Result<Team> {
    list_teams(state, account_id).await?.into_iter().find(|team| team.id == id).ok_or(Error::NotFound("team"))
}

fn team_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(Error::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_owned())
}

/// Creates a team.
pub async fn create_team(state: &AppState, account_id: i64, fields: TeamFields) -> Result<Team> {
    let name = team_name(fields.name.as_deref().ok_or_else(|| Error::field("name", "is required"))?)?;
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    let row = teams::insert_team(&mut tx, account_id, &name, now).await?;
    apply_team_fields(&mut tx, account_id, row.id, &fields, now).await?;
    tx.commit().await?;
    get_team(state, account_id, row.id).await
}

/// Changes a team; new members or channels start a routing round.
pub async fn update_team(state: &AppState, account_id: i64, id: i64, fields: TeamFields) -> Result<Team> {
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    if teams::find_team(&mut *tx, account_id, id).await?.is_none() {
        return Err(Error::NotFound("team"));
    }
    if let Some(name) = &fields.name {
        teams::rename_team(&mut tx, account_id, id, &team_name(name)?, now).await?;
    }
    apply_team_fields(&mut tx, account_id, id, &fields, now).await?;
    tx.commit().await?;
    get_team(state, account_id, id).await
}

async fn apply_team_fields(conn: &mut Conn, account_id: i64, id: i64, fields: &TeamFields, now: i64) -> Result<()> {
    if let Some(operators) = &fields.operator_ids {
        for operator in operators {
            if accounts::find_operator(&mut *conn, account_id, *operator).await?.is_none() {
                return Err(Error::field("operator_ids", format!("no operator {operator} in this account")));
            }
        }
        teams::replace_members(conn, account_id, id, operators).await?;
    }
    if let Some(list) = &fields.channel_ids {
        for channel in list {
            if channels::find_channel(&mut *conn, account_id, *channel).await?.is_none() {
                return Err(Error::field("channel_ids", format!("no channel {channel} in this account")));
            }
        }
        teams::replace_channels(conn, account_id, id, list).await?;
    }
    if fields.operator_ids.is_some() || fields.channel_ids.is_some() {
        queue_routing(conn, account_id, id, now).await?;
    }
    Ok(())
}

/// Deletes a team: its channels and conversations keep no team.
pub async fn delete_team(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !teams::delete_team(&mut tx, account_id, id).await? {
        return Err(Error::NotFound("team"));
    }
    tx.commit().await?;
    Ok(())
}

/// Signing in: an operator who was offline becomes online, and their teams' queues are routed.
pub async fn sign_in(conn: &mut Conn, account_id: i64, operator_id: i64, now: i64) -> Result<()> {
    teams::online_at_sign_in(conn, operator_id).await?;
    for team_id in teams::operator_teams(&mut *conn, operator_id).await? {
        queue_routing(conn, account_id, team_id, now).await?;
    }
    Ok(())
}

/// An operator's availability as routing sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Presence {
    pub operator_id: i64,
    pub name: String,
    /// online, away or offline (offline whenever the operator has no live session).
    pub availability: Availability,
    /// The most open conversations routing gives them.
    pub capacity: i64,
    /// Open and pending conversations assigned to them now.
    pub open_conversations: i64,
}

impl From<OperatorPresence> for Presence {
    fn from(row: OperatorPresence) -> Self {
        Presence {
            operator_id: row.id,
            name: row.name,
            availability: Availability::parse(&row.availability).unwrap_or(Availability::Offline),
            capacity: row.capacity,
            open_conversations: row.open_conversations,
        }
    }
}

/// The account's operators and their availability.
pub async fn list_presence(state: &AppState, account_id: i64) -> Result<Vec<Presence>> {
    let rows = teams::list_presence(state.db.reader(), account_id, now_ms()).await?;
    Ok(rows.into_iter().map(Presence::from).collect())
}

/// Sets an operator's availability and capacity; becoming online or gaining room starts a
/// routing round in each of their teams.
pub async fn set_presence(
    state: &AppState,
    account_id: i64,
    operator_id: i64,
    availability: Option<Availability>,
    capacity: Option<i64>,
) -> Result<Presence> {
    if capacity.is_some_and(|c| !(0..=1000).contains(&c)) {
        return Err(Error::field("capacity", "must be 0 to 1000"));
    }
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    if !teams::set_presence(&mut tx, account_id, operator_id, availability.map(Availability::as_str), capacity).await? {
        return Err(Error::NotFound("operator"));
    }
    for team_id in teams::operator_teams(&mut *tx, operator_id).await? {
        route_team(&mut tx, team_id, now).await?;
    }
    let presence =
        teams::find_presence(&mut *tx, account_id, operator_id, now).await?.ok_or(Error::NotFound("operator"))?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(Presence::from(presence))
}
