//! The OpenAPI 3.1 documents, generated from the handlers' annotations: the native API, and the
//! seed platforms' dialects with the provider webhooks. One modifier adds what every operation
//! shares, so no document can forget it: its path parameters, the problem responses it can answer
//! (RFC 9457 bodies as `application/problem+json`) and the `Idempotency-Key` of POSTs.

use serde_json::json;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Header, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::http::api::{
    agents, channels, contacts, conversations, credit, events, feedback, keys, media, quick_replies, reports, surveys,
    teams, templates, webhooks,
};
use crate::http::compat::qlara::{self, sends as qlara_sends};
use crate::http::{hooks, widget};

/// Parley's native API.
#[derive(OpenApi)]
#[openapi(
    info(title = "Parley API", description = "One inbox for every customer conversation: WhatsApp, RCS, Messenger, \
Instagram, SMS, email and web chat.

**Authentication.** Send an API key as `X-Api-Key: <key>` or `Authorization: Bearer <key>`. Keys are made \
at first start, with `parley keys create`, or with `POST /api/v1/api-keys`. The operator web UI's session \
cookie works too (with its `X-CSRF-Token` on changes).

**Errors** are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) problem documents \
(`application/problem+json`) with a stable `code` and, for invalid fields, an `errors` list naming each one.

**Lists** page with `limit` and the `next_cursor` of the previous page, and carry the `total` that match.

**Idempotency.** Any POST may carry an `Idempotency-Key`; a retry with the same key and body answers the \
first response again (`Idempotent-Replayed: true`). Keys last 24 hours.

**Limits.** Each key has a request rate (429 with `Retry-After` beyond it); an address that sends too many \
wrong keys or passwords is refused for a while."),
    paths(
        conversations::list, conversations::start, conversations::get, conversations::update, conversations::typing, conversations::read,
        conversations::archive, conversations::unarchive, conversations::close, conversations::messages, conversations::send,
        conversations::delete_message, conversations::cancel, conversations::escalate, conversations::escalations_of,
        conversations::update_escalation, conversations::take_over, conversations::hand_back, conversations::chat_details,
        agents::list, agents::engines, agents::create, agents::get, agents::update, agents::delete, agents::try_out,
        agents::list_articles, agents::create_article, agents::get_article, agents::update_article,
        agents::delete_article, agents::search,
        surveys::list, surveys::create, surveys::get, surveys::update, surveys::results, surveys::export, surveys::send,
        surveys::vote, feedback::give, feedback::of_conversation, feedback::of_agent,
        quick_replies::list, quick_replies::create, quick_replies::get, quick_replies::update, quick_replies::delete,
        quick_replies::for_conversation,
        reports::activity, reports::activity_csv, reports::workload, reports::workload_csv, reports::business_hours,
        reports::set_business_hours, reports::clear_business_hours,
        teams::list, teams::create, teams::get, teams::update, teams::delete, teams::presence, teams::set_presence,
        contacts::list, contacts::create, contacts::get, contacts::update, contacts::delete, contacts::merge,
        contacts::messages, contacts::conversations, contacts::duplicates,
        channels::kinds, channels::list, channels::create, channels::get, channels::update, channels::delete, channels::inbound, channels::call, channels::mail_failures,
        templates::list, templates::create, templates::get, templates::delete, templates::sync,
        media::upload, media::list, media::get, media::content, media::file, media::form_upload,
        events::stream, webhooks::event, webhooks::event_attempts,
        webhooks::create, webhooks::list, webhooks::event_types, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate_secret, webhooks::test, webhooks::redeliver, webhooks::replay, webhooks::deliveries,
        webhooks::attempts,
        credit::balance, credit::top_up, credit::ledger,
        keys::list, keys::create, keys::revoke, keys::operators, keys::set_company_secret,
        widget::open, widget::identify, widget::messages, widget::send, widget::events, widget::typing, widget::upload, widget::chat_state, widget::deflect, widget::rate,
    ),
    tags(
        (name = "conversations", description = "One thread per contact and channel: list, filter, search, assign, resolve, archive."),
        (name = "messages", description = "A conversation's messages: read the thread, send, delete."),
        (name = "contacts", description = "The people you talk to, with their identity on each channel."),
        (name = "channels", description = "Connected networks (WhatsApp, SMS, RCS…), and messages delivered to them."),
        (name = "templates", description = "WhatsApp message templates, for writing after the 24-hour window."),
        (name = "media", description = "Uploaded and received files, and expiring links to them."),
        (name = "events", description = "The durable event log, live as Server-Sent Events."),
        (name = "webhooks", description = "Signed deliveries of events to your endpoints, with retries and replay."),
        (name = "credit", description = "Prepaid credit for charged channels, and its ledger."),
        (name = "api keys", description = "Keys for this API."),
        (name = "operators", description = "The people who answer conversations in the inbox."),
        (name = "quick replies", description = "Saved answers operators pick with `/` in the composer, filled for each conversation."),
        (name = "virtual agents", description = "AI agents that answer first and hand over to people: engines, knowledge base, escalations, take over and hand back."),
        (name = "reports", description = "Volumes, first response and resolution times, virtual agents' share and the live workload, per day or week and per channel, team, operator or virtual agent; CSV; business hours."),
        (name = "surveys", description = "Satisfaction surveys (1 to 5) sent where the customer is, votes read from their replies, and the results."),
        (name = "routing", description = "Teams (queues), operator availability and capacity: waiting conversations go round-robin to free online members."),
        (name = "web chat widget", description = "What the widget on a website calls: no API key; a visitor session from an allowed origin, its token as a bearer."),
    ),
    modifiers(&Security, &Conventions),
    security(("api_key" = []), ("bearer" = []))
)]
pub struct ApiDoc;

