//! Contacts: finding the person behind an address, and the address book.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};
use sqlx::AnyExecutor;

use crate::channels;
use crate::domain::text::is_email;
use crate::domain::time::{now_ms, to_rfc3339};
use crate::domain::{national_forms, normalize_e164, AddressKind, ChannelKind, PhoneDigits};
use crate::error::{Error, Result};
use crate::service::conversations::{decode_cursor, encode_cursor, normalize_tags, Cursor, MessagePage};
use crate::service::events::{self, kind};
use crate::service::views::{Contact, Conversation, DuplicateContacts, Identity, MergedContact, Message};
use crate::state::AppState;
use crate::store::channels::ChannelRow;
use crate::store::contacts::{self, ContactFields, ContactFilter, ContactKeys, ContactRow};
use crate::store::conversations::{self, Filter, Param};
use crate::store::{flag, messages, Conn};

/// Whether an address (already normalised) on a channel of this kind is a phone number: the key
/// that joins one person's identities across phone channels.
pub fn is_phone_address(kind: ChannelKind, address: &str) -> bool {
    channels::capabilities(kind).address.is_phone() && address.starts_with('+')
}

/// Normalises a contact's address on a channel by its network's address rules.
pub fn normalize_address(kind: ChannelKind, raw: &str) -> Result<String, String> {
    channels::capabilities(kind).address.normalize(raw)
}

/// The contact behind a normalised address on a channel, with `aliases` (other addresses of the
/// same person there, e.g. a WhatsApp user id next to the phone number): the identity of the
/// address or of an alias, else the account's contact with the same phone number (one history per
/// person across phone channels; addresses that are not phone numbers never join that way), else
/// a new contact (`contact.created`). A contact without a name takes the one the channel reports
/// (`contact.updated`). The address and aliases not yet linked to a contact on the channel are
/// linked to this one.
pub async fn find_or_create_by_address(
    conn: &mut Conn,
    kind: ChannelKind,
    channel: &ChannelRow,
    address: &str,
    aliases: &[String],
    name: Option<&str>,
    now: i64,
) -> Result<i64> {
    let account_id = channel.account_id;
    let addresses: Vec<&str> = std::iter::once(address).chain(aliases.iter().map(String::as_str)).collect();
    let mut linked = Vec::with_capacity(addresses.len());
    let mut known = None;
    for candidate in &addresses {
        if let Some(identity) = contacts::find_identity(&mut *conn, channel.id, candidate).await? {
            known.get_or_insert(identity.contact_id);
            linked.push(*candidate);
        }
    }
    let contact_id = match known {
        Some(id) => id,
        None => find_or_create_contact(conn, kind, account_id, &addresses, name, now).await?,
    };
    for unlinked in addresses.iter().filter(|a| !linked.contains(a)) {
        contacts::insert_identity(conn, account_id, contact_id, channel.id, unlinked, now).await?;
    }
    Ok(contact_id)
}

/// The account's contact with the first phone number among `addresses`, else a new contact.
async fn find_or_create_contact(
    conn: &mut Conn,
    kind: ChannelKind,
    account_id: i64,
    addresses: &[&str],
    name: Option<&str>,
    now: i64,
) -> Result<i64> {
    let address = addresses.first().copied().unwrap_or_default();
    let phone = addresses.iter().find(|a| is_phone_address(kind, a)).map(|a| (*a).to_owned());
    // The same person on another channel: by phone number, or by email address on email.
    let existing = match &phone {
        Some(phone) => contacts::find_contact_by_phone(&mut *conn, account_id, phone).await?,
        None if channels::capabilities(kind).address == AddressKind::Email => {
            contacts::find_contact_by_email(&mut *conn, account_id, address).await?
        }
        None => None,
    };
    match existing {
        Some(contact) => {
            if contact.name.is_none() && name.is_some() {
                let fields = ContactFields { name: name.map(str::to_owned), ..Default::default() };
                apply_changes(conn, &contact, &fields, now).await?;
            }
            Ok(contact.id)
        }
        None => {
            let fields = ContactFields {
                name: name.map(str::to_owned),
                phone,
                email: (kind == ChannelKind::Email).then(|| address.to_owned()),
                ..Default::default()
            };
            let row = contacts::insert_contact(conn, account_id, &fields, now).await?;
            record(conn, kind::CONTACT_CREATED, &row, now).await?;
            Ok(row.id)
        }
    }
}

