//! A local stand-in for Google's RBM API and OAuth token endpoint, shared by the RCS tests: the
//! token endpoint checks the service account's RS256-signed JWT (issuer, scope, audience,
//! signature against the key's public half) before it hands out a bearer token; `capabilities`,
//! `agentMessages` and `agentEvents` answer as RBM does (Google's error shape, 404 for numbers
//! RCS cannot reach) and take only that token; user files are served as Google's storage does.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha512;
use std::collections::HashMap;

pub const AGENT: &str = "parley-demo-agent@rbm.goog";
pub const CLIENT_TOKEN: &str = "SJENCPGJESMGUFPY";
/// The bytes of every user file the stand-in serves.
pub const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a photo from an RCS phone";

/// A call the stand-in answered.
#[derive(Debug, Clone)]
pub struct Call {
    /// `agentMessages`, `agentEvents` or `capabilities`.
    pub kind: String,
    pub phone: String,
    pub query: HashMap<String, String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    calls: Vec<Call>,
    tokens_minted: usize,
    accepted_ids: HashSet<String>,
    not_capable: HashSet<String>,
    failures: VecDeque<u16>,
    lose_answers: usize,
    accepted: Vec<String>,
}

/// The stand-in's handle.
#[derive(Clone, Default)]
pub struct RbmApi {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
    /// Names this stand-in in its key's token URI: a later stand-in on the same port has another
    /// key, so Parley's per-key token cache never hands it this one's tokens.
    instance: String,
}

impl RbmApi {
    pub async fn start() -> RbmApi {
        let mut api = RbmApi { instance: uuid::Uuid::new_v4().to_string(), ..RbmApi::default() };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        api.base = format!("http://{}", listener.local_addr().unwrap());
        let router = Router::new()
            .route("/token", post(token))
            .route("/v1/phones/{phone}/capabilities", get(capabilities))
            .route("/v1/phones/{phone}/agentMessages", post(agent_message))
            .route("/v1/phones/{phone}/agentEvents", post(agent_event))
            .route("/files/{name}", get(file))
            .with_state(api.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        api
    }

    /// The service-account key, its token endpoint this stand-in.
    pub fn service_account_key(&self) -> String {
        let key = include_str!("../fixtures/rbm/service-account.json");
        let mut key: Value = serde_json::from_str(key).unwrap();
        key["token_uri"] = json!(format!("{}/token?stand-in={}", self.base, self.instance));
        key.to_string()
    }

    /// The calls of a kind, in order.
    pub fn calls(&self, kind: &str) -> Vec<Call> {
        self.inner.lock().unwrap().calls.iter().filter(|call| call.kind == kind).cloned().collect()
    }

    pub fn tokens_minted(&self) -> usize {
        self.inner.lock().unwrap().tokens_minted
    }

    /// RCS cannot reach this number: capability checks and sends answer 404.
    pub fn not_capable(&self, phone: &str) {
        self.inner.lock().unwrap().not_capable.insert(phone.to_owned());
    }

    /// The next agent message is refused with this HTTP status.
    pub fn fail_next(&self, status: u16) {
        self.inner.lock().unwrap().failures.push_back(status);
    }

    /// The next agent message is accepted, but answered 503 as if the connection broke.
    pub fn lose_next_answer(&self) {
        self.inner.lock().unwrap().lose_answers += 1;
    }

    /// How many times a message id was accepted.
    pub fn accepted(&self, id: &str) -> usize {
        self.inner.lock().unwrap().accepted.iter().filter(|accepted| *accepted == id).count()
    }

    /// Where a user file is.
    pub fn file_url(&self, name: &str) -> String {
        format!("{}/files/{name}", self.base)
    }
}

/// A Pub/Sub push body carrying `data`, and its `X-Goog-Signature` with `token`.
pub fn push(data: &Value, attributes: Option<Value>, token: &str) -> (Value, String) {
    let bytes = data.to_string().into_bytes();
    let mut mac = Hmac::<Sha512>::new_from_slice(token.as_bytes()).unwrap();
    mac.update(&bytes);
    let signature = STANDARD.encode(mac.finalize().into_bytes());
    let mut message =
        json!({"data": STANDARD.encode(&bytes), "messageId": "1234567890", "publishTime": "2026-11-26T10:00:00.000Z"});
    if let Some(attributes) = attributes {
        message["attributes"] = attributes;
    }
    (json!({"message": message, "subscription": "projects/rbm-parley/subscriptions/rbm-agent-sub"}), signature)
}

fn google_error(status: StatusCode, message: &str) -> Response {
    let name = match status {
        StatusCode::NOT_FOUND => "NOT_FOUND",
        StatusCode::UNAUTHORIZED => "UNAUTHENTICATED",
        StatusCode::CONFLICT => "ALREADY_EXISTS",
        StatusCode::TOO_MANY_REQUESTS => "RESOURCE_EXHAUSTED",
        _ => "INTERNAL",
    };
    (status, Json(json!({"error": {"code": status.as_u16(), "message": message, "status": name}}))).into_response()
}

/// The OAuth token endpoint: a JWT bearer grant signed with the service account's key.
async fn token(State(api): State<RbmApi>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap();
    assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:jwt-bearer");
    let parts: Vec<&str> = form["assertion"].split('.').collect();
    let decode = |part: &str| URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).unwrap();
    let claims: Value = serde_json::from_slice(&decode(parts[1])).unwrap();
    let public = include_bytes!("../fixtures/rbm/service-account-public.der");
    let key = ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public);
    let signed = format!("{}.{}", parts[0], parts[1]);
    if key.verify(signed.as_bytes(), &decode(parts[2])).is_err() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."})),
        )
            .into_response();
    }
    assert_eq!(claims["iss"], "rbm-agent@parley-tests.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/rcsbusinessmessaging");
    assert_eq!(claims["aud"], format!("{}/token?stand-in={}", api.base, api.instance));
    let mut inner = api.inner.lock().unwrap();
    inner.tokens_minted += 1;
    let answer = json!({"access_token": format!("ya29.stand-in-{}", inner.tokens_minted), "expires_in": 3599, "token_type": "Bearer"});
    Json(answer).into_response()
}

