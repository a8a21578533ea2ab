//! Inbound WhatsApp media fetched after receipt from a local Graph API stand-in, checked against
//! its sha256, kept in the media store, and handed out as signed links by `/api/files/{key}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine;
use reqwest::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::whatsapp::{deliver, message, settings, webhook, PHONE_NUMBER_ID, USER};

const TOKEN: &str = "EAAG-access-token";
const MEDIA_ID: &str = "1227829768162607";

/// What the stand-in serves for the media.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// The real bytes.
    Bytes,
    /// Other bytes than the sha256 says.
    Tampered,
    /// 404 for the media id.
    NotFound,
}

/// A local stand-in for the Graph API's media endpoints: `GET /v23.0/{media-id}` and the
/// download URL it returns, both requiring the channel's bearer token.
pub struct GraphStandIn {
    pub base: String,
    pub bytes: Vec<u8>,
    serve: Arc<Mutex<Serve>>,
    /// Requests received (any path), and those with a wrong or missing bearer token.
    pub hits: Arc<AtomicUsize>,
    pub unauthorized: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct StandInState {
    base: String,
    bytes: Arc<Vec<u8>>,
    serve: Arc<Mutex<Serve>>,
    hits: Arc<AtomicUsize>,
    unauthorized: Arc<AtomicUsize>,
}

impl StandInState {
    /// What to serve, or `None` (answered 401) without the channel's bearer token.
    fn check(&self, headers: &HeaderMap) -> Option<Serve> {
        self.hits.fetch_add(1, Ordering::SeqCst);
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if auth != format!("Bearer {TOKEN}") {
            self.unauthorized.fetch_add(1, Ordering::SeqCst);
            return None;
        }
        Some(*self.serve.lock().unwrap())
    }
}

async fn lookup(State(s): State<StandInState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some(serve) = s.check(&headers) else { return (AxumStatus::UNAUTHORIZED, "bad token").into_response() };
    if serve == Serve::NotFound || id != MEDIA_ID {
        return (AxumStatus::NOT_FOUND, Json(json!({"error": {"code": 100, "message": "Unsupported get request"}})))
            .into_response();
    }
    Json(json!({"url": format!("{}/lookaside/{id}?hash=x", s.base), "mime_type": "image/jpeg",
                "sha256": hex::encode(Sha256::digest(&*s.bytes)), "file_size": s.bytes.len(), "id": id,
                "messaging_product": "whatsapp"}))
    .into_response()
}

async fn download(State(s): State<StandInState>, headers: HeaderMap) -> Response {
    match s.check(&headers) {
        Some(Serve::Tampered) => {
            let mut bytes = s.bytes.to_vec();
            bytes[0] ^= 0xff;
            bytes.into_response()
        }
        Some(_) => s.bytes.to_vec().into_response(),
        None => (AxumStatus::UNAUTHORIZED, "bad token").into_response(),
    }
}

impl GraphStandIn {
    /// Starts the stand-in on a free local port.
    pub async fn start(serve: Serve) -> GraphStandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 256) as u8).collect();
        let state = StandInState {
            base: base.clone(),
            bytes: Arc::new(bytes.clone()),
            serve: Arc::new(Mutex::new(serve)),
            hits: Arc::default(),
            unauthorized: Arc::default(),
        };
        let router = Router::new()
            .route("/v23.0/{id}", get(lookup))
            .route("/lookaside/{id}", get(download))
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        GraphStandIn { base, bytes, serve: state.serve, hits: state.hits, unauthorized: state.unauthorized }
    }

    /// Changes what is served from now on.
    pub fn serve(&self, serve: Serve) {
        *self.serve.lock().unwrap() = serve;
    }

    /// The Meta-style base64 sha256 of the served bytes, as webhooks carry it.
    pub fn webhook_sha256(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&self.bytes))
    }
}

