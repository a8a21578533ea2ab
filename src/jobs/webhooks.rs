//! The webhook delivery engine. The dispatcher fans committed events out into one delivery row per
//! interested subscription (a transactional outbox: events are written with the change that caused
//! them and marked dispatched in the same transaction that queues their deliveries). Workers claim
//! due deliveries with a lease, POST them signed, log every attempt and reschedule failures, so a
//! crash at any point leaves work to be redone, never lost (at-least-once).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::DateTime;
use reqwest::header::{HeaderMap, CONTENT_TYPE, RETRY_AFTER};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::domain::time::now_ms;
use crate::error::{chain, Result};
use crate::service::events::kind;
use crate::service::webhooks::{self as service, signature, target, DISABLE_AFTER_MS};
use crate::state::AppState;
use crate::store::webhooks::{self, AttemptRow, ClaimedDelivery, DeliveryState};

/// Events fanned out per dispatcher transaction.
const DISPATCH_BATCH: i64 = 500;

/// Bytes of a target's answer kept in the attempt log.
const RESPONSE_KEEP: usize = 1024;

/// How long [`run_once_at`] waits for committed events held back behind a running transaction.
const HELD_BACK_PATIENCE: Duration = Duration::from_secs(5);

/// Pause after a wake-up so a burst of commits is dispatched in one transaction.
const COALESCE: Duration = Duration::from_millis(10);

/// Fans undispatched events out to subscriptions, due at `now`, and folds them into the reports;
/// returns how many events it handled.
pub async fn dispatch_once(state: &AppState, now: i64) -> Result<usize> {
    if !webhooks::has_undispatched_events(state.db.reader()).await? {
        return Ok(0);
    }
    let mut tx = state.db.begin().await?;
    let events = webhooks::claim_undispatched_events(&mut tx, state.db.backend(), DISPATCH_BATCH).await?;
    if events.is_empty() {
        tx.commit().await?;
        return Ok(0);
    }
    let accounts: Vec<i64> = events.iter().map(|e| e.account_id).collect::<HashSet<_>>().into_iter().collect();
    let hooks = webhooks::active_webhooks(&mut tx, &accounts).await?;
    let mut deliveries = Vec::new();
    let mut addresses = HashMap::new();
    for event in events.iter().filter(|event| event.kind != kind::WEBHOOK_TEST) {
        for hook in hooks.iter().filter(|hook| hook.account_id == event.account_id) {
            if let Some(delivery) = service::plan(&mut tx, hook, event, &mut addresses).await? {
                deliveries.push(delivery);
            }
        }
    }
    webhooks::queue_deliveries(&mut tx, &deliveries, now, false).await?;
    crate::service::reports::project(&mut tx, &events).await?;
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    webhooks::mark_dispatched(&mut tx, &ids).await?;
    tx.commit().await?;
    Ok(events.len())
}

/// Dispatches every committed event (waiting up to 5 s for those held back behind a transaction
/// still running), then makes every attempt due at `clock` (a logical time, so tests can move
/// through the retry schedule) and records them; returns the attempts made.
pub async fn run_once_at(state: &AppState, clock: i64) -> Result<usize> {
    let patience = Instant::now();
    loop {
        if dispatch_once(state, clock).await? as i64 == DISPATCH_BATCH {
            continue;
        }
        if !webhooks::has_undispatched_events(state.db.reader()).await? || patience.elapsed() > HELD_BACK_PATIENCE {
            break;
        }
        tokio::time::sleep(COALESCE).await;
    }
    let capacity = state.config.webhook_concurrency.max(1) * 16;
    let claimed = webhooks::claim_due_deliveries(&state.db, clock, lease_ms(state), capacity, capacity, &[]).await?;
    let attempts = claimed.into_iter().map(|delivery| attempt(state, delivery, clock));
    let outcomes = futures::future::join_all(attempts).await;
    record(state, &outcomes).await?;
    Ok(outcomes.len())
}

/// [`run_once_at`] now.
pub async fn run_once(state: &AppState) -> Result<usize> {
    run_once_at(state, now_ms()).await
}

fn lease_ms(state: &AppState) -> i64 {
    state.config.webhook_timeout_ms as i64 + 5_000
}