/// The seed platforms' APIs Parley speaks, and the webhooks providers call.
#[derive(OpenApi)]
#[openapi(
    info(title = "Parley: compatible APIs and provider webhooks", description = "Drop-in copies of the APIs of the \
platforms businesses move from, over the same services as the native API, and the URLs to give providers for \
their webhooks.

**Qlara Platform API** (seed 000): the two-way inbox under `/api/partner-gateway/v1`, its delivery-status \
webhook, the message-server sends, status polling and credit. Authenticate with `X-Api-Key` (or a bearer \
token), or with HTTP Basic and an operator's email and password. Errors are \
`{\"status\", \"error\", \"message\"}`; invalid input is 400. Each key has its own limit per minute and per \
second, reported in `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `X-RateLimit-Reset`.

**Contact-centre chat API** (seed 003, CCAI Platform): chats under `/apps/api/v1/chats` — create, get, \
finish, the end user's messages, escalations and deflection, photos and videos with pre-signed uploads, \
customer flags, custom data (signed with the account's company secret or not) and the end user. Authenticate \
with HTTP Basic: any username (the platform's subdomain) and an API key as the password. Errors are \
`{\"message\"}` with the HTTP status. See docs/ccai.md.

**Provider webhooks** need no key: each provider's signature authenticates them."),
    paths(
        qlara::inbox::list, qlara::inbox::get, qlara::inbox::messages, qlara::inbox::reply, qlara::inbox::read,
        qlara::inbox::archive, qlara::inbox::unarchive, qlara::inbox::assign, qlara::inbox::unassign,
        qlara::inbox::assignable_users,
        qlara::webhooks::get, qlara::webhooks::create, qlara::webhooks::replace, qlara::webhooks::delete,
        qlara_sends::send, qlara_sends::status, qlara_sends::statuses, qlara_sends::subscription_credit,
        qlara_sends::subscription_credit_under_base, qlara_sends::cancel,
        qlara::rcs_templates::create, qlara::rcs_templates::list, qlara::rcs_templates::get,
        qlara::rcs_templates::replace, qlara::rcs_templates::delete,
        hooks::verify, hooks::receive, hooks::receive_mail,
    ),
    components(schemas(crate::error::Problem)),
    tags(
        (name = "Qlara inbox", description = "Seed 000: conversations, threads, replies, read and archive, assignment."),
        (name = "Qlara webhooks", description = "Seed 000 Step 1: where INBOUND, DELIVERY and READ events go (see docs/webhooks.md for their bodies)."),
        (name = "Qlara sends", description = "The message-server sends (RCS cards, carousels and suggestions, templates, scheduling, fallback) with simulation, delivery status polling, RCS templates and credit."),
        (name = "Provider webhooks", description = "URLs to give each provider; their signatures are checked before anything is written."),
    ),
    modifiers(&CompatSecurity, &CompatConventions),
    security(("api_key" = []), ("bearer" = []), ("operator" = []))
)]
pub struct CompatDoc;

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
        components.add_security_scheme(
            "visitor",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A web chat visitor's session token (from opening a session)."))
                    .build(),
            ),
        );
    }
}

