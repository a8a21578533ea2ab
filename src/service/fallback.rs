//! Fallback: a message that fails (an RCS message to a phone RCS cannot reach, one revoked at its
//! time to live, a WhatsApp message that could not be delivered) goes out again on the next
//! channel its sender named, with that step's text, in the contact's conversation there. The
//! failure queues a job in its own transaction; the job starts the new message once, whatever
//! retries happen, and records on the failed message where it went.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::domain::sms::Segments;
use crate::domain::RequestKey;
use crate::error::{Error, Result};
use crate::service::channels;
use crate::service::outbound::{self, FallbackStep, NewConversation, Outgoing, FALLBACK, FALLBACK_TO};
use crate::state::AppState;
use crate::store::jobs::JobRow;
use crate::store::{conversations, jobs, messages, Conn};

/// Job kind that sends a failed message on its next channel.
pub const FALLBACK_JOB: &str = "fallback";

#[derive(Debug, Deserialize)]
struct FallbackJob {
    message_id: i64,
}

/// Queues the fallback of a message that just failed, when it has one, in the caller's
/// transaction.
pub async fn queue_if_any(conn: &mut Conn, message: &messages::MessageRow, now: i64) -> Result<()> {
    if steps(&message.payload_object()).is_empty() {
        return Ok(());
    }
    jobs::insert_job(conn, FALLBACK_JOB, &json!({ "message_id": message.id }).to_string(), now, now).await?;
    Ok(())
}

fn steps(payload: &Map<String, Value>) -> Vec<FallbackStep> {
    payload.get(FALLBACK).and_then(|steps| serde_json::from_value(steps.clone()).ok()).unwrap_or_default()
}

/// Runs a fallback job: the first step that can go out starts a message on its channel (carrying
/// the rest of the steps and the caller's message id); where it went, or why nothing could, is
/// recorded on the failed message.
pub async fn run(state: &AppState, job: &JobRow) -> Result<()> {
    let FallbackJob { message_id } =
        serde_json::from_str(&job.payload).map_err(|e| anyhow::anyhow!("malformed {FALLBACK_JOB} job payload: {e}"))?;
    let Some(failed) = messages::find_message(state.db.reader(), message_id).await? else {
        return Ok(jobs::finish_job(&state.db, job.id).await?);
    };
    let mut payload = failed.payload_object();
    let conversation = conversations::find_conversation(state.db.reader(), failed.account_id, failed.conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let steps = steps(&payload);
    let mut outcome = json!({ "error": "the contact has no phone number" });
    if let Some(phone) = conversation.contact_phone.as_deref() {
        for (index, step) in steps.iter().enumerate() {
            match start(state, &failed, &payload, phone, step, &steps[index + 1..]).await? {
                Ok(sent) => {
                    outcome = sent;
                    break;
                }
                Err(why) => outcome = json!({ "error": why, "channel": step.kind }),
            }
        }
    }
    payload.insert(FALLBACK_TO.to_owned(), outcome);
    let mut tx = state.db.begin().await?;
    messages::set_payload(&mut tx, failed.id, &Value::Object(payload).to_string()).await?;
    jobs::delete_job(&mut tx, job.id).await?;
    tx.commit().await?;
    state.events.notify(failed.account_id);
    Ok(())
}

/// Starts one step's message; answers what to record, or why the step cannot go out (an error
/// of the database or of Parley itself fails the job, which is tried again).
async fn start(
    state: &AppState,
    failed: &messages::MessageRow,
    payload: &Map<String, Value>,
    phone: &str,
    step: &FallbackStep,
    rest: &[FallbackStep],
) -> Result<std::result::Result<Value, String>> {
    let parts = Segments::of(&step.text).parts;
    if let Some(max) = step.max_sms_parts.filter(|max| parts > *max) {
        return Ok(Err(format!("the text takes {parts} SMS parts, more than the {max} allowed")));
    }
    let channel_id = match channels::find_sender(state, failed.account_id, &step.kind, step.channel.as_deref()).await {
        Ok(id) => id,
        Err(Error::NotFound(_)) => return Ok(Err(format!("the account has no {} channel to fall back to", step.kind))),
        Err(other) => return Err(other),
    };
    let mut extra = Map::from_iter([("fallback_of".to_owned(), json!(failed.id))]);
    if let Some(campaign) = payload.get("campaign_id") {
        extra.insert("campaign_id".to_owned(), campaign.clone());
    }
    let new = NewConversation {
        channel_id,
        to: phone.to_owned(),
        name: None,
        subject: None,
        message: Outgoing {
            text: Some(step.text.clone()),
            customer_message_id: payload.get("customer_message_id").and_then(Value::as_str).map(str::to_owned),
            extra,
            fallback: rest.to_vec(),
            // A job run again after a crash finds the message it started instead of sending twice.
            request_key: Some(RequestKey {
                key: format!("fallback:{}", failed.id),
                unfinished_since: Some(failed.created_at),
            }),
            ..Default::default()
        },
    };
    match outbound::start(state, failed.account_id, new).await {
        Ok((_, message)) => Ok(Ok(json!({ "message_id": message.id, "channel": step.kind }))),
        Err(failure @ (Error::Database(_) | Error::Internal(_))) => Err(failure),
        Err(refused) => Ok(Err(refused.to_string())),
    }
}
