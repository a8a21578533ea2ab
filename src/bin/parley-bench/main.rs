//! `parley-bench`: how fast a Parley server ingests inbound messages, compared with the ceiling of
//! the same server on a trivial endpoint, how fast it lists conversations at the resulting size, how
//! soon its webhooks follow an inbound message, and whether a webhook receiver that never answers
//! slows ingestion down.
//!
//! By default it starts the `parley` binary found next to itself, on a fresh temporary data
//! directory and a free local port, with the per-key rate limit lifted and webhook targets on
//! loopback allowed, and stops it at the end. With `--url` and `--api-key` it targets a running
//! server instead (its rate limit then applies, and the webhook phases need it to run on this machine
//! with `PARLEY_WEBHOOK_ALLOW_PRIVATE=true`, or `--skip-webhooks`). After creating `--channels`
//! simulated phone channels it runs these phases:
//!
//! 1. ingest: `--messages` inbound messages from `--contacts` senders, pushed over `--connections`
//!    concurrent connections to `POST /api/v1/channels/{id}/inbound` (201 counts as accepted);
//! 2. ceiling: `--ceiling-requests` `GET /healthz` with the same concurrency;
//! 3. list: 200 sequential `GET /api/v1/conversations?limit=25`, then 200 with `&unread=true&q=order`;
//! 4. webhook latency: a receiver in this process (answering 200) subscribes to `message.created`;
//!    inbound messages are sent at a steady `--webhook-rate` for `--webhook-secs`, each without
//!    waiting for the previous ones, and each webhook is matched by the message's sequence number to
//!    the moment its inbound POST was sent; stragglers are awaited up to `--webhook-wait-secs`;
//! 5. dead receiver: that subscription is deleted and the ingest phase is run again with
//!    `--webhook-messages` messages, once with no subscription and once with every event also
//!    subscribed to by a receiver that reads each request and never answers (so every attempt runs
//!    into the server's webhook timeout);
//! 6. virtual agents: a stand-in model in this process streams a fixed `--agent-tokens`-token answer
//!    at `--agent-pace-ms` per token to an OpenAI-compatible agent serving a new channel;
//!    `--agent-conversations` customers write at once (burst), then as many others one after
//!    another over the length of one answer (steady: that many answers are being written at any
//!    moment), and the event stream is followed. What
//!    Parley adds is the time from each inbound POST to the model's request plus the time from the
//!    model's last token to the answer being stored with its send job (its `created_at`), and the
//!    same to the first `message.delta` on the event stream (from the model's first token); the
//!    model's own time is left out. A started server answers without debounce; with `--url` the server's
//!    `PARLEY_AGENT_DEBOUNCE_MS` counts in the figures.
//!
//! A server the bench started also has its memory reported: its resident set once set up (before
//! the ingest) and its peak by the end of the ingest (`/proc/<pid>/status`, Linux).
//!
//! Latencies are those of successful requests, body included; failed requests (other statuses,
//! transport errors) are counted and summarised. `--database-url` must name an empty database:
//! the bench's API key is only installed on the server's first start.
//!
//! ```text
//! cargo build --release --bin parley --bin parley-bench
//! ./target/release/parley-bench --messages 20000 --contacts 2000 --connections 32
//! ./target/release/parley-bench --database-url postgres://postgres@127.0.0.1:5432/parley_bench
//! ./target/release/parley-bench --url http://127.0.0.1:8080 --api-key "$PARLEY_API_KEY" --skip-webhooks
//! ```

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

mod corpus;
mod fanout;
mod populate;
mod reads;
mod whatsapp;

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use clap::Parser;
use hdrhistogram::Histogram;
use rand::distributions::Alphanumeric;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::task::{JoinHandle, JoinSet};

/// Sequential requests of each listing measurement.
const LIST_REQUESTS: usize = 200;
/// How long the started server has to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Rate limit given to the started server: high enough never to interfere.
const UNLIMITED: &str = "1000000000";

/// Benchmark Parley: inbound ingestion against the server's ceiling, conversation listing, webhook
/// latency, and ingestion while a webhook receiver never answers.
#[derive(Debug, clap::Args)]
struct Args {
    /// Inbound messages to push.
    #[arg(long, env = "PARLEY_BENCH_MESSAGES", default_value_t = 20_000)]
    messages: usize,
    /// Distinct senders: message i comes from contact i % contacts.
    #[arg(long, env = "PARLEY_BENCH_CONTACTS", default_value_t = 2_000)]
    contacts: usize,
    /// Channels to create (WhatsApp, SMS and RCS in turn): message i goes to channel i % channels.
    #[arg(long, env = "PARLEY_BENCH_CHANNELS", default_value_t = 4)]
    channels: usize,
    /// Concurrent HTTP connections of the ingest and ceiling phases.
    #[arg(long, env = "PARLEY_BENCH_CONNECTIONS", default_value_t = 32)]
    connections: usize,
    /// `GET /healthz` requests of the ceiling phase; as many as messages when omitted.
    #[arg(long, env = "PARLEY_BENCH_CEILING_REQUESTS")]
    ceiling_requests: Option<usize>,
    /// Base URL of a running server to benchmark instead of starting one.
    #[arg(long, env = "PARLEY_BENCH_URL", requires = "api_key", conflicts_with_all = ["parley_bin", "database_url"])]
    url: Option<String>,
    /// Admin API key of the server given with --url.
    #[arg(long, env = "PARLEY_BENCH_API_KEY", requires = "url", hide_env_values = true)]
    api_key: Option<String>,
    /// The `parley` binary to start; the one next to this executable when omitted.
    #[arg(long, env = "PARLEY_BENCH_PARLEY_BIN")]
    parley_bin: Option<PathBuf>,
    /// Database URL for the started server (an empty database); SQLite in the temporary data directory when omitted.
    #[arg(long, env = "PARLEY_BENCH_DATABASE_URL")]
    database_url: Option<String>,
    /// Inbound messages per second of the webhook latency phase.
    #[arg(long, env = "PARLEY_BENCH_WEBHOOK_RATE", default_value_t = 200)]
    webhook_rate: u32,
    /// Seconds the webhook latency phase sends for.
    #[arg(long, env = "PARLEY_BENCH_WEBHOOK_SECS", default_value_t = 15)]
    webhook_secs: u32,
    /// Seconds to wait, once everything is sent, for webhooks still to arrive.
    #[arg(long, env = "PARLEY_BENCH_WEBHOOK_WAIT_SECS", default_value_t = 30)]
    webhook_wait_secs: u64,
    /// Inbound messages of each ingest run of the dead-receiver phase; as many as --messages when omitted.
    #[arg(long, env = "PARLEY_BENCH_WEBHOOK_MESSAGES")]
    webhook_messages: Option<usize>,
    /// Skip the two webhook phases.
    #[arg(long, env = "PARLEY_BENCH_SKIP_WEBHOOKS")]
    skip_webhooks: bool,
    /// Customers writing at once in the virtual agent phase.
    #[arg(long, env = "PARLEY_BENCH_AGENT_CONVERSATIONS", default_value_t = 100)]
    agent_conversations: usize,
    /// Tokens of the stand-in model's answer.
    #[arg(long, env = "PARLEY_BENCH_AGENT_TOKENS", default_value_t = 50)]
    agent_tokens: usize,
    /// Milliseconds between the stand-in model's tokens.
    #[arg(long, env = "PARLEY_BENCH_AGENT_PACE_MS", default_value_t = 20)]
    agent_pace_ms: u64,
    /// Skip the virtual agent phase.
    #[arg(long, env = "PARLEY_BENCH_SKIP_AGENTS")]
    skip_agents: bool,
}

