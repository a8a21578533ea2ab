//! Test support: a real Parley server on port 0 over its own database, and a client for it.

use clap::Parser;
use parley::config::Cli;
use parley::domain::time::LogicalClock;
use parley::state::AppState;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const KEY: &str = "pk_test_primary_key_0123456789";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test on PostgreSQL: ignored, and reported so, when the suite was built without
/// `PARLEY_TEST_POSTGRES_URL`.
#[macro_export]
macro_rules! postgres_test {
    (async fn $name:ident() $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        #[cfg_attr(not(parley_postgres_tests), ignore = "set PARLEY_TEST_POSTGRES_URL to run the PostgreSQL tests")]
        async fn $name() $body
    };
}

/// Generates one test per backend from `async fn name(app: TestApp)` functions (see
/// [`postgres_test!`] for when the PostgreSQL one runs). `with FLAGS;` first starts every app with
/// those extra settings (an expression of the calling module, e.g. a `const`).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(with &[]; $($name),*);
    };
    (with $flags:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    #[allow(unused_imports)]
                    use super::*;
                    super::$name($crate::helpers::spawn_app_with($crate::helpers::Backend::Sqlite, $flags).await).await;
                }
            )*
        }
        mod postgres {
            $(
                $crate::postgres_test!(async fn $name() {
                    #[allow(unused_imports)]
                    use super::*;
                    super::$name($crate::helpers::spawn_app_with($crate::helpers::Backend::Postgres, $flags).await).await;
                });
            )*
        }
    };
}

/// Where [`logical_time_tests!`] start their clock: Monday 2026-11-23, 08:00 UTC.
pub const LOGICAL_START: &str = "2026-11-23T08:00:00Z";

/// Like [`backend_tests!`] for `async fn name(app: TestApp, clock: LogicalClock)`: the server and
/// the test run on a logical clock starting at [`LOGICAL_START`] that moves only when the test
/// advances it, so timings are exact and nothing sleeps.
#[macro_export]
macro_rules! logical_time_tests {
    ($($name:ident),* $(,)?) => {
        $crate::logical_time_tests!(with &[]; $($name),*);
    };
    (with $flags:expr; $($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    #[allow(unused_imports)]
                    use super::*;
                    $crate::helpers::on_logical_time($crate::helpers::Backend::Sqlite, $flags, $crate::helpers::logical_start(), super::$name);
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                #[cfg_attr(not(parley_postgres_tests), ignore = "set PARLEY_TEST_POSTGRES_URL to run the PostgreSQL tests")]
                fn $name() {
                    #[allow(unused_imports)]
                    use super::*;
                    $crate::helpers::on_logical_time($crate::helpers::Backend::Postgres, $flags, $crate::helpers::logical_start(), super::$name);
                }
            )*
        }
    };
}

/// [`LOGICAL_START`] in Unix ms.
pub fn logical_start() -> i64 {
    parley::domain::time::parse_timestamp(LOGICAL_START).expect("RFC 3339")
}

/// Runs `test` against a server on `backend` started with `flags`, with every thread of its
/// runtime (and this one) on a logical clock starting at `start` (Unix ms).
pub fn on_logical_time<F, T>(backend: Backend, flags: &[&str], start: i64, test: F)
where
    F: FnOnce(TestApp, LogicalClock) -> T,
    T: std::future::Future<Output = ()>,
{
    let clock = LogicalClock::starting_at(start);
    clock.install();
    let installed = clock.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || installed.install())
        .build()
        .expect("runtime");
    runtime.block_on(async move { test(spawn_app_with(backend, flags).await, clock).await });
}

/// A running server, its state (to drive jobs) and an authenticated client.
pub struct TestApp {
    pub base: String,
    pub key: String,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    postgres: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

/// A response's status and JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// Reads a response's status, headers and body.
    pub async fn of(response: reqwest::Response) -> Reply {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), headers }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

fn random_suffix() -> String {
    use rand::Rng;
    let n: u64 = rand::thread_rng().gen();
    format!("{n:016x}")
}

/// A PostgreSQL database made for one test and dropped after it.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl TestDatabase {
    /// Creates a database on the server at `PARLEY_TEST_POSTGRES_URL`.
    pub async fn create() -> TestDatabase {
        let admin = std::env::var("PARLEY_TEST_POSTGRES_URL")
            .expect("PARLEY_TEST_POSTGRES_URL was set when the tests were built and must be set to run them");
        let name = format!("parley_test_{}", random_suffix());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await.expect("connect to PostgreSQL");
        sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
        let mut url = url::Url::parse(&admin).expect("PARLEY_TEST_POSTGRES_URL");
        url.set_path(&name);
        TestDatabase { admin, name, url: url.to_string() }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            runtime.block_on(async move {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                    let _ = sqlx::Executor::execute(
                        &mut conn,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                    )
                    .await;
                }
            });
        })
        .join();
    }
}

