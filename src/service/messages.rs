//! Delivery status changes, shared by the sender job, the simulator and provider status webhooks.

use crate::domain::time::now_ms;
use crate::domain::MessageStatus;
use crate::error::Result;
use crate::service::events::{self, kind};
use crate::service::views::Message;
use crate::store::messages::{self, MessageRow};
use crate::store::Conn;

/// A delivery status report for one message.
#[derive(Debug, Clone)]
pub struct StatusReport<'a> {
    pub status: MessageStatus,
    /// Provider error code and text, for failures.
    pub error: Option<(&'a str, &'a str)>,
    /// The provider's id for the message, once known.
    pub provider_message_id: Option<&'a str>,
}

/// Moves a message forward to the reported status and records `message.updated`; reports that
/// would move it backwards (late or repeated webhooks) change nothing. Returns the message when it
/// changed.
pub async fn apply_status(conn: &mut Conn, message: &MessageRow, report: &StatusReport<'_>) -> Result<Option<Message>> {
    let current = message.status.as_deref().and_then(MessageStatus::parse).unwrap_or(MessageStatus::Queued);
    if !current.can_advance_to(report.status) {
        return Ok(None);
    }
    let now = now_ms();
    let row =
        messages::set_status(conn, message.id, report.status.as_str(), report.error, report.provider_message_id, now)
            .await?;
    let view = Message::from(&row);
    events::record(conn, row.account_id, kind::MESSAGE_UPDATED, &view, now).await?;
    Ok(Some(view))
}
