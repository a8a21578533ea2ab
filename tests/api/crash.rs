//! A real `parley` process killed with SIGKILL under inbound load, with and without
//! `Idempotency-Key`s, then restarted: every acknowledged message is stored exactly once, and
//! every key can be retried after the restart and stores its message exactly once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::TestDatabase;
use crate::process::{free_port, parley, start};

const KEY: &str = "pk_crash_test_key_0123456789";

/// One inbound request sent under load.
#[derive(Debug, Clone, Copy, Default)]
struct Sent {
    keyed: bool,
    acknowledged: bool,
}

/// Starts parley on `dir` (and `database_url`, when PostgreSQL); requests stop after 1 s, so a
/// claim on a key lasts 2 s. The key's rate limit is out of the way of the retries.
fn launch(dir: &std::path::Path, port: u16, database_url: Option<&str>) -> crate::process::Server {
    let mut command = parley(dir, port);
    command
        .env("PARLEY_BOOTSTRAP_API_KEY", KEY)
        .env("PARLEY_REQUEST_TIMEOUT_MS", "1000")
        .env("PARLEY_RATE_LIMIT_PER_MINUTE", "1000000")
        .env("PARLEY_RATE_LIMIT_BURST", "100000");
    if let Some(url) = database_url {
        command.env("PARLEY_DATABASE_URL", url);
    }
    start(command).0
}

async fn post_inbound(client: &reqwest::Client, url: &str, text: &str, keyed: bool) -> Option<reqwest::StatusCode> {
    let mut request = client.post(url).header("X-Api-Key", KEY).json(&json!({"from": "+393471234567", "text": text}));
    if keyed {
        request = request.header("Idempotency-Key", text);
    }
    request.send().await.ok().map(|response| response.status())
}

/// Sends inbound messages from 16 clients, half of them keyed, until `stop`; records each one.
async fn load(url: String, round: usize, stop: Arc<AtomicBool>, sent: Arc<Mutex<HashMap<String, Sent>>>) {
    let workers = (0..16).map(|worker| {
        let (url, stop, sent) = (url.clone(), stop.clone(), sent.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("r{round}-w{worker}-{n}");
                let keyed = n % 2 == 0;
                n += 1;
                sent.lock().unwrap().insert(text.clone(), Sent { keyed, acknowledged: false });
                let status = post_inbound(&client, &url, &text, keyed).await;
                match status {
                    Some(status) if status.is_success() => {
                        sent.lock().unwrap().insert(text, Sent { keyed, acknowledged: true });
                    }
                    // Stopped after the request timeout under load: unacknowledged, like a crash.
                    Some(status) if status == reqwest::StatusCode::SERVICE_UNAVAILABLE => {}
                    Some(status) => panic!("{text} answered {status} before the crash"),
                    None => break,
                }
            }
        })
    });
    for worker in futures::future::join_all(workers).await {
        worker.unwrap();
    }
}

async fn crash_under_load_loses_and_doubles_nothing(database: Option<TestDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let database_url = database.as_ref().map(|db| db.url.clone());
    let mut child = launch(dir.path(), port, database_url.as_deref());
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let client = reqwest::Client::new();
    let channel = client
        .post(format!("{base}/channels"))
        .header("X-Api-Key", KEY)
        .json(&json!({"kind": "sms", "name": "s", "address": "+393209998800", "simulation": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(channel.status(), 201);
    let channel: serde_json::Value = channel.json().await.unwrap();
    let url = format!("{base}/channels/{}/inbound", channel["id"]);
    let sent = Arc::new(Mutex::new(HashMap::new()));

    for round in 0..2 {
        let stop = Arc::new(AtomicBool::new(false));
        let running = tokio::spawn(load(url.clone(), round, stop.clone(), sent.clone()));
        let started = Instant::now();
        while sent.lock().unwrap().values().filter(|s| s.acknowledged).count() < 100 * (round + 1) {
            assert!(started.elapsed() < Duration::from_secs(30), "the load did not get going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        let killed_at = Instant::now();
        child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        running.await.unwrap();

        child = launch(dir.path(), port, database_url.as_deref());
        // Claims made before the crash end 2 s after it; then every key can be retried.
        tokio::time::sleep(Duration::from_millis(2100).saturating_sub(killed_at.elapsed())).await;
        let keyed: Vec<String> = sent.lock().unwrap().iter().filter(|(_, s)| s.keyed).map(|(t, _)| t.clone()).collect();
        let retries = keyed.iter().map(|text| {
            let (client, url) = (client.clone(), url.clone());
            async move { (text.clone(), post_inbound(&client, &url, text, true).await) }
        });
        for (text, status) in futures::future::join_all(retries).await {
            assert!(status.is_some_and(|s| s.is_success()), "retrying {text} after the restart answered {status:?}");
        }
    }

    let url = database_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("parley.db").display()));
    let db = parley::store::Db::connect(&url).await.unwrap();
    let counts: Vec<(String, i64)> =
        sqlx::query_as("SELECT text, COUNT(*) FROM messages GROUP BY text").fetch_all(db.reader()).await.unwrap();
    db.close().await;
    let counts: HashMap<String, i64> = counts.into_iter().collect();
    let sent = sent.lock().unwrap();
    let acknowledged = sent.values().filter(|s| s.acknowledged).count();
    for (text, how) in sent.iter() {
        let stored = counts.get(text).copied().unwrap_or(0);
        if how.acknowledged || how.keyed {
            assert_eq!(stored, 1, "{text} ({how:?}) is stored {stored} times");
        } else {
            assert!(stored <= 1, "{text} ({how:?}) is stored {stored} times");
        }
    }
    assert!(counts.keys().all(|text| sent.contains_key(text)), "nothing else is stored");
    assert!(acknowledged >= 200, "{acknowledged} acknowledged messages");
    crate::process::terminate(&mut child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_under_load_loses_and_doubles_nothing_sqlite() {
    crash_under_load_loses_and_doubles_nothing(None).await;
}

crate::postgres_test!(
    async fn crash_under_load_loses_and_doubles_nothing_postgres() {
        crash_under_load_loses_and_doubles_nothing(Some(TestDatabase::create().await)).await;
    }
);
