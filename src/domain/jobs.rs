//! Kinds and payloads of the durable jobs services queue and `jobs` runs.

use serde::{Deserialize, Serialize};

/// Job kind that tells the provider an operator read a conversation (the customer's read ticks).
pub const MARK_READ_JOB: &str = "mark_read";

/// A read-receipt job: the channel and the newest inbound message the operator has seen.
#[derive(Debug, Serialize, Deserialize)]
pub struct MarkRead {
    pub channel_id: i64,
    pub provider_message_id: String,
}