/// Records a contact event carrying the contact as lists show it (without identities).
async fn record(conn: &mut Conn, kind: &str, row: &ContactRow, now: i64) -> Result<()> {
    events::record(conn, row.account_id, kind, &Contact::from(row), now).await?;
    Ok(())
}

/// Whether applying `fields` to `row` would change any value.
fn changes(row: &ContactRow, fields: &ContactFields) -> bool {
    fn differs(new: &Option<String>, old: &Option<String>) -> bool {
        new.is_some() && new != old
    }
    let parse = |text: &str| serde_json::from_str::<Value>(text).ok();
    differs(&fields.name, &row.name)
        || differs(&fields.phone, &row.phone)
        || differs(&fields.email, &row.email)
        || differs(&fields.avatar_url, &row.avatar_url)
        || fields.in_address_book.is_some_and(|flag| i64::from(flag) != row.in_address_book)
        || fields.attributes.as_deref().is_some_and(|text| parse(text) != parse(&row.attributes))
}

/// Applies `fields` to the contact `before` inside the caller's transaction and records
/// `contact.updated`; when no value would change nothing is written. Returns the contact as it
/// stands.
pub async fn apply_changes(
    conn: &mut Conn,
    before: &ContactRow,
    fields: &ContactFields,
    now: i64,
) -> Result<ContactRow> {
    if !changes(before, fields) {
        return Ok(before.clone());
    }
    let row = contacts::update_contact(conn, before.account_id, before.id, fields, now)
        .await?
        .ok_or(Error::NotFound("contact"))?;
    record(conn, kind::CONTACT_UPDATED, &row, now).await?;
    Ok(row)
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
    /// Replaces the contact's tags.
    pub tags: Option<Vec<String>>,
}

fn validate(input: ContactInput) -> Result<(ContactFields, Option<Vec<String>>)> {
    let tags = input.tags.map(normalize_tags).transpose()?.map(|mut tags| {
        tags.sort();
        tags
    });
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
    let fields = ContactFields {
        name,
        phone,
        email,
        avatar_url: input.avatar_url,
        in_address_book: input.in_address_book,
        attributes,
    };
    Ok((fields, tags))
}

/// Adds a contact to the address book.
pub async fn create(state: &AppState, account_id: i64, input: ContactInput) -> Result<Contact> {
    let (mut fields, tags) = validate(input)?;
    if fields.name.is_none() && fields.phone.is_none() && fields.email.is_none() {
        return Err(Error::field("name", "a contact needs a name, a phone or an email"));
    }
    fields.in_address_book.get_or_insert(true);
    let mut tx = state.db.begin().await?;
    let now = now_ms();
    let row = contacts::insert_contact(&mut tx, account_id, &fields, now).await?;
    let tags = tags.unwrap_or_default();
    contacts::replace_tags(&mut tx, account_id, row.id, &tags).await?;
    let contact = Contact { tags: Some(tags), ..Contact::from(&row) };
    events::record(&mut tx, account_id, kind::CONTACT_CREATED, &contact, now).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(contact)
}

/// A contact's tags, sorted.
async fn tags_of<'c>(db: impl AnyExecutor<'c>, row: &ContactRow) -> Result<Vec<String>> {
    Ok(contacts::tags_of(db, row.account_id, &[row.id]).await?.into_iter().map(|(_, tag)| tag).collect())
}

