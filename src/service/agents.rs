//! Virtual agents and their knowledge base: creating and changing agents (engine settings are
//! checked against the engine's schema; secrets are write-only), the channels they serve, their
//! articles (split into indexed passages), searching them, and trying an agent out.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::agents::{self, Call, Draft, Passage, Reply, Role, Said};
use crate::channels::settings;
use crate::domain::agents::{answer_language, HandoffRules};
use crate::domain::knowledge;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::AgentStatus;
use crate::error::{Error, FieldError, Result};
use crate::service::answers::{self, MAX_ANSWER_MS};
use crate::service::conversations::{decode_cursor, encode_cursor, Cursor};
use crate::service::escalations;
use crate::state::AppState;
use crate::store::agents::{self as store, AgentChannelRow, AgentFields, AgentRow};
use crate::store::articles::{self, ArticleFields, ArticleRow};
use crate::store::{channels, Conn};

/// A virtual agent as the API shows it (engine secrets never appear).
#[derive(Debug, Serialize, ToSchema)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    /// Languages it answers in (BCP 47 tags); the first is used when the customer's is unclear.
    pub languages: Vec<String>,
    /// Instructions for the engine (the system prompt of a model).
    pub instructions: String,
    /// `knowledge_base`, `openai` or `webhook`.
    pub engine: String,
    /// The engine's settings without its secrets.
    #[schema(value_type = Object)]
    pub settings: Map<String, Value>,
    /// Names of the secret settings that are set (their values are never shown).
    pub secrets_set: Vec<String>,
    pub channels: Vec<AgentChannel>,
    pub handoff: HandoffRules,
    /// The first part of an answer must come within this many milliseconds.
    pub first_token_timeout_ms: i64,
    /// The whole answer must come within this many milliseconds.
    pub answer_timeout_ms: i64,
    pub status: AgentStatus,
    pub created_at: String,
    pub updated_at: String,
}

/// A channel an agent serves.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentChannel {
    pub channel_id: i64,
    /// New conversations on the channel start with the agent ("virtual agent first"); when off,
    /// people start and can hand a conversation to the agent.
    #[serde(default = "yes")]
    pub answers_first: bool,
}

fn yes() -> bool {
    true
}

/// An agent to create, or changes to one (`None` leaves a field as it is; in `settings` a
/// `null` removes a setting and an omitted secret stays as it was).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub languages: Option<Vec<String>>,
    pub instructions: Option<String>,
    pub engine: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Map<String, Value>>,
    pub channels: Option<Vec<AgentChannel>>,
    pub handoff: Option<HandoffRules>,
    pub first_token_timeout_ms: Option<i64>,
    pub answer_timeout_ms: Option<i64>,
    pub status: Option<AgentStatus>,
}

/// An engine and its settings, for the agents page.
#[derive(Debug, Serialize, ToSchema)]
pub struct EngineInfo {
    pub name: &'static str,
    pub label: &'static str,
    pub settings: &'static [settings::Field],
}

/// Every engine an agent can use.
pub fn engines() -> Vec<EngineInfo> {
    agents::ENGINES
        .iter()
        .map(|engine| EngineInfo { name: engine.name(), label: engine.label(), settings: engine.settings() })
        .collect()
}

fn view(row: &AgentRow, channels: &[AgentChannelRow]) -> Agent {
    let stored = settings::parse(&row.settings);
    let schema = agents::engine(&row.engine).map(|engine| engine.settings()).unwrap_or_default();
    Agent {
        id: row.id,
        name: row.name.clone(),
        description: row.description.clone(),
        avatar_url: row.avatar_url.clone(),
        languages: escalations::agent_languages(row),
        instructions: row.instructions.clone(),
        engine: row.engine.clone(),
        settings: settings::visible(schema, &stored),
        secrets_set: schema
            .iter()
            .filter(|field| field.secret && stored.get(field.name).is_some_and(|v| !v.is_null()))
            .map(|field| field.name.to_owned())
            .collect(),
        channels: channels
            .iter()
            .filter(|c| c.agent_id == row.id)
            .map(|c| AgentChannel { channel_id: c.channel_id, answers_first: c.answers_first != 0 })
            .collect(),
        handoff: escalations::handoff_rules(row),
        first_token_timeout_ms: row.first_token_timeout_ms,
        answer_timeout_ms: row.answer_timeout_ms,
        status: AgentStatus::parse(&row.status).unwrap_or(AgentStatus::Paused),
        created_at: to_rfc3339(row.created_at),
        updated_at: to_rfc3339(row.updated_at),
    }
}

