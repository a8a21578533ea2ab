//! Ownership of conversations between virtual agents and people: escalations (the CCAI
//! Platform's statuses and reason codes), operators taking over, and handing back to the agent.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::agents::{answer_language, HandoffRules};
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{EscalationReason, EscalationStatus, Handler};
use crate::error::{Error, Result};
use crate::service::conversations::record_changes;
use crate::service::events::{self, kind};
use crate::service::outbound::{self, Outgoing};
use crate::service::routing;
use crate::service::views::Conversation;
use crate::state::AppState;
use crate::store::agents::AgentRow;
use crate::store::conversations::{self, ConversationRow, ConversationState};
use crate::store::escalations::{self, EscalationRow, NewEscalation};
use crate::store::{agents, channels, messages, Conn};

/// An escalation: a conversation going from its virtual agent to people.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Escalation {
    pub id: i64,
    pub conversation_id: i64,
    /// The virtual agent that handled the conversation, if one did.
    pub virtual_agent_id: Option<i64>,
    /// escalating (waiting for a person), escalated (a person has it), canceled, deflecting
    /// (the customer is offered another channel), deflected.
    pub status: EscalationStatus,
    pub reason: EscalationReason,
    /// What triggered it, in words (the keyword, the engine's error…).
    pub detail: Option<String>,
    /// The channel offered instead of waiting, when deflecting.
    pub deflection_channel: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&EscalationRow> for Escalation {
    fn from(row: &EscalationRow) -> Self {
        Escalation {
            id: row.id,
            conversation_id: row.conversation_id,
            virtual_agent_id: row.agent_id,
            status: EscalationStatus::parse(&row.status).unwrap_or(EscalationStatus::Escalating),
            reason: EscalationReason::parse(&row.reason).unwrap_or(EscalationReason::Unknown),
            detail: row.detail.clone(),
            deflection_channel: row.deflection_channel.clone(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// An escalation asked for through the API.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationRequest {
    /// Why (default `by_end_user_ask`).
    #[serde(default)]
    pub reason: Option<EscalationReason>,
    /// Escalate even when people already handle the conversation: it goes back to the team's
    /// queue, unassigned.
    #[serde(default)]
    pub force: bool,
    /// Words for the operators.
    #[serde(default)]
    pub detail: Option<String>,
}

/// Changes to an escalation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPatch {
    /// `canceled` (while escalating or deflecting) or `deflected` (while deflecting).
    #[serde(default)]
    pub status: Option<EscalationStatus>,
    /// Offers the customer this channel instead of waiting: the escalation becomes `deflecting`.
    #[serde(default)]
    pub deflection_channel: Option<String>,
}

/// What the customer is told when the agent hands over.
pub struct Notice<'a> {
    pub agent_id: i64,
    pub text: &'a str,
}

/// Moves a conversation to people in the caller's transaction: the agent tells the customer a
/// person will follow (`notice`), the answer it owed is dropped, an escalation is recorded
/// (`conversation.escalated`, then `conversation.updated` and `conversation.handler_changed`),
/// and the channel's team routes it at once when someone is free.
pub async fn escalate_in(
    state: &AppState,
    conn: &mut Conn,
    conversation: &ConversationRow,
    reason: EscalationReason,
    detail: Option<&str>,
    notice: Option<Notice<'_>>,
) -> Result<Escalation> {
    let now = now_ms();
    if let Some(notice) = notice {
        let outgoing = Outgoing {
            text: Some(notice.text.to_owned()),
            virtual_agent_id: Some(notice.agent_id),
            ..Outgoing::default()
        };
        // A customer beyond the channel's reply window cannot be told; the escalation goes on.
        match outbound::queue_in(state, conn, conversation, &outgoing).await {
            Ok(_) | Err(Error::Invalid { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let team_id = channels::find_channel_any(&mut *conn, conversation.channel_id).await?.and_then(|c| c.team_id);
    let agent_id = conversation.virtual_agent_id;
    if !conversations::hand_to_people(conn, conversation.id, None, team_id, now).await? {
        conversations::queue_for_people(conn, conversation.id, team_id, now).await?;
    }
    agents::delete_run(conn, conversation.id).await?;
    let new = NewEscalation {
        account_id: conversation.account_id,
        conversation_id: conversation.id,
        agent_id,
        status: EscalationStatus::Escalating.as_str(),
        reason: reason.as_str(),
        detail,
    };
    let row = escalations::insert_escalation(conn, &new, now).await?;
    let escalation = Escalation::from(&row);
    events::record(conn, conversation.account_id, kind::CONVERSATION_ESCALATED, &escalation, now).await?;
    let after = conversations::find_conversation(&mut *conn, conversation.account_id, conversation.id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let before = ConversationState::from(conversation);
    record_changes(conn, conversation.account_id, &before, &Conversation::from(&after), now).await?;
    if let Some(team_id) = after.team_id {
        routing::route_team(conn, team_id, now).await?;
    }
    metrics::counter!("parley_escalations_total", "reason" => reason.as_str()).increment(1);
    Ok(escalation)
}

/// Marks the conversation's escalation that waits for a person as `escalated` (a person took it).
pub async fn settle(conn: &mut Conn, conversation_id: i64, now: i64) -> Result<()> {
    if let Some(escalation) = escalations::latest_escalation(&mut *conn, conversation_id).await? {
        if escalation.status == EscalationStatus::Escalating.as_str() {
            escalations::update_escalation(conn, escalation.id, EscalationStatus::Escalated.as_str(), None, now)
                .await?;
        }
    }
    Ok(())
}

/// People take a conversation in the caller's transaction (an operator's reply or assignment,
/// or the business writing from elsewhere): its agent stops at once, the answer it owed is
/// dropped, and a waiting escalation is settled. `operator_id` becomes the assignee when none.
pub async fn take_over_in(conn: &mut Conn, conversation: &ConversationRow, operator_id: Option<i64>) -> Result<()> {
    let now = now_ms();
    conversations::claim_for_people(conn, conversation.id, operator_id, now).await?;
    agents::delete_run(conn, conversation.id).await?;
    settle(conn, conversation.id, now).await
}

/// Escalates a conversation through the API. Without `force` only a conversation a virtual agent
/// handles can be escalated (`409 not_handled_by_agent`).
pub async fn escalate(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    request: EscalationRequest,
) -> Result<Escalation> {
    if request.detail.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        return Err(Error::field("detail", "must be at most 1000 characters"));
    }
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let by_agent = conversation.handler == Handler::VirtualAgent.as_str();
    if !by_agent && !request.force {
        return Err(Error::conflict(
            "not_handled_by_agent",
            "people already handle this conversation; send \"force\": true to put it back in the team's queue",
        ));
    }
    let notice_text = match conversation.virtual_agent_id.filter(|_| by_agent) {
        Some(agent_id) => agent_notice(&mut tx, account_id, agent_id, conversation.id).await?,
        None => None,
    };
    let notice =
        conversation.virtual_agent_id.zip(notice_text.as_deref()).map(|(agent_id, text)| Notice { agent_id, text });
    let reason = request.reason.unwrap_or(EscalationReason::ByEndUserAsk);
    let escalation = escalate_in(state, &mut tx, &conversation, reason, request.detail.as_deref(), notice).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(escalation)
}

/// The handoff message an agent of the account sends, if it still exists.
async fn agent_notice(conn: &mut Conn, account_id: i64, agent_id: i64, conversation_id: i64) -> Result<Option<String>> {
    match agents::find_agent(&mut *conn, account_id, agent_id).await? {
        Some(agent) => Ok(Some(handoff_text(conn, &agent, conversation_id).await?)),
        None => Ok(None),
    }
}

/// What `agent` tells the customer when a person takes over: its handoff message in the language
/// of the customer's latest message.
pub async fn handoff_text(conn: &mut Conn, agent: &AgentRow, conversation_id: i64) -> Result<String> {
    let latest = messages::latest_inbound_text(&mut *conn, conversation_id).await?.unwrap_or_default();
    Ok(handoff_rules(agent).handoff_message(answer_language(&latest, &agent_languages(agent))))
}

/// An agent's handoff rules as stored.
pub fn handoff_rules(agent: &AgentRow) -> HandoffRules {
    serde_json::from_str(&agent.handoff).unwrap_or_default()
}

/// An agent's languages as stored.
pub fn agent_languages(agent: &AgentRow) -> Vec<String> {
    serde_json::from_str(&agent.languages).unwrap_or_default()
}

/// A conversation's escalations, oldest first.
pub async fn list(state: &AppState, account_id: i64, conversation_id: i64) -> Result<Vec<Escalation>> {
    if conversations::find_conversation(state.db.reader(), account_id, conversation_id).await?.is_none() {
        return Err(Error::NotFound("conversation"));
    }
    let rows = escalations::list_escalations(state.db.reader(), account_id, conversation_id).await?;
    Ok(rows.iter().map(Escalation::from).collect())
}

/// Deflects or cancels an escalation.
pub async fn update(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    id: i64,
    patch: EscalationPatch,
) -> Result<Escalation> {
    let mut tx = state.db.begin().await?;
    let row = escalations::find_escalation(&mut *tx, account_id, conversation_id, id)
        .await?
        .ok_or(Error::NotFound("escalation"))?;
    let current = EscalationStatus::parse(&row.status).unwrap_or(EscalationStatus::Escalating);
    let channel = match patch.deflection_channel.as_deref().map(str::trim) {
        Some(channel) if channel.is_empty() || channel.chars().count() > 64 => {
            return Err(Error::field("deflection_channel", "must be 1 to 64 characters"))
        }
        Some(channel) => Some(channel.to_owned()),
        None => row.deflection_channel.clone(),
    };
    let next = match (patch.status, patch.deflection_channel.is_some()) {
        (Some(status), _) => status,
        (None, true) => EscalationStatus::Deflecting,
        (None, false) => current,
    };
    let allowed = next == current
        || matches!(
            (current, next),
            (EscalationStatus::Escalating, EscalationStatus::Deflecting | EscalationStatus::Canceled)
                | (EscalationStatus::Deflecting, EscalationStatus::Deflected | EscalationStatus::Canceled)
        );
    if !allowed {
        return Err(Error::conflict(
            "escalation_status",
            format!("an escalation that is {current} cannot become {next}"),
        ));
    }
    let now = now_ms();
    escalations::update_escalation(&mut tx, id, next.as_str(), channel.as_deref(), now).await?;
    let updated = escalations::find_escalation(&mut *tx, account_id, conversation_id, id)
        .await?
        .ok_or(Error::NotFound("escalation"))?;
    let escalation = Escalation::from(&updated);
    events::record(&mut tx, account_id, kind::CONVERSATION_ESCALATED, &escalation, now).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(escalation)
}

/// An operator (or an integration) takes a conversation from its virtual agent.
pub async fn take_over(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    operator_id: Option<i64>,
) -> Result<Conversation> {
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    take_over_in(&mut tx, &conversation, operator_id).await?;
    commit_ownership(state, tx, &conversation).await
}

/// Hands a conversation (back) to a virtual agent: the one given, else the channel's. The agent
/// answers the customer's next message; an escalation still waiting for a person is canceled.
pub async fn hand_back(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    agent_id: Option<i64>,
) -> Result<Conversation> {
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    if conversation.status == "closed" {
        return Err(Error::conflict("conversation_closed", "this conversation is closed"));
    }
    let agent_id = match agent_id {
        Some(id) => agents::find_agent(&mut *tx, account_id, id)
            .await?
            .filter(|agent| agent.status == "active")
            .map(|agent| agent.id)
            .ok_or_else(|| Error::field("virtual_agent_id", "no active virtual agent with this id in this account"))?,
        None => agents::channel_agent(&mut *tx, conversation.channel_id).await?.map(|(id, _)| id).ok_or_else(|| {
            Error::conflict("no_virtual_agent", "no active virtual agent serves this conversation's channel")
        })?,
    };
    let now = now_ms();
    conversations::hand_to_agent(&mut tx, conversation.id, agent_id, now).await?;
    if let Some(open) = escalations::latest_escalation(&mut *tx, conversation.id).await? {
        let status = EscalationStatus::parse(&open.status);
        if matches!(status, Some(EscalationStatus::Escalating | EscalationStatus::Deflecting)) {
            let canceled = EscalationStatus::Canceled.as_str();
            escalations::update_escalation(&mut tx, open.id, canceled, open.deflection_channel.as_deref(), now).await?;
            let row = EscalationRow { status: canceled.to_owned(), updated_at: now, ..open };
            events::record(&mut tx, account_id, kind::CONVERSATION_ESCALATED, &Escalation::from(&row), now).await?;
        }
    }
    commit_ownership(state, tx, &conversation).await
}

/// Records the events of an ownership change and commits.
async fn commit_ownership(
    state: &AppState,
    mut tx: crate::store::Tx,
    before: &ConversationRow,
) -> Result<Conversation> {
    let now = now_ms();
    let after = conversations::find_conversation(&mut *tx, before.account_id, before.id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let conversation = Conversation::from(&after);
    if ConversationState::from(&after) != ConversationState::from(before) {
        record_changes(&mut tx, before.account_id, &ConversationState::from(before), &conversation, now).await?;
    }
    tx.commit().await?;
    state.events.notify(before.account_id);
    Ok(conversation)
}
