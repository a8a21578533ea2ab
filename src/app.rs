//! Application state, start-up and the HTTP server.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::media::MediaStore;
use crate::service::events::EventBus;
use crate::service::ratelimit::{ChannelLimiter, FailureLimiter, KeyLimiter, WindowLimiter};
use crate::service::{auth, webhooks};
use crate::store::Db;
use crate::{http, jobs, telemetry};

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
    /// Per-key request windows of the seed platform's API.
    pub qlara_limiter: WindowLimiter,
    /// Per-channel send pace (WhatsApp `messages_per_second`).
    pub send_limiter: ChannelLimiter,
    /// Prometheus metrics renderer.
    pub metrics: PrometheusHandle,
    /// Cancelled when the server stops; long-lived responses (event streams) end with it.
    pub shutdown: CancellationToken,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Connects to the database, applies migrations and prepares shared services.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let data_dir = &config.store.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        let db = Db::connect(&config.store.database_url()).await?;
        db.migrate().await?;
        let signing_key = auth::installation_secret(&db).await?;
        let media = MediaStore::new(&config.media_backing()?, config.effective_public_url(), signing_key)
            .context("opening the media store")?;
        let limiter = KeyLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst);
        let timeout = std::time::Duration::from_millis(config.webhook_timeout_ms);
        let webhook_client = webhooks::target::http_client(timeout, config.webhook_allow_private)
            .context("building the webhook HTTP client")?;
        let provider_client = crate::channels::meta::graph::http_client(std::time::Duration::from_secs(30))
            .context("building the provider HTTP client")?;
        Ok(AppState(Arc::new(Inner {
            db,
            events: EventBus::default(),
            media,
            webhook_client,
            provider_client,
            limiter,
            auth_failures: FailureLimiter::new(config.auth_failures_per_minute),
            qlara_limiter: WindowLimiter::new(config.qlara_rate_limit_per_minute, config.qlara_rate_limit_burst),
            send_limiter: ChannelLimiter::default(),
            metrics: telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
            config,
        })))
    }
}

/// Serves HTTP on `listener` and runs background jobs until `shutdown` is cancelled; in-flight
/// requests finish, queued work stays in the database.
pub async fn serve(state: AppState, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let jobs = tokio::spawn(jobs::run(state.clone(), shutdown.clone()));
    let deliveries = tokio::spawn(jobs::webhooks::run(state.clone(), shutdown.clone()));
    let streams = state.shutdown.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        streams.cancel();
    });
    http::serve(state.clone(), listener, shutdown.clone()).await;
    jobs.await.context("background jobs panicked")?;
    deliveries.await.context("webhook deliveries panicked")?;
    state.db.close().await;
    Ok(())
}