/// The account's agents.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<Agent>> {
    let rows = store::list_agents(state.db.reader(), account_id).await?;
    let channels = store::list_account_agent_channels(state.db.reader(), account_id).await?;
    Ok(rows.iter().map(|row| view(row, &channels)).collect())
}

/// One agent of the account.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Agent> {
    let row = store::find_agent(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("virtual agent"))?;
    let channels = store::list_agent_channels(state.db.reader(), id).await?;
    Ok(view(&row, &channels))
}

/// An agent's fields after applying `input` to `current` (or to the defaults), checked.
struct Checked {
    name: String,
    description: Option<String>,
    avatar_url: Option<String>,
    languages: Vec<String>,
    instructions: String,
    engine: String,
    settings: Map<String, Value>,
    handoff: HandoffRules,
    first_token_timeout_ms: i64,
    answer_timeout_ms: i64,
    status: AgentStatus,
}

fn check(input: &AgentInput, current: Option<&AgentRow>) -> Result<Checked> {
    let mut problems: Vec<FieldError> = Vec::new();
    let mut problem = |field: &str, message: String| problems.push(FieldError { field: field.to_owned(), message });
    let name = input.name.clone().or_else(|| current.map(|c| c.name.clone())).unwrap_or_default().trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        problem("name", "must be 1 to 100 characters".to_owned());
    }
    let description = input.description.clone().or_else(|| current.and_then(|c| c.description.clone()));
    if description.as_ref().is_some_and(|d| d.chars().count() > 1000) {
        problem("description", "must be at most 1000 characters".to_owned());
    }
    let avatar_url = input.avatar_url.clone().or_else(|| current.and_then(|c| c.avatar_url.clone()));
    if avatar_url
        .as_ref()
        .is_some_and(|url| !url.is_empty() && !url.starts_with("https://") && !url.starts_with("http://"))
    {
        problem("avatar_url", "must be an http(s) URL".to_owned());
    }
    let languages = input
        .languages
        .clone()
        .or_else(|| current.map(|c| serde_json::from_str(&c.languages).unwrap_or_default()))
        .unwrap_or_else(|| vec!["en".to_owned()]);
    let tag_ok =
        |tag: &String| (2..=16).contains(&tag.len()) && tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if languages.is_empty() || languages.len() > 10 || !languages.iter().all(tag_ok) {
        problem("languages", "1 to 10 language tags, e.g. [\"it\", \"pt-BR\", \"en\"]".to_owned());
    }
    let instructions =
        input.instructions.clone().or_else(|| current.map(|c| c.instructions.clone())).unwrap_or_default();
    if instructions.chars().count() > 20_000 {
        problem("instructions", "must be at most 20000 characters".to_owned());
    }
    let engine_name = input.engine.clone().or_else(|| current.map(|c| c.engine.clone())).unwrap_or_default();
    let engine = agents::engine(&engine_name);
    if engine.is_none() {
        let known: Vec<&str> = agents::ENGINES.iter().map(|e| e.name()).collect();
        problem("engine", format!("must be one of {}", known.join(", ")));
    }
    // Changing the engine starts its settings afresh; otherwise changes merge into the stored ones.
    let mut merged = match current {
        Some(row) if row.engine == engine_name => settings::parse(&row.settings),
        _ => Map::new(),
    };
    for (key, value) in input.settings.clone().unwrap_or_default() {
        match value {
            Value::Null => merged.remove(&key),
            value => merged.insert(key, value),
        };
    }
    if let Some(engine) = engine {
        problems.extend(settings::problems(engine.settings(), &merged, true, engine.label()));
    }
    let handoff = input
        .handoff
        .clone()
        .or_else(|| current.map(|c| serde_json::from_str(&c.handoff).unwrap_or_default()))
        .unwrap_or_default();
    if let Some((field, message)) = handoff.problem() {
        problems.push(FieldError { field, message });
    }
    let first_token_timeout_ms =
        input.first_token_timeout_ms.or(current.map(|c| c.first_token_timeout_ms)).unwrap_or(10_000);
    let answer_timeout_ms = input.answer_timeout_ms.or(current.map(|c| c.answer_timeout_ms)).unwrap_or(60_000);
    if !(100..=MAX_ANSWER_MS).contains(&first_token_timeout_ms) {
        problems.push(FieldError {
            field: "first_token_timeout_ms".to_owned(),
            message: format!("must be 100 to {MAX_ANSWER_MS}"),
        });
    }
    if !(100..=MAX_ANSWER_MS).contains(&answer_timeout_ms) || answer_timeout_ms < first_token_timeout_ms {
        problems.push(FieldError {
            field: "answer_timeout_ms".to_owned(),
            message: format!("must be 100 to {MAX_ANSWER_MS} and at least first_token_timeout_ms"),
        });
    }
    let status =
        input.status.or_else(|| current.and_then(|c| AgentStatus::parse(&c.status))).unwrap_or(AgentStatus::Active);
    if !problems.is_empty() {
        return Err(Error::fields(problems));
    }
    Ok(Checked {
        name,
        description,
        avatar_url,
        languages,
        instructions,
        engine: engine_name,
        settings: merged,
        handoff,
        first_token_timeout_ms,
        answer_timeout_ms,
        status,
    })
}

