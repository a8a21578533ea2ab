//! `parley-bench reads`: how fast a populated installation (see `parley-bench populate`) lists,
//! filters and searches conversations, searches contacts and opens threads, through the native
//! API and the seed platform's inbox. Each measurement is `--requests` requests one after another;
//! filter values come from the installation itself (the first page's channels, assignees, tags).

use std::fmt::Write as _;

use anyhow::{ensure, Context, Result};
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::Value;

use crate::corpus::{self, VOCABULARY};
use crate::{ms, progress, Server, ServerOptions, Stats, Target};

/// Options of `parley-bench reads`.
#[derive(Debug, Args)]
pub struct ReadsArgs {
    /// The populated database to serve.
    #[arg(long, env = "PARLEY_BENCH_DATABASE_URL")]
    database_url: String,
    /// The API key `populate` installed.
    #[arg(long, env = "PARLEY_BENCH_API_KEY", hide_env_values = true)]
    api_key: String,
    /// The `parley` binary to start; the one next to this executable when omitted.
    #[arg(long, env = "PARLEY_BENCH_PARLEY_BIN")]
    parley_bin: Option<std::path::PathBuf>,
    /// Requests of each measurement.
    #[arg(long, default_value_t = 200)]
    requests: usize,
}

/// A measurement: what it asks, how its path is drawn, and how many requests it makes when not
/// `--requests`.
struct Measure {
    label: String,
    path: Box<dyn FnMut(&mut StdRng) -> String>,
    requests: Option<usize>,
}

/// A measurement whose path is drawn anew for each request.
fn drawn(label: &str, path: impl FnMut(&mut StdRng) -> String + 'static) -> Measure {
    Measure { label: label.to_owned(), path: Box::new(path), requests: None }
}

/// Requests of each report measurement: a report reads a year of figures.
const REPORT_REQUESTS: usize = 10;

/// Starts Parley on the populated database and measures its reads.
pub async fn reads(args: ReadsArgs) -> Result<()> {
    ensure!(args.requests > 0, "--requests must be at least 1");
    let server = Server::start(&ServerOptions {
        parley_bin: args.parley_bin.clone(),
        database_url: Some(args.database_url.clone()),
        api_key: Some(args.api_key.clone()),
        agent_concurrency: 1,
    })
    .await?;
    let outcome = measure(&args, &server.target).await;
    let stopped = server.stop().await;
    outcome.and(stopped)
}

