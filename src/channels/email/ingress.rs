//! The raw-MIME webhook: a whole RFC 822 mail posted over HTTP, as a raw body (an MTA pipe), as
//! Mailgun's `body-mime` field (with its signature), Postmark's `RawEmail` or SendGrid's `email`
//! field (both with Basic auth). Only the raw mail is read, never a provider's pre-parsed fields,
//! so every way in goes through the one parser.

use axum::http::{header, HeaderMap};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::Settings;

/// How old a Mailgun signature may be, in seconds.
const MAILGUN_MAX_AGE_SECONDS: i64 = 300;

/// Why a posted mail is not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No valid proof that the provider sent it (401).
    Unauthorized(String),
    /// A body the webhook does not read (415).
    Unsupported(String),
    /// A body of a known shape without the mail in it (400).
    Malformed(String),
}

/// The raw mail of a verified webhook body; `now` is the Unix time in seconds.
pub async fn raw_mail(
    settings: &Settings,
    headers: &HeaderMap,
    body: bytes::Bytes,
    now: i64,
) -> Result<Vec<u8>, Refusal> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let fields = match essence.as_str() {
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(content_type).map_err(|e| Refusal::Malformed(e.to_string()))?;
            form_fields(body, boundary).await?
        }
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map_err(|e| Refusal::Malformed(format!("unreadable form: {e}")))?,
        "application/json" => {
            check_basic(settings, headers)?;
            let json: Value =
                serde_json::from_slice(&body).map_err(|e| Refusal::Malformed(format!("malformed JSON: {e}")))?;
            return json["RawEmail"].as_str().map(|raw| raw.as_bytes().to_vec()).ok_or_else(|| {
                Refusal::Malformed("the JSON has no RawEmail (Postmark: tick \"Include raw email content\")".to_owned())
            });
        }
        "message/rfc822" | "text/plain" | "application/octet-stream" => {
            check_basic(settings, headers)?;
            return Ok(body.to_vec());
        }
        _ => {
            return Err(Refusal::Unsupported(format!(
                "`{essence}` is not a raw mail: post message/rfc822, or a provider's raw-MIME form or JSON"
            )))
        }
    };
    let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str());
    if let Some(raw) = field("body-mime") {
        check_mailgun(settings, field("timestamp"), field("token"), field("signature"), now)?;
        return Ok(raw.as_bytes().to_vec());
    }
    check_basic(settings, headers)?;
    field("email").map(|raw| raw.as_bytes().to_vec()).ok_or_else(|| {
        Refusal::Malformed(
            "the form has no raw mail (Mailgun: body-mime; SendGrid: email, with \"POST the raw, full MIME message\")"
                .to_owned(),
        )
    })
}

/// The text fields of a multipart form.
async fn form_fields(body: bytes::Bytes, boundary: String) -> Result<Vec<(String, String)>, Refusal> {
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(body) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    let malformed = |e: multer::Error| Refusal::Malformed(format!("unreadable form: {e}"));
    while let Some(field) = form.next_field().await.map_err(malformed)? {
        let Some(name) = field.name().map(str::to_owned) else { continue };
        let value = field.bytes().await.map_err(malformed)?;
        fields.push((name, String::from_utf8_lossy(&value).into_owned()));
    }
    Ok(fields)
}

/// Basic auth with the channel's webhook password (any user name).
fn check_basic(settings: &Settings, headers: &HeaderMap) -> Result<(), Refusal> {
    let expected = settings.hook_password.as_deref().ok_or_else(|| {
        Refusal::Unauthorized("the channel has no webhook password (settings.hook_password)".to_owned())
    })?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, password)| password.to_owned()))
        .ok_or_else(|| {
            Refusal::Unauthorized("Basic auth with the channel's webhook password is required".to_owned())
        })?;
    match bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        true => Ok(()),
        false => Err(Refusal::Unauthorized("the webhook password does not match".to_owned())),
    }
}

/// Mailgun's signature: hex HMAC-SHA256 of timestamp and token with the signing key, recent.
fn check_mailgun(
    settings: &Settings,
    timestamp: Option<&str>,
    token: Option<&str>,
    signature: Option<&str>,
    now: i64,
) -> Result<(), Refusal> {
    let unauthorized = |why: &str| Refusal::Unauthorized(why.to_owned());
    let key = settings
        .mailgun_signing_key
        .as_deref()
        .ok_or_else(|| unauthorized("the channel has no Mailgun signing key"))?;
    let (Some(timestamp), Some(token), Some(signature)) = (timestamp, token, signature) else {
        return Err(unauthorized("Mailgun's timestamp, token and signature are required"));
    };
    let at: i64 = timestamp.parse().map_err(|_| unauthorized("the timestamp is not a number"))?;
    if (now - at).abs() > MAILGUN_MAX_AGE_SECONDS {
        return Err(unauthorized("the signature is too old"));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).map_err(|_| unauthorized("bad key"))?;
    mac.update(timestamp.as_bytes());
    mac.update(token.as_bytes());
    let given = hex::decode(signature).map_err(|_| unauthorized("the signature is not hex"))?;
    mac.verify_slice(&given).map_err(|_| unauthorized("the signature does not match the Mailgun signing key"))
}
