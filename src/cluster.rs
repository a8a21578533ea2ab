//! Several Parley nodes on one PostgreSQL database (`--cluster`). The database stays the only
//! shared state: the event log, jobs, sessions, idempotency keys, send pace; media are in S3. On top:
//!
//! - live events: each node relays what it announces (new events of an account, transient events)
//!   with `NOTIFY` on its own connection after the change committed, never inside the change's
//!   transaction (a notifying transaction takes PostgreSQL's global notify lock at commit), and
//!   hands what the others announce to its own listeners. A lost notification only delays an event:
//!   streams read the log, in commit order.
//! - leadership: the node holding a session advisory lock runs the singleton work (the webhook
//!   dispatcher, housekeeping, the mailbox watchers); when it stops or loses its connection the lock
//!   is free and another node takes it within a second. The dispatcher's transaction also takes its
//!   own lock, so even two nodes that both believe they lead never dispatch at once.
//! - peers: each node records itself every two seconds; `/readyz` reports them, and per-key rate
//!   limits are shared out among the nodes up.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::Connection;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::domain::time::now_ms;
use crate::state::{AppState, Signal, Transient};
use crate::store::cluster::{self as store, NodeRow};

/// Advisory lock held by the transaction that dispatches events.
pub const DISPATCHER_LOCK: i64 = 0x5041_524c_4559_0001;

/// Advisory lock held while a node sets up a new installation.
const SETUP_LOCK: i64 = 0x5041_524c_4559_0004;

/// Advisory lock held, for as long as it leads, by the node that runs singleton work.
const LEADER_LOCK: i64 = 0x5041_524c_4559_0002;

/// The notification channel nodes announce on.
const CHANNEL: &str = "parley_events";

/// How often a node records itself, checks its leadership and its connection.
const BEAT: Duration = Duration::from_secs(2);
const LEAD_CHECK: Duration = Duration::from_secs(1);

/// A node not seen for this long is down.
pub const PEER_TIMEOUT_MS: i64 = 10_000;

/// Nodes not seen for a day are forgotten.
const FORGET_AFTER_MS: i64 = 86_400_000;

/// `NOTIFY` payloads stay under PostgreSQL's 8000 bytes.
const MAX_PAYLOAD: usize = 7_900;

/// Announcements relayed per round.
const RELAY_BATCH: usize = 1_000;

/// This node in its cluster.
#[derive(Debug)]
pub struct Node {
    /// Its name.
    pub name: String,
    started_at: i64,
    leader: AtomicBool,
}

impl Node {
    /// This node, just started.
    pub fn new(name: String) -> Node {
        Node { name, started_at: now_ms(), leader: AtomicBool::new(false) }
    }

    /// Whether this node runs the singleton work now.
    pub fn leads(&self) -> bool {
        self.leader.load(Ordering::Relaxed)
    }
}

/// What nodes say to each other.
#[derive(Debug, Serialize, Deserialize)]
struct Announcement {
    node: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    accounts: Vec<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transient: Option<Transient>,
}

/// Starts the node's cluster work: relaying announcements both ways, leadership and heartbeats.
pub fn start(
    state: &AppState,
    node: &std::sync::Arc<Node>,
    outgoing: mpsc::Receiver<Signal>,
    stop: &CancellationToken,
) {
    tokio::spawn(relay(state.clone(), node.name.clone(), outgoing));
    tokio::spawn(listen(state.clone(), node.name.clone(), stop.clone()));
    tokio::spawn(lead(state.clone(), node.clone(), stop.clone()));
    tokio::spawn(beat(state.clone(), node.clone(), stop.clone()));
}

/// Sends this node's announcements to the others, a round of waiting ones at a time: the accounts
/// with new events together, each transient event on its own.
async fn relay(state: AppState, node: String, mut outgoing: mpsc::Receiver<Signal>) {
    let mut waiting = Vec::with_capacity(RELAY_BATCH);
    while outgoing.recv_many(&mut waiting, RELAY_BATCH).await > 0 {
        let mut accounts = BTreeSet::new();
        let mut payloads = Vec::new();
        for signal in waiting.drain(..) {
            match signal {
                Signal::Logged(account) => {
                    accounts.insert(account);
                }
                Signal::Transient(event) => {
                    let announcement = Announcement {
                        node: node.clone(),
                        accounts: Vec::new(),
                        transient: Some(Transient {
                            account_id: event.account_id,
                            kind: event.kind.clone(),
                            data: event.data.clone(),
                        }),
                    };
                    match serde_json::to_string(&announcement) {
                        Ok(text) if text.len() <= MAX_PAYLOAD => payloads.push(text),
                        _ => tracing::debug!(kind = %event.kind, "transient event too large to relay"),
                    }
                }
                Signal::Resync => {}
            }
        }
        let accounts: Vec<i64> = accounts.into_iter().collect();
        for chunk in accounts.chunks(500) {
            let announcement = Announcement { node: node.clone(), accounts: chunk.to_vec(), transient: None };
            payloads.extend(serde_json::to_string(&announcement).ok());
        }
        for payload in payloads {
            let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(state.db.writer());
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "could not announce to the other nodes");
            }
        }
    }
}

