//! A local stand-in for Twilio's REST API, shared by the SMS tests: the Messages resource
//! (`POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, HTTP Basic) answered as Twilio
//! does (201 with the message resource, or a queued error in Twilio's error shape), and MMS files
//! that are served only with the account's credentials.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "twilio-auth-token";
/// The bytes of every MMS file the stand-in serves.
pub const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a small jpeg";

/// The bytes of every call recording the stand-in serves (an MP3 frame header and some data).
pub const RECORDING: &[u8] = b"\xff\xfb\x90\x64 a short voicemail";

/// A message the stand-in accepted or refused.
#[derive(Debug, Clone)]
pub struct Received {
    pub account: String,
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
}

impl Received {
    /// The value of a form parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    failures: VecDeque<(u16, Value)>,
    media_requests: Vec<Option<String>>,
}

/// The stand-in's handle.
#[derive(Clone, Default)]
pub struct TwilioApi {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl TwilioApi {
    pub async fn start() -> TwilioApi {
        let mut api = TwilioApi::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        api.base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", post(create_message))
            .route("/media/{name}", get(media))
            .route("/2010-04-01/Accounts/{account}/Recordings/{file}", get(recording))
            .with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        api
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The next send is refused with Twilio's error `code` and this HTTP status.
    pub fn fail_next(&self, status: u16, code: i64, message: &str) {
        let body = json!({"code": code, "message": message, "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status});
        self.inner.lock().unwrap().failures.push_back((status, body));
    }

    /// The `Authorization` header of every file request.
    pub fn media_requests(&self) -> Vec<Option<String>> {
        self.inner.lock().unwrap().media_requests.clone()
    }

    /// A call recording's URL as Twilio's callbacks give it (without an extension).
    pub fn recording_url(&self, sid: &str) -> String {
        format!("{}/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/{sid}", self.base)
    }

    /// Where an MMS file is.
    pub fn media_url(&self, name: &str) -> String {
        format!("{}/media/{name}", self.base)
    }
}

/// The Basic credentials of the account.
pub fn basic_auth() -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{ACCOUNT_SID}:{AUTH_TOKEN}")))
}

fn authorization(headers: &HeaderMap) -> Option<String> {
    headers.get("authorization").and_then(|value| value.to_str().ok()).map(str::to_owned)
}

async fn create_message(
    State(api): State<TwilioApi>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap();
    let received = Received { account, authorization: authorization(&headers), form };
    let mut inner = api.inner.lock().unwrap();
    inner.received.push(received.clone());
    if received.authorization.as_deref() != Some(basic_auth().as_str()) {
        let error = json!({"code": 20003, "message": "Authenticate", "status": 401});
        return (StatusCode::UNAUTHORIZED, Json(error)).into_response();
    }
    if let Some((status, body)) = inner.failures.pop_front() {
        return (StatusCode::from_u16(status).unwrap(), Json(body)).into_response();
    }
    let sid = format!("SM{:032x}", inner.received.len());
    let answer = json!({"sid": sid, "account_sid": received.account, "status": "queued",
        "to": received.param("To"), "from": received.param("From"), "body": received.param("Body"),
        "num_segments": "1", "num_media": if received.param("MediaUrl").is_some() { "1" } else { "0" },
        "api_version": "2010-04-01", "uri": format!("/2010-04-01/Accounts/{}/Messages/{sid}.json", received.account)});
    (StatusCode::CREATED, Json(answer)).into_response()
}

/// A recording, served as MP3 when asked with that extension (Twilio's default is WAV), to the
/// account only.
async fn recording(
    State(api): State<TwilioApi>,
    Path((account, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let auth = authorization(&headers);
    api.inner.lock().unwrap().media_requests.push(auth.clone());
    if auth.as_deref() != Some(basic_auth().as_str()) || account != ACCOUNT_SID {
        return (StatusCode::UNAUTHORIZED, "HTTP Basic authentication required").into_response();
    }
    match file.strip_suffix(".mp3") {
        Some(_) => ([("content-type", "audio/mpeg")], RECORDING).into_response(),
        None => ([("content-type", "audio/x-wav")], b"RIFF a wav".as_slice()).into_response(),
    }
}

async fn media(State(api): State<TwilioApi>, headers: HeaderMap) -> Response {
    let auth = authorization(&headers);
    api.inner.lock().unwrap().media_requests.push(auth.clone());
    match auth.as_deref() == Some(basic_auth().as_str()) {
        true => ([("content-type", "image/jpeg")], PHOTO).into_response(),
        false => (StatusCode::UNAUTHORIZED, "HTTP Basic authentication required").into_response(),
    }
}
