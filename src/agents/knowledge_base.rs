//! The `knowledge_base` engine: answers with the best passage of the agent's articles when it
//! covers enough of the question, and hands over otherwise. No model needed.

use futures::future::BoxFuture;
use futures::FutureExt;

use super::{Call, Engine, Failure, Reply};
use crate::channels::settings::{Field, Format};

/// Answers from the knowledge base.
pub struct KnowledgeBase;

/// The share of the question's search terms (in percent) a passage must contain to be the answer.
pub const DEFAULT_THRESHOLD: u64 = 50;

const SETTINGS: &[Field] = &[Field {
    name: "threshold",
    label: "Match threshold (%)",
    help: "How much of the question's key words the best passage must contain to be sent as the answer (default 50); below it the conversation goes to a person.",
    secret: false,
    required: false,
    format: Format::Count { min: 1, max: 100 },
}];

impl Engine for KnowledgeBase {
    fn name(&self) -> &'static str {
        "knowledge_base"
    }

    fn label(&self) -> &'static str {
        "Knowledge base: answers with the best passage of the agent's articles"
    }

    fn settings(&self) -> &'static [Field] {
        SETTINGS
    }

    fn answer<'a>(&'a self, call: &'a Call<'a>) -> BoxFuture<'a, Result<Reply, Failure>> {
        async move {
            let threshold = call.settings.get("threshold").and_then(|v| v.as_u64()).unwrap_or(DEFAULT_THRESHOLD);
            match call.passages.first() {
                Some(best) if best.score * 100.0 >= threshold as f64 => {
                    call.draft.push(&best.text);
                    Ok(Reply::Answer { text: best.text.clone(), usage: None })
                }
                Some(best) => Ok(Reply::Handoff {
                    detail: format!(
                        "the best article (\"{}\") matches {:.0}% of the question, below the {threshold}% threshold",
                        best.title,
                        best.score * 100.0
                    ),
                }),
                None => Ok(Reply::Handoff { detail: "no article matches the question".to_owned() }),
            }
        }
        .boxed()
    }
}
