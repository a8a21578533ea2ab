//! HTTP faces of Parley: the native API, the operator web UI, provider webhooks, operations
//! endpoints and the API reference.

pub mod api;
pub mod auth;
mod docs;
pub mod extract;
pub mod hooks;
pub mod openapi;
pub mod qlara;
pub mod qlara_sends;
pub mod ui;

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

use crate::app::AppState;
use crate::error::Error;

/// Builds the whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::routes(state.clone()))
        .nest("/api/files", api::files_routes(state.clone()))
        .nest("/api/partner-gateway/v1", qlara::routes(state.clone()))
        .merge(qlara_sends::routes(state.clone()))
        .nest("/hooks", hooks::routes())
        .merge(ui::routes())
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/media/{*key}", get(api::media::download))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .fallback(|| async { Error::NotFound("route") })
        .method_not_allowed_fallback(|| async { Error::MethodNotAllowed })
        .layer(middleware::from_fn(record_metrics))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(|_| Error::Internal(anyhow::anyhow!("handler panicked")).into_response()))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> Response {
    match tokio::time::timeout(Duration::from_secs(2), state.db.ping()).await {
        Ok(Ok(())) => "ready".into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    match crate::store::jobs::count_jobs_by_kind(state.db.reader()).await {
        Ok(depths) => {
            let kinds = [
                crate::service::outbound::SEND_JOB,
                crate::jobs::SIMULATE_JOB,
                crate::service::whatsapp_media::FETCH_JOB,
            ];
            for kind in kinds {
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

async fn openapi_json() -> Response {
    Json(openapi::ApiDoc::openapi()).into_response()
}

async fn docs_page() -> Html<String> {
    Html(docs::render(&openapi::ApiDoc::openapi()))
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
