//! Three `parley --cluster` processes on one PostgreSQL database behind haproxy (Debian's
//! package, configured from scripts/haproxy.cfg.template as scripts/cluster does), with media in a
//! moto S3 bucket: they behave as one Parley to integrators and operators, a node killed mid-load
//! loses nothing, and a rolling restart under load drops no request.

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::TestDatabase;
use crate::process::{free_port, start, Server};
use crate::receiver::Receiver;
use crate::s3::S3Server;

const BIN: &str = env!("CARGO_BIN_EXE_parley");
const KEY: &str = "pk_cluster_test_key_0123456789";
const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery";
const BUCKET: &str = "parley-cluster";

/// haproxy, stopped when dropped.
struct Balancer(std::process::Child);

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The nodes, the balancer in front of them and what they share.
pub struct Cluster {
    nodes: Vec<Option<Server>>,
    /// Settings every node gets besides the cluster's own.
    settings: Vec<(String, String)>,
    ports: Vec<u16>,
    /// The balancer's base URL.
    base: String,
    database: TestDatabase,
    s3: S3Server,
    client: reqwest::Client,
    _balancer: Balancer,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `count` nodes behind haproxy.
    pub async fn start(count: usize) -> Cluster {
        Cluster::start_with(count, &[]).await
    }