/// Runs the dispatcher (on the node that leads) and up to `webhook_concurrency` attempts at once (a
/// quarter of them at most for any one subscription, so one slow target cannot hold up the others)
/// until `shutdown`; then lets attempts in flight finish. Finished attempts are recorded together, one transaction per
/// round, so deliveries keep up with ingestion.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let poll = Duration::from_millis(state.config.job_poll_ms.max(10));
    let capacity = state.config.webhook_concurrency.max(1);
    let per_webhook = (capacity / 4).max(1);
    let mut wake = state.events.subscribe();
    let mut inflight: JoinSet<Outcome> = JoinSet::new();
    let mut busy: HashMap<i64, usize> = HashMap::new();
    let mut finished: Vec<Outcome> = Vec::new();
    while !shutdown.is_cancelled() {
        while let Some(done) = inflight.try_join_next() {
            finished.extend(done.ok());
        }
        settle(&state, &mut finished, &mut busy).await;
        let dispatched = match state.leads() {
            true => dispatch_once(&state, now_ms()).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "webhook dispatch failed");
                0
            }),
            false => 0,
        };
        let free = capacity - inflight.len();
        let mut claimed = 0;
        if free > 0 {
            let full: Vec<i64> = busy.iter().filter(|(_, n)| **n >= per_webhook).map(|(id, _)| *id).collect();
            let due = webhooks::claim_due_deliveries(&state.db, now_ms(), lease_ms(&state), free, per_webhook, &full);
            match due.await {
                Ok(deliveries) => {
                    claimed = deliveries.len();
                    for delivery in deliveries {
                        *busy.entry(delivery.webhook_id).or_default() += 1;
                        let state = state.clone();
                        inflight.spawn(async move { attempt(&state, delivery, now_ms()).await });
                    }
                }
                Err(e) => tracing::error!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        if dispatched as i64 == DISPATCH_BATCH || (free > 0 && claimed == free) {
            continue;
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = inflight.join_next(), if !inflight.is_empty() => finished.extend(done.ok()),
            _ = crate::state::next_logged(&mut wake) => tokio::time::sleep(COALESCE).await,
            _ = tokio::time::sleep(poll) => {}
        }
    }
    while let Some(done) = inflight.join_next().await {
        finished.extend(done.ok());
    }
    settle(&state, &mut finished, &mut busy).await;
}

/// Records finished attempts and frees their subscriptions' slots. If recording fails, the
/// deliveries' leases run out and they are attempted again (at least once).
async fn settle(state: &AppState, finished: &mut Vec<Outcome>, busy: &mut HashMap<i64, usize>) {
    if finished.is_empty() {
        return;
    }
    if let Err(e) = record(state, finished).await {
        tracing::error!(error = %e, attempts = finished.len(), "recording webhook attempts failed");
    }
    for outcome in finished.drain(..) {
        let webhook_id = outcome.delivery.webhook_id;
        if let Some(count) = busy.get_mut(&webhook_id) {
            *count -= 1;
            if *count == 0 {
                busy.remove(&webhook_id);
            }
        }
    }
}

/// What the target did with one POST.
#[derive(Debug, Default)]
struct Answer {
    status: Option<u16>,
    body: Option<String>,
    retry_after_ms: Option<i64>,
    error: Option<String>,
}

/// One finished attempt, waiting to be recorded; `clock` schedules its retry.
#[derive(Debug)]
struct Outcome {
    delivery: ClaimedDelivery,
    answer: Answer,
    latency_ms: i64,
    clock: i64,
}

/// Makes one signed attempt.
async fn attempt(state: &AppState, delivery: ClaimedDelivery, clock: i64) -> Outcome {
    let body = service::body_for(&delivery, state.config.webhook_max_payload_bytes);
    let started = Instant::now();
    let answer = post(state, &delivery, body).await;
    let latency_ms = started.elapsed().as_millis() as i64;
    Outcome { delivery, answer, latency_ms, clock }
}

