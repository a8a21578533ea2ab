//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::http::api::{channels, contacts, conversations, events, keys, media, templates, webhooks};

/// Parley's native API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Parley API", description = "One inbox for every customer conversation. Errors are RFC 9457 problem documents with a stable `code`. Every POST accepts an `Idempotency-Key` header."),
    paths(
        conversations::list, conversations::start, conversations::get, conversations::update, conversations::read,
        conversations::archive, conversations::unarchive, conversations::close, conversations::messages, conversations::send,
        conversations::delete_message,
        contacts::list, contacts::create, contacts::get, contacts::update, contacts::delete, contacts::merge,
        contacts::conversations, contacts::duplicates,
        channels::list, channels::create, channels::get, channels::update, channels::delete, channels::inbound,
        templates::list, templates::create, templates::get, templates::delete, templates::sync,
        keys::list, keys::create, keys::revoke, keys::operators,
        media::upload, media::list, media::get, media::content, media::file,
        events::stream, webhooks::event, webhooks::event_attempts,
        webhooks::create, webhooks::list, webhooks::event_types, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::redeliver, webhooks::replay, webhooks::deliveries,
        webhooks::attempts,
    ),
    modifiers(&Security),
    security(("api_key" = []), ("bearer" = []))
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components
            .add_security_scheme("api_key", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key"))));
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
