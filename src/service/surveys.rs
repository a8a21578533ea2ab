//! Satisfaction surveys: a question per language on a 1–5 scale, sent into a conversation where
//! the customer already is — a list to pick from on channels with choices, a question asking for
//! a number elsewhere — and the vote read from the reply (see `domain::surveys`): while a survey
//! is pending on a conversation, a reply that is a vote is recorded as the conversation's
//! `survey` (it does not reopen the conversation nor wake its agent); any other reply is an
//! ordinary message. A survey with a follow-up question asks it after the vote, and the
//! customer's next words within [`COMMENT_MINUTES`] are kept as their comment.
//!
//! Surveys also go out by themselves when a conversation is resolved or closed, per channel
//! (`survey_send`), once per conversation: a durable job sends them after the change commits.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::domain::agents::answer_language;
use crate::domain::surveys::parse_rating;
use crate::domain::time::{now_ms, parse_timestamp, to_rfc3339};
use crate::domain::{ConversationStatus, SurveySend};
use crate::error::{Error, Result};
use crate::service::events::{self, kind};
use crate::service::outbound::{self, NewConversation, Outgoing};
use crate::service::views::{Conversation, Message};
use crate::state::AppState;
use crate::store::conversations::{self, ConversationRow};
use crate::store::jobs::{self, JobRow};
use crate::store::surveys::{self, NewRequest, RequestRow, ResultFilter, SurveyFields, SurveyRow};
use crate::store::{channels, messages, Conn};

/// Job kind that sends a survey, or its follow-up question, into a conversation.
pub const SURVEY_JOB: &str = "survey";

/// How long after a vote the customer's words are their comment, when the survey asked for one.
pub const COMMENT_MINUTES: i64 = 10;

/// How long a comment may be.
const MAX_COMMENT_CHARS: usize = 2000;

/// The question when a survey gives none, per language.
const DEFAULT_QUESTIONS: [(&str, &str); 3] = [
    ("en", "How would you rate our service, from 1 (poor) to 5 (excellent)?"),
    ("it", "Come valuti il nostro servizio, da 1 (pessimo) a 5 (ottimo)?"),
    ("pt", "Como você avalia nosso atendimento, de 1 (ruim) a 5 (ótimo)?"),
];

/// What a text-only question adds, per language.
const REPLY_WITH_A_NUMBER: [(&str, &str); 3] = [
    ("en", "Reply with a number from 1 to 5."),
    ("it", "Rispondi con un numero da 1 a 5."),
    ("pt", "Responda com um número de 1 a 5."),
];

/// The button that opens the list of votes, per language.
const LIST_BUTTON: [(&str, &str); 3] = [("en", "Rate"), ("it", "Vota"), ("pt", "Avaliar")];

/// How long a reply may be a vote when a survey does not say.
const DEFAULT_WINDOW_HOURS: i64 = 72;

/// The approved WhatsApp template that asks for the vote once the 24-hour window closed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SurveyTemplate {
    pub name: String,
    /// Its language code (`en_US`, `it`…).
    pub language: String,
}