/// The contact with its tags and its identities on each channel, as single-contact responses
/// show it.
async fn with_identities(conn: &mut Conn, row: &ContactRow) -> Result<Contact> {
    let identities = contacts::list_identities(&mut *conn, row.account_id, row.id).await?;
    let mut contact = Contact::from(row);
    contact.tags = Some(tags_of(&mut *conn, row).await?);
    contact.identities = Some(
        identities
            .into_iter()
            .map(|identity| Identity {
                channel_id: identity.channel_id,
                channel_kind: identity.channel_kind,
                external_id: identity.external_id,
                opted_out_at: identity.opted_out_at.map(to_rfc3339),
            })
            .collect(),
    );
    Ok(contact)
}

/// One contact with its identities.
pub async fn get(state: &AppState, account_id: i64, id: i64) -> Result<Contact> {
    let mut conn = state.db.reader().acquire().await?;
    let row = contacts::find_contact(&mut *conn, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    with_identities(&mut conn, &row).await
}

/// Updates a contact's fields and records `contact.updated`; a change to the values it already
/// has writes and records nothing.
pub async fn update(state: &AppState, account_id: i64, id: i64, input: ContactInput) -> Result<Contact> {
    let (fields, tags) = validate(input)?;
    let mut tx = state.db.begin().await?;
    let before = contacts::find_contact(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let now = now_ms();
    let mut row = apply_changes(&mut tx, &before, &fields, now).await?;
    if let Some(tags) = tags {
        if tags_of(&mut *tx, &row).await? != tags {
            contacts::replace_tags(&mut tx, account_id, id, &tags).await?;
            if row.updated_at == before.updated_at {
                row = contacts::update_contact(&mut tx, account_id, id, &ContactFields::default(), now)
                    .await?
                    .ok_or(Error::NotFound("contact"))?;
                record(&mut tx, kind::CONTACT_UPDATED, &row, now).await?;
            }
        }
    }
    let contact = with_identities(&mut tx, &row).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(contact)
}

/// Deletes a contact that has no conversations and records `contact.deleted` with the contact
/// as it was.
pub async fn delete(state: &AppState, account_id: i64, id: i64) -> Result<()> {
    let mut tx = state.db.begin().await?;
    let row = contacts::find_contact(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    if contacts::count_contact_conversations(&mut *tx, account_id, id).await? > 0 {
        return Err(Error::conflict(
            "contact_has_conversations",
            "this contact has conversations and cannot be deleted",
        ));
    }
    contacts::delete_contact(&mut tx, account_id, id).await?;
    record(&mut tx, kind::CONTACT_DELETED, &row, now_ms()).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(())
}

/// The survivor's empty fields filled from the merged contact, attributes merged (the
/// survivor's keys win), in the address book when either was.
fn merged_fields(survivor: &ContactRow, merged: &ContactRow) -> ContactFields {
    fn fill(own: &Option<String>, other: &Option<String>) -> Option<String> {
        let present = |value: &Option<String>| value.as_deref().is_some_and(|v| !v.is_empty());
        (!present(own) && present(other)).then(|| other.clone()).flatten()
    }
    let object = |text: &str| match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    let mut attributes = object(&merged.attributes);
    attributes.extend(object(&survivor.attributes));
    ContactFields {
        name: fill(&survivor.name, &merged.name),
        phone: fill(&survivor.phone, &merged.phone),
        email: fill(&survivor.email, &merged.email),
        avatar_url: fill(&survivor.avatar_url, &merged.avatar_url),
        in_address_book: Some(flag(survivor.in_address_book) || flag(merged.in_address_book)),
        attributes: Some(Value::Object(attributes).to_string()),
    }
}

/// Merges contact `other_id` into contact `id` in one transaction: the other's identities,
/// conversations and messages move over, `id`'s empty fields are filled from it, attributes are
/// merged, and the other contact is deleted. Records `contact.merged` (which implies the other's
/// deletion) and returns the surviving contact with its identities.
pub async fn merge(state: &AppState, account_id: i64, id: i64, other_id: i64) -> Result<Contact> {
    if id == other_id {
        return Err(Error::field("contact_id", "a contact cannot be merged into itself"));
    }
    let mut tx = state.db.begin().await?;
    let survivor = contacts::find_contact(&mut *tx, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let other = contacts::find_contact(&mut *tx, account_id, other_id).await?.ok_or(Error::NotFound("contact"))?;
    let now = now_ms();
    contacts::move_references(&mut tx, account_id, other_id, id, now).await?;
    let row = contacts::update_contact(&mut tx, account_id, id, &merged_fields(&survivor, &other), now)
        .await?
        .ok_or(Error::NotFound("contact"))?;
    contacts::delete_contact(&mut tx, account_id, other_id).await?;
    let merged = MergedContact { contact: Contact::from(&row), merged_contact_id: other_id };
    events::record(&mut tx, account_id, kind::CONTACT_MERGED, &merged, now).await?;
    let contact = with_identities(&mut tx, &row).await?;
    tx.commit().await?;
    state.events.notify(account_id);
    Ok(contact)
}

/// A contact as lists of the address book show it: with its tags, custom attributes, how many
/// conversations it has and when the latest of them last moved.
#[derive(Debug, Clone)]
pub struct ContactSummary {
    pub contact: Contact,
    pub conversation_count: i64,
    /// RFC 3339; `None` without conversations.
    pub last_conversation_at: Option<String>,
}

/// One page of the account's contacts, filtered and ordered, with their tags and conversations
/// counted (three queries per page).
pub async fn page(state: &AppState, account_id: i64, filter: &ContactFilter<'_>) -> Result<Vec<ContactSummary>> {
    let rows = contacts::list_contacts(&state.db, account_id, filter).await?;
    summarize(state, account_id, &rows).await
}

/// One contact as lists show it.
pub async fn summary(state: &AppState, account_id: i64, id: i64) -> Result<ContactSummary> {
    let row = contacts::find_contact(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let mut found = summarize(state, account_id, &[row]).await?;
    found.pop().ok_or(Error::NotFound("contact"))
}

async fn summarize(state: &AppState, account_id: i64, rows: &[ContactRow]) -> Result<Vec<ContactSummary>> {
    let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
    let db = state.db.reader();
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, tag) in contacts::tags_of(db, account_id, &ids).await? {
        tags.entry(id).or_default().push(tag);
    }
    let counted: HashMap<i64, (i64, Option<i64>)> = contacts::conversation_summaries(db, account_id, &ids)
        .await?
        .into_iter()
        .map(|(id, count, latest)| (id, (count, latest)))
        .collect();
    Ok(rows
        .iter()
        .map(|row| {
            let (conversation_count, latest) = counted.get(&row.id).copied().unwrap_or((0, None));
            ContactSummary {
                contact: Contact { tags: Some(tags.remove(&row.id).unwrap_or_default()), ..Contact::from(row) },
                conversation_count,
                last_conversation_at: latest.map(to_rfc3339),
            }
        })
        .collect())
}

/// Contacts matching `query` in id order after `after_id`; the last element tells whether more follow.
pub async fn search(
    state: &AppState,
    account_id: i64,
    query: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<(Vec<Contact>, bool)> {
    let mut rows = contacts::search_contacts(&state.db, account_id, query, after_id, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows.iter().map(Contact::from).collect(), more))
}

/// One page of a contact's history across every channel: newest page first, oldest first within
/// a page; `cursor` is the previous page's `next_cursor`.
pub async fn messages_of(
    state: &AppState,
    account_id: i64,
    id: i64,
    cursor: Option<&str>,
    limit: i64,
) -> Result<MessagePage> {
    let db = state.db.reader();
    contacts::find_contact(db, account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let before = match cursor {
        Some(text) => decode_cursor(text, "contact_messages")?.id - 1,
        None => i64::MAX,
    };
    let total = messages::count_contact_messages(db, account_id, id).await?;
    let mut rows = messages::list_contact_messages(db, account_id, id, before, limit + 1).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = match rows.last() {
        Some(oldest) if more => {
            Some(encode_cursor(&Cursor { sort: "contact_messages".into(), id: oldest.id, ..Cursor::default() }))
        }
        _ => None,
    };
    rows.reverse();
    Ok(MessagePage { data: rows.iter().map(Message::from).collect(), next_cursor, total })
}

/// Every conversation of a contact, on any channel, newest activity first.
pub async fn conversations_of(state: &AppState, account_id: i64, id: i64) -> Result<Vec<Conversation>> {
    contacts::find_contact(state.db.reader(), account_id, id).await?.ok_or(Error::NotFound("contact"))?;
    let mut filter = Filter::default();
    let account = filter.param(Param::Int(account_id));
    let contact = filter.param(Param::Int(id));
    filter.push(format!("c.account_id = {account} AND c.contact_id = {contact}"));
    let rows = conversations::list_conversations(state.db.reader(), &filter, "last_message_at", true, 500, 0).await?;
    Ok(rows.iter().map(Conversation::from).collect())
}

/// Most pairs of likely duplicates one suggestion list shows.
pub const MAX_DUPLICATE_PAIRS: usize = 50;

/// Why two contacts may be the same person (the same phone, email or name), most certain first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DuplicateReason {
    Phone,
    Email,
    Name,
}

impl DuplicateReason {
    fn as_str(self) -> &'static str {
        match self {
            DuplicateReason::Phone => "same_phone",
            DuplicateReason::Email => "same_email",
            DuplicateReason::Name => "same_name",
        }
    }
}

/// Ids grouped by a key, groups in order of their first (lowest) id.
#[derive(Default)]
struct Groups {
    index: HashMap<String, usize>,
    groups: Vec<(String, Vec<i64>)>,
}

impl Groups {
    fn add(&mut self, key: String, id: i64) {
        match self.index.get(&key) {
            Some(&at) => self.groups[at].1.push(id),
            None => {
                self.index.insert(key.clone(), self.groups.len());
                self.groups.push((key, vec![id]));
            }
        }
    }

    fn get(&self, key: &str) -> &[i64] {
        self.index.get(key).map_or(&[], |&at| &self.groups[at].1)
    }
}

/// Collects distinct pairs (lower id first) up to [`MAX_DUPLICATE_PAIRS`].
#[derive(Default)]
struct Pairs {
    seen: HashSet<(i64, i64)>,
    list: Vec<(DuplicateReason, i64, i64)>,
}

impl Pairs {
    fn full(&self) -> bool {
        self.list.len() >= MAX_DUPLICATE_PAIRS
    }

    fn add(&mut self, reason: DuplicateReason, a: i64, b: i64) {
        let pair = (a.min(b), a.max(b));
        if !self.full() && self.seen.insert(pair) {
            self.list.push((reason, pair.0, pair.1));
        }
    }

    fn add_group(&mut self, reason: DuplicateReason, ids: &[i64]) {
        for (i, &a) in ids.iter().enumerate() {
            for &b in &ids[i + 1..] {
                if self.full() {
                    return;
                }
                self.add(reason, a, b);
            }
        }
    }
}

/// Pairs of contacts that are likely the same person, each pair once with its most certain
/// reason: the same phone number however written (an international number also matches its
/// national form), the same email ignoring case, the same name ignoring case and spaces.
fn duplicate_pairs(contacts: &[ContactKeys]) -> Vec<(DuplicateReason, i64, i64)> {
    let (mut international, mut national, mut emails, mut names) =
        (Groups::default(), Groups::default(), Groups::default(), Groups::default());
    for (id, name, phone, email) in contacts {
        match phone.as_deref().and_then(PhoneDigits::of) {
            Some(PhoneDigits::International(digits)) => international.add(digits, *id),
            Some(PhoneDigits::National(digits)) => national.add(digits, *id),
            None => {}
        }
        if let Some(email) = email.as_deref().map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty()) {
            emails.add(email, *id);
        }
        let name: Option<String> = name.as_deref().map(|n| n.split_whitespace().collect::<String>().to_lowercase());
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            names.add(name, *id);
        }
    }
    let mut pairs = Pairs::default();
    for (digits, ids) in &international.groups {
        pairs.add_group(DuplicateReason::Phone, ids);
        for form in national_forms(digits) {
            for &a in ids {
                for &b in national.get(&form) {
                    pairs.add(DuplicateReason::Phone, a, b);
                }
            }
        }
    }
    for (_, ids) in &national.groups {
        pairs.add_group(DuplicateReason::Phone, ids);
    }
    for (_, ids) in &emails.groups {
        pairs.add_group(DuplicateReason::Email, ids);
    }
    for (_, ids) in &names.groups {
        pairs.add_group(DuplicateReason::Name, ids);
    }
    pairs.list
}

/// Pairs of the account's contacts that are likely the same person (see [`duplicate_pairs`]),
/// phone matches first, then email, then name, at most [`MAX_DUPLICATE_PAIRS`]. Two queries: the
/// comparable fields of every contact (compared in memory, fine up to ~100k contacts per
/// account), then the paired contacts.
pub async fn duplicates(state: &AppState, account_id: i64) -> Result<Vec<DuplicateContacts>> {
    let keys = contacts::list_contact_keys(state.db.reader(), account_id).await?;
    let pairs = duplicate_pairs(&keys);
    let mut ids: Vec<i64> = pairs.iter().flat_map(|(_, a, b)| [*a, *b]).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = contacts::find_contacts(state.db.reader(), account_id, &ids).await?;
    let by_id: HashMap<i64, Contact> = rows.iter().map(|row| (row.id, Contact::from(row))).collect();
    Ok(pairs
        .into_iter()
        .filter_map(|(reason, a, b)| {
            let contacts = vec![by_id.get(&a)?.clone(), by_id.get(&b)?.clone()];
            Some(DuplicateContacts { reason: reason.as_str().to_owned(), contacts })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(id: i64, name: Option<&str>, phone: Option<&str>, email: Option<&str>) -> ContactKeys {
        (id, name.map(str::to_owned), phone.map(str::to_owned), email.map(str::to_owned))
    }

    #[test]
    fn duplicates_pair_each_contact_once_with_the_most_certain_reason() {
        let contacts = [
            keys(1, Some("Mario Rossi"), Some("+39 333 123 4567"), Some("mario@example.com")),
            keys(2, Some("mario  rossi"), Some("0039 333-1234567"), None),
            keys(3, None, Some("333 1234567"), None),
            keys(4, Some("Anna"), None, Some(" MARIO@example.com ")),
            keys(5, Some("MarioRossi"), Some("+1 555 000 1111"), None),
            keys(6, Some(" "), None, None),
        ];
        let pairs = duplicate_pairs(&contacts);
        assert_eq!(
            pairs,
            [
                (DuplicateReason::Phone, 1, 2),
                (DuplicateReason::Phone, 1, 3),
                (DuplicateReason::Phone, 2, 3),
                (DuplicateReason::Email, 1, 4),
                (DuplicateReason::Name, 1, 5),
                (DuplicateReason::Name, 2, 5)
            ]
        );
    }

    #[test]
    fn duplicate_suggestions_are_capped() {
        let contacts: Vec<ContactKeys> = (1..=100).map(|id| keys(id, Some("Same"), None, None)).collect();
        assert_eq!(duplicate_pairs(&contacts).len(), MAX_DUPLICATE_PAIRS);
    }
}