/// Whether the request carries a token the endpoint minted.
fn authorized(api: &RbmApi, headers: &HeaderMap) -> bool {
    let minted = api.inner.lock().unwrap().tokens_minted;
    let given = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or_default();
    (1..=minted).any(|n| given == format!("Bearer ya29.stand-in-{n}"))
}

/// Records a call; answers an error response when it is not to be served.
fn record(
    api: &RbmApi,
    kind: &str,
    phone: &str,
    query: HashMap<String, String>,
    headers: &HeaderMap,
    body: Value,
) -> Option<Response> {
    if !authorized(api, headers) {
        return Some(google_error(StatusCode::UNAUTHORIZED, "Request had invalid authentication credentials."));
    }
    assert_eq!(query.get("agentId").map(String::as_str), Some(AGENT), "{kind} names the agent");
    let mut inner = api.inner.lock().unwrap();
    inner.calls.push(Call { kind: kind.to_owned(), phone: phone.to_owned(), query, body });
    inner.not_capable.contains(phone).then(|| google_error(StatusCode::NOT_FOUND, "Requested entity was not found."))
}

async fn capabilities(
    State(api): State<RbmApi>,
    Path(phone): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    assert!(query.get("requestId").is_some_and(|id| uuid::Uuid::parse_str(id).is_ok()));
    if let Some(refused) = record(&api, "capabilities", &phone, query, &headers, Value::Null) {
        return refused;
    }
    Json(json!({"features": ["RICHCARD_STANDALONE", "RICHCARD_CAROUSEL", "ACTION_CREATE_CALENDAR_EVENT",
        "ACTION_DIAL", "ACTION_OPEN_URL", "ACTION_SHARE_LOCATION", "ACTION_VIEW_LOCATION", "REVOCATION"]}))
    .into_response()
}

async fn agent_message(
    State(api): State<RbmApi>,
    Path(phone): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let id = query.get("messageId").cloned().unwrap_or_default();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "messageId is a UUID: {id}");
    if let Some(refused) = record(&api, "agentMessages", &phone, query, &headers, body.clone()) {
        return refused;
    }
    let mut inner = api.inner.lock().unwrap();
    if let Some(status) = inner.failures.pop_front() {
        return google_error(StatusCode::from_u16(status).unwrap(), "The service is currently unavailable.");
    }
    if !inner.accepted_ids.insert(id.clone()) {
        return google_error(StatusCode::CONFLICT, "Message with the same ID already exists.");
    }
    inner.accepted.push(id.clone());
    if inner.lose_answers > 0 {
        inner.lose_answers -= 1;
        return google_error(StatusCode::SERVICE_UNAVAILABLE, "The connection was reset.");
    }
    let mut answer = body;
    answer["name"] = json!(format!("phones/{phone}/agentMessages/{id}"));
    answer["sendTime"] = json!("2026-11-26T10:00:01.000Z");
    Json(answer).into_response()
}

async fn agent_event(
    State(api): State<RbmApi>,
    Path(phone): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = record(&api, "agentEvents", &phone, query, &headers, body.clone()) {
        return refused;
    }
    Json(body).into_response()
}

async fn file() -> Response {
    ([("content-type", "image/jpeg")], PHOTO).into_response()
}
