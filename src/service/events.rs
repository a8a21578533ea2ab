//! Recording events in the caller's transaction and waking live listeners after commit.

use serde::Serialize;
use serde_json::{json, Value};

use crate::domain::time::to_rfc3339;
use crate::error::Result;
use crate::store::{events, Conn};

/// Event type names.
pub mod kind {
    /// A message was stored (inbound or outbound).
    pub const MESSAGE_CREATED: &str = "message.created";
    /// A message changed (delivery status with the error on failure, read flag, an edit by its sender).
    pub const MESSAGE_UPDATED: &str = "message.updated";
    /// A message was deleted: its content is gone, the record of it stays.
    pub const MESSAGE_DELETED: &str = "message.deleted";
    /// A conversation started.
    pub const CONVERSATION_CREATED: &str = "conversation.created";
    /// A conversation changed (any field).
    pub const CONVERSATION_UPDATED: &str = "conversation.updated";
    /// A conversation's status changed (open, pending, resolved, closed).
    pub const CONVERSATION_STATUS_CHANGED: &str = "conversation.status_changed";
    /// A conversation was assigned to an operator or unassigned.
    pub const CONVERSATION_ASSIGNED: &str = "conversation.assigned";
    /// A conversation went from a virtual agent to people (or was asked to): the escalation.
    pub const CONVERSATION_ESCALATED: &str = "conversation.escalated";
    /// Who handles a conversation changed (virtual agent or people).
    pub const CONVERSATION_HANDLER_CHANGED: &str = "conversation.handler_changed";
    /// A conversation was archived.
    pub const CONVERSATION_ARCHIVED: &str = "conversation.archived";
    /// An operator read a conversation's inbound messages.
    pub const CONVERSATION_READ: &str = "conversation.read";
    /// The contact is typing in a conversation (on networks that tell).
    pub const CONVERSATION_TYPING: &str = "conversation.typing";
    /// A contact was created (by the API or by a first message).
    pub const CONTACT_CREATED: &str = "contact.created";
    /// A contact's details changed.
    pub const CONTACT_UPDATED: &str = "contact.updated";
    /// Two contacts were merged into one.
    pub const CONTACT_MERGED: &str = "contact.merged";
    /// A contact was deleted.
    pub const CONTACT_DELETED: &str = "contact.deleted";
    /// A customer answered a satisfaction survey.
    pub const SURVEY_ANSWERED: &str = "survey.answered";
    /// A customer commented after voting.
    pub const SURVEY_COMMENTED: &str = "survey.commented";
    /// Someone gave feedback (thumbs up or down) on a virtual agent's answer.
    pub const MESSAGE_FEEDBACK: &str = "message.feedback";
    /// A ping sent on demand to one webhook subscription.
    pub const WEBHOOK_TEST: &str = "webhook.test";
    /// A webhook subscription was disabled after its target kept failing or answered 410 Gone.
    pub const WEBHOOK_DISABLED: &str = "webhook.disabled";
}

/// Every event type with what it means, as published in the event catalog.
pub const CATALOG: &[(&str, &str)] = &[
    (
        kind::MESSAGE_CREATED,
        "A message was stored: inbound from a contact, or outbound from an operator, bot or the API.",
    ),
    (
        kind::MESSAGE_UPDATED,
        "A message changed: delivery status (with the error on failure), read flag, or content (its sender edited it: `edited_at`).",
    ),
    (kind::MESSAGE_DELETED, "A message was deleted: its content is gone, the record of it stays."),
    (kind::CONVERSATION_CREATED, "A conversation started."),
    (kind::CONVERSATION_UPDATED, "A conversation changed in any way."),
    (kind::CONVERSATION_STATUS_CHANGED, "A conversation's status changed (open, pending, resolved, closed)."),
    (kind::CONVERSATION_ASSIGNED, "A conversation was assigned to an operator or unassigned."),
    (
        kind::CONVERSATION_ESCALATED,
        "A conversation was escalated from a virtual agent to people: the escalation, with its `status` and `reason` codes.",
    ),
    (
        kind::CONVERSATION_HANDLER_CHANGED,
        "Who handles a conversation changed: `handler` is `virtual_agent` (with `virtual_agent_id`) or `human`.",
    ),
    (kind::CONVERSATION_ARCHIVED, "A conversation was archived."),
    (kind::CONVERSATION_READ, "An operator read a conversation's inbound messages."),
    (
        kind::CONVERSATION_TYPING,
        "The contact is typing in a conversation (RCS tells; the indicator fades after a few seconds without another).",
    ),
    (kind::CONTACT_CREATED, "A contact was created, by the API or by a first message from a new address."),
    (kind::CONTACT_UPDATED, "A contact's details changed."),
    (kind::CONTACT_MERGED, "Two contacts were merged: the surviving contact, with the id of the one merged into it."),
    (kind::CONTACT_DELETED, "A contact was deleted."),
    (
        kind::SURVEY_ANSWERED,
        "A customer voted on a satisfaction survey sent to a conversation: the survey request, with its `rating` (1 to 5).",
    ),
    (
        kind::SURVEY_COMMENTED,
        "A customer answered a survey's follow-up question: the survey request, with their `comment`.",
    ),
    (
        kind::MESSAGE_FEEDBACK,
        "An operator or integration gave feedback on a virtual agent's answer: `rating` up or down, with an optional `reason` and `comment`.",
    ),
    (kind::WEBHOOK_TEST, "A ping sent on demand to one subscription (POST /api/v1/webhooks/{id}/test)."),
    (kind::WEBHOOK_DISABLED, "A subscription was disabled: its target answered 410 Gone or failed for 5 days."),
];

/// Appends an event carrying `object` to the log inside the caller's transaction.
pub async fn record(conn: &mut Conn, account_id: i64, kind: &str, object: &impl Serialize, now: i64) -> Result<i64> {
    Ok(events::insert_event(conn, account_id, kind, &payload(account_id, kind, object, now), now).await?)
}

/// Appends events in one statement, in order, each kind with the object it carries, inside the
/// caller's transaction.
pub async fn record_all(conn: &mut Conn, account_id: i64, recorded: &[(&str, &Value)], now: i64) -> Result<()> {
    let rows: Vec<(&str, String)> =
        recorded.iter().map(|(kind, object)| (*kind, payload(account_id, kind, object, now))).collect();
    Ok(events::insert_events(conn, account_id, &rows, now).await?)
}

/// An event's stored payload.
fn payload(account_id: i64, kind: &str, object: &impl Serialize, now: i64) -> String {
    json!({ "type": kind, "account_id": account_id, "created_at": to_rfc3339(now), "data": object }).to_string()
}

#[cfg(test)]
mod tests {
    use super::CATALOG;

    #[test]
    fn the_webhooks_guide_shows_every_event_type() {
        let guide = include_str!("../../docs/webhooks.md");
        for (name, _) in CATALOG {
            assert!(guide.contains(&format!("### `{name}")), "docs/webhooks.md has no example of {name}");
        }
    }
}
