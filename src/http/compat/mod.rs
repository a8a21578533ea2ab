//! Compatible APIs: drop-in copies of other platforms' APIs, one folder per dialect, each a thin
//! translator over the services the native API uses. What they share lives here: API-key or
//! HTTP Basic authentication, per-caller request windows with `X-RateLimit-*` headers, and the
//! reading of bodies, queries and path segments, answered in each dialect's own error shape.

pub mod agentclara;
pub mod ccai;
pub mod eva;
pub mod qlara;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, OriginalUri, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::de::DeserializeOwned;

use crate::domain::principal;
use crate::error::Error;
use crate::http::extract::{parse_query, ApiJson, ApiPath};
use crate::http::server::ClientAddr;
use crate::ratelimit::WindowLimiter;
use crate::service::auth;
use crate::state::AppState;

/// A compatible API's own answers to what goes wrong before its handlers run.
pub trait Dialect: Send + Sync + 'static {
    /// The dialect's error answer.
    type Failure: IntoResponse + From<Error> + Send;

    /// Too many requests to `path`: try again after this many seconds.
    fn rate_limited(retry_after: u64, path: &str) -> Self::Failure;

    /// A body that is not the JSON the endpoint takes (`malformed` when it is not JSON at all).
    fn bad_body(detail: &str, malformed: bool) -> Self::Failure;

    /// A path segment that names nothing (`what` it should have named).
    fn not_found(what: &str) -> Self::Failure;

    /// An answer with this status and message in the dialect's shape.
    fn answer(status: StatusCode, message: &str) -> Self::Failure;

    /// A path (404) or method (405) the dialect does not serve.
    fn unknown(status: StatusCode) -> Self::Failure {
        match status {
            StatusCode::METHOD_NOT_ALLOWED => Self::answer(status, "Method not allowed"),
            _ => Self::answer(status, "Not found"),
        }
    }
}

/// A dialect's routes behind its authentication and request windows, answering paths and
/// methods it does not serve in its own shape.
pub fn guarded<D: Dialect>(routes: Router<AppState>, guard: Guard) -> Router<AppState> {
    routes
        .fallback(|| async { D::unknown(StatusCode::NOT_FOUND) })
        .method_not_allowed_fallback(|| async { D::unknown(StatusCode::METHOD_NOT_ALLOWED) })
        .layer(axum::middleware::from_fn_with_state(guard, authenticate::<D>))
}

/// Every compatible API's routes, each with its own request windows.
pub fn routes(state: &AppState) -> Router<AppState> {
    qlara::routes(Guard::new(state))
        .merge(ccai::routes(Guard::new(state)))
        .merge(eva::routes(Guard::new(state)))
        .merge(agentclara::routes(Guard::with(state, agentclara::windows())))
}

/// Who is calling a compatible API: the account, and the operator when they signed in with HTTP
/// Basic.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account_id: i64,
    pub operator_id: Option<i64>,
    /// The rate limit bucket: one per API key or operator.
    bucket: String,
}

impl Caller {
    /// Who is calling, as feedback names its author: `key:{id}` or `operator:{id}`.
    pub fn author(&self) -> &str {
        &self.bucket
    }
}

/// What a dialect's authentication middleware holds: the state and the dialect's own request
/// windows (`PARLEY_COMPAT_RATE_LIMIT_*`), shared by all its routes.
#[derive(Clone)]
pub struct Guard {
    state: AppState,
    windows: Arc<WindowLimiter>,
}

impl Guard {
    /// Fresh windows for one dialect.
    pub fn new(state: &AppState) -> Guard {
        let config = &state.config;
        let windows = WindowLimiter::new(config.compat_rate_limit_per_minute, config.compat_rate_limit_burst);
        Guard::with(state, windows)
    }

    /// These windows for a dialect whose platform sets its own limits.
    pub fn with(state: &AppState, windows: WindowLimiter) -> Guard {
        Guard { state: state.clone(), windows: Arc::new(windows) }
    }
}