/// The bench's command line: the ingest benchmark, or one of the commands for installations at
/// scale.
#[derive(Debug, Parser)]
#[command(name = "parley-bench", about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Subcommand>,
    #[command(flatten)]
    args: Args,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Write a realistic installation (1M conversations, 10M messages by default) straight into an empty database.
    Populate(populate::PopulateArgs),
    /// Measure lists, filters, search and threads of a populated installation.
    Reads(reads::ReadsArgs),
    /// Measure how soon an event committed on one node reaches an event stream on another.
    Fanout(fanout::FanoutArgs),
}

/// How the bench starts a server.
struct ServerOptions {
    parley_bin: Option<PathBuf>,
    database_url: Option<String>,
    /// The API key already installed in the database; a bootstrap key is made up when omitted.
    api_key: Option<String>,
    /// Answers virtual agents write at once.
    agent_concurrency: usize,
}

/// The server under test.
struct Target {
    /// Base URL without a trailing slash.
    base: String,
    api_key: String,
    /// What the report's first line says about the server.
    label: String,
    /// The server's process, when the bench started it (its memory is then reported).
    pid: Option<u32>,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A `parley` server started by the bench; killed when stopped or dropped, then its data removed.
struct Server {
    /// Declared before `dir` so the process is killed before its data directory is removed.
    child: Child,
    dir: TempDir,
    target: Target,
}

impl Server {
    /// Starts `parley` on a fresh data directory and a free port, and waits until it answers.
    async fn start(options: &ServerOptions) -> Result<Server> {
        let bin = match &options.parley_bin {
            Some(path) => path.clone(),
            None => std::env::current_exe().context("locating parley-bench")?.with_file_name("parley"),
        };
        ensure!(
            bin.is_file(),
            "{} not found: build it with `cargo build --release --bin parley` or pass --parley-bin",
            bin.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("finding a free port")?
            .port();
        let dir =
            TempDir(std::env::temp_dir().join(format!("parley-bench-{}-{}", std::process::id(), random_token(8))));
        std::fs::create_dir_all(&dir.0).with_context(|| format!("creating {}", dir.0.display()))?;
        let log = std::fs::File::create(dir.0.join("server.log")).context("creating the server log")?;
        let api_key = options.api_key.clone().unwrap_or_else(|| format!("bench-{}", random_token(26)));

        let mut command = Command::new(&bin);
        // Only the settings below: none inherited from this shell's PARLEY_* variables.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PARLEY_") {
                command.env_remove(name);
            }
        }
        command
            .env("PARLEY_DATA_DIR", &dir.0)
            .env("PARLEY_LISTEN", format!("127.0.0.1:{port}"))
            .env("PARLEY_BOOTSTRAP_API_KEY", &api_key)
            .env("PARLEY_LOG_FORMAT", "json")
            .env("PARLEY_RATE_LIMIT_PER_MINUTE", UNLIMITED)
            .env("PARLEY_RATE_LIMIT_BURST", UNLIMITED)
            .env("PARLEY_COMPAT_RATE_LIMIT_PER_MINUTE", UNLIMITED)
            .env("PARLEY_COMPAT_RATE_LIMIT_BURST", UNLIMITED)
            // The webhook phases' receivers listen on 127.0.0.1.
            .env("PARLEY_WEBHOOK_ALLOW_PRIVATE", "true")
            // The agent phase's customers all write at once, and each gets its answer at once.
            .env("PARLEY_AGENT_DEBOUNCE_MS", "0")
            .env("PARLEY_AGENT_CONCURRENCY", options.agent_concurrency.max(1).to_string())
            .env("PARLEY_AGENT_CONCURRENCY_PER_ACCOUNT", options.agent_concurrency.max(1).to_string())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().context("opening the server log")?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(url) = &options.database_url {
            command.env("PARLEY_DATABASE_URL", url);
        }
        let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let database =
            options.database_url.as_deref().map_or("sqlite", |url| url.split_once(':').map_or(url, |(s, _)| s));
        let target = Target {
            base: format!("http://127.0.0.1:{port}"),
            api_key,
            label: format!("database {database}"),
            pid: child.id(),
        };
        let mut server = Server { child, dir, target };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Polls `/healthz` until it answers 200; fails with the server's log if it exits or times out.
    async fn wait_ready(&mut self) -> Result<()> {
        let client = Client::builder().timeout(Duration::from_secs(2)).build().context("building the HTTP client")?;
        let url = format!("{}/healthz", self.target.base);
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().context("watching parley")? {
                bail!("parley exited ({status}) before answering /healthz; its log:\n{}", self.log_tail());
            }
            if let Ok(response) = client.get(&url).send().await {
                if response.status() == StatusCode::OK {
                    progress(format!(
                        "server ready at {} in {:.1} s",
                        self.target.base,
                        started.elapsed().as_secs_f64()
                    ));
                    return Ok(());
                }
            }
            if started.elapsed() > STARTUP_TIMEOUT {
                bail!("parley did not answer /healthz within {STARTUP_TIMEOUT:?}; its log:\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines the server wrote.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the server and waits for it to exit.
    async fn stop(mut self) -> Result<()> {
        self.child.kill().await.context("stopping parley")
    }
}

/// Outcome of a batch of requests.
struct Stats {
    ok: u64,
    /// Latency of successful requests, in microseconds.
    latency: Histogram<u64>,
    /// Failed requests by cause (`HTTP 429`, `transport`…).
    errors: BTreeMap<String, u64>,
    first_error: Option<String>,
}

impl Stats {
    fn new() -> Result<Stats> {
        Ok(Stats {
            ok: 0,
            latency: Histogram::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram")?,
            errors: BTreeMap::new(),
            first_error: None,
        })
    }

    fn error(&mut self, cause: String, detail: String) {
        *self.errors.entry(cause).or_default() += 1;
        self.first_error.get_or_insert(detail);
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn merge(&mut self, other: Stats) -> Result<()> {
        self.ok += other.ok;
        self.latency.add(&other.latency).context("merging histograms")?;
        for (cause, count) in other.errors {
            *self.errors.entry(cause).or_default() += count;
        }
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        Ok(())
    }

    /// `p50 1.2 ms  p99 3.4 ms`
    fn percentiles(&self) -> String {
        format!("p50 {}  p99 {}", ms(self.latency.value_at_quantile(0.5)), ms(self.latency.value_at_quantile(0.99)))
    }

    /// Sends one request; on the expected status records its latency and returns the body,
    /// otherwise counts the failure.
    async fn request(&mut self, request: RequestBuilder, expected: StatusCode) -> Option<Vec<u8>> {
        self.record(send(request, expected).await)
    }

    /// Counts one request's outcome; returns the body of a success.
    fn record(&mut self, outcome: Outcome) -> Option<Vec<u8>> {
        match outcome {
            Ok((latency, body)) => {
                self.ok += 1;
                self.latency.saturating_record(micros(latency));
                Some(body)
            }
            Err((cause, detail)) => {
                self.error(cause, detail);
                None
            }
        }
    }
}

/// What one request came to: its latency and body, or its failure's cause and detail.
type Outcome = std::result::Result<(Duration, Vec<u8>), (String, String)>;

/// Sends one request and reads the answer; anything but the `expected` status is a failure.
async fn send(request: RequestBuilder, expected: StatusCode) -> Outcome {
    let started = Instant::now();
    let transport = |e: reqwest::Error| ("transport".to_owned(), format!("{:#}", anyhow::Error::from(e)));
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let body = response.bytes().await.map_err(transport)?;
    if status == expected {
        Ok((started.elapsed(), body.to_vec()))
    } else {
        let text = String::from_utf8_lossy(&body);
        Err((format!("HTTP {}", status.as_u16()), format!("HTTP {status}: {}", truncate(&text, 200))))
    }
}

/// A phase of concurrent requests: its results and wall time.
struct Load {
    stats: Stats,
    elapsed: Duration,
    /// Items (messages, statuses) each request carries.
    per_request: usize,
}

impl Load {
    /// Items of successful requests per second of wall time.
    fn rate(&self) -> f64 {
        (self.stats.ok as usize * self.per_request) as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// One report line: counts, rate in `unit`, latency percentiles and maximum.
    fn line(&self, label: &str, unit: &str, route: &str) -> String {
        format!(
            "{label:<8} {:>6} ok, {} errors  {:>9.1} {unit}  {}  max {}  ({route})",
            self.stats.ok,
            self.stats.error_count(),
            self.rate(),
            self.stats.percentiles(),
            ms(self.stats.latency.max())
        )
    }
}

/// Sends `total` requests built by `request(i)` over `connections` concurrent tasks, each taking
/// the next index in turn.
async fn load<F>(total: usize, connections: usize, expected: StatusCode, request: F) -> Result<Load>
where
    F: Fn(usize) -> RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (request, next) = (request.clone(), next.clone());
            tokio::spawn(async move {
                let mut stats = Stats::new()?;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok::<_, anyhow::Error>(stats);
                    }
                    stats.request(request(i), expected).await;
                }
            })
        })
        .collect();
    let mut stats = Stats::new()?;
    for task in tasks {
        stats.merge(task.await.context("a load task failed")??)?;
    }
    Ok(Load { stats, elapsed: started.elapsed(), per_request: 1 })
}

/// Sends `GET /api/v1/conversations?{query}` [`LIST_REQUESTS`] times in a row; also returns the
/// `total` of the first successful answer.
async fn list(client: &Client, target: &Target, query: &str) -> Result<(Stats, Option<i64>)> {
    let url = format!("{}/api/v1/conversations?{query}", target.base);
    let mut stats = Stats::new()?;
    let mut total = None;
    for _ in 0..LIST_REQUESTS {
        let body = stats.request(client.get(&url), StatusCode::OK).await;
        if let (None, Some(body)) = (total, body) {
            let page: Value = serde_json::from_slice(&body).context("reading a conversation page")?;
            total = page["total"].as_i64();
        }
    }
    Ok((stats, total))
}

/// Creates the bench channels and returns their ids.
async fn create_channels(client: &Client, target: &Target, count: usize) -> Result<Vec<i64>> {
    const KINDS: [&str; 3] = ["whatsapp", "sms", "rcs"];
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let body = json!({
            "kind": KINDS[i % KINDS.len()],
            "name": format!("Bench {}", i + 1),
            "address": format!("+39320{:07}", i + 1),
            "simulation": true,
        });
        let response = client
            .post(format!("{}/api/v1/channels", target.base))
            .json(&body)
            .send()
            .await
            .context("creating a channel")?;
        let status = response.status();
        let text = response.text().await.context("reading the created channel")?;
        if status != StatusCode::CREATED {
            let hint = if status == StatusCode::UNAUTHORIZED {
                " (the API key was refused: a started server only installs it on an empty database)"
            } else {
                ""
            };
            bail!("creating a channel answered HTTP {status}{hint}: {}", truncate(&text, 300));
        }
        let channel: Value = serde_json::from_str(&text).context("reading the created channel")?;
        ids.push(channel["id"].as_i64().with_context(|| format!("created channel without an id: {text}"))?);
    }
    Ok(ids)
}

