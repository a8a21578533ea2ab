//! What an attacker tries: guessing passwords in parallel, guessing API keys, holding connections
//! open with slow or never-ending requests. Clients at other loopback addresses (127.0.0.x) stand
//! for other machines.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;
use crate::process::{free_port, parley, start, terminate};

const EMAIL: &str = "admin@example.com";
const PASSWORD: &str = "correct horse battery";

fn from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<IpAddr>().unwrap()).build().unwrap()
}

async fn get_with_key(client: &reqwest::Client, app: &TestApp, key: &str, forwarded_for: Option<&str>) -> Reply {
    let mut request = client.get(format!("{}/api/v1/channels", app.base)).header("X-Api-Key", key);
    if let Some(forwarded) = forwarded_for {
        request = request.header("X-Forwarded-For", forwarded);
    }
    Reply::of(request.send().await.unwrap()).await
}

/// The sum of a counter's samples in a Prometheus text page.
fn counter_total(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Password guesses sent all at once, on the web UI's login and as HTTP Basic on the seed
/// platform's API, are each counted before they are checked: however many arrive, five per email
/// are checked (read from the process's own metrics) and the others refused.
async fn parallel_guesses_are_checked_five_at_most(database: Option<TestDatabase>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut command = parley(dir.path(), port);
    command
        .env("PARLEY_BOOTSTRAP_ADMIN_EMAIL", EMAIL)
        .env("PARLEY_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
        .env("PARLEY_BOOTSTRAP_API_KEY", "pk_attacks_test_key_0123456789");
    if let Some(database) = &database {
        command.env("PARLEY_DATABASE_URL", &database.url);
    }
    let (mut child, _) = start(command);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let checks = || async {
        let metrics = client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        counter_total(&metrics, "parley_password_checks_total")
    };

    // 30 wrong passwords at once: five are checked, the rest refused, and then the email is locked.
    let login = |password: String| {
        let request = client.post(format!("{base}/ui/session")).json(&json!({"email": EMAIL, "password": password}));
        async move { request.send().await.unwrap().status() }
    };
    let statuses = futures::future::join_all((0..30).map(|n| login(format!("guess {n}")))).await;
    let checked = checks().await;
    assert_eq!(checked, 5, "{checked} passwords were checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count(), 4, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 26, "{statuses:?}");
    assert_eq!(login(PASSWORD.to_owned()).await, StatusCode::TOO_MANY_REQUESTS, "the right one comes too late");
    assert_eq!(checks().await, 5, "and is not checked either");

    // 50 guesses with HTTP Basic on the seed platform's API, at once.
    let guesses = (0..50).map(|n| {
        let request = client
            .get(format!("{base}/api/partner-gateway/v1/inbox/conversations"))
            .basic_auth("ops@example.com", Some(format!("guess {n}")));
        async move { request.send().await.unwrap().status() }
    });
    let statuses = futures::future::join_all(guesses).await;
    let checked_by_basic = checks().await - checked;
    assert_eq!(checked_by_basic, 5, "{checked_by_basic} passwords were checked: {statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count(), 46, "{statuses:?}");
    assert!(terminate(&mut child).success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_are_checked_five_at_most_sqlite() {
    parallel_guesses_are_checked_five_at_most(None).await;
}

crate::postgres_test!(
    async fn parallel_guesses_are_checked_five_at_most_postgres() {
        parallel_guesses_are_checked_five_at_most(Some(TestDatabase::create().await)).await;
    }
);

/// Failed authentications are limited per client address: after 20 wrong API keys or passwords
/// an address is refused with 429, even with the right key, while other addresses go on.
async fn failed_authentications_are_limited_per_address(app: TestApp) {
    // Many requests at once from one address with the right key are all served.
    let busy = from("127.0.0.10");
    let requests = (0..150).map(|_| get_with_key(&busy, &app, &app.key, None));
    let statuses: Vec<StatusCode> = futures::stream::iter(requests).buffered(100).map(|r| r.status).collect().await;
    assert!(statuses.iter().all(|s| *s == StatusCode::OK), "{statuses:?}");

    let attacker = from("127.0.0.2");
    let guesses = (0..300).map(|n| {
        let (attacker, app) = (&attacker, &app);
        async move { get_with_key(attacker, app, &format!("pk_guess_{n:04}_abcdefghijklmnop"), None).await.status }
    });
    let statuses: Vec<StatusCode> = futures::stream::iter(guesses).buffered(30).collect().await;
    let unauthorized = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    let limited = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    // Guesses already in flight when the 20th fails are still looked up: at most 30 more.
    assert!((20..=50).contains(&unauthorized), "{unauthorized} keys were looked up");
    assert_eq!(unauthorized + limited, 300);
    let refused = get_with_key(&attacker, &app, &app.key, None).await;
    assert_problem(&refused, StatusCode::TOO_MANY_REQUESTS, "too_many_failed_attempts");
    // One failure leaks away every 3 s; guesses that were in flight filled the bucket beyond 20.
    let retry: u64 = refused.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3 * 31).contains(&retry), "{retry}");
    assert_eq!(get_with_key(&from("127.0.0.3"), &app, &app.key, None).await.status, StatusCode::OK);

    // Wrong passwords count too, on the login and on the seed platform's API.
    let guesser = from("127.0.0.4");
    for n in 0..20 {
        let login = guesser
            .post(format!("{}/ui/session", app.base))
            .json(&json!({"email": format!("user{n}@example.com"), "password": "guess"}));
        assert_eq!(login.send().await.unwrap().status(), StatusCode::UNAUTHORIZED, "guess {n}");
    }
    let login = guesser.post(format!("{}/ui/session", app.base)).json(&json!({"email": EMAIL, "password": PASSWORD}));
    assert_problem(
        &Reply::of(login.send().await.unwrap()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failed_attempts",
    );
    let basic = guesser
        .get(format!("{}/api/partner-gateway/v1/inbox/conversations", app.base))
        .basic_auth(EMAIL, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = basic.json().await.unwrap();
    assert_eq!(body["status"], 429, "the seed platform's shape: {body}");
    assert!(body["retryAfter"].as_u64().is_some(), "{body}");
    assert_eq!(login_as(&app, EMAIL, PASSWORD).await, StatusCode::OK, "the operator is not locked out");
}

async fn login_as(app: &TestApp, email: &str, password: &str) -> StatusCode {
    app.call_with(Method::POST, "/ui/session", &[], Some(json!({"email": email, "password": password}))).await.status
}

/// Behind a trusted proxy, each forwarded client has its own count.
async fn clients_behind_a_trusted_proxy_are_told_apart(app: TestApp) {
    let proxy = from("127.0.0.5");
    for n in 0..20 {
        let reply = get_with_key(&proxy, &app, &format!("pk_wrong_{n:04}_abcdefghijklmnop"), Some("203.0.113.1")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let attacker = get_with_key(&proxy, &app, &app.key, Some("203.0.113.1")).await;
    assert_problem(&attacker, StatusCode::TOO_MANY_REQUESTS, "too_many_failed_attempts");
    let forged = get_with_key(&proxy, &app, &app.key, Some("198.51.100.1, 203.0.113.1")).await;
    assert_eq!(forged.status, StatusCode::TOO_MANY_REQUESTS, "a hop the client wrote itself changes nothing");
    assert_eq!(get_with_key(&proxy, &app, &app.key, Some("203.0.113.2")).await.status, StatusCode::OK);

    // An untrusted peer's X-Forwarded-For is ignored: it is its own client.
    let direct = from("127.0.0.6");
    for n in 0..20 {
        let reply = get_with_key(&direct, &app, &format!("pk_wrong_{n:04}_abcdefghijklmnop"), Some("192.0.2.77")).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = get_with_key(&direct, &app, &app.key, Some("192.0.2.78")).await;
    assert_problem(&reply, StatusCode::TOO_MANY_REQUESTS, "too_many_failed_attempts");
}

mod limited {
    use super::*;

    const FLAGS: &[&str] = &["--auth-failures-per-minute", "20", "--trusted-proxies", "127.0.0.5"];

    crate::backend_tests!(with FLAGS;
        failed_authentications_are_limited_per_address,
        clients_behind_a_trusted_proxy_are_told_apart,
    );
}

/// Opens a connection to the app from `ip`.
async fn connect(app: &TestApp, ip: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
    socket.connect(app.base.trim_start_matches("http://").parse().unwrap()).await.unwrap()
}

/// Reads until the server closes the connection or `wait` passes; what was read, and whether it
/// closed.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> (String, bool) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + wait;
    let mut buffer = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&seen).into_owned(), true),
            Ok(Ok(n)) => seen.extend_from_slice(&buffer[..n]),
            Err(_) => return (String::from_utf8_lossy(&seen).into_owned(), false),
        }
    }
}

/// Slowloris and its kin: connections that never finish their headers, bodies declared huge or
/// that stop arriving. The server holds at most 20 connections of one client, closes a connection
/// whose headers take over a second, answers an oversized declaration with 413 before reading
/// it and a stalled body with 408, and serves everyone else throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_cannot_hold_the_server() {
    let flags =
        ["--header-read-timeout-ms", "1000", "--body-read-timeout-ms", "500", "--max-connections-per-client", "20"];
    let app = spawn_app_with(Backend::Sqlite, &flags).await;

    // 200 connections from one client that start a request and never finish its headers.
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = connect(&app, "127.0.0.7").await;
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: parley\r\n").await;
        slow.push(stream);
    }
    let opened = Instant::now();
    let checks = slow.iter_mut().map(|stream| read_until_closed(stream, Duration::from_millis(200)));
    let held = futures::future::join_all(checks).await.iter().filter(|(_, closed)| !closed).count();
    assert_eq!(held, 20, "the server holds 20 of one client's 200 connections");
    let healthy = from("127.0.0.8").get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(healthy.status(), StatusCode::OK, "other clients are served meanwhile");

    // The held ones are closed once their headers are late.
    let checks = slow.iter_mut().map(|stream| read_until_closed(stream, Duration::from_secs(6)));
    assert!(futures::future::join_all(checks).await.iter().all(|(_, closed)| *closed), "a connection was held on");
    let all_closed = opened.elapsed();
    assert!(all_closed < Duration::from_secs(5), "closed after {all_closed:?}");
    drop(slow);
    let again = from("127.0.0.7").get(format!("{}/healthz", app.base)).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "the client may connect again");

    // A body declared at 10 GB is refused at once, naming the limit.
    let mut stream = connect(&app, "127.0.0.9").await;
    let request = format!(
        "POST /api/v1/contacts HTTP/1.1\r\nHost: parley\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: 10737418240\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("-byte limit"), "{answer}");
    assert!(closed, "the connection is closed rather than read for 10 GB");

    // A body that stops arriving is a 408.
    let mut stream = connect(&app, "127.0.0.9").await;
    let request = format!(
        "POST /api/v1/contacts HTTP/1.1\r\nHost: parley\r\nX-Api-Key: {KEY}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n{{\"name\": "
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_body_timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    assert_eq!(app.get("/api/v1/contacts").await.body["data"], json!([]), "nothing was created");
}