/// Makes the agent serve exactly these channels; a channel served by another agent is refused.
async fn set_channels(conn: &mut Conn, account_id: i64, agent_id: i64, list: &[AgentChannel]) -> Result<()> {
    let mut pairs = Vec::new();
    for entry in list {
        if channels::find_channel(&mut *conn, account_id, entry.channel_id).await?.is_none() {
            return Err(Error::field("channels", format!("no channel {} in this account", entry.channel_id)));
        }
        if let Some(other) = store::list_account_agent_channels(&mut *conn, account_id)
            .await?
            .into_iter()
            .find(|c| c.channel_id == entry.channel_id && c.agent_id != agent_id)
        {
            return Err(Error::conflict(
                "channel_taken",
                format!(
                    "channel {} is served by virtual agent {}; remove it there first",
                    entry.channel_id, other.agent_id
                ),
            ));
        }
        if !pairs.iter().any(|(id, _)| *id == entry.channel_id) {
            pairs.push((entry.channel_id, entry.answers_first));
        }
    }
    store::replace_agent_channels(conn, account_id, agent_id, &pairs).await?;
    Ok(())
}

/// The stored JSON of an agent's languages, handoff rules and settings.
fn encode(checked: &Checked) -> Result<(String, String, String)> {
    let languages = serde_json::to_string(&checked.languages).map_err(anyhow::Error::from)?;
    let handoff = serde_json::to_string(&checked.handoff).map_err(anyhow::Error::from)?;
    Ok((languages, handoff, Value::Object(checked.settings.clone()).to_string()))
}

/// Creates an agent.
pub async fn create(state: &AppState, account_id: i64, input: AgentInput) -> Result<Agent> {
    if input.engine.is_none() {
        return Err(Error::field("engine", "is required"));
    }
    let checked = check(&input, None)?;
    let (languages, handoff, settings_json) = encode(&checked)?;
    let mut tx = state.db.begin().await?;
    let row =
        store::insert_agent(&mut tx, account_id, &fields(&checked, &languages, &handoff, &settings_json), now_ms())
            .await?;
    set_channels(&mut tx, account_id, row.id, input.channels.as_deref().unwrap_or_default()).await?;
    tx.commit().await?;
    get(state, account_id, row.id).await
}

