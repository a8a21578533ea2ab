//! The `parley` binary as an operator runs it: first start, CLI administration, shutdown.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_parley");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn parley(dir: &std::path::Path, port: u16) -> Command {
    let mut command = Command::new(BIN);
    command
        .env("PARLEY_DATA_DIR", dir)
        .env("PARLEY_LISTEN", format!("127.0.0.1:{port}"))
        .env("PARLEY_SIMULATION_STEP_MS", "10")
        .env("PARLEY_JOB_POLL_MS", "20")
        .env_remove("PARLEY_DATABASE_URL")
        .env_remove("PARLEY_BOOTSTRAP_API_KEY");
    command
}

/// A running `parley` process; killed when dropped, so a failing test leaves none behind.
pub struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `parley serve` and returns it with the lines it printed up to "listening".
pub fn start(mut command: Command) -> (Server, Vec<String>) {
    let mut child = Server(command.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap());
    let mut lines = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "parley exited early: {lines:?}");
        let done = line.contains("listening");
        lines.push(line.trim_end().to_owned());
        if done {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    (child, lines)
}

/// POSTs JSON with an API key and decodes the JSON answer.
pub async fn post_json(client: &reqwest::Client, url: String, key: &str, body: serde_json::Value) -> serde_json::Value {
    client.post(url).header("X-Api-Key", key).json(&body).send().await.unwrap().json().await.unwrap()
}

pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "parley did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test]
async fn first_start_prints_credentials_once_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut child, lines) = start(parley(dir.path(), port));
    let key_line = lines.iter().find(|l| l.contains("Admin API key:")).expect("key printed");
    let key = key_line.rsplit(' ').next().unwrap().to_owned();
    assert!(lines.iter().any(|l| l.contains("Operator login: admin@parley.local / ")));
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let channels = client.get(format!("{base}/api/v1/channels")).bearer_auth(&key).send().await.unwrap();
    assert_eq!(channels.status(), 200);
    let channel: serde_json::Value = post_json(
        &client,
        format!("{base}/api/v1/channels"),
        &key,
        json!({"kind": "sms", "name": "s", "address": "+393209998800", "simulation": true}),
    )
    .await;
    // An open event stream does not hold the shutdown up.
    let stream = client.get(format!("{base}/api/v1/events")).header("X-Api-Key", &key).send().await.unwrap();
    assert_eq!(stream.status(), 200);
    assert!(terminate(&mut child).success(), "SIGTERM is a clean exit");
    drop(stream);

    // Second start: nothing printed again, the same key still works, data is there.
    let (mut child, lines) = start(parley(dir.path(), port));
    let client = reqwest::Client::new();
    assert!(!lines.iter().any(|l| l.contains("Admin API key")), "credentials are printed once: {lines:?}");
    let again =
        client.get(format!("{base}/api/v1/channels/{}", channel["id"])).header("X-Api-Key", &key).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert!(terminate(&mut child).success());
}

#[tokio::test]
async fn queued_replies_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let key = "pk_restart_test_key_0123456789";
    let mut command = parley(dir.path(), port);
    command.env("PARLEY_BOOTSTRAP_API_KEY", key).env("PARLEY_JOB_POLL_MS", "600000");
    let (mut child, _) = start(command);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}/api/v1");
    let channel: serde_json::Value = post_json(
        &client,
        format!("{base}/channels"),
        key,
        json!({"kind": "sms", "name": "s", "address": "+393209998800", "simulation": true}),
    )
    .await;
    let inbound: serde_json::Value = post_json(
        &client,
        format!("{base}/channels/{}/inbound", channel["id"]),
        key,
        json!({"from": "+393471234567", "text": "ciao"}),
    )
    .await;
    let conversation = inbound["conversation"]["id"].as_i64().unwrap();
    // Jobs poll only every 10 minutes here, so the reply is still queued when the server stops.
    let reply = client
        .post(format!("{base}/conversations/{conversation}/messages"))
        .header("X-Api-Key", key)
        .json(&json!({"text": "arrivo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 202);
    assert!(terminate(&mut child).success());

    let (mut child, _) = start(parley(dir.path(), port));
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let thread: serde_json::Value = client
            .get(format!("{base}/conversations/{conversation}/messages"))
            .header("X-Api-Key", key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if thread["data"][1]["status"] == "read" {
            break;
        }
        assert!(Instant::now() < deadline, "the queued reply was not delivered after restart: {thread}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(terminate(&mut child).success());
}

#[test]
fn unknown_database_scheme_fails_with_the_accepted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let output =
        parley(dir.path(), free_port()).env("PARLEY_DATABASE_URL", "mysql://localhost/parley").output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mysql") && stderr.contains("sqlite://") && stderr.contains("postgres://"), "{stderr}");
}

#[tokio::test]
async fn cli_administers_accounts_keys_and_channels() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = parley(dir.path(), 0).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    // Administration refuses a database that is not there instead of making an empty one.
    let missing = parley(dir.path(), 0).args(["keys", "list"]).output().unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("no Parley database at") && stderr.contains("parley migrate"), "{stderr}");
    assert!(!dir.path().join("parley.db").exists(), "nothing was created");
    // Each command's help lists its own options and where the data is, not the server's.
    let help = run(&["keys", "list", "--help"]);
    assert!(help.contains("--data-dir") && help.contains("--account") && !help.contains("--listen"), "{help}");
    assert!(run(&["serve", "--help"]).contains("--listen"));

    run(&["migrate"]);
    let created = run(&["accounts", "create", "Acme"]);
    let key = created.lines().last().unwrap().to_owned();
    assert!(key.starts_with("pk_") && key.len() > 30, "{created}");
    let added = run(&[
        "channels",
        "add",
        "--account",
        "1",
        "--kind",
        "whatsapp",
        "--name",
        "Acme WA",
        "--address",
        "+393209998877",
        "--simulation",
    ]);
    assert!(added.contains("channel 1 created"), "{added}");
    let listed = run(&["channels", "list", "--account", "1"]);
    assert!(listed.contains("+393209998877") && listed.contains("simulation"), "{listed}");
    let second = run(&["keys", "create", "--account", "1", "--name", "ci"]);
    let keys = run(&["keys", "list", "--account", "1"]);
    assert!(keys.contains("ci") && keys.contains("active"), "{keys}");
    assert!(!keys.contains(second.lines().last().unwrap()), "key values are never listed");
    let id = second.lines().next().unwrap().split_whitespace().nth(1).unwrap().to_owned();
    run(&["keys", "revoke", "--account", "1", &id]);
    assert!(run(&["keys", "list", "--account", "1"]).contains("revoked"));
    let bad = parley(dir.path(), 0)
        .args(["channels", "add", "--kind", "fax", "--name", "x", "--address", "1"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown channel kind"));
}

crate::postgres_test!(
    async fn administration_refuses_a_database_without_parley_tables() {
        let database = crate::helpers::TestDatabase::create().await;
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            parley(dir.path(), 0).env("PARLEY_DATABASE_URL", &database.url).args(args).output().unwrap()
        };
        let refused = run(&["keys", "list"]);
        assert!(!refused.status.success());
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("no Parley tables"), "{stderr}");
        assert!(run(&["migrate"]).status.success());
        assert!(run(&["keys", "list"]).status.success(), "after `parley migrate` it works");
    }
);
