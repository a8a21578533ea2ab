//! Extractors whose rejections use Parley's problem+json shape: a malformed body is a 400, a body
//! of the wrong shape a 422 naming the field, and text with a NUL character (U+0000), which no
//! backend can store as text, a 422 naming where it is.

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{Error, FieldError};
use crate::state::AppState;

/// What a field with a NUL character is told.
const NUL_MESSAGE: &str = "must not contain the NUL character (U+0000)";

/// A JSON body; malformed, oversized or slow bodies get a problem response.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Error> {
        if !is_json(req.headers()) {
            return Err(Error::MalformedBody("expected a JSON body with `Content-Type: application/json`".to_owned()));
        }
        let bytes = read_body(req.into_body(), state.config.max_body_bytes).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Whether the request says its body is JSON (`application/json` or `application/*+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| mime.trim().to_ascii_lowercase())
        .is_some_and(|mime| mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json")))
}

/// Reads a whole body of at most `limit` bytes; a larger one is a 413 that names the limit, and
/// one that stops sending a 408.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, Error> {
    axum::body::to_bytes(body, limit).await.map_err(|e| body_error(&e, limit))
}

/// The problem for a body that could not be read.
fn body_error(error: &(dyn std::error::Error + 'static), limit: usize) -> Error {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return Error::RequestBodyTimeout;
        }
        if e.is::<http_body_util::LengthLimitError>() {
            return Error::body_too_large(limit);
        }
        cause = e.source();
    }
    Error::MalformedBody("the request body could not be read".to_owned())
}

/// Parses a JSON body into `T`: syntax errors are 400 `malformed_body`; a value of the wrong type,
/// a missing or unknown field, or text with a NUL character is 422 `validation_failed` naming the
/// field (dotted, with `[n]` for array items).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    check_nul(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => field_error(&path, &without_position(&inner)),
            _ => Error::MalformedBody(format!("malformed JSON body: {inner}")),
        }
    })?;
    deserializer.end().map_err(|e| Error::MalformedBody(format!("malformed JSON body: {e}")))?;
    Ok(value)
}

/// A serde message without serde_json's " at line L column C".
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// A data error at `path`. serde reports a missing field at its parent's path, so it is named
/// from the message.
fn field_error(path: &str, message: &str) -> Error {
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match (missing, path) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, ".") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    Error::fields(vec![FieldError { field, message: message.to_owned() }])
}

/// Refuses a JSON text with a NUL character in a string or a key, naming where it is. NUL can
/// only be written `\u0000` in JSON, so bodies without that escape are not parsed twice.
fn check_nul(bytes: &[u8]) -> Result<(), Error> {
    if !bytes.windows(6).any(|window| window == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return Ok(()) };
    match nul_path(&value, String::new()) {
        Some(path) => Err(Error::field(if path.is_empty() { "body" } else { &path }, NUL_MESSAGE)),
        None => Ok(()),
    }
}

/// Where the first NUL character of a JSON value is, as a field path.
fn nul_path(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(text) if text.contains('\0') => Some(path),
        Value::Array(items) => items.iter().enumerate().find_map(|(n, item)| nul_path(item, format!("{path}[{n}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let name = key.replace('\0', "\\u0000");
            let here = if path.is_empty() { name } else { format!("{path}.{name}") };
            if key.contains('\0') {
                Some(here)
            } else {
                nul_path(item, here)
            }
        }),
        _ => None,
    }
}

/// Query parameters; invalid ones get a 422 problem response naming the parameter.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Error> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Parses a query string into `T`; a parameter that does not fit, or that has a NUL character, is
/// a 422 `invalid_query` naming it.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, Error> {
    check_query_nul(query)?;
    let deserializer = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let named = ["missing field `", "unknown field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned);
        invalid_query(named.unwrap_or(if path == "." { "query".to_owned() } else { path }), message)
    })
}

fn invalid_query(field: String, message: String) -> Error {
    Error::Invalid {
        code: "invalid_query",
        detail: format!("{field}: {message}"),
        fields: vec![FieldError { field, message }],
    }
}

/// Refuses a query string with a NUL character (`%00`) in a parameter's name or value.
pub fn check_query_nul(query: &str) -> Result<(), Error> {
    if !query.contains("%00") {
        return Ok(());
    }
    match url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
    {
        Some((name, _)) => Err(invalid_query(name.replace('\0', "%00"), NUL_MESSAGE.to_owned())),
        None => Ok(()),
    }
}

/// Path parameters; ids that cannot exist answer 404 like absent ones.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Error> {
        if parts.uri.path().contains("%00") {
            return Err(Error::NotFound("resource"));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_: PathRejection| Error::NotFound("resource"))
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        tags: Vec<String>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        from: String,
        inner: Option<Inner>,
    }

    fn field_of(body: &str) -> (String, String) {
        match parse_json::<Outer>(body.as_bytes()) {
            Err(Error::Invalid { fields, .. }) => (fields[0].field.clone(), fields[0].message.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn body_errors_name_their_field() {
        let (field, message) = field_of(r#"{"from": 123}"#);
        assert_eq!(field, "from");
        assert!(message.starts_with("invalid type: integer `123`, expected a string"), "{message}");
        assert_eq!(field_of(r#"{"inner": {"tags": ["a", 2]}, "from": "x"}"#).0, "inner.tags[1]");
        assert_eq!(field_of(r#"{"inner": {}}"#).0, "inner.tags");
        assert_eq!(field_of(r#"{}"#).0, "from");
        assert_eq!(field_of(r#"{"from": "x", "to": "y"}"#).0, "to");
        assert_eq!(field_of(r#""just text""#).0, "body");
        assert!(matches!(parse_json::<Outer>(b"{\"from\": "), Err(Error::MalformedBody(_))));
        assert!(matches!(parse_json::<Outer>(br#"{"from": "x"} trailing"#), Err(Error::MalformedBody(_))));
    }

    #[test]
    fn nul_characters_are_found_wherever_they_are() {
        assert_eq!(field_of(r#"{"from": "a\u0000b"}"#), ("from".to_owned(), NUL_MESSAGE.to_owned()));
        assert_eq!(field_of(r#"{"from": "x", "inner": {"tags": ["ok", "\u0000"]}}"#).0, "inner.tags[1]");
        assert_eq!(field_of(r#"{"from": "x", "k\u0000": 1}"#).0, "k\\u0000");
        assert!(parse_json::<Outer>(br#"{"from": "a\\u0000b"}"#).is_ok(), "an escaped backslash is no NUL");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Page {
        limit: Option<i64>,
        q: Option<String>,
    }

    #[test]
    fn query_errors_name_their_parameter() {
        let Err(Error::Invalid { code, fields, .. }) = parse_query::<Page>("limit=ten") else { panic!() };
        assert_eq!((code, fields[0].field.as_str()), ("invalid_query", "limit"));
        let Err(Error::Invalid { fields, .. }) = parse_query::<Page>("q=a%00b") else { panic!() };
        assert_eq!((fields[0].field.as_str(), fields[0].message.as_str()), ("q", NUL_MESSAGE));
        assert!(parse_query::<Page>("limit=5&q=x").is_ok());
    }
}