/// A satisfaction survey.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Survey {
    pub id: i64,
    pub name: String,
    /// The question per language (`en`, `it`, `pt`…); the customer's language picks one.
    pub questions: BTreeMap<String, String>,
    /// How long after sending a reply may still be a vote.
    pub window_hours: i64,
    /// Sent instead of the question on WhatsApp once the customer's 24-hour window closed (its
    /// quick-reply buttons or a typed number are the vote).
    pub whatsapp_template: Option<SurveyTemplate>,
    /// Asked after the vote, per language: the customer's next words within 10 minutes are kept
    /// as their comment. No follow-up when absent.
    pub follow_ups: Option<BTreeMap<String, String>>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&SurveyRow> for Survey {
    fn from(row: &SurveyRow) -> Self {
        Survey {
            id: row.id,
            name: row.name.clone(),
            questions: serde_json::from_str(&row.questions).unwrap_or_default(),
            window_hours: row.window_hours,
            whatsapp_template: row.whatsapp_template.as_deref().and_then(|t| serde_json::from_str(t).ok()),
            follow_ups: row.follow_ups.as_deref().and_then(|t| serde_json::from_str(t).ok()),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// A survey to create, or what replaces one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSurvey {
    pub name: String,
    /// The question per language; English, Italian and Portuguese defaults when omitted.
    #[serde(default)]
    pub questions: Option<BTreeMap<String, String>>,
    /// 1 to 720; 72 when omitted.
    #[serde(default)]
    pub window_hours: Option<i64>,
    /// The WhatsApp template asking once the window closed (checked against the channel's
    /// approved templates when sent).
    #[serde(default)]
    pub whatsapp_template: Option<SurveyTemplate>,
    /// The follow-up question per language, asking for a comment after the vote.
    #[serde(default)]
    pub follow_ups: Option<BTreeMap<String, String>>,
}

/// Checks a survey's texts per language.
fn check_texts(field: &str, texts: &BTreeMap<String, String>) -> Result<String> {
    let bad_language = |language: &String| language.len() < 2 || language.len() > 8;
    if texts.is_empty()
        || texts.iter().any(|(language, text)| bad_language(language) || text.trim().is_empty() || text.len() > 1000)
    {
        return Err(Error::field(field, "give the text (1 to 1000 characters) per language code"));
    }
    Ok(serde_json::to_string(texts).map_err(anyhow::Error::from)?)
}

/// The stored fields of a survey as given, checked.
struct CheckedSurvey {
    name: String,
    questions: String,
    window_hours: i64,
    whatsapp_template: Option<String>,
    follow_ups: Option<String>,
}

impl CheckedSurvey {
    fn of(new: NewSurvey) -> Result<CheckedSurvey> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(Error::field("name", "must be 1 to 200 characters"));
        }
        let questions = new.questions.unwrap_or_else(|| {
            DEFAULT_QUESTIONS.iter().map(|(language, text)| (language.to_string(), text.to_string())).collect()
        });
        let window_hours = new.window_hours.unwrap_or(DEFAULT_WINDOW_HOURS);
        if !(1..=720).contains(&window_hours) {
            return Err(Error::field("window_hours", "must be 1 to 720"));
        }
        let whatsapp_template = match new.whatsapp_template {
            Some(t) if t.name.trim().is_empty() || t.language.trim().is_empty() => {
                return Err(Error::field("whatsapp_template", "give the template's name and language"))
            }
            Some(t) => Some(serde_json::to_string(&t).map_err(anyhow::Error::from)?),
            None => None,
        };
        Ok(CheckedSurvey {
            name: name.to_owned(),
            questions: check_texts("questions", &questions)?,
            window_hours,
            whatsapp_template,
            follow_ups: new.follow_ups.as_ref().map(|f| check_texts("follow_ups", f)).transpose()?,
        })
    }

    fn fields(&self) -> SurveyFields<'_> {
        SurveyFields {
            name: &self.name,
            questions: &self.questions,
            window_hours: self.window_hours,
            whatsapp_template: self.whatsapp_template.as_deref(),
            follow_ups: self.follow_ups.as_deref(),
        }
    }
}

/// Creates a survey.
pub async fn create(state: &AppState, account_id: i64, new: NewSurvey) -> Result<Survey> {
    let checked = CheckedSurvey::of(new)?;
    let mut tx = state.db.begin().await?;
    let row = surveys::insert_survey(&mut tx, account_id, &checked.fields(), now_ms()).await?;
    tx.commit().await?;
    Ok(Survey::from(&row))
}

/// Replaces a survey's question, window, template and follow-up (surveys already sent keep
/// their vote window).
pub async fn update(state: &AppState, account_id: i64, id: i64, new: NewSurvey) -> Result<Survey> {
    let checked = CheckedSurvey::of(new)?;
    let mut tx = state.db.begin().await?;
    let row = surveys::update_survey(&mut tx, account_id, id, &checked.fields(), now_ms())
        .await?
        .ok_or(Error::NotFound("survey"))?;
    tx.commit().await?;
    Ok(Survey::from(&row))
}

/// The survey a channel sends (the account's first when it names none), created with the
/// default questions when the account has none.
async fn survey_for(conn: &mut Conn, account_id: i64, channel_survey: Option<i64>) -> Result<SurveyRow> {
    if let Some(id) = channel_survey {
        if let Some(row) = surveys::find_survey(&mut *conn, account_id, id).await? {
            return Ok(row);
        }
    }
    if let Some(first) = surveys::list_surveys(&mut *conn, account_id).await?.into_iter().next() {
        return Ok(first);
    }
    let new = NewSurvey {
        name: "Satisfaction".to_owned(),
        questions: None,
        window_hours: None,
        whatsapp_template: None,
        follow_ups: None,
    };
    let checked = CheckedSurvey::of(new)?;
    Ok(surveys::insert_survey(conn, account_id, &checked.fields(), now_ms()).await?)
}

