//! A local stand-in for an OpenAI-compatible Chat Completions API (OpenAI, Ollama, vLLM and the
//! llama.cpp server all speak it): it records every request and answers in the API's format — a
//! streamed answer as server-sent events, or one JSON completion — or with the failures a test
//! queues: an HTTP error, a hang, a malformed or empty stream, a stream cut off half-way.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// A request the stand-in received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
}

/// How the stand-in answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Streams (or, when the request has no `"stream": true`, returns as one JSON completion) this
    /// answer, cut into chunks (each chunk one SSE event), waiting `first_token` before the first
    /// chunk and `pace` between chunks. Streamed, the headers go out at once and the role chunk
    /// with the first piece after `first_token`; as one completion, the whole answer comes after
    /// `first_token` plus `pace` for every chunk after the first.
    Answer { chunks: Vec<String>, first_token: Duration, pace: Duration },
    /// Answers with this HTTP status and an OpenAI error body
    /// `{"error":{"message":"…","type":"server_error","code":null}}`.
    Status(u16),
    /// Sends headers and then nothing for this long (to test timeouts), then closes: the connection
    /// is dropped, the body never completes.
    Hang(Duration),
    /// A 200 text/event-stream whose first event is not JSON (`data: {not json`), then `[DONE]`.
    /// Without `"stream": true`, a 200 `application/json` body `{not json`.
    Malformed,
    /// A well-formed stream with only a role chunk and a finish chunk: no content at all, then
    /// `[DONE]`. Without `"stream": true`, a completion whose content is `""`.
    Empty,
    /// Streams the chunks, then stops mid-stream without `[DONE]` or finish_reason (connection
    /// closed). Without `"stream": true`, half of the completion's JSON, then the connection closes.
    CutOff(Vec<String>),
}

struct ModelState {
    received: Vec<Received>,
    /// How the next requests are answered, first in first out.
    queued: VecDeque<Reply>,
    /// How a request is answered when nothing is queued.
    default: Reply,
    /// Chat completion requests answered so far, for the completions' ids.
    completions: u64,
}

impl Default for ModelState {
    fn default() -> Self {
        ModelState {
            received: Vec::new(),
            queued: VecDeque::new(),
            default: Model::answer("Ciao! Come posso aiutarti?"),
            completions: 0,
        }
    }
}

/// A local server speaking the Chat Completions API.
#[derive(Clone, Default)]
pub struct Model {
    state: Arc<Mutex<ModelState>>,
    /// The API base (`http://127.0.0.1:port/v1`), what a user would put as base_url.
    pub base: String,
}

impl Model {
    pub async fn start() -> Model {
        let mut model = Model::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        model.base = format!("http://{}/v1", listener.local_addr().unwrap());
        let router = axum::Router::new().fallback(serve).with_state(model.clone());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        model
    }

    /// Every request received so far, oldest first (recorded when the request arrives, before
    /// answering).
    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }

    /// Queues how the next request is answered (FIFO); without anything queued it answers
    /// `default_reply`. Only chat completion requests take a reply: other paths get a 404.
    pub fn then(&self, reply: Reply) {
        self.state.lock().unwrap().queued.push_back(reply);
    }

    /// Sets the answer used when nothing is queued (initially: Answer{chunks: ["Ciao! ", "Come ",
    /// "posso ", "aiutarti?"], first_token: 0, pace: 0}).
    pub fn default_reply(&self, reply: Reply) {
        self.state.lock().unwrap().default = reply;
    }

    /// Convenience: an Answer of this text split into word chunks (keeping the spaces), no delays.
    pub fn answer(text: &str) -> Reply {
        let mut chunks: Vec<String> = Vec::new();
        for c in text.chars() {
            match chunks.last_mut() {
                Some(last) if c.is_whitespace() || !last.ends_with(char::is_whitespace) => last.push(c),
                _ => chunks.push(c.to_string()),
            }
        }
        Reply::Answer { chunks, first_token: Duration::ZERO, pace: Duration::ZERO }
    }

    /// Number of requests received.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().received.len()
    }
}

/// One chat completion being answered: what every chunk of it repeats.
struct Completion {
    id: String,
    created: u64,
    /// The request's `model`, as JSON.
    model: String,
    include_usage: bool,
    prompt_tokens: usize,
}

impl Completion {
    fn new(n: u64, request: &Value) -> Completion {
        Completion {
            id: format!("chatcmpl-{n}"),
            created: SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs(),
            model: request["model"].to_string(),
            include_usage: request["stream_options"]["include_usage"] == true,
            prompt_tokens: prompt_tokens(request),
        }
    }

