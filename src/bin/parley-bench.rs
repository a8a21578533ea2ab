//! `parley-bench`: how fast a Parley server ingests inbound messages, compared with the ceiling of
//! the same server on a trivial endpoint, and how fast it lists conversations at the resulting size.
//!
//! By default it starts the `parley` binary found next to itself, on a fresh temporary data
//! directory and a free local port, with the per-key rate limit lifted, and stops it at the end.
//! With `--url` and `--api-key` it targets a running server instead (its rate limit then applies).
//! After creating `--channels` simulated phone channels it runs three phases:
//!
//! 1. ingest: `--messages` inbound messages from `--contacts` senders, pushed over `--connections`
//!    concurrent connections to `POST /api/v1/channels/{id}/inbound` (201 counts as accepted);
//! 2. ceiling: `--ceiling-requests` `GET /healthz` with the same concurrency;
//! 3. list: 200 sequential `GET /api/v1/conversations?limit=25`, then 200 with `&unread=true&q=order`.
//!
//! Latencies are those of successful requests, body included; failed requests (other statuses,
//! transport errors) are counted and summarised. `--database-url` must name an empty database:
//! the bench's API key is only installed on the server's first start.
//!
//! ```text
//! cargo build --release --bin parley --bin parley-bench
//! ./target/release/parley-bench --messages 20000 --contacts 2000 --connections 32
//! ./target/release/parley-bench --database-url postgres://postgres@127.0.0.1:5432/parley_bench
//! ./target/release/parley-bench --url http://127.0.0.1:8080 --api-key "$PARLEY_API_KEY"
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::distributions::Alphanumeric;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Sequential requests of each listing measurement.
const LIST_REQUESTS: usize = 200;
/// How long the started server has to answer `/healthz`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Rate limit given to the started server: high enough never to interfere.
const UNLIMITED: &str = "1000000000";

/// Benchmark Parley: inbound ingestion against the server's ceiling, then conversation listing.
#[derive(Debug, Parser)]
#[command(name = "parley-bench", about)]
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
}

/// The server under test.
struct Target {
    /// Base URL without a trailing slash.
    base: String,
    api_key: String,
    /// What the report's first line says about the server.
    label: String,
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
    async fn start(args: &Args) -> Result<Server> {
        let bin = match &args.parley_bin {
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
        let api_key = format!("bench-{}", random_token(26));

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
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().context("opening the server log")?))
            .stderr(Stdio::from(log))
            .kill_on_drop(true);
        if let Some(url) = &args.database_url {
            command.env("PARLEY_DATABASE_URL", url);
        }
        let child = command.spawn().with_context(|| format!("starting {}", bin.display()))?;
        let database = args.database_url.as_deref().map_or("sqlite", |url| url.split_once(':').map_or(url, |(s, _)| s));
        let mut server = Server {
            child,
            dir,
            target: Target { base: format!("http://127.0.0.1:{port}"), api_key, label: format!("database {database}") },
        };
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
        let started = Instant::now();
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => {
                self.error("transport".to_owned(), format!("{:#}", anyhow::Error::from(e)));
                return None;
            }
        };
        let status = response.status();
        match response.bytes().await {
            Ok(body) if status == expected => {
                self.ok += 1;
                self.latency.saturating_record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
                Some(body.to_vec())
            }
            Ok(body) => {
                let text = String::from_utf8_lossy(&body);
                self.error(format!("HTTP {}", status.as_u16()), format!("HTTP {status}: {}", truncate(&text, 200)));
                None
            }
            Err(e) => {
                self.error("transport".to_owned(), format!("{:#}", anyhow::Error::from(e)));
                None
            }
        }
    }
}

/// A phase of concurrent requests: its results and wall time.
struct Load {
    stats: Stats,
    elapsed: Duration,
}