/// Starts Parley on a fresh database of `backend` with extra command-line settings.
pub async fn spawn_app_with(backend: Backend, extra: &[&str]) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let postgres = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(TestDatabase::create().await),
    };
    let database_url = postgres.as_ref().map(|db| db.url.clone());
    let mut args = vec![
        "parley".to_owned(),
        "--data-dir".to_owned(),
        dir.path().display().to_string(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--bootstrap-api-key".to_owned(),
        KEY.to_owned(),
        "--bootstrap-admin-email".to_owned(),
        "admin@example.com".to_owned(),
        "--bootstrap-admin-password".to_owned(),
        "correct horse battery".to_owned(),
        "--simulation-step-ms".to_owned(),
        "0".to_owned(),
    ];
    for (flag, value) in [("--webhook-allow-private", "true"), ("--webhook-timeout-ms", "1000")] {
        if !extra.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    if let Some(url) = &database_url {
        args.extend(["--database-url".to_owned(), url.clone()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    args.extend(["--public-url".to_owned(), format!("http://{address}")]);
    let config = Cli::try_parse_from(args).unwrap_or_else(|e| panic!("test flags: {e}")).config;
    let state = AppState::open(config).await.expect("open app");
    parley::service::auth::bootstrap(&state.db, &state.config).await.expect("bootstrap");
    let shutdown = CancellationToken::new();
    tokio::spawn(parley::http::serve(state.clone(), listener, shutdown.clone()));
    TestApp {
        base: format!("http://{address}"),
        key: KEY.to_owned(),
        state,
        client: reqwest::Client::new(),
        shutdown,
        postgres,
        _dir: dir,
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(database) = self.postgres.take() {
            let db = self.state.db.clone();
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                runtime.block_on(db.close());
            })
            .join();
            drop(database);
        }
    }
}

impl TestApp {
    /// Sends a request with the app's key and returns status and JSON body.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.key, method, path, body).await
    }

    /// Sends a request with another key.
    pub async fn call_as(&self, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        self.call_with(method, path, &[("X-Api-Key", key)], body).await
    }

    /// Sends a request with exactly these headers (e.g. a session cookie instead of a key).
    pub async fn call_with(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Reply::of(request.send().await.expect("request")).await
    }

    /// Sends a JSON text exactly as written, with the app's key and these extra headers.
    pub async fn call_raw(&self, method: reqwest::Method, path: &str, headers: &[(&str, &str)], json: &str) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-Api-Key", &self.key)
            .header("Content-Type", "application/json")
            .body(json.to_owned());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        Reply::of(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    /// Creates a channel and returns its id.
    pub async fn channel(&self, kind: &str, address: &str, simulation: bool) -> i64 {
        let reply = self
            .post(
                "/api/v1/channels",
                json!({"kind": kind, "name": format!("{kind} line"), "address": address, "simulation": simulation}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        reply.body["id"].as_i64().expect("channel id")
    }

    /// Delivers a customer text message and returns the ingestion result.
    pub async fn inbound(&self, channel: i64, from: &str, name: &str, text: &str) -> Value {
        let reply = self
            .post(&format!("/api/v1/channels/{channel}/inbound"), json!({"from": from, "name": name, "text": text}))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
        reply.body
    }

    /// Creates an operator of account 1 (password "correct horse battery") and returns their id.
    pub async fn operator(&self, name: &str) -> i64 {
        let hash = parley::service::auth::hash_password("correct horse battery").expect("hash");
        let email = format!("{}@example.com", name.to_lowercase());
        let mut tx = self.state.db.begin().await.expect("begin");
        let now = parley::domain::time::now_ms();
        let row = parley::store::accounts::insert_operator(&mut tx, 1, name, &email, &hash, "agent", now)
            .await
            .expect("operator");
        tx.commit().await.expect("commit");
        row.id
    }

    /// Creates a second account and returns its admin key.
    pub async fn other_account_key(&self) -> String {
        let (_, key) = parley::service::auth::create_account(&self.state.db, "Other Ltd", None).await.expect("account");
        key.value
    }

    /// Runs background jobs until none is due.
    pub async fn drain_jobs(&self) {
        for _ in 0..20 {
            if parley::jobs::run_once(&self.state).await.expect("jobs") == 0 {
                return;
            }
        }
        panic!("jobs kept running");
    }
}

/// Asserts a problem+json answer with this status and code.
pub fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.body["code"], code, "{reply:?}");
    assert_eq!(reply.body["status"], status.as_u16(), "{reply:?}");
    assert_eq!(reply.body["type"], format!("https://parley.dev/errors/{code}"), "{reply:?}");
    assert!(reply.body["title"].is_string() && reply.body["detail"].is_string(), "{reply:?}");
    let content_type = reply.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "{reply:?}");
}

/// Asserts a 422 `validation_failed` naming `field` first.
pub fn assert_field_error(reply: &Reply, field: &str) {
    assert_problem(reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.body["errors"][0]["field"], field, "{reply:?}");
    assert!(!reply.body["errors"][0]["message"].as_str().unwrap_or_default().is_empty(), "{reply:?}");
}

/// Asserts that `key` (another account's) gets 404 for GET, PATCH and DELETE on `path`.
pub async fn assert_hidden_from(app: &TestApp, key: &str, path: &str) {
    for (method, body) in [
        (reqwest::Method::GET, None),
        (reqwest::Method::PATCH, Some(json!({"name": "Hijacked"}))),
        (reqwest::Method::DELETE, None),
    ] {
        let reply = app.call_as(key, method, path, body).await;
        assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    }
}

/// The account's events after `position`, in commit order, waiting for those committed but held
/// back behind another transaction (PostgreSQL: any transaction of the server still running).
pub async fn read_log(
    app: &TestApp,
    account_id: i64,
    position: &mut parley::store::events::Position,
) -> Vec<parley::store::events::EventRow> {
    let mut events = Vec::new();
    for _ in 0..500 {
        let page = position.read(&app.state.db, account_id, 10_000).await.expect("read the log");
        events.extend(page.events);
        if !page.held_back {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("events stayed held back for 5 s");
}
