//! Virtual agents answering: the durable queue of answers owed (one per conversation, due after
//! the debounce), generation with the agent's engine and timeouts while its draft streams as
//! `message.delta` events, and the outcome — the answer sent through the channel's normal sender,
//! or the conversation handed to people with a reason and a word to the customer.
//!
//! An answer is sent in the transaction that finishes its run and only while the agent still
//! handles the conversation and no newer customer message came in: a generation overtaken by a
//! person or by the customer is discarded, and a crash leaves the run to be claimed again when
//! its lease ends, so each answer goes out once.

use std::time::Duration;

use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agents::{self, Call, Draft, Failure, Passage, Reply, Role, Said};
use crate::domain::agents::answer_language;
use crate::domain::knowledge;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{AgentStatus, Direction, EscalationReason, Handler, SenderType};
use crate::error::{Error, Result};
use crate::service::escalations::{self, Notice};
use crate::service::outbound::{self, Outgoing};
use crate::service::views::Conversation;
use crate::state::AppState;
use crate::store::agents::{self as agent_store, AgentRow, RunRow};
use crate::store::conversations::{self, ConversationRow};
use crate::store::messages::MessageRow;
use crate::store::{articles, messages, Db};

/// The longest an answer may take (the agent's `answer_timeout_ms` is at most this).
pub const MAX_ANSWER_MS: i64 = 120_000;

/// How long a claimed run stays invisible to other workers: the longest answer and a margin.
pub const LEASE_MS: i64 = MAX_ANSWER_MS + 10_000;

/// Claims of one run (crashes or database errors) before the conversation goes to people.
const MAX_ATTEMPTS: i64 = 5;

/// Messages of the conversation an engine sees at most.
const HISTORY_MESSAGES: i64 = 40;

/// Passages of the knowledge base found per question.
const PASSAGES: i64 = 10;

/// How many answers a virtual agent gives in an hour, in one conversation and to one contact
/// across their conversations, before people take over: a backstop against loops with another
/// system's auto-responder that does not say it is one.
const MAX_ANSWERS_PER_HOUR: i64 = 10;

/// Writes answers until `shutdown`: claims due runs as room frees up (at most
/// `agent_concurrency` at once, `agent_concurrency_per_account` per account), wakes when a run
/// comes due, when ingestion scheduled one, or after `job_poll_ms` (runs scheduled by other
/// processes), and on shutdown gives back the runs it was writing.
pub async fn run(state: AppState, shutdown: CancellationToken) {
    let idle = Duration::from_millis(state.config.job_poll_ms.max(10));
    let limit = state.config.agent_concurrency.max(1) as usize;
    let mut inflight: JoinSet<()> = JoinSet::new();
    let mut running: Vec<(tokio::task::Id, i64)> = Vec::new();
    while !shutdown.is_cancelled() {
        while let Some(done) = inflight.try_join_next_with_id() {
            let id = done.map_or_else(|e| e.id(), |(id, ())| id);
            running.retain(|(task, _)| *task != id);
        }
        // Only a run that is due costs a write transaction: the check is a read.
        let now = now_ms();
        let next = agent_store::next_due(state.db.reader(), now).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not look for virtual agents' answers");
            None
        });
        let free = limit.saturating_sub(inflight.len());
        let claimed = match next {
            Some(due) if due <= now && free > 0 => claim(&state, free).await.unwrap_or_else(|e| {
                tracing::error!(error = %e, "could not claim virtual agents' answers");
                Vec::new()
            }),
            _ => Vec::new(),
        };
        let took = !claimed.is_empty();
        for run in claimed {
            let run_id = run.id;
            let task = inflight.spawn(answer_or_release(state.clone(), run));
            running.push((task.id(), run_id));
        }
        let wait = match next {
            Some(due) if due > now => Duration::from_millis((due - now) as u64).min(idle),
            _ if took => Duration::ZERO,
            _ => idle,
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
            _ = state.answers_due.notified() => {}
            Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
        }
    }
    inflight.abort_all();
    for (_, run_id) in running {
        if let Err(e) = agent_store::release_run(state.db.writer(), run_id, now_ms()).await {
            tracing::warn!(error = %e, "could not give back an agent run at shutdown");
        }
    }
}