    fn usage(&self, completion_tokens: usize) -> String {
        let (p, c) = (self.prompt_tokens, completion_tokens);
        format!(r#"{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{}}}"#, p + c)
    }

    /// One SSE event of a `chat.completion.chunk` (written by hand to keep OpenAI's key order).
    fn event(&self, choices: &str, usage: Option<String>) -> Bytes {
        let Completion { id, created, model, .. } = self;
        let usage = match usage {
            Some(usage) => format!(r#","usage":{usage}"#),
            None if self.include_usage => r#","usage":null"#.to_owned(),
            None => String::new(),
        };
        let chunk = format!(
            r#"{{"id":"{id}","object":"chat.completion.chunk","created":{created},"model":{model},"choices":{choices}{usage}}}"#
        );
        Bytes::from(format!("data: {chunk}\n\n"))
    }

    fn delta(&self, delta: &str, finish_reason: &str) -> Bytes {
        self.event(&format!(r#"[{{"index":0,"delta":{delta},"finish_reason":{finish_reason}}}]"#), None)
    }

    fn role(&self) -> Bytes {
        self.delta(r#"{"role":"assistant","content":""}"#, "null")
    }

    fn piece(&self, piece: &str) -> Bytes {
        self.delta(&format!(r#"{{"content":{}}}"#, Value::from(piece)), "null")
    }

    fn finish(&self) -> Bytes {
        self.delta("{}", r#""stop""#)
    }

    /// The usage chunk, sent last when the request asked for it.
    fn usage_event(&self, completion_tokens: usize) -> Bytes {
        self.event("[]", Some(self.usage(completion_tokens)))
    }

    /// The whole answer as one `chat.completion`.
    fn whole(&self, chunks: &[String]) -> String {
        let Completion { id, created, model, .. } = self;
        let content = Value::from(chunks.concat());
        let usage = self.usage(chunks.len());
        format!(
            r#"{{"id":"{id}","object":"chat.completion","created":{created},"model":{model},"choices":[{{"index":0,"message":{{"role":"assistant","content":{content}}},"finish_reason":"stop"}}],"usage":{usage}}}"#
        )
    }
}

/// The request's prompt in tokens: its messages' characters over four, at least one.
fn prompt_tokens(request: &Value) -> usize {
    let characters = |content: &Value| match content {
        Value::String(text) => text.chars().count(),
        Value::Array(parts) => parts.iter().filter_map(|part| part["text"].as_str()).map(|t| t.chars().count()).sum(),
        _ => 0,
    };
    let messages = request["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    (messages.iter().map(|message| characters(&message["content"])).sum::<usize>() / 4).max(1)
}

const DONE: &str = "data: [DONE]\n\n";

async fn serve(State(model): State<Model>, method: Method, uri: Uri, headers: HeaderMap, raw: Bytes) -> Response {
    let request: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let path = uri.path().to_owned();
    let (reply, n) = {
        let mut state = model.state.lock().unwrap();
        state.received.push(Received { path: path.clone(), authorization, body: request.clone() });
        if method != Method::POST || !path.ends_with("/chat/completions") {
            let message = format!("Unknown request: {method} {path}");
            return error(StatusCode::NOT_FOUND, &message, "invalid_request_error");
        }
        if !request.is_object() {
            return error(StatusCode::BAD_REQUEST, "The body is not a JSON object", "invalid_request_error");
        }
        state.completions += 1;
        let reply = state.queued.pop_front().unwrap_or_else(|| state.default.clone());
        (reply, state.completions)
    };
    let completion = Completion::new(n, &request);
    let stream = request["stream"] == true;
    match reply {
        Reply::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap();
            error(status, &format!("The model answered {status}"), "server_error")
        }
        Reply::Answer { chunks, first_token, pace } if stream => events(async_stream::stream! {
            pause(first_token).await;
            yield Ok(completion.role());
            for (i, piece) in chunks.iter().enumerate() {
                if i > 0 {
                    pause(pace).await;
                }
                yield Ok(completion.piece(piece));
            }
            yield Ok(completion.finish());
            if completion.include_usage {
                yield Ok(completion.usage_event(chunks.len()));
            }
            yield Ok(Bytes::from(DONE));
        }),
        Reply::Answer { chunks, first_token, pace } => {
            pause(first_token + pace * u32::try_from(chunks.len().saturating_sub(1)).unwrap()).await;
            json(completion.whole(&chunks))
        }
        Reply::Hang(hang) => {
            let kind = if stream { "text/event-stream" } else { "application/json" };
            let nothing = async_stream::stream! {
                pause(hang).await;
                settle().await;
                yield Err(closed());
            };
            streamed(kind, nothing)
        }
        Reply::Malformed if stream => events(async_stream::stream! {
            yield Ok(Bytes::from("data: {not json\n\n"));
            yield Ok(Bytes::from(DONE));
        }),
        Reply::Malformed => json("{not json".to_owned()),
        Reply::Empty if stream => events(async_stream::stream! {
            yield Ok(completion.role());
            yield Ok(completion.finish());
            if completion.include_usage {
                yield Ok(completion.usage_event(0));
            }
            yield Ok(Bytes::from(DONE));
        }),
        Reply::Empty => json(completion.whole(&[])),
        Reply::CutOff(chunks) if stream => events(async_stream::stream! {
            yield Ok(completion.role());
            for piece in &chunks {
                yield Ok(completion.piece(piece));
            }
            settle().await;
            yield Err(closed());
        }),
        Reply::CutOff(chunks) => {
            let whole = completion.whole(&chunks);
            let half = whole.chars().take(whole.chars().count() / 2).collect::<String>();
            let cut = async_stream::stream! {
                yield Ok(Bytes::from(half));
                settle().await;
                yield Err(closed());
            };
            streamed("application/json", cut)
        }
    }
}

async fn pause(duration: Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

/// Lets what was written reach the client before the connection is dropped: without a pause,
/// the server drops the connection with the response still unsent.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The error that makes the server drop the connection mid-body.
fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "the stand-in closed the connection")
}

/// A 200 whose body is written piece by piece, each as it comes.
fn streamed(
    content_type: &str,
    stream: impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
) -> Response {
    ([("content-type", content_type), ("cache-control", "no-cache")], Body::from_stream(stream)).into_response()
}

fn events(stream: impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static) -> Response {
    streamed("text/event-stream", stream)
}

fn json(text: String) -> Response {
    ([("content-type", "application/json")], text).into_response()
}

/// An OpenAI error body (written by hand to keep OpenAI's key order).
fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let message = Value::from(message);
    (status, json(format!(r#"{{"error":{{"message":{message},"type":"{kind}","code":null}}}}"#))).into_response()
}