/// The credentials of a request: `X-Api-Key` (or a bearer token), else HTTP Basic: an operator's
/// email and password, or any label without `@` (the platforms' subdomain) and an API key.
async fn identify(state: &AppState, headers: &HeaderMap, client: Option<IpAddr>) -> Result<Caller, Error> {
    if let Some(key) = crate::http::auth::api_key(headers).filter(|k| !k.is_empty()) {
        return api_key_caller(state, key, client).await;
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, token)| STANDARD.decode(token.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let (email, password) = basic
        .as_deref()
        .and_then(|pair| pair.split_once(':'))
        .map(|(e, p)| (e.to_owned(), p.to_owned()))
        .ok_or(Error::Unauthorized)?;
    if !email.contains('@') {
        return api_key_caller(state, &password, client).await;
    }
    let (account_id, operator_id) = auth::authenticate_operator(state, &email, &password, client).await?;
    Ok(Caller { account_id, operator_id: Some(operator_id), bucket: format!("operator:{operator_id}") })
}

async fn api_key_caller(state: &AppState, key: &str, client: Option<IpAddr>) -> Result<Caller, Error> {
    let principal = auth::authenticate(state, key, client).await?;
    Ok(Caller {
        account_id: principal.account_id,
        operator_id: None,
        bucket: match principal.caller {
            principal::Caller::ApiKey(id) => format!("key:{id}"),
            principal::Caller::Operator(id) => format!("operator:{id}"),
        },
    })
}

/// Authenticates, applies the caller's request windows and sets the `X-RateLimit-*` headers;
/// failures answer in dialect `D`'s shape.
pub async fn authenticate<D: Dialect>(State(guard): State<Guard>, mut request: Request, next: Next) -> Response {
    let caller = match identify(&guard.state, request.headers(), ClientAddr::of(request.extensions())).await {
        Ok(caller) => caller,
        Err(error) => return D::Failure::from(error).into_response(),
    };
    let verdict = guard.windows.check(&caller.bucket);
    let mut response = if verdict.allowed {
        request.extensions_mut().insert(caller);
        next.run(request).await
    } else {
        // The full path: a nested router sees only its own part.
        let path = request.extensions().get::<OriginalUri>().map_or(request.uri().path(), |uri| uri.path());
        D::rate_limited(verdict.retry_after, path).into_response()
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(verdict.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(verdict.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(verdict.reset_seconds));
    response
}

/// What a dialect tells of an error: its status (`invalid` for input that cannot be taken), the
/// message (internal errors are logged, not told; `unauthorized` says how to authenticate) and
/// how many seconds to wait before trying again.
pub fn describe_error(error: Error, invalid: StatusCode, unauthorized: &str) -> (StatusCode, String, Option<u64>) {
    let status = match &error {
        Error::Invalid { .. } => invalid,
        other => other.status(),
    };
    let message = match &error {
        Error::Unauthorized => unauthorized.to_owned(),
        Error::Database(_) | Error::Internal(_) => {
            tracing::error!(error = %error, "request failed");
            "Internal server error".to_owned()
        }
        Error::Invalid { fields, detail, .. } => match fields.first() {
            Some(field) => format!("{}: {}", field.field, field.message),
            None => detail.clone(),
        },
        other => other.to_string(),
    };
    let retry_after = match error {
        Error::RateLimited(seconds) | Error::LoginLocked(seconds) | Error::TooManyFailures(seconds) => Some(seconds),
        _ => None,
    };
    (status, message, retry_after)
}

/// Declares a dialect's `Body<T>` extractor: a JSON body read as the native API reads it,
/// unreadable bodies answering in the dialect's shape.
macro_rules! json_body {
    ($dialect:ty) => {
        /// A JSON body; unreadable bodies answer 400 in the dialect's shape.
        pub struct Body<T>(pub T);

        impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<$crate::state::AppState> for Body<T> {
            type Rejection = <$dialect as $crate::http::compat::Dialect>::Failure;

            async fn from_request(
                req: axum::extract::Request,
                state: &$crate::state::AppState,
            ) -> Result<Self, Self::Rejection> {
                $crate::http::compat::read_body::<$dialect, T>(req, state).await.map(Body)
            }
        }
    };
}
pub(crate) use json_body;

/// Declares a dialect's query-string extractor named `$name`: invalid parameters answer 400 in
/// the dialect's shape.
macro_rules! query_params {
    ($dialect:ty, $name:ident) => {
        /// Query parameters; invalid ones answer 400 in the dialect's shape.
        pub struct $name<T>(pub T);

        impl<T: serde::de::DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for $name<T> {
            type Rejection = <$dialect as $crate::http::compat::Dialect>::Failure;

            async fn from_request_parts(
                parts: &mut axum::http::request::Parts,
                _state: &S,
            ) -> Result<Self, Self::Rejection> {
                $crate::http::compat::read_query::<$dialect, T>(parts).map($name)
            }
        }
    };
}
pub(crate) use query_params;

/// Reads a JSON body as the native API does, with failures in dialect `D`'s shape.
pub async fn read_body<D: Dialect, T: DeserializeOwned>(req: Request, state: &AppState) -> Result<T, D::Failure> {
    match ApiJson::<T>::from_request(req, state).await {
        Ok(ApiJson(value)) => Ok(value),
        Err(Error::Invalid { detail, .. }) => Err(D::bad_body(&detail, false)),
        Err(Error::MalformedBody(detail)) => Err(D::bad_body(&detail, true)),
        Err(other) => Err(D::Failure::from(other)),
    }
}

/// Reads the query string, with failures in dialect `D`'s shape.
pub fn read_query<D: Dialect, T: DeserializeOwned>(parts: &Parts) -> Result<T, D::Failure> {
    parse_query(parts.uri.query().unwrap_or_default()).map_err(D::Failure::from)
}

/// Reads a path segment; one that cannot be read names nothing (`what`, 404 in `D`'s shape).
pub async fn read_segment<D: Dialect, T: DeserializeOwned + Send>(
    parts: &mut Parts,
    state: &AppState,
    what: &str,
) -> Result<T, D::Failure> {
    ApiPath::<T>::from_request_parts(parts, state).await.map(|ApiPath(value)| value).map_err(|_| D::not_found(what))
}