impl Load {
    /// Successful requests per second of wall time.
    fn rate(&self) -> f64 {
        self.stats.ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
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
    Ok(Load { stats, elapsed: started.elapsed() })
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

/// Runs the three phases against `target` and prints the report.
async fn run(args: &Args, target: &Target) -> Result<()> {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_str(&target.api_key).context("the API key is not a valid header")?);
    let client = Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(args.connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let channels = Arc::new(create_channels(&client, target, args.channels).await?);

    progress(format!("ingesting {} messages over {} connections", args.messages, args.connections));
    let run_id = random_token(8);
    let (base, contacts, ingest_client) = (target.base.clone(), args.contacts, client.clone());
    let ingest = load(args.messages, args.connections, StatusCode::CREATED, move |i| {
        let contact = i % contacts;
        ingest_client.post(format!("{base}/api/v1/channels/{}/inbound", channels[i % channels.len()])).json(&json!({
            "from": format!("+39347{contact:07}"),
            "name": format!("Contact {contact}"),
            "type": "text",
            "text": format!("bench message {i} about order ORD-{i}"),
            "provider_message_id": format!("bench-{run_id}-{i}"),
        }))
    })
    .await?;

    let ceiling_requests = args.ceiling_requests.unwrap_or(args.messages);
    progress(format!("ceiling: {ceiling_requests} GET /healthz"));
    let (url, ceiling_client) = (format!("{}/healthz", target.base), client.clone());
    let ceiling = load(ceiling_requests, args.connections, StatusCode::OK, move |_| ceiling_client.get(&url)).await?;

    progress(format!("listing conversations {LIST_REQUESTS} + {LIST_REQUESTS} times"));
    let (default_list, total) = list(&client, target, "limit=25").await?;
    let (search_list, matching) = list(&client, target, "limit=25&unread=true&q=order").await?;

    let count = |n: Option<i64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    let mut report = String::new();
    writeln!(
        report,
        "parley-bench: {} messages, {} contacts, {} channels, {} connections, {}",
        args.messages, args.contacts, args.channels, args.connections, target.label
    )?;
    writeln!(report, "{}", ingest.line("ingest", "msg/s", "POST /api/v1/channels/{id}/inbound"))?;
    writeln!(report, "{}", ceiling.line("ceiling", "req/s", "GET /healthz"))?;
    writeln!(report, "ratio    ingest/ceiling {:.1} %", 100.0 * ingest.rate() / ceiling.rate().max(1e-9))?;
    writeln!(
        report,
        "list     {} conversations  default {} | unread+search ({} match) {}",
        count(total),
        default_list.percentiles(),
        count(matching),
        search_list.percentiles()
    )?;
    for (phase, stats) in
        [("ingest", &ingest.stats), ("ceiling", &ceiling.stats), ("list", &default_list), ("search", &search_list)]
    {
        if let Some(first) = &stats.first_error {
            let causes: Vec<String> = stats.errors.iter().map(|(cause, n)| format!("{cause} ×{n}")).collect();
            writeln!(report, "errors   {phase}: {}; first: {first}", causes.join(", "))?;
        }
    }
    print!("{report}");
    Ok(())
}

/// A progress note on stderr, apart from the report.
fn progress(note: String) {
    eprintln!("parley-bench: {note}");
}

/// Random alphanumeric characters.
fn random_token(len: usize) -> String {
    rand::thread_rng().sample_iter(&Alphanumeric).take(len).map(char::from).collect()
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
    match bench(Args::parse()).await {
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
    match (&args.url, &args.api_key) {
        (Some(url), Some(api_key)) => {
            let target = Target {
                base: url.trim_end_matches('/').to_owned(),
                api_key: api_key.clone(),
                label: format!("server {}", url.trim_end_matches('/')),
            };
            run(&args, &target).await
        }
        _ => {
            let server = Server::start(&args).await?;
            let outcome = run(&args, &server.target).await;
            let stopped = server.stop().await;
            outcome.and(stopped)
        }
    }
}