/// Pushes `total` inbound messages over `--connections` connections: message `i` comes from
/// contact `i % --contacts` to channel `i % channels`, with a provider id unique to this run.
async fn ingest(client: &Client, target: &Target, channels: &Arc<Vec<i64>>, args: &Args, total: usize) -> Result<Load> {
    let run_id = random_token(8);
    let (base, contacts, client, channels) = (target.base.clone(), args.contacts, client.clone(), channels.clone());
    load(total, args.connections, StatusCode::CREATED, move |i| {
        let contact = i % contacts;
        client.post(format!("{base}/api/v1/channels/{}/inbound", channels[i % channels.len()])).json(&json!({
            "from": format!("+39347{contact:07}"),
            "name": format!("Contact {contact}"),
            "type": "text",
            "text": format!("bench message {i} about order ORD-{i}"),
            "provider_message_id": format!("bench-{run_id}-{i}"),
        }))
    })
    .await
}

/// A webhook receiver served by the bench on 127.0.0.1; stops accepting when dropped.
struct Receiver {
    url: String,
    task: JoinHandle<()>,
}

impl Receiver {
    /// Serves `router` on a free loopback port; its URL is `/hook` there.
    async fn start(router: Router) -> Result<Receiver> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("binding a webhook receiver")?;
        let address = listener.local_addr().context("reading the receiver's address")?;
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                progress(format!("a webhook receiver stopped: {e}"));
            }
        });
        Ok(Receiver { url: format!("http://{address}/hook"), task })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the latency receiver has seen.
