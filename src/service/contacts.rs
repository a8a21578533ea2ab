//! Contacts: finding the person behind an address, and the address book.

use serde_json::Value;

use crate::app::AppState;
use crate::domain::time::now_ms;
use crate::domain::{normalize_e164, ChannelKind};
use crate::error::{Error, Result};
use crate::service::views::{Contact, Conversation, Identity};
use crate::store::channels::ChannelRow;
use crate::store::contacts::{self, ContactFields};
use crate::store::conversations::{self, Filter, Param};
use crate::store::Conn;

/// Whether addresses on this kind of channel are phone numbers.
pub fn uses_phone_numbers(kind: ChannelKind) -> bool {
    matches!(kind, ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Rcs)
}

/// Normalises a contact's address on a channel: E.164 on phone channels, lower-case email on
/// email, trimmed ids elsewhere. The error says what is wrong.
pub fn normalize_address(kind: ChannelKind, raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("the address is required".to_owned());
    }
    if uses_phone_numbers(kind) {
        normalize_e164(trimmed)
            .ok_or_else(|| format!("`{trimmed}` is not a phone number in E.164 format, e.g. +393471234567"))
    } else if kind == ChannelKind::Email {
        is_email(trimmed).then(|| trimmed.to_lowercase()).ok_or_else(|| format!("`{trimmed}` is not an email address"))
    } else if trimmed.len() > 256 {
        Err("the address must be at most 256 characters".to_owned())
    } else {
        Ok(trimmed.to_owned())
    }
}

/// The contact behind a normalised address on a channel: its identity there, else the account's
/// contact with the same phone number (one history per person across channels), else a new
/// contact. A contact without a name takes the one the channel reports.
pub async fn find_or_create_by_address(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    address: &str,
    name: Option<&str>,
    now: i64,
) -> Result<i64> {
    let account_id = channel.account_id;
    if let Some(identity) = contacts::find_identity(&mut *conn, channel.id, address).await? {
        return Ok(identity.contact_id);
    }
    let phone = uses_phone_numbers(kind).then(|| address.to_owned());
    let existing = match &phone {
        Some(phone) => contacts::find_contact_by_phone(&mut *conn, account_id, phone).await?,
        None => None,
    };
    let contact_id = match existing {
        Some(contact) => {
            if contact.name.is_none() && name.is_some() {
                let fields = ContactFields { name: name.map(str::to_owned), ..Default::default() };
                contacts::update_contact(conn, account_id, contact.id, &fields, now).await?;
            }
            contact.id
        }
        None => {
            let fields = ContactFields {
                name: name.map(str::to_owned),
                phone,
                email: (kind == ChannelKind::Email).then(|| address.to_owned()),
                ..Default::default()
            };
            contacts::insert_contact(conn, account_id, &fields, now).await?.id
        }
    };
    contacts::insert_identity(conn, account_id, contact_id, channel.id, address, now).await?;
    Ok(contact_id)
}

/// A plausible email address: one `@`, a local part, a dotted domain, no spaces, at most 254 bytes.
pub fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else { return false };
    text.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.split('.').count() >= 2
        && domain.split('.').all(|label| !label.is_empty())
        && !text.chars().any(char::is_whitespace)
}

/// Contact fields as a request gives them.
#[derive(Debug, Default, Clone)]
pub struct ContactInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub avatar_url: Option<String>,
    pub in_address_book: Option<bool>,
    pub attributes: Option<Value>,
}

fn validate(input: ContactInput) -> Result<ContactFields> {
    let phone = match input.phone.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(raw) => Some(
            normalize_e164(raw)
                .ok_or_else(|| Error::field("phone", "must be a phone number in E.164 format, e.g. +393471234567"))?,
        ),
        None => None,
    };
    let email = match input.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(raw) if is_email(raw) => Some(raw.to_lowercase()),
        Some(_) => return Err(Error::field("email", "must be an email address")),
        None => None,
    };
    let attributes = match input.attributes {
        Some(Value::Object(map)) => Some(Value::Object(map).to_string()),
        Some(_) => return Err(Error::field("attributes", "must be an object")),
        None => None,
    };
    let name = input.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Error::field("name", "must be at most 200 characters"));
    }
    Ok(ContactFields {
        name,
        phone,
        email,
        avatar_url: input.avatar_url,
        in_address_book: input.in_address_book,
        attributes,
    })
}

/// Adds a contact to the address book.
pub async fn create(state: &AppState, account_id: i64, input: ContactInput) -> Result<Contact> {
    let mut fields = validate(input)?;
    if fields.name.is_none() && fields.phone.is_none() && fields.email.is_none() {
        return Err(Error::field("name", "a contact needs a name, a phone or an email"));
    }
    fields.in_address_book.get_or_insert(true);
    let mut tx = state.db.begin().await?;
    let row = contacts::insert_contact(&mut tx, account_id, &fields, now_ms()).await?;
    tx.commit().await?;
    Ok(Contact::from(&row))
}

/// One contact with its identities.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Contact> {
    let row = contacts::find_contact(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let identities = contacts::list_identities(state.db.reader(), account_id, id).await?;
    let mut contact = Contact::from(&row);
    contact.identities = Some(
        identities
            .into_iter()
            .map(|(channel_id, channel_kind, external_id)| Identity { channel_id, channel_kind, external_id })
            .collect(),
    );
    Ok(contact)
}

/// Updates a contact's fields.
pub async fn update(state: &AppState, account_id: i64, id: i64, input: ContactInput) -> Result<Contact> {
    let fields = validate(input)?;
    let mut tx = state.db.begin().await?;
    contacts::update_contact(&mut tx, account_id, id, &fields, now_ms()).await?.ok_or(Error::NotFound("contact"))?;
    tx.commit().await?;
    get(state, account_id, id).await
}

/// Deletes a contact that has no conversations.
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    contacts::find_contact(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    if contacts::count_contact_conversations(&mut *tx, account_id, id).await? > 0 {
        return Err(Error::conflict(
            "contact_has_conversations",
            "this contact has conversations and cannot be deleted",
        ));
    }
    contacts::delete_contact(&mut tx, account_id, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Contacts matching `query` in id order after `after_id`; the last element tells whether more follow.
pub async fn search(
    state: &AppState,
    account_id: i64,
    query: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<(Vec<Contact>, bool)> {
    let mut rows = contacts::search_contacts(state.db.reader(), account_id, query, after_id, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.iter().map(Contact::from).collect(), more))
}

/// Every conversation of a contact, on any channel, newest activity first.
pub async fn conversations_of(state: &AppState, account_id: i64, id: i64) -> Result<Vec<Conversation>> {
    contacts::find_contact(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let mut filter = Filter::default();
    let account = filter.param(Param::Int(account_id));
    let contact = filter.param(Param::Int(id));
    filter.push(format!("c.account_id = {account} AND c.contact_id = {contact}"));
    let rows = conversations::list_conversations(state.db.reader(), &filter, "last_message_at", true, 500).await?;
    Ok(rows.iter().map(Conversation::from).collect())
}
