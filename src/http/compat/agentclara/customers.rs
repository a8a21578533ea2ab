//! The platform's contacts (`/agentclara/contacts…`), which its conversations call customers
//! (`cust_…`): Parley's contacts, their tags and custom attributes. Translators to
//! `service::contacts` only.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{conversation_json, page_bounds, parse_id, success, AgentClara, Answer, Body, Failure, Query};
use crate::http::compat::{read_segment, Caller};
use crate::service::contacts::{self, ContactInput, ContactSummary};
use crate::service::conversations::{self, ConversationQuery};
use crate::state::AppState;
use crate::store::contacts::{ContactFilter, ContactOrder};

/// A contact's id in the path (`cust_…`); anything else names no contact.
pub struct ContactId(pub i64);

impl FromRequestParts<AppState> for ContactId {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Failure> {
        let id: String = read_segment::<AgentClara, String>(parts, state, "Contact").await?;
        parse_id(&id, "cust_").map(ContactId).ok_or_else(Failure::contact_not_found)
    }
}

/// A contact as the platform lists it.
fn contact_json(summary: &ContactSummary) -> Value {
    let contact = &summary.contact;
    json!({
        "id": format!("cust_{}", contact.id),
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "tags": contact.tags.clone().unwrap_or_default(),
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
        "last_conversation": summary.last_conversation_at,
    })
}

/// A single contact: its list fields, custom fields and how many conversations it has.
fn detail_json(summary: &ContactSummary) -> Value {
    let mut data = contact_json(summary);
    data["custom_fields"] = summary.contact.attributes.clone();
    data["conversation_count"] = json!(summary.conversation_count);
    data
}

/// The list's filters, order and page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
    offset: Option<i64>,
    search: Option<String>,
    tag: Option<String>,
    sort: Option<String>,
}

fn order(sort: Option<&str>) -> Answer<ContactOrder> {
    match sort.unwrap_or("created") {
        "created" => Ok(ContactOrder::Created),
        "updated" => Ok(ContactOrder::Updated),
        "name" => Ok(ContactOrder::Name),
        _ => Err(Failure::bad_request("Invalid sort: must be created, updated or name")),
    }
}

/// Text that counts as given, trimmed.
fn given(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|text| !text.is_empty())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ListQuery>,
) -> Answer<(StatusCode, Json<Value>)> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 25)?;
    let tag = given(query.tag.as_deref()).map(str::to_lowercase);
    let filter = ContactFilter {
        search: given(query.search.as_deref()),
        tag: tag.as_deref(),
        order: order(query.sort.as_deref())?,
        limit,
        offset,
    };
    let found = contacts::page(&state, caller.account_id, &filter).await?;
    Ok(success(StatusCode::OK, Value::Array(found.iter().map(contact_json).collect())))
}

/// A search of the contacts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    limit: Option<i64>,
}

pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<SearchQuery>,
) -> Answer<(StatusCode, Json<Value>)> {
    let text = given(query.q.as_deref()).ok_or_else(|| Failure::missing("q"))?;
    let (limit, _) = page_bounds(query.limit, None, 10)?;
    let filter = ContactFilter { search: Some(text), tag: None, order: ContactOrder::Name, limit, offset: 0 };
    let found = contacts::page(&state, caller.account_id, &filter).await?;
    Ok(success(StatusCode::OK, Value::Array(found.iter().map(contact_json).collect())))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ContactId(id): ContactId,
) -> Answer<(StatusCode, Json<Value>)> {
    let summary = contacts::summary(&state, caller.account_id, id).await?;
    Ok(success(StatusCode::OK, detail_json(&summary)))
}

/// A contact's fields; absent ones stay as they are on update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    tags: Option<Vec<String>>,
    custom_fields: Option<Value>,
}

impl ContactBody {
    /// The fields as Parley's contact takes them; custom fields are merged into the attributes
    /// the contact has (`current`).
    fn into_input(self, current: Option<&Value>) -> Answer<ContactInput> {
        let attributes = match self.custom_fields {
            Some(Value::Object(fields)) => {
                let mut merged: Map<String, Value> = current.and_then(Value::as_object).cloned().unwrap_or_default();
                merged.extend(fields);
                Some(Value::Object(merged))
            }
            Some(_) => return Err(Failure::bad_request("Invalid custom_fields: must be an object")),
            None => None,
        };
        Ok(ContactInput {
            name: self.name,
            email: self.email,
            phone: self.phone,
            tags: self.tags,
            attributes,
            ..ContactInput::default()
        })
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<ContactBody>,
) -> Answer<(StatusCode, Json<Value>)> {
    if given(body.name.as_deref()).is_none() {
        return Err(Failure::missing("name"));
    }
    let created = contacts::create(&state, caller.account_id, body.into_input(None)?).await?;
    let summary = contacts::summary(&state, caller.account_id, created.id).await?;
    Ok(success(StatusCode::CREATED, detail_json(&summary)))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ContactId(id): ContactId,
    Body(body): Body<ContactBody>,
) -> Answer<(StatusCode, Json<Value>)> {
    let current = contacts::get(&state, caller.account_id, id).await?;
    contacts::update(&state, caller.account_id, id, body.into_input(Some(&current.attributes))?).await?;
    let summary = contacts::summary(&state, caller.account_id, id).await?;
    Ok(success(StatusCode::OK, detail_json(&summary)))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ContactId(id): ContactId,
) -> Answer<(StatusCode, Json<Value>)> {
    contacts::delete(&state, caller.account_id, id).await?;
    Ok(success(StatusCode::OK, json!({ "id": format!("cust_{id}"), "deleted": true })))
}

/// A page of a contact's conversations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn conversations_of(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ContactId(id): ContactId,
    Query(query): Query<PageQuery>,
) -> Answer<(StatusCode, Json<Value>)> {
    let (limit, offset) = page_bounds(query.limit, query.offset, 25)?;
    contacts::summary(&state, caller.account_id, id).await?;
    let native = ConversationQuery {
        sort: "last_message_at".to_owned(),
        descending: true,
        contact_id: Some(id),
        limit,
        offset,
        ..ConversationQuery::default()
    };
    let found = conversations::list(&state, caller.account_id, &native).await?;
    Ok(success(StatusCode::OK, Value::Array(found.data.iter().map(conversation_json).collect())))
}
