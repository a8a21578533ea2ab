//! Group commit of ingestion: every door (the native inbound API, provider webhooks, lookups of
//! mentions) hands its reports to a queue; writer tasks take what has queued up while they were
//! busy, at most [`MAX_BATCH_EVENTS`] reports, and apply it in one transaction, each caller's work
//! under its own savepoint, so that one bad request rolls back alone and gets its own error. Every
//! caller is answered after the commit that holds its work: an answer still means "stored".
//!
//! No timer holds work back: a batch is whatever arrived during the previous commit, so one
//! message alone is written at once, and under load each commit carries many. SQLite has one
//! writer (it allows no more); PostgreSQL has [`POSTGRES_WRITERS`], whose batches commit in
//! parallel.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::domain::inbound::InboundEvent;
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::service::inbound::{self, Applied};
use crate::store::channels::ChannelRow;
use crate::store::{Backend, Db, Tx};

/// Reports one commit carries at most (a request's reports are never split).
pub const MAX_BATCH_EVENTS: usize = 256;
/// Writer tasks on PostgreSQL.
const POSTGRES_WRITERS: usize = 4;
/// Requests waiting for a writer before callers wait to queue.
const QUEUE_CAPACITY: usize = 4096;
/// Attempts of a request whose work collides with a concurrent writer (a unique index, a row
/// another batch holds): the retries see what the other one committed.
const ATTEMPTS: usize = 3;
/// How long a batch waits for a row another writer's batch holds before its item steps aside
/// (PostgreSQL): two batches that lock the same conversations in opposite orders would otherwise
/// wait a second for the deadlock detector.
const LOCK_TIMEOUT_MS: u32 = 50;

/// One request's reports from one channel, and where its outcome goes.
struct Work {
    kind: ChannelKind,
    channel: ChannelRow,
    events: Vec<InboundEvent>,
    reply: oneshot::Sender<Result<Applied>>,
}

/// The ingestion queue and its writers.
#[derive(Clone)]
pub struct IngestQueue {
    sender: mpsc::Sender<Work>,
}

impl IngestQueue {
    /// Starts the writers on `db`; they stop when the last handle to the queue is dropped.
    /// Scheduled virtual agent answers fall due `debounce_ms` after the message.
    pub fn start(db: Db, debounce_ms: i64) -> IngestQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = match db.backend() {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        for _ in 0..writers {
            tokio::spawn(write(db.clone(), debounce_ms, receiver.clone()));
        }
        IngestQueue { sender }
    }

    /// Applies one request's reports (already validated) and answers once they are committed.
    pub async fn apply(&self, kind: ChannelKind, channel: &ChannelRow, events: Vec<InboundEvent>) -> Result<Applied> {
        let (reply, outcome) = oneshot::channel();
        let work = Work { kind, channel: channel.clone(), events, reply };
        self.sender.send(work).await.map_err(|_| anyhow::anyhow!("the ingestion writers stopped"))?;
        outcome.await.map_err(|_| anyhow::anyhow!("an ingestion writer stopped before answering"))?
    }
}

/// A writer: takes a batch, applies it, answers its callers, until the queue closes.
async fn write(db: Db, debounce_ms: i64, receiver: Arc<Mutex<mpsc::Receiver<Work>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else { return };
            let mut events = first.events.len();
            let mut batch = vec![first];
            while events < MAX_BATCH_EVENTS {
                match receiver.try_recv() {
                    Ok(work) => {
                        events += work.events.len();
                        batch.push(work);
                    }
                    Err(_) => break,
                }
            }
            batch
        };
        metrics::histogram!("parley_ingest_batch_requests").record(batch.len() as f64);
        commit_batch(&db, debounce_ms, batch).await;
    }
}

/// Applies a batch in one transaction and answers every caller; work that collided with
/// another writer is tried again alone, after the commit.
async fn commit_batch(db: &Db, debounce_ms: i64, batch: Vec<Work>) {
    let mut tx = match db.begin_impatient(LOCK_TIMEOUT_MS).await {
        Ok(tx) => tx,
        Err(e) => {
            tracing::error!(error = %e, requests = batch.len(), "an ingestion batch could not start");
            for work in batch {
                let _ = work.reply.send(Err(Error::Internal(anyhow::anyhow!("starting the ingestion batch: {e}"))));
            }
            return;
        }
    };
    let mut done = Vec::with_capacity(batch.len());
    let mut again = Vec::new();
    for work in batch {
        match apply_under_savepoint(&mut tx, debounce_ms, &work).await {
            Err(e) if collided(&e) => again.push(work),
            outcome => done.push((work.reply, outcome)),
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (reply, outcome) in done {
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            tracing::error!(error = %e, requests = done.len(), "an ingestion batch failed to commit");
            for (reply, _) in done {
                let _ = reply.send(Err(Error::Internal(anyhow::anyhow!("the ingestion batch failed to commit: {e}"))));
            }
        }
    }
    for work in again {
        let outcome = apply_alone(db, debounce_ms, &work).await;
        let _ = work.reply.send(outcome);
    }
}

/// Applies one request's work under a savepoint of `tx`: released when it succeeds, rolled back
/// (and nothing of it kept) when it fails.
async fn apply_under_savepoint(tx: &mut Tx, debounce_ms: i64, work: &Work) -> Result<Applied> {
    let mut savepoint = sqlx::Connection::begin(&mut **tx).await?;
    match inbound::apply_events(&mut savepoint, work.kind, &work.channel, &work.events, debounce_ms).await {
        Ok(applied) => {
            savepoint.commit().await?;
            Ok(applied)
        }
        Err(e) => {
            savepoint.rollback().await?;
            Err(e)
        }
    }
}

/// Applies one request's work in a transaction of its own, tried again when it collides.
async fn apply_alone(db: &Db, debounce_ms: i64, work: &Work) -> Result<Applied> {
    let mut attempt = 1;
    loop {
        let outcome = async {
            let mut tx = db.begin().await?;
            let applied = inbound::apply_events(&mut tx, work.kind, &work.channel, &work.events, debounce_ms).await?;
            tx.commit().await?;
            Ok(applied)
        }
        .await;
        match outcome {
            Err(e) if collided(&e) && attempt < ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Whether an error came from a concurrent writer: a unique index another transaction filled
/// first, a lock timeout, a deadlock or a serialization failure (PostgreSQL).
fn collided(error: &Error) -> bool {
    match error {
        Error::Database(sqlx::Error::Database(e)) => {
            e.is_unique_violation() || matches!(e.code().as_deref(), Some("55P03" | "40P01" | "40001"))
        }
        _ => false,
    }
}