    /// Starts `count` nodes with these extra settings behind haproxy.
    async fn start_with(count: usize, settings: &[(&str, &str)]) -> Cluster {
        let database = TestDatabase::create().await;
        let s3 = S3Server::start().await;
        s3.create_bucket(BUCKET).await;
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<u16> = (0..count).map(|_| free_port()).collect();
        let lb_port = free_port();
        let servers: Vec<String> =
            ports.iter().enumerate().map(|(i, port)| format!("    server n{i} 127.0.0.1:{port} check")).collect();
        let template = include_str!("../../scripts/haproxy.cfg.template");
        let config =
            template.replace("{{LISTEN}}", &format!("127.0.0.1:{lb_port}")).replace("{{SERVERS}}", &servers.join("\n"));
        let config_path = dir.path().join("haproxy.cfg");
        std::fs::write(&config_path, config).unwrap();
        let haproxy = std::env::var("PARLEY_HAPROXY").unwrap_or_else(|_| "haproxy".to_owned());
        let balancer = Command::new(&haproxy)
            .args(["-db", "-f"])
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {haproxy}: {e} (scripts/test installs Debian's haproxy)"));
        let mut cluster = Cluster {
            nodes: (0..count).map(|_| None).collect(),
            settings: settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ports,
            base: format!("http://127.0.0.1:{lb_port}"),
            database,
            s3,
            client: reqwest::Client::new(),
            _balancer: Balancer(balancer),
            dir,
        };
        for node in 0..count {
            cluster.launch(node).await;
        }
        cluster.until(|c| async move { c.ready_behind_balancer().await == count }).await;
        cluster
    }

    /// Whether the balancer passes requests to every node: its health checks found them up.
    async fn balanced(&self) -> bool {
        for _ in 0..2 * self.nodes.len() {
            let answer = self.client.get(format!("{}/readyz", self.base)).send().await;
            if !answer.is_ok_and(|response| response.status() == StatusCode::OK) {
                return false;
            }
        }
        true
    }

    /// The command that runs node `node`.
    fn command(&self, node: usize) -> Command {
        let mut command = Command::new(BIN);
        let data = self.dir.path().join(format!("n{node}"));
        command
            .env_clear()
            .env("PARLEY_DATA_DIR", data)
            .env("PARLEY_LISTEN", format!("127.0.0.1:{}", self.ports[node]))
            .env("PARLEY_PUBLIC_URL", &self.base)
            .env("PARLEY_DATABASE_URL", &self.database.url)
            .env("PARLEY_CLUSTER", "true")
            .env("PARLEY_NODE_NAME", format!("n{node}"))
            .env("PARLEY_DRAIN_MS", "1000")
            .env("PARLEY_JOB_POLL_MS", "50")
            .env("PARLEY_JOB_LEASE_MS", "3000")
            .env("PARLEY_REQUEST_TIMEOUT_MS", "2000")
            .env("PARLEY_SIMULATION_STEP_MS", "10")
            .env("PARLEY_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("PARLEY_WEBHOOK_TIMEOUT_MS", "1000")
            .env("PARLEY_TRUSTED_PROXIES", "127.0.0.1/32")
            .env("PARLEY_RATE_LIMIT_PER_MINUTE", "1000000")
            .env("PARLEY_RATE_LIMIT_BURST", "100000")
            .env("PARLEY_BOOTSTRAP_API_KEY", KEY)
            .env("PARLEY_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
            .env("PARLEY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
            .env("PARLEY_MEDIA_STORE", "s3")
            .env("PARLEY_S3_BUCKET", BUCKET)
            .env("PARLEY_S3_ENDPOINT", &self.s3.endpoint)
            .env("PARLEY_S3_ACCESS_KEY_ID", "test")
            .env("PARLEY_S3_SECRET_ACCESS_KEY", "test")
            .env("PARLEY_S3_PATH_STYLE", "true")
            .env("RUST_LOG", "warn");
        command.envs(self.settings.iter().map(|(k, v)| (k, v)));
        command
    }

    /// Starts node `node` and waits until it is ready.
    async fn launch(&mut self, node: usize) {
        let (server, _) = start(self.command(node));
        self.nodes[node] = Some(server);
        self.until(|c| async move { c.readiness(node).await.0 == StatusCode::OK }).await;
    }

    /// Node `node`'s base URL (bypassing the balancer).
    pub fn node(&self, node: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[node])
    }

    /// Node `node`'s `/readyz`: status and report.
    async fn readiness(&self, node: usize) -> (StatusCode, Value) {
        match self.client.get(format!("{}/readyz", self.node(node))).send().await {
            Ok(response) => (response.status(), response.json().await.unwrap_or(Value::Null)),
            Err(_) => (StatusCode::BAD_GATEWAY, Value::Null),
        }
    }

    /// How many nodes a node sees up and not draining, once the balancer sends to every node.
    async fn ready_behind_balancer(&self) -> usize {
        if !self.balanced().await {
            return 0;
        }
        let (status, report) = self.readiness(self.live().next().unwrap_or(0)).await;
        if status != StatusCode::OK {
            return 0;
        }
        let nodes = report["nodes"].as_array().cloned().unwrap_or_default();
        nodes.iter().filter(|n| n["up"] == json!(true) && n["draining"] == json!(false)).count()
    }

    /// The nodes running.
    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes.iter().enumerate().filter(|(_, n)| n.is_some()).map(|(i, _)| i)
    }

    /// The node that leads, once one does.
    async fn leader(&self) -> usize {
        for _ in 0..200 {
            for node in self.live() {
                if self.readiness(node).await.1["leader"] == json!(true) {
                    return node;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no node leads");
    }

    /// Stops node `node` with SIGKILL.
    fn kill(&mut self, node: usize) {
        let mut server = self.nodes[node].take().expect("running");
        server.kill().unwrap();
        server.wait().unwrap();
    }

    /// Stops node `node` with SIGTERM and waits until it exits.
    fn terminate(&mut self, node: usize) -> std::process::ExitStatus {
        let mut server = self.nodes[node].take().expect("running");
        crate::process::terminate(&mut server)
    }

    /// Waits (20 s at most) until `check` holds.
    async fn until<'a, F, Fut>(&'a self, check: F)
    where
        F: Fn(&'a Cluster) -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let started = Instant::now();
        while !check(self).await {
            assert!(started.elapsed() < Duration::from_secs(20), "the cluster did not get there in 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A request with the API key to `base`.
    fn api(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        self.client.request(method, url).header("X-Api-Key", KEY)
    }

    pub async fn post(&self, base: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let response = self.api(reqwest::Method::POST, format!("{base}{path}")).json(&body).send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn db(&self) -> parley::store::Db {
        parley::store::Db::connect(&self.database.url).await.unwrap()
    }

    /// Counts rows with a query of one number.
    async fn count(&self, sql: &str) -> i64 {
        let db = self.db().await;
        let count = sqlx::query_scalar(sql).fetch_one(db.reader()).await.unwrap();
        db.close().await;
        count
    }

    /// Waits until every job ran and every event went out to the webhooks.
    async fn settled(&self) {
        self.until(|c| async move {
            c.count("SELECT COUNT(*) FROM jobs").await == 0
                && c.count("SELECT COUNT(*) FROM events WHERE dispatched = 0").await == 0
                && c.count("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'").await == 0
        })
        .await;
    }

    /// Subscribes `receiver` to every event.
    async fn subscribe(&self, receiver: &Receiver) {
        let (status, hook) = self.post(&self.base, "/api/v1/webhooks", json!({"url": receiver.url()})).await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        receiver.accept(hook["secret"].as_str().unwrap()).await;
    }

    /// Every event id in the log, as its `webhook-id`.
    async fn logged_ids(&self) -> HashSet<String> {
        let db = self.db().await;
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM events WHERE type <> 'webhook.test'")
            .fetch_all(db.reader())
            .await
            .unwrap();
        db.close().await;
        ids.into_iter().map(|id| format!("evt_{id}")).collect()
    }

    /// A simulated SMS channel; returns its inbound URL path.
    pub async fn sms_channel(&self) -> String {
        let body = json!({"kind": "sms", "name": "s", "address": "+393209998800", "simulation": true});
        let (status, channel) = self.post(&self.base, "/api/v1/channels", body).await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        format!("/api/v1/channels/{}/inbound", channel["id"])
    }
}

/// Reads `count` events of `kind` from an event stream (10 s at most).
async fn stream_events(response: reqwest::Response, kind: &str, count: usize) -> Vec<Value> {
    let (mut stream, mut found) = (crate::events::Reader::new(response), Vec::new());
    let started = Instant::now();
    while found.len() < count && started.elapsed() < Duration::from_secs(10) {
        let events = stream.read(1, Duration::from_secs(10).saturating_sub(started.elapsed())).await;
        found.extend(events.into_iter().filter(|event| event.kind == kind).map(|event| event.data));
    }
    assert_eq!(found.len(), count, "the events arrived on the other node");
    found
}

crate::postgres_test!(
    async fn three_nodes_behave_as_one() {
        let cluster = Cluster::start(3).await;
        // Each node sees the three; exactly one leads.
        let mut leaders = 0;
        for node in 0..3 {
            let (status, report) = cluster.readiness(node).await;
            assert_eq!(status, StatusCode::OK, "{report}");
            assert_eq!(report["node"], format!("n{node}"));
            let names: Vec<&str> =
                report["nodes"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
            assert_eq!(names, ["n0", "n1", "n2"]);
            leaders += usize::from(report["leader"] == json!(true));
        }
        assert_eq!(leaders, 1);
        let receiver = Receiver::start().await;
        cluster.subscribe(&receiver).await;
        let inbound = cluster.sms_channel().await;

        // Messages posted to node 0 reach an event stream open on node 1, in order.
        let stream =
            cluster.api(reqwest::Method::GET, format!("{}/api/v1/events", cluster.node(1))).send().await.unwrap();
        assert_eq!(stream.status(), StatusCode::OK);
        for n in 0..20 {
            let body = json!({"from": "+393471234567", "text": format!("m{n}")});
            assert_eq!(cluster.post(&cluster.node(0), &inbound, body).await.0, StatusCode::CREATED);
        }
        let created = stream_events(stream, "message.created", 20).await;
        let texts: Vec<&str> = created.iter().map(|e| e["data"]["text"].as_str().unwrap()).collect();
        let expected: Vec<String> = (0..20).map(|n| format!("m{n}")).collect();
        assert_eq!(texts, expected);

        // A web chat visitor on node 1 sees an operator typing on node 2: transient events, never
        // logged, cross nodes only through the relay.
        let settings = json!({"allowed_origins": "https://shop.example"});
        let body = json!({"kind": "webchat", "name": "chat", "address": "shop", "settings": settings});
        let (status, widget) = cluster.post(&cluster.base, "/api/v1/channels", body).await;
        assert_eq!(status, StatusCode::CREATED, "{widget}");
        let visitor = |node: usize, path: &str| {
            let url =
                format!("{}/widget/v1/channels/{}{path}", cluster.node(node), widget["public_id"].as_str().unwrap());
            cluster.client.post(url).header("Origin", "https://shop.example")
        };
        let session: Value = visitor(0, "/sessions").send().await.unwrap().json().await.unwrap();
        let token = session["token"].as_str().unwrap();
        let said = visitor(0, "/messages").bearer_auth(token).json(&json!({"text": "ciao"})).send().await.unwrap();
        let said: Value = said.json().await.unwrap();
        let db = cluster.db().await;
        let message = parley::store::messages::find_message(db.reader(), said["id"].as_i64().unwrap()).await.unwrap();
        db.close().await;
        let events_url =
            format!("{}/widget/v1/channels/{}/events", cluster.node(1), widget["public_id"].as_str().unwrap());
        let response = cluster.client.get(events_url).header("Origin", "https://shop.example").bearer_auth(token);
        let mut events = eventsource_stream::EventStream::new(response.send().await.unwrap().bytes_stream());
        let typing_url = format!("/api/v1/conversations/{}/typing", message.unwrap().conversation_id);
        let typed = async {
            loop {
                let event = events.next().await.expect("the stream goes on").expect("a readable event");
                if event.event == "message" {
                    let (status, _) = cluster.post(&cluster.node(2), &typing_url, json!({"on": true})).await;
                    assert_eq!(status, StatusCode::OK);
                }
                if event.event == "typing" {
                    return event.data;
                }
            }
        };
        let typed = tokio::time::timeout(Duration::from_secs(10), typed).await.expect("typing reached node 1");
        assert_eq!(typed, r#"{"on":true}"#);

        // An Idempotency-Key used on one node answers the same on another, and stores once.
        let keyed = |base: String| {
            let request = cluster.api(reqwest::Method::POST, format!("{base}{inbound}"));
            request.header("Idempotency-Key", "once").json(&json!({"from": "+393471234567", "text": "keyed"})).send()
        };
        let first: Value = keyed(cluster.node(1)).await.unwrap().json().await.unwrap();
        let again: Value = keyed(cluster.node(2)).await.unwrap().json().await.unwrap();
        assert_eq!(first["message"]["id"], again["message"]["id"]);
        assert_eq!(cluster.count("SELECT COUNT(*) FROM messages WHERE text = 'keyed'").await, 1);

        // An operator signed in on one node is signed in on the others.
        let login = cluster.client.post(format!("{}/ui/session", cluster.node(0)));
        let login = login.json(&json!({"email": EMAIL, "password": PASSWORD})).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::OK);
        let cookie = login.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        for node in 1..3 {
            let url = format!("{}/api/v1/conversations", cluster.node(node));
            let listed = cluster.client.get(url).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(listed.status(), StatusCode::OK);
            let listed: Value = listed.json().await.unwrap();
            assert_eq!(listed["data"].as_array().unwrap().len(), 2, "the SMS and the web chat conversations");
        }

        // A file uploaded to one node is in the bucket and its link works on every node.
        let png = crate::media::png_bytes(300);
        let body = crate::media::multipart("file", "a.png", "image/png", &png);
        let uploaded = cluster
            .api(reqwest::Method::POST, format!("{}/api/v1/media", cluster.node(2)))
            .header("Content-Type", format!("multipart/form-data; boundary={}", crate::media::BOUNDARY))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(uploaded.status(), StatusCode::CREATED);
        let uploaded: Value = uploaded.json().await.unwrap();
        let link = uploaded["url"].as_str().unwrap().to_owned();
        assert!(link.starts_with(&cluster.base), "{link}");
        assert_eq!(cluster.s3.keys(BUCKET).await.len(), 1);
        for node in 0..3 {
            let url = link.replace(&cluster.base, &cluster.node(node));
            let fetched = cluster.client.get(url).send().await.unwrap();
            assert_eq!(fetched.status(), StatusCode::OK);
            assert_eq!(fetched.bytes().await.unwrap().to_vec(), png);
        }

        // The webhook receiver got every event exactly once.
        cluster.settled().await;
        let logged = cluster.logged_ids().await;
        let received = receiver.ids().await;
        assert_eq!(received.len(), logged.len(), "each event delivered once");
        assert_eq!(received.into_iter().collect::<HashSet<_>>(), logged);
    }
);

/// A request sent under load, with its text as its `Idempotency-Key`.
#[derive(Debug, Clone)]
struct Sent {
    path: String,
    body: Value,
    acknowledged: bool,
}

type Ledger = Arc<Mutex<HashMap<String, Sent>>>;

/// Sends messages through the balancer from 8 clients until `stop`, each with an
/// `Idempotency-Key`: inbound ones, and every third an operator's reply in the client's
/// conversation (a send with its delivery steps as jobs). Records each request and failures.
async fn load(
    base: String,
    inbound: String,
    round: &'static str,
    stop: Arc<AtomicBool>,
    sent: Ledger,
    failures: Arc<Mutex<Vec<String>>>,
) {
    let workers = (0..8).map(|worker| {
        let (base, inbound, stop, sent, failures) =
            (base.clone(), inbound.clone(), stop.clone(), sent.clone(), failures.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let (mut n, mut conversation) = (0, None);
            while !stop.load(Ordering::Relaxed) {
                let text = format!("{round}-w{worker}-{n}");
                n += 1;
                let (path, body) = match conversation {
                    Some(id) if n % 3 == 0 => (format!("/api/v1/conversations/{id}/messages"), json!({"text": text})),
                    _ => (inbound.clone(), json!({"from": format!("+39347{worker:07}"), "text": text})),
                };
                sent.lock()
                    .unwrap()
                    .insert(text.clone(), Sent { path: path.clone(), body: body.clone(), acknowledged: false });
                let answer = client
                    .post(format!("{base}{path}"))
                    .header("X-Api-Key", KEY)
                    .header("Idempotency-Key", &text)
                    .json(&body)
                    .send()
                    .await;
                match answer {
                    Ok(response) if response.status().is_success() => {
                        let answer: Value = response.json().await.unwrap();
                        conversation = conversation.or(answer["conversation"]["id"].as_i64());
                        sent.lock().unwrap().get_mut(&text).unwrap().acknowledged = true;
                    }
                    Ok(response) => failures.lock().unwrap().push(format!("{text}: {}", response.status())),
                    Err(e) => failures.lock().unwrap().push(format!("{text}: {e}")),
                }
            }
        })
    });
    for worker in futures::future::join_all(workers).await {
        worker.unwrap();
    }
}

/// Asserts every message sent is stored exactly once, and every reply went through its delivery
/// steps in order (sent, delivered, read) to `read`.
async fn stored_once(cluster: &Cluster, sent: &HashMap<String, Sent>) {
    let db = cluster.db().await;
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT text, COUNT(*) FROM messages GROUP BY text").fetch_all(db.reader()).await.unwrap();
    let steps: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.text, e.payload FROM events e JOIN messages m ON m.id = CAST(e.payload::jsonb -> 'data' ->> 'id' AS BIGINT) \
         WHERE e.type = 'message.updated' AND m.direction = 'outbound' ORDER BY e.id",
    )
    .fetch_all(db.reader())
    .await
    .unwrap();
    db.close().await;
    let stored: HashMap<String, i64> = rows.into_iter().collect();
    for text in sent.keys() {
        assert_eq!(stored.get(text).copied().unwrap_or(0), 1, "{text} is stored once");
    }
    assert_eq!(stored.len(), sent.len(), "nothing else is stored");
    let mut statuses: HashMap<String, Vec<String>> = HashMap::new();
    for (text, payload) in steps {
        let payload: Value = serde_json::from_str(&payload).unwrap();
        statuses.entry(text).or_default().push(payload["data"]["status"].as_str().unwrap().to_owned());
    }
    let replies = sent.values().filter(|s| s.path.ends_with("/messages")).count();
    assert!(replies > 20, "{replies} replies");
    assert_eq!(statuses.len(), replies);
    for (text, steps) in statuses {
        assert_eq!(steps, ["sent", "delivered", "read"], "{text}");
    }
}

crate::postgres_test!(
    async fn a_node_killed_under_load_loses_nothing() {
        let mut cluster = Cluster::start(3).await;
        let receiver = Receiver::start().await;
        cluster.subscribe(&receiver).await;
        let inbound = cluster.sms_channel().await;
        let (stop, sent, failures) = (Arc::new(AtomicBool::new(false)), Arc::default(), Arc::default());
        let running = tokio::spawn(load(
            cluster.base.clone(),
            inbound.clone(),
            "kill",
            stop.clone(),
            Arc::clone(&sent),
            Arc::clone(&failures),
        ));
        let acknowledged = |sent: &Ledger| sent.lock().unwrap().values().filter(|s| s.acknowledged).count();
        let started = Instant::now();
        while acknowledged(&sent) < 150 {
            assert!(started.elapsed() < Duration::from_secs(30), "the load did not get going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The leader (dispatching webhooks, holding jobs and deliveries) dies mid-load.
        let leader = cluster.leader().await;
        cluster.kill(leader);
        let killed = Instant::now();
        let killed_at = acknowledged(&sent);
        while acknowledged(&sent) < killed_at + 150 {
            assert!(started.elapsed() < Duration::from_secs(60), "the load stopped after the kill");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        running.await.unwrap();
        let new_leader = cluster.leader().await;
        assert_ne!(new_leader, leader);

        // What the killed node was answering when it died is retried with its key once its claim
        // on the key ran out (twice the request timeout): stored once.
        tokio::time::sleep(Duration::from_millis(4100).saturating_sub(killed.elapsed())).await;
        let unanswered: Vec<(String, Sent)> =
            sent.lock().unwrap().iter().filter(|(_, s)| !s.acknowledged).map(|(t, s)| (t.clone(), s.clone())).collect();
        for (text, request) in unanswered {
            let retried = cluster
                .api(reqwest::Method::POST, format!("{}{}", cluster.base, request.path))
                .header("Idempotency-Key", &text)
                .json(&request.body)
                .send()
                .await
                .unwrap();
            assert!(retried.status().is_success(), "{text}: {}", retried.status());
            sent.lock().unwrap().get_mut(&text).unwrap().acknowledged = true;
        }
        cluster.settled().await;
        // Its leased jobs and deliveries are taken over after their lease: every message is
        // stored once, every reply delivered step by step, every event reaches the receiver (a
        // delivery the killed node made but had not recorded comes again, with the same id).
        let sent = sent.lock().unwrap().clone();
        stored_once(&cluster, &sent).await;
        let logged = cluster.logged_ids().await;
        let received: HashSet<String> = receiver.ids().await.into_iter().collect();
        assert_eq!(received, logged);
    }
);

crate::postgres_test!(
    async fn a_rolling_restart_under_load_drops_no_request() {
        let mut cluster = Cluster::start(3).await;
        let receiver = Receiver::start().await;
        cluster.subscribe(&receiver).await;
        let inbound = cluster.sms_channel().await;
        let (stop, sent, failures) =
            (Arc::new(AtomicBool::new(false)), Arc::default(), Arc::<Mutex<Vec<String>>>::default());
        let running = tokio::spawn(load(
            cluster.base.clone(),
            inbound,
            "roll",
            stop.clone(),
            Arc::clone(&sent),
            Arc::clone(&failures),
        ));
        let answered = |sent: &Ledger| sent.lock().unwrap().values().filter(|s| s.acknowledged).count();
        for node in 0..3 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let before = answered(&sent);
            let status = cluster.terminate(node);
            assert!(status.success(), "node {node} stopped cleanly: {status}");
            assert!(answered(&sent) > before, "requests were answered while node {node} drained and stopped");
            cluster.launch(node).await;
            cluster.until(|c| async move { c.ready_behind_balancer().await == 3 }).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::Relaxed);
        running.await.unwrap();
        assert_eq!(*failures.lock().unwrap(), Vec::<String>::new(), "every request was answered");
        let sent = sent.lock().unwrap().clone();
        assert!(sent.values().all(|s| s.acknowledged));
        cluster.settled().await;
        stored_once(&cluster, &sent).await;

        // Nodes that stop cleanly record what they delivered: each event arrives exactly once.
        let logged = cluster.logged_ids().await;
        let received = receiver.ids().await;
        assert_eq!(received.len(), logged.len(), "each event delivered once");
        assert_eq!(received.into_iter().collect::<HashSet<_>>(), logged);
    }
);

crate::postgres_test!(
    async fn a_channels_send_pace_holds_across_nodes() {
        use crate::whatsapp::{settings, sign_with, text_message, APP_SECRET, PHONE_NUMBER_ID};
        let cluster = Cluster::start(3).await;
        let graph = crate::meta_graph::Graph::start().await;
        let mut settings = settings(PHONE_NUMBER_ID);
        settings["graph_base_url"] = json!(graph.base);
        settings["messages_per_second"] = json!(2);
        let body = json!({"kind": "whatsapp", "name": "WhatsApp", "address": "+15550783881", "settings": settings});
        let (status, channel) = cluster.post(&cluster.base, "/api/v1/channels", body).await;
        assert_eq!(status, StatusCode::CREATED, "{channel}");
        let mut hook = text_message(PHONE_NUMBER_ID, "wamid.in-1", "Ciao");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        hook["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = json!(now.to_string());
        let hook = hook.to_string();
        let delivered = cluster
            .client
            .post(format!("{}/hooks/whatsapp", cluster.base))
            .header("content-type", "application/json")
            .header("X-Hub-Signature-256", sign_with(APP_SECRET, hook.as_bytes()))
            .body(hook)
            .send()
            .await
            .unwrap();
        assert_eq!(delivered.status(), StatusCode::OK);
        let listed = cluster.api(reqwest::Method::GET, format!("{}/api/v1/conversations", cluster.base)).send();
        let listed: Value = listed.await.unwrap().json().await.unwrap();
        let conversation = listed["data"][0]["id"].as_i64().unwrap();

        // Eight replies, written on the three nodes in turn, leave at the number's pace of two a
        // second in all, not two a second per node.
        for n in 0..8 {
            let path = format!("/api/v1/conversations/{conversation}/messages");
            let (status, reply) =
                cluster.post(&cluster.node(n % 3), &path, json!({"text": format!("reply {n}")})).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
        }
        let sent =
            || graph.received().into_iter().filter(|r| r.body.get("text").is_some()).map(|r| r.at).collect::<Vec<_>>();
        let started = Instant::now();
        while sent().len() < 8 {
            assert!(started.elapsed() < Duration::from_secs(20), "the replies went out");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut at = sent();
        at.sort();
        for window in at.windows(3) {
            assert!(window[2] - window[0] >= Duration::from_millis(900), "three sends within a second: {at:?}");
        }
    }
);

crate::postgres_test!(
    async fn an_api_keys_rate_limit_holds_across_nodes() {
        let limits = [("PARLEY_RATE_LIMIT_PER_MINUTE", "9"), ("PARLEY_RATE_LIMIT_BURST", "9")];
        let cluster = Cluster::start_with(3, &limits).await;
        // Once each node has seen the three (at its next heartbeat, every 2 s; two to spare a slow
        // one), each allows a third of the key's burst.
        tokio::time::sleep(Duration::from_millis(4100)).await;
        let mut answered = Vec::new();
        for n in 0..15 {
            let url = format!("{}/api/v1/channels", cluster.node(n % 3));
            answered.push(cluster.api(reqwest::Method::GET, url).send().await.unwrap().status().as_u16());
        }
        let allowed = answered.iter().filter(|status| **status == 200).count();
        assert_eq!(allowed, 9, "{answered:?}");
        assert!(answered.iter().all(|status| [200, 429].contains(status)), "{answered:?}");
    }
);

/// A cluster needs PostgreSQL and a shared media store: a node set up otherwise refuses to start.
#[test]
fn a_cluster_node_refuses_sqlite_and_local_media() {
    let dir = tempfile::tempdir().unwrap();
    let run = |database: Option<&str>| {
        let mut command = Command::new(BIN);
        command
            .env_clear()
            .env("PARLEY_DATA_DIR", dir.path())
            .env("PARLEY_LISTEN", "127.0.0.1:0")
            .arg("--cluster=true");
        if let Some(url) = database {
            command.env("PARLEY_DATABASE_URL", url);
        }
        let output = command.output().unwrap();
        assert!(!output.status.success());
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let sqlite = run(None);
    assert!(sqlite.contains("needs PostgreSQL"), "{sqlite}");
    let local = run(Some("postgres://postgres@127.0.0.1:1/none"));
    assert!(local.contains("PARLEY_MEDIA_STORE=s3"), "{local}");
    assert!(!dir.path().join("parley.db").exists(), "nothing was created");
}