#[derive(Default)]
struct Arrivals {
    /// When the first `message.created` of each of the phase's messages arrived, by sequence number.
    first: HashMap<usize, Instant>,
    /// Further deliveries of a message already seen (delivery is at least once).
    duplicates: u64,
    /// Deliveries of anything else.
    other: u64,
}

/// The latency receiver's state: the provider id prefix of the phase's messages, and what arrived.
struct LatencyLog {
    prefix: String,
    arrivals: Mutex<Arrivals>,
}

impl LatencyLog {
    fn arrivals(&self) -> std::sync::MutexGuard<'_, Arrivals> {
        self.arrivals.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Notes when an inbound `message.created` of the phase arrives, by the sequence number at the end
/// of its provider id; answers 200 to everything.
async fn record_arrival(State(log): State<Arc<LatencyLog>>, body: Bytes) -> StatusCode {
    let arrived = Instant::now();
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    let data = &event["data"];
    let seq = if event["type"] == "message.created" && data["direction"] == "inbound" {
        let id = data["provider_message_id"].as_str().unwrap_or_default();
        id.strip_prefix(log.prefix.as_str()).and_then(|seq| seq.parse::<usize>().ok())
    } else {
        None
    };
    let mut arrivals = log.arrivals();
    match seq {
        Some(seq) if arrivals.first.contains_key(&seq) => arrivals.duplicates += 1,
        Some(seq) => {
            arrivals.first.insert(seq, arrived);
        }
        None => arrivals.other += 1,
    }
    StatusCode::OK
}

/// Reads the request, counts it, and never answers: the server's attempt runs into its timeout.
async fn hold(State(held): State<Arc<AtomicUsize>>, _body: Bytes) -> StatusCode {
    held.fetch_add(1, Ordering::Relaxed);
    std::future::pending().await
}

/// Subscribes `url` to `event_types` (every type when empty); returns the subscription's id.
async fn create_webhook(client: &Client, target: &Target, url: &str, event_types: &[&str]) -> Result<i64> {
    let mut body = json!({ "url": url, "description": "parley-bench receiver" });
    if !event_types.is_empty() {
        body["event_types"] = json!(event_types);
    }
    let response = client
        .post(format!("{}/api/v1/webhooks", target.base))
        .json(&body)
        .send()
        .await
        .context("creating a webhook")?;
    let status = response.status();
    let text = response.text().await.context("reading the created webhook")?;
    if status != StatusCode::CREATED {
        bail!(
            "creating a webhook to {url} answered HTTP {status} (the server must allow loopback targets: \
             PARLEY_WEBHOOK_ALLOW_PRIVATE=true; or pass --skip-webhooks): {}",
            truncate(&text, 300)
        );
    }
    let webhook: Value = serde_json::from_str(&text).context("reading the created webhook")?;
    webhook["id"].as_i64().with_context(|| format!("created webhook without an id: {text}"))
}

/// Deletes a subscription.
async fn delete_webhook(client: &Client, target: &Target, id: i64) -> Result<()> {
    let response =
        client.delete(format!("{}/api/v1/webhooks/{id}", target.base)).send().await.context("deleting a webhook")?;
    let status = response.status();
    ensure!(status == StatusCode::NO_CONTENT, "deleting webhook {id} answered HTTP {status}");
    Ok(())
}

/// Outcome of the webhook latency phase.
struct WebhookLatency {
    /// The inbound POSTs, sent at a steady rate.
    inbound: Load,
    /// Messages the server accepted.
    accepted: usize,
    /// Of those, messages whose webhook arrived.
    received: usize,
    duplicates: u64,
    /// From sending each inbound POST to its webhook's arrival, in microseconds.
    latency: Histogram<u64>,
}

/// Phase 4: subscribes a receiver to `message.created`, sends inbound messages at a steady rate
/// without waiting for answers, and times each message from its POST to its webhook; then deletes
/// the subscription.
async fn webhook_latency(client: &Client, target: &Target, channels: &[i64], args: &Args) -> Result<WebhookLatency> {
    let run_id = random_token(8);
    let log = Arc::new(LatencyLog { prefix: format!("bench-hook-{run_id}-"), arrivals: Mutex::default() });
    let receiver = Receiver::start(Router::new().route("/hook", post(record_arrival)).with_state(log.clone())).await?;
    let webhook = create_webhook(client, target, &receiver.url, &["message.created"]).await?;

    let total = args.webhook_rate as usize * args.webhook_secs as usize;
    progress(format!(
        "webhook latency: {total} inbound messages at {} msg/s, each timed to its message.created webhook",
        args.webhook_rate
    ));
    let period = Duration::from_secs_f64(1.0 / f64::from(args.webhook_rate));
    let mut sent_at = Vec::with_capacity(total);
    let mut accepted = vec![false; total];
    let mut stats = Stats::new()?;
    let mut inflight = JoinSet::new();
    let started = Instant::now();
    let schedule = tokio::time::Instant::from_std(started);
    for seq in 0..total {
        tokio::time::sleep_until(schedule + period.mul_f64(seq as f64)).await;
        let contact = seq % args.contacts;
        let request = client
            .post(format!("{}/api/v1/channels/{}/inbound", target.base, channels[seq % channels.len()]))
            .json(&json!({
                "from": format!("+39347{contact:07}"),
                "name": format!("Contact {contact}"),
                "type": "text",
                "text": format!("bench webhook message {seq}"),
                "provider_message_id": format!("{}{seq}", log.prefix),
            }));
        sent_at.push(Instant::now());
        inflight.spawn(async move { (seq, send(request, StatusCode::CREATED).await) });
        while let Some(done) = inflight.try_join_next() {
            let (seq, outcome) = done.context("an inbound request task failed")?;
            accepted[seq] = stats.record(outcome).is_some();
        }
    }
    while let Some(done) = inflight.join_next().await {
        let (seq, outcome) = done.context("an inbound request task failed")?;
        accepted[seq] = stats.record(outcome).is_some();
    }
    let inbound = Load { stats, elapsed: started.elapsed(), per_request: 1 };
    let expected = accepted.iter().filter(|ok| **ok).count();

    let deadline = Instant::now() + Duration::from_secs(args.webhook_wait_secs);
    while log.arrivals().first.len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delete_webhook(client, target, webhook).await?;
    drop(receiver);

    let arrivals = log.arrivals();
    let mut latency = Histogram::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram")?;
    let mut received = 0;
    for (seq, arrived) in &arrivals.first {
        if let (Some(sent), Some(true)) = (sent_at.get(*seq), accepted.get(*seq).copied()) {
            received += 1;
            latency.saturating_record(micros(arrived.saturating_duration_since(*sent)));
        }
    }
    Ok(WebhookLatency { inbound, accepted: expected, received, duplicates: arrivals.duplicates, latency })
}

/// Outcome of the dead-receiver phase: the same ingest run without and with the receiver.
struct DeadReceiver {
    without: Load,
    with: Load,
    /// Requests the receiver read and never answered.
    held: usize,
}

/// Phase 5: runs the ingest phase with no subscription, then again with every event subscribed to
/// by a receiver that never answers.
async fn dead_receiver(
    client: &Client,
    target: &Target,
    channels: &Arc<Vec<i64>>,
    args: &Args,
) -> Result<DeadReceiver> {
    let messages = args.webhook_messages.unwrap_or(args.messages);
    progress(format!("ingesting {messages} messages again, with no webhook"));
    let without = ingest(client, target, channels, args, messages).await?;

    let held = Arc::new(AtomicUsize::new(0));
    let receiver = Receiver::start(Router::new().route("/hook", post(hold)).with_state(held.clone())).await?;
    let webhook = create_webhook(client, target, &receiver.url, &[]).await?;
    progress(format!("ingesting {messages} messages again, every event also sent to a receiver that never answers"));
    let with = ingest(client, target, channels, args, messages).await?;
    let held = held.load(Ordering::Relaxed);
    delete_webhook(client, target, webhook).await?;
    drop(receiver);
    Ok(DeadReceiver { without, with, held })
}

/// When the stand-in model saw each bench customer's turn, by the customer's number.
#[derive(Default)]
struct ModelLog {
    /// Request received, first token sent, last token sent (wall clock, in Unix ms, comparable
    /// with the answer's `created_at`).
    turns: HashMap<usize, (Instant, Option<Instant>, Option<f64>)>,
}

/// The stand-in model's settings and log.
struct StandInModel {
    tokens: usize,
    pace: Duration,
    log: Mutex<ModelLog>,
}

impl StandInModel {
    fn log(&self) -> std::sync::MutexGuard<'_, ModelLog> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An OpenAI-compatible Chat Completions stream: the fixed answer, one token per event at the
/// model's pace, then `[DONE]`; notes when the turn (named by `bench-agent-<n>` in the last
/// message) arrived, when its first token went and when its last one did.
async fn stream_completion(State(model): State<Arc<StandInModel>>, body: Bytes) -> axum::response::Response {
    let received = Instant::now();
    let request: Value = serde_json::from_slice(&body).unwrap_or_default();
    let question = request["messages"].as_array().and_then(|m| m.last()).map(|m| m["content"].to_string());
    let turn = question
        .as_deref()
        .and_then(|q| q.split("bench-agent-").nth(1))
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse::<usize>().ok()));
    if let Some(turn) = turn {
        model.log().turns.insert(turn, (received, None, None));
    }
    let events = async_stream::stream! {
        for n in 0..model.tokens {
            if n > 0 {
                tokio::time::sleep(model.pace).await;
            }
            let chunk = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": format!("tok{n} ")}, "finish_reason": null}]});
            yield Ok::<_, std::convert::Infallible>(Bytes::from(format!("data: {chunk}\n\n")));
            if let Some(turn) = turn {
                let now = Instant::now();
                if let Some(entry) = model.log().turns.get_mut(&turn) {
                    entry.1.get_or_insert(now);
                    entry.2 = Some(unix_ms());
                }
            }
        }
        let finish = json!({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
        yield Ok(Bytes::from(format!("data: {finish}\n\ndata: [DONE]\n\n")));
    };
    axum::response::Response::builder()
        .header("content-type", "text/event-stream")
        .body(axum::body::Body::from_stream(events))
        .unwrap_or_default()
}

/// The wall clock in Unix milliseconds (fractions kept).
fn unix_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// When the first draft chunk of each conversation arrived on the event stream.
#[derive(Default)]
struct Observed {
    first_delta: HashMap<i64, Instant>,
}

/// Follows the account's event stream, noting the first `message.delta` of each conversation.
async fn follow_events(client: Client, url: String, observed: Arc<Mutex<Observed>>) -> Result<()> {
    let response =
        client.get(url).timeout(Duration::from_secs(3600)).send().await.context("opening the event stream")?;
    ensure!(response.status() == StatusCode::OK, "the event stream answered HTTP {}", response.status());
    each_event(response, |event, at| {
        let mut seen = observed.lock().unwrap_or_else(PoisonError::into_inner);
        if let (Some("message.delta"), Some(id)) = (event["type"].as_str(), event["data"]["conversation_id"].as_i64()) {
            seen.first_delta.entry(id).or_insert(at);
        }
    })
    .await
}

/// Reads an event stream to its end, handing each event's JSON (`type`, `data`…) and the moment
/// its chunk arrived to `on_event`.
async fn each_event(response: reqwest::Response, mut on_event: impl FnMut(Value, Instant)) -> Result<()> {
    let mut stream = response.bytes_stream();
    let mut buffer = String::new();
    while let Some(chunk) = futures::StreamExt::next(&mut stream).await {
        let at = Instant::now();
        buffer.push_str(&String::from_utf8_lossy(&chunk.context("reading the event stream")?));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let Some(data) = block.lines().find_map(|line| line.strip_prefix("data:")) else { continue };
            on_event(serde_json::from_str(data.trim()).unwrap_or_default(), at);
        }
    }
    Ok(())
}

/// Outcome of the virtual agent phase.
struct AgentLatency {
    answered: usize,
    /// What Parley adds to an answer, in microseconds.
    answer: Histogram<u64>,
    /// What Parley adds to the first draft chunk, in microseconds.
    first_delta: Histogram<u64>,
    /// Its parts: inbound POST sent → 201 received (ingestion), 201 → the model's request (the
    /// answer's queue), the model's last token → the answer stored (its `created_at`, to the ms).
    ingest: Histogram<u64>,
    queue: Histogram<u64>,
    store: Histogram<u64>,
}

/// Posts a JSON body and returns the created object, failing on any other status.
async fn create(client: &Client, target: &Target, path: &str, body: &Value) -> Result<Value> {
    let response = client
        .post(format!("{}{path}", target.base))
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {path}"))?;
    let status = response.status();
    let text = response.text().await.with_context(|| format!("reading POST {path}"))?;
    ensure!(status == StatusCode::CREATED, "POST {path} answered HTTP {status}: {}", truncate(&text, 300));
    serde_json::from_str(&text).with_context(|| format!("reading POST {path}"))
}

/// When the virtual agent's answer in a conversation was stored (its `created_at`, Unix ms), once
/// there is one.
async fn agent_answer_time(client: &Client, target: &Target, conversation: i64) -> Result<Option<f64>> {
    let url = format!("{}/api/v1/conversations/{conversation}/messages?limit=10", target.base);
    let page: Value = client.get(url).send().await.context("reading an agent conversation")?.json().await?;
    let answer = page["data"].as_array().and_then(|messages| {
        messages.iter().find(|m| m["sender"]["type"] == "virtual_agent").and_then(|m| m["created_at"].as_str())
    });
    Ok(answer
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.timestamp_micros() as f64 / 1000.0))
}