/// The account's surveys.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<Survey>> {
    Ok(surveys::list_surveys(state.db.reader(), account_id).await?.iter().map(Survey::from).collect())
}

/// One survey.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Survey> {
    find(state, account_id, id).await.map(|row| Survey::from(&row))
}

async fn find(state: &AppState, account_id: i64, id: i64) -> Result<SurveyRow> {
    surveys::find_survey(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("survey"))
}

/// A survey sent to a conversation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurveyRequest {
    pub id: i64,
    pub survey_id: i64,
    pub conversation_id: i64,
    /// The message that asked.
    pub message_id: Option<i64>,
    /// pending, answered or expired.
    pub status: String,
    /// The vote, 1 to 5, once answered.
    pub rating: Option<i64>,
    /// What the customer wrote after voting.
    pub comment: Option<String>,
    /// Who had the conversation when the survey was sent: its virtual agent (or the last one that
    /// answered), operator and team.
    pub virtual_agent_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub team_id: Option<i64>,
    pub sent_at: String,
    pub answered_at: Option<String>,
    pub expires_at: String,
}

impl From<&RequestRow> for SurveyRequest {
    fn from(row: &RequestRow) -> Self {
        SurveyRequest {
            id: row.id,
            survey_id: row.survey_id,
            conversation_id: row.conversation_id,
            message_id: row.message_id,
            status: row.status.clone(),
            rating: row.rating,
            comment: row.comment.clone(),
            virtual_agent_id: row.virtual_agent_id,
            operator_id: row.operator_id,
            team_id: row.team_id,
            sent_at: to_rfc3339(row.sent_at),
            answered_at: row.answered_at.map(to_rfc3339),
            expires_at: to_rfc3339(row.expires_at),
        }
    }
}

fn in_language<'a>(table: &'a [(&str, &str)], language: &str) -> &'a str {
    table.iter().find(|(code, _)| *code == language).or(table.first()).map_or("", |(_, text)| text)
}

/// Sends a survey into a conversation: in the customer's language (from their latest message),
/// as a list of votes where the channel has choices, else as a question asking for a number;
/// on a network with templates whose reply window closed, as the survey's template. Sending
/// rules are the conversation's (`reply_window_expired` when the window closed and the survey
/// has no template).
pub async fn send(state: &AppState, account_id: i64, conversation_id: i64, survey_id: i64) -> Result<SurveyRequest> {
    let survey = Survey::from(&find(state, account_id, survey_id).await?);
    send_survey(state, account_id, conversation_id, &survey).await
}