/// Creates a live WhatsApp channel whose Graph API is the stand-in; returns its id.
pub async fn channel_on(app: &TestApp, graph: &GraphStandIn) -> i64 {
    let mut settings = settings(PHONE_NUMBER_ID);
    settings["graph_base_url"] = json!(format!("{}/v23.0", graph.base));
    let body = json!({"kind": "whatsapp", "name": "WhatsApp", "address": "+15550783881", "settings": settings});
    let reply = app.post("/api/v1/channels", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{reply:?}");
    reply.body["id"].as_i64().unwrap()
}

/// A signed inbound image message with this provider id and sha256 (base64, as Meta sends it).
pub async fn deliver_image(app: &TestApp, id: &str, sha256: &str) {
    let body = webhook(
        PHONE_NUMBER_ID,
        "messages",
        json!({"contacts": [{"profile": {"name": "Ann"}, "wa_id": USER}],
               "messages": [{"from": USER, "id": id, "timestamp": "1749416383", "type": "image",
                             "image": {"caption": "my receipt", "mime_type": "image/jpeg", "sha256": sha256, "id": MEDIA_ID}}]}),
    );
    deliver(app, &body).await;
}

/// Makes every waiting job due now and runs one round.
pub async fn run_jobs_now(app: &TestApp) -> usize {
    sqlx::query("UPDATE jobs SET run_at = 0").execute(app.state.db.writer()).await.unwrap();
    parley::jobs::run_once(&app.state).await.unwrap()
}

async fn job_errors(app: &TestApp) -> Vec<(i64, Option<String>)> {
    sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE kind = 'media_fetch'")
        .fetch_all(app.state.db.reader())
        .await
        .unwrap()
}

async fn media_rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM media").fetch_one(app.state.db.reader()).await.unwrap()
}

/// Downloads a signed link without credentials.
pub async fn download_link(url: &str) -> (StatusCode, Vec<u8>) {
    let response = reqwest::get(url).await.unwrap();
    (response.status(), response.bytes().await.unwrap().to_vec())
}