/// The virtual agent phase (see the module documentation): every customer writes at once (a
/// burst), or `steady`: one after another, spread over the length of one answer, so that about
/// `--agent-conversations` answers are being written at any time.
async fn agent_latency(client: &Client, target: &Target, args: &Args, steady: bool) -> Result<AgentLatency> {
    let model = Arc::new(StandInModel {
        tokens: args.agent_tokens.max(1),
        pace: Duration::from_millis(args.agent_pace_ms),
        log: Mutex::new(ModelLog::default()),
    });
    let router = Router::new().route("/hook/chat/completions", post(stream_completion)).with_state(model.clone());
    let stand_in = Receiver::start(router).await?;
    let channel = create(
        client,
        target,
        "/api/v1/channels",
        &json!({"kind": "whatsapp", "name": format!("Bench agents {}", u8::from(steady)),
                "address": format!("+39329000000{}", u8::from(steady)), "simulation": true}),
    )
    .await?;
    create(
        client,
        target,
        "/api/v1/agents",
        &json!({
            "name": "Bench agent", "engine": "openai", "languages": ["en"],
            "settings": {"base_url": stand_in.url, "model": "bench"},
            "channels": [{"channel_id": channel["id"], "answers_first": true}],
            "handoff": {"keywords": {}, "max_turns": null},
            "first_token_timeout_ms": 60_000, "answer_timeout_ms": 120_000,
        }),
    )
    .await?;
    let observed = Arc::new(Mutex::new(Observed::default()));
    let follower =
        tokio::spawn(follow_events(client.clone(), format!("{}/api/v1/events", target.base), observed.clone()));
    // The stream opens with a comment; give it a moment to be in place before the customers write.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer_time = Duration::from_millis(args.agent_pace_ms * args.agent_tokens as u64);
    let gap = if steady { answer_time / args.agent_conversations.max(1) as u32 } else { Duration::ZERO };
    progress(format!(
        "{} customers write to a virtual agent {}",
        args.agent_conversations,
        if steady { format!("one every {} ms", gap.as_millis()) } else { "at once".to_owned() }
    ));
    let inbound = format!("{}/api/v1/channels/{}/inbound", target.base, channel["id"]);
    // The second run's customers are other people.
    let first = if steady { 100_000 } else { 0 };
    let posts = (first..first + args.agent_conversations).map(|n| {
        let (client, inbound) = (client.clone(), inbound.clone());
        async move {
            tokio::time::sleep(gap * (n - first) as u32).await;
            let sent = Instant::now();
            let body = json!({"from": format!("+39348{n:07}"), "text": format!("bench-agent-{n} where is my order?")});
            let response = client.post(inbound).json(&body).send().await.ok()?;
            let created: Value = response.json().await.ok()?;
            Some((n, sent, Instant::now(), created["conversation"]["id"].as_i64()?))
        }
    });
    let customers: Vec<(usize, Instant, Instant, i64)> =
        futures::future::join_all(posts).await.into_iter().flatten().collect();
    // The answers as stored: each conversation's first message of the virtual agent.
    let wait = answer_time + Duration::from_secs(30);
    let started = Instant::now();
    let mut stored: HashMap<i64, f64> = HashMap::new();
    while stored.len() < customers.len() && started.elapsed() < wait {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for (_, _, _, conversation) in &customers {
            if stored.contains_key(conversation) {
                continue;
            }
            if let Some(at) = agent_answer_time(client, target, *conversation).await? {
                stored.insert(*conversation, at);
            }
        }
    }
    follower.abort();
    let empty = Histogram::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram")?;
    let (mut answer, mut first_delta) = (empty.clone(), empty.clone());
    let (mut ingest, mut queue, mut store) = (empty.clone(), empty.clone(), empty);
    let seen = observed.lock().unwrap_or_else(PoisonError::into_inner);
    let log = model.log();
    let mut answered = 0;
    for (n, sent, accepted, conversation) in &customers {
        let Some((received, Some(first), Some(last))) = log.turns.get(n).copied() else { continue };
        let asked = received.saturating_duration_since(*sent);
        ingest.saturating_record(micros(accepted.saturating_duration_since(*sent)));
        queue.saturating_record(micros(received.saturating_duration_since(*accepted)));
        if let Some(at) = stored.get(conversation) {
            answered += 1;
            let after_last = Duration::from_secs_f64(((at - last) / 1000.0).max(0.0));
            answer.saturating_record(micros(asked + after_last));
            store.saturating_record(micros(after_last));
        }
        if let Some(at) = seen.first_delta.get(conversation) {
            first_delta.saturating_record(micros(asked + at.saturating_duration_since(first)));
        }
    }
    Ok(AgentLatency { answered, answer, first_delta, ingest, queue, store })
}