fn fields<'a>(checked: &'a Checked, languages: &'a str, handoff: &'a str, settings_json: &'a str) -> AgentFields<'a> {
    AgentFields {
        name: &checked.name,
        description: checked.description.as_deref(),
        avatar_url: checked.avatar_url.as_deref().filter(|url| !url.is_empty()),
        languages,
        instructions: &checked.instructions,
        engine: &checked.engine,
        settings: settings_json,
        handoff,
        first_token_timeout_ms: checked.first_token_timeout_ms,
        answer_timeout_ms: checked.answer_timeout_ms,
        status: checked.status.as_str(),
    }
}

/// Changes an agent.
pub async fn update(state: &AppState, account_id: i64, id: i64, input: AgentInput) -> Result<Agent> {
    let mut tx = state.db.begin().await?;
    let current = store::find_agent(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("virtual agent"))?;
    let checked = check(&input, Some(&current))?;
    let (languages, handoff, settings_json) = encode(&checked)?;
    store::update_agent(&mut tx, account_id, id, &fields(&checked, &languages, &handoff, &settings_json), now_ms())
        .await?;
    if let Some(list) = &input.channels {
        set_channels(&mut tx, account_id, id, list).await?;
    }
    tx.commit().await?;
    get(state, account_id, id).await
}

/// Deletes an agent: it stops answering; conversations it handled wait for people at their
/// next message (nothing is answered by a deleted agent).
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !store::delete_agent(&mut tx, account_id, id, now_ms()).await? {
        return Err(Error::NotFound("virtual agent"));
    }
    tx.commit().await?;
    Ok(())
}