struct CompatSecurity;

impl Modify for CompatSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        Security.modify(openapi);
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "operator",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some("An operator's email and password."))
                    .build(),
            ),
        );
    }
}

/// What every operation of the compatible APIs shares: path parameters, and errors in the seed's
/// shape (the provider webhooks answer native problems, which their annotations give).
struct CompatConventions;

impl Modify for CompatConventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let failures = [
            (
                "400",
                "QlaraBadRequest",
                "Invalid input: a body, parameter or id that is not accepted; `message` says which.",
            ),
            ("401", "QlaraUnauthorized", "Missing or invalid API key or operator credentials."),
            ("404", "QlaraNotFound", "No such conversation, message or webhook in the account."),
            (
                "429",
                "QlaraTooManyRequests",
                "Over the key's limit per minute or per second; `retryAfter` and `Retry-After` say when to retry.",
            ),
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for (status, name, description) in failures {
            components.responses.insert(name.to_owned(), RefOr::T(failure_response(status, description)));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                problem_content_type(operation);
                declare_path_parameters(path, operation);
                if path.starts_with("/hooks/") {
                    continue;
                }
                let has_input = path.contains('{')
                    || operation.request_body.is_some()
                    || operation.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
                let applicable = [
                    ("400", "QlaraBadRequest", has_input || method == "post"),
                    ("401", "QlaraUnauthorized", true),
                    ("404", "QlaraNotFound", path.contains('{')),
                    ("429", "QlaraTooManyRequests", true),
                ];
                for (status, name, applies) in applicable {
                    if applies && !operation.responses.responses.contains_key(status) {
                        operation
                            .responses
                            .responses
                            .insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
                    }
                }
            }
        }
    }
}

/// A failure response in the seed platform's shape.
fn failure_response(status: &str, description: &str) -> Response {
    let code: u16 = status.parse().unwrap_or(500);
    let reason = axum::http::StatusCode::from_u16(code).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let example = json!({"status": code, "error": reason, "message": description});
    let content = Content::builder().schema(Some(Ref::from_schema_name("QlaraError"))).example(Some(example)).build();
    let mut response = Response::new(description);
    response.content.insert("application/json".to_owned(), content);
    response
}

/// A problem response every operation of a kind can answer.
struct Common {
    status: &'static str,
    name: &'static str,
    description: &'static str,
    code: &'static str,
    detail: &'static str,
}