/// Runs the phases against `target` and prints the report.
/// An HTTP client sending the target's API key, keeping up to `connections` connections.
fn client(target: &Target, connections: usize) -> Result<Client> {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(&target.api_key).context("the API key is not a valid header")?);
    Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

async fn run(args: &Args, target: &Target) -> Result<()> {
    let client = client(target, args.connections)?;
    let channels = Arc::new(create_channels(&client, target, args.channels).await?);
    let idle_kib = target.pid.and_then(|pid| memory_kib(pid, "VmRSS"));

    progress(format!("ingesting {} messages over {} connections", args.messages, args.connections));
    let ingest = ingest(&client, target, &channels, args, args.messages).await?;
    let peak_kib = target.pid.and_then(|pid| memory_kib(pid, "VmHWM"));

    let ceiling_requests = args.ceiling_requests.unwrap_or(args.messages);
    progress(format!("ceiling: {ceiling_requests} GET /healthz"));
    let (url, ceiling_client) = (format!("{}/healthz", target.base), client.clone());
    let ceiling = load(ceiling_requests, args.connections, StatusCode::OK, move |_| ceiling_client.get(&url)).await?;

    let whatsapp = whatsapp::run(&client, target, args).await?;

    progress(format!("listing conversations {LIST_REQUESTS} + {LIST_REQUESTS} times"));
    let (default_list, total) = list(&client, target, "limit=25").await?;
    let (search_list, matching) = list(&client, target, "limit=25&unread=true&q=order").await?;

    let webhooks = if args.skip_webhooks {
        None
    } else {
        let latency = webhook_latency(&client, target, &channels, args).await?;
        Some((latency, dead_receiver(&client, target, &channels, args).await?))
    };
    let agents = if args.skip_agents {
        None
    } else {
        Some([
            ("burst", agent_latency(&client, target, args, false).await?),
            ("steady", agent_latency(&client, target, args, true).await?),
        ])
    };

    let count = |n: Option<i64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let mut report = String::new();
    writeln!(
        report,
        "parley-bench: {} messages, {} contacts, {} channels, {} connections, {}",
        args.messages, args.contacts, args.channels, args.connections, target.label
    )?;
    writeln!(report, "{}", ingest.line("ingest", "msg/s", "POST /api/v1/channels/{id}/inbound"))?;
    if let (Some(idle), Some(peak)) = (idle_kib, peak_kib) {
        writeln!(
            report,
            "memory   server RSS {:.1} MB idle after start, peak {:.1} MB by the end of the ingest",
            idle as f64 / 1024.0,
            peak as f64 / 1024.0
        )?;
    }
    writeln!(report, "{}", ceiling.line("ceiling", "req/s", "GET /healthz"))?;
    writeln!(report, "ratio    ingest/ceiling {:.1} %", 100.0 * ingest.rate() / ceiling.rate().max(1e-9))?;
    let per = whatsapp::PER_DELIVERY;
    writeln!(
        report,
        "{}",
        whatsapp.inbound.line("wa in", "msg/s", &format!("POST /hooks/whatsapp, {per} messages each"))
    )?;
    writeln!(
        report,
        "{}",
        whatsapp.echoes.line("wa echo", "msg/s", &format!("POST /hooks/whatsapp, {per} echoes each"))
    )?;
    writeln!(
        report,
        "{}",
        whatsapp.statuses.line("wa stat", "sta/s", &format!("POST /hooks/whatsapp, {per} statuses each"))
    )?;
    writeln!(
        report,
        "list     {} conversations  default {} | unread+search ({} match) {}",
        count(total),
        default_list.percentiles(),
        count(matching),
        search_list.percentiles()
    )?;
    let mut phases = vec![
        ("ingest", &ingest.stats),
        ("ceiling", &ceiling.stats),
        ("wa in", &whatsapp.inbound.stats),
        ("wa echo", &whatsapp.echoes.stats),
        ("wa stat", &whatsapp.statuses.stats),
        ("list", &default_list),
        ("search", &search_list),
    ];
    if let Some((latency, dead)) = &webhooks {
        let route = format!("POST /api/v1/channels/{{id}}/inbound at a steady {} msg/s", args.webhook_rate);
        writeln!(report, "{}", latency.inbound.line("steady", "msg/s", &route))?;
        writeln!(
            report,
            "webhook  {} of {} received{}  p50 {}  p99 {}  max {}  (inbound POST sent → message.created webhook received)",
            latency.received,
            latency.accepted,
            if latency.duplicates > 0 { format!(" (+{} duplicates)", latency.duplicates) } else { String::new() },
            ms(latency.latency.value_at_quantile(0.5)),
            ms(latency.latency.value_at_quantile(0.99)),
            ms(latency.latency.max())
        )?;
        writeln!(report, "{}", dead.without.line("no hook", "msg/s", "the ingest again, no webhook"))?;
        let route = "the ingest again, every event also to a receiver that never answers";
        writeln!(report, "{}", dead.with.line("dead rcv", "msg/s", route))?;
        writeln!(
            report,
            "ratio    dead receiver/no webhook {:.1} %  ({} requests held unanswered by the receiver)",
            100.0 * dead.with.rate() / dead.without.rate().max(1e-9),
            dead.held
        )?;
        phases.extend([
            ("steady", &latency.inbound.stats),
            ("no hook", &dead.without.stats),
            ("dead rcv", &dead.with.stats),
        ]);
        if latency.received < latency.accepted {
            writeln!(
                report,
                "errors   webhook: {} of {} accepted messages got no webhook within {} s",
                latency.accepted - latency.received,
                latency.accepted,
                args.webhook_wait_secs
            )?;
        }
    }
    for (arrival, agents) in agents.iter().flatten() {
        writeln!(
            report,
            "agent    {arrival}: {} of {} answered ({} tokens every {} ms)  answer p50 {}  p99 {}  max {} | first delta p50 {}  p99 {}  max {}  \
             (time Parley adds: inbound POST → model request + last token → answer stored; first token → first message.delta)",
            agents.answered,
            args.agent_conversations,
            args.agent_tokens,
            args.agent_pace_ms,
            ms(agents.answer.value_at_quantile(0.5)),
            ms(agents.answer.value_at_quantile(0.99)),
            ms(agents.answer.max()),
            ms(agents.first_delta.value_at_quantile(0.5)),
            ms(agents.first_delta.value_at_quantile(0.99)),
            ms(agents.first_delta.max()),
        )?;
        let parts =
            [("ingest", &agents.ingest), ("queue", &agents.queue), ("store", &agents.store)].map(|(name, h)| {
                format!("{name} p50 {} p99 {}", ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99)))
            });
        writeln!(
            report,
            "         parts: {}  (POST sent → 201; 201 → model request; last token → answer stored)",
            parts.join(" | ")
        )?;
    }
    for (phase, stats) in phases {
        if let Some(first) = &stats.first_error {
            let causes: Vec<String> = stats.errors.iter().map(|(cause, n)| format!("{cause} ×{n}")).collect();
            writeln!(report, "errors   {phase}: {}; first: {first}", causes.join(", "))?;
        }
    }
    print!("{report}");
    Ok(())
}