async fn measure(args: &ReadsArgs, target: &Target) -> Result<()> {
    let client = crate::client(target, 1)?;
    let get = |path: String| {
        let (client, url) = (client.clone(), format!("{}{path}", target.base));
        async move {
            let response = client.get(&url).send().await.with_context(|| format!("GET {url}"))?;
            ensure!(response.status() == StatusCode::OK, "GET {url}: HTTP {}", response.status());
            response.json::<Value>().await.context("reading an answer")
        }
    };
    let first = get("/api/v1/conversations?limit=100&archived=any".to_owned()).await?;
    let page = first["data"].as_array().context("a conversation page")?;
    let pick = |pointer: &str| {
        page.iter()
            .find_map(|c| c.pointer(pointer).and_then(Value::as_i64))
            .context(format!("no conversation has {pointer}"))
    };
    let channel = pick("/channel/id")?;
    let assignee = pick("/assignee_id")?;
    let tag = page
        .iter()
        .find_map(|c| c["tags"].as_array().and_then(|tags| tags.first()).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| corpus::TAGS[3].to_owned());
    let newest = get("/api/v1/conversations?limit=1&order=-id&archived=any".to_owned()).await?;
    let max_id = newest["data"][0]["id"].as_i64().context("an empty installation: run populate first")?;

    let fixed = |label: &str, path: String| drawn(label, move |_| path.clone());
    let report = |label: &str, path: String| Measure { requests: Some(REPORT_REQUESTS), ..fixed(label, path) };
    let now = parley::domain::time::now_ms();
    let day = 86_400_000;
    let year = format!(
        "/api/v1/reports/activity?from={}&to={}",
        parley::domain::time::to_rfc3339(now - 366 * day),
        parley::domain::time::to_rfc3339(now)
    );
    let week =
        format!("/api/v1/reports/activity?from={}&group_by=channel", parley::domain::time::to_rfc3339(now - 7 * day));
    let list = "/api/v1/conversations?limit=25";
    let mut measures = vec![
        fixed("list: default order", list.to_owned()),
        fixed("list: unread", format!("{list}&unread=true")),
        fixed("list: channel", format!("{list}&channel_id={channel}")),
        fixed("list: status pending", format!("{list}&status=pending")),
        fixed("list: assignee", format!("{list}&assignee_id={assignee}")),
        fixed("list: tag", format!("{list}&tag={tag}")),
        fixed("list: meta plan", format!("{list}&meta[plan]=bronze")),
        drawn("search: one word", move |rng| {
            format!("{list}&q={}", urlencode(VOCABULARY[rng.gen_range(0..VOCABULARY.len())]))
        }),
        drawn("search: two words", move |rng| {
            let (a, b) = (rng.gen_range(0..VOCABULARY.len()), rng.gen_range(0..VOCABULARY.len()));
            format!("{list}&q={}", urlencode(&format!("{} {}", VOCABULARY[a], VOCABULARY[b])))
        }),
        drawn("search: order number", move |rng| format!("{list}&q=ORD-{}", rng.gen_range(100_000..1_100_000))),
        drawn("contacts: name substring", |rng| {
            let (first, last) = corpus::person(rng.gen_range(0..1_600));
            let name = format!("{first} {last}");
            let chars: Vec<char> = name.chars().collect();
            let start = rng.gen_range(0..chars.len() - 3);
            let end = (start + rng.gen_range(3..=6)).min(chars.len());
            format!("/api/v1/contacts?limit=25&q={}", urlencode(&chars[start..end].iter().collect::<String>()))
        }),
        drawn("contacts: phone digits", |rng| {
            format!("/api/v1/contacts?limit=25&q={}", rng.gen_range(1_000_000..10_000_000))
        }),
        drawn("thread: last 50 messages", move |rng| {
            format!("/api/v1/conversations/{}/messages?limit=50", rng.gen_range(1..=max_id))
        }),
        fixed("seed 000: inbox list (1000)", "/api/partner-gateway/v1/inbox/conversations".to_owned()),
        drawn("seed 000: thread", move |rng| {
            format!("/api/partner-gateway/v1/inbox/conversations/{}/messages", rng.gen_range(1..=max_id))
        }),
        report("report: year, daily", year.clone()),
        report("report: year, weeks×channel", format!("{year}&interval=week&group_by=channel")),
        report("report: year, by operator", format!("{year}&group_by=operator")),
        report("report: 7 days by channel", week),
        report("report: workload", "/api/v1/reports/workload".to_owned()),
    ];
    let mut report = String::new();
    writeln!(report, "parley-bench reads: {max_id} conversations, {} requests each, {}", args.requests, target.label)?;
    let mut rng = StdRng::seed_from_u64(7);
    for measure in &mut measures {
        progress(measure.label.clone());
        let mut stats = Stats::new()?;
        let mut matches = Vec::new();
        for _ in 0..measure.requests.unwrap_or(args.requests) {
            let url = format!("{}{}", target.base, (measure.path)(&mut rng));
            if let Some(body) = stats.request(client.get(&url), StatusCode::OK).await {
                let value: Value = serde_json::from_slice(&body).unwrap_or_default();
                matches.push(value["total"].as_i64().or_else(|| value.as_array().map(|a| a.len() as i64)));
            }
        }
        let counted: Vec<i64> = matches.into_iter().flatten().collect();
        let found = if counted.is_empty() { String::new() } else { format!("  (matches: median {})", median(counted)) };
        let h = &stats.latency;
        writeln!(
            report,
            "{:<28} p50 {:>8}  p95 {:>8}  p99 {:>8}  max {:>8}{found}{}",
            measure.label,
            ms(h.value_at_quantile(0.5)),
            ms(h.value_at_quantile(0.95)),
            ms(h.value_at_quantile(0.99)),
            ms(h.max()),
            if stats.error_count() > 0 {
                format!("  {} errors, first: {}", stats.error_count(), stats.first_error.as_deref().unwrap_or_default())
            } else {
                String::new()
            }
        )?;
    }
    if let Some(pid) = target.pid {
        if let Some(kib) = crate::memory_kib(pid, "VmHWM") {
            writeln!(report, "memory   server peak RSS {:.1} MB", kib as f64 / 1024.0)?;
        }
    }
    print!("{report}");
    Ok(())
}

fn median(mut values: Vec<i64>) -> i64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Percent-encodes a query parameter value.
fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
