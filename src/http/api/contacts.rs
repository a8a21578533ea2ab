//! `/api/v1/contacts`

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::domain::principal::Principal;
use crate::error::{Error, Problem, Result};
use crate::http::api::conversations::page_size;
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::contacts::{self, ContactInput};
use crate::service::conversations::MessagePage;
use crate::service::views::{Contact, Conversation, DuplicateContacts};
use crate::state::AppState;

/// Contact fields; absent fields stay as they are on update.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactBody {
    name: Option<String>,
    /// E.164 phone number.
    phone: Option<String>,
    email: Option<String>,
    avatar_url: Option<String>,
    in_address_book: Option<bool>,
    #[schema(value_type = Option<Object>)]
    attributes: Option<Value>,
    /// Replaces the contact's tags (trimmed, lower-case, at most 50 of 1–64 characters).
    tags: Option<Vec<String>>,
}

impl From<ContactBody> for ContactInput {
    fn from(body: ContactBody) -> Self {
        ContactInput {
            name: body.name,
            phone: body.phone,
            email: body.email,
            avatar_url: body.avatar_url,
            in_address_book: body.in_address_book,
            attributes: body.attributes,
            tags: body.tags,
        }
    }
}

/// Search and paging of contacts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Text contained in the name, phone or email (case and accents ignored).
    q: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// A page of contacts.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactPage {
    data: Vec<Contact>,
    next_cursor: Option<String>,
}

/// A contact's conversations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactConversations {
    data: Vec<Conversation>,
}

/// Pairs of contacts that are likely the same person.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateList {
    data: Vec<DuplicateContacts>,
}

/// Suggest contacts to merge.
///
/// Pairs with the same phone number however written (`+39 333 123 4567`,
/// `0039 333-1234567` and `333 1234567` match), the same email ignoring case, or the same name
/// ignoring case and spaces; each pair once with its most certain reason, phone first, then email,
/// then name, at most 50 pairs.
#[utoipa::path(get, path = "/api/v1/contacts/duplicates", operation_id = "listDuplicateContacts", tag = "contacts", responses((status = 200, body = DuplicateList)))]
pub async fn duplicates(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
) -> Result<Json<DuplicateList>> {
    Ok(Json(DuplicateList { data: contacts::duplicates(&state, me.account_id).await? }))
}

/// List or search contacts.
#[utoipa::path(get, path = "/api/v1/contacts", operation_id = "listContacts", tag = "contacts", params(SearchParams),
    responses((status = 200, body = ContactPage), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<ContactPage>> {
    let after = match params.cursor.as_deref() {
        Some(cursor) => {
            cursor.parse::<i64>().map_err(|_| Error::field("cursor", "is not a cursor returned by this list"))?
        }
        None => 0,
    };
    let limit = page_size(params.limit)?;
    let (data, more) =
        contacts::search(&state, me.account_id, params.q.as_deref().filter(|q| !q.is_empty()), after, limit).await?;
    let next_cursor = data.last().filter(|_| more).map(|c| c.id.to_string());
    Ok(Json(ContactPage { data, next_cursor }))
}

/// Add a contact to the address book.
#[utoipa::path(post, path = "/api/v1/contacts", operation_id = "createContact", tag = "contacts", request_body = ContactBody,
    responses((status = 201, body = Contact), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<(StatusCode, Json<Contact>)> {
    Ok((StatusCode::CREATED, Json(contacts::create(&state, me.account_id, body.into()).await?)))
}

/// Get a contact with its identities on each channel.
#[utoipa::path(get, path = "/api/v1/contacts/{id}", operation_id = "getContact", tag = "contacts", responses((status = 200, body = Contact), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Contact>> {
    Ok(Json(contacts::get(&state, me.account_id, id).await?))
}

/// Change a contact.
#[utoipa::path(patch, path = "/api/v1/contacts/{id}", operation_id = "updateContact", tag = "contacts", request_body = ContactBody,
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ContactBody>,
) -> Result<Json<Contact>> {
    Ok(Json(contacts::update(&state, me.account_id, id, body.into()).await?))
}

/// Delete a contact that has no conversations.
#[utoipa::path(delete, path = "/api/v1/contacts/{id}", operation_id = "deleteContact", tag = "contacts",
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode> {
    contacts::delete(&state, me.account_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The contact to merge into another.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The contact merged into the one in the path; it is deleted.
    contact_id: i64,
}

/// Merge another contact into this one: its identities and conversations move here, empty fields
/// are filled from it, attributes are merged (this contact's keys win), and it is deleted.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", operation_id = "mergeContacts", tag = "contacts", request_body = MergeBody,
    responses((status = 200, body = Contact), (status = 404, body = Problem),
        (status = 422, description = "`contact_id` is the contact itself", body = Problem)))]
pub async fn merge(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeBody>,
) -> Result<Json<Contact>> {
    Ok(Json(contacts::merge(&state, me.account_id, id, body.contact_id).await?))
}

/// Paging of a contact's history.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactMessageParams {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 25).
    limit: Option<i64>,
}

/// List one contact's messages across all their conversations, on every channel (newest page
/// first, oldest first within a page).
#[utoipa::path(get, path = "/api/v1/contacts/{id}/messages", operation_id = "listContactMessages", tag = "contacts",
    params(ContactMessageParams),
    responses((status = 200, body = MessagePage), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn messages(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(params): ApiQuery<ContactMessageParams>,
) -> Result<Json<MessagePage>> {
    let limit = page_size(params.limit)?;
    Ok(Json(contacts::messages_of(&state, me.account_id, id, params.cursor.as_deref(), limit).await?))
}

/// Every conversation of a contact on any channel.
#[utoipa::path(get, path = "/api/v1/contacts/{id}/conversations", operation_id = "listContactConversations", tag = "contacts",
    responses((status = 200, body = ContactConversations), (status = 404, body = Problem)))]
pub async fn conversations(
    State(state): State<AppState>,
    Extension(me): Extension<Principal>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ContactConversations>> {
    Ok(Json(ContactConversations { data: contacts::conversations_of(&state, me.account_id, id).await? }))
}