async fn send_survey(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    survey: &Survey,
) -> Result<SurveyRequest> {
    let reader = state.db.reader();
    let conversation = conversations::find_conversation(reader, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let outgoing = question(state, survey, Some(&conversation), &conversation.channel_kind).await?;
    let message = outbound::send(state, account_id, conversation_id, outgoing).await?;
    record_sent(state, account_id, conversation_id, survey, message.id).await
}

/// The message asking `survey` of a customer on a channel of `channel_kind`, in the language of
/// their latest message in `conversation` (the survey's first without one): the survey's template
/// on a network with templates whose reply window is closed (or was never opened), a list of
/// votes where the channel has choices, else the question asking for a number.
async fn question(
    state: &AppState,
    survey: &Survey,
    conversation: Option<&ConversationRow>,
    channel_kind: &str,
) -> Result<Outgoing> {
    let latest = match conversation {
        Some(conversation) => messages::latest_inbound_text(state.db.reader(), conversation.id).await?,
        None => None,
    };
    let languages: Vec<String> = survey.questions.keys().cloned().collect();
    let language = answer_language(latest.as_deref().unwrap_or_default(), &languages);
    let question = survey.questions.get(language).cloned().unwrap_or_default();
    let capabilities = crate::channels::capabilities_of(channel_kind);
    let now = now_ms();
    let window_open = conversation.and_then(|c| c.window_expires_at).is_some_and(|at| at > now);
    let window_closed = capabilities.reply_window_hours.is_some() && !window_open;
    let mut outgoing = Outgoing::default();
    if let (true, true, Some(template)) = (window_closed, capabilities.templates, &survey.whatsapp_template) {
        outgoing.payload.insert("template".to_owned(), json!({ "name": template.name, "language": template.language }));
    } else if capabilities.content.contains(&"choices") {
        let options: Vec<Value> = (1..=5)
            .rev()
            .map(|vote| json!({ "id": format!("survey:{vote}"), "title": format!("{vote} {}", "⭐".repeat(vote)) }))
            .collect();
        let list_button = in_language(&LIST_BUTTON, language);
        outgoing
            .payload
            .insert("choices".to_owned(), json!({ "text": question, "list_button": list_button, "options": options }));
    } else {
        outgoing.text = Some(format!("{question} {}", in_language(&REPLY_WITH_A_NUMBER, language)));
    }
    outgoing.extra = Map::from_iter([("survey_id".to_owned(), Value::from(survey.id))]);
    outgoing.survey = true;
    Ok(outgoing)
}

/// Records that `survey` went out in a conversation as message `message_id`: pending, its
/// replies votes until the survey's window ends.
async fn record_sent(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    survey: &Survey,
    message_id: i64,
) -> Result<SurveyRequest> {
    let now = now_ms();
    let expires_at = now + survey.window_hours * 3_600_000;
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let mut new = request_of(&mut tx, &conversation, survey.id, expires_at).await?;
    new.message_id = Some(message_id);
    let row = surveys::insert_request(&mut tx, &new, now).await?;
    conversations::set_survey_due(&mut tx, conversation_id, expires_at).await?;
    tx.commit().await?;
    Ok(SurveyRequest::from(&row))
}

/// A survey sent as a campaign message: to an address on a channel, joining the customer's
/// conversation there or starting one (a new one has no reply window: on WhatsApp the survey's
/// template asks). `base` carries the campaign's own fields (the caller's message id, simulation,
/// extras).
pub async fn send_to(
    state: &AppState,
    account_id: i64,
    channel_id: i64,
    to: &str,
    survey_id: i64,
    base: Outgoing,
) -> Result<(Conversation, Message)> {
    let survey = Survey::from(&find(state, account_id, survey_id).await?);
    let reader = state.db.reader();
    let channel = channels::find_channel(reader, account_id, channel_id).await?.ok_or(Error::NotFound("channel"))?;
    let kind = crate::domain::ChannelKind::parse(&channel.kind);
    let address = kind.and_then(|kind| crate::service::contacts::normalize_address(kind, to).ok());
    let owner = match &address {
        Some(address) => conversations::find_address_owner(reader, channel.id, address, now_ms()).await?,
        None => None,
    };
    let conversation = match owner.and_then(|owner| owner.id) {
        Some(id) => conversations::find_conversation(reader, account_id, id).await?,
        None => None,
    };
    let asked = question(state, &survey, conversation.as_ref(), &channel.kind).await?;
    let mut extra = base.extra.clone();
    extra.extend(asked.extra);
    let message = Outgoing { text: asked.text, payload: asked.payload, extra, survey: true, ..base };
    let new = NewConversation { channel_id, to: to.to_owned(), name: None, subject: None, message };
    let (conversation, message) = outbound::start(state, account_id, new).await?;
    record_sent(state, account_id, conversation.id, &survey, message.id).await?;
    Ok((conversation, message))
}

/// A survey request for a conversation, naming who has it now (the last virtual agent that
/// answered when people have it).
async fn request_of(
    conn: &mut Conn,
    conversation: &ConversationRow,
    survey_id: i64,
    expires_at: i64,
) -> Result<NewRequest> {
    let virtual_agent_id = match conversation.virtual_agent_id {
        Some(id) => Some(id),
        None => messages::latest_virtual_agent(&mut *conn, conversation.id).await?,
    };
    Ok(NewRequest {
        account_id: conversation.account_id,
        survey_id,
        conversation_id: conversation.id,
        channel_id: conversation.channel_id,
        message_id: None,
        virtual_agent_id,
        operator_id: conversation.assignee_id,
        team_id: conversation.team_id,
        expires_at,
    })
}

/// What a customer's reply was to the conversation's survey.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyReply {
    /// A vote, 1 to 5.
    Vote(u8),
    /// The comment after the vote.
    Comment,
}

impl SurveyReply {
    /// The vote, when the reply was one.
    pub fn rating(self) -> Option<i64> {
        match self {
            SurveyReply::Vote(rating) => Some(i64::from(rating)),
            SurveyReply::Comment => None,
        }
    }
}

