//! Kinds and payloads of the durable jobs services queue and `jobs` runs.

use serde::{Deserialize, Serialize};

/// Job kind that tells the provider an operator read a conversation (the customer's read ticks).
pub const MARK_READ_JOB: &str = "mark_read";

/// A read-receipt job: the channel and the newest inbound message the operator has seen.
#[derive(Debug, Serialize, Deserialize)]
pub struct MarkRead {
    pub channel_id: i64,
    pub provider_message_id: String,
    /// The customer's address on the channel (jobs queued before it was kept have none).
    #[serde(default)]
    pub recipient: Option<String>,
}

/// Job kind that shows the customer an operator is typing, or stopped.
pub const TYPING_JOB: &str = "typing";

/// A typing-indicator job.
#[derive(Debug, Serialize, Deserialize)]
pub struct Typing {
    pub channel_id: i64,
    /// The customer's address on the channel.
    pub recipient: String,
    pub on: bool,
}