/// Hands the other nodes' announcements to this node's listeners. When the connection was lost,
/// listeners read the log again, since announcements made meanwhile are gone.
async fn listen(state: AppState, node: String, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let mut listener = match connect_listener(&state).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to the other nodes; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(LEAD_CHECK) => continue,
                }
            }
        };
        state.events.deliver(Signal::Resync);
        loop {
            let received = tokio::select! {
                _ = stop.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => match serde_json::from_str::<Announcement>(notification.payload()) {
                    Ok(announcement) if announcement.node != node => {
                        for account in announcement.accounts {
                            state.events.deliver(Signal::Logged(account));
                        }
                        if let Some(event) = announcement.transient {
                            state.events.deliver(Signal::Transient(std::sync::Arc::new(event)));
                        }
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "unreadable announcement from another node"),
                },
                Ok(None) => state.events.deliver(Signal::Resync),
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection to the other nodes' announcements");
                    break;
                }
            }
        }
    }
}

async fn connect_listener(state: &AppState) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect(&state.config.store.database_url()).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Holds the leader's lock when it is free, on a connection of its own, and checks every second
/// that the connection (and so the lock) is still there; a draining node gives it up.
async fn lead(state: AppState, node: std::sync::Arc<Node>, stop: CancellationToken) {
    let url = state.config.store.database_url();
    let mut connection: Option<sqlx::PgConnection> = None;
    let stop = stop_either(&stop, &state.draining);
    while !stop.is_cancelled() {
        let held = match connection.as_mut() {
            Some(conn) if node.leads() => {
                sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&mut *conn).await.map(|_| true)
            }
            Some(conn) => {
                sqlx::query_scalar("SELECT pg_try_advisory_lock($1)").bind(LEADER_LOCK).fetch_one(&mut *conn).await
            }
            None => match sqlx::PgConnection::connect(&url).await {
                Ok(conn) => {
                    connection = Some(conn);
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        let leads = match held {
            Ok(leads) => leads,
            Err(e) => {
                tracing::warn!(error = %e, "lost the leadership connection");
                connection = None;
                false
            }
        };
        if leads != node.leads() {
            tracing::info!(node = %node.name, leads, "leadership changed");
            node.leader.store(leads, Ordering::Relaxed);
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(LEAD_CHECK) => {}
        }
    }
    node.leader.store(false, Ordering::Relaxed);
    if let Some(conn) = connection {
        let _ = conn.close().await;
    }
}

/// Runs `work` while no other node runs work under this lock (PostgreSQL; SQLite has one node):
/// nodes started together on an empty database set it up once.
pub async fn one_at_a_time<T>(db: &crate::store::Db, work: impl std::future::Future<Output = T>) -> sqlx::Result<T> {
    if db.backend() == crate::store::Backend::Sqlite {
        return Ok(work.await);
    }
    let mut conn = db.writer().acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(SETUP_LOCK).execute(&mut *conn).await?;
    let done = work.await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(SETUP_LOCK).execute(&mut *conn).await?;
    Ok(done)
}

/// A token cancelled with either of two.
pub fn stop_either(first: &CancellationToken, second: &CancellationToken) -> CancellationToken {
    let either = CancellationToken::new();
    let (first, second, cancel) = (first.clone(), second.clone(), either.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = first.cancelled() => {}
            _ = second.cancelled() => {}
        }
        cancel.cancel();
    });
    either
}

/// Records the node every two seconds (draining once it drains), shares the per-key rate limits
/// among the nodes up, and removes the node's record when it stops.
async fn beat(state: AppState, node: std::sync::Arc<Node>, stop: CancellationToken) {
    let address = state.config.effective_public_url();
    while !stop.is_cancelled() {
        let row = NodeRow {
            name: node.name.clone(),
            address: address.clone(),
            started_at: node.started_at,
            seen_at: now_ms(),
            draining: i64::from(state.draining.is_cancelled()),
        };
        if let Err(e) = store::beat(&state.db, &row).await {
            tracing::warn!(error = %e, "could not record this node");
        }
        match store::nodes_seen_since(&state.db, now_ms() - PEER_TIMEOUT_MS).await {
            Ok(nodes) => {
                let serving = nodes.iter().filter(|n| n.draining == 0).count().max(1);
                let serving = u32::try_from(serving).unwrap_or(u32::MAX);
                state.limiter.share_among(serving);
                state.widget_limiter.share_among(serving);
            }
            Err(e) => tracing::warn!(error = %e, "could not read the other nodes"),
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(BEAT) => {}
        }
    }
    if let Err(e) = store::leave(&state.db, &node.name, now_ms() - FORGET_AFTER_MS).await {
        tracing::warn!(error = %e, "could not remove this node's record");
    }
}

/// Takes one send of `channel_id` at `per_second` across the cluster: waits for its slot when it
/// comes within the next second, else answers how long until one frees up.
pub async fn take_send_slot(state: &AppState, channel_id: i64, per_second: u32) -> sqlx::Result<Option<Duration>> {
    let interval_us = 1_000_000 / i64::from(per_second.max(1));
    let now_us = now_ms() * 1000;
    match store::reserve_send_slot(&state.db, channel_id, now_us, interval_us, 1_000_000).await? {
        Ok(start) => {
            if start > now_us {
                tokio::time::sleep(Duration::from_micros((start - now_us).unsigned_abs())).await;
            }
            Ok(None)
        }
        Err(free_at) => Ok(Some(Duration::from_micros((free_at - now_us).max(1_000).unsigned_abs()))),
    }
}
