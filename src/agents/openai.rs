//! The `openai` engine: any OpenAI-compatible Chat Completions endpoint (OpenAI, Ollama, vLLM,
//! llama.cpp's server), streamed. The agent's instructions, the knowledge base's best passages
//! and the conversation (trimmed to a budget, newest kept) make the prompt. The model asks for a
//! person by answering with the marker [`HANDOFF_MARKER`] (optionally followed by why); the
//! marker is never shown to the customer.

use eventsource_stream::Eventsource;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use serde_json::{json, Value};

use super::{text_setting, Call, Engine, Failure, Reply, Role, Usage};
use crate::channels::settings::{Field, Format};

/// Answers with an OpenAI-compatible model.
pub struct OpenAi;

/// What the model answers to hand the conversation to a person.
pub const HANDOFF_MARKER: &str = "[HANDOFF]";

/// Characters of conversation history sent at most, unless the agent sets `history_budget`.
const DEFAULT_HISTORY_BUDGET: usize = 12_000;

const SETTINGS: &[Field] = &[
    Field {
        name: "base_url",
        label: "API base URL",
        help: "The Chat Completions base, e.g. https://api.openai.com/v1 or Ollama's http://127.0.0.1:11434/v1",
        secret: false,
        required: true,
        format: Format::Url,
    },
    Field {
        name: "api_key",
        label: "API key",
        help: "Sent as a Bearer token; leave empty for servers without keys (Ollama, llama.cpp)",
        secret: true,
        required: false,
        format: Format::Text,
    },
    Field {
        name: "model",
        label: "Model",
        help: "e.g. gpt-4o-mini, llama3.1:8b",
        secret: false,
        required: true,
        format: Format::Text,
    },
    Field {
        name: "temperature",
        label: "Temperature",
        help: "0 to 2; lower is more predictable (default: the server's)",
        secret: false,
        required: false,
        format: Format::Fraction { max: 2 },
    },
    Field {
        name: "max_tokens",
        label: "Max tokens",
        help: "The longest answer, in tokens (default 512)",
        secret: false,
        required: false,
        format: Format::Count { min: 1, max: 32_768 },
    },
    Field {
        name: "history_budget",
        label: "History budget (characters)",
        help: "How much of the conversation goes with each question, newest first (default 12000)",
        secret: false,
        required: false,
        format: Format::Count { min: 0, max: 200_000 },
    },
];

impl Engine for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn label(&self) -> &'static str {
        "OpenAI-compatible model (OpenAI, Ollama, vLLM, llama.cpp), streamed"
    }

    fn settings(&self) -> &'static [Field] {
        SETTINGS
    }

    fn answer<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<Reply, Failure>> {
        complete(call).boxed()
    }
}

/// The system prompt: the agent's instructions, the handoff rule, the language and the passages.
fn system_prompt(call: &Call<'_>) -> String {
    let mut prompt = call.instructions.trim().to_owned();
    prompt.push_str(&format!(
        "\n\nAnswer in the customer's language ({}). If you cannot answer from what you know, or the customer \
         wants a person, answer only {HANDOFF_MARKER} followed by a short reason.",
        call.language
    ));
    if let Some(chat) = call.event.pointer("/data/chat").filter(|chat| !chat.is_null()) {
        prompt.push_str(&format!("\n\nData the business gave about this chat (unverified): {chat}"));
    }
    let useful: Vec<_> = call.passages.iter().filter(|p| p.score > 0.0).take(3).collect();
    if !useful.is_empty() {
        prompt.push_str("\n\nFacts from the knowledge base:");
        for passage in useful {
            prompt.push_str(&format!("\n\n## {}\n{}", passage.title, passage.text));
        }
    }
    prompt
}

