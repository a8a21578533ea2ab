//! RCS messages as the seed platform writes them (`{"type": "TEXT" | "CARD" | "CAROUSEL", "body":
//! {…}}`, with suggestions and an SMS fallback), turned into Parley's content; and saved ones
//! (templates) an account sends by id.
//!
//! - TEXT: `{"text", "suggestions"?}`.
//! - CARD: `{"title", "description"?, "mediaUrl"?, "mediaHeight"?, "orientation"?,
//!   "thumbnailAlignment"?, "suggestions"?}`.
//! - CAROUSEL: `{"cardWidth"?, "cards": [card…]}` (2 to 10).
//! - A suggestion: `{"type": "reply" | "url" | "dial" | "coordinates" | "location" | "calendar",
//!   "text", "postbackData"?, "url": {"url"}, "dial": {"phoneNumber"}, "coordinates": {"latitude",
//!   "longitude", "label"?}, "calendar": {"title", "description"?, "startTime", "endTime"}}`.
//! - `fallbackSms`: `{"sender", "text"}`: sent as SMS when the RCS message fails.
//!
//! `{name}` placeholders are filled in every text.

use serde::Serialize;
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

use crate::domain::content;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::error::{Error, Result};
use crate::service::outbound::FallbackStep;
use crate::state::AppState;
use crate::store::rcs_templates::{self, RcsTemplateRow, TemplateFields};

/// An RCS message as Parley sends it.
#[derive(Debug, Default)]
pub struct RcsContent {
    pub text: Option<String>,
    /// Structured content (`choices` or `cards`).
    pub payload: Map<String, Value>,
    /// The SMS to send instead if it fails.
    pub fallback_sms: Option<FallbackStep>,
}

/// The message types.
const TYPES: [&str; 3] = ["TEXT", "CARD", "CAROUSEL"];

/// Fills `{name}` placeholders; unknown ones stay as written.
pub fn fill(text: &str, placeholders: &Map<String, Value>) -> String {
    placeholders.iter().fold(text.to_owned(), |text, (name, value)| {
        let value = match value {
            Value::String(v) => v.clone(),
            other => other.to_string(),
        };
        text.replace(&format!("{{{name}}}"), &value)
    })
}

/// An RCS message of `kind` with this body, placeholders filled; the error names the field.
pub fn content(kind: &str, body: &Value, placeholders: &Map<String, Value>) -> Result<RcsContent> {
    let kind = kind.to_ascii_uppercase();
    let object = body.as_object().ok_or_else(|| Error::field("body.body", "must be an object"))?;
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(|value| fill(value, placeholders));
    let mut content = RcsContent::default();
    match kind.as_str() {
        "TEXT" => {
            let body_text = text("text")
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| Error::field("body.body.text", "is required"))?;
            let options = suggestions(object.get("suggestions"), "body.body.suggestions", placeholders)?;
            match options.is_empty() {
                true => content.text = Some(body_text),
                false => {
                    content.payload.insert("choices".to_owned(), json!({ "text": body_text, "options": options }));
                }
            }
        }
        "CARD" => {
            let card = card(object, "body.body", placeholders)?;
            let mut cards = json!({ "items": [card] });
            for (from, to) in [("orientation", "orientation"), ("thumbnailAlignment", "image_alignment")] {
                if let Some(value) = object.get(from) {
                    cards[to] = value.clone();
                }
            }
            content.payload.insert("cards".to_owned(), cards);
        }
        "CAROUSEL" => {
            let list = object
                .get("cards")
                .and_then(Value::as_array)
                .filter(|cards| (2..=10).contains(&cards.len()))
                .ok_or_else(|| Error::field("body.body.cards", "a carousel has 2 to 10 cards"))?;
            let mut items = Vec::new();
            for (index, item) in list.iter().enumerate() {
                let item = item
                    .as_object()
                    .ok_or_else(|| Error::field(&format!("body.body.cards[{index}]"), "must be an object"))?;
                items.push(card(item, &format!("body.body.cards[{index}]"), placeholders)?);
            }
            let mut cards = json!({ "items": items });
            if let Some(width) = object.get("cardWidth") {
                cards["width"] = width.clone();
            }
            content.payload.insert("cards".to_owned(), cards);
        }
        _ => return Err(Error::field("body.type", format!("must be one of {}", TYPES.join(", ")))),
    }
    // The same checks as any message's content (card layouts, actions, limits).
    content::normalize_payload(&mut content.payload, content.text.as_deref())
        .map_err(|problem| Error::field(&problem.field, problem.detail))?;
    if let Some(fallback) = object.get("fallbackSms").filter(|value| !value.is_null()) {
        let sms = |name: &str| fallback.get(name).and_then(Value::as_str).map(|value| fill(value, placeholders));
        let text = sms("text")
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| Error::field("body.body.fallbackSms.text", "is required"))?;
        let sender = sms("sender").ok_or_else(|| Error::field("body.body.fallbackSms.sender", "is required"))?;
        content.fallback_sms =
            Some(FallbackStep { kind: "sms".to_owned(), channel: Some(sender), text, max_sms_parts: None });
    }
    Ok(content)
}

/// A card in Parley's shape.
fn card(object: &Map<String, Value>, at: &str, placeholders: &Map<String, Value>) -> Result<Value> {
    let text = |name: &str| object.get(name).and_then(Value::as_str).map(|value| fill(value, placeholders));
    let title = text("title")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| Error::field(&format!("{at}.title"), "is required"))?;
    let mut card = json!({ "title": title });
    if let Some(description) = text("description") {
        card["subtitle"] = json!(description);
    }
    if let Some(media) = text("mediaUrl") {
        card["image_url"] = json!(media);
    }
    if let Some(height) = object.get("mediaHeight") {
        card["media_height"] = height.clone();
    }
    let buttons: Vec<Value> = suggestions(object.get("suggestions"), &format!("{at}.suggestions"), placeholders)?
        .into_iter()
        .map(|mut option| {
            if let Some(id) = option.as_object_mut().and_then(|o| o.remove("id")) {
                if option.as_object().is_some_and(|o| o.len() == 1) {
                    option["payload"] = id;
                }
            }
            option
        })
        .collect();
    if !buttons.is_empty() {
        card["buttons"] = json!(buttons);
    }
    Ok(card)
}

