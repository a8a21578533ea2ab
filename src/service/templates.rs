//! Message templates per channel, on networks whose capabilities say `templates`. When the
//! channel's adapter reaches a template account (WhatsApp: a live channel with `waba_id`), creating
//! a template submits it for review and keeps the provider's status (usually PENDING); sync reads
//! the provider's list. Otherwise templates are kept locally and approved at once (nothing reviews
//! them). Status updates arrive as inbound events (`TemplateStatus`).

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::channels::{self as adapters, Channel, Failure, ProviderTemplate};
use crate::domain::content::placeholder_count;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::ChannelKind;
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::channels::{self, ChannelRow};
use crate::store::templates::{self, TemplateRow};
use crate::store::Conn;

/// Meta's status of a template that may be sent.
pub const APPROVED: &str = "APPROVED";

/// A message template as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Template {
    pub id: i64,
    pub channel_id: i64,
    pub name: String,
    pub language: String,
    pub category: String,
    /// Meta's review status: APPROVED, PENDING, REJECTED, PAUSED, DISABLED…
    pub status: String,
    /// Meta's component list (HEADER, BODY, FOOTER, BUTTONS).
    #[schema(value_type = Vec<Object>)]
    pub components: Value,
    /// Meta's id for the template, when it came from or went to Meta.
    pub provider_template_id: Option<String>,
    /// Why Meta rejected or paused it.
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&TemplateRow> for Template {
    fn from(row: &TemplateRow) -> Self {
        Template {
            id: row.id,
            channel_id: row.channel_id,
            name: row.name.clone(),
            language: row.language.clone(),
            category: row.category.clone(),
            status: row.status.clone(),
            components: serde_json::from_str(&row.components).unwrap_or(Value::Array(Vec::new())),
            provider_template_id: row.provider_template_id.clone(),
            reason: row.reason.clone(),
            created_at: to_rfc3339(row.created_at),
            updated_at: to_rfc3339(row.updated_at),
        }
    }
}

/// A template to create.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Vec<Value>,
}

/// The account's channel with templates, and its adapter.
async fn template_channel(
    state: &AppState,
    account_id: i64,
    channel_id: i64,
) -> Result<(ChannelRow, Option<&'static dyn Channel>)> {
    let channel =
        channels::find_channel(state.db.reader(), account_id, channel_id).await?.ok_or(Error::NotFound("channel"))?;
    if !adapters::capabilities_of(&channel.kind).templates {
        return Err(Error::conflict("templates_unsupported", "this channel's network has no message templates"));
    }
    let adapter = ChannelKind::parse(&channel.kind).and_then(adapters::adapter);
    Ok((channel, adapter))
}

fn provider_error(failure: Failure) -> Error {
    let detail = match failure {
        Failure::Permanent { code, text } => format!("the provider refused it ({code}): {text}"),
        Failure::Transient(text) => format!("the provider is unavailable: {text}"),
    };
    Error::conflict("provider_error", detail)
}

fn validate(new: &NewTemplate) -> Result<()> {
    let name_ok = (1..=512).contains(&new.name.len())
        && new.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok {
        return Err(Error::field("name", "lowercase letters, digits and underscores, at most 512"));
    }
    if new.language.trim().is_empty() {
        return Err(Error::field("language", "is required, such as en_US"));
    }
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&new.category.as_str()) {
        return Err(Error::field("category", "must be MARKETING, UTILITY or AUTHENTICATION"));
    }
    if !new.components.iter().any(|c| component_type(c) == "BODY") {
        return Err(Error::field("components", "a template needs a BODY component"));
    }
    Ok(())
}

fn component_type(component: &Value) -> String {
    component["type"].as_str().unwrap_or_default().to_ascii_uppercase()
}

/// A template as stored for a channel.
fn stored(account_id: i64, channel_id: i64, template: ProviderTemplate, now: i64) -> TemplateRow {
    TemplateRow {
        id: 0,
        account_id,
        channel_id,
        name: template.name,
        language: template.language,
        category: template.category,
        status: template.status,
        components: template.components.to_string(),
        provider_template_id: template.provider_template_id,
        reason: template.reason,
        created_at: now,
        updated_at: now,
    }
}