/// A knowledge-base article.
#[derive(Debug, Serialize, ToSchema)]
pub struct Article {
    pub id: i64,
    pub virtual_agent_id: i64,
    pub title: String,
    pub body: String,
    /// Its language tag, when given.
    pub language: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&ArticleRow> for Article {
    fn from(row: &ArticleRow) -> Self {
        Article {
            id: row.id,
            virtual_agent_id: row.agent_id,
            title: row.title.clone(),
            body: row.body.clone(),
            language: row.language.clone(),
            tags: serde_json::from_str(&row.tags).unwrap_or_default(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// An article to write (all fields for a new one; a change replaces what it gives).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ArticleInput {
    pub title: Option<String>,
    pub body: Option<String>,
    pub language: Option<String>,
    pub tags: Option<Vec<String>>,
}

/// One page of articles.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticlePage {
    pub data: Vec<Article>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

async fn agent_of(conn: &mut Conn, account_id: i64, agent_id: i64) -> Result<AgentRow> {
    store::find_agent(&mut *conn, account_id, agent_id).await?.ok_or(Error::NotFound("virtual agent"))
}

/// The checked title, body, language and tags of an article.
fn article_fields(
    input: &ArticleInput,
    current: Option<&ArticleRow>,
) -> Result<(String, String, Option<String>, Vec<String>)> {
    let title = input.title.clone().or_else(|| current.map(|c| c.title.clone())).unwrap_or_default().trim().to_owned();
    let body = input.body.clone().or_else(|| current.map(|c| c.body.clone())).unwrap_or_default();
    let language = input.language.clone().or_else(|| current.and_then(|c| c.language.clone()));
    let tags = input
        .tags
        .clone()
        .or_else(|| current.map(|c| serde_json::from_str(&c.tags).unwrap_or_default()))
        .unwrap_or_default();
    let mut problems = Vec::new();
    if title.is_empty() || title.chars().count() > 200 {
        problems.push(FieldError { field: "title".to_owned(), message: "must be 1 to 200 characters".to_owned() });
    }
    if body.trim().is_empty() || body.chars().count() > 50_000 {
        problems.push(FieldError { field: "body".to_owned(), message: "must be 1 to 50000 characters".to_owned() });
    }
    if language.as_ref().is_some_and(|l| !(2..=16).contains(&l.len())) {
        problems.push(FieldError {
            field: "language".to_owned(),
            message: "must be a language tag like it or pt-BR".to_owned(),
        });
    }
    if tags.len() > 20 || tags.iter().any(|t| t.trim().is_empty() || t.chars().count() > 64) {
        problems
            .push(FieldError { field: "tags".to_owned(), message: "at most 20 tags of 1 to 64 characters".to_owned() });
    }
    if !problems.is_empty() {
        return Err(Error::fields(problems));
    }
    Ok((title, body, language, tags))
}

/// Stores an article's passages for search: each passage with its folded text, title first.
async fn index(conn: &mut Conn, agent_id: i64, article_id: i64, title: &str, body: &str) -> Result<()> {
    articles::delete_passages(conn, article_id).await?;
    let passages: Vec<(String, String)> = knowledge::passages(title, body)
        .into_iter()
        .map(|text| {
            let folded = knowledge::fold(&format!("{title}\n{text}"));
            (text, folded)
        })
        .collect();
    articles::insert_passages(conn, agent_id, article_id, &passages).await?;
    Ok(())
}

/// Adds an article to an agent's knowledge base.
pub async fn create_article(state: &AppState, account_id: i64, agent_id: i64, input: ArticleInput) -> Result<Article> {
    let (title, body, language, tags) = article_fields(&input, None)?;
    let mut tx = state.db.begin().await?;
    agent_of(&mut tx, account_id, agent_id).await?;
    let tags = serde_json::to_string(&tags).map_err(anyhow::Error::from)?;
    let fields = ArticleFields { title: &title, body: &body, language: language.as_deref(), tags: &tags };
    let row = articles::insert_article(&mut tx, account_id, agent_id, &fields, now_ms()).await?;
    index(&mut tx, agent_id, row.id, &title, &body).await?;
    tx.commit().await?;
    Ok(Article::from(&row))
}

/// Changes an article and indexes it again.
pub async fn update_article(
    state: &AppState,
    account_id: i64,
    agent_id: i64,
    id: i64,
    input: ArticleInput,
) -> Result<Article> {
    let mut tx = state.db.begin().await?;
    agent_of(&mut tx, account_id, agent_id).await?;
    let current = articles::find_article(&mut *tx, agent_id, id).await?.ok_or(Error::NotFound("article"))?;
    let (title, body, language, tags) = article_fields(&input, Some(&current))?;
    let tags = serde_json::to_string(&tags).map_err(anyhow::Error::from)?;
    let fields = ArticleFields { title: &title, body: &body, language: language.as_deref(), tags: &tags };
    articles::update_article(&mut tx, agent_id, id, &fields, now_ms()).await?;
    index(&mut tx, agent_id, id, &title, &body).await?;
    let row = articles::find_article(&mut *tx, agent_id, id).await?.ok_or(Error::NotFound("article"))?;
    tx.commit().await?;
    Ok(Article::from(&row))
}

/// One article of an agent.
pub async fn get_article(state: &AppState, account_id: i64, agent_id: i64, id: i64) -> Result<Article> {
    let mut conn = state.db.reader().acquire().await?;
    agent_of(&mut conn, account_id, agent_id).await?;
    let row = articles::find_article(&mut *conn, agent_id, id).await?.ok_or(Error::NotFound("article"))?;
    Ok(Article::from(&row))
}

/// Deletes an article and its passages.
pub async fn delete_article(state: &AppState, account_id: i64, agent_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    agent_of(&mut tx, account_id, agent_id).await?;
    if !articles::delete_article(&mut tx, agent_id, id).await? {
        return Err(Error::NotFound("article"));
    }
    tx.commit().await?;
    Ok(())
}

/// An agent's articles, by id, one page at a time.
pub async fn list_articles(
    state: &AppState,
    account_id: i64,
    agent_id: i64,
    limit: i64,
    cursor: Option<&str>,
) -> Result<ArticlePage> {
    let mut conn = state.db.reader().acquire().await?;
    agent_of(&mut conn, account_id, agent_id).await?;
    let after = match cursor {
        Some(text) => decode_cursor(text, "+id")?.id,
        None => 0,
    };
    let mut rows = articles::list_articles(&mut *conn, agent_id, after, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(last) if more => {
            Some(encode_cursor(&Cursor { sort: "+id".to_owned(), value: last.id, text: None, id: last.id }))
        }
        _ => None,
    };
    Ok(ArticlePage { data: rows.iter().map(Article::from).collect(), next_cursor })
}

/// The knowledge base's best passages for a question.
pub async fn search(state: &AppState, account_id: i64, agent_id: i64, question: &str) -> Result<Vec<Passage>> {
    let mut conn = state.db.reader().acquire().await?;
    agent_of(&mut conn, account_id, agent_id).await?;
    drop(conn);
    answers::retrieve(&state.db, agent_id, question).await
}

/// A message to try an agent with, and the conversation before it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryInput {
    /// What the customer writes.
    pub text: String,
    /// The conversation so far, oldest first.
    #[serde(default)]
    pub history: Vec<TryTurn>,
    /// An id of the caller's choosing (letters, digits, `-`; at most 64): the draft's
    /// `message.delta` events carry `try-<draft_id>`, so a client can pick out its own.
    #[serde(default)]
    pub draft_id: Option<String>,
}

/// One earlier message of a try-out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryTurn {
    /// `customer` or `agent`.
    pub role: String,
    pub text: String,
}

/// How a try-out ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct TryResult {
    /// `answer`, `handoff` or `failure`.
    pub outcome: String,
    /// The answer, the handoff message the customer would get, or the failure.
    pub text: String,
    /// Why the conversation would go to a person.
    pub detail: Option<String>,
    /// The knowledge base's passages the engine was given.
    pub passages: Vec<Passage>,
}

/// Tries an agent on a message without any conversation: the engine runs with the agent's
/// settings and timeouts, its draft streams as `message.delta` events under `draft_id`.
pub async fn try_out(state: &AppState, account_id: i64, agent_id: i64, input: TryInput) -> Result<TryResult> {
    if input.text.trim().is_empty() || input.text.chars().count() > 4096 {
        return Err(Error::field("text", "must be 1 to 4096 characters"));
    }
    let draft_id = match &input.draft_id {
        Some(id) if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') => {
            return Err(Error::field("draft_id", "must be 1 to 64 letters, digits or -"))
        }
        Some(id) => format!("try-{id}"),
        None => format!("try-{}", uuid::Uuid::new_v4()),
    };
    let draft_id = draft_id.as_str();
    let agent = agent_of(&mut *state.db.reader().acquire().await?, account_id, agent_id).await?;
    let rules = escalations::handoff_rules(&agent);
    let language = answer_language(&input.text, &escalations::agent_languages(&agent)).to_owned();
    let handoff = |detail: String| TryResult {
        outcome: "handoff".to_owned(),
        text: rules.handoff_message(&language),
        detail: Some(detail),
        passages: Vec::new(),
    };
    if let Some(keyword) = rules.asked_keyword(&input.text) {
        return Ok(handoff(format!("the customer asked for a person (\"{keyword}\")")));
    }
    let engine = agents::engine(&agent.engine).ok_or_else(|| anyhow::anyhow!("unknown engine {}", agent.engine))?;
    let passages = answers::retrieve(&state.db, agent.id, &input.text).await?;
    let history: Vec<Said> = input
        .history
        .iter()
        .map(|turn| Said {
            role: if turn.role == "customer" { Role::Customer } else { Role::Agent },
            text: turn.text.clone(),
        })
        .collect();
    let draft = Draft::new(state.events.clone(), account_id, 0, agent.id, draft_id);
    let event = serde_json::json!({ "type": "agent.turn", "id": draft_id, "data": { "question": input.text, "language": language, "test": true } });
    let settings = answers::settings_of(&agent);
    let call = Call {
        client: answers::client_for(state, engine),
        settings: &settings,
        instructions: &agent.instructions,
        language: &language,
        history: &history,
        question: &input.text,
        passages: &passages,
        event: &event,
        draft: &draft,
    };
    let reply = answers::generate(engine, &call, agent.first_token_timeout_ms, agent.answer_timeout_ms).await;
    Ok(match reply {
        Ok(Reply::Answer { text, .. }) => TryResult { outcome: "answer".to_owned(), text, detail: None, passages },
        Ok(Reply::Handoff { detail }) => TryResult { passages, ..handoff(detail) },
        Ok(Reply::Deferred) => TryResult { passages, ..handoff("the bot will answer through the API".to_owned()) },
        Err(failure) => TryResult { outcome: "failure".to_owned(), text: failure.0, detail: None, passages },
    })
}
