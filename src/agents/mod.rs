//! Virtual-agent engines: what writes an agent's answer. Each engine is one module behind
//! [`Engine`] plus one line in [`ENGINES`]; engines call their model or bot and return data (an
//! answer, a handoff, or a failure), they never call services. The answer service gives them
//! the conversation, the knowledge base's best passages and a [`Draft`] to stream into.

pub mod knowledge_base;
pub mod openai;
pub mod webhook;

use std::sync::Mutex;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::channels::settings::Field;
use crate::state::EventBus;

/// An engine that answers customers.
pub trait Engine: Sync {
    /// The `engine` value that selects it.
    fn name(&self) -> &'static str;
    /// What it does, for the agents page.
    fn label(&self) -> &'static str;
    /// Its settings (secrets are write-only).
    fn settings(&self) -> &'static [Field];
    /// Whether it calls third parties on the internet (as webhooks do): then private addresses are
    /// refused unless `PARLEY_WEBHOOK_ALLOW_PRIVATE`. Model servers may be on the local network.
    fn calls_third_parties(&self) -> bool {
        false
    }
    /// Writes the answer to `call.question`, streaming it into `call.draft` as it comes.
    fn answer<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<Reply, Failure>>;
}

/// Every engine.
pub static ENGINES: &[&dyn Engine] = &[&knowledge_base::KnowledgeBase, &openai::OpenAi, &webhook::ExternalBot];

/// The engine named `name`.
pub fn engine(name: &str) -> Option<&'static dyn Engine> {
    ENGINES.iter().copied().find(|engine| engine.name() == name)
}

/// Who wrote an earlier message of the conversation, as an engine sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The customer.
    Customer,
    /// This or another virtual agent.
    Agent,
    /// An operator or the business.
    Operator,
}

/// One earlier message, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct Said {
    pub role: Role,
    pub text: String,
}

/// A knowledge-base passage found for the question, best first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Passage {
    pub article_id: i64,
    pub title: String,
    pub text: String,
    /// Share of the question's search terms the passage contains (0 to 1).
    pub score: f64,
}

/// Everything an engine needs for one answer.
pub struct Call<'a> {
    /// For calls to models and bots (the answer service enforces the agent's timeouts).
    pub client: &'a reqwest::Client,
    /// The agent's engine settings, secrets included.
    pub settings: &'a Map<String, Value>,
    /// The agent's instructions (system prompt).
    pub instructions: &'a str,
    /// The language to answer in (the customer's, among the agent's).
    pub language: &'a str,
    /// The conversation so far, oldest first, trimmed to the engine's budget by the engine.
    pub history: &'a [Said],
    /// The customer's messages this answer is for, joined.
    pub question: &'a str,
    /// The knowledge base's best passages for the question.
    pub passages: &'a [Passage],
    /// The event an external bot receives (conversation, agent, messages).
    pub event: &'a Value,
    /// Where the answer streams to.
    pub draft: &'a Draft,
}

/// How an engine's turn ended well.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The answer to send, with the tokens it cost when the engine reports them.
    Answer { text: String, usage: Option<Usage> },
    /// The engine says a person should take over, with why.
    Handoff { detail: String },
    /// An external bot took the question and will answer through the API.
    Deferred,
}

/// Tokens an answer cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Why an engine could not answer (the conversation goes to people with reason `payload_failure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An answer being written: each chunk an engine pushes is published at once as a transient
/// `message.delta` event carrying the draft id, the chunk and the text so far.
pub struct Draft {
    bus: EventBus,
    account_id: i64,
    envelope: Value,
    text: Mutex<String>,
    started: Notify,
}

impl Draft {
    /// A draft for `draft_id` in a conversation, published on `bus`.
    pub fn new(bus: EventBus, account_id: i64, conversation_id: i64, agent_id: i64, draft_id: &str) -> Draft {
        let envelope =
            json!({ "draft_id": draft_id, "conversation_id": conversation_id, "virtual_agent_id": agent_id });
        Draft { bus, account_id, envelope, text: Mutex::new(String::new()), started: Notify::new() }
    }

    /// Adds a chunk of the answer and publishes it; empty chunks are ignored.
    pub fn push(&self, chunk: &str) {
        if chunk.is_empty() {
            return;
        }
        let so_far = {
            let mut text = self.text.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            text.push_str(chunk);
            text.clone()
        };
        let mut data = self.envelope.clone();
        data["delta"] = json!(chunk);
        data["text"] = json!(so_far);
        self.bus.publish(self.account_id, "message.delta", data);
        self.started.notify_one();
    }

    /// The text pushed so far.
    pub fn text(&self) -> String {
        self.text.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Resolves once the first chunk was pushed.
    pub async fn started(&self) {
        if !self.text().is_empty() {
            return;
        }
        self.started.notified().await;
    }
}

/// The settings value `name` as text, when set.
fn text_setting<'a>(settings: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    settings.get(name).and_then(Value::as_str).map(str::trim).filter(|text| !text.is_empty())
}