/// A memory figure of a process from `/proc/<pid>/status` (`VmRSS` now, `VmHWM` its peak), in KiB;
/// `None` where `/proc` is not available.
fn memory_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with(field) && line[field.len()..].starts_with(':'))?;
    line[field.len() + 1..].trim().trim_end_matches("kB").trim().parse().ok()
}

/// A progress note on stderr, apart from the report.
fn progress(note: String) {
    eprintln!("parley-bench: {note}");
}

/// Random alphanumeric characters.
fn random_token(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
}

/// A duration in whole microseconds.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// Microseconds as milliseconds, with two decimals under 10 ms.
fn ms(micros: u64) -> String {
    let millis = micros as f64 / 1000.0;
    if millis < 10.0 {
        format!("{millis:.2} ms")
    } else {
        format!("{millis:.1} ms")
    }
}

/// At most `max` characters of `text`, on one line.
fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).map(|c| if c.is_control() { ' ' } else { c }).collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Some(Subcommand::Populate(args)) => populate::populate(args).await,
        Some(Subcommand::Reads(args)) => reads::reads(args).await,
        Some(Subcommand::Fanout(args)) => fanout::fanout(args).await,
        None => bench(cli.args).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("parley-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Starts a server unless `--url` names one, runs the phases, stops the server.
async fn bench(args: Args) -> Result<()> {
    ensure!(
        args.messages > 0 && args.contacts > 0 && args.channels > 0 && args.connections > 0,
        "--messages, --contacts, --channels and --connections must be at least 1"
    );
    ensure!(
        args.skip_webhooks || (args.webhook_rate > 0 && args.webhook_secs > 0 && args.webhook_messages != Some(0)),
        "--webhook-rate, --webhook-secs and --webhook-messages must be at least 1"
    );
    match (&args.url, &args.api_key) {
        (Some(url), Some(api_key)) => {
            let target = Target {
                base: url.trim_end_matches('/').to_owned(),
                api_key: api_key.clone(),
                label: format!("server {}", url.trim_end_matches('/')),
                pid: None,
            };
            run(&args, &target).await
        }
        _ => {
            let server = Server::start(&ServerOptions {
                parley_bin: args.parley_bin.clone(),
                database_url: args.database_url.clone(),
                api_key: None,
                agent_concurrency: args.agent_conversations,
            })
            .await?;
            let outcome = run(&args, &server.target).await;
            let stopped = server.stop().await;
            outcome.and(stopped)
        }
    }
}
