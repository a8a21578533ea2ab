//! One error type for the whole service: every failure has a stable snake_case code, an HTTP
//! status and becomes an RFC 9457 `application/problem+json` body.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// A problem the caller can act on, or an internal failure whose cause is logged, not shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No API key or operator session, or one that is unknown, revoked or expired.
    #[error("a valid API key or operator session is required")]
    Unauthorized,
    /// An operator login with a wrong email or password.
    #[error("the email or password is incorrect")]
    InvalidCredentials,
    /// Too many failed logins for this email; retry after the given seconds.
    #[error("too many failed logins; try again in {0} s")]
    LoginLocked(u64),
    /// A provider webhook whose signature is missing or does not verify, or that names no
    /// channel Parley knows; the detail says which.
    #[error("{0}")]
    InvalidSignature(String),
    /// The request is understood and refused (e.g. a webhook verification with a wrong token).
    #[error("{detail}")]
    Forbidden {
        /// Stable error code.
        code: &'static str,
        /// Human explanation.
        detail: String,
    },
    /// The resource does not exist in the caller's account.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The route exists but not with this HTTP method.
    #[error("this HTTP method is not allowed on this route")]
    MethodNotAllowed,
    /// The request is well formed but breaks a rule; optional per-field details.
    #[error("{detail}")]
    Invalid {
        /// Stable error code.
        code: &'static str,
        /// Human explanation.
        detail: String,
        /// Per-field problems.
        fields: Vec<FieldError>,
    },
    /// The body could not be read as the expected JSON.
    #[error("{0}")]
    MalformedBody(String),
    /// The request conflicts with the current state.
    #[error("{detail}")]
    Conflict {
        /// Stable error code.
        code: &'static str,
        /// Human explanation.
        detail: String,
    },
    /// The body or upload exceeds a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// The account's credit does not cover the message (`insufficient_credit`).
    #[error("{0}")]
    InsufficientCredit(String),
    /// The client stopped sending the request body.
    #[error("the request body stopped arriving; send it again")]
    RequestBodyTimeout,
    /// The request took longer than the request timeout (seconds) and was stopped.
    #[error("the request took longer than {0} s and was stopped; retry it")]
    RequestTimeout(u64),
    /// Too many failed authentications from this client address; retry after the given seconds.
    #[error("too many failed authentications from this address; try again in {0} s")]
    TooManyFailures(u64),
    /// Too many requests for this key; retry after the given seconds.
    #[error("rate limit exceeded, retry in {0} s")]
    RateLimited(u64),
    /// A storage failure.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Any other internal failure.
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

/// A problem with one field of the request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The field's name, dotted for nested fields.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// RFC 9457 problem details as Parley returns them.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// URI identifying the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Stable machine-readable code.
    pub code: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Per-field problems, when the request had invalid fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Error {
    /// A rule violation with a stable code.
    pub fn invalid(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Invalid { code, detail: detail.into(), fields: Vec::new() }
    }

    /// A validation failure on one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Error::fields(vec![FieldError { field: field.to_owned(), message: message.into() }])
    }

    /// A validation failure on several fields at once, each named in `errors`.
    pub fn fields(fields: Vec<FieldError>) -> Self {
        let detail = fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ");
        Error::Invalid { code: "validation_failed", detail, fields }
    }

    /// A body over `limit` bytes.
    pub fn body_too_large(limit: usize) -> Self {
        Error::TooLarge(format!("the request body is larger than the {limit}-byte limit"))
    }

    /// A conflict with the current state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Error::Conflict { code, detail: detail.into() }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized | Error::InvalidCredentials | Error::InvalidSignature(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::InsufficientCredit(_) => StatusCode::PAYMENT_REQUIRED,
            Error::RateLimited(_) | Error::LoginLocked(_) | Error::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            Error::RequestTimeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::RequestBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::Database(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable snake_case code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthorized => "unauthorized",
            Error::InvalidCredentials => "invalid_credentials",
            Error::LoginLocked(_) => "login_locked",
            Error::InvalidSignature(_) => "invalid_signature",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed => "method_not_allowed",
            Error::Invalid { code, .. } | Error::Conflict { code, .. } | Error::Forbidden { code, .. } => code,
            Error::MalformedBody(_) => "malformed_body",
            Error::TooLarge(_) => "payload_too_large",
            Error::InsufficientCredit(_) => "insufficient_credit",
            Error::RateLimited(_) => "rate_limited",
            Error::TooManyFailures(_) => "too_many_failed_attempts",
            Error::RequestTimeout(_) => "request_timeout",
            Error::RequestBodyTimeout => "request_body_timeout",
            Error::Database(_) | Error::Internal(_) => "internal_error",
        }
    }

    /// The problem body for this error; internal causes are not disclosed.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Error::Database(_) | Error::Internal(_) => "an internal error occurred; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let code = self.code();
        Problem {
            type_uri: format!("https://parley.dev/errors/{code}"),
            code: code.to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            errors: match self {
                Error::Invalid { fields, .. } => fields.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self, Error::Database(_) | Error::Internal(_)) {
            tracing::error!(error = %self, "request failed");
        }
        let problem = self.problem();
        let mut response = (self.status(), axum::Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Error::RateLimited(seconds) | Error::LoginLocked(seconds) | Error::TooManyFailures(seconds) = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Result with Parley's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error and its causes on one line, outermost first.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
