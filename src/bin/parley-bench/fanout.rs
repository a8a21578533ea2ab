//! `parley-bench fanout`: how soon an event committed on one node reaches an event stream open on
//! another. Inbound messages are posted to `--post-url` at a steady `--rate`, each without waiting
//! for the previous ones, while `GET /api/v1/events` is followed on `--stream-url`; each message's
//! latency runs from its POST being sent to its `message.created` arriving on the stream (so it
//! includes ingestion). With the same URL twice it measures one node alone, for comparison.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::{micros, ms, progress, random_token};

/// Options of `parley-bench fanout`.
#[derive(Debug, Args)]
pub struct FanoutArgs {
    /// The node (or balancer) inbound messages are posted to.
    #[arg(long)]
    post_url: String,
    /// The node whose event stream is followed.
    #[arg(long)]
    stream_url: String,
    /// An API key of the installation.
    #[arg(long, env = "PARLEY_BENCH_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Inbound messages to send.
    #[arg(long, default_value_t = 500)]
    messages: usize,
    /// Inbound messages per second.
    #[arg(long, default_value_t = 50)]
    rate: u32,
}

/// How long stragglers are awaited after the last message was sent.
const WAIT: Duration = Duration::from_secs(10);

/// Runs the measurement and prints its report.
pub async fn fanout(args: FanoutArgs) -> Result<()> {
    ensure!(args.messages > 0 && args.rate > 0, "--messages and --rate must be at least 1");
    let client = Client::new();
    let (post_url, stream_url) = (args.post_url.trim_end_matches('/'), args.stream_url.trim_end_matches('/'));
    let address = format!("+1555{}", rand::random::<u32>() % 10_000_000);
    let channel: Value = client
        .post(format!("{post_url}/api/v1/channels"))
        .header("X-Api-Key", &args.api_key)
        .json(&json!({"kind": "sms", "name": "fanout bench", "address": address, "simulation": true}))
        .send()
        .await
        .context("creating a channel")?
        .error_for_status()
        .context("creating a channel")?
        .json()
        .await?;
    let inbound = format!("{post_url}/api/v1/channels/{}/inbound", channel["id"]);
    let run = random_token(8);
    let arrived: Arc<Mutex<HashMap<usize, Instant>>> = Arc::default();
    let response = client
        .get(format!("{stream_url}/api/v1/events"))
        .header("X-Api-Key", &args.api_key)
        .send()
        .await
        .context("opening the event stream")?;
    ensure!(response.status() == StatusCode::OK, "the event stream answered HTTP {}", response.status());
    let follower = tokio::spawn(follow(response, format!("fanout-{run}-"), arrived.clone()));

    progress(format!("fanout: {} messages at {}/s to {post_url}, stream on {stream_url}", args.messages, args.rate));
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    let mut sent_at = Vec::with_capacity(args.messages);
    for seq in 0..args.messages {
        tokio::time::sleep_until((started + Duration::from_secs_f64(seq as f64 / f64::from(args.rate))).into()).await;
        sent_at.push(Instant::now());
        let request = client
            .post(&inbound)
            .header("X-Api-Key", &args.api_key)
            .json(&json!({"from": format!("+1666{:07}", seq % 1000), "text": format!("fanout-{run}-{seq}")}));
        sends.spawn(async move { request.send().await.map(|r| r.status().is_success()).unwrap_or(false) });
    }
    let mut failed = 0;
    while let Some(done) = sends.join_next().await {
        failed += usize::from(!done.unwrap_or(false));
    }
    let deadline = Instant::now() + WAIT;
    while arrived.lock().unwrap_or_else(PoisonError::into_inner).len() + failed < args.messages
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    follower.abort();

    let arrived = arrived.lock().unwrap_or_else(PoisonError::into_inner);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).context("creating a histogram")?;
    for (seq, at) in arrived.iter() {
        if let Some(sent) = sent_at.get(*seq) {
            latency.saturating_record(micros(at.saturating_duration_since(*sent)));
        }
    }
    let same = if post_url == stream_url { "the same node" } else { "another node" };
    println!("fanout: inbound POST on {post_url} → message.created on the event stream of {same} ({stream_url})");
    println!(
        "  {} of {} arrived ({failed} POSTs failed)  p50 {}  p90 {}  p99 {}  max {}",
        latency.len(),
        args.messages,
        ms(latency.value_at_quantile(0.5)),
        ms(latency.value_at_quantile(0.9)),
        ms(latency.value_at_quantile(0.99)),
        ms(latency.max())
    );
    Ok(())
}

/// Notes when each message of this run arrives on the stream as `message.created`.
async fn follow(response: reqwest::Response, prefix: String, arrived: Arc<Mutex<HashMap<usize, Instant>>>) {
    let noted = crate::each_event(response, |event, at| {
        if event["type"] != "message.created" {
            return;
        }
        let seq = event["data"]["text"].as_str().and_then(|t| t.strip_prefix(&prefix)).and_then(|s| s.parse().ok());
        if let Some(seq) = seq {
            arrived.lock().unwrap_or_else(PoisonError::into_inner).entry(seq).or_insert(at);
        }
    });
    if let Err(e) = noted.await {
        progress(format!("fanout: the event stream ended: {e:#}"));
    }
}
