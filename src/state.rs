//! What request handlers, jobs and services share: the database, the settings, the media store,
//! provider clients, in-memory limiters and the live-event bus. It sits below the services and
//! the HTTP layer, which both take it; `app` opens it.

use std::ops::Deref;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::media::MediaStore;
use crate::ratelimit::{ChannelLimiter, FailureLimiter, KeyLimiter};
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
    /// Media file storage and signed links.
    pub media: MediaStore,
    /// HTTP client for webhook deliveries (no redirects, internal addresses refused unless allowed).
    pub webhook_client: reqwest::Client,
    /// HTTP client for provider APIs (the WhatsApp Graph API).
    pub provider_client: reqwest::Client,
    /// Per-key request limits.
    pub limiter: KeyLimiter,
    /// Failed authentications per client address.
    pub auth_failures: FailureLimiter,
    /// Per-channel send pace (WhatsApp `messages_per_second`).
    pub send_limiter: ChannelLimiter,
    /// Prometheus metrics renderer.
    pub metrics: PrometheusHandle,
    /// Cancelled when the server stops; long-lived responses (event streams) end with it.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// Shares these parts.
    pub fn new(inner: Inner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
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