async fn inbound_media_is_fetched_after_receipt(app: TestApp) {
    let graph = GraphStandIn::start(Serve::Bytes).await;
    let channel = channel_on(&app, &graph).await;
    deliver_image(&app, "wamid.media1", &graph.webhook_sha256()).await;
    let received = message(&app, channel, "wamid.media1").await.unwrap();
    assert_eq!(received["media_keys"], json!([]), "not fetched inline: {received}");
    assert_eq!(received["payload"]["media"]["id"], MEDIA_ID);
    assert_eq!(received["payload"]["media_status"], "pending");
    assert_eq!(graph.hits.load(Ordering::SeqCst), 0, "the webhook answer does not wait for Meta");
    assert_eq!(job_errors(&app).await.len(), 1, "a fetch job was queued with the message");

    app.drain_jobs().await;
    assert_eq!(graph.hits.load(Ordering::SeqCst), 2, "media id lookup, then the download");
    assert_eq!(graph.unauthorized.load(Ordering::SeqCst), 0, "both with the channel's bearer token");
    let fetched = message(&app, channel, "wamid.media1").await.unwrap();
    let key = fetched["media_keys"][0].as_str().unwrap().to_owned();
    assert!(fetched["payload"].get("media_error").is_none(), "{fetched}");
    assert_eq!(fetched["payload"]["media_status"], "stored");
    assert!(job_errors(&app).await.is_empty());

    // The seed platform's files endpoint: a signed link with the requested lifetime.
    let before = chrono::Utc::now();
    let reply = app.get(&format!("/api/files/{key}?expireMinutes=5")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body["mediaKey"], key.as_str());
    assert_eq!(reply.body["mimeType"], "image/jpeg");
    assert_eq!(reply.body["size"], graph.bytes.len());
    assert_eq!(reply.body["expireMinutes"], 5);
    let expires = chrono::DateTime::parse_from_rfc3339(reply.body["expiresAt"].as_str().unwrap()).unwrap();
    let lifetime = (expires.with_timezone(&chrono::Utc) - before).num_seconds();
    assert!((298..=302).contains(&lifetime), "expires in 5 minutes, not {lifetime} s");
    let (status, bytes) = download_link(reply.body["url"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(bytes, graph.bytes, "the link serves exactly the fetched bytes");
    let default = app.get(&format!("/api/files/{key}")).await;
    assert_eq!(default.body["expireMinutes"], 180, "{default:?}");
    assert_field_error(&app.get(&format!("/api/files/{key}?expireMinutes=0")).await, "expireMinutes");
    assert_field_error(&app.get(&format!("/api/files/{key}?expireMinutes=10081")).await, "expireMinutes");
    assert_problem(
        &app.get("/api/files/b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let other = app.other_account_key().await;
    let reply = app.call_as(&other, reqwest::Method::GET, &format!("/api/files/{key}"), None).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_found");
    let anonymous = app.client.get(format!("{}/api/files/{key}", app.base)).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // The native media API knows the file too.
    let native = app.get(&format!("/api/v1/media/{key}?expire_minutes=2")).await;
    assert_eq!(native.status, StatusCode::OK, "{native:?}");
    assert_eq!(download_link(native.body["url"].as_str().unwrap()).await.1, graph.bytes);

    // The change was announced.
    let updates: Vec<String> = sqlx::query_scalar("SELECT payload FROM events WHERE type = 'message.updated'")
        .fetch_all(app.state.db.reader())
        .await
        .unwrap();
    assert!(updates.iter().any(|payload| payload.contains(&key)), "{updates:?}");

    // A repeated webhook fetches nothing again.
    deliver_image(&app, "wamid.media1", &graph.webhook_sha256()).await;
    app.drain_jobs().await;
    assert_eq!(graph.hits.load(Ordering::SeqCst), 2);
    assert_eq!(media_rows(&app).await, 1);
}

async fn checksum_mismatch_is_retried_then_shown(app: TestApp) {
    let graph = GraphStandIn::start(Serve::Tampered).await;
    let channel = channel_on(&app, &graph).await;
    deliver_image(&app, "wamid.media2", &graph.webhook_sha256()).await;
    assert_eq!(run_jobs_now(&app).await, 1);
    let jobs = job_errors(&app).await;
    assert_eq!(jobs.len(), 1, "kept for a retry");
    assert!(jobs[0].1.as_deref().unwrap_or_default().contains("media_checksum_mismatch"), "{jobs:?}");
    assert_eq!(media_rows(&app).await, 0, "nothing stored");
    let pending = message(&app, channel, "wamid.media2").await.unwrap();
    assert_eq!(pending["media_keys"], json!([]));
    assert!(pending["payload"].get("media_error").is_none(), "not given up yet: {pending}");
    let mut rounds = 1;
    while !job_errors(&app).await.is_empty() {
        run_jobs_now(&app).await;
        rounds += 1;
        assert!(rounds <= parley::service::media_fetch::MAX_ATTEMPTS, "the job is given up in time");
    }
    assert_eq!(rounds, parley::service::media_fetch::MAX_ATTEMPTS);
    let failed = message(&app, channel, "wamid.media2").await.unwrap();
    assert_eq!(failed["media_keys"], json!([]));
    assert_eq!(failed["payload"]["media_error"]["code"], "media_checksum_mismatch", "{failed}");
    assert_eq!(failed["payload"]["media_status"], "failed");
    assert_eq!(media_rows(&app).await, 0);
}

async fn graph_not_found_is_retried(app: TestApp) {
    let graph = GraphStandIn::start(Serve::NotFound).await;
    let channel = channel_on(&app, &graph).await;
    deliver_image(&app, "wamid.media3", &graph.webhook_sha256()).await;
    run_jobs_now(&app).await;
    let jobs = job_errors(&app).await;
    assert_eq!(jobs.len(), 1, "kept for a retry");
    assert!(jobs[0].1.as_deref().unwrap_or_default().contains("media_not_found"), "{jobs:?}");
    assert_eq!(parley::jobs::run_once(&app.state).await.unwrap(), 0, "waits for its backoff");
    graph.serve(Serve::Bytes);
    run_jobs_now(&app).await;
    let fetched = message(&app, channel, "wamid.media3").await.unwrap();
    assert_eq!(fetched["media_keys"].as_array().unwrap().len(), 1, "{fetched}");
    assert!(job_errors(&app).await.is_empty());
}

async fn simulation_channels_never_call_meta(app: TestApp) {
    let graph = GraphStandIn::start(Serve::Bytes).await;
    let channel = channel_on(&app, &graph).await;
    deliver_image(&app, "wamid.media4", &graph.webhook_sha256()).await;
    // Switched to simulation before the job ran: the job ends without calling Meta.
    let reply = app.patch(&format!("/api/v1/channels/{channel}"), json!({"simulation": true})).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    app.drain_jobs().await;
    assert!(job_errors(&app).await.is_empty());
    // Media reported to a simulation channel queues no fetch at all.
    let row = parley::store::channels::find_channel_any(app.state.db.reader(), channel).await.unwrap().unwrap();
    let mut inbound =
        parley::domain::inbound::InboundMessage::new(format!("+{USER}"), parley::domain::MessageType::Image);
    inbound.payload = json!({"media": {"id": MEDIA_ID, "mime_type": "image/jpeg"}});
    inbound.fetch_media = true;
    parley::service::inbound::ingest(&app.state, &row, vec![inbound]).await.unwrap();
    assert!(job_errors(&app).await.is_empty());
    app.drain_jobs().await;
    assert_eq!(graph.hits.load(Ordering::SeqCst), 0);
    let skipped = message(&app, channel, "wamid.media4").await.unwrap();
    assert_eq!(skipped["media_keys"], json!([]));
    assert_eq!(skipped["payload"]["media_error"]["code"], "media_fetch_skipped", "{skipped}");
}

crate::backend_tests!(
    inbound_media_is_fetched_after_receipt,
    checksum_mismatch_is_retried_then_shown,
    graph_not_found_is_retried,
    simulation_channels_never_call_meta,
);
