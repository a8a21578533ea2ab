//! Background work over durable job rows. `run` loops until shutdown; tests call [`run_once`].

pub mod send;
pub mod webhooks;

use std::time::Duration;

use futures::StreamExt;
use serde::Deserialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::domain::jobs::{MARK_READ_JOB, TYPING_JOB};
use crate::domain::time::now_ms;
use crate::domain::MessageStatus;
use crate::error::{Error, Result};
use crate::service::messages::{apply_status, StatusReport};
use crate::service::outbound::SEND_JOB;
use crate::service::{answers, comments, fallback, media_fetch, profiles, routing, surveys};
use crate::state::AppState;
use crate::store::idempotency::KEY_LIFETIME_MS;
use crate::store::jobs::JobRow;
use crate::store::{channels, idempotency, jobs, messages};

/// Job kind that moves a simulated message one delivery step further.
pub const SIMULATE_JOB: &str = "simulate_status";

/// Every kind of job [`run_once`] runs (the queue depths `/metrics` reports).
pub const KINDS: [&str; 10] = [
    routing::ROUTE_JOB,
    SEND_JOB,
    SIMULATE_JOB,
    MARK_READ_JOB,
    TYPING_JOB,
    media_fetch::FETCH_JOB,
    profiles::PROFILE_JOB,
    comments::COMMENT_JOB,
    fallback::FALLBACK_JOB,
    surveys::SURVEY_JOB,
];

/// Jobs claimed per round.
const BATCH: i64 = 64;

/// Jobs of a round run at the same time.
const CONCURRENCY: usize = 16;

#[derive(Debug, Deserialize)]
struct MessageJob {
    message_id: i64,
    #[serde(default)]
    status: Option<MessageStatus>,
}

/// How often stale rows (expired idempotency keys) are removed.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

/// Runs jobs until `shutdown` is cancelled; unfinished jobs stay in the database.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let idle = Duration::from_millis(state.config.job_poll_ms.max(10));
    let mut last_housekeeping: Option<std::time::Instant> = None;
    while !shutdown.is_cancelled() {
        if state.leads() && last_housekeeping.is_none_or(|at| at.elapsed() >= HOUSEKEEPING_EVERY) {
            last_housekeeping = Some(std::time::Instant::now());
            if let Err(e) = housekeeping(&state, now_ms()).await {
                tracing::warn!(error = %e, "housekeeping failed");
            }
        }
        let worked = match run_jobs_once(&state).await {
            Ok(count) => count,
            Err(e) => {
                tracing::error!(error = %e, "background job round failed");
                0
            }
        };
        if worked == 0 {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }
}

/// Claims and runs the jobs due now, then writes the virtual agents' answers due now (in
/// production those run in their own loop, [`answers::run`]); returns how many ran.
pub async fn run_once(state: &AppState) -> Result<usize> {
    let jobs = run_jobs_once(state).await?;
    Ok(jobs + answers::run_once(state).await?)
}

/// Claims and runs the jobs due now, several at a time so one slow provider call holds up no
/// other job; returns how many ran.
async fn run_jobs_once(state: &AppState) -> Result<usize> {
    let lease_ms = i64::try_from(state.config.job_lease_ms).unwrap_or(i64::MAX / 2);
    let claimed = jobs::claim_due_jobs(&state.db, now_ms(), lease_ms, BATCH).await?;
    futures::stream::iter(in_order(&claimed))
        .for_each_concurrent(CONCURRENCY, |group| async move {
            for job in group {
                if let Err(e) = run_job(state, job).await {
                    tracing::error!(job = job.id, kind = %job.kind, error = %e, "could not record a job's outcome");
                }
            }
        })
        .await;
    Ok(claimed.len())
}

/// Removes what is kept only for a while: `Idempotency-Key`s older than a day.
pub async fn housekeeping(state: &AppState, now: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let removed = idempotency::delete_expired(&mut tx, now - KEY_LIFETIME_MS, now).await?;
    tx.commit().await?;
    if removed > 0 {
        tracing::debug!(removed, "expired idempotency keys removed");
    }
    Ok(())
}

