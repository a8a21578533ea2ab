//! The native REST API under `/api/v1`.

pub mod agents;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod credit;
pub mod events;
pub mod feedback;
pub mod keys;
pub mod media;
pub mod quick_replies;
pub mod reports;
pub mod surveys;
pub mod teams;
pub mod templates;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, patch, post, put};
use axum::{middleware, Router};

use crate::http::auth;
use crate::state::AppState;

/// The seed platform's `/api/files/{mediaKey}`, with the same API key authentication.
pub fn files_routes(state: AppState) -> Router<AppState> {
    Router::new().route("/{*key}", get(media::file)).layer(middleware::from_fn_with_state(state, auth::require_caller))
}

/// Routes that need an API key.
pub fn routes(state: AppState) -> Router<AppState> {
    let upload_limit = crate::http::largest_body(&state.config);
    Router::new()
        .route("/conversations", get(conversations::list).post(conversations::start))
        .route("/conversations/{id}", get(conversations::get).patch(conversations::update))
        .route("/conversations/{id}/read", post(conversations::read))
        .route("/conversations/{id}/quick-replies", get(quick_replies::for_conversation))
        .route("/quick-replies", get(quick_replies::list).post(quick_replies::create))
        .route(
            "/quick-replies/{id}",
            get(quick_replies::get).patch(quick_replies::update).delete(quick_replies::delete),
        )
        .route("/conversations/{id}/typing", post(conversations::typing))
        .route("/conversations/{id}/archive", post(conversations::archive))
        .route("/conversations/{id}/unarchive", post(conversations::unarchive))
        .route("/conversations/{id}/close", post(conversations::close))
        .route("/conversations/{id}/messages", get(conversations::messages).post(conversations::send))
        .route("/conversations/{id}/messages/{message_id}", delete(conversations::delete_message))
        .route("/conversations/{id}/messages/{message_id}/cancel", post(conversations::cancel))
        .route("/conversations/{id}/escalations", get(conversations::escalations_of).post(conversations::escalate))
        .route("/conversations/{id}/escalations/{escalation_id}", patch(conversations::update_escalation))
        .route("/conversations/{id}/takeover", post(conversations::take_over))
        .route("/conversations/{id}/chat", get(conversations::chat_details))
        .route("/conversations/{id}/survey", post(surveys::send))
        .route("/surveys", get(surveys::list).post(surveys::create))
        .route("/conversations/{id}/survey/vote", post(surveys::vote))
        .route("/conversations/{id}/feedback", get(feedback::of_conversation))
        .route("/messages/{id}/feedback", post(feedback::give))
        .route("/surveys/results", get(surveys::results))
        .route("/surveys/results.csv", get(surveys::export))
        .route("/surveys/{id}", get(surveys::get).put(surveys::update))
        .route("/conversations/{id}/handback", post(conversations::hand_back))
        .route("/agents", get(agents::list).post(agents::create))
        .route("/agent-engines", get(agents::engines))
        .route("/agents/{id}", get(agents::get).patch(agents::update).delete(agents::delete))
        .route("/agents/{id}/try", post(agents::try_out))
        .route("/agents/{id}/feedback", get(feedback::of_agent))
        .route("/agents/{id}/articles", get(agents::list_articles).post(agents::create_article))
        .route("/agents/{id}/articles/search", get(agents::search))
        .route(
            "/agents/{id}/articles/{article_id}",
            get(agents::get_article).patch(agents::update_article).delete(agents::delete_article),
        )
        .route("/teams", get(teams::list).post(teams::create))
        .route("/teams/{id}", get(teams::get).patch(teams::update).delete(teams::delete))
        .route("/operators/presence", get(teams::presence))
        .route("/operators/{id}/presence", put(teams::set_presence))
        .route("/contacts", get(contacts::list).post(contacts::create))
        .route("/contacts/duplicates", get(contacts::duplicates))
        .route("/contacts/{id}", get(contacts::get).patch(contacts::update).delete(contacts::delete))
        .route("/contacts/{id}/merge", post(contacts::merge))
        .route("/contacts/{id}/conversations", get(contacts::conversations))
        .route("/contacts/{id}/messages", get(contacts::messages))
        .route("/channel-kinds", get(channels::kinds))
        .route("/channels", get(channels::list).post(channels::create))
        .route("/channels/{id}", get(channels::get).patch(channels::update).delete(channels::delete))
        .route("/channels/{id}/inbound", post(channels::inbound))
        .route("/channels/{id}/calls", post(channels::call))
        .route("/channels/{id}/mail-failures", get(channels::mail_failures))
        .route("/channels/{id}/templates", get(templates::list).post(templates::create))
        .route("/channels/{id}/templates/sync", post(templates::sync))
        .route("/channels/{id}/templates/{template_id}", get(templates::get).delete(templates::delete))
        .route("/credit", get(credit::balance))
        .route("/credit/top-ups", post(credit::top_up))
        .route("/credit/ledger", get(credit::ledger))
        .route("/api-keys", get(keys::list).post(keys::create))
        .route("/api-keys/{id}", delete(keys::revoke))
        .route("/account/company-secret", post(keys::set_company_secret))
        .route(
            "/account/business-hours",
            get(reports::business_hours).put(reports::set_business_hours).delete(reports::clear_business_hours),
        )
        .route("/reports/activity", get(reports::activity))
        .route("/reports/activity.csv", get(reports::activity_csv))
        .route("/reports/workload", get(reports::workload))
        .route("/reports/workload.csv", get(reports::workload_csv))
        .route("/operators", get(keys::operators))
        .route("/media", get(media::list).post(media::upload).layer(DefaultBodyLimit::max(upload_limit)))
        .route("/media/{*key}", get(media::get))
        .route("/events", get(events::stream))
        .route("/events/{id}", get(webhooks::event))
        .route("/events/{id}/attempts", get(webhooks::event_attempts))
        .route("/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/webhooks/event-types", get(webhooks::event_types))
        .route("/webhooks/{id}", get(webhooks::get).patch(webhooks::update).delete(webhooks::delete))
        .route("/webhooks/{id}/rotate-secret", post(webhooks::rotate_secret))
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/redeliver", post(webhooks::redeliver))
        .route("/webhooks/{id}/replay", post(webhooks::replay))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/{id}/attempts", get(webhooks::attempts))
        .layer(middleware::from_fn_with_state(state.clone(), auth::idempotency))
        .layer(middleware::from_fn_with_state(state, auth::require_caller))
}