const UNAUTHORIZED: Common = Common {
    status: "401",
    name: "Unauthorized",
    description: "No valid API key or session.",
    code: "unauthorized",
    detail: "a valid API key or operator session is required",
};
const FORBIDDEN: Common = Common {
    status: "403",
    name: "Forbidden",
    description: "A web UI session's change without its `X-CSRF-Token` (`csrf_failed`), or a virtual agent's key used \
                  beyond reading conversations, answering and escalating them (`virtual_agent_key`).",
    code: "virtual_agent_key",
    detail: "a virtual agent's key may only read conversations, send messages in them and escalate them",
};
const NOT_FOUND: Common = Common {
    status: "404",
    name: "NotFound",
    description: "No such resource in the caller's account.",
    code: "not_found",
    detail: "conversation not found",
};
const MALFORMED: Common = Common {
    status: "400",
    name: "MalformedBody",
    description: "The body is not JSON, or not sent as `application/json`.",
    code: "malformed_body",
    detail: "malformed JSON body: EOF while parsing an object at line 1 column 9",
};
const BODY_TIMEOUT: Common = Common {
    status: "408",
    name: "RequestBodyTimeout",
    description: "The body stopped arriving.",
    code: "request_body_timeout",
    detail: "the request body stopped arriving; send it again",
};
const TOO_LARGE: Common = Common {
    status: "413",
    name: "PayloadTooLarge",
    description: "The body is over the size limit, which the detail names.",
    code: "payload_too_large",
    detail: "the request body is larger than the 1048576-byte limit",
};
const INVALID: Common = Common {
    status: "422",
    name: "Invalid",
    description: "A field or query parameter is invalid (each is named in `errors`), or the request breaks a rule \
                  (`code` says which).",
    code: "validation_failed",
    detail: "text: must not contain the NUL character (U+0000)",
};
const IN_PROGRESS: Common = Common {
    status: "409",
    name: "Conflict",
    description: "The resource's state does not allow it, or a request with the same `Idempotency-Key` is still \
                  running (`idempotency_key_in_progress`).",
    code: "idempotency_key_in_progress",
    detail: "a request with this Idempotency-Key is still being processed; retry shortly",
};
const TOO_MANY: Common = Common {
    status: "429",
    name: "TooManyRequests",
    description: "The key's rate limit (`rate_limited`), or too many failed authentications from this address \
                  (`too_many_failed_attempts`); `Retry-After` says when to retry.",
    code: "rate_limited",
    detail: "rate limit exceeded, retry in 2 s",
};
const TIMED_OUT: Common = Common {
    status: "503",
    name: "RequestTimeout",
    description: "The request ran longer than the request timeout and was stopped; retry it (with the same \
                  `Idempotency-Key`, nothing is done twice).",
    code: "request_timeout",
    detail: "the request took longer than 30 s and was stopped; retry it",
};

/// The responses, parameters and headers every operation shares, added where an annotation
/// does not give them itself.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let all = [
            UNAUTHORIZED,
            FORBIDDEN,
            NOT_FOUND,
            MALFORMED,
            BODY_TIMEOUT,
            TOO_LARGE,
            INVALID,
            IN_PROGRESS,
            TOO_MANY,
            TIMED_OUT,
        ];
        let components = openapi.components.get_or_insert_with(Default::default);
        for common in &all {
            components.responses.insert(common.name.to_owned(), RefOr::T(problem_response(common)));
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                problem_content_type(operation);
                declare_path_parameters(path, operation);
                let has_query = operation.parameters.iter().flatten().any(|p| p.parameter_in == ParameterIn::Query);
                let has_path = path.contains('{');
                let has_body = operation.request_body.is_some();
                let is_post = method == "post";
                // The widget's calls (no API key) take no Idempotency-Key.
                let keyed = is_post && !path.starts_with("/widget/");
                let applicable = [
                    (UNAUTHORIZED, true),
                    (FORBIDDEN, true),
                    (TOO_MANY, true),
                    (NOT_FOUND, has_path),
                    (MALFORMED, has_body),
                    (BODY_TIMEOUT, has_body),
                    (TOO_LARGE, has_body),
                    (INVALID, has_body || has_query || is_post),
                    (IN_PROGRESS, keyed),
                    (TIMED_OUT, is_post),
                ];
                for (common, applies) in applicable {
                    if applies && !operation.responses.responses.contains_key(common.status) {
                        let reference = Ref::from_response_name(common.name);
                        operation.responses.responses.insert(common.status.to_owned(), RefOr::Ref(reference));
                    }
                }
                if keyed {
                    operation.parameters.get_or_insert_with(Vec::new).push(idempotency_key());
                }
            }
        }
    }
}