/// Records attempts in one transaction: the attempt log, each delivery's new state, and the
/// subscription's health (healthy again, failing, or disabled by 410 or 5 days of failures).
async fn record(state: &AppState, outcomes: &[Outcome]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    let mut tx = state.db.begin().await?;
    let mut notify = Vec::new();
    for Outcome { delivery, answer, latency_ms, clock } in outcomes {
        let clock = *clock;
        let succeeded = answer.status.is_some_and(|s| (200..300).contains(&s));
        let outcome = if succeeded { "delivered" } else { "failed" };
        metrics::counter!("parley_webhook_attempts_total", "outcome" => outcome).increment(1);
        metrics::histogram!("parley_webhook_attempt_seconds").record(*latency_ms as f64 / 1000.0);
        let error = answer.error.clone().or_else(|| match answer.status {
            Some(status) if !succeeded => Some(format!("the target answered HTTP {status}")),
            _ => None,
        });
        let status_code = answer.status.map(i64::from);
        let log = AttemptRow {
            id: 0,
            account_id: delivery.account_id,
            webhook_id: delivery.webhook_id,
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            attempted_at: clock,
            succeeded: i64::from(succeeded),
            status_code,
            latency_ms: *latency_ms,
            response_body: answer.body.clone(),
            error: error.clone(),
        };
        webhooks::insert_attempt(&mut tx, &log).await?;
        let failed = |next_attempt_at: Option<i64>| DeliveryState {
            status: if next_attempt_at.is_some() { "pending" } else { "failed" },
            next_attempt_at,
            status_code,
            error: error.as_deref(),
            delivered_at: None,
        };
        let next = if succeeded {
            if webhooks::mark_healthy(&mut tx, delivery.webhook_id).await? {
                webhooks::hasten_pending(&mut tx, delivery.webhook_id, clock).await?;
            }
            DeliveryState {
                status: "delivered",
                next_attempt_at: None,
                status_code,
                error: None,
                delivered_at: Some(clock),
            }
        } else if answer.status == Some(410) {
            if service::disable(&mut tx, delivery.account_id, delivery.webhook_id, "gone", clock).await? {
                notify.push(delivery.account_id);
            }
            failed(None)
        } else {
            let failing_since = webhooks::mark_failing(&mut tx, delivery.webhook_id, clock).await?;
            if failing_since.is_some_and(|since| clock - since >= DISABLE_AFTER_MS)
                && service::disable(&mut tx, delivery.account_id, delivery.webhook_id, "failing", clock).await?
            {
                notify.push(delivery.account_id);
            }
            failed(service::retry_delay_ms(delivery.attempts + 1, answer.retry_after_ms).map(|delay| clock + delay))
        };
        webhooks::finish_attempt(&mut tx, delivery.id, &next, clock).await?;
        if !succeeded {
            tracing::info!(
                webhook = delivery.webhook_id,
                event = delivery.event_id,
                error = error.as_deref().unwrap_or(""),
                next = next.status,
                "webhook attempt failed"
            );
        }
    }
    tx.commit().await?;
    for account_id in notify {
        state.events.notify(account_id);
    }
    Ok(())
}

/// POSTs the body with Standard Webhooks headers, keeping the first bytes of the answer.
async fn post(state: &AppState, delivery: &ClaimedDelivery, body: String) -> Answer {
    let url = match url::Url::parse(&delivery.url) {
        Ok(url) => url,
        Err(e) => return Answer { error: Some(format!("invalid URL: {e}")), ..Answer::default() },
    };
    if !state.config.webhook_allow_private && target::is_internal_literal(&url) {
        return Answer { error: Some("refused: the target is an internal address".to_owned()), ..Answer::default() };
    }
    let id = format!("evt_{}", delivery.event_id);
    let now = now_ms();
    let mut secrets = vec![delivery.secret.as_str()];
    if let (Some(previous), Some(until)) = (&delivery.previous_secret, delivery.previous_secret_expires_at) {
        if until > now {
            secrets.push(previous);
        }
    }
    let timestamp = now / 1000;
    let format = service::FORMATS.iter().find(|format| format.name() == delivery.format);
    let signed = format.and_then(|format| format.signature_headers(&secrets, timestamp, body.as_bytes()));
    let headers = signed.unwrap_or_else(|| {
        vec![
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature::sign(&secrets, &id, timestamp, body.as_bytes())),
        ]
    });
    let mut request = state.webhook_client.post(url).header(CONTENT_TYPE, "application/json").header("webhook-id", id);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let request = request.body(body);
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) if e.is_timeout() => {
            let error = format!("timed out after {} ms", state.config.webhook_timeout_ms);
            return Answer { error: Some(error), ..Answer::default() };
        }
        Err(e) => return Answer { error: Some(chain(&e.without_url())), ..Answer::default() },
    };
    let status = response.status().as_u16();
    let retry_after_ms = retry_after(response.headers(), now);
    let mut kept: Vec<u8> = Vec::new();
    let mut error = None;
    while kept.len() < RESPONSE_KEEP {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk[..chunk.len().min(RESPONSE_KEEP - kept.len())]),
            Ok(None) => break,
            Err(e) if e.is_timeout() => {
                error = Some(format!("timed out reading the answer after {} ms", state.config.webhook_timeout_ms));
                break;
            }
            Err(_) => break,
        }
    }
    let body = Some(String::from_utf8_lossy(&kept).into_owned()).filter(|text| !text.is_empty());
    let status = Some(status).filter(|_| error.is_none());
    Answer { status, body, retry_after_ms, error }
}

/// Milliseconds a `Retry-After` header asks to wait (seconds or an HTTP date).
fn retry_after(headers: &HeaderMap, now: i64) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds.max(0) * 1000);
    }
    let date = DateTime::parse_from_rfc2822(value).ok()?;
    Some((date.timestamp_millis() - now).max(0))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("120"));
        assert_eq!(retry_after(&headers, 0), Some(120_000));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        let at = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z").unwrap().timestamp_millis();
        assert_eq!(retry_after(&headers, at), Some(60_000));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, 0), None);
    }
}
