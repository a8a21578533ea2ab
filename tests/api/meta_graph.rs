//! One local stand-in for Meta's Graph API, shared by the WhatsApp, Messenger and Instagram
//! tests: it records every request and answers in Meta's formats — WhatsApp and Messenger
//! Platform sends, sender actions, public comment replies, profile and comment lookups, CDN
//! files, message templates — or with the errors a test queues.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::IntoResponse;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct GraphState {
    received: Vec<Received>,
    /// Answers to give the next sends instead of accepting them: status and body.
    failures: VecDeque<(u16, Value)>,
    sent: u64,
}

/// A local server speaking the Graph API's formats.
#[derive(Clone, Default)]
pub struct Graph {
    state: Arc<Mutex<GraphState>>,
    /// The versioned API base (`http://127.0.0.1:port/v21.0`), for channel settings.
    pub base: String,
    /// The server's root, where its CDN files and pictures are.
    pub root: String,
}

impl Graph {
    pub async fn start() -> Graph {
        let mut graph = Graph::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        graph.root = format!("http://{}", listener.local_addr().unwrap());
        graph.base = format!("{}/v21.0", graph.root);
        let router = axum::Router::new().fallback(answer).with_state(graph.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        graph
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    pub fn last(&self) -> Received {
        self.received().pop().expect("a request reached the stand-in")
    }

    /// The last POST (a send, a sender action or a comment reply).
    pub fn last_send(&self) -> Received {
        self.received().into_iter().rev().find(|r| r.method == Method::POST).expect("a POST reached the stand-in")
    }

    /// The last message sent (a POST that is not a sender action such as `mark_seen`).
    pub fn last_message(&self) -> Received {
        let received = self.received();
        received
            .into_iter()
            .rev()
            .find(|r| r.method == Method::POST && r.body.get("sender_action").is_none())
            .expect("a message reached the stand-in")
    }

    /// The next send is answered with Meta's error `code` and this HTTP status.
    pub fn fail_next(&self, status: u16, code: i64) {
        self.fail_next_with(status, code, None);
    }

    /// The next send is answered with Meta's error `code` and `subcode`.
    pub fn fail_next_with(&self, status: u16, code: i64, subcode: Option<i64>) {
        let body = json!({"error": {"message": format!("(#{code}) refused"), "type": "OAuthException", "code": code,
            "error_subcode": subcode,
            "error_data": {"messaging_product": "whatsapp", "details": "details of the refusal"},
            "fbtrace_id": "AbCdEf"}});
        self.state.lock().unwrap().failures.push_back((status, body));
    }

    /// A URL of a file on the stand-in's CDN.
    pub fn cdn(&self, name: &str) -> String {
        format!("{}/cdn/{name}", self.root)
    }
}

/// The bytes the CDN serves for a file name.
pub fn cdn_bytes(name: &str) -> Vec<u8> {
    if name.ends_with(".png") {
        crate::media::png_bytes(64)
    } else {
        format!("file {name}").into_bytes()
    }
}

async fn answer(
    State(graph): State<Graph>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").map(|v| v.to_str().unwrap().to_owned());
    let path = uri.path().to_owned();
    let mut state = graph.state.lock().unwrap();
    state.received.push(Received {
        method: method.clone(),
        path: path.clone(),
        authorization,
        body: body.clone(),
        at: Instant::now(),
    });
    if let Some(name) = path.strip_prefix("/cdn/").or_else(|| path.strip_prefix("/pictures/")) {
        let kind = if name.ends_with(".png") { "image/png" } else { "application/octet-stream" };
        return ([("content-type", kind)], cdn_bytes(name)).into_response();
    }
    if path.ends_with("/message_templates") {
        if method == Method::GET {
            return axum::Json(
                json!({"data": templates_on_meta(), "paging": {"cursors": {"before": "a", "after": "b"}}}),
            )
            .into_response();
        }
        return axum::Json(json!({"id": "594425479261596", "status": "PENDING", "category": body["category"]}))
            .into_response();
    }
    if method == Method::GET && uri.query().is_some_and(|q| q.contains("fields=id,text")) {
        // A comment lookup: the comment, its author and its post.
        let id = path.rsplit('/').next().unwrap_or_default();
        return axum::Json(json!({"id": id, "text": "Love these @shop", "timestamp": "2026-11-26T08:00:00+0000",
            "from": {"id": format!("fan-{id}"), "username": "fan"},
            "media": {"id": "post-9", "permalink": "https://www.instagram.com/p/post-9/", "caption": "Our new boots",
                "media_url": format!("{}/cdn/post-9.png", graph.root), "media_product_type": "FEED"}}))
        .into_response();
    }
    if method == Method::GET && uri.query().is_some_and(|q| q.contains("fields=")) {
        // A profile lookup: `GET /{user-id}?fields=…`.
        let id = path.rsplit('/').next().unwrap_or_default();
        return axum::Json(json!({"id": id, "first_name": "Ann", "last_name": "Lee", "name": "Ann Lee",
            "username": "ann.lee", "profile_pic": format!("{}/pictures/{id}.png", graph.root)}))
        .into_response();
    }
    let is_send = path.ends_with("/messages") || path.ends_with("/replies") || path.ends_with("/comments");
    if method != Method::POST || !is_send {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"message": "unknown path", "code": 100}})))
            .into_response();
    }
    if let Some((status, error)) = state.failures.pop_front() {
        return (StatusCode::from_u16(status).unwrap(), axum::Json(error)).into_response();
    }
    if body["status"] == "read" {
        return axum::Json(json!({"success": true})).into_response();
    }
    if body.get("sender_action").is_some() {
        return axum::Json(json!({"recipient_id": body["recipient"]["id"]})).into_response();
    }
    state.sent += 1;
    let sent = state.sent;
    if !path.ends_with("/messages") {
        return axum::Json(json!({ "id": format!("reply-{sent}") })).into_response();
    }
    if body.get("messaging_product").is_none() {
        return axum::Json(json!({"recipient_id": body["recipient"]["id"], "message_id": format!("m_{sent}")}))
            .into_response();
    }
    let input = body["to"].clone();
    axum::Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": input, "wa_id": input}],
        "messages": [{"id": format!("wamid.{sent}")}]}))
    .into_response()
}

/// The templates the stand-in's business account has.
fn templates_on_meta() -> Value {
    json!([
        {"name": "order_update", "language": "en_US", "status": "APPROVED", "category": "UTILITY", "id": "111",
         "components": [{"type": "HEADER", "format": "TEXT", "text": "Order {{1}}"},
                        {"type": "BODY", "text": "Hi {{1}}, your order ships on {{2}}."},
                        {"type": "FOOTER", "text": "TechStore"}]},
        {"name": "winter_sale", "language": "it", "status": "PENDING", "category": "MARKETING", "id": "222",
         "components": [{"type": "BODY", "text": "Saldi!"}]}
    ])
}
