//! HTTP faces of Parley: the native API, the seed platform's dialect, the operator web UI and the
//! API reference, provider webhooks, and operations endpoints.

pub mod api;
pub mod auth;
pub mod compat;
pub mod extract;
pub mod hooks;
pub mod openapi;
pub mod server;
pub mod ui;
pub mod widget;

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::error::Error;
use crate::state::AppState;

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes(state.clone()))
        .nest("/api/files", api::files_routes(state.clone()))
        .merge(compat::routes(&state))
        .nest("/hooks", hooks::routes())
        .nest("/widget/v1", widget::routes(state.clone()))
        .merge(ui::routes())
        .route("/api/v1/openapi.json", get(|| async { Json(openapi::ApiDoc::openapi()) }))
        .route("/api/compat/openapi.json", get(|| async { Json(openapi::CompatDoc::openapi()) }))
        .route("/media/{*key}", get(api::media::download))
        .route(
            crate::media::LOCAL_UPLOAD_PATH,
            axum::routing::post(api::media::form_upload).layer(DefaultBodyLimit::max(largest_body(&state.config))),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { Error::NotFound("route") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(Duration::from_millis(state.config.body_read_timeout_ms)))
        .layer(middleware::from_fn_with_state(state.clone(), refuse_oversized_bodies))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| Error::Internal(anyhow::anyhow!("handler panicked")).into_response()))
        .with_state(state)
}

/// Serves the whole router on `listener` until `shutdown`, within the configured connection limits.
pub async fn serve(state: AppState, listener: TcpListener, shutdown: CancellationToken) {
    let config = &state.config;
    let limits = server::ConnectionLimits {
        header_read_timeout: Duration::from_millis(config.header_read_timeout_ms),
        per_client: config.max_connections_per_client,
        total: config.max_connections,
        trusted_proxies: config.trusted_proxies.clone(),
    };
    server::serve(listener, router(state.clone()), limits, shutdown).await;
}

/// The largest body any route accepts (a media upload with its multipart framing).
pub fn largest_body(config: &crate::config::Config) -> usize {
    config.max_body_bytes.max(config.max_media_bytes + 64 * 1024)
}

/// Answers 413 at once to a request that declares a body larger than any route accepts, before
/// anything of it is read.
async fn refuse_oversized_bodies(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = largest_body(&state.config);
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        let mut response = Error::body_too_large(limit).into_response();
        response.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
        return response;
    }
    next.run(request).await
}

/// Ready when the database answers and the node is not draining. In a cluster, a JSON report: this
/// node, whether it leads, and the nodes it sees (up when seen in the last 10 s).
async fn readyz(State(state): State<AppState>) -> Response {
    let status = match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        _ if state.draining.is_cancelled() => Err("draining"),
        Ok(Ok(())) => Ok("ready"),
        _ => Err("database unreachable"),
    };
    let code = if status.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let text = status.unwrap_or_else(|problem| problem);
    let Some(node) = &state.cluster else { return (code, text).into_response() };
    let now = crate::domain::time::now_ms();
    let seen = crate::store::cluster::nodes_seen_since(&state.db, now - 3_600_000).await.unwrap_or_default();
    let peers: Vec<_> = seen
        .iter()
        .map(|peer| {
            json!({
                "name": peer.name,
                "address": peer.address,
                "up": peer.seen_at >= now - crate::cluster::PEER_TIMEOUT_MS,
                "draining": peer.draining != 0,
                "seen_ms_ago": now - peer.seen_at,
                "started_at": crate::domain::time::to_rfc3339(peer.started_at),
            })
        })
        .collect();
    (code, Json(json!({ "status": text, "node": node.name, "leader": node.leads(), "nodes": peers }))).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match crate::store::jobs::count_jobs_by_kind(state.db.reader()).await {
        Ok(depths) => {
            for kind in crate::jobs::KINDS {
                let depth = depths.iter().find(|(k, _)| k == kind).map_or(0, |(_, n)| *n);
                metrics::gauge!("parley_queue_depth", "queue" => kind).set(depth as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not read queue depths"),
    }
    match crate::store::webhooks::count_pending_deliveries(state.db.reader()).await {
        Ok(depth) => metrics::gauge!("parley_queue_depth", "queue" => "webhook_deliveries").set(depth as f64),
        Err(e) => tracing::warn!(error = %e, "could not read the webhook queue depth"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// Counts requests and times them per route.
async fn record_metrics(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("parley_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("parley_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
