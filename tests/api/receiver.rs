//! The reference webhook receiver (tests/receiver/receiver.py) as a child process: it verifies
//! every delivery with the official Standard Webhooks library and records what it accepted.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/receiver/receiver.py");

/// Starts one of the tests' Python servers (`args`: the script and its arguments) with the
/// suite's Python, which has `package` installed; answers the process and the port it printed
/// (`listening PORT`) once ready.
pub async fn start_python(args: &[&str], package: &str) -> (Child, u16) {
    let python = std::env::var("PARLEY_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = Command::new(&python)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {python}: {e} (run the suite with scripts/test)"));
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{} did not start in time", args[0]))
        .expect("server output")
        .unwrap_or_else(|| panic!("{} exited: is {package} installed? run the suite with scripts/test", args[0]));
    let port = line.strip_prefix("listening ").and_then(|p| p.parse().ok()).expect("listening line");
    (child, port)
}

/// A running receiver.
pub struct Receiver {
    pub port: u16,
    child: Child,
    client: reqwest::Client,
}

impl Receiver {
    /// Starts a receiver on a free port.
    pub async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    /// Starts a receiver on `port` (0 for any).
    pub async fn start_on(port: u16) -> Receiver {
        let (child, port) = start_python(&[SCRIPT, "--port", &port.to_string()], "standardwebhooks").await;
        Receiver { port, child, client: reqwest::Client::new() }
    }

    /// The URL webhooks should be sent to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Sets the secrets it verifies with and how it answers.
    pub async fn configure(&self, settings: Value) {
        let reply =
            self.client.post(format!("http://127.0.0.1:{}/_control", self.port)).json(&settings).send().await.unwrap();
        assert_eq!(reply.status(), 204);
    }

    /// Trusts `secret` and answers 200.
    pub async fn accept(&self, secret: &str) {
        self.configure(json!({"secrets": [secret], "mode": "ok"})).await;
    }

    /// Switches how it answers.
    pub async fn mode(&self, mode: &str) {
        self.configure(json!({"mode": mode})).await;
    }

    /// What it has seen: `received` (verified and answered 200), `rejected`, `attempts`.
    pub async fn seen(&self) -> Value {
        self.client.get(format!("http://127.0.0.1:{}/_events", self.port)).send().await.unwrap().json().await.unwrap()
    }

    /// What it accepted as (`webhook-id`, payload), in event order (deliveries run concurrently,
    /// so arrival order is not event order).
    async fn accepted(&self) -> Vec<(String, Value)> {
        let seen = self.seen().await;
        let mut accepted: Vec<(String, Value)> = seen["received"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["id"].as_str().unwrap().to_owned(), r["payload"].clone()))
            .collect();
        accepted.sort_by_key(|(id, _)| id.trim_start_matches("evt_").parse::<i64>().unwrap());
        accepted
    }

    /// The payloads it accepted, in event order.
    pub async fn payloads(&self) -> Vec<Value> {
        self.accepted().await.into_iter().map(|(_, payload)| payload).collect()
    }

    /// The `webhook-id` of everything it accepted, in event order.
    pub async fn ids(&self) -> Vec<String> {
        self.accepted().await.into_iter().map(|(id, _)| id).collect()
    }

    /// Stops it (connections are then refused).
    pub async fn stop(&mut self) {
        self.child.kill().await.unwrap();
    }
}
