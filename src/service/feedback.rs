//! Feedback on virtual agents' answers: a thumbs up or down with an optional reason and comment,
//! one per answer per author (giving it again changes it), counted per agent; a conversation
//! keeps how many of its answers got a thumbs down, for the inbox's filter.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::principal::{Caller, Principal};
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::SenderType;
use crate::error::{Error, Result};
use crate::service::events::{self, kind};
use crate::state::AppState;
use crate::store::feedback::{self, FeedbackRow, NewFeedback};
use crate::store::messages;

/// Feedback given on an answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Feedback {
    pub id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    /// The virtual agent that wrote the answer.
    pub virtual_agent_id: Option<i64>,
    /// Who gave it: `operator:{id}` or `key:{id}` (an API key).
    pub author: String,
    /// `up` or `down`.
    pub rating: String,
    pub reason: Option<String>,
    pub comment: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&FeedbackRow> for Feedback {
    fn from(row: &FeedbackRow) -> Self {
        Feedback {
            id: row.id,
            message_id: row.message_id,
            conversation_id: row.conversation_id,
            virtual_agent_id: row.virtual_agent_id,
            author: row.author.clone(),
            rating: row.rating.clone(),
            reason: row.reason.clone(),
            comment: row.comment.clone(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// Feedback to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackInput {
    /// `up` or `down`.
    pub rating: String,
    /// Why, in a few words (`wrong`, `incomplete`, `off_topic`, `tone`… up to 100 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// Up to 2,000 characters.
    #[serde(default)]
    pub comment: Option<String>,
}

/// Who gives feedback: one entry per author per answer.
pub fn author_of(me: &Principal) -> String {
    match me.caller {
        Caller::Operator(id) => format!("operator:{id}"),
        Caller::ApiKey(id) => format!("key:{id}"),
    }
}

fn trimmed(value: Option<String>, field: &str, max: usize) -> Result<Option<String>> {
    let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    if value.as_ref().is_some_and(|v| v.chars().count() > max) {
        return Err(Error::field(field, format!("must be at most {max} characters")));
    }
    Ok(value)
}

/// Gives (or changes) `author`'s feedback on a virtual agent's answer, with `message.feedback`.
pub async fn give(
    state: &AppState,
    account_id: i64,
    author: &str,
    message_id: i64,
    input: FeedbackInput,
) -> Result<Feedback> {
    if !matches!(input.rating.as_str(), "up" | "down") {
        return Err(Error::field("rating", "must be `up` or `down`"));
    }
    let reason = trimmed(input.reason, "reason", 100)?;
    let comment = trimmed(input.comment, "comment", 2000)?;
    let mut tx = state.db.begin().await?;
    let message = messages::find_message(&mut *tx, message_id)
        .await?
        .filter(|m| m.account_id == account_id && m.deleted_at.is_none())
        .ok_or(Error::NotFound("message"))?;
    if message.sender_type != SenderType::VirtualAgent.as_str() {
        return Err(Error::invalid("not_an_agent_answer", "feedback is given on virtual agents' answers only"));
    }
    let new = NewFeedback {
        account_id,
        message_id,
        conversation_id: message.conversation_id,
        virtual_agent_id: message.sender_id,
        author,
        rating: &input.rating,
        reason: reason.as_deref(),
        comment: comment.as_deref(),
    };
    let now = now_ms();
    let row = feedback::upsert(&mut tx, &new, now).await?;
    let given = Feedback::from(&row);
    events::record(&mut tx, account_id, kind::MESSAGE_FEEDBACK, &given, now).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(given)
}

/// The feedback on a conversation's answers.
pub async fn of_conversation(state: &AppState, account_id: i64, conversation_id: i64) -> Result<Vec<Feedback>> {
    crate::store::conversations::find_conversation(state.db.reader(), account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    Ok(feedback::of_conversation(state.db.reader(), conversation_id).await?.iter().map(Feedback::from).collect())
}

/// A virtual agent's feedback: counts and the newest entries.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AgentFeedback {
    pub up: i64,
    pub down: i64,
    /// The newest 100 entries (of the asked rating, when given).
    pub data: Vec<Feedback>,
}

/// The feedback on a virtual agent's answers, optionally only `up` or `down`.
pub async fn of_agent(
    state: &AppState,
    account_id: i64,
    agent_id: i64,
    rating: Option<String>,
) -> Result<AgentFeedback> {
    if rating.as_deref().is_some_and(|r| !matches!(r, "up" | "down")) {
        return Err(Error::field("rating", "must be `up` or `down`"));
    }
    crate::store::agents::find_agent(state.db.reader(), account_id, agent_id)
        .await?
        .ok_or(Error::NotFound("virtual agent"))?;
    let (rows, counts) = feedback::of_agent(state.db.reader(), account_id, agent_id, rating.as_deref(), 100).await?;
    let count = |rating: &str| counts.iter().find(|(r, _)| r == rating).map_or(0, |(_, n)| *n);
    Ok(AgentFeedback { up: count("up"), down: count("down"), data: rows.iter().map(Feedback::from).collect() })
}
