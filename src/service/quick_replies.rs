//! Quick replies: saved answers with `{{variables}}`, optional file and reply buttons, one text
//! per language, for the whole account or one team or network. The composer lists those that fit
//! a conversation, filled for it, in the customer's language.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::domain::quick_replies::{fill, shortcode};
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::quick_replies::{self, QuickReplyFields, QuickReplyRow};
use crate::store::{accounts, contacts, conversations, media, messages, teams};

/// The longest text of a quick reply.
const MAX_TEXT_CHARS: usize = 4096;

/// The most buttons one quick reply carries, and their longest title (WhatsApp's limits for reply
/// buttons: three of 20 characters).
const MAX_BUTTONS: usize = 3;
const MAX_BUTTON_CHARS: usize = 20;

/// A quick reply as given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuickReply {
    /// What the operator types after `/` (letters, digits, `-`, `_`; stored lower-case).
    pub shortcode: String,
    /// The customer language this variant is for (`it`, `en_US`…); none for any language.
    pub language: Option<String>,
    /// The text, with `{{contact.name}}`, `{{contact.first_name}}`, `{{operator.name}}`,
    /// `{{conversation.id}}` and `{{contact.<attribute>}}` filled when it is used.
    pub text: String,
    /// A file sent with it (an uploaded media key).
    pub media_key: Option<String>,
    /// Reply buttons (suggestion chips on RCS), at most 3 of 20 characters.
    #[serde(default)]
    pub buttons: Vec<String>,
    /// Only in conversations of this team.
    pub team_id: Option<i64>,
    /// Only on channels of this network.
    pub channel_kind: Option<ChannelKind>,
}

/// Changes to a quick reply: absent fields stay, `null` clears an optional one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickReplyPatch {
    pub shortcode: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    pub language: Option<Option<String>>,
    pub text: Option<String>,
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    pub media_key: Option<Option<String>>,
    pub buttons: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    pub team_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "crate::http::extract::double_option")]
    pub channel_kind: Option<Option<ChannelKind>>,
}