/// Claims up to `free` due runs, fairly across accounts.
async fn claim(state: &AppState, free: usize) -> Result<Vec<RunRow>> {
    if free == 0 {
        return Ok(Vec::new());
    }
    let per_account = i64::from(state.config.agent_concurrency_per_account.max(1));
    Ok(agent_store::claim_runs(&state.db, now_ms(), LEASE_MS, per_account, free).await?)
}

/// Writes one answer; on an error (the database) the run backs off and is tried again.
pub async fn answer_or_release(state: AppState, run: RunRow) {
    if let Err(e) = answer(&state, &run).await {
        tracing::warn!(conversation = run.conversation_id, error = %e, "a virtual agent's answer failed; retrying");
        let backoff = 1000 * 2_i64.pow(run.attempts.clamp(0, 6) as u32);
        if let Err(e) = agent_store::release_run(state.db.writer(), run.id, now_ms() + backoff).await {
            tracing::error!(error = %e, "could not release an agent run");
        }
    }
}

/// Writes and sends the answers due now, all at once, and returns how many runs it took (tests
/// drive this; the server runs [`run`]).
pub async fn run_once(state: &AppState) -> Result<usize> {
    let runs = claim(state, state.config.agent_concurrency.max(1) as usize).await?;
    let count = runs.len();
    futures::future::join_all(runs.into_iter().map(|run| answer_or_release(state.clone(), run))).await;
    Ok(count)
}

/// What the engine is asked: the customer's messages since the last answer, the conversation
/// before them, and the language to answer in.
struct Question {
    text: String,
    history: Vec<Said>,
    language: String,
}

/// The question of the conversation's latest messages (oldest first).
fn question_of(recent: &[MessageRow], languages: &[String]) -> Question {
    let spoken: Vec<&MessageRow> =
        recent.iter().filter(|m| m.private == 0 && m.deleted_at.is_none() && m.text.is_some()).collect();
    let split = spoken.iter().rposition(|m| m.direction == Direction::Outbound.as_str()).map_or(0, |i| i + 1);
    let text = spoken[split..].iter().filter_map(|m| m.text.as_deref()).collect::<Vec<_>>().join("\n");
    let history = spoken[..split]
        .iter()
        .map(|m| Said {
            role: match m.sender_type.as_str() {
                "contact" => Role::Customer,
                "virtual_agent" => Role::Agent,
                _ => Role::Operator,
            },
            text: m.text.clone().unwrap_or_default(),
        })
        .collect();
    let language = answer_language(&text, languages).to_owned();
    Question { text, history, language }
}

/// The knowledge base's passages for a question, best first: those covering most of its search
/// terms, ties broken by the database's full-text rank (BM25 on SQLite).
pub async fn retrieve(db: &Db, agent_id: i64, question: &str) -> Result<Vec<Passage>> {
    let terms = knowledge::search_terms(question);
    let (Some(fts5), Some(tsquery)) = (knowledge::fts5_query(&terms), knowledge::tsquery(&terms)) else {
        return Ok(Vec::new());
    };
    let hits = articles::search_passages(db, agent_id, &fts5, &tsquery, PASSAGES).await?;
    let mut passages: Vec<Passage> = hits
        .into_iter()
        .map(|hit| Passage {
            score: knowledge::coverage(&terms, &hit.folded),
            article_id: hit.article_id,
            title: hit.title,
            text: hit.text,
        })
        .collect();
    passages.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(passages)
}

/// The HTTP client an engine calls with: the webhook client (public addresses only, unless
/// allowed) for third parties, the model client otherwise.
pub fn client_for<'a>(state: &'a AppState, engine: &dyn agents::Engine) -> &'a reqwest::Client {
    if engine.calls_third_parties() {
        &state.webhook_client
    } else {
        &state.model_client
    }
}

/// The agent's settings as stored (secrets included).
pub fn settings_of(agent: &AgentRow) -> Map<String, Value> {
    crate::channels::settings::parse(&agent.settings)
}