/// Suggestions as Parley's choice options (`{id, title, action…}`).
fn suggestions(list: Option<&Value>, at: &str, placeholders: &Map<String, Value>) -> Result<Vec<Value>> {
    let Some(list) = list.filter(|list| !list.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| Error::field(at, "must be a list"))?;
    let mut options = Vec::new();
    for (index, suggestion) in list.iter().enumerate() {
        let field = |name: &str| format!("{at}[{index}].{name}");
        let label = suggestion["text"].as_str().map(|t| fill(t, placeholders)).filter(|t| !t.trim().is_empty());
        let label = label.ok_or_else(|| Error::field(&field("text"), "is required"))?;
        let postback = suggestion["postbackData"].as_str().unwrap_or(&label).to_owned();
        let mut option = json!({ "id": postback, "title": label });
        let kind = suggestion["type"].as_str().unwrap_or("reply").to_ascii_lowercase();
        match kind.as_str() {
            "reply" => {}
            "url" => option["url"] = suggestion["url"]["url"].clone(),
            "dial" => option["dial"] = suggestion["dial"]["phoneNumber"].clone(),
            "coordinates" => {
                let place = &suggestion["coordinates"];
                option["view_location"] =
                    json!({ "latitude": place["latitude"], "longitude": place["longitude"], "label": place["label"] });
            }
            "location" => option["share_location"] = json!(true),
            "calendar" => {
                let event = &suggestion["calendar"];
                option["calendar"] = json!({ "title": event["title"], "description": event["description"],
                    "start_time": event["startTime"], "end_time": event["endTime"] });
            }
            other => return Err(Error::field(&field("type"), format!("unknown suggestion type `{other}`"))),
        }
        if option.as_object().is_some_and(|o| o.values().any(Value::is_null)) {
            return Err(Error::field(&field(&kind), format!("a {kind} suggestion needs its `{kind}` object")));
        }
        options.push(option);
    }
    Ok(options)
}

/// A saved RCS message as the seed platform's API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = QlaraRcsTemplate)]
pub struct RcsTemplate {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// TEXT, CARD or CAROUSEL.
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub body: Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&RcsTemplateRow> for RcsTemplate {
    fn from(row: &RcsTemplateRow) -> Self {
        RcsTemplate {
            id: row.id,
            name: row.name.clone(),
            description: row.description.clone(),
            kind: row.kind.clone(),
            body: serde_json::from_str(&row.body).unwrap_or(Value::Null),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// A template's fields as given.
#[derive(Debug)]
pub struct NewRcsTemplate {
    pub name: String,
    pub description: String,
    pub kind: String,
    pub body: Value,
}

/// Checks a template: a name and description, and a body that makes an RCS message.
fn check(new: &NewRcsTemplate) -> Result<String> {
    if new.name.trim().is_empty() || new.name.chars().count() > 255 {
        return Err(Error::field("name", "must be 1 to 255 characters"));
    }
    if new.description.trim().is_empty() || new.description.chars().count() > 1024 {
        return Err(Error::field("description", "must be 1 to 1024 characters"));
    }
    let kind = new.kind.to_ascii_uppercase();
    content(&kind, &new.body, &Map::new())?;
    Ok(kind)
}

fn taken(error: sqlx::Error) -> Error {
    match &error {
        sqlx::Error::Database(e) if e.is_unique_violation() => {
            Error::conflict("template_name_taken", "the account already has an RCS template with this name")
        }
        _ => Error::Database(error),
    }
}

/// Saves a new template.
pub async fn create(state: &AppState, account_id: i64, new: NewRcsTemplate) -> Result<RcsTemplate> {
    let kind = check(&new)?;
    let body = new.body.to_string();
    let fields = TemplateFields { name: new.name.trim(), description: &new.description, kind: &kind, body: &body };
    let mut tx = state.db.begin().await?;
    let row = rcs_templates::insert(&mut tx, account_id, &fields, now_ms()).await.map_err(taken)?;
    tx.commit().await?;
    Ok(RcsTemplate::from(&row))
}

/// Replaces a template.
pub async fn update(state: &AppState, account_id: i64, id: i64, new: NewRcsTemplate) -> Result<RcsTemplate> {
    let kind = check(&new)?;
    let body = new.body.to_string();
    let fields = TemplateFields { name: new.name.trim(), description: &new.description, kind: &kind, body: &body };
    let mut tx = state.db.begin().await?;
    let row = rcs_templates::update(&mut tx, account_id, id, &fields, now_ms())
        .await
        .map_err(taken)?
        .ok_or(Error::NotFound("template"))?;
    tx.commit().await?;
    Ok(RcsTemplate::from(&row))
}

/// The account's templates.
pub async fn list(state: &AppState, account_id: i64) -> Result<Vec<RcsTemplate>> {
    Ok(rcs_templates::list(state.db.reader(), account_id).await?.iter().map(RcsTemplate::from).collect())
}

/// One template.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<RcsTemplate> {
    let row = rcs_templates::find(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("template"))?;
    Ok(RcsTemplate::from(&row))
}

/// Deletes a template.
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    if !rcs_templates::delete(&mut tx, account_id, id).await? {
        return Err(Error::NotFound("template"));
    }
    tx.commit().await?;
    Ok(())
}
