//! Recording events in the caller's transaction and waking live listeners after commit.

use serde::Serialize;
use serde_json::json;
use tokio::sync::broadcast;

use crate::domain::time::to_rfc3339;
use crate::error::Result;
use crate::store::{events, Conn};

/// Event type names.
pub mod kind {
    /// A message was stored (inbound or outbound).
    pub const MESSAGE_CREATED: &str = "message.created";
    /// A message changed (delivery status, read flag).
    pub const MESSAGE_UPDATED: &str = "message.updated";
    /// A conversation started.
    pub const CONVERSATION_CREATED: &str = "conversation.created";
    /// A conversation changed.
    pub const CONVERSATION_UPDATED: &str = "conversation.updated";
}

/// Tells live listeners that an account has new events in the log.
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<i64>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(1024).0 }
    }
}

impl EventBus {
    /// Announces new events of `account_id` (call after the transaction committed).
    pub fn notify(&self, account_id: i64) {
        let _ = self.sender.send(account_id);
    }

    /// Subscribes to announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        self.sender.subscribe()
    }
}

/// Appends an event carrying `object` to the log inside the caller's transaction.
pub async fn record(conn: &mut Conn, account_id: i64, kind: &str, object: &impl Serialize, now: i64) -> Result<i64> {
    let payload = json!({ "type": kind, "account_id": account_id, "created_at": to_rfc3339(now), "data": object });
    Ok(events::insert_event(conn, account_id, kind, &payload.to_string(), now).await?)
}