/// Runs the engine within the agent's timeouts: the first chunk must come within
/// `first_token_ms`, the whole answer within `answer_ms`.
pub async fn generate(
    engine: &dyn agents::Engine,
    call: &Call<'_>,
    first_token_ms: i64,
    answer_ms: i64,
) -> std::result::Result<Reply, Failure> {
    let generation = engine.answer(call);
    tokio::pin!(generation);
    let whole = tokio::time::sleep(Duration::from_millis(answer_ms.max(1) as u64));
    let first = tokio::time::sleep(Duration::from_millis(first_token_ms.max(1) as u64));
    tokio::pin!(whole, first);
    let mut started = false;
    loop {
        tokio::select! {
            reply = &mut generation => return reply,
            _ = &mut whole => return Err(Failure(format!("no complete answer within {answer_ms} ms"))),
            _ = &mut first, if !started => {
                if call.draft.text().is_empty() {
                    return Err(Failure(format!("no answer began within {first_token_ms} ms")));
                }
                started = true;
            }
            _ = call.draft.started(), if !started => started = true,
        }
    }
}

/// How a run ends.
enum Outcome {
    /// Send this answer.
    Send { text: String, extra: Map<String, Value> },
    /// Hand the conversation to people.
    Escalate { reason: EscalationReason, detail: String },
    /// An external bot answers through the API until this time.
    AwaitBot { until: i64 },
}

/// Writes one owed answer and applies its outcome.
async fn answer(state: &AppState, run: &RunRow) -> Result<()> {
    let reader = state.db.reader();
    let conversation = conversations::find_conversation(reader, run.account_id, run.conversation_id).await?;
    let agent = agent_store::find_agent(reader, run.account_id, run.agent_id).await?;
    let claimed = run.claimed_message_id.unwrap_or(run.trigger_message_id);
    let Some(conversation) = conversation else { return drop_run(state, run, claimed).await };
    let handled = conversation.handler == Handler::VirtualAgent.as_str()
        && conversation.virtual_agent_id == Some(run.agent_id)
        && conversation.status != "closed";
    if !handled {
        return drop_run(state, run, claimed).await;
    }
    let Some(agent) = agent.filter(|agent| agent.status == AgentStatus::Active.as_str()) else {
        // Its agent was paused or deleted: the customer must not wait for it.
        let detail = "the virtual agent was paused or deleted";
        return escalate(state, &conversation, run.agent_id, None, EscalationReason::CouldNotResume, detail).await;
    };
    let outcome = decide(state, run, &conversation, &agent).await?;
    match outcome {
        Outcome::Send { text, extra } => send(state, run, claimed, &conversation, &agent, text, extra).await,
        Outcome::Escalate { reason, detail } => {
            escalate(state, &conversation, agent.id, Some(&agent), reason, &detail).await
        }
        Outcome::AwaitBot { until } => Ok(agent_store::await_bot(state.db.writer(), run.id, claimed, until).await?),
    }
}