/// Takes a customer's reply while the conversation's survey is due, in the caller's transaction:
/// a vote on the pending survey (`survey.answered`; its follow-up question queued when the survey
/// has one), or the comment after the vote (`survey.commented`); `None` for anything else, an
/// ordinary message. Also returns until when the next reply may still belong to the survey.
pub async fn take_reply(
    conn: &mut Conn,
    account_id: i64,
    conversation_id: i64,
    text: &str,
    now: i64,
) -> Result<Option<(SurveyReply, Option<i64>)>> {
    if let Some(rating) = parse_rating(text) {
        if let Some(row) = surveys::answer(conn, conversation_id, i64::from(rating), now).await? {
            events::record(conn, account_id, kind::SURVEY_ANSWERED, &SurveyRequest::from(&row), now).await?;
            let survey = surveys::find_survey(&mut *conn, account_id, row.survey_id).await?;
            let asks_comment = survey.is_some_and(|survey| survey.follow_ups.is_some());
            if asks_comment {
                queue_job(conn, &SurveyJob { account_id, conversation_id, follow_up: true }, now).await?;
            }
            return Ok(Some((SurveyReply::Vote(rating), asks_comment.then_some(now + COMMENT_MINUTES * 60_000))));
        }
    }
    let comment: String = text.trim().chars().take(MAX_COMMENT_CHARS).collect();
    if comment.is_empty() {
        return Ok(None);
    }
    match surveys::add_comment(conn, conversation_id, &comment, now - COMMENT_MINUTES * 60_000).await? {
        Some(row) => {
            events::record(conn, account_id, kind::SURVEY_COMMENTED, &SurveyRequest::from(&row), now).await?;
            Ok(Some((SurveyReply::Comment, None)))
        }
        None => Ok(None),
    }
}