/// Groups claimed jobs (in id order) so that the jobs of one message run one after another, in
/// the order they were queued (a message's delivery steps must not overtake each other); the
/// groups run concurrently.
fn in_order(claimed: &[JobRow]) -> Vec<Vec<&JobRow>> {
    let mut groups: Vec<(Option<i64>, Vec<&JobRow>)> = Vec::new();
    for job in claimed {
        let message = match job.kind.as_str() {
            SEND_JOB | SIMULATE_JOB => serde_json::from_str::<MessageJob>(&job.payload).ok().map(|p| p.message_id),
            _ => None,
        };
        match groups.iter_mut().find(|(key, _)| key.is_some() && *key == message) {
            Some((_, group)) => group.push(job),
            None => groups.push((message, vec![job])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Runs one claimed job; a failure releases it to be retried with exponential backoff, a send
/// held back by its channel's pace waits without counting as an attempt.
async fn run_job(state: &AppState, job: &JobRow) -> Result<()> {
    let outcome = match job.kind.as_str() {
        SEND_JOB | SIMULATE_JOB => match serde_json::from_str::<MessageJob>(&job.payload) {
            Ok(payload) => deliver(state, job.id, &payload).await,
            Err(e) => Err(anyhow::anyhow!("malformed {} job payload: {e}", job.kind).into()),
        },
        MARK_READ_JOB => match serde_json::from_str(&job.payload) {
            Ok(payload) => send::mark_read(state, job.id, &payload).await,
            Err(e) => Err(anyhow::anyhow!("malformed {} job payload: {e}", job.kind).into()),
        },
        TYPING_JOB => match serde_json::from_str(&job.payload) {
            Ok(payload) => send::typing(state, job.id, &payload).await,
            Err(e) => Err(anyhow::anyhow!("malformed {} job payload: {e}", job.kind).into()),
        },
        media_fetch::FETCH_JOB => media_fetch::run(state, job).await.map(|()| Outcome::Done),
        profiles::PROFILE_JOB => profiles::run(state, job).await.map(|()| Outcome::Done),
        comments::COMMENT_JOB => comments::run(state, job).await.map(|()| Outcome::Done),
        routing::ROUTE_JOB => routing::run_job(state, job).await.map(|()| Outcome::Done),
        fallback::FALLBACK_JOB => fallback::run(state, job).await.map(|()| Outcome::Done),
        surveys::SURVEY_JOB => surveys::run_job(state, job).await.map(|()| Outcome::Done),
        other => Err(anyhow::anyhow!("unknown job kind {other}").into()),
    };
    match outcome {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::Later(wait)) => {
            let run_at = now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2).max(1);
            Ok(jobs::defer_job(state.db.writer(), job.id, run_at).await?)
        }
        Err(e) if job.kind == SEND_JOB && job.attempts >= MAX_SEND_ATTEMPTS => give_up_send(state, job, &e).await,
        Err(e) => {
            let delay = 1000 * 2_i64.pow(job.attempts.clamp(0, 10) as u32);
            tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = %e, "job failed; retrying later");
            Ok(jobs::retry_job(state.db.writer(), job.id, now_ms() + delay, &e.to_string()).await?)
        }
    }
}

/// Attempts of a send that keeps failing transiently (throttled, provider errors, network) before
/// the message fails: with the backoff doubling from 1 s up to 17 min, about 1.7 hours.
pub const MAX_SEND_ATTEMPTS: i64 = 15;

/// Fails a message whose send kept failing, with the last error, and drops its job.
async fn give_up_send(state: &AppState, job: &JobRow, error: &Error) -> Result<()> {
    tracing::warn!(job = job.id, attempts = job.attempts, error = %error, "send failed too often; message failed");
    let payload: MessageJob =
        serde_json::from_str(&job.payload).map_err(|e| anyhow::anyhow!("malformed {SEND_JOB} job payload: {e}"))?;
    let mut tx = state.db.begin().await?;
    let message = messages::find_message(&mut *tx, payload.message_id).await?;
    if let Some(message) = &message {
        let text = format!("the provider did not accept the message after {} attempts: {error}", job.attempts);
        let report = StatusReport {
            status: MessageStatus::Failed,
            error: Some(("retries_exhausted", &text)),
            provider_message_id: None,
        };
        apply_status(&mut tx, message, &report).await?;
    }
    jobs::delete_job(&mut tx, job.id).await?;
    tx.commit().await?;
    if let Some(message) = message {
        state.events.notify(message.account_id);
    }
    Ok(())
}

/// How a job that did not fail ended.
#[derive(Debug)]
pub enum Outcome {
    /// Finished: the job is gone.
    Done,
    /// Not run yet (its channel's send pace): run it again after this long.
    Later(Duration),
}

/// Whether a message failed (or was canceled) already.
fn has_failed(message: &messages::MessageRow) -> bool {
    message.status.as_deref() == Some(MessageStatus::Failed.as_str())
}

/// Hands a queued message to its channel, or moves a simulated one a step further; deletes the job
/// in the same transaction as the change it made.
async fn deliver(state: &AppState, job_id: i64, job: &MessageJob) -> Result<Outcome> {
    if job.status.is_none() {
        if let Some(message) = messages::find_message(state.db.reader(), job.message_id).await? {
            // A message canceled while its send waited is not sent.
            if message.simulated == 0 && message.deleted_at.is_none() && !has_failed(&message) {
                if let Some(outcome) = send::send(state, job_id, &message).await? {
                    return Ok(outcome);
                }
            }
        }
    }
    let mut tx = state.db.begin().await?;
    let message = match messages::find_message(&mut *tx, job.message_id).await? {
        Some(message) if job.status.is_some() || (message.deleted_at.is_none() && !has_failed(&message)) => message,
        // Gone, deleted or canceled before it was handed to the channel: there is nothing to send.
        _ => {
            jobs::delete_job(&mut tx, job_id).await?;
            tx.commit().await?;
            return Ok(Outcome::Done);
        }
    };
    let simulated_id = format!("sim-{}", message.id);
    let report = match job.status {
        Some(status) => StatusReport { status, error: None, provider_message_id: None },
        None if message.simulated != 0 => {
            let (now, step) = (now_ms(), state.config.simulation_step_ms as i64);
            for (n, status) in [MessageStatus::Delivered, MessageStatus::Read].iter().enumerate() {
                let payload = json!({ "message_id": message.id, "status": status });
                jobs::insert_job(&mut tx, SIMULATE_JOB, &payload.to_string(), now + step * (n as i64 + 1), now).await?;
            }
            StatusReport { status: MessageStatus::Sent, error: None, provider_message_id: Some(&simulated_id) }
        }
        None => {
            let channel = channels::find_channel_any(&mut *tx, message.channel_id).await?;
            let kind = channel.map(|c| c.kind).unwrap_or_default();
            tracing::warn!(message = message.id, channel = %kind, "no provider connector for this channel; message failed");
            StatusReport {
                status: MessageStatus::Failed,
                error: Some((
                    "provider_unavailable",
                    "this channel has no provider connection: enable simulation or configure the provider",
                )),
                provider_message_id: None,
            }
        }
    };
    apply_status(&mut tx, &message, &report).await?;
    jobs::delete_job(&mut tx, job_id).await?;
    tx.commit().await?;
    state.events.notify(message.account_id);
    Ok(Outcome::Done)
}