/// Removes a run that is no longer owed (the conversation or agent is gone, or people have it).
async fn drop_run(state: &AppState, run: &RunRow, claimed: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !agent_store::finish_run(&mut tx, run.id, claimed).await? {
        agent_store::release_run(&mut *tx, run.id, now_ms()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Decides what the agent does with the customer's latest messages.
async fn decide(state: &AppState, run: &RunRow, conversation: &ConversationRow, agent: &AgentRow) -> Result<Outcome> {
    let hand_over = |reason, detail: String| Ok(Outcome::Escalate { reason, detail });
    if run.attempts > MAX_ATTEMPTS {
        let detail = format!("the answer could not be written after {MAX_ATTEMPTS} attempts");
        return hand_over(EscalationReason::CouldNotResume, detail);
    }
    if run.awaiting_bot_until.is_some_and(|until| until <= now_ms()) {
        let detail = format!("the bot did not answer within {} ms", agent.answer_timeout_ms);
        return hand_over(EscalationReason::PayloadFailure, detail);
    }
    let rules = escalations::handoff_rules(agent);
    let languages = escalations::agent_languages(agent);
    let mut recent =
        messages::list_messages_before(state.db.reader(), conversation.id, i64::MAX, HISTORY_MESSAGES).await?;
    recent.reverse();
    let question = question_of(&recent, &languages);
    if let Some(keyword) = rules.asked_keyword(&question.text) {
        return hand_over(
            EscalationReason::ByEndUserMessage,
            format!("the customer asked for a person (\"{keyword}\")"),
        );
    }
    let hour_ago = now_ms() - 3_600_000;
    let in_conversation =
        recent.iter().filter(|m| m.sender_type == SenderType::VirtualAgent.as_str() && m.created_at > hour_ago).count();
    let to_contact = messages::count_agent_answers_to(state.db.reader(), conversation.contact_id, hour_ago).await?;
    if in_conversation as i64 >= MAX_ANSWERS_PER_HOUR || to_contact >= MAX_ANSWERS_PER_HOUR {
        return hand_over(
            EscalationReason::ByVirtualAgent,
            format!("the agent answered {MAX_ANSWERS_PER_HOUR} times within the hour; people take over in case it is talking to a machine"),
        );
    }
    if let Some(max) = rules.max_turns {
        let since = crate::store::escalations::latest_escalation(state.db.reader(), conversation.id)
            .await?
            .map_or(0, |e| e.created_at);
        let turns = recent
            .iter()
            .filter(|m| m.sender_type == SenderType::VirtualAgent.as_str() && m.created_at >= since)
            .count();
        if turns >= max as usize {
            return hand_over(
                EscalationReason::ByVirtualAgent,
                format!("the agent reached its limit of {max} answers"),
            );
        }
    }
    let engine = agents::engine(&agent.engine).ok_or_else(|| anyhow::anyhow!("unknown engine {}", agent.engine))?;
    let passages = retrieve(&state.db, agent.id, &question.text).await?;
    let draft_id = format!("{}.{}", run.id, run.attempts);
    let draft = Draft::new(state.events.clone(), conversation.account_id, conversation.id, agent.id, &draft_id);
    let chat = crate::service::chats::agent_context(state.db.reader(), conversation.id).await?;
    let event = turn_event(&draft_id, conversation, agent, &recent, &question, chat);
    let settings = settings_of(agent);
    let call = Call {
        client: client_for(state, engine),
        settings: &settings,
        instructions: &agent.instructions,
        language: &question.language,
        history: &question.history,
        question: &question.text,
        passages: &passages,
        event: &event,
        draft: &draft,
    };
    let started = std::time::Instant::now();
    let reply = generate(engine, &call, agent.first_token_timeout_ms, agent.answer_timeout_ms).await;
    metrics::histogram!("parley_agent_answer_seconds", "engine" => agent.engine.clone())
        .record(started.elapsed().as_secs_f64());
    Ok(match reply {
        Ok(Reply::Answer { text, usage }) if !text.trim().is_empty() => {
            let mut extra = Map::new();
            extra.insert("draft_id".to_owned(), json!(draft_id));
            if let Some(usage) = usage {
                metrics::counter!("parley_agent_tokens_total", "kind" => "prompt").increment(usage.prompt_tokens);
                metrics::counter!("parley_agent_tokens_total", "kind" => "completion")
                    .increment(usage.completion_tokens);
                extra.insert("usage".to_owned(), json!(usage));
            }
            Outcome::Send { text: text.trim().to_owned(), extra }
        }
        Ok(Reply::Answer { .. }) => {
            Outcome::Escalate { reason: EscalationReason::PayloadFailure, detail: "the answer was empty".to_owned() }
        }
        Ok(Reply::Handoff { detail }) => Outcome::Escalate { reason: EscalationReason::ByVirtualAgent, detail },
        Ok(Reply::Deferred) => Outcome::AwaitBot { until: now_ms() + agent.answer_timeout_ms },
        Err(Failure(detail)) => Outcome::Escalate { reason: EscalationReason::PayloadFailure, detail },
    })
}

/// What an external bot receives for a turn (`agent.turn`).
fn turn_event(
    draft_id: &str,
    conversation: &ConversationRow,
    agent: &AgentRow,
    recent: &[MessageRow],
    question: &Question,
    chat: Option<Value>,
) -> Value {
    let messages: Vec<Value> = recent
        .iter()
        .filter(|m| m.private == 0)
        .map(|m| json!({ "id": m.id, "sender_type": m.sender_type, "text": m.text, "created_at": to_rfc3339(m.created_at) }))
        .collect();
    json!({
        "type": "agent.turn",
        "id": draft_id,
        "created_at": to_rfc3339(now_ms()),
        "data": {
            "virtual_agent": { "id": agent.id, "name": agent.name },
            "conversation": Conversation::from(conversation),
            "messages": messages,
            "question": question.text,
            "language": question.language,
            "chat": chat,
        },
    })
}

/// Sends the answer when it is still wanted: the agent still handles the conversation (the row is
/// held until commit) and no newer customer message arrived; otherwise it is discarded.
async fn send(
    state: &AppState,
    run: &RunRow,
    claimed: i64,
    conversation: &ConversationRow,
    agent: &AgentRow,
    text: String,
    extra: Map<String, Value>,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !conversations::hold_for_agent(&mut tx, conversation.id, agent.id).await? {
        tx.rollback().await?;
        tracing::debug!(conversation = conversation.id, "people took over during the answer; discarded");
        return drop_run(state, run, claimed).await;
    }
    let current = agent_store::find_run(&mut *tx, conversation.id).await?;
    if current.is_none_or(|r| r.id != run.id || r.trigger_message_id != claimed) {
        tx.rollback().await?;
        tracing::debug!(conversation = conversation.id, "a newer customer message overtook the answer; discarded");
        return Ok(agent_store::release_run(state.db.writer(), run.id, now_ms()).await?);
    }
    let outgoing = Outgoing { text: Some(text), virtual_agent_id: Some(agent.id), extra, ..Outgoing::default() };
    match outbound::queue_in(state, &mut tx, conversation, &outgoing).await {
        Ok(_) => {
            agent_store::finish_run(&mut tx, run.id, claimed).await?;
            tx.commit().await?;
            state.events.notify(conversation.account_id);
            metrics::counter!("parley_agent_answers_total", "engine" => agent.engine.clone()).increment(1);
            Ok(())
        }
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. })) => {
            tx.rollback().await?;
            let detail = format!("the answer could not be sent: {e}");
            escalate(state, conversation, agent.id, None, EscalationReason::PayloadFailure, &detail).await
        }
        Err(e) => Err(e),
    }
}

