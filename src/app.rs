//! Start-up: the shared state opened from the configuration, and the HTTP server with the
//! background jobs.

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::cluster::Node;
use crate::config::Config;
use crate::media::MediaStore;
use crate::ratelimit::{ChannelLimiter, FailureLimiter, KeyLimiter};
use crate::service::group_commit::IngestQueue;
use crate::service::{auth, webhooks};
use crate::state::{AppState, EventBus, Inner};
use crate::store::Db;
use crate::{http, jobs, telemetry};

/// A web chat visitor's requests (and session openings per address) a minute, and their burst.
const WIDGET_REQUESTS_PER_MINUTE: u32 = 120;
const WIDGET_BURST: u32 = 30;

impl AppState {
    /// Connects to the database, applies migrations and prepares shared services.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        let data_dir = &config.store.data_dir;
        std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
        config.check_cluster()?;
        let db = Db::connect(&config.store.database_url()).await?;
        db.migrate().await?;
        crate::service::reports::fold_history(&db).await.context("building the reports of earlier history")?;
        let signing_key = auth::installation_secret(&db).await?;
        let media = MediaStore::new(&config.media_backing()?, config.effective_public_url(), signing_key)
            .context("opening the media store")?;
        let limiter = KeyLimiter::new(config.rate_limit_per_minute, config.rate_limit_burst);
        let timeout = std::time::Duration::from_millis(config.webhook_timeout_ms);
        let webhook_client = webhooks::target::http_client(timeout, config.webhook_allow_private)
            .context("building the webhook HTTP client")?;
        let provider_client = crate::channels::meta::graph::http_client(std::time::Duration::from_secs(30))
            .context("building the provider HTTP client")?;
        let model_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(std::time::Duration::from_secs(10))
            .user_agent(concat!("Parley-Agents/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("building the virtual agents' HTTP client")?;
        let (events, relay) = match config.cluster {
            true => {
                let (events, relay) = EventBus::relayed();
                (events, Some(relay))
            }
            false => (EventBus::default(), None),
        };
        let cluster = config.cluster.then(|| Arc::new(Node::new(config.node())));
        let state = AppState::new(Inner {
            ingest: IngestQueue::start(db.clone(), config.agent_debounce_ms as i64),
            db,
            model_client,
            events,
            answers_due: tokio::sync::Notify::new(),
            media,
            webhook_client,
            provider_client,
            limiter,
            widget_limiter: KeyLimiter::new(WIDGET_REQUESTS_PER_MINUTE, WIDGET_BURST),
            auth_failures: FailureLimiter::new(config.auth_failures_per_minute),
            send_limiter: ChannelLimiter::default(),
            metrics: telemetry::metrics_handle(),
            shutdown: CancellationToken::new(),
            draining: CancellationToken::new(),
            cluster: cluster.clone(),
            config,
        });
        if let (Some(node), Some(relay)) = (&cluster, relay) {
            crate::cluster::start(&state, node, relay, &state.shutdown);
        }
        Ok(state)
    }
}

/// Serves HTTP on `listener` and runs background jobs until `shutdown` is cancelled; in-flight
/// requests finish, queued work stays in the database. Background jobs stop taking work as soon as
/// the node drains, and finish what they hold.
pub async fn serve(state: AppState, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let work = crate::cluster::stop_either(&shutdown, &state.draining);
    let jobs = tokio::spawn(jobs::run(state.clone(), work.clone()));
    let deliveries = tokio::spawn(jobs::webhooks::run(state.clone(), work.clone()));
    let answers = tokio::spawn(crate::service::answers::run(state.clone(), work.clone()));
    let mailboxes = tokio::spawn(crate::service::mailboxes::run(state.clone(), work));
    let streams = state.shutdown.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        streams.cancel();
    });
    http::serve(state.clone(), listener, shutdown.clone()).await;
    jobs.await.context("background jobs panicked")?;
    answers.await.context("virtual agents panicked")?;
    deliveries.await.context("webhook deliveries panicked")?;
    mailboxes.await.context("mailbox watchers panicked")?;
    state.db.close().await;
    Ok(())
}
