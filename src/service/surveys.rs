//! Satisfaction surveys: a question per language on a 1–5 scale, sent into a conversation where
//! the customer already is — a list to pick from on channels with choices, a question asking for
//! a number elsewhere — and the vote read from the reply (see `domain::surveys`): while a survey
//! is pending on a conversation, a reply that is a vote is recorded as the conversation's
//! `survey` (it does not reopen the conversation nor wake its agent); any other reply is an
//! ordinary message.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::domain::agents::answer_language;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::error::{Error, Result};
use crate::service::events::{self, kind};
use crate::service::outbound::{self, Outgoing};
use crate::state::AppState;
use crate::store::conversations;
use crate::store::surveys::{self, NewRequest, RequestRow, ResultFilter, SurveyRow};
use crate::store::{messages, Conn};

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

/// A satisfaction survey.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Survey {
    pub id: i64,
    pub name: String,
    /// The question per language (`en`, `it`, `pt`…); the customer's language picks one.
    pub questions: BTreeMap<String, String>,
    /// How long after sending a reply may still be a vote.
    pub window_hours: i64,
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
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// A survey to create.
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
}

/// Creates a survey.
pub async fn create(state: &AppState, account_id: i64, new: NewSurvey) -> Result<Survey> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(Error::field("name", "must be 1 to 200 characters"));
    }
    let questions = new.questions.unwrap_or_else(|| {
        DEFAULT_QUESTIONS.iter().map(|(language, text)| (language.to_string(), text.to_string())).collect()
    });
    let bad_language = |language: &String| language.len() < 2 || language.len() > 8;
    if questions.is_empty()
        || questions
            .iter()
            .any(|(language, text)| bad_language(language) || text.trim().is_empty() || text.len() > 1000)
    {
        return Err(Error::field("questions", "give the question (1 to 1000 characters) per language code"));
    }
    let window_hours = new.window_hours.unwrap_or(DEFAULT_WINDOW_HOURS);
    if !(1..=720).contains(&window_hours) {
        return Err(Error::field("window_hours", "must be 1 to 720"));
    }
    let questions = serde_json::to_string(&questions).map_err(anyhow::Error::from)?;
    let mut tx = state.db.begin().await?;
    let row = surveys::insert_survey(&mut tx, account_id, name, &questions, window_hours, now_ms()).await?;
    tx.commit().await?;
    Ok(Survey::from(&row))
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
/// as a list of votes where the channel has choices, else as a question asking for a number.
/// Sending rules are the conversation's (a closed WhatsApp window refuses free-form messages).
pub async fn send(state: &AppState, account_id: i64, conversation_id: i64, survey_id: i64) -> Result<SurveyRequest> {
    let survey = Survey::from(&find(state, account_id, survey_id).await?);
    let reader = state.db.reader();
    let conversation = conversations::find_conversation(reader, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let latest = messages::latest_inbound_text(reader, conversation_id).await?.unwrap_or_default();
    let languages: Vec<String> = survey.questions.keys().cloned().collect();
    let language = answer_language(&latest, &languages);
    let question = survey.questions.get(language).cloned().unwrap_or_default();
    let mut outgoing = Outgoing::default();
    if crate::channels::capabilities_of(&conversation.channel_kind).content.contains(&"choices") {
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
    let message = outbound::send(state, account_id, conversation_id, outgoing).await?;
    let now = now_ms();
    let expires_at = now + survey.window_hours * 3_600_000;
    let new = NewRequest {
        account_id,
        survey_id: survey.id,
        conversation_id,
        channel_id: conversation.channel_id,
        message_id: message.id,
        expires_at,
    };
    let mut tx = state.db.begin().await?;
    let row = surveys::insert_request(&mut tx, &new, now).await?;
    conversations::set_survey_due(&mut tx, conversation_id, expires_at).await?;
    tx.commit().await?;
    Ok(SurveyRequest::from(&row))
}

/// Records a customer's vote on the conversation's pending survey in the caller's transaction,
/// with its `survey.answered` event; false when no survey was pending.
pub async fn record_vote(conn: &mut Conn, account_id: i64, conversation_id: i64, rating: u8, now: i64) -> Result<bool> {
    let Some(row) = surveys::answer(conn, conversation_id, i64::from(rating), now).await? else {
        return Ok(false);
    };
    events::record(conn, account_id, kind::SURVEY_ANSWERED, &SurveyRequest::from(&row), now).await?;
    Ok(true)
}

/// What the results count.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ResultQuery {
    pub survey_id: Option<i64>,
    pub channel_id: Option<i64>,
    /// Surveys sent from this time on (RFC 3339).
    pub from: Option<String>,
    /// Surveys sent before this time (RFC 3339).
    pub to: Option<String>,
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
}

/// Counts sent surveys, answers and votes.
pub async fn results(state: &AppState, account_id: i64, query: ResultQuery) -> Result<SurveyResults> {
    let time = |value: Option<String>, name: &str| {
        value
            .map(|v| {
                crate::domain::time::parse_timestamp(&v).ok_or_else(|| Error::field(name, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    let filter = ResultFilter {
        survey_id: query.survey_id,
        channel_id: query.channel_id,
        from: time(query.from, "from")?,
        to: time(query.to, "to")?,
    };
    let tally = surveys::tally(state.db.reader(), account_id, &filter).await?;
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
    let ratio = |part: i64, whole: i64| (whole > 0).then(|| part as f64 / whole as f64);
    Ok(SurveyResults {
        sent,
        answered,
        response_rate: ratio(answered, sent).unwrap_or(0.0),
        average: ratio(total, answered),
        distribution,
    })
}
