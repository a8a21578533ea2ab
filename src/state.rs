//! What request handlers, jobs and services share: the database, the settings, the media store,
//! provider clients, in-memory limiters and the live-event bus. It sits below the services and
//! the HTTP layer, which both take it; `app` opens it.

use std::ops::Deref;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::media::MediaStore;
use crate::ratelimit::{ChannelLimiter, FailureLimiter, KeyLimiter, WidgetKey};
use crate::store::Db;

/// Everything request handlers and jobs share.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The shared parts of [`AppState`].
pub struct Inner {
    /// The database.
    pub db: Db,
    /// Settings in effect.
    pub config: Config,
    /// Wakes live event streams.
    pub events: EventBus,
    /// Ingestion's group commit.
    pub ingest: crate::service::group_commit::IngestQueue,
    /// Wakes the virtual agents' answer loop when ingestion scheduled an answer.
    pub answers_due: tokio::sync::Notify,
    /// Media file storage and signed links.
    pub media: MediaStore,
    /// HTTP client for webhook deliveries (no redirects, internal addresses refused unless allowed).
    pub webhook_client: reqwest::Client,
    /// HTTP client for provider APIs (the WhatsApp Graph API).
    pub provider_client: reqwest::Client,
    /// HTTP client for virtual agents' models and bots (no overall timeout: each agent has its own).
    pub model_client: reqwest::Client,
    /// Per-key request limits.
    pub limiter: KeyLimiter,
    /// Web chat widget limits, per visitor session and per address opening sessions.
    pub widget_limiter: KeyLimiter<WidgetKey>,
    /// Failed authentications per client address.
    pub auth_failures: FailureLimiter,
    /// Per-channel send pace (WhatsApp `messages_per_second`).
    pub send_limiter: ChannelLimiter,
    /// Prometheus metrics renderer.
    pub metrics: PrometheusHandle,
    /// Cancelled when the server stops; long-lived responses (event streams) end with it.
    pub shutdown: CancellationToken,
    /// Cancelled when the node starts draining (SIGTERM): `/readyz` answers 503, jobs stop.
    pub draining: CancellationToken,
    /// This node, when it runs in a cluster.
    pub cluster: Option<Arc<crate::cluster::Node>>,
}

impl AppState {
    /// Shares these parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl AppState {
    /// Whether this node runs singleton work: always alone, and as the cluster's leader.
    pub fn leads(&self) -> bool {
        self.cluster.as_ref().is_none_or(|node| node.leads())
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Tells live listeners that an account has new events in the log, and carries transient
/// events (`message.delta`) that are never logged: only listeners connected now receive them. In
/// a cluster, what happens on this node is also relayed to the other nodes (and theirs to this
/// one: [`crate::cluster`]).
#[derive(Clone, Debug)]
pub struct EventBus {
    sender: broadcast::Sender<Signal>,
    relay: Option<mpsc::Sender<Signal>>,
}

/// Announcements waiting for the relay to the other nodes; past this, they are dropped (the log
/// stays the truth: a lost one only delays the event until streams read the log again).
const RELAY_QUEUE: usize = 65_536;

/// What the bus carries.
#[derive(Clone, Debug)]
pub enum Signal {
    /// The account has new events in the log.
    Logged(i64),
    /// A transient event of the account: its type and data.
    Transient(Arc<Transient>),
    /// Announcements from other nodes may have been missed: any account may have new events.
    Resync,
}

/// A transient event.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Transient {
    pub account_id: i64,
    pub kind: String,
    pub data: serde_json::Value,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus { sender: broadcast::channel(4096).0, relay: None }
    }
}

impl EventBus {
    /// A bus whose announcements are also handed to the returned receiver, to relay to other nodes.
    pub fn relayed() -> (EventBus, mpsc::Receiver<Signal>) {
        let (relay, outgoing) = mpsc::channel(RELAY_QUEUE);
        (EventBus { sender: broadcast::channel(4096).0, relay: Some(relay) }, outgoing)
    }

    /// Announces new events of `account_id` (call after the transaction committed).
    pub fn notify(&self, account_id: i64) {
        self.announce(Signal::Logged(account_id));
    }

    /// Publishes a transient event to the account's live listeners.
    pub fn publish(&self, account_id: i64, kind: &'static str, data: serde_json::Value) {
        self.announce(Signal::Transient(Arc::new(Transient { account_id, kind: kind.to_owned(), data })));
    }

    fn announce(&self, signal: Signal) {
        if let Some(relay) = &self.relay {
            let _ = relay.try_send(signal.clone());
        }
        let _ = self.sender.send(signal);
    }

    /// Hands what another node announced to this node's listeners.
    pub fn deliver(&self, signal: Signal) {
        let _ = self.sender.send(signal);
    }

    /// Subscribes to announcements.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.sender.subscribe()
    }
}

/// Waits for the next sign of new logged events of any account, skipping transient events (a
/// receiver that fell behind counts as a sign: the log is read again anyway).
pub async fn next_logged(receiver: &mut broadcast::Receiver<Signal>) {
    while let Ok(Signal::Transient(_)) = receiver.recv().await {}
}