/// The Chat Completions messages: system prompt, history within the budget, then the question.
fn messages(call: &Call<'_>) -> Vec<Value> {
    let budget = call
        .settings
        .get("history_budget")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_HISTORY_BUDGET, |n| usize::try_from(n).unwrap_or(usize::MAX));
    let mut kept = Vec::new();
    let mut used = 0;
    for said in call.history.iter().rev() {
        used += said.text.len();
        if used > budget {
            break;
        }
        let role = if said.role == Role::Customer { "user" } else { "assistant" };
        kept.push(json!({ "role": role, "content": said.text }));
    }
    kept.reverse();
    let mut all = vec![json!({ "role": "system", "content": system_prompt(call) })];
    all.extend(kept);
    all.push(json!({ "role": "user", "content": call.question }));
    all
}

/// Streams one completion into the draft, holding back text that could still become the marker.
async fn complete(call: &Call<'_>) -> Result<Reply, Failure> {
    let base = text_setting(call.settings, "base_url").ok_or_else(|| Failure("no base_url set".to_owned()))?;
    let model = text_setting(call.settings, "model").ok_or_else(|| Failure("no model set".to_owned()))?;
    let mut body = json!({
        "model": model,
        "messages": messages(call),
        "stream": true,
        "stream_options": { "include_usage": true },
        "max_tokens": call.settings.get("max_tokens").and_then(Value::as_u64).unwrap_or(512),
    });
    if let Some(temperature) = call.settings.get("temperature").and_then(Value::as_f64) {
        body["temperature"] = json!(temperature);
    }
    let mut request = call.client.post(format!("{}/chat/completions", base.trim_end_matches('/'))).json(&body);
    if let Some(key) = text_setting(call.settings, "api_key") {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| Failure(format!("the model could not be reached: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(200).collect());
        return Err(Failure(format!("the model answered {}: {message}", status.as_u16())));
    }
    let mut events = response.bytes_stream().eventsource();
    let mut text = String::new();
    let mut shown = 0;
    let mut finished = false;
    let mut usage = None;
    while let Some(event) = events.next().await {
        let event = event.map_err(|e| Failure(format!("the model's stream broke off: {e}")))?;
        if event.data.trim() == "[DONE]" {
            finished = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&event.data)
            .map_err(|e| Failure(format!("the model sent a malformed stream chunk: {e}")))?;
        if let Some(counts) = chunk.get("usage").filter(|u| u.is_object()) {
            usage = Some(Usage {
                prompt_tokens: counts.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
                completion_tokens: counts.get("completion_tokens").and_then(Value::as_u64).unwrap_or(0),
            });
        }
        let Some(choice) = chunk.pointer("/choices/0") else { continue };
        if let Some(piece) = choice.pointer("/delta/content").and_then(Value::as_str) {
            text.push_str(piece);
        }
        if choice.get("finish_reason").is_some_and(|reason| !reason.is_null()) {
            finished = true;
        }
        shown = show(call, &text, shown);
    }
    if !finished {
        return Err(Failure("the model's stream ended before the answer was complete".to_owned()));
    }
    if let Some(at) = text.find(HANDOFF_MARKER) {
        let reason = text[at + HANDOFF_MARKER.len()..].trim();
        let detail = if reason.is_empty() { "the model asked for a person".to_owned() } else { reason.to_owned() };
        return Ok(Reply::Handoff { detail });
    }
    let answer = text.trim().to_owned();
    if answer.is_empty() {
        return Err(Failure("the model's answer was empty".to_owned()));
    }
    Ok(Reply::Answer { text: answer, usage })
}

/// Pushes the text after `shown` to the draft unless it may still turn into the marker; returns
/// how much has been shown.
fn show(call: &Call<'_>, text: &str, shown: usize) -> usize {
    let start = text.trim_start();
    let may_be_marker = HANDOFF_MARKER.starts_with(start) || start.starts_with(HANDOFF_MARKER);
    if may_be_marker || text.contains(HANDOFF_MARKER) {
        return shown;
    }
    call.draft.push(&text[shown..]);
    text.len()
}