/// A quick reply.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QuickReply {
    pub id: i64,
    pub shortcode: String,
    /// `null` for any language.
    pub language: Option<String>,
    pub text: String,
    pub media_key: Option<String>,
    pub buttons: Vec<String>,
    pub team_id: Option<i64>,
    pub channel_kind: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&QuickReplyRow> for QuickReply {
    fn from(row: &QuickReplyRow) -> Self {
        QuickReply {
            id: row.id,
            shortcode: row.shortcode.clone(),
            language: Some(row.language.clone()).filter(|language| !language.is_empty()),
            text: row.text.clone(),
            media_key: row.media_key.clone(),
            buttons: serde_json::from_str(&row.buttons).unwrap_or_default(),
            team_id: row.team_id,
            channel_kind: row.channel_kind.clone(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// A quick reply filled for one conversation: the message the composer sends (after the operator's
/// edits).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FilledQuickReply {
    #[serde(flatten)]
    pub quick_reply: QuickReply,
    /// The text with its variables filled.
    pub filled_text: String,
    /// The message's structured content (`{"choices": {"options": […]}}` for buttons), as
    /// `POST /api/v1/conversations/{id}/messages` takes it; `null` without buttons, or where the
    /// conversation's network takes none.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

/// The checked fields of a quick reply.
struct Checked {
    shortcode: String,
    language: String,
    text: String,
    media_key: Option<String>,
    buttons: String,
    team_id: Option<i64>,
    channel_kind: Option<&'static str>,
}

impl Checked {
    fn fields(&self) -> QuickReplyFields<'_> {
        QuickReplyFields {
            shortcode: &self.shortcode,
            language: &self.language,
            text: &self.text,
            media_key: self.media_key.as_deref(),
            buttons: &self.buttons,
            team_id: self.team_id,
            channel_kind: self.channel_kind,
        }
    }
}

async fn check(state: &AppState, account_id: i64, new: NewQuickReply) -> Result<Checked> {
    let code = shortcode(&new.shortcode)
        .ok_or_else(|| Error::field("shortcode", "must be 1 to 32 letters, digits, - or _"))?;
    let language = new.language.map(|l| l.trim().to_owned()).unwrap_or_default();
    let language_ok = language.is_empty()
        || (language.len() <= 8
            && language.len() >= 2
            && language.chars().all(|c| c.is_ascii_alphabetic() || c == '_'));
    if !language_ok {
        return Err(Error::field("language", "must be a language code such as it or en_US"));
    }
    let text = new.text.trim().to_owned();
    if text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
        return Err(Error::field("text", "must be 1 to 4096 characters"));
    }
    let buttons: Vec<String> = new.buttons.iter().map(|b| b.trim().to_owned()).collect();
    if buttons.len() > MAX_BUTTONS || buttons.iter().any(|b| b.is_empty() || b.chars().count() > MAX_BUTTON_CHARS) {
        return Err(Error::field("buttons", "at most 3 buttons of 1 to 20 characters"));
    }
    let db = state.db.reader();
    if let Some(key) = &new.media_key {
        if media::count_owned(db, account_id, std::slice::from_ref(key)).await? != 1 {
            return Err(Error::field("media_key", "unknown media key"));
        }
    }
    if let Some(team) = new.team_id {
        teams::find_team(db, account_id, team).await?.ok_or_else(|| Error::field("team_id", "no such team"))?;
    }
    Ok(Checked {
        shortcode: code,
        language,
        text,
        media_key: new.media_key,
        buttons: serde_json::to_string(&buttons).map_err(anyhow::Error::from)?,
        team_id: new.team_id,
        channel_kind: new.channel_kind.map(ChannelKind::as_str),
    })
}

fn taken() -> Error {
    Error::conflict("quick_reply_exists", "a quick reply with this short code and language exists")
}

/// Adds a quick reply.
pub async fn create(state: &AppState, account_id: i64, new: NewQuickReply) -> Result<QuickReply> {
    let checked = check(state, account_id, new).await?;
    let mut tx = state.db.begin().await?;
    let row = quick_replies::insert(&mut tx, account_id, &checked.fields(), now_ms()).await?.ok_or_else(taken)?;
    tx.commit().await?;
    Ok(QuickReply::from(&row))
}

/// Changes a quick reply.
pub async fn update(state: &AppState, account_id: i64, id: i64, patch: QuickReplyPatch) -> Result<QuickReply> {
    let current = QuickReply::from(
        &quick_replies::find(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("quick reply"))?,
    );
    let new = NewQuickReply {
        shortcode: patch.shortcode.unwrap_or(current.shortcode),
        language: patch.language.unwrap_or(current.language),
        text: patch.text.unwrap_or(current.text),
        media_key: patch.media_key.unwrap_or(current.media_key),
        buttons: patch.buttons.unwrap_or(current.buttons),
        team_id: patch.team_id.unwrap_or(current.team_id),
        channel_kind: match patch.channel_kind {
            Some(kind) => kind,
            None => current.channel_kind.as_deref().and_then(ChannelKind::parse),
        },
    };
    let checked = check(state, account_id, new).await?;
    let mut tx = state.db.begin().await?;
    let clash = quick_replies::variants(&mut *tx, account_id, &checked.shortcode).await?;
    if clash.iter().any(|other| other.id != id && other.language == checked.language) {
        return Err(taken());
    }
    let row = quick_replies::update(&mut tx, account_id, id, &checked.fields(), now_ms())
        .await?
        .ok_or(Error::NotFound("quick reply"))?;
    tx.commit().await?;
    Ok(QuickReply::from(&row))
}

pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<QuickReply> {
    let row = quick_replies::find(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("quick reply"))?;
    Ok(QuickReply::from(&row))
}

pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !quick_replies::delete(&mut tx, account_id, id).await? {
        return Err(Error::NotFound("quick reply"));
    }
    tx.commit().await?;
    Ok(())
}

/// Every quick reply of the account, by short code and language.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<QuickReply>> {
    Ok(quick_replies::list(state.db.reader(), account_id).await?.iter().map(QuickReply::from).collect())
}