/// A path's operations with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("post", item.post.as_mut()),
        ("put", item.put.as_mut()),
        ("patch", item.patch.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// A problem response with an example body.
fn problem_response(common: &Common) -> Response {
    let status: u16 = common.status.parse().unwrap_or(500);
    let title = axum::http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
    let example = json!({
        "type": format!("https://parley.dev/errors/{}", common.code),
        "code": common.code,
        "title": title,
        "status": status,
        "detail": common.detail,
    });
    let content = Content::builder().schema(Some(Ref::from_schema_name("Problem"))).example(Some(example)).build();
    let mut response = Response::new(common.description);
    response.content.insert("application/problem+json".to_owned(), content);
    if status == 429 {
        let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
        let mut header = Header::new(seconds);
        header.description = Some("Seconds to wait before retrying.".to_owned());
        response.headers.insert("Retry-After".to_owned(), header);
    }
    response
}

/// Problem bodies declared by the annotations as JSON are sent as `application/problem+json`.
fn problem_content_type(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else { continue };
        let is_problem = response
            .content
            .get("application/json")
            .and_then(|c| c.schema.as_ref())
            .is_some_and(|schema| matches!(schema, RefOr::Ref(r) if r.ref_location.ends_with("/Problem")));
        if is_problem {
            if let Some(content) = response.content.shift_remove("application/json") {
                response.content.insert("application/problem+json".to_owned(), content);
            }
        }
    }
}

/// Declares each `{name}` of the path that the operation does not.
fn declare_path_parameters(path: &str, operation: &mut Operation) {
    let segments: Vec<&str> = path.split('/').collect();
    for (n, segment) in segments.iter().enumerate() {
        let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else { continue };
        let parameters = operation.parameters.get_or_insert_with(Vec::new);
        if parameters.iter().any(|p| p.name == name && p.parameter_in == ParameterIn::Path) {
            continue;
        }
        let collection = if n > 0 { segments[n - 1] } else { "" };
        parameters.push(path_parameter(name, collection));
    }
}

/// A path parameter: ids are 64-bit integers, media keys strings.
fn path_parameter(name: &str, collection: &str) -> Parameter {
    let is_id = name.to_ascii_lowercase().ends_with("id");
    let (schema, description) = if is_id {
        let thing = match (name, collection) {
            ("message_id", _) => "message",
            ("template_id", _) => "template",
            ("escalation_id", _) => "escalation",
            ("article_id", _) => "article",
            (_, "agents") => "virtual agent",
            (_, "teams") => "team",
            ("chatId", _) => "conversation",
            (_, "conversations") => "conversation",
            (_, "contacts") => "contact",
            (_, "channels") => "channel",
            (_, "webhooks") => "webhook subscription",
            (_, "events") => "event",
            (_, "api-keys") => "API key",
            _ => "resource",
        };
        let schema = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .build();
        (schema, format!("The {thing}'s id."))
    } else {
        (ObjectBuilder::new().schema_type(Type::String).build(), "The media file's key.".to_owned())
    };
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .example(Some(if is_id { json!(1) } else { json!("b394ab72/efd4987c/39b4879f6fed01f0d622453be1488c93") }))
        .build()
}

/// The optional `Idempotency-Key` header of POSTs.
fn idempotency_key() -> Parameter {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(255))
        .pattern(Some("^[!-~]+$"))
        .build();
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some("Makes a retry safe: the same key and body answer the first response again for 24 hours."))
        .schema(Some(schema))
        .build()
}