/// Creates a template: submitted for review when the channel's adapter reaches a template account,
/// otherwise stored as APPROVED.
pub async fn create(state: &AppState, account_id: i64, channel_id: i64, new: NewTemplate) -> Result<Template> {
    validate(&new)?;
    let (channel, adapter) = template_channel(state, account_id, channel_id).await?;
    if templates::find_by_name(state.db.reader(), channel.id, &new.name, &new.language).await?.is_some() {
        return Err(Error::conflict("template_exists", "this channel has a template with this name and language"));
    }
    let local = ProviderTemplate {
        name: new.name,
        language: new.language,
        category: new.category,
        status: APPROVED.to_owned(),
        components: Value::Array(new.components),
        provider_template_id: None,
        reason: None,
    };
    let submitted = match adapter {
        Some(adapter) => {
            adapter.submit_template(&state.provider_client, &channel, &local).await.map_err(provider_error)?
        }
        None => None,
    };
    let row = stored(account_id, channel.id, submitted.unwrap_or(local), now_ms());
    let mut tx = state.db.begin().await?;
    let row = templates::upsert(&mut tx, &row).await?;
    tx.commit().await?;
    Ok(Template::from(&row))
}

/// A channel's templates.
pub async fn list(state: &AppState, account_id: i64, channel_id: i64) -> Result<Vec<Template>> {
    let (channel, _) = template_channel(state, account_id, channel_id).await?;
    Ok(templates::list(state.db.reader(), channel.id).await?.iter().map(Template::from).collect())
}

/// One template.
pub async fn get(state: &AppState, account_id: i64, channel_id: i64, id: i64) -> Result<Template> {
    let (channel, _) = template_channel(state, account_id, channel_id).await?;
    let row = templates::find(state.db.reader(), channel.id, id).await?.ok_or(Error::NotFound("template"))?;
    Ok(Template::from(&row))
}

/// Deletes a template from Parley (Meta keeps its copy until removed in the WhatsApp Manager).
pub async fn delete(state: &AppState, account_id: i64, channel_id: i64, id: i64) -> Result<()> {
    let (channel, _) = template_channel(state, account_id, channel_id).await?;
    let mut tx = state.db.begin().await?;
    if !templates::delete(&mut tx, channel.id, id).await? {
        return Err(Error::NotFound("template"));
    }
    tx.commit().await?;
    Ok(())
}

/// Reads the provider's templates for the channel and upserts them by name and language.
pub async fn sync(state: &AppState, account_id: i64, channel_id: i64) -> Result<Vec<Template>> {
    let (channel, adapter) = template_channel(state, account_id, channel_id).await?;
    let listed = match adapter {
        Some(adapter) => adapter.list_templates(&state.provider_client, &channel).await.map_err(provider_error)?,
        None => None,
    };
    let listed = listed.ok_or_else(|| {
        Error::conflict(
            "template_account_missing",
            "sync needs a live channel connected to its template account (WhatsApp: settings.waba_id)",
        )
    })?;
    let now = now_ms();
    let mut tx = state.db.begin().await?;
    for template in listed {
        templates::upsert(&mut tx, &stored(account_id, channel.id, template, now)).await?;
    }
    tx.commit().await?;
    Ok(templates::list(state.db.reader(), channel.id).await?.iter().map(Template::from).collect())
}

/// Checks a template message before it is queued: the template must exist on the channel and be
/// APPROVED, and each component's parameters must match its placeholders (`{{1}}`…; a media
/// header takes one).
pub async fn check_send(conn: &mut Conn, channel_id: i64, template: &Map<String, Value>) -> Result<()> {
    let name = template.get("name").and_then(Value::as_str).unwrap_or_default();
    let language = template.get("language").and_then(|l| l.get("code")).and_then(Value::as_str).unwrap_or_default();
    let row = templates::find_by_name(&mut *conn, channel_id, name, language).await?.ok_or_else(|| {
        Error::field("payload.template.name", format!("this channel has no template `{name}` in `{language}`"))
    })?;
    if row.status != APPROVED {
        return Err(Error::field(
            "payload.template.name",
            format!("template `{name}` is {}, only APPROVED templates can be sent", row.status),
        ));
    }
    let defined: Vec<Value> = serde_json::from_str(&row.components).unwrap_or_default();
    let given = template.get("components").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    for part in ["HEADER", "BODY"] {
        let expected = defined.iter().find(|c| component_type(c) == part).map_or(0, |c| {
            match c["format"].as_str().map(str::to_ascii_uppercase).as_deref() {
                Some("TEXT") | None => placeholder_count(c["text"].as_str().unwrap_or_default()),
                Some(_) => 1,
            }
        });
        let sent = given
            .iter()
            .find(|c| component_type(c) == part)
            .and_then(|c| c["parameters"].as_array())
            .map_or(0, Vec::len);
        if expected != sent {
            return Err(Error::field(
                &format!("payload.template.components.{}", part.to_ascii_lowercase()),
                format!("template `{name}` expects {expected} {} parameter(s), got {sent}", part.to_ascii_lowercase()),
            ));
        }
    }
    Ok(())
}