/// The quick replies that fit a conversation (its team, its network), one per short code in the
/// customer's language (their contact's `language` attribute, else the language of their latest
/// message; the variant for any language otherwise), filled for the conversation and
/// `operator_id` (who writes).
pub async fn for_conversation(
    state: &AppState,
    account_id: i64,
    conversation_id: i64,
    operator_id: Option<i64>,
) -> Result<Vec<FilledQuickReply>> {
    let db = state.db.reader();
    let conversation = conversations::find_conversation(db, account_id, conversation_id)
        .await?
        .ok_or(Error::NotFound("conversation"))?;
    let kind = crate::store::channels::find_channel(db, account_id, conversation.channel_id)
        .await?
        .map(|channel| channel.kind)
        .unwrap_or_default();
    let contact = contacts::find_contact(db, account_id, conversation.contact_id).await?;
    let attributes: Map<String, Value> = contact
        .as_ref()
        .and_then(|contact| serde_json::from_str::<Value>(&contact.attributes).ok())
        .and_then(|value| value.as_object().cloned())
        .unwrap_or_default();
    let operator = match operator_id {
        Some(id) => accounts::find_operator(db, account_id, id).await?.map(|operator| operator.name),
        None => None,
    };
    let takes_buttons = crate::channels::capabilities_of(&kind).content.contains(&"choices");
    let mut by_code: BTreeMap<String, Vec<QuickReplyRow>> = BTreeMap::new();
    for row in quick_replies::list(db, account_id).await? {
        let fits = row.team_id.is_none_or(|team| conversation.team_id == Some(team))
            && row.channel_kind.as_ref().is_none_or(|only| *only == kind);
        if fits {
            by_code.entry(row.shortcode.clone()).or_default().push(row);
        }
    }
    let stated = attributes.get("language").and_then(Value::as_str).map(str::to_owned);
    let latest = match (&stated, by_code.values().any(|variants| variants.len() > 1)) {
        (None, true) => messages::latest_inbound_text(db, conversation.id).await?,
        _ => None,
    };
    let name = contact.as_ref().and_then(|contact| contact.name.clone());
    let value = |variable: &str| -> Option<String> {
        match variable {
            "contact.name" => name.clone(),
            "contact.first_name" => name.as_deref().and_then(|n| n.split_whitespace().next()).map(str::to_owned),
            "operator.name" => operator.clone(),
            "conversation.id" => Some(conversation.id.to_string()),
            other => other.strip_prefix("contact.").and_then(|key| match attributes.get(key)? {
                Value::String(text) => Some(text.clone()),
                Value::Null => None,
                value => Some(value.to_string()),
            }),
        }
    };
    Ok(by_code
        .into_values()
        .filter_map(|variants| {
            let row = pick_variant(&variants, stated.as_deref(), latest.as_deref())?;
            let filled_text = fill(&row.text, value);
            let quick_reply = QuickReply::from(row);
            let payload = (takes_buttons && !quick_reply.buttons.is_empty()).then(|| {
                let options: Vec<Value> = quick_reply
                    .buttons
                    .iter()
                    .enumerate()
                    .map(|(n, title)| json!({"id": format!("{}-{}", quick_reply.shortcode, n + 1), "title": title}))
                    .collect();
                json!({"choices": {"options": options}})
            });
            Some(FilledQuickReply { quick_reply, filled_text, payload })
        })
        .collect())
}

/// The variant for the customer: their stated language (or its base, `it` for `it_IT`), else the
/// one their latest message looks written in, else the variant for any language, else the first.
fn pick_variant<'a>(
    variants: &'a [QuickReplyRow],
    stated: Option<&str>,
    latest: Option<&str>,
) -> Option<&'a QuickReplyRow> {
    let base = |language: &str| language.split(['_', '-']).next().unwrap_or_default().to_lowercase();
    let matching =
        |language: &str| variants.iter().find(|row| !row.language.is_empty() && base(&row.language) == base(language));
    if let Some(found) = stated.and_then(matching) {
        return Some(found);
    }
    let languages: Vec<String> =
        variants.iter().filter(|row| !row.language.is_empty()).map(|row| base(&row.language)).collect();
    let guessed = latest.and_then(|text| crate::domain::knowledge::guess_language(text, &languages));
    guessed.and_then(matching).or_else(|| variants.iter().find(|row| row.language.is_empty())).or(variants.first())
}