/// Hands the conversation its agent `agent_id` handles to people; when `teller` is given, that
/// agent tells the customer a person will follow, in their language.
async fn escalate(
    state: &AppState,
    conversation: &ConversationRow,
    agent_id: i64,
    teller: Option<&AgentRow>,
    reason: EscalationReason,
    detail: &str,
) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !conversations::hold_for_agent(&mut tx, conversation.id, agent_id).await? {
        agent_store::delete_run(&mut tx, conversation.id).await?;
        tx.commit().await?;
        return Ok(());
    }
    let text = match teller {
        Some(agent) => Some(escalations::handoff_text(&mut tx, agent, conversation.id).await?),
        None => None,
    };
    let notice = text.as_deref().map(|text| Notice { agent_id, text });
    escalations::escalate_in(state, &mut tx, conversation, reason, Some(detail), notice).await?;
    tx.commit().await?;
    state.events.notify(conversation.account_id);
    tracing::info!(conversation = conversation.id, reason = %reason, detail, "conversation handed to people");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: i64, direction: &str, sender: &str, text: &str) -> MessageRow {
        MessageRow {
            id,
            account_id: 1,
            conversation_id: 1,
            channel_id: 1,
            direction: direction.to_owned(),
            sender_type: sender.to_owned(),
            sender_id: None,
            kind: "text".to_owned(),
            text: Some(text.to_owned()),
            media_keys: "[]".to_owned(),
            payload: "{}".to_owned(),
            provider_message_id: None,
            status: None,
            error_code: None,
            error_text: None,
            is_read: 0,
            simulated: 0,
            private: 0,
            created_at: id,
            updated_at: id,
            sent_at: None,
            delivered_at: None,
            read_at: None,
            deleted_at: None,
            edited_at: None,
        }
    }

    #[test]
    fn the_question_is_every_customer_message_since_the_last_answer() {
        let recent = [
            message(1, "inbound", "contact", "Buongiorno"),
            message(2, "outbound", "virtual_agent", "Ciao! Come posso aiutarti?"),
            message(3, "inbound", "contact", "Vorrei sapere"),
            message(4, "inbound", "contact", "dove è il mio ordine"),
        ];
        let question = question_of(&recent, &["en".to_owned(), "it".to_owned()]);
        assert_eq!(question.text, "Vorrei sapere\ndove è il mio ordine");
        assert_eq!(question.language, "it");
        let roles: Vec<Role> = question.history.iter().map(|said| said.role).collect();
        assert_eq!(roles, [Role::Customer, Role::Agent]);
    }
}