/// Records a vote given directly (an integration's API, the web chat's stars) rather than as a
/// reply to a survey sent: it answers the pending survey, else one of the channel's survey
/// recorded as answered, with `survey.answered`, and becomes the conversation's `survey`.
pub async fn rate(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    rating: i64,
    comment: Option<String>,
) -> Result<SurveyRequest> {
    if !(1..=5).contains(&rating) {
        return Err(Error::field("survey", "must be a vote from 1 to 5"));
    }
    let comment =
        comment.map(|c| c.trim().chars().take(MAX_COMMENT_CHARS).collect::<String>()).filter(|c| !c.is_empty());
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    let conversation = conversations::find_conversation(&mut *tx, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let row = match surveys::answer(&mut tx, conversation_id, rating, now).await? {
        Some(row) => match &comment {
            Some(comment) => surveys::add_comment(&mut tx, conversation_id, comment, now).await?.unwrap_or(row),
            None => row,
        },
        None => {
            let channel = channels::find_channel_any(&mut *tx, conversation.channel_id).await?;
            let survey = survey_for(&mut tx, account_id, channel.and_then(|c| c.survey_id)).await?;
            let new = request_of(&mut tx, &conversation, survey.id, now).await?;
            surveys::insert_answered(&mut tx, &new, rating, comment.as_deref(), now).await?
        }
    };
    conversations::set_rating(&mut tx, conversation_id, rating, now).await?;
    events::record(&mut tx, account_id, kind::SURVEY_ANSWERED, &SurveyRequest::from(&row), now).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(SurveyRequest::from(&row))
}

/// A survey to send by a job: the question, or its follow-up after the vote.
#[derive(Debug, Serialize, Deserialize)]
struct SurveyJob {
    account_id: i64,
    conversation_id: i64,
    follow_up: bool,
}

async fn queue_job(conn: &mut Conn, job: &SurveyJob, now: i64) -> Result<()> {
    let payload = serde_json::to_string(job).map_err(anyhow::Error::from)?;
    Ok(jobs::insert_job(conn, SURVEY_JOB, &payload, now, now).await?)
}

/// Queues the channel's survey when a conversation's status change calls for it (its channel
/// sends one on resolve or on close) and none was ever sent to it, in the change's transaction.
pub async fn queue_on_status(
    conn: &mut Conn,
    conversation: &ConversationRow,
    status: ConversationStatus,
    now: i64,
) -> Result<()> {
    if !matches!(status, ConversationStatus::Resolved | ConversationStatus::Closed) {
        return Ok(());
    }
    let Some(channel) = channels::find_channel_any(&mut *conn, conversation.channel_id).await? else { return Ok(()) };
    let due = match SurveySend::parse(&channel.survey_send) {
        Some(SurveySend::OnResolve) => true,
        Some(SurveySend::OnClose) => status == ConversationStatus::Closed,
        Some(SurveySend::Off) | None => false,
    };
    if !due || surveys::was_sent(&mut *conn, conversation.id).await? {
        return Ok(());
    }
    let job = SurveyJob { account_id: conversation.account_id, conversation_id: conversation.id, follow_up: false };
    queue_job(conn, &job, now).await
}

/// Runs a survey job: sends the channel's survey (unless one went out meanwhile) or the follow-up
/// question. A survey that cannot go out (the reply window closed without a template, the
/// customer opted out) is logged and dropped: the status change stands.
pub async fn run_job(state: &AppState, row: &JobRow) -> Result<()> {
    let job: SurveyJob =
        serde_json::from_str(&row.payload).map_err(|e| anyhow::anyhow!("malformed {SURVEY_JOB} job: {e}"))?;
    let sent = match job.follow_up {
        true => send_follow_up(state, &job).await,
        false => send_channel_survey(state, &job).await,
    };
    match sent {
        Ok(()) => {}
        Err(e @ (Error::Invalid { .. } | Error::Conflict { .. } | Error::NotFound(_))) => {
            tracing::info!(conversation = job.conversation_id, error = %e, "survey not sent");
        }
        Err(e) => return Err(e),
    }
    Ok(jobs::finish_job(&state.db, row.id).await?)
}

async fn send_channel_survey(state: &AppState, job: &SurveyJob) -> Result<()> {
    let reader = state.db.reader();
    if surveys::was_sent(reader, job.conversation_id).await? {
        return Ok(());
    }
    let conversation = conversations::find_conversation(reader, job.account_id, job.conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let channel = channels::find_channel_any(reader, conversation.channel_id).await?;
    let mut tx = state.db.begin().await?;
    let survey = survey_for(&mut tx, job.account_id, channel.and_then(|c| c.survey_id)).await?;
    tx.commit().await?;
    send_survey(state, job.account_id, job.conversation_id, &Survey::from(&survey)).await.map(|_| ())
}

/// Asks the follow-up question of the survey the customer just voted on, in their language.
async fn send_follow_up(state: &AppState, job: &SurveyJob) -> Result<()> {
    let reader = state.db.reader();
    let Some(request) = surveys::latest_answered(reader, job.conversation_id).await? else { return Ok(()) };
    let survey = Survey::from(&find(state, job.account_id, request.survey_id).await?);
    let Some(follow_ups) = survey.follow_ups.filter(|_| request.comment.is_none()) else { return Ok(()) };
    // The language the survey asked in: that of the question sent, else the customer's.
    let asked = match request.message_id {
        Some(id) => messages::find_message(reader, id).await?,
        None => None,
    };
    let asked_text = asked.map(|m| {
        let choices =
            m.payload_object().get("choices").and_then(|c| c.get("text")).and_then(Value::as_str).map(str::to_owned);
        choices.or(m.text).unwrap_or_default()
    });
    let asked_in = asked_text.and_then(|text| {
        survey.questions.iter().find(|(_, question)| text.starts_with(question.as_str())).map(|(code, _)| code.clone())
    });
    let language = match asked_in.filter(|code| follow_ups.contains_key(code)) {
        Some(code) => code,
        None => {
            let latest = messages::latest_inbound_text(reader, job.conversation_id).await?.unwrap_or_default();
            let languages: Vec<String> = follow_ups.keys().cloned().collect();
            answer_language(&latest, &languages).to_owned()
        }
    };
    let mut outgoing = Outgoing { text: follow_ups.get(&language).cloned(), survey: true, ..Outgoing::default() };
    outgoing.extra = Map::from_iter([("survey_id".to_owned(), Value::from(survey.id))]);
    outbound::send(state, job.account_id, job.conversation_id, outgoing).await.map(|_| ())
}

/// What the results count.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResultQuery {
    pub survey_id: Option<i64>,
    pub channel_id: Option<i64>,
    /// The virtual agent that had (or last answered) the conversation when the survey was sent.
    pub virtual_agent_id: Option<i64>,
    /// The operator assigned when the survey was sent.
    pub operator_id: Option<i64>,
    /// The team of the conversation when the survey was sent.
    pub team_id: Option<i64>,
    /// Surveys sent from this time on (RFC 3339).
    pub from: Option<String>,
    /// Surveys sent before this time (RFC 3339).
    pub to: Option<String>,
}

impl ResultQuery {
    fn filter(self) -> Result<ResultFilter> {
        let time = |value: Option<String>, name: &str| {
            value.map(|v| parse_timestamp(&v).ok_or_else(|| Error::field(name, "must be an RFC 3339 time"))).transpose()
        };
        Ok(ResultFilter {
            survey_id: self.survey_id,
            channel_id: self.channel_id,
            virtual_agent_id: self.virtual_agent_id,
            operator_id: self.operator_id,
            team_id: self.team_id,
            from: time(self.from, "from")?,
            to: time(self.to, "to")?,
        })
    }
}

/// One day of results (UTC).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ResultDay {
    /// The day, `YYYY-MM-DD`.
    pub date: String,
    pub sent: i64,
    pub answered: i64,
    pub response_rate: f64,
    pub average: Option<f64>,
}

/// The results of surveys sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SurveyResults {
    pub sent: i64,
    pub answered: i64,
    /// Answered out of sent, 0 to 1.
    pub response_rate: f64,
    /// The mean vote, when any.
    pub average: Option<f64>,
    /// How many of each vote, `"1"` to `"5"`.
    pub distribution: BTreeMap<String, i64>,
    /// The same per day the surveys were sent, oldest first.
    pub days: Vec<ResultDay>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Counts sent surveys, answers and votes, in all and per day.
pub async fn results(state: &AppState, account_id: i64, query: ResultQuery) -> Result<SurveyResults> {
    let filter = query.filter()?;
    let reader = state.db.reader();
    let tally = surveys::tally(reader, account_id, &filter).await?;
    let days = surveys::daily(reader, account_id, &filter)
        .await?
        .into_iter()
        .map(|(day, sent, answered, total)| ResultDay {
            date: to_rfc3339(day * 86_400_000)[..10].to_owned(),
            sent,
            answered,
            response_rate: ratio(answered, sent).unwrap_or(0.0),
            average: ratio(total, answered),
        })
        .collect();
    let mut distribution: BTreeMap<String, i64> = (1..=5).map(|vote| (vote.to_string(), 0)).collect();
    let (mut sent, mut answered, mut total) = (0, 0, 0);
    for (rating, count) in tally {
        sent += count;
        if let Some(rating) = rating {
            answered += count;
            total += rating * count;
            *distribution.entry(rating.to_string()).or_default() += count;
        }
    }
    Ok(SurveyResults {
        sent,
        answered,
        response_rate: ratio(answered, sent).unwrap_or(0.0),
        average: ratio(total, answered),
        distribution,
        days,
    })
}

/// The most rows a CSV export holds.
pub const CSV_ROWS: i64 = 100_000;

/// The surveys sent matching the query as CSV, newest first (at most [`CSV_ROWS`]): one line
/// each with its conversation, customer, who had it, outcome, vote and comment.
pub async fn results_csv(state: &AppState, account_id: i64, query: ResultQuery) -> Result<String> {
    let filter = query.filter()?;
    let rows = surveys::list_requests(state.db.reader(), account_id, &filter, CSV_ROWS).await?;
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "survey_id",
        "conversation_id",
        "channel_id",
        "customer",
        "virtual_agent_id",
        "operator_id",
        "team_id",
        "status",
        "rating",
        "comment",
        "sent_at",
        "answered_at",
    ];
    let csv_error = |e: csv::Error| Error::Internal(anyhow::Error::from(e));
    out.write_record(header).map_err(csv_error)?;
    let id = |value: Option<i64>| value.map(|v| v.to_string()).unwrap_or_default();
    for (row, customer) in rows {
        out.write_record([
            row.id.to_string(),
            row.survey_id.to_string(),
            row.conversation_id.to_string(),
            row.channel_id.to_string(),
            customer.unwrap_or_default(),
            id(row.virtual_agent_id),
            id(row.operator_id),
            id(row.team_id),
            row.status,
            id(row.rating),
            row.comment.unwrap_or_default(),
            to_rfc3339(row.sent_at),
            row.answered_at.map(to_rfc3339).unwrap_or_default(),
        ])
        .map_err(csv_error)?;
    }
    let bytes = out.into_inner().map_err(|e| Error::Internal(anyhow::anyhow!("{e}")))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
